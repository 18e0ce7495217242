//! ConnectorService over gRPC.

use std::sync::Arc;
use std::time::Instant;

use marketsync_common::{Error, ts};
use marketsync_proto::v1::connector_service_server::ConnectorService;
use marketsync_proto::v1::*;
use serde_json::Value;
use sqlx::Row;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::State;
use crate::store::{self, COLUMNS, uuid};

/// The gRPC API.
pub struct Api {
    /// Shared state.
    pub state: Arc<State>,
}

type R<T> = Result<Response<T>, Status>;

impl Api {
    async fn fetch(&self, tenant: Uuid, id: Uuid) -> Result<Connection, Error> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.state.pool)
            .await?
            .ok_or_else(|| Error::not_found("connection not found"))?;
        Ok(store::to_proto(&row))
    }
}

#[tonic::async_trait]
impl ConnectorService for Api {
    async fn list_platforms(&self, _req: Request<Empty>) -> R<ListPlatformsResponse> {
        Ok(Response::new(ListPlatformsResponse {
            platforms: marketsync_connectors::registry(),
        }))
    }

    async fn create_connection(&self, req: Request<CreateConnectionRequest>) -> R<Connection> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        if r.name.trim().is_empty() {
            return Err(Error::invalid("name is required").into());
        }
        let platform = store::platform(&r.platform)?;
        let creds = store::parse_credentials(&r.credentials_json)?;
        store::check_required(&platform, &creds)?;
        let (settings, _) = store::parse_settings(&r.settings_json)?;
        let masked = store::mask_credentials(Some(&platform), &creds);
        let (key_id, ct) = store::encrypt(&self.state, &creds)?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO connections (id, tenant_id, name, platform, credentials_ciphertext, \
             credentials_key_id, credentials_masked, settings) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(id)
        .bind(tenant)
        .bind(r.name.trim())
        .bind(&platform.id)
        .bind(ct)
        .bind(key_id)
        .bind(masked)
        .bind(settings)
        .execute(&self.state.pool)
        .await
        .map_err(|e| match Error::from(e) {
            e if e.code == marketsync_common::ErrorCode::AlreadyExists => Error::new(
                e.code,
                format!("a connection named `{}` exists", r.name.trim()),
            ),
            e => e,
        })?;
        tracing::info!(connection = %id, tenant = %tenant, platform = %platform.id, "connection created");
        Ok(Response::new(self.fetch(tenant, id).await?))
    }

    async fn get_connection(&self, req: Request<ConnectionRef>) -> R<Connection> {
        let r = req.into_inner();
        let c = self
            .fetch(uuid(&r.tenant_id, "tenant_id")?, uuid(&r.id, "id")?)
            .await?;
        Ok(Response::new(c))
    }

    async fn list_connections(
        &self,
        req: Request<ListConnectionsRequest>,
    ) -> R<ListConnectionsResponse> {
        let tenant = uuid(&req.into_inner().tenant_id, "tenant_id")?;
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(ListConnectionsResponse {
            connections: rows.iter().map(store::to_proto).collect(),
        }))
    }

    async fn update_connection(&self, req: Request<UpdateConnectionRequest>) -> R<Connection> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        let current = self.fetch(tenant, id).await?;
        let mut tx = self.state.pool.begin().await.map_err(Error::from)?;
        if let Some(name) = r.name.as_deref() {
            if name.trim().is_empty() {
                return Err(Error::invalid("name must not be empty").into());
            }
            sqlx::query("UPDATE connections SET name = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .bind(name.trim())
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
        }
        if let Some(text) = r.credentials_json.as_deref() {
            let platform = store::platform(&current.platform)?;
            let patch = store::parse_credentials(text)?;
            let (_, mut creds, _) = store::load_credentials(&self.state, tenant, id).await?;
            for (k, v) in patch {
                creds.insert(k, v);
            }
            store::check_required(&platform, &creds)?;
            let masked = store::mask_credentials(Some(&platform), &creds);
            let (key_id, ct) = store::encrypt(&self.state, &creds)?;
            sqlx::query(
                "UPDATE connections SET credentials_ciphertext = $3, credentials_key_id = $4, \
                 credentials_masked = $5, status = 'credentials_updated' WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .bind(ct)
            .bind(key_id)
            .bind(masked)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        }
        if let Some(text) = r.settings_json.as_deref() {
            let (patch, _) = store::parse_settings(text)?;
            let mut settings: Value =
                serde_json::from_str(&current.settings_json).unwrap_or(Value::Null);
            if let (Some(cur), Some(p)) = (settings.as_object_mut(), patch.as_object()) {
                for (k, v) in p {
                    cur.insert(k.clone(), v.clone());
                }
            }
            store::parse_settings(&settings.to_string())?;
            sqlx::query("UPDATE connections SET settings = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .bind(settings)
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
        }
        if let Some(enabled) = r.enabled {
            sqlx::query("UPDATE connections SET enabled = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .bind(enabled)
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
        }
        sqlx::query("UPDATE connections SET updated_at = now() WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Response::new(self.fetch(tenant, id).await?))
    }

    async fn delete_connection(&self, req: Request<ConnectionRef>) -> R<Empty> {
        let r = req.into_inner();
        let done = sqlx::query("DELETE FROM connections WHERE tenant_id = $1 AND id = $2")
            .bind(uuid(&r.tenant_id, "tenant_id")?)
            .bind(uuid(&r.id, "id")?)
            .execute(&self.state.pool)
            .await
            .map_err(Error::from)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("connection not found").into());
        }
        Ok(Response::new(Empty {}))
    }

    async fn test_connection(&self, req: Request<ConnectionRef>) -> R<TestConnectionResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        let cfg = store::connection_config(&self.state, tenant, id).await?;
        let started = Instant::now();
        let outcome = match marketsync_connectors::build(cfg) {
            Ok(c) => c.test_connection().await,
            Err(e) => Err(e),
        };
        let latency_ms = started.elapsed().as_millis() as i64;
        let (ok, message) = match outcome {
            Ok(m) => (true, m),
            Err(e) => (false, e.to_string()),
        };
        let status = if ok { "ok" } else { "error" };
        sqlx::query("UPDATE connections SET status = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .bind(status)
            .execute(&self.state.pool)
            .await
            .map_err(Error::from)?;
        tracing::info!(connection = %id, ok, latency_ms, "connection tested");
        Ok(Response::new(TestConnectionResponse {
            ok,
            message,
            latency_ms,
        }))
    }

    async fn get_sync(&self, req: Request<SyncRef>) -> R<SyncRun> {
        let r = req.into_inner();
        let row = sqlx::query(SYNC_SQL_ONE)
            .bind(uuid(&r.tenant_id, "tenant_id")?)
            .bind(uuid(&r.id, "id")?)
            .fetch_optional(&self.state.pool)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::not_found("sync not found"))?;
        Ok(Response::new(sync_run(&row)))
    }

    async fn list_syncs(&self, req: Request<ListSyncsRequest>) -> R<ListSyncsResponse> {
        let r = req.into_inner();
        let limit = if r.limit <= 0 { 50 } else { r.limit.min(500) } as i64;
        let rows = sqlx::query(SYNC_SQL_LIST)
            .bind(uuid(&r.tenant_id, "tenant_id")?)
            .bind(uuid(&r.connection_id, "connection_id")?)
            .bind(limit)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(ListSyncsResponse {
            syncs: rows.iter().map(sync_run).collect(),
        }))
    }

    async fn receive_webhook(
        &self,
        req: Request<ReceiveWebhookRequest>,
    ) -> R<ReceiveWebhookResponse> {
        Ok(Response::new(
            crate::webhooks::receive(&self.state, req.into_inner()).await?,
        ))
    }

    async fn register_webhooks(
        &self,
        req: Request<RegisterWebhooksRequest>,
    ) -> R<RegisterWebhooksResponse> {
        Ok(Response::new(
            crate::webhooks::register(&self.state, req.into_inner()).await?,
        ))
    }

    async fn answer_webhook_challenge(
        &self,
        req: Request<WebhookChallengeRequest>,
    ) -> R<WebhookChallengeResponse> {
        Ok(Response::new(
            crate::webhooks::challenge(&self.state, req.into_inner()).await?,
        ))
    }

    async fn list_orders(&self, req: Request<ListOrdersRequest>) -> R<ListOrdersResponse> {
        Ok(Response::new(
            crate::orders::list(&self.state, req.into_inner()).await?,
        ))
    }

    async fn get_stock(&self, req: Request<GetStockRequest>) -> R<GetStockResponse> {
        Ok(Response::new(
            crate::stock::get(&self.state, req.into_inner()).await?,
        ))
    }

    async fn stock_history(&self, req: Request<StockHistoryRequest>) -> R<StockHistoryResponse> {
        Ok(Response::new(
            crate::stock::history(&self.state, req.into_inner()).await?,
        ))
    }

    async fn adjust_stock(&self, req: Request<AdjustStockRequest>) -> R<AdjustStockResponse> {
        Ok(Response::new(
            crate::stock::adjust(&self.state, req.into_inner()).await?,
        ))
    }

    async fn list_stock_warehouses(
        &self,
        req: Request<TenantRef>,
    ) -> R<ListStockWarehousesResponse> {
        Ok(Response::new(
            crate::stock::warehouses(&self.state, req.into_inner()).await?,
        ))
    }

    async fn set_stock_warehouse(
        &self,
        req: Request<SetStockWarehouseRequest>,
    ) -> R<StockWarehouse> {
        Ok(Response::new(
            crate::stock::set_warehouse(&self.state, req.into_inner()).await?,
        ))
    }

    async fn get_consistency(&self, req: Request<ConsistencyRequest>) -> R<ConsistencyReport> {
        Ok(Response::new(
            crate::stock::consistency(&self.state, req.into_inner()).await?,
        ))
    }

    async fn list_stock_backups(&self, req: Request<ConnectionRef>) -> R<ListStockBackupsResponse> {
        Ok(Response::new(
            crate::stock::backups(&self.state, req.into_inner()).await?,
        ))
    }

    async fn restore_stock_backup(
        &self,
        req: Request<RestoreStockBackupRequest>,
    ) -> R<RestoreStockBackupResponse> {
        Ok(Response::new(
            crate::stock::restore(&self.state, req.into_inner()).await?,
        ))
    }

    async fn ship_order(&self, req: Request<ShipOrderRequest>) -> R<ShipOrderResponse> {
        Ok(Response::new(
            crate::orders::ship(&self.state, req.into_inner()).await?,
        ))
    }

    async fn list_products(&self, req: Request<ListProductsRequest>) -> R<ListProductsResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let limit = if r.limit <= 0 {
            1_000
        } else {
            r.limit.min(5_000)
        } as i64;
        if !r.skus.is_empty() {
            // The records of named skus (an issue's record, for instance): one page.
            let connection = if r.connection_id.is_empty() {
                None
            } else {
                Some(uuid(&r.connection_id, "connection_id")?)
            };
            let rows: Vec<Vec<u8>> = sqlx::query_scalar(
                "SELECT record FROM products WHERE sku = ANY($2) AND tenant_id = $1 \
                 AND ($3::uuid IS NULL OR connection_id = $3) ORDER BY connection_id, sku LIMIT $4",
            )
            .bind(tenant)
            .bind(&r.skus)
            .bind(connection)
            .bind(limit)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
            return Ok(Response::new(ListProductsResponse {
                products: decode_products(rows.iter().map(Vec::as_slice)),
                next_page_token: String::new(),
            }));
        }
        // The token is the last (connection, sku) of the previous page: a keyset walk of the
        // primary key, as cheap for the last page as for the first.
        let (after_conn, after_sku) = match r.page_token.split_once('/') {
            None if r.page_token.is_empty() => (Uuid::nil(), String::new()),
            Some((c, s)) => (
                Uuid::parse_str(c).map_err(|_| Error::invalid("invalid page_token"))?,
                s.to_string(),
            ),
            None => return Err(Error::invalid("invalid page_token").into()),
        };
        let rows: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT connection_id, sku, record FROM products \
             WHERE (connection_id, sku) > ($2, $3) AND tenant_id = $1 \
             ORDER BY connection_id, sku LIMIT $4",
        )
        .bind(tenant)
        .bind(after_conn)
        .bind(&after_sku)
        .bind(limit)
        .fetch_all(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let next_page_token = match rows.last() {
            Some((c, s, _)) if rows.len() as i64 == limit => format!("{c}/{s}"),
            _ => String::new(),
        };
        Ok(Response::new(ListProductsResponse {
            products: decode_products(rows.iter().map(|(_, _, rec)| rec.as_slice())),
            next_page_token,
        }))
    }
}

/// Stored records as products (a record that no longer decodes is left out).
fn decode_products<'a>(records: impl Iterator<Item = &'a [u8]>) -> Vec<Product> {
    records
        .filter_map(|rec| <Product as prost::Message>::decode(rec).ok())
        .collect()
}

const SYNC_SQL_ONE: &str = "SELECT id, tenant_id, connection_id, status, counts, errors, started_at, \
     finished_at, operations, force_full FROM sync_runs WHERE tenant_id = $1 AND id = $2";
const SYNC_SQL_LIST: &str = "SELECT id, tenant_id, connection_id, status, counts, errors, started_at, \
     finished_at, operations, force_full FROM sync_runs WHERE tenant_id = $1 AND connection_id = $2 \
     ORDER BY created_at DESC LIMIT $3";

fn sync_run(r: &sqlx::postgres::PgRow) -> SyncRun {
    let id: Uuid = r.get(0);
    let tenant: Uuid = r.get(1);
    let conn: Uuid = r.get(2);
    let counts: Value = r.get(4);
    let errors: Value = r.get(5);
    SyncRun {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        connection_id: conn.to_string(),
        status: r.get(3),
        counts: serde_json::from_value(counts).unwrap_or_default(),
        errors: serde_json::from_value(errors).unwrap_or_default(),
        started_at: ts(r.get(6)),
        finished_at: ts(r.get(7)),
        operations: r.get(8),
        force_full: r.get(9),
    }
}
