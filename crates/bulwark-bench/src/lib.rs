//! The benchmark suite of issue 5: synthetic PyPI-scale repositories built
//! and published by the real engine (`bulwark-repo`'s `Publisher` and `init`
//! over `bulwark-store`'s `SQLite` and file-system blobs (and, for the
//! publishing section of issue 12, PostgreSQL and S3), ed25519, canonical
//! JSON), measured and reported. Nothing here is asserted about timing.
//!
//! ```text
//! peers::prepare (python-tuf's venv; for the scripts also wrk, pypiserver, a release bulwark)
//!   ─▶ synth (deterministic projects/files)
//!   ─▶ per backend::Backend: repo::BenchRepo (temp dir, real stores, keys)
//!        ─▶ publish::run (bulk load, full publish, sustained batches with one and
//!           two servers, hsm::resign_costs); the embedded repository stays for:
//!   ─▶ bytes::run (what an installer downloads; per-file model; bin table)
//!   ─▶ client::run (CPU of one cold lookup: our client against python-tuf's)
//!   ─▶ claimed_bytes::run (claims::claim/promote; bytes per lookup of claimed,
//!      recently-claimed and unclaimed projects through index::Index)
//!   ─▶ transactions::run (upload→published over HTTP: transactions against twine)
//!   ─▶ scripts::run_all (`all` only: scripts/* against real peers, whole processes)
//!   ─▶ report::Report ─▶ report.md, report.json
//! ```

pub mod backend;
pub mod bytes;
pub mod claimed_bytes;
pub mod claims;
pub mod client;
pub mod hsm;
pub mod index;
pub mod json;
pub mod peers;
pub mod publish;
pub mod repo;
pub mod report;
pub mod scripts;
pub mod stats;
pub mod synth;
pub mod transactions;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::backend::Backend;
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
    /// Metadata bytes with claimed projects only (the repository is still
    /// built and published once).
    ClaimedBytes,
    /// Upload→published of developer transactions against twine uploads
    /// only (the repository is still built and published once).
    TransactionLatency,
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
    /// The stores the publishing section runs on, in order; the later
    /// sections measure the embedded repository.
    pub backends: Vec<backend::Backend>,
    /// Where the temporary repository directory is created.
    pub dir: PathBuf,
    /// The client comparison.
    pub client: client::ClientConfig,
    /// Where the whole-process scripts write their figures; `None`: the
    /// scripts do not run.
    pub scripts: Option<PathBuf>,
    /// Claim counts of the claimed-bytes measurement (default: 1 % and 10 %
    /// of the projects).
    pub claims: Option<Vec<u64>>,
    /// Samples of each kind in the transaction latency measurement.
    pub transactions: u64,
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

/// One step of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Prepare the peers ([`peers::prepare`]).
    Prepare,
    /// Build and publish the synthetic repository (and, for the suites
    /// that measure it, measure publishing).
    Publish,
    /// Metadata bytes per install.
    MetadataBytes,
    /// Client CPU against python-tuf.
    ClientCpu,
    /// Metadata bytes with claimed projects (claims 1 % then 10 % of the
    /// repository).
    ClaimedBytes,
    /// Upload→published of transactions against twine uploads.
    TransactionLatency,
    /// The whole-process scripts.
    Scripts,
}

impl Suite {
    /// The steps of this suite, in the order they run; `scripts`: the
    /// whole-process scripts run too. Every peer is prepared first: the
    /// python-tuf comparison needs the venv, and the scripts' set-up
    /// (venvs, wrk, a release build) must not run between measurements.
    #[must_use]
    pub fn steps(self, scripts: bool) -> Vec<Step> {
        let client = matches!(self, Self::ClientCpu | Self::All);
        let mut steps = Vec::new();
        if client || scripts {
            steps.push(Step::Prepare);
        }
        steps.push(Step::Publish);
        if matches!(self, Self::MetadataBytes | Self::All) {
            steps.push(Step::MetadataBytes);
        }
        if client {
            steps.push(Step::ClientCpu);
        }
        // Not part of `all`: at 1M projects claiming 100,000 of them takes
        // longer than the rest of `all`, and claims change what later steps
        // would measure.
        if self == Self::ClaimedBytes {
            steps.push(Step::ClaimedBytes);
        }
        if self == Self::TransactionLatency {
            steps.push(Step::TransactionLatency);
        }
        if scripts {
            steps.push(Step::Scripts);
        }
        steps
    }
}

/// Runs `suite`'s steps: prepares the peers, builds a repository as
/// `options` says and measures it, then runs the scripts if `options` asks.
pub fn run(suite: Suite, options: &Options, command: &str) -> anyhow::Result<Report> {
    let mut report = Report {
        command: command.to_owned(),
        ..Report::default()
    };
    let mut peers = peers::Peers::default();
    let mut repo = None;
    let unbuilt = "the repository is built before it is measured";
    for step in suite.steps(options.scripts.is_some()) {
        match step {
            Step::Prepare => peers = peers::prepare(&workspace(), options)?,
            Step::Publish => {
                let measure = matches!(suite, Suite::Publish | Suite::All);
                let config = publish::PublishConfig {
                    projects: options.projects,
                    uploads: options.uploads,
                    uploaders: options.uploaders,
                    paced_rate: options.paced_rate,
                    rounds: if measure { options.rounds } else { 0 },
                };
                // The later steps need the embedded repository, measured or not.
                let mut backends = if measure {
                    options.backends.clone()
                } else {
                    Vec::new()
                };
                if !backends.contains(&Backend::Embedded) && suite != Suite::Publish {
                    backends.insert(0, Backend::Embedded);
                }
                for backend in backends {
                    let created = repo::BenchRepo::create(&options.dir, options.bin_bits, backend)?;
                    let published = publish::run(&created, &config)?;
                    if measure {
                        report.publish.push(published);
                    }
                    if backend == Backend::Embedded {
                        report.data_dir = created.dir.path().display().to_string();
                        repo = Some(created);
                    }
                }
            }
            Step::MetadataBytes => {
                let repo = repo.as_ref().context(unbuilt)?;
                report.bytes = Some(bytes::run(repo, options.projects)?);
            }
            Step::ClientCpu => {
                let repo = repo.as_ref().context(unbuilt)?;
                report.client = Some(client::run(repo, options.projects, &options.client)?);
            }
            Step::ClaimedBytes => {
                let repo = repo.as_ref().context(unbuilt)?;
                let config = claimed_bytes::ClaimedBytesConfig {
                    projects: options.projects,
                    claims: options
                        .claims
                        .clone()
                        .unwrap_or_else(|| claimed_bytes::default_claims(options.projects)),
                };
                report.claimed_bytes = Some(claimed_bytes::run(repo, &config)?);
            }
            Step::TransactionLatency => {
                let repo = repo.as_ref().context(unbuilt)?;
                let config = transactions::TransactionConfig {
                    samples: options.transactions,
                };
                report.transactions = Some(transactions::run(repo, options.projects, &config)?);
            }
            Step::Scripts => {
                // The repository's stores and files are not the scripts' business.
                drop(repo.take());
                let out = options
                    .scripts
                    .as_deref()
                    .context("no directory for the scripts")?;
                report.scripts = scripts::run_all(&workspace(), out, &peers);
            }
        }
    }
    report.peak_rss_kib = stats::peak_rss_kib();
    Ok(report)
}

/// Writes `report.md` and `report.json` into `out`.
pub fn write_report(report: &Report, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.md"), report.to_markdown())?;
    std::fs::write(out.join("report.json"), report.to_json().to_pretty())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peer_is_prepared_before_anything_is_measured() {
        for suite in [
            Suite::Publish,
            Suite::MetadataBytes,
            Suite::ClientCpu,
            Suite::ClaimedBytes,
            Suite::TransactionLatency,
            Suite::All,
        ] {
            for scripts in [false, true] {
                let steps = suite.steps(scripts);
                let peers = steps.contains(&Step::ClientCpu) || steps.contains(&Step::Scripts);
                let prepared = steps.iter().filter(|s| **s == Step::Prepare).count();
                assert_eq!(
                    prepared,
                    usize::from(peers),
                    "{suite:?}, {scripts}: {steps:?}"
                );
                if peers {
                    assert_eq!(steps[0], Step::Prepare, "{suite:?}, {scripts}: {steps:?}");
                }
            }
        }
    }

    #[test]
    fn claims_are_measured_alone_on_a_repository_of_their_own() {
        for suite in [Suite::ClaimedBytes, Suite::TransactionLatency] {
            assert_eq!(suite.steps(false).len(), 2, "{suite:?}");
        }
        let all = Suite::All.steps(false);
        assert!(!all.contains(&Step::ClaimedBytes) && !all.contains(&Step::TransactionLatency));
    }
}
