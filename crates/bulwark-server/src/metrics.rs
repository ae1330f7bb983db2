//! What the index tells its operators: `/metrics` in the Prometheus
//! (`OpenMetrics`) text format, `/healthz` and `/readyz`.
//!
//! ```text
//! every request ─▶ count_requests ─▶ requests{route,method,status}, request seconds{route}
//! POST /legacy/ ─▶ count_uploads  ─▶ uploads{outcome}
//! publisher::run_once ─▶ Metrics::publish_run ─▶ runs{outcome}, run seconds, upload→published seconds
//! GET /metrics ─▶ read at scrape: queue, seconds until each role expires, store failures
//! GET /readyz  ─▶ the database answers, the timestamp exists and is not near expiry
//! ```
//!
//! Counters live in this process (each server of a shared index counts
//! its own); the gauges read at scrape time come from the shared state, so
//! every server shows the same.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_store::StateStore;
use bulwark_store::failures::{self, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

/// The `OpenMetrics` text format, which Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/simple/{name}/`), never the path itself:
    /// the label set stays small whatever clients ask for.
    route: String,
    method: String,
    status: u16,
}

/// Labels of a request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Labels of an upload or a publish run: how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Labels of a signed role.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

/// Labels of a store.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

/// The route of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// The hashed bins are many: their expiry is shown as one series, the
/// earliest.
const BINS: &str = "bins";

/// The index's metrics (one set per server process).
pub struct Metrics {
    /// The last run that published and the runs' outcomes, as `/status/`
    /// shows them.
    pub publish: crate::publisher::PublishStats,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    uploads: Family<OutcomeLabels, Counter>,
    publish_runs: Family<OutcomeLabels, Counter>,
    publish_seconds: Histogram,
    published_after_seconds: Histogram,
    queued_projects: Gauge,
    role_expires_in: Family<RoleLabels, Gauge>,
    store_failures: Family<StoreLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Buckets from 1 ms to about 65 s, doubling.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 17)
}

impl Metrics {
    /// Every metric at zero.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bulwark");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (to its first byte), by route",
            request_seconds.clone(),
        );
        let uploads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "uploads",
            "Uploads (POST /legacy/) by outcome: accepted, or why they were refused",
            uploads.clone(),
        );
        let publish_runs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "publish_runs",
            "Publish runs of this server: published, idle (nothing to publish), fenced (another server took the lease), failed",
            publish_runs.clone(),
        );
        let publish_seconds = Histogram::new(seconds_buckets());
        registry.register(
            "publish_run_duration_seconds",
            "Duration of publish runs that published",
            publish_seconds.clone(),
        );
        let published_after_seconds = Histogram::new(seconds_buckets());
        registry.register(
            "upload_to_published_seconds",
            "For each file, from its upload to the commit of the signed snapshot that lists it",
            published_after_seconds.clone(),
        );
        let queued_projects = Gauge::default();
        registry.register(
            "publish_queue_projects",
            "Projects with changes waiting for the next publish run",
            queued_projects.clone(),
        );
        let role_expires_in = Family::<RoleLabels, Gauge>::default();
        registry.register(
            "role_expiry_seconds",
            "Seconds until each signed role expires (negative: expired); bins: the earliest hashed bin",
            role_expires_in.clone(),
        );
        let store_failures = Family::<StoreLabels, Counter>::default();
        registry.register(
            "store_failures",
            "Failed operations of the state store (database) and the blob store",
            store_failures.clone(),
        );
        Self {
            publish: crate::publisher::PublishStats::default(),
            registry,
            requests,
            request_seconds,
            uploads,
            publish_runs,
            publish_seconds,
            published_after_seconds,
            queued_projects,
            role_expires_in,
            store_failures,
        }
    }

    /// Counts a publish run that ended as `outcome`; for a run that
    /// published, its duration and each file's upload→published delay.
    pub fn publish_run(&self, outcome: &'static str, report: Option<&bulwark_repo::PublishReport>) {
        self.publish_runs
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        match (outcome, report) {
            (_, Some(report)) => self
                .publish
                .record_published(report, bulwark_repo::clock::unix_micros()),
            ("idle", None) => self.publish.record_idle(),
            (_, None) => self.publish.record_failed(),
        }
        if let Some(report) = report {
            self.publish_seconds
                .observe(micros_to_seconds(report.micros));
            for delay in &report.delays_us {
                self.published_after_seconds
                    .observe(micros_to_seconds(*delay));
            }
        }
    }

    /// Reads what is current in the shared state (queue, role expiry) and
    /// this process's store failures, then encodes every metric.
    fn scrape(&self, store: &dyn StateStore, now: i64) -> bulwark_store::Result<String> {
        let pending = store.pending_changes()?;
        self.queued_projects
            .set(i64::try_from(pending.projects.len()).unwrap_or(i64::MAX));
        let mut earliest_bin = None;
        for role in store.roles()? {
            let left = role.expires - now;
            if role.role.starts_with("bin-") {
                earliest_bin = Some(earliest_bin.map_or(left, |e: i64| e.min(left)));
            } else {
                self.role_expires_in
                    .get_or_create(&RoleLabels { role: role.role })
                    .set(left);
            }
        }
        if let Some(left) = earliest_bin {
            self.role_expires_in
                .get_or_create(&RoleLabels {
                    role: BINS.to_owned(),
                })
                .set(left);
        }
        if let Some(expires) = store
            .latest_timestamp()?
            .as_deref()
            .and_then(timestamp_expiry)
        {
            self.role_expires_in
                .get_or_create(&RoleLabels {
                    role: "timestamp".to_owned(),
                })
                .set(expires - now);
        }
        for (store, name) in [(Store::State, "state"), (Store::Blobs, "blobs")] {
            let counter = self
                .store_failures
                .get_or_create(&StoreLabels { store: name });
            let seen = counter.get();
            counter.inc_by(failures::count(store).saturating_sub(seen));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| bulwark_store::StoreError::Misuse(format!("encoding metrics: {e}")))?;
        Ok(text)
    }
}

fn micros_to_seconds(micros: u64) -> f64 {
    // Exact below 2^53 µs (285 years).
    #[allow(clippy::cast_precision_loss)]
    let seconds = micros as f64 / 1e6;
    seconds
}

/// The `expires` of timestamp metadata, seconds since the epoch.
fn timestamp_expiry(bytes: &[u8]) -> Option<i64> {
    use bulwark_tuf::json::Value;
    let Ok(Value::Object(top)) = bulwark_tuf::json::parse(bytes) else {
        return None;
    };
    let Some(Value::Object(signed)) = top.get("signed") else {
        return None;
    };
    let Some(Value::String(expires)) = signed.get("expires") else {
        return None;
    };
    bulwark_tuf::time::Timestamp::parse(expires).map(bulwark_tuf::time::Timestamp::unix)
}

/// Counts every request by its route (the matched pattern, set by
/// [`route_of`] inside the router) and status. Outermost layer.
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Passes the matched route's pattern out to [`count_requests`] in the
/// response (a route layer: it runs only where a route matched).
pub async fn route_of(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// Counts uploads by outcome: what their answer's status says, refusals
/// by the layers in front of the handler (too large, too many at once)
/// included.
pub async fn count_uploads(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let outcome = match response.status() {
        s if s.is_success() => "accepted",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::CONFLICT => "conflict",
        s if s.is_client_error() => "invalid",
        _ => "error",
    };
    metrics
        .uploads
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    response
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (store, metrics) = (state.store.clone(), state.metrics.clone());
    let text = blocking(move || metrics.scrape(store.as_ref(), bulwark_repo::clock::now().unix()))
        .await
        .map_err(|e| ApiError::internal("reading the metrics", &e))?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Why the index is not ready, if it is not: the database does not
/// answer, there is no timestamp, or it expires within `margin`.
fn unready(store: &dyn StateStore, now: i64, margin: Duration) -> Option<String> {
    let timestamp = match store.latest_timestamp() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Some("nothing is published yet".to_owned()),
        Err(e) => {
            tracing::warn!(
                "readiness: the state store failed: {}",
                bulwark_http::chain(&e)
            );
            return Some("the state store does not answer".to_owned());
        }
    };
    let Some(expires) = timestamp_expiry(&timestamp) else {
        return Some("the timestamp cannot be read".to_owned());
    };
    let left = expires - now;
    let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
    if left <= 0 {
        Some(format!("the timestamp expired {} s ago", -left))
    } else if left < margin {
        Some(format!(
            "the timestamp expires in {left} s (publishing is failing)"
        ))
    } else {
        None
    }
}

/// `GET /readyz`: 200 when the index can serve verifiable answers, else
/// 503 with the reason.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (store, margin) = (state.store.clone(), state.config.ready_margin);
    let verdict =
        blocking(move || unready(store.as_ref(), bulwark_repo::clock::now().unix(), margin)).await;
    match verdict {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_become_seconds() {
        assert!((micros_to_seconds(1_500_000) - 1.5).abs() < f64::EPSILON);
    }

    #[test]
    fn timestamp_expiry_is_read_and_garbage_is_none() {
        let ts = br#"{"signed":{"_type":"timestamp","expires":"2030-01-01T00:00:00Z","version":3},"signatures":[]}"#;
        assert_eq!(timestamp_expiry(ts), Some(1_893_456_000));
        for bad in [
            &b"{}"[..],
            b"[]",
            b"not json",
            br#"{"signed":{"expires":7}}"#,
        ] {
            assert_eq!(timestamp_expiry(bad), None);
        }
    }
}
