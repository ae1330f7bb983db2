//! `GET /project/<name>/`: a project's releases and files, how to install
//! it, its description and its TUF status.
//!
//! The files are those of [`LivePages::project_page`], the page that
//! `/simple/<name>/` and the JSON API serve (for a claimed project, the
//! page its developers signed), so all three list the same files and
//! yanks. The TUF status comes from the records the publisher committed:
//! the claim ([`bulwark_store::ClaimRecord`]), the page record (its bin),
//! the role records (versions, expiry), and the queue (changes not yet
//! signed).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bulwark_http::{ApiError, blocking};
use bulwark_layout as layout;
use bulwark_pypi::json_api::{self, Release};
use bulwark_pypi::{PageFile, ProjectName};
use bulwark_store::{ClaimRecord, ClaimTier, PageRecord, RoleRecord};
use bulwark_tuf::delegation::Delegations;

use super::description::{self, Description};
use super::format;
use crate::AppState;
use crate::json_api::{metadata_key, parse_stored_metadata};
use crate::simple::LivePages;

/// One file of a release.
struct FileView {
    filename: String,
    /// Where to download it (relative to the page, as on the simple page);
    /// `#` for a URL that is neither relative nor HTTP(S).
    url: String,
    size: String,
    sha256: String,
    uploaded: String,
    requires_python: Option<String>,
    yanked: Option<String>,
}

/// One release, its files sorted by filename.
struct ReleaseView {
    version: String,
    yanked: bool,
    yanked_reason: Option<String>,
    files: Vec<FileView>,
}

/// The project's place in the TUF repository.
#[derive(Debug, PartialEq, Eq)]
pub struct TufStatus {
    /// `unclaimed`, `recently-claimed` or `claimed`.
    pub state: &'static str,
    /// What that means for who can change the page.
    pub explanation: &'static str,
    /// The role whose signed targets list the page.
    pub signer: String,
    /// The role that delegates to the signer.
    pub delegated_by: Option<String>,
    /// The signer's version that lists the page; `None` before the first
    /// publish run that signs it.
    pub signed_version: Option<u64>,
    /// When that version expires.
    pub signer_expires: Option<String>,
    /// The snapshot that lists that version.
    pub snapshot_version: Option<u64>,
    /// SHA-256 of the signed page.
    pub page_sha256: Option<String>,
    /// Changes to the project wait in the queue.
    pub pending: bool,
    /// For a claimed project, the key IDs its delegation trusts.
    pub developer_keys: Vec<String>,
    /// And how many of them must sign.
    pub threshold: Option<u64>,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectView {
    query: &'static str,
    project: String,
    display_name: String,
    latest: Option<String>,
    summary: Option<String>,
    index_url: String,
    tuf: TufStatus,
    releases: Vec<ReleaseView>,
    description: Option<Description>,
}

/// `GET /project/<name>`: to the page with the slash (and the normalized
/// name).
pub async fn without_slash(Path(name): Path<String>) -> Result<Response, ApiError> {
    match ProjectName::parse(&name) {
        Ok(parsed) => Ok(bulwark_http::simple::moved_permanently(&format!(
            "/project/{}/",
            parsed.normalized()
        ))),
        Err(_) => unknown(&name),
    }
}

/// The 404 page for `name`.
fn unknown(name: &str) -> Result<Response, ApiError> {
    super::not_found(&format!(
        "There is no project called “{name}” on this index."
    ))
}

/// `GET /project/<name>/`. A name that is not normalized is redirected
/// (301) to the normalized one, as `/simple/` does.
pub async fn project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Ok(parsed) = ProjectName::parse(&name) else {
        return unknown(&name);
    };
    let project = parsed.normalized().to_owned();
    if project != name {
        return Ok(bulwark_http::simple::moved_permanently(&format!(
            "/project/{project}/"
        )));
    }
    let pages = LivePages::new(&state);
    let Some(page) = pages.project_page(&parsed).await? else {
        return unknown(&name);
    };
    let releases = json_api::releases(&page);
    let latest = json_api::latest(&releases);
    let key = latest.and_then(metadata_key);
    let (store, blobs, wanted) = (state.store.clone(), state.blobs.clone(), project.clone());
    let (record, metadata, claim, page_record, roles, queued) = blocking(move || {
        let metadata = match key {
            Some(key) => blobs.get(&key)?,
            None => None,
        };
        Ok::<_, bulwark_store::StoreError>((
            store.project(&wanted)?,
            metadata,
            store.claim(&wanted)?,
            store.page(&wanted)?,
            store.roles()?,
            store.pending_changes()?,
        ))
    })
    .await
    .map_err(|e| ApiError::internal("reading a project", &e))?;
    let metadata = metadata.and_then(|bytes| parse_stored_metadata(&project, &bytes));
    let pending = queued.projects.binary_search(&project).is_ok();
    let view = ProjectView {
        query: "",
        display_name: record.map_or_else(|| parsed.as_given().to_owned(), |r| r.display_name),
        latest: latest.map(|r| r.version().to_string()),
        summary: metadata
            .as_ref()
            .and_then(|m| m.summary())
            .map(str::to_owned),
        description: metadata.as_ref().and_then(|m| {
            m.description()
                .filter(|d| !d.trim().is_empty())
                .map(|d| description::render(d, m.get("Description-Content-Type")))
        }),
        index_url: super::index_url(&headers),
        tuf: tuf_status(
            &project,
            claim.as_ref(),
            page_record.as_ref(),
            &roles,
            pending,
        ),
        releases: newest_first(&releases),
        project,
    };
    super::respond(StatusCode::OK, &view)
}

/// The releases newest first (PEP 440 order), as the page shows them.
fn newest_first(releases: &[Release<'_>]) -> Vec<ReleaseView> {
    releases
        .iter()
        .rev()
        .map(|r| ReleaseView {
            version: r.version().to_string(),
            yanked: r.is_yanked(),
            yanked_reason: r.yanked_reason().map(str::to_owned),
            files: r.files().iter().map(|f| file_view(f)).collect(),
        })
        .collect()
}

fn file_view(file: &PageFile) -> FileView {
    let linkable = ["../", "/", "http://", "https://"]
        .iter()
        .any(|start| file.url.starts_with(start));
    FileView {
        filename: file.filename.as_str().to_owned(),
        url: if linkable {
            file.url.clone()
        } else {
            "#".to_owned()
        },
        size: match file.size {
            None => "not stated by the upstream index".to_owned(),
            Some(size) if size < 1024 => format!("{size} bytes"),
            Some(size) => format!("{} ({size} bytes)", format::size(size)),
        },
        sha256: file.sha256.clone(),
        uploaded: format::time_us(file.upload_time.unix_micros()),
        requires_python: file.requires_python.clone(),
        yanked: file.yanked.clone(),
    }
}

/// The number of hashed bins' bits, from the bin role records (`2^bits` of
/// them); `None` when their count is not a power of two.
fn bin_bits(roles: &[RoleRecord]) -> Option<u32> {
    let prefix = format!("{}-", layout::BIN_PREFIX);
    let count = roles.iter().filter(|r| r.role.starts_with(&prefix)).count();
    count.is_power_of_two().then(|| count.trailing_zeros())
}

fn role<'r>(roles: &'r [RoleRecord], name: &str) -> Option<&'r RoleRecord> {
    roles.iter().find(|r| r.role == name)
}

/// Where `project` stands in the TUF repository, from its claim, its page
/// record, the role records and whether changes to it are queued.
pub fn tuf_status(
    project: &str,
    claim: Option<&ClaimRecord>,
    page: Option<&PageRecord>,
    roles: &[RoleRecord],
    pending: bool,
) -> TufStatus {
    let snapshot = role(roles, "snapshot").map(|r| r.version);
    let Some(claim) = claim else {
        let bits = bin_bits(roles);
        let signer = match (page, bits) {
            (Some(page), Some(bits)) => layout::bin_name(page.bin, bits),
            (None, Some(bits)) => layout::bin_name(layout::bin_of(project, bits), bits),
            (_, None) => "a hashed bin".to_owned(),
        };
        let record = page.and(role(roles, &signer));
        return TufStatus {
            state: "unclaimed",
            explanation: "its page is signed by the index's online key, in a hashed bin \
                          (PEP 458): the index can change it; its developers do not sign it",
            delegated_by: Some(layout::UNCLAIMED.to_owned()),
            signed_version: record.map(|r| r.version),
            signer_expires: record.map(|r| format::time_s(r.expires)),
            snapshot_version: record.and(snapshot),
            page_sha256: page.map(|p| p.sha256.clone()),
            pending,
            developer_keys: Vec::new(),
            threshold: None,
            signer,
        };
    };
    let signer = layout::project_role(project).to_string();
    let keys = Delegations::from_json(claim.delegation.as_bytes())
        .ok()
        .and_then(|d| {
            let name = layout::project_role(project);
            d.role_keys(&name).cloned()
        });
    let (state, explanation) = match claim.tier {
        ClaimTier::RecentlyClaimed => (
            ClaimTier::RecentlyClaimed.as_str(),
            "its page is signed by its developers' keys (PEP 480); the index vouches for \
             those keys with its online key until an administrator promotes the claim",
        ),
        ClaimTier::Claimed => (
            ClaimTier::Claimed.as_str(),
            "its page is signed by its developers' keys (PEP 480), which the administrator's \
             offline claimed key vouches for: the index cannot change it",
        ),
    };
    TufStatus {
        state,
        explanation,
        delegated_by: Some(layout::claim_bin_name(
            claim.tier.as_str(),
            layout::claim_bin_of(project),
        )),
        signed_version: Some(claim.role_version),
        signer_expires: Some(format::time_s(claim.role_expires)),
        snapshot_version: snapshot,
        page_sha256: Some(claim.page_sha256.clone()),
        pending,
        developer_keys: keys.as_ref().map(|k| k.keyids.clone()).unwrap_or_default(),
        threshold: keys.map(|k| k.threshold),
        signer,
    }
}

#[cfg(test)]
mod tests;
