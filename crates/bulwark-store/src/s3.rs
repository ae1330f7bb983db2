//! [`BlobStore`] on an S3-compatible bucket: key `a/b/c` of the store opened
//! at `s3://bucket/prefix` is the object `prefix/a/b/c` of `bucket`.
//!
//! ```text
//! put, batch:  bytes ─PUT─▶ object                      (S3 PUT is atomic per object)
//! upload:      client ─▶ staging_file (local disk) ─inspect─▶ put_file
//! put_file:    ≤ one part: one PUT; larger: multipart upload, PART_SIZE
//!              parts read from the file, PARTS_IN_FLIGHT at a time
//! get_range:   ranged GET (clamped at the end of the object)
//! ```
//!
//! Every write is one PUT (or one completed multipart upload), which S3
//! makes visible atomically and durably before it answers, so a reader sees
//! the old object or the new one and `Ok` means durable. A batch keeps its
//! blobs in memory until [`BlobBatch::commit`], which PUTs them
//! [`BATCH_PUTS_IN_FLIGHT`] at a time and returns once all succeeded.
//!
//! Staging files live in a local directory (the server streams uploads to
//! disk and inspects them before storing), swept as the file system store's
//! temporary files are ([`crate::staging`]). Keys obey
//! [`crate::key::validate_key`] as in every backend.
//!
//! Endpoint, region and credentials come from the standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP` for a plain-HTTP endpoint),
//! read by `object_store`. The synchronous trait runs the asynchronous
//! client on the store's own [`IoRuntime`].

use std::fmt;
use std::io::Read as _;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig, WriteMultipart,
};

use crate::io::IoRuntime;
use crate::key::{validate_key, validate_prefix};
use crate::staging::{self, STALE_TEMP_AGE, create_temp};
use crate::{BlobBatch, BlobStore, Result, StoreError, redact_url};

/// The size of each part of a multipart upload, and the largest file
/// [`BlobStore::put_file`] sends in a single PUT. S3 wants parts of at least
/// 5 MiB (but the last) and at most 10,000 of them: 8 MiB parts allow
/// objects up to 78 GiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one multipart upload sent at once: a `put_file` holds at most
/// this many parts, plus the one being read, in memory.
pub const PARTS_IN_FLIGHT: usize = 4;

/// PUTs of one batch commit sent at once.
pub const BATCH_PUTS_IN_FLIGHT: usize = 16;

/// How long [`S3Blobs::open`] waits for the bucket to answer.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// What reading a staging file in `put_file` holds at once, beside the part
/// being filled.
const READ_BLOCK: usize = 1024 * 1024;

/// Why the S3 store failed; carried as the source of
/// [`StoreError::Backend`]. Messages name the bucket URL and the key, never
/// credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The store URL is not `s3://bucket` or `s3://bucket/prefix`.
    #[error("invalid S3 URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, without any user information.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The client could not be configured (a bad endpoint or region variable).
    #[error("cannot configure the S3 client for {url}")]
    Config {
        /// The store URL.
        url: String,
        /// What `object_store` refused.
        #[source]
        source: object_store::Error,
    },
    /// The bucket did not answer, or refused, the listing [`S3Blobs::open`]
    /// checks it with.
    #[error("cannot reach S3 bucket {url}")]
    Unreachable {
        /// The store URL.
        url: String,
        /// The failed request.
        #[source]
        source: object_store::Error,
    },
    /// The bucket did not answer within [`OPEN_TIMEOUT`].
    #[error("S3 bucket {url} did not answer within {timeout:?}")]
    Timeout {
        /// The store URL.
        url: String,
        /// How long [`S3Blobs::open`] waited.
        timeout: Duration,
    },
    /// A request about one key (or a listing prefix) failed.
    #[error("S3 {operation} of {key:?} in {url} failed")]
    Request {
        /// What was being done: `put`, `get`, `head`, `list`…
        operation: &'static str,
        /// The key, relative to the store's prefix.
        key: String,
        /// The store URL.
        url: String,
        /// The failed request.
        #[source]
        source: object_store::Error,
    },
    /// Reading a staging file to upload it failed.
    #[error("cannot read the staging file for {key:?}")]
    Staging {
        /// The key it was to be stored under.
        key: String,
        /// The I/O error, naming the file.
        #[source]
        source: std::io::Error,
    },
}

impl From<S3Error> for StoreError {
    fn from(e: S3Error) -> Self {
        crate::failures::failed(crate::failures::Store::Blobs, e)
    }
}

/// Where a store lives: a bucket, and the prefix every key is under.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Location {
    bucket: String,
    /// Empty, or a valid key (no leading or trailing `/`).
    prefix: String,
}

impl Location {
    /// Parses `s3://bucket` or `s3://bucket/prefix` (a trailing `/` is
    /// ignored). The prefix obeys the key rule, so it never starts with a
    /// reserved segment nor climbs out of itself.
    fn parse(url: &str) -> Result<Self> {
        let invalid = |reason| -> StoreError {
            S3Error::InvalidUrl {
                url: redact_url(url),
                reason,
            }
            .into()
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("the scheme must be s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the bucket name is empty"));
        }
        if !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(invalid(
                "a bucket name holds only letters, digits, '.', '-' and '_'",
            ));
        }
        let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
        if !prefix.is_empty() && validate_key(prefix).is_err() {
            return Err(invalid(
                "the prefix must be a relative path of non-empty segments (no '.', '..', '//')",
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Installs *ring* as the process's TLS crypto provider, once: reqwest is
/// built without one of its own (the workspace's `rustls-no-provider`), and
/// the rest of Bulwark uses *ring* too. Another library may have installed
/// a provider first; either is fine.
fn install_crypto_provider() {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Blobs in an S3-compatible bucket. See the module documentation.
pub struct S3Blobs {
    location: Location,
    store: Arc<AmazonS3>,
    staging_dir: PathBuf,
    /// Last, so that requests still running when the store is dropped are
    /// abandoned with the runtime.
    io: IoRuntime,
}

impl fmt::Debug for S3Blobs {
    // By hand: the client's own `Debug` would show the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Blobs")
            .field("location", &self.location.to_string())
            .field("staging_dir", &self.staging_dir)
            .finish_non_exhaustive()
    }
}

impl S3Blobs {
    /// Opens the store at `url` (`s3://bucket` or `s3://bucket/prefix`),
    /// with staging files in the local directory `staging_dir` (created if
    /// needed; stale staging files a crash left there are removed). Checks
    /// that the bucket answers a listing within [`OPEN_TIMEOUT`], so that a
    /// wrong endpoint, bucket or credential fails here, naming the URL.
    pub fn open(url: &str, staging_dir: &FsPath) -> Result<Self> {
        let location = Location::parse(url)?;
        install_crypto_provider();
        let builder = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        let config = |source| S3Error::Config {
            url: location.to_string(),
            source,
        };
        // The check gives up after one retry, so that an unreachable
        // endpoint fails with its own error rather than a timeout.
        let probe = builder
            .clone()
            .with_retry(RetryConfig {
                max_retries: 1,
                retry_timeout: OPEN_TIMEOUT,
                ..RetryConfig::default()
            })
            .build()
            .map_err(config)?;
        let store = Arc::new(builder.build().map_err(config)?);

        bulwark_fs::fs::create_dir_all(staging_dir).map_err(staging::backend)?;
        staging::remove_stale_temp_files(staging_dir, STALE_TEMP_AGE)?;

        let blobs = Self {
            location,
            store,
            staging_dir: staging_dir.to_owned(),
            io: IoRuntime::new("bulwark-s3", 2)?,
        };
        let root = blobs.root()?;
        let checked = blobs.io.run(async {
            tokio::time::timeout(OPEN_TIMEOUT, async {
                probe.list(root.as_ref()).next().await.transpose()
            })
            .await
        });
        match checked {
            Ok(Ok(_)) => Ok(blobs),
            Ok(Err(source)) => Err(S3Error::Unreachable {
                url: blobs.location.to_string(),
                source,
            }
            .into()),
            Err(_elapsed) => Err(S3Error::Timeout {
                url: blobs.location.to_string(),
                timeout: OPEN_TIMEOUT,
            }
            .into()),
        }
    }

    /// The store's URL, `s3://bucket` or `s3://bucket/prefix`.
    #[must_use]
    pub fn url(&self) -> String {
        self.location.to_string()
    }

    /// The local directory staging files are created in.
    #[must_use]
    pub fn staging_dir(&self) -> &FsPath {
        &self.staging_dir
    }

    /// The object path under which every key lives (`None` for the whole
    /// bucket).
    fn root(&self) -> Result<Option<Path>> {
        if self.location.prefix.is_empty() {
            Ok(None)
        } else {
            self.object("").map(Some)
        }
    }

    /// The object path of a key, or of a directory of keys (`""` for the
    /// root).
    fn object(&self, rel: &str) -> Result<Path> {
        let full = match (self.location.prefix.as_str(), rel) {
            (prefix, "") => prefix.to_owned(),
            ("", rel) => rel.to_owned(),
            (prefix, rel) => format!("{prefix}/{rel}"),
        };
        // Cannot fail for a valid key (no empty segment, `.`, `..` or
        // control character), but `object_store` checks again.
        Path::parse(full).map_err(|e| self.failed("address", rel, e.into()))
    }

    /// The object path of a valid key.
    fn path_of(&self, key: &str) -> Result<Path> {
        validate_key(key)?;
        self.object(key)
    }

    /// A failed request about `key`.
    fn failed(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StoreError {
        S3Error::Request {
            operation,
            key: key.to_owned(),
            url: self.location.to_string(),
            source,
        }
        .into()
    }

    /// The key of an object path listed under the root, if it is one (an
    /// object another tool put there under a name no key can have is not).
    fn key_of(&self, path: &Path) -> Option<String> {
        let path = path.as_ref();
        let key = if self.location.prefix.is_empty() {
            path
        } else {
            path.strip_prefix(self.location.prefix.as_str())?
                .strip_prefix('/')?
        };
        validate_key(key).is_ok().then(|| key.to_owned())
    }

    /// Sends the staging file at `file` (of `len` bytes) to `path` as a
    /// multipart upload, reading it one part at a time; aborts the upload
    /// (removing its parts) when reading fails.
    async fn put_multipart(&self, key: &str, path: &Path, mut file: std::fs::File) -> Result<()> {
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.failed("start multipart upload", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut block = vec![0; READ_BLOCK];
        loop {
            // Back pressure: never more than PARTS_IN_FLIGHT parts held.
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                // The part's own error is the one to report; the abort only
                // tidies up.
                let _ = writer.abort().await;
                return Err(self.failed("upload a part", key, e));
            }
            let read = match file.read(&mut block) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let _ = writer.abort().await;
                    return Err(S3Error::Staging {
                        key: key.to_owned(),
                        source,
                    }
                    .into());
                }
            };
            writer.write(&block[..read]);
        }
        writer
            .finish()
            .await
            .map(drop)
            .map_err(|e| self.failed("complete multipart upload", key, e))
    }
}

/// Reads a whole (small) staging file.
fn read_small(file: &tempfile::NamedTempFile, key: &str, len: u64) -> Result<Vec<u8>> {
    let staging = |source| S3Error::Staging {
        key: key.to_owned(),
        source,
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.reopen()
        .and_then(|f| f.take(len).read_to_end(&mut bytes))
        .map_err(staging)?;
    Ok(bytes)
}

/// Staged blobs of one [`S3Blobs`] batch, in memory: the publisher's pages
/// and metadata, each small. Staging a key again replaces its bytes.
struct S3Batch<'a> {
    blobs: &'a S3Blobs,
    staged: Mutex<std::collections::BTreeMap<String, (Path, Vec<u8>)>>,
}

impl BlobBatch for S3Batch<'_> {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.blobs.path_of(key)?;
        self.staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (path, bytes.to_vec()));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let staged =
            std::mem::take(&mut *self.staged.lock().unwrap_or_else(PoisonError::into_inner));
        let blobs = self.blobs;
        blobs.io.run(
            stream::iter(staged)
                .map(|(key, (path, bytes))| async move {
                    blobs
                        .store
                        .put(&path, PutPayload::from(bytes))
                        .await
                        .map_err(|e| blobs.failed("put", &key, e))
                })
                .buffer_unordered(BATCH_PUTS_IN_FLIGHT)
                .try_for_each(|_| async { Ok(()) }),
        )
    }
}

impl BlobStore for S3Blobs {
    fn batch(&self) -> Box<dyn BlobBatch + '_> {
        Box::new(S3Batch {
            blobs: self,
            staged: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        self.io
            .run(self.store.put(&path, payload))
            .map(drop)
            .map_err(|e| self.failed("put", key, e))
    }

    /// In the local staging directory given to [`S3Blobs::open`].
    fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        create_temp(&self.staging_dir)
    }

    /// One PUT up to [`PART_SIZE`] bytes, a multipart upload above: memory
    /// holds a few parts, never the whole file. The staging file is removed
    /// afterwards, stored or not.
    fn put_file(&self, key: &str, file: tempfile::NamedTempFile) -> Result<()> {
        let path = self.path_of(key)?;
        let staging = |source| S3Error::Staging {
            key: key.to_owned(),
            source,
        };
        let len = file.as_file().metadata().map_err(staging)?.len();
        if len <= PART_SIZE as u64 {
            let bytes = read_small(&file, key, len)?;
            return self
                .io
                .run(self.store.put(&path, PutPayload::from(bytes)))
                .map(drop)
                .map_err(|e| self.failed("put", key, e));
        }
        // A handle of its own, read from the start.
        let reader = file.reopen().map_err(staging)?;
        self.io.run(self.put_multipart(key, &path, reader))
    }

    /// Those in the staging directory untouched for [`STALE_TEMP_AGE`]. S3
    /// holds no temporary objects: a multipart upload a crash interrupts is
    /// invisible, and the bucket's lifecycle rule for incomplete multipart
    /// uploads removes its parts.
    fn remove_stale_staging(&self) -> Result<u64> {
        staging::remove_stale_temp_files(&self.staging_dir, STALE_TEMP_AGE)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        self.io.run(async {
            let found = match self.store.get(&path).await {
                Ok(found) => found,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.failed("get", key, e)),
            };
            let bytes = found
                .bytes()
                .await
                .map_err(|e| self.failed("get", key, e))?;
            Ok(Some(Vec::from(bytes)))
        })
    }

    fn len(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path_of(key)?;
        match self.io.run(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("head", key, e)),
        }
    }

    /// One ranged GET. S3 refuses a range that starts at or after the end
    /// (416); a refused GET costs a HEAD more, to tell that (an empty
    /// answer) from a missing key or a real failure.
    fn get_range(&self, key: &str, offset: u64, length: u64) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        let end = offset.saturating_add(length);
        if end <= offset {
            return Ok(self.len(key)?.map(|_| Vec::new()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(offset..end)),
            ..GetOptions::default()
        };
        let got = self.io.run(async {
            match self.store.get_opts(&path, options).await {
                Ok(found) => found.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match got {
            Ok(bytes) => Ok(bytes.map(Vec::from)),
            Err(e) => match self.len(key)? {
                None => Ok(None),
                Some(len) if offset >= len => Ok(Some(Vec::new())),
                Some(_) => Err(self.failed("ranged get", key, e)),
            },
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        match self.io.run(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", key, e)),
        }
    }

    /// Lists the deepest directory the prefix names (S3 lists by key prefix
    /// at `/` boundaries here) and keeps the keys that start with it.
    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let listed = if dir.is_empty() {
            self.root()?
        } else {
            Some(self.object(dir)?)
        };
        let objects: Vec<_> = self
            .io
            .run(self.store.list(listed.as_ref()).try_collect())
            .map_err(|e| self.failed("list", prefix, e))?;
        let mut keys: Vec<String> = objects
            .iter()
            .filter_map(|meta| self.key_of(&meta.location))
            .filter(|key| key.starts_with(prefix))
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure by design")]

    use super::Location;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        for (url, bucket, prefix) in [
            ("s3://b", "b", ""),
            ("s3://b/", "b", ""),
            ("s3://b/p", "b", "p"),
            ("s3://b/p/q/", "b", "p/q"),
            ("s3://my.bucket-1/a b/ünï", "my.bucket-1", "a b/ünï"),
        ] {
            let location = Location::parse(url).unwrap();
            assert_eq!(
                (location.bucket.as_str(), location.prefix.as_str()),
                (bucket, prefix),
                "{url}"
            );
            assert_eq!(location.to_string(), url.trim_end_matches('/'));
        }
        for url in [
            "s3://",
            "s3:///p",
            "http://b",
            "b/p",
            "s3://b//p",
            "s3://b/../p",
            "s3://b/.tmp-x",
            "s3://b?x",
        ] {
            assert!(Location::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn user_information_never_reaches_a_message() {
        let e = Location::parse("s3://id:secret@bucket").unwrap_err();
        assert!(!format!("{e:?}").contains("secret"), "{e:?}");
    }
}
