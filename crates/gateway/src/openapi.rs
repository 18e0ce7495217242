//! The OpenAPI 3.1 document of the REST API, generated from the handlers.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use marketsync_proto::v1::{Correction, IssueBatch, StockAlert, SyncEvent};

use crate::api;

/// Name of the bearer security scheme.
pub const BEARER: &str = "bearer_auth";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("msk_ API key")
                    .description(Some(
                        "An API key: `Authorization: Bearer msk_…`. Admin keys may add \
                         `X-Marketsync-Tenant: <uuid>` to act on another tenant.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI description of the gateway.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "marketsync gateway",
        description = "REST API of marketsync: connections, syncs, issues, decisions, \
            corrections, the knowledge base, metrics, live events and the audit log. Errors are \
            `{\"error\":{\"code\":\"…\",\"message\":\"…\"}}`. A key never sees another \
            tenant's data: such objects answer 404.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        api::healthz,
        api::readyz,
        api::metrics,
        api::openapi,
        api::connections::list_platforms,
        api::connections::create_connection,
        api::connections::list_connections,
        api::connections::get_connection,
        api::connections::update_connection,
        api::connections::delete_connection,
        api::connections::test_connection,
        api::connections::request_sync,
        api::connections::get_sync,
        api::connections::list_syncs,
        api::webhooks::receive,
        api::webhooks::challenge,
        api::webhooks::register,
        api::orders::list_orders,
        api::orders::get_order,
        api::orders::ship_order,
        api::stock::list_stock,
        api::stock::sku_history,
        api::stock::adjust,
        api::stock::list_warehouses,
        api::stock::set_warehouse,
        api::stock::consistency,
        api::stock::list_backups,
        api::stock::restore_backup,
        api::issues::list_issues,
        api::issues::get_issue,
        api::issues::decide,
        api::issues::list_corrections,
        api::issues::undo_correction,
        api::knowledge::list_patterns,
        api::knowledge::list_rules,
        api::knowledge::list_decisions,
        api::knowledge::update_rule,
        api::knowledge::export_rules,
        api::knowledge::import_rules,
        api::knowledge::stats,
        api::events::events,
        api::audit::list_audit,
    ),
    // Payloads of the event stream, for subscribers.
    components(schemas(SyncEvent, IssueBatch, Correction, StockAlert)),
    modifiers(&BearerAuth),
    security(("bearer_auth" = [])),
    tags(
        (name = "health", description = "liveness, readiness, metrics"),
        (name = "meta", description = "this document"),
        (name = "connections", description = "platforms and connections (connector service)"),
        (name = "syncs", description = "sync requests and runs"),
        (name = "webhooks", description = "platform webhooks: received per connection, registered by operators"),
        (name = "orders", description = "orders imported from the channels, and shipment confirmations sent back"),
        (name = "stock", description = "the stock ledger, warehouses, channel consistency and backup points"),
        (name = "issues", description = "validation issues and decisions"),
        (name = "corrections", description = "corrections applied to channels"),
        (name = "knowledge", description = "patterns, rules and decisions"),
        (name = "stats", description = "the tenant's metrics"),
        (name = "events", description = "Server-Sent Events"),
        (name = "audit", description = "who changed what and when"),
    )
)]
pub struct ApiDoc;

/// The document (built once).
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}
