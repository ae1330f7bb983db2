//! Developer-signed project transactions (PEP 480; issue 11, "The index's
//! side"): `POST /api/projects/<name>/transaction`, a multipart form with
//! the new signed `project-<name>` role (`role`, optional when it stays as
//! trusted), new versions of the nested roles it delegates to (`nested`,
//! any number, each with the role's name as its filename), the new page
//! (`page`), the distributions uploaded with them (`content`, any number)
//! and, to claim a project or change a recently-claimed project's keys,
//! the delegation (`delegation`: `{"keys":{<keyid>:<key>,…},"threshold":N}`,
//! which needs a new `role`).
//!
//! ```text
//! authenticate ─▶ read form ─▶ inspect each file (as a twine upload)
//!   ─▶ trusted state from the store: the claim (delegation, role, page), or
//!      for a claim the published page and the offered delegation
//!   ─▶ bulwark_repo::transaction::check (every rule; for a key change, also
//!      against the current delegation, whose threshold must sign it)
//!   ─▶ blobs: files, .metadata, claims/<sha>.page.json, claims/<sha>.role.json
//!      (the project role and each nested role)
//!   ─▶ StateStore::record_transaction (one database transaction) ─▶ wake publisher
//! ```
//!
//! Nothing is stored before every check has passed; a transaction the store
//! refuses (another owner, a filename taken, a claim changed meanwhile)
//! removes the blobs it wrote.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_layout as layout;
use bulwark_pypi::{Inspected, ProjectName, ProjectPage};
use bulwark_repo::gc::RefusedBlobs;
use bulwark_repo::transaction::{
    Offered, OfferedNested, Previous, ProjectDelegation, TransactionPolicy, TrustedNested,
    UploadedFile, VerifiedTransaction,
};
use bulwark_store::{
    BlobStore, ClaimRecord, ClaimTier, NestedRoleRecord, ProjectTransaction, StateStore,
    TransactionOutcome,
};
use bulwark_tuf::delegation::{DelegatedRoles, Delegations};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::metadata::{Envelope, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use tempfile::NamedTempFile;

use crate::auth::authenticate;
use crate::receive::{self, Received};
use crate::state::AppState;

/// The longest `delegation` field accepted.
const MAX_DELEGATION_BYTES: usize = 64 * 1024;
/// The longest role accepted.
const MAX_ROLE_BYTES: usize = 1024 * 1024;
/// The largest project page a transaction may sign (a page lists every
/// file of the project, about 500 bytes each).
const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;
/// The most nested roles one transaction may carry.
const MAX_NESTED_ROLES: usize = 32;

/// The answer to an accepted transaction.
pub struct Accepted {
    project: String,
    role: String,
    version: u64,
    tier: &'static str,
    files: usize,
}

impl IntoResponse for Accepted {
    /// `{"files":N,"project":…,"role":…,"tier":…,"version":V}`.
    fn into_response(self) -> Response {
        use bulwark_tuf::json::Value;
        let body = Value::Object(BTreeMap::from([
            ("project".to_owned(), Value::String(self.project)),
            ("role".to_owned(), Value::String(self.role)),
            (
                "version".to_owned(),
                Value::Int(i64::try_from(self.version).unwrap_or(i64::MAX)),
            ),
            ("tier".to_owned(), Value::String(self.tier.to_owned())),
            (
                "files".to_owned(),
                Value::Int(i64::try_from(self.files).unwrap_or(i64::MAX)),
            ),
        ]));
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bulwark_tuf::json::to_vec(&body),
        )
            .into_response()
    }
}

/// The parts of a transaction form.
#[derive(Default)]
struct Form {
    role: Option<Vec<u8>>,
    page: Option<Vec<u8>>,
    delegation: Option<Vec<u8>>,
    nested: Vec<(String, Vec<u8>)>,
    content: Vec<Received>,
}

async fn read_form(mut multipart: Multipart, blobs: Arc<dyn BlobStore>) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let bad = receive::bad_form("transaction form");
    while let Some(field) = multipart.next_field().await.map_err(&bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        if name == "content" {
            let filename =
                filename.ok_or_else(|| ApiError::bad_request("A content part has no filename"))?;
            let received =
                receive::receive(field, filename, blobs.clone(), "transaction form").await?;
            form.content.push(received);
            continue;
        }
        let limit = match name.as_str() {
            "nested" | "role" => MAX_ROLE_BYTES,
            "page" => MAX_PAGE_BYTES,
            "delegation" => MAX_DELEGATION_BYTES,
            // Not read at all: the next part skips what is left of it.
            _ => continue,
        };
        if name == "nested" && form.nested.len() == MAX_NESTED_ROLES {
            return Err(ApiError::bad_request(format!(
                "At most {MAX_NESTED_ROLES} nested roles of {MAX_ROLE_BYTES} bytes each are accepted"
            )));
        }
        let bytes = receive::read_capped(field, limit, &name, "transaction form").await?;
        let slot = match name.as_str() {
            "nested" => {
                let role = filename.ok_or_else(|| {
                    ApiError::bad_request("A nested part has no filename, the role's name")
                })?;
                form.nested.push((role, bytes));
                continue;
            }
            "role" => &mut form.role,
            "page" => &mut form.page,
            _ => &mut form.delegation,
        };
        if slot.replace(bytes).is_some() {
            return Err(ApiError::bad_request(format!(
                "Form part {name} is given twice"
            )));
        }
    }
    Ok(form)
}

/// `POST /api/projects/<name>/transaction`.
pub async fn transaction(
    State(state): State<AppState>,
    axum::Extension(slot): axum::Extension<crate::upload::UploadSlot>,
    Path(name): Path<String>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Accepted, ApiError> {
    let store = state.store.clone();
    let token = blocking(move || authenticate(store.as_ref(), &headers)).await?;
    let project = ProjectName::parse(&name)
        .map_err(|e| ApiError::bad_request(format!("Invalid project name {name:?}: {e}")))?;
    token.may_change(project.normalized())?;
    let user = token.user;
    let form = read_form(multipart, state.blobs.clone()).await?;
    let limits = state.config.upload_limits.clone();
    let content = form.content;
    let allow_local = state.config.allow_local_versions;
    let held = slot.clone();
    let (files, staged): (Vec<Inspected>, Vec<NamedTempFile>) = blocking(move || {
        let _slot = held;
        content
            .into_iter()
            .map(|received| {
                let inspected = received
                    .inspect(&limits)
                    .map_err(|e| e.into_api_error(Some(&received.filename)))?;
                crate::release::check_local(inspected.filename.version(), allow_local)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Ok((inspected, received.file))
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?
    .into_iter()
    .unzip();
    if form.delegation.is_some() && form.role.is_none() {
        return Err(ApiError::bad_request(
            "A transaction with a delegation must sign the project role",
        ));
    }
    let offer = Offer {
        project,
        user,
        role: form.role,
        nested: form.nested,
        page: form
            .page
            .ok_or_else(|| ApiError::bad_request("The transaction has no page"))?,
        delegation: form.delegation,
        files,
    };
    let (store, blobs) = (state.store.clone(), state.blobs.clone());
    let refused = RefusedBlobs::for_stores(state.config.shared_state);
    let accepted = blocking(move || {
        let _slot = slot;
        accept(
            store.as_ref(),
            blobs.as_ref(),
            &offer,
            staged,
            refused,
            Timestamp::from_unix(bulwark_repo::clock::unix_micros() / 1_000_000),
        )
    })
    .await?;
    state.publish.notify_one();
    Ok(accepted)
}

/// A transaction as received, its files inspected.
struct Offer {
    project: ProjectName,
    user: String,
    role: Option<Vec<u8>>,
    nested: Vec<(String, Vec<u8>)>,
    page: Vec<u8>,
    delegation: Option<Vec<u8>>,
    files: Vec<Inspected>,
}

/// What the index trusts about the project before the transaction.
struct Trusted {
    claim: Option<ClaimRecord>,
    role: Option<Envelope<Targets>>,
    page: Option<ProjectPage>,
    nested: Vec<TrustedNested>,
}

fn forbidden(reason: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, reason)
}

fn internal(what: &str) -> impl Fn(bulwark_store::StoreError) -> ApiError + '_ {
    move |e| ApiError::internal(what, &e)
}

/// Checks `offer` against the trusted state at `now` and records it.
fn accept(
    store: &dyn StateStore,
    blobs: &dyn BlobStore,
    offer: &Offer,
    staged: Vec<NamedTempFile>,
    refused: RefusedBlobs,
    now: Timestamp,
) -> Result<Accepted, ApiError> {
    let project = offer.project.normalized();
    // Any owner may sign for the project; a new project has none yet (the
    // store decides again, in the transaction that records it).
    let owners = store
        .owners(project)
        .map_err(internal("reading the project's owners"))?;
    if !owners.is_empty() && !owners.iter().any(|o| o.user == offer.user) {
        return Err(forbidden(format!(
            "The user does not own project {project}"
        )));
    }
    let trusted = trusted(store, blobs, &offer.project)?;
    let current = trusted
        .claim
        .as_ref()
        .map(|c| stored_delegation(&offer.project, &c.delegation))
        .transpose()?;
    let offered = offer
        .delegation
        .as_deref()
        .map(|json| offered_delegation(&offer.project, json))
        .transpose()?;
    let tier = match (&trusted.claim, &offered) {
        (Some(claim), Some(_)) if claim.tier == ClaimTier::Claimed => {
            return Err(forbidden(format!(
                "Project {project} is claimed: its keys change only through the \
                 administrator's claimed role (bulwark ceremony promote)"
            )));
        }
        (Some(claim), _) => claim.tier,
        (None, Some(_)) => ClaimTier::RecentlyClaimed,
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "Project {project} is not claimed: a claim must send the delegation \
                 (bulwark claim, or bulwark upload --key for a new project)"
            )));
        }
    };
    let uploads: Vec<UploadedFile> = offer.files.iter().map(UploadedFile::from).collect();
    let previous = Previous {
        role: trusted.role.as_ref().map(|r| &r.signed),
        page: trusted.page.as_ref(),
        nested: &trusted.nested,
    };
    let nested: Vec<OfferedNested<'_>> = offer
        .nested
        .iter()
        .map(|(name, role)| OfferedNested { name, role })
        .collect();
    let bytes = Offered {
        role: offer.role.as_deref(),
        nested: &nested,
        page: &offer.page,
        uploads: &uploads,
    };
    let policy = TransactionPolicy::default();
    let refusal = |e: bulwark_repo::transaction::TransactionRefused| {
        ApiError::bad_request(format!("Transaction refused: {}", bulwark_http::chain(&e)))
    };
    // A key change must be authorised by the keys it replaces: a threshold
    // of the current developer keys signs the role too (a stolen upload
    // token alone never suffices).
    if let (Some(current), Some(_)) = (&current, &offered) {
        bulwark_repo::transaction::check(&current.0, previous, bytes, now, &policy)
            .map_err(&refusal)?;
    }
    let (delegation, json) = offered
        .as_ref()
        .or(current.as_ref())
        .ok_or_else(|| ApiError::bad_request("no delegation"))?;
    let verified = bulwark_repo::transaction::check(delegation, previous, bytes, now, &policy)
        .map_err(refusal)?;
    record(
        store, blobs, offer, staged, refused, &trusted, &verified, tier, json,
    )
}

/// The project's claim and what it last published.
fn trusted(
    store: &dyn StateStore,
    blobs: &dyn BlobStore,
    project: &ProjectName,
) -> Result<Trusted, ApiError> {
    let name = project.normalized();
    let claim = store.claim(name).map_err(internal("reading the claim"))?;
    let read = |key: String| -> Result<Vec<u8>, ApiError> {
        blobs
            .get(&key)
            .map_err(internal("reading the trusted state"))?
            .ok_or_else(|| ApiError::internal("reading the trusted state", &Missing(key)))
    };
    let parse_page = |bytes: &[u8]| {
        ProjectPage::parse_json(bytes)
            .map_err(|e| ApiError::internal("reading the trusted page", &e))
    };
    if let Some(claim) = &claim {
        let role = Envelope::<Targets>::parse(&read(layout::claim_role_key(&claim.role_sha256))?)
            .map_err(|e| ApiError::internal("reading the trusted role", &e))?;
        let page = parse_page(&read(layout::claim_page_key(&claim.page_sha256))?)?;
        let nested = claim
            .nested
            .iter()
            .map(|n| {
                let metadata =
                    Envelope::<Targets>::parse(&read(layout::claim_role_key(&n.sha256))?)
                        .map_err(|e| ApiError::internal("reading a trusted nested role", &e))?;
                Ok(TrustedNested {
                    name: RoleName::new(n.name.clone()),
                    metadata,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        return Ok(Trusted {
            claim: Some(claim.clone()),
            role: Some(role),
            page: Some(page),
            nested,
        });
    }
    let page = match store.page(name).map_err(internal("reading the page"))? {
        Some(record) => Some(parse_page(&read(layout::page_key(name, &record.sha256))?)?),
        None => None,
    };
    Ok(Trusted {
        claim: None,
        role: None,
        page,
        nested: Vec::new(),
    })
}

/// A blob the state names is missing.
#[derive(Debug, thiserror::Error)]
#[error("{0} is missing")]
struct Missing(String);

/// The project's stored delegation, and its JSON.
fn stored_delegation(
    project: &ProjectName,
    json: &str,
) -> Result<(ProjectDelegation, String), ApiError> {
    let delegations = Delegations::from_json(json.as_bytes())
        .map_err(|e| ApiError::internal("reading the stored delegation", &e))?;
    let DelegatedRoles::List(roles) = &delegations.roles else {
        return Err(ApiError::internal(
            "reading the stored delegation",
            &Missing("its role".to_owned()),
        ));
    };
    let role = roles.first().cloned().ok_or_else(|| {
        ApiError::internal(
            "reading the stored delegation",
            &Missing("its role".to_owned()),
        )
    })?;
    let delegation = ProjectDelegation::new(project.clone(), role, delegations.keys)
        .map_err(|e| ApiError::internal("reading the stored delegation", &e))?;
    Ok((delegation, json.to_owned()))
}

/// The delegation a developer offers (`transaction::offered_delegation`),
/// and its stored JSON.
fn offered_delegation(
    project: &ProjectName,
    json: &[u8],
) -> Result<(ProjectDelegation, String), ApiError> {
    let offered = bulwark_repo::transaction::offered_delegation(project, json)
        .map_err(|e| ApiError::bad_request(format!("Invalid delegation: {e}")))?;
    let stored = String::from_utf8(offered.stored.to_json())
        .map_err(|e| ApiError::internal("storing the delegation", &e))?;
    Ok((offered.delegation, stored))
}

/// Stores the blobs of a verified transaction and records it; when the
/// store refuses, removes the blobs it created or leaves them to the
/// unrecorded sweep, as `refused` says.
#[expect(
    clippy::too_many_arguments,
    reason = "the transaction, what it was checked against, and what the check gave"
)]
fn record(
    store: &dyn StateStore,
    blobs: &dyn BlobStore,
    offer: &Offer,
    staged: Vec<NamedTempFile>,
    refused: RefusedBlobs,
    trusted: &Trusted,
    verified: &VerifiedTransaction,
    tier: ClaimTier,
    delegation: &str,
) -> Result<Accepted, ApiError> {
    let project = offer.project.normalized();
    let mut writes: Vec<(String, &[u8])> =
        vec![(layout::claim_page_key(verified.page_sha256()), &offer.page)];
    // Without a new project role, the trusted one (and its claim) stays.
    let (role_sha256, role_length) = match (&offer.role, &trusted.claim) {
        (Some(role), _) => {
            let sha256 = sha256_hex(role);
            writes.push((layout::claim_role_key(&sha256), role));
            (sha256, role.len() as u64)
        }
        (None, Some(claim)) => (claim.role_sha256.clone(), claim.role_length),
        (None, None) => return Err(ApiError::bad_request("The transaction has no role")),
    };
    let nested = accepted_nested(trusted, offer, verified, &mut writes);
    for inspected in &offer.files {
        let (sha256, filename) = (&inspected.sha256, inspected.filename.as_str());
        if inspected.core_metadata_sha256().is_some() {
            writes.push((
                layout::metadata_file_key(sha256, filename),
                &inspected.metadata_bytes,
            ));
        }
    }
    let _one_at_a_time = TRANSACTIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _same_files = bulwark_repo::gc::file_locks(offer.files.iter().map(|f| f.sha256.as_str()));
    let staged = offer
        .files
        .iter()
        .map(|i| layout::file_key(&i.sha256, i.filename.as_str()))
        .zip(staged)
        .collect();
    let created = put_all(blobs, &writes, staged)?;
    let files = verified.added_records(&offer.user);
    let transaction = ProjectTransaction {
        display_name: offer.project.as_given().to_owned(),
        user: offer.user.clone(),
        checked_against: trusted.claim.as_ref().map(|c| c.role_version),
        checked_delegation: trusted
            .claim
            .as_ref()
            .map(|c| c.delegation.clone())
            .filter(|current| current != delegation),
        checked_nested: trusted
            .claim
            .as_ref()
            .map(|c| {
                c.nested
                    .iter()
                    .map(|n| (n.name.clone(), n.version))
                    .collect()
            })
            .unwrap_or_default(),
        claim: ClaimRecord {
            project: project.to_owned(),
            tier,
            delegation: delegation.to_owned(),
            role_version: verified.version(),
            role_expires: verified.expires().unix(),
            role_sha256,
            role_length,
            page_sha256: verified.page_sha256().to_owned(),
            page_length: verified.page_length(),
            nested,
        },
        files,
        yanked: verified
            .page()
            .files
            .iter()
            .map(|f| (f.filename.as_str().to_owned(), f.yanked.clone()))
            .collect(),
    };
    let outcome = store
        .record_transaction(&transaction)
        .map_err(internal("recording the transaction"))?;
    let refusal = match outcome {
        TransactionOutcome::Recorded { .. } => return Ok(accepted(project, verified, tier)),
        TransactionOutcome::Forbidden => {
            forbidden(format!("The user does not own project {project}"))
        }
        TransactionOutcome::Conflict { filename } => {
            ApiError::bad_request(format!("File already exists: {filename}"))
        }
        TransactionOutcome::Stale => stale(project, trusted.claim.is_none()),
    };
    if refused == RefusedBlobs::Remove {
        for key in created {
            blobs
                .delete(&key)
                .map_err(internal("removing a refused transaction"))?;
        }
    }
    Err(refusal)
}

/// The answer to an accepted transaction.
fn accepted(project: &str, verified: &VerifiedTransaction, tier: ClaimTier) -> Accepted {
    Accepted {
        project: project.to_owned(),
        role: verified.role().as_str().to_owned(),
        version: verified.version(),
        tier: tier.as_str(),
        files: verified.added().len(),
    }
}

/// The answer to a transaction the store found stale; `first_claim` when
/// it was checked against the published page rather than a claim (the
/// store refuses it while a change of the project waits to be published).
fn stale(project: &str, first_claim: bool) -> ApiError {
    let reason = if first_claim {
        format!("Project {project} has changes not yet published; try again in a moment")
    } else {
        format!("The role of project {project} changed meanwhile: build the transaction again")
    };
    ApiError::new(StatusCode::CONFLICT, reason)
}

/// The claim's nested roles after `verified`: the trusted ones, each
/// replaced by its new version if offered, whose bytes join `writes`.
fn accepted_nested<'o>(
    trusted: &Trusted,
    offer: &'o Offer,
    verified: &VerifiedTransaction,
    writes: &mut Vec<(String, &'o [u8])>,
) -> Vec<NestedRoleRecord> {
    let mut nested: BTreeMap<String, NestedRoleRecord> = trusted
        .claim
        .iter()
        .flat_map(|c| c.nested.iter().map(|n| (n.name.clone(), n.clone())))
        .collect();
    for (name, bytes) in &offer.nested {
        let Some(role) = verified.nested().iter().find(|v| v.name().as_str() == name) else {
            continue;
        };
        let sha256 = sha256_hex(bytes);
        writes.push((layout::claim_role_key(&sha256), bytes));
        nested.insert(
            name.clone(),
            NestedRoleRecord {
                name: name.clone(),
                version: role.version(),
                expires: role.expires().unix(),
                sha256,
                length: bytes.len() as u64,
            },
        );
    }
    nested.into_values().collect()
}

/// Stores every `(key, bytes)` and every staged distribution under its key,
/// and returns the keys that did not exist before (removed again if the
/// transaction is refused).
fn put_all(
    blobs: &dyn BlobStore,
    writes: &[(String, &[u8])],
    staged: Vec<(String, NamedTempFile)>,
) -> Result<Vec<String>, ApiError> {
    let error = internal("storing the transaction");
    let mut created = Vec::new();
    let mut note_new = |key: &str| -> Result<(), ApiError> {
        if blobs.len(key).map_err(&error)?.is_none() {
            created.push(key.to_owned());
        }
        Ok(())
    };
    for (key, bytes) in writes {
        note_new(key)?;
        blobs.put(key, bytes).map_err(&error)?;
    }
    for (key, file) in staged {
        note_new(&key)?;
        blobs.put_file(&key, file).map_err(&error)?;
    }
    Ok(created)
}

/// Transactions store and clean up their blobs one at a time, so that a
/// refused one never removes a blob an accepted one has just recorded (its
/// distribution files are also under `gc::file_locks`, which uploads and
/// the sweep of unrecorded files take).
static TRANSACTIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());
