//! The JSON API documents: which release is latest, releases grouped by
//! PEP 440 equality, file fields of sdists and wheels, `info` from core
//! metadata, URL resolution.

use std::collections::BTreeMap;

use bulwark_tuf::json::{self, Value};

use super::*;
use crate::name::ProjectName;
use crate::simple::UploadTime;

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_M: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn file(filename: &str, yanked: Option<&str>) -> PageFile {
    PageFile {
        filename: crate::DistFilename::parse(filename).unwrap(),
        url: format!("../../files/{SHA_A}/{filename}"),
        sha256: SHA_A.to_owned(),
        blake2b_256: Some(SHA_B.to_owned()),
        size: Some(1234),
        requires_python: None,
        yanked: yanked.map(str::to_owned),
        core_metadata_sha256: None,
        upload_time: UploadTime::from_unix_micros(1_700_000_000_123_456),
    }
}

fn page(files: Vec<PageFile>) -> ProjectPage {
    ProjectPage {
        name: ProjectName::parse("demo").unwrap(),
        files,
    }
}

fn latest_of(files: Vec<PageFile>) -> String {
    let page = page(files);
    let releases = releases(&page);
    latest(&releases).unwrap().version().to_string()
}

#[test]
fn latest_is_the_highest_final_release_that_is_not_yanked() {
    assert_eq!(
        latest_of(vec![
            file("demo-1.0.tar.gz", None),
            file("demo-1.10.tar.gz", None),
            file("demo-1.9.tar.gz", None),
            file("demo-2.0rc1.tar.gz", None),
            file("demo-3.0.tar.gz", Some("broken")),
        ]),
        "1.10"
    );
}

#[test]
fn latest_falls_back_to_a_prerelease_then_to_yanked_releases() {
    assert_eq!(
        latest_of(vec![
            file("demo-1.0.tar.gz", Some("")),
            file("demo-2.0rc1.tar.gz", None),
            file("demo-2.0b1.tar.gz", None),
        ]),
        "2.0rc1"
    );
    assert_eq!(
        latest_of(vec![
            file("demo-1.0.tar.gz", Some("")),
            file("demo-2.0rc1.tar.gz", Some("")),
        ]),
        "1.0"
    );
    assert_eq!(
        latest_of(vec![file("demo-2.0rc1.tar.gz", Some(""))]),
        "2.0rc1"
    );
}

#[test]
fn a_release_is_yanked_only_when_every_file_is() {
    let page = page(vec![
        file("demo-1.0.tar.gz", Some("bad sdist")),
        file("demo-1.0-py3-none-any.whl", None),
    ]);
    let releases = releases(&page);
    assert!(!releases[0].is_yanked());
    assert_eq!(releases[0].yanked_reason(), None);
    assert_eq!(latest_of(page.files.clone()), "1.0");
}

#[test]
fn versions_equal_under_pep440_are_one_release() {
    let page = page(vec![
        file("demo-1.0.0.tar.gz", None),
        file("demo-1.0-py3-none-any.whl", None),
        file("demo-1.0.1.tar.gz", None),
    ]);
    let releases = releases(&page);
    assert_eq!(releases.len(), 2);
    let one = find(&releases, &Version::parse("1").unwrap()).unwrap();
    assert_eq!(one.files().len(), 2);
    assert!(find(&releases, &Version::parse("1.0.0.0").unwrap()).is_some());
    assert!(find(&releases, &Version::parse("1.0.2").unwrap()).is_none());
}

fn api(page: &ProjectPage) -> JsonApi<'_> {
    JsonApi {
        page,
        display_name: "Demo",
        page_url: "http://index.test:8080/simple/demo/",
        api_url: "http://index.test:8080/pypi/",
        last_serial: 7,
    }
}

fn object(value: &Value) -> &BTreeMap<String, Value> {
    match value {
        Value::Object(object) => object,
        other => panic!("not an object: {other:?}"),
    }
}

fn array(value: &Value) -> &[Value] {
    match value {
        Value::Array(array) => array,
        other => panic!("not an array: {other:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::from(text)
}

#[test]
fn files_carry_pypi_fields_for_sdists_and_wheels() {
    let mut wheel = file("demo-1.0-py2.py3-none-any.whl", None);
    wheel.requires_python = Some(">=3.9".to_owned());
    wheel.core_metadata_sha256 = Some(SHA_M.to_owned());
    let page = page(vec![
        file("demo-1.0.tar.gz", Some("")),
        wheel,
        file("demo-0.9.tar.gz", Some("no good")),
    ]);
    let releases = releases(&page);
    let release = find(&releases, &Version::parse("1.0").unwrap()).unwrap();
    let document = json::parse(&api(&page).render_project(&releases, release, None)).unwrap();
    let top = object(&document);
    assert_eq!(top["last_serial"], Value::Int(7));
    assert_eq!(top["vulnerabilities"], Value::Array(Vec::new()));
    let urls = array(&top["urls"]);
    assert_eq!(urls, array(&object(&top["releases"])["1.0"]));
    let wheel = object(&urls[0]);
    let expected_url =
        format!("http://index.test:8080/files/{SHA_A}/demo-1.0-py2.py3-none-any.whl");
    for (key, value) in [
        ("filename", s("demo-1.0-py2.py3-none-any.whl")),
        ("packagetype", s("bdist_wheel")),
        ("python_version", s("py2.py3")),
        ("requires_python", s(">=3.9")),
        ("size", Value::Int(1234)),
        ("upload_time", s("2023-11-14T22:13:20")),
        ("upload_time_iso_8601", s("2023-11-14T22:13:20.123456Z")),
        ("url", s(&expected_url)),
        ("yanked", Value::Bool(false)),
        ("yanked_reason", Value::Null),
        ("has_sig", Value::Bool(false)),
    ] {
        assert_eq!(wheel[key], value, "{key}");
    }
    let digests = object(&wheel["digests"]);
    assert_eq!(
        digests.keys().collect::<Vec<_>>(),
        ["blake2b_256", "sha256"]
    );
    assert_eq!(digests["sha256"], s(SHA_A));
    for key in ["core-metadata", "data-dist-info-metadata"] {
        assert_eq!(object(&wheel[key])["sha256"], s(SHA_M));
    }
    let sdist = object(&urls[1]);
    assert_eq!(sdist["packagetype"], s("sdist"));
    assert_eq!(sdist["python_version"], s("source"));
    assert_eq!(sdist["requires_python"], Value::Null);
    assert_eq!(sdist["yanked"], Value::Bool(true));
    assert_eq!(sdist["yanked_reason"], Value::Null);
    assert!(!sdist.contains_key("core-metadata"));
    assert!(!sdist.contains_key("md5_digest"));
    let old = object(&array(&object(&top["releases"])["0.9"])[0]);
    assert_eq!(old["yanked_reason"], s("no good"));
    let info = object(&top["info"]);
    assert_eq!(info["version"], s("1.0"));
    assert_eq!(info["yanked"], Value::Bool(false));
    assert_eq!(info["requires_python"], s(">=3.9"));
    assert_eq!(info["summary"], Value::Null);
    assert_eq!(info["classifiers"], Value::Array(Vec::new()));
    assert_eq!(
        info["release_url"],
        s("http://index.test:8080/pypi/demo/1.0/json")
    );
}

#[test]
fn the_release_document_has_no_releases() {
    let page = page(vec![file("demo-0.9.tar.gz", Some("no good"))]);
    let releases = releases(&page);
    let document = json::parse(&api(&page).render_release(&releases[0], None)).unwrap();
    let top = object(&document);
    assert!(!top.contains_key("releases"));
    let info = object(&top["info"]);
    assert_eq!(info["yanked"], Value::Bool(true));
    assert_eq!(info["yanked_reason"], s("no good"));
}

#[test]
fn info_comes_from_core_metadata() {
    let metadata = CoreMetadata::parse(
        concat!(
            "Metadata-Version: 2.4\n",
            "Name: Demo\n",
            "Version: 1.0\n",
            "Summary: Ünïcode summary\n",
            "Author-email: Zoë <zoe@example.com>\n",
            "License-Expression: MIT\n",
            "Keywords: a,b\n",
            "Classifier: Programming Language :: Python\n",
            "Classifier: License :: OSI Approved :: MIT License\n",
            "Requires-Dist: requests>=2\n",
            "Requires-Dist: tomli; python_version < \"3.11\"\n",
            "Project-URL: Source, https://example.com/src\n",
            "Project-URL: Docs ,  https://example.com/docs \n",
            "Description-Content-Type: text/markdown\n",
            "\n",
            "# Démo ✓\n\nLine two — done.\n",
        )
        .as_bytes(),
    )
    .unwrap();
    let mut wheel = file("demo-1.0-py3-none-any.whl", None);
    wheel.core_metadata_sha256 = Some(SHA_M.to_owned());
    let page = page(vec![file("demo-1.0.tar.gz", None), wheel]);
    let releases = releases(&page);
    assert_eq!(
        releases[0].metadata_file().unwrap().filename.as_str(),
        "demo-1.0-py3-none-any.whl"
    );
    let bytes = api(&page).render_release(&releases[0], Some(&metadata));
    let document = json::parse(&bytes).unwrap();
    let info = object(&object(&document)["info"]);
    for (key, value) in [
        ("name", s("Demo")),
        ("summary", s("Ünïcode summary")),
        ("description", s("# Démo ✓\n\nLine two — done.\n")),
        ("description_content_type", s("text/markdown")),
        ("author", Value::Null),
        ("author_email", s("Zoë <zoe@example.com>")),
        ("license", Value::Null),
        ("license_expression", s("MIT")),
        ("keywords", s("a,b")),
        ("home_page", Value::Null),
        ("platform", Value::Null),
        ("provides_extra", Value::Null),
        ("package_url", s("http://index.test:8080/simple/demo/")),
        ("project_url", s("http://index.test:8080/simple/demo/")),
    ] {
        assert_eq!(info[key], value, "{key}");
    }
    assert_eq!(
        info["classifiers"],
        Value::Array(vec![
            s("Programming Language :: Python"),
            s("License :: OSI Approved :: MIT License"),
        ])
    );
    assert_eq!(
        info["requires_dist"],
        Value::Array(vec![
            s("requests>=2"),
            s("tomli; python_version < \"3.11\"")
        ])
    );
    let urls = object(&info["project_urls"]);
    assert_eq!(urls["Source"], s("https://example.com/src"));
    assert_eq!(urls["Docs"], s("https://example.com/docs"));
    // Unicode is written as UTF-8, not escaped.
    assert!(String::from_utf8(bytes).unwrap().contains("Démo ✓"));
}

#[test]
fn urls_resolve_against_the_page() {
    let base = "http://h:1/simple/demo/";
    for (reference, expected) in [
        (
            "../../files/x/demo-1.0.tar.gz",
            "http://h:1/files/x/demo-1.0.tar.gz",
        ),
        ("/files/y", "http://h:1/files/y"),
        ("demo-1.0.tar.gz", "http://h:1/simple/demo/demo-1.0.tar.gz"),
        ("./a/../b", "http://h:1/simple/demo/b"),
        ("../../../../x", "http://h:1/x"),
        ("https://other.test/f", "https://other.test/f"),
    ] {
        assert_eq!(resolve(base, reference), expected, "{reference}");
    }
    assert_eq!(resolve("/simple/demo/", "../../files/z"), "/files/z");
}
