//! Helpers: simulators on port 0, connectors pointed at them, the simulators' admin API.

use std::net::SocketAddr;

use marketsync_connectors::bigcommerce::BigCommerce;
use marketsync_connectors::{
    ConnectionConfig, Connector, Credentials, ImportQuery, Page, Result, Settings,
};
use marketsync_proto::v1::{Order, Product, StockLevel};
use marketsync_simulators::bigcommerce::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

/// Installs the process-wide rustls crypto provider (ring), as every binary must.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A simulator started on a free port by `start(addr)` (any platform's `start`).
pub async fn on_free_port<S, E: std::fmt::Debug, F>(start: impl FnOnce(SocketAddr) -> F) -> S
where
    F: std::future::Future<Output = std::result::Result<S, E>>,
{
    init();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    start(addr).await.expect("simulator starts")
}

/// Settings pointing at a simulator's base URL, fast retries for tests.
pub fn fast_settings(base_url: String) -> Settings {
    Settings {
        base_url: Some(base_url),
        retry_attempts: Some(4),
        timeout_secs: Some(5),
        ..Settings::default()
    }
}

/// A BigCommerce simulator on a free port.
pub async fn start_bigcommerce(config: SimConfig) -> RunningSimulator {
    on_free_port(|addr| sim::start(addr, config)).await
}

/// Settings pointing at a simulator, fast retries for tests.
pub fn settings_for(sim: &RunningSimulator) -> Settings {
    fast_settings(sim.base_url())
}

/// A BigCommerce connector with the given token and settings.
pub fn bigcommerce_with(config: &SimConfig, token: &str, settings: Settings) -> BigCommerce {
    let credentials = Credentials::from_json(&json!({
        "store_hash": config.store_hash,
        "access_token": token,
        "client_id": "demo-client-id",
        "client_secret": "demo-client-secret",
    }))
    .unwrap();
    BigCommerce::new(ConnectionConfig {
        platform: "bigcommerce".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

/// A BigCommerce connector for a simulator.
pub fn bigcommerce(sim: &RunningSimulator, config: &SimConfig) -> BigCommerce {
    bigcommerce_with(config, &config.access_token, settings_for(sim))
}

/// Every page of an import.
pub async fn all_pages<T, F, Fut>(query: ImportQuery, mut page: F) -> Result<(Vec<T>, usize)>
where
    F: FnMut(ImportQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut q = query;
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let p = page(q.clone()).await?;
        pages += 1;
        items.extend(p.items);
        match p.next {
            Some(next) => q.page = Some(next),
            None => return Ok((items, pages)),
        }
        assert!(pages < 1000, "runaway pagination");
    }
}

/// Every product.
pub async fn products(c: &dyn Connector, query: ImportQuery) -> Result<(Vec<Product>, usize)> {
    all_pages(query, |q| async move { c.products_page(&q).await }).await
}

/// Every stock level.
pub async fn stock(c: &dyn Connector, query: ImportQuery) -> Result<Vec<StockLevel>> {
    Ok(all_pages(query, |q| async move { c.stock_page(&q).await })
        .await?
        .0)
}

/// Every order.
pub async fn orders(c: &dyn Connector, query: ImportQuery) -> Result<Vec<Order>> {
    Ok(all_pages(query, |q| async move { c.orders_page(&q).await })
        .await?
        .0)
}

/// A page query of `size`.
pub fn pages_of(size: u32) -> ImportQuery {
    ImportQuery {
        page_size: size,
        ..ImportQuery::default()
    }
}

/// A simulator with `/__admin/` endpoints.
pub trait Simulated {
    /// `http://<addr>/__admin`.
    fn admin_url(&self) -> String;
}

macro_rules! simulated {
    ($($p:ident),* $(,)?) => {$(
        impl Simulated for marketsync_simulators::$p::RunningSimulator {
            fn admin_url(&self) -> String {
                marketsync_simulators::$p::RunningSimulator::admin_url(self)
            }
        }
    )*};
}
simulated!(
    backmarket,
    amazon,
    bigcommerce,
    ebay,
    cdiscount,
    shopify,
    woocommerce,
    magento,
    prestashop,
    opencart,
    refurbed,
    mirakl,
);

/// A simulator's `/__admin/` API (the same surface on every platform's simulator).
pub struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    /// Admin client of `sim`.
    pub fn of(sim: &impl Simulated) -> Self {
        init();
        Self {
            http: reqwest::Client::new(),
            base: sim.admin_url(),
        }
    }

    /// Sends an admin request; asserts success; the answer's JSON (null when it has none).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// POSTs `body`.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Injects a fault (`{kind, status?, count?, path_contains?, delay_ms?, reset_ms?}`).
    pub async fn fault(&self, fault: Value) {
        self.post("/faults", fault).await;
    }

    /// Invalidates the credentials.
    pub async fn revoke_token(&self) {
        self.post("/revoke-token", Value::Null).await;
    }

    /// Makes the credentials valid again.
    pub async fn restore_token(&self) {
        self.post("/restore-token", Value::Null).await;
    }

    /// Request statistics.
    pub async fn stats(&self) -> Value {
        self.get("/stats").await
    }

    /// A product as stored, by its sku or a variant's.
    pub async fn product(&self, sku: &str) -> Value {
        self.get(&format!("/products/{sku}")).await
    }

    /// Edits a product as the merchant would (PUT).
    pub async fn edit_product(&self, sku: &str, body: Value) -> Value {
        self.send(
            reqwest::Method::PUT,
            &format!("/products/{sku}"),
            Some(body),
        )
        .await
    }

    /// An order as stored (a GraphQL global id names it by its last segment).
    pub async fn order(&self, id: &str) -> Value {
        let id = id.rsplit('/').next().unwrap_or(id);
        self.get(&format!("/orders/{id}")).await
    }

    /// Adds an order.
    pub async fn add_order(&self, order: Value) -> Value {
        self.post("/orders", order).await
    }
}

/// A webhook subscriber: an HTTP server on port 0 that passes on every call it receives, in
/// order (header names lower case, the body byte for byte). Returns its URL.
pub async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<marketsync_connectors::WebhookCall>,
) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let headers = headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.into())))
                    .collect();
                let _ = tx.send(marketsync_connectors::WebhookCall {
                    headers,
                    body: body.to_vec(),
                });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// The next webhook call the receiver got, within 5 s.
pub async fn next_call(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<marketsync_connectors::WebhookCall>,
) -> marketsync_connectors::WebhookCall {
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("receiver open")
}

/// Every log line (debug and up) written on this thread while the guard lives, formatted as
/// the services format them: tests look for secrets in it.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Starts capturing; drop the guard to stop.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Everything captured so far, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
