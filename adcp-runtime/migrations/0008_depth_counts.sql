-- /metrics counts each tenant's unfinished tasks and waiting deliveries: indexes, so a scrape
-- does not scan every task and delivery the tenant ever had.

CREATE INDEX IF NOT EXISTS adcp_tasks_open ON adcp_tasks (tenant, status)
    WHERE status IN ('submitted', 'working', 'input-required');
CREATE INDEX IF NOT EXISTS adcp_outbox_pending ON adcp_outbox (tenant, state)
    WHERE state = 'pending';

UPDATE adcp_meta SET value = '8' WHERE name = 'schema_version';
