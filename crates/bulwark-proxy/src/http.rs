//! The proxy's routes: the simple API pages and the files they list.

use std::sync::Arc;
use std::task::Poll;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bulwark_pypi::ProjectName;
use bulwark_server::error::ApiError;
use bulwark_server::negotiate::Format;
use bulwark_server::simple::{chosen, moved_permanently, project_no_slash};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::Proxy;
use crate::files::Wanted;

type Shared = State<Arc<Proxy>>;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CHUNK: u64 = 256 * 1024;

/// The router of the proxy.
pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new()
        .route("/simple/{name}", get(project_no_slash))
        .route("/simple/{name}/", get(project))
        .route("/files/{sha256}/{filename}", get(file))
        .layer(axum::middleware::from_fn(bulwark_server::log_request))
        .with_state(proxy)
}

/// `GET /simple/<name>/`: the verified page, as signed (JSON) or rendered
/// from it (HTML).
async fn project(
    State(proxy): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let parsed = ProjectName::parse(&name).map_err(|_| ApiError::not_found())?;
    if parsed.normalized() != name {
        return Ok(moved_permanently(&format!(
            "/simple/{}/",
            parsed.normalized()
        )));
    }
    let chosen = chosen(&headers)?;
    let verified = proxy
        .trust
        .page(&parsed)
        .await
        .map_err(crate::ProxyError::into_api)?;
    proxy.files.learn(&verified.page);
    let offline = verified.offline.as_deref().map(|reason| {
        let printable = reason.replace(|c: char| !(' '..='~').contains(&c), "?");
        HeaderValue::from_str(&printable)
            .unwrap_or(HeaderValue::from_static("upstream unreachable"))
    });
    let body = match chosen.format {
        Format::Json => verified.bytes,
        Format::Html => bulwark_pypi::render_html(&verified.page).into_bytes(),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(chosen.content_type),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    // Freshness is the proxy's job (see `pages`), not the client's cache's.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(reason) = offline {
        h.insert(crate::pages::OFFLINE_HEADER, reason);
    }
    Ok(response)
}

/// `GET /files/<sha256>/<filename>` (and `.metadata`).
async fn file(
    State(proxy): Shared,
    Path((sha256, filename)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(wanted) = proxy.files.resolve(&sha256, &filename) else {
        tracing::debug!(sha256, filename, "not listed on any verified page");
        return Err(ApiError::not_found());
    };
    if let Some((path, len)) = proxy.files.cached(&wanted) {
        return from_cache(&wanted, &path, len, &headers).await;
    }
    if headers.contains_key(header::RANGE) {
        // A range of an unverified file proves nothing: verify it all first.
        proxy
            .files
            .download(&wanted, None)
            .await
            .map_err(crate::ProxyError::into_api)?;
        let (path, len) = proxy
            .files
            .cached(&wanted)
            .ok_or_else(ApiError::not_found)?;
        return from_cache(&wanted, &path, len, &headers).await;
    }
    streamed(proxy, wanted).await
}

fn content_type(filename: &str) -> &'static str {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".metadata") {
        "text/plain; charset=utf-8"
    } else if lower.ends_with(".tar.gz") {
        "application/x-tar"
    } else {
        "application/octet-stream"
    }
}

fn base_response(body: Body, status: StatusCode, wanted: &Wanted, length: Option<u64>) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&wanted.filename)),
    );
    if let Some(length) = length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    response
}

/// Serves (a range of) a verified, cached file.
async fn from_cache(
    wanted: &Wanted,
    path: &std::path::Path,
    len: u64,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Ok(range) = bulwark_server::blobs::parse_range(headers, len) else {
        let mut response =
            ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                .into_response();
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{len}"))
                .map_err(|e| ApiError::internal("range", &e))?,
        );
        return Ok(response);
    };
    let (status, start, end) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
    };
    let length = if len == 0 { 0 } else { end - start + 1 };
    let body = read_range(path.to_owned(), start, length)
        .await
        .map_err(|e| ApiError::internal("reading the file cache", &e))?;
    let mut response = base_response(body, status, wanted, Some(length));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
            .map_err(|e| ApiError::internal("range", &e))?;
        response.headers_mut().insert(header::CONTENT_RANGE, range);
    }
    Ok(response)
}

/// The body for `length` bytes of `path` from `start`: read at once when
/// small, otherwise streamed in chunks.
async fn read_range(path: std::path::PathBuf, start: u64, length: u64) -> std::io::Result<Body> {
    let mut file = tokio::fs::File::open(&path).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    if length <= CHUNK {
        let mut buf = Vec::new();
        (&mut file).take(length).read_to_end(&mut buf).await?;
        return Ok(Body::from(buf));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::spawn(async move {
        let mut left = length;
        while left > 0 {
            let mut buf = Vec::new();
            let item = match (&mut file)
                .take(CHUNK.min(left))
                .read_to_end(&mut buf)
                .await
            {
                Ok(0) => Err(std::io::Error::other("cached file shrank while streaming")),
                Ok(n) => {
                    left -= n as u64;
                    Ok(buf)
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    Ok(Body::from_stream(futures_util::stream::poll_fn(
        move |cx| rx.poll_recv(cx),
    )))
}

/// Fetches a file not yet cached and streams it while it is verified. A
/// refusal before the first chunk is released (always, for a file that
/// arrives in one chunk) becomes a 502 with the reason; a later one aborts
/// the response, so the client sees a truncated transfer, never the whole
/// unverified file.
async fn streamed(proxy: Arc<Proxy>, wanted: Wanted) -> Result<Response, ApiError> {
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (done_tx, done) =
        tokio::sync::oneshot::channel::<Result<Option<Vec<u8>>, crate::ProxyError>>();
    let task_wanted = wanted.clone();
    tokio::spawn(async move {
        let result = proxy.files.download(&task_wanted, Some(&chunks_tx)).await;
        drop(chunks_tx);
        let _ = done_tx.send(result);
    });
    // The sender is dropped when the download ends, so no chunk before the
    // end means the whole outcome is known: answer with it.
    let Some(first) = chunks.recv().await else {
        return match done.await {
            Ok(Ok(last)) => Ok(base_response(
                Body::from(last.unwrap_or_default()),
                StatusCode::OK,
                &wanted,
                wanted.size,
            )),
            Ok(Err(e)) => Err(e.into_api()),
            Err(_) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )),
        };
    };
    let mut first = Some(first);
    let mut done = Some(done);
    let filename = wanted.filename.clone();
    let stream =
        futures_util::stream::poll_fn(move |cx| -> Poll<Option<std::io::Result<Vec<u8>>>> {
            if let Some(chunk) = first.take() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            match chunks.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {}
            }
            let Some(receiver) = done.as_mut() else {
                return Poll::Ready(None);
            };
            let result = std::task::ready!(std::pin::Pin::new(receiver).poll(cx));
            done = None;
            Poll::Ready(match result {
                Ok(Ok(Some(last))) => Some(Ok(last)),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    let api = e.into_api();
                    tracing::warn!(file = filename, "response aborted: {}", api.reason());
                    Some(Err(std::io::Error::other(api.reason().to_owned())))
                }
                Err(_) => Some(Err(std::io::Error::other("download task ended"))),
            })
        });
    Ok(base_response(
        Body::from_stream(stream),
        StatusCode::OK,
        &wanted,
        wanted.size,
    ))
}
