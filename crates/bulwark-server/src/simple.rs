//! The index's page source for the simple API: the project list and each
//! project's page, rendered live from the state store with the same
//! deterministic renderer the publisher signs, so `/simple/<name>/` in JSON
//! is byte for byte the signed page once it is published. A claimed
//! project's page is the one its developers signed, as the index accepted
//! it (`claims/<sha256>.page.json`), never rendered here. The front end
//! (negotiation, redirects, HTML) is `bulwark_http::simple`.

use std::sync::Arc;

use bulwark_http::{ApiError, Page, PageSource, blocking};
use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_store::{BlobStore, FileRecord, StateStore, UpstreamProjectRecord};

use crate::AppState;
use crate::upstream::Upstream;

/// Pages rendered live from the state store, or for claimed projects read
/// from the blob store; a project not hosted here is pulled from the
/// upstream indexes when there are any.
pub struct LivePages {
    store: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
    upstream: Option<Arc<Upstream>>,
}

impl LivePages {
    /// The pages of `state`'s stores, and of its upstreams.
    #[must_use]
    pub fn new(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            blobs: state.blobs.clone(),
            upstream: state.upstream.clone(),
        }
    }
}

impl PageSource for LivePages {
    const CACHE_CONTROL: &'static str = bulwark_http::simple::SHORT_LIVED;

    async fn projects(&self) -> Result<Vec<ProjectName>, ApiError> {
        let store = self.store.clone();
        let projects = blocking(move || store.projects())
            .await
            .map_err(|e| ApiError::internal("listing projects", &e))?;
        Ok(projects
            .iter()
            .filter_map(|p| ProjectName::parse(&p.display_name).ok())
            .collect())
    }

    async fn page(&self, name: &ProjectName) -> Result<Option<Page>, ApiError> {
        match self.stored(name).await? {
            Stored::Claimed(page) => Ok(page.map(Into::into)),
            Stored::Files(files) => {
                Ok(render(name, files.as_deref())?
                    .map(|page| bulwark_pypi::render_json(&page).into()))
            }
        }
    }
}

/// Where a project's page comes from.
enum Stored {
    /// The page its developers signed, if the blob is there.
    Claimed(Option<Vec<u8>>),
    /// The file records the index renders the page from; `None` when
    /// there is no such project. A project whose files an administrator
    /// removed has none, and an empty page, as the publisher signs it.
    Files(Option<Vec<FileRecord>>),
}

impl LivePages {
    /// The page of `name` as [`PageSource::page`] serves it, parsed: what
    /// the JSON API (`json_api.rs`) lists, so that it lists the same files
    /// and yanks as `/simple/<name>/`.
    pub async fn project_page(&self, name: &ProjectName) -> Result<Option<ProjectPage>, ApiError> {
        match self.stored(name).await? {
            Stored::Claimed(None) => Ok(None),
            Stored::Claimed(Some(bytes)) => ProjectPage::parse_json(&bytes)
                .map(Some)
                .map_err(|e| ApiError::internal("reading a claimed page", &e)),
            Stored::Files(files) => render(name, files.as_deref()),
        }
    }

    /// What `name`'s page is made of. A name not hosted here is pulled
    /// from the upstreams first (waiting for its signature); a pulled one
    /// whose upstream page is older than the TTL is refreshed behind.
    async fn stored(&self, name: &ProjectName) -> Result<Stored, ApiError> {
        let (stored, pulled) = self.read(name).await?;
        let Some(upstream) = &self.upstream else {
            return Ok(stored);
        };
        if let Some(record) = pulled {
            upstream.refresh_if_stale(record);
            return Ok(stored);
        }
        if matches!(stored, Stored::Files(None)) && upstream.pull_new(name).await? {
            return Ok(self.read(name).await?.0);
        }
        Ok(stored)
    }

    /// `name`'s page material, and its upstream record when it was pulled
    /// (read only when there are upstreams).
    async fn read(
        &self,
        name: &ProjectName,
    ) -> Result<(Stored, Option<UpstreamProjectRecord>), ApiError> {
        let (store, blobs) = (self.store.clone(), self.blobs.clone());
        let project = name.normalized().to_owned();
        let upstreams = self.upstream.is_some();
        blocking(move || {
            if let Some(claim) = store.claim(&project)? {
                let key = bulwark_layout::claim_page_key(&claim.page_sha256);
                return Ok((Stored::Claimed(blobs.get(&key)?), None));
            }
            let files = store.files(&project)?;
            if files.is_empty() && store.project(&project)?.is_none() {
                return Ok((Stored::Files(None), None));
            }
            let pulled = if upstreams {
                store.upstream_project(&project)?
            } else {
                None
            };
            Ok::<_, bulwark_store::StoreError>((Stored::Files(Some(files)), pulled))
        })
        .await
        .map_err(|e| ApiError::internal("reading files", &e))
    }
}

/// The page of `name` with `files`; `None` when there is no such project.
fn render(
    name: &ProjectName,
    files: Option<&[FileRecord]>,
) -> Result<Option<ProjectPage>, ApiError> {
    let Some(files) = files else {
        return Ok(None);
    };
    bulwark_repo::page::project_page(name.normalized(), files)
        .map(Some)
        .map_err(|e| ApiError::internal("rendering page", &e))
}
