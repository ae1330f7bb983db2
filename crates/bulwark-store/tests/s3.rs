//! The S3 blob store against a real S3-compatible server (s3rver, started by
//! `scripts/backends`): the conformance suites, multipart uploads, and
//! `open`'s refusals. Each store gets a prefix of its own in the one test
//! bucket (`BULWARK_TEST_S3`); without it the tests fail, never skip.
#![cfg(feature = "s3")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::error::Error;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bulwark_store::conformance::{blob_store_reopen_suite, blob_store_suite_skipping};
use bulwark_store::s3::{PART_SIZE, S3Blobs};
use bulwark_store::{BlobStore, StoreError};
use bulwark_testkit::s3_test_url;
use bulwark_tuf::hash::sha256_hex;
use object_store::ObjectStoreExt as _;

/// An error and its sources, one line.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The bucket and prefix of an `s3://bucket/prefix` URL.
fn bucket_and_prefix(url: &str) -> (&str, &str) {
    url.strip_prefix("s3://").unwrap().split_once('/').unwrap()
}

/// A client of the test bucket, to look at objects behind the store's back.
fn raw_bucket(bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .unwrap()
}

/// s3rver keeps each key segment as a file named after it plus a suffix
/// (`._S3rver_object`, `._S3rver_metadata.json`), so a segment longer than
/// this fails with ENAMETOOLONG, and the error kills the server. S3 takes
/// keys of up to 1024 bytes.
const S3RVER_MAX_SEGMENT: usize = 255 - "._S3rver_metadata.json".len();

#[test]
fn s3_passes_the_blob_suite() {
    let staging = tempfile::tempdir().unwrap();
    blob_store_suite_skipping(
        &|| Box::new(S3Blobs::open(&s3_test_url("suite"), staging.path()).unwrap()),
        &[
            (
                "unusual_valid_keys_work",
                "s3rver crashes on a 255-byte key segment; \
                 unusual_valid_keys_work_up_to_the_s3rver_limit covers the rest",
            ),
            (
                "concurrent_overwrite_is_atomic",
                "s3rver writes an object in place (truncate, then write), so a \
                 GET during a PUT reads a partial object; S3 makes each PUT \
                 visible atomically",
            ),
        ],
    );
}

/// What the conformance check `unusual_valid_keys_work` checks, with the
/// longest segment s3rver can hold.
#[test]
fn unusual_valid_keys_work_up_to_the_s3rver_limit() {
    let staging = tempfile::tempdir().unwrap();
    let b = S3Blobs::open(&s3_test_url("unusual"), staging.path()).unwrap();
    let long = "y".repeat(S3RVER_MAX_SEGMENT);
    let keys = [
        "a/.hidden",
        "a/..b",
        "a/b..",
        "a/.tmp",
        "a/tmp-.x",
        "ünï/ключ",
        "a b/c%20d",
        "plus+and=/semi;colon,comma&amp'quote\"",
        &long,
    ];
    for key in keys {
        b.put(key, key.as_bytes()).unwrap();
        assert_eq!(
            b.get(key).unwrap().as_deref(),
            Some(key.as_bytes()),
            "{key:?}"
        );
        assert_eq!(b.len(key).unwrap(), Some(key.len() as u64), "{key:?}");
    }
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    assert_eq!(b.list("").unwrap(), sorted);
}

#[test]
fn s3_keeps_everything_across_reopen() {
    let staging = tempfile::tempdir().unwrap();
    let url = s3_test_url("reopen");
    blob_store_reopen_suite(&|| Box::new(S3Blobs::open(&url, staging.path()).unwrap()));
}

#[test]
fn keys_live_under_the_prefix_and_prefixes_do_not_mix() {
    let staging = tempfile::tempdir().unwrap();
    let url = s3_test_url("prefix");
    let a = S3Blobs::open(&url, staging.path()).unwrap();
    let b = S3Blobs::open(&format!("{url}/other"), staging.path()).unwrap();
    assert_eq!(a.url(), url);
    a.put("files/ab/x-1.0.tar.gz", b"a").unwrap();
    b.put("files/ab/x-1.0.tar.gz", b"b").unwrap();
    assert_eq!(
        a.list("files/").unwrap(),
        ["files/ab/x-1.0.tar.gz"],
        "the nested store's object is not a key of the outer one's files/"
    );
    assert_eq!(b.list("").unwrap(), ["files/ab/x-1.0.tar.gz"]);
    assert_eq!(b.get("files/ab/x-1.0.tar.gz").unwrap().unwrap(), b"b");

    let (bucket, prefix) = bucket_and_prefix(&url);
    let raw = raw_bucket(bucket);
    let io = tokio::runtime::Runtime::new().unwrap();
    let object =
        object_store::path::Path::parse(format!("{prefix}/files/ab/x-1.0.tar.gz")).unwrap();
    let got = io.block_on(async { raw.get(&object).await.unwrap().bytes().await.unwrap() });
    assert_eq!(&got[..], b"a", "key k is object <prefix>/k");
}

#[test]
fn a_large_put_file_goes_through_multipart_and_reads_back_identical() {
    const SIZE: usize = 50 * 1024 * 1024;
    if !is_child() {
        let relay = CountingRelay::start();
        run_in_child(
            "a_large_put_file_goes_through_multipart_and_reads_back_identical",
            &relay.endpoint(),
        );
        let parts = relay.parts.load(Ordering::SeqCst);
        assert!(
            parts >= SIZE.div_ceil(PART_SIZE),
            "{parts} part uploads went to S3"
        );
        return;
    }
    let staging = tempfile::tempdir().unwrap();
    let url = s3_test_url("multipart");
    let blobs = S3Blobs::open(&url, staging.path()).unwrap();
    // Not a repeating pattern of a part's length, so a part stored twice or
    // out of order changes the hash.
    let bytes: Vec<u8> = (0..SIZE as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    let mut file = blobs.staging_file().unwrap();
    assert!(file.path().starts_with(staging.path()), "staged locally");
    for block in bytes.chunks(1 << 20) {
        file.write_all(block).unwrap();
    }
    let key = "files/ab/big-1.0-py3-none-any.whl";
    blobs.put_file(key, file).unwrap();
    assert_eq!(
        std::fs::read_dir(staging.path()).unwrap().count(),
        0,
        "the staging file is removed once stored"
    );

    assert_eq!(blobs.len(key).unwrap(), Some(SIZE as u64));
    let got = blobs.get(key).unwrap().unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&bytes), "bytes read back");
    drop(got);
    let part = PART_SIZE as u64;
    for (offset, length) in [
        (0, 100),
        (part - 10, 20),
        (2 * part - 1, 2),
        (3 * part - 1_000_000, 3_000_000),
        (SIZE as u64 - 5, 100),
        (SIZE as u64, 10),
    ] {
        let window = blobs.get_range(key, offset, length).unwrap().unwrap();
        let start = usize::try_from(offset).unwrap();
        let end = usize::try_from(offset + length).unwrap().min(SIZE);
        assert_eq!(
            sha256_hex(&window),
            sha256_hex(&bytes[start..end]),
            "window {offset}+{length}"
        );
    }
}

#[test]
fn a_put_file_of_exactly_one_part_is_one_put() {
    if !is_child() {
        let relay = CountingRelay::start();
        run_in_child(
            "a_put_file_of_exactly_one_part_is_one_put",
            &relay.endpoint(),
        );
        assert_eq!(relay.parts.load(Ordering::SeqCst), 0, "part uploads");
        return;
    }
    let staging = tempfile::tempdir().unwrap();
    let url = s3_test_url("one-part");
    let blobs = S3Blobs::open(&url, staging.path()).unwrap();
    let bytes = vec![7_u8; PART_SIZE];
    let mut file = blobs.staging_file().unwrap();
    file.write_all(&bytes).unwrap();
    blobs.put_file("one", file).unwrap();
    assert_eq!(blobs.get("one").unwrap().unwrap(), bytes);
}

#[test]
fn open_refuses_urls_that_are_not_s3_buckets() {
    let staging = tempfile::tempdir().unwrap();
    for (url, expected) in [
        ("s3://", "the bucket name is empty"),
        ("s3:///prefix", "the bucket name is empty"),
        ("http://x", "the scheme must be s3://"),
        ("", "the scheme must be s3://"),
        ("S3://bucket", "the scheme must be s3://"),
        ("s3://bucket/../up", "prefix"),
        ("s3://bucket//double", "prefix"),
        ("s3://bu cket", "bucket name"),
    ] {
        let e = S3Blobs::open(url, staging.path()).unwrap_err();
        assert!(matches!(e, StoreError::Backend(_)), "{url:?}: {e:?}");
        let message = chain(&e);
        assert!(
            message.contains(&format!("{url:?}")) && message.contains(expected),
            "{url:?}: {message}"
        );
    }
    let e = S3Blobs::open("s3://key:secret@bucket", staging.path()).unwrap_err();
    assert!(!chain(&e).contains("secret"), "{}", chain(&e));
}

#[test]
fn open_of_a_missing_bucket_fails_naming_the_url() {
    let staging = tempfile::tempdir().unwrap();
    // The test bucket's server (and a check that it is configured), another
    // bucket.
    let _ = s3_test_url("missing");
    let url = &format!("s3://no-such-bucket-{}", std::process::id());
    let e = S3Blobs::open(url, staging.path()).unwrap_err();
    let message = chain(&e);
    assert!(
        message.contains(&format!("cannot reach S3 bucket {url}")),
        "{message}"
    );
}

#[test]
fn open_of_an_unreachable_endpoint_fails_within_seconds() {
    if !is_child() {
        run_in_child(
            "open_of_an_unreachable_endpoint_fails_within_seconds",
            "http://127.0.0.1:1",
        );
        return;
    }
    let staging = tempfile::tempdir().unwrap();
    let url = s3_test_url("unreachable");
    let started = Instant::now();
    let e = S3Blobs::open(&url, staging.path()).unwrap_err();
    let took = started.elapsed();
    let message = chain(&e);
    assert!(took < Duration::from_secs(8), "took {took:?}: {message}");
    assert!(message.contains(&url), "{message}");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        secret.is_empty() || !message.contains(&secret),
        "the secret is in {message}"
    );
    println!("{message}");
}

/// Set in the child process a test runs itself in ([`run_in_child`]).
const CHILD: &str = "BULWARK_S3_TEST_CHILD";

/// Whether this process is a test's child ([`run_in_child`]).
fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` of this test binary again, in a child process
/// whose S3 endpoint is `endpoint`: the endpoint comes from the
/// environment, which one test must not change under the others.
fn run_in_child(name: &str, endpoint: &str) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

/// A TCP relay in front of the S3 endpoint that counts the part uploads
/// (`partNumber=` in requests) going through it.
struct CountingRelay {
    addr: SocketAddr,
    parts: Arc<AtomicUsize>,
}

impl CountingRelay {
    const PART: &[u8] = b"partNumber=";

    fn start() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
        let upstream = endpoint
            .strip_prefix("http://")
            .expect("a plain-HTTP test endpoint")
            .trim_end_matches('/')
            .to_socket_addrs()
            .unwrap()
            .next()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Self {
            addr: listener.local_addr().unwrap(),
            parts: Arc::new(AtomicUsize::new(0)),
        };
        let parts = relay.parts.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let server = TcpStream::connect(upstream).unwrap();
                let (up_from, up_to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let parts = parts.clone();
                thread::spawn(move || Self::pump_counting(up_from, up_to, &parts));
                thread::spawn(move || {
                    let (mut from, mut to) = (server, client);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        });
        relay
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Copies requests upstream, counting [`Self::PART`] (also across reads).
    fn pump_counting(mut from: TcpStream, mut to: TcpStream, parts: &AtomicUsize) {
        let mut buf = vec![0; 64 * 1024];
        let mut window = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            window.extend_from_slice(&buf[..n]);
            let found = window
                .windows(Self::PART.len())
                .filter(|w| *w == Self::PART)
                .count();
            parts.fetch_add(found, Ordering::SeqCst);
            // Keep what could start a match split across reads.
            window.drain(..window.len().saturating_sub(Self::PART.len() - 1));
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    }
}
