//! API tokens: `bwk_<id>_<secret>`, given to twine as the password of the
//! user `__token__` over HTTP Basic auth. Only the SHA-256 of the secret is
//! stored, under the public id.

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use bulwark_http::ApiError;
use bulwark_store::{StateStore, StoreError, TokenRecord};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::hex;
use ring::rand::{SecureRandom as _, SystemRandom};

const PREFIX: &str = "bwk_";

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The user name is not acceptable.
    #[error("user names are 1 to 100 characters of letters, digits, '.', '_' and '-'")]
    BadUser,
    /// No randomness available.
    #[error("no randomness available")]
    Random,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// True for user names we accept.
#[must_use]
pub fn valid_user(user: &str) -> bool {
    (1..=100).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Creates and stores a token for `user`; returns the token, which is
/// shown once and never stored.
pub fn create_token(store: &dyn StateStore, user: &str, now_us: i64) -> Result<String, TokenError> {
    if !valid_user(user) {
        return Err(TokenError::BadUser);
    }
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill(&mut id).map_err(|_| TokenError::Random)?;
    rng.fill(&mut secret).map_err(|_| TokenError::Random)?;
    let (id, secret) = (hex::encode(&id), hex::encode(&secret));
    store.put_token(&TokenRecord {
        id: id.clone(),
        user: user.to_owned(),
        secret_sha256: sha256_hex(secret.as_bytes()),
        created_us: now_us,
    })?;
    Ok(format!("{PREFIX}{id}_{secret}"))
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, reason)
}

/// The user a request authenticates as, from `Authorization: Basic`.
pub fn authenticate(store: &dyn StateStore, headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Authentication required: use __token__ and an API token",
            )
        })?;
    let encoded = value
        .strip_prefix("Basic ")
        .ok_or_else(|| unauthorized("Only HTTP Basic authentication is supported"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| unauthorized("Malformed authorization header"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("Malformed authorization header"))?;
    if user != "__token__" {
        return Err(unauthorized(
            "Use the user name __token__ with an API token",
        ));
    }
    let invalid = || unauthorized("Invalid or non-existent API token");
    let (id, secret) = password
        .strip_prefix(PREFIX)
        .and_then(|t| t.split_once('_'))
        .ok_or_else(invalid)?;
    let record = store
        .token(id)
        .map_err(|e| ApiError::internal("token lookup", &e))?
        .ok_or_else(invalid)?;
    // Comparing digests: timing reveals nothing useful about the secret.
    if record.secret_sha256 != sha256_hex(secret.as_bytes()) {
        return Err(invalid());
    }
    Ok(record.user)
}
