//! What a repository has installed ([`Current`]) and what an install of
//! signed documents would write ([`plan_install`]), after checking the
//! chain, every signature and the layout the publisher relies on.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_pypi::ProjectName;
use bulwark_store::BlobStore;
use bulwark_tuf::delegation::{DelegatedRoles, PathSpec};
use bulwark_tuf::metadata::{Envelope, RoleKeys, Root, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::{Authority, Body, CeremonyError, Document, OfflineRole, check_threshold};
use crate::layout::{self, BIN_PREFIX, CLAIMED, RECENTLY_CLAIMED, UNCLAIMED};

/// The offline metadata a repository has installed: the newest version of
/// each role, all verified (root through its chain from version 1).
#[derive(Clone, Debug)]
pub struct Current {
    /// The newest root.
    pub root: Envelope<Root>,
    /// The newest targets.
    pub targets: Envelope<Targets>,
    /// The newest claimed.
    pub claimed: Envelope<Targets>,
    /// The newest unclaimed.
    pub unclaimed: Envelope<Targets>,
    /// The newest version of every claim bin `claimed` delegates to, by bin.
    pub claim_bins: BTreeMap<u32, Envelope<Targets>>,
}

impl Current {
    /// Reads and verifies the installed offline metadata; `None` when the
    /// repository has no root yet. Expiry is not checked: renewing expired
    /// metadata is what a ceremony is for.
    pub fn load(blobs: &dyn BlobStore, now: Timestamp) -> Result<Option<Self>, CeremonyError> {
        let Some(first) = blobs.get(&layout::metadata_key(RoleName::ROOT, 1))? else {
            return Ok(None);
        };
        let mut root = installed_root(&first, None, now)?;
        while let Some(bytes) = blobs.get(&layout::metadata_key(
            RoleName::ROOT,
            root.signed.common.version + 1,
        ))? {
            root = installed_root(&bytes, Some(&root), now)?;
        }
        let targets = newest(blobs, OfflineRole::Targets, Authority::Root(&root), now)?;
        let claimed = newest(
            blobs,
            OfflineRole::Claimed,
            Authority::Delegator(&targets),
            now,
        )?;
        let unclaimed = newest(
            blobs,
            OfflineRole::Unclaimed,
            Authority::Delegator(&targets),
            now,
        )?;
        let mut claim_bins = BTreeMap::new();
        for bin in delegated_bins(&claimed.signed)? {
            let role = OfflineRole::ClaimBin(bin);
            let envelope =
                newest(blobs, role, Authority::Delegator(&claimed), now).map_err(|e| match e {
                    CeremonyError::Missing(role) => CeremonyError::MissingClaimBin(role),
                    other => other,
                })?;
            claim_bins.insert(bin, envelope);
        }
        Ok(Some(Self {
            root,
            targets,
            claimed,
            unclaimed,
            claim_bins,
        }))
    }

    /// The online key ID, after checking that timestamp, snapshot,
    /// recently-claimed and the bins all use it and no offline role does:
    /// `bulwark serve` must hold exactly this key.
    pub fn online_keyid(&self) -> Result<String, CeremonyError> {
        check_layout(
            &self.root.signed,
            &self.targets.signed,
            &self.unclaimed.signed,
        )
    }

    /// The `bit_length` of the hashed bins unclaimed delegates to: the
    /// publisher must sign exactly these bins.
    #[must_use]
    pub fn bin_bits(&self) -> Option<u32> {
        match &self.unclaimed.signed.delegations.as_ref()?.roles {
            DelegatedRoles::Succinct(bins) => Some(bins.bit_length),
            DelegatedRoles::List(_) => None,
        }
    }

    /// The installed document of `role`; `None` for a claim bin `claimed`
    /// does not delegate to.
    #[must_use]
    pub fn document(&self, role: OfflineRole) -> Option<Document> {
        let targets = |envelope: &Envelope<Targets>| Document::targets(role, envelope.clone());
        Some(match role {
            OfflineRole::Root => Document::root(self.root.clone()),
            OfflineRole::Targets => targets(&self.targets),
            OfflineRole::Claimed => targets(&self.claimed),
            OfflineRole::Unclaimed => targets(&self.unclaimed),
            OfflineRole::ClaimBin(bin) => targets(self.claim_bins.get(&bin)?),
        })
    }
}

/// The claim bins `claimed` delegates to, or why its delegations are not
/// claim bins (DESIGN.md §3: `claimed` reaches its projects only through them).
fn delegated_bins(claimed: &Targets) -> Result<Vec<u32>, CeremonyError> {
    let Some(delegations) = &claimed.delegations else {
        return Ok(Vec::new());
    };
    let DelegatedRoles::List(list) = &delegations.roles else {
        return Err(CeremonyError::Incoherent(
            "claimed must delegate to a list of claim bins, not to succinct bins".to_owned(),
        ));
    };
    list.iter()
        .map(|role| {
            layout::claim_bin_of_role(CLAIMED, role.name.as_str()).ok_or_else(|| {
                CeremonyError::Incoherent(format!(
                    "claimed delegates to {}, which is not a claim bin (claimed-<hh>)",
                    role.name
                ))
            })
        })
        .collect()
}

/// Checks an installed document's signatures (not its expiry).
fn installed(
    doc: &Document,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    check_threshold(doc, authority, unexpired(now, doc.expires())).map_err(|e| {
        CeremonyError::Installed {
            role: doc.role,
            version: doc.version(),
            source: Box::new(e),
        }
    })
}

fn installed_root(
    bytes: &[u8],
    previous: Option<&Envelope<Root>>,
    now: Timestamp,
) -> Result<Envelope<Root>, CeremonyError> {
    let envelope: Envelope<Root> =
        Envelope::parse(bytes).map_err(|source| CeremonyError::Malformed {
            role: OfflineRole::Root,
            source,
        })?;
    installed(
        &Document::root(envelope.clone()),
        previous.map_or(Authority::None, Authority::Root),
        now,
    )?;
    Ok(envelope)
}

fn newest(
    blobs: &dyn BlobStore,
    role: OfflineRole,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<Envelope<Targets>, CeremonyError> {
    let mut version = 0;
    while blobs
        .len(&layout::metadata_key(&role.name(), version + 1))?
        .is_some()
    {
        version += 1;
    }
    let bytes = blobs
        .get(&layout::metadata_key(&role.name(), version))?
        .ok_or(CeremonyError::Missing(role))?;
    let envelope: Envelope<Targets> =
        Envelope::parse(&bytes).map_err(|source| CeremonyError::Malformed { role, source })?;
    installed(&Document::targets(role, envelope.clone()), authority, now)?;
    Ok(envelope)
}

/// A time at which a document that expires at `expires` is not yet
/// expired: `now`, or just before the expiry. Used to check the signatures
/// of documents already installed, whose expiry is not an install's concern.
fn unexpired(now: Timestamp, expires: Timestamp) -> Timestamp {
    if expires <= now {
        expires.plus_seconds(-1)
    } else {
        now
    }
}

/// What [`plan_install`] decided.
#[derive(Clone, Debug)]
pub struct InstallPlan {
    /// `(blob key, bytes)`, to be written in this order: delegated roles,
    /// then targets, then roots (so a new repository's root comes last; its
    /// presence marks the repository as created).
    pub writes: Vec<(String, Vec<u8>)>,
    /// True when the writes create the repository.
    pub creates: bool,
    /// The online key after the install.
    pub online_keyid: String,
    /// True when the online key changes: the server must be restarted with
    /// the new key.
    pub online_key_changed: bool,
}

/// Checks `offered` signed documents against the installed state (`None`
/// for a new repository) and returns what to write. Roots must continue the
/// chain; every other role must be exactly one version newer and verify
/// under the root (or targets, or for a claim bin claimed) in force after
/// the install; documents left in place must still verify under it; and
/// the result must have one online key for timestamp, snapshot,
/// recently-claimed and the bins, which no offline role uses, and claim bins
/// laid out as the publisher and clients expect (`check_claimed`).
/// Offered documents are checked at `now`, expiry included.
pub fn plan_install(
    current: Option<&Current>,
    offered: &[Document],
    now: Timestamp,
) -> Result<InstallPlan, CeremonyError> {
    let mut roots: Vec<(&Document, &Envelope<Root>)> = Vec::new();
    let mut others: BTreeMap<OfflineRole, (&Document, &Envelope<Targets>)> = BTreeMap::new();
    for doc in offered {
        let duplicate = || CeremonyError::Duplicate {
            role: doc.role,
            version: doc.version(),
        };
        match &doc.body {
            Body::Root(_) if roots.iter().any(|(d, _)| d.version() == doc.version()) => {
                return Err(duplicate());
            }
            Body::Root(envelope) => roots.push((doc, envelope)),
            Body::Targets(envelope) => {
                if others.insert(doc.role, (doc, envelope)).is_some() {
                    return Err(duplicate());
                }
            }
        }
    }
    roots.sort_by_key(|(d, _)| d.version());
    let mut root = current.map(|c| &c.root);
    for (doc, envelope) in roots {
        let expected = root.map_or(1, |r| r.signed.common.version + 1);
        if doc.version() != expected {
            return Err(CeremonyError::WrongVersion {
                role: doc.role,
                offered: doc.version(),
                expected,
            });
        }
        check_threshold(doc, root.map_or(Authority::None, Authority::Root), now)?;
        root = Some(envelope);
    }
    let root = root.ok_or(CeremonyError::Missing(OfflineRole::Root))?;
    let after =
        |role: OfflineRole, installed: Option<&Envelope<Targets>>, authority: Authority<'_>| {
            settle(role, others.get(&role).copied(), installed, authority, now)
        };
    let targets = after(
        OfflineRole::Targets,
        current.map(|c| &c.targets),
        Authority::Root(root),
    )?;
    let claimed = after(
        OfflineRole::Claimed,
        current.map(|c| &c.claimed),
        Authority::Delegator(&targets),
    )?;
    let mut bins = BTreeMap::new();
    for bin in delegated_bins(&claimed.signed)? {
        let role = OfflineRole::ClaimBin(bin);
        let installed = current.and_then(|c| c.claim_bins.get(&bin));
        let envelope =
            after(role, installed, Authority::Delegator(&claimed)).map_err(|e| match e {
                CeremonyError::Missing(role) => CeremonyError::MissingClaimBin(role),
                other => other,
            })?;
        if let Some(installed) = installed {
            keeps_projects(role, &installed.signed, &envelope.signed)?;
        }
        bins.insert(bin, envelope);
    }
    if let Some(role) = others
        .keys()
        .find(|r| matches!(r, OfflineRole::ClaimBin(bin) if !bins.contains_key(bin)))
    {
        return Err(CeremonyError::NotDelegated { role: *role });
    }
    check_claimed(&targets.signed, &claimed.signed, &bins)?;
    let unclaimed = after(
        OfflineRole::Unclaimed,
        current.map(|c| &c.unclaimed),
        Authority::Delegator(&targets),
    )?;
    let online_keyid = check_layout(&root.signed, &targets.signed, &unclaimed.signed)?;
    let online_key_changed = current
        .and_then(|c| c.root.signed.role(RoleName::TIMESTAMP))
        .is_some_and(|keys| keys.keyids != [online_keyid.clone()]);
    let mut ordered: Vec<&Document> = offered.iter().collect();
    ordered.sort_by_key(|d| (write_rank(d.role), d.role, d.version()));
    Ok(InstallPlan {
        writes: ordered
            .into_iter()
            .map(|d| (d.blob_key(), d.to_bytes()))
            .collect(),
        creates: current.is_none(),
        online_keyid,
        online_key_changed,
    })
}

/// Delegated roles before their delegators: the publisher finds a new claim
/// bin through a newer claimed, and a newer claimed through the snapshot it
/// signs, so a run between two writes never lists a role whose bins are
/// missing.
fn write_rank(role: OfflineRole) -> u8 {
    match role {
        OfflineRole::ClaimBin(_) => 0,
        OfflineRole::Claimed => 1,
        OfflineRole::Unclaimed => 2,
        OfflineRole::Targets => 3,
        OfflineRole::Root => 4,
    }
}

/// Refuses a claim bin that drops a project its installed version lists: a
/// claimed project stays claimed (its developers' keys speak for it; the
/// index no longer signs it anywhere else).
fn keeps_projects(
    role: OfflineRole,
    installed: &Targets,
    next: &Targets,
) -> Result<(), CeremonyError> {
    let names = |t: &Targets| -> Vec<String> {
        match t.delegations.as_ref().map(|d| &d.roles) {
            Some(DelegatedRoles::List(list)) => {
                list.iter().map(|r| r.name.as_str().to_owned()).collect()
            }
            _ => Vec::new(),
        }
    };
    let kept = names(next);
    if let Some(dropped) = names(installed).into_iter().find(|n| !kept.contains(n)) {
        return Err(CeremonyError::Incoherent(format!(
            "{role} version {} drops {dropped}: a claimed project stays in claimed",
            next.common.version
        )));
    }
    Ok(())
}

/// Checks the claimed side of DESIGN.md §3 that clients and the publisher
/// rely on: `claimed` delegates each claim bin `claimed-<hh>` (non-terminating,
/// path hash prefix `<hh>`) to its own keys as targets lists them, and each
/// bin lists only terminating delegations `project-<name>` (paths
/// `simple/<name>/*`) of projects whose page hashes into that bin, with a
/// threshold their keys can meet.
fn check_claimed(
    targets: &Targets,
    claimed: &Targets,
    bins: &BTreeMap<u32, Envelope<Targets>>,
) -> Result<(), CeremonyError> {
    let Some(top) = &targets.delegations else {
        return Ok(());
    };
    let name = RoleName::new(CLAIMED);
    let Some(own) = top.role_keys(&name) else {
        return Ok(());
    };
    let incoherent = |why: String| Err(CeremonyError::Incoherent(why));
    if let Some(delegations) = &claimed.delegations
        && let DelegatedRoles::List(list) = &delegations.roles
    {
        for role in list {
            let Some(bin) = layout::claim_bin_of_role(CLAIMED, role.name.as_str()) else {
                continue;
            };
            let prefix = PathSpec::HashPrefixes(vec![layout::claim_bin_prefix(bin)]);
            if role.terminating || role.paths != prefix {
                return incoherent(format!(
                    "claimed must delegate {} non-terminating, for path hash prefix {}",
                    role.name,
                    layout::claim_bin_prefix(bin)
                ));
            }
            let same_keys = role.keys == *own
                && own
                    .keyids
                    .iter()
                    .all(|id| match (delegations.keys.get(id), top.keys.get(id)) {
                        (Some(a), Some(b)) => a.to_value() == b.to_value(),
                        _ => false,
                    });
            if !same_keys {
                return incoherent(format!(
                    "claimed must delegate {} to its own keys, as targets lists them",
                    role.name
                ));
            }
        }
    }
    for (bin, envelope) in bins {
        check_claim_bin(*bin, &envelope.signed)?;
    }
    Ok(())
}

fn check_claim_bin(bin: u32, body: &Targets) -> Result<(), CeremonyError> {
    let role = OfflineRole::ClaimBin(bin);
    let incoherent = |why: String| Err(CeremonyError::Incoherent(format!("{role}: {why}")));
    if !body.targets.is_empty() {
        return incoherent("a claim bin lists no targets, only project delegations".to_owned());
    }
    let Some(delegations) = &body.delegations else {
        return Ok(());
    };
    let DelegatedRoles::List(list) = &delegations.roles else {
        return incoherent("a claim bin delegates to a list of projects".to_owned());
    };
    for delegated in list {
        let name = delegated.name.as_str();
        let project = name
            .strip_prefix(layout::PROJECT_ROLE_PREFIX)
            .filter(|p| ProjectName::parse(p).is_ok_and(|n| n.normalized() == *p));
        let Some(project) = project else {
            return incoherent(format!(
                "{name} is not project-<name> with a normalized project name"
            ));
        };
        if layout::claim_bin_of(project) != bin {
            return incoherent(format!(
                "{name} belongs in {}",
                OfflineRole::ClaimBin(layout::claim_bin_of(project))
            ));
        }
        let paths = PathSpec::Patterns(vec![format!("simple/{project}/*")]);
        if !delegated.terminating || delegated.paths != paths {
            return incoherent(format!(
                "{name} must be terminating, for paths simple/{project}/*"
            ));
        }
        let keys = &delegated.keys;
        let usable = keys
            .keyids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| {
                delegations
                    .keys
                    .get(*id)
                    .is_some_and(|k| k.verifier().is_some())
            })
            .count() as u64;
        if keys.threshold == 0 || keys.threshold > usable {
            return incoherent(format!(
                "{name} has threshold {} and {usable} usable keys",
                keys.threshold
            ));
        }
    }
    Ok(())
}

/// The role's metadata after an install: the offered version, checked at
/// `now`, or the installed one, whose signatures must still verify under
/// `authority` (which the install may have changed).
fn settle(
    role: OfflineRole,
    offered: Option<(&Document, &Envelope<Targets>)>,
    current: Option<&Envelope<Targets>>,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<Envelope<Targets>, CeremonyError> {
    match (offered, current) {
        (Some((doc, envelope)), current) => {
            let expected = current.map_or(1, |c| c.signed.common.version + 1);
            if doc.version() != expected {
                return Err(CeremonyError::WrongVersion {
                    role,
                    offered: doc.version(),
                    expected,
                });
            }
            check_threshold(doc, authority, now)?;
            Ok(envelope.clone())
        }
        (None, Some(envelope)) => {
            installed(&Document::targets(role, envelope.clone()), authority, now)?;
            Ok(envelope.clone())
        }
        (None, None) => Err(CeremonyError::Missing(role)),
    }
}

/// The one key ID of a role signed by the online key, or why it is not one.
fn single_key(name: &str, keys: Option<&RoleKeys>) -> Result<String, CeremonyError> {
    match keys {
        Some(RoleKeys {
            keyids,
            threshold: 1,
        }) if keyids.len() == 1 => Ok(keyids[0].clone()),
        _ => Err(CeremonyError::Incoherent(format!(
            "{name} must be signed by exactly one key, the online key"
        ))),
    }
}

/// Checks the layout of DESIGN.md §3 that the publisher relies on, and
/// returns the online key ID.
fn check_layout(
    root: &Root,
    targets: &Targets,
    unclaimed: &Targets,
) -> Result<String, CeremonyError> {
    let incoherent = |why: &str| CeremonyError::Incoherent(why.to_owned());
    if !root.consistent_snapshot {
        return Err(incoherent("root must enable consistent snapshots"));
    }
    let online = single_key("timestamp", root.role(RoleName::TIMESTAMP))?;
    if single_key("snapshot", root.role(RoleName::SNAPSHOT))? != online {
        return Err(incoherent(
            "timestamp and snapshot must share the online key",
        ));
    }
    let order = "targets must delegate to claimed, recently-claimed and unclaimed, in that order";
    let Some(DelegatedRoles::List(list)) = targets.delegations.as_ref().map(|d| &d.roles) else {
        return Err(incoherent(order));
    };
    let [claimed, recent, unclaimed_role] = list.as_slice() else {
        return Err(incoherent(order));
    };
    if [&claimed.name, &recent.name, &unclaimed_role.name].map(RoleName::as_str)
        != [CLAIMED, RECENTLY_CLAIMED, UNCLAIMED]
    {
        return Err(incoherent(order));
    }
    if single_key(RECENTLY_CLAIMED, Some(&recent.keys))? != online {
        return Err(incoherent(
            "recently-claimed must be delegated to the online key of timestamp and snapshot",
        ));
    }
    let Some(DelegatedRoles::Succinct(bins)) = unclaimed.delegations.as_ref().map(|d| &d.roles)
    else {
        return Err(incoherent(
            "unclaimed must delegate to succinct hashed bins",
        ));
    };
    if bins.name_prefix != BIN_PREFIX || single_key("the bins", Some(&bins.keys))? != online {
        return Err(incoherent(
            "unclaimed must delegate bins named bin-* to the online key of timestamp and snapshot",
        ));
    }
    let offline = [
        ("root", root.role(RoleName::ROOT)),
        ("targets", root.role(RoleName::TARGETS)),
        ("claimed", Some(&claimed.keys)),
        ("unclaimed", Some(&unclaimed_role.keys)),
    ];
    if let Some((role, _)) = offline
        .iter()
        .find(|(_, keys)| keys.is_some_and(|k| k.keyids.contains(&online)))
    {
        return Err(CeremonyError::Incoherent(format!(
            "the online key {online} is also a {role} key, so the server would hold an offline key"
        )));
    }
    Ok(online)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::draft::only;
    use crate::ceremony::fixtures::{
        Holders, NOW, as_root, blobs, entry, expires, install, key, signed, versions,
    };
    use crate::ceremony::{InitPlan, add_signature, init, renew, sign};
    use crate::policy::Policy;

    #[test]
    fn a_new_repository_is_installed_whole_and_loads() {
        let holders = Holders::new();
        let docs = holders.version_1();
        let (_dir, blobs) = blobs();
        let err = plan_install(None, &docs[..1], NOW).unwrap_err();
        assert!(
            matches!(err, CeremonyError::Missing(OfflineRole::Targets)),
            "{err}"
        );
        let plan = install(&blobs, &docs).unwrap();
        assert!(plan.creates && !plan.online_key_changed);
        assert_eq!(plan.online_keyid, holders.online.key_id());
        assert_eq!(
            plan.writes.last().unwrap().0,
            "tuf/metadata/1.root.json",
            "root is written last"
        );
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        assert_eq!(versions(&current), [1, 1, 1, 1]);
        assert_eq!(current.online_keyid().unwrap(), holders.online.key_id());
        assert_eq!(current.bin_bits(), Some(Policy::default().bin_bits));
        let err = plan_install(Some(&current), &docs, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                CeremonyError::WrongVersion {
                    offered: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn install_refuses_a_root_below_threshold_and_unsigned_documents() {
        let holders = Holders::new();
        let mut docs = holders.version_1();
        let [root, ..] = init(&holders.plan()).unwrap();
        let mut weak = root.clone();
        add_signature(
            &mut weak,
            &sign(&root, holders.root(0), Authority::None).unwrap(),
            Authority::None,
        )
        .unwrap();
        docs[0] = weak;
        assert!(matches!(
            plan_install(None, &docs, NOW),
            Err(CeremonyError::BelowThreshold { valid: 1, .. })
        ));
        let mut docs = holders.version_1();
        docs[3] = init(&holders.plan()).unwrap()[3].clone();
        assert!(matches!(
            plan_install(None, &docs, NOW),
            Err(CeremonyError::BelowThreshold {
                role: OfflineRole::Unclaimed,
                valid: 0,
                ..
            })
        ));
    }

    #[test]
    fn targets_signed_by_a_key_the_current_root_does_not_list_is_refused() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let next = renew(&current, OfflineRole::Targets, expires()).unwrap();
        assert_eq!(next.version(), 2);
        // Mallory drafts a root listing her key for targets and signs under it.
        let mallory = key();
        let fake = init(&InitPlan {
            targets: vec![entry(&mallory)],
            ..holders.plan()
        })
        .unwrap();
        let forged = signed(&next, &[&mallory], Authority::Root(as_root(&fake[0]))).unwrap();
        let err = plan_install(Some(&current), &[forged], NOW).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { role: OfflineRole::Targets, valid: 0, by, .. } if by == "root version 1"),
            "{err}"
        );
        let good = signed(
            &next,
            &[&holders.offline.targets],
            Authority::Root(&current.root),
        )
        .unwrap();
        install(&blobs, &[good]).unwrap();
        assert_eq!(
            versions(&Current::load(&blobs, NOW).unwrap().unwrap()),
            [1, 2, 1, 1]
        );
    }

    #[test]
    fn a_root_that_orphans_the_installed_targets_is_refused() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let Body::Root(next) = renew(&current, OfflineRole::Root, expires()).unwrap().body else {
            panic!()
        };
        let mut body = next.signed;
        let new_targets = entry(&key());
        body.roles
            .insert(RoleName::TARGETS.to_owned(), only(&new_targets));
        body.keys
            .insert(new_targets.keyid.clone(), new_targets.key.clone());
        let next = Document::root(Envelope::new(body));
        let next = signed(
            &next,
            &[holders.root(0), holders.root(1)],
            Authority::Root(&current.root),
        )
        .unwrap();
        let err = plan_install(Some(&current), &[next], NOW).unwrap_err();
        assert!(
            matches!(
                err,
                CeremonyError::Installed {
                    role: OfflineRole::Targets,
                    ..
                }
            ),
            "{err}"
        );
    }
}
