//! `marketsync-bench`: pushes N product records (default 1,000,000) from the BigCommerce
//! simulator through connector → NATS → monitor → knowledge → PostgreSQL, with the four release
//! binaries as separate processes, and reports records per second end to end and each
//! service's peak memory. In the same run it measures the baseline: the raw JetStream
//! publish-and-consume rate of the very messages the connector published.
//!
//! Usage: `scripts/bench [--records N]` (builds the release binaries first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use marketsync_e2e::proc::{cpu_by_pid, cpu_secs, cpu_secs_named, peak_rss_mb};
use marketsync_e2e::{SERVICES, System};
use marketsync_simulators::bigcommerce::SimConfig;
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records = arg("--records", 1_000_000);
    let page = arg("--page", 250);
    eprintln!("bench: generating a simulated store of {records} products");
    let started = Instant::now();
    let sim = SimConfig {
        products: records,
        orders: 0,
        seed: 2026,
        rate_limit_requests: 1_000_000,
        rate_limit_window_ms: 1_000,
        simple_products: true,
        document_fields: marketsync_connectors::bigcommerce::PRODUCT_FIELDS.into(),
        ..SimConfig::default()
    };
    let sys = System::start_with("bench", sim, &[("MARKETSYNC_LOG", "warn")]).await?;
    eprintln!(
        "bench: system up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let conn = sys
        .connect_bigcommerce(
            "bench",
            json!({"batch_size": page, "rate_limit_requests": 1_000_000, "rate_limit_window_ms": 1_000}),
        )
        .await?;
    let id = conn["id"].as_str().context("connection id")?.to_string();
    let pool = sys.db().await?;

    // End to end: from the sync request until the knowledge service has counted every issue
    // the monitor raised for the last record.
    let cpu_before: Vec<f64> = SERVICES
        .iter()
        .map(|s| sys.pid(s).map(cpu_secs).unwrap_or(0.0))
        .collect();
    let pg_before = cpu_secs_named("postgres");
    let pg_pids_before = cpu_by_pid("postgres");
    let nats_before = cpu_secs_named("nats-server");
    let sim_before = cpu_secs(std::process::id());
    let t0 = Instant::now();
    let sync = sys
        .sync(&id, json!({"operations": ["import_products"]}))
        .await?;
    let mut last = 0i64;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let validated: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(records), 0)::int8 FROM monitor.validation_counters",
        )
        .fetch_one(&pool)
        .await?;
        if validated != last {
            eprintln!(
                "bench: {validated} records validated after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            last = validated;
        }
        if validated >= records as i64 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("not done after an hour");
        }
    }
    let issues: i64 = sqlx::query_scalar("SELECT count(*) FROM monitor.issues")
        .fetch_one(&pool)
        .await?;
    loop {
        let counted: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(occurrence_count), 0)::int8 FROM knowledge.issue_patterns",
        )
        .fetch_one(&pool)
        .await?;
        if counted >= issues {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e2e = t0.elapsed();
    let mut cpu: Vec<(String, f64)> = SERVICES
        .iter()
        .zip(&cpu_before)
        .map(|(s, before)| {
            (
                s.to_string(),
                sys.pid(s).map(cpu_secs).unwrap_or(0.0) - before,
            )
        })
        .collect();
    // PostgreSQL's share, by the service whose connection it served (application_name), the
    // rest being its background work (WAL writer, checkpointer, autovacuum).
    let pg_total = cpu_secs_named("postgres") - pg_before;
    let backends: Vec<(i32, Option<String>)> =
        sqlx::query_as("SELECT pid, application_name FROM pg_stat_activity")
            .fetch_all(&pool)
            .await?;
    let pg_pids_after = cpu_by_pid("postgres");
    let mut by_app: std::collections::BTreeMap<String, f64> = Default::default();
    for (pid, app) in backends {
        let pid = pid as u32;
        let used = pg_pids_after.get(&pid).copied().unwrap_or(0.0)
            - pg_pids_before.get(&pid).copied().unwrap_or(0.0);
        if let Some(app) = app.filter(|a| a.starts_with("marketsync-")) {
            *by_app.entry(app).or_default() += used;
        }
    }
    let attributed: f64 = by_app.values().sum();
    let pg_detail: Vec<String> = by_app
        .iter()
        .map(|(a, c)| format!("{} {c:.1}", a.trim_start_matches("marketsync-")))
        .chain(std::iter::once(format!(
            "background {:.1}",
            pg_total - attributed
        )))
        .collect();
    cpu.push(("PostgreSQL".into(), pg_total));
    cpu.push((
        "NATS server".into(),
        cpu_secs_named("nats-server") - nats_before,
    ));
    cpu.push((
        "simulator (this process)".into(),
        cpu_secs(std::process::id()) - sim_before,
    ));
    let run = sys.wait_sync(&sync, Duration::from_secs(60)).await?;
    anyhow::ensure!(run["status"] == "completed", "sync did not complete: {run}");
    anyhow::ensure!(run["counts"]["products"] == records as i64, "counts: {run}");
    let memory: Vec<(String, f64)> = SERVICES
        .iter()
        .map(|s| {
            (
                s.to_string(),
                sys.pid(s).map(peak_rss_mb).unwrap_or(f64::NAN),
            )
        })
        .collect();

    // Baseline: the same messages, read back from the records stream, published to a fresh
    // stream (async, pipelined) and consumed by a durable pull consumer acking each.
    let nats = async_nats::connect(marketsync_e2e::nats_url()).await?;
    let js = jetstream::new(nats);
    let records_stream = format!("{}_RECORDS", sys.prefix.to_uppercase());
    let mut src = js.get_stream(&records_stream).await?;
    let state = src.info().await?.state.clone();
    let mut msgs = Vec::with_capacity(state.messages as usize);
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(m) = src.get_raw_message(seq).await {
            msgs.push(m.payload.clone());
        }
    }
    eprintln!(
        "bench: baseline with the {} messages of the records stream",
        msgs.len()
    );
    let base_name = format!("{}_BENCH_BASELINE", sys.prefix.to_uppercase());
    let base_subject = format!("{}.baseline", sys.prefix);
    let base = js
        .create_stream(stream::Config {
            name: base_name.clone(),
            subjects: vec![base_subject.clone()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let bytes: usize = msgs.iter().map(|m| m.len()).sum();
    let tp = Instant::now();
    let mut acks = futures::stream::FuturesOrdered::new();
    for m in &msgs {
        acks.push_back(
            js.publish(base_subject.clone(), m.clone())
                .await?
                .into_future(),
        );
        if acks.len() >= 32 {
            acks.next().await.context("ack")??;
        }
    }
    while let Some(a) = acks.next().await {
        a?;
    }
    let publish = tp.elapsed();
    let consumer = base
        .create_consumer(pull::Config {
            durable_name: Some("bench".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let tc = Instant::now();
    let mut got = 0usize;
    while got < msgs.len() {
        let mut batch = consumer
            .fetch()
            .max_messages(64)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
            m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            got += 1;
        }
    }
    let consume = tc.elapsed();
    let _ = js.delete_stream(&base_name).await;

    let e2e_rate = records as f64 / e2e.as_secs_f64();
    let base_secs = publish.as_secs_f64() + consume.as_secs_f64();
    let base_rate = records as f64 / base_secs;
    println!();
    println!(
        "marketsync-bench: {records} records in {} messages ({:.1} MB), pages of {page}",
        msgs.len(),
        bytes as f64 / 1e6
    );
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| end to end (sync request → knowledge counted the last issue) | {:.1} s, **{:.0} records/s** |",
        e2e.as_secs_f64(),
        e2e_rate
    );
    println!("| issues raised and counted | {issues} |");
    println!(
        "| baseline: raw JetStream publish of the same messages | {:.2} s ({:.0} msg/s) |",
        publish.as_secs_f64(),
        msgs.len() as f64 / publish.as_secs_f64()
    );
    println!(
        "| baseline: raw JetStream consume (ack each) | {:.2} s ({:.0} msg/s) |",
        consume.as_secs_f64(),
        msgs.len() as f64 / consume.as_secs_f64()
    );
    println!("| baseline: publish + consume | {base_rate:.0} records/s |");
    println!("| end to end / baseline | {:.3} |", e2e_rate / base_rate);
    let cpu_line: Vec<String> = cpu.iter().map(|(s, c)| format!("{s} {c:.1}")).collect();
    println!(
        "| CPU seconds during the run (2 cores × {:.1} s = {:.1}) | {} |",
        e2e.as_secs_f64(),
        2.0 * e2e.as_secs_f64(),
        cpu_line.join(" / ")
    );
    println!(
        "| PostgreSQL CPU seconds by the service it served | {} |",
        pg_detail.join(" / ")
    );
    for (s, mb) in &memory {
        println!("| peak memory of {s} | {mb:.0} MB |");
    }
    sys.stop().await;
    Ok(())
}
