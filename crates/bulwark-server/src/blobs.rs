//! Serving stored files: distributions and their `.metadata`, project pages
//! and TUF metadata. Everything but `timestamp.json` is immutable, so it is
//! served with a strong `ETag` and a year-long `Cache-Control`; `Range`
//! requests get `206` (uv and pip resume and probe with them).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::{AppState, blocking};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Bodies up to this size are read whole; larger ones stream in chunks.
const CHUNK: u64 = 256 * 1024;

/// How a blob is served.
#[derive(Clone, Copy)]
struct Kind {
    content_type: &'static str,
    mutable: bool,
}

#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "blob keys are written by Bulwark, in lower case"
)]
fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else if key.ends_with(".metadata") {
        "text/plain; charset=utf-8"
    } else if key.ends_with(".tar.gz") {
        "application/x-tar"
    } else {
        "application/octet-stream"
    }
}

/// A single byte range from a `Range` header, resolved against `len`:
/// `Ok(None)` for no (or an unsupported multi-) range, `Err` when
/// unsatisfiable.
#[expect(
    clippy::result_unit_err,
    reason = "the only error is 'unsatisfiable', which the caller turns into 416"
)]
pub fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.trim().split_once('-').ok_or(())?;
    let (start, end) = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
        (Ok(s), Err(_)) if end.is_empty() => (s, len.saturating_sub(1)),
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => {
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        _ => return Err(()),
    };
    if len == 0 || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn serve(
    state: AppState,
    key: String,
    headers: HeaderMap,
    kind: Kind,
) -> Result<Response, ApiError> {
    let blobs = state.blobs.clone();
    let lookup = key.clone();
    // A mutable blob (timestamp.json) may be replaced between two reads, so
    // it is read whole, once, and its length taken from those bytes.
    let mutable = kind.mutable;
    let found = blocking(move || {
        if mutable {
            blobs
                .get(&lookup)
                .map(|b| b.map(|bytes| (bytes.len() as u64, Some(bytes))))
        } else {
            blobs.len(&lookup).map(|l| l.map(|len| (len, None)))
        }
    })
    .await;
    let (len, whole) = match found {
        Ok(Some(found)) => found,
        // A key that cannot exist (`..`, empty segments) is simply not found.
        Ok(None) | Err(bulwark_store::StoreError::InvalidKey(_)) => {
            return Err(ApiError::not_found());
        }
        Err(e) => return Err(ApiError::internal("reading blob", &e)),
    };
    // Immutable blobs are named by content (a hash, or a version number that
    // is never reused), so the key itself is a strong validator.
    let etag = HeaderValue::from_str(&format!(
        "\"{}\"",
        bulwark_tuf::hash::sha256_hex(key.as_bytes())
    ))
    .map_err(|e| ApiError::internal("etag", &e))?;
    if !kind.mutable
        && headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v == etag)
    {
        // RFC 9110 §15.4.5: a 304 carries the Cache-Control a 200 would.
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            ],
        )
            .into_response());
    }
    let Ok(range) = parse_range(&headers, len) else {
        // RFC 9110 §15.5.17: say what the current length is.
        let unsatisfied = HeaderValue::from_str(&format!("bytes */{len}"))
            .map_err(|e| ApiError::internal("range", &e))?;
        let mut response =
            ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                .into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, unsatisfied);
        return Ok(response);
    };
    let (status, start, end) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
    };
    let length = if len == 0 { 0 } else { end - start + 1 };
    let body = if let Some(whole) = whole {
        let (from, to) = (
            usize::try_from(start).unwrap_or(usize::MAX),
            usize::try_from(start + length).unwrap_or(usize::MAX),
        );
        Body::from(whole.get(from..to).unwrap_or_default().to_vec())
    } else if length <= CHUNK {
        let blobs = state.blobs.clone();
        let bytes = blocking(move || blobs.get_range(&key, start, length))
            .await
            .map_err(|e| ApiError::internal("reading blob", &e))?
            .ok_or_else(ApiError::not_found)?;
        Body::from(bytes)
    } else {
        stream(state, key, start, length)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{end}/{len}");
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&range).map_err(|e| ApiError::internal("range", &e))?,
        );
    }
    if kind.mutable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        h.insert(header::ETAG, etag);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    Ok(response)
}

/// Streams a large blob in chunks read off the async threads.
fn stream(state: AppState, key: String, start: u64, length: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut offset = start;
        let end = start + length;
        while offset < end {
            let take = CHUNK.min(end - offset);
            let (blobs, key) = (state.blobs.clone(), key.clone());
            let chunk = blocking(move || blobs.get_range(&key, offset, take)).await;
            let item = match chunk {
                Ok(Some(bytes)) if bytes.len() as u64 == take => Ok(bytes),
                _ => Err(std::io::Error::other(
                    "blob changed or vanished while streaming",
                )),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
            offset += take;
        }
    });
    let mut rx = rx;
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// `GET /files/<sha256>/<filename>` (and `.metadata`).
pub async fn file(
    State(state): State<AppState>,
    Path((sha, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = format!("files/{sha}/{name}");
    let kind = Kind {
        content_type: content_type(&key),
        mutable: false,
    };
    serve(state, key, headers, kind).await
}

/// `GET /tuf/metadata/<file>`.
pub async fn metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mutable = name == "timestamp.json";
    serve(
        state,
        format!("tuf/metadata/{name}"),
        headers,
        Kind {
            content_type: "application/json",
            mutable,
        },
    )
    .await
}

/// `GET /tuf/targets/<path>`: signed pages, plus the distribution files
/// their relative URLs point at from there.
pub async fn targets(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = match path.strip_prefix("files/") {
        Some(rest) => format!("files/{rest}"),
        None => format!("tuf/targets/{path}"),
    };
    let kind = Kind {
        content_type: content_type(&key),
        mutable: false,
    };
    serve(state, key, headers, kind).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        parse_range(&headers, len)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-1", 100), Err(()));
        assert_eq!(range("bytes=0-1,3-4", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
    }
}
