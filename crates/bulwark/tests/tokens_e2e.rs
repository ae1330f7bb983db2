//! API tokens a team can manage, and private reads, with real processes:
//! `bulwark token create/list/revoke`, twine uploads with project-scoped,
//! read-only, expired (created in the past under libfaketime) and revoked
//! tokens; an index with `read_access = "token"` that pip and uv install
//! from with credentials in the index URL and that refuses curl, pip and
//! uv without them; `bulwark proxy` and `bulwark mirror` in front of it
//! with `--upstream-token`; and a revocation refused at once by both
//! servers sharing PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    Proxy, Server, bulwark, installed_version, make_dist, path, pip_install,
    proxy_refuses_to_start, run_ok, stderr, stdout, twine_upload, uv_install, wait_until,
};

/// `bulwark token <args>` on the index in `data`, with `env`.
fn token_cmd(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    bulwark()
        .arg("token")
        .arg(args[0])
        .arg("--data-dir")
        .arg(data)
        .args(&args[1..])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// A new token (`bulwark token create --data-dir DATA <args>`).
fn create(data: &Path, args: &[&str]) -> String {
    let mut full = vec!["create"];
    full.extend_from_slice(args);
    let out = token_cmd(data, &full, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(
        token.starts_with("bwk_") && !token.contains('\n'),
        "{token:?}"
    );
    token
}

/// The public id of `token` (`bwk_<id>_<secret>`).
fn id_of(token: &str) -> &str {
    token.split('_').nth(1).unwrap()
}

/// The secret part of `token`.
fn secret_of(token: &str) -> &str {
    token.rsplit('_').next().unwrap()
}

/// twine's output of a refused upload: it fails, and says `reason`.
fn refused(out: &Output, reason: &str) {
    let text = format!("{}{}", stdout(out), stderr(out));
    assert!(!out.status.success(), "the upload was accepted: {text}");
    assert!(text.contains(reason), "no {reason:?} in: {text}");
}

/// GET of `url` by curl with `auth` (`user:password`) if any: the status
/// and the response headers.
fn curl_get(url: &str, auth: Option<&str>) -> (String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "10"]);
    if let Some(auth) = auth {
        cmd.arg("-u").arg(auth);
    }
    let text = stdout(&cmd.arg(url).output().unwrap());
    let (headers, status) = text.rsplit_once("\r\n\r\n").unwrap_or(("", &text));
    (status.to_owned(), headers.to_ascii_lowercase())
}

/// The body of a GET of `url` with `auth`, by curl (which must succeed).
fn curl_body(url: &str, auth: &str) -> String {
    stdout(&run_ok(
        Command::new("curl")
            .args(["-sSf", "--max-time", "10", "-u", auth])
            .arg(url),
    ))
}

#[test]
fn scoped_read_only_expired_and_revoked_tokens_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let dists = dir.path().join("dist");
    let demo = make_dist(&dists.join("demo"), "demo-pkg", "1.0", &[]);
    let other = make_dist(&dists.join("other"), "other-pkg", "1.0", &[]);

    // Scoped to a project that does not exist yet, by a non-normalized name.
    let scoped = create(
        &data,
        &[
            "alice",
            "--project",
            "Demo_Pkg",
            "--description",
            "CI of demo",
        ],
    );
    let out = twine_upload(&server.url, &scoped, &demo);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // It creates no project but those it names.
    refused(
        &twine_upload(&server.url, &scoped, &other),
        "not valid for project other-pkg",
    );
    let read_only = create(&data, &["alice", "--read-only"]);
    refused(&twine_upload(&server.url, &read_only, &other), "read-only");
    // Created two hours ago, for one hour.
    let expired = run_ok(
        Command::new("/usr/bin/faketime")
            .args(["-f", "-2h"])
            .arg(env!("CARGO_BIN_EXE_bulwark"))
            .args(["token", "create", "--data-dir"])
            .arg(&data)
            .args(["alice", "--expires", "1h"]),
    );
    let expired = stdout(&expired).trim().to_owned();
    refused(&twine_upload(&server.url, &expired, &other), "expired");

    // Revoked: refused from the next request on.
    let full = create(&data, &["alice", "--expires", "30d"]);
    let out = token_cmd(&data, &["revoke", id_of(&full)], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked token"), "{}", stdout(&out));
    refused(&twine_upload(&server.url, &full, &other), "revoked");
    let again = token_cmd(&data, &["revoke", id_of(&full)], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already revoked"),
        "{}",
        stdout(&again)
    );
    let unknown = token_cmd(&data, &["revoke", "0123456789abcdef"], &[]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no token has id"),
        "{}",
        stderr(&unknown)
    );
    // A wrong secret for a real id: no hint of which part was wrong.
    let forged = format!("bwk_{}_{}", id_of(&scoped), "0".repeat(64));
    refused(
        &twine_upload(&server.url, &forged, &other),
        "Invalid or non-existent API token",
    );
    // The refusals never echo a token.
    for token in [&scoped, &read_only, &expired, &full, &forged] {
        assert!(
            !server.log().contains(secret_of(token)),
            "a secret is in the log"
        );
    }

    listed_without_secrets(&data, [&scoped, &read_only, &expired, &full]);
    refuses_bad_inputs(&data);
}

/// `bulwark token list` (table and JSON) shows every token of `tokens`
/// (scoped, read-only, expired, revoked) with its state, never a secret.
fn listed_without_secrets(data: &Path, tokens: [&String; 4]) {
    let [scoped, read_only, expired, full] = tokens;
    // The list: every token, its state, never its secret.
    let list = token_cmd(data, &["list"], &[]);
    assert!(list.status.success(), "{}", stderr(&list));
    let table = stdout(&list);
    for token in [scoped, read_only, expired, full] {
        assert!(table.contains(id_of(token)), "{table}");
        assert!(
            !table.contains(secret_of(token)),
            "a secret is listed: {table}"
        );
    }
    let line = |token: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id_of(token)))
            .unwrap()
            .to_owned()
    };
    assert!(line(scoped).contains("demo-pkg"), "{table}");
    assert!(line(scoped).contains("CI of demo"), "{table}");
    assert!(line(scoped).contains("active"), "{table}");
    assert!(
        !line(scoped).contains("never  never"),
        "last use not recorded: {table}"
    );
    assert!(line(read_only).contains("read"), "{table}");
    assert!(line(expired).contains("expired"), "{table}");
    assert!(line(full).contains("revoked"), "{table}");
    let json = token_cmd(data, &["list", "alice", "--json"], &[]);
    let json = stdout(&json);
    assert!(
        json.starts_with("[{") && json.contains(r#""state":"revoked""#),
        "{json}"
    );
    assert!(json.contains(r#""projects":["demo-pkg"]"#), "{json}");
    for token in [scoped, read_only, expired, full] {
        assert!(
            !json.contains(secret_of(token)),
            "a secret is listed: {json}"
        );
    }
    let nobody = token_cmd(data, &["list", "nobody", "--json"], &[]);
    assert_eq!(stdout(&nobody).trim(), "[]");
}

/// `bulwark token create` refuses bad inputs, each with its reason, and
/// prints no token.
fn refuses_bad_inputs(data: &Path) {
    for (args, reason) in [
        (&["alice", "--expires", "0d"][..], "would expire at once"),
        (&["alice", "--expires", "100y"], "is not a duration like"),
        (&["alice", "--expires", "99999d"], "more than 3650 days"),
        (&["alice", "--project=-bad-"], "is not a valid project name"),
        (&["alice", "--description", "two\nlines"], "--description"),
    ] {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        let out = token_cmd(data, &full, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?} printed a token");
    }
}

/// The index URL with `token` as pip and uv take credentials.
fn with_credentials(url: &str, token: &str) -> String {
    url.replacen("http://", &format!("http://__token__:{token}@"), 1)
}

#[test]
fn a_private_index_serves_only_requests_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_READ_ACCESS", "token")]);
    let alice = create(&data, &["alice"]);
    let reader = create(&data, &["ci", "--read-only", "--description", "CI"]);
    let files = make_dist(&dir.path().join("dist"), "private-pkg", "1.0", &[]);
    let out = twine_upload(&server.url, &alice, &files);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // Every read without credentials: 401 and a Basic challenge.
    let auth = format!("__token__:{reader}");
    let json = curl_body(&format!("{}/pypi/private-pkg/json", server.url), &auth);
    let file_url = json
        .split("\"url\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no file URL in {json}"))
        .to_owned();
    assert!(file_url.contains("/files/"), "{file_url}");
    for url in [
        format!("{}/", server.url),
        format!("{}/simple/", server.url),
        format!("{}/simple/private-pkg/", server.url),
        file_url.clone(),
        format!("{}/pypi/private-pkg/json", server.url),
        format!("{}/tuf/metadata/timestamp.json", server.url),
        format!("{}/tuf/metadata/1.root.json", server.url),
    ] {
        let (status, headers) = curl_get(&url, None);
        assert_eq!(status, "401", "{url}");
        assert!(
            headers.contains("www-authenticate: basic realm=\"bulwark\""),
            "{url}: {headers}"
        );
        assert_eq!(curl_get(&url, Some(&auth)).0, "200", "{url}");
        assert_eq!(
            curl_get(&url, Some(&format!("__token__:{alice}"))).0,
            "200",
            "{url}"
        );
        // A bad token: refused with its reason, no challenge loop.
        let (status, _) = curl_get(&url, Some("__token__:bwk_0_0"));
        assert_eq!(status, "401", "{url}");
    }
    // The probes stay open (served or not by this build, never 401).
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let (status, _) = curl_get(&format!("{}{probe}", server.url), None);
        assert_ne!(status, "401", "{probe}");
    }

    // pip and uv with the token in the index URL install; without, they
    // fail on the 401.
    let base = with_credentials(&server.url, &reader);
    let site = dir.path().join("pip-site");
    let out = pip_install(&base, &site, "private-pkg");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "private_pkg"), "1.0");
    let site = dir.path().join("uv-site");
    let out = uv_install(&base, &site, "private-pkg");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "private_pkg"), "1.0");
    // pip reports the 401 only at -vv; the server's log shows it answered one.
    let refused_pages = || {
        server
            .log()
            .lines()
            .filter(|l| l.contains("/simple/private-pkg/") && l.contains(r#""status":401"#))
            .count()
    };
    let before = refused_pages();
    let out = pip_install(&server.url, &dir.path().join("pip-none"), "private-pkg");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No matching distribution"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Traceback"), "{}", stderr(&out));
    assert!(refused_pages() > before, "no 401 logged:\n{}", server.log());
    let out = uv_install(&server.url, &dir.path().join("uv-none"), "private-pkg");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(
        !server.log().contains(secret_of(&reader)),
        "the token is in the log"
    );
}

#[test]
fn proxy_and_mirror_read_a_private_index_with_an_upstream_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_READ_ACCESS", "token")]);
    let alice = create(&data, &["alice"]);
    let reader = create(&data, &["mirror", "--read-only"]);
    let files = make_dist(&dir.path().join("dist"), "private-pkg", "1.0", &[]);
    let out = twine_upload(&server.url, &alice, &files);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // The verifying proxy and the mirror read it with the read-only token,
    // from the environment, or in the URL; without it they fail, saying why.
    let root = data.join("root.json");
    let env = [("BULWARK_UPSTREAM_TOKEN", reader.as_str())];
    let proxy = Proxy::start_with(&server.url, &root, &dir.path().join("cache"), &[], &env);
    let site = dir.path().join("proxy-site");
    assert!(
        wait_until(Duration::from_secs(20), || {
            pip_install(&proxy.url, &site, "private-pkg")
                .status
                .success()
        }),
        "pip never installed through the proxy; proxy log:\n{}",
        proxy.log()
    );
    assert_eq!(installed_version(&site, "private_pkg"), "1.0");
    assert!(
        !proxy.log().contains(secret_of(&reader)),
        "the token is in the proxy log"
    );
    let out = proxy_refuses_to_start(
        &server.url,
        &root,
        &[
            "--cache-dir".as_ref(),
            dir.path().join("cache-none").as_os_str(),
        ],
        &[],
    );
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    let mirror = dir.path().join("mirror");
    let sync = |upstream: &str, extra: &[&str], env: &[(&str, &str)]| {
        bulwark()
            .args([
                "mirror",
                "sync",
                "--upstream",
                upstream,
                "--root",
                path(&root),
            ])
            .args(["--dest", path(&mirror)])
            .args(extra)
            .env_remove("BULWARK_UPSTREAM_TOKEN")
            .env_remove("BULWARK_UPSTREAM_TOKEN_FILE")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = sync(&server.url, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    let out = sync(&server.url, &["--upstream-token", &reader], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("mirrored snapshot "),
        "{}",
        stdout(&out)
    );
    let secret_file = dir.path().join("upstream-token");
    std::fs::write(&secret_file, format!("{reader}\n")).unwrap();
    let out = sync(
        &server.url,
        &[],
        &[("BULWARK_UPSTREAM_TOKEN_FILE", path(&secret_file))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sync(&with_credentials(&server.url, &reader), &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(secret_of(&reader)));
    let wheel = Path::new(&files[0]).file_name().unwrap().to_str().unwrap();
    let copied = walk(&mirror).iter().any(|p| p.ends_with(wheel));
    assert!(copied, "the mirror has no {wheel}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_revoked_token_is_refused_at_once_by_both_servers_of_one_database() {
    if std::env::var_os("BULWARK_TEST_POSTGRES").is_none() {
        eprintln!("skipped: BULWARK_TEST_POSTGRES is not set");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "BULWARK_STATE".to_owned(),
            bulwark_testkit::postgres::fresh_database(),
        ),
        (
            "BULWARK_BLOBS".to_owned(),
            bulwark_testkit::s3_test_url("tokens"),
        ),
        ("BULWARK_KEY_PASSPHRASE".to_owned(), "shared".to_owned()),
        ("BULWARK_READ_ACCESS".to_owned(), "token".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a_data = dir.path().join("a");
    let a = Server::start_with_env(&a_data, &env);
    let b_data = dir.path().join("b");
    std::fs::create_dir_all(b_data.join("keys")).unwrap();
    std::fs::copy(
        a_data.join("keys/online.key"),
        b_data.join("keys/online.key"),
    )
    .unwrap();
    let mut b_env = env.clone();
    b_env.push(("BULWARK_ONLINE_KEY", "keys/online.key"));
    let b = Server::start_with_env(&b_data, &b_env);

    let created = token_cmd(&b_data, &["create", "alice"], &env);
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    let auth = format!("__token__:{token}");
    let dists = make_dist(&dir.path().join("dist"), "shared-tok", "1.0", &[]);
    for server in [&a, &b] {
        assert_eq!(
            curl_get(&format!("{}/simple/", server.url), Some(&auth)).0,
            "200"
        );
    }
    let out = twine_upload(&a.url, &token, &dists[..1]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // Revoked through A's data directory: both refuse the very next request.
    let out = token_cmd(&a_data, &["revoke", id_of(&token)], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    for server in [&a, &b] {
        assert_eq!(
            curl_get(&format!("{}/simple/", server.url), Some(&auth)).0,
            "401",
            "{} still reads with a revoked token",
            server.url
        );
        refused(&twine_upload(&server.url, &token, &dists[1..]), "revoked");
    }
    let list = token_cmd(&b_data, &["list", "--json"], &env);
    assert!(
        stdout(&list).contains(r#""state":"revoked""#),
        "{}",
        stdout(&list)
    );
}

#[test]
fn developers_claim_and_sign_uploads_on_a_private_index_with_their_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_READ_ACCESS", "token")]);
    let alice = create(&data, &["alice", "--project", "demo"]);
    let (key, _) = common::developer_key(dir.path(), "dev");
    let root = data.join("root.json");
    let url = server.url.as_str();
    let files = make_dist(&dir.path().join("1.0"), "demo", "1.0", &[]);
    let out = twine_upload(url, &alice, &files);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // The claim reads the index's TUF metadata with the token, once the
    // upload is published.
    let claim = [
        "claim",
        "demo",
        "--index",
        url,
        "--root",
        path(&root),
        "--key",
        path(&key),
    ];
    let mut last = None;
    wait_until(Duration::from_secs(20), || {
        let out = common::developer(&claim, &alice).output().unwrap();
        let published = !stderr(&out).contains("no such project");
        last = Some(out);
        published
    });
    let out = last.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 1 (recently-claimed)"
    );
    let v11 = make_dist(&dir.path().join("1.1"), "demo", "1.1", &[]);
    let mut upload = vec![
        "upload",
        "--index",
        url,
        "--root",
        path(&root),
        "--key",
        path(&key),
    ];
    upload.extend(v11.iter().map(String::as_str));
    let out = run_ok(&mut common::developer(&upload, &alice));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 2 (recently-claimed)"
    );
    // Without a token that reads, the claim stops at the first metadata.
    let other = common::developer(&claim, "bwk_0_0").output().unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(stderr(&other).contains("401"), "{}", stderr(&other));
}
