//! API tokens: `bwk_<id>_<secret>`, given to twine, pip and uv as the
//! password of the user `__token__` over HTTP Basic auth. Only the SHA-256
//! of the secret is stored, under the public id, beside what the token may
//! do: its permission (upload, or read only), its project scope (as the
//! Python Package Index's project-scoped tokens), its expiry and its
//! revocation.
//!
//! ```text
//! Authorization: Basic base64(__token__:bwk_<id>_<secret>)
//!   ─▶ authenticate: parse ─▶ StateStore::token(id) (every request: a revocation
//!      on any server sharing the database counts at once) ─▶ secret digest
//!      ─▶ revoked? expired? ─▶ touch_token (at most once a minute) ─▶ Token
//!   ─▶ reads: require_read_token (read_access = "token"), any permission, any scope
//!   ─▶ changes: Token::may_change(project): upload permission, project in scope
//! ```

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use bulwark_http::{ApiError, blocking};
use bulwark_pypi::ProjectName;
use bulwark_store::{StateStore, StoreError, TokenPermission, TokenRecord, TokenScope, TokenState};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::hex;
use bulwark_tuf::time::Timestamp;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::state::{AppState, ReadAccess};

const PREFIX: &str = "bwk_";

/// The longest token description, in characters.
pub const MAX_DESCRIPTION: usize = 200;

/// The most projects one token may be scoped to.
pub const MAX_SCOPE: usize = 100;

/// How often a token's last use is written at most, in microseconds: a
/// busy CI token must not cost a database write per request.
const LAST_USE_INTERVAL_US: i64 = 60 * 1_000_000;

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The user name is not acceptable.
    #[error("user names are 1 to 100 characters of letters, digits, '.', '_' and '-'")]
    BadUser,
    /// The description is too long or not one line of printable text.
    #[error(
        "the description must be at most {MAX_DESCRIPTION} characters on one line, without control characters"
    )]
    BadDescription,
    /// A scope names something that is not a valid project name.
    #[error("--project {name:?} is not a valid project name")]
    BadProject {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        #[source]
        source: bulwark_pypi::NameError,
    },
    /// A scope names too many projects.
    #[error("a token may be scoped to at most {MAX_SCOPE} projects")]
    TooManyProjects,
    /// The expiry is not after the creation time.
    #[error("the token would expire before it is created")]
    ExpiresInPast,
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

/// What a new token may do, as `bulwark token create` asks for it.
#[derive(Clone, Debug, Default)]
pub struct NewToken {
    /// The user it authenticates.
    pub user: String,
    /// One line about it (may be empty).
    pub description: String,
    /// Upload (and yank, and record transactions), or only read.
    pub permission: TokenPermission,
    /// The projects it may change, as given (not yet normalized); empty:
    /// every project its user may change.
    pub projects: Vec<String>,
    /// When it stops working, microseconds since the Unix epoch; `None`:
    /// never.
    pub expires_us: Option<i64>,
}

/// The scope `projects` names: PEP 503-normalized, sorted, without
/// duplicates. A project need not exist yet (a token may be made before
/// the first upload), but its name must be valid.
pub fn scope_of(projects: &[String]) -> Result<TokenScope, TokenError> {
    if projects.is_empty() {
        return Ok(TokenScope::All);
    }
    if projects.len() > MAX_SCOPE {
        return Err(TokenError::TooManyProjects);
    }
    let mut names = projects
        .iter()
        .map(|name| {
            ProjectName::parse(name)
                .map(|n| n.normalized().to_owned())
                .map_err(|source| TokenError::BadProject {
                    name: name.clone(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    names.dedup();
    Ok(TokenScope::Projects(names))
}

/// True for a description we accept: at most [`MAX_DESCRIPTION`]
/// characters, no control characters (so one line, and nothing that could
/// rewrite a terminal when listed).
#[must_use]
pub fn valid_description(description: &str) -> bool {
    description.chars().count() <= MAX_DESCRIPTION && !description.chars().any(char::is_control)
}

/// Creates and stores a token as `new` describes; returns the token, which
/// is shown once and never stored.
pub fn create(store: &dyn StateStore, new: &NewToken, now_us: i64) -> Result<String, TokenError> {
    if !valid_user(&new.user) {
        return Err(TokenError::BadUser);
    }
    if !valid_description(&new.description) {
        return Err(TokenError::BadDescription);
    }
    let scope = scope_of(&new.projects)?;
    if new.expires_us.is_some_and(|e| e <= now_us) {
        return Err(TokenError::ExpiresInPast);
    }
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill(&mut id).map_err(|_| TokenError::Random)?;
    rng.fill(&mut secret).map_err(|_| TokenError::Random)?;
    let (id, secret) = (hex::encode(&id), hex::encode(&secret));
    store.put_token(&TokenRecord {
        id: id.clone(),
        user: new.user.clone(),
        secret_sha256: sha256_hex(secret.as_bytes()),
        created_us: now_us,
        description: new.description.clone(),
        permission: new.permission,
        scope,
        expires_us: new.expires_us,
        revoked_us: None,
        last_used_us: None,
    })?;
    Ok(format!("{PREFIX}{id}_{secret}"))
}

/// Creates and stores a token for `user` that may upload to every project
/// and never expires; returns the token.
pub fn create_token(store: &dyn StateStore, user: &str, now_us: i64) -> Result<String, TokenError> {
    let new = NewToken {
        user: user.to_owned(),
        ..NewToken::default()
    };
    create(store, &new, now_us)
}

/// A token that authenticated a request: who it is and what it may do.
#[derive(Clone, Debug)]
pub struct Token {
    /// The user it authenticates.
    pub user: String,
    /// What it may do.
    pub permission: TokenPermission,
    /// Which projects it may change.
    pub scope: TokenScope,
}

impl Token {
    /// Refuses a read-only token: it may not upload, yank or record
    /// transactions.
    pub fn may_write(&self) -> Result<(), ApiError> {
        match self.permission {
            TokenPermission::Upload => Ok(()),
            TokenPermission::Read => Err(forbidden(
                "This API token is read-only: it cannot upload, yank or record transactions",
            )),
        }
    }

    /// Refuses a change to `project` (normalized name) that this token may
    /// not make: read-only, or outside its scope. Whether the user may
    /// change the project (ownership) is the store's to decide.
    pub fn may_change(&self, project: &str) -> Result<(), ApiError> {
        self.may_write()?;
        if self.scope.allows(project) {
            return Ok(());
        }
        Err(forbidden(format!(
            "This API token is not valid for project {project}: it is scoped to other projects"
        )))
    }
}

fn forbidden(reason: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, reason)
}

/// The reason a request without credentials gets.
const CREDENTIALS_REQUIRED: &str = "Authentication required: use __token__ and an API token";

/// The token a request authenticates with, from `Authorization: Basic`
/// `__token__:<token>`: it must exist, match, and be neither revoked nor
/// expired at `now`. Looked up in the store on every request (no cache),
/// so that a revocation counts at once on every server sharing the
/// database. Its last use is recorded, at most once a minute. Refusals
/// never repeat the token.
pub fn authenticate(store: &dyn StateStore, headers: &HeaderMap) -> Result<Token, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, CREDENTIALS_REQUIRED))?;
    let encoded = value
        .strip_prefix("Basic ")
        .ok_or_else(|| forbidden("Only HTTP Basic authentication is supported"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| forbidden("Malformed authorization header"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| forbidden("Malformed authorization header"))?;
    if user != "__token__" {
        return Err(forbidden("Use the user name __token__ with an API token"));
    }
    let invalid = || forbidden("Invalid or non-existent API token");
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
    let now_us = bulwark_repo::clock::unix_micros();
    match record.state(now_us) {
        TokenState::Active => {}
        TokenState::Revoked => return Err(forbidden("This API token has been revoked")),
        TokenState::Expired => {
            let expired = Timestamp::from_unix(record.expires_us.unwrap_or_default() / 1_000_000);
            return Err(forbidden(format!(
                "This API token expired at {expired}; create a new one"
            )));
        }
    }
    if record
        .last_used_us
        .is_none_or(|used| used <= now_us.saturating_sub(LAST_USE_INTERVAL_US))
        && let Err(e) = store.touch_token(&record.id, now_us, LAST_USE_INTERVAL_US)
    {
        // The request is authentic; a lost last-use time is not worth refusing it.
        tracing::warn!(token = %record.id, "cannot record the token's last use: {e}");
    }
    Ok(Token {
        user: record.user,
        permission: record.permission,
        scope: record.scope,
    })
}

/// Paths served without a token even when reads need one: what load
/// balancers and monitoring probe.
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// With `read_access = "token"`, refuses every request but those to
/// [`OPEN_PATHS`] without a valid token of any permission and scope (reads
/// are index-wide: a project-scoped token limits what it may change, not
/// what it may read). Without credentials: 401 with `WWW-Authenticate:
/// Basic` (RFC 7617), so that pip and uv retry with their netrc or keyring
/// credentials and browsers prompt; with a bad token: 401 too, with the
/// reason (expired, revoked, invalid).
/// POST requests (uploads, yanks, transactions) pass on to their handlers,
/// which authenticate them with the stricter [`Token::may_change`] after
/// draining what they must.
pub async fn require_read_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.config.read_access == ReadAccess::Public
        || request.method() == Method::POST
        || OPEN_PATHS.contains(&request.uri().path())
    {
        return next.run(request).await;
    }
    let store = state.store.clone();
    let headers = request.headers().clone();
    match blocking(move || authenticate(store.as_ref(), &headers)).await {
        Ok(_) => next.run(request).await,
        Err(refusal) if refusal.status().is_server_error() => refusal.into_response(),
        Err(refusal) => {
            // Whatever is wrong with the credentials (none, malformed,
            // unknown, expired, revoked), they do not authenticate: 401,
            // which RFC 9110 §15.5.2 pairs with a challenge.
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, refusal.reason()).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"bulwark\""),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalized_sorted_and_deduplicated() {
        let names = ["Zeta", "demo_pkg", "Demo.Pkg"].map(str::to_owned);
        assert_eq!(
            scope_of(&names).unwrap(),
            TokenScope::Projects(vec!["demo-pkg".to_owned(), "zeta".to_owned()])
        );
        assert_eq!(scope_of(&[]).unwrap(), TokenScope::All);
    }

    #[test]
    fn scopes_refuse_invalid_names_and_too_many() {
        assert!(matches!(
            scope_of(&["-bad-".to_owned()]),
            Err(TokenError::BadProject { .. })
        ));
        assert!(matches!(
            scope_of(&["a b".to_owned()]),
            Err(TokenError::BadProject { .. })
        ));
        let many: Vec<String> = (0..=MAX_SCOPE).map(|i| format!("p{i}")).collect();
        assert!(matches!(scope_of(&many), Err(TokenError::TooManyProjects)));
    }

    #[test]
    fn descriptions_are_one_printable_line() {
        assert!(valid_description(""));
        assert!(valid_description("CI for démo, 2026"));
        assert!(valid_description(&"é".repeat(MAX_DESCRIPTION)));
        assert!(!valid_description(&"x".repeat(MAX_DESCRIPTION + 1)));
        assert!(!valid_description("two\nlines"));
        assert!(!valid_description("bell\u{7}"));
        assert!(!valid_description("esc\u{1b}[2J"));
    }

    #[test]
    fn scoped_read_only_tokens_may_change_nothing() {
        let token = Token {
            user: "alice".to_owned(),
            permission: TokenPermission::Upload,
            scope: TokenScope::Projects(vec!["demo".to_owned()]),
        };
        assert!(token.may_change("demo").is_ok());
        let other = token.may_change("other").unwrap_err();
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        assert!(other.reason().contains("not valid for project other"));
        let read = Token {
            permission: TokenPermission::Read,
            ..token
        };
        assert!(
            read.may_change("demo")
                .unwrap_err()
                .reason()
                .contains("read-only")
        );
    }
}
