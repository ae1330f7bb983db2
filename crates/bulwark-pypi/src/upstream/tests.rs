use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const META: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn demo() -> ProjectName {
    ProjectName::parse("demo-pkg").unwrap()
}

fn page_url() -> Url {
    Url::parse("http://upstream.test/simple/demo-pkg/").unwrap()
}

fn reasons(page: &UpstreamPage) -> Vec<(&str, &SkipReason)> {
    page.skipped
        .iter()
        .map(|s| (s.filename.as_str(), &s.reason))
        .collect()
}

#[test]
fn pypiserver_style_html_keeps_hashed_files_and_resolves_relative_urls() {
    let html = format!(
        r#"<!DOCTYPE html><html><head><title>Links for demo-pkg</title></head><body>
<h1>Links for demo-pkg</h1>
<a href="../../packages/demo_pkg-1.0-py3-none-any.whl#sha256={SHA}" data-requires-python="&gt;=3.8">demo_pkg-1.0-py3-none-any.whl</a><br>
<a href="/packages/demo_pkg-1.0.tar.gz#sha256={}">demo_pkg-1.0.tar.gz</a>
<a href="https://files.test/demo_pkg-2.0-py3-none-any.whl#sha256={SHA}" data-yanked="broken &amp; bad" data-core-metadata="sha256={META}">
  demo_pkg-2.0-py3-none-any.whl </a>
<a href="demo_pkg-3.0.tar.gz#md5=abc">demo_pkg-3.0.tar.gz</a>
<a href="other-1.0.tar.gz#sha256={SHA}">other-1.0.tar.gz</a>
<a href="javascript:alert(1)#sha256={SHA}">demo_pkg-4.0.tar.gz</a>
<a href="demo_pkg-1.0.exe#sha256={SHA}">demo_pkg-1.0.exe</a>
<a href="x#sha256={SHA}">demo_pkg-1.0-py3-none-any.whl</a>
</body></html>"#,
        SHA.to_ascii_uppercase()
    );
    let page = parse_html(html.as_bytes(), &page_url(), &demo());
    let kept: Vec<(&str, &str)> = page
        .files
        .iter()
        .map(|f| (f.filename.as_str(), f.url.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            (
                "demo_pkg-1.0-py3-none-any.whl",
                "http://upstream.test/packages/demo_pkg-1.0-py3-none-any.whl"
            ),
            (
                "demo_pkg-1.0.tar.gz",
                "http://upstream.test/packages/demo_pkg-1.0.tar.gz"
            ),
            (
                "demo_pkg-2.0-py3-none-any.whl",
                "https://files.test/demo_pkg-2.0-py3-none-any.whl"
            ),
        ]
    );
    assert!(
        page.files.iter().all(|f| f.sha256 == SHA),
        "hashes lowercased"
    );
    assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(page.files[0].yanked, None);
    assert_eq!(page.files[0].metadata, Metadata::Absent);
    assert_eq!(page.files[2].yanked.as_deref(), Some("broken & bad"));
    assert_eq!(
        page.files[2].metadata,
        Metadata::Served(Some(META.to_owned()))
    );
    assert_eq!(
        reasons(&page),
        [
            ("\"demo_pkg-3.0.tar.gz\"", &SkipReason::NoSha256),
            ("\"other-1.0.tar.gz\"", &SkipReason::OtherProject),
            ("\"demo_pkg-4.0.tar.gz\"", &SkipReason::BadUrl),
            (
                "\"demo_pkg-1.0.exe\"",
                &SkipReason::Filename(DistFilename::parse("demo_pkg-1.0.exe").unwrap_err())
            ),
            ("\"demo_pkg-1.0-py3-none-any.whl\"", &SkipReason::Duplicate),
        ]
    );
}

#[test]
fn a_base_element_changes_what_links_are_relative_to() {
    let html = format!(
        r#"<base href="https://mirror.test/files/"><a href="demo_pkg-1.0.tar.gz#sha256={SHA}">demo_pkg-1.0.tar.gz</a>"#
    );
    let page = parse_html(html.as_bytes(), &page_url(), &demo());
    assert_eq!(
        page.files[0].url.as_str(),
        "https://mirror.test/files/demo_pkg-1.0.tar.gz"
    );
}

#[test]
fn html_metadata_true_without_a_hash_and_unclosed_links() {
    let html = format!(
        r#"<a href="a/demo_pkg-1.0.tar.gz#sha256={SHA}" data-dist-info-metadata="true">demo_pkg-1.0.tar.gz<a href="b/demo_pkg-2.0.tar.gz#sha256={SHA}">demo_pkg-2.0.tar.gz"#
    );
    let page = parse_html(html.as_bytes(), &page_url(), &demo());
    assert_eq!(page.files.len(), 2, "{page:?}");
    assert_eq!(page.files[0].metadata, Metadata::Served(None));
    assert_eq!(page.files[1].metadata, Metadata::Absent);
}

#[test]
fn pep_691_json_with_yanks_metadata_and_sizes() {
    let json = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"demo-pkg","versions":["1.0","2.0"],"files":[
{{"filename":"demo_pkg-1.0.tar.gz","url":"../../files/demo_pkg-1.0.tar.gz","hashes":{{"sha256":"{SHA}","md5":"x"}},"requires-python":">=3.9","size":123,"yanked":false}},
{{"filename":"demo_pkg-2.0-py3-none-any.whl","url":"https://files.test/demo_pkg-2.0-py3-none-any.whl","hashes":{{"sha256":"{SHA}"}},"yanked":"security","core-metadata":{{"sha256":"{META}"}},"requires-python":null}},
{{"filename":"demo_pkg-3.0.tar.gz","url":"https://files.test/x","hashes":{{}}}},
{{"filename":"demo_pkg-4.0.tar.gz","url":"https://files.test/y","hashes":{{"sha256":"{SHA}"}},"yanked":1}},
{{"filename":"demo_pkg-5.0.tar.gz","url":"ftp://files.test/z","hashes":{{"sha256":"{SHA}"}},"dist-info-metadata":true}},
{{"url":"nothing"}},
7
]}}"#
    );
    let page = parse_json(json.as_bytes(), &page_url(), &demo()).unwrap();
    assert_eq!(page.files.len(), 2, "{page:?}");
    assert_eq!(
        page.files[0].url.as_str(),
        "http://upstream.test/files/demo_pkg-1.0.tar.gz"
    );
    assert_eq!(page.files[0].size, Some(123));
    assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(page.files[1].yanked.as_deref(), Some("security"));
    assert_eq!(
        page.files[1].metadata,
        Metadata::Served(Some(META.to_owned()))
    );
    assert_eq!(page.files[1].requires_python, None);
    assert_eq!(
        reasons(&page),
        [
            ("\"demo_pkg-3.0.tar.gz\"", &SkipReason::NoSha256),
            (
                "\"demo_pkg-4.0.tar.gz\"",
                &SkipReason::WrongType("files[].yanked")
            ),
            ("\"demo_pkg-5.0.tar.gz\"", &SkipReason::BadUrl),
            ("", &SkipReason::WrongType("files[].filename")),
            ("", &SkipReason::WrongType("files[]")),
        ]
    );
}

#[test]
fn json_pages_that_cannot_be_read_are_errors() {
    let url = page_url();
    assert!(matches!(
        parse_json(b"<html>", &url, &demo()),
        Err(UpstreamPageError::Json(_))
    ));
    assert_eq!(
        parse_json(br#"{"name":"demo-pkg"}"#, &url, &demo()),
        Err(UpstreamPageError::NoFiles)
    );
    assert_eq!(
        parse_json(
            br#"{"meta":{"api-version":"2.0"},"files":[]}"#,
            &url,
            &demo()
        ),
        Err(UpstreamPageError::ApiVersion("\"2.0\"".to_owned()))
    );
}
