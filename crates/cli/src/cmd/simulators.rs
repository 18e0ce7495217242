//! `marketsync simulators`: the platform simulators in the foreground.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use marketsync_simulators::bigcommerce;

use crate::cli::SimulatorsArgs;

/// Demo OAuth client id given with BigCommerce connections (the simulator ignores it).
pub const DEMO_BIGCOMMERCE_CLIENT_ID: &str = "demo-client-id";
/// Demo OAuth client secret given with BigCommerce connections (the simulator ignores it).
pub const DEMO_BIGCOMMERCE_CLIENT_SECRET: &str = "demo-client-secret";

/// The BigCommerce simulator's configuration for the given demo size and seed.
pub fn bigcommerce_config(products: Option<usize>, seed: Option<u64>) -> bigcommerce::SimConfig {
    let mut config = bigcommerce::SimConfig::default();
    if let Some(n) = products {
        config.products = n;
    }
    if let Some(s) = seed {
        config.seed = s;
    }
    config
}

/// The address to print for a listener: loopback when it listens on every interface.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Runs the simulators until Ctrl-C or SIGTERM.
pub async fn run(args: SimulatorsArgs) -> anyhow::Result<ExitCode> {
    // Request logs of the simulators, like the services' (JSON unless MARKETSYNC_LOG_FORMAT=text).
    let _telemetry = marketsync_common::telemetry::init("simulators")?;
    let config = bigcommerce_config(args.products, args.seed);
    let (store_hash, token) = (config.store_hash.clone(), config.access_token.clone());
    let (products, seed) = (config.products, config.seed);
    let addr = SocketAddr::new(args.listen, args.bigcommerce_port);
    let bc = bigcommerce::start(addr, config)
        .await
        .with_context(|| format!("cannot start the BigCommerce simulator on {addr}"))?;
    let shown = reachable(bc.addr);
    println!("BigCommerce simulator: http://{shown}  ({products} products, seed {seed})");
    println!("  base_url:      http://{shown}");
    println!("  API:           http://{shown}/stores/{store_hash}/v3");
    println!("  store_hash:    {store_hash}");
    println!("  access_token:  {token}");
    println!("  client_id:     {DEMO_BIGCOMMERCE_CLIENT_ID}");
    println!("  client_secret: {DEMO_BIGCOMMERCE_CLIENT_SECRET}");
    println!("  faults:        http://{shown}/__admin");
    println!("Press Ctrl-C to stop.");
    marketsync_common::shutdown_signal().await;
    bc.stop().await;
    Ok(ExitCode::SUCCESS)
}
