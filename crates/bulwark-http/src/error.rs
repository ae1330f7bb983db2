//! Errors at the HTTP boundary: a status and a short reason that twine and
//! pip show to the user. The reason goes in the status line (twine prints
//! `response.reason`) and in a plain-text body. Internal details (paths,
//! SQL, keys) are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::ext::ReasonPhrase;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    reason: String,
}

impl ApiError {
    /// An error with `status` and a user-facing `reason`.
    #[must_use]
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    /// 400 with `reason`.
    #[must_use]
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// 404.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 500, after logging the cause.
    pub fn internal(context: &str, error: &dyn std::error::Error) -> Self {
        tracing::error!("{context}: {}", chain(error));
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A reason phrase must be visible ASCII or spaces on one line.
fn phrase(reason: &str) -> String {
    reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [("content-type", "text/plain; charset=utf-8")],
            format!("{}\n", self.reason),
        )
            .into_response();
        if let Ok(reason) = ReasonPhrase::try_from(phrase(&self.reason).into_bytes()) {
            response.extensions_mut().insert(reason);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: a 401 must say which scheme to use.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"Bulwark\""),
            );
        }
        response
    }
}

/// An error and its causes on one line, for logs.
#[must_use]
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
