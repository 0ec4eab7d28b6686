-- A scope keeps its newest drafts only (DRAFTS_KEPT): the prune finds the oldest by this index.
CREATE INDEX IF NOT EXISTS adcp_proposals_drafts ON adcp_proposals (tenant, scope, state, created_at);

UPDATE adcp_meta SET value = '10' WHERE name = 'schema_version';
