//! The simple repository API (PEP 503 HTML, PEP 691 JSON): the project list
//! and each project's page, rendered live from the state store with the
//! same deterministic renderer the publisher signs, so `/simple/<name>/` in
//! JSON is byte for byte the signed page once it is published.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_pypi::ProjectName;

use crate::error::ApiError;
use crate::negotiate::{Chosen, Format, negotiate};
use crate::state::{AppState, blocking};

/// The format `Accept` asks for, or 406 naming what is offered.
pub fn chosen(headers: &HeaderMap) -> Result<Chosen, ApiError> {
    negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: ask for application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html or text/html",
        )
    })
}

fn respond(chosen: Chosen, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(chosen.content_type),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60, public"),
    );
    response
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

/// `GET /simple/`.
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let chosen = chosen(&headers)?;
    let store = state.store.clone();
    let projects = blocking(move || store.projects())
        .await
        .map_err(|e| ApiError::internal("listing projects", &e))?;
    let names: Vec<ProjectName> = projects
        .iter()
        .filter_map(|p| ProjectName::parse(&p.display_name).ok())
        .collect();
    let body = match chosen.format {
        Format::Json => bulwark_pypi::render_index_json(&names),
        Format::Html => bulwark_pypi::render_index_html(&names).into_bytes(),
    };
    Ok(respond(chosen, body))
}

/// `GET /simple/<name>` without the trailing slash: redirect.
pub async fn project_no_slash(Path(name): Path<String>) -> Response {
    match ProjectName::parse(&name) {
        Ok(parsed) => moved_permanently(&format!("/simple/{}/", parsed.normalized())),
        Err(_) => ApiError::not_found().into_response(),
    }
}

/// `GET /simple/<name>/`.
pub async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let parsed = ProjectName::parse(&name).map_err(|_| ApiError::not_found())?;
    let normalized = parsed.normalized().to_owned();
    if normalized != name {
        // PEP 503: redirect non-normalized names to the normalized URL.
        return Ok(moved_permanently(&format!("/simple/{normalized}/")));
    }
    let chosen = chosen(&headers)?;
    let store = state.store.clone();
    let project = normalized.clone();
    let files = blocking(move || store.files(&project))
        .await
        .map_err(|e| ApiError::internal("reading files", &e))?;
    if files.is_empty() {
        return Err(ApiError::not_found());
    }
    let page = bulwark_repo::page::project_page(&normalized, &files)
        .map_err(|e| ApiError::internal("rendering page", &e))?;
    let body = match chosen.format {
        Format::Json => bulwark_pypi::render_json(&page),
        Format::Html => bulwark_pypi::render_html(&page).into_bytes(),
    };
    Ok(respond(chosen, body))
}
