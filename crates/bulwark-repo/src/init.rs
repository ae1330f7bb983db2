//! Creating a repository: version 1 of the offline roles (root, targets,
//! claimed, unclaimed). The online roles follow in the publisher's first
//! run. This is the one-machine path used by `bulwark serve`'s development
//! set-up; a production ceremony signs the same bodies on separate machines.

use bulwark_store::BlobStore;
use bulwark_tuf::keys::{KeyError, SigningKey};
use bulwark_tuf::metadata::{Envelope, SignedBody};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use crate::layout::{self, CLAIMED, UNCLAIMED};
use crate::policy::Policy;
use crate::roles::{self, KeyPlan, PublicKeyEntry};

/// Every offline key, for a repository created on one machine.
pub struct OfflineSigners {
    /// Root keys; all of them sign version 1.
    pub root: Vec<SigningKey>,
    /// Root threshold.
    pub root_threshold: u64,
    /// The targets key.
    pub targets: SigningKey,
    /// The claimed key.
    pub claimed: SigningKey,
    /// The unclaimed key.
    pub unclaimed: SigningKey,
}

impl OfflineSigners {
    /// Fresh Ed25519 keys, one per offline role and a root threshold of 1:
    /// the one-machine development set-up (and tests and benchmarks). A
    /// production repository comes from the key ceremony instead.
    pub fn generate_single() -> Result<Self, KeyError> {
        let generate = || SigningKey::generate(bulwark_tuf::keys::Algorithm::Ed25519);
        Ok(Self {
            root: vec![generate()?],
            root_threshold: 1,
            targets: generate()?,
            claimed: generate()?,
            unclaimed: generate()?,
        })
    }
}

/// Why a repository could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The repository already has a root.
    #[error("the repository already has a root")]
    Exists,
    /// A key could not be used.
    #[error("a key could not be used")]
    Key(#[source] KeyError),
    /// A public key object is invalid.
    #[error("a public key is invalid")]
    PublicKey(#[source] bulwark_tuf::SchemaError),
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] bulwark_store::StoreError),
}

fn entry(key: &SigningKey) -> Result<PublicKeyEntry, InitError> {
    PublicKeyEntry::from_object(&key.public_key_object()).map_err(InitError::PublicKey)
}

fn signed<T: SignedBody>(body: T, keys: &[&SigningKey]) -> Result<Vec<u8>, InitError> {
    let mut envelope = Envelope::new(body);
    for key in keys {
        envelope.sign(key).map_err(InitError::Key)?;
    }
    Ok(envelope.to_bytes())
}

/// Writes version 1 of root, targets, claimed and unclaimed, delegating the
/// online roles to `online`.
pub fn initialize(
    blobs: &dyn BlobStore,
    signers: &OfflineSigners,
    online: &SigningKey,
    policy: &Policy,
    now: Timestamp,
) -> Result<(), InitError> {
    let root_key = layout::metadata_key(RoleName::ROOT, 1);
    if blobs.len(&root_key)?.is_some() {
        return Err(InitError::Exists);
    }
    let expires = now.plus_seconds(policy.offline_expiry);
    let online_entry = entry(online)?;
    let plan = KeyPlan {
        root: signers.root.iter().map(entry).collect::<Result<_, _>>()?,
        root_threshold: signers.root_threshold,
        targets: vec![entry(&signers.targets)?],
        targets_threshold: 1,
        online: online_entry.clone(),
    };
    let (claimed, unclaimed) = (entry(&signers.claimed)?, entry(&signers.unclaimed)?);
    let documents = [
        (
            RoleName::TARGETS,
            signed(
                roles::targets(&claimed, &online_entry, &unclaimed, 1, expires),
                &[&signers.targets],
            )?,
        ),
        (
            CLAIMED,
            signed(
                roles::project_delegator(
                    CLAIMED,
                    &claimed,
                    [],
                    1,
                    now.plus_seconds(policy.claimed_expiry),
                ),
                &[&signers.claimed],
            )?,
        ),
        (
            UNCLAIMED,
            signed(
                roles::unclaimed(&online_entry, policy.bin_bits, 1, expires),
                &[&signers.unclaimed],
            )?,
        ),
    ];
    for (role, bytes) in &documents {
        blobs.put(&layout::metadata_key(role, 1), bytes)?;
    }
    // Root last: its presence marks the repository as created.
    let root_signers: Vec<&SigningKey> = signers.root.iter().collect();
    blobs.put(
        &root_key,
        &signed(roles::root(&plan, 1, expires), &root_signers)?,
    )?;
    Ok(())
}
