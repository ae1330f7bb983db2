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

use crate::files::{self, Wanted};
use crate::pages::VerifiedPage;
use crate::{Proxy, ProxyError};

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

    /// The projects whose pages this proxy verified: it learns the index
    /// one page at a time, and listing all of it would take every bin.
    async fn projects(&self) -> Result<Vec<ProjectName>, ApiError> {
        Ok(self.trust.projects())
    }

    /// The verified page, as signed.
    async fn page(&self, name: &ProjectName) -> Result<Option<Page>, ApiError> {
        let verified = self.learn(name).await.map_err(ProxyError::into_api)?;
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

impl Proxy {
    /// The verified page of `name`, whose files become servable.
    async fn learn(&self, name: &ProjectName) -> Result<VerifiedPage, ProxyError> {
        let verified = self.trust.page(name).await?;
        self.files.learn(&verified.page);
        Ok(verified)
    }

    /// What `/files/<sha256>/<filename>` serves: a file listed on a page
    /// verified before, or else on the page of the project the filename
    /// names, verified now. So a lock file's URLs work through a proxy
    /// that never served their pages (restarted, or new).
    async fn wanted(&self, sha256: &str, filename: &str) -> Result<Wanted, ProxyError> {
        if let Some(wanted) = self.files.resolve(sha256, filename) {
            return Ok(wanted);
        }
        let not_found = |what: String| ProxyError::NotFound { what };
        if !bulwark_layout::is_sha256(sha256) {
            return Err(not_found(format!("{sha256} is not a sha256")));
        }
        let Some(project) = files::project_of(filename) else {
            return Err(not_found(format!(
                "{filename} is not a distribution filename"
            )));
        };
        self.learn(&project).await?;
        self.files.resolve(sha256, filename).ok_or_else(|| {
            not_found(format!(
                "the signed page of {} lists no {filename} with sha256 {sha256}",
                project.normalized()
            ))
        })
    }
}

/// `GET /files/<sha256>/<filename>` (and `.metadata`).
async fn file(
    State(proxy): Shared,
    Path((sha256, filename)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = proxy
        .wanted(&sha256, &filename)
        .await
        .map_err(ProxyError::into_api)?;
    if proxy.files.cached(&wanted).is_some() {
        return from_cache(&proxy, &wanted, &headers).await;
    }
    if headers.contains_key(header::RANGE) {
        // A range of an unverified file proves nothing: verify it all first.
        proxy
            .files
            .download(&wanted, None)
            .await
            .map_err(ProxyError::into_api)?;
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
/// arrives in one chunk) becomes its status (a 409) with the reason; a
/// later one aborts the response, so the client sees a truncated
/// transfer, never the whole unverified file.
async fn streamed(proxy: Arc<Proxy>, wanted: Wanted) -> Result<Response, ApiError> {
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (done_tx, done) = tokio::sync::oneshot::channel::<Result<Option<Vec<u8>>, ProxyError>>();
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

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use bulwark_pypi::{DistFilename, PageFile, ProjectPage, UploadTime, render_json};
    use bulwark_testkit::{RepositorySimulator, TestServer, now};
    use bulwark_tuf::hash::sha256_hex;
    use tower::ServiceExt as _;

    use super::*;
    use crate::ProxyConfig;

    const WHEEL: &str = "demo-1.0-py3-none-any.whl";

    /// A signed repository listing demo's page, which lists [`WHEEL`] with
    /// `wheel` and its `.metadata`; the files served under `files/`.
    fn upstream(wheel: &[u8], metadata: &[u8]) -> (RepositorySimulator, TestServer) {
        let sha256 = sha256_hex(wheel);
        let page = render_json(&ProjectPage {
            name: ProjectName::parse("demo").unwrap(),
            files: vec![PageFile {
                filename: DistFilename::parse(WHEEL).unwrap(),
                url: bulwark_layout::file_url(&sha256, WHEEL),
                sha256: sha256.clone(),
                blake2b_256: Some("0".repeat(64)),
                size: Some(wheel.len() as u64),
                requires_python: None,
                yanked: None,
                core_metadata_sha256: Some(sha256_hex(metadata)),
                upload_time: UploadTime::from_seconds(now()),
            }],
        });
        let mut sim = RepositorySimulator::new();
        sim.add_target("targets", &bulwark_layout::page_target("demo"), &page);
        let server = TestServer::start();
        let mut files: std::collections::BTreeMap<_, _> = sim
            .publish()
            .into_iter()
            .map(|(path, bytes)| (format!("tuf/{path}"), bytes))
            .collect();
        files.insert(bulwark_layout::file_key(&sha256, WHEEL), wheel.to_vec());
        let metadata_key = bulwark_layout::metadata_file_key(&sha256, WHEEL);
        files.insert(metadata_key, metadata.to_vec());
        server.serve(&files);
        (sim, server)
    }

    /// A proxy that has verified nothing yet.
    fn proxy_of(
        sim: &RepositorySimulator,
        server: &TestServer,
        cache: &std::path::Path,
    ) -> Arc<Proxy> {
        let config = ProxyConfig::new(&format!("{}/", server.url()), cache.to_owned(), now);
        Proxy::open(&config, &sim.root_bytes(1)).unwrap()
    }

    async fn get(proxy: &Arc<Proxy>, path: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router(proxy.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, body.to_vec())
    }

    /// A lock file (uv.lock, hashed requirements) names file URLs only: a
    /// proxy that never served their pages (new, or restarted on the same
    /// cache) verifies the page the filename names, then serves the file.
    #[tokio::test]
    async fn a_file_url_resolves_by_verifying_the_page_that_lists_it() {
        let (wheel, metadata) = (b"wheel bytes".as_slice(), b"Name: demo".as_slice());
        let (sim, server) = upstream(wheel, metadata);
        let cache = tempfile::tempdir().unwrap();
        let proxy = proxy_of(&sim, &server, cache.path());
        let sha = sha256_hex(wheel);
        assert_eq!(
            get(&proxy, &format!("/files/{sha}/{WHEEL}.metadata")).await,
            (StatusCode::OK, metadata.to_vec())
        );
        assert_eq!(
            get(&proxy, &format!("/files/{sha}/{WHEEL}")).await,
            (StatusCode::OK, wheel.to_vec())
        );
        let not_found = [
            (
                format!("/files/{}/{WHEEL}", "0".repeat(64)),
                format!(
                    "the signed page of demo lists no {WHEEL} with sha256 {}",
                    "0".repeat(64)
                ),
            ),
            (
                format!("/files/{sha}/other-1.0-py3-none-any.whl"),
                "other is not in the signed metadata".to_owned(),
            ),
            (
                format!("/files/{sha}/index.json"),
                "index.json is not a distribution filename".to_owned(),
            ),
        ];
        for (path, reason) in not_found {
            assert_eq!(
                get(&proxy, &path).await,
                (
                    StatusCode::NOT_FOUND,
                    format!("not found: {reason}\n").into_bytes()
                ),
                "{path}"
            );
        }
    }

    /// `/simple/` lists the projects whose pages the proxy verified (it
    /// learns the index one page at a time); it used to be a 404.
    #[tokio::test]
    async fn the_project_index_lists_the_pages_verified_so_far() {
        let (sim, server) = upstream(b"wheel", b"metadata");
        let cache = tempfile::tempdir().unwrap();
        let proxy = proxy_of(&sim, &server, cache.path());
        let index = |names: &[&str]| {
            let names: Vec<_> = names
                .iter()
                .map(|n| ProjectName::parse(n).unwrap())
                .collect();
            (
                StatusCode::OK,
                bulwark_pypi::render_index_html(&names).into_bytes(),
            )
        };
        assert_eq!(get(&proxy, "/simple/").await, index(&[]));
        assert_eq!(
            get(&proxy, "/simple/absent/").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(get(&proxy, "/simple/demo/").await.0, StatusCode::OK);
        assert_eq!(get(&proxy, "/simple/").await, index(&["demo"]));
    }
}
