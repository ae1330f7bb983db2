//! Distribution files and their `.metadata`, served only when a verified
//! page lists them, and only with bytes whose size and sha256 match it.
//!
//! A file is listed by its sha256 *and* filename: one content may be signed
//! under several names (the same wheel published twice, or by two
//! projects), and each is served. A file URL no page verified in this run
//! lists (a lock file replayed through a restarted proxy) names its
//! project in the filename ([`project_of`]); the caller verifies that
//! project's page, [`learn`](Files::learn)s it and resolves again.
//!
//! Verified bytes are cached under `<cache>/files/<sha256>` (the sha256 of
//! the content, so the `.metadata` of a wheel lives under its
//! `core-metadata` hash). A file not yet cached is fetched from upstream
//! with its signed size as the byte cap and hashed while it streams to the
//! client; the first [`HOLD_BACK`](bulwark_client::HOLD_BACK) bytes and then always the last chunk
//! are held back until size and hash match, so a client never receives a
//! whole file that failed verification, and a small file not one byte.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use bulwark_client::fetch::FetchError;
use bulwark_client::{DownloadError, Expected, Fetcher, download_streaming, download_to};
use bulwark_pypi::{DistFilename, MAX_METADATA_SIZE, ProjectName, ProjectPage};
use bulwark_store::BlobStore;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::names::percent_encode;
use tokio::sync::mpsc::UnboundedSender;

use crate::{ProxyConfig, ProxyError};

/// What a verified page says about one distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    size: Option<u64>,
    core_metadata_sha256: Option<String>,
}

/// A file the proxy may serve: what it must hash to and how large it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The sha256 of the content.
    pub sha256: String,
    /// The exact size, when the page lists it (distributions).
    pub size: Option<u64>,
    /// The most bytes accepted from upstream.
    pub cap: u64,
    /// The file name, as requested (`x.whl` or `x.whl.metadata`).
    pub filename: String,
    /// The path under the upstream base URL.
    upstream_path: String,
}

/// The files listed on verified pages, and the cache of their bytes.
#[derive(Debug)]
pub struct Files {
    /// Keyed by (sha256, filename).
    listed: RwLock<HashMap<(String, String), Listed>>,
    dir: PathBuf,
    /// The same directory as a blob store keyed by sha256, for serving.
    blobs: Arc<FsBlobs>,
    upstream: String,
    fetcher: Fetcher,
}

impl Files {
    /// Opens `<cache>/files`.
    pub fn open(config: &ProxyConfig, fetcher: Fetcher) -> Result<Self, ProxyError> {
        let dir = config.cache_dir.join("files");
        let blobs = FsBlobs::open(&dir)
            .map_err(|e| ProxyError::internal("cannot create the file cache", e))?;
        Ok(Self {
            listed: RwLock::new(HashMap::new()),
            dir,
            blobs: Arc::new(blobs),
            upstream: config.upstream.clone(),
            fetcher,
        })
    }

    /// Records every file of a verified page as servable.
    pub fn learn(&self, page: &ProjectPage) {
        let mut listed = self
            .listed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for file in &page.files {
            let entry = Listed {
                size: file.size,
                core_metadata_sha256: file.core_metadata_sha256.clone(),
            };
            let key = (file.sha256.clone(), file.filename.as_str().to_owned());
            listed.insert(key, entry);
        }
    }

    /// What `/files/<sha256>/<filename>` must serve, if a verified page
    /// lists it.
    #[must_use]
    pub fn resolve(&self, sha256: &str, filename: &str) -> Option<Wanted> {
        let listed = self
            .listed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let upstream_path = bulwark_layout::file_key(sha256, &percent_encode(filename));
        let key = |name: &str| (sha256.to_owned(), name.to_owned());
        if let Some(file) = listed.get(&key(filename)) {
            return Some(Wanted {
                sha256: sha256.to_owned(),
                size: file.size,
                cap: file.size.unwrap_or(bulwark_pypi::MAX_UNSTATED_FILE_SIZE),
                filename: filename.to_owned(),
                upstream_path,
            });
        }
        let file = listed.get(&key(distribution_of(filename)?))?;
        Some(Wanted {
            sha256: file.core_metadata_sha256.clone()?,
            size: None,
            cap: MAX_METADATA_SIZE as u64,
            filename: filename.to_owned(),
            upstream_path,
        })
    }

    /// The cached, verified copy of `wanted`, if there is one.
    #[must_use]
    pub fn cached(&self, wanted: &Wanted) -> Option<(PathBuf, u64)> {
        let path = self.path(wanted);
        let len = std::fs::metadata(&path).ok()?.len();
        wanted
            .size
            .is_none_or(|size| size == len)
            .then_some((path, len))
    }

    /// The verified cache as a blob store: key `<sha256>`, for serving.
    #[must_use]
    pub fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn path(&self, wanted: &Wanted) -> PathBuf {
        self.dir.join(&wanted.sha256)
    }

    /// Downloads `wanted` from upstream into the cache, verifying size and
    /// sha256 ([`bulwark_client::download`]). The bytes are also sent to
    /// `stream` as they arrive, except the first [`HOLD_BACK`](bulwark_client::HOLD_BACK) bytes (sent
    /// in one piece once more arrive) and the last chunk, which are
    /// returned once everything matched, for the caller to send. On any
    /// failure nothing is cached.
    pub async fn download(
        &self,
        wanted: &Wanted,
        stream: Option<&UnboundedSender<Vec<u8>>>,
    ) -> Result<Option<Vec<u8>>, ProxyError> {
        let url = format!("{}{}", self.upstream, wanted.upstream_path);
        let expected = Expected {
            length: wanted.size,
            cap: wanted.cap,
            hashes: BTreeMap::from([("sha256".to_owned(), wanted.sha256.clone())]),
        };
        let dest = self.path(wanted);
        let result = match stream {
            Some(stream) => {
                // A client that went away does not stop the download: it warms the cache.
                let mut send = |chunk| drop(stream.send(chunk));
                download_streaming(&self.fetcher, &url, &expected, &dest, &mut send).await
            }
            None => download_to(&self.fetcher, &url, &expected, &dest)
                .await
                .map(|_| None),
        };
        match result {
            Ok(tail) => {
                tracing::debug!(file = wanted.filename, "verified and cached");
                Ok(tail)
            }
            Err(DownloadError::Fetch(e)) => Err(fetch_error(wanted, &url, e)),
            Err(DownloadError::Mismatch(e)) => Err(mismatch(wanted, e)),
            Err(e) => Err(ProxyError::internal("cannot write the file cache", e)),
        }
    }
}

/// The distribution whose core metadata (PEP 658) `filename` is, if it is
/// a `.metadata` file.
fn distribution_of(filename: &str) -> Option<&str> {
    filename.strip_suffix(".metadata")
}

/// The project whose page must list `filename` (a distribution or its
/// `.metadata`), as the distribution filename names it; `None` when the
/// filename is no distribution's.
#[must_use]
pub fn project_of(filename: &str) -> Option<ProjectName> {
    let distribution = distribution_of(filename).unwrap_or(filename);
    Some(DistFilename::parse(distribution).ok()?.name().clone())
}

fn what(wanted: &Wanted) -> &'static str {
    if wanted.size.is_some() {
        "file"
    } else {
        "metadata file"
    }
}

fn mismatch(wanted: &Wanted, error: Mismatch) -> ProxyError {
    let reason = match error {
        Mismatch::Length { .. } => format!(
            "{} {} size does not match the signed page - possible tampering",
            what(wanted),
            wanted.filename
        ),
        _ => format!(
            "{} {} hash does not match the signed page - possible tampering",
            what(wanted),
            wanted.filename
        ),
    };
    ProxyError::refused(reason, error)
}

fn fetch_error(wanted: &Wanted, url: &str, error: FetchError) -> ProxyError {
    match error {
        FetchError::TooLarge { .. } => ProxyError::refused(
            format!(
                "{} {} is larger than the signed page says - possible tampering",
                what(wanted),
                wanted.filename
            ),
            error,
        ),
        FetchError::Sink(source) => ProxyError::internal("cannot write the file cache", source),
        other => ProxyError::upstream(
            format!("cannot download {} from {url} ({other})", wanted.filename),
            other,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use bulwark_pypi::{DistFilename, PageFile, ProjectName, UploadTime};
    use bulwark_tuf::hash::sha256_hex;
    use bulwark_tuf::time::Timestamp;

    use super::*;

    const WHEEL: &str = "demo-1.0-py3-none-any.whl";

    fn page(content: &[u8], metadata: &[u8]) -> ProjectPage {
        page_of("demo", WHEEL, content, metadata)
    }

    /// The page of `project` listing `filename` with `content`.
    fn page_of(project: &str, filename: &str, content: &[u8], metadata: &[u8]) -> ProjectPage {
        let sha256 = sha256_hex(content);
        ProjectPage {
            name: ProjectName::parse(project).unwrap(),
            files: vec![PageFile {
                filename: DistFilename::parse(filename).unwrap(),
                url: bulwark_layout::file_url(&sha256, filename),
                sha256,
                blake2b_256: Some("0".repeat(64)),
                size: Some(content.len() as u64),
                requires_python: None,
                yanked: None,
                core_metadata_sha256: Some(sha256_hex(metadata)),
                upload_time: UploadTime::from_seconds(Timestamp::from_unix(0)),
            }],
        }
    }

    /// An upstream that serves `body` for every file, and the files cache.
    async fn upstream(body: Vec<u8>, cache: &Path) -> Files {
        let body = Arc::new(body);
        let app = axum::Router::new().route(
            "/files/{sha}/{name}",
            axum::routing::get(move || {
                let body = body.clone();
                async move { body.as_ref().clone() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = ProxyConfig::new(&url, cache.to_owned(), || Timestamp::from_unix(0));
        Files::open(&config, Fetcher::new(config.fetch.clone()).unwrap()).unwrap()
    }

    fn pattern(len: u32) -> Vec<u8> {
        (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
    }

    fn received(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<u8> {
        let mut all = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            all.extend_from_slice(&chunk);
        }
        all
    }

    #[test]
    fn only_files_on_verified_pages_resolve() {
        let cache = tempfile::tempdir().unwrap();
        let files = offline_files(cache.path());
        let page = page(b"wheel", b"metadata");
        let sha = page.files[0].sha256.clone();
        assert_eq!(
            files.resolve(&sha, WHEEL),
            None,
            "nothing is servable before a page is verified"
        );
        files.learn(&page);
        let wheel = files.resolve(&sha, WHEEL).unwrap();
        assert_eq!(
            (wheel.size, wheel.cap, wheel.sha256.as_str()),
            (Some(5), 5, sha.as_str())
        );
        let metadata = files.resolve(&sha, &format!("{WHEEL}.metadata")).unwrap();
        assert_eq!(
            (metadata.size, metadata.sha256),
            (None, sha256_hex(b"metadata"))
        );
        assert_eq!(files.resolve(&sha, "other-1.0-py3-none-any.whl"), None);
        assert_eq!(files.resolve(&"0".repeat(64), WHEEL), None);
    }

    fn offline_files(cache: &Path) -> Files {
        let config = ProxyConfig::new("http://127.0.0.1:1/", cache.to_owned(), || {
            Timestamp::from_unix(0)
        });
        Files::open(&config, Fetcher::new(config.fetch.clone()).unwrap()).unwrap()
    }

    #[test]
    fn the_same_bytes_signed_under_several_names_are_served_under_each() {
        let cache = tempfile::tempdir().unwrap();
        let files = offline_files(cache.path());
        let (bytes, metadata) = (b"one wheel".as_slice(), b"its metadata".as_slice());
        let mut demo = page(bytes, metadata);
        // The same wheel published twice by one project, and once by another.
        let mut twin = demo.files[0].clone();
        twin.filename = DistFilename::parse("demo-1.0-py2.py3-none-any.whl").unwrap();
        demo.files.push(twin);
        files.learn(&demo);
        files.learn(&page_of(
            "other",
            "other-1.0-py3-none-any.whl",
            bytes,
            metadata,
        ));
        let sha = sha256_hex(bytes);
        for name in [
            WHEEL,
            "demo-1.0-py2.py3-none-any.whl",
            "other-1.0-py3-none-any.whl",
        ] {
            let wanted = files.resolve(&sha, name);
            assert_eq!(
                wanted.map(|w| (w.sha256, w.size, w.filename)),
                Some((sha.clone(), Some(9), name.to_owned())),
                "{name}"
            );
            let metadata = files.resolve(&sha, &format!("{name}.metadata"));
            assert_eq!(
                metadata.map(|w| w.sha256),
                Some(sha256_hex(b"its metadata")),
                "{name}.metadata"
            );
        }
    }

    #[test]
    fn a_filename_names_the_project_whose_page_lists_it() {
        let project = |filename| project_of(filename).map(|p| p.normalized().to_owned());
        assert_eq!(
            project("Demo_Pkg-1.0-py3-none-any.whl").as_deref(),
            Some("demo-pkg")
        );
        assert_eq!(
            project("demo_pkg-1.0.tar.gz.metadata").as_deref(),
            Some("demo-pkg")
        );
        assert_eq!(project("demo_pkg-1!0.5.zip").as_deref(), Some("demo-pkg"));
        for filename in [
            "index.json",
            "demo-1.0.exe",
            "demo.whl.metadata",
            ".metadata",
        ] {
            assert_eq!(project(filename), None, "{filename}");
        }
    }

    #[tokio::test]
    async fn a_small_tampered_file_releases_no_byte() {
        let cache = tempfile::tempdir().unwrap();
        let honest = vec![7; 4096];
        let mut tampered = honest.clone();
        tampered[100] ^= 1;
        let files = upstream(tampered, cache.path()).await;
        files.learn(&page(&honest, b""));
        let wanted = files.resolve(&sha256_hex(&honest), WHEEL).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let error = files.download(&wanted, Some(&tx)).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("hash does not match the signed page - possible tampering"),
            "{error}"
        );
        assert!(received(&mut rx).is_empty());
        assert!(files.cached(&wanted).is_none());
    }

    #[tokio::test]
    async fn a_large_tampered_file_is_never_released_whole() {
        let cache = tempfile::tempdir().unwrap();
        let honest = pattern(3 * 1024 * 1024);
        let mut tampered = honest.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let files = upstream(tampered, cache.path()).await;
        files.learn(&page(&honest, b""));
        let wanted = files.resolve(&sha256_hex(&honest), WHEEL).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(files.download(&wanted, Some(&tx)).await.is_err());
        let sent = received(&mut rx);
        assert!(
            sent.len() < honest.len(),
            "the last chunk must be held back"
        );
        assert!(files.cached(&wanted).is_none());
    }

    #[tokio::test]
    async fn a_large_honest_file_streams_and_is_cached() {
        let cache = tempfile::tempdir().unwrap();
        let honest = pattern(3 * 1024 * 1024);
        let files = upstream(honest.clone(), cache.path()).await;
        files.learn(&page(&honest, b""));
        let wanted = files.resolve(&sha256_hex(&honest), WHEEL).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let last = files.download(&wanted, Some(&tx)).await.unwrap().unwrap();
        let mut sent = received(&mut rx);
        assert!(
            !sent.is_empty(),
            "a large file streams before it is complete"
        );
        sent.extend_from_slice(&last);
        assert_eq!(sent, honest);
        let (path, len) = files.cached(&wanted).unwrap();
        assert_eq!(
            (std::fs::read(path).unwrap(), len),
            (honest, 3 * 1024 * 1024)
        );
    }

    #[tokio::test]
    async fn a_file_longer_than_signed_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let honest = vec![1; 1000];
        let files = upstream(vec![1; 2000], cache.path()).await;
        files.learn(&page(&honest, b""));
        let wanted = files.resolve(&sha256_hex(&honest), WHEEL).unwrap();
        let error = files.download(&wanted, None).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("larger than the signed page says"),
            "{error}"
        );
        assert!(files.cached(&wanted).is_none());
    }
}
