-- Issues keep no copy of their record: the connector stores every record, and GetIssue and
-- ListIssues read it from there (ConnectorService.ListProducts by connection and sku). The copy
-- was half of each issue's bytes, written to the table and the WAL once per issue.
ALTER TABLE issues DROP COLUMN record;
-- Skus and rule names are identifiers: compared byte by byte (the open-issue index is probed
-- for every record of every batch), not by the database's locale.
DROP INDEX issues_open;
ALTER TABLE issues ALTER COLUMN sku TYPE text COLLATE "C", ALTER COLUMN rule TYPE text COLLATE "C";
CREATE UNIQUE INDEX issues_open ON issues (sku, rule, connection_id, tenant_id)
    WHERE status = 'pending_review';
