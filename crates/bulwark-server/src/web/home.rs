//! `GET /`: the search form and the most recently updated projects.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bulwark_http::{ApiError, blocking};

use super::format;
use crate::AppState;

/// How many recently updated projects the home page lists.
pub const RECENT: usize = 20;

/// One recently updated project.
struct Recent {
    project: String,
    display_name: String,
    version: String,
    time: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    query: &'static str,
    /// The index's URL as the client reached it, without a trailing slash.
    base: String,
    recent: Vec<Recent>,
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let recent = blocking(move || store.recently_updated(RECENT))
        .await
        .map_err(|e| ApiError::internal("listing recent projects", &e))?;
    let page = Home {
        query: "",
        base: crate::origin(&headers).unwrap_or_default(),
        recent: recent
            .into_iter()
            .map(|r| Recent {
                time: format::time_us(r.upload_time_us),
                project: r.project,
                display_name: r.display_name,
                version: r.version,
            })
            .collect(),
    };
    super::respond(StatusCode::OK, &page)
}
