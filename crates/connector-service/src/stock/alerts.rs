//! Stock problems on a channel as events (`ms.stock.<tenant>.alert`): the monitor keeps each as
//! an issue (drift, a push that keeps failing) and resolves it (the push recovered).

use marketsync_proto::v1::StockAlert;
use uuid::Uuid;

use crate::State;

/// Publishes an alert; a failure is logged (the state it reports is kept in the tables and in
/// the consistency report either way).
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    platform: &str,
    sku: &str,
    kind: &str,
    expected: i64,
    observed: i64,
    message: &str,
    resolution: &str,
) {
    let id = Uuid::now_v7().to_string();
    let alert = StockAlert {
        id: id.clone(),
        tenant_id: tenant.to_string(),
        connection_id: connection.to_string(),
        platform: platform.to_string(),
        sku: sku.to_string(),
        kind: kind.to_string(),
        expected,
        observed,
        message: message.to_string(),
        resolution: resolution.to_string(),
        at: chrono::Utc::now().to_rfc3339(),
    };
    let subject = state.bus.subject(&["stock", &tenant.to_string(), "alert"]);
    if let Err(e) = state
        .bus
        .publish(
            subject,
            "marketsync.stock.alert.v1",
            &tenant.to_string(),
            &id,
            &alert,
        )
        .await
    {
        tracing::warn!(connection = %connection, sku, kind, error = %e, "stock alert not published");
    }
}
