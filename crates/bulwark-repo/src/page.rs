//! A project's page — the signed TUF target — rendered from its file records.
//! Rendering is deterministic, so the live `/simple/` page and the signed
//! page are the same bytes.

use bulwark_pypi::{DistFilename, PageFile, ProjectName, ProjectPage, UploadTime};
use bulwark_store::FileRecord;

use crate::layout::file_url;
use crate::transaction::UploadedFile;

/// Why a page could not be rendered: stored data that no longer parses.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {value:?} is not valid")]
pub struct PageError {
    what: &'static str,
    value: String,
}

/// The page of `project` with `files`.
pub fn project_page(project: &str, files: &[FileRecord]) -> Result<ProjectPage, PageError> {
    let name = ProjectName::parse(project).map_err(|_| PageError {
        what: "project name",
        value: project.to_owned(),
    })?;
    let files = files
        .iter()
        .map(|f| {
            let filename = DistFilename::parse(&f.filename).map_err(|_| PageError {
                what: "filename",
                value: f.filename.clone(),
            })?;
            Ok(PageFile {
                filename,
                url: file_url(&f.sha256, &f.filename),
                sha256: f.sha256.clone(),
                blake2b_256: (!f.blake2b_256.is_empty()).then(|| f.blake2b_256.clone()),
                size: (f.size > 0).then_some(f.size),
                requires_python: f.requires_python.clone(),
                yanked: f.yanked.clone(),
                core_metadata_sha256: f.metadata_sha256.clone(),
                upload_time: UploadTime::from_unix_micros(f.upload_time_us),
            })
        })
        .collect::<Result<_, PageError>>()?;
    Ok(ProjectPage { name, files })
}

/// The signed JSON bytes of a project page.
pub fn render(project: &str, files: &[FileRecord]) -> Result<Vec<u8>, PageError> {
    project_page(project, files).map(|page| bulwark_pypi::render_json(&page))
}

/// The record the index stores for `upload`, uploaded by `uploader` at
/// `upload_time_us` (microseconds since the Unix epoch), not yanked.
#[must_use]
pub fn file_record(upload: &UploadedFile, uploader: &str, upload_time_us: i64) -> FileRecord {
    FileRecord {
        project: upload.filename.name().normalized().to_owned(),
        filename: upload.filename.as_str().to_owned(),
        version: upload.filename.version().to_string(),
        size: upload.size,
        sha256: upload.sha256.clone(),
        blake2b_256: upload.blake2b_256.clone(),
        requires_python: upload.requires_python.clone(),
        metadata_sha256: upload.core_metadata_sha256.clone(),
        upload_time_us,
        yanked: None,
        uploader: uploader.to_owned(),
    }
}
