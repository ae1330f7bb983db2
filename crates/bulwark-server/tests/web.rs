//! The web pages through the router: statuses, redirects, headers, search
//! ranking and messages, and the TUF status before and after a publish run.
//! (The browser test is `crates/bulwark/tests/web_e2e.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use axum::http::{StatusCode, header};
use common::{Index, wheel};

/// `text` as askama's HTML escaper writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn pages_are_html_with_a_policy_that_allows_no_script() {
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    for path in [
        "/",
        "/search?q=demo",
        "/project/demo/",
        "/status/",
        "/project/none/",
    ] {
        let reply = index.get(path).await;
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        let policy = reply.header(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert!(!policy.contains("script-src"), "{path}: {policy}");
        assert!(
            reply
                .text()
                .starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn home_lists_recent_uploads_newest_first() {
    let index = Index::new();
    let reply = index.get("/").await;
    reply.assert_ok();
    assert!(reply.text().contains("No project has been uploaded yet."));
    for (name, version) in [("alpha", "1.0"), ("beta", "1.0"), ("alpha", "2.0")] {
        index.uploaded(&wheel(name, version)).await;
        // Upload times are microseconds: keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let text = index.get("/").await.text();
    let alpha = text.find("<a href=\"/project/alpha/\">alpha</a></td><td>2.0</td>");
    let beta = text.find("<a href=\"/project/beta/\">beta</a></td><td>1.0</td>");
    assert!(alpha.unwrap() < beta.unwrap(), "{text}");
    assert_eq!(text.matches("/project/alpha/").count(), 1, "{text}");
}

#[tokio::test]
async fn search_ranks_prefixes_first_and_explains_odd_queries() {
    let index = Index::new();
    for name in ["my-requests", "requests", "requests-oauth", "other"] {
        index.uploaded(&wheel(name, "1.0")).await;
    }
    let text = index.get("/search?q=Requests").await.text();
    let order: Vec<usize> = [
        "/project/requests/",
        "/project/requests-oauth/",
        "/project/my-requests/",
    ]
    .iter()
    .map(|p| {
        text.find(p)
            .unwrap_or_else(|| panic!("{p} missing:\n{text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(
        text.contains(&escaped("3 projects match “requests”.")),
        "{text}"
    );
    assert!(!text.contains("/project/other/"), "{text}");
    // The query stays in the box, escaped.
    assert!(text.contains("value=\"Requests\""), "{text}");

    for (query, message) in [
        ("", "Type a project name, or part of one, to search."),
        ("%20%20", "Type a project name, or part of one, to search."),
        ("zzz", "No project name contains “zzz”."),
        (
            "%3Cscript%3E",
            "Project names hold only letters, digits, “-”, “_” and “.”: no project matches “<script>”.",
        ),
    ] {
        let reply = index.get(&format!("/search?q={query}")).await;
        reply.assert_ok();
        let text = reply.text();
        assert!(text.contains(&escaped(message)), "{query}: {text}");
        assert!(!text.contains("<script>"), "{query}: {text}");
    }
    let long = "a".repeat(201);
    let text = index.get(&format!("/search?q={long}")).await.text();
    assert!(
        text.contains("The query is too long: at most 200 characters."),
        "{text}"
    );
    // No query at all is an empty one; of two, the first counts; other
    // parameters and bad escapes are no error.
    for (path, shown) in [
        ("/search", "Type a project name"),
        ("/search?page=2", "Type a project name"),
        ("/search?q=other&q=requests", "1 project matches"),
        ("/search?q=%ZZ", "no project matches"),
    ] {
        let reply = index.get(path).await;
        reply.assert_ok();
        assert!(reply.text().contains(shown), "{path}: {}", reply.text());
    }
}

#[tokio::test]
async fn project_pages_redirect_to_the_normalized_name_and_404_unknown_ones() {
    let index = Index::new();
    index.uploaded(&wheel("Demo_Pkg", "1.0")).await;
    for (path, location) in [
        ("/project/Demo_Pkg/", "/project/demo-pkg/"),
        ("/project/demo.pkg/", "/project/demo-pkg/"),
        ("/project/demo-pkg", "/project/demo-pkg/"),
        ("/project/Demo_Pkg", "/project/demo-pkg/"),
        ("/status", "/status/"),
    ] {
        let reply = index.get(path).await;
        assert_eq!(reply.status, StatusCode::MOVED_PERMANENTLY, "{path}");
        assert_eq!(reply.header(header::LOCATION), Some(location), "{path}");
    }
    let reply = index.get("/project/demo-pkg/").await;
    reply.assert_ok();
    assert!(
        reply
            .text()
            .contains("<h1>Demo_Pkg <span class=\"muted\">1.0</span></h1>")
    );
    for path in ["/project/nothing/", "/project/-bad-/", "/project/-bad-"] {
        let reply = index.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            reply.text().contains("There is no project called"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn project_page_shows_yanks_and_the_tuf_status_once_published() {
    let index = Index::new();
    index.uploaded(&wheel("demo", "1.0")).await;
    index.uploaded(&wheel("demo", "2.0")).await;
    let alice = index.repo.alice.clone();
    index
        .yank(Some(&alice), "demo", "2.0", "yank", "<b>broken</b>")
        .await
        .assert_ok();
    let text = index.get("/project/demo/").await.text();
    assert!(text.contains("not published yet"), "{text}");
    assert!(text.contains("wait for the next publish run"), "{text}");
    assert!(
        text.contains(&format!("Yanked: {}", escaped("<b>broken</b>"))),
        "{text}"
    );
    assert!(text.find("demo-2.0-py3").unwrap() < text.find("demo-1.0-py3").unwrap());
    let status = index.get("/status/").await.text();
    assert!(
        status.contains("1 project with changes waiting"),
        "{status}"
    );

    assert!(index.repo.publish());
    let text = index.get("/project/demo/").await.text();
    assert!(!text.contains("not published yet"), "{text}");
    assert!(!text.contains("wait for the next publish run"), "{text}");
    assert!(
        text.contains("<span class=\"badge\">unclaimed</span>"),
        "{text}"
    );
    assert!(
        text.contains(", delegated by <code>unclaimed</code>"),
        "{text}"
    );
    let page = index.repo.store.page("demo").unwrap().unwrap();
    assert!(text.contains(&page.sha256), "{text}");
    let snapshot = index
        .repo
        .store
        .roles()
        .unwrap()
        .into_iter()
        .find(|r| r.role == "snapshot")
        .unwrap();
    assert!(
        text.contains(&format!("snapshot version {}", snapshot.version)),
        "{text}"
    );

    let status = index.get("/status/").await.text();
    assert!(
        status.contains("empty: everything accepted is signed"),
        "{status}"
    );
    for role in [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        "claimed",
        "recently-claimed",
        "unclaimed",
        "bin-*",
    ] {
        assert!(
            status.contains(&format!("<code>{role}</code>")),
            "{role}: {status}"
        );
    }
    assert!(!status.contains("cannot be read"), "{status}");
}
