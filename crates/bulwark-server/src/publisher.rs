//! The publisher task: one run at a time, woken by every accepted change
//! and by a timer (to re-sign online roles before they expire). Each run
//! takes everything queued, so uploads that arrive during a run are
//! batched into the next one.
//!
//! Of all the servers sharing one state store, only the holder of the
//! publisher lease publishes ([`Lease`] takes and renews it every second;
//! it lasts [`LEASE`]). Its runs commit under the lease's fence, which the
//! store checks in the commit's transaction, so a server that lost the
//! lease without noticing (paused, cut off) can never commit after its
//! successor: its refused run means it lost the lease, and it waits as a
//! standby. A publisher whose runs keep failing ([`MAX_FAILED_RUNS`] in a
//! row: a broken key, say) gives the lease up for [`STEP_DOWN`], so that
//! another server can publish, and a server that shuts down releases it
//! ([`Lease::release`]) so that a standby takes over at once. Changes
//! queued on other servers wake it through the store ([`forward_changes`]).
//!
//! ```text
//! Lease task: acquire_publisher every RENEW ─▶ watch<Option<fence>> ─▶ run loop
//! run loop:   run_once ─▶ Done | Fenced (standby) | Failed (×MAX_FAILED_RUNS ─▶ step down)
//! step down / release ─▶ Lease task: release_publisher
//! ```

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bulwark_http::{blocking, chain};
use bulwark_repo::clock::now;
use bulwark_repo::{PublishError, Publisher};
use bulwark_store::{StateStore, StoreError};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// How long the publisher lease lasts unless renewed: a dead publisher's
/// successor takes over within this (plus one renewal period).
pub const LEASE: Duration = Duration::from_secs(5);

/// How often the lease is renewed (or, by a standby server, tried).
pub const RENEW: Duration = Duration::from_secs(1);

/// How many publish runs in a row may fail before the publisher gives the
/// lease up: a server that cannot sign (its token's session broke, say)
/// must not keep others from publishing.
pub const MAX_FAILED_RUNS: u32 = 3;

/// How long a publisher that gave the lease up leaves it to the others
/// before trying again (long enough for a standby, which tries every
/// [`RENEW`], to take it).
pub const STEP_DOWN: Duration = Duration::from_secs(10);

/// An identifier of this process as a lease holder, unique across hosts
/// and restarts.
#[must_use]
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{host}:{}:{}",
        std::process::id(),
        bulwark_repo::clock::unix_micros()
    )
}

/// Takes or renews the lease for `holder` once: its fence when this
/// process holds it, `None` when another does or the store failed.
pub async fn try_lease(store: &Arc<dyn StateStore>, holder: &str) -> Option<u64> {
    let (store, who) = (store.clone(), holder.to_owned());
    match blocking(move || store.acquire_publisher(&who, LEASE)).await {
        Ok(fence) => fence,
        Err(e) => {
            tracing::error!("cannot renew the publisher lease: {}", chain(&e));
            None
        }
    }
}

/// Ends `holder`'s lease at once, logging a failure (the lease then
/// expires by itself within [`LEASE`]).
async fn release(store: &Arc<dyn StateStore>, holder: &str) {
    let (store, who) = (store.clone(), holder.to_owned());
    if let Err(e) = blocking(move || store.release_publisher(&who)).await {
        tracing::error!("cannot release the publisher lease: {}", chain(&e));
    }
}

/// What the run loop asks of the task that holds the lease.
#[derive(Default)]
struct Requests {
    /// Give the lease up and leave it for [`STEP_DOWN`].
    step_down: Notify,
    /// Release the lease and end.
    stop: Notify,
}

/// The publisher lease of this process, kept by a task that renews it
/// every [`RENEW`] (and a standby's task tries to take it as often).
pub struct Lease {
    fence: watch::Receiver<Option<u64>>,
    requests: Arc<Requests>,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Tries to take the lease for `holder` once, then keeps it (or keeps
    /// trying) in a task of its own, waking `wake` whenever this process
    /// becomes the holder.
    pub async fn take(store: Arc<dyn StateStore>, holder: String, wake: Arc<Notify>) -> Self {
        let first = try_lease(&store, &holder).await;
        if let Some(fence) = first {
            tracing::info!(fence, "this server now publishes");
        }
        let (sender, fence) = watch::channel(first);
        let requests = Arc::new(Requests::default());
        let task = tokio::spawn(hold(store, holder, sender, wake, requests.clone()));
        Self {
            fence,
            requests,
            task,
        }
    }

    /// The fence while this process holds the lease, `None` while not.
    #[must_use]
    pub fn fence(&self) -> Option<u64> {
        *self.fence.borrow()
    }

    /// Waits up to `timeout` for this process to hold the lease; its fence,
    /// or `None` when another holder kept it.
    pub async fn wait_for(&mut self, timeout: Duration) -> Option<u64> {
        let held = tokio::time::timeout(timeout, self.fence.wait_for(Option::is_some)).await;
        match held {
            Ok(Ok(fence)) => *fence,
            _ => None,
        }
    }

    /// What the run loop needs of the lease: its fence, and a way to give
    /// it up.
    #[must_use]
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch {
            fence: self.fence.clone(),
            requests: self.requests.clone(),
        }
    }

    /// Stops renewing the lease and releases it, so that a standby takes
    /// over at once instead of waiting for it to expire.
    pub async fn release(self) {
        self.requests.stop.notify_one();
        if let Err(e) = self.task.await {
            tracing::error!("the publisher lease task failed: {e}");
        }
    }
}

/// The lease as [`run`] follows it (from [`Lease::watch`]).
pub struct LeaseWatch {
    fence: watch::Receiver<Option<u64>>,
    requests: Arc<Requests>,
}

/// Keeps trying to take, then renewing, the publisher lease for `holder`,
/// publishing the fence while held (`None` while not) on `lease`, and
/// waking the publisher when it becomes the holder; gives it up for
/// [`STEP_DOWN`] when asked to, and releases it and ends when asked to.
async fn hold(
    store: Arc<dyn StateStore>,
    holder: String,
    lease: watch::Sender<Option<u64>>,
    wake: Arc<Notify>,
    requests: Arc<Requests>,
) {
    let mut standby_until: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(RENEW) => {}
            () = requests.step_down.notified() => {
                lease.send_replace(None);
                release(&store, &holder).await;
                tracing::warn!(
                    standby_secs = STEP_DOWN.as_secs(),
                    "gave up the publisher lease after {MAX_FAILED_RUNS} failed runs in a row"
                );
                standby_until = Some(Instant::now() + STEP_DOWN);
            }
            () = requests.stop.notified() => {
                lease.send_replace(None);
                release(&store, &holder).await;
                tracing::info!("released the publisher lease");
                return;
            }
        }
        let fence = if standby_until.is_some_and(|until| Instant::now() < until) {
            None
        } else {
            try_lease(&store, &holder).await
        };
        let before = *lease.borrow();
        if fence != before {
            if let Some(fence) = fence {
                tracing::info!(fence, "this server now publishes");
                wake.notify_one();
            } else {
                tracing::info!("another server publishes");
            }
            lease.send_replace(fence);
        }
    }
}

/// Wakes the publisher whenever another server sharing `store` queues a
/// change (PostgreSQL `LISTEN`/`NOTIFY`).
pub async fn forward_changes(store: Arc<dyn StateStore>, wake: Arc<Notify>) {
    loop {
        let s = store.clone();
        match blocking(move || s.wait_for_change(Duration::from_secs(5))).await {
            Ok(true) => wake.notify_one(),
            Ok(false) => {}
            Err(e) => {
                tracing::debug!("cannot wait for changes: {}", chain(&e));
                tokio::time::sleep(RENEW).await;
            }
        }
    }
}

/// The last publish run that signed anything, as this process's publisher
/// ran it: what `/status/` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRun {
    /// When it finished, microseconds since the Unix epoch.
    pub finished_us: i64,
    /// Its wall time, microseconds.
    pub micros: u64,
    /// The version it gave the roles it signed.
    pub version: u64,
    /// Project pages it rendered: the projects whose changes it published.
    pub pages: usize,
    /// Roles it signed.
    pub roles_signed: usize,
    /// The longest upload→published delay among the files it published,
    /// microseconds (`None` when it published no upload).
    pub max_delay_us: Option<u64>,
}

/// What this process's publisher has done since it started, shared
/// between the publisher task (which records) and the handlers (which
/// read): the last run that published, and how many runs published,
/// found nothing to do, or failed. In memory only: a restarted or standby
/// server starts empty.
#[derive(Debug, Default)]
pub struct PublishStats {
    inner: Mutex<StatsInner>,
}

#[derive(Clone, Debug, Default)]
struct StatsInner {
    last: Option<LastRun>,
    last_delay: Option<UploadDelay>,
    published: u64,
    idle: u64,
    failed: u64,
}

/// The upload→published delay of the last run that published uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadDelay {
    /// When that run finished, microseconds since the Unix epoch.
    pub finished_us: i64,
    /// The longest delay among its files, microseconds.
    pub max_us: u64,
}

/// A copy of [`PublishStats`] at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishSnapshot {
    /// The last run that published.
    pub last: Option<LastRun>,
    /// The delay of the last run that published uploads (a later run may
    /// have signed only other changes: yanks, claims, expiring roles).
    pub last_delay: Option<UploadDelay>,
    /// Runs that published.
    pub published: u64,
    /// Runs that found nothing to publish.
    pub idle: u64,
    /// Runs that failed (fenced off or otherwise).
    pub failed: u64,
}

impl PublishStats {
    /// Records a run that published `report`, finished at `finished_us`.
    pub fn record_published(&self, report: &bulwark_repo::PublishReport, finished_us: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.published += 1;
        let max_delay_us = report.delays_us.iter().max().copied();
        if let Some(max_us) = max_delay_us {
            inner.last_delay = Some(UploadDelay {
                finished_us,
                max_us,
            });
        }
        inner.last = Some(LastRun {
            finished_us,
            micros: report.micros,
            version: report.version,
            pages: report.pages,
            roles_signed: report.roles_signed,
            max_delay_us,
        });
    }

    /// Records a run that found nothing to publish.
    pub fn record_idle(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .idle += 1;
    }

    /// Records a run that failed.
    pub fn record_failed(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed += 1;
    }

    /// The numbers now.
    #[must_use]
    pub fn snapshot(&self) -> PublishSnapshot {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        PublishSnapshot {
            last: inner.last,
            last_delay: inner.last_delay,
            published: inner.published,
            idle: inner.idle,
            failed: inner.failed,
        }
    }
}

/// What one publish run came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Published, or nothing needed publishing.
    Done,
    /// The store refused the commit as fenced off: another server took
    /// the lease, and this one is a standby now. Nothing was published.
    Fenced,
    /// Failed otherwise (logged); the changes stay queued for a retry.
    Failed,
}

/// Runs the publisher once now, logging the outcome and counting it in
/// `metrics`.
pub async fn run_once(publisher: &Arc<Publisher>, metrics: &Metrics) -> RunOutcome {
    let p = publisher.clone();
    match blocking(move || p.run_once(now())).await {
        Ok(Some(report)) => {
            metrics.publish_run("published", Some(&report));
            tracing::info!(
                version = report.version,
                changes_up_to = report.up_to_change,
                pages = report.pages,
                roles_signed = report.roles_signed,
                millis = report.micros / 1000,
                max_delay_ms = report.delays_us.iter().max().map(|us| us / 1000),
                "published"
            );
            RunOutcome::Done
        }
        Ok(None) => {
            metrics.publish_run("idle", None);
            RunOutcome::Done
        }
        Err(PublishError::Store(StoreError::Fenced { fence, current })) => {
            metrics.publish_run("fenced", None);
            tracing::warn!(
                fence,
                current,
                "another server took the publisher lease during this run, which published nothing"
            );
            RunOutcome::Fenced
        }
        Err(e) => {
            metrics.publish_run("failed", None);
            tracing::error!("publishing failed (will retry): {}", chain(&e));
            RunOutcome::Failed
        }
    }
}

/// Collects old consistent snapshots, logging the outcome.
async fn collect_garbage(publisher: &Arc<Publisher>, retention: Duration) {
    let p = publisher.clone();
    let retention = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    match blocking(move || p.collect_garbage(now(), retention)).await {
        Ok(report) => tracing::info!(
            oldest_kept_snapshot = report.oldest_kept_snapshot,
            metadata_removed = report.metadata_removed,
            pages_removed = report.pages_removed,
            "collected old snapshots"
        ),
        Err(e) => tracing::error!("garbage collection failed (will retry): {}", chain(&e)),
    }
}

/// Removes the distribution blobs unrecorded in this sweep and the last
/// (`suspects`), but those of files removed within `retention`, logging
/// the outcome; returns this sweep's unrecorded
/// blobs (unchanged suspects when the sweep failed).
async fn collect_unrecorded(
    publisher: &Arc<Publisher>,
    suspects: BTreeSet<String>,
    retention: Duration,
) -> BTreeSet<String> {
    let p = publisher.clone();
    let previous = suspects.clone();
    let retention = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    match blocking(move || p.collect_unrecorded(&previous, now(), retention)).await {
        Ok(sweep) => {
            if sweep.removed > 0 || sweep.staging_removed > 0 || !sweep.unrecorded.is_empty() {
                tracing::info!(
                    removed = sweep.removed,
                    staging_removed = sweep.staging_removed,
                    unrecorded = sweep.unrecorded.len(),
                    "removed files no record names (left by a crash, or removed by an administrator longer ago than the retention period)"
                );
            }
            sweep.unrecorded
        }
        Err(e) => {
            tracing::error!("cannot sweep unrecorded files (will retry): {}", chain(&e));
            suspects
        }
    }
}

/// Publishes forever while this server holds `lease`: after every
/// wake-up and at least every `interval`; about every ten intervals
/// collects snapshots older than `retention`, and removes files a crash
/// left unrecorded (found when it became the publisher, removed if still
/// unrecorded ten intervals later; a request never lasts that long with
/// the default settings). A run refused as fenced makes it a standby
/// until the lease task takes the lease again; after [`MAX_FAILED_RUNS`]
/// failed runs in a row it gives the lease up ([`STEP_DOWN`]). Every run
/// is recorded in `stats`. Ends when the lease task does
/// ([`Lease::release`]).
pub async fn run(
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    lease: LeaseWatch,
    wake: Arc<Notify>,
    interval: Duration,
    retention: Duration,
) {
    let LeaseWatch {
        fence: mut fences,
        requests,
    } = lease;
    let mut last_gc = Instant::now();
    let mut suspects = None;
    let mut failed = 0;
    loop {
        let fence = *fences.borrow_and_update();
        let Some(fence) = fence else {
            suspects = None;
            failed = 0;
            if fences.changed().await.is_err() {
                return;
            }
            continue;
        };
        publisher.set_fence(fence);
        let suspected = if let Some(suspected) = suspects.take() {
            suspected
        } else {
            // Just became the publisher: the second sweep must come ten
            // intervals after this first one, never sooner, or it would
            // remove uploads stored but not yet recorded.
            last_gc = Instant::now();
            collect_unrecorded(&publisher, BTreeSet::new(), retention).await
        };
        let wait = match run_once(&publisher, &metrics).await {
            RunOutcome::Done => {
                failed = 0;
                interval
            }
            RunOutcome::Fenced => {
                // A standby until the lease task says otherwise (it
                // finds the lease taken at its next renewal).
                if fences.changed().await.is_err() {
                    return;
                }
                continue;
            }
            RunOutcome::Failed => {
                failed += 1;
                if failed >= MAX_FAILED_RUNS {
                    tracing::error!(
                        failed,
                        "publishing keeps failing: giving the lease to another server"
                    );
                    requests.step_down.notify_one();
                    if fences.wait_for(Option::is_none).await.is_err() {
                        return;
                    }
                    continue;
                }
                RENEW
            }
        };
        let mut suspected = suspected;
        if last_gc.elapsed() >= interval * 10 {
            collect_garbage(&publisher, retention).await;
            suspected = collect_unrecorded(&publisher, suspected, retention).await;
            last_gc = Instant::now();
        }
        suspects = Some(suspected);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            changed = fences.changed() => if changed.is_err() { return },
        }
    }
}
