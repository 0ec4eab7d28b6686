-- Tenants: every row belongs to one tenant (a version-2 store's rows to the tenant ''), and every
-- key and index that names a row leads with it, so one tenant's view of the store can neither
-- read nor collide with another's. Portable SQL only (SQLite and PostgreSQL through sqlx `Any`):
-- a key that must change is changed by rebuilding its table. The rebuilt tables name their
-- primary keys (PostgreSQL would otherwise name them after the `_new` table).

-- Tasks and deliveries keep their random ids as keys; their indexes lead with the tenant.

ALTER TABLE adcp_tasks ADD COLUMN tenant TEXT NOT NULL DEFAULT '';

DROP INDEX IF EXISTS adcp_tasks_scope;

DROP INDEX IF EXISTS adcp_tasks_owner;

DROP INDEX IF EXISTS adcp_tasks_principal;

CREATE INDEX adcp_tasks_scope ON adcp_tasks (tenant, scope, created_at);

CREATE INDEX adcp_tasks_owner ON adcp_tasks (tenant, owner, lease_until);

CREATE INDEX adcp_tasks_principal ON adcp_tasks (tenant, principal, created_at);

ALTER TABLE adcp_outbox ADD COLUMN tenant TEXT NOT NULL DEFAULT '';

DROP INDEX IF EXISTS adcp_outbox_due;

DROP INDEX IF EXISTS adcp_outbox_task;

CREATE INDEX adcp_outbox_due ON adcp_outbox (tenant, state, next_attempt_at);

CREATE INDEX adcp_outbox_task ON adcp_outbox (tenant, task_id);

-- Idempotency records: keyed by (tenant, scope, task, key).

CREATE TABLE adcp_idempotency_new (
    tenant TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    task TEXT NOT NULL,
    key TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,
    response TEXT,
    created_at BIGINT NOT NULL,
    lease_until BIGINT,
    CONSTRAINT adcp_idempotency_tenant_pk PRIMARY KEY (tenant, scope, task, key)
);

INSERT INTO adcp_idempotency_new (tenant, scope, task, key, hash, state, response, created_at,
    lease_until)
SELECT '', scope, task, key, hash, state, response, created_at, lease_until
FROM adcp_idempotency;

DROP TABLE adcp_idempotency;

ALTER TABLE adcp_idempotency_new RENAME TO adcp_idempotency;

-- Adopter state: keyed by (tenant, scope, collection, id).

CREATE TABLE adcp_state_new (
    tenant TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    value TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT adcp_state_tenant_pk PRIMARY KEY (tenant, scope, collection, id)
);

INSERT INTO adcp_state_new (tenant, scope, collection, id, value, version)
SELECT '', scope, collection, id, value, version
FROM adcp_state;

DROP TABLE adcp_state;

ALTER TABLE adcp_state_new RENAME TO adcp_state;

-- Signature nonces: keyed by (tenant, keyid, nonce).

CREATE TABLE adcp_nonces_new (
    tenant TEXT NOT NULL DEFAULT '',
    keyid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT adcp_nonces_tenant_pk PRIMARY KEY (tenant, keyid, nonce)
);

INSERT INTO adcp_nonces_new (tenant, keyid, nonce, expires_at)
SELECT '', keyid, nonce, expires_at
FROM adcp_nonces;

DROP TABLE adcp_nonces;

ALTER TABLE adcp_nonces_new RENAME TO adcp_nonces;

-- Accounts: keyed by (tenant, account_id), natural keys unique per tenant and owner.

CREATE TABLE adcp_accounts_new (
    tenant TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    natural_key TEXT,
    declared BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT adcp_accounts_tenant_pk PRIMARY KEY (tenant, account_id)
);

INSERT INTO adcp_accounts_new (tenant, account_id, owner, natural_key, declared, body,
    created_at, updated_at)
SELECT '', account_id, owner, natural_key, declared, body, created_at, updated_at
FROM adcp_accounts;

DROP TABLE adcp_accounts;

ALTER TABLE adcp_accounts_new RENAME TO adcp_accounts;

CREATE UNIQUE INDEX adcp_accounts_key ON adcp_accounts (tenant, owner, natural_key);

CREATE INDEX adcp_accounts_owner ON adcp_accounts (tenant, owner, declared, created_at);

-- The tenant registry: one row per tenant, its configuration as JSON.

CREATE TABLE IF NOT EXISTS adcp_tenants (
    tenant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Builds that predate versioned migrations check this value and refuse a newer store.
UPDATE adcp_meta SET value = '3' WHERE name = 'schema_version';
