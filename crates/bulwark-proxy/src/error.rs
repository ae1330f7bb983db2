//! What the proxy tells pip and uv when it will not serve something: a
//! status and a reason phrase naming what happened (pip prints both), with
//! the details in the log.

use std::error::Error as StdError;

use axum::http::StatusCode;
use bulwark_http::{ApiError, chain};

type Source = Box<dyn StdError + Send + Sync>;

/// Why a request was not served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The project or file is not in the verified metadata (404).
    #[error("not found: {what}")]
    NotFound {
        /// What was asked for.
        what: String,
    },
    /// Upstream sent something that failed verification (409).
    #[error("refused: {reason}")]
    Refused {
        /// What was refused and why, for the user.
        reason: String,
        /// The details, for the log.
        #[source]
        source: Option<Source>,
    },
    /// Upstream could not be reached or answered with an error (502).
    #[error("upstream unavailable: {reason}")]
    Upstream {
        /// What failed, for the user.
        reason: String,
        /// The details, for the log.
        #[source]
        source: Option<Source>,
    },
    /// A local failure: the cache directory or the trusted metadata (500).
    #[error("{context}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: Source,
    },
}

impl ProxyError {
    /// A refusal with `reason` and its cause.
    pub fn refused(reason: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Refused {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// An upstream failure with `reason` and its cause.
    pub fn upstream(reason: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Upstream {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// A local failure.
    pub fn internal(context: &'static str, source: impl Into<Source>) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }

    /// The status pip and uv see. A refusal is 409 Conflict: what upstream
    /// served conflicts with what the signed metadata says, and asking
    /// again gets the same answer. Not a 5xx, which pip (500, 502, 503,
    /// 520, 527) and uv (any 5xx) retry with back-off before failing
    /// without the reason; not 403, which uv takes for missing credentials
    /// on a page ("not found in the package registry"). An upstream that
    /// cannot be reached may come back, so that stays a retried 502.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Refused { .. } => StatusCode::CONFLICT,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The reason phrase pip and uv see: the refusal, never a local path.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::Internal { .. } => "Internal Server Error: see the proxy's log".to_owned(),
            other => other.to_string(),
        }
    }

    /// Logs the full story and returns the response pip and uv see.
    #[must_use]
    pub fn into_api(self) -> ApiError {
        match &self {
            Self::NotFound { .. } => tracing::debug!("{self}"),
            Self::Internal { .. } => tracing::error!("{}", chain(&self)),
            _ => tracing::warn!("{}", chain(&self)),
        }
        ApiError::new(self.status(), self.reason())
    }
}
