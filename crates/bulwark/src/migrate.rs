//! `bulwark migrate --data-dir DIR --state postgres://… --blobs s3://…`:
//! moves an embedded index (the SQLite state and local blobs of `DIR`) up
//! to the shared production backends, leaving `DIR` as it was.
//!
//! ```text
//! source lease (no server may run on DIR meanwhile)
//!   ─▶ every blob copied, each read back and compared by SHA-256      (jobs in parallel)
//!   ─▶ StateStore::restore: the whole state, one transaction          (target must be empty)
//!   ─▶ both stores exported again and compared record by record (digest)
//! ```
//!
//! The published metadata continues: the blobs hold every signed version,
//! the state its counters and the latest timestamp, so the next publish run
//! on the new backends signs the next versions with the same keys, and
//! clients on the old root and snapshot update without a break. Blobs
//! come first: a copy that stops half-way leaves only immutable blobs in the
//! bucket (a second run reuses those whose bytes match) and no state.

use std::collections::BTreeMap;
use std::io::{Seek as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_store::{BlobStore, StateRecord, StateStore, redact_url};
use bulwark_tuf::hash::{HashAlgorithm, Hasher};

use crate::config::{Settings, StoreFlags};
use crate::data::Data;

/// Options of `bulwark migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreFlags,
    /// Blobs copied at once (each a round trip to the object store).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
}

/// Blobs up to this size are copied in memory; larger ones stream through
/// a staging file, a part at a time.
const IN_MEMORY: u64 = 8 << 20;

/// The read size when a large blob streams.
const PART: u64 = 8 << 20;

/// How long the source's publisher lease lasts unless renewed; renewed
/// every fifth of it.
const SOURCE_LEASE: Duration = Duration::from_secs(10);

pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::load(args.stores, None)?;
    let (Some(state), Some(blobs)) = (settings.state.clone(), settings.blobs.clone()) else {
        bail!(
            "bulwark migrate copies the index in --data-dir to shared backends: give both \
             --state postgres://… and --blobs s3://… (or BULWARK_STATE and BULWARK_BLOBS)"
        );
    };
    let embedded = Settings {
        state: None,
        blobs: None,
        ..settings.clone()
    };
    let source = Data::open_existing(&embedded)?;
    let target = Data::open(&settings)?;
    if !target.store.is_empty()? {
        bail!(
            "state {} already holds an index: migrate into a new, empty database \
             (nothing was copied)",
            redact_url(&state)
        );
    }
    let holder = format!("migrate:{}", bulwark_server::publisher::holder_id());
    let lease = SourceLease::take(source.store.clone(), holder, &source)?;
    let started = Instant::now();
    let copied = copy_blobs(&source, &target, usize::from(args.jobs))?;
    println!(
        "blobs: {} copied, {} already there, {} bytes, every one read back and compared",
        copied.written, copied.reused, copied.bytes
    );
    target
        .store
        .restore(source.store.as_ref())
        .context("cannot copy the state")?;
    let (counts, source_digest) = digest(source.store.as_ref())?;
    let (_, target_digest) = digest(target.store.as_ref())?;
    if source_digest != target_digest {
        bail!(
            "the state read back from {} differs from the source's: do not use it \
             (drop the database and migrate again)",
            redact_url(&state)
        );
    }
    lease.release()?;
    let summary: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    println!("state: {} — read back and identical", summary.join(", "));
    println!(
        "migrated in {:.1} s; {} is unchanged. Start the servers with:\n  \
         bulwark serve --data-dir {} --state '{}' --blobs '{}'",
        started.elapsed().as_secs_f64(),
        source.dir.display(),
        source.dir.display(),
        redact_url(&state),
        redact_url(&blobs),
    );
    Ok(())
}

/// The publisher lease of the source, held (and renewed by a thread) while
/// the migration runs, so that no server runs on the data directory: a
/// server's uploads after the copy would be lost.
struct SourceLease {
    store: Arc<dyn StateStore>,
    holder: String,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl SourceLease {
    fn take(store: Arc<dyn StateStore>, holder: String, source: &Data) -> anyhow::Result<Self> {
        if store.acquire_publisher(&holder, SOURCE_LEASE)?.is_none() {
            bail!(
                "a server is running on {} (it holds the publisher lease): stop it first, \
                 or wait a few seconds if it has just stopped",
                source.dir.display()
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (store, holder, stop) = (store.clone(), holder.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(SOURCE_LEASE / 5);
                    if store.acquire_publisher(&holder, SOURCE_LEASE)?.is_none() {
                        bail!("lost the data directory's publisher lease to a server");
                    }
                }
                Ok(())
            })
        };
        Ok(Self {
            store,
            holder,
            stop,
            renewer: Some(renewer),
        })
    }

    /// Stops renewing and releases the lease; an error when it was lost
    /// on the way (a server started on the source meanwhile).
    fn release(mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(renewer) = self.renewer.take() {
            renewer
                .join()
                .map_err(|_| anyhow::anyhow!("the lease renewal thread panicked"))??;
        }
        self.store.release_publisher(&self.holder)?;
        Ok(())
    }
}

impl Drop for SourceLease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.renewer.take().is_some() {
            // A failed migration: free the data directory at once.
            self.store.release_publisher(&self.holder).ok();
        }
    }
}

/// What [`copy_blobs`] did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Copied {
    /// Blobs written.
    written: u64,
    /// Blobs the target already had with the same bytes.
    reused: u64,
    /// Bytes of all of them.
    bytes: u64,
}

/// Copies every blob of `source` to `target` with `jobs` threads, each
/// read back from the target and compared with the source's SHA-256. The
/// mutable `timestamp.json` blob is left out: shared backends serve the
/// timestamp from the state store.
fn copy_blobs(source: &Data, target: &Data, jobs: usize) -> anyhow::Result<Copied> {
    let keys: Vec<String> = source
        .blobs
        .list("")?
        .into_iter()
        .filter(|key| key != bulwark_layout::TIMESTAMP_KEY)
        .collect();
    let next = AtomicUsize::new(0);
    let (written, reused, bytes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(keys.len()).max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while !failed.load(Ordering::Relaxed) {
                        let Some(key) = keys.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return Ok(());
                        };
                        let outcome = copy_blob(source.blobs.as_ref(), target.blobs.as_ref(), key)
                            .with_context(|| format!("blob {key}"));
                        match outcome {
                            Ok((fresh, len)) => {
                                let counter = if fresh { &written } else { &reused };
                                counter.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(len, Ordering::Relaxed);
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a copying thread panicked"))?
        })
    })?;
    Ok(Copied {
        written: written.into_inner(),
        reused: reused.into_inner(),
        bytes: bytes.into_inner(),
    })
}

/// Copies one blob unless the target holds the same bytes already, then
/// checks what the target holds. Whether it wrote, and the length. A small
/// blob costs the target one read, one write and one read back.
fn copy_blob(
    source: &dyn BlobStore,
    target: &dyn BlobStore,
    key: &str,
) -> anyhow::Result<(bool, u64)> {
    let len = source
        .len(key)?
        .context("vanished from the source while copying")?;
    let small = if len <= IN_MEMORY {
        Some(source.get(key)?.context("vanished from the source")?)
    } else {
        None
    };
    let want = match &small {
        Some(bytes) => sha256(bytes),
        None => sha256_of(source, key, len)?,
    };
    if holds(target, key, len, &want)? {
        return Ok((false, len));
    }
    if let Some(bytes) = small {
        target.put(key, &bytes)?;
    } else {
        let mut staging = target.staging_file()?;
        for_each_part(source, key, len, |part| Ok(staging.write_all(part)?))?;
        staging.flush()?;
        staging.rewind()?;
        target.put_file(key, staging)?;
    }
    if !holds(target, key, len, &want)? {
        bail!("the target holds other bytes after the copy");
    }
    Ok((true, len))
}

/// Whether `store` holds exactly `len` bytes under `key` with SHA-256
/// `want`: one whole read for a small blob, a length and ranged reads for
/// a large one.
fn holds(store: &dyn BlobStore, key: &str, len: u64, want: &[u8]) -> anyhow::Result<bool> {
    if len <= IN_MEMORY {
        return Ok(store
            .get(key)?
            .is_some_and(|bytes| bytes.len() as u64 == len && sha256(&bytes) == want));
    }
    Ok(store.len(key)? == Some(len) && sha256_of(store, key, len)? == want)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    HashAlgorithm::Sha256.digest(bytes)
}

/// The SHA-256 of the `len` bytes under `key`, read a part at a time.
fn sha256_of(store: &dyn BlobStore, key: &str, len: u64) -> anyhow::Result<Vec<u8>> {
    let mut hash = Hasher::new(HashAlgorithm::Sha256);
    for_each_part(store, key, len, |part| {
        hash.update(part);
        Ok(())
    })?;
    Ok(hash.finish())
}

/// Hands the `len` bytes under `key` to `f`, [`PART`] at a time.
fn for_each_part(
    store: &dyn BlobStore,
    key: &str,
    len: u64,
    mut f: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut offset = 0;
    while offset < len {
        let part = store
            .get_range(key, offset, PART.min(len - offset))?
            .context("vanished while being read")?;
        if part.is_empty() {
            bail!("shorter than its length {len}");
        }
        f(&part)?;
        offset += part.len() as u64;
    }
    Ok(())
}

/// Counts of each kind of record `store` exports, and a digest of them
/// all in order: two stores with the same state have the same digest.
fn digest(store: &dyn StateStore) -> anyhow::Result<(BTreeMap<&'static str, u64>, Vec<u8>)> {
    let mut counts = BTreeMap::new();
    let mut hash = Hasher::new(HashAlgorithm::Sha256);
    store.export(&mut |chunk| {
        for record in chunk {
            *counts.entry(kind(&record)).or_insert(0) += 1;
            // Debug shows every field of every record, unambiguously
            // (strings quoted and escaped).
            hash.update(format!("{record:?}\n").as_bytes());
        }
        Ok(())
    })?;
    Ok((counts, hash.finish()))
}

/// The name of a record's kind, for the summary.
fn kind(record: &StateRecord) -> &'static str {
    match record {
        StateRecord::Counters { .. } => "counters",
        StateRecord::Setting { .. } => "settings",
        StateRecord::Token(_) => "tokens",
        StateRecord::Project(_) => "projects",
        StateRecord::Owner(_) => "owners",
        StateRecord::File { .. } => "files",
        StateRecord::Removed(_) => "removed files",
        StateRecord::Upstream(_) => "upstream projects",
        StateRecord::UpstreamFile(_) => "upstream files",
        StateRecord::Claim(_) => "claims",
        StateRecord::Change { .. } => "queued changes",
        StateRecord::Page(_) => "pages",
        StateRecord::Role(_) => "roles",
        StateRecord::Audit(_) => "audit log entries",
        StateRecord::Timestamp(_) => "timestamp",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure by design")]

    use bulwark_store::fs::FsBlobs;
    use bulwark_store::{BlobBatch, BlobStore};

    use super::{IN_MEMORY, copy_blob};

    /// A blob store that stores every `put` with its first byte flipped,
    /// as a faulty object store might.
    struct Flipping(FsBlobs);

    impl BlobStore for Flipping {
        fn batch(&self) -> Box<dyn BlobBatch + '_> {
            self.0.batch()
        }
        fn put(&self, key: &str, bytes: &[u8]) -> bulwark_store::Result<()> {
            let mut bytes = bytes.to_vec();
            bytes[0] ^= 1;
            self.0.put(key, &bytes)
        }
        fn staging_file(&self) -> bulwark_store::Result<tempfile::NamedTempFile> {
            self.0.staging_file()
        }
        fn put_file(&self, key: &str, file: tempfile::NamedTempFile) -> bulwark_store::Result<()> {
            self.0.put_file(key, file)
        }
        fn remove_stale_staging(&self) -> bulwark_store::Result<u64> {
            self.0.remove_stale_staging()
        }
        fn get(&self, key: &str) -> bulwark_store::Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn len(&self, key: &str) -> bulwark_store::Result<Option<u64>> {
            self.0.len(key)
        }
        fn get_range(
            &self,
            key: &str,
            offset: u64,
            length: u64,
        ) -> bulwark_store::Result<Option<Vec<u8>>> {
            self.0.get_range(key, offset, length)
        }
        fn delete(&self, key: &str) -> bulwark_store::Result<()> {
            self.0.delete(key)
        }
        fn list(&self, prefix: &str) -> bulwark_store::Result<Vec<String>> {
            self.0.list(prefix)
        }
    }

    fn stores() -> (tempfile::TempDir, FsBlobs, FsBlobs) {
        let dir = tempfile::tempdir().unwrap();
        let source = FsBlobs::open(&dir.path().join("source")).unwrap();
        let target = FsBlobs::open(&dir.path().join("target")).unwrap();
        (dir, source, target)
    }

    #[test]
    fn copies_small_and_streamed_blobs_and_reuses_identical_ones() {
        let (_dir, source, target) = stores();
        let large: Vec<u8> = (0..IN_MEMORY + 3).map(|i| (i % 251) as u8).collect();
        source.put("files/small", b"small").unwrap();
        source.put("files/large", &large).unwrap();
        assert_eq!(
            copy_blob(&source, &target, "files/small").unwrap(),
            (true, 5)
        );
        assert_eq!(
            copy_blob(&source, &target, "files/large").unwrap(),
            (true, IN_MEMORY + 3)
        );
        assert_eq!(target.get("files/large").unwrap().unwrap(), large);
        // A second run writes nothing that is already there, byte for byte.
        assert_eq!(
            copy_blob(&source, &target, "files/small").unwrap(),
            (false, 5)
        );
        // Other bytes of the same length are replaced.
        target.put("files/small", b"SMALL").unwrap();
        assert_eq!(
            copy_blob(&source, &target, "files/small").unwrap(),
            (true, 5)
        );
        assert_eq!(target.get("files/small").unwrap().unwrap(), b"small");
    }

    #[test]
    fn a_target_that_stores_other_bytes_fails_the_copy() {
        let (dir, source, _) = stores();
        let target = Flipping(FsBlobs::open(&dir.path().join("flipping")).unwrap());
        source.put("files/a", b"abc").unwrap();
        let e = copy_blob(&source, &target, "files/a").unwrap_err();
        assert!(e.to_string().contains("other bytes"), "{e}");
    }
}
