//! The API token `bulwark proxy` and `bulwark mirror` send to a private
//! upstream index (`read_access = "token"`), from (first found)
//! `--upstream-token`, `--upstream-token-file`, `BULWARK_UPSTREAM_TOKEN`,
//! `BULWARK_UPSTREAM_TOKEN_FILE`, or the upstream URL's userinfo
//! (`https://__token__:<token>@index.example/`, as pip takes it). A file or
//! the environment keeps it out of `ps` and shell history: prefer them. The
//! token is never printed: the URL is used (and shown) without userinfo.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bulwark_client::UpstreamToken;

use crate::config::env;

/// Where the token for the upstream comes from, as given on the command
/// line.
#[derive(Debug, Default, clap::Args)]
pub struct TokenFlags {
    /// API token for an upstream that needs one for reads (`read_access =
    /// "token"`); prefer `--upstream-token-file` or the
    /// `BULWARK_UPSTREAM_TOKEN` variable, which other users cannot see in
    /// the process list. A `__token__:<token>@` in the upstream URL works too.
    #[arg(long, value_name = "TOKEN")]
    pub upstream_token: Option<String>,
    /// A file holding that token (also `BULWARK_UPSTREAM_TOKEN_FILE`), e.g.
    /// a systemd or Kubernetes secret; surrounding whitespace is ignored.
    #[arg(long, value_name = "FILE")]
    pub upstream_token_file: Option<PathBuf>,
}

/// The token in the file at `path`, if given, trimmed; `key` names the
/// setting in errors.
fn from_file(path: Option<PathBuf>, key: &str) -> anyhow::Result<Option<String>> {
    path.map(|path| {
        std::fs::read_to_string(&path)
            .map(|text| text.trim().to_owned())
            .with_context(|| format!("{key}: cannot read {}", path.display()))
    })
    .transpose()
}

/// The upstream URL without credentials, and the token to send to it.
pub fn resolve(
    upstream: &str,
    flags: TokenFlags,
) -> anyhow::Result<(String, Option<UpstreamToken>)> {
    let (url, from_url) = split_userinfo(upstream)?;
    let token = match (flags.upstream_token, flags.upstream_token_file) {
        (Some(token), _) => Some(token),
        (None, Some(path)) => from_file(Some(path), "--upstream-token-file")?,
        (None, None) => match env::<String>("UPSTREAM_TOKEN")? {
            Some(token) => Some(token),
            None => from_file(
                env::<PathBuf>("UPSTREAM_TOKEN_FILE")?,
                "BULWARK_UPSTREAM_TOKEN_FILE",
            )?,
        },
    };
    let Some(token) = token.or(from_url) else {
        return Ok((url, None));
    };
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the upstream token is empty or holds spaces or control characters (not shown)");
    }
    let token = UpstreamToken::new(&url, &token)?;
    Ok((url, Some(token)))
}

/// `upstream` without userinfo, and the password of a `__token__`
/// userinfo if it had one. Other userinfo is refused, never shown.
pub(crate) fn split_userinfo(upstream: &str) -> anyhow::Result<(String, Option<String>)> {
    let Ok(mut url) = reqwest::Url::parse(upstream) else {
        // Left to the caller's own check of the URL, with its message.
        return Ok((upstream.to_owned(), None));
    };
    if url.username().is_empty() && url.password().is_none() {
        return Ok((upstream.to_owned(), None));
    }
    let shown = bulwark_store::redact_url(upstream);
    if url.username() != "__token__" {
        bail!("upstream: {shown:?}: credentials in the URL must be __token__:<API token>");
    }
    let Some(token) = url.password().map(str::to_owned) else {
        bail!("upstream: {shown:?}: __token__ in the URL has no token after it");
    };
    if token.contains('%') {
        bail!("upstream: {shown:?}: the token in the URL is percent-encoded; give it as is");
    }
    // Neither fails for an http(s) URL with a host.
    let cleared = url.set_password(None).is_ok() && url.set_username("").is_ok();
    if !cleared {
        bail!("upstream: {shown:?} cannot carry credentials");
    }
    Ok((url.to_string(), Some(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_the_url_is_taken_out_of_it() {
        let (url, token) = split_userinfo("http://__token__:bwk_1_2@127.0.0.1:8080/").unwrap();
        assert_eq!(url, "http://127.0.0.1:8080/");
        assert_eq!(token.as_deref(), Some("bwk_1_2"));
        let (url, token) = split_userinfo("http://127.0.0.1:8080").unwrap();
        assert_eq!((url.as_str(), token), ("http://127.0.0.1:8080", None));
    }

    #[test]
    fn a_token_file_is_read_and_trimmed_and_a_missing_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "bwk_1_2\n").unwrap();
        let flags = |path: &std::path::Path| TokenFlags {
            upstream_token_file: Some(path.to_owned()),
            ..TokenFlags::default()
        };
        let (url, token) = resolve("http://127.0.0.1:1/", flags(&file)).unwrap();
        assert_eq!(url, "http://127.0.0.1:1/");
        assert!(token.is_some());
        let missing = resolve("http://127.0.0.1:1/", flags(&dir.path().join("none")))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("--upstream-token-file: cannot read"),
            "{missing}"
        );
        std::fs::write(&file, "\n").unwrap();
        let empty = resolve("http://127.0.0.1:1/", flags(&file))
            .unwrap_err()
            .to_string();
        assert!(empty.contains("is empty"), "{empty}");
    }

    #[test]
    fn other_credentials_in_the_url_are_refused_unshown() {
        for bad in [
            "http://alice:s3cret@host/",
            "http://__token__@host/",
            "http://__token__:s3%63ret@host/",
        ] {
            let err = split_userinfo(bad).unwrap_err().to_string();
            assert!(err.starts_with("upstream: "), "{err}");
            assert!(
                !err.contains("s3cret") && !err.contains("s3%63ret"),
                "{err}"
            );
        }
    }
}
