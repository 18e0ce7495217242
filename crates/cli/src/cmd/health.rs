//! `marketsync health <url>`: exit 0 if the URL answers 2xx.

use std::process::ExitCode;
use std::time::Duration;

use crate::api::describe;

/// GETs `url`; success when it answers 2xx within `timeout_secs`.
pub async fn run(url: &str, timeout_secs: u64) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .build()?;
    match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(resp) => {
            eprintln!("unhealthy: {url} answered {}", resp.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {}", describe(&e.without_url()));
            Ok(ExitCode::FAILURE)
        }
    }
}
