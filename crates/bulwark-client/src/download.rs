//! The one verified download of the client side: the updater's targets,
//! the mirror's pages and files, and the proxy's files all go through it.
//!
//! ```text
//! URL ─Fetcher (cap, deadlines)─▶ chunks ─┬─ HashCheck (every listed hash)
//!                                         ├─ <dir>/.tmp-XXXXXX (bulwark-fs)
//!                                         └─ consumer (optional): all but the first
//!                                            HOLD_BACK bytes and the last chunk
//! end: length and hashes match ─▶ fsync, rename onto <dest>; the withheld tail is returned
//!      anything else           ─▶ temporary file removed, nothing in place
//! ```
//!
//! A rename is durable once the caller syncs `dest`'s directory
//! ([`bulwark_fs::sync_dir`]), so that many downloads can share one sync.

use std::collections::BTreeMap;
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use bulwark_tuf::hash::{HashCheck, Mismatch, check_length};
use bulwark_tuf::metadata::TargetFile;

use crate::fetch::{FetchError, Fetcher};

/// Bytes withheld from a consumer before streaming starts. A file up to
/// this size is verified whole before the consumer sees a byte, so a
/// refusal can still be reported as an error rather than a broken transfer.
pub const HOLD_BACK: usize = 1024 * 1024;

/// What a download must match: the trusted length (when known), the most
/// bytes accepted, and the trusted hashes (TUF names: `sha256`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The exact length, when trusted metadata lists it.
    pub length: Option<u64>,
    /// The most bytes accepted (the length, when it is known).
    pub cap: u64,
    /// Every hash the download must match; at least one.
    pub hashes: BTreeMap<String, String>,
}

impl Expected {
    /// Exactly `length` bytes with `hashes`.
    #[must_use]
    pub fn exact(length: u64, hashes: BTreeMap<String, String>) -> Self {
        Self {
            length: Some(length),
            cap: length,
            hashes,
        }
    }

    /// At most `cap` bytes (length unknown) with `hashes`.
    #[must_use]
    pub fn capped(cap: u64, hashes: BTreeMap<String, String>) -> Self {
        Self {
            length: None,
            cap,
            hashes,
        }
    }

    /// What a TUF target's trusted description says (§5.7.3).
    #[must_use]
    pub fn target(info: &TargetFile) -> Self {
        Self::exact(info.length, info.hashes.clone())
    }
}

/// Why a verified download failed. Nothing is left at the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The transfer failed or broke a limit (cap, deadlines, redirects).
    #[error("download failed")]
    Fetch(#[source] FetchError),
    /// The bytes do not match the trusted length or hashes, or a listed
    /// hash cannot be checked (then nothing was downloaded).
    #[error("download does not match its trusted description")]
    Mismatch(#[source] Mismatch),
    /// The temporary file or the rename failed (the error names the path).
    #[error("cannot store the download")]
    Io(#[source] io::Error),
}

/// Downloads `url` to `dest`: written to a temporary file beside it while
/// hashed, renamed into place only once length and every hash match.
/// Returns the length.
pub async fn download_to(
    fetcher: &Fetcher,
    url: &str,
    expected: &Expected,
    dest: &Path,
) -> Result<u64, DownloadError> {
    run(fetcher, url, expected, dest, None)
        .await
        .map(|(len, _)| len)
}

/// [`download_to`], also passing the bytes to `consumer` as they arrive,
/// except the first [`HOLD_BACK`] bytes (passed in one piece once more
/// arrive) and always the last chunk: that tail is returned once everything
/// matched, for the caller to pass on, so a consumer never receives a whole
/// file that failed verification, and a small file not one byte. `None`
/// when the file is empty.
pub async fn download_streaming(
    fetcher: &Fetcher,
    url: &str,
    expected: &Expected,
    dest: &Path,
    consumer: &mut (dyn FnMut(Vec<u8>) + Send),
) -> Result<Option<Vec<u8>>, DownloadError> {
    run(fetcher, url, expected, dest, Some(consumer))
        .await
        .map(|(_, tail)| tail)
}

async fn run(
    fetcher: &Fetcher,
    url: &str,
    expected: &Expected,
    dest: &Path,
    mut consumer: Option<&mut (dyn FnMut(Vec<u8>) + Send)>,
) -> Result<(u64, Option<Vec<u8>>), DownloadError> {
    // Refuse hashes we cannot check before any byte is downloaded.
    let mut check = HashCheck::new(&expected.hashes).map_err(DownloadError::Mismatch)?;
    let dir = bulwark_fs::parent_dir(dest);
    bulwark_fs::create_dir_all_durable(dir).map_err(DownloadError::Io)?;
    let mut temp = bulwark_fs::temp_file_in(dir).map_err(DownloadError::Io)?;
    let mut held: Option<Vec<u8>> = None;
    let received = fetcher
        .fetch_with(url, expected.cap, |chunk| {
            check.update(chunk);
            temp.write_all(chunk)?;
            if let Some(consumer) = consumer.as_mut() {
                match held.as_mut() {
                    Some(buffer) if buffer.len() < HOLD_BACK => buffer.extend_from_slice(chunk),
                    _ => {
                        if let Some(previous) = held.replace(chunk.to_vec()) {
                            consumer(previous);
                        }
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(DownloadError::Fetch)?;
    check_length(received, expected.length).map_err(DownloadError::Mismatch)?;
    check.finish().map_err(DownloadError::Mismatch)?;
    // Dropping `temp` on any error above removes it.
    bulwark_fs::persist(temp, dest).map_err(DownloadError::Io)?;
    Ok((received, held))
}

/// The length of the file at `path` when it exists and matches `expected`
/// (length, cap and every hash); `None` when it is missing or differs, or
/// when a listed hash cannot be checked.
pub fn file_matches(path: &Path, expected: &Expected) -> io::Result<Option<u64>> {
    let mut file = match bulwark_fs::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if expected.length.is_some_and(|length| length != len) || len > expected.cap {
        return Ok(None);
    }
    let Ok(mut check) = HashCheck::new(&expected.hashes) else {
        return Ok(None);
    };
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        check.update(&buf[..n]);
    }
    Ok(check.finish().is_ok().then_some(len))
}

#[cfg(test)]
mod tests {
    use bulwark_testkit::TestServer;
    use bulwark_tuf::hash::sha256_hex;

    use super::*;
    use crate::FetchConfig;

    fn sha256(bytes: &[u8]) -> BTreeMap<String, String> {
        BTreeMap::from([("sha256".to_owned(), sha256_hex(bytes))])
    }

    fn serve(path: &str, body: &[u8]) -> (TestServer, String) {
        let server = TestServer::start();
        server.put(path, body);
        let url = format!("{}/{path}", server.url());
        (server, url)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_verified_file_is_renamed_into_place() {
        let body = b"hello, world".to_vec();
        let (_server, url) = serve("a/file.txt", &body);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/file.txt");
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        let expected = Expected::exact(body.len() as u64, sha256(&body));
        let len = download_to(&fetcher, &url, &expected, &dest).await.unwrap();
        assert_eq!((len, std::fs::read(&dest).unwrap()), (12, body.clone()));
        assert_eq!(file_matches(&dest, &expected).unwrap(), Some(12));
        assert_eq!(names(dest.parent().unwrap()), ["file.txt"]);
    }

    #[tokio::test]
    async fn a_mismatch_leaves_nothing_behind() {
        let (_server, url) = serve("file.txt", b"tampered!");
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file.txt");
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        for expected in [
            Expected::exact(9, sha256(b"original!")),
            Expected::exact(8, sha256(b"tampered!")),
            Expected::capped(99, sha256(b"original!")),
        ] {
            let error = download_to(&fetcher, &url, &expected, &dest)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    DownloadError::Mismatch(_) | DownloadError::Fetch(FetchError::TooLarge { .. })
                ),
                "{error:?}"
            );
            assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
            assert_eq!(file_matches(&dest, &expected).unwrap(), None);
        }
    }

    #[tokio::test]
    async fn an_unsupported_hash_is_refused_before_downloading() {
        let (server, url) = serve("file.txt", b"x");
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        let expected = Expected::exact(1, BTreeMap::from([("md5".into(), "00".into())]));
        let error = download_to(&fetcher, &url, &expected, &dir.path().join("f"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                DownloadError::Mismatch(Mismatch::UnsupportedAlgorithm { .. })
            ),
            "{error:?}"
        );
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn streaming_withholds_the_head_and_the_last_chunk_until_verified() {
        let body: Vec<u8> = (0..3 * HOLD_BACK)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let (_server, url) = serve("big", &body);
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        let mut sent = Vec::new();
        let tail = download_streaming(
            &fetcher,
            &url,
            &Expected::exact(body.len() as u64, sha256(&body)),
            &dir.path().join("big"),
            &mut |chunk| sent.extend_from_slice(&chunk),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(!sent.is_empty() && !tail.is_empty());
        sent.extend_from_slice(&tail);
        assert_eq!(sent, body);

        // A small file that fails reaches the consumer not at all.
        let mut sent = Vec::new();
        let error = download_streaming(
            &fetcher,
            &url,
            &Expected::exact(body.len() as u64, sha256(b"other")),
            &dir.path().join("bad"),
            &mut |chunk| sent.extend_from_slice(&chunk),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, DownloadError::Mismatch(_)), "{error:?}");
        assert!(sent.len() < body.len());
        assert_eq!(names(dir.path()), ["big"]);
    }
}
