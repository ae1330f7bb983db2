//! The index's checks on a project transaction of a developer-claimed
//! project (PEP 480 "Snapshot Process"; issue 11, "The index's side"):
//! the project's new signed role, its new page and the records of the
//! files uploaded with them are checked together, before anything is
//! stored. Pure: bytes, trusted state and `now` in; a
//! [`VerifiedTransaction`] or the one [`TransactionRefused`] variant of the
//! check that failed out.
//!
//! ```text
//! role bytes ─▶ Envelope<Targets> ─▶ 1, 2 threshold::check (bulwark-tuf, the only count)
//!   (or the trusted role)         ─▶ 3 version ─▶ 4 expiry ─▶ 5 targets ─▶ 8 nested delegations
//! nested role bytes… ─▶ 9 rules 1–5 against the project role's delegation, one level
//! project role + nested roles (new, else trusted) ─▶ 10 the role TUF finds the page in
//! page bytes ─▶ 6 length and hashes that role lists
//!            ─▶ 7 ProjectPage::parse_json ─▶ renders to the same bytes, layout URLs,
//!                 previous files unchanged + uploads as inspected ─▶ VerifiedTransaction
//! ```
//!
//! The checks run in the order of the diagram: nothing the role says is
//! looked at before its signatures are, and the page is read only once it
//! is known to be the page the developers signed. The trusted state (the
//! delegation, the previous role and page) is the caller's: it comes from
//! metadata the index already verified and published.
//!
//! The developer's side is `build`: [`next_page`], [`yank_page`] and
//! [`unyank_page`] make the next page from the previous verified one,
//! [`sign_project_role`] signs the role listing it. Both sides describe an
//! upload by one [`UploadedFile`], made from the inspection
//! (`UploadedFile::from(&Inspected)`) that a twine upload gets too.

mod build;
#[cfg(test)]
mod nested_tests;
mod offer;
mod page;
mod refused;
#[cfg(test)]
mod roundtrip;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use bulwark_pypi::{DistFilename, Inspected, PageFile, ProjectName, ProjectPage, UploadTime};
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::{self, sha256_hex};
use bulwark_tuf::metadata::{Envelope, Key, TargetFile, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use crate::layout::{file_url, nested_role_prefix, page_target, project_role};

pub use build::{
    BuildError, nested_delegation, next_page, next_role_version, sign_delegating_role,
    sign_project_role, unyank_page, yank_page,
};
pub use offer::{InvalidDelegation, MAX_PROJECT_KEYS, OfferedDelegation, offered_delegation};
pub use refused::{
    DelegationProblem, ExpiryProblem, NestedProblem, PageBytesProblem, PageProblem,
    RequiredVersion, TargetsProblem, TransactionRefused, TreeProblem,
};

/// The default of [`TransactionPolicy::max_expiry`]: 400 days, a year of
/// validity plus a margin for developers who re-sign yearly.
pub const DEFAULT_MAX_EXPIRY: i64 = 400 * 86_400;

/// A project's delegation as the index trusts it: the terminating
/// delegation named `project-<name>` to the developers' keys, with its
/// threshold and paths, and the keys it names.
#[derive(Clone, Debug)]
pub struct ProjectDelegation {
    project: ProjectName,
    role: DelegatedRole,
    keys: BTreeMap<String, Key>,
}

/// A delegation given as a project's that is not named after the project:
/// a mistake of the caller, never caused by offered bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("delegation {found:?} is not {expected}, the role of the project")]
pub struct NotProjectRole {
    /// The delegation's name.
    pub found: String,
    /// The project's role name.
    pub expected: RoleName,
}

impl ProjectDelegation {
    /// The delegation `role` of `project`, with the delegator's `keys`
    /// (keys the delegation does not list are never used).
    pub fn new(
        project: ProjectName,
        role: DelegatedRole,
        keys: BTreeMap<String, Key>,
    ) -> Result<Self, NotProjectRole> {
        let expected = project_role(project.normalized());
        if role.name != expected {
            return Err(NotProjectRole {
                found: role.name.as_str().to_owned(),
                expected,
            });
        }
        Ok(Self {
            project,
            role,
            keys,
        })
    }

    /// The project.
    #[must_use]
    pub fn project(&self) -> &ProjectName {
        &self.project
    }

    /// The delegation.
    #[must_use]
    pub fn role(&self) -> &DelegatedRole {
        &self.role
    }
}

/// What the index published for the project before this transaction,
/// already trusted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Previous<'a> {
    /// The project role's published version, if it has one.
    pub role: Option<&'a Targets>,
    /// The project's published page, if it has one (for a first claim, the
    /// page its bin signed).
    pub page: Option<&'a ProjectPage>,
    /// The published version of each nested role (`project-<name>.<label>`)
    /// the index accepted before.
    pub nested: &'a [TrustedNested],
}

/// A nested role's version the index accepted and published.
#[derive(Clone, Debug)]
pub struct TrustedNested {
    /// The role's name, `project-<name>.<label>`.
    pub name: RoleName,
    /// Its metadata, as accepted.
    pub metadata: Envelope<Targets>,
}

/// A nested role's new metadata, offered under the name of the role the
/// project role delegates to.
#[derive(Clone, Copy, Debug)]
pub struct OfferedNested<'a> {
    /// The role's name, `project-<name>.<label>` (TUF metadata does not
    /// name its role: the delegation does).
    pub name: &'a str,
    /// The role's signed metadata.
    pub role: &'a [u8],
}

/// A file uploaded with the transaction, as the upload inspection that a
/// twine upload gets (`bulwark_pypi::inspect`) described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedFile {
    /// The distribution filename.
    pub filename: DistFilename,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// BLAKE2b-256, lowercase hex.
    pub blake2b_256: String,
    /// Size in bytes.
    pub size: u64,
    /// `Requires-Python` of its core metadata, if any.
    pub requires_python: Option<String>,
    /// SHA-256 of the PEP 658 `.metadata` file served beside it, if any.
    pub core_metadata_sha256: Option<String>,
}

impl From<&Inspected> for UploadedFile {
    /// The record of an upload that passed inspection: what the index
    /// stores for a twine upload and checks a developer's page against,
    /// and what `bulwark upload` lists on the page it signs.
    fn from(inspected: &Inspected) -> Self {
        Self {
            filename: inspected.filename.clone(),
            sha256: inspected.sha256.clone(),
            blake2b_256: inspected.blake2b_256.clone(),
            size: inspected.size,
            requires_python: inspected.metadata.requires_python().map(str::to_owned),
            core_metadata_sha256: inspected.core_metadata_sha256(),
        }
    }
}

impl From<&PageFile> for UploadedFile {
    /// The record an upload of the file a page describes must have. A file
    /// listed without size or BLAKE2b-256 (as only upstream files are)
    /// has size 0 and an empty digest here, which no upload has.
    fn from(file: &PageFile) -> Self {
        Self {
            filename: file.filename.clone(),
            sha256: file.sha256.clone(),
            blake2b_256: file.blake2b_256.clone().unwrap_or_default(),
            size: file.size.unwrap_or(0),
            requires_python: file.requires_python.clone(),
            core_metadata_sha256: file.core_metadata_sha256.clone(),
        }
    }
}

impl UploadedFile {
    /// The file as a page lists it when it is new: linked at the layout's
    /// relative URL (DESIGN.md §2), uploaded at `upload_time`, not yanked.
    #[must_use]
    pub fn page_file(&self, upload_time: UploadTime) -> PageFile {
        PageFile {
            url: file_url(&self.sha256, self.filename.as_str()),
            filename: self.filename.clone(),
            sha256: self.sha256.clone(),
            blake2b_256: Some(self.blake2b_256.clone()),
            size: Some(self.size),
            requires_python: self.requires_python.clone(),
            yanked: None,
            core_metadata_sha256: self.core_metadata_sha256.clone(),
            upload_time,
        }
    }
}

/// What a developer offers in one transaction.
#[derive(Clone, Copy, Debug)]
pub struct Offered<'a> {
    /// The new `project-<name>` metadata, signed by developer keys; `None`
    /// keeps the trusted one (a CI key signs only its nested role).
    pub role: Option<&'a [u8]>,
    /// New versions of nested roles the project role delegates to.
    pub nested: &'a [OfferedNested<'a>],
    /// The new page, `simple/<name>/index.json`.
    pub page: &'a [u8],
    /// The files uploaded with it, each already inspected.
    pub uploads: &'a [UploadedFile],
}

/// The index's bounds on what developers sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionPolicy {
    /// How far ahead of `now` a project role may expire, in seconds.
    pub max_expiry: i64,
}

impl Default for TransactionPolicy {
    fn default() -> Self {
        Self {
            max_expiry: DEFAULT_MAX_EXPIRY,
        }
    }
}

/// A transaction that passed every check; only [`check`] builds one.
#[derive(Clone, Debug)]
pub struct VerifiedTransaction {
    role: RoleName,
    version: u64,
    expires: Timestamp,
    metadata: Option<Envelope<Targets>>,
    nested: Vec<VerifiedNested>,
    lister: RoleName,
    page_target: String,
    page_length: u64,
    page_sha256: String,
    page: ProjectPage,
    added: Vec<PageFile>,
    yank_changed: Vec<PageFile>,
}

impl VerifiedTransaction {
    /// The project role's name.
    #[must_use]
    pub fn role(&self) -> &RoleName {
        &self.role
    }

    /// The project role's version: the new one, or the trusted one when
    /// the transaction keeps it.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When that version expires.
    #[must_use]
    pub fn expires(&self) -> Timestamp {
        self.expires
    }

    /// The new project role as offered and verified; `None` when the
    /// transaction keeps the trusted one.
    #[must_use]
    pub fn metadata(&self) -> Option<&Envelope<Targets>> {
        self.metadata.as_ref()
    }

    /// The nested roles offered and verified, in the order offered.
    #[must_use]
    pub fn nested(&self) -> &[VerifiedNested] {
        &self.nested
    }

    /// The role that lists the page: the project role or a nested role,
    /// the first that TUF's pre-order search reaches.
    #[must_use]
    pub fn lister(&self) -> &RoleName {
        &self.lister
    }

    /// The page's target path, `simple/<name>/index.json`.
    #[must_use]
    pub fn page_target(&self) -> &str {
        &self.page_target
    }

    /// The page's length in bytes.
    #[must_use]
    pub fn page_length(&self) -> u64 {
        self.page_length
    }

    /// The page's SHA-256, lowercase hex, which names it in consistent
    /// snapshots.
    #[must_use]
    pub fn page_sha256(&self) -> &str {
        &self.page_sha256
    }

    /// The new page, parsed.
    #[must_use]
    pub fn page(&self) -> &ProjectPage {
        &self.page
    }

    /// The uploaded files that are new on the page, as the page lists them
    /// (the index stores these values, upload time included, so that its
    /// live page stays byte for byte the signed one).
    #[must_use]
    pub fn added(&self) -> &[PageFile] {
        &self.added
    }

    /// The records the index stores for the files the transaction adds,
    /// uploaded by `uploader`, with the upload times and yank states the
    /// signed page gives them (so that the index's own rendering of them
    /// agrees with the page).
    #[must_use]
    pub fn added_records(&self, uploader: &str) -> Vec<bulwark_store::FileRecord> {
        self.added
            .iter()
            .map(|file| {
                let mut record = crate::page::file_record(
                    &UploadedFile::from(file),
                    uploader,
                    file.upload_time.unix_micros(),
                );
                record.yanked.clone_from(&file.yanked);
                record
            })
            .collect()
    }

    /// Previously signed files whose `yanked` changed, as the page lists them.
    #[must_use]
    pub fn yank_changed(&self) -> &[PageFile] {
        &self.yank_changed
    }
}

/// A nested role's new version that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedNested {
    name: RoleName,
    metadata: Envelope<Targets>,
}

impl VerifiedNested {
    /// The role's name, `project-<name>.<label>`.
    #[must_use]
    pub fn name(&self) -> &RoleName {
        &self.name
    }

    /// Its new version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.metadata.signed.common.version
    }

    /// When it expires.
    #[must_use]
    pub fn expires(&self) -> Timestamp {
        self.metadata.signed.common.expires
    }

    /// The verified role, as offered.
    #[must_use]
    pub fn metadata(&self) -> &Envelope<Targets> {
        &self.metadata
    }
}

/// Runs every check of a project transaction (PEP 480 "Snapshot Process")
/// at `now`, in this order:
///
/// Rules 1 to 5 and 8 apply to the project role when the transaction
/// offers one (without one, the trusted role stays, unexpired, and at
/// least one nested role must be offered):
///
/// 1. a threshold of the delegation's keys signed the role, and
/// 2. only valid signatures count; malformed metadata is refused
///    ([`TransactionRefused::Threshold`], [`TransactionRefused::Malformed`]);
/// 3. the version is 1, or greater than the trusted one
///    ([`TransactionRefused::Version`]);
/// 4. the role has not expired and expires within
///    [`TransactionPolicy::max_expiry`] ([`TransactionRefused::Expiry`]);
/// 5. it lists no target but the project's page, within its delegated
///    paths, and lists the page unless it delegates
///    ([`TransactionRefused::Targets`]);
/// 8. every delegation inside it stays within those paths, is named inside
///    the project's namespace and has a threshold its keys can meet
///    ([`TransactionRefused::Delegation`]);
/// 9. each nested role offered is delegated by the project role (the new
///    one, or the trusted one when none is offered), and passes rules 1 to
///    5 against that delegation and its trusted version; it delegates no
///    further ([`TransactionRefused::Nested`]);
/// 10. the page is listed by the role TUF's pre-order search reaches
///     first: the project role itself, or else the first nested role (new
///     or trusted) whose paths match the page and that lists it, with no
///     terminating role before it; every trusted nested role stays
///     delegated and a nested role reached on the way verifies with the
///     keys delegated now ([`TransactionRefused::Tree`]);
/// 6. the page has the length and sha256, its only hash, that role lists
///    ([`TransactionRefused::PageBytes`]);
/// 7. the page is the previous page plus the uploads
///    ([`TransactionRefused::Page`]).
pub fn check(
    delegation: &ProjectDelegation,
    previous: Previous<'_>,
    offered: Offered<'_>,
    now: Timestamp,
    policy: &TransactionPolicy,
) -> Result<VerifiedTransaction, TransactionRefused> {
    let role = &delegation.role.name;
    let target = page_target(delegation.project.normalized());
    let metadata = match offered.role {
        Some(bytes) => Some(check_project_role(
            delegation, previous, bytes, now, policy, &target,
        )?),
        None => None,
    };
    let project = match (&metadata, previous.role) {
        (Some(new), _) => &new.signed,
        (None, Some(trusted)) if !offered.nested.is_empty() => {
            // Clients still check the kept role's expiry.
            if trusted.common.expires <= now {
                return Err(TransactionRefused::Expiry(ExpiryProblem::Expired {
                    expires: trusted.common.expires,
                }));
            }
            trusted
        }
        (None, Some(_)) => return Err(TransactionRefused::Tree(TreeProblem::NothingSigned)),
        (None, None) => return Err(TransactionRefused::Tree(TreeProblem::NoProjectRole)),
    };
    let empty = Delegations {
        keys: BTreeMap::new(),
        roles: DelegatedRoles::List(Vec::new()),
        unknown: BTreeMap::new(),
    };
    let delegated = project.delegations.as_ref().unwrap_or(&empty);
    let nested = check_offered_nested(
        delegated,
        previous.nested,
        offered.nested,
        &target,
        now,
        policy,
    )?;
    let tree = Tree {
        project,
        project_changed: metadata.is_some(),
        delegated,
        trusted: previous.nested,
        offered: &nested,
    };
    let (lister, listing) = tree.page_lister(role, &target, now)?;
    let page_sha256 =
        check_page_bytes(offered.page, listing).map_err(TransactionRefused::PageBytes)?;
    let changes = page::check(
        &delegation.project,
        offered.page,
        previous.page,
        offered.uploads,
    )
    .map_err(TransactionRefused::Page)?;
    Ok(VerifiedTransaction {
        role: role.clone(),
        version: project.common.version,
        expires: project.common.expires,
        lister,
        page_target: target,
        page_length: offered.page.len() as u64,
        page_sha256,
        page: changes.page,
        added: changes.added,
        yank_changed: changes.yank_changed,
        nested,
        metadata,
    })
}

/// Rules 1 to 5 and 8 on the offered project role.
fn check_project_role(
    delegation: &ProjectDelegation,
    previous: Previous<'_>,
    bytes: &[u8],
    now: Timestamp,
    policy: &TransactionPolicy,
    page: &str,
) -> Result<Envelope<Targets>, TransactionRefused> {
    let metadata = Envelope::<Targets>::parse(bytes).map_err(TransactionRefused::Malformed)?;
    metadata
        .check_signatures(
            &delegation.role.name,
            &delegation.keys,
            &delegation.role.keys,
        )
        .map_err(TransactionRefused::Threshold)?;
    let body = &metadata.signed;
    check_version(body.common.version, previous.role.map(|r| r.common.version)).map_err(
        |required| TransactionRefused::Version {
            offered: body.common.version,
            required,
        },
    )?;
    check_expiry(body.common.expires, now, policy).map_err(TransactionRefused::Expiry)?;
    let listed =
        listed_targets(body, &delegation.role.paths, page).map_err(TransactionRefused::Targets)?;
    let delegates = body
        .delegations
        .as_ref()
        .is_some_and(|d| !matches!(&d.roles, DelegatedRoles::List(roles) if roles.is_empty()));
    // A role that delegates may leave the page to a nested role.
    if listed.is_none() && !delegates {
        return Err(TransactionRefused::Targets(TargetsProblem::NoPage {
            page: page.to_owned(),
        }));
    }
    if let Some(nested) = &body.delegations {
        check_nested(nested, delegation).map_err(TransactionRefused::Delegation)?;
    }
    Ok(metadata)
}

/// Rule 9: every offered nested role, against the project role's
/// delegations `delegated` and the trusted nested roles.
fn check_offered_nested(
    delegated: &Delegations,
    trusted: &[TrustedNested],
    offered: &[OfferedNested<'_>],
    page: &str,
    now: Timestamp,
    policy: &TransactionPolicy,
) -> Result<Vec<VerifiedNested>, TransactionRefused> {
    let mut verified: Vec<VerifiedNested> = Vec::with_capacity(offered.len());
    for nested in offered {
        let Some(role) = delegated_role(delegated, nested.name) else {
            return Err(TransactionRefused::Tree(TreeProblem::NotDelegated {
                role: nested.name.to_owned(),
            }));
        };
        if verified.iter().any(|v| v.name == role.name) {
            return Err(TransactionRefused::Tree(TreeProblem::OfferedTwice {
                role: nested.name.to_owned(),
            }));
        }
        let refused = |problem| TransactionRefused::Nested {
            role: nested.name.to_owned(),
            problem,
        };
        let metadata = Envelope::<Targets>::parse(nested.role)
            .map_err(|e| refused(NestedProblem::Malformed(e)))?;
        metadata
            .check_signatures(&role.name, &delegated.keys, &role.keys)
            .map_err(|e| refused(NestedProblem::Threshold(e)))?;
        let body = &metadata.signed;
        let before = trusted
            .iter()
            .find(|t| t.name == role.name)
            .map(|t| t.metadata.signed.common.version);
        check_version(body.common.version, before).map_err(|required| {
            refused(NestedProblem::Version {
                offered: body.common.version,
                required,
            })
        })?;
        check_expiry(body.common.expires, now, policy)
            .map_err(|e| refused(NestedProblem::Expiry(e)))?;
        listed_targets(body, &role.paths, page).map_err(|e| refused(NestedProblem::Targets(e)))?;
        if body
            .delegations
            .as_ref()
            .is_some_and(|d| !matches!(&d.roles, DelegatedRoles::List(roles) if roles.is_empty()))
        {
            return Err(refused(NestedProblem::Delegates));
        }
        verified.push(VerifiedNested {
            name: role.name.clone(),
            metadata,
        });
    }
    Ok(verified)
}

/// The role `name` among the roles `delegations` lists.
fn delegated_role<'d>(delegations: &'d Delegations, name: &str) -> Option<&'d DelegatedRole> {
    match &delegations.roles {
        DelegatedRoles::List(roles) => roles.iter().find(|r| r.name.as_str() == name),
        DelegatedRoles::Succinct(_) => None,
    }
}

/// The project's roles after the transaction, for rule 10.
struct Tree<'t> {
    project: &'t Targets,
    project_changed: bool,
    delegated: &'t Delegations,
    trusted: &'t [TrustedNested],
    offered: &'t [VerifiedNested],
}

impl<'t> Tree<'t> {
    /// Rule 10: the role clients find the page in, and its listing.
    fn page_lister(
        &self,
        project_role: &RoleName,
        page: &str,
        now: Timestamp,
    ) -> Result<(RoleName, &'t TargetFile), TransactionRefused> {
        let tree = TransactionRefused::Tree;
        let roles: &[DelegatedRole] = match &self.delegated.roles {
            DelegatedRoles::List(roles) => roles,
            DelegatedRoles::Succinct(_) => &[],
        };
        // Snapshots never drop a role, and every role they list stays
        // reachable.
        if let Some(dropped) = self
            .trusted
            .iter()
            .find(|t| !roles.iter().any(|r| r.name == t.name))
        {
            return Err(tree(TreeProblem::Dropped {
                role: dropped.name.as_str().to_owned(),
            }));
        }
        let mut found = self
            .project
            .targets
            .get(page)
            .map(|listed| (project_role.clone(), listed));
        for role in roles {
            if found.is_some() {
                break;
            }
            if !role.paths.matches(page) {
                continue;
            }
            let name = role.name.as_str().to_owned();
            let body = if let Some(new) = self.offered.iter().find(|v| v.name == role.name) {
                &new.metadata.signed
            } else if let Some(kept) = self.trusted.iter().find(|t| t.name == role.name) {
                // A kept role clients will load must still verify under the
                // keys delegated now, and not have expired.
                if self.project_changed {
                    kept.metadata
                        .check_signatures(&role.name, &self.delegated.keys, &role.keys)
                        .map_err(|e| TransactionRefused::Nested {
                            role: name.clone(),
                            problem: NestedProblem::Threshold(e),
                        })?;
                }
                let expires = kept.metadata.signed.common.expires;
                if expires <= now {
                    return Err(TransactionRefused::Nested {
                        role: name,
                        problem: NestedProblem::Expiry(ExpiryProblem::Expired { expires }),
                    });
                }
                &kept.metadata.signed
            } else {
                return Err(tree(TreeProblem::Missing { role: name }));
            };
            match body.targets.get(page) {
                Some(listed) => found = Some((role.name.clone(), listed)),
                None if role.terminating => {
                    return Err(tree(TreeProblem::TerminatingBeforePage { role: name }));
                }
                None => {}
            }
        }
        let (lister, listing) = found.ok_or(tree(TreeProblem::PageNotReached))?;
        // Exactly one role lists the page: a new nested role listing it
        // where clients never look is a mistake of its signers.
        if let Some(other) = self
            .offered
            .iter()
            .find(|v| v.name != lister && v.metadata.signed.targets.contains_key(page))
        {
            return Err(tree(TreeProblem::ListedTwice {
                role: other.name.as_str().to_owned(),
            }));
        }
        Ok((lister, listing))
    }
}

/// Rule 3: strictly greater than the trusted version, 1 without one.
fn check_version(offered: u64, trusted: Option<u64>) -> Result<(), RequiredVersion> {
    let (required, allowed) = match trusted {
        None => (RequiredVersion::First, offered == 1),
        Some(trusted) => (RequiredVersion::After(trusted), offered > trusted),
    };
    if allowed { Ok(()) } else { Err(required) }
}

/// Rule 4: not expired at `now`, and not beyond the policy's bound.
fn check_expiry(
    expires: Timestamp,
    now: Timestamp,
    policy: &TransactionPolicy,
) -> Result<(), ExpiryProblem> {
    // The same comparison the client makes (spec §5.6.5).
    if expires <= now {
        return Err(ExpiryProblem::Expired { expires });
    }
    let latest = now.plus_seconds(policy.max_expiry);
    if expires > latest {
        return Err(ExpiryProblem::TooFar { expires, latest });
    }
    Ok(())
}

/// Rule 5: every target within the delegated `paths`, and the only one
/// the page; returns the page's description if listed.
fn listed_targets<'b>(
    body: &'b Targets,
    paths: &PathSpec,
    page: &str,
) -> Result<Option<&'b TargetFile>, TargetsProblem> {
    for path in body.targets.keys() {
        if !paths.matches(path) {
            return Err(TargetsProblem::OutsideDelegation { path: path.clone() });
        }
        if path != page {
            return Err(TargetsProblem::NotThePage {
                path: path.clone(),
                page: page.to_owned(),
            });
        }
    }
    Ok(body.targets.get(page))
}

/// Rule 8: delegations inside the project role.
fn check_nested(
    nested: &Delegations,
    delegation: &ProjectDelegation,
) -> Result<(), DelegationProblem> {
    let DelegatedRoles::List(roles) = &nested.roles else {
        return Err(DelegationProblem::Succinct);
    };
    let prefix = nested_role_prefix(delegation.project.normalized());
    for role in roles {
        let name = role.name.as_str();
        if name.strip_prefix(&prefix).is_none_or(str::is_empty) {
            return Err(DelegationProblem::RoleName {
                role: name.to_owned(),
                prefix,
            });
        }
        if let Some(pattern) = role.paths.first_outside(&delegation.role.paths) {
            return Err(DelegationProblem::PathOutside {
                role: name.to_owned(),
                pattern: pattern.to_owned(),
            });
        }
        // Key IDs listed under their true ID are distinct keys (see
        // `Key::verifier`), so this is the most `threshold::check` can count.
        let usable = role
            .keys
            .keyids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| nested.keys.get(*id).and_then(Key::verifier).is_some())
            .count() as u64;
        let threshold = role.keys.threshold;
        if threshold == 0 || threshold > usable {
            return Err(DelegationProblem::Threshold {
                role: name.to_owned(),
                threshold,
                keys: usable,
            });
        }
    }
    Ok(())
}

/// Rule 6: the page is the one the role lists; returns its SHA-256.
fn check_page_bytes(page: &[u8], listed: &TargetFile) -> Result<String, PageBytesProblem> {
    let sha256 = listed
        .hashes
        .get("sha256")
        .ok_or(PageBytesProblem::NoSha256)?;
    hash::check_meta(page, Some(listed.length), Some(&listed.hashes))?;
    let others: Vec<String> = listed
        .hashes
        .keys()
        .filter(|name| *name != "sha256")
        .cloned()
        .collect();
    if !others.is_empty() {
        return Err(PageBytesProblem::OtherHashes(others));
    }
    let actual = sha256_hex(page);
    // Clients fetch the page by the listed string (spec §5.7.3), and the
    // index stores it under its lowercase digest: they must be one name.
    if *sha256 != actual {
        return Err(PageBytesProblem::Sha256NotLowercase);
    }
    Ok(actual)
}
