//! The development set-up's own renewal of `claimed`. Every version of
//! `claimed` and of its claim bins expires after `Policy::claimed_expiry`
//! (30 days), which bounds how long a stolen online key can show a new
//! client an older `claimed`. In production the claimed key's holders renew
//! it (`bulwark ceremony renew --role claimed`); a development repository,
//! whose offline keys `bulwark serve` created in its data directory and
//! whose claimed key therefore protects nothing the server's disk does not,
//! would otherwise stop resolving any project a month after it was created.
//! So `bulwark serve` renews it there with that key, through the same
//! drafting, signing and install checks as the ceremony.

use bulwark_store::BlobStore;
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::time::Timestamp;

use super::{
    Authority, Body, CeremonyError, Current, OfflineRole, add_signature, check_threshold,
    plan_install, renew_claimed, sign,
};
use crate::policy::Policy;

/// Renews `claimed` and its claim bins with `claimed_key` when less than a
/// third of `policy.claimed_expiry` is left, writing them to `blobs` as
/// `ceremony install` would (the publisher picks them up). Returns the new
/// version of `claimed`, or `None` when no renewal was due.
pub fn renew_claimed_if_due(
    blobs: &dyn BlobStore,
    claimed_key: &SigningKey,
    now: Timestamp,
    policy: &Policy,
) -> Result<Option<u64>, CeremonyError> {
    let Some(current) = Current::load(blobs, now)? else {
        return Ok(None);
    };
    let due = now.plus_seconds(policy.claimed_expiry / 3);
    if current.claimed.signed.common.expires > due {
        return Ok(None);
    }
    let drafts = renew_claimed(&current, now.plus_seconds(policy.claimed_expiry));
    let Some(Body::Targets(claimed)) = drafts
        .iter()
        .find(|d| d.role() == OfflineRole::Claimed)
        .map(|d| d.body().clone())
    else {
        return Ok(None);
    };
    let mut signed = Vec::with_capacity(drafts.len());
    for draft in &drafts {
        // claimed under the installed targets, each claim bin under the
        // claimed it is renewed with.
        let authority = match draft.role() {
            OfflineRole::Claimed => Authority::Delegator(&current.targets),
            _ => Authority::Delegator(&claimed),
        };
        let mut doc = draft.clone();
        let signature = sign(draft, claimed_key, authority)?;
        add_signature(&mut doc, &signature, authority)?;
        check_threshold(&doc, authority, now)?;
        signed.push(doc);
    }
    let plan = plan_install(Some(&current), &signed, now)?;
    for (key, bytes) in &plan.writes {
        blobs.put(key, bytes)?;
    }
    Ok(Some(claimed.signed.common.version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::fixtures::{Holders, NOW, blobs, install};

    #[test]
    fn claimed_is_renewed_only_when_due_and_then_verifies() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let policy = Policy::default();
        let claimed_key = &holders.offline.claimed;
        // Freshly created: 30 days left, nothing to do.
        assert_eq!(
            renew_claimed_if_due(&blobs, claimed_key, NOW, &policy).unwrap(),
            None
        );
        // 21 days later, less than a third is left: version 2, valid for 30
        // days from then, installed and verifying.
        let later = NOW.plus_seconds(21 * 86_400);
        assert_eq!(
            renew_claimed_if_due(&blobs, claimed_key, later, &policy).unwrap(),
            Some(2)
        );
        let current = Current::load(&blobs, later).unwrap().unwrap();
        assert_eq!(current.claimed.signed.common.version, 2);
        assert_eq!(
            current.claimed.signed.common.expires,
            later.plus_seconds(policy.claimed_expiry)
        );
        assert_eq!(
            renew_claimed_if_due(&blobs, claimed_key, later, &policy).unwrap(),
            None
        );
        // Another key cannot renew it.
        let much_later = later.plus_seconds(25 * 86_400);
        let err = renew_claimed_if_due(&blobs, &holders.offline.unclaimed, much_later, &policy)
            .unwrap_err();
        assert!(matches!(err, CeremonyError::Unauthorised { .. }), "{err}");
    }
}
