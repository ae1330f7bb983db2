//! Publishing: bulk load, the first full publish ("bulk import / full
//! re-sign"), then sustained uploads from concurrent uploaders while the
//! publisher runs back to back, as in the server.
//!
//! ```text
//! synth::file ─▶ StateStore::add_files (load_chunk per transaction)      bulk load
//!   ─▶ Publisher::run_once: every page, every bin, snapshot, timestamp  full publish
//!   ─▶ run_once a day later: every online role expires, all re-signed   full re-sign
//!   ─▶ rounds × servers ∈ {1, 2 on the shared backend} ×                sustained
//!        ( U threads × add_file (group-committed), split over the servers
//!          ∥ run_once back to back until every upload is published )
//!   ─▶ per server count, one round paced at --paced-rate (default half   paced
//!      that rate): latency below saturation
//!   ─▶ hsm::resign_costs: a full re-sign per online key, file and SoftHSM2
//! ```
//!
//! The same section runs on each [`Backend`]. An upload here is the state
//! change only (`StateStore::add_file`, made durable before it returns);
//! the distribution's bytes are not written (pages are rendered from
//! records). `scripts/publish-latency` measures whole HTTP uploads through
//! a real server. "Two index servers" are two store handles in this
//! process, each with its own connection pool to the one database, as two
//! `bulwark serve` processes have: what the database sees of two servers,
//! not their HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_repo::clock::{now, unix_micros};
use bulwark_store::{AddFile, FileRecord, StateStore};

use crate::backend::Backend;
use crate::hsm::{self, ResignCosts};
use crate::repo::BenchRepo;
use crate::stats::{Summary, float, peak_rss_kib};
use crate::synth::{self, Rng};

/// Publish runs in a row that may fail (and be retried, as the server
/// does) once every upload of a round is in, before the round gives up.
const MAX_FAILED_RUNS: u32 = 10;

/// How long the paced round lasts at its offered rate, seconds.
const PACED_SECS: f64 = 10.0;

/// Files per transaction during the bulk load.
#[must_use]
pub fn load_chunk(backend: Backend) -> usize {
    match backend {
        Backend::Embedded => 10_000,
        // `PgState::add_files` takes a savepoint per file, and PostgreSQL
        // slows down sharply once a transaction has more than 64
        // subtransactions (its per-backend subtransaction cache).
        Backend::Shared => 60,
    }
}

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

/// The sustained rounds with the uploaders split over some index servers
/// (store handles), one publisher running.
#[derive(Clone, Debug)]
pub struct Sustained {
    /// Index servers the uploaders were split over.
    pub servers: usize,
    /// Per round: uploads / (first upload → last one published).
    pub uploads_per_s: Summary,
    /// Per publish run: wall time, milliseconds.
    pub run_ms: Summary,
    /// Per publish run: uploads it published.
    pub uploads_per_run: Summary,
    /// Publish runs that failed and were retried, in all rounds (the
    /// paced one included).
    pub failed_runs: u64,
    /// Per upload: from just before `add_file` to the end of the run that
    /// published it, milliseconds (under saturation: queueing included).
    pub delay_ms: Summary,
    /// The round at a fixed rate below saturation.
    pub paced: Paced,
}

/// What publishing measured.
#[derive(Clone, Debug)]
pub struct PublishResult {
    /// The stores it ran on.
    pub backend: Backend,
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
    /// With one index server, then (on a backend several servers can
    /// share) with two; empty without rounds.
    pub sustained: Vec<Sustained>,
    /// A full re-sign with the online key in a file and on SoftHSM2 (after
    /// the rounds; not without them).
    pub resign_costs: Option<ResignCosts>,
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
    let size = load_chunk(repo.backend);
    let mut chunk: Vec<FileRecord> = Vec::with_capacity(size);
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
            if chunk.len() == size {
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

    let (sustained, resign_costs) = if config.rounds == 0 {
        (Vec::new(), None)
    } else {
        let sustained = sustained(repo, config)?;
        (sustained, Some(hsm::resign_costs(repo)?))
    };
    Ok(PublishResult {
        backend: repo.backend,
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
        sustained,
        resign_costs,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// The sustained rounds with one index server and, when the backend has
/// room for another, with two, taking turns round by round (so that both
/// see a repository of about the same size); then a paced round each.
fn sustained(repo: &BenchRepo, config: &PublishConfig) -> anyhow::Result<Vec<Sustained>> {
    let mut setups = vec![vec![repo.store.clone()]];
    if let Some(second) = repo.another_server()? {
        setups.push(vec![repo.store.clone(), second]);
    }
    let mut uploads = Uploads::new(config.projects);
    let mut totals: Vec<Totals> = setups.iter().map(|_| Totals::default()).collect();
    for round in 0..config.rounds {
        for (servers, total) in setups.iter().zip(&mut totals) {
            let measured = sustained_round(
                repo,
                servers,
                config.uploaders,
                config.uploads,
                None,
                &mut uploads,
            )?;
            eprintln!(
                "round {} with {} server(s): {:.0} uploads/s in {} runs",
                round + 1,
                servers.len(),
                measured.rate,
                measured.runs.len()
            );
            total.rates.push(measured.rate);
            total.runs.extend(measured.runs);
            total.failed_runs += measured.failed_runs;
            total.delays_ms.extend(measured.delays_ms);
        }
    }
    setups
        .iter()
        .zip(totals)
        .map(|(servers, total)| {
            let Totals {
                rates,
                runs,
                failed_runs,
                delays_ms,
            } = total;
            let uploads_per_s = Summary::of(&rates);
            // Latency below saturation: a round at a fixed rate (by default
            // half the saturated median), long enough for 10 seconds of
            // uploads.
            let paced_rate = config
                .paced_rate
                .unwrap_or(uploads_per_s.p50 / 2.0)
                .max(1.0);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a positive count of uploads, far below 2^52"
            )]
            let count = (paced_rate * PACED_SECS).ceil() as u64;
            let paced = sustained_round(
                repo,
                servers,
                config.uploaders,
                count,
                Some(paced_rate),
                &mut uploads,
            )?;
            eprintln!(
                "paced round with {} server(s): {count} uploads at {paced_rate:.0}/s offered, {:.0}/s achieved, {} runs",
                servers.len(),
                paced.rate,
                paced.runs.len()
            );
            let run_ms: Vec<f64> = runs.iter().map(|r| r.ms).collect();
            let per_run: Vec<f64> = runs.iter().map(|r| float(r.uploads)).collect();
            Ok(Sustained {
                servers: servers.len(),
                uploads_per_s,
                run_ms: Summary::of(&run_ms),
                uploads_per_run: Summary::of(&per_run),
                failed_runs: failed_runs + paced.failed_runs,
                delay_ms: Summary::of(&delays_ms),
                paced: Paced {
                    offered: paced_rate,
                    achieved: paced.rate,
                    uploads: count,
                    run_ms: Summary::of(&paced.runs.iter().map(|r| r.ms).collect::<Vec<_>>()),
                    delay_ms: Summary::of(&paced.delays_ms),
                },
            })
        })
        .collect()
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

/// The saturated rounds of one server count, together.
#[derive(Default)]
struct Totals {
    rates: Vec<f64>,
    runs: Vec<Run>,
    failed_runs: u64,
    delays_ms: Vec<f64>,
}

struct Round {
    rate: f64,
    runs: Vec<Run>,
    /// Runs that failed and were retried.
    failed_runs: u64,
    delays_ms: Vec<f64>,
}

/// `count` uploads from `uploaders` threads, split evenly over the index
/// servers' store handles `servers`, while the repository's publisher runs
/// back to back; ends when every upload is published. Uploads go as fast
/// as the stores take them, or at `rate` per second in all: then each
/// upload is due at a fixed time, and its delay counts from then (a late
/// start is part of the delay).
fn sustained_round(
    repo: &BenchRepo,
    servers: &[Arc<dyn StateStore>],
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
    let mut failed_runs = 0;
    let remaining = AtomicU64::new(count);
    let failed = AtomicBool::new(false);
    let started = Instant::now();
    let due = |k: u64| rate.map(|rate| started + Duration::from_secs_f64(float(k) / rate));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (uploaded, remaining, failed, due) = (&uploaded, &remaining, &failed, &due);
        let uploaders: Vec<_> = work
            .into_iter()
            .zip(servers.iter().cycle())
            .map(|(files, store)| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let result = upload_all(store.as_ref(), files, due, uploaded, remaining);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    result
                })
            })
            .collect();
        let (published, failed_runs) = (&mut published, &mut failed_runs);
        let publishing = scope.spawn(move || -> anyhow::Result<()> {
            let mut failed_in_a_row = 0;
            loop {
                let done = remaining.load(Ordering::SeqCst) == 0 || failed.load(Ordering::SeqCst);
                match repo.publisher.run_once(now()) {
                    Ok(Some(report)) => published.push((
                        report.up_to_change,
                        Instant::now(),
                        float(report.micros) / 1e3,
                    )),
                    Ok(None) if done => return Ok(()),
                    Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                    // As in the server's publisher task: a failed run
                    // publishes nothing, and the next one retries; while
                    // uploads still come (they may be what it conflicts
                    // with), without limit.
                    Err(e) if !done || failed_in_a_row < MAX_FAILED_RUNS => {
                        let e = format!("{:#}", anyhow::Error::from(e));
                        let first_line = e.lines().next().unwrap_or_default();
                        eprintln!("publish run failed, retrying: {first_line}");
                        *failed_runs += 1;
                        failed_in_a_row += 1;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                failed_in_a_row = 0;
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
        failed_runs,
        delays_ms,
    })
}

fn upload_all(
    store: &dyn StateStore,
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
        match store.add_file(&file.project, &file)? {
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
