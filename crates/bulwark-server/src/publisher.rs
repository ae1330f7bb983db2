//! The publisher task: one run at a time, woken by every accepted change
//! and by a timer (to re-sign online roles before they expire). Each run
//! takes everything queued, so uploads that arrive during a run are
//! batched into the next one.
//!
//! Of all the servers sharing one state store, only the holder of the
//! publisher lease publishes ([`hold_lease`] takes and renews it every
//! second; it lasts [`LEASE`]). Its runs commit under the lease's fence,
//! which the store checks in the commit's transaction, so a server that
//! lost the lease without noticing (paused, cut off) can never commit after
//! its successor. Changes queued on other servers wake it through the
//! store ([`forward_changes`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bulwark_http::{blocking, chain};
use bulwark_repo::Publisher;
use bulwark_repo::clock::now;
use bulwark_store::StateStore;
use tokio::sync::{Notify, watch};

/// How long the publisher lease lasts unless renewed: a dead publisher's
/// successor takes over within this (plus one renewal period).
pub const LEASE: Duration = Duration::from_secs(5);

/// How often the lease is renewed (or, by a standby server, tried).
const RENEW: Duration = Duration::from_secs(1);

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

/// Keeps trying to take, then renewing, the publisher lease for `holder`,
/// publishing the fence while held (`None` while not) on `lease`, and
/// waking the publisher when it becomes the holder.
pub async fn hold_lease(
    store: Arc<dyn StateStore>,
    holder: String,
    lease: watch::Sender<Option<u64>>,
    wake: Arc<Notify>,
) {
    loop {
        let fence = try_lease(&store, &holder).await;
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
        tokio::time::sleep(RENEW).await;
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

/// Runs the publisher once now, logging the outcome.
pub async fn run_once(publisher: &Arc<Publisher>) -> bool {
    let p = publisher.clone();
    match blocking(move || p.run_once(now())).await {
        Ok(Some(report)) => {
            tracing::info!(
                version = report.version,
                changes_up_to = report.up_to_change,
                pages = report.pages,
                roles_signed = report.roles_signed,
                millis = report.micros / 1000,
                max_delay_ms = report.max_delay_us.map(|us| us / 1000),
                "published"
            );
            true
        }
        Ok(None) => true,
        Err(e) => {
            tracing::error!("publishing failed (will retry): {}", chain(&e));
            false
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
/// (`suspects`), logging the outcome; returns this sweep's unrecorded
/// blobs (unchanged suspects when the sweep failed).
async fn collect_unrecorded(
    publisher: &Arc<Publisher>,
    suspects: BTreeSet<String>,
) -> BTreeSet<String> {
    let p = publisher.clone();
    let previous = suspects.clone();
    match blocking(move || p.collect_unrecorded(&previous)).await {
        Ok(sweep) => {
            if sweep.removed > 0 || sweep.staging_removed > 0 || !sweep.unrecorded.is_empty() {
                tracing::info!(
                    removed = sweep.removed,
                    staging_removed = sweep.staging_removed,
                    unrecorded = sweep.unrecorded.len(),
                    "removed files no upload recorded (left by a crash)"
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

/// Publishes forever while this server holds the lease (`lease` holds
/// its fence): after every wake-up and at least every `interval`; about
/// every ten intervals collects snapshots older than `retention`, and
/// removes files a crash left unrecorded (found when it became the
/// publisher, removed if still unrecorded ten intervals later; a request
/// never lasts that long with the default settings).
pub async fn run(
    publisher: Arc<Publisher>,
    mut lease: watch::Receiver<Option<u64>>,
    wake: Arc<Notify>,
    interval: Duration,
    retention: Duration,
) {
    let mut last_gc = tokio::time::Instant::now();
    let mut suspects = None;
    loop {
        let fence = *lease.borrow_and_update();
        let Some(fence) = fence else {
            suspects = None;
            if lease.changed().await.is_err() {
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
            last_gc = tokio::time::Instant::now();
            collect_unrecorded(&publisher, BTreeSet::new()).await
        };
        let ok = run_once(&publisher).await;
        let mut suspected = suspected;
        if last_gc.elapsed() >= interval * 10 {
            collect_garbage(&publisher, retention).await;
            suspected = collect_unrecorded(&publisher, suspected).await;
            last_gc = tokio::time::Instant::now();
        }
        suspects = Some(suspected);
        let wait = if ok { interval } else { Duration::from_secs(1) };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            changed = lease.changed() => if changed.is_err() { return },
        }
    }
}
