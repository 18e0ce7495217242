//! Child processes of `marketsync up`: spawning the service binaries with their environment and
//! a log file each, watching them, and stopping them (SIGTERM, then kill after a grace period).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// One spawned service.
#[derive(Debug)]
pub struct Service {
    /// Short name: `connector`, `monitor`, `knowledge`, `gateway`.
    pub name: &'static str,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
    child: Child,
}

/// The binary `name`: next to the running executable when there, else looked up on PATH.
pub fn locate_binary(name: &str) -> anyhow::Result<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "cannot find {file} next to this executable nor on PATH; build the services with \
         `cargo build --release --bins` (scripts/quickstart does) and run target/release/marketsync"
    )
}

impl Service {
    /// Spawns `binary` as service `name`, with `env` added to the inherited environment and its
    /// output appended to `log` (truncated first).
    ///
    /// The child gets its own process group so that a Ctrl-C in the terminal reaches only us and
    /// we stop the services in order; `kill_on_drop` covers our own early exits.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        env: &[(String, OsString)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create the log file {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open the log file {}", log.display()))?;
        let mut cmd = Command::new(binary);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Self { name, log, child })
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Waits for the process to end.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Process id while running.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Asks the process to stop (SIGTERM on Unix; a kill elsewhere).
    pub fn terminate(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            // `kill` keeps us free of unsafe FFI; it is in every Unix base system.
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if sent {
                return;
            }
        }
        let _ = self.child.start_kill();
    }

    /// Stops the process: SIGTERM, then a kill when it has not ended after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.terminate();
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "marketsync: {} did not stop within {}s, killing it",
                self.name,
                grace.as_secs()
            );
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }

    /// The last `n` lines of the log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

/// The last `n` lines of a file (empty when unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Stops every service concurrently (SIGTERM, kill after `grace`), the gateway first since it
/// depends on the others.
pub async fn stop_all(services: &mut [Service], grace: Duration) {
    for s in services.iter_mut().filter(|s| s.name == "gateway") {
        s.stop(grace).await;
    }
    futures::future::join_all(services.iter_mut().map(|s| s.stop(grace))).await;
}

/// Waits until one of the services ends; returns its index and status. Never returns while all
/// run (pending forever on an empty list).
pub async fn first_exit(services: &mut [Service]) -> (usize, std::io::Result<ExitStatus>) {
    if services.is_empty() {
        return std::future::pending().await;
    }
    let waits = services
        .iter_mut()
        .map(|s| Box::pin(s.wait()))
        .collect::<Vec<_>>();
    let (status, index, _) = futures::future::select_all(waits).await;
    (index, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_takes_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("ms-cli-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("x.log");
        std::fs::write(&f, "a\nb\nc\n").expect("write");
        assert_eq!(tail(&f, 2), "b\nc");
        assert_eq!(tail(&f, 10), "a\nb\nc");
        assert_eq!(tail(&dir.join("missing"), 3), "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
