//! Who may sign a document ([`Authority`]) and whether enough did
//! ([`check_threshold`]). No threshold is counted here: roots go through
//! `TrustedSet`, the others through `Envelope::check_signatures`.

use std::collections::BTreeMap;

use bulwark_tuf::metadata::{Envelope, Key, RoleKeys, Root, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{Refused, TrustedSet};

use super::{Body, CeremonyError, Document, OfflineRole};

/// What says who may sign a document.
#[derive(Clone, Copy, Debug)]
pub enum Authority<'a> {
    /// Nothing beyond the document: enough for root version 1, and for
    /// signing any root with one of its own root keys.
    None,
    /// A root: for root N+1 the previous root (whose root keys may sign too
    /// and whose threshold must also be met); for targets, the root that
    /// lists the targets keys.
    Root(&'a Envelope<Root>),
    /// The metadata that delegates to the role: top-level targets for
    /// claimed and unclaimed, claimed for its claim bins.
    Delegator(&'a Envelope<Targets>),
}

/// Keys that may sign a document, and the threshold of them it needs.
pub(super) struct Grant<'a> {
    keys: &'a BTreeMap<String, Key>,
    role: &'a RoleKeys,
    by: String,
}

/// Every grant under which `doc` may be signed: for root its own and (for
/// N+1) the previous root's; for the others the one their delegator gives
/// (targets for claimed and unclaimed, claimed for its claim bins).
pub(super) fn grants<'a>(
    doc: &'a Document,
    authority: Authority<'a>,
) -> Result<Vec<Grant<'a>>, CeremonyError> {
    let role = doc.role;
    let root_grant = |root: &'a Envelope<Root>, name: &str| {
        let keys = root
            .signed
            .role(name)
            .ok_or(CeremonyError::NeedsAuthority {
                role,
                needs: "a root that lists the role",
            })?;
        Ok::<_, CeremonyError>(Grant {
            keys: &root.signed.keys,
            role: keys,
            by: format!("root version {}", root.signed.common.version),
        })
    };
    match (&doc.body, authority) {
        (Body::Root(own), Authority::None) => Ok(vec![root_grant(own, RoleName::ROOT)?]),
        (Body::Root(own), Authority::Root(previous)) => {
            let expected = previous.signed.common.version.saturating_add(1);
            if own.signed.common.version != expected {
                return Err(CeremonyError::WrongVersion {
                    role,
                    offered: own.signed.common.version,
                    expected,
                });
            }
            Ok(vec![
                root_grant(own, RoleName::ROOT)?,
                root_grant(previous, RoleName::ROOT)?,
            ])
        }
        (Body::Targets(_), Authority::Root(root)) if role == OfflineRole::Targets => {
            Ok(vec![root_grant(root, RoleName::TARGETS)?])
        }
        (Body::Targets(_), Authority::Delegator(targets)) if role != OfflineRole::Targets => {
            let delegations = targets
                .signed
                .delegations
                .as_ref()
                .ok_or(CeremonyError::NotDelegated { role })?;
            let keys = delegations
                .role_keys(&RoleName::new(role.name()))
                .ok_or(CeremonyError::NotDelegated { role })?;
            let delegator = role.delegator().unwrap_or(OfflineRole::Targets);
            let by = format!("{delegator} version {}", targets.signed.common.version);
            Ok(vec![Grant {
                keys: &delegations.keys,
                role: keys,
                by,
            }])
        }
        (Body::Root(_), Authority::Delegator(_)) => Err(CeremonyError::NeedsAuthority {
            role,
            needs: "the previous root, if any",
        }),
        (Body::Targets(_), _) if role == OfflineRole::Targets => {
            Err(CeremonyError::NeedsAuthority {
                role,
                needs: "the root that lists the targets keys",
            })
        }
        (Body::Targets(_), _) if matches!(role, OfflineRole::ClaimBin(_)) => {
            Err(CeremonyError::NeedsAuthority {
                role,
                needs: "the claimed metadata that delegates to it",
            })
        }
        (Body::Targets(_), _) => Err(CeremonyError::NeedsAuthority {
            role,
            needs: "the targets metadata that delegates to it",
        }),
    }
}

/// The key `keyid` if one of `grants` authorises it and it is usable.
pub(super) fn authorised_key<'a>(grants: &[Grant<'a>], keyid: &str) -> Option<&'a Key> {
    grants
        .iter()
        .filter(|g| g.role.keyids.iter().any(|k| k == keyid))
        .find_map(|g| g.keys.get(keyid).filter(|k| k.verifier().is_some()))
}

/// Refuses `doc` unless it is signed by a threshold of the keys authorised
/// for it — for root N+1, by the previous root's threshold and by its own —
/// and unexpired at `now`.
pub fn check_threshold(
    doc: &Document,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    let expired = || CeremonyError::Expired {
        role: doc.role,
        version: doc.version(),
        expires: doc.expires(),
    };
    match &doc.body {
        Body::Root(root) => {
            let previous = match authority {
                Authority::Root(previous) => {
                    grants(doc, authority)?;
                    Some(previous)
                }
                Authority::None if doc.version() == 1 => None,
                _ => {
                    return Err(CeremonyError::NeedsAuthority {
                        role: doc.role,
                        needs: "the previous root",
                    });
                }
            };
            let bytes = root.to_bytes();
            TrustedSet::new(&bytes, now)
                .map_err(|e| refusal(doc, &format!("root version {}", doc.version()), e))?;
            if let Some(previous) = previous {
                let by = format!("root version {}", previous.signed.common.version);
                let mut set = TrustedSet::new(&previous.to_bytes(), now).map_err(|e| {
                    CeremonyError::Refused {
                        role: OfflineRole::Root,
                        version: previous.signed.common.version,
                        source: Box::new(e),
                    }
                })?;
                set.update_root(&bytes).map_err(|e| refusal(doc, &by, e))?;
            }
            if doc.common().is_expired(now) {
                return Err(expired());
            }
            Ok(())
        }
        Body::Targets(targets) => {
            let grants = grants(doc, authority)?;
            let grant = grants
                .first()
                .ok_or(CeremonyError::NotDelegated { role: doc.role })?;
            check_targets(doc, targets, grant, now)
        }
    }
}

/// A refusal of the trusted set, in the ceremony's terms.
fn refusal(doc: &Document, by: &str, refused: Refused) -> CeremonyError {
    let (role, version) = (doc.role, doc.version());
    match refused {
        Refused::BelowThreshold {
            valid, threshold, ..
        } => CeremonyError::BelowThreshold {
            role,
            version,
            valid,
            threshold,
            by: by.to_owned(),
        },
        Refused::Expired { expires, .. } => CeremonyError::Expired {
            role,
            version,
            expires,
        },
        other => CeremonyError::Refused {
            role,
            version,
            source: Box::new(other),
        },
    }
}

/// Checks a targets-type document against `grant`: a threshold of the keys
/// the grant authorises (counted by bulwark-tuf's one threshold function,
/// §5.6.3), and not expired (§5.6.5).
fn check_targets(
    doc: &Document,
    targets: &Envelope<Targets>,
    grant: &Grant<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    let role = RoleName::new(doc.role.name());
    targets
        .check_signatures(&role, grant.keys, grant.role)
        .map_err(|e| refusal(doc, &grant.by, e))?;
    if targets.signed.common.is_expired(now) {
        let expires = targets.signed.common.expires;
        return Err(refusal(doc, &grant.by, Refused::Expired { role, expires }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::fixtures::{Holders, NOW, as_root, as_targets, signed};
    use crate::ceremony::{InitPlan, init, sign};

    #[test]
    fn root_needs_a_threshold_of_its_keys() {
        let holders = Holders::new();
        let [root, ..] = init(&holders.plan()).unwrap();
        let err = signed(&root, &[holders.root(1)], Authority::None).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 1, threshold: 2, by, .. } if by == "root version 1"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "root version 1 is signed by 1 of the 2 keys that root version 1 requires"
        );
        signed(&root, &[holders.root(1), holders.root(2)], Authority::None).unwrap();
    }

    #[test]
    fn only_keys_the_authority_lists_may_sign() {
        let holders = Holders::new();
        let [root, targets, claimed, _] = init(&holders.plan()).unwrap();
        let targets_key = &holders.offline.targets;
        assert!(matches!(
            sign(&root, targets_key, Authority::None),
            Err(CeremonyError::Unauthorised { .. })
        ));
        assert!(matches!(
            sign(&targets, targets_key, Authority::None),
            Err(CeremonyError::NeedsAuthority {
                role: OfflineRole::Targets,
                ..
            })
        ));
        let by_root = Authority::Root(as_root(&root));
        assert!(matches!(
            sign(&targets, holders.root(0), by_root),
            Err(CeremonyError::Unauthorised { .. })
        ));
        sign(&targets, targets_key, by_root).unwrap();
        let delegator = Authority::Delegator(as_targets(&targets));
        assert!(matches!(
            sign(&claimed, &holders.offline.unclaimed, delegator),
            Err(CeremonyError::Unauthorised { .. })
        ));
        assert!(matches!(
            sign(&claimed, &holders.online, delegator),
            Err(CeremonyError::Unauthorised { .. })
        ));
        sign(&claimed, &holders.offline.claimed, delegator).unwrap();
    }

    #[test]
    fn expired_documents_are_refused() {
        let holders = Holders::new();
        let [root, ..] = init(&InitPlan {
            expires: NOW,
            ..holders.plan()
        })
        .unwrap();
        let err = signed(&root, &[holders.root(0), holders.root(1)], Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::Expired { .. }), "{err}");
    }
}
