//! Serving stored bytes: distributions and their `.metadata`, project pages
//! and TUF metadata, out of any [`BlobStore`]. Everything but
//! `timestamp.json` is immutable, so it is served with a strong `ETag` and a
//! year-long `Cache-Control`; `Range` requests get `206` (uv and pip resume
//! and probe with them) or `416`. This is the only range implementation:
//! the index and the mirror serve their blob directories through
//! [`router`], the proxy its cache of verified files through [`serve`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bulwark_layout as layout;
use bulwark_store::{BlobStore, StoreError};

use crate::blocking;
use crate::error::ApiError;

/// `Cache-Control` of bytes that never change under their name.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Bodies up to this size are read whole; larger ones stream in chunks.
const CHUNK: u64 = 256 * 1024;

/// How a blob is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// True for the one blob replaced in place (`timestamp.json`): read
    /// whole, sent with `no-cache` and no validator.
    pub mutable: bool,
}

impl Kind {
    /// An immutable blob whose name (or key) is `name`, typed by its suffix.
    #[must_use]
    pub fn immutable(name: &str) -> Self {
        Self {
            content_type: content_type(name),
            mutable: false,
        }
    }
}

/// The `Content-Type` of a blob, by the suffix of its name or key.
#[must_use]
#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "the name is lowercased first"
)]
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        "application/json"
    } else if lower.ends_with(".metadata") {
        "text/plain; charset=utf-8"
    } else if lower.ends_with(".tar.gz") {
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

/// Serves the blob `key` of `blobs` (or the range of it `headers` ask for):
/// 200, 206, 304 (an immutable blob whose `ETag` the client has), 404 or
/// 416.
pub async fn serve(
    blobs: Arc<dyn BlobStore>,
    key: String,
    kind: Kind,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let store = blobs.clone();
    let lookup = key.clone();
    // A mutable blob (timestamp.json) may be replaced between two reads, so
    // it is read whole, once, and its length taken from those bytes.
    let mutable = kind.mutable;
    let found = blocking(move || {
        if mutable {
            store
                .get(&lookup)
                .map(|b| b.map(|bytes| (bytes.len() as u64, Some(bytes))))
        } else {
            store.len(&lookup).map(|l| l.map(|len| (len, None)))
        }
    })
    .await;
    let (len, whole) = match found {
        Ok(Some(found)) => found,
        // A key that cannot exist (`..`, empty segments) is simply not found.
        Ok(None) | Err(StoreError::InvalidKey(_)) => return Err(ApiError::not_found()),
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
            .is_some_and(|v| none_match_hits(v, &etag))
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
    let Ok(range) = parse_range(headers, len) else {
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
        let bytes = blocking(move || blobs.get_range(&key, start, length))
            .await
            .map_err(|e| ApiError::internal("reading blob", &e))?
            .ok_or_else(ApiError::not_found)?;
        Body::from(bytes)
    } else {
        stream(blobs, key, start, length)
    };
    let mut response = respond(body, kind, Some(length));
    *response.status_mut() = status;
    let h = response.headers_mut();
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{end}/{len}");
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&range).map_err(|e| ApiError::internal("range", &e))?,
        );
    }
    if !kind.mutable {
        h.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// A 200 with `body` and the headers [`serve`] sends for a blob of `kind`
/// (type, length when known, ranges accepted, caching), but no validator:
/// for bodies produced elsewhere, such as the proxy's verifying stream.
#[must_use]
pub fn respond(body: Body, kind: Kind, length: Option<u64>) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type),
    );
    if let Some(length) = length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let cache = if kind.mutable { "no-cache" } else { IMMUTABLE };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Streams a large blob in chunks read off the async threads.
fn stream(blobs: Arc<dyn BlobStore>, key: String, start: u64, length: u64) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut offset = start;
        let end = start + length;
        while offset < end {
            let take = CHUNK.min(end - offset);
            let (blobs, key) = (blobs.clone(), key.clone());
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
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The suffix of the `ETag` of a gzip-encoded representation: a strong
/// validator names one representation (RFC 9110 §8.8.3), and the gzip and
/// identity bodies of a metadata file differ.
const GZIP_ETAG_SUFFIX: &str = "-gzip";

/// Whether an `If-None-Match` value names the blob whose identity `ETag` is
/// `etag`: `*` (the blob exists), or a listed tag equal to it or to its
/// gzip representation's, compared weakly as §13.1.2 says for this header.
fn none_match_hits(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    let gzip = format!(
        "{}{GZIP_ETAG_SUFFIX}\"",
        etag.strip_suffix('"').unwrap_or(etag)
    );
    value.trim() == "*"
        || value.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == etag || tag == gzip
        })
}

/// Gives a gzip-encoded response the `ETag` of that representation
/// (`"<tag>-gzip"`), so that no cache confuses it with the identity body.
async fn tag_encoding(mut response: Response) -> Response {
    let gzipped = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    if gzipped
        && let Some(etag) = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        && let Ok(tagged) = HeaderValue::from_str(&format!(
            "{}{GZIP_ETAG_SUFFIX}\"",
            etag.strip_suffix('"').unwrap_or(etag)
        ))
    {
        response.headers_mut().insert(header::ETAG, tagged);
    }
    response
}

/// Which distribution blobs (keys under `files/`) may be served, asked off
/// the async threads before each one is: the index serves only the files
/// it has recorded, never the bytes a crash left between storing an upload
/// and recording it.
pub type FileFilter = Arc<dyn Fn(&str) -> Result<bool, StoreError> + Send + Sync>;

/// Where a distribution blob the filter allows but the blob store lacks
/// comes from instead (an upstream index's file, fetched on its first
/// request): the answer, or `None` for a 404. Called with the blob key.
pub type FileFallback = Arc<
    dyn Fn(String) -> futures_util::future::BoxFuture<'static, Result<Option<Response>, ApiError>>
        + Send
        + Sync,
>;

/// What the blob handlers share.
#[derive(Clone)]
struct Served {
    blobs: Arc<dyn BlobStore>,
    files: Option<FileFilter>,
    fallback: Option<FileFallback>,
}

/// The blob routes of the index's URL layout over `blobs`: `/files/…`,
/// `/tuf/metadata/…` (gzip for clients that ask: metadata compresses well)
/// and `/tuf/targets/…`; distribution files only where `files` allows
/// (all, when `None`), and those missing from `fallback` when given.
pub fn router<S: Clone + Send + Sync + 'static>(
    blobs: Arc<dyn BlobStore>,
    files: Option<FileFilter>,
    fallback: Option<FileFallback>,
) -> Router<S> {
    Router::new()
        .route("/files/{sha256}/{filename}", get(file))
        .route(
            "/tuf/metadata/{file}",
            get(metadata)
                .layer(tower_http::compression::CompressionLayer::new().gzip(true))
                .layer(axum::middleware::map_response(tag_encoding)),
        )
        .route("/tuf/targets/{*path}", get(targets))
        .with_state(Served {
            blobs,
            files,
            fallback,
        })
}

/// Serves the distribution blob `key` if `served`'s filter allows it.
async fn serve_file(
    served: Served,
    key: String,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(filter) = served.files {
        let asked = key.clone();
        match blocking(move || filter(&asked)).await {
            Ok(true) => {}
            Ok(false) => return Err(ApiError::not_found()),
            Err(e) => return Err(ApiError::internal("looking up a file", &e)),
        }
    }
    let kind = Kind::immutable(&key);
    match (
        serve(served.blobs, key.clone(), kind, headers).await,
        served.fallback,
    ) {
        (Err(e), Some(fallback)) if e.status() == StatusCode::NOT_FOUND => {
            fallback(key).await?.ok_or_else(ApiError::not_found)
        }
        (answer, _) => answer,
    }
}

/// `GET /files/<sha256>/<filename>` (and `.metadata`).
async fn file(
    State(served): State<Served>,
    Path((sha, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_file(served, layout::file_key(&sha, &name), &headers).await
}

/// `GET /tuf/metadata/<file>`.
async fn metadata(
    State(Served { blobs, .. }): State<Served>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = format!("{}{name}", layout::METADATA_PREFIX);
    let kind = Kind {
        content_type: "application/json",
        mutable: key == layout::TIMESTAMP_KEY,
    };
    serve(blobs, key, kind, &headers).await
}

/// `GET /tuf/targets/<path>`: signed pages, plus the distribution files
/// their relative URLs point at from there.
async fn targets(
    State(served): State<Served>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if path.starts_with(layout::FILES_PREFIX) {
        return serve_file(served, path, &headers).await;
    }
    let key = format!("{}{path}", layout::TARGETS_PREFIX);
    let kind = Kind::immutable(&key);
    serve(served.blobs, key, kind, &headers).await
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use bulwark_store::fs::FsBlobs;
    use tower::ServiceExt as _;

    use super::*;

    /// A blob directory with one large file and a timestamp, and its routes.
    fn served() -> (tempfile::TempDir, Router, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        let large: Vec<u8> = (0..3 * CHUNK + 7).map(|i| (i % 251) as u8).collect();
        blobs.put("files/ab/x-1.0.tar.gz", &large).unwrap();
        blobs.put(layout::TIMESTAMP_KEY, b"{\"v\":1}").unwrap();
        (dir, router(Arc::new(blobs), None, None), large)
    }

    async fn get(router: &Router, path: &str, headers: &[(header::HeaderName, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn immutable_blobs_stream_whole_with_a_strong_etag_and_304() {
        let (_dir, router, large) = served();
        let whole = get(&router, "/files/ab/x-1.0.tar.gz", &[]).await;
        assert_eq!(whole.status(), StatusCode::OK);
        let h = whole.headers().clone();
        assert_eq!(h[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(h[header::CONTENT_TYPE], "application/x-tar");
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        assert_eq!(h[header::CONTENT_LENGTH], large.len().to_string().as_str());
        assert_eq!(body(whole).await, large);
        let etag = h[header::ETAG].to_str().unwrap();
        let again = get(
            &router,
            "/files/ab/x-1.0.tar.gz",
            &[(header::IF_NONE_MATCH, etag)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::CACHE_CONTROL], IMMUTABLE);
        // The same blob under /tuf/targets/ (pages' relative file URLs).
        let targets = get(&router, "/tuf/targets/files/ab/x-1.0.tar.gz", &[]).await;
        assert_eq!(targets.headers()[header::ETAG], etag);
    }

    #[tokio::test]
    async fn each_encoding_has_its_own_etag_and_star_matches() {
        let (_dir, router, _) = served();
        let blobs_dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(blobs_dir.path()).unwrap();
        let metadata = "{\"signed\":{}}".repeat(200);
        blobs
            .put("tuf/metadata/1.root.json", metadata.as_bytes())
            .unwrap();
        let metadata_router = super::router::<()>(Arc::new(blobs), None, None);
        let path = "/tuf/metadata/1.root.json";
        let plain = get(&metadata_router, path, &[]).await;
        let gzipped = get(&metadata_router, path, &[(header::ACCEPT_ENCODING, "gzip")]).await;
        assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
        let (plain_tag, gzip_tag) = (
            plain.headers()[header::ETAG].to_str().unwrap().to_owned(),
            gzipped.headers()[header::ETAG].to_str().unwrap().to_owned(),
        );
        assert_ne!(plain_tag, gzip_tag, "two representations, one strong ETag");
        assert!(gzip_tag.ends_with("-gzip\""), "{gzip_tag}");
        // Either representation's tag, or `*`, revalidates.
        let listed = format!("\"other\", W/{gzip_tag}");
        for tag in [plain_tag.as_str(), gzip_tag.as_str(), "*", listed.as_str()] {
            let again = get(&metadata_router, path, &[(header::IF_NONE_MATCH, tag)]).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
        }
        let other = get(
            &metadata_router,
            path,
            &[(header::IF_NONE_MATCH, "\"other\"")],
        )
        .await;
        assert_eq!(other.status(), StatusCode::OK);
        // `*` on a blob that does not exist is not a match: 404.
        let missing = get(
            &router,
            "/files/ab/none.tar.gz",
            &[(header::IF_NONE_MATCH, "*")],
        )
        .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn ranges_get_206_across_chunks_and_unsatisfiable_ones_416() {
        let (_dir, router, large) = served();
        let (start, end) = (CHUNK - 3, 2 * CHUNK + 5);
        let range = format!("bytes={start}-{end}");
        let part = get(
            &router,
            "/files/ab/x-1.0.tar.gz",
            &[(header::RANGE, &range)],
        )
        .await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        let content_range = format!("bytes {start}-{end}/{}", large.len());
        assert_eq!(
            part.headers()[header::CONTENT_RANGE],
            content_range.as_str()
        );
        let (start, end) = (
            usize::try_from(start).unwrap(),
            usize::try_from(end).unwrap(),
        );
        assert_eq!(body(part).await, &large[start..=end]);
        let beyond = format!("bytes={}-", large.len());
        let refused = get(
            &router,
            "/files/ab/x-1.0.tar.gz",
            &[(header::RANGE, &beyond)],
        )
        .await;
        assert_eq!(refused.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let unsatisfied = format!("bytes */{}", large.len());
        assert_eq!(
            refused.headers()[header::CONTENT_RANGE],
            unsatisfied.as_str()
        );
    }

    #[tokio::test]
    async fn the_timestamp_is_read_whole_and_never_cached_and_bad_keys_are_404() {
        let (_dir, router, _) = served();
        let timestamp = get(&router, "/tuf/metadata/timestamp.json", &[]).await;
        assert_eq!(timestamp.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(timestamp.headers().get(header::ETAG).is_none());
        assert_eq!(body(timestamp).await, b"{\"v\":1}");
        for missing in [
            "/tuf/metadata/1.root.json",
            "/tuf/targets/..%2Fx",
            "/files/ab/.tmp-x",
        ] {
            let response = get(&router, missing, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        }
    }

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
        assert_eq!(range("bytes=0-0", 0), Err(()));
    }

    #[test]
    fn content_types_follow_the_suffix_in_any_case() {
        assert_eq!(content_type("tuf/metadata/1.root.json"), "application/json");
        assert_eq!(content_type("x.WHL.metadata"), "text/plain; charset=utf-8");
        assert_eq!(content_type("X-1.0.TAR.GZ"), "application/x-tar");
        assert_eq!(
            content_type("x-1.0-py3-none-any.whl"),
            "application/octet-stream"
        );
    }
}
