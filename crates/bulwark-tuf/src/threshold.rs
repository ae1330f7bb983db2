//! The one place where signature thresholds are counted, for root,
//! top-level and delegated roles alike (spec 1.0.34 §5.3.4, §5.4.2, §5.5.3,
//! §5.6.3). Two loops that diverge is how TUF clients have shipped CVEs.

use std::collections::{BTreeMap, BTreeSet};

use crate::metadata::{Key, RoleKeys, Signature};
use crate::names::RoleName;
use crate::refused::Refused;

/// Counts the signatures over `canonical_signed` made by distinct keys that
/// the delegator authorises for `role`, and refuses unless there are at least
/// `authorised.threshold` of them.
///
/// A signature counts when its key ID is listed for the role, the key is in
/// the delegator's `keys` with a supported type and its true key ID, and the
/// signature verifies. Each key ID counts once however often it is listed,
/// and two key IDs whose keys hold the same public key count once: the
/// threshold is a number of distinct keys, not of key IDs.
pub(crate) fn check(
    role: &RoleName,
    canonical_signed: &[u8],
    signatures: &[Signature],
    keys: &BTreeMap<String, Key>,
    authorised: &RoleKeys,
) -> Result<(), Refused> {
    let authorised_ids: BTreeSet<&str> = authorised.keyids.iter().map(String::as_str).collect();
    let mut counted_keys = BTreeSet::new();
    for signature in signatures {
        if !authorised_ids.contains(signature.keyid.as_str()) {
            continue;
        }
        let Some(verifier) = keys.get(&signature.keyid).and_then(Key::verifier) else {
            continue;
        };
        if verifier.verify(canonical_signed, &signature.sig) {
            counted_keys.insert(verifier.material().to_vec());
        }
    }
    let valid = counted_keys.len() as u64;
    if valid >= authorised.threshold {
        Ok(())
    } else {
        Err(Refused::BelowThreshold {
            role: role.clone(),
            valid,
            threshold: authorised.threshold,
        })
    }
}
