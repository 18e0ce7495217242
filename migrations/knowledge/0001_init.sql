-- knowledge schema: the seed's knowledge-base tables (tenant on every row) and corrections.
CREATE TABLE marketplace_rules (
    rule_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    marketplace_name varchar(100) NOT NULL,
    rule_type varchar(50) NOT NULL,
    rule_description text NOT NULL DEFAULT '',
    validation_logic jsonb NOT NULL DEFAULT '{}',
    auto_correction_logic jsonb NOT NULL DEFAULT '{}',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE issue_patterns (
    pattern_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    marketplace_name varchar(100) NOT NULL,
    issue_type varchar(100) NOT NULL,
    issue_description text NOT NULL DEFAULT '',
    -- {platform, issue_type, field, rule}
    pattern_signature jsonb NOT NULL,
    signature_key text NOT NULL,
    occurrence_count integer NOT NULL DEFAULT 0,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, signature_key)
);

-- Which issues were counted as occurrences (redelivered events count once).
CREATE TABLE pattern_occurrences (
    issue_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    pattern_id uuid NOT NULL REFERENCES issue_patterns (pattern_id) ON DELETE CASCADE,
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE correction_decisions (
    decision_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    pattern_id uuid NOT NULL REFERENCES issue_patterns (pattern_id) ON DELETE CASCADE,
    issue_id uuid NOT NULL,
    issue_data jsonb NOT NULL DEFAULT '{}',
    ai_suggestion jsonb NOT NULL DEFAULT '{}',
    human_decision varchar(50) NOT NULL CHECK (human_decision IN ('approved', 'rejected', 'modified')),
    final_solution jsonb NOT NULL DEFAULT '{}',
    decided_by varchar(100) NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    -- the pattern's confidence after this decision (0..1)
    confidence_score double precision NOT NULL DEFAULT 0,
    review_seconds double precision NOT NULL DEFAULT 0,
    UNIQUE (issue_id)
);
CREATE INDEX decisions_pattern ON correction_decisions (pattern_id, decided_at);

CREATE TABLE auto_correction_rules (
    auto_rule_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    pattern_id uuid NOT NULL UNIQUE REFERENCES issue_patterns (pattern_id) ON DELETE CASCADE,
    correction_logic jsonb NOT NULL,
    confidence_threshold double precision NOT NULL DEFAULT 0.80,
    success_rate double precision NOT NULL DEFAULT 1.0,
    application_count integer NOT NULL DEFAULT 0,
    success_count integer NOT NULL DEFAULT 0,
    failure_count integer NOT NULL DEFAULT 0,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE corrections (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    issue_id uuid NOT NULL,
    pattern_id uuid,
    rule_id uuid,
    connection_id uuid NOT NULL,
    platform text NOT NULL,
    record_kind text NOT NULL DEFAULT 'product',
    sku text NOT NULL,
    external_id text NOT NULL,
    field text NOT NULL,
    old_value text NOT NULL,
    new_value text NOT NULL,
    origin text NOT NULL CHECK (origin IN ('auto', 'human')),
    status text NOT NULL DEFAULT 'proposed',
    error text NOT NULL DEFAULT '',
    confidence double precision NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz,
    UNIQUE (issue_id, origin)
);
CREATE INDEX corrections_tenant ON corrections (tenant_id, created_at DESC);
