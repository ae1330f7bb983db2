//! The publisher lease as the server's tasks hold it: renewed during a run
//! that outlasts it, a run fenced off is a standby rather than an error, a
//! stopping server releases it, and a publisher whose runs keep failing
//! gives it up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bulwark_repo::Publisher;
use bulwark_server::metrics::Metrics;
use bulwark_server::publisher::{LEASE, Lease, MAX_FAILED_RUNS, RENEW, RunOutcome, run, run_once};
use bulwark_store::StateStore;
use bulwark_tuf::keys::{Algorithm, KeyError, PublicKey, SigningKey};
use bulwark_tuf::signer::Signer;
use common::{Repo, StateKind};
use tokio::sync::Notify;

/// The repository's online key, slowed down or broken on demand.
struct Faulty {
    key: Arc<SigningKey>,
    /// Sleeps this long in the next signature (then no more).
    pause_once: std::sync::Mutex<Option<Duration>>,
    /// Fails every signature while set.
    broken: AtomicBool,
    /// Signatures attempted.
    calls: AtomicU32,
}

impl Faulty {
    fn new(key: Arc<SigningKey>) -> Arc<Self> {
        Arc::new(Self {
            key,
            pause_once: std::sync::Mutex::new(None),
            broken: AtomicBool::new(false),
            calls: AtomicU32::new(0),
        })
    }
}

impl Signer for Faulty {
    fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    fn public_key(&self) -> PublicKey {
        Signer::public_key(&*self.key)
    }

    fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(pause) = self.pause_once.lock().unwrap().take() {
            std::thread::sleep(pause);
        }
        if self.broken.load(Ordering::SeqCst) {
            return Err(KeyError::External("the token's session is gone".into()));
        }
        Signer::sign(&*self.key, message)
    }
}

/// A publisher of `repo` signing with `signer`, with work queued: a new
/// online key ID makes its next run re-sign every online role.
fn publisher_with(repo: &Repo, signer: Arc<Faulty>) -> Arc<Publisher> {
    repo.store
        .set_setting("online_keyid", "another key")
        .unwrap();
    Arc::new(Publisher::new(
        repo.store.clone(),
        repo.blobs.clone(),
        signer,
        repo.policy.clone(),
    ))
}

fn acquire(store: &Arc<dyn StateStore>, holder: &str) -> Option<u64> {
    store.acquire_publisher(holder, LEASE).unwrap()
}

/// The first publish of `bulwark serve` and the one of `bulwark import`
/// run under a renewed lease: a run that outlasts [`LEASE`] still commits,
/// and a rival trying all along never gets the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_lease_keeps_it_and_commits() {
    let repo = Repo::new(StateKind::File);
    let signer = Faulty::new(repo.online.clone());
    *signer.pause_once.lock().unwrap() = Some(LEASE + RENEW * 2);
    let publisher = publisher_with(&repo, signer);
    let lease = Lease::take(repo.store.clone(), "a".to_owned(), Arc::new(Notify::new())).await;
    let fence = lease.fence().expect("a free lease is taken");
    publisher.set_fence(fence);
    let store = repo.store.clone();
    let rival = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        while started.elapsed() < LEASE + RENEW * 3 {
            if let Some(fence) = acquire(&store, "b") {
                return Some(fence);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    assert_eq!(
        run_once(&publisher, &Metrics::new()).await,
        RunOutcome::Done
    );
    assert_eq!(rival.await.unwrap(), None, "the rival took a renewed lease");
    assert_eq!(lease.fence(), Some(fence));
    lease.release().await;
}

/// A run whose commit is fenced off (another server took the lease) is
/// lost leadership, told apart from a failure, and published nothing.
#[tokio::test]
async fn a_fenced_run_is_lost_leadership_not_a_failure() {
    let repo = Repo::new(StateKind::Memory);
    let publisher = publisher_with(&repo, Faulty::new(repo.online.clone()));
    let old = acquire(&repo.store, "a").unwrap();
    repo.store.release_publisher("a").unwrap();
    let new = acquire(&repo.store, "b").unwrap();
    assert!(new > old);
    let before = repo.store.latest_timestamp().unwrap();
    publisher.set_fence(old);
    let metrics = Metrics::new();
    assert_eq!(run_once(&publisher, &metrics).await, RunOutcome::Fenced);
    assert_eq!(metrics.publish.snapshot().failed, 1);
    assert_eq!(metrics.publish.snapshot().last, None);
    assert_eq!(repo.store.latest_timestamp().unwrap(), before);
}

/// A server that stops releases the lease: another takes it at once, not
/// after it expires.
#[tokio::test]
async fn a_released_lease_passes_at_once() {
    let repo = Repo::new(StateKind::Memory);
    let wake = Arc::new(Notify::new());
    let a = Lease::take(repo.store.clone(), "a".to_owned(), wake.clone()).await;
    assert!(a.fence().is_some());
    let mut b = Lease::take(repo.store.clone(), "b".to_owned(), wake).await;
    assert_eq!(b.fence(), None);
    a.release().await;
    let started = Instant::now();
    assert!(
        b.wait_for(RENEW * 2).await.is_some(),
        "b never took the lease"
    );
    assert!(
        started.elapsed() < LEASE,
        "b waited for the lease to expire"
    );
    b.release().await;
}

/// A publisher whose runs keep failing (a broken signer) gives the lease
/// up after [`MAX_FAILED_RUNS`], so another server can publish, and does
/// not take it back at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_whose_runs_keep_failing_gives_the_lease_up() {
    let repo = Repo::new(StateKind::File);
    let signer = Faulty::new(repo.online.clone());
    signer.broken.store(true, Ordering::SeqCst);
    let publisher = publisher_with(&repo, signer.clone());
    let wake = Arc::new(Notify::new());
    let lease = Lease::take(repo.store.clone(), "a".to_owned(), wake.clone()).await;
    assert!(lease.fence().is_some());
    let task = tokio::spawn(run(
        publisher,
        Arc::new(Metrics::new()),
        lease.watch(),
        wake,
        Duration::from_hours(1),
        Duration::from_hours(1),
    ));
    let store = repo.store.clone();
    let taken = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        while started.elapsed() < RENEW * (MAX_FAILED_RUNS + 5) {
            if let Some(fence) = acquire(&store, "b") {
                return Some(fence);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    })
    .await
    .unwrap();
    assert!(taken.is_some(), "the failing publisher kept the lease");
    assert!(signer.calls.load(Ordering::SeqCst) >= MAX_FAILED_RUNS);
    assert_eq!(lease.fence(), None, "the failing publisher still publishes");
    // It stays a standby while b holds the lease, and ends with its lease.
    tokio::time::sleep(RENEW * 2).await;
    assert_eq!(lease.fence(), None);
    lease.release().await;
    tokio::time::timeout(RENEW, task)
        .await
        .expect("the run loop ends with the lease task")
        .unwrap();
}
