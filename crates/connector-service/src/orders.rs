//! Orders as the connector stored them: listing, shipment confirmation on the channel, and the
//! acceptance of orders a marketplace holds until the seller accepts them.
//!
//! Orders carry personal data: they go back to their own tenant only, never into a log line.

use marketsync_common::{Error, ErrorCode};
use marketsync_connectors::{Connector, ConnectorError, OrderUpdate, order_status};
use marketsync_proto::v1::{
    ListOrdersRequest, ListOrdersResponse, Order, ShipOrderRequest, ShipOrderResponse, Shipment,
    StoredOrder,
};
use prost::Message as _;
use uuid::Uuid;

use crate::State;
use crate::store::{self, uuid};

/// Orders accepted per call of [`Connector::acknowledge_orders`].
const ACCEPT_CHUNK: usize = 100;

type Row = (Uuid, String, String, Vec<u8>, chrono::DateTime<chrono::Utc>);

/// A connection's stored orders with the platform, by platform id (`$3`: after this id, or
/// this id with `$5`); the one shape [`list`] and [`load`] read.
const ORDERS_SQL: &str = "SELECT o.connection_id, c.platform, o.external_id, o.record, o.updated_at \
     FROM orders o JOIN connections c ON c.id = o.connection_id \
     WHERE o.tenant_id = $1 AND o.connection_id = $2 AND o.external_id > $3 \
       AND ($4 = '' OR o.status = $4) AND ($5 = '' OR o.external_id = $5) \
     ORDER BY o.external_id LIMIT $6";

fn stored(row: Row) -> Option<StoredOrder> {
    let (connection, platform, _, record, updated) = row;
    Some(StoredOrder {
        connection_id: connection.to_string(),
        platform,
        order: Some(Order::decode(record.as_slice()).ok()?),
        updated_at: updated.to_rfc3339(),
    })
}

/// A page of a connection's orders, by platform id.
pub async fn list(state: &State, r: ListOrdersRequest) -> Result<ListOrdersResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let connection = uuid(&r.connection_id, "connection_id")?;
    let limit = if r.limit <= 0 { 100 } else { r.limit.min(500) } as i64;
    let rows: Vec<Row> = sqlx::query_as(ORDERS_SQL)
        .bind(tenant)
        .bind(connection)
        .bind(&r.page_token)
        .bind(&r.status)
        .bind(&r.external_id)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?;
    let next_page_token = match rows.last() {
        Some((_, _, id, _, _)) if rows.len() as i64 == limit => id.clone(),
        _ => String::new(),
    };
    Ok(ListOrdersResponse {
        orders: rows.into_iter().filter_map(stored).collect(),
        next_page_token,
    })
}

async fn load(state: &State, tenant: Uuid, connection: Uuid, id: &str) -> Result<Row, Error> {
    sqlx::query_as(ORDERS_SQL)
        .bind(tenant)
        .bind(connection)
        .bind("")
        .bind("")
        .bind(id)
        .bind(1_i64)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| Error::not_found("order not found"))
}

/// Confirms a shipment on the order's channel, then records it on the stored order. The same
/// tracking number twice is confirmed once.
pub async fn ship(state: &State, r: ShipOrderRequest) -> Result<ShipOrderResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let connection = uuid(&r.connection_id, "connection_id")?;
    let tracking = r.tracking_number.trim().to_string();
    let carrier = r.carrier.trim().to_string();
    if tracking.is_empty() || carrier.is_empty() {
        return Err(Error::invalid("carrier and tracking_number are required"));
    }
    if r.lines.iter().any(|l| l.sku.is_empty() || l.quantity <= 0) {
        return Err(Error::invalid(
            "every line needs a sku and a positive quantity",
        ));
    }
    let row = load(state, tenant, connection, &r.external_id).await?;
    let mut order = Order::decode(row.3.as_slice())
        .map_err(|e| Error::internal(format!("stored order cannot be decoded: {e}")))?;
    if order
        .shipments
        .iter()
        .any(|s| s.tracking_number == tracking)
    {
        return Ok(ShipOrderResponse {
            order: stored(row),
            duplicate: true,
        });
    }
    if matches!(
        order.status.as_str(),
        order_status::CANCELLED | order_status::REFUNDED
    ) {
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!(
                "order {} is {}: nothing to ship",
                order.external_id, order.status
            ),
        ));
    }
    let connector = store::connector(state, tenant, connection).await?;
    let all = r.lines.is_empty()
        || order.lines.iter().all(|ol| {
            r.lines
                .iter()
                .any(|l| l.sku == ol.sku && l.quantity >= ol.quantity)
        });
    let status = if all {
        order_status::SHIPPED
    } else {
        order_status::PARTIALLY_SHIPPED
    };
    let update = OrderUpdate {
        external_id: order.external_id.clone(),
        status: Some(status.to_string()),
        carrier: Some(carrier.clone()),
        tracking_number: Some(tracking.clone()),
        lines: r
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity))
            .collect(),
    };
    let report = connector
        .export_orders(std::slice::from_ref(&update))
        .await
        .map_err(platform_error)?;
    if let Some((_, message)) = report.rejected.first() {
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!("the channel refused the shipment: {message}"),
        ));
    }
    let lines = if r.lines.is_empty() {
        order.lines.clone()
    } else {
        r.lines.clone()
    };
    order.shipments.push(Shipment {
        external_id: String::new(),
        carrier,
        tracking_number: tracking,
        lines,
    });
    order.status = status.to_string();
    let updated: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "UPDATE orders SET status = $4, record = $5, updated_at = now() \
         WHERE tenant_id = $1 AND connection_id = $2 AND external_id = $3 RETURNING updated_at",
    )
    .bind(tenant)
    .bind(connection)
    .bind(&order.external_id)
    .bind(status)
    .bind(order.encode_to_vec())
    .fetch_one(&state.pool)
    .await?;
    tracing::info!(connection = %connection, order = %order.external_id, status, "shipment confirmed on the channel");
    Ok(ShipOrderResponse {
        order: Some(StoredOrder {
            connection_id: connection.to_string(),
            platform: row.1,
            order: Some(order),
            updated_at: updated.to_rfc3339(),
        }),
        duplicate: false,
    })
}

fn platform_error(e: ConnectorError) -> Error {
    match e {
        ConnectorError::Unsupported(what) => Error::new(
            ErrorCode::FailedPrecondition,
            format!("{what} is not supported"),
        ),
        ConnectorError::NotFound(m) => Error::not_found(m),
        e @ (ConnectorError::Auth(_)
        | ConnectorError::Config(_)
        | ConnectorError::Rejected { .. }) => {
            Error::new(ErrorCode::FailedPrecondition, e.to_string())
        }
        other => Error::unavailable(other),
    }
}

/// Accepts every stored order of a connection that its marketplace holds for acceptance, and
/// marks the accepted ones `processing`. Returns how many were accepted; a platform without
/// an acceptance step accepts none. Safe to repeat: only orders still awaiting are sent, and
/// accepting an accepted order is a no-op on every marketplace.
pub async fn accept_waiting(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    connector: &dyn Connector,
) -> Result<AcceptOutcome, AcceptFailure> {
    let waiting: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT external_id, record FROM orders \
         WHERE tenant_id = $1 AND connection_id = $2 AND status = $3 ORDER BY external_id",
    )
    .bind(tenant)
    .bind(connection)
    .bind(order_status::AWAITING_ACCEPTANCE)
    .fetch_all(&state.pool)
    .await?;
    let mut out = AcceptOutcome::default();
    for chunk in waiting.chunks(ACCEPT_CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let report = match connector.acknowledge_orders(&ids).await {
            Ok(r) => r,
            Err(ConnectorError::Unsupported(_)) => return Ok(out),
            Err(e) => return Err(AcceptFailure::Platform(e)),
        };
        for (id, message) in &report.rejected {
            out.refused.push(format!("order {id}: {message}"));
        }
        for (id, record) in chunk {
            if report.rejected.iter().any(|(r, _)| r == id) {
                continue;
            }
            // A record that does not decode is left as it is: the next import rewrites it.
            let Ok(mut order) = Order::decode(record.as_slice()) else {
                continue;
            };
            order.status = order_status::PROCESSING.to_string();
            sqlx::query(
                "UPDATE orders SET status = $4, record = $5, updated_at = now() \
                 WHERE tenant_id = $1 AND connection_id = $2 AND external_id = $3 AND status = $6",
            )
            .bind(tenant)
            .bind(connection)
            .bind(id)
            .bind(order_status::PROCESSING)
            .bind(order.encode_to_vec())
            .bind(order_status::AWAITING_ACCEPTANCE)
            .execute(&state.pool)
            .await?;
            out.accepted += 1;
        }
    }
    Ok(out)
}

/// Why [`accept_waiting`] stopped.
#[derive(Debug)]
pub enum AcceptFailure {
    /// Our database: the sync is retried.
    Db(sqlx::Error),
    /// The platform refused or failed.
    Platform(ConnectorError),
}

impl From<sqlx::Error> for AcceptFailure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

/// What [`accept_waiting`] did.
#[derive(Debug, Default)]
pub struct AcceptOutcome {
    /// Orders accepted.
    pub accepted: i64,
    /// Why the others were refused.
    pub refused: Vec<String>,
}
