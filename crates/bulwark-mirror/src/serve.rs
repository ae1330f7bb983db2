//! `bulwark serve --mirror DIR`: a mirror directory served read-only at the
//! index's URLs (DESIGN.md §7). Files, metadata and targets go through
//! `bulwark-server`'s blob handlers; `/simple/<name>/` is the verified signed
//! page of the current snapshot (PEP 691 JSON byte for byte, or PEP 503
//! HTML rendered from it); there are no uploads and no publisher.
//!
//! ```text
//! /files/…, /tuf/metadata/…, /tuf/targets/…  ─▶ bulwark_server::blobs (FsBlobs on DIR)
//! /simple/<name>/ ─▶ View (timestamp ─▶ snapshot ─▶ roles ─▶ page key) ─▶ page bytes
//! /legacy/        ─▶ 405: read-only mirror
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_server::AppState;
use bulwark_server::error::ApiError;
use bulwark_server::negotiate::Format;
use bulwark_server::state::blocking;
use bulwark_store::fs::FsBlobs;

use crate::view::View;

/// Shared state of the mirror's handlers.
#[derive(Clone)]
pub struct MirrorState {
    app: AppState,
    view: Arc<View>,
}

impl FromRef<MirrorState> for AppState {
    fn from_ref(state: &MirrorState) -> Self {
        state.app.clone()
    }
}

const LANDING: &str = "<!DOCTYPE html>\n<html><head><title>Bulwark mirror</title></head><body>\n\
<h1>Bulwark mirror (read-only)</h1>\n\
<p>Install: <code>pip install --index-url /simple/ NAME</code>. Uploads go to the upstream index.</p>\n\
<p>TUF metadata: <code>/tuf/metadata/</code>; targets: <code>/tuf/targets/</code>.</p>\n\
</body></html>\n";

/// Why a directory cannot be served as a mirror.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No `tuf/metadata/timestamp.json`: never synced, or not a mirror.
    #[error(
        "{} is not a mirror: it has no {}; run `bulwark mirror sync` first",
        .0.display(),
        bulwark_layout::TIMESTAMP_KEY
    )]
    NotAMirror(std::path::PathBuf),
    /// The directory could not be opened, or the state set up.
    #[error("cannot open the mirror {}", .0.display())]
    Store(std::path::PathBuf, #[source] bulwark_store::StoreError),
}

/// Opens the mirror directory `dir` for serving (it must hold a timestamp).
pub fn open(dir: &std::path::Path) -> Result<MirrorState, OpenError> {
    if !dir.join(bulwark_layout::TIMESTAMP_KEY).is_file() {
        return Err(OpenError::NotAMirror(dir.to_owned()));
    }
    let store_error = |e| OpenError::Store(dir.to_owned(), e);
    state(Arc::new(FsBlobs::open(dir).map_err(store_error)?)).map_err(store_error)
}

/// The state for serving the mirror directory `blobs`.
pub fn state(blobs: Arc<FsBlobs>) -> Result<MirrorState, bulwark_store::StoreError> {
    // The blob handlers share the index's state type; a mirror has no
    // accounts or records, so an empty in-memory state stands in.
    let store = Arc::new(bulwark_store::sqlite::SqliteState::in_memory()?);
    let app = AppState {
        store,
        blobs,
        config: Arc::new(bulwark_server::ServerConfig::default()),
        publish: Arc::new(tokio::sync::Notify::new()),
    };
    Ok(MirrorState {
        app,
        view: Arc::new(View::default()),
    })
}

/// Every route of the read-only mirror.
pub fn router(state: MirrorState) -> Router {
    Router::new()
        .route("/", get(|| async { Html(LANDING) }))
        .route(
            "/simple",
            get(|| async { bulwark_server::simple::moved_permanently("/simple/") }),
        )
        .route("/simple/", get(index))
        .route("/simple/{name}", get(project_no_slash))
        .route("/simple/{name}/", get(project))
        .route("/legacy/", any(read_only))
        .route("/api/{*rest}", any(read_only))
        .route(
            "/files/{sha256}/{filename}",
            get(bulwark_server::blobs::file),
        )
        .route("/tuf/metadata/{file}", get(bulwark_server::blobs::metadata))
        .route("/tuf/targets/{*path}", get(bulwark_server::blobs::targets))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves `state` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: MirrorState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    response
}

async fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed: this is a read-only mirror; upload to the upstream index",
    )
}

async fn pages(state: &MirrorState) -> Result<Arc<crate::view::Pages>, ApiError> {
    let (view, blobs) = (state.view.clone(), state.app.blobs.clone());
    blocking(move || view.pages(blobs.as_ref()))
        .await
        .map_err(|e| ApiError::internal("reading the mirror", &e))
}

fn respond(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60, public"),
    );
    response
}

/// `GET /simple/`: the projects of the current snapshot.
async fn index(State(state): State<MirrorState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let chosen = bulwark_server::simple::chosen(&headers)?;
    let pages = pages(&state).await?;
    let names: Vec<ProjectName> = pages
        .by_project
        .keys()
        .filter_map(|n| ProjectName::parse(n).ok())
        .collect();
    let body = match chosen.format {
        Format::Json => bulwark_pypi::render_index_json(&names),
        Format::Html => bulwark_pypi::render_index_html(&names).into_bytes(),
    };
    Ok(respond(chosen.content_type, body))
}

async fn project_no_slash(Path(name): Path<String>) -> Response {
    match ProjectName::parse(&name) {
        Ok(name) => {
            bulwark_server::simple::moved_permanently(&format!("/simple/{}/", name.normalized()))
        }
        Err(_) => ApiError::not_found().into_response(),
    }
}

/// `GET /simple/<name>/`: the signed page the current snapshot lists.
async fn project(
    State(state): State<MirrorState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Ok(parsed) = ProjectName::parse(&name) else {
        return Err(ApiError::not_found());
    };
    if parsed.normalized() != name {
        return Ok(bulwark_server::simple::moved_permanently(&format!(
            "/simple/{}/",
            parsed.normalized()
        )));
    }
    let chosen = bulwark_server::simple::chosen(&headers)?;
    let pages = pages(&state).await?;
    let key = pages
        .by_project
        .get(&name)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let blobs = state.app.blobs.clone();
    let bytes = blocking(move || blobs.get(&key))
        .await
        .map_err(|e| ApiError::internal("reading a page", &e))?
        .ok_or_else(ApiError::not_found)?;
    let body = match chosen.format {
        Format::Json => bytes,
        Format::Html => {
            let page = ProjectPage::parse_json(&bytes)
                .map_err(|e| ApiError::internal("reading a page", &e))?;
            bulwark_pypi::render_html(&page).into_bytes()
        }
    };
    Ok(respond(chosen.content_type, body))
}
