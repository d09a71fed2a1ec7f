-- Twin of sqlite/migrations/010_request_log_client_ip.sql: the client's address in the request log
-- (the socket's peer, or behind server.trust_proxy the address the trusted proxies name); NULL on older rows.
ALTER TABLE request_logs ADD COLUMN client_ip TEXT;
