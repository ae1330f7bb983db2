//! The harness shared by the scenario tests: a [`RepositorySimulator`], a
//! [`TestServer`] serving it, and a client metadata directory bootstrapped
//! with root version 1. Every refresh builds a new [`Updater`], as a new
//! run of a client program would.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bulwark_client::{
    Download, FetchConfig, FetchError, Fetcher, Limits, MetadataDir, UpdateError, Updater,
};
use bulwark_testkit::{RepositorySimulator, TestServer, now};
use bulwark_tuf::Refused;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::metadata::TargetFile;
use bulwark_tuf::names::percent_encode;
use bulwark_tuf::time::Timestamp;
use tempfile::TempDir;

/// Asserts that a value matches a pattern, printing the value when not.
macro_rules! assert_variant {
    ($value:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match $value {
            $pattern $(if $guard)? => {}
            ref other => panic!("expected {}, got {other:?}", stringify!($pattern)),
        }
    };
}

/// A repository, a server and one client's metadata directory.
pub struct Harness {
    pub sim: RepositorySimulator,
    pub server: TestServer,
    pub metadata: TempDir,
    pub downloads: TempDir,
    pub limits: Limits,
    pub fetch: FetchConfig,
    pub now: Timestamp,
}

/// Short time limits: every test ends quickly even when a download stalls.
pub fn quick_fetch_config() -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(3),
        base_deadline: Duration::from_secs(5),
        min_rate: 1024 * 1024,
        max_redirects: 3,
        cross_origin_redirects: false,
        upstream_token: None,
    }
}

impl Harness {
    /// A default repository: consistent snapshots, one key per role, no targets.
    pub fn new() -> Self {
        Self::with_sim(RepositorySimulator::new())
    }

    /// Publishes `sim` and gives the client its root version 1.
    pub fn with_sim(sim: RepositorySimulator) -> Self {
        let mut harness = Self {
            sim,
            server: TestServer::start(),
            metadata: TempDir::new().unwrap(),
            downloads: TempDir::new().unwrap(),
            limits: Limits {
                root: 64 * 1024,
                timestamp: 16 * 1024,
                snapshot: 256 * 1024,
                targets: 256 * 1024,
                ..Limits::default()
            },
            fetch: quick_fetch_config(),
            now: now(),
        };
        harness.publish();
        std::fs::write(
            harness.metadata.path().join("root.json"),
            harness.sim.root_bytes(1),
        )
        .unwrap();
        harness
    }

    /// Publishes the simulator's current state to the server.
    pub fn publish(&mut self) {
        let files = self.sim.publish();
        self.server.serve(&files);
    }

    /// A new updater over the metadata directory.
    pub fn updater(&self) -> Updater {
        Updater::new(
            MetadataDir::open(self.metadata.path()).unwrap(),
            &self.server.metadata_url(),
            Fetcher::new(self.fetch.clone()).unwrap(),
            self.limits.clone(),
            self.now,
        )
        .unwrap()
    }

    /// One client run: refresh the top-level metadata.
    pub async fn refresh(&self) -> Result<Updater, UpdateError> {
        let mut updater = self.updater();
        updater.refresh().await?;
        Ok(updater)
    }

    /// One client run: refresh, then look `path` up.
    pub async fn target_info(&self, path: &str) -> Result<TargetFile, UpdateError> {
        self.updater().target_info(path).await
    }

    /// One client run: refresh, look `path` up and download it to
    /// [`Harness::download_path`].
    pub async fn download(&self, path: &str) -> Result<Download, UpdateError> {
        let mut updater = self.updater();
        let info = updater.target_info(path).await?;
        updater
            .download_target(
                path,
                &info,
                &self.server.targets_url(),
                &self.download_path(path),
            )
            .await
    }

    /// Where [`Harness::download`] puts target `path`.
    pub fn download_path(&self, path: &str) -> PathBuf {
        self.downloads.path().join(percent_encode(path))
    }

    /// Every file in the metadata directory, by name.
    pub fn metadata_files(&self) -> BTreeMap<String, Vec<u8>> {
        dir_files(&self.metadata)
    }

    /// Every file in the downloads directory, by name.
    pub fn downloaded_files(&self) -> BTreeMap<String, Vec<u8>> {
        dir_files(&self.downloads)
    }

    /// The names of the files in the metadata directory.
    pub fn metadata_names(&self) -> Vec<String> {
        self.metadata_files().into_keys().collect()
    }

    /// The stored bytes of `file` (e.g. `timestamp.json`).
    pub fn stored(&self, file: &str) -> Option<Vec<u8>> {
        std::fs::read(self.metadata.path().join(file)).ok()
    }

    /// The `signed.version` of the stored `file`.
    pub fn stored_version(&self, file: &str) -> u64 {
        let bytes = self
            .stored(file)
            .unwrap_or_else(|| panic!("{file} is not stored"));
        let Value::Object(top) = json::parse(&bytes).unwrap() else {
            panic!("not an object")
        };
        let Some(Value::Object(signed)) = top.get("signed") else {
            panic!("no signed")
        };
        let Some(Value::Int(version)) = signed.get("version") else {
            panic!("no version")
        };
        u64::try_from(*version).unwrap()
    }

    /// Asserts that the stored `file` is exactly what the repository
    /// published at `path`.
    pub fn assert_stored_as_published(&self, file: &str, path: &str) {
        let published = self
            .sim
            .published(path)
            .unwrap_or_else(|| panic!("{path} was not published"));
        assert!(
            self.stored(file) == Some(published),
            "{file} is not the bytes published at {path}"
        );
    }

    /// The request paths the server saw.
    pub fn requests(&self) -> Vec<String> {
        self.server.requests()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.server.clear_requests();
    }
}

fn dir_files(dir: &TempDir) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().into_string().unwrap(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// The four files a client holds after a successful refresh.
pub const TOP_LEVEL_FILES: [&str; 4] = [
    "root.json",
    "snapshot.json",
    "targets.json",
    "timestamp.json",
];

/// The refusal inside `result`, which must be a refusal.
pub fn refused<T: std::fmt::Debug>(result: Result<T, UpdateError>) -> Refused {
    match result {
        Err(UpdateError::Refused(refused)) => refused,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// What failed to download and why, from `result`, which must be a fetch error.
pub fn fetch_failure<T: std::fmt::Debug>(result: Result<T, UpdateError>) -> (String, FetchError) {
    match result {
        Err(UpdateError::Fetch { what, source, .. }) => (what, source),
        other => panic!("expected a download failure, got {other:?}"),
    }
}

/// `s` as a list of owned strings, for comparing request logs.
pub fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}
