//! `marketsync-knowledge`: patterns, decisions, auto-correction rules and corrections.

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    marketsync_common::install_crypto_provider();
    let _telemetry = marketsync_common::telemetry::init("knowledge")?;
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        marketsync_common::shutdown_signal().await;
        s.cancel();
    });
    marketsync_knowledge_service::run(shutdown).await
}
