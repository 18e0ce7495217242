-- Webhook deliveries received per connection: a delivery the platform sends again (its retry,
-- or a replay) is recognised by its id and starts nothing.
CREATE TABLE webhook_deliveries (
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    delivery_id text NOT NULL,
    topic text NOT NULL,
    kind text NOT NULL,
    sync_id uuid,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, delivery_id)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);

-- The reconciliation poll: when a connection with a sync_frequency is next due.
ALTER TABLE connections ADD COLUMN next_sync_at timestamptz;
