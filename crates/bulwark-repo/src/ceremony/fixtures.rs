//! Keys, signed version 1 documents and a blob store for the ceremony's
//! unit tests.

use bulwark_store::BlobStore as _;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, Root, Targets};
use bulwark_tuf::time::Timestamp;

use super::{
    Authority, Body, CeremonyError, Current, Document, InitPlan, InstallPlan, add_signature,
    check_threshold, init, plan_install, sign,
};
use crate::init::OfflineSigners;
use crate::policy::Policy;
use crate::roles::PublicKeyEntry;

pub(super) const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

pub(super) fn key() -> SigningKey {
    SigningKey::generate(Algorithm::Ed25519).unwrap()
}

pub(super) fn entry(key: &SigningKey) -> PublicKeyEntry {
    PublicKeyEntry::from_object(&key.public_key_object()).unwrap()
}

pub(super) fn expires() -> Timestamp {
    NOW.plus_seconds(Policy::default().offline_expiry)
}

/// Every offline key of a repository, plus its online key.
pub(super) struct Holders {
    pub(super) offline: OfflineSigners,
    pub(super) online: SigningKey,
}

impl Holders {
    pub(super) fn new() -> Self {
        let offline = OfflineSigners {
            root: vec![key(), key(), key()],
            root_threshold: 2,
            targets: key(),
            claimed: key(),
            unclaimed: key(),
        };
        Self {
            offline,
            online: key(),
        }
    }

    pub(super) fn root(&self, i: usize) -> &SigningKey {
        &self.offline.root[i]
    }

    pub(super) fn plan(&self) -> InitPlan {
        InitPlan {
            root: self.offline.root.iter().map(entry).collect(),
            root_threshold: 2,
            targets: vec![entry(&self.offline.targets)],
            targets_threshold: 1,
            claimed: entry(&self.offline.claimed),
            unclaimed: entry(&self.offline.unclaimed),
            online: entry(&self.online),
            bin_bits: Policy::default().bin_bits,
            expires: expires(),
            claimed_expires: NOW.plus_seconds(Policy::default().claimed_expiry),
        }
    }

    /// Version 1 of the four offline roles, signed as the ceremony does.
    pub(super) fn version_1(&self) -> Vec<Document> {
        let [root, targets, claimed, unclaimed] = init(&self.plan()).unwrap();
        let root = signed(&root, &[self.root(0), self.root(2)], Authority::None).unwrap();
        let targets = signed(
            &targets,
            &[&self.offline.targets],
            Authority::Root(as_root(&root)),
        )
        .unwrap();
        let delegator = Authority::Delegator(as_targets(&targets));
        let claimed = signed(&claimed, &[&self.offline.claimed], delegator).unwrap();
        let unclaimed = signed(&unclaimed, &[&self.offline.unclaimed], delegator).unwrap();
        vec![root, targets, claimed, unclaimed]
    }
}

pub(super) fn as_root(doc: &Document) -> &Envelope<Root> {
    match doc.body() {
        Body::Root(e) => e,
        Body::Targets(_) => panic!("not a root"),
    }
}

pub(super) fn as_targets(doc: &Document) -> &Envelope<Targets> {
    match doc.body() {
        Body::Targets(e) => e,
        Body::Root(_) => panic!("not targets"),
    }
}

/// Each key holder signs `doc`; the signatures are combined and the
/// threshold checked, as `bulwark ceremony sign` and `combine` do.
pub(super) fn signed(
    doc: &Document,
    keys: &[&SigningKey],
    authority: Authority<'_>,
) -> Result<Document, CeremonyError> {
    let mut out = doc.clone();
    for key in keys {
        let signature = sign(doc, key, authority)?;
        add_signature(&mut out, &signature, authority)?;
    }
    check_threshold(&out, authority, NOW)?;
    Ok(out)
}

pub(super) fn blobs() -> (tempfile::TempDir, FsBlobs) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::open(dir.path()).unwrap();
    (dir, blobs)
}

pub(super) fn install(blobs: &FsBlobs, docs: &[Document]) -> Result<InstallPlan, CeremonyError> {
    let current = Current::load(blobs, NOW)?;
    let plan = plan_install(current.as_ref(), docs, NOW)?;
    for (key, bytes) in &plan.writes {
        assert!(blobs.len(key).unwrap().is_none(), "{key} exists");
        blobs.put(key, bytes).unwrap();
    }
    Ok(plan)
}

pub(super) fn versions(current: &Current) -> [u64; 4] {
    [
        &current.root.signed.common,
        &current.targets.signed.common,
        &current.claimed.signed.common,
        &current.unclaimed.signed.common,
    ]
    .map(|c| c.version)
}
