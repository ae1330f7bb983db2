//! The index as a signed cache of upstream indexes (issue #14). A request
//! for a project the index does not host pulls its page from the first
//! upstream that has it; the files the page lists are recorded as an
//! upstream project (`StateStore::pull_upstream`), signed by the publisher
//! like any unclaimed project, and the request waits (bounded) for that
//! signature rather than answer unsigned data. A file is fetched on its
//! first request, streamed to the client while it is stored, and checked
//! against the sha256 the signed page lists: on a mismatch the client gets
//! a broken body and nothing is stored.
//!
//! ```text
//! GET /simple/dep/ ─▶ not hosted ─▶ upstream page ─▶ pull_upstream ─▶ publish ─▶ signed page
//! GET /files/<sha>/<f> ─▶ no blob ─▶ upstream file ─┬─▶ client (last chunk held back)
//!                                                   └─▶ staging file ─▶ sha256 ok? ─▶ blob
//! ```
//!
//! Dependency confusion: a name this index hosts (uploaded, claimed,
//! released) never falls through to an upstream, and `deny`/`allow` keep
//! names from being pulled at all. An upstream project refuses uploads
//! until an administrator releases it (`bulwark upstream release`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use bulwark_client::fetch::{FetchConfig, FetchError, Fetcher};
use bulwark_http::{ApiError, blocking};
use bulwark_pypi::upstream::{Metadata, UpstreamFile, UpstreamPage};
use bulwark_pypi::{
    MAX_METADATA_SIZE, MAX_REQUIRES_PYTHON_LEN, MAX_UNSTATED_FILE_SIZE, ProjectName,
};
use bulwark_store::{
    BlobStore, FileRecord, StateStore, StoreError, UPSTREAM_CREATOR, UpstreamProjectRecord,
    UpstreamPull, UpstreamPullOutcome,
};
use bulwark_tuf::hash::{HashAlgorithm, Hasher};
use futures_util::StreamExt as _;
use tokio::sync::Notify;
use url::Url;

/// What a page request asks an upstream for: PEP 691 JSON first, PEP 503
/// HTML otherwise.
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

/// The largest upstream project page read (`PyPI`'s largest are a few MB).
const MAX_PAGE_SIZE: u64 = 64 * 1024 * 1024;

/// How often a request waiting for its project's signature looks.
const SIGNED_POLL: Duration = Duration::from_millis(50);

/// A name pattern of `upstream_allow` / `upstream_deny`: a PEP 503
/// normalised name, or a prefix of one followed by `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern {
    name: String,
    prefix: bool,
}

impl NamePattern {
    /// Reads `pattern` (`name` or `prefix*`; normalised as a name is).
    ///
    /// # Errors
    ///
    /// A pattern that is not a project name, with or without a final `*`.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let (body, prefix) = match pattern.strip_suffix('*') {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        if prefix && body.is_empty() {
            return Ok(Self {
                name: String::new(),
                prefix,
            });
        }
        let name = ProjectName::parse(body.trim_end_matches(['-', '_', '.']))
            .map_err(|e| format!("{pattern:?} is not a project name or a prefix*: {e}"))?;
        let mut normalized = name.normalized().to_owned();
        if prefix && body.ends_with(['-', '_', '.']) {
            normalized.push('-');
        }
        Ok(Self {
            name: normalized,
            prefix,
        })
    }

    /// Whether the normalised name `project` matches.
    #[must_use]
    pub fn matches(&self, project: &str) -> bool {
        if self.prefix {
            project.starts_with(&self.name)
        } else {
            project == self.name
        }
    }
}

/// One upstream simple index.
#[derive(Clone, Debug)]
pub struct UpstreamIndex {
    /// Its base URL, ending in `/`, without credentials (it is stored with
    /// the projects pulled from it, and logged).
    pub url: Url,
    /// The API token sent to its origin (a private index: `read_access =
    /// "token"`), for pages and for files alike.
    pub token: Option<bulwark_client::UpstreamToken>,
}

/// The settings of the pull-through cache.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// The upstream simple indexes, searched in order.
    pub indexes: Vec<UpstreamIndex>,
    /// How old a pulled page may get before a request re-reads it.
    pub ttl: Duration,
    /// How long the first request for a new project waits for its
    /// signature.
    pub wait: Duration,
    /// When not empty, only matching names are pulled.
    pub allow: Vec<NamePattern>,
    /// Names never pulled.
    pub deny: Vec<NamePattern>,
}

impl UpstreamConfig {
    /// Whether `project` (normalised) may be pulled from an upstream.
    #[must_use]
    pub fn may_pull(&self, project: &str) -> bool {
        !self.deny.iter().any(|p| p.matches(project))
            && (self.allow.is_empty() || self.allow.iter().any(|p| p.matches(project)))
    }
}

/// What the upstreams said of a name.
enum Lookup {
    /// The first upstream that has it, its page read.
    Found { upstream: Url, page: UpstreamPage },
    /// Every upstream answered that it has no such project.
    NotFound,
    /// None has it, and these could not be asked (why, per upstream).
    Unreachable(Vec<String>),
}

/// The pull-through cache.
pub struct Upstream {
    config: UpstreamConfig,
    /// A client for each of `config.indexes` (sending its token), in order.
    fetchers: Vec<Fetcher>,
    /// A client without token, for anywhere else (`PyPI`'s file host).
    fetcher: Fetcher,
    store: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
    publish: Arc<Notify>,
    /// Names being pulled for the first time, one request at a time each.
    pulls: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Projects being refreshed in the background.
    refreshing: Mutex<HashSet<String>>,
}

impl Upstream {
    /// The cache of `config`'s upstreams over `store` and `blobs`; pulls
    /// wake the publisher through `publish`.
    ///
    /// # Errors
    ///
    /// The HTTP client could not be built.
    pub fn new(
        config: UpstreamConfig,
        store: Arc<dyn StateStore>,
        blobs: Arc<dyn BlobStore>,
        publish: Arc<Notify>,
    ) -> Result<Self, FetchError> {
        bulwark_client::fetch::install_crypto_provider();
        let fetcher = |upstream_token| {
            Fetcher::new(FetchConfig {
                // Files may live on another host (PyPI's on
                // files.pythonhosted.org) and redirect to a CDN; a token
                // only ever goes to its own index's origin.
                cross_origin_redirects: true,
                upstream_token,
                ..FetchConfig::default()
            })
        };
        let fetchers = config
            .indexes
            .iter()
            .map(|index| fetcher(index.token.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            fetchers,
            fetcher: fetcher(None)?,
            store,
            blobs,
            publish,
            pulls: tokio::sync::Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
        })
    }

    /// Pulls `name`, which this index does not host, from the first
    /// upstream that has it, and waits for its page to be signed. False
    /// when no upstream has it or the name may not be pulled.
    ///
    /// # Errors
    ///
    /// 503 when no upstream could be asked, or the page was not signed in
    /// time; 500 when the state store fails.
    pub async fn pull_new(&self, name: &ProjectName) -> Result<bool, ApiError> {
        let project = name.normalized().to_owned();
        if !self.config.may_pull(&project) {
            return Ok(false);
        }
        let gate = self
            .pulls
            .lock()
            .await
            .entry(project.clone())
            .or_default()
            .clone();
        let pulled = self.pull_once(name, &gate).await;
        let mut pulls = self.pulls.lock().await;
        if Arc::strong_count(&gate) <= 2 {
            pulls.remove(&project);
        }
        pulled
    }

    async fn pull_once(
        &self,
        name: &ProjectName,
        gate: &tokio::sync::Mutex<()>,
    ) -> Result<bool, ApiError> {
        let _one_at_a_time = gate.lock().await;
        let project = name.normalized().to_owned();
        // Another request may have pulled it while this one waited.
        let store = self.store.clone();
        let known = {
            let project = project.clone();
            blocking(move || store.project(&project))
                .await
                .map_err(|e| ApiError::internal("looking up a project", &e))?
        };
        if known.is_none() {
            let (upstream, page) = match self.lookup(name).await {
                Lookup::Found { upstream, page } => (upstream, page),
                Lookup::NotFound => return Ok(false),
                Lookup::Unreachable(why) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "{project} is not on this index and no upstream index could be \
                             asked for it: {}",
                            why.join("; ")
                        ),
                    ));
                }
            };
            if !self.record(&project, &upstream, &page).await? {
                // A local upload of the name won the race: it is served.
                return Ok(true);
            }
        }
        self.wait_signed(&project).await
    }

    /// Waits until `project`'s page is published; 503 after the wait.
    async fn wait_signed(&self, project: &str) -> Result<bool, ApiError> {
        let deadline = tokio::time::Instant::now() + self.config.wait;
        loop {
            let store = self.store.clone();
            let name = project.to_owned();
            let published = blocking(move || store.page(&name))
                .await
                .map_err(|e| ApiError::internal("looking up a published page", &e))?;
            if published.is_some() {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{project} was pulled from upstream and is being signed: retry shortly"
                    ),
                ));
            }
            tokio::time::sleep(SIGNED_POLL).await;
        }
    }

    /// Asks each upstream in order for `name`'s page.
    async fn lookup(&self, name: &ProjectName) -> Lookup {
        let mut unreachable = Vec::new();
        for index in &self.config.indexes {
            let index = &index.url;
            match self.read_page(index, name).await {
                Ok(Some(page)) => {
                    return Lookup::Found {
                        upstream: index.clone(),
                        page,
                    };
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(upstream = %redacted(index), project = name.normalized(), "upstream page not read: {why}");
                    unreachable.push(format!("{}: {why}", redacted(index)));
                }
            }
        }
        if unreachable.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::Unreachable(unreachable)
        }
    }

    /// `name`'s page on `index`: `None` when the index has no such project.
    async fn read_page(
        &self,
        index: &Url,
        name: &ProjectName,
    ) -> Result<Option<UpstreamPage>, String> {
        let url = index
            .join(&format!("{}/", name.normalized()))
            .map_err(|e| format!("no page URL: {e}"))?;
        let fetched = match self
            .fetcher_for(&url)
            .fetch_page(url.as_str(), ACCEPT, MAX_PAGE_SIZE)
            .await
        {
            Ok(fetched) => fetched,
            Err(FetchError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let page_url = Url::parse(&fetched.url).map_err(|e| format!("bad final URL: {e}"))?;
        let json = fetched
            .content_type
            .as_deref()
            .is_some_and(|t| t.contains("json"));
        let page = if json {
            bulwark_pypi::upstream::parse_json(&fetched.bytes, &page_url, name)
                .map_err(|e| format!("unreadable JSON page: {e}"))?
        } else {
            bulwark_pypi::upstream::parse_html(&fetched.bytes, &page_url, name)
        };
        for skipped in &page.skipped {
            tracing::debug!(project = name.normalized(), file = %skipped.filename, "upstream file skipped: {}", skipped.reason);
        }
        Ok(Some(page))
    }

    /// The client for `url`: the one of the first configured index with its
    /// origin (and token), or the plain one.
    fn fetcher_for(&self, url: &Url) -> &Fetcher {
        self.config
            .indexes
            .iter()
            .zip(&self.fetchers)
            .find(|(index, _)| index.url.origin() == url.origin())
            .map_or(&self.fetcher, |(_, fetcher)| fetcher)
    }

    /// Records `page` of `project` from `upstream`; false when the name
    /// turned out to be a local project.
    async fn record(
        &self,
        project: &str,
        upstream: &Url,
        page: &UpstreamPage,
    ) -> Result<bool, ApiError> {
        let fetched_us = bulwark_repo::clock::unix_micros();
        let pull = UpstreamPull {
            project: project.to_owned(),
            display_name: project.to_owned(),
            upstream: upstream.to_string(),
            fetched_us,
            files: page
                .files
                .iter()
                .filter_map(|f| Some((file_record(project, f, fetched_us)?, f.url.to_string())))
                .collect(),
        };
        let store = self.store.clone();
        let outcome = blocking(move || store.pull_upstream(&pull))
            .await
            .map_err(|e| ApiError::internal("recording an upstream project", &e))?;
        match outcome {
            UpstreamPullOutcome::Local => Ok(false),
            UpstreamPullOutcome::Pulled(changes) => {
                for (filename, refusal) in &changes.refused {
                    tracing::warn!(project, file = %filename, upstream = %redacted(upstream), "upstream file refused ({refusal:?}): a stored file of this name has other bytes, or it was removed");
                }
                if changes.created || changes.added > 0 || changes.yank_changed > 0 {
                    tracing::info!(project, upstream = %redacted(upstream), added = changes.added, yanks = changes.yank_changed, "pulled from upstream");
                    self.publish.notify_one();
                }
                Ok(true)
            }
        }
    }

    /// Re-reads `record`'s upstream page in the background when it is
    /// older than the TTL (the cached, signed page is served meanwhile).
    pub fn refresh_if_stale(self: &Arc<Self>, record: UpstreamProjectRecord) {
        let ttl_us = i64::try_from(self.config.ttl.as_micros()).unwrap_or(i64::MAX);
        if bulwark_repo::clock::unix_micros().saturating_sub(record.fetched_us) < ttl_us {
            return;
        }
        {
            let mut refreshing = self
                .refreshing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !refreshing.insert(record.project.clone()) {
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.refresh(&record).await;
            this.refreshing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&record.project);
        });
    }

    async fn refresh(&self, record: &UpstreamProjectRecord) {
        let project = &record.project;
        let (Ok(name), Ok(index)) = (ProjectName::parse(project), Url::parse(&record.upstream))
        else {
            tracing::error!(
                project,
                "stored upstream project has an invalid name or URL"
            );
            return;
        };
        let read = self.read_page(&index, &name).await;
        let recorded = match read {
            Ok(Some(page)) => self.record(project, &index, &page).await.map(|_| ()),
            Ok(None) => {
                tracing::warn!(project, upstream = %redacted(&index), "the upstream no longer has this project: its files stay");
                self.touch(project).await
            }
            Err(why) => {
                tracing::warn!(project, upstream = %redacted(&index), "upstream refresh failed, cached page kept: {why}");
                self.touch(project).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(project, "upstream refresh not recorded: {}", e.reason());
        }
    }

    /// Records a read (or a try) of `project`'s upstream page without a
    /// pull, so that the next is a TTL away.
    async fn touch(&self, project: &str) -> Result<(), ApiError> {
        let store = self.store.clone();
        let project = project.to_owned();
        blocking(move || store.upstream_fetched(&project, bulwark_repo::clock::unix_micros()))
            .await
            .map_err(|e| ApiError::internal("recording an upstream read", &e))
    }

    /// Serves distribution blob `key` (a file or its `.metadata`) from its
    /// upstream when it is a recorded upstream file not stored yet;
    /// `None` otherwise.
    ///
    /// # Errors
    ///
    /// 502 when the upstream cannot be read; 500 when the stores fail.
    pub async fn file(&self, key: &str) -> Result<Option<Response>, ApiError> {
        let Some((sha256, filename, is_metadata)) = bulwark_layout::parse_file_key(key) else {
            return Ok(None);
        };
        let store = self.store.clone();
        let name = filename.to_owned();
        let found = blocking(move || {
            let Some(source) = store.upstream_file(&name)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(store.file(&name)?.map(|record| (source, record)))
        })
        .await
        .map_err(|e| ApiError::internal("looking up an upstream file", &e))?;
        let Some((source, record)) = found else {
            return Ok(None);
        };
        if record.sha256 != sha256 {
            return Ok(None);
        }
        let wanted = if is_metadata {
            let Some(metadata_sha256) = record.metadata_sha256 else {
                return Ok(None);
            };
            Wanted {
                url: metadata_url(&source.url),
                sha256: metadata_sha256,
                size: None,
                cap: MAX_METADATA_SIZE as u64,
            }
        } else {
            Wanted {
                url: source.url,
                sha256: record.sha256,
                size: (record.size > 0).then_some(record.size),
                cap: if record.size > 0 {
                    record.size
                } else {
                    MAX_UNSTATED_FILE_SIZE
                },
            }
        };
        self.stream(key, wanted).await.map(Some)
    }

    /// Starts fetching `wanted` into a staging file and answers with its
    /// bytes as they come; the last chunk is held back until the whole
    /// matched `wanted.sha256`, so a client never gets a whole file the
    /// index refused.
    async fn stream(&self, key: &str, wanted: Wanted) -> Result<Response, ApiError> {
        let blobs = self.blobs.clone();
        let staging = blocking(move || blobs.staging_file())
            .await
            .map_err(|e| ApiError::internal("creating a staging file", &e))?;
        // Unbounded: the download's sink is synchronous. A client slower
        // than the upstream makes the queue hold up to the file's cap.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, std::io::Error>>();
        let fetcher = Url::parse(&wanted.url)
            .map_or(&self.fetcher, |url| self.fetcher_for(&url))
            .clone();
        let blobs = self.blobs.clone();
        let key = key.to_owned();
        let length = wanted.size;
        let kind = bulwark_http::blobs::Kind::immutable(&key);
        tokio::spawn(async move {
            let outcome = fetch_verified(&fetcher, &wanted, staging, &tx).await;
            match outcome {
                Ok((staging, last)) => {
                    let stored = {
                        let key = key.clone();
                        blocking(move || blobs.put_file(&key, staging)).await
                    };
                    if let Err(e) = stored {
                        tracing::error!(key, "storing an upstream file failed: {e}");
                    }
                    let _ = tx.send(Ok(last));
                }
                Err(why) => {
                    tracing::warn!(key, url = %wanted.url, "upstream file refused: {why}");
                    let _ = tx.send(Err(std::io::Error::other(why)));
                }
            }
        });
        // The status waits for the first chunk: a file the upstream does
        // not give (down, refusing, or a one-chunk file that does not
        // match) is a clear 502, not a 200 with a broken body.
        let first = match rx.recv().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(why)) => {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("The upstream index did not give this file: {why}"),
                ));
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "The upstream index did not give this file",
                ));
            }
        };
        let rest = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let body = Body::from_stream(
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest),
        );
        Ok(bulwark_http::blobs::respond(body, kind, length))
    }
}

/// What one upstream file must be.
struct Wanted {
    url: String,
    sha256: String,
    size: Option<u64>,
    cap: u64,
}

/// Downloads `wanted` into `staging`, passing every chunk but the last to
/// `tx`; returns the staging file and the last chunk when the bytes match.
async fn fetch_verified(
    fetcher: &Fetcher,
    wanted: &Wanted,
    staging: tempfile::NamedTempFile,
    tx: &tokio::sync::mpsc::UnboundedSender<Result<Bytes, std::io::Error>>,
) -> Result<(tempfile::NamedTempFile, Bytes), String> {
    use std::io::Write as _;
    let mut file = staging;
    let mut hasher = Hasher::new(HashAlgorithm::Sha256);
    let mut held: Option<Bytes> = None;
    let received = fetcher
        .fetch_with(&wanted.url, wanted.cap, |chunk| {
            hasher.update(chunk);
            file.write_all(chunk)?;
            if let Some(previous) = held.replace(Bytes::copy_from_slice(chunk)) {
                // A client that went away does not stop the download: the
                // file is still stored for the next one.
                let _ = tx.send(Ok(previous));
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    if wanted.size.is_some_and(|size| size != received) {
        return Err(format!(
            "{received} bytes, the signed page lists {}",
            wanted.size.unwrap_or_default()
        ));
    }
    let got = bulwark_tuf::hex::encode(&hasher.finish());
    if got != wanted.sha256 {
        return Err(format!(
            "sha256 {got}, the signed page lists {}: a replaced or tampered upstream file",
            wanted.sha256
        ));
    }
    file.flush().map_err(|e| e.to_string())?;
    Ok((file, held.unwrap_or_default()))
}

/// The PEP 658 metadata URL of the file at `url`: the URL without its
/// fragment, plus `.metadata`.
fn metadata_url(url: &str) -> String {
    let bare = url.split_once('#').map_or(url, |(bare, _)| bare);
    format!("{bare}.metadata")
}

/// `url` without userinfo, for logs and answers.
fn redacted(url: &Url) -> String {
    bulwark_store::redact_url(url.as_str())
}

/// The record of upstream file `f` of `project`, read at `fetched_us`;
/// `None` (logged) for one the index cannot sign as is.
fn file_record(project: &str, f: &UpstreamFile, fetched_us: i64) -> Option<FileRecord> {
    if f.requires_python
        .as_ref()
        .is_some_and(|r| r.len() > MAX_REQUIRES_PYTHON_LEN)
    {
        tracing::warn!(
            project,
            file = f.filename.as_str(),
            "upstream file skipped: Requires-Python too long"
        );
        return None;
    }
    Some(FileRecord {
        project: project.to_owned(),
        filename: f.filename.as_str().to_owned(),
        version: f.filename.version().to_string(),
        size: f.size.unwrap_or(0),
        sha256: f.sha256.clone(),
        blake2b_256: String::new(),
        requires_python: f.requires_python.clone(),
        metadata_sha256: match &f.metadata {
            Metadata::Served(Some(sha256)) => Some(sha256.clone()),
            Metadata::Served(None) | Metadata::Absent => None,
        },
        upload_time_us: fetched_us,
        yanked: f.yanked.clone(),
        uploader: UPSTREAM_CREATOR.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_and_prefixes_after_normalisation() {
        let exact = NamePattern::parse("Our_Pkg").unwrap();
        assert!(exact.matches("our-pkg") && !exact.matches("our-pkg2"));
        let prefix = NamePattern::parse("ourcorp-*").unwrap();
        assert!(prefix.matches("ourcorp-tools") && !prefix.matches("ourcorpx"));
        let bare = NamePattern::parse("Secret*").unwrap();
        assert!(bare.matches("secret") && bare.matches("secretive"));
        assert!(NamePattern::parse("*").unwrap().matches("anything"));
        assert!(NamePattern::parse("no spaces").is_err());
    }

    #[test]
    fn deny_wins_and_allow_restricts() {
        let config = UpstreamConfig {
            indexes: vec![],
            ttl: Duration::from_secs(1),
            wait: Duration::from_secs(1),
            allow: vec![NamePattern::parse("lib-*").unwrap()],
            deny: vec![NamePattern::parse("lib-secret").unwrap()],
        };
        assert!(config.may_pull("lib-a"));
        assert!(!config.may_pull("lib-secret"));
        assert!(!config.may_pull("requests"));
    }

    #[test]
    fn metadata_urls_drop_the_fragment() {
        assert_eq!(
            metadata_url("https://h/p/a-1.0.tar.gz#sha256=ab"),
            "https://h/p/a-1.0.tar.gz.metadata"
        );
    }
}
