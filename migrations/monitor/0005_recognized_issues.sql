-- Issue 6: what the knowledge base recognised of an issue (the seed's phase 2), written by
-- MonitorService.RecognizeIssues: the pattern, its confidence, and suggestions learned from
-- people's decisions, which rank before the engine's. Kept apart from `suggestions` so a
-- re-detection that refreshes the engine's suggestions keeps them.
ALTER TABLE issues
    ADD COLUMN learned jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN recognized boolean NOT NULL DEFAULT false,
    ADD COLUMN pattern_id uuid,
    ADD COLUMN pattern_confidence double precision NOT NULL DEFAULT 0;
