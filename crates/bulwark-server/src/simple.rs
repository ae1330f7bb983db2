//! The index's page source for the simple API: the project list and each
//! project's page, rendered live from the state store with the same
//! deterministic renderer the publisher signs, so `/simple/<name>/` in JSON
//! is byte for byte the signed page once it is published. The front end
//! (negotiation, redirects, HTML) is `bulwark_http::simple`.

use std::sync::Arc;

use bulwark_http::{ApiError, Page, PageSource, blocking};
use bulwark_pypi::ProjectName;
use bulwark_store::StateStore;

/// Pages rendered live from the state store.
pub struct LivePages {
    store: Arc<dyn StateStore>,
}

impl LivePages {
    /// The pages of the projects in `store`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
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
        let store = self.store.clone();
        let project = name.normalized().to_owned();
        let files = blocking(move || store.files(&project))
            .await
            .map_err(|e| ApiError::internal("reading files", &e))?;
        if files.is_empty() {
            return Ok(None);
        }
        let page = bulwark_repo::page::project_page(name.normalized(), &files)
            .map_err(|e| ApiError::internal("rendering page", &e))?;
        Ok(Some(bulwark_pypi::render_json(&page).into()))
    }
}
