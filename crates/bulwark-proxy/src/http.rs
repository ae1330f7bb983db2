//! The proxy's routes: the simple API over verified pages (the front end is
//! `bulwark_http::simple`) and the files those pages list, served from the
//! verified cache through `bulwark_http::blobs` or verified while they
//! stream.

use std::sync::Arc;
use std::task::Poll;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bulwark_http::blobs::Kind;
use bulwark_http::{ApiError, Page, PageSource};
use bulwark_pypi::ProjectName;

use crate::Proxy;
use crate::files::Wanted;

type Shared = State<Arc<Proxy>>;

/// The router of the proxy.
pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new()
        .merge(bulwark_http::simple::router(proxy.clone()))
        .route("/files/{sha256}/{filename}", get(file))
        .layer(axum::middleware::from_fn(bulwark_http::log_request))
        .with_state(proxy)
}

impl PageSource for Proxy {
    /// Freshness is the proxy's job (see `pages`), not the client's cache's.
    const CACHE_CONTROL: &'static str = "no-cache";

    /// Not listed: the proxy learns projects one page at a time.
    async fn projects(&self) -> Result<Vec<ProjectName>, ApiError> {
        Err(ApiError::not_found())
    }

    /// The verified page, as signed.
    async fn page(&self, name: &ProjectName) -> Result<Option<Page>, ApiError> {
        let verified = self
            .trust
            .page(name)
            .await
            .map_err(crate::ProxyError::into_api)?;
        self.files.learn(&verified.page);
        let mut page = Page::from(verified.bytes);
        if let Some(reason) = verified.offline.as_deref() {
            let printable = reason.replace(|c: char| !(' '..='~').contains(&c), "?");
            let value = HeaderValue::from_str(&printable)
                .unwrap_or(HeaderValue::from_static("upstream unreachable"));
            page.headers.insert(crate::pages::OFFLINE_HEADER, value);
        }
        Ok(Some(page))
    }
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
    if proxy.files.cached(&wanted).is_some() {
        return from_cache(&proxy, &wanted, &headers).await;
    }
    if headers.contains_key(header::RANGE) {
        // A range of an unverified file proves nothing: verify it all first.
        proxy
            .files
            .download(&wanted, None)
            .await
            .map_err(crate::ProxyError::into_api)?;
        if proxy.files.cached(&wanted).is_none() {
            return Err(ApiError::not_found());
        }
        return from_cache(&proxy, &wanted, &headers).await;
    }
    streamed(proxy, wanted).await
}

/// Serves (a range of) a verified, cached file: the verified cache is a
/// blob store keyed by sha256.
async fn from_cache(
    proxy: &Proxy,
    wanted: &Wanted,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let kind = Kind::immutable(&wanted.filename);
    bulwark_http::blobs::serve(proxy.files.blobs(), wanted.sha256.clone(), kind, headers).await
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
            Ok(Ok(last)) => Ok(bulwark_http::blobs::respond(
                Body::from(last.unwrap_or_default()),
                Kind::immutable(&wanted.filename),
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
    Ok(bulwark_http::blobs::respond(
        Body::from_stream(stream),
        Kind::immutable(&wanted.filename),
        wanted.size,
    ))
}
