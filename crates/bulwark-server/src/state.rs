//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use bulwark_store::{BlobStore, StateStore};
use tokio::sync::Notify;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest accepted upload request, in bytes.
    pub max_upload_bytes: usize,
    /// Limits applied while inspecting an uploaded archive.
    pub upload_limits: bulwark_pypi::Limits,
    /// Most uploads and transactions received at once; more get 503.
    pub max_concurrent_uploads: usize,
    /// Longest time one request may take.
    pub request_timeout: Duration,
    /// Bounds on client connections (slow request heads, idle keep-alive,
    /// how many at once).
    pub connections: bulwark_http::listen::ConnectionLimits,
    /// How often the publisher wakes up to re-sign expiring roles when no
    /// upload wakes it.
    pub publish_interval: Duration,
    /// How long a consistent snapshot stays downloadable after it was
    /// replaced; older ones are garbage-collected.
    pub snapshot_retention: Duration,
    /// Whether uploads may have local versions (`1.0+local`), which public
    /// indexes refuse (PEP 440); a private index may want them.
    pub allow_local_versions: bool,
    /// True when the state store is shared with other servers
    /// (PostgreSQL): the publisher is then also woken by their changes.
    pub shared_state: bool,
    /// `/readyz` fails when the timestamp expires sooner than this: the
    /// publisher should have re-signed it well before.
    pub ready_margin: Duration,
    /// True when `/metrics` is served on a listener of its own
    /// ([`crate::serve`]'s `metrics_listener`), not beside the index.
    pub separate_metrics: bool,
    /// Who may read the index (simple pages, files, the JSON API, TUF
    /// metadata and targets, web pages).
    pub read_access: ReadAccess,
}

/// Who may read the index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadAccess {
    /// Anyone.
    #[default]
    Public,
    /// Only requests with a valid API token, of any permission and scope
    /// ([`crate::auth::require_read_token`]).
    Token,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            max_concurrent_uploads: 16,
            upload_limits: bulwark_pypi::Limits::default(),
            request_timeout: Duration::from_mins(5),
            connections: bulwark_http::listen::ConnectionLimits::default(),
            publish_interval: Duration::from_mins(1),
            snapshot_retention: Duration::from_hours(1),
            allow_local_versions: false,
            shared_state: false,
            ready_margin: Duration::from_hours(6),
            separate_metrics: false,
            read_access: ReadAccess::Public,
        }
    }
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// Durable state.
    pub store: Arc<dyn StateStore>,
    /// Blobs.
    pub blobs: Arc<dyn BlobStore>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Wakes the publisher after a change was queued.
    pub publish: Arc<Notify>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The upstream indexes projects not hosted here are pulled from, if
    /// any (`upstream` setting).
    pub upstream: Option<Arc<crate::upstream::Upstream>>,
}
