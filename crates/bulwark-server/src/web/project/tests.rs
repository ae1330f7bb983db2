use bulwark_pypi::{DistFilename, ProjectPage, UploadTime};

use super::*;

fn page_file(filename: &str, yanked: Option<&str>) -> PageFile {
    PageFile {
        filename: DistFilename::parse(filename).unwrap(),
        url: format!("../../files/{}/{filename}", "ab".repeat(32)),
        sha256: "ab".repeat(32),
        blake2b_256: Some("cd".repeat(32)),
        size: Some(2048),
        requires_python: Some(">=3.9".to_owned()),
        yanked: yanked.map(str::to_owned),
        core_metadata_sha256: None,
        upload_time: UploadTime::from_unix_micros(1_750_000_000_000_000),
    }
}

fn demo_page(files: Vec<PageFile>) -> ProjectPage {
    ProjectPage {
        name: ProjectName::parse("demo").unwrap(),
        files,
    }
}

fn record(role: &str, version: u64) -> RoleRecord {
    RoleRecord {
        role: role.to_owned(),
        version,
        expires: 2_000_000_000,
        length: 1,
        sha256: "00".repeat(32),
    }
}

fn view(page: &ProjectPage, description: Option<Description>) -> ProjectView {
    let releases = json_api::releases(page);
    ProjectView {
        query: "",
        project: "demo".to_owned(),
        display_name: "<b>Demo</b>".to_owned(),
        latest: Some("2.0".to_owned()),
        summary: Some("A <script>alert(1)</script> summary".to_owned()),
        index_url: "http://127.0.0.1:1/simple/".to_owned(),
        tuf: tuf_status("demo", None, None, &[], false),
        releases: newest_first(&releases),
        description,
    }
}

#[test]
fn releases_are_newest_first_in_pep440_order() {
    let page = demo_page(vec![
        page_file("demo-1.10.tar.gz", None),
        page_file("demo-1.9-py3-none-any.whl", None),
        page_file("demo-1.9.tar.gz", None),
        page_file("demo-2.0rc1.tar.gz", None),
        page_file("demo-1.0.post1.tar.gz", Some("broken")),
    ]);
    let releases = newest_first(&json_api::releases(&page));
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["2.0rc1", "1.10", "1.9", "1.0.post1"]);
    assert_eq!(releases[2].files.len(), 2);
    assert!(releases[3].yanked);
    assert_eq!(releases[3].yanked_reason.as_deref(), Some("broken"));
    assert_eq!(releases[3].files[0].yanked.as_deref(), Some("broken"));
    assert_eq!(releases[0].files[0].size, "2.0 KiB (2048 bytes)");
    let mut small = page_file("demo-1.0.tar.gz", None);
    small.size = Some(973);
    assert_eq!(file_view(&small).size, "973 bytes");
    assert_eq!(releases[0].files[0].uploaded, "2025-06-15T15:06:40Z");
}

#[test]
fn file_links_are_relative_or_http_only() {
    let mut file = page_file("demo-1.0.tar.gz", None);
    assert!(file_view(&file).url.starts_with("../../files/"));
    file.url = "javascript:alert(1)".to_owned();
    assert_eq!(file_view(&file).url, "#");
    file.url = "https://files.example/demo-1.0.tar.gz".to_owned();
    assert_eq!(file_view(&file).url, file.url);
}

/// `text` as askama's HTML escaper writes it.
fn escaped(text: &str) -> String {
    text.replace('<', "&#60;").replace('>', "&#62;")
}

#[test]
fn everything_shown_is_escaped_but_the_sanitised_description() {
    let page = demo_page(vec![page_file(
        "demo-1.0.tar.gz",
        Some("<img src=x onerror=alert(1)>"),
    )]);
    let html = view(
        &page,
        Some(description::render(
            "# Hi\n\n<script>alert(2)</script>",
            Some("text/markdown"),
        )),
    )
    .render()
    .unwrap();
    assert!(html.contains(&escaped("<b>Demo</b>")), "{html}");
    assert!(
        html.contains(&escaped("<script>alert(1)</script>")),
        "{html}"
    );
    assert!(
        html.contains(&escaped("<img src=x onerror=alert(1)>")),
        "{html}"
    );
    assert!(html.contains("<h3>Hi</h3>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("<label for=\"q\">"), "{html}");

    let html = view(
        &page,
        Some(description::render(
            "<script>alert(3)</script>",
            Some("text/x-rst"),
        )),
    )
    .render()
    .unwrap();
    assert!(
        html.contains(&format!(
            "<pre>{}</pre>",
            escaped("<script>alert(3)</script>")
        )),
        "{html}"
    );
}

#[test]
fn an_unclaimed_project_is_signed_by_its_bin() {
    let mut roles = vec![record("snapshot", 7), record("timestamp", 7)];
    roles.extend((0..16).map(|b| record(&layout::bin_name(b, 4), 3 + u64::from(b))));
    let bin = layout::bin_of("demo", 4);
    let page = PageRecord {
        project: "demo".to_owned(),
        sha256: "ef".repeat(32),
        length: 10,
        bin,
    };
    let status = tuf_status("demo", None, Some(&page), &roles, false);
    assert_eq!(status.state, "unclaimed");
    assert_eq!(status.signer, layout::bin_name(bin, 4));
    assert_eq!(status.delegated_by.as_deref(), Some("unclaimed"));
    assert_eq!(status.signed_version, Some(3 + u64::from(bin)));
    assert_eq!(status.snapshot_version, Some(7));
    assert_eq!(status.page_sha256, Some("ef".repeat(32)));
    assert!(status.developer_keys.is_empty());

    // Not published yet: its bin, but no signed version.
    let status = tuf_status("demo", None, None, &roles, true);
    assert_eq!(status.signer, layout::bin_name(bin, 4));
    assert_eq!(status.signed_version, None);
    assert_eq!(status.snapshot_version, None);
    assert!(status.pending);
}

#[test]
fn a_claimed_project_is_signed_by_its_developers() {
    let delegation = r#"{"keys":{"k1":{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"00"}},"k2":{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"11"}}},"roles":[{"name":"project-demo","keyids":["k1","k2"],"threshold":2,"terminating":true,"paths":["simple/demo/*"]}]}"#;
    let claim = ClaimRecord {
        project: "demo".to_owned(),
        tier: ClaimTier::RecentlyClaimed,
        delegation: delegation.to_owned(),
        role_version: 4,
        role_expires: 2_000_000_000,
        role_sha256: "12".repeat(32),
        role_length: 100,
        page_sha256: "34".repeat(32),
        page_length: 200,
        nested: Vec::new(),
    };
    let roles = [record("snapshot", 9)];
    let status = tuf_status("demo", Some(&claim), None, &roles, false);
    assert_eq!(status.state, "recently-claimed");
    assert_eq!(status.signer, "project-demo");
    assert_eq!(
        status.delegated_by,
        Some(layout::claim_bin_name(
            "recently-claimed",
            layout::claim_bin_of("demo")
        ))
    );
    assert_eq!(status.signed_version, Some(4));
    assert_eq!(status.snapshot_version, Some(9));
    assert_eq!(status.developer_keys, ["k1", "k2"]);
    assert_eq!(status.threshold, Some(2));
    assert_eq!(status.page_sha256, Some("34".repeat(32)));

    let claimed = ClaimRecord {
        tier: ClaimTier::Claimed,
        ..claim
    };
    assert_eq!(
        tuf_status("demo", Some(&claimed), None, &roles, false).state,
        "claimed"
    );
}
