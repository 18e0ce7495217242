//! Integration tests of the `marketsync` binary: help texts, migrations and administration
//! against a fresh PostgreSQL database, the simulators command, `health`, and `sync` against a
//! stand-in gateway that speaks the REST and SSE contract of DESIGN.md.

mod fake_gateway;

use std::process::Output;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_marketsync");
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The binary with an environment free of the caller's marketsync settings.
fn marketsync() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "MARKETSYNC_API_URL",
        "MARKETSYNC_API_KEY",
        "MARKETSYNC_GATEWAY_ADDR",
    ] {
        cmd.env_remove(var);
    }
    cmd.kill_on_drop(true);
    cmd
}

async fn run(cmd: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("command timed out")
        .expect("command runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn help_lists_every_subcommand() {
    let out = run(marketsync().arg("--help")).await;
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in [
        "up",
        "migrate",
        "tenant",
        "key",
        "simulators",
        "sync",
        "health",
    ] {
        assert!(
            text.contains(&format!("\n  {sub} ")),
            "{sub} missing in:\n{text}"
        );
    }
    for (args, flags) in [
        (
            &["up", "--help"][..],
            &["--gateway-addr", "--no-simulators", "--demo-products"][..],
        ),
        (
            &["sync", "--help"][..],
            &[
                "--operations",
                "--full",
                "--sku",
                "--since",
                "--api-url",
                "--api-key",
                "MARKETSYNC_API_KEY",
            ][..],
        ),
        (
            &["simulators", "--help"][..],
            &["--listen", "--bigcommerce-port", "--products", "--seed"][..],
        ),
        (
            &["key", "create", "--help"][..],
            &[
                "--tenant", "--role", "merchant", "operator", "admin", "--name",
            ][..],
        ),
    ] {
        let out = run(marketsync().args(args)).await;
        assert!(out.status.success(), "{args:?}");
        let text = stdout(&out);
        for f in flags {
            assert!(text.contains(f), "{f} missing in {args:?}:\n{text}");
        }
    }
}

/// A database name no other test uses; dropped by [`drop_database`].
fn fresh_database() -> (String, String) {
    let name = format!("ms_cli_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    (name, url)
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    if let Ok(mut c) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
        let _ = c.close().await;
    }
}

#[tokio::test]
async fn migrate_tenants_and_keys_against_a_fresh_database() {
    let (name, url) = fresh_database();

    let out = run(marketsync().arg("migrate").env("DATABASE_URL", &url)).await;
    assert!(out.status.success(), "migrate failed: {}", stderr(&out));
    let text = stdout(&out);
    for schema in ["connector", "monitor", "knowledge", "gateway"] {
        assert!(text.contains(schema), "{schema} missing in:\n{text}");
    }
    // Idempotent.
    let again = run(marketsync().args(["migrate", "--database-url", &url])).await;
    assert!(again.status.success(), "{}", stderr(&again));

    // tenant create is idempotent by name.
    let first = run(marketsync()
        .args(["tenant", "create", "acme"])
        .env("DATABASE_URL", &url))
    .await;
    assert!(first.status.success(), "{}", stderr(&first));
    let id = stdout(&first).trim().to_string();
    uuid::Uuid::parse_str(&id).expect("tenant create prints a uuid");
    let second = run(marketsync()
        .args(["tenant", "create", "acme"])
        .env("DATABASE_URL", &url))
    .await;
    assert!(second.status.success());
    assert_eq!(stdout(&second).trim(), id);

    let list = run(marketsync()
        .args(["tenant", "list"])
        .env("DATABASE_URL", &url))
    .await;
    assert!(list.status.success());
    let text = stdout(&list);
    assert!(text.contains(&id) && text.contains("acme"), "{text}");

    // key create by name and by id.
    for (tenant, role) in [("acme", "operator"), (id.as_str(), "merchant")] {
        let out = run(marketsync()
            .args([
                "key", "create", "--tenant", tenant, "--role", role, "--name", "ci",
            ])
            .env("DATABASE_URL", &url))
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let key = stdout(&out).trim().to_string();
        assert!(key.starts_with("msk_"), "{key}");
        assert!(!stderr(&out).contains(&key), "the key must appear once");
    }

    // Unknown tenants and roles fail clearly.
    let missing = run(marketsync()
        .args(["key", "create", "--tenant", "nope", "--role", "admin"])
        .env("DATABASE_URL", &url))
    .await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("tenant create nope"),
        "{}",
        stderr(&missing)
    );
    let bad_role = run(marketsync()
        .args(["key", "create", "--tenant", "acme", "--role", "root"])
        .env("DATABASE_URL", &url))
    .await;
    assert!(!bad_role.status.success());

    drop_database(&name).await;
}

#[tokio::test]
async fn simulators_print_their_url_and_serve_demo_data() {
    let mut child = marketsync()
        .args(["simulators", "--bigcommerce-port", "0", "--products", "5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut text = String::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            text.push_str(&line);
            text.push('\n');
            if let Some(url) = line.trim().strip_prefix("base_url:") {
                return url.trim().to_string();
            }
        }
        panic!("no base_url line in:\n{text}")
    })
    .await
    .expect("simulators print their URL");
    let token = "bc-demo-token";
    marketsync_common::install_crypto_provider();
    let resp = reqwest::Client::new()
        .get(format!("{base}/stores/demo-store/v3/catalog/products"))
        .header("X-Auth-Token", token)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(5), "{body}");
    let _ = child.kill().await;
}

#[tokio::test]
async fn health_answers_with_the_exit_code() {
    let gw = fake_gateway::start(fake_gateway::Script::Completes).await;
    let ok = run(marketsync().args(["health", &format!("{}/readyz", gw.url)])).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = run(marketsync().args(["health", &format!("{}/unhealthy", gw.url)])).await;
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("503"), "{}", stderr(&bad));
    let down =
        run(marketsync().args(["health", "--timeout", "2", "http://127.0.0.1:1/readyz"])).await;
    assert!(!down.status.success());
}

async fn sync_with(
    script: fake_gateway::Script,
    extra: &[&str],
) -> (Output, fake_gateway::FakeGateway) {
    let gw = fake_gateway::start(script).await;
    let out = run(marketsync()
        .args(["sync", fake_gateway::CONNECTION_ID, "--api-url", &gw.url])
        .args(extra)
        .env("MARKETSYNC_API_KEY", fake_gateway::API_KEY))
    .await;
    (out, gw)
}

#[tokio::test]
async fn sync_follows_events_to_completion() {
    let (out, gw) = sync_with(
        fake_gateway::Script::Completes,
        &[
            "--operations",
            "import_products,import_inventory",
            "--full",
            "--sku",
            "A",
            "--sku",
            "B",
        ],
    )
    .await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    // Plain progress lines when stdout is not a terminal, only for our sync.
    assert!(
        text.contains("progress 30/60 import_products imported=30"),
        "{text}"
    );
    assert!(!text.contains("other-sync"), "{text}");
    assert!(
        text.contains("sync s-1 completed: failed=0 imported=60"),
        "{text}"
    );
    let body = gw.last_sync_request().expect("a sync was requested");
    assert_eq!(
        body,
        serde_json::json!({
            "operations": ["import_products", "import_inventory"],
            "force_full": true,
            "filters": {"skus": ["A", "B"]}
        })
    );
}

#[tokio::test]
async fn sync_reports_failures_with_exit_code_1() {
    let (out, _gw) = sync_with(fake_gateway::Script::Fails, &[]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("sync s-1 failed"), "{text}");
    assert!(text.contains("error: bigcommerce answered 401"), "{text}");
}

#[tokio::test]
async fn sync_polls_when_the_stream_is_silent() {
    let (out, gw) = sync_with(fake_gateway::Script::Silent, &["--poll-after", "1"]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("sync s-1 completed: imported=7"), "{text}");
    assert!(gw.polls() >= 2);
}

#[tokio::test]
async fn sync_with_a_wrong_key_fails_clearly_without_echoing_it() {
    let gw = fake_gateway::start(fake_gateway::Script::Completes).await;
    let out = run(marketsync()
        .args(["sync", fake_gateway::CONNECTION_ID, "--api-url", &gw.url])
        .args(["--api-key", "msk_wrong_secret"]))
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("msk_wrong_secret") && !stdout(&out).contains("msk_wrong_secret"));
}

#[tokio::test]
async fn sync_accepts_a_connection_name() {
    let gw = fake_gateway::start(fake_gateway::Script::Completes).await;
    let out = run(marketsync()
        .args(["sync", "demo-bigcommerce", "--api-url", &gw.url])
        .env("MARKETSYNC_API_KEY", fake_gateway::API_KEY))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let unknown = run(marketsync()
        .args(["sync", "nope", "--api-url", &gw.url])
        .env("MARKETSYNC_API_KEY", fake_gateway::API_KEY))
    .await;
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("demo-bigcommerce"),
        "{}",
        stderr(&unknown)
    );
}

/// Every platform `marketsync up` simulates, BigCommerce first.
const SIMULATED: &[&str] = &[
    "bigcommerce",
    "shopify",
    "woocommerce",
    "magento",
    "prestashop",
    "opencart",
    "amazon",
    "ebay",
    "mirakl",
    "cdiscount",
    "backmarket",
    "refurbed",
];

/// A port free at the time of asking.
/// A free port below the kernel's ephemeral range (32768 and up), handed out once per process,
/// so no port-0 listener or outgoing connection can take it before `up` binds it.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 1_000) as u16 * 12,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        let p = 20_000 + (p - 20_000) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Runs `marketsync up <args>` until it prints its summary; returns the child, the gateway URL
/// and the API key it printed.
async fn start_up(
    state: &std::path::Path,
    env: &[(String, String)],
    args: &[&str],
) -> (tokio::process::Child, String, String) {
    let mut cmd = marketsync();
    cmd.arg("up")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MARKETSYNC_MASTER_KEY")
        .env_remove("MARKETSYNC_MASTER_KEY_FILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped());
    let stderr_log = state.join("up-stderr.log");
    std::fs::create_dir_all(state).expect("state dir");
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&stderr_log)
        .expect("stderr log");
    cmd.stderr(err);
    for svc in ["CONNECTOR", "MONITOR", "KNOWLEDGE"] {
        cmd.env_remove(format!("MARKETSYNC_{svc}_GRPC_URL"));
    }
    let mut child = cmd.spawn().expect("spawn up");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (gateway, key) = tokio::time::timeout(Duration::from_secs(180), async {
        let mut gateway = String::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(g) = line.strip_prefix("Gateway: ") {
                gateway = g.to_string();
            }
            if let Some(k) = line.strip_prefix("API key: ") {
                return (gateway, k.to_string());
            }
        }
        panic!(
            "up ended without printing its API key:\n{}",
            std::fs::read_to_string(&stderr_log).unwrap_or_default()
        )
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "up printed no summary within 3 minutes:\n{}",
            std::fs::read_to_string(&stderr_log).unwrap_or_default()
        )
    });
    // Keep draining stdout (the hint line) so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, gateway, key)
}

/// SIGTERM, then the exit status within 30 s.
async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("up stops within 30 s of SIGTERM")
        .expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_everything_and_a_sync_completes() {
    let dir = std::path::Path::new(BIN)
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let missing: Vec<&str> = [
        "marketsync-connector",
        "marketsync-monitor",
        "marketsync-knowledge",
        "marketsync-gateway",
    ]
    .into_iter()
    .filter(|b| !dir.join(b).is_file())
    .collect();
    if !missing.is_empty() {
        eprintln!("skipping: {missing:?} not built next to {BIN} (cargo build --bins builds them)");
        return;
    }

    let (db_name, db_url) = fresh_database();
    let prefix = format!("mscli{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let state = std::env::temp_dir().join(format!("ms-cli-up-{}", uuid::Uuid::new_v4().simple()));
    let gateway_port = free_port();
    let sim_port = free_port();
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".to_string(), db_url.clone()),
        ("MARKETSYNC_SUBJECT_PREFIX".to_string(), prefix.clone()),
        (
            "MARKETSYNC_GATEWAY_ADDR".to_string(),
            format!("127.0.0.1:{gateway_port}"),
        ),
    ];
    for svc in ["CONNECTOR", "MONITOR", "KNOWLEDGE"] {
        for kind in ["GRPC", "HTTP"] {
            env.push((
                format!("MARKETSYNC_{svc}_{kind}_ADDR"),
                format!("127.0.0.1:{}", free_port()),
            ));
        }
    }
    let sim = sim_port.to_string();
    // Every other simulator on a free port too (the defaults 8802-8812 may be taken).
    let others: Vec<(String, String)> = SIMULATED[1..]
        .iter()
        .map(|p| (format!("--{p}-port"), free_port().to_string()))
        .collect();
    let mut up_args: Vec<&str> = vec!["--bigcommerce-port", &sim, "--demo-products", "8"];
    for (flag, port) in &others {
        up_args.push(flag);
        up_args.push(port);
    }

    let (mut up, gateway, key) = start_up(&state, &env, &up_args).await;
    assert_eq!(gateway, format!("http://127.0.0.1:{gateway_port}"));
    assert!(key.starts_with("msk_"), "{key}");
    assert_eq!(
        std::fs::read_to_string(state.join("demo-api-key"))
            .expect("key file")
            .trim(),
        key
    );
    assert!(state.join("dev-master.key").is_file());
    for svc in ["connector", "monitor", "knowledge", "gateway"] {
        assert!(state.join(format!("logs/{svc}.log")).is_file(), "{svc} log");
    }

    // The demo connection exists, points at the simulator, and a sync of it completes.
    marketsync_common::install_crypto_provider();
    let http = reqwest::Client::new();
    let list: serde_json::Value = http
        .get(format!("{gateway}/api/v1/connections"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let text = list.to_string();
    for platform in SIMULATED {
        assert!(text.contains(&format!("demo-{platform}")), "{text}");
    }
    assert!(
        text.contains(&format!("http://127.0.0.1:{sim_port}")),
        "{text}"
    );
    assert!(
        !text.contains("bc-demo-token"),
        "credentials come back masked: {text}"
    );

    let out = run(marketsync()
        .args([
            "sync",
            "demo-bigcommerce",
            "--operations",
            "import_products",
        ])
        .args(["--api-url", &gateway])
        .env("MARKETSYNC_API_KEY", &key))
    .await;
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("completed"), "{}", stdout(&out));

    assert!(terminate(&mut up).await.success());

    // A second run reuses the key and does not duplicate the connection.
    let (mut again, _, key2) = start_up(&state, &env, &up_args).await;
    assert_eq!(key2, key);
    let list: serde_json::Value = http
        .get(format!("{gateway}/api/v1/connections"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list.to_string().matches("demo-bigcommerce").count(),
        1,
        "{list}"
    );
    assert!(terminate(&mut again).await.success());

    let _ = std::fs::remove_dir_all(&state);
    drop_database(&db_name).await;
    delete_streams(&prefix).await;
}

/// Removes the JetStream streams the services created under a test's subject prefix.
async fn delete_streams(prefix: &str) {
    use marketsync_common::bus::{Bus, FAMILIES};
    let url = marketsync_common::config::nats_url();
    if let Ok(bus) = Bus::connect(&url, prefix, "cli-test").await {
        for (family, _) in FAMILIES {
            let _ = bus.js.delete_stream(bus.stream_name(family)).await;
        }
    }
}
