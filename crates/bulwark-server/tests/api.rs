//! Every endpoint of the index, in process (`tower::ServiceExt::oneshot` on
//! `router`), against a real repository in a temporary directory: status,
//! reason phrase, headers and body of each answer, and for every refused
//! upload or yank, that nothing was left behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bulwark_pypi::UploadTime;
use bulwark_server::{ServerConfig, router};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::json::Value;
use common::{
    Dist, Form, Index, PIP_ACCEPT, array, core_metadata, file_entry, get, has, json, resolve,
    sdist, sdist_with, sdist_zip, string, token_auth, wheel, wheel_with,
};

const UV_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
const TEXT_HTML: &str = "text/html; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn html_anchor<'a>(html: &'a str, filename: &str) -> &'a str {
    html.lines()
        .find(|line| line.contains(&format!(">{filename}</a>")))
        .unwrap_or_else(|| panic!("no anchor for {filename} in {html}"))
}

fn attribute<'a>(anchor: &'a str, name: &str) -> Option<&'a str> {
    let start = anchor.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = anchor[start..].find('"')? + start;
    Some(&anchor[start..end])
}

// ======================================================================
// The simple API: negotiation, redirects, not found
// ======================================================================

#[tokio::test]
async fn simple_index_negotiates_json_and_html_and_varies_on_accept() {
    let index = Index::new();
    // Empty first: a valid page with no projects.
    let empty = index.get_json("/simple/").await;
    empty.assert_ok();
    assert_eq!(
        string(get(get(&json(&empty.body), "meta"), "api-version")),
        "1.1"
    );
    assert!(array(get(&json(&empty.body), "projects")).is_empty());

    index.uploaded(&wheel("Demo_Pkg", "1.0")).await;
    index.uploaded(&wheel("alpha", "0.1")).await;

    let cases: &[(Option<&str>, &str)] = &[
        (Some(PIP_ACCEPT), JSON_V1),
        (Some(UV_ACCEPT), JSON_V1),
        (Some("application/vnd.pypi.simple.latest+json"), JSON_V1),
        (Some(JSON_V1), JSON_V1),
        (
            Some("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.9"),
            JSON_V1,
        ),
        (
            Some(
                "application/vnd.pypi.simple.v1+json;q=0.2, application/vnd.pypi.simple.v1+html;q=0.8",
            ),
            HTML_V1,
        ),
        (Some(HTML_V1), HTML_V1),
        (Some("application/vnd.pypi.simple.latest+html"), HTML_V1),
        (Some("text/html"), TEXT_HTML),
        (Some("*/*"), TEXT_HTML),
        (Some(""), TEXT_HTML),
        (None, TEXT_HTML),
    ];
    for (accept, content_type) in cases {
        let headers: Vec<_> = accept.iter().map(|a| (header::ACCEPT, *a)).collect();
        let reply = index.get_with("/simple/", &headers).await;
        reply.assert_ok();
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some(*content_type),
            "Accept: {accept:?}"
        );
        assert_eq!(
            reply.header(header::VARY),
            Some("Accept"),
            "Accept: {accept:?}"
        );
        if *content_type == JSON_V1 {
            let page = json(&reply.body);
            let api_version = string(get(get(&page, "meta"), "api-version"));
            assert!(
                ["1.1", "1.2", "1.3", "1.4"].contains(&api_version),
                "{api_version}"
            );
            let names: Vec<&str> = array(get(&page, "projects"))
                .iter()
                .map(|p| string(get(p, "name")))
                .collect();
            assert_eq!(names, ["alpha", "Demo_Pkg"]);
        } else {
            let html = reply.text();
            assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
            assert!(
                html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"),
                "{html}"
            );
            assert!(
                html.contains("<a href=\"demo-pkg/\">Demo_Pkg</a>"),
                "{html}"
            );
            assert!(html.contains("<a href=\"alpha/\">alpha</a>"), "{html}");
            // Every project link resolves to its page.
            let page = index.get(&resolve("/simple/", "demo-pkg/")).await;
            page.assert_ok();
        }
    }

    for accept in [
        "application/json",
        "application/vnd.pypi.simple.v1+json;q=0",
        "application/vnd.pypi.simple.v2+json",
        "image/png",
    ] {
        let reply = index
            .get_with("/simple/", &[(header::ACCEPT, accept)])
            .await;
        reply.assert_refused(StatusCode::NOT_ACCEPTABLE, "Not Acceptable");
    }
}

#[tokio::test]
async fn project_page_negotiates_like_the_index() {
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    for (accept, content_type) in [
        (Some(PIP_ACCEPT), JSON_V1),
        (Some(UV_ACCEPT), JSON_V1),
        (Some("application/vnd.pypi.simple.latest+json"), JSON_V1),
        (Some(HTML_V1), HTML_V1),
        (Some("text/html"), TEXT_HTML),
        (Some("*/*"), TEXT_HTML),
        (None, TEXT_HTML),
    ] {
        let headers: Vec<_> = accept.iter().map(|a| (header::ACCEPT, *a)).collect();
        let reply = index.get_with("/simple/demo/", &headers).await;
        reply.assert_ok();
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some(content_type),
            "Accept: {accept:?}"
        );
        assert_eq!(reply.header(header::VARY), Some("Accept"));
        assert_eq!(
            reply.header(header::CACHE_CONTROL),
            Some("max-age=60, public")
        );
        if content_type == JSON_V1 {
            assert_eq!(string(get(&json(&reply.body), "name")), "demo");
        } else {
            assert!(reply.text().contains("<h1>Links for demo</h1>"));
        }
    }
    let refused = index
        .get_with("/simple/demo/", &[(header::ACCEPT, "application/json")])
        .await;
    refused.assert_refused(StatusCode::NOT_ACCEPTABLE, "Not Acceptable");
}

#[tokio::test]
async fn non_normalized_names_and_missing_slashes_redirect_permanently() {
    let index = Index::new();
    index.uploaded(&wheel("Demo_Pkg", "1.0")).await;
    for (path, location) in [
        ("/simple/Demo_Pkg/", "/simple/demo-pkg/"),
        ("/simple/DEMO.pkg/", "/simple/demo-pkg/"),
        ("/simple/demo__pkg/", "/simple/demo-pkg/"),
        ("/simple/demo-pkg", "/simple/demo-pkg/"),
        ("/simple/Demo_Pkg", "/simple/demo-pkg/"),
        // Unknown projects redirect too: normalization does not depend on the store.
        ("/simple/No_Such", "/simple/no-such/"),
    ] {
        let reply = index.get_with(path, &[(header::ACCEPT, PIP_ACCEPT)]).await;
        assert_eq!(
            reply.status,
            StatusCode::MOVED_PERMANENTLY,
            "{path}: {reply:?}"
        );
        assert_eq!(reply.header(header::LOCATION), Some(location), "{path}");
    }
    // The target of the redirect is the page.
    index.get_json("/simple/demo-pkg/").await.assert_ok();
}

#[tokio::test]
async fn unknown_and_invalid_projects_are_not_found() {
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    for path in [
        "/simple/unknown/",
        "/simple/-bad-/",
        "/simple/a%20b/",
        "/simple/%C3%A9/",
        "/simple/-bad-",
        "/simple/demo/extra/",
    ] {
        let reply = index.get_json(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {reply:?}");
        if path != "/simple/demo/extra/" {
            reply.assert_refused(StatusCode::NOT_FOUND, "Not Found");
        }
    }
}

// ======================================================================
// Project pages: PEP 503, 592, 658, 691, 700, 714
// ======================================================================

const REQUIRES: &str = ">=3.8, <4";
const REASON: &str = "broken <build> & \"bad\"";

/// Demo releases: 1.0 (wheel and sdist, `Requires-Python`, yanked with a
/// reason), 2.0 (wheel), 3.0rc1 (zip sdist, yanked without a reason); and
/// the time window of their uploads.
async fn demo_releases() -> (Index, [Dist; 4], (i64, i64)) {
    let index = Index::new();
    let before = common::now_us();
    let dists = [
        wheel_with(
            "demo",
            "1.0",
            Some(&core_metadata("demo", "1.0", Some(REQUIRES))),
            &[],
        ),
        sdist_with(
            "demo",
            "1.0",
            &core_metadata("demo", "1.0", Some(REQUIRES)),
            &[],
        ),
        wheel("demo", "2.0"),
        sdist_zip("demo", "3.0rc1"),
    ];
    for dist in &dists {
        index.uploaded(dist).await;
    }
    let after = common::now_us();
    let alice = index.repo.alice.clone();
    index
        .yank(Some(&alice), "demo", "1.0", "yank", REASON)
        .await
        .assert_ok();
    index
        .yank(Some(&alice), "demo", "3.0rc1", "yank", "")
        .await
        .assert_ok();
    (index, dists, (before, after))
}

#[tokio::test]
async fn json_project_page_has_hashes_sizes_times_metadata_and_yanks() {
    let (index, dists, (before, after)) = demo_releases().await;
    let [wheel_10, sdist_10, wheel_20, sdist_30] = &dists;
    let reply = index.get_json("/simple/demo/").await;
    reply.assert_ok();
    let page = json(&reply.body);
    assert_eq!(string(get(&page, "name")), "demo");
    assert_eq!(string(get(get(&page, "meta"), "api-version")), "1.1");
    let mut versions: Vec<&str> = array(get(&page, "versions")).iter().map(string).collect();
    versions.sort_unstable();
    assert_eq!(versions, ["1.0", "2.0", "3.0rc1"], "PEP 700 versions");
    let filenames: Vec<&str> = array(get(&page, "files"))
        .iter()
        .map(|f| string(get(f, "filename")))
        .collect();
    let mut sorted = filenames.clone();
    sorted.sort_unstable();
    assert_eq!(filenames, sorted, "files are sorted by filename");
    assert_eq!(filenames.len(), 4);

    for dist in &dists {
        let entry = file_entry(&page, &dist.filename);
        assert_eq!(string(get(get(entry, "hashes"), "sha256")), dist.sha256());
        assert_eq!(string(get(entry, "_blake2b_256")), dist.blake2());
        assert_eq!(
            get(entry, "size"),
            &Value::Int(i64::try_from(dist.bytes.len()).unwrap())
        );
        let url = string(get(entry, "url"));
        assert_eq!(
            url,
            format!("../../files/{}/{}", dist.sha256(), dist.filename)
        );
        // PEP 700 upload-time: yyyy-mm-ddThh:mm:ss.ffffffZ, UTC, when it was uploaded.
        let time = string(get(entry, "upload-time"));
        assert!(
            time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
        let parsed = UploadTime::parse(time).unwrap();
        let micros = parsed.unix_micros();
        assert!(
            (before..=after).contains(&micros),
            "{time} not within the upload"
        );
        // PEP 658 / 714: both keys, and the hash is that of the served
        // .metadata; sdists have none (their PKG-INFO may be dynamic).
        let metadata = index
            .get(&format!("{}.metadata", resolve("/simple/demo/", url)))
            .await;
        if dist.is_wheel() {
            let core = string(get(get(entry, "core-metadata"), "sha256"));
            assert_eq!(
                get(entry, "dist-info-metadata"),
                get(entry, "core-metadata")
            );
            metadata.assert_ok();
            assert_eq!(metadata.body, dist.metadata);
            assert_eq!(core, sha256_hex(&metadata.body));
        } else {
            assert!(
                !has(entry, "core-metadata") && !has(entry, "dist-info-metadata"),
                "{entry:?}"
            );
            assert_eq!(metadata.status, StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(
        string(get(
            file_entry(&page, &wheel_10.filename),
            "requires-python"
        )),
        REQUIRES
    );
    assert!(!has(
        file_entry(&page, &wheel_20.filename),
        "requires-python"
    ));
    // PEP 592 yanks: a reason, `true` for no reason, `false` otherwise.
    assert_eq!(
        get(file_entry(&page, &wheel_10.filename), "yanked"),
        &Value::String(REASON.to_owned())
    );
    assert_eq!(
        get(file_entry(&page, &sdist_10.filename), "yanked"),
        &Value::String(REASON.to_owned())
    );
    assert_eq!(
        get(file_entry(&page, &sdist_30.filename), "yanked"),
        &Value::Bool(true)
    );
    assert_eq!(
        get(file_entry(&page, &wheel_20.filename), "yanked"),
        &Value::Bool(false)
    );
}

#[tokio::test]
async fn html_project_page_has_escaped_attributes_and_working_links() {
    let (index, dists, _) = demo_releases().await;
    let [wheel_10, _, wheel_20, sdist_30] = &dists;
    // The same data as HTML, escaped.
    let html = index
        .get_with("/simple/demo/", &[(header::ACCEPT, "text/html")])
        .await;
    html.assert_ok();
    let html = html.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
    for dist in &dists {
        let anchor = html_anchor(&html, &dist.filename);
        let href = attribute(anchor, "href").unwrap();
        assert_eq!(
            href,
            format!(
                "../../files/{0}/{1}#sha256={0}",
                dist.sha256(),
                dist.filename
            )
        );
        let metadata_hash = dist
            .is_wheel()
            .then(|| format!("sha256={}", sha256_hex(&dist.metadata)));
        assert_eq!(
            attribute(anchor, "data-core-metadata"),
            metadata_hash.as_deref()
        );
        assert_eq!(
            attribute(anchor, "data-dist-info-metadata"),
            metadata_hash.as_deref()
        );
        let downloaded = index.get(&resolve("/simple/demo/", href)).await;
        assert_eq!(downloaded.body, dist.bytes);
    }
    let anchor = html_anchor(&html, &wheel_10.filename);
    assert_eq!(
        attribute(anchor, "data-requires-python"),
        Some("&gt;=3.8, &lt;4")
    );
    assert_eq!(
        attribute(anchor, "data-yanked"),
        Some("broken &lt;build&gt; &amp; &quot;bad&quot;")
    );
    assert_eq!(
        attribute(html_anchor(&html, &sdist_30.filename), "data-yanked"),
        Some("")
    );
    let unyanked = html_anchor(&html, &wheel_20.filename);
    assert_eq!(attribute(unyanked, "data-yanked"), None);
    assert_eq!(attribute(unyanked, "data-requires-python"), None);
}

#[tokio::test]
async fn json_page_is_byte_identical_to_the_signed_target() {
    let index = Index::new();
    let first = wheel("Signed.Project", "1.0");
    index.uploaded(&first).await;
    index.uploaded(&sdist("Signed.Project", "1.0")).await;
    // Not yet published: the bin does not list the page.
    assert_eq!(index.signed_target("signed-project").await, None);
    assert!(index.repo.publish());

    let live = index.get_json("/simple/signed-project/").await;
    live.assert_ok();
    let (length, sha256) = index
        .signed_target("signed-project")
        .await
        .expect("the bin lists the page");
    assert_eq!(length, live.body.len() as u64);
    assert_eq!(sha256, sha256_hex(&live.body));
    let signed = index
        .get(&format!(
            "/tuf/targets/simple/signed-project/{sha256}.index.json"
        ))
        .await;
    signed.assert_ok();
    assert_eq!(
        signed.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(signed.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    assert_eq!(
        signed.body, live.body,
        "the live JSON page is the signed page"
    );
    // It parses back as a page and renders to the same bytes (what the proxy does).
    let parsed = bulwark_pypi::ProjectPage::parse_json(&signed.body).unwrap();
    assert_eq!(bulwark_pypi::render_json(&parsed), signed.body);

    // A yank changes the live page at once, and the signed one after a run.
    index
        .yank(
            Some(&index.repo.alice),
            "signed-project",
            "1.0",
            "yank",
            "do not use",
        )
        .await
        .assert_ok();
    let yanked = index.get_json("/simple/signed-project/").await;
    assert_ne!(yanked.body, live.body);
    assert_eq!(
        string(get(
            file_entry(&json(&yanked.body), &first.filename),
            "yanked"
        )),
        "do not use"
    );
    assert_eq!(
        index.signed_target("signed-project").await.unwrap().1,
        sha256,
        "not yet published"
    );
    assert!(index.repo.publish());
    let (length, sha256) = index.signed_target("signed-project").await.unwrap();
    assert_eq!(
        (length, sha256.as_str()),
        (yanked.body.len() as u64, sha256_hex(&yanked.body).as_str())
    );
    let signed = index
        .get(&format!(
            "/tuf/targets/simple/signed-project/{sha256}.index.json"
        ))
        .await;
    assert_eq!(signed.body, yanked.body);
    assert_eq!(
        string(get(
            file_entry(&json(&signed.body), &first.filename),
            "yanked"
        )),
        "do not use"
    );

    // Un-yanking restores the original bytes, signed again.
    index
        .yank(
            Some(&index.repo.alice),
            "signed-project",
            "1.0",
            "unyank",
            "",
        )
        .await
        .assert_ok();
    assert!(index.repo.publish());
    let (_, restored) = index.signed_target("signed-project").await.unwrap();
    assert_eq!(restored, sha256_hex(&live.body));
    assert_eq!(
        index.get_json("/simple/signed-project/").await.body,
        live.body
    );
}

// ======================================================================
// Downloads
// ======================================================================

#[tokio::test]
async fn files_have_strong_etags_immutable_caching_and_conditional_gets() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    index.uploaded(&dist).await;

    let reply = index.get(&dist.file_url()).await;
    reply.assert_ok();
    assert_eq!(reply.body, dist.bytes);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/octet-stream")
    );
    assert_eq!(
        reply.header(header::CONTENT_LENGTH),
        Some(dist.bytes.len().to_string().as_str())
    );
    assert_eq!(reply.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    assert_eq!(reply.header(header::ACCEPT_RANGES), Some("bytes"));
    let etag = reply.header(header::ETAG).unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong ETag: {etag}"
    );

    let again = index.get(&dist.file_url()).await;
    assert_eq!(
        again.header(header::ETAG),
        Some(etag.as_str()),
        "the ETag is stable"
    );

    let not_modified = index
        .get_with(&dist.file_url(), &[(header::IF_NONE_MATCH, &etag)])
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header(header::ETAG), Some(etag.as_str()));
    // RFC 9110 §15.4.5: a 304 carries the Cache-Control a 200 would.
    assert_eq!(not_modified.header(header::CACHE_CONTROL), Some(IMMUTABLE));

    let other = index
        .get_with(
            &dist.file_url(),
            &[(header::IF_NONE_MATCH, "\"something-else\"")],
        )
        .await;
    other.assert_ok();
    assert_eq!(other.body, dist.bytes);

    // The core metadata file (PEP 658) beside it.
    let metadata = index.get(&format!("{}.metadata", dist.file_url())).await;
    metadata.assert_ok();
    assert_eq!(metadata.body, dist.metadata);
    assert_eq!(
        metadata.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(metadata.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    assert_ne!(metadata.header(header::ETAG), Some(etag.as_str()));

    // HEAD answers like GET without a body.
    let head = index
        .send(
            Request::builder()
                .method(Method::HEAD)
                .uri(dist.file_url())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    head.assert_ok();
    assert!(head.body.is_empty());
    assert_eq!(
        head.header(header::CONTENT_LENGTH),
        Some(dist.bytes.len().to_string().as_str())
    );

    // A file under another hash, or a hash that does not exist, is not found.
    let wrong_hash = format!("/files/{}/{}", "0".repeat(64), dist.filename);
    index
        .get(&wrong_hash)
        .await
        .assert_refused(StatusCode::NOT_FOUND, "Not Found");
    let wrong_name = format!("/files/{}/other-1.0-py3-none-any.whl", dist.sha256());
    index
        .get(&wrong_name)
        .await
        .assert_refused(StatusCode::NOT_FOUND, "Not Found");
}

#[tokio::test]
async fn range_requests_are_served_and_unsatisfiable_ones_refused() {
    let index = Index::new();
    let dist = sdist("demo", "1.0");
    index.uploaded(&dist).await;
    let url = dist.file_url();
    let len = dist.bytes.len();
    assert!(len > 100);

    let cases = [
        ("bytes=0-9".to_owned(), 0, 9),
        ("bytes=10-19".to_owned(), 10, 19),
        ("bytes=-16".to_owned(), len - 16, len - 1),
        ("bytes=20-".to_owned(), 20, len - 1),
        ("bytes=5-100000".to_owned(), 5, len - 1),
        (format!("bytes={}-{}", len - 1, len - 1), len - 1, len - 1),
    ];
    for (range, start, end) in cases {
        let reply = index.get_with(&url, &[(header::RANGE, &range)]).await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(reply.body, &dist.bytes[start..=end], "{range}");
        assert_eq!(
            reply.header(header::CONTENT_RANGE),
            Some(format!("bytes {start}-{end}/{len}").as_str()),
            "{range}"
        );
        assert_eq!(
            reply.header(header::CONTENT_LENGTH),
            Some((end - start + 1).to_string().as_str())
        );
        assert_eq!(reply.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    }
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-", len + 10),
        "bytes=9-3".to_owned(),
        "bytes=-0".to_owned(),
        "bytes=x-y".to_owned(),
    ] {
        let reply = index.get_with(&url, &[(header::RANGE, &range)]).await;
        reply.assert_refused(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable");
        // RFC 9110 §14.4: an unsatisfiable range names the current length.
        assert_eq!(
            reply.header(header::CONTENT_RANGE),
            Some(format!("bytes */{len}").as_str()),
            "{range}"
        );
    }
    // Several ranges, or another unit: the whole file.
    for range in ["bytes=0-1,5-6", "items=0-1"] {
        let reply = index.get_with(&url, &[(header::RANGE, range)]).await;
        reply.assert_ok();
        assert_eq!(reply.body, dist.bytes);
    }
}

#[tokio::test]
async fn large_files_stream_whole_and_in_ranges() {
    // Over 256 KiB the body is streamed in chunks read off the async threads.
    let index = Index::new();
    let noise: Vec<u8> = (0u32..200_000)
        .flat_map(|i| {
            i.wrapping_mul(2_654_435_761)
                .rotate_left(i % 29)
                .to_le_bytes()
        })
        .collect();
    let meta = core_metadata("big", "1.0", None);
    let dist = wheel_with("big", "1.0", Some(&meta), &[("big/noise.bin", &noise)]);
    let len = dist.bytes.len();
    assert!(len > 600 * 1024, "{len}");
    index.uploaded(&dist).await;
    let whole = index.get(&dist.file_url()).await;
    whole.assert_ok();
    assert_eq!(
        whole.header(header::CONTENT_LENGTH),
        Some(len.to_string().as_str())
    );
    assert!(whole.body == dist.bytes, "the streamed body is the file");
    for (start, end) in [(1, len - 2), (100_000, 700_000), (len - 300_000, len - 1)] {
        let range = format!("bytes={start}-{end}");
        let part = index
            .get_with(&dist.file_url(), &[(header::RANGE, &range)])
            .await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert!(part.body == dist.bytes[start..=end], "{range}");
        let content_range = format!("bytes {start}-{end}/{len}");
        assert_eq!(
            part.header(header::CONTENT_RANGE),
            Some(content_range.as_str())
        );
    }
}

#[tokio::test]
async fn file_urls_resolve_from_the_live_and_the_signed_page() {
    let index = Index::new();
    let dists = [wheel("demo", "1.0"), sdist("demo", "1.0")];
    for dist in &dists {
        index.uploaded(dist).await;
    }
    assert!(index.repo.publish());
    let live = index.get_json("/simple/demo/").await;
    let (_, sha256) = index.signed_target("demo").await.unwrap();
    let signed_dir = "/tuf/targets/simple/demo/";
    let signed = index.get(&format!("{signed_dir}{sha256}.index.json")).await;
    assert_eq!(signed.body, live.body);
    for (base, page) in [("/simple/demo/", &live.body), (signed_dir, &signed.body)] {
        let page = json(page);
        for dist in &dists {
            let url = string(get(file_entry(&page, &dist.filename), "url"));
            let target = resolve(base, url);
            let file = index.get(&target).await;
            file.assert_ok();
            assert_eq!(
                sha256_hex(&file.body),
                dist.sha256(),
                "{base} + {url} = {target}"
            );
            assert_eq!(file.header(header::CACHE_CONTROL), Some(IMMUTABLE));
            if dist.is_wheel() {
                let metadata = index.get(&format!("{target}.metadata")).await;
                metadata.assert_ok();
                assert_eq!(metadata.body, dist.metadata);
            }
        }
    }
}

#[tokio::test]
async fn dot_dot_and_directory_paths_are_not_found() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    index.uploaded(&dist).await;
    assert!(index.repo.publish());
    // Something outside the blob directory that a traversal would reach.
    std::fs::write(index.repo.blobs_dir().join("secret.txt"), b"secret").unwrap();
    let sha = dist.sha256();
    let paths = [
        "/files/..%2F..%2Fsecret.txt/x".to_owned(),
        "/files/%2E%2E/secret.txt".to_owned(),
        "/files/../secret.txt".to_owned(),
        format!("/files/{sha}/..%2F..%2F..%2Fsecret.txt"),
        format!("/files/{sha}/.."),
        format!("/files/{sha}/."),
        "/files/../../secret.txt".to_owned(),
        "/tuf/metadata/..".to_owned(),
        "/tuf/metadata/..%2F..%2F..%2Fsecret.txt".to_owned(),
        "/tuf/metadata/%2E%2E%2Fsecret.txt".to_owned(),
        "/tuf/targets/../../../secret.txt".to_owned(),
        "/tuf/targets/..%2F..%2F..%2Fsecret.txt".to_owned(),
        "/tuf/targets/simple/../../../secret.txt".to_owned(),
        "/tuf/targets/files/../../secret.txt".to_owned(),
        "/tuf/targets/files/..%2F..%2Fsecret.txt".to_owned(),
        format!("/tuf/targets/files/{sha}/../../../secret.txt"),
        "/tuf/targets/files/%00".to_owned(),
        "/tuf/targets/a%5C..%5C..%5Csecret.txt".to_owned(),
        "/tuf/targets/a//b".to_owned(),
        // Directories are where keys live, not keys.
        "/tuf/targets/simple/demo".to_owned(),
        "/tuf/targets/simple/demo/".to_owned(),
        "/tuf/targets/simple".to_owned(),
        format!("/tuf/targets/files/{sha}"),
        "/tuf/targets/files".to_owned(),
        format!("/files/{sha}/{}/x", dist.filename),
    ];
    for path in &paths {
        let reply = index.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {reply:?}");
        assert!(
            !reply.body.windows(6).any(|w| w == b"secret"),
            "{path} leaked the file"
        );
    }
}

#[tokio::test]
async fn tuf_metadata_is_served_immutable_except_the_timestamp() {
    let index = Index::new();
    let root = index.get("/tuf/metadata/1.root.json").await;
    root.assert_ok();
    assert_eq!(root.header(header::CONTENT_TYPE), Some("application/json"));
    assert_eq!(root.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    assert!(root.header(header::ETAG).is_some());
    bulwark_tuf::metadata::Envelope::<bulwark_tuf::metadata::Root>::parse(&root.body).unwrap();

    let timestamp = index.get("/tuf/metadata/timestamp.json").await;
    timestamp.assert_ok();
    assert_eq!(timestamp.header(header::CACHE_CONTROL), Some("no-cache"));
    assert_eq!(
        timestamp.header(header::ETAG),
        None,
        "the mutable file has no key-derived validator"
    );
    let parsed = bulwark_tuf::metadata::Envelope::<bulwark_tuf::metadata::TimestampMeta>::parse(
        &timestamp.body,
    )
    .unwrap();
    let version = parsed.signed.common.version;
    // Clients that accept gzip get the same bytes compressed; others
    // (bulwark's own client sends no Accept-Encoding) get them plain.
    let snapshot_path = format!(
        "/tuf/metadata/{}.snapshot.json",
        parsed.signed.snapshot.version
    );
    let plain = index.get(&snapshot_path).await;
    assert_eq!(plain.header(header::CONTENT_ENCODING), None);
    let gzipped = index
        .get_with(&snapshot_path, &[(header::ACCEPT_ENCODING, "gzip")])
        .await;
    gzipped.assert_ok();
    assert_eq!(gzipped.header(header::CONTENT_ENCODING), Some("gzip"));
    assert!(
        gzipped.body.len() < plain.body.len(),
        "{} vs {}",
        gzipped.body.len(),
        plain.body.len()
    );
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(gzipped.body.as_slice()),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, plain.body);
    // The versioned copy is immutable and identical.
    let versioned = index
        .get(&format!("/tuf/metadata/{version}.timestamp.json"))
        .await;
    versioned.assert_ok();
    assert_eq!(versioned.body, timestamp.body);
    assert_eq!(versioned.header(header::CACHE_CONTROL), Some(IMMUTABLE));
    // A conditional request for the timestamp is never answered 304, even
    // with an ETag that once matched a versioned file.
    let etag = versioned.header(header::ETAG).unwrap();
    let conditional = index
        .get_with(
            "/tuf/metadata/timestamp.json",
            &[(header::IF_NONE_MATCH, etag), (header::IF_NONE_MATCH, "*")],
        )
        .await;
    conditional.assert_ok();

    // After an upload and a run, timestamp.json moves on.
    index.uploaded(&wheel("demo", "1.0")).await;
    assert!(index.repo.publish());
    let newer = index.get("/tuf/metadata/timestamp.json").await;
    let newer =
        bulwark_tuf::metadata::Envelope::<bulwark_tuf::metadata::TimestampMeta>::parse(&newer.body)
            .unwrap();
    assert!(newer.signed.common.version > version);

    for path in [
        "/tuf/metadata/2.root.json",
        "/tuf/metadata/999.snapshot.json",
        "/tuf/metadata/",
        "/tuf/targets/simple/demo/0.index.json",
    ] {
        assert_eq!(
            index.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn landing_page_points_at_the_apis() {
    let index = Index::new();
    let reply = index.get("/").await;
    reply.assert_ok();
    assert!(
        reply
            .header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/html")
    );
    assert!(reply.text().contains("/simple/") && reply.text().contains("/legacy/"));
    assert_eq!(
        index.get("/nothing-here").await.status,
        StatusCode::NOT_FOUND
    );
    // Methods that a route does not take.
    let put = index
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri("/legacy/")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    let get_upload = index.get("/legacy/").await;
    assert_eq!(get_upload.status, StatusCode::METHOD_NOT_ALLOWED);
}

// ======================================================================
// Uploads
// ======================================================================

#[tokio::test]
async fn uploads_are_recorded_durably_and_queued_before_the_200() {
    let index = Index::new();
    let dists = [
        wheel("Demo_Pkg", "1.0"),
        sdist("Demo_Pkg", "1.0"),
        sdist_zip("Demo_Pkg", "1.1"),
    ];
    for dist in &dists {
        let reply = index.upload(dist).await;
        reply.assert_ok();
        assert_eq!(reply.text(), "OK\n");
        // Recorded, with the blobs, and a change queued — all before the 200.
        let record = index
            .repo
            .store
            .file_by_sha256(&dist.sha256())
            .unwrap()
            .expect("recorded");
        assert_eq!(record.filename, dist.filename);
        assert_eq!(record.project, "demo-pkg");
        assert_eq!(record.uploader, "alice");
        assert_eq!(record.size, dist.bytes.len() as u64);
        assert_eq!(record.blake2b_256, dist.blake2());
        assert_eq!(record.yanked, None);
        assert_eq!(
            index.repo.blobs.get(&dist.file_key()).unwrap(),
            Some(dist.bytes.clone())
        );
        let metadata = index
            .repo
            .blobs
            .get(&format!("{}.metadata", dist.file_key()))
            .unwrap();
        if dist.is_wheel() {
            assert_eq!(record.metadata_sha256, Some(sha256_hex(&dist.metadata)));
            assert_eq!(metadata, Some(dist.metadata.clone()));
        } else {
            assert_eq!((record.metadata_sha256, metadata), (None, None));
        }
        assert_eq!(
            index.repo.store.pending_changes().unwrap().projects,
            ["demo-pkg"]
        );
    }
    let project = index.repo.store.project("demo-pkg").unwrap().unwrap();
    assert_eq!(
        (project.display_name.as_str(), project.created_by.as_str()),
        ("Demo_Pkg", "alice")
    );

    // An identical re-upload (twine --skip-existing, a retried CI job) succeeds and changes nothing.
    assert!(index.repo.publish());
    let before = index.repo.inventory();
    let again = index.upload(&dists[0]).await;
    again.assert_ok();
    assert!(again.text().starts_with("OK"), "{}", again.text());
    assert_eq!(index.repo.inventory(), before);
    assert!(
        !index.repo.publish(),
        "nothing to publish after an identical re-upload"
    );

    // Either digest suffices, in either case.
    let only_blake = wheel("demo-pkg", "2.0");
    index
        .upload_as(
            &index.repo.alice,
            &Form::twine(&only_blake).without("sha256_digest"),
        )
        .await
        .assert_ok();
    let only_sha = wheel("demo-pkg", "3.0");
    let upper = only_sha.sha256().to_uppercase();
    let form = Form::twine(&only_sha)
        .without("blake2_256_digest")
        .set("sha256_digest", &upper);
    index.upload_as(&index.repo.alice, &form).await.assert_ok();
    // Without the optional form fields (name, version, filetype) the archive speaks for itself.
    let bare = wheel("demo-pkg", "4.0");
    let form = Form::twine(&bare)
        .without("name")
        .without("version")
        .without("filetype")
        .without("protocol_version");
    index.upload_as(&index.repo.alice, &form).await.assert_ok();
}

#[tokio::test]
async fn a_different_file_under_an_existing_name_is_refused() {
    let index = Index::new();
    let original = wheel("demo", "1.0");
    index.uploaded(&original).await;
    // Same filename, different bytes.
    let imposter = wheel_with(
        "demo",
        "1.0",
        Some(&core_metadata("demo", "1.0", Some(">=3.12"))),
        &[("demo/evil.py", b"x")],
    );
    assert_eq!(imposter.filename, original.filename);
    assert_ne!(imposter.sha256(), original.sha256());
    index
        .refused(
            Some(&index.repo.alice),
            &Form::twine(&imposter),
            StatusCode::BAD_REQUEST,
            "File already exists",
        )
        .await;
    let reply = index.upload(&imposter).await;
    assert_eq!(
        reply.reason.as_deref(),
        Some("File already exists"),
        "twine matches this phrase exactly"
    );
    assert_eq!(
        index.repo.blobs.get(&original.file_key()).unwrap(),
        Some(original.bytes.clone())
    );
}

/// Sends `request` over a real socket and returns the status line.
async fn status_line(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_owned()
}

fn raw_request(form: &Form, authorization: Option<&str>) -> Vec<u8> {
    let body = form.body();
    let mut head = format!(
        "POST /legacy/ HTTP/1.1\r\nHost: index\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        Form::content_type(),
        body.len()
    );
    if let Some(authorization) = authorization {
        let _ = write!(head, "Authorization: {authorization}\r\n");
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    request
}

#[tokio::test]
async fn reason_phrases_reach_the_status_line_on_a_real_socket() {
    // twine shows `response.reason`: it must be on the wire, not only in the body.
    let index = Index::new();
    let original = wheel("demo", "1.0");
    index.uploaded(&original).await;
    let imposter = wheel_with(
        "demo",
        "1.0",
        Some(&core_metadata("demo", "1.0", None)),
        &[("demo/x.py", b"x")],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        axum::serve(listener, router(index.repo.state(index.config.clone()))).into_future(),
    );
    let alice = token_auth(&index.repo.alice);
    let bob = token_auth(&index.repo.bob);
    let cases = [
        (
            raw_request(&Form::twine(&imposter), Some(&alice)),
            "HTTP/1.1 400 File already exists",
        ),
        (
            raw_request(&Form::twine(&wheel("demo", "2.0")), Some(&bob)),
            "HTTP/1.1 403 The user does not own project demo",
        ),
        (
            raw_request(&Form::twine(&wheel("demo", "2.0")), None),
            "HTTP/1.1 401 Authentication required: use __token__ and an API token",
        ),
        (
            raw_request(&Form::twine(&original), Some(&alice)),
            "HTTP/1.1 200 OK",
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(status_line(addr, &request).await, expected);
    }
    server.abort();
}

#[tokio::test]
async fn another_users_project_is_forbidden() {
    let index = Index::new();
    let original = wheel("demo", "1.0");
    index.uploaded(&original).await;
    let bob = index.repo.bob.clone();
    index
        .refused(
            Some(&bob),
            &Form::twine(&wheel("demo", "2.0")),
            StatusCode::FORBIDDEN,
            "The user does not own project demo",
        )
        .await;
    // A different spelling of the same name is the same project.
    index
        .refused(
            Some(&bob),
            &Form::twine(&wheel("DEMO", "2.0")),
            StatusCode::FORBIDDEN,
            "The user does not own",
        )
        .await;
    index
        .refused(
            Some(&bob),
            &Form::twine(&sdist("Demo", "2.0")),
            StatusCode::FORBIDDEN,
            "The user does not own",
        )
        .await;
    // Re-uploading the owner's identical file is refused too, and must not
    // remove the owner's blobs on the way out.
    index
        .refused(
            Some(&bob),
            &Form::twine(&original),
            StatusCode::FORBIDDEN,
            "The user does not own",
        )
        .await;
    let download = index.get(&original.file_url()).await;
    download.assert_ok();
    assert_eq!(download.body, original.bytes);
    index
        .get(&format!("{}.metadata", original.file_url()))
        .await
        .assert_ok();
    // Bob's own project is fine.
    index
        .upload_as(&bob, &Form::twine(&wheel("bobs", "1.0")))
        .await
        .assert_ok();
    assert_eq!(
        index
            .repo
            .store
            .project("bobs")
            .unwrap()
            .unwrap()
            .created_by,
        "bob"
    );
}

/// Claims `project` for alice in the store, as a checked developer-signed
/// transaction without files would (once the project's uploads are
/// published).
fn claim_for_alice(index: &Index, project: &str) {
    index.repo.publish();
    let claim = bulwark_store::ClaimRecord {
        project: project.to_owned(),
        tier: bulwark_store::ClaimTier::RecentlyClaimed,
        delegation: "{}".to_owned(),
        role_version: 1,
        role_expires: 2_000_000_000,
        role_sha256: "a".repeat(64),
        role_length: 1,
        page_sha256: "b".repeat(64),
        page_length: 1,
        nested: Vec::new(),
    };
    let t = bulwark_store::ProjectTransaction {
        display_name: project.to_owned(),
        user: "alice".to_owned(),
        checked_against: None,
        checked_delegation: None,
        checked_nested: Vec::new(),
        claim,
        files: Vec::new(),
        yanked: Vec::new(),
    };
    let outcome = index.repo.store.record_transaction(&t).unwrap();
    assert!(
        matches!(outcome, bulwark_store::TransactionOutcome::Recorded { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn claimed_projects_refuse_twine_uploads_and_yanks() {
    let index = Index::new();
    let original = wheel("demo", "1.0");
    index.uploaded(&original).await;
    claim_for_alice(&index, "demo");
    let (alice, bob) = (index.repo.alice.clone(), index.repo.bob.clone());
    let claimed = "Project demo is claimed: upload with bulwark upload --key";
    // A new file's blobs are removed again; the owner's identical file keeps
    // the blobs it already had.
    for dist in [wheel("Demo", "2.0"), sdist("demo", "2.0"), original.clone()] {
        let reply = index
            .refused(
                Some(&alice),
                &Form::twine(&dist),
                StatusCode::FORBIDDEN,
                claimed,
            )
            .await;
        assert_eq!(reply.reason.as_deref(), Some(claimed));
    }
    index.get(&original.file_url()).await.assert_ok();
    // Ownership is checked first.
    index
        .refused(
            Some(&bob),
            &Form::twine(&wheel("demo", "2.0")),
            StatusCode::FORBIDDEN,
            "The user does not own project demo",
        )
        .await;
    let yank_claimed = "Project demo is claimed: yank with bulwark yank --key";
    for (token, project, version, action, status, reason) in [
        (
            &alice,
            "demo",
            "1.0",
            "yank",
            StatusCode::FORBIDDEN,
            yank_claimed,
        ),
        (
            &alice,
            "Demo",
            "1.0",
            "unyank",
            StatusCode::FORBIDDEN,
            yank_claimed,
        ),
        (
            &alice,
            "demo",
            "9.9",
            "yank",
            StatusCode::FORBIDDEN,
            yank_claimed,
        ),
        (
            &bob,
            "demo",
            "1.0",
            "yank",
            StatusCode::FORBIDDEN,
            "The user does not own this project",
        ),
    ] {
        let before = index.repo.inventory();
        let reply = index
            .yank(Some(token), project, version, action, "why")
            .await;
        reply.assert_refused(status, reason);
        assert_eq!(reply.reason.as_deref(), Some(reason));
        assert_eq!(
            index.repo.inventory(),
            before,
            "{project} {version} {action}"
        );
    }
}

#[tokio::test]
async fn authentication_is_required_and_checked() {
    let index = Index::new();
    let form = Form::twine(&wheel("demo", "1.0"));
    let alice = index.repo.alice.clone();
    let (id, secret) = alice.strip_prefix("bwk_").unwrap().split_once('_').unwrap();

    let missing = index
        .refused(
            None,
            &form,
            StatusCode::UNAUTHORIZED,
            "Authentication required",
        )
        .await;
    assert!(
        missing
            .header(header::WWW_AUTHENTICATE)
            .is_some_and(|v| v.starts_with("Basic")),
        "RFC 9110 §15.5.2: a 401 names the scheme: {missing:?}"
    );
    let cases = [
        (
            format!("Bearer {alice}"),
            "Only HTTP Basic authentication is supported",
        ),
        (
            "Basic !!!not-base64!!!".to_owned(),
            "Malformed authorization header",
        ),
        (
            common::basic("alice", &alice),
            "Use the user name __token__",
        ),
        (
            format!("Basic {}", base64_of("no-colon")),
            "Malformed authorization header",
        ),
        (
            common::token_auth("bwk_0000000000000000_00"),
            "Invalid or non-existent API token",
        ),
        (
            common::token_auth(&format!("bwk_{id}_{}", "0".repeat(secret.len()))),
            "Invalid or non-existent API token",
        ),
        (
            common::token_auth(&format!("bwk_{id}")),
            "Invalid or non-existent API token",
        ),
        (
            common::token_auth(&format!("{id}_{secret}")),
            "Invalid or non-existent API token",
        ),
        (common::token_auth(""), "Invalid or non-existent API token"),
    ];
    for (authorization, reason) in cases {
        let before = index.repo.inventory();
        let reply = index.post_form(&form, Some(&authorization)).await;
        reply.assert_refused(StatusCode::FORBIDDEN, reason);
        assert!(!reply.text().contains(secret), "the token is not echoed");
        assert_eq!(index.repo.inventory(), before);
    }
    // The right token works.
    index
        .post_form(&form, Some(&common::token_auth(&alice)))
        .await
        .assert_ok();
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn digests_must_match_the_bytes() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    let alice = index.repo.alice.clone();
    let wrong = "ab".repeat(32);
    index
        .refused(
            Some(&alice),
            &Form::twine(&dist).set("sha256_digest", &wrong),
            StatusCode::BAD_REQUEST,
            "The SHA-256 digest supplied does not match",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &Form::twine(&dist).set("blake2_256_digest", &wrong),
            StatusCode::BAD_REQUEST,
            "The BLAKE2b-256 digest supplied does not match",
        )
        .await;
    // The digest of another file is still wrong.
    let other = wheel("demo", "2.0");
    index
        .refused(
            Some(&alice),
            &Form::twine(&dist).set("sha256_digest", &other.sha256()),
            StatusCode::BAD_REQUEST,
            "The SHA-256 digest",
        )
        .await;
    // md5 alone (or nothing) is not enough.
    let md5_only = Form::twine(&dist)
        .without("sha256_digest")
        .without("blake2_256_digest")
        .set("md5_digest", "1B2M2Y8AsgTpgAmY7PhCfg");
    index
        .refused(
            Some(&alice),
            &md5_only,
            StatusCode::BAD_REQUEST,
            "Upload must include sha256_digest or blake2_256_digest",
        )
        .await;
    index.upload(&dist).await.assert_ok();
}

#[tokio::test]
async fn form_fields_must_agree_with_the_file() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    let alice = index.repo.alice.clone();
    let form = Form::twine(&dist);
    index
        .refused(
            Some(&alice),
            &form.clone().set("name", "other"),
            StatusCode::BAD_REQUEST,
            "Form name \"other\" does not match",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set("name", "not a name!"),
            StatusCode::BAD_REQUEST,
            "Form name",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set("version", "2.0"),
            StatusCode::BAD_REQUEST,
            "Form version \"2.0\" does not match",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set("version", "banana"),
            StatusCode::BAD_REQUEST,
            "Form version",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set("filetype", "sdist"),
            StatusCode::BAD_REQUEST,
            "filetype \"sdist\" does not match",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &Form::twine(&sdist("demo", "1.0")).set("filetype", "bdist_wheel"),
            StatusCode::BAD_REQUEST,
            "filetype",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set("protocol_version", "2"),
            StatusCode::BAD_REQUEST,
            "Unsupported protocol_version",
        )
        .await;
    let long = "x".repeat(5000);
    index
        .refused(
            Some(&alice),
            &form.clone().set("summary", &long).set("name", &long),
            StatusCode::BAD_REQUEST,
            "Form part name is longer than 4096 bytes",
        )
        .await;
    // Non-normalized spellings of the same name and version are the same.
    index
        .upload_as(
            &alice,
            &form.clone().set("name", "DEMO").set("version", "1.0"),
        )
        .await
        .assert_ok();
    index
        .upload_as(
            &alice,
            &Form::twine(&wheel("demo", "1.1")).set("version", "v1.1"),
        )
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_form_must_be_a_file_upload_with_one_file() {
    let index = Index::new();
    let dist = wheel("demo", "1.0");
    let alice = index.repo.alice.clone();
    let form = Form::twine(&dist);
    index
        .refused(
            Some(&alice),
            &form.clone().set(":action", "submit"),
            StatusCode::BAD_REQUEST,
            "Unsupported :action",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().set(":action", "doc_upload"),
            StatusCode::BAD_REQUEST,
            "Unsupported :action",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().without(":action"),
            StatusCode::BAD_REQUEST,
            "Unsupported :action",
        )
        .await;
    index
        .refused(
            Some(&alice),
            &form.clone().no_content(),
            StatusCode::BAD_REQUEST,
            "Upload has no file content",
        )
        .await;

    // A content part without a filename, and two files in one form.
    let mut body = form.clone().no_content().body();
    body.truncate(body.len() - format!("--{}--\r\n", common::BOUNDARY).len());
    body.extend_from_slice(
        format!(
            "--{}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nabc\r\n--{}--\r\n",
            common::BOUNDARY,
            common::BOUNDARY
        )
        .as_bytes(),
    );
    let reply = index.send(raw_upload(&alice, body)).await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "Upload has no filename");
    let mut body = form.body();
    body.truncate(body.len() - format!("--{}--\r\n", common::BOUNDARY).len());
    body.extend_from_slice(
        format!(
            "--{0}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{1}\"\r\n\r\nxyz\r\n--{0}--\r\n",
            common::BOUNDARY,
            dist.filename
        )
        .as_bytes(),
    );
    let before = index.repo.inventory();
    let reply = index.send(raw_upload(&alice, body)).await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "Upload has more than one file");
    assert_eq!(index.repo.inventory(), before);

    // Not multipart at all, and a multipart body cut short.
    let not_multipart = Request::builder()
        .method(Method::POST)
        .uri("/legacy/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, token_auth(&alice))
        .body(Body::from(":action=file_upload"))
        .unwrap();
    assert_eq!(
        index.send(not_multipart).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut truncated = form.body();
    truncated.truncate(truncated.len() / 2);
    let reply = index.send(raw_upload(&alice, truncated)).await;
    reply.assert_refused(StatusCode::BAD_REQUEST, "Invalid upload form");
    assert_eq!(index.repo.inventory(), before);
}

fn raw_upload(token: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/legacy/")
        .header(header::CONTENT_TYPE, Form::content_type())
        .header(header::AUTHORIZATION, token_auth(token))
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn bad_distributions_are_refused_and_leave_nothing_behind() {
    let index = Index::new();
    let alice = index.repo.alice.clone();
    // Something stored already, so "nothing left behind" is not trivially true.
    index.uploaded(&wheel("demo", "0.1")).await;
    let good = wheel("demo", "1.0");

    // Filenames that are not distribution filenames.
    let mut cases: Vec<(Form, &str)> = [
        "demo-1.0.exe",
        "demo.whl",
        "demo-1.0-py3-none-any.whl.exe",
        "../demo-1.0-py3-none-any.whl",
        "dir/demo-1.0-py3-none-any.whl",
        "demo-1.0-py3-none-any.egg",
        "demo-banana.tar.gz",
        "",
    ]
    .into_iter()
    .map(|filename| {
        (
            Form::twine(&good).content(filename, &good.bytes),
            "Invalid distribution: invalid filename",
        )
    })
    .collect();
    // Not an archive at all.
    let garbage = b"this is not a zip file";
    let form = Form::twine(&good)
        .content(&good.filename, garbage)
        .set("sha256_digest", &sha256_hex(garbage))
        .without("blake2_256_digest");
    cases.push((form, "Invalid distribution: not a readable zip archive"));
    let dists = bad_archives(&good);
    for (dist, reason) in &dists {
        assert!(
            dist.bytes.len() < 100_000,
            "{reason}: {} bytes",
            dist.bytes.len()
        );
        cases.push((Form::twine(dist), reason));
    }
    for (form, reason) in &cases {
        index
            .refused(Some(&alice), form, StatusCode::BAD_REQUEST, reason)
            .await;
    }
    // The good one still goes through afterwards.
    index.uploaded(&good).await;
}

/// Archives of `demo` 1.0 that must be refused, with the reason.
fn bad_archives(good: &Dist) -> Vec<(Dist, &'static str)> {
    let meta = core_metadata("demo", "1.0", None);
    let mismatched = |name: &str, version: &str| core_metadata(name, version, None);
    let zeros = vec![0u8; 16 << 20];
    let mut truncated = good.clone();
    truncated.bytes.truncate(good.bytes.len() - 30);
    vec![
        // Bombs: a few KB that inflate to 16 MiB.
        (
            wheel_with("demo", "1.0", Some(&meta), &[("demo/zeros.bin", &zeros)]),
            "Invalid distribution: archive data expands",
        ),
        (
            sdist_with("demo", "1.0", &meta, &[("demo-1.0/zeros.bin", &zeros)]),
            "Invalid distribution: archive data expands",
        ),
        // Members that would land outside the target directory.
        (
            wheel_with("demo", "1.0", Some(&meta), &[("../evil.py", b"x")]),
            "Invalid distribution: entry",
        ),
        (
            wheel_with("demo", "1.0", Some(&meta), &[("demo/../../evil.py", b"x")]),
            "Invalid distribution: entry",
        ),
        (
            wheel_with("demo", "1.0", Some(&meta), &[("/etc/evil", b"x")]),
            "Invalid distribution: entry",
        ),
        (
            sdist_with("demo", "1.0", &meta, &[("demo-1.0/../../evil.py", b"x")]),
            "Invalid distribution: entry",
        ),
        (
            sdist_with("demo", "1.0", &meta, &[("/tmp/evil.py", b"x")]),
            "Invalid distribution: entry",
        ),
        // No core metadata where it must be, or metadata that contradicts the filename.
        (
            wheel_with("demo", "1.0", None, &[]),
            "Invalid distribution: no core metadata file",
        ),
        (
            sdist_with("demo", "1.0", &meta, &[]).renamed_top("other-1.0"),
            "Invalid distribution",
        ),
        (
            wheel_with("demo", "1.0", Some(&mismatched("other", "1.0")), &[]),
            "Invalid distribution: metadata name other does not match",
        ),
        (
            wheel_with("demo", "1.0", Some(&mismatched("demo", "2.0")), &[]),
            "Invalid distribution: metadata version 2.0 does not match",
        ),
        (
            sdist_with("demo", "1.0", &mismatched("other", "1.0"), &[]),
            "Invalid distribution: metadata name",
        ),
        (
            sdist_with("demo", "1.0", &mismatched("demo", "1.1"), &[]),
            "Invalid distribution: metadata version",
        ),
        (
            wheel_with("demo", "1.0", Some(b"this is not metadata"), &[]),
            "Invalid distribution: invalid core metadata",
        ),
        (truncated, "Invalid distribution"),
    ]
}

/// Renames the top directory of a `.tar.gz` sdist built by `sdist_with`.
trait RenamedTop {
    fn renamed_top(self, top: &str) -> Dist;
}

impl RenamedTop for Dist {
    fn renamed_top(self, top: &str) -> Dist {
        let pkg_info = format!("{top}/PKG-INFO");
        let bytes = common::gzip(&common::tar_of(&[(&pkg_info, &self.metadata)]));
        Dist { bytes, ..self }
    }
}

#[tokio::test]
async fn bodies_over_the_upload_limit_are_refused_with_413() {
    let index = Index::with(ServerConfig {
        max_upload_bytes: 64 * 1024,
        ..ServerConfig::default()
    });
    let alice = index.repo.alice.clone();
    // Incompressible content, stored, so the archive really is large.
    let noise: Vec<u8> = (0u32..40_000)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    let meta = core_metadata("demo", "1.0", None);
    let large = wheel_with("demo", "1.0", Some(&meta), &[("demo/noise.bin", &noise)]);
    assert!(large.bytes.len() > 100 * 1024);
    let reply = index
        .refused(
            Some(&alice),
            &Form::twine(&large),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Invalid upload form",
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is fine.
    index.upload(&wheel("demo", "1.0")).await.assert_ok();
}

// ======================================================================
// Yanking
// ======================================================================

#[tokio::test]
async fn owners_yank_and_unyank_and_the_change_is_published() {
    let index = Index::new();
    let dists = [
        wheel("Demo", "1.0"),
        sdist("Demo", "1.0"),
        wheel("Demo", "2.0"),
    ];
    for dist in &dists {
        index.uploaded(dist).await;
    }
    assert!(index.repo.publish());
    let alice = index.repo.alice.clone();

    let reply = index
        .yank(
            Some(&alice),
            "demo",
            "1.0",
            "yank",
            "  security issue, use 2.0  \n",
        )
        .await;
    reply.assert_ok();
    assert_eq!(reply.text(), "OK: 2 files updated\n");
    assert_eq!(
        index.repo.store.pending_changes().unwrap().projects,
        ["demo"]
    );
    let live = json(&index.get_json("/simple/demo/").await.body);
    for dist in &dists[..2] {
        assert_eq!(
            string(get(file_entry(&live, &dist.filename), "yanked")),
            "security issue, use 2.0"
        );
    }
    assert_eq!(
        get(file_entry(&live, &dists[2].filename), "yanked"),
        &Value::Bool(false)
    );
    let html = index.get("/simple/demo/").await.text();
    assert_eq!(
        attribute(html_anchor(&html, &dists[0].filename), "data-yanked"),
        Some("security issue, use 2.0")
    );

    // Yanking again with the same reason changes nothing.
    assert!(index.repo.publish());
    let same = index
        .yank(
            Some(&alice),
            "demo",
            "1.0",
            "yank",
            "security issue, use 2.0",
        )
        .await;
    same.assert_ok();
    assert_eq!(same.text(), "OK: 0 files updated\n");
    assert!(!index.repo.publish());

    // The signed page shows it; unyank, publish, and it is gone again.
    let signed = signed_page_json(&index, "demo").await;
    assert_eq!(
        string(get(file_entry(&signed, &dists[0].filename), "yanked")),
        "security issue, use 2.0"
    );
    // A non-normalized name addresses the same project.
    index
        .yank(Some(&alice), "DEMO", "1.0", "unyank", "")
        .await
        .assert_ok();
    assert!(index.repo.publish());
    let signed = signed_page_json(&index, "demo").await;
    for dist in &dists {
        assert_eq!(
            get(file_entry(&signed, &dist.filename), "yanked"),
            &Value::Bool(false)
        );
    }
    assert!(
        !index
            .get("/simple/demo/")
            .await
            .text()
            .contains("data-yanked")
    );
}

/// The signed page of `project`, read through the TUF chain.
async fn signed_page_json(index: &Index, project: &str) -> Value {
    let (_, sha256) = index.signed_target(project).await.unwrap();
    let reply = index
        .get(&format!(
            "/tuf/targets/simple/{project}/{sha256}.index.json"
        ))
        .await;
    reply.assert_ok();
    assert_eq!(sha256_hex(&reply.body), sha256);
    json(&reply.body)
}

/// Who asks, `[project, version, action]`, and the expected refusal.
type YankCase<'a> = (Option<&'a str>, [&'a str; 3], StatusCode, &'a str);

#[tokio::test]
async fn yank_refusals_change_nothing() {
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    assert!(index.repo.publish());
    let (alice, bob) = (index.repo.alice.clone(), index.repo.bob.clone());
    let not_owner = "The user does not own this project";
    let cases: [YankCase<'_>; 8] = [
        (
            Some(&bob),
            ["demo", "1.0", "yank"],
            StatusCode::FORBIDDEN,
            not_owner,
        ),
        (
            Some(&bob),
            ["demo", "1.0", "unyank"],
            StatusCode::FORBIDDEN,
            not_owner,
        ),
        (
            Some(&alice),
            ["demo", "9.9", "yank"],
            StatusCode::NOT_FOUND,
            "No such project version",
        ),
        (
            Some(&alice),
            ["nothing", "1.0", "yank"],
            StatusCode::NOT_FOUND,
            "No such project version",
        ),
        (
            Some(&alice),
            ["-bad-", "1.0", "yank"],
            StatusCode::NOT_FOUND,
            "Not Found",
        ),
        (
            Some(&alice),
            ["demo", "banana", "yank"],
            StatusCode::BAD_REQUEST,
            "\"banana\" is not a valid PEP 440 version",
        ),
        (
            None,
            ["demo", "1.0", "yank"],
            StatusCode::UNAUTHORIZED,
            "Authentication required",
        ),
        (
            Some("bwk_0000000000000000_00"),
            ["demo", "1.0", "yank"],
            StatusCode::FORBIDDEN,
            "Invalid or non-existent API token",
        ),
    ];
    let page = index.get_json("/simple/demo/").await.body;
    for (token, [project, version, action], status, reason) in cases {
        let before = index.repo.inventory();
        let reply = index.yank(token, project, version, action, "why").await;
        reply.assert_refused(status, reason);
        assert_eq!(
            index.repo.inventory(),
            before,
            "{project} {version} {action}"
        );
    }
    // A reason that is not one line, or too long.
    for reason in [
        "line one\nline two".to_owned(),
        "tab\there".to_owned(),
        "x".repeat(1025),
    ] {
        let reply = index
            .yank(Some(&alice), "demo", "1.0", "yank", &reason)
            .await;
        reply.assert_refused(StatusCode::BAD_REQUEST, "The reason must be one line");
    }
    assert_eq!(
        index.get_json("/simple/demo/").await.body,
        page,
        "no refusal touched the page"
    );
    assert!(!index.repo.publish(), "no refusal queued a change");
    // GET is not a way to yank.
    let get = index.get("/api/projects/demo/1.0/yank").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// `/legacy` without its slash takes uploads too: twine users type it.
#[tokio::test]
async fn legacy_without_its_slash_takes_uploads() {
    let index = Index::new();
    let dist = wheel("slashless", "1.0");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/legacy")
        .header(header::CONTENT_TYPE, Form::content_type())
        .header(header::AUTHORIZATION, token_auth(&index.repo.alice))
        .body(Body::from(Form::twine(&dist).body()))
        .unwrap();
    index.send(request).await.assert_ok();
    assert_eq!(
        index.repo.store.files("slashless").unwrap().len(),
        1,
        "the upload is stored"
    );
}

/// A token with `permission` and `projects` for alice.
fn limited_token(
    index: &Index,
    permission: bulwark_store::TokenPermission,
    projects: &[&str],
) -> String {
    let new = bulwark_server::auth::NewToken {
        user: "alice".to_owned(),
        permission,
        projects: projects.iter().map(|p| (*p).to_owned()).collect(),
        ..bulwark_server::auth::NewToken::default()
    };
    bulwark_server::auth::create(index.repo.store.as_ref(), &new, common::now_us()).unwrap()
}

#[tokio::test]
async fn scoped_and_read_only_tokens_change_nothing_outside_their_scope() {
    use bulwark_store::TokenPermission::{Read, Upload};
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    let other = limited_token(&index, Upload, &["Other_Pkg"]);
    let scoped = limited_token(&index, Upload, &["demo"]);
    let reader = limited_token(&index, Read, &[]);
    for (token, reason) in [
        (&other, "This API token is not valid for project demo"),
        (&reader, "This API token is read-only"),
    ] {
        let reply = index.yank(Some(token), "demo", "1.0", "yank", "").await;
        reply.assert_refused(StatusCode::FORBIDDEN, reason);
        let form = common::TransactionForm::new(Vec::new(), Vec::new(), &[]);
        let reply = index.transaction(token, "demo", &form).await;
        reply.assert_refused(StatusCode::FORBIDDEN, reason);
        index
            .refused(
                Some(token),
                &Form::twine(&wheel("demo", "2.0")),
                StatusCode::FORBIDDEN,
                reason,
            )
            .await;
    }
    // In scope: the owner's token yanks.
    index
        .yank(Some(&scoped), "demo", "1.0", "yank", "")
        .await
        .assert_ok();
    // A scoped token may create the project it names.
    index
        .upload_as(&other, &Form::twine(&wheel("other-pkg", "1.0")))
        .await
        .assert_ok();
}

#[tokio::test]
async fn private_reads_need_a_token_of_any_permission_and_scope() {
    use bulwark_store::TokenPermission::Read;
    let index = Index::with(ServerConfig {
        read_access: bulwark_server::ReadAccess::Token,
        ..ServerConfig::default()
    });
    let alice = index.repo.alice.clone();
    index.uploaded(&wheel("demo", "1.0")).await;
    let reader = limited_token(&index, Read, &["elsewhere"]);
    for path in [
        "/",
        "/simple/",
        "/simple/demo/",
        "/pypi/demo/json",
        "/tuf/metadata/1.root.json",
    ] {
        let reply = index.get(path).await;
        reply.assert_refused(StatusCode::UNAUTHORIZED, "Authentication required");
        assert_eq!(
            reply.header(header::WWW_AUTHENTICATE),
            Some("Basic realm=\"bulwark\""),
            "{path}"
        );
        for token in [&alice, &reader] {
            let reply = index
                .get_with(path, &[(header::AUTHORIZATION, &token_auth(token))])
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
        }
        let reply = index
            .get_with(path, &[(header::AUTHORIZATION, "Bearer x")])
            .await;
        reply.assert_refused(StatusCode::UNAUTHORIZED, "Only HTTP Basic");
    }
    let id = reader.split('_').nth(1).unwrap();
    index.repo.store.revoke_token(id, common::now_us()).unwrap();
    let reply = index
        .get_with("/simple/", &[(header::AUTHORIZATION, &token_auth(&reader))])
        .await;
    reply.assert_refused(StatusCode::UNAUTHORIZED, "This API token has been revoked");
    // Uploads keep their own, stricter check.
    index
        .refused(
            Some(&reader),
            &Form::twine(&wheel("demo", "2.0")),
            StatusCode::FORBIDDEN,
            "This API token has been revoked",
        )
        .await;
}
