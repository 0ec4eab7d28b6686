-- The audit trail of adopter state: one row per status change of a document, written in the
-- same transaction as the document's write. Ordered per document by `seq` (1, 2, ...), given
-- under the document's own write lock, so neither clocks nor a document deleted and made
-- again (its versions restart) disorder it.

CREATE TABLE IF NOT EXISTS adcp_status_changes (
    change_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    version BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    cause TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS adcp_status_changes_doc
    ON adcp_status_changes (tenant, scope, collection, id, seq);

UPDATE adcp_meta SET value = '5' WHERE name = 'schema_version';
