-- monitor schema: issues raised by validating records against channel rules, and what the
-- suggestion engine learns from the catalog.
CREATE TABLE issues (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL,
    platform text NOT NULL,
    record_kind text NOT NULL,
    sku text NOT NULL,
    external_id text NOT NULL,
    issue_type text NOT NULL,
    field text NOT NULL,
    rule text NOT NULL,
    severity text NOT NULL,
    description text NOT NULL,
    current_value text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'pending_review'
        CHECK (status IN ('pending_review', 'auto_corrected', 'resolved', 'rejected')),
    suggestions jsonb NOT NULL DEFAULT '[]',
    -- the record without personal data, so a learned rule can replay its strategy
    record_json jsonb NOT NULL DEFAULT '{}',
    confidence double precision NOT NULL DEFAULT 0,
    resolution text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
-- One open issue per record and rule: a re-detection updates it instead of doubling it.
CREATE UNIQUE INDEX issues_open ON issues (tenant_id, connection_id, sku, rule)
    WHERE status = 'pending_review';
CREATE INDEX issues_tenant_status ON issues (tenant_id, status, created_at DESC);

-- What the suggestion engine learns from: the tenant's own catalog.
CREATE TABLE catalog (
    tenant_id uuid NOT NULL,
    sku text NOT NULL,
    title text NOT NULL,
    brand text NOT NULL DEFAULT '',
    categories text[] NOT NULL DEFAULT '{}',
    weight double precision,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sku)
);

CREATE TABLE validation_counters (
    tenant_id uuid PRIMARY KEY,
    records bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0
);
