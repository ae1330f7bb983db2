//! Trusted metadata and verified project pages, kept in the state
//! directory of one root and upstream ([`crate::state`]).
//!
//! Freshness policy: a page request refreshes the top-level metadata (root
//! chain, timestamp, snapshot, targets; spec §5.3–§5.6) unless a refresh
//! that *started* less than [`ProxyConfig::freshness`] ago succeeded, in
//! which case that trusted set is reused. So a burst of page requests (pip
//! or uv resolving 50 packages) costs one timestamp download, and a new
//! release becomes visible within that period. Refreshes and target
//! searches are serialized behind one async mutex, so concurrent requests
//! never refresh twice and never see a half-updated set; page downloads run
//! outside it, in parallel.
//!
//! A refresh refused for what the upstream *answered* (a bad signature, a
//! rollback, expired metadata, a wrong hash, an oversized body, a 404) is
//! never papered over: the request fails. Only when the upstream cannot be
//! *reached* (no connection, a timeout, a 5xx) does the proxy trust its
//! cache instead ([`Updater::trust_cached`]): the stored root, timestamp,
//! snapshot, targets and each delegated role on the way to the page must
//! be unexpired now, the trust any TUF client has between two refreshes.
//! Such a page carries [`OFFLINE_HEADER`] and the log says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bulwark_client::fetch::FetchError;
use bulwark_client::{Fetcher, Limits, MetadataDir, UpdateError, Updater};
use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_tuf::Refused;
use bulwark_tuf::hash::{Mismatch, sha256_hex};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use tokio::sync::Mutex;

use crate::{ProxyConfig, ProxyError, StartError};

/// The response header of a page served from the verified cache because
/// the upstream could not be reached; its value says why.
pub const OFFLINE_HEADER: &str = "x-bulwark-offline";

/// Trusted metadata, refreshed on demand, and the pages it verifies.
#[derive(Debug)]
pub struct Trust {
    state: Mutex<State>,
    /// The projects whose pages this process verified, by normalized name.
    verified: std::sync::Mutex<BTreeMap<String, ProjectName>>,
    metadata_dir: PathBuf,
    pages_dir: PathBuf,
    upstream: String,
    metadata_url: String,
    targets_url: String,
    fetcher: Fetcher,
    limits: Limits,
    freshness: std::time::Duration,
    clock: fn() -> Timestamp,
}

#[derive(Debug, Default)]
struct State {
    /// The trusted metadata of the last successful refresh.
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    updater: Updater,
    /// When the refresh started.
    started: Instant,
    /// Why the upstream was not used, when `updater` trusts the cache.
    offline: Option<String>,
}

/// Why a refresh gave no trusted metadata.
enum Failed {
    /// The upstream answered and the answer was refused (or the trusted
    /// metadata could not be stored); `next_root` is the root file that was
    /// due next.
    Answer {
        error: UpdateError,
        next_root: String,
    },
    /// The upstream cannot be reached (`reason`), and the cache cannot
    /// stand in (`cache`).
    Unreachable { reason: String, cache: UpdateError },
    /// The trusted root cannot be loaded.
    Local(ProxyError),
}

/// A project page whose bytes matched the signed metadata.
#[derive(Debug)]
pub struct VerifiedPage {
    /// The signed bytes (PEP 691 JSON).
    pub bytes: Vec<u8>,
    /// The page, parsed.
    pub page: ProjectPage,
    /// Why the page was verified against the cached metadata rather than
    /// a refresh (the upstream cannot be reached), if it was.
    pub offline: Option<String>,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ProxyError {
    move |e| ProxyError::internal(context, e)
}

impl Trust {
    /// Opens `<state>/metadata` and `<state>/pages`. The metadata directory
    /// is started afresh from `root` unless it was started from the same
    /// root before (`<state>/anchor-root.json`), so that metadata trusted
    /// for another repository is never reused.
    pub fn open(config: &ProxyConfig, root: &[u8], fetcher: Fetcher) -> Result<Self, ProxyError> {
        let metadata_dir = config.cache_dir.join("metadata");
        let pages_dir = config.cache_dir.join("pages");
        std::fs::create_dir_all(&pages_dir).map_err(io("cannot create the page cache"))?;
        let anchor = config.cache_dir.join("anchor-root.json");
        if std::fs::read(&anchor).ok().as_deref() != Some(root)
            || !metadata_dir.join("root.json").exists()
        {
            if metadata_dir.exists() {
                std::fs::remove_dir_all(&metadata_dir)
                    .map_err(io("cannot reset the metadata cache"))?;
            }
            std::fs::create_dir_all(&metadata_dir)
                .map_err(io("cannot create the metadata cache"))?;
            bulwark_fs::write_atomic(&metadata_dir.join("root.json"), root)
                .map_err(io("cannot write the trusted root"))?;
            bulwark_fs::write_atomic(&anchor, root).map_err(io("cannot write the trusted root"))?;
        }
        let trust = Self {
            state: Mutex::new(State::default()),
            verified: std::sync::Mutex::default(),
            metadata_dir,
            pages_dir,
            upstream: config.upstream.clone(),
            metadata_url: format!("{}{}", config.upstream, bulwark_layout::METADATA_PREFIX),
            targets_url: format!("{}{}", config.upstream, bulwark_layout::TARGETS_PREFIX),
            fetcher,
            limits: config.limits.clone(),
            freshness: config.freshness,
            clock: config.clock,
        };
        // Refuse a root that is not even readable before serving anything.
        trust.updater()?;
        Ok(trust)
    }

    fn updater(&self) -> Result<Updater, ProxyError> {
        let dir =
            MetadataDir::open(&self.metadata_dir).map_err(io("cannot open the metadata cache"))?;
        Updater::new(
            dir,
            &self.metadata_url,
            self.fetcher.clone(),
            self.limits.clone(),
            (self.clock)(),
        )
        .map_err(|e| ProxyError::internal("the trusted root cannot be loaded", e))
    }

    /// A refreshed updater or, when the upstream cannot be reached, one
    /// that trusts the cache, with the reason the upstream was not used.
    async fn refresh(&self) -> Result<(Updater, Option<String>), Failed> {
        let mut updater = self.updater().map_err(Failed::Local)?;
        let error = match updater.refresh().await {
            Ok(()) => return Ok((updater, None)),
            Err(error) if unreachable(&error) => error,
            Err(error) => {
                let next = updater.trusted().root().common.version + 1;
                return Err(Failed::Answer {
                    error,
                    next_root: format!("{}{next}.root.json", self.metadata_url),
                });
            }
        };
        let reason = format!("the upstream cannot be reached: {}", fetch_failure(&error));
        let mut cached = self.updater().map_err(Failed::Local)?;
        match cached.trust_cached() {
            Ok(()) => {
                tracing::warn!("{reason}; serving what the verified cache holds");
                Ok((cached, Some(reason)))
            }
            Err(cache) => Err(Failed::Unreachable { reason, cache }),
        }
    }

    /// The metadata of the last refresh if it started less than
    /// `freshness` ago, otherwise a new refresh. A failed refresh leaves
    /// nothing behind, so the next request tries again.
    async fn fresh<'a>(&self, state: &'a mut State) -> Result<&'a mut Current, ProxyError> {
        let expired = state
            .current
            .as_ref()
            .is_none_or(|current| current.started.elapsed() >= self.freshness);
        if expired {
            state.current = None;
            let started = Instant::now();
            let (updater, offline) = self.refresh().await.map_err(|failed| match failed {
                Failed::Answer { error, .. } => metadata_error(&self.metadata_url, error),
                Failed::Unreachable { reason, cache } => ProxyError::Upstream {
                    reason: format!(
                        "{reason}; the verified cache cannot stand in: {}",
                        cache_failure(&cache)
                    ),
                    source: Some(cache.into()),
                },
                Failed::Local(error) => error,
            })?;
            return Ok(state.current.insert(Current {
                updater,
                started,
                offline,
            }));
        }
        let unexpected =
            || ProxyError::internal("no trusted metadata", std::io::Error::other("no updater"));
        state.current.as_mut().ok_or_else(unexpected)
    }

    /// One refresh before serving: `Ok(None)` when it succeeded,
    /// `Ok(Some(reason))` when the upstream cannot be reached but the
    /// cache can serve, and otherwise what is wrong and what to try: a
    /// wrong upstream URL, a root of another index, or refused metadata.
    pub async fn check_upstream(&self) -> Result<Option<String>, StartError> {
        let mut state = self.state.lock().await;
        let started = Instant::now();
        match self.refresh().await {
            Ok((updater, offline)) => {
                state.current = Some(Current {
                    updater,
                    started,
                    offline: offline.clone(),
                });
                Ok(offline)
            }
            Err(Failed::Local(source)) => Err(StartError::Open {
                dir: self.metadata_dir.clone(),
                source,
            }),
            Err(Failed::Unreachable { reason, cache }) => Err(StartError::Unreachable {
                reason,
                cache: cache_failure(&cache),
            }),
            Err(Failed::Answer { error, next_root }) => Err(self.diagnose(error, next_root).await),
        }
    }

    /// What a refresh refused at start-up most likely means.
    async fn diagnose(&self, error: UpdateError, next_root: String) -> StartError {
        match error {
            UpdateError::Fetch {
                url,
                source: FetchError::NotFound { status },
                ..
            } => StartError::NotAnIndex {
                upstream: self.upstream.clone(),
                url,
                status,
                hint: self.base_url_hint().await,
            },
            // The first files the trusted root's keys must have signed.
            UpdateError::Refused(refused @ Refused::BelowThreshold { .. })
                if matches!(&refused, Refused::BelowThreshold { role, .. }
                    if [RoleName::ROOT, RoleName::TIMESTAMP].contains(&role.as_str())) =>
            {
                let url = match &refused {
                    Refused::BelowThreshold { role, .. } if role.as_str() == RoleName::ROOT => {
                        next_root
                    }
                    _ => format!("{}timestamp.json", self.metadata_url),
                };
                StartError::OtherRoot { url, refused }
            }
            error => StartError::Refused {
                reason: metadata_error(&self.metadata_url, error).to_string(),
            },
        }
    }

    /// What to give as the upstream instead of one without TUF metadata.
    async fn base_url_hint(&self) -> String {
        let trimmed = self.upstream.trim_end_matches('/');
        let Some((parent, last)) = trimmed.rsplit_once('/') else {
            return String::new();
        };
        let parent = format!("{parent}/");
        if last.eq_ignore_ascii_case("simple") {
            return format!(
                "{} looks like the simple index URL; use the base URL {parent}",
                self.upstream
            );
        }
        let probe = format!("{parent}tuf/metadata/timestamp.json");
        if parent.contains("://")
            && !parent.ends_with("//")
            && self
                .fetcher
                .fetch(&probe, self.limits.timestamp)
                .await
                .is_ok()
        {
            return format!("{parent} serves TUF metadata; use it as the upstream");
        }
        "give the base URL under which the index serves simple/ and tuf/".to_owned()
    }

    /// The verified page of `name`, refreshing the metadata first unless it
    /// is fresh enough. `NotFound` when no signed metadata lists the page,
    /// whatever upstream serves at `/simple/<name>/`.
    ///
    /// A name the metadata does not list may be one a pull-through index
    /// has not pulled yet: the upstream's `/simple/<name>/` is asked once
    /// (its answer is not trusted, only its status: a pull-through index
    /// answers once it signed the pulled page), and after a success the
    /// metadata is refreshed and the name looked up again.
    pub async fn page(&self, name: &ProjectName) -> Result<VerifiedPage, ProxyError> {
        match self.verified_page(name).await {
            Err(ProxyError::NotFound { .. }) if self.nudge(name).await => {
                self.state.lock().await.current = None;
                self.verified_page(name).await
            }
            answer => answer,
        }
    }

    /// Asks the upstream for its `/simple/<name>/` page; true when it has
    /// one.
    async fn nudge(&self, name: &ProjectName) -> bool {
        /// The most of the (discarded) page read.
        const CAP: u64 = 64 * 1024 * 1024;
        let url = format!("{}simple/{}/", self.upstream, name.normalized());
        match self.fetcher.fetch(&url, CAP).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(
                    project = name.normalized(),
                    "the upstream has no page either: {e}"
                );
                false
            }
        }
    }

    async fn verified_page(&self, name: &ProjectName) -> Result<VerifiedPage, ProxyError> {
        let path = bulwark_layout::page_target(name.normalized());
        // The metadata lookup holds the lock; the page download does not,
        // so pages of different projects download in parallel.
        let (info, fetcher, offline) = {
            let mut state = self.state.lock().await;
            let current = self.fresh(&mut state).await?;
            let updater = &mut current.updater;
            let info = match updater.target_info(&path).await {
                Ok(info) => info,
                Err(UpdateError::TargetNotFound { .. }) => {
                    self.verified_projects().remove(name.normalized());
                    return Err(ProxyError::NotFound {
                        what: format!("{} is not in the signed metadata", name.normalized()),
                    });
                }
                Err(e) => return Err(metadata_error(&self.metadata_url, e)),
            };
            (info, updater.target_fetcher(), current.offline.clone())
        };
        let sha256 = match info.hashes.get("sha256") {
            Some(hash) if bulwark_layout::is_sha256(hash) => hash.clone(),
            _ => {
                return Err(ProxyError::Refused {
                    reason: "signed metadata lists the page without a sha256".to_owned(),
                    source: None,
                });
            }
        };
        let dest = self.pages_dir.join(format!("{sha256}.json"));
        fetcher
            .download_target(&path, &info, &self.targets_url, &dest)
            .await
            .map_err(page_error)?;
        let bytes = tokio::fs::read(&dest)
            .await
            .map_err(io("cannot read a cached page"))?;
        if sha256_hex(&bytes) != sha256 {
            // Only verified bytes are renamed into place; a change is local damage.
            let _ = std::fs::remove_file(&dest);
            return Err(ProxyError::internal(
                "a cached page changed on disk",
                std::io::Error::other(dest.display().to_string()),
            ));
        }
        let page = ProjectPage::parse_json(&bytes)
            .map_err(|e| ProxyError::refused("signed page is malformed", e))?;
        check_page(&page, name)?;
        self.verified_projects()
            .insert(name.normalized().to_owned(), page.name.clone());
        if let Some(reason) = &offline {
            tracing::warn!(
                project = name.normalized(),
                "served from the verified cache: {reason}"
            );
        }
        Ok(VerifiedPage {
            bytes,
            page,
            offline,
        })
    }

    /// The projects whose pages this process verified and the signed
    /// metadata still listed at the last look, for `/simple/`. Not the
    /// whole index: listing it would take downloading every bin.
    #[must_use]
    pub fn projects(&self) -> Vec<ProjectName> {
        self.verified_projects().values().cloned().collect()
    }

    fn verified_projects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProjectName>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where verified pages are cached.
    #[must_use]
    pub fn pages_dir(&self) -> &Path {
        &self.pages_dir
    }
}

/// The page must be the project's own, and link each file to the place the
/// proxy serves it from: `../../files/<sha256>/<filename>` relative to
/// `/simple/<name>/`. Any other URL would send pip or uv past the proxy.
fn check_page(page: &ProjectPage, name: &ProjectName) -> Result<(), ProxyError> {
    if page.name.normalized() != name.normalized() {
        return Err(ProxyError::Refused {
            reason: format!("signed page of {} names another project", name.normalized()),
            source: None,
        });
    }
    for file in &page.files {
        if bulwark_layout::parse_file_url(&file.url)
            != Some((file.sha256.as_str(), file.filename.as_str()))
        {
            return Err(ProxyError::Refused {
                reason: format!(
                    "signed page links {} outside this index",
                    file.filename.as_str()
                ),
                source: None,
            });
        }
    }
    Ok(())
}

/// True when `error` says the upstream could not be reached (no
/// connection, a timeout, a server error) rather than that it answered
/// with something wrong.
fn unreachable(error: &UpdateError) -> bool {
    match error {
        UpdateError::Fetch { source, .. } => match source {
            FetchError::Transport(_) | FetchError::ConnectTimeout(_) | FetchError::Slow(_) => true,
            FetchError::Status { status } => *status >= 500,
            _ => false,
        },
        _ => false,
    }
}

/// A failed metadata download, naming its URL.
fn fetch_failure(error: &UpdateError) -> String {
    match error {
        UpdateError::Fetch { what, url, source } => {
            format!("cannot download {what} metadata from {url} ({source})")
        }
        other => other.to_string(),
    }
}

/// Why the cache cannot stand in for the upstream, without local paths.
fn cache_failure(error: &UpdateError) -> String {
    match error {
        UpdateError::Refused(refused) => refused.to_string(),
        UpdateError::Io { .. } => "it holds no complete trusted metadata yet".to_owned(),
        other => other.to_string(),
    }
}

/// A failed refresh or target search against the metadata at `url`.
fn metadata_error(url: &str, error: UpdateError) -> ProxyError {
    match error {
        UpdateError::Refused(refused) => {
            let reason =
                format!("signed metadata rejected ({refused}) - possible tampering, from {url}");
            ProxyError::refused(reason, refused)
        }
        UpdateError::Fetch {
            what,
            url,
            source: FetchError::TooLarge { limit },
        } => ProxyError::Refused {
            reason: format!(
                "{what} metadata is larger than {limit} bytes - possible endless-data attack, from {url}"
            ),
            source: None,
        },
        error @ UpdateError::Fetch { .. } => ProxyError::upstream(fetch_failure(&error), error),
        other => ProxyError::internal("updating the trusted metadata failed", other),
    }
}

/// A failed page download.
fn page_error(error: UpdateError) -> ProxyError {
    match error {
        UpdateError::TargetMismatch {
            source: source @ (Mismatch::Hash { .. } | Mismatch::Length { .. }),
            ..
        } => ProxyError::refused(
            "page hash does not match signed metadata - possible tampering",
            source,
        ),
        UpdateError::Fetch {
            source: source @ FetchError::TooLarge { .. },
            ..
        } => ProxyError::refused(
            "page is larger than its signed length - possible tampering",
            source,
        ),
        UpdateError::Fetch { url, source, .. } => ProxyError::upstream(
            format!("cannot download the signed page from {url} ({source})"),
            source,
        ),
        UpdateError::TargetMismatch { source, .. } => {
            ProxyError::refused("page hash cannot be checked", source)
        }
        other => ProxyError::internal("downloading a page failed", other),
    }
}

#[cfg(test)]
mod tests {
    use bulwark_pypi::{DistFilename, PageFile, UploadTime};

    use super::*;

    fn page(url: &str) -> ProjectPage {
        ProjectPage {
            name: ProjectName::parse("demo").unwrap(),
            files: vec![PageFile {
                filename: DistFilename::parse("demo-1.0.tar.gz").unwrap(),
                url: url.to_owned(),
                sha256: "a".repeat(64),
                blake2b_256: Some("b".repeat(64)),
                size: Some(1),
                requires_python: None,
                yanked: None,
                core_metadata_sha256: None,
                upload_time: UploadTime::from_seconds(Timestamp::from_unix(0)),
            }],
        }
    }

    #[test]
    fn pages_must_link_files_through_the_proxy() {
        let demo = ProjectName::parse("demo").unwrap();
        let sha = "a".repeat(64);
        assert!(check_page(&page(&format!("../../files/{sha}/demo-1.0.tar.gz")), &demo).is_ok());
        for url in [
            format!("https://elsewhere.example/files/{sha}/demo-1.0.tar.gz"),
            format!("../../files/{}/demo-1.0.tar.gz", "b".repeat(64)),
            "../../files/../demo-1.0.tar.gz".to_owned(),
        ] {
            let error = check_page(&page(&url), &demo).unwrap_err();
            assert!(
                error.to_string().contains("outside this index"),
                "{url}: {error}"
            );
        }
        let other = ProjectName::parse("other").unwrap();
        assert!(check_page(&page(&format!("../../files/{sha}/demo-1.0.tar.gz")), &other).is_err());
    }

    #[test]
    fn refusals_name_what_happened() {
        let mismatch = page_error(UpdateError::TargetMismatch {
            path: "simple/demo/index.json".to_owned(),
            source: Mismatch::Hash {
                algorithm: "sha256".to_owned(),
            },
        });
        assert_eq!(mismatch.status(), axum::http::StatusCode::CONFLICT);
        assert_eq!(
            mismatch.reason(),
            "refused: page hash does not match signed metadata - possible tampering"
        );
        let down = metadata_error(
            "http://h/tuf/metadata/",
            UpdateError::Fetch {
                what: "timestamp".to_owned(),
                url: "http://h/tuf/metadata/timestamp.json".to_owned(),
                source: FetchError::Status { status: 500 },
            },
        );
        assert_eq!(down.status(), axum::http::StatusCode::BAD_GATEWAY);
        assert_eq!(
            down.reason(),
            "upstream unavailable: cannot download timestamp metadata from http://h/tuf/metadata/timestamp.json (HTTP status 500)"
        );
        let local = ProxyError::internal("cannot read /secret/path", std::io::Error::other("x"));
        assert!(!local.reason().contains("/secret"));
    }
}
