//! Rule 7: the uploaded page is the previously signed page plus the
//! uploaded files (PEP 480 "Snapshot Process": the delegated targets
//! metadata MUST be consistent with the targets), in the one form every
//! party renders (DESIGN.md §2).

use std::collections::BTreeMap;

use bulwark_pypi::{PageFile, ProjectName, ProjectPage, render_json};

use super::{PageProblem, UploadedFile};
use crate::layout::file_url;

/// What a page that passed changes.
pub(super) struct Changes {
    pub(super) page: ProjectPage,
    pub(super) added: Vec<PageFile>,
    pub(super) yank_changed: Vec<PageFile>,
}

/// The page's name of the first field in which two records of a file's
/// content differ.
pub(super) fn content_difference(a: &UploadedFile, b: &UploadedFile) -> Option<&'static str> {
    [
        ("sha256", a.sha256 == b.sha256),
        ("_blake2b_256", a.blake2b_256 == b.blake2b_256),
        ("size", a.size == b.size),
        ("requires-python", a.requires_python == b.requires_python),
        (
            "core-metadata",
            a.core_metadata_sha256 == b.core_metadata_sha256,
        ),
    ]
    .into_iter()
    .find_map(|(field, same)| (!same).then_some(field))
}

/// The first field of a previously signed file that changed, `yanked`
/// only when `may_yank` is false.
fn changed_field(before: &PageFile, after: &PageFile, may_yank: bool) -> Option<&'static str> {
    content_difference(&before.into(), &after.into())
        .or_else(|| (before.url != after.url).then_some("url"))
        .or_else(|| (before.upload_time != after.upload_time).then_some("upload-time"))
        .or_else(|| (!may_yank && before.yanked != after.yanked).then_some("yanked"))
}

pub(super) fn check(
    project: &ProjectName,
    bytes: &[u8],
    previous: Option<&ProjectPage>,
    uploads: &[UploadedFile],
) -> Result<Changes, PageProblem> {
    let page = ProjectPage::parse_json(bytes).map_err(PageProblem::Unreadable)?;
    if page.name != *project {
        return Err(PageProblem::OtherProject {
            found: page.name.normalized().to_owned(),
        });
    }
    if render_json(&page) != bytes {
        return Err(PageProblem::NotRendered);
    }
    // Filenames are unique on a parsed page.
    let mut listed = BTreeMap::new();
    for file in &page.files {
        let filename = file.filename.as_str();
        if file.url != file_url(&file.sha256, filename) {
            return Err(PageProblem::FileUrl {
                filename: filename.to_owned(),
            });
        }
        listed.insert(filename, file);
    }
    let mut uploaded = BTreeMap::new();
    for upload in uploads {
        let filename = upload.filename.as_str();
        if uploaded.insert(filename, upload).is_some() {
            return Err(PageProblem::DuplicateUpload {
                filename: filename.to_owned(),
            });
        }
    }

    // A transaction without uploads is a yank, an unyank, or a re-signing.
    let may_yank = uploads.is_empty();
    let mut yank_changed = Vec::new();
    let before: BTreeMap<&str, &PageFile> = previous
        .map(|p| p.files.iter().map(|f| (f.filename.as_str(), f)).collect())
        .unwrap_or_default();
    for (&filename, &old) in &before {
        let new = listed.get(filename).ok_or_else(|| PageProblem::Dropped {
            filename: filename.to_owned(),
        })?;
        if let Some(field) = changed_field(old, new, may_yank) {
            return Err(PageProblem::Changed {
                filename: filename.to_owned(),
                field,
            });
        }
        if old.yanked != new.yanked {
            yank_changed.push((*new).clone());
        }
    }
    for (&filename, &upload) in &uploaded {
        let file = listed
            .get(filename)
            .ok_or_else(|| PageProblem::UploadNotListed {
                filename: filename.to_owned(),
            })?;
        if let Some(field) = content_difference(upload, &UploadedFile::from(*file)) {
            return Err(PageProblem::UploadDiffers {
                filename: filename.to_owned(),
                field,
            });
        }
    }
    let mut added = Vec::new();
    for (&filename, &file) in &listed {
        if before.contains_key(filename) {
            continue;
        }
        if !uploaded.contains_key(filename) {
            return Err(PageProblem::NotUploaded {
                filename: filename.to_owned(),
            });
        }
        added.push(file.clone());
    }
    Ok(Changes {
        page,
        added,
        yank_changed,
    })
}
