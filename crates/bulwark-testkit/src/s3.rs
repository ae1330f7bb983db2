//! The test bucket of the S3 store's tests: every test (and every store a
//! conformance suite asks for) gets a prefix of its own in the one bucket
//! `scripts/backends` starts, so tests run in parallel and never see each
//! other's objects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable naming the test bucket, `s3://bucket`.
pub const S3_VARIABLE: &str = "BULWARK_TEST_S3";

/// Tells apart the URLs one process hands out within one clock tick.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh `s3://bucket/<unique prefix>` URL in the test bucket named by
/// `BULWARK_TEST_S3`; `name` (a test's name, say) starts the prefix, so a
/// leftover object tells which test wrote it. The endpoint and credentials
/// come from the `AWS_*` variables `scripts/backends start` prints.
///
/// # Panics
///
/// When `BULWARK_TEST_S3` is unset: the S3 tests never skip silently.
#[must_use]
pub fn s3_test_url(name: &str) -> String {
    let Ok(base) = std::env::var(S3_VARIABLE) else {
        panic!(
            "{S3_VARIABLE} is not set: run the tests through `scripts/test` (which starts \
             the S3 and PostgreSQL test servers), or start them with \
             `eval \"$(scripts/backends start)\"` first"
        );
    };
    assert!(
        base.starts_with("s3://"),
        "{S3_VARIABLE} must be s3://bucket, not {base:?}"
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}/{name}-{}-{nanos}-{}",
        base.trim_end_matches('/'),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
