-- Look open issues up by sku first: a sync checks which of a page's records had open issues,
-- and with the sku leading the index that stays an index probe however many issues are stored
-- (with tenant and connection leading, the planner scanned every open issue of a connection
-- whenever its statistics lagged behind a bulk import).
DROP INDEX issues_open;
CREATE UNIQUE INDEX issues_open ON issues (sku, rule, connection_id, tenant_id)
    WHERE status = 'pending_review';
