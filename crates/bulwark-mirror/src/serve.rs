//! `bulwark serve --mirror DIR`: a mirror directory served read-only at the
//! index's URLs (DESIGN.md §7), through `bulwark-http` like the index itself.
//! Files, metadata and targets are blobs of the directory; `/simple/<name>/`
//! is the verified signed page of the current snapshot (PEP 691 JSON byte
//! for byte, or PEP 503 HTML rendered from it); there are no uploads and no
//! publisher.
//!
//! ```text
//! /files/…, /tuf/metadata/…, /tuf/targets/…  ─▶ bulwark_http::blobs (FsBlobs on DIR)
//! /simple/<name>/ ─▶ bulwark_http::simple ─▶ MirrorState::page
//!                  ─▶ View (timestamp ─▶ snapshot ─▶ roles ─▶ page key) ─▶ page bytes
//! /legacy/        ─▶ 405: read-only mirror
//! ```

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{any, get};
use bulwark_http::{ApiError, Page, PageSource, blocking};
use bulwark_pypi::ProjectName;
use bulwark_store::BlobStore as _;
use bulwark_store::fs::FsBlobs;

use crate::view::View;

/// What the mirror's handlers share: the mirror directory and what its
/// current snapshot lists.
#[derive(Clone)]
pub struct MirrorState {
    blobs: Arc<FsBlobs>,
    view: Arc<View>,
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
    /// The directory could not be opened.
    #[error("cannot open the mirror {}", .0.display())]
    Store(std::path::PathBuf, #[source] bulwark_store::StoreError),
}

/// Opens the mirror directory `dir` for serving (it must hold a timestamp).
pub fn open(dir: &std::path::Path) -> Result<MirrorState, OpenError> {
    if !dir.join(bulwark_layout::TIMESTAMP_KEY).is_file() {
        return Err(OpenError::NotAMirror(dir.to_owned()));
    }
    let blobs = FsBlobs::open(dir).map_err(|e| OpenError::Store(dir.to_owned(), e))?;
    Ok(state(Arc::new(blobs)))
}

/// The state for serving the mirror directory `blobs`.
#[must_use]
pub fn state(blobs: Arc<FsBlobs>) -> MirrorState {
    MirrorState {
        blobs,
        view: Arc::new(View::default()),
    }
}

/// Every route of the read-only mirror.
pub fn router(state: MirrorState) -> Router {
    Router::new()
        .route("/", get(|| async { Html(LANDING) }))
        // Sync writes only verified files, each listed by the metadata.
        .merge(bulwark_http::blobs::router(state.blobs.clone(), None, None))
        .merge(bulwark_http::simple::router(Arc::new(state)))
        .route("/legacy/", any(read_only))
        .route("/api/{*rest}", any(read_only))
        .layer(axum::middleware::from_fn(bulwark_http::log_request))
}

/// Serves `state` on `listener` until the process ends, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: MirrorState,
    limits: bulwark_http::listen::ConnectionLimits,
) -> std::io::Result<()> {
    bulwark_http::listen::serve(listener, router(state), limits).await
}

async fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed: this is a read-only mirror; upload to the upstream index",
    )
}

impl MirrorState {
    async fn pages(&self) -> Result<Arc<crate::view::Pages>, ApiError> {
        let (view, blobs) = (self.view.clone(), self.blobs.clone());
        blocking(move || view.pages(blobs.as_ref()))
            .await
            .map_err(|e| ApiError::internal("reading the mirror", &e))
    }
}

impl PageSource for MirrorState {
    const CACHE_CONTROL: &'static str = bulwark_http::simple::SHORT_LIVED;

    /// The projects of the current snapshot.
    async fn projects(&self) -> Result<Vec<ProjectName>, ApiError> {
        Ok(self
            .pages()
            .await?
            .by_project
            .keys()
            .filter_map(|n| ProjectName::parse(n).ok())
            .collect())
    }

    /// The signed page the current snapshot lists.
    async fn page(&self, name: &ProjectName) -> Result<Option<Page>, ApiError> {
        let Some(key) = self
            .pages()
            .await?
            .by_project
            .get(name.normalized())
            .cloned()
        else {
            return Ok(None);
        };
        let blobs = self.blobs.clone();
        blocking(move || blobs.get(&key))
            .await
            .map(|bytes| bytes.map(Page::from))
            .map_err(|e| ApiError::internal("reading a page", &e))
    }
}
