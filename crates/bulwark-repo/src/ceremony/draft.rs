//! Drafting unsigned documents from public key parts: version 1 of a new
//! repository ([`init`]), moving to a new online key ([`rotate_online`]),
//! new root keys ([`rotate_root`]), and the yearly [`renew`]al.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_tuf::delegation::{DelegatedRoles, Delegations};
use bulwark_tuf::metadata::{Common, Envelope, RoleKeys, Root};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::{Body, CeremonyError, Current, Document, OfflineRole};
use crate::layout::{CLAIMED, RECENTLY_CLAIMED, UNCLAIMED};
use crate::roles::{self, KeyPlan, PublicKeyEntry};

/// The largest bin count a ceremony may set up, as `bulwark serve` allows.
pub const MAX_BIN_BITS: u32 = 16;

/// The public keys of a new repository and how its documents are laid out.
#[derive(Clone, Debug)]
pub struct InitPlan {
    /// The root keys.
    pub root: Vec<PublicKeyEntry>,
    /// How many root keys must sign a root.
    pub root_threshold: u64,
    /// The targets keys.
    pub targets: Vec<PublicKeyEntry>,
    /// How many targets keys must sign targets.
    pub targets_threshold: u64,
    /// The claimed key.
    pub claimed: PublicKeyEntry,
    /// The unclaimed key.
    pub unclaimed: PublicKeyEntry,
    /// The online key (timestamp, snapshot, recently-claimed, bins).
    pub online: PublicKeyEntry,
    /// `2^bin_bits` hashed bins.
    pub bin_bits: u32,
    /// When the version 1 documents expire.
    pub expires: Timestamp,
    /// When version 1 of `claimed` expires: sooner, as every version of it
    /// (`Policy::claimed_expiry`), which bounds how long an older one can
    /// be shown to a new client.
    pub claimed_expires: Timestamp,
}

fn check_threshold_range(
    role: OfflineRole,
    keys: &[PublicKeyEntry],
    threshold: u64,
) -> Result<(), CeremonyError> {
    if threshold == 0 || threshold > keys.len() as u64 {
        return Err(CeremonyError::Plan(format!(
            "the {role} threshold must be between 1 and the number of {role} keys ({})",
            keys.len()
        )));
    }
    Ok(())
}

/// Refuses a key given twice, or for two roles: PEP 458 wants every offline
/// role's keys independent, and the online key must never be an offline one.
fn check_independent<'a>(
    uses: impl IntoIterator<Item = (&'a str, &'a PublicKeyEntry)>,
) -> Result<(), CeremonyError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (role, entry) in uses {
        if let Some(first) = seen.insert(&entry.keyid, role) {
            let problem = if first == role {
                format!("is given twice for {role}")
            } else {
                format!("is given for both {first} and {role}")
            };
            return Err(CeremonyError::Plan(format!(
                "key {} {problem}: every role needs its own keys",
                entry.keyid
            )));
        }
    }
    Ok(())
}

/// The unsigned version 1 documents of a new repository: root, targets,
/// claimed, unclaimed — the same bodies as the development set-up's.
pub fn init(plan: &InitPlan) -> Result<[Document; 4], CeremonyError> {
    check_threshold_range(OfflineRole::Root, &plan.root, plan.root_threshold)?;
    check_threshold_range(OfflineRole::Targets, &plan.targets, plan.targets_threshold)?;
    if !(1..=MAX_BIN_BITS).contains(&plan.bin_bits) {
        return Err(CeremonyError::Plan(format!(
            "bin bits must be between 1 and {MAX_BIN_BITS}"
        )));
    }
    check_independent(
        plan.root
            .iter()
            .map(|k| ("root", k))
            .chain(plan.targets.iter().map(|k| ("targets", k)))
            .chain([
                ("claimed", &plan.claimed),
                ("unclaimed", &plan.unclaimed),
                ("online", &plan.online),
            ]),
    )?;
    let key_plan = KeyPlan {
        root: plan.root.clone(),
        root_threshold: plan.root_threshold,
        targets: plan.targets.clone(),
        targets_threshold: plan.targets_threshold,
        online: plan.online.clone(),
    };
    let expires = plan.expires;
    Ok([
        Document::root(Envelope::new(roles::root(&key_plan, 1, expires))),
        Document::targets(
            OfflineRole::Targets,
            Envelope::new(roles::targets(
                &plan.claimed,
                &plan.online,
                &plan.unclaimed,
                1,
                expires,
            )),
        ),
        Document::targets(
            OfflineRole::Claimed,
            Envelope::new(roles::project_delegator(
                crate::layout::CLAIMED,
                &plan.claimed,
                [],
                1,
                plan.claimed_expires,
            )),
        ),
        Document::targets(
            OfflineRole::Unclaimed,
            Envelope::new(roles::unclaimed(&plan.online, plan.bin_bits, 1, expires)),
        ),
    ])
}

/// The next version of `common`, expiring at `expires`.
fn bump(common: &mut Common, expires: Timestamp) {
    common.version += 1;
    common.expires = expires;
}

/// Drops keys no role of `root` uses any more.
fn prune_root_keys(root: &mut Root) {
    let used: BTreeSet<String> = root
        .roles
        .values()
        .flat_map(|r| r.keyids.iter().cloned())
        .collect();
    root.keys.retain(|id, _| used.contains(id));
}

/// Drops keys no delegated role uses any more.
fn prune_delegation_keys(delegations: &mut Delegations) {
    let used: BTreeSet<String> = match &delegations.roles {
        DelegatedRoles::List(list) => list
            .iter()
            .flat_map(|r| r.keys.keyids.iter().cloned())
            .collect(),
        DelegatedRoles::Succinct(s) => s.keys.keyids.iter().cloned().collect(),
    };
    delegations.keys.retain(|id, _| used.contains(id));
}

pub(super) fn only(entry: &PublicKeyEntry) -> RoleKeys {
    RoleKeys {
        keyids: vec![entry.keyid.clone()],
        threshold: 1,
    }
}

/// Every key ID an offline role of `current` uses.
pub(super) fn offline_keyids(current: &Current) -> BTreeSet<&str> {
    let root = &current.root.signed;
    let mut ids: BTreeSet<&str> = [RoleName::ROOT, RoleName::TARGETS]
        .iter()
        .filter_map(|name| root.role(name))
        .flat_map(|k| k.keyids.iter().map(String::as_str))
        .collect();
    if let Some(d) = &current.targets.signed.delegations {
        for role in [CLAIMED, UNCLAIMED] {
            ids.extend(
                d.role_keys(&RoleName::new(role))
                    .iter()
                    .flat_map(|k| k.keyids.iter().map(String::as_str)),
            );
        }
    }
    ids
}

/// Unsigned root N+1, targets v+1 and unclaimed v+1 that move timestamp,
/// snapshot, recently-claimed and the bins to the online key `online`
/// (PEP 458, "In the Event of a Key Compromise", steps 1, 2 and 4).
pub fn rotate_online(
    current: &Current,
    online: &PublicKeyEntry,
    expires: Timestamp,
) -> Result<[Document; 3], CeremonyError> {
    if current
        .root
        .signed
        .role(RoleName::TIMESTAMP)
        .is_some_and(|k| k.keyids == [online.keyid.clone()])
    {
        return Err(CeremonyError::Plan(format!(
            "key {} is already the online key",
            online.keyid
        )));
    }
    if offline_keyids(current).contains(online.keyid.as_str()) {
        return Err(CeremonyError::Plan(format!(
            "key {} is an offline key; the online key must be a new one",
            online.keyid
        )));
    }
    let mut root = current.root.signed.clone();
    bump(&mut root.common, expires);
    root.roles
        .insert(RoleName::TIMESTAMP.to_owned(), only(online));
    root.roles
        .insert(RoleName::SNAPSHOT.to_owned(), only(online));
    root.keys.insert(online.keyid.clone(), online.key.clone());
    prune_root_keys(&mut root);

    let layout = |what: &str| CeremonyError::Incoherent(format!("the installed {what}"));
    let mut targets = current.targets.signed.clone();
    bump(&mut targets.common, expires);
    let delegations = targets
        .delegations
        .as_mut()
        .ok_or_else(|| layout("targets delegates nothing"))?;
    let DelegatedRoles::List(list) = &mut delegations.roles else {
        return Err(layout(
            "targets delegates to bins, not to claimed, recently-claimed and unclaimed",
        ));
    };
    let recent = list
        .iter_mut()
        .find(|r| r.name.as_str() == RECENTLY_CLAIMED)
        .ok_or_else(|| layout("targets does not delegate to recently-claimed"))?;
    recent.keys = only(online);
    delegations
        .keys
        .insert(online.keyid.clone(), online.key.clone());
    prune_delegation_keys(delegations);

    let mut unclaimed = current.unclaimed.signed.clone();
    bump(&mut unclaimed.common, expires);
    let delegations = unclaimed
        .delegations
        .as_mut()
        .ok_or_else(|| layout("unclaimed delegates nothing"))?;
    let DelegatedRoles::Succinct(bins) = &mut delegations.roles else {
        return Err(layout(
            "unclaimed does not delegate to succinct hashed bins",
        ));
    };
    bins.keys = only(online);
    delegations
        .keys
        .insert(online.keyid.clone(), online.key.clone());
    prune_delegation_keys(delegations);

    Ok([
        Document::root(Envelope::new(root)),
        Document::targets(OfflineRole::Targets, Envelope::new(targets)),
        Document::targets(OfflineRole::Unclaimed, Envelope::new(unclaimed)),
    ])
}

/// Unsigned root N+1 with new root keys and threshold. Clients accept it
/// only when signed by a threshold of the old root keys and of the new.
pub fn rotate_root(
    current: &Current,
    keys: &[PublicKeyEntry],
    threshold: u64,
    expires: Timestamp,
) -> Result<Document, CeremonyError> {
    check_threshold_range(OfflineRole::Root, keys, threshold)?;
    check_independent(keys.iter().map(|k| ("root", k)))?;
    let mut root = current.root.signed.clone();
    for (name, role) in &root.roles {
        if name == RoleName::ROOT {
            continue;
        }
        if let Some(k) = keys.iter().find(|k| role.keyids.contains(&k.keyid)) {
            return Err(CeremonyError::Plan(format!(
                "key {} is a {name} key; root keys must be independent",
                k.keyid
            )));
        }
    }
    bump(&mut root.common, expires);
    root.roles.insert(
        RoleName::ROOT.to_owned(),
        RoleKeys {
            keyids: keys.iter().map(|k| k.keyid.clone()).collect(),
            threshold,
        },
    );
    root.keys
        .extend(keys.iter().map(|k| (k.keyid.clone(), k.key.clone())));
    prune_root_keys(&mut root);
    Ok(Document::root(Envelope::new(root)))
}

/// Unsigned next version of `role`, unchanged except for its version and
/// expiry: the yearly re-signing of offline roles (monthly for claimed, see
/// [`renew_claimed`]). Refuses a claim bin `claimed` does not delegate to.
pub fn renew(
    current: &Current,
    role: OfflineRole,
    expires: Timestamp,
) -> Result<Document, CeremonyError> {
    let document = current
        .document(role)
        .ok_or_else(|| CeremonyError::Plan(format!("the repository has no {role} to renew")))?;
    Ok(match document.body {
        Body::Root(envelope) => {
            let mut root = envelope.signed;
            bump(&mut root.common, expires);
            Document::root(Envelope::new(root))
        }
        Body::Targets(envelope) => {
            let mut targets = envelope.signed;
            bump(&mut targets.common, expires);
            Document::targets(role, Envelope::new(targets))
        }
    })
}

/// Unsigned next versions of every claim bin and of `claimed`, changing
/// only their expiry: claimed and its bins share the short claimed expiry,
/// so they are renewed together (bins first, as they are installed).
#[must_use]
pub fn renew_claimed(current: &Current, expires: Timestamp) -> Vec<Document> {
    current
        .claim_bins
        .keys()
        .map(|bin| OfflineRole::ClaimBin(*bin))
        .chain([OfflineRole::Claimed])
        .filter_map(|role| renew(current, role, expires).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use bulwark_store::BlobStore as _;

    use super::*;
    use crate::ceremony::fixtures::{
        Holders, NOW, as_root, as_targets, blobs, entry, expires, install, key, signed, versions,
    };
    use crate::ceremony::{Authority, add_signature, check_threshold, plan_install, sign};
    use crate::init::initialize;
    use crate::policy::Policy;

    #[test]
    fn init_drafts_exactly_the_development_layout() {
        let holders = Holders::new();
        let (_dir, dev) = blobs();
        initialize(
            &dev,
            &holders.offline,
            &holders.online,
            &Policy::default(),
            NOW,
        )
        .unwrap();
        for doc in init(&holders.plan()).unwrap() {
            assert!(doc.signatures().is_empty());
            assert_eq!(doc.file_name(), format!("1.{}.json", doc.role()));
            let theirs =
                Document::parse(doc.role(), &dev.get(&doc.blob_key()).unwrap().unwrap()).unwrap();
            assert_eq!(
                doc.canonical_signed(),
                theirs.canonical_signed(),
                "{}",
                doc.role()
            );
        }
    }

    #[test]
    fn online_key_rotation_is_installed_as_a_whole() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let new_online = key();
        let err = rotate_online(&current, &entry(&holders.offline.claimed), expires()).unwrap_err();
        assert!(matches!(err, CeremonyError::Plan(_)), "{err}");
        let [root, targets, unclaimed] =
            rotate_online(&current, &entry(&new_online), expires()).unwrap();
        assert!(
            !as_root(&root)
                .signed
                .keys
                .contains_key(&holders.online.key_id()),
            "the old online key is dropped"
        );
        let root = signed(
            &root,
            &[holders.root(0), holders.root(1)],
            Authority::Root(&current.root),
        )
        .unwrap();
        let targets = signed(
            &targets,
            &[&holders.offline.targets],
            Authority::Root(as_root(&root)),
        )
        .unwrap();
        let unclaimed = signed(
            &unclaimed,
            &[&holders.offline.unclaimed],
            Authority::Delegator(as_targets(&targets)),
        )
        .unwrap();

        let err = plan_install(Some(&current), std::slice::from_ref(&root), NOW).unwrap_err();
        assert!(matches!(err, CeremonyError::Incoherent(_)), "{err}");
        let plan = install(&blobs, &[unclaimed, root, targets]).unwrap();
        assert!(plan.online_key_changed && !plan.creates);
        assert_eq!(plan.online_keyid, new_online.key_id());
        let order: Vec<&str> = plan.writes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order,
            [
                "tuf/metadata/2.unclaimed.json",
                "tuf/metadata/2.targets.json",
                "tuf/metadata/2.root.json"
            ]
        );
        assert_eq!(
            versions(&Current::load(&blobs, NOW).unwrap().unwrap()),
            [2, 2, 1, 2]
        );
    }

    #[test]
    fn root_rotation_needs_the_old_threshold_and_the_new() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let (r4, r5) = (key(), key());
        let keys = [entry(holders.root(0)), entry(&r4), entry(&r5)];
        assert!(matches!(
            rotate_root(&current, &keys, 4, expires()),
            Err(CeremonyError::Plan(_))
        ));
        assert!(matches!(
            rotate_root(&current, &[entry(&holders.online)], 1, expires()),
            Err(CeremonyError::Plan(_))
        ));
        let next = rotate_root(&current, &keys, 2, expires()).unwrap();
        let by_previous = Authority::Root(&current.root);

        let err = signed(&next, &[holders.root(0), &r4, &r5], by_previous).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 1, by, .. } if by == "root version 1"),
            "{err}"
        );
        let err = signed(&next, &[holders.root(1), holders.root(2)], by_previous).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 0, by, .. } if by == "root version 2"),
            "{err}"
        );
        assert!(matches!(
            check_threshold(&next, Authority::None, NOW),
            Err(CeremonyError::NeedsAuthority { .. })
        ));

        // Signed by one old key only, it is refused at install too.
        let mut weak = next.clone();
        for k in [holders.root(0), &r4, &r5] {
            add_signature(
                &mut weak,
                &sign(&next, k, by_previous).unwrap(),
                by_previous,
            )
            .unwrap();
        }
        assert!(matches!(
            plan_install(Some(&current), &[weak], NOW),
            Err(CeremonyError::BelowThreshold { valid: 1, .. })
        ));

        let good = signed(&next, &[holders.root(0), holders.root(1), &r4], by_previous).unwrap();
        install(&blobs, &[good]).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        assert_eq!(versions(&current), [2, 1, 1, 1]);
        assert!(
            !current
                .root
                .signed
                .keys
                .contains_key(&holders.root(2).key_id()),
            "removed root keys are dropped"
        );
    }

    #[test]
    fn init_refuses_unsound_plans() {
        let holders = Holders::new();
        let plan = holders.plan();
        let refused = |plan: InitPlan| matches!(init(&plan), Err(CeremonyError::Plan(_)));
        assert!(refused(InitPlan {
            root_threshold: 0,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            root_threshold: 4,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            targets_threshold: 2,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            bin_bits: 0,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            bin_bits: 17,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            online: plan.root[0].clone(),
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            unclaimed: plan.claimed.clone(),
            ..plan.clone()
        }));
        let twice = vec![plan.root[0].clone(), plan.root[0].clone()];
        assert!(refused(InitPlan {
            root: twice,
            ..plan.clone()
        }));
        assert!(init(&plan).is_ok());
    }
}
