//! A real repository in a temporary directory: `SQLite` state, file-system
//! blobs, ed25519 keys, version 1 of the offline roles from `init`, and the
//! publisher that the server runs. The offline keys are kept, so that the
//! claims benchmarks can sign what the key ceremony installs (a newer
//! `claimed` and its claim bins).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_repo::init::{OfflineSigners, initialize};
use bulwark_repo::{Policy, Publisher};
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{BlobStore, StateStore};
use bulwark_tuf::keys::{Algorithm, SigningKey};

/// A repository under benchmark; the directory goes when it is dropped.
pub struct BenchRepo {
    /// The temporary directory holding `state.db` and `blobs/`.
    pub dir: tempfile::TempDir,
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// The blob store.
    pub blobs: Arc<dyn BlobStore>,
    /// The publisher, signing with the online key (shared with the
    /// in-process server's publisher task).
    pub publisher: Arc<Publisher>,
    /// The offline keys `init` signed version 1 of the offline roles with.
    pub signers: OfflineSigners,
    /// The policy (bin count).
    pub policy: Policy,
}

fn generate() -> anyhow::Result<SigningKey> {
    SigningKey::generate(Algorithm::Ed25519).context("cannot generate an ed25519 key")
}

impl BenchRepo {
    /// Creates an initialised, not yet published repository with
    /// `2^bin_bits` bins in a new temporary directory under `parent`.
    pub fn create(parent: &Path, bin_bits: u32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("bulwark-bench-")
            .tempdir_in(parent)?;
        let store: Arc<dyn StateStore> = Arc::new(SqliteState::open(&dir.path().join("state.db"))?);
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobs::open(&dir.path().join("blobs"))?);
        let signers = OfflineSigners::generate_single()?;
        let online = generate()?;
        let policy = Policy {
            bin_bits,
            ..Policy::default()
        };
        initialize(
            blobs.as_ref(),
            &signers,
            &online,
            &policy,
            bulwark_repo::clock::now(),
        )?;
        let publisher = Arc::new(Publisher::new(
            store.clone(),
            blobs.clone(),
            online,
            policy.clone(),
        ));
        Ok(Self {
            dir,
            store,
            blobs,
            publisher,
            signers,
            policy,
        })
    }
}
