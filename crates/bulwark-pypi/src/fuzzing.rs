//! Harness shared by the `cargo fuzz` target in `fuzz/` and by the seed
//! replay test that runs on stable. It takes arbitrary bytes and panics
//! only when a property is violated.

use crate::{
    CoreMetadata, DistFilename, Limits, ProjectPage, inspect_bytes, render_html, render_json,
};

/// Small caps, so that a fuzzed archive is refused quickly rather than
/// inflated for long.
fn limits() -> Limits {
    Limits {
        max_entries: 1_000,
        max_entry_size: 4 << 20,
        max_total_size: 8 << 20,
        max_ratio: 200,
        ratio_threshold: 1 << 20,
    }
}

/// Feeds `data` to every parser of untrusted bytes in the crate:
///
/// - a filename that parses re-parses to the same value;
/// - metadata that parses keeps its required fields;
/// - `inspect` as a wheel, a `.tar.gz` sdist and a `.zip` sdist never
///   panics, and what it accepts agrees with the filename;
/// - a project page that parses renders to bytes that parse to the same
///   page and render to the same bytes.
pub fn pypi_upload(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(filename) = DistFilename::parse(text)
    {
        assert_eq!(filename.as_str(), text);
        let again = DistFilename::parse(filename.as_str())
            .unwrap_or_else(|e| panic!("re-parse failed: {e}"));
        assert_eq!(again.kind(), filename.kind());
        assert_eq!(again.name().normalized(), filename.name().normalized());
    }

    if let Ok(metadata) = CoreMetadata::parse(data) {
        assert!(metadata.get("Name").is_some() && metadata.get("Version").is_some());
    }

    let limits = limits();
    for filename in [
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "demo-1.0.zip",
    ] {
        if let Ok(inspected) = inspect_bytes(filename, data, &limits) {
            assert_eq!(inspected.filename.as_str(), filename);
            assert_eq!(inspected.metadata.name().normalized(), "demo");
            assert_eq!(inspected.size, data.len() as u64);
            assert!(CoreMetadata::parse(&inspected.metadata_bytes).is_ok());
        }
    }

    if let Ok(page) = ProjectPage::parse_json(data) {
        let bytes = render_json(&page);
        let again = ProjectPage::parse_json(&bytes)
            .unwrap_or_else(|e| panic!("rendered page does not parse: {e}"));
        assert_eq!(render_json(&again), bytes, "page rendering is not stable");
        let _ = render_html(&page);
    }
}

/// Feeds `data` to the readers of another index's pages, as HTML and as
/// JSON: they never panic, and every file they keep has a lowercase hex
/// SHA-256, an absolute `http(s)` URL without a fragment, a filename of
/// the page's project, and a filename no other kept file has.
pub fn upstream_page(data: &[u8]) {
    use crate::upstream::{self, UpstreamPage};

    let project = crate::ProjectName::parse("demo-pkg").unwrap_or_else(|e| panic!("{e}"));
    let base =
        url::Url::parse("http://upstream.test/simple/demo-pkg/").unwrap_or_else(|e| panic!("{e}"));
    let check = |page: &UpstreamPage| {
        let mut seen = std::collections::HashSet::new();
        for file in &page.files {
            assert!(
                file.sha256.len() == 64
                    && file
                        .sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
            assert!(matches!(file.url.scheme(), "http" | "https"));
            assert!(file.url.fragment().is_none());
            assert_eq!(file.filename.name().normalized(), "demo-pkg");
            assert!(seen.insert(file.filename.as_str().to_owned()), "kept twice");
        }
    };
    check(&upstream::parse_html(data, &base, &project));
    if let Ok(page) = upstream::parse_json(data, &base, &project) {
        check(&page);
    }
}
