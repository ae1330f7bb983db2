//! Request logging, the same middleware in front of every router: each
//! request gets an id (the client's `X-Request-Id` when it is a short
//! token, else a new one), returned in the answer's `X-Request-Id` and
//! carried by every event logged while handling it.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderValue;
use tracing::Instrument as _;

/// The header carrying a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-chosen request id kept.
const MAX_ID_LEN: usize = 64;

/// A new id: this process's start time and a counter, unique across
/// processes in practice and cheap.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static EPOCH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let epoch = EPOCH.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::try_from(d.as_micros()).unwrap_or(0) & 0xffff_ffff_ffff
            })
            ^ u64::from(std::process::id())
    });
    format!("{epoch:012x}-{:06x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The client's id if it is 1 to [`MAX_ID_LEN`] characters of letters,
/// digits, `-`, `_` and `.` (nothing that could forge a log line).
fn client_id(request: &axum::extract::Request) -> Option<String> {
    let id = request.headers().get(REQUEST_ID)?.to_str().ok()?;
    ((1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    .then(|| id.to_owned())
}

/// Logs each request (method, path, status, milliseconds, at debug
/// level) inside a span carrying its id.
pub async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = client_id(&request).unwrap_or_else(new_id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", id = %id);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            %method,
            path,
            status = response.status().as_u16(),
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> axum::extract::Request {
        axum::http::Request::builder()
            .header(REQUEST_ID, id)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn a_clients_short_token_id_is_kept_anything_else_replaced() {
        assert_eq!(
            client_id(&with_id("abc-123_x.y")).as_deref(),
            Some("abc-123_x.y")
        );
        for bad in ["", "a b", "a\"b", &"a".repeat(MAX_ID_LEN + 1)] {
            assert_eq!(client_id(&with_id(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn new_ids_differ() {
        assert_ne!(new_id(), new_id());
    }
}
