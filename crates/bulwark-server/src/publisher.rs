//! The publisher task: one run at a time, woken by every accepted change
//! and by a timer (to re-sign online roles before they expire). Each run
//! takes everything queued, so uploads that arrive during a run are
//! batched into the next one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bulwark_http::{blocking, chain};
use bulwark_repo::Publisher;
use bulwark_repo::clock::now;
use tokio::sync::Notify;

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

/// Publishes forever: after every wake-up and at least every `interval`;
/// about every ten intervals collects snapshots older than `retention`,
/// and removes files a crash left unrecorded (found at start-up, removed
/// if still unrecorded ten intervals later; a request never lasts that
/// long with the default settings).
pub async fn run(
    publisher: Arc<Publisher>,
    wake: Arc<Notify>,
    interval: Duration,
    retention: Duration,
) {
    let mut last_gc = tokio::time::Instant::now();
    let mut suspects = collect_unrecorded(&publisher, BTreeSet::new()).await;
    loop {
        let ok = run_once(&publisher).await;
        if last_gc.elapsed() >= interval * 10 {
            collect_garbage(&publisher, retention).await;
            suspects = collect_unrecorded(&publisher, suspects).await;
            last_gc = tokio::time::Instant::now();
        }
        let wait = if ok { interval } else { Duration::from_secs(1) };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
