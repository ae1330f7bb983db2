//! The index in this process: `bulwark-server`'s router (every route of
//! `bulwark serve`: uploads, transactions, TUF metadata and targets) over
//! the benchmark repository's stores, on a loopback port, with a log of
//! the requests it answered. The publisher is not started here: callers
//! run it themselves (`claimed_bytes` between steps, `transactions` as a
//! task woken by the handlers, as `bulwark_server::serve` does).
//!
//! ```text
//! reqwest / bulwark-client ─HTTP─▶ record (path, status) ─▶ bulwark_server::router(AppState)
//!                                                             └▶ repo.store, repo.blobs
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bulwark_server::{AppState, ServerConfig};

use crate::repo::BenchRepo;

/// One request the index answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The URL path.
    pub path: String,
    /// The response status.
    pub status: u16,
}

type Log = Arc<Mutex<Vec<Served>>>;

/// The running index; stops when dropped.
pub struct Index {
    runtime: Option<tokio::runtime::Runtime>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The handlers' state (its `publish` wakes a publisher task).
    pub state: AppState,
    log: Log,
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Served { path, status });
    response
}

impl Index {
    /// Serves `repo` with the server's default configuration.
    pub fn start(repo: &BenchRepo) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let state = AppState {
            store: repo.store.clone(),
            blobs: repo.blobs.clone(),
            config: Arc::new(ServerConfig::default()),
            publish: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::default(),
            upstream: None,
        };
        let log: Log = Arc::default();
        let router = bulwark_server::router(state.clone())
            .layer(axum::middleware::from_fn_with_state(log.clone(), record));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("cannot listen on 127.0.0.1")?;
        let base = format!("http://{}", listener.local_addr()?);
        runtime.spawn(async move { axum::serve(listener, router).await });
        bulwark_client::fetch::install_crypto_provider();
        Ok(Self {
            runtime: Some(runtime),
            base,
            state,
            log,
        })
    }

    /// The runtime the index runs on.
    ///
    /// # Panics
    ///
    /// Never: the runtime is only taken when the index is dropped.
    #[must_use]
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        #[expect(clippy::expect_used, reason = "present until drop")]
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `future` to completion on the index's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// The requests answered since the last call, in order.
    pub fn take_log(&self) -> Vec<Served> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
