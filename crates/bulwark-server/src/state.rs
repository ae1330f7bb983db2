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
    /// What this process's publisher did (`/status/` shows it).
    pub publish_stats: Arc<crate::publisher::PublishStats>,
}
