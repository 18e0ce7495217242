-- Issue 6: the knowledge base as the seed describes it.
-- A correction's outcome, as it counts toward its rule's success rate: `success` when the
-- channel accepted it, `failure` when it failed, was undone, or its issue came back for the
-- same record (`recurred`). Kept per correction, so a change (applied, then recurred) moves
-- the count instead of adding one.
ALTER TABLE corrections
    ADD COLUMN outcome text CHECK (outcome IN ('success', 'failure')),
    ADD COLUMN recurred_at timestamptz,
    ADD COLUMN recurred_by uuid;
UPDATE corrections SET outcome = CASE WHEN status = 'applied' THEN 'success' ELSE 'failure' END
    WHERE status IN ('applied', 'failed', 'undone', 'undo_requested');
-- Applied corrections of a record, looked up when an issue of the same pattern comes back.
CREATE INDEX corrections_applied_by_record ON corrections (tenant_id, pattern_id, sku)
    WHERE status = 'applied';
CREATE INDEX corrections_rule ON corrections (rule_id) WHERE rule_id IS NOT NULL;

-- A rule switched off by its success rate sends its issues back to review; until that is
-- done (the monitor may be unavailable), `returned_to_review` stays false and is retried.
ALTER TABLE auto_correction_rules
    ADD COLUMN switched_off_at timestamptz,
    ADD COLUMN returned_to_review boolean NOT NULL DEFAULT true;

-- Occurrences recognised as a known pattern with decisions (the seed's phase 2).
ALTER TABLE pattern_occurrences ADD COLUMN recognized boolean NOT NULL DEFAULT false;
CREATE INDEX pattern_occurrences_recognized ON pattern_occurrences (tenant_id) WHERE recognized;
