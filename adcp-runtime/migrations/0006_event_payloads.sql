-- Events too large for a PostgreSQL notification (8000 bytes): the relay keeps the event here
-- and notifies its id; listeners read it. Kept for ten minutes.

CREATE TABLE IF NOT EXISTS adcp_event_payloads (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS adcp_event_payloads_age ON adcp_event_payloads (created_at);

UPDATE adcp_meta SET value = '6' WHERE name = 'schema_version';
