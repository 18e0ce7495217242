//! Starts the whole system for a test: the four service binaries as separate processes
//! against the real NATS and PostgreSQL (a fresh database and subject prefix per test), a
//! BigCommerce simulator, a tenant and an admin API key made with the operator CLI.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use marketsync_simulators::bigcommerce::{self, RunningSimulator, SimConfig};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The services, in start order.
pub const SERVICES: &[&str] = &["connector", "monitor", "knowledge", "gateway"];

/// PostgreSQL server URL without a database.
pub fn pg_server() -> String {
    std::env::var("MARKETSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// NATS URL.
pub fn nats_url() -> String {
    std::env::var("MARKETSYNC_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Directory of the workspace's binaries (next to the test executable's `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let p = bin_dir().join(name);
    if !p.exists() {
        bail!(
            "{} is missing: build the binaries first (`cargo build --bins`, scripts/test does)",
            p.display()
        );
    }
    Ok(p)
}

/// A free port below the kernel's ephemeral range (32768 and up), handed out once per process:
/// ports the kernel picks for outgoing connections and port-0 listeners can then never take a
/// port between our check and the service binding it.
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

/// A running system.
pub struct System {
    /// Name of the test (log directory).
    pub name: String,
    /// The test's database URL.
    pub database_url: String,
    /// The test's subject prefix.
    pub prefix: String,
    /// Gateway base URL.
    pub gateway: String,
    /// Admin API key of the test tenant.
    pub api_key: String,
    /// The test tenant.
    pub tenant: String,
    /// The simulator.
    pub sim: RunningSimulator,
    /// The simulator's token (a secret that must never appear in logs).
    pub sim_token: String,
    /// Store hash.
    pub store_hash: String,
    env: HashMap<String, String>,
    children: HashMap<String, Child>,
    log_dir: PathBuf,
    /// HTTP client.
    pub http: reqwest::Client,
}

impl System {
    /// Starts everything with a simulator of `products` demo products.
    pub async fn start(name: &str, sim: SimConfig) -> anyhow::Result<Self> {
        Self::start_with(name, sim, &[]).await
    }

    /// Starts everything with extra environment variables for the services.
    pub async fn start_with(
        name: &str,
        sim: SimConfig,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        marketsync_common::install_crypto_provider();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database_url = format!("{}/ms_e2e_{}", pg_server(), &id[..16]);
        let prefix = format!("t{}", &id[..12]);
        let log_dir = bin_dir().join("e2e-logs").join(name);
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir)?;
        let sim_token = sim.access_token.clone();
        let store_hash = sim.store_hash.clone();
        let sim = bigcommerce::start("127.0.0.1:0".parse()?, sim).await?;
        let gw_port = free_port();
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("DATABASE_URL".into(), database_url.clone());
        env.insert("NATS_URL".into(), nats_url());
        env.insert("MARKETSYNC_SUBJECT_PREFIX".into(), prefix.clone());
        env.insert(
            "MARKETSYNC_MASTER_KEY".into(),
            marketsync_common::crypto::generate_key_b64(),
        );
        env.insert(
            "MARKETSYNC_GATEWAY_ADDR".into(),
            format!("127.0.0.1:{gw_port}"),
        );
        env.insert(
            "MARKETSYNC_LOG".into(),
            "info,marketsync_connectors=debug".into(),
        );
        // The reconciliation poll looks for due connections every second in tests.
        env.insert("MARKETSYNC_SCHEDULE_TICK_SECS".into(), "1".into());
        for (k, v) in extra_env {
            env.insert(k.to_string(), v.to_string());
        }
        for svc in ["CONNECTOR", "MONITOR", "KNOWLEDGE"] {
            let g = free_port();
            env.insert(
                format!("MARKETSYNC_{svc}_GRPC_ADDR"),
                format!("127.0.0.1:{g}"),
            );
            env.insert(
                format!("MARKETSYNC_{svc}_GRPC_URL"),
                format!("http://127.0.0.1:{g}"),
            );
            env.insert(
                format!("MARKETSYNC_{svc}_HTTP_ADDR"),
                format!("127.0.0.1:{}", free_port()),
            );
        }
        let mut sys = Self {
            name: name.into(),
            database_url,
            prefix,
            gateway: format!("http://127.0.0.1:{gw_port}"),
            api_key: String::new(),
            tenant: String::new(),
            sim,
            sim_token,
            store_hash,
            env,
            children: HashMap::new(),
            log_dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        // Migrations through the operator CLI, so services start on a ready database.
        sys.cli(&["migrate"]).await?;
        for s in SERVICES {
            sys.spawn(s).await?;
        }
        for s in SERVICES {
            sys.wait_ready(s).await?;
        }
        sys.tenant = sys
            .cli(&["tenant", "create", "e2e"])
            .await?
            .trim()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        let key_out = sys
            .cli(&[
                "key",
                "create",
                "--tenant",
                &sys.tenant.clone(),
                "--role",
                "admin",
                "--name",
                "e2e-admin",
            ])
            .await?;
        sys.api_key = key_out
            .split_whitespace()
            .find(|w| w.starts_with("msk_"))
            .context("no key in `marketsync key create` output")?
            .to_string();
        Ok(sys)
    }

    /// Runs the operator CLI with this system's environment; returns stdout.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(bin("marketsync")?)
            .args(args)
            .envs(&self.env)
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "marketsync {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts (or restarts) one service.
    pub async fn spawn(&mut self, service: &str) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{service}.log")))?;
        let child = Command::new(bin(&format!("marketsync-{service}"))?)
            .envs(&self.env)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        self.children.insert(service.into(), child);
        Ok(())
    }

    /// Process id of a running service.
    pub fn pid(&self, service: &str) -> Option<u32> {
        self.children.get(service).and_then(|c| c.id())
    }

    /// Kills a service at once (SIGKILL: no graceful shutdown).
    pub async fn kill(&mut self, service: &str) -> anyhow::Result<()> {
        if let Some(mut c) = self.children.remove(service) {
            c.kill().await?;
        }
        Ok(())
    }

    /// The value of a service setting given to the services.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    fn ready_url(&self, service: &str) -> String {
        if service == "gateway" {
            format!("{}/readyz", self.gateway)
        } else {
            format!(
                "http://{}/readyz",
                self.env[&format!("MARKETSYNC_{}_HTTP_ADDR", service.to_uppercase())]
            )
        }
    }

    /// Waits until a service's /readyz answers 200.
    pub async fn wait_ready(&mut self, service: &str) -> anyhow::Result<()> {
        let url = self.ready_url(service);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(c) = self.children.get_mut(service)
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!("{service} exited ({status}); log:\n{}", self.log(service));
            }
            if Instant::now() > deadline {
                bail!(
                    "{service} not ready after 60 s; log:\n{}",
                    self.log(service)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One service's log so far.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.log_dir.join(format!("{service}.log"))).unwrap_or_default()
    }

    /// Every log so far.
    pub fn all_logs(&self) -> String {
        SERVICES
            .iter()
            .map(|s| self.log(s))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Log directory.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// A request to the gateway with the admin key.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.api_as(&self.api_key.clone(), method, path, body).await
    }

    /// A request to the gateway with a given key.
    pub async fn api_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.gateway))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// GET returning 200's body, or an error.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (s, v) = self.api(reqwest::Method::GET, path, None).await?;
        if s != 200 {
            bail!("GET {path}: {s} {v}");
        }
        Ok(v)
    }

    /// Creates a BigCommerce connection to the simulator; returns its JSON.
    /// Creates a connection to any platform; returns its JSON.
    pub async fn connect(
        &self,
        platform: &str,
        name: &str,
        credentials: Value,
        settings: Value,
    ) -> anyhow::Result<Value> {
        let (s, v) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/connections",
                Some(json!({
                    "name": name,
                    "platform": platform,
                    "credentials": credentials,
                    "settings": settings,
                })),
            )
            .await?;
        if s != 201 {
            bail!("create {platform} connection: {s} {v}");
        }
        Ok(v)
    }

    pub async fn connect_bigcommerce(
        &self,
        name: &str,
        extra_settings: Value,
    ) -> anyhow::Result<Value> {
        let mut settings = json!({"base_url": self.sim.base_url()});
        if let (Some(s), Some(e)) = (settings.as_object_mut(), extra_settings.as_object()) {
            s.extend(e.clone());
        }
        let credentials = json!({
            "store_hash": self.store_hash,
            "access_token": self.sim_token,
            "client_id": "e2e-client",
            "client_secret": "e2e-client-secret-value-1234",
        });
        self.connect("bigcommerce", name, credentials, settings)
            .await
    }

    /// Requests a sync; returns its id.
    pub async fn sync(&self, connection: &str, body: Value) -> anyhow::Result<String> {
        let (s, v) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/connections/{connection}/sync"),
                Some(body),
            )
            .await?;
        if s != 202 {
            bail!("sync: {s} {v}");
        }
        Ok(v["sync_id"].as_str().context("sync_id")?.to_string())
    }

    /// Waits until a sync is completed or failed; returns it.
    pub async fn wait_sync(&self, sync_id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, v) = self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/syncs/{sync_id}"),
                    None,
                )
                .await?;
            // 503: a service behind the gateway is restarting (its answer says retry later).
            if s != 200 && !(s == 503 && Instant::now() < deadline) {
                bail!("GET /api/v1/syncs/{sync_id}: {s} {v}");
            }
            match v["status"].as_str() {
                Some("completed") | Some("failed") => return Ok(v),
                _ => {}
            }
            if Instant::now() > deadline {
                bail!("sync {sync_id} not finished after {timeout:?}: {v}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls `f` until it returns `Some`, or fails after `timeout`.
    pub async fn eventually<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A connection to the test database (schema-qualified queries).
    pub async fn db(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await?)
    }

    /// Simulator admin GET.
    pub async fn sim_admin(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.sim.admin_url()))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Simulator admin POST.
    pub async fn sim_admin_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.sim.admin_url()))
            .json(&body)
            .send()
            .await?;
        let text = r.text().await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Stops every service gracefully and drops the test database.
    pub async fn stop(mut self) {
        for (_, mut c) in self.children.drain() {
            if let Some(pid) = c.id() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), c.wait()).await;
            let _ = c.kill().await;
        }
        if std::env::var("MARKETSYNC_E2E_KEEP").is_ok() {
            return;
        }
        // This test's streams go too, so the shared NATS server does not fill up.
        if let Ok(nats) = async_nats::connect(nats_url()).await {
            let js = async_nats::jetstream::new(nats);
            for (family, _) in marketsync_common::bus::FAMILIES {
                let _ = js
                    .delete_stream(format!("{}_{family}", self.prefix.to_uppercase()))
                    .await;
            }
        }
        if let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{}/postgres", pg_server()))
            .await
        {
            let db = self
                .database_url
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
        }
    }
}

/// CPU time and memory of processes, from /proc (the benchmarks' accounting).
pub mod proc {
    /// CPU seconds (user + system) a process has used so far.
    pub fn cpu_secs(pid: u32) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        // Fields after the command name (which may hold spaces) start at the state, field 3.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    /// CPU seconds used so far by every process whose command name is `name` (the PostgreSQL
    /// backends, the NATS server).
    pub fn cpu_secs_named(name: &str) -> f64 {
        cpu_by_pid(name).values().sum()
    }

    /// CPU seconds so far of each process named `name`, by pid.
    pub fn cpu_by_pid(name: &str) -> std::collections::HashMap<u32, f64> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Default::default();
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim() == name)
                    .unwrap_or(false)
            })
            .map(|pid| (pid, cpu_secs(pid)))
            .collect()
    }

    pub fn peak_rss_mb(pid: u32) -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}
