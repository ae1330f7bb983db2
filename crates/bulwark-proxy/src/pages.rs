//! Trusted metadata and verified project pages.
//!
//! Freshness policy: a page request refreshes the top-level metadata (root
//! chain, timestamp, snapshot, targets; spec §5.3–§5.6) unless a refresh
//! that *started* less than [`ProxyConfig::freshness`] ago succeeded, in
//! which case that trusted set is reused. So a burst of page requests (pip
//! or uv resolving 50 packages) costs one timestamp download, and a new
//! release becomes visible within that period. Refreshes and target
//! searches are serialized behind one async mutex, so concurrent requests
//! never refresh twice and never see a half-updated set; page downloads run
//! outside it, in parallel. A failed refresh is never papered over with
//! older metadata: the request fails.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bulwark_client::fetch::FetchError;
use bulwark_client::{Fetcher, Limits, MetadataDir, UpdateError, Updater};
use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_tuf::hash::{Mismatch, sha256_hex};
use bulwark_tuf::time::Timestamp;
use tokio::sync::Mutex;

use crate::{ProxyConfig, ProxyError};

/// Trusted metadata, refreshed on demand, and the pages it verifies.
#[derive(Debug)]
pub struct Trust {
    state: Mutex<State>,
    metadata_dir: PathBuf,
    pages_dir: PathBuf,
    metadata_url: String,
    targets_url: String,
    fetcher: Fetcher,
    limits: Limits,
    freshness: std::time::Duration,
    clock: fn() -> Timestamp,
}

#[derive(Debug, Default)]
struct State {
    /// The updater of the last successful refresh, and when it started.
    current: Option<(Updater, Instant)>,
}

/// A project page whose bytes matched the signed metadata.
#[derive(Debug)]
pub struct VerifiedPage {
    /// The signed bytes (PEP 691 JSON).
    pub bytes: Vec<u8>,
    /// The page, parsed.
    pub page: ProjectPage,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ProxyError {
    move |e| ProxyError::internal(context, e)
}

impl Trust {
    /// Opens `<cache>/metadata` and `<cache>/pages`. The metadata directory
    /// is started afresh from `root` unless it was started from the same
    /// root before (`<cache>/anchor-root.json`), so that metadata trusted
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
            metadata_dir,
            pages_dir,
            metadata_url: format!("{}tuf/metadata/", config.upstream),
            targets_url: format!("{}tuf/targets/", config.upstream),
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

    /// The updater of the last refresh if it started less than
    /// `freshness` ago, otherwise a new one, refreshed. A failed refresh
    /// leaves no updater behind, so the next request tries again.
    async fn fresh<'a>(&self, state: &'a mut State) -> Result<&'a mut Updater, ProxyError> {
        let expired = state
            .current
            .as_ref()
            .is_none_or(|(_, started)| started.elapsed() >= self.freshness);
        if expired {
            state.current = None;
            let started = Instant::now();
            let mut updater = self.updater()?;
            updater.refresh().await.map_err(metadata_error)?;
            return Ok(&mut state.current.insert((updater, started)).0);
        }
        let unexpected =
            || ProxyError::internal("no trusted metadata", std::io::Error::other("no updater"));
        state
            .current
            .as_mut()
            .map(|(updater, _)| updater)
            .ok_or_else(unexpected)
    }

    /// The verified page of `name`, refreshing the metadata first unless it
    /// is fresh enough. `NotFound` when no signed metadata lists the page,
    /// whatever upstream serves at `/simple/<name>/`.
    pub async fn page(&self, name: &ProjectName) -> Result<VerifiedPage, ProxyError> {
        let path = bulwark_layout::page_target(name.normalized());
        // The metadata lookup holds the lock; the page download does not,
        // so pages of different projects download in parallel.
        let (info, fetcher) = {
            let mut state = self.state.lock().await;
            let updater = self.fresh(&mut state).await?;
            let info = match updater.target_info(&path).await {
                Ok(info) => info,
                Err(UpdateError::TargetNotFound { .. }) => {
                    return Err(ProxyError::NotFound {
                        what: format!("{} is not in the signed metadata", name.normalized()),
                    });
                }
                Err(e) => return Err(metadata_error(e)),
            };
            (info, updater.target_fetcher())
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
        Ok(VerifiedPage { bytes, page })
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

/// A failed refresh or target search.
fn metadata_error(error: UpdateError) -> ProxyError {
    match error {
        UpdateError::Refused(refused) => {
            let reason = format!("signed metadata rejected ({refused}) - possible tampering");
            ProxyError::refused(reason, refused)
        }
        UpdateError::Fetch {
            what,
            source: FetchError::TooLarge { limit },
        } => ProxyError::Refused {
            reason: format!(
                "{what} metadata is larger than {limit} bytes - possible endless-data attack"
            ),
            source: None,
        },
        UpdateError::Fetch { what, source } => ProxyError::upstream(
            format!("cannot download {what} metadata ({source})"),
            source,
        ),
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
        UpdateError::Fetch { source, .. } => ProxyError::upstream(
            format!("cannot download the signed page ({source})"),
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
                blake2b_256: "b".repeat(64),
                size: 1,
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
        assert_eq!(mismatch.status(), axum::http::StatusCode::BAD_GATEWAY);
        assert_eq!(
            mismatch.reason(),
            "refused: page hash does not match signed metadata - possible tampering"
        );
        let down = metadata_error(UpdateError::Fetch {
            what: "timestamp".to_owned(),
            source: FetchError::Status { status: 500 },
        });
        assert_eq!(
            down.reason(),
            "upstream unavailable: cannot download timestamp metadata (HTTP status 500)"
        );
        let local = ProxyError::internal("cannot read /secret/path", std::io::Error::other("x"));
        assert!(!local.reason().contains("/secret"));
    }
}
