//! Reading another index's project page: PEP 691 JSON or PEP 503 HTML, as
//! `PyPI`, pypiserver, devpi or another Bulwark serve it. Unlike
//! [`ProjectPage::parse_json`](crate::ProjectPage::parse_json), which reads
//! back pages this index signed and refuses anything odd, an upstream page
//! is foreign: one bad entry must not lose the good ones. So each file is
//! kept or skipped on its own, with the reason it was skipped, and only a
//! page that cannot be read at all is an error.
//!
//! A file is kept only with a valid distribution filename of the page's
//! project, an `http`/`https` URL, and a SHA-256 (a `#sha256=` fragment in
//! HTML, `hashes.sha256` in JSON): the index signs that hash, and checks
//! the bytes it later fetches against it. A second entry for a filename is
//! skipped. PEP 592 yanks and PEP 658/714 metadata hashes are carried.
//!
//! ```text
//! bytes + the page's URL ─┬─ parse_json (PEP 691: files[]) ──┐
//!                         └─ parse_html (PEP 503: <a href>) ─┴─▶ UpstreamPage { files, skipped }
//! ```

use std::collections::HashSet;

use bulwark_tuf::json::{self, Value};
use url::Url;

use crate::filename::{DistFilename, FilenameError};
use crate::name::ProjectName;
use crate::shown::shown;

/// The files an upstream page lists that the index may serve, and those it
/// may not, with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamPage {
    /// The files kept, in the page's order.
    pub files: Vec<UpstreamFile>,
    /// The entries skipped, in the page's order.
    pub skipped: Vec<Skipped>,
}

/// One file an upstream page lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamFile {
    /// The distribution filename.
    pub filename: DistFilename,
    /// Where to fetch it: absolute, without a fragment.
    pub url: Url,
    /// Its SHA-256 as the page gives it, lowercase hex.
    pub sha256: String,
    /// `Requires-Python`, if given.
    pub requires_python: Option<String>,
    /// `None` if not yanked; `Some("")` if yanked without a reason.
    pub yanked: Option<String>,
    /// Whether a PEP 658 `.metadata` file is served beside it, and its
    /// SHA-256 when the page gives one.
    pub metadata: Metadata,
    /// Its size, when the page gives it (JSON, PEP 700).
    pub size: Option<u64>,
}

/// A PEP 658 metadata file beside a distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// None is served.
    Absent,
    /// One is served; its SHA-256 when the page gives it.
    Served(Option<String>),
}

/// An entry of an upstream page that is not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's filename as the page gives it, quoted and escaped.
    pub filename: String,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// Why an upstream page's entry is skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// Not a wheel or sdist filename the index accepts.
    #[error("not a distribution filename the index accepts")]
    Filename(#[source] FilenameError),
    /// A distribution of another project.
    #[error("a file of another project")]
    OtherProject,
    /// No SHA-256, or not 64 hex digits.
    #[error("no valid sha256")]
    NoSha256,
    /// The URL does not resolve to an `http` or `https` URL.
    #[error("its URL is not an http(s) URL")]
    BadUrl,
    /// A field has the wrong JSON type.
    #[error("field {0} has the wrong type")]
    WrongType(&'static str),
    /// The page lists this filename again.
    #[error("listed twice")]
    Duplicate,
}

/// Why an upstream page cannot be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamPageError {
    /// Not strict JSON.
    #[error("the page is not valid JSON")]
    Json(#[source] json::JsonError),
    /// A JSON page without a `files` array.
    #[error("the page has no files array")]
    NoFiles,
    /// `meta.api-version` is not `1.x`.
    #[error("unsupported simple API version {0}")]
    ApiVersion(String),
}

/// Reads a PEP 691 JSON page of `project` fetched from `page_url`.
pub fn parse_json(
    bytes: &[u8],
    page_url: &Url,
    project: &ProjectName,
) -> Result<UpstreamPage, UpstreamPageError> {
    let Value::Object(top) = json::parse(bytes).map_err(UpstreamPageError::Json)? else {
        return Err(UpstreamPageError::NoFiles);
    };
    if let Some(Value::Object(meta)) = top.get("meta")
        && let Some(version) = meta.get("api-version")
    {
        match version {
            Value::String(v) if v.starts_with("1.") => {}
            Value::String(v) => return Err(UpstreamPageError::ApiVersion(shown(v))),
            _ => return Err(UpstreamPageError::ApiVersion("(not a string)".to_owned())),
        }
    }
    let Some(Value::Array(entries)) = top.get("files") else {
        return Err(UpstreamPageError::NoFiles);
    };
    let mut page = Collector::new(project);
    for entry in entries {
        let Value::Object(entry) = entry else {
            page.skip(String::new(), SkipReason::WrongType("files[]"));
            continue;
        };
        let Some(Value::String(filename)) = entry.get("filename") else {
            page.skip(String::new(), SkipReason::WrongType("files[].filename"));
            continue;
        };
        let file = json_entry(entry, page_url);
        page.add(filename, file);
    }
    Ok(page.done())
}

/// What a JSON entry says besides its filename.
fn json_entry(
    entry: &std::collections::BTreeMap<String, Value>,
    page_url: &Url,
) -> Result<Entry, SkipReason> {
    let Some(Value::String(href)) = entry.get("url") else {
        return Err(SkipReason::WrongType("files[].url"));
    };
    let sha256 = match entry.get("hashes") {
        Some(Value::Object(hashes)) => match hashes.get("sha256") {
            Some(Value::String(sha)) => Some(sha.clone()),
            _ => None,
        },
        _ => None,
    };
    let requires_python = match entry.get("requires-python") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(SkipReason::WrongType("files[].requires-python")),
    };
    let yanked = match entry.get("yanked") {
        None | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(String::new()),
        Some(Value::String(reason)) => Some(reason.clone()),
        Some(_) => return Err(SkipReason::WrongType("files[].yanked")),
    };
    // PEP 714: `core-metadata`, or the older `dist-info-metadata`.
    let metadata = match entry
        .get("core-metadata")
        .or_else(|| entry.get("dist-info-metadata"))
    {
        None | Some(Value::Bool(false)) => Metadata::Absent,
        Some(Value::Bool(true)) => Metadata::Served(None),
        Some(Value::Object(hashes)) => match hashes.get("sha256") {
            Some(Value::String(sha)) if is_sha256(sha) => {
                Metadata::Served(Some(sha.to_ascii_lowercase()))
            }
            _ => Metadata::Served(None),
        },
        Some(_) => return Err(SkipReason::WrongType("files[].core-metadata")),
    };
    let size = match entry.get("size") {
        None => None,
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        Some(_) => return Err(SkipReason::WrongType("files[].size")),
    };
    Ok(Entry {
        href: page_url
            .join(href)
            .map_or_else(|_| href.clone(), String::from),
        sha256,
        requires_python,
        yanked,
        metadata,
        size,
    })
}

/// Reads a PEP 503 HTML page of `project` fetched from `page_url`: every
/// `<a href>`, its text the filename, the `#sha256=` fragment its hash,
/// `data-requires-python`, `data-yanked`, `data-core-metadata` (or
/// `data-dist-info-metadata`) as PEP 503, 592, 658 and 714 say. A `<base
/// href>` before the links changes what they are relative to, as in a
/// browser. Never fails: HTML is read as a browser would, whatever it is.
#[must_use]
pub fn parse_html(bytes: &[u8], page_url: &Url, project: &ProjectName) -> UpstreamPage {
    use html5gum::{Token, Tokenizer};

    let mut base = page_url.clone();
    let mut page = Collector::new(project);
    let mut open: Option<(Entry, String)> = None;
    for Ok(token) in Tokenizer::new(bytes) {
        match token {
            Token::StartTag(tag) if tag.name.as_slice() == b"base" => {
                if let Some(href) = attribute(&tag.attributes, b"href")
                    && let Ok(url) = page_url.join(&href)
                {
                    base = url;
                }
            }
            Token::StartTag(tag) if tag.name.as_slice() == b"a" => {
                // An `<a>` inside an unclosed one closes it, as in a browser.
                if let Some((entry, text)) = open.take() {
                    page.add(text.trim(), Ok(entry));
                }
                let Some(href) = attribute(&tag.attributes, b"href") else {
                    continue;
                };
                let (href, sha256) = split_fragment(&href);
                let href = base.join(&href).map_or(href, String::from);
                let metadata = match attribute(&tag.attributes, b"data-core-metadata")
                    .or_else(|| attribute(&tag.attributes, b"data-dist-info-metadata"))
                {
                    None => Metadata::Absent,
                    Some(value) => Metadata::Served(
                        value
                            .strip_prefix("sha256=")
                            .filter(|sha| is_sha256(sha))
                            .map(str::to_ascii_lowercase),
                    ),
                };
                let entry = Entry {
                    href,
                    sha256,
                    requires_python: attribute(&tag.attributes, b"data-requires-python"),
                    yanked: attribute(&tag.attributes, b"data-yanked"),
                    metadata,
                    size: None,
                };
                open = Some((entry, String::new()));
            }
            Token::String(text) => {
                if let Some((_, filename)) = &mut open {
                    filename.push_str(&String::from_utf8_lossy(&text.value));
                }
            }
            Token::EndTag(tag) if tag.name.as_slice() == b"a" => {
                if let Some((entry, text)) = open.take() {
                    page.add(text.trim(), Ok(entry));
                }
            }
            _ => {}
        }
    }
    if let Some((entry, text)) = open.take() {
        page.add(text.trim(), Ok(entry));
    }
    page.done()
}

/// An attribute's value, as text (the tokenizer decoded its character
/// references).
fn attribute<S: html5gum::SpanBound>(
    attributes: &std::collections::BTreeMap<
        html5gum::HtmlString,
        html5gum::Spanned<html5gum::HtmlString, S>,
    >,
    name: &[u8],
) -> Option<String> {
    attributes
        .iter()
        .find(|(key, _)| key.as_slice() == name)
        .map(|(_, value)| String::from_utf8_lossy(&value.value).into_owned())
}

/// `href` without its fragment, and the SHA-256 a `#sha256=<hex>`
/// fragment gives.
fn split_fragment(href: &str) -> (String, Option<String>) {
    match href.split_once('#') {
        Some((url, fragment)) => (
            url.to_owned(),
            fragment.strip_prefix("sha256=").map(str::to_owned),
        ),
        None => (href.to_owned(), None),
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An entry as a page gives it, before its filename is checked.
struct Entry {
    href: String,
    sha256: Option<String>,
    requires_python: Option<String>,
    yanked: Option<String>,
    metadata: Metadata,
    size: Option<u64>,
}

/// Checks entries one by one into an [`UpstreamPage`].
struct Collector<'a> {
    project: &'a ProjectName,
    seen: HashSet<String>,
    page: UpstreamPage,
}

impl<'a> Collector<'a> {
    fn new(project: &'a ProjectName) -> Self {
        Self {
            project,
            seen: HashSet::new(),
            page: UpstreamPage::default(),
        }
    }

    fn skip(&mut self, filename: String, reason: SkipReason) {
        self.page.skipped.push(Skipped { filename, reason });
    }

    /// Keeps the entry for `filename`, or records why not.
    fn add(&mut self, filename: &str, entry: Result<Entry, SkipReason>) {
        match self.check(filename, entry) {
            Ok(file) => self.page.files.push(file),
            Err(reason) => self.skip(shown(filename), reason),
        }
    }

    fn check(
        &mut self,
        filename: &str,
        entry: Result<Entry, SkipReason>,
    ) -> Result<UpstreamFile, SkipReason> {
        let entry = entry?;
        let parsed = DistFilename::parse(filename).map_err(SkipReason::Filename)?;
        if parsed.name().normalized() != self.project.normalized() {
            return Err(SkipReason::OtherProject);
        }
        let sha256 = entry
            .sha256
            .filter(|sha| is_sha256(sha))
            .ok_or(SkipReason::NoSha256)?
            .to_ascii_lowercase();
        let mut url = Url::parse(&entry.href).map_err(|_| SkipReason::BadUrl)?;
        url.set_fragment(None);
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(SkipReason::BadUrl);
        }
        if !self.seen.insert(parsed.as_str().to_owned()) {
            return Err(SkipReason::Duplicate);
        }
        Ok(UpstreamFile {
            filename: parsed,
            url,
            sha256,
            requires_python: entry.requires_python,
            yanked: entry.yanked,
            metadata: entry.metadata,
            size: entry.size,
        })
    }

    fn done(self) -> UpstreamPage {
        self.page
    }
}

#[cfg(test)]
mod tests;
