//! The benchmark suite of issue 5: synthetic PyPI-scale repositories built
//! and published by the real engine (`bulwark-repo`'s `Publisher` and `init`
//! over `bulwark-store`'s `SQLite` and file-system blobs, ed25519, canonical
//! JSON), measured and reported. Nothing here is asserted about timing.
//!
//! ```text
//! synth (deterministic projects/files) ─▶ repo::BenchRepo (temp dir, real stores, keys)
//!   ─▶ publish::run (bulk load, full publish, sustained batches)
//!   ─▶ bytes::run (what an installer downloads; per-file model; bin table)
//!   ─▶ client::run (CPU of one cold lookup: our client against python-tuf's)
//!   ─▶ scripts::run_all (`all` only: scripts/* against real peers, whole processes)
//!   ─▶ report::Report ─▶ report.md, report.json
//! ```

pub mod bytes;
pub mod client;
pub mod json;
pub mod publish;
pub mod repo;
pub mod report;
pub mod scripts;
pub mod stats;
pub mod synth;

use std::path::{Path, PathBuf};

pub use report::Report;

/// Which measurements to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Publishing only.
    Publish,
    /// Metadata bytes only (the repository is still built and published once).
    MetadataBytes,
    /// Client CPU only (the repository is still built and published once).
    ClientCpu,
    /// Everything.
    All,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Projects in the synthetic repository.
    pub projects: u64,
    /// `log2` of the bin count.
    pub bin_bits: u32,
    /// Uploads per sustained round.
    pub uploads: u64,
    /// Concurrent uploader threads in the sustained rounds.
    pub uploaders: u64,
    /// Sustained rounds.
    pub rounds: u64,
    /// The paced round's offered rate (default: half the saturated median).
    pub paced_rate: Option<f64>,
    /// Where the temporary repository directory is created.
    pub dir: PathBuf,
    /// The client comparison.
    pub client: client::ClientConfig,
}

/// The workspace this harness was built from (where `scripts/` and
/// `tests/python/` are).
#[must_use]
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The default bin count for a repository size: 2^14 at the scale of pypi.org
/// (PEP 458's 16,384), 2^8 below 100,000 projects.
#[must_use]
pub fn default_bin_bits(projects: u64) -> u32 {
    if projects >= 100_000 { 14 } else { 8 }
}

/// Builds a repository as `options` says and measures `suite`.
pub fn run(suite: Suite, options: &Options, command: &str) -> anyhow::Result<Report> {
    let repo = repo::BenchRepo::create(&options.dir, options.bin_bits)?;
    let config = publish::PublishConfig {
        projects: options.projects,
        uploads: options.uploads,
        uploaders: options.uploaders,
        paced_rate: options.paced_rate,
        rounds: if matches!(suite, Suite::Publish | Suite::All) {
            options.rounds
        } else {
            0
        },
    };
    let published = publish::run(&repo, &config)?;
    let bytes = match suite {
        Suite::MetadataBytes | Suite::All => Some(bytes::run(&repo, options.projects)?),
        Suite::Publish | Suite::ClientCpu => None,
    };
    let client = match suite {
        Suite::ClientCpu | Suite::All => {
            Some(client::run(&repo, options.projects, &options.client)?)
        }
        Suite::Publish | Suite::MetadataBytes => None,
    };
    Ok(Report {
        command: command.to_owned(),
        data_dir: repo.dir.path().display().to_string(),
        publish: matches!(suite, Suite::Publish | Suite::All).then_some(published),
        bytes,
        client,
        scripts: Vec::new(),
        peak_rss_kib: stats::peak_rss_kib(),
    })
}

/// Writes `report.md` and `report.json` into `out`.
pub fn write_report(report: &Report, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.md"), report.to_markdown())?;
    std::fs::write(out.join("report.json"), report.to_json().to_pretty())?;
    Ok(())
}
