//! Conformance to the vendor's OpenAPI specs: the connector talks to the simulator through one
//! `prism proxy --errors` per spec family, so every request the connector sends and every
//! response the simulator gives is validated against BigCommerce's published specs
//! (`../shared/specs/bigcommerce/`). Prism answers a violation with 4xx/5xx and an
//! `sl-violations` header (the connector puts its contents into the error), and logs every
//! violation, warnings included; the test fails on either.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::{Connector, FieldUpdate, ImportQuery, OrderUpdate, Settings};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::bigcommerce::SimConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{bigcommerce_with, orders, pages_of, products, start_bigcommerce, stock};

const INSTALL_HINT: &str = "Prism is missing: run `npm install --prefix .tools @stoplight/prism-cli@5` \
     in the workspace root (scripts/test does it), or set MARKETSYNC_PRISM to a prism binary";

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

pub(crate) fn prism_binary() -> PathBuf {
    let path = std::env::var_os("MARKETSYNC_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools/node_modules/.bin/prism"));
    assert!(
        path.exists(),
        "{INSTALL_HINT} (looked for {})",
        path.display()
    );
    path
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One running `prism proxy`, its output collected line by line.
pub(crate) struct Prism {
    spec: String,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

impl Prism {
    pub(crate) async fn start(bin: &Path, spec: &Path, upstream: &str) -> Prism {
        let port = free_port();
        let mut child = Command::new(bin)
            .arg("proxy")
            .arg("--errors")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(spec)
            .arg(upstream)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", bin.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, log.clone());
        }
        let name = spec
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "prism for {name} exited ({status}):\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "prism for {name} did not listen on port {port} in time:\n{}",
                log.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Prism {
            spec: name,
            port,
            log,
            _child: child,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Lines reporting a violation (error or warning) or a request Prism terminated.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("Violation") || l.contains("✖") || l.contains("sl-violations"))
            .map(|l| format!("[{}] {}", self.spec, l.trim()))
            .collect()
    }

    /// How many requests it forwarded to the simulator.
    pub(crate) fn forwarded(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("Forwarding"))
            .count()
    }
}

fn collect<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    reader: R,
    log: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap().push(line);
        }
    });
}

/// The API families the connector uses, each with the vendor spec that covers it. Brands have
/// no spec among the vendor files, so they go straight to the simulator.
const FAMILIES: [(&str, &str, &str); 6] = [
    ("catalog", "products_catalog.v3.yml", "v3"),
    ("hooks", "webhooks.v3.yml", "v3"),
    ("categories", "categories_catalog.v3.yml", "v3"),
    ("inventory", "inventory.v3.yml", "v3"),
    ("locations", "locations.v3.yml", "v3"),
    ("orders_v2", "orders.v2.oas2.yml", "v2"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_conforms_to_the_vendor_specs() {
    let bin = prism_binary();
    let specs = shared_dir().join("specs/bigcommerce");
    assert!(
        specs.is_dir(),
        "vendor specs not found at {} (the shared directory beside the workspace)",
        specs.display()
    );
    // Sizes chosen so that no list ends on a full page: V2 answers 204 past the last page,
    // which the orders spec does not document (the connector handles it; see bigcommerce.rs).
    let cfg = SimConfig {
        products: 23,
        orders: 7,
        seed: 11,
        rate_limit_requests: 10_000,
        ..SimConfig::default()
    };
    let sim = start_bigcommerce(cfg.clone()).await;
    let starts = FAMILIES.iter().map(|(_, file, version)| {
        let upstream = if *version == "v2" {
            sim.v2_url()
        } else {
            sim.v3_url()
        };
        let spec = specs.join(file);
        let bin = bin.clone();
        async move { Prism::start(&bin, &spec, &upstream).await }
    });
    let prisms = futures::future::join_all(starts).await;

    let mut settings = Settings {
        base_url: Some(sim.base_url()),
        retry_attempts: Some(2),
        timeout_secs: Some(30),
        ..Settings::default()
    };
    for ((family, _, _), prism) in FAMILIES.iter().zip(&prisms) {
        settings.api_urls.insert((*family).to_string(), prism.url());
    }
    // No vendor spec covers brands: the brands family goes to the simulator itself.
    settings.api_urls.insert("brands".into(), sim.v3_url());
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let mut failures: Vec<String> = Vec::new();
    macro_rules! check {
        ($what:expr, $result:expr) => {
            match $result {
                Ok(v) => Some(v),
                Err(e) => {
                    failures.push(format!("{}: {e}", $what));
                    None
                }
            }
        };
    }

    check!("test_connection", c.test_connection().await);
    let all = check!("full product import", products(&c, pages_of(10)).await)
        .map(|(items, _)| items)
        .unwrap_or_default();
    assert_eq!(
        all.len(),
        23,
        "every product through the catalog proxy: {failures:?}"
    );
    check!(
        "product import by sku",
        products(
            &c,
            ImportQuery {
                skus: vec![all[0].sku.clone(), all[5].sku.clone()],
                ..pages_of(10)
            }
        )
        .await
    );
    check!(
        "product import by id",
        products(
            &c,
            ImportQuery {
                ids: vec![all[2].external_id.clone()],
                ..pages_of(10)
            }
        )
        .await
    );
    check!(
        "stock import by product id",
        stock(
            &c,
            ImportQuery {
                ids: vec![all[2].external_id.clone()],
                ..pages_of(40)
            }
        )
        .await
    );
    // The spec gives the hook list `minItems: 1` (BigCommerce's own example store always has
    // one): start from a store with an app's hook, made on the simulator directly. The empty
    // list is covered against the simulator in bigcommerce.rs.
    let seeded = reqwest::Client::new()
        .post(format!("{}/hooks", sim.v3_url()))
        .header("x-auth-token", &cfg.access_token)
        .json(&serde_json::json!({"scope": "store/cart/created",
                                  "destination": "https://other-app.example.com/hooks"}))
        .send()
        .await
        .unwrap();
    assert!(seeded.status().is_success());
    check!(
        "register_webhooks",
        c.register_webhooks("https://example.com/api/v1/webhooks/conformance")
            .await
    );
    check!(
        "register_webhooks again",
        c.register_webhooks("https://example.com/api/v1/webhooks/conformance")
            .await
    );
    let levels = check!("stock import", stock(&c, pages_of(40)).await).unwrap_or_default();
    assert!(
        !levels.is_empty(),
        "stock through the inventory proxy: {failures:?}"
    );
    let all_orders = check!("order import", orders(&c, pages_of(5)).await).unwrap_or_default();
    assert_eq!(
        all_orders.len(),
        7,
        "orders through the orders proxy: {failures:?}"
    );

    let since = Utc::now();
    let p = &all[1];
    let update = |field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    let brand = all
        .iter()
        .map(|p| p.brand.clone())
        .find(|b| !b.is_empty())
        .unwrap_or_default();
    let category = all
        .iter()
        .find_map(|p| p.categories.first().cloned())
        .unwrap_or_default();
    for (field, value) in [
        ("description", "<p>Checked against the vendor spec.</p>"),
        ("title", "Spec Checked Hoodie"),
        ("price", "31.90"),
        ("weight", "0.75"),
        ("brand", brand.as_str()),
        ("brand", "Conformance Outfitters"),
        ("brand", ""),
        ("categories", category.as_str()),
    ] {
        check!(
            format!("update_field {field}={value}"),
            c.update_field(&update(field, value)).await
        );
    }
    check!(
        "update_field by sku",
        c.update_field(&FieldUpdate {
            external_id: String::new(),
            ..update("description", "<p>Found by sku.</p>")
        })
        .await
    );
    let changed = check!(
        "incremental product import",
        products(
            &c,
            ImportQuery {
                since: Some(since),
                ..pages_of(10)
            }
        )
        .await
    )
    .map(|(items, _)| items)
    .unwrap_or_default();
    assert_eq!(
        changed.len(),
        1,
        "only the updated product changed: {failures:?}"
    );

    let some_sku = levels[0].sku.clone();
    let report = check!(
        "export_stock",
        c.export_stock(&[
            StockLevel {
                sku: some_sku.clone(),
                warehouse: "WH-EAST".into(),
                on_hand: 13,
                reserved: 0,
                available: 13,
            },
            StockLevel {
                sku: some_sku,
                warehouse: "WH-WEST".into(),
                on_hand: 0,
                reserved: 0,
                available: 0,
            },
        ])
        .await
    );
    if let Some(r) = report {
        assert_eq!(r.accepted, 2, "{:?}", r.rejected);
    }
    if let Some(open) = all_orders.iter().find(|o| o.shipments.is_empty()) {
        let first_line = open.lines[0].clone();
        let report = check!(
            "export_orders",
            c.export_orders(&[OrderUpdate {
                external_id: open.external_id.clone(),
                status: Some("shipped".into()),
                carrier: Some("FedEx".into()),
                tracking_number: Some("794612345678".into()),
                lines: vec![(first_line.sku, first_line.quantity)],
            }])
            .await
        );
        if let Some(r) = report {
            assert_eq!(r.accepted, 1, "{:?}", r.rejected);
        }
        let reread =
            check!("order import after export", orders(&c, pages_of(5)).await).unwrap_or_default();
        let shipped = reread.iter().find(|o| o.external_id == open.external_id);
        assert_eq!(
            shipped.map(|o| o.shipments.len()),
            Some(1),
            "the shipment went through the orders proxy: {failures:?}"
        );
    } else {
        failures.push("the demo data has no unshipped order to export".into());
    }

    let mut problems: Vec<String> = prisms.iter().flat_map(Prism::problems).collect();
    for prism in &prisms {
        if prism.forwarded() == 0 {
            problems.push(format!(
                "[{}] no request went through this proxy",
                prism.spec
            ));
        }
    }
    assert!(
        failures.is_empty() && problems.is_empty(),
        "spec conformance failed\n-- connector errors (spec violations included):\n{}\n-- prism:\n{}",
        failures.join("\n"),
        problems.join("\n")
    );
}
