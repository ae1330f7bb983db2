//! `PyPI`'s JSON API (<https://docs.pypi.org/api/json/>): the documents of
//! `GET /pypi/<project>/json` and `GET /pypi/<project>/<version>/json`,
//! built from a [`ProjectPage`] so that they list exactly the files, sizes,
//! hashes and yanks of the project's simple page.
//!
//! ```text
//! ProjectPage ─▶ releases ─▶ [Release] ─▶ latest / find ─▶ Release
//!                                 (the server reads the release's CoreMetadata)
//! JsonApi { page, display name, URLs } + Release + CoreMetadata
//!            ─▶ render_project / render_release ─▶ JSON bytes
//! ```
//!
//! What differs from `PyPI`: there is no MD5 digest (the index never
//! computes one, and a made-up one would be worse than none), so
//! `digests.md5` and `md5_digest` are absent; `vulnerabilities` is always
//! empty (the index knows of none); download counts are `-1`, as `PyPI`
//! writes them since it stopped counting. `core-metadata` and
//! `data-dist-info-metadata` (PEP 691 and PEP 714's names) appear on a file
//! exactly when its simple-page entry has them.

use std::collections::BTreeMap;

use bulwark_tuf::json::{self, Value};

use crate::filename::DistKind;
use crate::metadata::CoreMetadata;
use crate::simple::{PageFile, ProjectPage};
use crate::version::Version;

/// The files of one release: every file of the page whose version is
/// PEP 440-equal to [`Release::version`] (`1.0` and `1.0.0` are one release).
#[derive(Clone, Debug)]
pub struct Release<'p> {
    version: &'p Version,
    files: Vec<&'p PageFile>,
}

impl<'p> Release<'p> {
    /// The release's version, as its first file (by filename) writes it.
    #[must_use]
    pub fn version(&self) -> &'p Version {
        self.version
    }

    /// The files, sorted by filename.
    #[must_use]
    pub fn files(&self) -> &[&'p PageFile] {
        &self.files
    }

    /// Whether the release is yanked: every one of its files is (`PyPI`
    /// yanks whole releases; a claimed project's page may yank single files,
    /// and a release with one installable file is not yanked).
    #[must_use]
    pub fn is_yanked(&self) -> bool {
        self.files.iter().all(|f| f.yanked.is_some())
    }

    /// The first non-empty yank reason of the release's files, if it is yanked.
    #[must_use]
    pub fn yanked_reason(&self) -> Option<&'p str> {
        if !self.is_yanked() {
            return None;
        }
        self.files
            .iter()
            .filter_map(|f| f.yanked.as_deref())
            .find(|reason| !reason.is_empty())
    }

    /// The file whose PEP 658 core metadata describes the release: the
    /// first by filename that has a `.metadata` file, preferring wheels,
    /// whose metadata is never dynamic.
    #[must_use]
    pub fn metadata_file(&self) -> Option<&'p PageFile> {
        let with_metadata = || {
            self.files
                .iter()
                .copied()
                .filter(|f| f.core_metadata_sha256.is_some())
        };
        with_metadata()
            .find(|f| f.filename.is_wheel())
            .or_else(|| with_metadata().next())
    }

    /// The release's `Requires-Python`: that of its first file that has one.
    fn requires_python(&self) -> Option<&'p str> {
        self.files.iter().find_map(|f| f.requires_python.as_deref())
    }
}

/// The releases of `page`, oldest first by PEP 440 order, each with its
/// files sorted by filename.
#[must_use]
pub fn releases(page: &ProjectPage) -> Vec<Release<'_>> {
    let mut by_release: BTreeMap<String, Vec<&PageFile>> = BTreeMap::new();
    for file in page.sorted_files() {
        by_release
            .entry(file.filename.version().canonical())
            .or_default()
            .push(file);
    }
    let mut releases: Vec<Release<'_>> = by_release
        .into_values()
        .filter_map(|files| {
            let version = files.first()?.filename.version();
            Some(Release { version, files })
        })
        .collect();
    releases.sort_by(|a, b| a.version().cmp(b.version()));
    releases
}

/// The release the project document describes, chosen as `PyPI` chooses
/// it: the highest non-yanked final release, else the highest non-yanked
/// pre-release, else the same among yanked releases.
#[must_use]
pub fn latest<'r, 'p>(releases: &'r [Release<'p>]) -> Option<&'r Release<'p>> {
    releases
        .iter()
        .max_by_key(|r| (!r.is_yanked(), !r.version().is_prerelease(), r.version()))
}

/// The release whose version is PEP 440-equal to `version`.
#[must_use]
pub fn find<'r, 'p>(releases: &'r [Release<'p>], version: &Version) -> Option<&'r Release<'p>> {
    releases.iter().find(|r| r.version() == version)
}

/// What a JSON API document says beside the release: the project as the
/// index shows it and where its pages are.
#[derive(Clone, Copy, Debug)]
pub struct JsonApi<'a> {
    /// The project's page.
    pub page: &'a ProjectPage,
    /// The project's name as first uploaded (`info.name`).
    pub display_name: &'a str,
    /// The absolute URL of the project's simple page; file URLs on the page
    /// are resolved against it, as an installer resolves them.
    pub page_url: &'a str,
    /// The absolute URL of the JSON API, `<index>/pypi/`.
    pub api_url: &'a str,
    /// `last_serial`: a number that grows whenever the project changes.
    pub last_serial: u64,
}

impl JsonApi<'_> {
    /// `GET /pypi/<project>/json`: `info` of `release` (normally
    /// [`latest`]), every release's files in `releases`, that release's in
    /// `urls`.
    #[must_use]
    pub fn render_project(
        &self,
        releases: &[Release<'_>],
        release: &Release<'_>,
        metadata: Option<&CoreMetadata>,
    ) -> Vec<u8> {
        let all = releases
            .iter()
            .map(|r| (r.version().to_string(), self.files(r)))
            .collect();
        self.render(release, metadata, Some(Value::Object(all)))
    }

    /// `GET /pypi/<project>/<version>/json`: `info` and `urls` of `release`,
    /// no `releases` (`PyPI` dropped it from this document).
    #[must_use]
    pub fn render_release(
        &self,
        release: &Release<'_>,
        metadata: Option<&CoreMetadata>,
    ) -> Vec<u8> {
        self.render(release, metadata, None)
    }

    fn render(
        &self,
        release: &Release<'_>,
        metadata: Option<&CoreMetadata>,
        releases: Option<Value>,
    ) -> Vec<u8> {
        let mut top = BTreeMap::from([
            ("info".to_owned(), self.info(release, metadata)),
            (
                "last_serial".to_owned(),
                Value::Int(i64::try_from(self.last_serial).unwrap_or(i64::MAX)),
            ),
            ("urls".to_owned(), self.files(release)),
            ("vulnerabilities".to_owned(), Value::Array(Vec::new())),
        ]);
        if let Some(releases) = releases {
            top.insert("releases".to_owned(), releases);
        }
        json::to_vec(&Value::Object(top))
    }

    fn info(&self, release: &Release<'_>, metadata: Option<&CoreMetadata>) -> Value {
        let version = release.version().to_string();
        let project = self.page.name.normalized();
        let header = |name: &str| string(metadata.and_then(|m| m.get(name)));
        let list = |name: &str| -> Value {
            let values: Vec<Value> = metadata
                .into_iter()
                .flat_map(|m| m.get_all(name))
                .map(Value::from)
                .collect();
            if values.is_empty() {
                Value::Null
            } else {
                Value::Array(values)
            }
        };
        let project_urls = metadata
            .map(|m| {
                m.get_all("Project-URL")
                    .filter_map(|entry| entry.split_once(','))
                    .map(|(label, url)| (label.trim().to_owned(), Value::from(url.trim())))
                    .collect::<BTreeMap<_, _>>()
            })
            .filter(|urls| !urls.is_empty())
            .map_or(Value::Null, Value::Object);
        let downloads = ["last_day", "last_month", "last_week"]
            .into_iter()
            .map(|key| (key.to_owned(), Value::Int(-1)))
            .collect();
        let fields = [
            ("author", header("Author")),
            ("author_email", header("Author-email")),
            ("bugtrack_url", Value::Null),
            (
                "classifiers",
                Value::Array(
                    metadata
                        .into_iter()
                        .flat_map(|m| m.get_all("Classifier"))
                        .map(Value::from)
                        .collect(),
                ),
            ),
            (
                "description",
                string(metadata.and_then(CoreMetadata::description)),
            ),
            (
                "description_content_type",
                header("Description-Content-Type"),
            ),
            ("docs_url", Value::Null),
            ("download_url", header("Download-URL")),
            ("downloads", Value::Object(downloads)),
            ("dynamic", list("Dynamic")),
            ("home_page", header("Home-page")),
            ("keywords", header("Keywords")),
            ("license", header("License")),
            ("license_expression", header("License-Expression")),
            ("license_files", list("License-File")),
            ("maintainer", header("Maintainer")),
            ("maintainer_email", header("Maintainer-email")),
            ("name", Value::from(self.display_name)),
            ("package_url", Value::from(self.page_url)),
            ("platform", header("Platform")),
            ("project_url", Value::from(self.page_url)),
            ("project_urls", project_urls),
            ("provides_extra", list("Provides-Extra")),
            (
                "release_url",
                Value::from(format!("{}{project}/{version}/json", self.api_url)),
            ),
            ("requires_dist", list("Requires-Dist")),
            ("requires_python", string(release.requires_python())),
            ("summary", string(metadata.and_then(CoreMetadata::summary))),
            ("version", Value::from(version)),
            ("yanked", Value::Bool(release.is_yanked())),
            ("yanked_reason", string(release.yanked_reason())),
        ];
        Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    /// The file objects of `release`, sorted by filename.
    fn files(&self, release: &Release<'_>) -> Value {
        Value::Array(release.files().iter().map(|f| self.file(f)).collect())
    }

    fn file(&self, file: &PageFile) -> Value {
        let (packagetype, python_version) = match file.filename.kind() {
            DistKind::Sdist(_) => ("sdist", "source"),
            DistKind::Wheel(tags) => ("bdist_wheel", tags.python()),
        };
        let time = file.upload_time.to_string();
        // `upload_time` is the same instant without fraction or zone, as
        // `PyPI` writes it.
        let upload_time = time
            .split_once('.')
            .map_or(time.as_str(), |(whole, _)| whole);
        let mut digests =
            BTreeMap::from([("sha256".to_owned(), Value::from(file.sha256.as_str()))]);
        if let Some(blake2b_256) = &file.blake2b_256 {
            digests.insert("blake2b_256".to_owned(), Value::from(blake2b_256.as_str()));
        }
        let mut fields = BTreeMap::from([
            ("comment_text".to_owned(), Value::from("")),
            ("digests".to_owned(), Value::Object(digests)),
            ("downloads".to_owned(), Value::Int(-1)),
            ("filename".to_owned(), Value::from(file.filename.as_str())),
            ("has_sig".to_owned(), Value::Bool(false)),
            ("packagetype".to_owned(), Value::from(packagetype)),
            ("python_version".to_owned(), Value::from(python_version)),
            (
                "requires_python".to_owned(),
                string(file.requires_python.as_deref()),
            ),
            (
                "size".to_owned(),
                file.size.map_or(Value::Null, |size| {
                    Value::Int(i64::try_from(size).unwrap_or(i64::MAX))
                }),
            ),
            ("upload_time".to_owned(), Value::from(upload_time)),
            (
                "upload_time_iso_8601".to_owned(),
                Value::from(time.as_str()),
            ),
            (
                "url".to_owned(),
                Value::from(resolve(self.page_url, &file.url)),
            ),
            ("yanked".to_owned(), Value::Bool(file.yanked.is_some())),
            (
                "yanked_reason".to_owned(),
                string(file.yanked.as_deref().filter(|r| !r.is_empty())),
            ),
        ]);
        if let Some(sha256) = &file.core_metadata_sha256 {
            let hashes = Value::Object(BTreeMap::from([(
                "sha256".to_owned(),
                Value::from(sha256.as_str()),
            )]));
            fields.insert("core-metadata".to_owned(), hashes.clone());
            fields.insert("data-dist-info-metadata".to_owned(), hashes);
        }
        Value::Object(fields)
    }
}

fn string(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

/// `reference` resolved against `base` (RFC 3986 §5.2) for the references
/// pages hold: absolute URLs are kept, an absolute path replaces the
/// base's, and a relative path is merged with the base's directory, its
/// `.` and `..` segments removed.
fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_owned();
    }
    let (origin, path) = match base.find("://") {
        Some(scheme_end) => {
            let host_start = scheme_end + 3;
            let path_start = base[host_start..]
                .find('/')
                .map_or(base.len(), |i| host_start + i);
            base.split_at(path_start)
        }
        None => ("", base),
    };
    let merged = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let directory = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{directory}/{reference}")
    };
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = merged.split('/').skip(1).peekable();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." | ".." => {
                if segment == ".." {
                    segments.pop();
                }
                if last {
                    segments.push("");
                }
            }
            _ => segments.push(segment),
        }
    }
    format!("{origin}/{}", segments.join("/"))
}

#[cfg(test)]
mod tests;
