//! Stock propagation under an order storm's load, through the gateway, against simulators with
//! their documented limits: Amazon's sales reach the ledger a few orders at a time while the
//! rest of their getOrders page waits for getOrderItems tokens (and a connector killed in the
//! middle resumes after the last order committed, losing and doubling nothing); on PrestaShop,
//! whose pushes are one PUT per sku, a sku that reaches 0 is not stuck behind a backlog of
//! pushes and an order import is not held back by them; a scheduled push sends its whole
//! backlog however small its batches.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use marketsync::cmd::stores::{self, Demo, DemoStore};
use marketsync_e2e::System;
use reqwest::Method;
use serde_json::{Value, json};

use crate::platforms::get_json;

async fn store(platform: &str) -> anyhow::Result<(DemoStore, String)> {
    let store = stores::start(
        platform,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        0,
        Demo {
            products: Some(0),
            seed: Some(5),
        },
    )
    .await?;
    let admin = format!("http://{}/__admin", store.addr);
    Ok((store, admin))
}

async fn post(url: String, body: Value) -> anyhow::Result<Value> {
    let resp = reqwest::Client::new().post(&url).json(&body).send().await?;
    let status = resp.status();
    let v = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {v}");
    Ok(v)
}

/// Lists `skus` with `quantity` units each on a simulator.
async fn list(admin: &str, skus: &[String], quantity: i64) -> anyhow::Result<()> {
    let items: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku": s, "title": format!("Storm item {s}"), "price": "9.90", "quantity": quantity}))
        .collect();
    post(format!("{admin}/listings"), json!({"items": items})).await?;
    Ok(())
}

/// Sets the ledger's on hand of `skus` (warehouse MAIN).
async fn stock(sys: &System, skus: &[String], quantity: i64) -> anyhow::Result<()> {
    let items: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku": s, "warehouse": "MAIN", "quantity": quantity, "absolute": true}))
        .collect();
    let (st, body) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(json!({"items": items})),
        )
        .await?;
    anyhow::ensure!(st == 200, "adjustments: {st} {body}");
    Ok(())
}

async fn connect(sys: &System, store: &DemoStore, extra: Value) -> anyhow::Result<String> {
    let mut settings = store.settings.clone();
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        settings[k] = v;
    }
    let conn = sys
        .connect(
            store.platform,
            &format!("storm-{}", store.platform),
            store.credentials.clone(),
            settings,
        )
        .await?;
    let id = conn["id"].as_str().unwrap_or_default().to_string();
    let sync = sys
        .sync(
            &id,
            json!({"operations": ["import_products", "import_inventory"]}),
        )
        .await?;
    let run = sys.wait_sync(&sync, crate::SYNC_TIMEOUT).await?;
    anyhow::ensure!(run["status"] == "completed", "first sync: {run}");
    Ok(id)
}

/// A count of the test database, of rows of `connection` when the query binds `$1`.
async fn count(pool: &sqlx::PgPool, sql: &'static str, connection: &str) -> anyhow::Result<i64> {
    let q = sqlx::query_scalar(sql);
    let q = if sql.contains("$1") {
        q.bind(connection)
    } else {
        q
    };
    Ok(q.fetch_one(pool).await?)
}

/// Status and counts of a sync run.
async fn run_field(pool: &sqlx::PgPool, sync: &str) -> anyhow::Result<(String, Value)> {
    Ok(
        sqlx::query_as("SELECT status, counts FROM connector.sync_runs WHERE id = $1::uuid")
            .bind(sync)
            .fetch_one(pool)
            .await?,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_sales_reach_the_ledger_part_by_part_across_a_restart() -> anyhow::Result<()> {
    let mut sys = crate::platforms::system("storm-amazon").await?;
    let (amazon, admin) = store("amazon").await?;
    let skus: Vec<String> = (0..4).map(|i| format!("AMZ-STORM-{i}")).collect();
    list(&admin, &skus, 50).await?;
    let conn = connect(&sys, &amazon, json!({})).await?;
    stock(&sys, &skus, 50).await?;
    // 40 sales on Amazon: getOrderItems allows 30 at once, then one every 2 s.
    for i in 0..40 {
        post(
            format!("{admin}/orders"),
            json!({"sku": skus[i % skus.len()], "quantity": 1}),
        )
        .await?;
    }
    let pool = sys.db().await?;
    let sync = sys
        .sync(&conn, json!({"operations": ["import_orders"]}))
        .await?;
    let reserved = "SELECT count(*) FROM connector.stock_reservations WHERE state = 'reserved'";
    // The ledger learns of the first sales while the page's last ones wait for tokens.
    let began = Instant::now();
    let seen = sys
        .eventually("30 sales reserved", Duration::from_secs(60), || async {
            let n = count(&pool, reserved, "").await?;
            Ok((n >= 30).then_some(n))
        })
        .await?;
    let (running, _) = run_field(&pool, &sync).await?;
    assert_eq!(
        running,
        "running",
        "{seen} sales reserved after {:?} while the page is still read",
        began.elapsed()
    );
    assert!(seen < 40, "{seen}");
    // The connector dies in the middle of the page; the sync resumes after the last order it
    // committed.
    sys.kill("connector").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sys.spawn("connector").await?;
    sys.wait_ready("connector").await?;
    let run = sys.wait_sync(&sync, Duration::from_secs(240)).await?;
    assert_eq!(run["status"], "completed", "{run}");
    let entries = "SELECT count(*) FROM connector.stock_entries WHERE cause = 'order'";
    assert_eq!(count(&pool, reserved, "").await?, 40);
    assert_eq!(count(&pool, entries, "").await?, 40);
    for s in &skus {
        let v = sys.get(&format!("/api/v1/stock?sku={s}")).await?;
        let reserved: i64 = v["items"]
            .as_array()
            .map(|a| a.iter().map(|l| l["reserved"].as_i64().unwrap_or(0)).sum())
            .unwrap_or(0);
        assert_eq!(reserved, 10, "{s}: {v}");
    }
    // Read again after the restart: at most the part that was in flight.
    let (_, counts) = run_field(&pool, &sync).await?;
    let read = counts["orders"].as_i64().unwrap_or(0);
    assert!((40..=45).contains(&read), "{counts}");
    assert_eq!(counts["orders_new"], 40, "{counts}");
    sys.stop().await;
    amazon.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prestashop_pushes_the_scarcest_first_and_orders_before_pushes() -> anyhow::Result<()> {
    let sys = crate::platforms::system("storm-prestashop").await?;
    let (shop, admin) = store("prestashop").await?;
    let skus: Vec<String> = (0..120).map(|i| format!("PS-STORM-{i:03}")).collect();
    list(&admin, &skus, 5).await?;
    // A host allowing 30 requests per 10 s: pushes (one PUT per sku) fall far behind.
    let conn = connect(
        &sys,
        &shop,
        json!({"rate_limit_requests": 30, "rate_limit_window_ms": 10_000,
               "sync_frequency": 5, "poll_operations": ["import_orders"]}),
    )
    .await?;
    let pool = sys.db().await?;
    let due =
        "SELECT count(*) FROM connector.channel_stock WHERE connection_id = $1::uuid AND dirty";
    let shown = |sku: String| {
        let admin = admin.clone();
        async move {
            let v = get_json(format!("{admin}/quantities?skus={sku}")).await?;
            anyhow::Ok(v[&sku].as_i64().unwrap_or(-1))
        }
    };
    stock(&sys, &skus, 8).await?;
    sys.eventually("the first pushes", Duration::from_secs(60), || async {
        Ok((shown(skus[0].clone()).await? == 8).then_some(()))
    })
    .await?;
    // The last sku in line reaches 0: it goes out in the next small batch, long before the
    // backlog of pushes is through.
    let last = skus[119].clone();
    stock(&sys, std::slice::from_ref(&last), 0).await?;
    let t = Instant::now();
    sys.eventually("the sku at 0 shown", Duration::from_secs(60), || async {
        Ok((shown(last.clone()).await? == 0).then_some(()))
    })
    .await?;
    let left = count(&pool, due, &conn).await?;
    assert!(
        left >= 40,
        "{left} skus still due when the 0 was shown after {:?}",
        t.elapsed()
    );
    // A sale on the shop is imported by the next poll (every 5 s), not after the pushes that
    // have spent the window (they take their turn after it).
    post(
        format!("{admin}/orders"),
        json!({"sku": skus[60], "quantity": 1}),
    )
    .await?;
    let t = Instant::now();
    let reserved = "SELECT count(*) FROM connector.stock_reservations";
    sys.eventually("the sale reserved", Duration::from_secs(60), || async {
        Ok((count(&pool, reserved, "").await? == 1).then_some(()))
    })
    .await?;
    let took = t.elapsed();
    let left = count(&pool, due, &conn).await?;
    assert!(
        took < Duration::from_secs(7),
        "the sale took {took:?} to reach the ledger ({left} pushes due)"
    );
    assert!(left >= 20, "{left} skus still due");
    sys.stop().await;
    shop.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_push_sends_its_whole_backlog_in_small_batches() -> anyhow::Result<()> {
    let sys = crate::platforms::system("storm-scheduled").await?;
    let (refurbed, admin) = store("refurbed").await?;
    let skus: Vec<String> = (0..230).map(|i| format!("RF-STORM-{i:03}")).collect();
    list(&admin, &skus, 5).await?;
    // Pushed once an hour, one sku per round: more rounds than a pass yields after.
    let conn = connect(
        &sys,
        &refurbed,
        json!({"stock": {"push": "scheduled", "push_interval_secs": 3600, "push_batch": 1}}),
    )
    .await?;
    stock(&sys, &skus, 7).await?;
    let pool = sys.db().await?;
    let due =
        "SELECT count(*) FROM connector.channel_stock WHERE connection_id = $1::uuid AND dirty";
    sys.eventually(
        "the whole backlog pushed",
        Duration::from_secs(120),
        || async { Ok((count(&pool, due, &conn).await? == 0).then_some(())) },
    )
    .await?;
    let shown = get_json(format!("{admin}/quantities")).await?;
    let off: Vec<&String> = skus.iter().filter(|s| shown[s.as_str()] != 7).collect();
    assert!(off.is_empty(), "{} skus not shown: {off:?}", off.len());
    sys.stop().await;
    refurbed.stop().await;
    Ok(())
}

/// The calls a simulator counted that read orders or their lines one by one (its
/// `/__admin/stats`): WooCommerce's order reads, Shopify's `Orders` queries, BigCommerce's
/// per-order products and shipping addresses.
async fn order_reads(platform: &str, admin: &str) -> anyhow::Result<i64> {
    let stats = get_json(format!("{admin}/stats")).await?;
    let counted = |key: &str| match platform {
        "woocommerce" => key == "GET /wp-json/wc/v3/orders",
        "shopify" => key == "query Orders",
        _ => {
            key.contains("/v2/orders/")
                && (key.ends_with("/products") || key.ends_with("/shipping_addresses"))
        }
    };
    Ok(stats["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| counted(k))
                .filter_map(|(_, n)| n.as_i64())
                .sum()
        })
        .unwrap_or(0))
}

/// A sale on a webhook platform reaches the ledger without the calls reading an order costs
/// one by one: WooCommerce and Shopify send the order itself (no read at all), BigCommerce's
/// order pages carry lines and addresses (one call for the page of new orders).
async fn sales_come_with_their_webhook(platform: &str) -> anyhow::Result<()> {
    let sys = crate::platforms::system(&format!("storm-hook-{platform}")).await?;
    let (shop, admin) = store(platform).await?;
    let skus: Vec<String> = (0..4).map(|i| format!("HOOK-STORM-{i}")).collect();
    list(&admin, &skus, 3).await?;
    let conn = connect(&sys, &shop, json!({})).await?;
    stock(&sys, &skus, 3).await?;
    let (st, reg) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{conn}/webhooks"),
            Some(json!({ "url": format!("{}/api/v1/webhooks/{conn}", sys.gateway) })),
        )
        .await?;
    anyhow::ensure!(st == 200, "webhooks: {st} {reg}");
    let reads = order_reads(platform, &admin).await?;
    let pool = sys.db().await?;
    post(
        format!("{admin}/orders"),
        json!({"sku": skus[1], "quantity": 2}),
    )
    .await?;
    let reserved = "SELECT coalesce(sum(quantity), 0)::int8 FROM connector.stock_reservations";
    sys.eventually("the sale reserved", Duration::from_secs(30), || async {
        Ok((count(&pool, reserved, "").await? == 2).then_some(()))
    })
    .await?;
    let stored: (String, i64) = sqlx::query_as(
        "SELECT status, count(*) OVER () FROM connector.orders WHERE connection_id = $1::uuid",
    )
    .bind(&conn)
    .fetch_one(&pool)
    .await?;
    assert_eq!(stored.1, 1, "{platform}: one order stored");
    assert_eq!(
        order_reads(platform, &admin).await?,
        reads,
        "{platform}: the order was read again"
    );
    let on: (String, i64) = sqlx::query_as(
        "SELECT sku, quantity FROM connector.stock_reservations WHERE state = 'reserved'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(on, (skus[1].clone(), 2), "{platform}");
    sys.stop().await;
    shop.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_sales_come_whole_with_their_webhook() -> anyhow::Result<()> {
    // WooCommerce sends the order itself with order.created (the shop's 120 calls a minute
    // are left to the pushes).
    sales_come_with_their_webhook("woocommerce").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_sales_come_whole_with_their_webhook() -> anyhow::Result<()> {
    // Shopify's orders/create carries the REST order: no GraphQL cost spent reading it.
    sales_come_with_their_webhook("shopify").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_sales_are_read_in_one_call() -> anyhow::Result<()> {
    // BigCommerce's webhook names the order only; its page comes with lines and addresses.
    sales_come_with_their_webhook("bigcommerce").await
}
