//! Where the publishing section keeps its state and blobs: the embedded
//! stores of a single server (`SQLite` and files in the repository's
//! directory), or the shared ones that several servers use at once
//! (PostgreSQL and S3), each made fresh for the run and removed after it.
//!
//! ```text
//! Backend::Embedded ─▶ SqliteState <dir>/state.db, FsBlobs <dir>/blobs
//! Backend::Shared ─▶ Shared::create: a new database on BULWARK_BENCH_POSTGRES
//!                    (else BULWARK_TEST_POSTGRES), a new prefix in BULWARK_TEST_S3
//!                 ─▶ PgState (one per index server), S3Blobs (staging in <dir>/staging)
//!                 ─▶ dropped with the repository: the database is dropped
//! ```
//!
//! The objects are left in the bucket, as the store's own tests leave
//! theirs: deleting them costs one request each, as long as writing them
//! did (at 100,000 projects, minutes on a local S3 emulator). The S3
//! endpoint and credentials come from the `AWS_*` variables, as for the
//! server (see `bulwark_store::s3`).

use std::fmt;
use std::str::FromStr;

use anyhow::Context as _;

/// The variable naming the PostgreSQL server the benchmark makes its
/// database on, as a superuser URL; `BULWARK_TEST_POSTGRES` when unset.
pub const POSTGRES_VARIABLE: &str = "BULWARK_BENCH_POSTGRES";

/// The stores a publishing section runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `SQLite` state and file-system blobs: one server.
    Embedded,
    /// PostgreSQL state and S3 blobs: any number of servers, one publisher.
    Shared,
}

impl Backend {
    /// The name `--backends` takes and the JSON report uses.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Shared => "shared",
        }
    }

    /// The stores, for people.
    #[must_use]
    pub fn stores(self) -> &'static str {
        match self {
            Self::Embedded => "SQLite + files",
            Self::Shared => "PostgreSQL + S3",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "embedded" => Ok(Self::Embedded),
            "shared" => Ok(Self::Shared),
            _ => Err(format!(
                "{text:?} is not a backend: embedded (SQLite + files) or shared (PostgreSQL + S3)"
            )),
        }
    }
}

/// The PostgreSQL server's superuser URL, if the environment names one.
fn postgres_server() -> Option<String> {
    [POSTGRES_VARIABLE, bulwark_testkit::postgres::ENV]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// Why the shared backend cannot run here, if it cannot: a variable it
/// needs is unset.
#[must_use]
pub fn shared_unavailable() -> Option<String> {
    let mut missing = Vec::new();
    if postgres_server().is_none() {
        missing.push(format!(
            "{POSTGRES_VARIABLE} (or {})",
            bulwark_testkit::postgres::ENV
        ));
    }
    if std::env::var_os(bulwark_testkit::S3_VARIABLE).is_none() {
        missing.push(bulwark_testkit::S3_VARIABLE.to_owned());
    }
    (!missing.is_empty()).then(|| format!("{} not set", missing.join(" and ")))
}

/// A database and a bucket prefix of this run's own; the database is
/// dropped with it, the prefix's objects are left.
pub struct Shared {
    server: String,
    /// The database's URL (for `PgState::connect`).
    pub database: String,
    /// The prefix's URL, `s3://bucket/bench-…` (for `S3Blobs::open`).
    pub bucket: String,
}

impl Shared {
    /// Makes a new database on the benchmark's PostgreSQL server and names
    /// a new prefix in its bucket.
    pub fn create() -> anyhow::Result<Self> {
        if let Some(reason) = shared_unavailable() {
            anyhow::bail!("the shared backend needs PostgreSQL and S3: {reason}");
        }
        let server = postgres_server().context("checked above")?;
        let database = bulwark_testkit::postgres::fresh_database_on(&server);
        let bucket = bulwark_testkit::s3_test_url("bench");
        Ok(Self {
            server,
            database,
            bucket,
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // testkit panics when the server refuses; a leftover database is no
        // reason to lose the report (the next run's sweep drops it).
        let dropped = std::panic::catch_unwind(|| {
            bulwark_testkit::postgres::drop_database(&self.server, &self.database);
        });
        if dropped.is_err() {
            eprintln!("the benchmark database was left on the PostgreSQL server");
        }
    }
}
