//! `marketsync up`: the whole system locally, in the foreground.
//!
//! Order: pre-flight checks (ports free, NATS reachable), migrations, the simulator, the three
//! back-end services (then wait for their `/readyz`), the gateway (then its `/readyz`), the demo
//! tenant, API key and connection, the summary lines; then supervise until a signal or a crash.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use marketsync_common::config::{self, Service as Svc};
use marketsync_common::db;
use serde_json::{Value, json};

use crate::api::{Api, ApiError, list_items};
use crate::cli::UpArgs;
use crate::cmd::admin;
use crate::cmd::simulators::reachable;
use crate::cmd::stores;
use crate::supervisor::{self, Service};

/// Name of the demo tenant.
pub const DEMO_TENANT: &str = "demo";
/// Name of the demo admin API key.
pub const DEMO_KEY_NAME: &str = "quickstart";
/// Time a service gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Addresses of one back-end service.
#[derive(Debug, Clone)]
struct Backend {
    svc: Svc,
    grpc: SocketAddr,
    http: SocketAddr,
    grpc_url: String,
}

/// Runs `up` until a signal (exit 0) or a service's death (exit 1).
pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let state = args.state_dir.clone();
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;

    let backends = backends()?;
    let gateway_addr = args.gateway_addr;
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);

    // Everything that can be checked before starting anything.
    let binaries = [
        "marketsync-connector",
        "marketsync-monitor",
        "marketsync-knowledge",
        "marketsync-gateway",
    ]
    .map(supervisor::locate_binary);
    let [connector_bin, monitor_bin, knowledge_bin, gateway_bin] = binaries;
    let bins = [connector_bin?, monitor_bin?, knowledge_bin?];
    let gateway_bin = gateway_bin?;
    let mut listeners = vec![("gateway", gateway_addr)];
    for b in &backends {
        listeners.push((b.svc.name(), b.grpc));
        listeners.push((b.svc.name(), b.http));
    }
    if !args.no_simulators {
        for (platform, port) in args.ports.all() {
            if port != 0 {
                listeners.push((platform, SocketAddr::new(loopback, port)));
            }
        }
    }
    for (name, addr) in listeners {
        if port_answers(reachable(addr)) {
            bail!(
                "{addr} ({name}) is already in use: is another `marketsync up` running? \
                 Stop it, or choose other addresses (--gateway-addr, MARKETSYNC_*_ADDR)"
            );
        }
    }
    let nats_url = config::nats_url();
    check_nats(&nats_url)?;

    let env = service_env(&args, &backends, &nats_url)?;

    eprintln!("marketsync: applying migrations");
    for (schema, migrator) in db::migrations::all() {
        let pool = db::connect(&args.db.database_url, schema, 2)
            .await
            .with_context(|| {
                format!(
                    "cannot reach PostgreSQL (DATABASE_URL, schema {schema}); is it running? \
                     scripts/quickstart starts one"
                )
            })?;
        db::migrate(&pool, migrator)
            .await
            .with_context(|| format!("migrating schema {schema} failed"))?;
        pool.close().await;
    }

    let mut demo_stores = Vec::new();
    if !args.no_simulators {
        let demo = stores::Demo {
            products: args.demo_products,
            seed: None,
        };
        for (platform, port) in args.ports.all() {
            let store = stores::start(platform, loopback, port, demo).await?;
            eprintln!(
                "marketsync: {} simulator on http://{} ({} products)",
                store.name, store.addr, store.products
            );
            demo_stores.push(store);
        }
    }

    // One signal listener for the whole run, so that no signal falls between two waits.
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut services: Vec<Service> = Vec::new();
    let startup = start_all(
        &args,
        &backends,
        &bins,
        &gateway_bin,
        &env,
        &logs,
        &mut services,
        &demo_stores,
    );
    let outcome = tokio::select! {
        r = startup => Some(r),
        _ = &mut stop => None,
    };
    let key = match outcome {
        None => {
            eprintln!("marketsync: interrupted, stopping the services");
            supervisor::stop_all(&mut services, STOP_GRACE).await;
            return Ok(ExitCode::from(130));
        }
        Some(Err(e)) => {
            supervisor::stop_all(&mut services, STOP_GRACE).await;
            return Err(e);
        }
        Some(Ok(key)) => key,
    };

    let gateway = reachable(gateway_addr);
    println!("Gateway: http://{gateway}");
    println!("API key: {key}");
    println!(
        "Try: curl -H \"Authorization: Bearer $(cat {})\" http://{gateway}/api/v1/connections",
        state.join("demo-api-key").display()
    );
    eprintln!(
        "marketsync: running; logs in {}; Ctrl-C to stop",
        logs.display()
    );

    let code = tokio::select! {
        _ = &mut stop => {
            eprintln!("marketsync: stopping the services");
            ExitCode::SUCCESS
        }
        (index, status) = supervisor::first_exit(&mut services) => {
            let s = &services[index];
            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            eprintln!(
                "marketsync: error: {} exited unexpectedly ({status}); its log is {}:\n{}",
                s.name,
                s.log.display(),
                indent(&s.log_tail(20))
            );
            ExitCode::FAILURE
        }
    };
    supervisor::stop_all(&mut services, STOP_GRACE).await;
    for store in demo_stores {
        store.stop().await;
    }
    Ok(code)
}

/// Starts the services, waits for them, and sets up the demo; returns the demo API key.
#[allow(clippy::too_many_arguments)]
async fn start_all(
    args: &UpArgs,
    backends: &[Backend],
    bins: &[PathBuf; 3],
    gateway_bin: &Path,
    env: &[(String, OsString)],
    logs: &Path,
    services: &mut Vec<Service>,
    demo_stores: &[stores::DemoStore],
) -> anyhow::Result<String> {
    let timeout = Duration::from_secs(args.ready_timeout);
    for (b, bin) in backends.iter().zip(bins) {
        let name = b.svc.name();
        services.push(Service::spawn(
            name,
            bin,
            env,
            logs.join(format!("{name}.log")),
        )?);
    }
    eprintln!("marketsync: started connector, monitor and knowledge; waiting until ready");
    for b in backends {
        let url = format!("http://{}/readyz", reachable(b.http));
        wait_ready(b.svc.name(), &url, services, timeout).await?;
    }
    services.push(Service::spawn(
        "gateway",
        gateway_bin,
        env,
        logs.join("gateway.log"),
    )?);
    let gateway = reachable(args.gateway_addr);
    wait_ready(
        "gateway",
        &format!("http://{gateway}/readyz"),
        services,
        timeout,
    )
    .await?;
    eprintln!("marketsync: all services are ready");

    let api_base = format!("http://{gateway}");
    let key = demo_key(&args.db.database_url, &args.state_dir, &api_base).await?;
    if !demo_stores.is_empty() {
        let api = Api::new(&api_base, &key)?;
        for store in demo_stores {
            ensure_connection(&api, store).await?;
        }
    }
    Ok(key)
}

/// Addresses of the three back-end services from the environment (defaults of DESIGN.md).
fn backends() -> anyhow::Result<Vec<Backend>> {
    [Svc::Connector, Svc::Monitor, Svc::Knowledge]
        .into_iter()
        .map(|svc| {
            let grpc = svc.grpc_addr()?;
            let http = svc.http_addr()?;
            let grpc_url = config::var(&svc.grpc_url_var())
                .unwrap_or_else(|| format!("http://{}", reachable(grpc)));
            Ok(Backend {
                svc,
                grpc,
                http,
                grpc_url,
            })
        })
        .collect()
}

/// The environment every service gets on top of ours: the addresses (so they agree with what
/// we probe), the database, NATS, and a shared master key.
fn service_env(
    args: &UpArgs,
    backends: &[Backend],
    nats_url: &str,
) -> anyhow::Result<Vec<(String, OsString)>> {
    let mut env: Vec<(String, OsString)> = vec![
        (
            config::DATABASE_URL.into(),
            args.db.database_url.clone().into(),
        ),
        (config::NATS_URL.into(), nats_url.into()),
        (
            config::GATEWAY_ADDR.into(),
            args.gateway_addr.to_string().into(),
        ),
    ];
    for b in backends {
        env.push((b.svc.grpc_addr_var(), b.grpc.to_string().into()));
        env.push((b.svc.http_addr_var(), b.http.to_string().into()));
        env.push((b.svc.grpc_url_var(), b.grpc_url.clone().into()));
    }
    if config::var(config::MASTER_KEY).is_none() {
        let path = config::var(config::MASTER_KEY_FILE)
            .map(PathBuf::from)
            .unwrap_or_else(|| args.state_dir.join("dev-master.key"));
        eprintln!(
            "marketsync: warning: MARKETSYNC_MASTER_KEY is not set; the services share the \
             development key in {} (set your own key in production)",
            path.display()
        );
        let key = dev_master_key(&path)?;
        env.push((config::MASTER_KEY.into(), key.into()));
    }
    // Logs in files are read by people: text without colour codes, unless asked otherwise.
    if config::var(config::LOG_FORMAT).is_none() {
        env.push((config::LOG_FORMAT.into(), "text".into()));
    }
    if std::env::var_os("NO_COLOR").is_none() {
        env.push(("NO_COLOR".into(), "1".into()));
    }
    Ok(env)
}

/// Reads the development master key at `path`, generating it (mode 0600) when missing.
fn dev_master_key(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = text.trim().to_string();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    let key = marketsync_common::crypto::generate_key_b64();
    write_private(path, &key)?;
    eprintln!("marketsync: generated {}", path.display());
    Ok(key)
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut f, contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// True when something accepts TCP connections at `addr`.
fn port_answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Fails clearly when no NATS server listens at the (first) address of `url`.
fn check_nats(url: &str) -> anyhow::Result<()> {
    let first = url.split(',').next().unwrap_or(url).trim();
    let hostport = first.split_once("://").map_or(first, |(_, rest)| rest);
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, hp)| hp);
    let hostport = hostport.trim_end_matches('/');
    let hostport = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:4222")
    };
    let reachable = hostport
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
        })
        .unwrap_or(false);
    if !reachable {
        bail!(
            "NATS is not reachable at {hostport} (NATS_URL); start `nats-server -js` \
             (scripts/quickstart does)"
        );
    }
    Ok(())
}

/// Polls `url` until it answers 200, failing when a service exits or after `timeout`.
async fn wait_ready(
    name: &str,
    url: &str,
    services: &mut [Service],
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        for s in services.iter_mut() {
            if let Some(status) = s.try_wait()? {
                bail!(
                    "{} exited during start-up ({status}); its log is {}:\n{}",
                    s.name,
                    s.log.display(),
                    indent(&s.log_tail(20))
                );
            }
        }
        if let Ok(resp) = client.get(url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let log = services
                .iter()
                .find(|s| s.name == name)
                .map(|s| (s.log.display().to_string(), s.log_tail(20)))
                .unwrap_or_default();
            bail!(
                "{name} did not become ready within {}s (GET {url}); its log is {}:\n{}",
                timeout.as_secs(),
                log.0,
                indent(&log.1)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The demo tenant's admin key: the stored one while the gateway still accepts it, else a new
/// one (stored for the next run).
async fn demo_key(database_url: &str, state: &Path, api_base: &str) -> anyhow::Result<String> {
    let path = state.join("demo-api-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = text.trim().to_string();
        if !key.is_empty() {
            let api = Api::new(api_base, &key)?;
            match api.get::<Value>("/api/v1/connections").await {
                Ok(_) => return Ok(key),
                Err(e) => match e.downcast_ref::<ApiError>() {
                    Some(a) if a.status.as_u16() == 401 || a.status.as_u16() == 403 => {
                        eprintln!(
                            "marketsync: the stored demo API key is no longer valid; creating a new one"
                        );
                    }
                    _ => return Err(e.context("cannot check the stored demo API key")),
                },
            }
        }
    }
    let pool = admin::gateway_pool(database_url).await?;
    let tenant = admin::create_tenant(&pool, DEMO_TENANT).await?;
    let key = admin::create_key(&pool, tenant, "admin", DEMO_KEY_NAME).await?;
    pool.close().await;
    write_private(&path, &key)?;
    Ok(key)
}

/// Creates the demo connection to a simulated store unless one of that name exists.
async fn ensure_connection(api: &Api, store: &stores::DemoStore) -> anyhow::Result<()> {
    let name = store.connection_name();
    let list: Value = api.get("/api/v1/connections").await?;
    let exists = list_items(&list)
        .iter()
        .any(|c| c.get("name").and_then(Value::as_str) == Some(name.as_str()));
    if exists {
        return Ok(());
    }
    let body = json!({
        "name": name,
        "platform": store.platform,
        "credentials": store.credentials,
        "settings": store.settings,
    });
    let created: Value = api
        .post("/api/v1/connections", &body)
        .await
        .with_context(|| format!("cannot create the demo {} connection", store.name))?;
    let id = created
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the gateway created the connection but returned no id"))?;
    eprintln!("marketsync: created connection {name} ({id})");
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (a closed terminal).
async fn stop_signal() {
    #[cfg(unix)]
    let hup = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let hup = std::future::pending::<()>();
    tokio::select! {
        _ = marketsync_common::shutdown_signal() => {},
        _ = hup => {},
    }
}

/// Indents every line by two spaces (log excerpts inside messages).
fn indent(text: &str) -> String {
    if text.is_empty() {
        return "  (empty)".to_string();
    }
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_url_forms_are_understood() {
        // Nothing listens on port 1: the message must name the host and port it tried.
        let e = check_nats("nats://user:pw@127.0.0.1:1").expect_err("unreachable");
        let msg = e.to_string();
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        assert!(!msg.contains("pw"), "{msg}");
    }

    #[test]
    fn private_files_are_owner_only() {
        let dir = std::env::temp_dir().join(format!("ms-cli-up-{}", std::process::id()));
        let f = dir.join("sub/secret");
        write_private(&f, "x").expect("write");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
