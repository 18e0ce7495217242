-- One stock truth per tenant: the ledger, its entries, order reservations, what each channel
-- should show and was last sent, drift observations and backup points.

-- Which connection is the system of record of a warehouse (its on-hand quantities).
CREATE TABLE stock_warehouses (
    tenant_id uuid NOT NULL,
    code text NOT NULL,
    source_connection_id uuid REFERENCES connections (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, code)
);

-- On hand and reserved per tenant, sku and warehouse; available = on_hand - reserved.
CREATE TABLE stock_ledger (
    tenant_id uuid NOT NULL,
    sku text NOT NULL,
    warehouse text NOT NULL,
    on_hand bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sku, warehouse)
);

-- Every change with its cause: import, order, cancellation, shipment, adjustment, correction,
-- drift. Replaying a sku's entries gives its quantities.
CREATE TABLE stock_entries (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    sku text NOT NULL,
    warehouse text NOT NULL,
    cause text NOT NULL,
    on_hand_delta bigint NOT NULL,
    reserved_delta bigint NOT NULL,
    on_hand_after bigint NOT NULL,
    reserved_after bigint NOT NULL,
    connection_id uuid,
    reference text NOT NULL DEFAULT '',
    actor text NOT NULL DEFAULT '',
    note text NOT NULL DEFAULT '',
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_entries_sku ON stock_entries (tenant_id, sku, id);
CREATE UNIQUE INDEX stock_entries_key ON stock_entries (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- One row per order line of any channel: reserved once, then released or consumed once.
CREATE TABLE stock_reservations (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    order_id text NOT NULL,
    line integer NOT NULL,
    sku text NOT NULL,
    -- '' when the sku is not in the ledger (nothing to reserve)
    warehouse text NOT NULL,
    quantity bigint NOT NULL,
    -- reserved, released, consumed, or historical (first seen finished: no effect)
    state text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, order_id, line)
);

-- What a channel should show for a sku (target_hint, recomputed when pushed), what it was last
-- sent, what it was last seen showing, and whether a push is due.
CREATE TABLE channel_stock (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    sku text NOT NULL,
    target_hint bigint NOT NULL DEFAULT 0,
    pushed bigint,
    pushed_at timestamptz,
    observed bigint,
    observed_at timestamptz,
    dirty boolean NOT NULL DEFAULT true,
    dirty_since timestamptz,
    touch bigint NOT NULL DEFAULT 0,
    lease_until timestamptz,
    retry_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    -- a difference seen once, confirmed as drift when it is still there after the grace time
    suspect bigint,
    suspect_since timestamptz,
    PRIMARY KEY (connection_id, sku)
);
CREATE INDEX channel_stock_due ON channel_stock (connection_id, target_hint) WHERE dirty;

-- One pusher per channel connection across replicas.
CREATE TABLE stock_push_leases (
    connection_id uuid PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    holder uuid NOT NULL,
    until timestamptz NOT NULL,
    last_full_push timestamptz
);

CREATE TABLE stock_drift (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    sku text NOT NULL,
    expected bigint NOT NULL,
    observed bigint NOT NULL,
    policy text NOT NULL,
    resolution text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_drift_connection ON stock_drift (tenant_id, connection_id, id DESC);

-- Quantities and prices a channel showed before a forced full export overwrote them.
CREATE TABLE stock_backups (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    reason text NOT NULL,
    items bigint NOT NULL,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    restored_at timestamptz,
    restored_by text NOT NULL DEFAULT ''
);
CREATE INDEX stock_backups_connection ON stock_backups (tenant_id, connection_id, created_at DESC);
CREATE TABLE stock_backup_items (
    backup_id uuid NOT NULL REFERENCES stock_backups (id) ON DELETE CASCADE,
    sku text NOT NULL,
    -- per warehouse of the channel ('' for a marketplace offer)
    warehouse text NOT NULL,
    quantity bigint NOT NULL,
    price text NOT NULL DEFAULT '',
    currency text NOT NULL DEFAULT '',
    PRIMARY KEY (backup_id, sku, warehouse)
);
