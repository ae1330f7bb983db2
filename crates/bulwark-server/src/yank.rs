//! Yanking and un-yanking a release (PEP 592) by an owner of its project:
//! `POST /api/projects/<name>/<version>/yank` (the body, if any, is the
//! reason) and `POST /api/projects/<name>/<version>/unyank`. The version
//! names a release, as PEP 440 compares versions: `1.0.0` yanks the files
//! uploaded as `1.0` and `1` too. The change is published like any upload.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_store::YankOutcome;

use crate::auth::authenticate;
use crate::state::AppState;

const MAX_REASON: usize = 1024;

async fn set(
    state: AppState,
    headers: HeaderMap,
    name: &str,
    version: &str,
    reason: Option<String>,
) -> Result<Response, ApiError> {
    let project = bulwark_pypi::ProjectName::parse(name).map_err(|_| ApiError::not_found())?;
    let version = bulwark_pypi::Version::parse(version)
        .map_err(|_| ApiError::bad_request(format!("{version:?} is not a valid PEP 440 version")))?
        .to_string();
    let store = state.store.clone();
    let normalized = project.normalized().to_owned();
    let outcome = blocking(move || {
        let token = authenticate(store.as_ref(), &headers)?;
        token.may_change(&normalized)?;
        store
            .set_yanked(&normalized, &version, reason.as_deref(), &token.user)
            .map_err(|e| ApiError::internal("yanking", &e))
    })
    .await?;
    match outcome {
        YankOutcome::Updated { files } => {
            state.publish.notify_one();
            Ok((StatusCode::OK, format!("OK: {files} files updated\n")).into_response())
        }
        YankOutcome::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "No such project version",
        )),
        YankOutcome::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "The user does not own this project",
        )),
        YankOutcome::Claimed => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Project {} is claimed: yank with bulwark yank --key",
                project.normalized()
            ),
        )),
    }
}

/// `POST /api/projects/<name>/<version>/yank`.
pub async fn yank(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let reason = body.trim().to_owned();
    if reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "The reason must be one line of at most {MAX_REASON} bytes"
        )));
    }
    set(state, headers, &name, &version, Some(reason)).await
}

/// `POST /api/projects/<name>/<version>/unyank`.
pub async fn unyank(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set(state, headers, &name, &version, None).await
}
