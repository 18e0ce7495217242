//! The HTTP server task every simulator runs: serves until stopped, or until dropped.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A simulator's server task.
#[derive(Debug)]
pub(crate) struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `app` on `listener` in a tokio task; `name` labels its log lines.
    pub(crate) fn serve(
        listener: tokio::net::TcpListener,
        app: Router,
        name: &'static str,
    ) -> Self {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, simulator = name, "simulator stopped with an error");
            }
        });
        tracing::info!(addr = ?addr, simulator = name, "simulator listening");
        Self {
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits (briefly) for the task to end.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A running simulator of the platform `P` marks: stops when [`Running::stop`] is called or
/// when dropped. Each platform module names its own as `RunningSimulator` (with methods of its
/// own where it has more URLs to tell).
pub struct Running<P> {
    /// Address it listens on.
    pub addr: SocketAddr,
    server: Server,
    platform: PhantomData<P>,
}

impl<P> std::fmt::Debug for Running<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSimulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<P> Running<P> {
    /// A simulator serving at `addr`.
    pub(crate) fn new(addr: SocketAddr, server: Server) -> Self {
        Self {
            addr,
            server,
            platform: PhantomData,
        }
    }

    /// `http://<addr>`: the value for a connection's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://<addr>/__admin`: the simulator's admin API (faults, stats, demo records).
    pub fn admin_url(&self) -> String {
        format!("{}/__admin", self.base_url())
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
