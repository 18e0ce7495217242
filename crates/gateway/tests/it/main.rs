//! Integration tests of the gateway: each test starts the gateway in-process on port 0 against
//! the real PostgreSQL (a fresh database) and NATS (its own subject prefix). The connector,
//! monitor and knowledge services are not running: calls that reach them answer 503, which
//! proves the request got past authentication, roles and validation.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use marketsync_common::bus::Bus;
use marketsync_gateway::audit::Actor;
use marketsync_gateway::{GatewayConfig, admin, sync};
use marketsync_proto::v1::{Issue, IssueBatch, SyncCommand, SyncEvent};
use prost::Message;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const NATS: &str = "nats://127.0.0.1:4222";

struct Gateway {
    url: String,
    pool: PgPool,
    bus: Bus,
    http: reqwest::Client,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    database: String,
}

/// A port nothing listens on, so the gRPC services are unreachable.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

impl Gateway {
    async fn start() -> Self {
        marketsync_common::install_crypto_provider();
        let database = format!("ms_gw_{}", Uuid::new_v4().simple());
        let prefix = format!("t{}", Uuid::new_v4().simple());
        let database_url = format!("{PG}/{database}");
        let cfg = GatewayConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            database_url: database_url.clone(),
            nats_url: NATS.into(),
            subject_prefix: prefix.clone(),
            connector_url: closed_port_url(),
            monitor_url: closed_port_url(),
            knowledge_url: closed_port_url(),
            db_max_connections: 4,
        };
        let shutdown = CancellationToken::new();
        let (addr, handle) = marketsync_gateway::serve(cfg, shutdown.clone())
            .await
            .expect("gateway starts");
        let pool = marketsync_common::db::connect(&database_url, "gateway", 2)
            .await
            .expect("pool");
        let bus = Bus::connect(NATS, &prefix, "gateway").await.expect("nats");
        Self {
            url: format!("http://{addr}"),
            pool,
            bus,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            shutdown,
            handle,
            database,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn tenant_with_key(&self, name: &str, role: &str) -> (Uuid, String) {
        let tenant = admin::create_tenant(&self.pool, name)
            .await
            .expect("tenant");
        let key = admin::create_api_key(&self.pool, tenant, role, &format!("{name}-{role}"))
            .await
            .expect("key");
        (tenant, key)
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the gateway drains within 10 s, open event streams included")
            .expect("server task");
        self.pool.close().await;
        // Remove this test's streams and database.
        let prefix = self.bus.stream_name("");
        let mut names = self.bus.js.stream_names();
        let mut mine = Vec::new();
        while let Some(Ok(n)) = names.next().await {
            if n.starts_with(&prefix) {
                mine.push(n);
            }
        }
        for n in mine {
            let _ = self.bus.js.delete_stream(&n).await;
        }
        if let Ok(admin_pool) = sqlx::PgPool::connect(&format!("{PG}/postgres")).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin_pool)
                .await;
            admin_pool.close().await;
        }
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let gw = Gateway::start().await;
    let (tenant, key) = gw.tenant_with_key("acme", "merchant").await;

    let r = gw
        .http
        .get(gw.url("/api/v1/issues"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "unauthenticated");

    let (s, body) = gw
        .get(
            "/api/v1/issues",
            "msk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(error_code(&body), "unauthenticated");
    let (s, _) = gw.get("/api/v1/issues", "not-a-key").await;
    assert_eq!(s, 401);

    let r = gw
        .http
        .get(gw.url("/api/v1/issues"))
        .header("authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);

    // A revoked key stops working at once.
    let keys = admin::list_api_keys(&gw.pool, tenant).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert!(key.starts_with(&keys[0].prefix));
    assert!(
        admin::revoke_api_key(&gw.pool, tenant, keys[0].id)
            .await
            .expect("revoke")
    );
    let (s, body) = gw.get("/api/v1/stats", &key).await;
    assert_eq!(s, 401);
    assert!(!body.to_string().contains(&key), "the key is never echoed");
    gw.stop().await;
}

#[tokio::test]
async fn roles_decide_what_a_key_may_do() {
    let gw = Gateway::start().await;
    let tenant = admin::create_tenant(&gw.pool, "acme")
        .await
        .expect("tenant");
    let merchant = admin::create_api_key(&gw.pool, tenant, "merchant", "shop staff")
        .await
        .expect("key");
    let operator = admin::create_api_key(&gw.pool, tenant, "operator", "ops")
        .await
        .expect("key");
    let admin_key = admin::create_api_key(&gw.pool, tenant, "admin", "root")
        .await
        .expect("key");
    let body = json!({"name": "shop", "platform": "shopify", "credentials": {"access_token": "shpat_secret"}, "settings": {}});

    let (s, b) = gw
        .send("POST", "/api/v1/connections", &merchant, Some(body.clone()))
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(error_code(&b), "permission_denied");

    // The operator gets past auth and validation; the connector is down here.
    let (s, b) = gw
        .send("POST", "/api/v1/connections", &operator, Some(body.clone()))
        .await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(error_code(&b), "unavailable");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("connector")
    );
    assert!(!b.to_string().contains("shpat_secret"));

    // Validation comes before the call.
    let (s, b) = gw
        .send(
            "POST",
            "/api/v1/connections",
            &operator,
            Some(json!({"name": " ", "platform": "shopify", "credentials": {}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = gw
        .send(
            "POST",
            "/api/v1/connections",
            &operator,
            Some(json!({"name": "x", "platform": "shopify", "credentials": "token"})),
        )
        .await;
    assert_eq!(s, 400);

    // Merchants read and decide, but not the audit log.
    let (s, _) = gw.get("/api/v1/audit", &merchant).await;
    assert_eq!(s, 403);
    let (s, _) = gw.get("/api/v1/audit", &operator).await;
    assert_eq!(s, 200);
    let (s, b) = gw.get("/api/v1/issues", &merchant).await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("monitor")
    );
    let (s, _) = gw
        .send(
            "POST",
            &format!("/api/v1/issues/{}/decision", Uuid::now_v7()),
            &merchant,
            Some(json!({"decision": "approved"})),
        )
        .await;
    assert_eq!(s, 503);
    let (s, _) = gw
        .send(
            "POST",
            &format!("/api/v1/issues/{}/decision", Uuid::now_v7()),
            &merchant,
            Some(json!({"decision": "modified"})),
        )
        .await;
    assert_eq!(s, 400, "modified needs a solution");
    // The approved suggestion's index is checked before any service is asked.
    for (body, why) in [
        (
            json!({"decision": "approved", "suggestion": -1}),
            "a negative index",
        ),
        (
            json!({"decision": "rejected", "suggestion": 0}),
            "an index with a rejection",
        ),
        (
            json!({"decision": "modified", "solution": "x", "suggestion": 1}),
            "an index with a modification",
        ),
        (
            json!({"decision": "approved", "suggestion": "first"}),
            "an index that is not a number",
        ),
    ] {
        let (s, b) = gw
            .send(
                "POST",
                &format!("/api/v1/issues/{}/decision", Uuid::now_v7()),
                &merchant,
                Some(body),
            )
            .await;
        assert_eq!(s, 400, "{why}: {b}");
    }
    let (s, _) = gw
        .send(
            "POST",
            &format!("/api/v1/issues/{}/decision", Uuid::now_v7()),
            &merchant,
            Some(json!({"decision": "approved", "suggestion": 1})),
        )
        .await;
    assert_eq!(s, 503, "a valid index goes to the knowledge service");

    // Knowledge-base editing is for admins.
    let rule = format!("/api/v1/knowledge/rules/{}", Uuid::now_v7());
    for key in [&merchant, &operator] {
        let (s, _) = gw
            .send("PATCH", &rule, key, Some(json!({"is_active": false})))
            .await;
        assert_eq!(s, 403);
    }
    let (s, _) = gw
        .send(
            "PATCH",
            &rule,
            &admin_key,
            Some(json!({"confidence_threshold": 1.5})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, b) = gw
        .send(
            "PATCH",
            &rule,
            &admin_key,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, 503, "{b}");
    let (s, _) = gw.get("/api/v1/knowledge/export", &merchant).await;
    assert_eq!(s, 403);
    let (s, _) = gw.get("/api/v1/knowledge/export", &operator).await;
    assert_eq!(s, 503);
    let (s, _) = gw
        .send(
            "POST",
            "/api/v1/knowledge/import",
            &operator,
            Some(json!({"rules": []})),
        )
        .await;
    assert_eq!(s, 403);
    gw.stop().await;
}

#[tokio::test]
async fn admins_act_on_another_tenant_with_the_header() {
    let gw = Gateway::start().await;
    let (home, admin_key) = gw.tenant_with_key("platform-team", "admin").await;
    let (other, operator) = gw.tenant_with_key("acme", "operator").await;
    assert_ne!(home, other);

    let audit_of = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["tenant_id"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };

    let r = gw
        .http
        .get(gw.url("/api/v1/audit"))
        .bearer_auth(&admin_key)
        .header("X-Marketsync-Tenant", other.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    let tenants = audit_of(&body);
    assert!(!tenants.is_empty());
    assert!(tenants.iter().all(|t| *t == other.to_string()), "{body}");

    // Without the header, the admin's own tenant.
    let (_, body) = gw.get("/api/v1/audit", &admin_key).await;
    assert!(audit_of(&body).iter().all(|t| *t == home.to_string()));

    // Non-admins cannot switch tenants.
    let r = gw
        .http
        .get(gw.url("/api/v1/audit"))
        .bearer_auth(&operator)
        .header("X-Marketsync-Tenant", home.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 403);

    for (value, status) in [(Uuid::now_v7().to_string(), 404), ("nope".to_string(), 400)] {
        let r = gw
            .http
            .get(gw.url("/api/v1/audit"))
            .bearer_auth(&admin_key)
            .header("X-Marketsync-Tenant", value)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), status);
    }
    gw.stop().await;
}

#[tokio::test]
async fn tenants_and_keys_are_audited_and_isolated() {
    let gw = Gateway::start().await;
    let a = admin::create_tenant(&gw.pool, "acme")
        .await
        .expect("tenant");
    assert_eq!(
        admin::create_tenant(&gw.pool, "acme")
            .await
            .expect("tenant"),
        a,
        "idempotent on name"
    );
    let b = admin::create_tenant(&gw.pool, "globex")
        .await
        .expect("tenant");
    let tenants = admin::list_tenants(&gw.pool).await.expect("list");
    assert_eq!(tenants.len(), 2);

    let key_a = admin::create_api_key(&gw.pool, a, "operator", "ops-a")
        .await
        .expect("key");
    let key_b = admin::create_api_key(&gw.pool, b, "operator", "ops-b")
        .await
        .expect("key");
    assert_eq!(key_a.len(), 47);
    assert!(key_a.starts_with("msk_"));
    assert!(
        admin::create_api_key(&gw.pool, a, "superuser", "x")
            .await
            .is_err()
    );
    assert!(
        admin::create_api_key(&gw.pool, Uuid::now_v7(), "admin", "x")
            .await
            .is_err()
    );

    let (s, body) = gw.get("/api/v1/audit?limit=10", &key_a).await;
    assert_eq!(s, 200);
    let items = body["items"].as_array().expect("items");
    assert_eq!(body["total"], 2, "{body}");
    let actions: HashSet<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, HashSet::from(["tenant.create", "api_key.create"]));
    for e in items {
        assert_eq!(e["tenant_id"], a.to_string());
        assert!(e["at"].is_string());
        assert!(e["actor"]["name"].is_string());
    }
    let key_entry = items
        .iter()
        .find(|e| e["action"] == "api_key.create")
        .expect("key entry");
    assert_eq!(key_entry["after"]["role"], "operator");
    assert_eq!(key_entry["after"]["name"], "ops-a");
    let text = body.to_string();
    assert!(
        !text.contains(&key_a) && !text.contains(&key_b),
        "keys never stored"
    );
    assert!(!text.contains(&marketsync_gateway::auth::hash_key(&key_a)));

    let (_, body_b) = gw.get("/api/v1/audit", &key_b).await;
    assert!(
        body_b["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["tenant_id"] == b.to_string())
    );

    // Pagination.
    let (s, page) = gw.get("/api/v1/audit?limit=1&offset=1", &key_a).await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let (s, b) = gw.get("/api/v1/audit?limit=0", &key_a).await;
    assert_eq!((s, error_code(&b)), (400, "invalid_argument"));
    let (s, b) = gw.get("/api/v1/audit?limit=many", &key_a).await;
    assert_eq!((s, error_code(&b)), (400, "invalid_argument"));

    // Last use is recorded.
    let mut used = false;
    for _ in 0..50 {
        let keys = admin::list_api_keys(&gw.pool, a).await.expect("keys");
        if keys[0].last_used_at.is_some() {
            used = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(used, "last_used_at set");
    gw.stop().await;
}

#[tokio::test]
async fn sync_requests_are_validated_published_and_isolated() {
    let gw = Gateway::start().await;
    let (a, operator) = gw.tenant_with_key("acme", "operator").await;
    let (b, operator_b) = gw.tenant_with_key("globex", "operator").await;
    let (_, merchant) = {
        let k = admin::create_api_key(&gw.pool, a, "merchant", "staff")
            .await
            .expect("key");
        (a, k)
    };
    let conn = Uuid::now_v7();
    let path = format!("/api/v1/connections/{conn}/sync");

    let (s, _) = gw.send("POST", &path, &merchant, None).await;
    assert_eq!(s, 403);
    let (s, body) = gw
        .send(
            "POST",
            &path,
            &operator,
            Some(json!({"operations": ["import_everything"]})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("import_everything")
    );
    let r = gw
        .http
        .post(gw.url(&path))
        .bearer_auth(&operator)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json error");
    assert_eq!(error_code(&body), "invalid_argument");
    // Valid, with no body: the connector is asked whether the connection exists, and is down.
    let (s, body) = gw.send("POST", &path, &operator, None).await;
    assert_eq!(s, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("connector")
    );
    let (s, _) = gw
        .send(
            "POST",
            "/api/v1/connections/not-a-uuid/sync",
            &operator,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = gw.get("/api/v1/syncs/not-a-uuid", &operator).await;
    assert_eq!(s, 404);

    // Below the HTTP layer: record and publish, and a consumer receives the command.
    let stream = gw
        .bus
        .js
        .get_stream(gw.bus.stream_name("CMD"))
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: gw.bus.subject(&["cmd", &a.to_string(), ">"]),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let request = sync::SyncRequest {
        operations: Some(vec!["import_products".into(), "export_inventory".into()]),
        force_full: Some(true),
        filters: Some(sync::SyncRequestFilters {
            skus: Some(vec!["SKU-1".into()]),
            since: Some("2024-01-01T00:00:00Z".into()),
            until: None,
        }),
    }
    .validate()
    .expect("valid");
    let actor = Actor {
        key_id: None,
        name: "ops".into(),
    };
    let sync_id = sync::enqueue(&gw.pool, &gw.bus, a, conn, &actor, &request)
        .await
        .expect("enqueued");

    let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
        .await
        .expect("a command arrives")
        .expect("stream open")
        .expect("message");
    assert_eq!(
        msg.subject.as_str(),
        gw.bus
            .subject(&["cmd", &a.to_string(), &conn.to_string(), "sync"])
    );
    let headers = msg.headers.clone().expect("headers");
    let h = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(h("ce-id"), Some(sync_id.to_string()));
    assert_eq!(h("Nats-Msg-Id"), Some(sync_id.to_string()));
    assert_eq!(
        h("ce-type").as_deref(),
        Some("marketsync.sync.requested.v1")
    );
    assert_eq!(h("ce-source").as_deref(), Some("/marketsync/gateway"));
    assert_eq!(h("ce-specversion").as_deref(), Some("1.0"));
    let time = h("ce-time").expect("ce-time");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
        "{time}"
    );
    let cmd = SyncCommand::decode(msg.payload.as_ref()).expect("SyncCommand");
    assert_eq!(cmd.tenant_id, a.to_string());
    assert_eq!(cmd.connection_id, conn.to_string());
    assert_eq!(cmd.sync_id, sync_id.to_string());
    assert_eq!(cmd.operations, vec!["import_products", "export_inventory"]);
    assert!(cmd.force_full);
    assert_eq!(cmd.requested_by, "ops");
    let filters = cmd.filters.expect("filters");
    assert_eq!(filters.skus, vec!["SKU-1"]);
    assert_eq!(filters.since, "2024-01-01T00:00:00.000Z");

    // Recorded for its tenant only.
    let mine = sync::find_request(&gw.pool, a, sync_id)
        .await
        .expect("query");
    let queued = sync::SyncView::queued(&mine.expect("recorded"));
    assert_eq!(queued.status, "queued");
    assert!(queued.started_at.is_none() && queued.counts.is_empty());
    assert!(
        sync::find_request(&gw.pool, b, sync_id)
            .await
            .expect("query")
            .is_none()
    );
    let (_, audit_a) = gw.get("/api/v1/audit", &operator).await;
    let entry = audit_a["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "sync.request")
        .cloned()
        .expect("sync audited");
    assert_eq!(entry["after"]["sync_id"], sync_id.to_string());
    assert_eq!(entry["target_id"], conn.to_string());
    let (_, audit_b) = gw.get("/api/v1/audit", &operator_b).await;
    assert!(!audit_b.to_string().contains(&sync_id.to_string()));
    gw.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_path() {
    let gw = Gateway::start().await;
    let r = gw
        .http
        .get(gw.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer_auth"]["scheme"],
        "bearer"
    );
    let expected: &[(&str, &str)] = &[
        ("get", "/healthz"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/platforms"),
        ("post", "/api/v1/connections"),
        ("get", "/api/v1/connections"),
        ("get", "/api/v1/connections/{id}"),
        ("patch", "/api/v1/connections/{id}"),
        ("delete", "/api/v1/connections/{id}"),
        ("post", "/api/v1/connections/{id}/test"),
        ("post", "/api/v1/connections/{id}/sync"),
        ("get", "/api/v1/syncs/{id}"),
        ("get", "/api/v1/connections/{id}/syncs"),
        ("get", "/api/v1/issues"),
        ("get", "/api/v1/issues/{id}"),
        ("post", "/api/v1/issues/{id}/decision"),
        ("get", "/api/v1/corrections"),
        ("post", "/api/v1/corrections/{id}/undo"),
        ("get", "/api/v1/knowledge/patterns"),
        ("get", "/api/v1/knowledge/rules"),
        ("get", "/api/v1/knowledge/decisions"),
        ("patch", "/api/v1/knowledge/rules/{id}"),
        ("get", "/api/v1/knowledge/export"),
        ("post", "/api/v1/knowledge/import"),
        ("get", "/api/v1/stats"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/audit"),
    ];
    for (method, path) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    // Every reference resolves to a component.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap_or("").to_string());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} resolves"
        );
    }
    gw.stop().await;
}

/// Reads the SSE body until `until` returns true on the text so far, or the deadline passes.
async fn read_sse(
    resp: &mut reqwest::Response,
    buf: &mut String,
    until: impl Fn(&str) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !until(buf) {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn events_stream_only_the_callers_tenant() {
    let gw = Gateway::start().await;
    let (a, key_a) = gw.tenant_with_key("acme", "merchant").await;
    let b = admin::create_tenant(&gw.pool, "globex")
        .await
        .expect("tenant");

    let mut resp = gw
        .http
        .get(gw.url("/api/v1/events"))
        .bearer_auth(&key_a)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();
    assert!(
        read_sse(&mut resp, &mut buf, |s| s.contains("event: ready")).await,
        "{buf}"
    );

    let (ta, tb) = (a.to_string(), b.to_string());
    let issue = |tenant: &str, sku: &str| IssueBatch {
        tenant_id: tenant.into(),
        issues: vec![Issue {
            id: Uuid::now_v7().to_string(),
            tenant_id: tenant.into(),
            sku: sku.into(),
            issue_type: "missing_required_field".into(),
            ..Default::default()
        }],
    };
    // Another tenant's event first: it must never show up.
    gw.bus
        .publish(
            gw.bus.subject(&["issues", &tb, "detected"]),
            "marketsync.issues.detected.v1",
            &tb,
            &Uuid::now_v7().to_string(),
            &issue(&tb, "SKU-OF-GLOBEX"),
        )
        .await
        .expect("publish");
    gw.bus
        .publish(
            gw.bus.subject(&["issues", &ta, "detected"]),
            "marketsync.issues.detected.v1",
            &ta,
            &Uuid::now_v7().to_string(),
            &issue(&ta, "SKU-OF-ACME"),
        )
        .await
        .expect("publish");
    let conn = Uuid::now_v7().to_string();
    gw.bus
        .publish(
            gw.bus.subject(&["sync", &ta, &conn, "progress"]),
            "marketsync.sync.progress.v1",
            &ta,
            &Uuid::now_v7().to_string(),
            &SyncEvent {
                tenant_id: ta.clone(),
                connection_id: conn.clone(),
                sync_id: "sync-42".into(),
                status: "running".into(),
                done: 5,
                total: 10,
                ..Default::default()
            },
        )
        .await
        .expect("publish");

    let got = read_sse(&mut resp, &mut buf, |s| {
        s.contains("SKU-OF-ACME") && s.contains("sync-42")
    })
    .await;
    assert!(got, "events of the tenant arrive: {buf}");
    assert!(buf.contains("event: issues.detected"), "{buf}");
    assert!(buf.contains("event: sync.progress"), "{buf}");
    assert!(
        !buf.contains("SKU-OF-GLOBEX"),
        "another tenant's event leaked: {buf}"
    );
    // The data lines are JSON of the payloads.
    let data = buf
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["sync_id"] == "sync-42")
        .expect("sync event data");
    assert_eq!(data["done"], 5);
    // Shutting down ends the open stream.
    gw.stop().await;
    let mut rest = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the event stream ends at shutdown");
}

#[tokio::test]
async fn errors_are_json_and_health_endpoints_answer() {
    let gw = Gateway::start().await;
    let (_, key) = gw.tenant_with_key("acme", "admin").await;

    let (s, b) = gw.get("/api/v1/nothing-here", &key).await;
    assert_eq!((s, error_code(&b)), (404, "not_found"));
    let (s, b) = gw.send("PUT", "/api/v1/stats", &key, None).await;
    assert_eq!(s, 405, "{b}");
    assert_eq!(error_code(&b), "method_not_allowed");

    let (s, b) = gw.get("/api/v1/issues?status=bogus", &key).await;
    assert_eq!((s, error_code(&b)), (400, "invalid_argument"));
    let (s, b) = gw.get("/api/v1/issues?offset=-1", &key).await;
    assert_eq!((s, error_code(&b)), (400, "invalid_argument"));

    let (s, b) = gw
        .send(
            "POST",
            "/api/v1/connections",
            &key,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((s, error_code(&b)), (400, "invalid_argument"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("platform")
    );
    let r = gw
        .http
        .post(gw.url("/api/v1/connections"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);

    let big = json!({"name": "x", "platform": "y", "credentials": {"k": "a".repeat(2 << 20)}});
    let (s, b) = gw
        .send("POST", "/api/v1/connections", &key, Some(big))
        .await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(error_code(&b), "payload_too_large");

    let (s, b) = gw.get("/api/v1/stats", &key).await;
    assert_eq!((s, error_code(&b)), (503, "unavailable"));
    let (s, _) = gw.get("/api/v1/platforms", &key).await;
    assert_eq!(s, 503);

    for path in ["/healthz", "/readyz"] {
        let r = gw.http.get(gw.url(path)).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("marketsync_gateway_http_requests"),
        "{metrics}"
    );
    gw.stop().await;
}
