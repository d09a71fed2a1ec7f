-- Keys' quotas, limits and policies; price overrides; reservations, usage rows and the credit ledger.
-- Money is integer credits (1 credit = $0.000001), never floating point. Times are integer ms since epoch.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

-- NULL balance: unlimited (development keys). The CHECK is the last line of defence: no statement,
-- however wrong, can leave a balance below zero.
ALTER TABLE api_keys ADD COLUMN balance INTEGER CHECK (balance IS NULL OR balance >= 0);
-- JSON arrays; NULL means no restriction.
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT;
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT;
-- NULL: no limit of that kind.
ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN images_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN concurrent_requests INTEGER;
ALTER TABLE api_keys ADD COLUMN price_group TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;

-- Operators' price changes, layered over catalog/prices.yaml; JSON text in the file's own shape.
CREATE TABLE billing_prices (
  model TEXT PRIMARY KEY NOT NULL,
  spec TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE billing_price_groups (
  name TEXT PRIMARY KEY NOT NULL,
  spec TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- One row per request or task that reserved money. `debited` is what left the balance at reserve
-- time (0 for unlimited keys), so a release returns exactly that, even if the key changed since.
CREATE TABLE billing_reservations (
  id TEXT PRIMARY KEY NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  operation TEXT NOT NULL,
  images_requested INTEGER NOT NULL,
  size TEXT NOT NULL,
  quality TEXT,
  price_group TEXT NOT NULL,
  -- JSON: the price and multiplier quoted at reserve time, so a price change never reprices a request in flight.
  pricing TEXT NOT NULL,
  -- JSON: the facts the estimate used (prompt length, input image sizes).
  facts TEXT NOT NULL,
  estimated INTEGER NOT NULL CHECK (estimated >= 0),
  debited INTEGER NOT NULL CHECK (debited >= 0),
  status TEXT NOT NULL CHECK (status IN ('held', 'settled', 'released')),
  created_at INTEGER NOT NULL,
  closed_at INTEGER
);

CREATE INDEX billing_reservations_status_created_at ON billing_reservations (status, created_at);

-- One row per settled charge: everything needed to explain the amount.
CREATE TABLE billing_usage (
  reservation_id TEXT PRIMARY KEY NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  operation TEXT NOT NULL,
  provider TEXT,
  channel TEXT,
  images_requested INTEGER NOT NULL,
  images_delivered INTEGER NOT NULL,
  size TEXT NOT NULL,
  quality TEXT,
  price_group TEXT NOT NULL,
  -- image, token or megapixel; unit_price is credits per image, per 1M output tokens or per megapixel.
  unit TEXT NOT NULL,
  unit_price INTEGER NOT NULL,
  input_text_tokens INTEGER,
  input_image_tokens INTEGER,
  output_tokens INTEGER,
  -- Credits taken from the balance (metered keys), or what the request would cost (unlimited keys).
  amount INTEGER NOT NULL CHECK (amount >= 0),
  metered INTEGER NOT NULL,
  -- JSON: the arithmetic (rates, token counts, multiplier, anything not collected).
  detail TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE INDEX billing_usage_key_id_created_at ON billing_usage (key_id, created_at);
CREATE INDEX billing_usage_created_at ON billing_usage (created_at);

-- Every credit that entered (or, for write-offs, left) a balance other than by a charge: with the
-- usage rows and held reservations it accounts for each key's balance exactly.
CREATE TABLE billing_ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('initial', 'topup', 'writeoff')),
  amount INTEGER NOT NULL,
  note TEXT,
  created_at INTEGER NOT NULL
);

CREATE INDEX billing_ledger_key_id ON billing_ledger (key_id, created_at);
