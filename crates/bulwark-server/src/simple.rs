//! The index's page source for the simple API: the project list and each
//! project's page, rendered live from the state store with the same
//! deterministic renderer the publisher signs, so `/simple/<name>/` in JSON
//! is byte for byte the signed page once it is published. A claimed
//! project's page is the one its developers signed, as the index accepted
//! it (`claims/<sha256>.page.json`), never rendered here. The front end
//! (negotiation, redirects, HTML) is `bulwark_http::simple`.

use std::sync::Arc;

use bulwark_http::{ApiError, Page, PageSource, blocking};
use bulwark_pypi::ProjectName;
use bulwark_store::{BlobStore, StateStore};

/// Pages rendered live from the state store, or for claimed projects read
/// from the blob store.
pub struct LivePages {
    store: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
}

impl LivePages {
    /// The pages of the projects in `store`, claimed pages in `blobs`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { store, blobs }
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
        let (store, blobs) = (self.store.clone(), self.blobs.clone());
        let project = name.normalized().to_owned();
        let (claimed, files) = blocking(move || {
            if let Some(claim) = store.claim(&project)? {
                let key = bulwark_layout::claim_page_key(&claim.page_sha256);
                return Ok((Some(blobs.get(&key)?), Vec::new()));
            }
            Ok::<_, bulwark_store::StoreError>((None, store.files(&project)?))
        })
        .await
        .map_err(|e| ApiError::internal("reading files", &e))?;
        if let Some(page) = claimed {
            return Ok(page.map(Into::into));
        }
        if files.is_empty() {
            return Ok(None);
        }
        let page = bulwark_repo::page::project_page(name.normalized(), &files)
            .map_err(|e| ApiError::internal("rendering page", &e))?;
        Ok(Some(bulwark_pypi::render_json(&page).into()))
    }
}
