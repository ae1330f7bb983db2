//! The simple pages: exact bytes, determinism, escaping, round trips, and
//! the refusals of the JSON reader.

use bulwark_tuf::json;

use super::*;

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_M: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn file(filename: &str) -> PageFile {
    PageFile {
        filename: DistFilename::parse(filename).unwrap(),
        url: format!("../../files/{filename}"),
        sha256: SHA_A.to_owned(),
        blake2b_256: Some(SHA_B.to_owned()),
        size: Some(1234),
        requires_python: None,
        yanked: None,
        core_metadata_sha256: None,
        upload_time: UploadTime::from_unix_micros(1_700_000_000_123_456),
    }
}

fn page() -> ProjectPage {
    let mut wheel = file("Demo_Pkg-1.0-py3-none-any.whl");
    wheel.requires_python = Some(">=3.9".to_owned());
    wheel.core_metadata_sha256 = Some(SHA_M.to_owned());
    let mut sdist = file("demo_pkg-1.0.tar.gz");
    sdist.yanked = Some(String::new());
    let mut old = file("demo-pkg-0.9.tar.gz");
    old.yanked = Some("broken <b>\"build\"</b>".to_owned());
    ProjectPage {
        name: ProjectName::parse("Demo.Pkg").unwrap(),
        files: vec![sdist, old, wheel],
    }
}

#[test]
fn json_page_has_the_exact_expected_bytes() {
    let expected = concat!(
        r#"{"files":["#,
        r#"{"_blake2b_256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","#,
        r#""core-metadata":{"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"#,
        r#""dist-info-metadata":{"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"#,
        r#""filename":"Demo_Pkg-1.0-py3-none-any.whl","#,
        r#""hashes":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"#,
        r#""requires-python":">=3.9","size":1234,"upload-time":"2023-11-14T22:13:20.123456Z","#,
        r#""url":"../../files/Demo_Pkg-1.0-py3-none-any.whl","yanked":false},"#,
        r#"{"_blake2b_256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","#,
        r#""filename":"demo-pkg-0.9.tar.gz","#,
        r#""hashes":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"#,
        r#""size":1234,"upload-time":"2023-11-14T22:13:20.123456Z","#,
        r#""url":"../../files/demo-pkg-0.9.tar.gz","yanked":"broken <b>\"build\"</b>"},"#,
        r#"{"_blake2b_256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","#,
        r#""filename":"demo_pkg-1.0.tar.gz","#,
        r#""hashes":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"#,
        r#""size":1234,"upload-time":"2023-11-14T22:13:20.123456Z","#,
        r#""url":"../../files/demo_pkg-1.0.tar.gz","yanked":true}"#,
        r#"],"meta":{"api-version":"1.1"},"name":"demo-pkg","versions":["0.9","1.0"]}"#,
    );
    assert_eq!(String::from_utf8(render_json(&page())).unwrap(), expected);
}

#[test]
fn json_page_is_compact_with_sorted_keys() {
    // The strict parser plus the compact sorted writer of bulwark-tuf
    // reproduce the page exactly: no whitespace, keys in order, no
    // duplicate keys.
    let bytes = render_json(&page());
    assert_eq!(json::to_vec(&json::parse(&bytes).unwrap()), bytes);
}

#[test]
fn json_page_is_deterministic_whatever_the_file_order() {
    let mut shuffled = page();
    shuffled.files.reverse();
    assert_eq!(render_json(&shuffled), render_json(&page()));
    shuffled.files.rotate_left(1);
    assert_eq!(render_json(&shuffled), render_json(&page()));
    assert_eq!(render_html(&shuffled), render_html(&page()));
}

#[test]
fn json_strings_escape_quotes_backslashes_and_every_control_character() {
    let mut page = page();
    page.files[0].yanked = Some("a\"b\\c\n\t\u{0}\u{1f}\u{7f}é/".to_owned());
    let bytes = render_json(&page);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains(r#""yanked":"a\"b\\c\u000a\u0009\u0000\u001f"#),
        "{text}"
    );
    assert!(text.contains("\u{7f}é/\""), "{text}");
    assert!(!bytes.iter().any(|&b| b < 0x20));
    let parsed = ProjectPage::parse_json(&bytes).unwrap();
    assert_eq!(render_json(&parsed), bytes);
}

#[test]
fn versions_are_unique_and_sorted_by_pep440() {
    let mut page = page();
    page.files = [
        "demo_pkg-1.10.tar.gz",
        "demo_pkg-1.9.tar.gz",
        "demo_pkg-1.0rc1.tar.gz",
        "demo_pkg-1.0.0.tar.gz",
    ]
    .into_iter()
    .chain([
        "demo_pkg-1.0.tar.gz",
        "demo_pkg-1.9-py3-none-any.whl",
        "demo_pkg-2!0.1.tar.gz",
    ])
    .map(file)
    .collect();
    assert_eq!(
        page.versions(),
        ["1.0rc1", "1.0", "1.0.0", "1.9", "1.10", "2!0.1"]
    );
    let text = String::from_utf8(render_json(&page)).unwrap();
    assert!(
        text.ends_with(r#""versions":["1.0rc1","1.0","1.0.0","1.9","1.10","2!0.1"]}"#),
        "{text}"
    );
    let empty = ProjectPage {
        name: page.name.clone(),
        files: Vec::new(),
    };
    assert_eq!(
        render_json(&empty),
        br#"{"files":[],"meta":{"api-version":"1.1"},"name":"demo-pkg","versions":[]}"#
    );
}

#[test]
fn json_round_trip_gives_identical_bytes() {
    let bytes = render_json(&page());
    let parsed = ProjectPage::parse_json(&bytes).unwrap();
    assert_eq!(render_json(&parsed), bytes);
    let mut expected = page();
    expected.files.sort_by(|a, b| a.filename.cmp(&b.filename));
    assert_eq!(parsed.files, expected.files);
    assert_eq!(parsed.name.as_given(), "demo-pkg");
}

/// A file pulled from an upstream that stated no size and no BLAKE2b-256
/// is written without them, and read back the same.
#[test]
fn an_upstream_file_without_size_or_blake2b_round_trips() {
    let mut upstream = file("dep-1.0.tar.gz");
    upstream.blake2b_256 = None;
    upstream.size = None;
    let page = ProjectPage {
        name: ProjectName::parse("dep").unwrap(),
        files: vec![upstream],
    };
    let bytes = render_json(&page);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !text.contains("_blake2b_256") && !text.contains("\"size\""),
        "{text}"
    );
    let parsed = ProjectPage::parse_json(&bytes).unwrap();
    assert_eq!(parsed.files[0].size, None);
    assert_eq!(parsed.files[0].blake2b_256, None);
    assert_eq!(render_json(&parsed), bytes);
}

#[test]
fn parse_accepts_unknown_keys_and_pep700_time_forms() {
    let text = String::from_utf8(render_json(&page())).unwrap();
    let extended = text
        .replacen(
            r#"{"_blake2b_256""#,
            r#"{"provenance":null,"_blake2b_256""#,
            1,
        )
        .replace(r#""meta":{"#, r#""meta":{"_private":1,"#)
        .replacen(".123456Z", ".5Z", 1)
        .replacen(r#"1.1"}"#, r#"1.4"}"#, 1);
    let parsed = ProjectPage::parse_json(extended.as_bytes()).unwrap();
    assert_eq!(parsed.files[0].upload_time.micros(), 500_000);
    assert_eq!(parsed.files.len(), 3);
}

/// The page with one substitution, parsed.
fn parse_with(from: &str, to: &str) -> Result<ProjectPage, PageError> {
    let text = String::from_utf8(render_json(&page())).unwrap();
    assert!(text.contains(from), "{from}");
    ProjectPage::parse_json(text.replacen(from, to, 1).as_bytes())
}

#[test]
fn parse_refuses_what_two_clients_could_read_differently() {
    assert_eq!(
        parse_with(r#""yanked":true"#, r#""yanked":"""#),
        Err(PageError::EmptyYankReason)
    );
    assert_eq!(
        parse_with(
            r#""dist-info-metadata":{"sha256":"0"#,
            r#""dist-info-metadata":{"sha256":"1"#
        ),
        Err(PageError::MetadataKeysDisagree)
    );
    assert_eq!(
        parse_with(
            r#""core-metadata":{"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"#,
            ""
        ),
        Err(PageError::MetadataKeysDisagree)
    );
    assert_eq!(
        parse_with(
            r#""core-metadata":{"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}"#,
            r#""core-metadata":true"#
        ),
        Err(PageError::MetadataWithoutHash)
    );
    assert_eq!(
        parse_with(r#""hashes":{"sha256""#, r#""hashes":{"md5":"x","sha256""#),
        Err(PageError::UnverifiedHash {
            name: "\"md5\"".to_owned()
        })
    );
    assert_eq!(
        parse_with(
            r#""filename":"demo-pkg-0.9.tar.gz""#,
            r#""filename":"demo_pkg-1.0.tar.gz""#
        ),
        Err(PageError::DuplicateFile {
            filename: "demo_pkg-1.0.tar.gz".to_owned()
        })
    );
    assert_eq!(
        parse_with(
            r#""filename":"demo-pkg-0.9.tar.gz""#,
            r#""filename":"other-0.9.tar.gz""#
        ),
        Err(PageError::FileForOtherProject {
            filename: "other-0.9.tar.gz".to_owned()
        })
    );
    assert_eq!(
        parse_with(r#"["0.9","1.0"]"#, r#"["1.0"]"#),
        Err(PageError::VersionsMismatch)
    );
    assert_eq!(
        parse_with(r#"["0.9","1.0"]"#, r#"["1.0","0.9"]"#),
        Err(PageError::VersionsMismatch)
    );
}

#[test]
fn parse_refuses_malformed_fields() {
    assert!(matches!(
        ProjectPage::parse_json(b"{"),
        Err(PageError::Json(_))
    ));
    assert!(matches!(
        ProjectPage::parse_json(br#"{"a":1,"a":2}"#),
        Err(PageError::Json(_))
    ));
    assert_eq!(
        ProjectPage::parse_json(b"[]"),
        Err(PageError::WrongType {
            field: "page",
            expected: "an object"
        })
    );
    assert_eq!(
        ProjectPage::parse_json(b"{}"),
        Err(PageError::Missing { field: "meta" })
    );
    assert_eq!(
        parse_with(r#""api-version":"1.1""#, r#""api-version":"2.0""#),
        Err(PageError::UnsupportedApiVersion {
            version: "\"2.0\"".to_owned()
        })
    );
    assert_eq!(
        parse_with(r#""name":"demo-pkg""#, r#""name":"Demo.Pkg""#),
        Err(PageError::NameNotNormalized)
    );
    assert!(matches!(
        parse_with(r#""name":"demo-pkg""#, r#""name":"-x""#),
        Err(PageError::InvalidName(_))
    ));
    assert!(matches!(
        parse_with(
            r#""filename":"demo-pkg-0.9.tar.gz""#,
            r#""filename":"../x.tar.gz""#
        ),
        Err(PageError::InvalidFilename { .. })
    ));
    assert_eq!(
        parse_with(r#""sha256":"aaaa"#, r#""sha256":"AAAA"#),
        Err(PageError::InvalidHash {
            field: "files[].hashes.sha256"
        })
    );
    assert_eq!(
        parse_with(r#""_blake2b_256":"bb"#, r#""_blake2b_256":"b"#),
        Err(PageError::InvalidHash {
            field: "files[]._blake2b_256"
        })
    );
    assert_eq!(
        parse_with(r#""size":1234"#, r#""size":-1"#),
        Err(PageError::NegativeSize)
    );
    assert_eq!(
        parse_with(r#""size":1234"#, r#""size":"1234""#),
        Err(PageError::WrongType {
            field: "files[].size",
            expected: "an integer"
        })
    );
    assert_eq!(
        parse_with("2023-11-14T22:13:20.123456Z", "2023-11-14 22:13:20Z"),
        Err(PageError::InvalidUploadTime)
    );
    assert_eq!(
        parse_with(r#","url":"../../files/demo-pkg-0.9.tar.gz""#, ""),
        Err(PageError::Missing {
            field: "files[].url"
        })
    );
    assert_eq!(
        parse_with(r#""yanked":true"#, r#""yanked":1"#),
        Err(PageError::WrongType {
            field: "files[].yanked",
            expected: "a boolean or a string"
        })
    );
    assert!(matches!(
        ProjectPage::parse_json(
            br#"{"files":[],"meta":{"api-version":"1.1"},"name":"x","versions":[1]}"#
        ),
        Err(PageError::WrongType {
            field: "versions[]",
            ..
        })
    ));
}

#[test]
fn html_page_has_the_expected_text() {
    let expected = concat!(
        "<!DOCTYPE html>\n<html>\n  <head>\n",
        "    <meta name=\"pypi:repository-version\" content=\"1.1\">\n",
        "    <title>Links for Demo.Pkg</title>\n  </head>\n  <body>\n",
        "    <h1>Links for Demo.Pkg</h1>\n",
        "    <a href=\"../../files/Demo_Pkg-1.0-py3-none-any.whl#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        " data-requires-python=\"&gt;=3.9\"",
        " data-core-metadata=\"sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        " data-dist-info-metadata=\"sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        ">Demo_Pkg-1.0-py3-none-any.whl</a><br>\n",
        "    <a href=\"../../files/demo-pkg-0.9.tar.gz#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        " data-yanked=\"broken &lt;b&gt;&quot;build&quot;&lt;/b&gt;\">demo-pkg-0.9.tar.gz</a><br>\n",
        "    <a href=\"../../files/demo_pkg-1.0.tar.gz#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        " data-yanked=\"\">demo_pkg-1.0.tar.gz</a><br>\n",
        "  </body>\n</html>\n",
    );
    assert_eq!(render_html(&page()), expected);
}

#[test]
fn html_escapes_urls_and_requires_python() {
    let mut page = page();
    page.files[0].url = "x\"><script>alert(1)</script>&a=1".to_owned();
    page.files[0].requires_python = Some("<4,>=3'".to_owned());
    let html = render_html(&page);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("href=\"x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;a=1#sha256="),
        "{html}"
    );
    assert!(
        html.contains("data-requires-python=\"&lt;4,&gt;=3&#x27;\""),
        "{html}"
    );
}

#[test]
fn index_pages_are_sorted_and_deduplicated() {
    let names: Vec<ProjectName> = ["Zope.Interface", "requests", "zope_interface", "Django"]
        .iter()
        .map(|n| ProjectName::parse(n).unwrap())
        .collect();
    assert_eq!(
        String::from_utf8(render_index_json(&names)).unwrap(),
        r#"{"meta":{"api-version":"1.1"},"projects":[{"name":"Django"},{"name":"requests"},{"name":"Zope.Interface"}]}"#
    );
    assert_eq!(
        render_index_html(&names),
        concat!(
            "<!DOCTYPE html>\n<html>\n  <head>\n",
            "    <meta name=\"pypi:repository-version\" content=\"1.1\">\n",
            "    <title>Simple index</title>\n  </head>\n  <body>\n",
            "    <a href=\"django/\">Django</a><br>\n",
            "    <a href=\"requests/\">requests</a><br>\n",
            "    <a href=\"zope-interface/\">Zope.Interface</a><br>\n",
            "  </body>\n</html>\n",
        )
    );
    assert_eq!(
        render_index_json(&[]),
        br#"{"meta":{"api-version":"1.1"},"projects":[]}"#
    );
}
