//! `PyPI`'s JSON API (<https://docs.pypi.org/api/json/>), for the tools
//! that read it rather than the simple API (pip-audit, Renovate,
//! Dependabot, scripts):
//!
//! ```text
//! GET /pypi/<name>/json            info of the latest release, releases, its urls
//! GET /pypi/<name>/<version>/json  info and urls of one release (PEP 440 equality)
//!
//! LivePages::project_page (the page /simple/<name>/ serves) ─▶ json_api::releases
//!   ─▶ latest / find ─▶ its .metadata blob ─▶ CoreMetadata ─▶ JsonApi::render_*
//! ```
//!
//! The documents are built from the same page as `/simple/<name>/`, so they
//! list the same files with the same yanks; for a claimed project that is
//! the page its developers signed. A name that is not normalized is
//! redirected (301) to the normalized path, as `PyPI` does; an unknown
//! project or version is a 404 with `{"message": "Not Found"}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_pypi::json_api::{self, JsonApi};
use bulwark_pypi::{CoreMetadata, ProjectName, Version};
use bulwark_tuf::json::Value;

use crate::AppState;
use crate::simple::LivePages;

/// `GET /pypi/<name>/json`.
pub async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    document(&state, &headers, &name, None).await
}

/// `GET /pypi/<name>/<version>/json`.
pub async fn release(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    document(&state, &headers, &name, Some(&version)).await
}

/// `PyPI`'s answer for an unknown project or version.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"message\":\"Not Found\"}",
    )
        .into_response()
}

async fn document(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
) -> Result<Response, ApiError> {
    let Ok(parsed) = ProjectName::parse(name) else {
        return Ok(not_found());
    };
    let wanted = match version.map(Version::parse) {
        None => None,
        Some(Ok(wanted)) => Some(wanted),
        Some(Err(_)) => return Ok(not_found()),
    };
    let project = parsed.normalized();
    if project != name {
        let location = match version {
            Some(version) => format!("/pypi/{project}/{version}/json"),
            None => format!("/pypi/{project}/json"),
        };
        return Ok(bulwark_http::simple::moved_permanently(&location));
    }
    let pages = LivePages::new(state);
    let Some(page) = pages.project_page(&parsed).await? else {
        return Ok(not_found());
    };
    let releases = json_api::releases(&page);
    let release = match &wanted {
        None => json_api::latest(&releases),
        Some(wanted) => json_api::find(&releases, wanted),
    };
    let Some(release) = release else {
        return Ok(not_found());
    };

    let metadata_key = metadata_key(release);
    let (store, blobs, key) = (state.store.clone(), state.blobs.clone(), project.to_owned());
    let (record, metadata, timestamp) = blocking(move || {
        let metadata = match metadata_key {
            Some(metadata_key) => blobs.get(&metadata_key)?,
            None => None,
        };
        Ok::<_, bulwark_store::StoreError>((
            store.project(&key)?,
            metadata,
            store.latest_timestamp()?,
        ))
    })
    .await
    .map_err(|e| ApiError::internal("reading a project", &e))?;
    let metadata = metadata.and_then(|bytes| parse_stored_metadata(project, &bytes));
    let last_serial = timestamp.as_deref().map_or(0, timestamp_version);

    let origin = crate::origin(headers).unwrap_or_default();
    let page_url = format!("{origin}{}", bulwark_layout::project_page_url(project));
    let api_url = format!("{origin}/pypi/");
    let api = JsonApi {
        page: &page,
        display_name: record
            .as_ref()
            .map_or(parsed.as_given(), |r| r.display_name.as_str()),
        page_url: &page_url,
        api_url: &api_url,
        last_serial,
    };
    let body = match wanted {
        None => api.render_project(&releases, release, metadata.as_ref()),
        Some(_) => api.render_release(release, metadata.as_ref()),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(bulwark_http::simple::SHORT_LIVED),
    );
    headers.insert("x-pypi-last-serial", HeaderValue::from(last_serial));
    Ok(response)
}

/// The blob key of the PEP 658 core metadata that describes `release`
/// ([`json_api::Release::metadata_file`]), if it has one.
pub(crate) fn metadata_key(release: &json_api::Release<'_>) -> Option<String> {
    release
        .metadata_file()
        .map(|f| bulwark_layout::metadata_file_key(&f.sha256, f.filename.as_str()))
}

/// Stored core metadata of `project`, parsed. It was checked when uploaded;
/// if it no longer parses, what is built from it is left empty (logged)
/// rather than the whole answer refused.
pub(crate) fn parse_stored_metadata(project: &str, bytes: &[u8]) -> Option<CoreMetadata> {
    match CoreMetadata::parse(bytes) {
        Ok(metadata) => Some(metadata),
        Err(e) => {
            tracing::warn!(project, error = %e, "stored core metadata does not parse");
            None
        }
    }
}

/// The version of the latest timestamp metadata: the index's `last_serial`.
/// `PyPI` counts changes per project; the index counts publications, which
/// grow whenever any project changes, so the number still grows whenever
/// this project's does (once published) — what mirrors compare it for.
fn timestamp_version(bytes: &[u8]) -> u64 {
    let Ok(Value::Object(top)) = bulwark_tuf::json::parse(bytes) else {
        return 0;
    };
    match top.get("signed") {
        Some(Value::Object(signed)) => match signed.get("version") {
            Some(Value::Int(version)) => u64::try_from(*version).unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    }
}
