//! `marketsync simulators`: the platform simulators in the foreground.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use super::stores;
use crate::cli::SimulatorsArgs;

/// Demo OAuth client id given with BigCommerce connections (the simulator ignores it).
pub const DEMO_BIGCOMMERCE_CLIENT_ID: &str = "demo-client-id";
/// Demo OAuth client secret given with BigCommerce connections (the simulator ignores it).
pub const DEMO_BIGCOMMERCE_CLIENT_SECRET: &str = "demo-client-secret";

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
    let demo = stores::Demo {
        products: args.products,
        seed: args.seed,
    };
    let mut running = Vec::new();
    for (platform, port) in args.ports.all() {
        let store = stores::start(platform, args.listen, port, demo).await?;
        println!("{}", store.describe());
        running.push(store);
    }
    println!("Press Ctrl-C to stop.");
    marketsync_common::shutdown_signal().await;
    for s in running {
        s.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}
