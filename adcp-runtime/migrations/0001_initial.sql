-- The schema as adcp-rs first shipped it (store schema version 1). Every statement is
-- idempotent, so a store created before migrations were versioned takes this one as applied.

CREATE TABLE IF NOT EXISTS adcp_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS adcp_tasks (
    task_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    task_type TEXT NOT NULL,
    protocol TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    result TEXT,
    error TEXT,
    push TEXT,
    a2a_push TEXT,
    context TEXT,
    job TEXT,
    owner TEXT,
    lease_until BIGINT,
    revision BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS adcp_tasks_scope ON adcp_tasks (scope, created_at);

CREATE INDEX IF NOT EXISTS adcp_tasks_owner ON adcp_tasks (owner, lease_until);

CREATE TABLE IF NOT EXISTS adcp_outbox (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    auth TEXT,
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    owner TEXT,
    lease_until BIGINT
);

CREATE INDEX IF NOT EXISTS adcp_outbox_due ON adcp_outbox (state, next_attempt_at);

CREATE INDEX IF NOT EXISTS adcp_outbox_task ON adcp_outbox (task_id);

CREATE TABLE IF NOT EXISTS adcp_idempotency (
    scope TEXT NOT NULL,
    task TEXT NOT NULL,
    key TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL,
    response TEXT,
    created_at BIGINT NOT NULL,
    lease_until BIGINT,
    PRIMARY KEY (scope, task, key)
);

CREATE TABLE IF NOT EXISTS adcp_nonces (
    keyid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (keyid, nonce)
);

CREATE TABLE IF NOT EXISTS adcp_state (
    scope TEXT NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    value TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (scope, collection, id)
);

INSERT INTO adcp_meta (name, value) VALUES ('schema_version', '1') ON CONFLICT (name) DO NOTHING;
