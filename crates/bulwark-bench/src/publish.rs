//! Publishing: bulk load, the first full publish ("bulk import / full
//! re-sign"), then sustained batches of uploads through the publisher.
//!
//! ```text
//! synth::file ─▶ StateStore::add_file (one transaction each, fsynced)   bulk load
//!   ─▶ Publisher::run_once: every page, every bin, snapshot, timestamp  full publish
//!   ─▶ R × (B × add_file ─▶ run_once)                                   sustained
//! ```
//!
//! Uploads and runs alternate on one thread here; the server overlaps them
//! (uploads go on while a run signs), so the sustained rate is a lower bound
//! for the publisher and an upper bound for uploads made durable one by one.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
use bulwark_repo::clock::{now, unix_micros};
use bulwark_store::AddFile;

use crate::repo::BenchRepo;
use crate::stats::{Summary, float, peak_rss_kib};
use crate::synth::{self, Rng};

/// What to publish.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// Projects in the synthetic repository.
    pub projects: u64,
    /// Uploads per publish run in the sustained phase.
    pub batch: u64,
    /// Publish runs in the sustained phase.
    pub runs: u64,
}

/// What publishing measured.
#[derive(Clone, Debug)]
pub struct PublishResult {
    /// Projects loaded.
    pub projects: u64,
    /// Files loaded.
    pub files: u64,
    /// `log2` of the bin count.
    pub bin_bits: u32,
    /// Bulk load through `add_file`, seconds.
    pub load_secs: f64,
    /// The first publish run, seconds.
    pub full_publish_secs: f64,
    /// Pages the first run rendered.
    pub full_publish_pages: usize,
    /// Roles the first run signed.
    pub full_publish_roles: usize,
    /// Uploads per sustained run.
    pub batch: u64,
    /// Sustained runs.
    pub runs: u64,
    /// Per run: uploads / (upload time + run time).
    pub uploads_per_s: Summary,
    /// Per run: uploads / run time (what the publisher alone sustains).
    pub publisher_uploads_per_s: Summary,
    /// Per run: `run_once` wall time, milliseconds.
    pub run_ms: Summary,
    /// Per run: the longest upload→published delay, milliseconds.
    pub delay_ms: Summary,
    /// Peak resident set size of this process so far, KiB.
    pub peak_rss_kib: Option<u64>,
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Loads `projects` synthetic projects through `add_file`; returns the file count.
pub fn bulk_load(repo: &BenchRepo, projects: u64) -> anyhow::Result<u64> {
    let mut files = 0;
    let time = unix_micros();
    for i in 0..projects {
        let project = synth::project_name(i);
        for n in 0..synth::files_of(i) {
            match repo.store.add_file(&project, &synth::file(i, n, time))? {
                AddFile::Added { .. } => files += 1,
                other => bail!("synthetic file {n} of {project} refused: {other:?}"),
            }
        }
    }
    Ok(files)
}

/// Builds the repository (bulk load and first publish) and runs the
/// sustained phase.
pub fn run(repo: &BenchRepo, config: &PublishConfig) -> anyhow::Result<PublishResult> {
    let started = Instant::now();
    let files = bulk_load(repo, config.projects)?;
    let load_secs = secs(started);
    eprintln!(
        "loaded {} projects, {files} files in {load_secs:.1} s",
        config.projects
    );

    let started = Instant::now();
    let first = repo
        .publisher
        .run_once(now())?
        .context("the first run publishes everything")?;
    let full_publish_secs = secs(started);
    eprintln!(
        "full publish: {} pages, {} roles in {full_publish_secs:.1} s",
        first.pages, first.roles_signed
    );

    let mut rng = Rng::new(0xB0B);
    let mut extra: HashMap<u64, u64> = HashMap::new();
    let mut next_project = config.projects;
    let (mut total_rate, mut publisher_rate, mut run_ms, mut delay_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.runs {
        let started = Instant::now();
        for _ in 0..config.batch {
            // One upload in ten creates a project; the rest add a release
            // file to an existing one.
            let i = if rng.below(10) == 0 || config.projects == 0 {
                next_project += 1;
                next_project - 1
            } else {
                rng.below(config.projects)
            };
            let n = extra.entry(i).or_insert(0);
            let index = if i < config.projects {
                synth::files_of(i)
            } else {
                0
            } + *n;
            *n += 1;
            let file = synth::file(i, index, unix_micros());
            let added = repo.store.add_file(&file.project, &file)?;
            if !matches!(added, AddFile::Added { .. }) {
                bail!("upload of {} refused: {added:?}", file.filename);
            }
        }
        let upload_secs = secs(started);
        let report = repo
            .publisher
            .run_once(now())?
            .context("a run after uploads publishes them")?;
        let run_secs = float(report.micros) / 1e6;
        let batch = float(config.batch);
        total_rate.push(batch / (upload_secs + run_secs));
        publisher_rate.push(batch / run_secs);
        run_ms.push(run_secs * 1e3);
        delay_ms.push(float(report.max_delay_us.unwrap_or(0)) / 1e3);
    }
    Ok(PublishResult {
        projects: config.projects,
        files,
        bin_bits: repo.policy.bin_bits,
        load_secs,
        full_publish_secs,
        full_publish_pages: first.pages,
        full_publish_roles: first.roles_signed,
        batch: config.batch,
        runs: config.runs,
        uploads_per_s: Summary::of(&total_rate),
        publisher_uploads_per_s: Summary::of(&publisher_rate),
        run_ms: Summary::of(&run_ms),
        delay_ms: Summary::of(&delay_ms),
        peak_rss_kib: peak_rss_kib(),
    })
}
