-- Accounts: the roster of accounts principals declared (or whose status was set), tasks keyed by
-- the principal that created them as well as by account scope, and deliveries by account scope.

CREATE TABLE IF NOT EXISTS adcp_accounts (
    account_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    natural_key TEXT,
    declared BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS adcp_accounts_key ON adcp_accounts (owner, natural_key);

CREATE INDEX IF NOT EXISTS adcp_accounts_owner ON adcp_accounts (owner, declared, created_at);

ALTER TABLE adcp_tasks ADD COLUMN principal TEXT;

CREATE INDEX IF NOT EXISTS adcp_tasks_principal ON adcp_tasks (principal, created_at);

ALTER TABLE adcp_outbox ADD COLUMN scope TEXT;

-- Builds that predate versioned migrations check this value and refuse a newer store.
UPDATE adcp_meta SET value = '2' WHERE name = 'schema_version';
