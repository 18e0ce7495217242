-- Issues keep their record as protobuf (the connector's own encoding), which PostgreSQL stores
-- without parsing: JSONB cost a third of each issue's insert. The gRPC API still returns it as
-- JSON. Snapshots taken before this migration are dropped (the next sync takes new ones).
ALTER TABLE issues ADD COLUMN record bytea NOT NULL DEFAULT '';
ALTER TABLE issues DROP COLUMN record_json;
-- The suggestion engine learns from the connector's catalog (ConnectorService.ListProducts)
-- instead of a copy of it here, which every record had to be written to.
DROP TABLE catalog;
-- The event (records batch) that raised an issue: when that event is delivered again after its
-- issues were written but not published, they are published again instead of being lost.
ALTER TABLE issues ADD COLUMN detected_by text NOT NULL DEFAULT '';
