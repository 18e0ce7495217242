-- gateway schema: tenants, API keys, the audit log and the sync requests the gateway queued.

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('merchant', 'operator', 'admin')),
    -- SHA-256 (hex) of the key: the key itself is shown once at creation and never stored
    key_hash text NOT NULL UNIQUE,
    -- the first characters of the key, to recognise it in listings and logs
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Who changed what and when. Secrets are masked before they get here. No foreign key to
-- tenants: the trail outlives what it describes.
CREATE TABLE audit_log (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    -- the API key that acted (NULL for the operator CLI and the system)
    actor_key_id uuid,
    actor_name text NOT NULL,
    action text NOT NULL,
    target_type text NOT NULL,
    target_id text NOT NULL,
    before jsonb,
    after jsonb,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at DESC);

-- Sync commands published by the gateway, so a sync reads as queued before the connector
-- has picked it up.
CREATE TABLE sync_requests (
    sync_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    connection_id uuid NOT NULL,
    operations text[] NOT NULL DEFAULT '{}',
    force_full boolean NOT NULL DEFAULT false,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_requests_connection ON sync_requests (tenant_id, connection_id, requested_at DESC);
