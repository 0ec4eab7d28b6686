-- The proposal ledger: one row per proposal of an account scope, draft -> committed ->
-- consumed, each transition a guarded UPDATE.

CREATE TABLE IF NOT EXISTS adcp_proposals (
    tenant TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    proposal_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    recipe_version TEXT,
    expires_at BIGINT,
    consumed_by TEXT,
    media_buy_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT adcp_proposals_pk PRIMARY KEY (tenant, scope, proposal_id)
);

CREATE INDEX IF NOT EXISTS adcp_proposals_buy ON adcp_proposals (tenant, scope, media_buy_id);

UPDATE adcp_meta SET value = '4' WHERE name = 'schema_version';
