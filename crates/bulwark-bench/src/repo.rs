//! A real repository: a temporary directory, the stores of a [`Backend`]
//! (`SQLite` state and file-system blobs in the directory, or a database
//! and a bucket prefix of its own), ed25519 keys, version 1 of the offline
//! roles from `init`, and the publisher that the server runs, configured as
//! `bulwark serve` configures it for those stores. The offline keys are
//! kept, so that the claims benchmarks can sign what the key ceremony
//! installs (a newer `claimed` and its claim bins).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_repo::init::{OfflineSigners, initialize};
use bulwark_repo::{Policy, Publisher};
use bulwark_store::fs::FsBlobs;
use bulwark_store::postgres::PgState;
use bulwark_store::s3::S3Blobs;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{BlobStore, StateStore};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::signer::Signer;

use crate::backend::{Backend, Shared};

/// A repository under benchmark; the directory (and a shared backend's
/// database) goes when it is dropped.
pub struct BenchRepo {
    /// The temporary directory holding `state.db` and `blobs/`, or the S3
    /// store's staging directory.
    pub dir: tempfile::TempDir,
    /// Which stores.
    pub backend: Backend,
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
    /// The shared backend's database and prefix; last, so that the
    /// database is dropped after every handle on it.
    shared: Option<Shared>,
}

/// The algorithm of the online key file [`BenchRepo::publisher`] signs with.
pub const ONLINE_ALGORITHM: Algorithm = Algorithm::Ed25519;

impl BenchRepo {
    /// Creates an initialised, not yet published repository with
    /// `2^bin_bits` bins on `backend`, in a new temporary directory under
    /// `parent`.
    pub fn create(parent: &Path, bin_bits: u32, backend: Backend) -> anyhow::Result<Self> {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("bulwark-bench-")
            .tempdir_in(parent)?;
        let (store, blobs, shared): (Arc<dyn StateStore>, Arc<dyn BlobStore>, _) = match backend {
            Backend::Embedded => (
                Arc::new(SqliteState::open(&dir.path().join("state.db"))?),
                Arc::new(FsBlobs::open(&dir.path().join("blobs"))?),
                None,
            ),
            Backend::Shared => {
                let shared = Shared::create()?;
                let store = PgState::connect(&shared.database)
                    .context("cannot open the benchmark's PostgreSQL database")?;
                let blobs = S3Blobs::open(&shared.bucket, &dir.path().join("staging"))
                    .with_context(|| format!("cannot open {}", shared.bucket))?;
                eprintln!(
                    "shared backend: {} and {}",
                    store_name(&shared),
                    shared.bucket
                );
                (Arc::new(store), Arc::new(blobs), Some(shared))
            }
        };
        let signers = OfflineSigners::generate_single()?;
        let online = SigningKey::generate(ONLINE_ALGORITHM).context("cannot generate a key")?;
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
        let publisher = Arc::new(publisher(
            backend,
            store.clone(),
            blobs.clone(),
            online,
            policy.clone(),
        ));
        Ok(Self {
            dir,
            backend,
            store,
            blobs,
            publisher,
            signers,
            policy,
            shared,
        })
    }

    /// A publisher over the repository's stores signing online roles with
    /// `online`.
    #[must_use]
    pub fn publisher_with(&self, online: impl Signer + 'static) -> Publisher {
        publisher(
            self.backend,
            self.store.clone(),
            self.blobs.clone(),
            online,
            self.policy.clone(),
        )
    }

    /// The state store as another index server holds it: on the shared
    /// backend a connection pool of its own to the same database, as a
    /// second `bulwark serve` has; `None` on the embedded one (its
    /// database belongs to one server).
    pub fn another_server(&self) -> anyhow::Result<Option<Arc<dyn StateStore>>> {
        let Some(shared) = &self.shared else {
            return Ok(None);
        };
        let store = PgState::connect(&shared.database)
            .context("cannot open a second handle on the benchmark's database")?;
        Ok(Some(Arc::new(store)))
    }
}

/// A publisher as `bulwark serve` makes one for `backend`'s stores: on the
/// shared backend it leaves the mutable `timestamp.json` blob alone.
fn publisher(
    backend: Backend,
    store: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
    online: impl Signer + 'static,
    policy: Policy,
) -> Publisher {
    let publisher = Publisher::new(store, blobs, online, policy);
    match backend {
        Backend::Embedded => publisher,
        Backend::Shared => publisher.without_timestamp_blob(),
    }
}

/// The database's URL without its user information.
fn store_name(shared: &Shared) -> &str {
    shared
        .database
        .rsplit_once('@')
        .map_or(shared.database.as_str(), |(_, host)| host)
}
