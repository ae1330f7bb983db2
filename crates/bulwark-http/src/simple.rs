//! The simple repository API (PEP 503 HTML, PEP 691 JSON) over a
//! [`PageSource`]: the project list and each project's page. A source gives
//! the page as its signed JSON bytes; JSON clients get those bytes as they
//! are, HTML clients a page rendered from them, so both always say the same.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bulwark_pypi::{ProjectName, ProjectPage};

use crate::error::ApiError;
use crate::negotiate::{Chosen, Format, chosen};

/// `Cache-Control` of pages that may change at any time but not often: a
/// minute of staleness is fine (the index and the mirror).
pub const SHORT_LIVED: &str = "max-age=60, public";

/// Where the pages come from: the index renders them live, the mirror reads
/// its current snapshot, the proxy verifies them through TUF.
pub trait PageSource: Send + Sync + 'static {
    /// The `Cache-Control` sent with the project list and pages.
    const CACHE_CONTROL: &'static str;

    /// Every project, for `/simple/`.
    fn projects(&self) -> impl Future<Output = Result<Vec<ProjectName>, ApiError>> + Send;

    /// The page of `name` (normalized); `None` when there is no such project.
    fn page(
        &self,
        name: &ProjectName,
    ) -> impl Future<Output = Result<Option<Page>, ApiError>> + Send;
}

/// A project page as a [`PageSource`] gives it.
#[derive(Debug, Default)]
pub struct Page {
    /// The PEP 691 JSON bytes, as signed.
    pub bytes: Vec<u8>,
    /// Headers added to the response in either format (the proxy's warning
    /// that it serves from its cache while the upstream is unreachable).
    pub headers: HeaderMap,
}

impl From<Vec<u8>> for Page {
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            headers: HeaderMap::new(),
        }
    }
}

/// The routes `/simple`, `/simple/`, `/simple/<name>` and `/simple/<name>/`
/// over `pages`.
pub fn router<P: PageSource, S: Clone + Send + Sync + 'static>(pages: Arc<P>) -> Router<S> {
    Router::new()
        .route("/simple", get(|| async { moved_permanently("/simple/") }))
        .route("/simple/", get(index::<P>))
        .route("/simple/{name}", get(project_no_slash))
        .route("/simple/{name}/", get(project::<P>))
        .with_state(pages)
}

/// A `301 Moved Permanently` to `location`. Not axum's `Redirect::permanent`
/// (308): Python's `urllib` follows 308 only since 3.11, so older
/// urllib-based installers would fail where 301 works everywhere.
#[must_use]
pub fn moved_permanently(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, value)]).into_response(),
        Err(_) => ApiError::not_found().into_response(),
    }
}

fn project_url(name: &ProjectName) -> String {
    bulwark_layout::project_page_url(name.normalized())
}

fn respond(chosen: Chosen, cache_control: &'static str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(chosen.content_type),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// `GET /simple/`.
async fn index<P: PageSource>(
    State(pages): State<Arc<P>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let chosen = chosen(&headers)?;
    let names = pages.projects().await?;
    let body = match chosen.format {
        Format::Json => bulwark_pypi::render_index_json(&names),
        Format::Html => bulwark_pypi::render_index_html(&names).into_bytes(),
    };
    Ok(respond(chosen, P::CACHE_CONTROL, body))
}

/// `GET /simple/<name>` without the trailing slash: redirect.
async fn project_no_slash(Path(name): Path<String>) -> Response {
    match ProjectName::parse(&name) {
        Ok(parsed) => moved_permanently(&project_url(&parsed)),
        Err(_) => ApiError::not_found().into_response(),
    }
}

/// `GET /simple/<name>/`.
async fn project<P: PageSource>(
    State(pages): State<Arc<P>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let parsed = ProjectName::parse(&name).map_err(|_| ApiError::not_found())?;
    if parsed.normalized() != name {
        // PEP 503: redirect non-normalized names to the normalized URL.
        return Ok(moved_permanently(&project_url(&parsed)));
    }
    let chosen = chosen(&headers)?;
    let Page { bytes, headers } = pages.page(&parsed).await?.ok_or_else(ApiError::not_found)?;
    let body = match chosen.format {
        Format::Json => bytes,
        Format::Html => {
            let page = ProjectPage::parse_json(&bytes)
                .map_err(|e| ApiError::internal("reading a page", &e))?;
            bulwark_pypi::render_html(&page).into_bytes()
        }
    };
    let mut response = respond(chosen, P::CACHE_CONTROL, body);
    response.headers_mut().extend(headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    /// One project, `demo`, with no files.
    struct OnePage;

    impl PageSource for OnePage {
        const CACHE_CONTROL: &'static str = "no-cache";

        async fn projects(&self) -> Result<Vec<ProjectName>, ApiError> {
            Ok(vec![ProjectName::parse("demo").unwrap()])
        }

        async fn page(&self, name: &ProjectName) -> Result<Option<Page>, ApiError> {
            Ok((name.normalized() == "demo").then(|| {
                Page::from(bulwark_pypi::render_json(&ProjectPage {
                    name: name.clone(),
                    files: Vec::new(),
                }))
            }))
        }
    }

    async fn get(path: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(path);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let response = router::<_, ()>(Arc::new(OnePage))
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body.to_vec())
    }

    #[tokio::test]
    async fn json_is_the_page_as_given_and_html_is_rendered_from_it() {
        let signed = OnePage
            .page(&ProjectName::parse("demo").unwrap())
            .await
            .unwrap()
            .unwrap()
            .bytes;
        let json = "application/vnd.pypi.simple.v1+json";
        let (status, headers, body) = get("/simple/demo/", Some(json)).await;
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, signed.as_slice())
        );
        assert_eq!(headers[header::CONTENT_TYPE], json);
        assert_eq!(headers[header::VARY], "Accept");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let (_, headers, body) = get("/simple/demo/", None).await;
        let page = ProjectPage::parse_json(&signed).unwrap();
        assert_eq!(body, bulwark_pypi::render_html(&page).into_bytes());
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let (_, _, body) = get("/simple/", Some(json)).await;
        assert_eq!(
            body,
            bulwark_pypi::render_index_json(&[ProjectName::parse("demo").unwrap()])
        );
    }

    #[tokio::test]
    async fn other_names_redirect_permanently_or_are_not_found() {
        for (path, location) in [
            ("/simple", "/simple/"),
            ("/simple/Demo/", "/simple/demo/"),
            ("/simple/Demo", "/simple/demo/"),
        ] {
            let (status, headers, _) = get(path, None).await;
            assert_eq!(status, StatusCode::MOVED_PERMANENTLY, "{path}");
            assert_eq!(headers[header::LOCATION], location, "{path}");
        }
        for path in ["/simple/other/", "/simple/-bad-/"] {
            assert_eq!(get(path, None).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, _, _) = get("/simple/demo/", Some("application/json")).await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    }
}
