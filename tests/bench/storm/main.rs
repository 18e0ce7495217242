//! `marketsync-storm-bench`: an order storm over every simulated channel at once.
//!
//! The twelve simulators run with their documented limits and list the same scarce catalog
//! (`--skus`, default 2,000 skus of 1 to 5 units). The four services run as processes; each
//! channel is a connection whose orders arrive by webhook where the platform has them (BigCommerce,
//! Shopify, WooCommerce, Magento) and by the polling interval its order API allows
//! otherwise; the ledger holds the real stock. Buyers then order one unit of a random sku on a
//! random channel at a steady rate (`--rate`, default 20 per second, for `--secs`, default
//! 300); a channel that shows 0 refuses the buyer.
//!
//! Measured, in the same run, for marketsync (every change pushed at once) and for a baseline
//! that pushes stock every 15 minutes (`--baseline-interval`): units oversold (units sold beyond
//! the stock), and for each channel the time from a sale elsewhere to the channel showing a lower
//! quantity (p50, p99; from the simulators' own logs of when each quantity took effect), next
//! to the least its limits allow.
//!
//! Both runs give each channel the same allocation rule: a safety buffer by how late the
//! channel sees sales (see [`safety_buffer`]; `--no-buffers` for none).
//!
//! Usage: `scripts/bench-storm [--skus N] [--rate R] [--secs S] [--seed N] [--only realtime|baseline] [--no-buffers]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use marketsync::cmd::stores::{self, DemoStore};
use marketsync_e2e::proc::{cpu_secs, cpu_secs_named};
use marketsync_e2e::{SERVICES, System};
use reqwest::Method;
use serde_json::{Value, json};

/// (platform, how its orders reach marketsync: Some(poll seconds) or None for webhooks, and
/// what limits how fast it can show a sale made elsewhere).
const CHANNELS: &[(&str, Option<u64>, &str)] = &[
    (
        "bigcommerce",
        None,
        "webhook store/order/created; adjustments apply at once",
    ),
    (
        "shopify",
        None,
        "webhook orders/create; inventorySetQuantities applies at once",
    ),
    (
        "woocommerce",
        None,
        "webhook order.created; batch update applies at once",
    ),
    ("magento", None, "webhook; source items apply at once"),
    (
        "ebay",
        Some(5),
        "eBay notifies no new orders: getOrders polled; bulkUpdatePriceQuantity applies at once",
    ),
    (
        "amazon",
        Some(60),
        "getOrders 0.0167/s sustained: a poll a minute; listing patches apply at once",
    ),
    (
        "mirakl",
        Some(60),
        "OR11 at most once a minute; OF24 imports apply when processed",
    ),
    (
        "cdiscount",
        Some(5),
        "orders polled; offer packages apply when integrated",
    ),
    ("backmarket", Some(5), "orders polled (200 per 10 s budget)"),
    ("refurbed", Some(5), "orders polled"),
    ("prestashop", Some(5), "no webhooks: orders polled"),
    ("opencart", Some(5), "no webhooks: orders polled"),
];

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// SplitMix64: the storm is the same sequence of buyers in both runs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Channel {
    platform: &'static str,
    poll: Option<u64>,
    admin: String,
    connection: String,
    store: DemoStore,
}

/// A quantity a channel showed: (since, unix ms), quantity, written through its API.
type Shown = (i64, i64, bool);

/// One sale: when, where, what.
#[derive(Debug, Clone)]
struct Sale {
    at_ms: i64,
    channel: usize,
    sku: usize,
}

#[derive(Debug, Default)]
struct Outcome {
    attempts: u64,
    sold: u64,
    refused: u64,
    oversold: i64,
    /// Per channel: latencies (ms) of sales on webhook channels and on polled channels, and
    /// sales never seen on it before the end.
    latency: Vec<(Vec<i64>, Vec<i64>, u64)>,
    /// Per channel: the floor for the same sales (webhook sources, polled sources), ms.
    floors: Vec<(Vec<i64>, Vec<i64>)>,
    settle_secs: f64,
    pushes_pending_at_end: i64,
    /// CPU seconds used during the storm and the minute after: (who, seconds).
    cpu: Vec<(String, f64)>,
    /// Wall seconds of that window.
    cpu_window: f64,
    /// Per channel: API calls it answered in that window, and how many of them were refused
    /// for the rate limit.
    calls: Vec<(i64, i64)>,
    /// Per channel: time from each sale on it to the ledger reserving it (ms), and sales the
    /// ledger never reserved.
    learned: Vec<(Vec<i64>, u64)>,
    /// Per channel: the least time its order API allows for learning of the same sales (ms).
    learn_floor: Vec<Vec<i64>>,
}

/// A simulator's count of API calls answered and refused for its rate limit (429 or
/// throttled), with its whole stats document.
async fn api_calls(admin: &str) -> (i64, i64, Value) {
    let v = admin_json(Method::GET, &format!("{admin}/stats"), None)
        .await
        .map(|r| r.1)
        .unwrap_or(Value::Null);
    let total = v["requests_total"]
        .as_i64()
        .or_else(|| v["requests"].as_i64())
        .unwrap_or(0);
    let limited = v["rate_limited"].as_i64().unwrap_or(0) + v["throttled"].as_i64().unwrap_or(0);
    (total, limited, v)
}

fn cpu_now(sys: &System) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = SERVICES
        .iter()
        .map(|s| (s.to_string(), sys.pid(s).map(cpu_secs).unwrap_or(0.0)))
        .collect();
    v.push(("PostgreSQL".into(), cpu_secs_named("postgres")));
    v.push(("NATS".into(), cpu_secs_named("nats-server")));
    v.push((
        "simulators and buyers (bench process)".into(),
        cpu_secs(std::process::id()),
    ));
    v
}

/// The allocation rule a merchant gives a channel by how late it sees sales: none where orders
/// arrive by webhook, one unit held back where they are polled every few seconds, two where the
/// channel sees orders (Amazon) or takes quantities (Mirakl) only once a minute.
fn safety_buffer(platform: &str, poll: Option<u64>, buffers: bool) -> i64 {
    match (buffers, platform, poll) {
        (false, _, _) => 0,
        (_, "mirakl", _) => 2,
        (_, _, None) => 0,
        (_, _, Some(p)) if p <= 5 => 1,
        _ => 2,
    }
}

/// The least time a write to `platform` takes to show, drawn for one sale (ms): Mirakl takes
/// offer imports once a minute (a sale waits for the next slot) and processes them; CDiscount
/// integrates packages after a delay; every other channel applies a write at once.
fn apply_floor(platform: &str, rng: &mut Rng) -> i64 {
    match platform {
        "mirakl" => {
            let c = marketsync_simulators::mirakl::SimConfig::default();
            let slot = c.interval.as_millis() as u64;
            (rng.next() % slot.max(1)) as i64 + c.processing(1).as_millis() as i64
        }
        "cdiscount" => marketsync_simulators::cdiscount::SimConfig::default().integration_ms as i64,
        _ => 0,
    }
}

async fn admin_json(
    method: Method,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut req = client.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// How many skus of `want` a simulator shows another quantity for (`GET /__admin/quantities`,
/// the sellable quantity: summed over a shop's locations, a marketplace's offer quantity).
async fn showing_otherwise(admin: &str, want: &HashMap<&str, i64>) -> anyhow::Result<usize> {
    let (st, shown) = admin_json(Method::GET, &format!("{admin}/quantities"), None).await?;
    anyhow::ensure!(st == 200, "{admin}/quantities: {st} {shown}");
    Ok(want
        .iter()
        .filter(|(sku, q)| shown[**sku].as_i64() != Some(**q))
        .count())
}

fn pct(v: &mut [i64], p: f64) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

fn fmt_ms(v: Option<i64>) -> String {
    match v {
        None => "–".into(),
        Some(ms) if ms < 10_000 => format!("{:.2} s", ms as f64 / 1000.0),
        Some(ms) => format!("{:.0} s", ms as f64 / 1000.0),
    }
}

async fn run(
    mode: &str,
    skus: &[(String, i64)],
    rate: f64,
    secs: u64,
    seed: u64,
    interval: u64,
    buffers: bool,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let log = std::env::var("MARKETSYNC_BENCH_LOG").unwrap_or_else(|_| "warn".into());
    let sys = System::start_with(
        &format!("storm-{mode}"),
        marketsync_simulators::bigcommerce::SimConfig {
            products: 1,
            orders: 0,
            ..Default::default()
        },
        &[
            ("MARKETSYNC_LOG", &log),
            ("MARKETSYNC_SCHEDULE_TICK_SECS", "1"),
        ],
    )
    .await?;
    let mut channels = Vec::new();
    for (platform, poll, _) in CHANNELS {
        let store = stores::start(
            platform,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            0,
            stores::Demo {
                products: Some(0),
                seed: Some(seed),
            },
        )
        .await?;
        let admin = format!("http://{}/__admin", store.addr);
        let items: Vec<Value> = skus
            .iter()
            .map(|(s, q)| json!({"sku": s, "title": format!("Storm item {s}"), "price": "19.90", "quantity": q}))
            .collect();
        let (st, body) = admin_json(
            Method::POST,
            &format!("{admin}/listings"),
            Some(json!({"items": items})),
        )
        .await?;
        anyhow::ensure!(st < 300, "{platform}: listings: {st} {body}");
        let mut settings = store.settings.clone();
        let mut stock = if mode == "baseline" {
            json!({"push": "scheduled", "push_interval_secs": interval})
        } else {
            json!({})
        };
        stock["safety_buffer"] = json!(safety_buffer(platform, *poll, buffers));
        // The rules are the run's whole point: the baseline's schedule and every buffer.
        settings["stock"] = stock;
        settings["poll_operations"] = json!(["import_orders"]);
        if let Some(p) = poll {
            settings["sync_frequency"] = json!(p);
        }
        let conn = sys
            .connect(
                platform,
                &format!("storm-{platform}"),
                store.credentials.clone(),
                settings,
            )
            .await?;
        let connection = conn["id"].as_str().context("connection id")?.to_string();
        channels.push(Channel {
            platform,
            poll: *poll,
            admin,
            connection,
            store,
        });
    }
    eprintln!(
        "storm[{mode}]: 12 channels list {} skus; importing them",
        skus.len()
    );
    // Every channel's listings and stock (ids and locations), in parallel.
    let mut syncs = Vec::new();
    for ch in &channels {
        syncs.push((
            ch.platform,
            sys.sync(
                &ch.connection,
                json!({"operations": ["import_products", "import_inventory"]}),
            )
            .await?,
        ));
    }
    for (p, id) in &syncs {
        let run = sys.wait_sync(id, Duration::from_secs(1800)).await?;
        anyhow::ensure!(run["status"] == "completed", "{p}: first sync: {run}");
    }
    for ch in channels.iter().filter(|c| c.poll.is_none()) {
        let (s, reg) = sys
            .api(
                Method::POST,
                &format!("/api/v1/connections/{}/webhooks", ch.connection),
                Some(
                    json!({ "url": format!("{}/api/v1/webhooks/{}", sys.gateway, ch.connection) }),
                ),
            )
            .await?;
        anyhow::ensure!(s == 200, "{}: webhooks: {s} {reg}", ch.platform);
    }
    // The ledger: the real stock, in one warehouse.
    for part in skus.chunks(5000) {
        let items: Vec<Value> = part
            .iter()
            .map(|(s, q)| json!({"sku": s, "warehouse": "MAIN", "quantity": q, "absolute": true}))
            .collect();
        let (s, body) = sys
            .api(
                Method::POST,
                "/api/v1/stock/adjustments",
                Some(json!({"items": items})),
            )
            .await?;
        anyhow::ensure!(s == 200, "adjustments: {s} {body}");
    }
    let pool = sys.db().await?;
    let settle = Instant::now();
    // Settled when nothing is due and every channel shows what its rule lists (Mirakl and
    // CDiscount apply writes some time after accepting them).
    let expected: Vec<HashMap<&str, i64>> = channels
        .iter()
        .map(|ch| {
            let buffer = safety_buffer(ch.platform, ch.poll, buffers);
            skus.iter()
                .map(|(s, q)| (s.as_str(), (q - buffer).max(0)))
                .collect()
        })
        .collect();
    let mut waiting_for: Vec<String> = Vec::new();
    loop {
        let due: i64 =
            sqlx::query_scalar("SELECT count(*) FROM connector.channel_stock WHERE dirty")
                .fetch_one(&pool)
                .await?;
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM connector.channel_stock")
            .fetch_one(&pool)
            .await?;
        if due == 0 && rows >= (skus.len() * channels.len()) as i64 {
            waiting_for.clear();
            for (ch, want) in channels.iter().zip(&expected) {
                let off = showing_otherwise(&ch.admin, want).await?;
                if off > 0 {
                    waiting_for.push(format!("{} ({off} skus)", ch.platform));
                }
            }
            if waiting_for.is_empty() {
                break;
            }
        }
        anyhow::ensure!(
            settle.elapsed() < Duration::from_secs(1800),
            "initial quantities not settled: {due} due, {rows} rows, not shown yet on {}",
            waiting_for.join(", ")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let settle_secs = settle.elapsed().as_secs_f64();
    eprintln!(
        "storm[{mode}]: ready after {:.0} s (initial push {settle_secs:.0} s); storm of {rate}/s for {secs} s",
        started.elapsed().as_secs_f64()
    );
    // The storm.
    let mut calls_before = Vec::new();
    for ch in &channels {
        calls_before.push(api_calls(&ch.admin).await);
    }
    let cpu_before = cpu_now(&sys);
    let window = Instant::now();
    let mut rng = Rng(seed ^ 0x5eed);
    let total = (rate * secs as f64) as u64;
    let t0 = Instant::now();
    let mut sales: Vec<Sale> = Vec::new();
    let mut out = Outcome {
        settle_secs,
        ..Default::default()
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut inflight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for n in 0..total {
        let due = Duration::from_secs_f64(n as f64 / rate);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            // Collect finished buyers while waiting for the next one's turn.
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(r) = inflight.next(), if !inflight.is_empty() => {
                        let r: (usize, usize, i64, bool) = r;
                        if r.3 { sales.push(Sale { at_ms: r.2, channel: r.0, sku: r.1 }); out.sold += 1; } else { out.refused += 1; }
                    }
                }
            }
        }
        let c = rng.below(channels.len());
        let s = rng.below(skus.len());
        out.attempts += 1;
        let url = format!("{}/orders", channels[c].admin);
        let body = json!({"sku": skus[s].0, "quantity": 1});
        let client = client.clone();
        inflight.push(async move {
            let at = now_ms();
            let ok = match client.post(&url).json(&body).send().await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            };
            (c, s, at, ok)
        });
    }
    while let Some((c, s, at, ok)) = inflight.next().await {
        if ok {
            sales.push(Sale {
                at_ms: at,
                channel: c,
                sku: s,
            });
            out.sold += 1;
        } else {
            out.refused += 1;
        }
    }
    eprintln!(
        "storm[{mode}]: {} sold, {} refused; letting the last sales propagate",
        out.sold, out.refused
    );
    // Let what was sold last reach every channel (within the slowest poll plus a margin).
    tokio::time::sleep(Duration::from_secs(if mode == "baseline" { 5 } else { 90 })).await;
    out.cpu = cpu_now(&sys)
        .into_iter()
        .zip(cpu_before)
        .map(|((who, after), (_, before))| (who, after - before))
        .collect();
    out.cpu_window = window.elapsed().as_secs_f64();
    for (ch, before) in channels.iter().zip(calls_before) {
        let after = api_calls(&ch.admin).await;
        out.calls.push((after.0 - before.0, after.1 - before.1));
        if std::env::var("MARKETSYNC_BENCH_DEBUG").is_ok() {
            eprintln!("{} stats: {}", ch.platform, after.2);
        }
    }
    out.pushes_pending_at_end =
        sqlx::query_scalar("SELECT count(*) FROM connector.channel_stock WHERE dirty")
            .fetch_one(&pool)
            .await?;

    // When the ledger learned of each sale: its order entries per connection and sku, in
    // order, matched with the sales of that sku on that channel in order.
    let entries: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT connection_id::text, sku, (extract(epoch FROM created_at) * 1000)::int8 \
         FROM connector.stock_entries WHERE cause = 'order' ORDER BY id",
    )
    .fetch_all(&pool)
    .await?;
    let mut seen: HashMap<(&str, &str), std::collections::VecDeque<i64>> = HashMap::new();
    for (conn, sku, at) in &entries {
        seen.entry((conn.as_str(), sku.as_str()))
            .or_default()
            .push_back(*at);
    }
    out.learned = vec![(Vec::new(), 0); channels.len()];
    let mut in_order = sales.clone();
    in_order.sort_by_key(|s| s.at_ms);
    // The floor: the wait for the next poll (none for a webhook) and, on Amazon, getOrderItems'
    // token bucket (a sale's lines cannot be read before the bucket has a token for it).
    let storm_start = in_order.first().map_or(0, |s| s.at_ms);
    let mut floor_rng = Rng(seed ^ 0x1ea7);
    let mut nth = vec![0usize; channels.len()];
    out.learn_floor = vec![Vec::new(); channels.len()];
    for sale in &in_order {
        let ch = &channels[sale.channel];
        let poll = ch
            .poll
            .map_or(0, |p| (floor_rng.next() % (p * 1000)) as i64);
        let bucket = if ch.platform == "amazon" {
            let (_, rate, burst) = marketsync_simulators::amazon::USAGE_PLANS
                .iter()
                .find(|(op, _, _)| *op == "getOrderItems")
                .copied()
                .unwrap_or(("", 0.5, 30));
            let k = nth[sale.channel];
            let ready = ((k + 1).saturating_sub(burst as usize) as f64 / rate * 1000.0) as i64;
            (storm_start + ready - sale.at_ms).max(0)
        } else {
            0
        };
        nth[sale.channel] += 1;
        out.learn_floor[sale.channel].push(poll.max(bucket));
    }
    let mut slowest: Vec<(i64, &str, &str, i64)> = Vec::new();
    for sale in &in_order {
        let key = (
            channels[sale.channel].connection.as_str(),
            skus[sale.sku].0.as_str(),
        );
        match seen.get_mut(&key).and_then(|q| q.pop_front()) {
            Some(at) => {
                let late = (at - sale.at_ms).max(0);
                out.learned[sale.channel].0.push(late);
                if channels[sale.channel].poll.is_none() {
                    slowest.push((late, channels[sale.channel].platform, key.1, sale.at_ms));
                }
            }
            None => out.learned[sale.channel].1 += 1,
        }
    }
    if std::env::var("MARKETSYNC_BENCH_DEBUG").is_ok() {
        slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut shown: HashMap<&str, usize> = HashMap::new();
        for (late, platform, sku, at) in &slowest {
            let n = shown.entry(platform).or_default();
            *n += 1;
            if *n > 6 {
                continue;
            }
            eprintln!(
                "slow learn: {platform} {sku} sold at +{:.1} s, learned {:.1} s later (epoch ms {at})",
                (at - storm_start) as f64 / 1000.0,
                *late as f64 / 1000.0
            );
        }
    }

    // Oversold units: sold beyond the stock, per sku.
    let mut sold_per_sku = vec![0i64; skus.len()];
    for s in &sales {
        sold_per_sku[s.sku] += 1;
    }
    out.oversold = sold_per_sku
        .iter()
        .zip(skus)
        .map(|(sold, (_, q))| (sold - q).max(0))
        .sum();

    // Latencies from the simulators' logs of when each quantity took effect.
    let sku_index: HashMap<&str, usize> = skus
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s.as_str(), i))
        .collect();
    let mut logs: Vec<HashMap<usize, Vec<Shown>>> = Vec::new();
    for ch in &channels {
        let mut per: HashMap<usize, Vec<Shown>> = HashMap::new();
        let mut after = 0i64;
        loop {
            let (st, v) = admin_json(
                Method::GET,
                &format!("{}/quantity-log?after={after}&limit=10000", ch.admin),
                None,
            )
            .await?;
            anyhow::ensure!(st == 200, "{}: quantity-log {st}", ch.platform);
            let entries = v["entries"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                break;
            }
            for e in &entries {
                if let Some(&i) = e["sku"].as_str().and_then(|s| sku_index.get(s)) {
                    per.entry(i).or_default().push((
                        e["at_ms"].as_i64().unwrap_or(0),
                        e["quantity"].as_i64().unwrap_or(0),
                        e["cause"] == "api",
                    ));
                }
            }
            after = v["next"].as_i64().unwrap_or(after);
            if entries.len() < 10_000 {
                break;
            }
        }
        if std::env::var("MARKETSYNC_BENCH_DEBUG").is_ok() {
            let n: usize = per.values().map(Vec::len).sum();
            let api: usize = per.values().flatten().filter(|e| e.2).count();
            let sample: Vec<_> = per.iter().take(2).collect();
            eprintln!(
                "{}: {n} log entries, {api} by the API; e.g. {sample:?}",
                ch.platform
            );
        }
        logs.push(per);
    }
    for (y, _) in channels.iter().enumerate() {
        let mut from_hooks = Vec::new();
        let mut from_polls = Vec::new();
        let mut never = 0u64;
        if std::env::var("MARKETSYNC_BENCH_DEBUG").is_ok() {
            eprintln!("sales e.g. {:?}", sales.iter().take(3).collect::<Vec<_>>());
        }
        for sale in sales.iter().filter(|s| s.channel != y) {
            let Some(log) = logs[y].get(&sale.sku) else {
                never += 1;
                continue;
            };
            // What the channel showed when the sale happened.
            let before = log
                .iter()
                .take_while(|(t, _, _)| *t <= sale.at_ms)
                .last()
                .map(|e| e.1)
                .unwrap_or(skus[sale.sku].1);
            if before <= 0 {
                continue;
            }
            match log
                .iter()
                .find(|(t, q, api)| *t >= sale.at_ms && *api && *q < before)
            {
                Some((t, _, _)) => {
                    let l = t - sale.at_ms;
                    if channels[sale.channel].poll.is_none() {
                        from_hooks.push(l);
                    } else {
                        from_polls.push(l);
                    }
                }
                None => never += 1,
            }
        }
        out.latency.push((from_hooks, from_polls, never));
        let mut floor_rng = Rng(seed ^ y as u64);
        let (mut fh, mut fp) = (Vec::new(), Vec::new());
        for sale in sales.iter().filter(|s| s.channel != y) {
            let apply = apply_floor(channels[y].platform, &mut floor_rng);
            match channels[sale.channel].poll {
                None => fh.push(apply),
                Some(p) => fp.push((floor_rng.next() % (p * 1000)) as i64 + apply),
            }
        }
        out.floors.push((fh, fp));
    }
    sys.stop().await;
    for ch in channels {
        ch.store.stop().await;
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = arg("--skus", 2000);
    let rate: f64 = arg("--rate", 20.0);
    let secs: u64 = arg("--secs", 300);
    let seed: u64 = arg("--seed", 2026);
    let interval: u64 = arg("--baseline-interval", 900);
    let only: String = arg("--only", String::new());
    let buffers = !std::env::args().any(|a| a == "--no-buffers");
    let mut rng = Rng(seed);
    let skus: Vec<(String, i64)> = (0..n)
        .map(|i| (format!("STORM-{i:05}"), 1 + rng.below(5) as i64))
        .collect();
    let units: i64 = skus.iter().map(|s| s.1).sum();
    println!(
        "Order storm: {n} skus ({units} units, 1 to 5 each) on 12 channels, {rate} orders/s for {secs} s, seed {seed}\n"
    );
    println!(
        "Safety buffers (both runs): {}\n",
        if buffers {
            "0 on webhook channels, 1 on channels polled every 5 s, 2 on Amazon and Mirakl (orders or quantities once a minute)"
        } else {
            "none (--no-buffers)"
        }
    );
    let mut results = Vec::new();
    for mode in ["realtime", "baseline"] {
        if !only.is_empty() && only != mode {
            continue;
        }
        results.push((
            mode,
            run(mode, &skus, rate, secs, seed, interval, buffers).await?,
        ));
    }
    println!("| run | orders tried | sold | refused (channel showed 0) | units oversold |");
    println!("| --- | --- | --- | --- | --- |");
    for (mode, o) in &results {
        let name = if *mode == "baseline" {
            format!("baseline (push every {interval} s)")
        } else {
            "marketsync (push on change)".to_string()
        };
        println!(
            "| {name} | {} | {} | {} | {} |",
            o.attempts, o.sold, o.refused, o.oversold
        );
    }
    if let (Some((_, ours)), Some((_, base))) = (
        results.iter().find(|(m, _)| *m == "realtime"),
        results.iter().find(|(m, _)| *m == "baseline"),
    ) {
        println!(
            "\nOversold: baseline {} / marketsync {} = {} (goal: at least 50)\n",
            base.oversold,
            ours.oversold,
            if ours.oversold == 0 {
                "∞ (none oversold)".to_string()
            } else {
                format!("{:.1}", base.oversold as f64 / ours.oversold as f64)
            }
        );
    }
    for (mode, o) in &results {
        let parts: Vec<String> = o
            .cpu
            .iter()
            .map(|(who, secs)| format!("{who} {secs:.1}"))
            .collect();
        println!(
            "\nCPU seconds during the {mode} storm and the settling after it ({:.0} s wall, {:.0} core-seconds on 2 cores): {}",
            o.cpu_window,
            o.cpu_window * 2.0,
            parts.join(", ")
        );
    }
    println!();
    if let Some((_, o)) = results.iter().find(|(m, _)| *m == "realtime") {
        println!(
            "Time from a sale on another channel to this channel showing less (marketsync run; initial push of every quantity took {:.0} s, {} pushes still due at the end). The floor is the least the limits allow for the same sales: the source's order-polling interval (0 for a webhook) plus the channel's own delay in applying a write (Mirakl: OF24 once a minute plus the import; CDiscount: package integration).\n",
            o.settle_secs, o.pushes_pending_at_end
        );
        println!(
            "Time from a sale on a channel to the ledger reserving it (the order imported):\n"
        );
        println!("| channel | p50 / p99 | floor p50 / p99 | how orders arrive | never reserved |");
        println!("| --- | --- | --- | --- | --- |");
        for (i, (platform, poll, _)) in CHANNELS.iter().enumerate() {
            let (mut l, never) = o.learned.get(i).cloned().unwrap_or_default();
            let mut f = o.learn_floor.get(i).cloned().unwrap_or_default();
            let how = match (poll, *platform) {
                (None, _) => "webhook".to_string(),
                (Some(p), "amazon") => {
                    format!("polled every {p} s; getOrderItems 0.5/s (burst 30)")
                }
                (Some(p), _) => format!("polled every {p} s"),
            };
            println!(
                "| {platform} | {} / {} | {} / {} | {how} | {never} |",
                fmt_ms(pct(&mut l, 0.5)),
                fmt_ms(pct(&mut l, 0.99)),
                fmt_ms(pct(&mut f, 0.5)),
                fmt_ms(pct(&mut f, 0.99)),
            );
        }
        println!();
        println!(
            "| channel | from webhook channels p50 / p99 | floor p50 / p99 | from polled channels p50 / p99 | floor p50 / p99 | never shown | API calls (refused for rate) | limited by |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for (i, (platform, _, why)) in CHANNELS.iter().enumerate() {
            let (mut h, mut p, never) = o.latency[i].clone();
            let (mut fh, mut fp) = o.floors[i].clone();
            println!(
                "| {platform} | {} / {} | {} / {} | {} / {} | {} / {} | {never} | {} ({}) | {why} |",
                fmt_ms(pct(&mut h, 0.5)),
                fmt_ms(pct(&mut h, 0.99)),
                fmt_ms(pct(&mut fh, 0.5)),
                fmt_ms(pct(&mut fh, 0.99)),
                fmt_ms(pct(&mut p, 0.5)),
                fmt_ms(pct(&mut p, 0.99)),
                fmt_ms(pct(&mut fp, 0.5)),
                fmt_ms(pct(&mut fp, 0.99)),
                o.calls.get(i).map_or(0, |c| c.0),
                o.calls.get(i).map_or(0, |c| c.1),
            );
        }
    }
    Ok(())
}
