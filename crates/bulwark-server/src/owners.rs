//! A project's owners over HTTP, for the owners themselves:
//!
//! ```text
//! GET    /api/projects/<name>/owners          the owners, as JSON
//! POST   /api/projects/<name>/owners          user=<user> (form) or {"user": "<user>"}: add
//! DELETE /api/projects/<name>/owners/<user>   remove
//! ```
//!
//! Changes are authenticated as yanks are (Basic, `__token__` and an API
//! token) and allowed only to a current owner; the store checks that, and
//! that the last owner stays, in the transaction that makes the change
//! and writes its audit record (the token's user is the actor). Operators
//! use `bulwark owner` instead.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_store::{Actor, OwnerChange};
use bulwark_tuf::json::{self, Value};

use crate::auth::{authenticate, valid_user};
use crate::state::AppState;

/// The longest request body a change takes: one user name.
const MAX_BODY: usize = 1024;

/// `GET /api/projects/<name>/owners`: `{"project": …, "owners": [{"user",
/// "added_us", "added_by"}, …]}`, 404 for an unknown project.
pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let project = parse_project(&name)?;
    let store = state.store.clone();
    let normalized = project.normalized().to_owned();
    let owners = blocking(move || store.owners(&normalized))
        .await
        .map_err(|e| ApiError::internal("reading owners", &e))?;
    if owners.is_empty() {
        return Err(no_such_project(&project));
    }
    let owners = owners
        .into_iter()
        .map(|o| {
            Value::Object(
                [
                    ("user".to_owned(), Value::String(o.user)),
                    ("added_us".to_owned(), Value::Int(o.added_us)),
                    ("added_by".to_owned(), Value::String(o.added_by)),
                ]
                .into(),
            )
        })
        .collect();
    let body = Value::Object(
        [
            ("project".to_owned(), project.normalized().into()),
            ("owners".to_owned(), Value::Array(owners)),
        ]
        .into(),
    );
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json::to_vec(&body),
    )
        .into_response())
}

/// `POST /api/projects/<name>/owners`: adds the user the body names.
pub async fn add(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let user = user_of_body(&headers, &body)?;
    change(state, headers, &name, user, true).await
}

/// `DELETE /api/projects/<name>/owners/<user>`.
pub async fn remove(
    State(state): State<AppState>,
    Path((name, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change(state, headers, &name, user, false).await
}

fn parse_project(name: &str) -> Result<bulwark_pypi::ProjectName, ApiError> {
    bulwark_pypi::ProjectName::parse(name).map_err(|_| ApiError::not_found())
}

fn no_such_project(project: &bulwark_pypi::ProjectName) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No such project: {}", project.normalized()),
    )
}

/// The user a change's body names: `user=<name>` as a form, or
/// `{"user": "<name>"}` with a JSON content type.
fn user_of_body(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::bad_request("The request body is too long"));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let user = if is_json {
        json::parse(body).ok().and_then(|value| match value {
            Value::Object(mut fields) => match fields.remove("user") {
                Some(Value::String(user)) => Some(user),
                _ => None,
            },
            _ => None,
        })
    } else {
        // User names need no percent-decoding: an encoded one is invalid.
        std::str::from_utf8(body).ok().and_then(|form| {
            form.trim()
                .split('&')
                .find_map(|pair| pair.strip_prefix("user="))
                .map(str::to_owned)
        })
    };
    user.ok_or_else(|| {
        ApiError::bad_request("Name the user: user=<name> (form) or {\"user\": \"<name>\"} (JSON)")
    })
}

async fn change(
    state: AppState,
    headers: HeaderMap,
    name: &str,
    user: String,
    add: bool,
) -> Result<Response, ApiError> {
    let project = parse_project(name)?;
    if !valid_user(&user) {
        return Err(ApiError::bad_request(format!(
            "Invalid user name {user:?}: 1 to 100 letters, digits, '.', '_' and '-'"
        )));
    }
    let store = state.store.clone();
    let normalized = project.normalized().to_owned();
    let target = user.clone();
    let (actor, outcome) = blocking(move || {
        let token = authenticate(store.as_ref(), &headers)?;
        // A read-only token, or one scoped to other projects, changes no
        // owners either.
        token.may_change(&normalized)?;
        let actor = token.user;
        let as_user = Actor::User(actor.clone());
        let outcome = if add {
            store.add_owner(&normalized, &target, &as_user)
        } else {
            store.remove_owner(&normalized, &target, &as_user)
        };
        outcome
            .map(|o| (actor, o))
            .map_err(|e| ApiError::internal("changing owners", &e))
    })
    .await?;
    let project = project.normalized();
    match outcome {
        OwnerChange::Done => {
            let action = if add { "added" } else { "removed" };
            tracing::info!(
                project,
                user,
                actor,
                action,
                "ownership changed over the API"
            );
            let message = if add {
                format!("OK: {user} is an owner of {project}\n")
            } else {
                format!("OK: {user} is no longer an owner of {project}\n")
            };
            Ok((StatusCode::OK, message).into_response())
        }
        OwnerChange::NoSuchProject => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No such project: {project}"),
        )),
        OwnerChange::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("The user does not own project {project}: only its owners change its owners"),
        )),
        OwnerChange::AlreadyOwner => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{user} is already an owner of {project}"),
        )),
        OwnerChange::NotOwner => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{user} is not an owner of {project}"),
        )),
        OwnerChange::LastOwner => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{user} is the last owner of {project}: add another owner first"),
        )),
    }
}
