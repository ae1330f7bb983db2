//! The web pages: server-rendered HTML for people, built from the same
//! records as the signed pages, with askama templates (`templates/`, one
//! base layout, compile-time checked, every expression HTML-escaped).
//!
//! ```text
//! GET /                  home: search form, StateStore::recently_updated
//! GET /search?q=         search.rs: PEP 503-normalised query ─▶ StateStore::search_projects
//! GET /project/<name>/   project.rs: LivePages::project_page (the page /simple/ and the JSON
//!                        API serve) ─▶ releases, newest first; the latest release's .metadata
//!                        ─▶ description.rs (Markdown sanitised); claim / page / role records
//!                        ─▶ TUF status
//! GET /status/           status.rs: role records + installed offline roles (keys,
//!                        thresholds), publisher::PublishStats, the queue
//! ```
//!
//! The pages need no JavaScript and load nothing from elsewhere (a small
//! inline stylesheet), so they work offline; every answer carries a
//! Content-Security-Policy that allows no script at all.

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bulwark_http::ApiError;

use crate::AppState;

pub mod description;
mod format;
mod home;
mod project;
pub mod search;
mod status;

/// What every page answer says beside its body: no script may run, no
/// frame may embed it, forms go only to this index.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The web pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(search::search))
        .route("/project/{name}/", get(project::project))
        .route("/project/{name}", get(project::without_slash))
        .route("/status/", get(status::status))
        .route(
            "/status",
            get(|| async { bulwark_http::simple::moved_permanently("/status/") }),
        )
}

/// `page` rendered as an HTML answer with `status`.
fn respond(status: StatusCode, page: &impl Template) -> Result<Response, ApiError> {
    let body = page
        .render()
        .map_err(|e| ApiError::internal("rendering a web page", &e))?;
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(bulwark_http::simple::SHORT_LIVED),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The 404 page.
#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFound<'a> {
    query: &'a str,
    message: &'a str,
}

/// A 404 answer saying `message`.
fn not_found(message: &str) -> Result<Response, ApiError> {
    respond(StatusCode::NOT_FOUND, &NotFound { query: "", message })
}

/// The simple index's URL as the client reached the server, for install
/// commands ([`crate::origin`]; a relative `/simple/` when the `Host`
/// header is unusable).
fn index_url(headers: &axum::http::HeaderMap) -> String {
    format!("{}/simple/", crate::origin(headers).unwrap_or_default())
}
