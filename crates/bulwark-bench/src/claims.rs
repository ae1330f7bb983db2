//! Developer-claimed projects (PEP 480) on a benchmark repository, made
//! the way the index gets them: a developer key per project, version 1 of
//! `project-<name>` signed over the project's published page
//! (`sign_project_role`), checked by the index's `transaction::check`
//! against the delegation the index would build from the offered key, and
//! recorded by `StateStore::record_transaction` (tier recently-claimed);
//! then what the key ceremony installs to promote projects (a newer
//! `claimed` and the claim bins it delegates to, `roles::project_delegator`
//! and `roles::claim_bin` signed with the offline claimed key), which the
//! publisher adopts. The publisher publishes all of it in its normal runs.
//!
//! ```text
//! published page ─▶ sign_project_role (developer key) ─▶ transaction::check
//!   ─▶ claims/<sha>.{page,role}.json (one blob batch) ─▶ record_transaction ─▶ run_once
//! promote: claim_bin(delegations) per touched bin, project_delegator(claimed)
//!   ─▶ <v>.claimed-<hh>.json, <v>.claimed.json (offline key) ─▶ run_once (adopt_claimed)
//! release: stored claim (role, page) ─▶ next_page + sign_project_role (v+1)
//!   ─▶ check ─▶ blobs ─▶ record_transaction
//! ```
//!
//! This is set-up, not measurement: claims are recorded straight into the
//! store, as `publish::bulk_load` adds files, instead of one HTTP request
//! each (`transactions` sends them over HTTP when it measures).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, bail};
use bulwark_layout::{self as layout, CLAIMED};
use bulwark_pypi::{DistFilename, ProjectName, ProjectPage, UploadTime, render_json};
use bulwark_repo::clock::now;
use bulwark_repo::roles::{self, PublicKeyEntry};
use bulwark_repo::transaction::{
    Offered, Previous, ProjectDelegation, TransactionPolicy, UploadedFile, check, next_page,
    sign_project_role,
};
use bulwark_store::{ClaimRecord, ClaimTier, FileRecord, ProjectTransaction, TransactionOutcome};
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, RoleKeys, Targets};
use bulwark_tuf::time::Timestamp;

use crate::repo::BenchRepo;
use crate::synth::UPLOADER;

/// Days until a developer-signed role expires (what `bulwark upload`
/// signs by default).
pub const ROLE_DAYS: i64 = 365;

/// Claims recorded per blob batch and per chunk of signing.
const CHUNK: usize = 10_000;

/// Every claimed project's developer key.
#[derive(Default)]
pub struct Developers {
    keys: HashMap<String, SigningKey>,
}

impl Developers {
    /// The key of `project`'s developer.
    pub fn key(&self, project: &str) -> anyhow::Result<&SigningKey> {
        self.keys
            .get(project)
            .with_context(|| format!("{project} has no developer key"))
    }

    /// How many projects have a developer key.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no project has one.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The delegation the index builds for a claim with one developer key and
/// threshold 1 (as `bulwark-server`'s transaction endpoint does from the
/// `delegation` form field): terminating, the project's paths. Returns it
/// as `check` takes it and as the store keeps it (canonical JSON).
pub fn delegation(
    project: &ProjectName,
    key: &PublicKeyEntry,
) -> anyhow::Result<(ProjectDelegation, String)> {
    let name = project.normalized();
    let role = DelegatedRole {
        name: layout::project_role(name),
        keys: RoleKeys {
            keyids: vec![key.keyid.clone()],
            threshold: 1,
        },
        terminating: true,
        paths: PathSpec::Patterns(vec![format!("simple/{name}/*")]),
        unknown: BTreeMap::new(),
    };
    let keys = BTreeMap::from([(key.keyid.clone(), key.key.clone())]);
    let stored = Delegations {
        keys: keys.clone(),
        roles: DelegatedRoles::List(vec![role.clone()]),
        unknown: BTreeMap::new(),
    };
    let json = String::from_utf8(stored.to_json()).context("delegation JSON is not UTF-8")?;
    Ok((ProjectDelegation::new(project.clone(), role, keys)?, json))
}

/// The delegation a stored claim names, as `check` takes it.
fn stored_delegation(claim: &ClaimRecord) -> anyhow::Result<ProjectDelegation> {
    let project = ProjectName::parse(&claim.project)?;
    let delegations = Delegations::from_json(claim.delegation.as_bytes())?;
    let DelegatedRoles::List(roles) = delegations.roles else {
        bail!("the stored delegation of {} is succinct", claim.project);
    };
    let role = roles
        .into_iter()
        .next()
        .with_context(|| format!("the stored delegation of {} is empty", claim.project))?;
    Ok(ProjectDelegation::new(project, role, delegations.keys)?)
}

fn role_expires(now: Timestamp) -> Timestamp {
    now.plus_seconds(ROLE_DAYS * 86_400)
}

/// A claim signed and checked, ready to be stored.
struct Signed {
    key: SigningKey,
    page: Vec<u8>,
    role: Vec<u8>,
    transaction: ProjectTransaction,
}

/// Signs version 1 of `project`'s role over its published page with a new
/// developer key, and checks it as the index does.
fn sign_claim(repo: &BenchRepo, project: &str, now: Timestamp) -> anyhow::Result<Signed> {
    let name = ProjectName::parse(project)?;
    let record = repo
        .store
        .page(project)?
        .with_context(|| format!("{project} has no published page to claim"))?;
    let key_name = layout::page_key(project, &record.sha256);
    let page = repo
        .blobs
        .get(&key_name)?
        .with_context(|| format!("{key_name} is missing"))?;
    let previous = ProjectPage::parse_json(&page)?;
    let key = SigningKey::generate(Algorithm::Ed25519)?;
    let entry = PublicKeyEntry::from_object(&key.public_key_object())?;
    let (delegation, json) = delegation(&name, &entry)?;
    let role = sign_project_role(&name, 1, role_expires(now), &page, &[&key], None)?;
    let verified = check(
        &delegation,
        Previous {
            role: None,
            page: Some(&previous),
            nested: &[],
        },
        Offered {
            role: Some(&role),
            nested: &[],
            page: &page,
            uploads: &[],
        },
        now,
        &TransactionPolicy::default(),
    )
    .with_context(|| format!("the index would refuse the claim of {project}"))?;
    let transaction = ProjectTransaction {
        display_name: project.to_owned(),
        user: UPLOADER.to_owned(),
        checked_against: None,
        checked_delegation: None,
        checked_nested: Vec::new(),
        claim: ClaimRecord {
            project: project.to_owned(),
            tier: ClaimTier::RecentlyClaimed,
            delegation: json,
            role_version: verified.version(),
            role_expires: verified.expires().unix(),
            role_sha256: sha256_hex(&role),
            role_length: role.len() as u64,
            page_sha256: verified.page_sha256().to_owned(),
            page_length: verified.page_length(),
            nested: Vec::new(),
        },
        files: Vec::new(),
        yanked: yank_states(verified.page()),
    };
    Ok(Signed {
        key,
        page,
        role,
        transaction,
    })
}

fn yank_states(page: &ProjectPage) -> Vec<(String, Option<String>)> {
    page.files
        .iter()
        .map(|f| (f.filename.as_str().to_owned(), f.yanked.clone()))
        .collect()
}

/// Applies `f` to `items` on up to `available_parallelism` threads (at
/// most four), keeping the order; the first error wins.
fn on_threads<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<anyhow::Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            out.extend(
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            );
        }
        Ok(out)
    })
}

/// Claims every project of `projects` (each with a published page and no
/// claim) with a new developer key, as recently-claimed, and publishes.
pub fn claim(
    repo: &BenchRepo,
    projects: &[String],
    developers: &mut Developers,
) -> anyhow::Result<()> {
    let now = now();
    for chunk in projects.chunks(CHUNK) {
        let signed = on_threads(chunk, |project| sign_claim(repo, project, now))?;
        let batch = repo.blobs.batch();
        for s in &signed {
            let claim = &s.transaction.claim;
            batch.put(&layout::claim_page_key(&claim.page_sha256), &s.page)?;
            batch.put(&layout::claim_role_key(&claim.role_sha256), &s.role)?;
        }
        batch.commit()?;
        for s in signed {
            let project = s.transaction.claim.project.clone();
            match repo.store.record_transaction(&s.transaction)? {
                TransactionOutcome::Recorded { .. } => {}
                other => bail!("the claim of {project} was refused: {other:?}"),
            }
            developers.keys.insert(project, s.key);
        }
    }
    repo.publisher
        .run_once(now)?
        .context("a run after claims publishes them")?;
    Ok(())
}

fn sign<T: bulwark_tuf::metadata::SignedBody>(
    body: T,
    key: &SigningKey,
) -> anyhow::Result<Vec<u8>> {
    let mut envelope = Envelope::new(body);
    envelope.sign(key)?;
    Ok(envelope.to_bytes())
}

/// Promotes the recently-claimed `projects` to claimed as the key ceremony
/// would: a new version of each claim bin of `claimed` they fall in,
/// listing the delegations of every claimed project of that bin, and a new
/// `claimed` delegating to every bin it delegated to before and to these,
/// signed with the offline claimed key and stored where the ceremony
/// installs them; then a publish run, which adopts them.
pub fn promote(repo: &BenchRepo, projects: &[String]) -> anyhow::Result<()> {
    let claims: BTreeMap<String, ClaimRecord> = repo
        .store
        .claims()?
        .into_iter()
        .map(|c| (c.project.clone(), c))
        .collect();
    let published: BTreeMap<String, u64> = repo
        .store
        .roles()?
        .into_iter()
        .map(|r| (r.role, r.version))
        .collect();
    let promoted: BTreeSet<&str> = projects.iter().map(String::as_str).collect();
    let touched: BTreeSet<u32> = projects.iter().map(|p| layout::claim_bin_of(p)).collect();
    let mut by_bin: BTreeMap<u32, Vec<Delegations>> = BTreeMap::new();
    for claim in claims.values() {
        let bin = layout::claim_bin_of(&claim.project);
        if touched.contains(&bin)
            && (claim.tier == ClaimTier::Claimed || promoted.contains(claim.project.as_str()))
        {
            by_bin
                .entry(bin)
                .or_default()
                .push(Delegations::from_json(claim.delegation.as_bytes())?);
        }
    }
    if let Some(missing) = projects.iter().find(|p| !claims.contains_key(*p)) {
        bail!("{missing} cannot be promoted: it has no claim");
    }
    let key = &repo.signers.claimed;
    let entry = PublicKeyEntry::from_object(&key.public_key_object())?;
    let expires = now().plus_seconds(repo.policy.offline_expiry);
    for (bin, delegations) in &by_bin {
        let name = layout::claim_bin_name(CLAIMED, *bin);
        let version = published.get(&name).copied().unwrap_or(0) + 1;
        let refs: Vec<&Delegations> = delegations.iter().collect();
        let bytes = sign(roles::claim_bin(&refs, version, expires), key)?;
        repo.blobs
            .put(&layout::metadata_key(&name, version), &bytes)?;
    }
    // Once delegated, a bin stays delegated (ARCHITECTURE.md, claim bins).
    let bins: BTreeSet<u32> = published
        .keys()
        .filter_map(|r| layout::claim_bin_of_role(CLAIMED, r))
        .chain(touched)
        .collect();
    let version = published
        .get(CLAIMED)
        .copied()
        .context("claimed is not published")?
        + 1;
    let bytes = sign(
        roles::project_delegator(CLAIMED, &entry, bins, version, expires),
        key,
    )?;
    repo.blobs
        .put(&layout::metadata_key(CLAIMED, version), &bytes)?;
    repo.publisher
        .run_once(now())?
        .context("a run after the ceremony publishes the promotion")?;
    let after = repo.store.claims()?;
    let adopted = after
        .iter()
        .filter(|c| promoted.contains(c.project.as_str()) && c.tier == ClaimTier::Claimed)
        .count();
    if adopted != promoted.len() {
        bail!(
            "the publisher adopted {adopted} of {} promoted projects",
            promoted.len()
        );
    }
    Ok(())
}

/// The record of a synthetic distribution as the upload inspection would
/// describe it.
pub fn uploaded(file: &FileRecord) -> anyhow::Result<UploadedFile> {
    Ok(UploadedFile {
        filename: DistFilename::parse(&file.filename)?,
        sha256: file.sha256.clone(),
        blake2b_256: file.blake2b_256.clone(),
        size: file.size,
        requires_python: file.requires_python.clone(),
        core_metadata_sha256: file.metadata_sha256.clone(),
    })
}

/// A developer's next transaction for a claimed project: its new page
/// (the trusted one plus `uploads`, uploaded at `upload_time_us`) and the
/// next version of its role, signed with `key`.
pub struct Release {
    /// The project.
    pub project: ProjectName,
    /// The role's new version.
    pub version: u64,
    /// The role the trusted version replaces, if any.
    pub previous: u64,
    /// The signed role.
    pub role: Vec<u8>,
    /// The new page.
    pub page: Vec<u8>,
}

/// Builds the next release of claimed `project` from what the index
/// trusts (its stored claim, role and page: the bytes a developer's TUF
/// client verified), as `bulwark upload --key` builds it.
pub fn release(
    repo: &BenchRepo,
    developers: &Developers,
    project: &str,
    uploads: &[UploadedFile],
    upload_time_us: i64,
) -> anyhow::Result<Release> {
    let name = ProjectName::parse(project)?;
    let claim = repo
        .store
        .claim(project)?
        .with_context(|| format!("{project} is not claimed"))?;
    let page_key = layout::claim_page_key(&claim.page_sha256);
    let previous = ProjectPage::parse_json(
        &repo
            .blobs
            .get(&page_key)?
            .with_context(|| format!("{page_key} is missing"))?,
    )?;
    let page = render_json(&next_page(
        &name,
        Some(&previous),
        uploads,
        UploadTime::from_unix_micros(upload_time_us),
    )?);
    let version = claim.role_version + 1;
    let role = sign_project_role(
        &name,
        version,
        role_expires(now()),
        &page,
        &[developers.key(project)?],
        None,
    )?;
    Ok(Release {
        project: name,
        version,
        previous: claim.role_version,
        role,
        page,
    })
}

/// Checks `release` with `uploads` as the index does and records it
/// (without HTTP): the index's side of a transaction.
pub fn record_release(
    repo: &BenchRepo,
    release: &Release,
    uploads: &[UploadedFile],
) -> anyhow::Result<()> {
    let project = release.project.normalized();
    let claim = repo
        .store
        .claim(project)?
        .with_context(|| format!("{project} is not claimed"))?;
    let read = |key: String| -> anyhow::Result<Vec<u8>> {
        repo.blobs
            .get(&key)?
            .with_context(|| format!("{key} is missing"))
    };
    let trusted_role =
        Envelope::<Targets>::parse(&read(layout::claim_role_key(&claim.role_sha256))?)?;
    let trusted_page = ProjectPage::parse_json(&read(layout::claim_page_key(&claim.page_sha256))?)?;
    let verified = check(
        &stored_delegation(&claim)?,
        Previous {
            role: Some(&trusted_role.signed),
            page: Some(&trusted_page),
            nested: &[],
        },
        Offered {
            role: Some(&release.role),
            nested: &[],
            page: &release.page,
            uploads,
        },
        now(),
        &TransactionPolicy::default(),
    )
    .with_context(|| format!("the index would refuse the release of {project}"))?;
    let role_sha256 = sha256_hex(&release.role);
    let batch = repo.blobs.batch();
    batch.put(
        &layout::claim_page_key(verified.page_sha256()),
        &release.page,
    )?;
    batch.put(&layout::claim_role_key(&role_sha256), &release.role)?;
    batch.commit()?;
    let files = verified.added_records(UPLOADER);
    let transaction = ProjectTransaction {
        display_name: project.to_owned(),
        user: UPLOADER.to_owned(),
        checked_against: Some(claim.role_version),
        checked_delegation: None,
        checked_nested: Vec::new(),
        claim: ClaimRecord {
            role_version: verified.version(),
            role_expires: verified.expires().unix(),
            role_sha256,
            role_length: release.role.len() as u64,
            page_sha256: verified.page_sha256().to_owned(),
            page_length: verified.page_length(),
            ..claim
        },
        files,
        yanked: yank_states(verified.page()),
    };
    match repo.store.record_transaction(&transaction)? {
        TransactionOutcome::Recorded { .. } => Ok(()),
        other => bail!("the release of {project} was refused: {other:?}"),
    }
}
