-- connector schema: connections with encrypted credentials, sync runs, cursors, imported records.
CREATE TABLE connections (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    name text NOT NULL,
    platform text NOT NULL,
    -- AES-256-GCM: nonce || ciphertext, and the id of the key that made it
    credentials_ciphertext bytea NOT NULL,
    credentials_key_id text NOT NULL,
    credentials_masked jsonb NOT NULL,
    settings jsonb NOT NULL DEFAULT '{}',
    enabled boolean NOT NULL DEFAULT true,
    status text NOT NULL DEFAULT 'new',
    last_sync_at timestamptz,
    items_synced bigint NOT NULL DEFAULT 0,
    error_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX connections_tenant ON connections (tenant_id);

CREATE TABLE sync_runs (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    status text NOT NULL,
    operations text[] NOT NULL DEFAULT '{}',
    force_full boolean NOT NULL DEFAULT false,
    counts jsonb NOT NULL DEFAULT '{}',
    errors jsonb NOT NULL DEFAULT '[]',
    -- resume point after a restart: operation and page token of the last committed page
    checkpoint jsonb NOT NULL DEFAULT '{}',
    requested_by text NOT NULL DEFAULT '',
    started_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_runs_connection ON sync_runs (tenant_id, connection_id, created_at DESC);

-- Incremental cursors, advanced only after the records they cover are committed.
CREATE TABLE cursors (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    operation text NOT NULL,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, operation)
);

CREATE TABLE products (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    sku text NOT NULL,
    external_id text NOT NULL,
    -- canonical Product, protobuf
    record bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, sku)
);

CREATE TABLE stock_levels (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    sku text NOT NULL,
    warehouse text NOT NULL,
    on_hand bigint NOT NULL,
    reserved bigint NOT NULL,
    available bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, sku, warehouse)
);

CREATE TABLE orders (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    status text NOT NULL,
    -- canonical Order, protobuf (contains personal data; never logged)
    record bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, external_id)
);

-- Corrections this service applied (idempotency of redelivered correction events).
CREATE TABLE applied_corrections (
    correction_id uuid NOT NULL,
    action text NOT NULL,
    tenant_id uuid NOT NULL,
    status text NOT NULL,
    error text NOT NULL DEFAULT '',
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (correction_id, action)
);
