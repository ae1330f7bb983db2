//! The verifying proxy behind `bulwark proxy`: a local simple-API endpoint
//! for pip and uv that serves only bytes verified through TUF.
//!
//! What it owns: the freshness policy for trusted metadata, verifying
//! project pages (signed targets, DESIGN §2) and the files they list, the
//! on-disk cache of verified bytes, and turning every refusal into an HTTP
//! status whose reason phrase says what happened. What it does not: the TUF
//! workflow itself (`bulwark-client`'s `Updater` over `bulwark-tuf`), page
//! parsing and rendering (`bulwark-pypi`), the simple-API front end,
//! content negotiation, error responses and range serving (shared with the
//! index and the mirror, `bulwark-http`).
//!
//! ```text
//! pip/uv ─GET /simple/<name>/─▶ pages::Trust ── refresh (at most every `freshness`) ─▶ upstream /tuf/metadata/
//!                                   │ target_info("simple/<name>/index.json"), download_target ─▶ upstream /tuf/targets/
//!                                   ▼ verified page bytes (<state>/pages/<sha256>.json)
//!                               files::Files::learn ((sha256, filename) → size, core-metadata sha256)
//! pip/uv ─GET /files/<sha256>/<name>[.metadata]─▶ files::Files ─ <state>/files/<sha256> ─▶ served
//!                                   ├ not listed yet (a lock file through a restarted proxy):
//!                                   │ verify the page of the project <name> names, learn, resolve again
//!                                   └ not cached: upstream /files/…, hashed while streaming,
//!                                     last chunk held back until size and sha256 match
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bulwark_client::{FetchConfig, Fetcher, Limits};
use bulwark_tuf::time::Timestamp;

pub mod error;
pub mod files;
mod http;
pub mod pages;
mod start;
pub mod state;

pub use error::ProxyError;
pub use http::router;
pub use start::StartError;

/// Default reuse period of a verified timestamp (see [`ProxyConfig::freshness`]).
pub const DEFAULT_FRESHNESS: Duration = Duration::from_secs(5);

/// How the proxy reaches its upstream and where it keeps verified bytes.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Base URL of the upstream index (`http://host:port/`): metadata at
    /// `tuf/metadata/`, pages at `tuf/targets/`, files at `files/`.
    pub upstream: String,
    /// The cache directory, which holds one state directory per trusted
    /// root and upstream (see [`state`]): `metadata/` (trusted TUF
    /// metadata), `pages/` and `files/` (verified bytes, named by sha256).
    pub cache_dir: PathBuf,
    /// How long a successful refresh of the top-level metadata is reused
    /// before a page request refreshes again. Zero refreshes for every
    /// page request.
    pub freshness: Duration,
    /// The clock giving the fixed update start time of each refresh.
    pub clock: fn() -> Timestamp,
    /// Time limits of every upstream download.
    pub fetch: FetchConfig,
    /// Size caps of metadata downloads.
    pub limits: Limits,
}

impl ProxyConfig {
    /// A configuration with default limits and freshness.
    #[must_use]
    pub fn new(upstream: &str, cache_dir: PathBuf, clock: fn() -> Timestamp) -> Self {
        let upstream = if upstream.ends_with('/') {
            upstream.to_owned()
        } else {
            format!("{upstream}/")
        };
        Self {
            upstream,
            cache_dir,
            freshness: DEFAULT_FRESHNESS,
            clock,
            fetch: FetchConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// The proxy's state, shared by every request.
#[derive(Debug)]
pub struct Proxy {
    /// Trusted metadata and verified pages.
    pub trust: pages::Trust,
    /// Files listed on verified pages.
    pub files: files::Files,
    state_dir: PathBuf,
    _lock: state::StateLock,
}

impl Proxy {
    /// Opens and locks the state directory of `root` (the bytes of a
    /// trusted `root.json`) and the upstream under the cache directory,
    /// trusting `root` unless the state already holds metadata that chains
    /// from it.
    pub fn open(config: &ProxyConfig, root: &[u8]) -> Result<Arc<Self>, StartError> {
        let state_dir = state::state_dir(&config.cache_dir, root, &config.upstream);
        let lock = state::lock(&state_dir, &config.upstream)?;
        let open = |source| StartError::Open {
            dir: state_dir.clone(),
            source,
        };
        // Every part keeps its files in the state directory.
        let config = ProxyConfig {
            cache_dir: state_dir.clone(),
            ..config.clone()
        };
        let fetcher = Fetcher::new(config.fetch.clone())
            .map_err(|e| open(ProxyError::internal("cannot create the HTTP client", e)))?;
        let trust = pages::Trust::open(&config, root, fetcher.clone()).map_err(open)?;
        let files = files::Files::open(&config, fetcher).map_err(open)?;
        Ok(Arc::new(Self {
            trust,
            files,
            _lock: lock,
            state_dir,
        }))
    }

    /// The state directory of this proxy's root and upstream.
    #[must_use]
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }
}

/// Serves the proxy on `listener` until the process ends, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    limits: bulwark_http::listen::ConnectionLimits,
) -> std::io::Result<()> {
    bulwark_http::listen::serve(listener, router(proxy), limits).await
}
