//! The index over HTTP (axum): the simple API, uploads, yanking, file
//! downloads, TUF metadata and targets, and the publisher task.
//!
//! ```text
//! GET  /, /search, /project/<name>/, /status/
//!                                     web/: the HTML pages for people (askama templates)
//! GET  /simple/, /simple/<name>/      bulwark_http::simple over simple::LivePages
//!                                     (live, same renderer as the signed page)
//! GET  /pypi/<name>[/<version>]/json json_api.rs: PyPI's JSON API, from the same
//!                                     page as /simple/<name>/ (LivePages::project_page)
//! POST /legacy/                       upload.rs  ─▶ StateStore::add_file ─▶ wake publisher
//! POST /api/projects/<n>/transaction  transaction.rs ─▶ transaction::check ─▶
//!                                     StateStore::record_transaction ─▶ wake publisher
//! POST /api/projects/<n>/<v>/yank     yank.rs    ─▶ StateStore::set_yanked ─▶ wake publisher
//! GET|POST /api/projects/<n>/owners, DELETE …/owners/<user>
//!                                     owners.rs  ─▶ StateStore::add_owner / remove_owner
//! GET  /tuf/metadata/timestamp.json   the latest committed timestamp, from the StateStore
//! GET  /metrics, /healthz, /readyz    metrics.rs (/metrics optionally on a listener of its own)
//! GET  /files/<sha256>/<file>[.metadata], /tuf/metadata/*, /tuf/targets/*
//!                                     bulwark_http::blobs over the BlobStore
//! publisher.rs: Publisher::run_once on wake-up or timer, one at a time
//! every request, read_access = "token": auth::require_read_token (one layer)
//! ```

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use bulwark_http::{ApiError, blocking};
use bulwark_layout as layout;
use tower_http::timeout::TimeoutLayer;

pub mod auth;
pub mod json_api;
pub mod metrics;
pub mod owners;
pub mod publisher;
pub mod receive;
pub mod release;
pub mod simple;
pub mod state;
pub mod transaction;
pub mod upload;
pub mod upstream;
pub mod web;
pub mod yank;

pub use state::{AppState, ReadAccess, ServerConfig};

/// The index's URL as the client reached it, `http://<Host>`, when the
/// `Host` header is a plain host and port: what the web pages show and
/// the JSON API makes its URLs absolute with. `None` otherwise.
fn origin(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!("http://{h}"))
}

/// Serves only the distribution files the index recorded (see
/// [`bulwark_repo::gc::is_recorded_file`]).
fn recorded_files(store: Arc<dyn bulwark_store::StateStore>) -> bulwark_http::blobs::FileFilter {
    Arc::new(move |key| bulwark_repo::gc::is_recorded_file(store.as_ref(), key))
}

/// Serves the recorded upstream files not stored yet from their upstream.
fn upstream_files(upstream: Arc<upstream::Upstream>) -> bulwark_http::blobs::FileFallback {
    Arc::new(move |key| {
        let upstream = upstream.clone();
        Box::pin(async move { upstream.file(&key).await })
    })
}

/// `GET /tuf/metadata/timestamp.json`, the one mutable file, from the
/// state store (the record the last fenced `commit_publish` wrote): every
/// server of an index sharing one database serves the same, latest
/// timestamp, and no deposed publisher can replace it (ARCHITECTURE.md,
/// "Many servers, one publisher").
async fn timestamp(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    match blocking(move || store.latest_timestamp()).await {
        Ok(Some(bytes)) => {
            let length = bytes.len() as u64;
            let kind = bulwark_http::blobs::Kind {
                content_type: "application/json",
                mutable: true,
            };
            Ok(bulwark_http::blobs::respond(
                Body::from(bytes),
                kind,
                Some(length),
            ))
        }
        Ok(None) => Err(ApiError::not_found()),
        Err(e) => Err(ApiError::internal("reading the timestamp", &e)),
    }
}

/// The router with every route of the index.
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config.max_upload_bytes;
    let timeout = state.config.request_timeout;
    let pages = Arc::new(simple::LivePages::new(&state));
    let upload_slots = Arc::new(tokio::sync::Semaphore::new(
        state.config.max_concurrent_uploads,
    ));
    // Outermost first: an oversized body is refused before it takes a slot.
    let guarded = |route: axum::routing::MethodRouter<AppState>| {
        route
            .layer(DefaultBodyLimit::max(upload_limit))
            .layer(axum::middleware::from_fn_with_state(
                upload_slots.clone(),
                upload::limit_concurrent,
            ))
            .layer(axum::middleware::from_fn_with_state(
                upload_limit,
                upload::refuse_oversized,
            ))
    };
    let upload_route = guarded(post(upload::upload)).layer(axum::middleware::from_fn_with_state(
        state.metrics.clone(),
        metrics::count_uploads,
    ));
    let mut routes = Router::new()
        .merge(web::router())
        .merge(bulwark_http::simple::router(pages))
        .route("/pypi/{name}/json", get(json_api::project))
        .route("/pypi/{name}/{version}/json", get(json_api::release))
        // `/legacy` too: twine users type it without the slash.
        .route("/legacy/", upload_route.clone())
        .route("/legacy", upload_route)
        .route(
            "/api/projects/{name}/transaction",
            guarded(post(transaction::transaction)),
        )
        .route("/api/projects/{name}/{version}/yank", post(yank::yank))
        .route("/api/projects/{name}/{version}/unyank", post(yank::unyank))
        .route(
            "/api/projects/{name}/owners",
            get(owners::list).post(owners::add),
        )
        .route(
            "/api/projects/{name}/owners/{user}",
            axum::routing::delete(owners::remove),
        )
        .route(&format!("/{}", layout::TIMESTAMP_KEY), get(timestamp))
        .merge(bulwark_http::blobs::router(
            state.blobs.clone(),
            Some(recorded_files(state.store.clone())),
            state.upstream.clone().map(upstream_files),
        ))
        .merge(health_routes());
    if !state.config.separate_metrics {
        routes = routes.route("/metrics", get(metrics::metrics));
    }
    // One layer over every route, present and future, so that no page can
    // be added that a private index would serve to anyone.
    if state.config.read_access == ReadAccess::Token {
        routes = routes.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_read_token,
        ));
    }
    routes
        .route_layer(axum::middleware::from_fn(metrics::route_of))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count_requests,
        ))
        .layer(axum::middleware::from_fn(bulwark_http::log_request))
        .with_state(state)
}

/// `/healthz` and `/readyz`, on the index's listener and the metrics one.
fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
}

/// The router of a separate metrics listener: `/metrics` with the health
/// checks.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .merge(health_routes())
        .with_state(state)
}

/// Serves `state` on `listener` (and `/metrics` on `metrics_listener`
/// when given) with the publisher running beside it, until `shutdown`
/// completes; then releases the publisher lease, so that a standby server
/// takes over at once. The publisher publishes while this process holds
/// `lease` (see [`publisher::Lease`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
    publisher: Arc<bulwark_repo::Publisher>,
    lease: publisher::Lease,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let wake = state.publish.clone();
    let (interval, retention) = (
        state.config.publish_interval,
        state.config.snapshot_retention,
    );
    if state.config.shared_state {
        tokio::spawn(publisher::forward_changes(
            state.store.clone(),
            wake.clone(),
        ));
    }
    tokio::spawn(publisher::run(
        publisher,
        state.metrics.clone(),
        lease.watch(),
        wake,
        interval,
        retention,
    ));
    let limits = state.config.connections;
    if let Some(metrics_listener) = metrics_listener {
        if let Ok(address) = metrics_listener.local_addr() {
            tracing::info!(%address, "serving /metrics, /healthz and /readyz");
        }
        let router = metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = bulwark_http::listen::serve(metrics_listener, router, limits).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
    }
    let served = tokio::select! {
        served = bulwark_http::listen::serve(listener, router(state), limits) => served,
        () = shutdown => Ok(()),
    };
    lease.release().await;
    served
}
