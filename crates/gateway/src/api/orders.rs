//! Orders a connection imported, and shipment confirmations sent to their channel.

use axum::Json;
use axum::extract::State;
use marketsync_proto::v1::{
    ListOrdersRequest, OrderLine, ShipOrderRequest, ShipOrderResponse, StoredOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::audit::{self, Change};
use crate::auth::{Caller, Operator};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};

const CONNECTOR: &str = "connector";

/// Query of `GET /api/v1/connections/{id}/orders`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// Only orders in this canonical status (`awaiting_acceptance`, `processing`,
    /// `partially_shipped`, `shipped`, `completed`, `cancelled`, `refunded`,
    /// `partially_refunded`, `pending`).
    pub status: Option<String>,
    /// Orders per page (default 100, at most 500).
    pub limit: Option<i64>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A page of orders, by platform id.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    /// Orders with their lines, buyer, shipping address, status and shipments.
    pub items: Vec<StoredOrder>,
    /// Token of the next page; absent on the last.
    pub next_page_token: Option<String>,
}

/// A shipment to confirm on the channel.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipmentRequest {
    /// Carrier code or name as the channel knows it (`UPS`, `DHL`, `colissimo`, …).
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Lines shipped; absent or empty: every line.
    #[serde(default)]
    pub lines: Vec<ShipmentLine>,
}

/// One shipped line.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipmentLine {
    /// Sku of the order line.
    pub sku: String,
    /// Units shipped.
    pub quantity: i64,
}

/// The order after the shipment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentConfirmed {
    /// The order as stored now.
    pub order: Option<StoredOrder>,
    /// True when the same tracking number was confirmed before (nothing was sent again).
    pub duplicate: bool,
}

fn check_id(id: &str) -> ApiResult<()> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::not_found("connection not found"))
}

/// Orders of a connection as imported (new and updated), in platform id order.
#[utoipa::path(get, path = "/api/v1/connections/{id}/orders", tag = "orders",
    params(("id" = String, Path, description = "connection id"), OrderListQuery),
    responses(
        (status = 200, description = "ok", body = OrderList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrderListQuery>,
) -> ApiResult<Json<OrderList>> {
    check_id(&id)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 500"));
    }
    let resp = state
        .connector
        .clone()
        .list_orders(ListOrdersRequest {
            tenant_id: caller.tenant(),
            connection_id: id,
            status: q.status.unwrap_or_default(),
            external_id: String::new(),
            page_token: q.page_token.unwrap_or_default(),
            limit: limit as i32,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(OrderList {
        items: resp.orders,
        next_page_token: Some(resp.next_page_token).filter(|t| !t.is_empty()),
    }))
}

/// One order of a connection, by its platform id.
#[utoipa::path(get, path = "/api/v1/connections/{id}/orders/{order_id}", tag = "orders",
    params(("id" = String, Path, description = "connection id"),
           ("order_id" = String, Path, description = "the order's id on the platform")),
    responses(
        (status = 200, description = "ok", body = StoredOrder),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, order_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<StoredOrder>> {
    check_id(&id)?;
    let resp = state
        .connector
        .clone()
        .list_orders(ListOrdersRequest {
            tenant_id: caller.tenant(),
            connection_id: id,
            external_id: order_id,
            limit: 1,
            ..Default::default()
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    resp.orders
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("order not found"))
}

/// Confirms a shipment of an order on its channel, with carrier and tracking number
/// (operator; the same tracking number twice is confirmed once).
#[utoipa::path(post, path = "/api/v1/connections/{id}/orders/{order_id}/shipments", tag = "orders",
    params(("id" = String, Path, description = "connection id"),
           ("order_id" = String, Path, description = "the order's id on the platform")),
    request_body = ShipmentRequest,
    responses(
        (status = 200, description = "confirmed on the channel", body = ShipmentConfirmed),
        (status = 400, description = "carrier or tracking number missing, or a bad line", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 409, description = "the channel refused it, or the order is cancelled", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn ship_order(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath((id, order_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ShipmentRequest>,
) -> ApiResult<Json<ShipmentConfirmed>> {
    check_id(&id)?;
    let ShipOrderResponse { order, duplicate } = state
        .connector
        .clone()
        .ship_order(ShipOrderRequest {
            tenant_id: caller.tenant(),
            connection_id: id.clone(),
            external_id: order_id.clone(),
            carrier: body.carrier.clone(),
            tracking_number: body.tracking_number.clone(),
            lines: body
                .lines
                .iter()
                .map(|l| OrderLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    ..Default::default()
                })
                .collect(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    if !duplicate {
        audit::record_after(
            &state.pool,
            &caller.actor(),
            Change {
                tenant_id: caller.tenant_id,
                action: "order.shipment",
                target_type: "order",
                target_id: format!("{id}/{order_id}"),
                before: None,
                after: Some(json!({
                    "carrier": body.carrier,
                    "tracking_number": body.tracking_number,
                    "status": order.as_ref().and_then(|o| o.order.as_ref()).map(|o| o.status.clone()),
                })),
            },
        )
        .await;
    }
    Ok(Json(ShipmentConfirmed { order, duplicate }))
}
