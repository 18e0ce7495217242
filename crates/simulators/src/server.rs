//! The HTTP server task every simulator runs: serves until stopped, or until dropped.

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
