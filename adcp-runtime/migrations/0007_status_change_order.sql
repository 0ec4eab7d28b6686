-- The change poller reads each tenant's status changes by the time they were recorded.

CREATE INDEX IF NOT EXISTS adcp_status_changes_at ON adcp_status_changes (tenant, at);

UPDATE adcp_meta SET value = '7' WHERE name = 'schema_version';
