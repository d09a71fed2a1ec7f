-- The client's address in the request log: the socket's peer, or with server.trust_proxy the
-- address behind the trusted proxies. NULL for rows written before this column existed.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

ALTER TABLE request_logs ADD COLUMN client_ip TEXT;
