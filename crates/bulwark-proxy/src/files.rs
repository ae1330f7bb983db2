//! Distribution files and their `.metadata`, served only when a verified
//! page lists them, and only with bytes whose size and sha256 match it.
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
use bulwark_pypi::{MAX_METADATA_SIZE, ProjectPage};
use bulwark_store::BlobStore;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::hash::Mismatch;
use bulwark_tuf::names::percent_encode;
use tokio::sync::mpsc::UnboundedSender;

use crate::{ProxyConfig, ProxyError};

/// What a verified page says about one distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    size: u64,
    filename: String,
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
    listed: RwLock<HashMap<String, Listed>>,
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
                filename: file.filename.as_str().to_owned(),
                core_metadata_sha256: file.core_metadata_sha256.clone(),
            };
            listed.insert(file.sha256.clone(), entry);
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
        let file = listed.get(sha256)?;
        let upstream_path = |name: &str| format!("files/{sha256}/{}", percent_encode(name));
        if file.filename == filename {
            return Some(Wanted {
                sha256: sha256.to_owned(),
                size: Some(file.size),
                cap: file.size,
                filename: filename.to_owned(),
                upstream_path: upstream_path(filename),
            });
        }
        let metadata_sha256 = file.core_metadata_sha256.as_ref()?;
        (filename.strip_suffix(".metadata") == Some(file.filename.as_str())).then(|| Wanted {
            sha256: metadata_sha256.clone(),
            size: None,
            cap: MAX_METADATA_SIZE as u64,
            filename: filename.to_owned(),
            upstream_path: upstream_path(filename),
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
        let sha256 = sha256_hex(content);
        ProjectPage {
            name: ProjectName::parse("demo").unwrap(),
            files: vec![PageFile {
                filename: DistFilename::parse(WHEEL).unwrap(),
                url: format!("../../files/{sha256}/{WHEEL}"),
                sha256,
                blake2b_256: "0".repeat(64),
                size: content.len() as u64,
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
        let config = ProxyConfig::new("http://127.0.0.1:1/", cache.path().to_owned(), || {
            Timestamp::from_unix(0)
        });
        let files = Files::open(&config, Fetcher::new(config.fetch.clone()).unwrap()).unwrap();
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
