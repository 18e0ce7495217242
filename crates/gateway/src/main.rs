//! `marketsync-gateway`: the REST and SSE API of marketsync.

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    marketsync_common::install_crypto_provider();
    let _telemetry = marketsync_common::telemetry::init("gateway")?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        marketsync_common::shutdown_signal().await;
        tracing::info!("shutdown requested");
        signal.cancel();
    });
    if let Err(e) = marketsync_gateway::run(shutdown).await {
        tracing::error!(error = %e, "gateway failed");
        return Err(e);
    }
    Ok(())
}
