//! A team on one index, as real processes: co-owners added and removed by
//! the operator (`bulwark owner`) and by owners over HTTP, uploads by twine,
//! the audit log (`bulwark audit`), and an administrative removal
//! (`bulwark remove`) that takes files off the live pages and `/files/` at
//! once and off the signed page (verified by python-tuf) at the next
//! publish.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    Server, bulwark, json_page, make_dist, python_script, run_ok, stderr, stdout, token,
    twine_upload, wait_until,
};

/// `bulwark <args…> --data-dir <data>` as operator `admin`.
fn operator(data: &Path, args: &[&str]) -> Output {
    bulwark()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .args(["--actor", "admin"])
        .output()
        .unwrap()
}

/// `bulwark <args…> --data-dir <data>`, for commands without an actor.
fn read(data: &Path, args: &[&str]) -> String {
    stdout(&run_ok(bulwark().args(args).arg("--data-dir").arg(data)))
}

#[track_caller]
fn refused(out: &Output, message: &str) {
    assert!(!out.status.success(), "expected a refusal: {}", stdout(out));
    assert!(
        stderr(out).contains(message),
        "expected {message:?} in: {}",
        stderr(out)
    );
}

/// `curl -X method url` as `token` (none: unauthenticated) with a body
/// and its content type: the status code and the body.
fn api(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (String, String) {
    let mut curl = Command::new("curl");
    curl.args([
        "-s",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "10",
        "-X",
        method,
    ]);
    if let Some(token) = token {
        curl.arg("-u").arg(format!("__token__:{token}"));
    }
    if let Some((content_type, data)) = body {
        curl.arg("-H")
            .arg(format!("Content-Type: {content_type}"))
            .arg("--data-binary")
            .arg(data);
    }
    let out = curl.arg(url).output().unwrap();
    let text = stdout(&out);
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

fn is_wheel(path: &str) -> bool {
    Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("whl"))
}

fn file_name(path: &str) -> &str {
    Path::new(path).file_name().unwrap().to_str().unwrap()
}

/// python-tuf's verdict on `filenames` of `project`: `Ok` when each is on
/// the signed page and downloads as it says, else why not.
fn verify(server: &Server, project: &str, filenames: &[&str]) -> Result<(), String> {
    let out = python_script("verify_index.py")
        .arg(server.data.join("root.json"))
        .arg(&server.url)
        .arg(project)
        .args(filenames)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr(&out))
    }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn co_owners_upload_and_only_owners_change_owners() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let (alice, bob, carol) = (
        token(&data, "alice"),
        token(&data, "bob"),
        token(&data, "carol"),
    );
    let dists = dir.path().join("dist");
    let v1 = make_dist(&dists.join("1"), "team-pkg", "1.0", &[]);
    let v2 = make_dist(&dists.join("2"), "team-pkg", "2.0", &[]);
    let v3 = make_dist(&dists.join("3"), "team-pkg", "3.0", &[]);

    run_ok_output(&twine_upload(&server.url, &alice, &v1), "alice's upload");
    let out = twine_upload(&server.url, &bob, &v2);
    assert!(!out.status.success(), "bob owns nothing yet");

    // The operator adds bob; bob uploads with twine.
    let out = operator(&data, &["owner", "add", "Team_Pkg", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bob is now an owner of team-pkg\n");
    assert!(
        stderr(&out).contains("ownership changed"),
        "the tracing line"
    );
    run_ok_output(
        &twine_upload(&server.url, &bob, &v2),
        "the co-owner's upload",
    );
    let page = String::from_utf8(json_page(&server, "team-pkg")).unwrap();
    assert!(page.contains(file_name(&v2[0])), "{page}");

    // carol owns nothing: her upload is refused.
    let out = twine_upload(&server.url, &carol, &v3);
    assert!(!out.status.success());
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("does not own project team-pkg"), "{said}");

    let owners = read(&data, &["owner", "list", "team-pkg"]);
    let users: Vec<&str> = owners
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(users, ["alice", "bob"], "{owners}");
    assert!(owners.contains("by operator:admin"), "{owners}");

    // The operator's refusals.
    for (args, message) in [
        (
            &["owner", "add", "no-such-pkg", "bob"][..],
            "no such project: no-such-pkg",
        ),
        (
            &["owner", "add", "team-pkg", "bad user"],
            "invalid user name \"bad user\"",
        ),
        (
            &["owner", "add", "team-pkg", "bob"],
            "bob is already an owner of team-pkg",
        ),
        (
            &["owner", "remove", "team-pkg", "carol"],
            "carol is not an owner of team-pkg",
        ),
    ] {
        refused(&operator(&data, args), message);
    }
    let out = bulwark()
        .args(["owner", "list", "no-such-pkg", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    refused(&out, "no such project: no-such-pkg");

    // Over HTTP: carol is refused, alice removes bob, then cannot leave.
    let owners_url = format!("{}/api/projects/team-pkg/owners", server.url);
    let form = Some(("application/x-www-form-urlencoded", "user=carol"));
    let (status, body) = api("POST", &owners_url, Some(&carol), form);
    assert_eq!(status, "403", "{body}");
    assert!(body.contains("only its owners change its owners"), "{body}");
    let (status, _) = api("POST", &owners_url, None, form);
    assert_eq!(status, "401", "unauthenticated");
    let (status, body) = api("DELETE", &format!("{owners_url}/alice"), Some(&carol), None);
    assert_eq!(
        (status.as_str(), body.contains("does not own")),
        ("403", true),
        "{body}"
    );
    let (status, body) = api("DELETE", &format!("{owners_url}/bob"), Some(&alice), None);
    assert_eq!(status, "200", "{body}");
    let (status, body) = api("DELETE", &format!("{owners_url}/alice"), Some(&alice), None);
    assert_eq!(status, "409", "{body}");
    assert!(
        body.contains("alice is the last owner of team-pkg"),
        "{body}"
    );
    let (status, body) = api(
        "POST",
        &owners_url,
        Some(&alice),
        Some(("application/json", "{}")),
    );
    assert_eq!(status, "400", "{body}");
    let bad = Some(("application/x-www-form-urlencoded", "user=b%20b"));
    let (status, body) = api("POST", &owners_url, Some(&alice), bad);
    assert_eq!(
        (status.as_str(), body.contains("Invalid user name")),
        ("400", true),
        "{body}"
    );
    let (status, body) = api("GET", &owners_url, None, None);
    assert_eq!(status, "200");
    assert!(
        body.contains("\"user\":\"alice\"") && !body.contains("\"user\":\"bob\""),
        "{body}"
    );
    let (status, _) = api(
        "GET",
        &format!("{}/api/projects/nothing/owners", server.url),
        None,
        None,
    );
    assert_eq!(status, "404");

    // The last owner cannot be removed by the operator either.
    refused(
        &operator(&data, &["owner", "remove", "team-pkg", "alice"]),
        "alice is the last owner of team-pkg",
    );
    // bob is no owner any more; alice adds him back (JSON body).
    assert!(!twine_upload(&server.url, &bob, &v3).status.success());
    let json = Some(("application/json", r#"{"user": "bob"}"#));
    let (status, body) = api("POST", &owners_url, Some(&alice), json);
    assert_eq!(status, "200", "{body}");
    let (status, body) = api("POST", &owners_url, Some(&alice), json);
    assert_eq!(status, "409", "{body}");
    run_ok_output(&twine_upload(&server.url, &bob, &v3), "bob's upload again");

    // Every change is in the audit log, and only changes.
    let log = read(&data, &["audit", "--project", "team-pkg"]);
    let entries: Vec<Vec<&str>> = log.lines().map(|l| l.split('\t').collect()).collect();
    let seen: Vec<(&str, &str, &str)> = entries.iter().map(|e| (e[2], e[3], e[5])).collect();
    assert_eq!(
        seen,
        [
            ("operator:admin", "owner-add", "bob"),
            ("alice", "owner-remove", "bob"),
            ("alice", "owner-add", "bob"),
        ],
        "{log}"
    );
    let json = read(&data, &["audit", "--json"]);
    assert_eq!(json.lines().count(), 3, "{json}");
    assert!(
        json.lines()
            .next()
            .unwrap()
            .contains(r#""action":"owner-add""#),
        "{json}"
    );
    assert!(
        server.log().contains("ownership changed over the API"),
        "the server logs the changes it makes"
    );

    // `bulwark owner --index`: an owner's side of the same API.
    let as_owner = |args: &[&str], token: &str| {
        bulwark()
            .args(args)
            .args(["--index", &server.url])
            .env("BULWARK_TOKEN", token)
            .output()
            .unwrap()
    };
    refused(
        &as_owner(&["owner", "add", "team-pkg", "carol"], &carol),
        "the index refused to add carol as an owner of team-pkg: 403 The user does not own project team-pkg",
    );
    refused(
        &as_owner(
            &["owner", "add", "team-pkg", "carol", "--actor", "x"],
            &alice,
        ),
        "--actor is for operators",
    );
    let out = as_owner(&["owner", "remove", "team-pkg", "bob"], &alice);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "OK: bob is no longer an owner of team-pkg\n");
    let owners = read(&data, &["owner", "list", "team-pkg"]);
    assert_eq!(owners.lines().count(), 1, "{owners}");
    assert_eq!(read(&data, &["audit"]).lines().count(), 4);
}

#[track_caller]
fn run_ok_output(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        stdout(out),
        stderr(out)
    );
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn removal_takes_files_off_the_live_and_the_signed_pages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_PUBLISH_INTERVAL_SECS", "1")]);
    let (alice, carol) = (token(&data, "alice"), token(&data, "carol"));
    let dists = dir.path().join("dist");
    let v1 = make_dist(&dists.join("1"), "gone-pkg", "1.0", &[]);
    run_ok_output(&twine_upload(&server.url, &alice, &v1), "upload");
    let names: Vec<&str> = v1.iter().map(|f| file_name(f)).collect();
    let wheel = *names.iter().find(|n| is_wheel(n)).unwrap();
    let sdist = *names.iter().find(|n| !is_wheel(n)).unwrap();
    let wheel_path = v1.iter().find(|f| is_wheel(f)).unwrap();
    let sha = bulwark_tuf::hash::sha256_hex(&std::fs::read(wheel_path).unwrap());
    let file_url = format!("{}/files/{sha}/{wheel}", server.url);
    assert!(
        wait_until(Duration::from_secs(30), || verify(
            &server, "gone-pkg", &names
        )
        .is_ok()),
        "published: {:?}",
        verify(&server, "gone-pkg", &names)
    );
    assert_eq!(common::http_status(&file_url), "200");

    // A whole project needs --yes; the refusal says what would go.
    let out = operator(&data, &["remove", "gone-pkg"]);
    refused(
        &out,
        "refusing to remove every file of gone-pkg without --yes: 2 file(s)",
    );
    assert!(stderr(&out).contains(wheel), "{}", stderr(&out));
    refused(
        &operator(&data, &["remove", "gone-pkg", "9.0"]),
        "gone-pkg has no release 9.0",
    );
    refused(
        &operator(
            &data,
            &["remove", "gone-pkg", "1.0", "gone_pkg-1.0-nothing.whl"],
        ),
        "has no file gone_pkg-1.0-nothing.whl",
    );
    refused(
        &operator(&data, &["remove", "no-such-pkg", "--yes"]),
        "no such project",
    );
    refused(
        &operator(&data, &["remove", "gone-pkg", "not a version"]),
        "invalid version",
    );

    // One file: off the live page and /files/ at once.
    let out = operator(
        &data,
        &[
            "remove",
            "gone-pkg",
            "1.0",
            wheel,
            "--reason",
            "DMCA notice 123",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("removed {wheel}")),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("files removed by an administrator"));
    let page = String::from_utf8(json_page(&server, "gone-pkg")).unwrap();
    assert!(!page.contains(wheel) && page.contains(sdist), "{page}");
    assert_eq!(common::http_status(&file_url), "404", "the file");
    assert_eq!(
        common::http_status(&format!("{file_url}.metadata")),
        "404",
        "its core metadata"
    );
    // At the next publish the signed page no longer lists it.
    assert!(
        wait_until(Duration::from_secs(30), || {
            verify(&server, "gone-pkg", &[wheel])
                .is_err_and(|e| e.contains(&format!("{wheel} is not on the verified page")))
        }),
        "python-tuf still finds it: {:?}",
        verify(&server, "gone-pkg", &[wheel])
    );
    verify(&server, "gone-pkg", &[sdist]).expect("the other file verifies");
    // Its filename is never accepted again.
    let out = twine_upload(&server.url, &alice, std::slice::from_ref(wheel_path));
    assert!(!out.status.success());
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("removed by an administrator"), "{said}");

    // The whole project: its page empties, its name stays its owners'.
    let out = operator(
        &data,
        &["remove", "gone-pkg", "--yes", "--reason", "court order"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8(json_page(&server, "gone-pkg")).unwrap();
    assert!(page.contains("\"files\":[]"), "{page}");
    assert!(
        wait_until(Duration::from_secs(30), || {
            verify(&server, "gone-pkg", &[sdist])
                .is_err_and(|e| e.contains("is not on the verified page"))
        }),
        "python-tuf still finds it: {:?}",
        verify(&server, "gone-pkg", &[sdist])
    );
    let v2 = make_dist(&dists.join("2"), "gone-pkg", "2.0", &[]);
    let out = twine_upload(&server.url, &carol, &v2);
    assert!(!out.status.success(), "nobody else takes the name");

    let log = read(&data, &["audit", "--project", "gone-pkg"]);
    let removals: Vec<&str> = log.lines().collect();
    assert_eq!(removals.len(), 2, "{log}");
    assert!(
        removals[0].contains("operator:admin\tremove\tgone-pkg")
            && removals[0].contains(wheel)
            && removals[0].contains("DMCA notice 123"),
        "{log}"
    );
    assert!(removals[1].contains("the whole project") && removals[1].contains("court order"));
}

/// A co-owner may claim a project (PEP 480); a claimed project's files are
/// not removed by the index, whose signature no longer makes its page.
#[test]
fn co_owners_claim_and_claimed_projects_refuse_removal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_PUBLISH_INTERVAL_SECS", "1")]);
    let (alice, bob) = (token(&data, "alice"), token(&data, "bob"));
    let dists = make_dist(&dir.path().join("dist"), "demo", "1.0", &[]);
    run_ok_output(&twine_upload(&server.url, &alice, &dists), "upload");
    let out = operator(&data, &["owner", "add", "demo", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (key, _) = common::developer_key(dir.path(), "bob");
    let root = data.join("root.json");
    let mut claimed = None;
    wait_until(Duration::from_secs(20), || {
        let args = [
            "claim",
            "demo",
            "--index",
            &server.url,
            "--root",
            common::path(&root),
            "--key",
            common::path(&key),
        ];
        let out = common::developer(&args, &bob).output().unwrap();
        let published = !stderr(&out).contains("no such project");
        claimed = Some(out);
        published
    });
    run_ok_output(&claimed.unwrap(), "the co-owner claims");

    let wheel = file_name(dists.iter().find(|f| is_wheel(f)).unwrap()).to_owned();
    let out = operator(&data, &["remove", "demo", "1.0", &wheel]);
    refused(&out, "demo is claimed (PEP 480)");
    assert!(stderr(&out).contains("its developers must sign a new page without it"));
    let page = String::from_utf8(json_page(&server, "demo")).unwrap();
    assert!(page.contains(&wheel), "nothing removed: {page}");
    assert_eq!(
        read(&data, &["audit"]).lines().count(),
        1,
        "only the owner change"
    );
}
