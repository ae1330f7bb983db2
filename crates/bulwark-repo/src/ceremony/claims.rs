//! Drafts of `claimed` and its claim bins: moving developer-claimed
//! projects from recently-claimed into claimed ([`promote`], PEP 480's
//! periodic move), replacing a claimed project's lost keys
//! ([`reset_keys`]), and checking claim bins against the index's claims
//! before they are installed ([`check_against_claims`]).
//!
//! ```text
//! StateStore claims (tier, the delegation the index trusts) + Current (claimed, claimed-<hh>)
//!   ─▶ promote    ─▶ claimed-<hh> v+1 (or 1) per touched bin, + the promoted projects' delegations
//!                    claimed v+1, delegating to every bin it did plus the new ones
//!   ─▶ reset_keys ─▶ claimed-<hh> v+1 with the project's new keys and threshold, claimed v+1
//! install: plan_install (signatures, layout) + check_against_claims (the index's claims)
//! publisher: a newer claimed-<hh> ─▶ StateStore::set_claim_delegation(project, claimed, …)
//! ```
//!
//! A project keeps its role name `project-<name>` throughout; only the role
//! that delegates to it changes. Reading claims is the only storage access;
//! nothing here writes.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_pypi::ProjectName;
use bulwark_store::{ClaimRecord, ClaimTier, StateStore, StoreError};
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::metadata::{Envelope, RoleKeys};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::draft::offline_keyids;
use super::{Body, CeremonyError, Current, Document, OfflineRole, ProjectRefusal};
use crate::layout::{self, CLAIMED};
use crate::roles::{self, PublicKeyEntry};

/// The delegation the index trusts for a claimed project, checked to be
/// exactly the project's own role, as [`roles::project_delegation`] writes it.
fn trusted(claim: &ClaimRecord) -> Result<Delegations, CeremonyError> {
    let corrupt = |why: &str| {
        CeremonyError::Store(StoreError::Corrupt(format!(
            "the stored delegation of {} is {why}",
            claim.project
        )))
    };
    let stored = Delegations::from_json(claim.delegation.as_bytes())
        .map_err(|_| corrupt("not a delegations object"))?;
    match &stored.roles {
        DelegatedRoles::List(list)
            if list.len() == 1 && list[0].name == layout::project_role(&claim.project) =>
        {
            Ok(roles::project_delegation(&list[0], &stored.keys))
        }
        _ => Err(corrupt("not the project's role alone")),
    }
}

fn same(a: &Delegations, b: &Delegations) -> bool {
    a.to_json() == b.to_json()
}

/// The projects the installed claim bin `bin` lists.
fn installed_projects(current: Option<&Current>, bin: u32) -> BTreeMap<String, Delegations> {
    current
        .and_then(|c| c.claim_bins.get(&bin))
        .and_then(|e| roles::claim_bin_projects(&e.signed))
        .unwrap_or_default()
}

/// Why a project that no installed claim bin lists cannot be taken.
fn not_listed(
    store: &dyn StateStore,
    project: &str,
    claim: Option<&ClaimRecord>,
) -> Result<ProjectRefusal, CeremonyError> {
    Ok(match claim {
        Some(c) if c.tier == ClaimTier::RecentlyClaimed => {
            ProjectRefusal::RecentlyClaimed(project.to_owned())
        }
        _ if store.project(project)?.is_some() => ProjectRefusal::NotClaimed(project.to_owned()),
        _ => ProjectRefusal::Unknown(project.to_owned()),
    })
}

/// The next version of claim bin `bin` (version 1 if it is new), listing
/// exactly `projects`, expiring at `expires`.
fn next_bin(
    current: &Current,
    bin: u32,
    projects: &BTreeMap<String, Delegations>,
    expires: Timestamp,
) -> Document {
    let installed = current.claim_bins.get(&bin);
    let version = installed.map_or(1, |e| e.signed.common.version + 1);
    let listed: Vec<&Delegations> = projects.values().collect();
    let mut body = roles::claim_bin(&listed, version, expires);
    if let Some(installed) = installed {
        // Fields this version of Bulwark does not know survive re-signing.
        body.common
            .unknown
            .clone_from(&installed.signed.common.unknown);
        if let (Some(next), Some(previous)) = (&mut body.delegations, &installed.signed.delegations)
        {
            next.unknown.clone_from(&previous.unknown);
        }
    }
    Document::targets(OfflineRole::ClaimBin(bin), Envelope::new(body))
}

/// The next version of claimed, expiring at `expires`: every delegation it
/// has, plus one to each bin of `new_bins` it lacks, to its own keys as
/// targets lists them (non-terminating, path hash prefix `<hh>`).
fn next_claimed(
    current: &Current,
    new_bins: &BTreeSet<u32>,
    expires: Timestamp,
) -> Result<Document, CeremonyError> {
    let incoherent = |why: &str| CeremonyError::Incoherent(format!("the installed {why}"));
    let top = current
        .targets
        .signed
        .delegations
        .as_ref()
        .ok_or_else(|| incoherent("targets delegates nothing"))?;
    let own = top
        .role_keys(&RoleName::new(CLAIMED))
        .ok_or_else(|| incoherent("targets does not delegate to claimed"))?;
    let mut body = current.claimed.signed.clone();
    body.common.version += 1;
    body.common.expires = expires;
    let delegations = body.delegations.get_or_insert_with(|| Delegations {
        keys: BTreeMap::new(),
        roles: DelegatedRoles::List(Vec::new()),
        unknown: BTreeMap::new(),
    });
    let DelegatedRoles::List(list) = &mut delegations.roles else {
        return Err(incoherent("claimed delegates to succinct bins"));
    };
    for bin in new_bins {
        let name = RoleName::new(layout::claim_bin_name(CLAIMED, *bin));
        if list.iter().any(|r| r.name == name) {
            continue;
        }
        list.push(DelegatedRole {
            name,
            keys: own.clone(),
            terminating: false,
            paths: PathSpec::HashPrefixes(vec![layout::claim_bin_prefix(*bin)]),
            unknown: BTreeMap::new(),
        });
        for id in &own.keyids {
            if let Some(key) = top.keys.get(id) {
                delegations.keys.insert(id.clone(), key.clone());
            }
        }
    }
    list.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(Document::targets(OfflineRole::Claimed, Envelope::new(body)))
}

/// The normalized name of `given`, or why not.
fn normalized(given: &str) -> Result<String, ProjectRefusal> {
    ProjectName::parse(given)
        .map(|n| n.normalized().to_owned())
        .map_err(|_| ProjectRefusal::InvalidName(given.to_owned()))
}

/// Unsigned drafts moving `projects` from recently-claimed into claimed:
/// the next version (or version 1) of each claim bin they hash into,
/// listing its previous projects plus each promoted project's delegation
/// exactly as the index trusts it (role, keys, threshold), then the next
/// claimed, delegating to every bin it did plus the new ones. All expire at
/// `expires`. Refuses, naming each, projects that are not valid names, do
/// not exist, are not claimed, or are already in claimed.
pub fn promote(
    current: &Current,
    store: &dyn StateStore,
    projects: &[&str],
    expires: Timestamp,
) -> Result<Vec<Document>, CeremonyError> {
    let mut listed: BTreeMap<String, u32> = BTreeMap::new();
    for bin in current.claim_bins.keys() {
        listed.extend(
            installed_projects(Some(current), *bin)
                .into_keys()
                .map(|p| (p, *bin)),
        );
    }
    let mut refusals = Vec::new();
    let mut promoted: BTreeMap<String, Delegations> = BTreeMap::new();
    for given in projects {
        let name = match normalized(given) {
            Ok(name) => name,
            Err(refusal) => {
                refusals.push(refusal);
                continue;
            }
        };
        if promoted.contains_key(&name) {
            continue;
        }
        let bin = layout::claim_bin_of(&name);
        if listed.contains_key(&name) {
            refusals.push(ProjectRefusal::AlreadyClaimed {
                bin: OfflineRole::ClaimBin(bin).name(),
                project: name,
            });
            continue;
        }
        match store.claim(&name)? {
            Some(claim) if claim.tier == ClaimTier::RecentlyClaimed => {
                promoted.insert(name, trusted(&claim)?);
            }
            Some(_) => refusals.push(ProjectRefusal::AlreadyClaimed {
                bin: OfflineRole::ClaimBin(bin).name(),
                project: name,
            }),
            None => refusals.push(not_listed(store, &name, None)?),
        }
    }
    if !refusals.is_empty() {
        return Err(CeremonyError::Projects(refusals));
    }
    if promoted.is_empty() {
        return Err(CeremonyError::Plan("no project to promote".to_owned()));
    }
    let mut by_bin: BTreeMap<u32, BTreeMap<String, Delegations>> = BTreeMap::new();
    for (project, delegation) in promoted {
        let bin = layout::claim_bin_of(&project);
        by_bin
            .entry(bin)
            .or_insert_with(|| installed_projects(Some(current), bin))
            .insert(project, delegation);
    }
    let mut docs: Vec<Document> = by_bin
        .iter()
        .map(|(bin, projects)| next_bin(current, *bin, projects, expires))
        .collect();
    docs.push(next_claimed(
        current,
        &by_bin.keys().copied().collect(),
        expires,
    )?);
    Ok(docs)
}

/// Unsigned drafts replacing the keys and threshold of claimed project
/// `project` (its developers lost theirs, or had them stolen): the next
/// version of its claim bin, its delegation otherwise unchanged, and the
/// next claimed, both expiring at `expires`. Once installed, the
/// developers sign a new version of `project-<name>` with the new keys.
/// Refuses a project that no claim bin lists, and keys that are not a sound
/// set for a project (none, repeated, or this repository's own).
pub fn reset_keys(
    current: &Current,
    store: &dyn StateStore,
    project: &str,
    keys: &[PublicKeyEntry],
    threshold: u64,
    expires: Timestamp,
) -> Result<Vec<Document>, CeremonyError> {
    let name = normalized(project).map_err(|r| CeremonyError::Projects(vec![r]))?;
    let bin = layout::claim_bin_of(&name);
    let mut projects = installed_projects(Some(current), bin);
    let Some(previous) = projects.get(&name) else {
        let claim = store.claim(&name)?;
        let refusal = not_listed(store, &name, claim.as_ref())?;
        return Err(CeremonyError::Projects(vec![refusal]));
    };
    if threshold == 0 || threshold > keys.len() as u64 {
        return Err(CeremonyError::Plan(format!(
            "the threshold must be between 1 and the number of keys given ({})",
            keys.len()
        )));
    }
    let mut ids = BTreeSet::new();
    if let Some(twice) = keys.iter().find(|k| !ids.insert(k.keyid.as_str())) {
        return Err(CeremonyError::Plan(format!(
            "key {} is given twice",
            twice.keyid
        )));
    }
    let mut repository = offline_keyids(current);
    for role in ["timestamp", "snapshot"] {
        repository.extend(
            current
                .root
                .signed
                .role(role)
                .iter()
                .flat_map(|k| k.keyids.iter().map(String::as_str)),
        );
    }
    if let Some(own) = keys.iter().find(|k| repository.contains(k.keyid.as_str())) {
        return Err(CeremonyError::Plan(format!(
            "key {} is one of this repository's own keys; a project needs its developers' keys",
            own.keyid
        )));
    }
    let DelegatedRoles::List(list) = &previous.roles else {
        return Err(CeremonyError::Incoherent(format!(
            "the installed {} lists {name} oddly",
            OfflineRole::ClaimBin(bin)
        )));
    };
    let mut role = list[0].clone();
    let new_keys = RoleKeys {
        keyids: ids.iter().map(|id| (*id).to_owned()).collect(),
        threshold,
    };
    let mut old_ids = role.keys.keyids.clone();
    old_ids.sort();
    if old_ids == new_keys.keyids && role.keys.threshold == threshold {
        return Err(CeremonyError::Plan(format!(
            "project {name} already has exactly these keys and threshold"
        )));
    }
    role.keys = new_keys;
    let all = keys
        .iter()
        .map(|k| (k.keyid.clone(), k.key.clone()))
        .collect();
    projects.insert(name, roles::project_delegation(&role, &all));
    Ok(vec![
        next_bin(current, bin, &projects, expires),
        next_claimed(current, &BTreeSet::new(), expires)?,
    ])
}

/// Checks offered claim bins against the index's claims, as `bulwark
/// ceremony install` does before writing anything: every project a bin adds
/// or changes must be claimed on this index, and one still in
/// recently-claimed (a promotion) must be offered with exactly the
/// delegation the index trusts for it now, which its developers may have
/// changed since the promotion was drafted. A changed project already in
/// claimed is a key reset.
pub fn check_against_claims(
    current: Option<&Current>,
    offered: &[Document],
    store: &dyn StateStore,
) -> Result<(), CeremonyError> {
    let mut refusals = Vec::new();
    for doc in offered {
        let (OfflineRole::ClaimBin(bin), Body::Targets(envelope)) = (doc.role, &doc.body) else {
            continue;
        };
        let before = installed_projects(current, bin);
        let after = roles::claim_bin_projects(&envelope.signed).unwrap_or_default();
        for (project, delegation) in after {
            let listed = before.get(&project);
            if listed.is_some_and(|d| same(d, &delegation)) {
                continue;
            }
            match store.claim(&project)? {
                None => refusals.push(not_listed(store, &project, None)?),
                Some(claim)
                    if claim.tier == ClaimTier::RecentlyClaimed
                        && listed.is_none()
                        && !same(&trusted(&claim)?, &delegation) =>
                {
                    refusals.push(ProjectRefusal::Changed(project));
                }
                Some(_) => {}
            }
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(CeremonyError::Projects(refusals))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bulwark_store::fs::FsBlobs;
    use bulwark_store::sqlite::SqliteState;
    use bulwark_store::{BlobStore as _, FileRecord, ProjectTransaction, TransactionOutcome};
    use bulwark_tuf::hash::sha256_hex;
    use bulwark_tuf::keys::SigningKey;
    use bulwark_tuf::metadata::Targets;

    use super::*;
    use crate::Publisher;
    use crate::ceremony::fixtures::{
        Holders, NOW, as_targets, entry, install, key, signed, versions,
    };
    use crate::ceremony::{Authority, plan_install, renew_claimed, sign};
    use crate::init::OfflineSigners;
    use crate::policy::Policy;

    fn in_a_month() -> Timestamp {
        NOW.plus_seconds(Policy::default().claimed_expiry)
    }

    /// A repository installed by the ceremony, its state store, and a
    /// publisher holding its online key.
    struct Index {
        _dir: tempfile::TempDir,
        blobs: Arc<FsBlobs>,
        store: Arc<SqliteState>,
        offline: OfflineSigners,
        publisher: Publisher,
    }

    /// The delegation a developer offers, as the index stores it.
    fn delegation_json(project: &str, keys: &[&SigningKey], threshold: u64) -> String {
        let entries: Vec<PublicKeyEntry> = keys.iter().map(|k| entry(k)).collect();
        let mut keyids: Vec<String> = entries.iter().map(|e| e.keyid.clone()).collect();
        keyids.sort();
        let role = DelegatedRole {
            name: layout::project_role(project),
            keys: RoleKeys { keyids, threshold },
            terminating: true,
            paths: PathSpec::Patterns(vec![format!("simple/{project}/*")]),
            unknown: BTreeMap::new(),
        };
        let all = entries.into_iter().map(|e| (e.keyid, e.key)).collect();
        String::from_utf8(roles::project_delegation(&role, &all).to_json()).unwrap()
    }

    impl Index {
        fn new() -> Self {
            let holders = Holders::new();
            let dir = tempfile::tempdir().unwrap();
            let blobs = Arc::new(FsBlobs::open(dir.path()).unwrap());
            install(&blobs, &holders.version_1()).unwrap();
            let store = Arc::new(SqliteState::in_memory().unwrap());
            let Holders { offline, online } = holders;
            let publisher = Publisher::new(store.clone(), blobs.clone(), online, Policy::default());
            Self {
                _dir: dir,
                blobs,
                store,
                offline,
                publisher,
            }
        }

        fn current(&self) -> Current {
            Current::load(self.blobs.as_ref(), NOW).unwrap().unwrap()
        }

        /// `project` claimed by its developers with `keys`, as the server
        /// records a claim: the page and role they signed, and the claim.
        fn claim(&self, project: &str, keys: &[&SigningKey]) {
            let name = ProjectName::parse(project).unwrap();
            let page = bulwark_pypi::render_json(&bulwark_pypi::ProjectPage {
                name: name.clone(),
                files: Vec::new(),
            });
            let expires = NOW.plus_seconds(365 * 86_400);
            let role = crate::transaction::sign_project_role(&name, 1, expires, &page, keys, None)
                .unwrap();
            let (page_sha256, role_sha256) = (sha256_hex(&page), sha256_hex(&role));
            self.blobs
                .put(&layout::claim_page_key(&page_sha256), &page)
                .unwrap();
            self.blobs
                .put(&layout::claim_role_key(&role_sha256), &role)
                .unwrap();
            let outcome = self
                .store
                .record_transaction(&ProjectTransaction {
                    display_name: project.to_owned(),
                    user: "alice".to_owned(),
                    checked_against: None,
                    checked_delegation: None,
                    checked_nested: Vec::new(),
                    claim: ClaimRecord {
                        project: name.normalized().to_owned(),
                        tier: ClaimTier::RecentlyClaimed,
                        delegation: delegation_json(name.normalized(), keys, 1),
                        role_version: 1,
                        role_expires: expires.unix(),
                        role_sha256,
                        role_length: role.len() as u64,
                        page_sha256,
                        page_length: page.len() as u64,
                        nested: Vec::new(),
                    },
                    files: Vec::new(),
                    yanked: Vec::new(),
                })
                .unwrap();
            assert!(matches!(outcome, TransactionOutcome::Recorded { .. }));
        }

        /// An unclaimed project with one file.
        fn upload(&self, project: &str) {
            let filename = format!("{project}-1.0.tar.gz");
            let file = FileRecord {
                project: project.to_owned(),
                filename: filename.clone(),
                version: "1.0".to_owned(),
                size: 10,
                sha256: sha256_hex(filename.as_bytes()),
                blake2b_256: sha256_hex(project.as_bytes()),
                requires_python: None,
                metadata_sha256: None,
                upload_time_us: 1,
                yanked: None,
                uploader: "bob".to_owned(),
            };
            self.store.add_file(project, &file).unwrap();
        }

        /// `docs` signed with the claimed key, each under its delegator:
        /// claimed under the installed targets, claim bins under the claimed
        /// of the batch (or the installed one).
        fn sign_all(&self, docs: &[Document]) -> Vec<Document> {
            let current = self.current();
            let claimed = docs
                .iter()
                .find(|d| d.role() == OfflineRole::Claimed)
                .map_or(&current.claimed, as_targets);
            docs.iter()
                .map(|doc| {
                    let authority = match doc.role() {
                        OfflineRole::Claimed => Authority::Delegator(&current.targets),
                        _ => Authority::Delegator(claimed),
                    };
                    signed(doc, &[&self.offline.claimed], authority).unwrap()
                })
                .collect()
        }

        /// Drafts are signed, checked against the claims and installed.
        fn install(&self, docs: &[Document]) {
            let docs = self.sign_all(docs);
            check_against_claims(Some(&self.current()), &docs, self.store.as_ref()).unwrap();
            install(&self.blobs, &docs).unwrap();
        }

        fn promote(&self, projects: &[&str]) -> Result<Vec<Document>, CeremonyError> {
            promote(&self.current(), self.store.as_ref(), projects, in_a_month())
        }

        fn stored_delegation(&self, project: &str) -> String {
            self.store.claim(project).unwrap().unwrap().delegation
        }

        /// The projects the newest published version of `role` lists.
        fn published_projects(&self, role: &str) -> Vec<String> {
            let record = self
                .store
                .roles()
                .unwrap()
                .into_iter()
                .find(|r| r.role == role)
                .unwrap_or_else(|| panic!("{role} is not published"));
            let bytes = self
                .blobs
                .get(&layout::metadata_key(role, record.version))
                .unwrap()
                .unwrap();
            let body = Envelope::<Targets>::parse(&bytes).unwrap().signed;
            roles::claim_bin_projects(&body)
                .unwrap()
                .into_keys()
                .collect()
        }
    }

    fn body(doc: &Document) -> &Targets {
        &as_targets(doc).signed
    }

    fn delegated(doc: &Document) -> Vec<&DelegatedRole> {
        match &body(doc).delegations.as_ref().unwrap().roles {
            DelegatedRoles::List(list) => list.iter().collect(),
            DelegatedRoles::Succinct(_) => panic!("succinct"),
        }
    }

    fn names(doc: &Document) -> Vec<&str> {
        delegated(doc).iter().map(|r| r.name.as_str()).collect()
    }

    /// `n` distinct project names in claim bin `bin`, and one outside it.
    fn names_in_bin(n: usize) -> (Vec<String>, String) {
        let all: Vec<String> = (0..5000).map(|i| format!("project-name-{i}")).collect();
        let bin = layout::claim_bin_of(&all[0]);
        let inside: Vec<String> = all
            .iter()
            .filter(|p| layout::claim_bin_of(p) == bin)
            .take(n)
            .cloned()
            .collect();
        let outside = all
            .iter()
            .find(|p| layout::claim_bin_of(p) != bin)
            .unwrap()
            .clone();
        assert_eq!(inside.len(), n);
        (inside, outside)
    }

    #[test]
    fn promoting_a_project_drafts_its_new_bin_and_the_next_claimed() {
        let index = Index::new();
        let dev = key();
        index.claim("Demo_Project", &[&dev]);
        let docs = index.promote(&["demo.project"]).unwrap();
        let bin = layout::claim_bin_of("demo-project");
        let roles: Vec<OfflineRole> = docs.iter().map(Document::role).collect();
        assert_eq!(roles, [OfflineRole::ClaimBin(bin), OfflineRole::Claimed]);
        let [bin_doc, claimed] = &docs[..] else {
            panic!()
        };
        assert!(docs.iter().all(|d| d.signatures().is_empty()));
        assert_eq!(bin_doc.version(), 1);
        assert_eq!(claimed.version(), 2);
        assert_eq!(bin_doc.file_name(), format!("1.claimed-{bin:02x}.json"));
        // The project's delegation, exactly as the index trusts it.
        let listed = roles::claim_bin_projects(body(bin_doc)).unwrap();
        assert_eq!(
            String::from_utf8(listed["demo-project"].to_json()).unwrap(),
            index.stored_delegation("demo-project")
        );
        assert_eq!(names(bin_doc), ["project-demo-project"]);
        assert!(delegated(bin_doc)[0].terminating);
        // claimed delegates the bin, non-terminating, by hash prefix, to its own key.
        let [role] = &delegated(claimed)[..] else {
            panic!()
        };
        assert_eq!(role.name.as_str(), OfflineRole::ClaimBin(bin).name());
        assert!(!role.terminating);
        assert_eq!(
            role.paths,
            PathSpec::HashPrefixes(vec![layout::claim_bin_prefix(bin)])
        );
        assert_eq!(role.keys.keyids, [index.offline.claimed.key_id()]);
        assert!(role.paths.matches(&layout::page_target("demo-project")));

        index.install(&docs);
        let current = index.current();
        assert_eq!(versions(&current), [1, 1, 2, 1]);
        assert_eq!(
            current.claim_bins.keys().copied().collect::<Vec<_>>(),
            [bin]
        );
    }

    #[test]
    fn promotions_keep_every_bin_and_project_claimed_had() {
        let index = Index::new();
        let (same_bin, other) = names_in_bin(2);
        let (a, b) = (same_bin[0].as_str(), same_bin[1].as_str());
        let (bin_a, bin_c) = (layout::claim_bin_of(a), layout::claim_bin_of(&other));
        for project in [a, b, other.as_str()] {
            index.claim(project, &[&key()]);
        }
        // Two projects at once, into two new bins.
        let docs = index.promote(&[a, &other]).unwrap();
        let roles: Vec<OfflineRole> = docs.iter().map(Document::role).collect();
        let mut bins = vec![OfflineRole::ClaimBin(bin_a), OfflineRole::ClaimBin(bin_c)];
        bins.sort();
        bins.push(OfflineRole::Claimed);
        assert_eq!(roles, bins);
        index.install(&docs);

        // Then one more into an existing bin: that bin only, and claimed.
        let docs = index.promote(&[b]).unwrap();
        let [bin_doc, claimed] = &docs[..] else {
            panic!(
                "{:?}",
                docs.iter().map(Document::file_name).collect::<Vec<_>>()
            )
        };
        assert_eq!(bin_doc.role(), OfflineRole::ClaimBin(bin_a));
        assert_eq!(bin_doc.version(), 2);
        let mut expected = vec![format!("project-{a}"), format!("project-{b}")];
        expected.sort();
        assert_eq!(names(bin_doc), expected);
        assert_eq!(claimed.version(), 3);
        let mut delegated_bins = vec![
            OfflineRole::ClaimBin(bin_a).name(),
            OfflineRole::ClaimBin(bin_c).name(),
        ];
        delegated_bins.sort();
        assert_eq!(names(claimed), delegated_bins);
        index.install(&docs);
        let current = index.current();
        assert_eq!(current.claim_bins[&bin_a].signed.common.version, 2);
        assert_eq!(current.claim_bins[&bin_c].signed.common.version, 1);
    }

    #[test]
    fn projects_that_cannot_be_promoted_are_refused_each_by_name() {
        let index = Index::new();
        index.claim("promoted", &[&key()]);
        index.install(&index.promote(&["promoted"]).unwrap());
        index.upload("plain");
        index.claim("fine", &[&key()]);
        let err = index
            .promote(&["nobody", "plain", "-bad-", "promoted", "fine"])
            .unwrap_err();
        let CeremonyError::Projects(refusals) = &err else {
            panic!("{err}")
        };
        let bin = OfflineRole::ClaimBin(layout::claim_bin_of("promoted")).name();
        assert_eq!(
            refusals,
            &[
                ProjectRefusal::Unknown("nobody".to_owned()),
                ProjectRefusal::NotClaimed("plain".to_owned()),
                ProjectRefusal::InvalidName("-bad-".to_owned()),
                ProjectRefusal::AlreadyClaimed {
                    project: "promoted".to_owned(),
                    bin: bin.clone(),
                },
            ]
        );
        let text = err.to_string();
        for needle in [
            "project nobody does not exist on this index",
            "project plain is not claimed",
            "\"-bad-\" is not a valid project name",
            &format!("project promoted is already in claimed ({bin})"),
        ] {
            assert!(text.contains(needle), "{text}");
        }
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(index.promote(&["fine", "Fine"]).unwrap().len(), 2);
    }

    #[test]
    fn a_key_reset_replaces_the_projects_keys_and_nothing_else() {
        let index = Index::new();
        let (same_bin, _) = names_in_bin(2);
        let (lost, neighbour) = (same_bin[0].as_str(), same_bin[1].as_str());
        let (old, kept) = (key(), key());
        index.claim(lost, &[&old]);
        index.claim(neighbour, &[&kept]);
        index.install(&index.promote(&[lost, neighbour]).unwrap());
        let current = index.current();
        let bin = layout::claim_bin_of(lost);
        let before = roles::claim_bin_projects(&current.claim_bins[&bin].signed).unwrap();

        let (new1, new2) = (key(), key());
        let keys = [entry(&new1), entry(&new2)];
        let docs =
            reset_keys(&current, index.store.as_ref(), lost, &keys, 2, in_a_month()).unwrap();
        let [bin_doc, claimed] = &docs[..] else {
            panic!()
        };
        assert_eq!(
            (bin_doc.role(), bin_doc.version()),
            (OfflineRole::ClaimBin(bin), 2)
        );
        assert_eq!(
            (claimed.role(), claimed.version()),
            (OfflineRole::Claimed, 3)
        );
        assert_eq!(
            delegated(claimed).len(),
            1,
            "claimed delegates to the same bins"
        );
        let after = roles::claim_bin_projects(body(bin_doc)).unwrap();
        assert!(same(&after[neighbour], &before[neighbour]));
        let DelegatedRoles::List(reset_roles) = &after[lost].roles else {
            panic!()
        };
        let mut expected = vec![new1.key_id(), new2.key_id()];
        expected.sort();
        assert_eq!(
            reset_roles[0].keys,
            RoleKeys {
                keyids: expected,
                threshold: 2
            }
        );
        assert_eq!(reset_roles[0].name, layout::project_role(lost));
        assert!(reset_roles[0].terminating);
        let bin_keys = &body(bin_doc).delegations.as_ref().unwrap().keys;
        assert!(
            !bin_keys.contains_key(&old.key_id()),
            "the lost key is dropped"
        );
        assert!(bin_keys.contains_key(&kept.key_id()));
        index.install(&docs);
    }

    #[test]
    fn key_resets_are_refused_for_projects_not_in_claimed_and_for_unsound_keys() {
        let index = Index::new();
        index.claim("recent", &[&key()]);
        index.upload("plain");
        index.claim("promoted", &[&key()]);
        index.install(&index.promote(&["promoted"]).unwrap());
        let current = index.current();
        let new = entry(&key());
        let reset = |project: &str, keys: &[PublicKeyEntry], threshold: u64| {
            reset_keys(
                &current,
                index.store.as_ref(),
                project,
                keys,
                threshold,
                in_a_month(),
            )
            .unwrap_err()
        };
        for (project, refusal) in [
            (
                "recent",
                ProjectRefusal::RecentlyClaimed("recent".to_owned()),
            ),
            ("plain", ProjectRefusal::NotClaimed("plain".to_owned())),
            ("nobody", ProjectRefusal::Unknown("nobody".to_owned())),
            ("-x-", ProjectRefusal::InvalidName("-x-".to_owned())),
        ] {
            let err = reset(project, std::slice::from_ref(&new), 1);
            assert!(
                matches!(&err, CeremonyError::Projects(r) if r == std::slice::from_ref(&refusal)),
                "{project}: {err}"
            );
        }
        let plan = |err: CeremonyError| matches!(err, CeremonyError::Plan(_));
        assert!(plan(reset("promoted", std::slice::from_ref(&new), 0)));
        assert!(plan(reset("promoted", std::slice::from_ref(&new), 2)));
        assert!(plan(reset("promoted", &[new.clone(), new.clone()], 1)));
        assert!(plan(reset("promoted", &[entry(&index.offline.claimed)], 1)));
        let online = current.root.signed.roles["timestamp"].keyids[0].clone();
        let online = PublicKeyEntry {
            keyid: online.clone(),
            key: current.root.signed.keys[&online].clone(),
        };
        assert!(plan(reset("promoted", &[online], 1)));
        let installed = roles::claim_bin_projects(
            &current.claim_bins[&layout::claim_bin_of("promoted")].signed,
        )
        .unwrap();
        let same_keys: Vec<PublicKeyEntry> = installed["promoted"]
            .keys
            .iter()
            .map(|(id, key)| PublicKeyEntry {
                keyid: id.clone(),
                key: key.clone(),
            })
            .collect();
        assert!(plan(reset("promoted", &same_keys, 1)));
    }

    #[test]
    fn claimed_and_its_bins_get_the_short_claimed_expiry() {
        assert_eq!(Policy::default().claimed_expiry, 30 * 86_400);
        let index = Index::new();
        index.claim("demo", &[&key()]);
        let docs = index.promote(&["demo"]).unwrap();
        assert!(docs.iter().all(|d| d.expires() == in_a_month()));
        index.install(&docs);
        let later = in_a_month().plus_seconds(86_400);
        let renewed = renew_claimed(&index.current(), later);
        let roles: Vec<(OfflineRole, u64)> =
            renewed.iter().map(|d| (d.role(), d.version())).collect();
        let bin = OfflineRole::ClaimBin(layout::claim_bin_of("demo"));
        assert_eq!(roles, [(bin, 2), (OfflineRole::Claimed, 3)]);
        assert!(renewed.iter().all(|d| d.expires() == later));
        let installed = index.current();
        let body_of = |role| body(&installed.document(role).unwrap()).clone();
        for (doc, role) in renewed.iter().zip([bin, OfflineRole::Claimed]) {
            let mut before = body_of(role);
            before.common.version += 1;
            before.common.expires = later;
            assert_eq!(
                doc.canonical_signed(),
                Envelope::new(before).canonical_signed(),
                "only the version and expiry change"
            );
        }
        index.install(&renewed);
    }

    #[test]
    fn a_claim_bin_signed_by_a_key_claimed_does_not_delegate_it_to_is_refused() {
        let index = Index::new();
        index.claim("demo", &[&key()]);
        let docs = index.promote(&["demo"]).unwrap();
        let current = index.current();
        let [bin_doc, claimed] = &docs[..] else {
            panic!()
        };
        let claimed = index.sign_all(std::slice::from_ref(claimed)).remove(0);
        let by_claimed = Authority::Delegator(as_targets(&claimed));
        // Keys of other roles cannot sign it…
        for wrong in [&index.offline.unclaimed, &index.offline.targets] {
            assert!(matches!(
                sign(bin_doc, wrong, by_claimed),
                Err(CeremonyError::Unauthorised { .. })
            ));
        }
        // …nor does targets authorise anyone for it.
        assert!(matches!(
            sign(
                bin_doc,
                &index.offline.claimed,
                Authority::Delegator(&current.targets)
            ),
            Err(CeremonyError::NotDelegated { .. })
        ));
        assert!(matches!(
            sign(bin_doc, &index.offline.claimed, Authority::None),
            Err(CeremonyError::NeedsAuthority {
                needs: "the claimed metadata that delegates to it",
                ..
            })
        ));
        // Signed by hand with the unclaimed key, install refuses it.
        let Body::Targets(envelope) = bin_doc.body() else {
            panic!()
        };
        let mut forged = envelope.clone();
        forged.sign(&index.offline.unclaimed).unwrap();
        let forged = Document::parse(bin_doc.role(), &forged.to_bytes()).unwrap();
        let err = plan_install(Some(&current), &[forged, claimed.clone()], NOW).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { role: OfflineRole::ClaimBin(_), valid: 0, by, .. } if by == "claimed version 2"),
            "{err}"
        );
        // claimed alone delegates to a bin nobody has.
        let err = plan_install(Some(&current), std::slice::from_ref(&claimed), NOW).unwrap_err();
        assert!(matches!(err, CeremonyError::MissingClaimBin(_)), "{err}");
        // A bin alone, which the installed claimed does not delegate to.
        let bin_signed = signed(bin_doc, &[&index.offline.claimed], by_claimed).unwrap();
        let err = plan_install(Some(&current), std::slice::from_ref(&bin_signed), NOW).unwrap_err();
        assert!(matches!(err, CeremonyError::NotDelegated { .. }), "{err}");
        plan_install(Some(&current), &[bin_signed, claimed], NOW).unwrap();
    }

    #[test]
    fn install_refuses_claim_bins_that_break_the_layout() {
        let index = Index::new();
        let (same_bin, outside) = names_in_bin(2);
        let (a, b) = (same_bin[0].as_str(), same_bin[1].as_str());
        for project in [a, b, outside.as_str()] {
            index.claim(project, &[&key()]);
        }
        index.install(&index.promote(&[a, b]).unwrap());
        let current = index.current();
        let bin = layout::claim_bin_of(a);
        let projects = roles::claim_bin_projects(&current.claim_bins[&bin].signed).unwrap();
        let edited = |projects: &BTreeMap<String, Delegations>| {
            let docs = vec![
                next_bin(&current, bin, projects, in_a_month()),
                next_claimed(&current, &BTreeSet::new(), in_a_month()).unwrap(),
            ];
            plan_install(Some(&current), &index.sign_all(&docs), NOW).unwrap_err()
        };
        // Dropping a claimed project.
        let mut fewer = projects.clone();
        fewer.remove(b);
        let err = edited(&fewer);
        assert!(
            matches!(&err, CeremonyError::Incoherent(why) if why.contains(&format!("drops project-{b}"))),
            "{err}"
        );
        // A project whose page hashes into another bin.
        let mut misplaced = projects.clone();
        let json = delegation_json(&outside, &[&key()], 1);
        misplaced.insert(
            outside.clone(),
            Delegations::from_json(json.as_bytes()).unwrap(),
        );
        let err = edited(&misplaced);
        assert!(
            matches!(&err, CeremonyError::Incoherent(why) if why.contains("belongs in")),
            "{err}"
        );
        // A threshold its keys cannot meet.
        let mut unmet = projects.clone();
        let json = delegation_json(a, &[&key()], 2);
        unmet.insert(
            a.to_owned(),
            Delegations::from_json(json.as_bytes()).unwrap(),
        );
        let err = edited(&unmet);
        assert!(
            matches!(&err, CeremonyError::Incoherent(why) if why.contains("threshold 2")),
            "{err}"
        );
    }

    #[test]
    fn install_refuses_a_promotion_whose_keys_changed_on_the_index() {
        let index = Index::new();
        index.claim("demo", &[&key()]);
        index.upload("plain");
        let docs = index.sign_all(&index.promote(&["demo"]).unwrap());
        let current = index.current();
        check_against_claims(Some(&current), &docs, index.store.as_ref()).unwrap();
        // The developers change their keys (a recently-claimed key change).
        index
            .store
            .set_claim_delegation(
                "demo",
                ClaimTier::RecentlyClaimed,
                &delegation_json("demo", &[&key()], 1),
            )
            .unwrap();
        let err = check_against_claims(Some(&current), &docs, index.store.as_ref()).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::Projects(r) if r == &[ProjectRefusal::Changed("demo".to_owned())]),
            "{err}"
        );
        // A bin naming a project the index has not seen claimed.
        let bin = layout::claim_bin_of("plain");
        let json = delegation_json("plain", &[&key()], 1);
        let projects = BTreeMap::from([(
            "plain".to_owned(),
            Delegations::from_json(json.as_bytes()).unwrap(),
        )]);
        let docs = vec![
            next_bin(&current, bin, &projects, in_a_month()),
            next_claimed(&current, &BTreeSet::from([bin]), in_a_month()).unwrap(),
        ];
        let err = check_against_claims(Some(&current), &docs, index.store.as_ref()).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::Projects(r) if r == &[ProjectRefusal::NotClaimed("plain".to_owned())]),
            "{err}"
        );
    }

    #[test]
    fn the_publisher_adopts_promotions_and_key_resets() {
        let index = Index::new();
        let old = key();
        index.claim("demo", &[&old]);
        let recent_bin =
            layout::claim_bin_name(layout::RECENTLY_CLAIMED, layout::claim_bin_of("demo"));
        index.publisher.run_once(NOW).unwrap().unwrap();
        assert_eq!(index.published_projects(&recent_bin), ["demo"]);
        // The developers' page, under its sha256 name alone.
        assert_eq!(
            index
                .blobs
                .list(&format!("{}simple/demo/", layout::TARGETS_PREFIX))
                .unwrap()
                .len(),
            1
        );
        assert!(!index.publisher.offline_waiting().unwrap());

        let docs = index.promote(&["demo"]).unwrap();
        index.install(&docs);
        assert!(index.publisher.offline_waiting().unwrap());
        index.publisher.run_once(NOW).unwrap().unwrap();
        assert!(!index.publisher.offline_waiting().unwrap());
        let claim = index.store.claim("demo").unwrap().unwrap();
        assert_eq!(claim.tier, ClaimTier::Claimed);
        let claimed_bin = OfflineRole::ClaimBin(layout::claim_bin_of("demo")).name();
        assert_eq!(index.published_projects(&claimed_bin), ["demo"]);
        assert!(
            index.published_projects(&recent_bin).is_empty(),
            "the same run drops it from recently-claimed"
        );

        let new = key();
        let docs = reset_keys(
            &index.current(),
            index.store.as_ref(),
            "demo",
            &[entry(&new)],
            1,
            in_a_month(),
        )
        .unwrap();
        index.install(&docs);
        index.publisher.run_once(NOW).unwrap().unwrap();
        let trusted = Delegations::from_json(index.stored_delegation("demo").as_bytes()).unwrap();
        assert_eq!(
            trusted.keys.keys().collect::<Vec<_>>(),
            [&new.key_id()],
            "the index now checks the developers' transactions against the new key"
        );
        assert_eq!(
            index.store.claim("demo").unwrap().unwrap().tier,
            ClaimTier::Claimed
        );

        // A claim bin installed alone, under the installed claimed, is
        // published too.
        let bin = OfflineRole::ClaimBin(layout::claim_bin_of("demo"));
        let alone = crate::ceremony::renew(&index.current(), bin, in_a_month()).unwrap();
        index.install(&[alone]);
        assert!(index.publisher.offline_waiting().unwrap());
        index.publisher.run_once(NOW).unwrap().unwrap();
        let published = index.store.roles().unwrap();
        let version = |role: &str| published.iter().find(|r| r.role == role).unwrap().version;
        assert_eq!((version(&claimed_bin), version("claimed")), (3, 3));
    }
}
