-- tasks_list reads a page at a time, newest first, after the last task of the previous page:
-- the listing indexes end with task_id, the order's tie-breaker, so a page is a range scan.
DROP INDEX IF EXISTS adcp_tasks_scope;
CREATE INDEX adcp_tasks_scope ON adcp_tasks (tenant, scope, created_at, task_id);
DROP INDEX IF EXISTS adcp_tasks_principal;
CREATE INDEX adcp_tasks_principal ON adcp_tasks (tenant, principal, created_at, task_id);

UPDATE adcp_meta SET value = '9' WHERE name = 'schema_version';
