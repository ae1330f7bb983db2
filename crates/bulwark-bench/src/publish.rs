//! Publishing: bulk load, the first full publish ("bulk import / full
//! re-sign"), then sustained uploads from concurrent uploaders while the
//! publisher runs back to back, as in the server.
//!
//! ```text
//! synth::file ─▶ StateStore::add_files (10,000 per transaction)          bulk load
//!   ─▶ Publisher::run_once: every page, every bin, snapshot, timestamp  full publish
//!   ─▶ run_once a day later: every online role expires, all re-signed   full re-sign
//!   ─▶ rounds × ( U threads × add_file (group-committed)                sustained
//!                 ∥ run_once back to back until every upload is published )
//!   ─▶ one round paced at half that rate: latency below saturation      paced
//! ```
//!
//! An upload here is the state change only (`StateStore::add_file`, made
//! durable before it returns); the distribution's bytes are not written
//! (pages are rendered from records). `scripts/publish-latency` measures
//! whole HTTP uploads through a real server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_repo::clock::{now, unix_micros};
use bulwark_store::{AddFile, FileRecord};

use crate::repo::BenchRepo;
use crate::stats::{Summary, float, peak_rss_kib};
use crate::synth::{self, Rng};

/// How long the paced round lasts at its offered rate, seconds.
const PACED_SECS: f64 = 10.0;

/// Files per transaction during the bulk load.
pub const LOAD_CHUNK: usize = 10_000;

/// What to publish.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// Projects in the synthetic repository.
    pub projects: u64,
    /// Uploads per sustained round.
    pub uploads: u64,
    /// Concurrent uploader threads.
    pub uploaders: u64,
    /// Sustained rounds (each gives one uploads/s figure).
    pub rounds: u64,
    /// The paced round's offered rate (default: half the saturated median).
    pub paced_rate: Option<f64>,
}

/// A sustained round at a fixed offered rate.
#[derive(Clone, Debug)]
pub struct Paced {
    /// Uploads/s offered (all uploaders together).
    pub offered: f64,
    /// Uploads/s achieved (uploads / first due → last published).
    pub achieved: f64,
    /// Uploads in the round.
    pub uploads: u64,
    /// Per publish run: wall time, milliseconds.
    pub run_ms: Summary,
    /// Per upload: from when it was due to the end of the run that
    /// published it, milliseconds.
    pub delay_ms: Summary,
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
    /// Bulk load through `add_files`, seconds.
    pub load_secs: f64,
    /// The first publish run, seconds.
    pub full_publish_secs: f64,
    /// Pages the first run rendered.
    pub full_publish_pages: usize,
    /// Roles the first run signed.
    pub full_publish_roles: usize,
    /// Re-signing every online role (as when they all near expiry), seconds.
    pub resign_secs: f64,
    /// Roles the re-sign run signed.
    pub resign_roles: usize,
    /// Peak resident set size after the bulk load, full publish and re-sign, KiB.
    pub build_peak_rss_kib: Option<u64>,
    /// Uploads per sustained round.
    pub uploads: u64,
    /// Concurrent uploaders.
    pub uploaders: u64,
    /// Sustained rounds.
    pub rounds: u64,
    /// Per round: uploads / (first upload → last one published).
    pub uploads_per_s: Summary,
    /// Per publish run: wall time, milliseconds.
    pub run_ms: Summary,
    /// Per publish run: uploads it published.
    pub uploads_per_run: Summary,
    /// Per upload: from just before `add_file` to the end of the run that
    /// published it, milliseconds (under saturation: queueing included).
    pub delay_ms: Summary,
    /// The round at a fixed rate below saturation, if there were rounds.
    pub paced: Option<Paced>,
    /// Peak resident set size of this process so far, KiB.
    pub peak_rss_kib: Option<u64>,
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Loads `projects` synthetic projects through `add_files`; returns the file count.
pub fn bulk_load(repo: &BenchRepo, projects: u64) -> anyhow::Result<u64> {
    let time = unix_micros();
    let mut files = 0;
    let mut chunk: Vec<FileRecord> = Vec::with_capacity(LOAD_CHUNK);
    let mut flush = |chunk: &mut Vec<FileRecord>| -> anyhow::Result<()> {
        let entries: Vec<(&str, &FileRecord)> =
            chunk.iter().map(|f| (f.project.as_str(), f)).collect();
        for (outcome, file) in repo
            .store
            .add_files(&entries)?
            .into_iter()
            .zip(chunk.iter())
        {
            match outcome? {
                AddFile::Added { .. } => files += 1,
                other => bail!("synthetic file {} refused: {other:?}", file.filename),
            }
        }
        chunk.clear();
        Ok(())
    };
    for i in 0..projects {
        for n in 0..synth::files_of(i) {
            chunk.push(synth::file(i, n, time));
            if chunk.len() == LOAD_CHUNK {
                flush(&mut chunk)?;
            }
        }
    }
    flush(&mut chunk)?;
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

    // Every online role expires after `online_expiry`: a run that late
    // re-signs them all (the periodic re-sign of a live repository).
    let started = Instant::now();
    let resigned = repo
        .publisher
        .run_once(now().plus_seconds(repo.policy.online_expiry))?
        .context("a run after expiry re-signs everything")?;
    let resign_secs = secs(started);
    eprintln!(
        "full re-sign: {} roles in {resign_secs:.1} s",
        resigned.roles_signed
    );
    let build_peak_rss_kib = peak_rss_kib();

    let mut uploads = Uploads::new(config.projects);
    let (mut rates, mut runs, mut delays) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..config.rounds {
        let measured = sustained_round(repo, config.uploaders, config.uploads, None, &mut uploads)?;
        eprintln!(
            "round {}: {:.0} uploads/s in {} runs",
            round + 1,
            measured.rate,
            measured.runs.len()
        );
        rates.push(measured.rate);
        runs.extend(measured.runs);
        delays.extend(measured.delays_ms);
    }
    let uploads_per_s = Summary::of(&rates);
    // Latency below saturation: a round at a fixed rate (by default half the
    // saturated median), long enough for 10 seconds of uploads.
    let paced_rate = config
        .paced_rate
        .unwrap_or(uploads_per_s.p50 / 2.0)
        .max(1.0);
    let paced = if config.rounds == 0 {
        None
    } else {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive count of uploads, far below 2^52"
        )]
        let count = (paced_rate * PACED_SECS).ceil() as u64;
        let measured = sustained_round(
            repo,
            config.uploaders,
            count,
            Some(paced_rate),
            &mut uploads,
        )?;
        eprintln!(
            "paced round: {count} uploads at {paced_rate:.0}/s offered, {:.0}/s achieved, {} runs",
            measured.rate,
            measured.runs.len()
        );
        Some(Paced {
            offered: paced_rate,
            achieved: measured.rate,
            uploads: count,
            run_ms: Summary::of(&measured.runs.iter().map(|r| r.ms).collect::<Vec<_>>()),
            delay_ms: Summary::of(&measured.delays_ms),
        })
    };
    let run_ms: Vec<f64> = runs.iter().map(|r| r.ms).collect();
    let per_run: Vec<f64> = runs.iter().map(|r| float(r.uploads)).collect();
    Ok(PublishResult {
        projects: config.projects,
        files,
        bin_bits: repo.policy.bin_bits,
        load_secs,
        full_publish_secs,
        full_publish_pages: first.pages,
        full_publish_roles: first.roles_signed,
        resign_secs,
        resign_roles: resigned.roles_signed,
        build_peak_rss_kib,
        uploads: config.uploads,
        uploaders: config.uploaders,
        rounds: config.rounds,
        uploads_per_s,
        run_ms: Summary::of(&run_ms),
        uploads_per_run: Summary::of(&per_run),
        delay_ms: Summary::of(&delays),
        paced,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// The next synthetic uploads: one in ten creates a project, the rest add a
/// release file to a random existing one.
struct Uploads {
    rng: Rng,
    projects: u64,
    next_project: u64,
    extra: HashMap<u64, u64>,
}

impl Uploads {
    fn new(projects: u64) -> Self {
        Self {
            rng: Rng::new(0xB0B),
            projects,
            next_project: projects,
            extra: HashMap::new(),
        }
    }

    fn next(&mut self) -> FileRecord {
        let i = if self.projects == 0 || self.rng.below(10) == 0 {
            self.next_project += 1;
            self.next_project - 1
        } else {
            self.rng.below(self.projects)
        };
        let n = self.extra.entry(i).or_insert(0);
        let index = if i < self.projects {
            synth::files_of(i)
        } else {
            0
        } + *n;
        *n += 1;
        synth::file(i, index, 0)
    }
}

/// One publish run of a sustained round.
struct Run {
    ms: f64,
    uploads: u64,
}

struct Round {
    rate: f64,
    runs: Vec<Run>,
    delays_ms: Vec<f64>,
}

/// `count` uploads from `uploaders` threads while the publisher runs back
/// to back; ends when every upload is published. Uploads go as fast as the
/// store takes them, or at `rate` per second in all: then each upload is
/// due at a fixed time, and its delay counts from then (a late start is
/// part of the delay).
fn sustained_round(
    repo: &BenchRepo,
    uploaders: u64,
    count: u64,
    rate: Option<f64>,
    uploads: &mut Uploads,
) -> anyhow::Result<Round> {
    let threads = usize::try_from(uploaders.max(1))?;
    let mut work: Vec<Vec<(u64, FileRecord)>> = vec![Vec::new(); threads];
    for k in 0..count {
        work[usize::try_from(k)? % threads].push((k, uploads.next()));
    }
    // (change, upload started) per upload; (up_to_change, published) per run.
    let uploaded: Mutex<Vec<(u64, Instant)>> = Mutex::new(Vec::new());
    let mut published: Vec<(u64, Instant, f64)> = Vec::new();
    let remaining = AtomicU64::new(count);
    let failed = AtomicBool::new(false);
    let started = Instant::now();
    let due = |k: u64| rate.map(|rate| started + Duration::from_secs_f64(float(k) / rate));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (uploaded, remaining, failed, due) = (&uploaded, &remaining, &failed, &due);
        let uploaders: Vec<_> = work
            .into_iter()
            .map(|files| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let result = upload_all(repo, files, due, uploaded, remaining);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    result
                })
            })
            .collect();
        let published = &mut published;
        let publishing = scope.spawn(move || -> anyhow::Result<()> {
            loop {
                let done = remaining.load(Ordering::SeqCst) == 0 || failed.load(Ordering::SeqCst);
                match repo.publisher.run_once(now())? {
                    Some(report) => published.push((
                        report.up_to_change,
                        Instant::now(),
                        float(report.micros) / 1e3,
                    )),
                    None if done => return Ok(()),
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        for uploader in uploaders {
            join(uploader)?;
        }
        join(publishing)
    })?;
    let elapsed = secs(started);
    let uploaded = uploaded
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut previous = 0;
    let runs = published
        .iter()
        .map(|(up_to, _, ms)| {
            let uploads = uploaded
                .iter()
                .filter(|(change, _)| *change > previous && change <= up_to)
                .count();
            previous = *up_to;
            Run {
                ms: *ms,
                uploads: uploads as u64,
            }
        })
        .collect();
    let delays_ms = uploaded
        .iter()
        .map(|(change, at)| {
            published
                .iter()
                .find(|(up_to, _, _)| up_to >= change)
                .map(|(_, done, _)| done.duration_since(*at).as_secs_f64() * 1e3)
                .with_context(|| format!("change {change} was never published"))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(Round {
        rate: float(count) / elapsed,
        runs,
        delays_ms,
    })
}

fn upload_all(
    repo: &BenchRepo,
    files: Vec<(u64, FileRecord)>,
    due: &(dyn Fn(u64) -> Option<Instant> + Sync),
    uploaded: &Mutex<Vec<(u64, Instant)>>,
    remaining: &AtomicU64,
) -> anyhow::Result<()> {
    for (k, mut file) in files {
        let at = match due(k) {
            Some(at) => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                at
            }
            None => Instant::now(),
        };
        file.upload_time_us = unix_micros();
        match repo.store.add_file(&file.project, &file)? {
            AddFile::Added { change } => lock(uploaded).push((change, at)),
            other => bail!("upload of {} refused: {other:?}", file.filename),
        }
        remaining.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, anyhow::Result<T>>) -> anyhow::Result<T> {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
