//! The compromise test (issue 11): an attacker who holds the index's online
//! key and its disk signs new bins, recently-claimed, claim bins, snapshots
//! and timestamps offering releases of their own, and the real `bulwark
//! serve` serves them. Through `bulwark proxy` started from the genuine
//! root, pip and uv install:
//!
//! - an unclaimed project: the attacker's release (the online key signs
//!   its bin; this proves the test can fail);
//! - a recently-claimed project: the attacker's release too (the online
//!   key signs recently-claimed, PEP 480's table: recently-claimed projects
//!   are protected from a compromised index only once promoted);
//! - a claimed project: the genuine release, or a clear refusal, never the
//!   attacker's, whichever route the attacker takes; python-tuf agrees.
//!
//! Also the rollback the online key still allows: a snapshot listing the
//! `claimed` from before the promotion. A returning client refuses it; a new
//! client takes it while it is valid (30 days, `Policy::claimed_expiry`) and
//! refuses it after (the proxy's clock shifted with faketime).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::forge::{Attacker, Route};
use common::{
    Proxy, Server, bulwark, developer, developer_key, installed_version, json_page, make_dist,
    path, pip_install, python_script, run_ok, stderr, stdout, token, twine_upload, uv_install,
    wait_until,
};

/// Claims `project` with `key` once its twine upload is published.
fn claim(server: &Server, root: &Path, key: &Path, token: &str, project: &str) {
    let mut last = None;
    let claimed = wait_until(Duration::from_secs(30), || {
        let out = developer(
            &[
                "claim",
                project,
                "--index",
                &server.url,
                "--root",
                path(root),
                "--key",
                path(key),
            ],
            token,
        )
        .output()
        .unwrap();
        let ok = out.status.success();
        last = Some(out);
        ok
    });
    let out = last.unwrap();
    assert!(claimed, "{}{}", stdout(&out), stderr(&out));
}

/// Promotes `project` to claimed with the data directory's development
/// claimed key, while the server runs: `claimed` is signed under the
/// installed targets, each claim bin under the drafted `claimed`.
fn promote(dir: &Path, data: &Path, project: &str) {
    let drafts = dir.join("promote");
    run_ok(
        bulwark()
            .args(["ceremony", "promote", "--data-dir"])
            .arg(data)
            .arg("--out")
            .arg(&drafts)
            .arg(project),
    );
    let docs: Vec<PathBuf> = std::fs::read_dir(&drafts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let claimed = docs
        .iter()
        .find(|p| path(p).ends_with(".claimed.json"))
        .expect("a claimed draft")
        .clone();
    let targets = data.join("blobs/tuf/metadata/1.targets.json");
    let combined = dir.join("combined");
    std::fs::create_dir_all(&combined).unwrap();
    let mut signed = Vec::new();
    for doc in &docs {
        let delegator = if *doc == claimed { &targets } else { &claimed };
        let name = doc.file_name().unwrap().to_str().unwrap();
        let signature = dir.join(format!("{name}.sig"));
        run_ok(
            bulwark()
                .args(["ceremony", "sign", "--key"])
                .arg(data.join("keys/claimed.key"))
                .arg(doc)
                .arg("--delegator")
                .arg(delegator)
                .arg("--out")
                .arg(&signature)
                .env("BULWARK_KEY_PASSPHRASE", ""),
        );
        let out = combined.join(name);
        run_ok(
            bulwark()
                .args(["ceremony", "combine"])
                .arg(doc)
                .arg(&signature)
                .arg("--delegator")
                .arg(delegator)
                .arg("--out")
                .arg(&out),
        );
        signed.push(out);
    }
    run_ok(
        bulwark()
            .args(["ceremony", "install", "--data-dir"])
            .arg(data)
            .args(&signed),
    );
}

/// True once the published snapshot lists `role` at `version` or later.
fn published(server: &Server, role: &str, version: u64) -> bool {
    let get = |path: &str| {
        Command::new("curl")
            .args(["-sSf"])
            .arg(format!("{}/tuf/metadata/{path}", server.url))
            .output()
            .unwrap()
            .stdout
    };
    let int_at = |bytes: &[u8], keys: &[&str]| {
        let mut value = &bulwark_tuf::json::parse(bytes).ok()?;
        for key in keys {
            let bulwark_tuf::json::Value::Object(fields) = value else {
                return None;
            };
            value = fields.get(*key)?;
        }
        match value {
            bulwark_tuf::json::Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    };
    let Some(snapshot) = int_at(
        &get("timestamp.json"),
        &["signed", "meta", "snapshot.json", "version"],
    ) else {
        return false;
    };
    let role_file = format!("{role}.json");
    int_at(
        &get(&format!("{snapshot}.snapshot.json")),
        &["signed", "meta", &role_file, "version"],
    )
    .is_some_and(|v| v >= version)
}

/// Installs `project` through a new proxy trusting `root` with pip and uv;
/// returns what each installed (`None` for a refusal).
fn install_both(
    dir: &Path,
    server: &Server,
    root: &Path,
    project: &str,
    tag: &str,
) -> [Option<String>; 2] {
    let proxy = Proxy::start(&server.url, root, &dir.join(format!("cache-{tag}")));
    let installed = |out: Output, site: &PathBuf| {
        out.status
            .success()
            .then(|| installed_version(site, project))
    };
    let pip_site = dir.join(format!("pip-{tag}"));
    let pip = installed(pip_install(&proxy.url, &pip_site, project), &pip_site);
    let uv_site = dir.join(format!("uv-{tag}"));
    let uv = installed(uv_install(&proxy.url, &uv_site, project), &uv_site);
    [pip, uv]
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn a_stolen_online_key_cannot_ship_a_claimed_project() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let data = dir.join("data");
    // No publish run on its own while the attacker's metadata is served.
    let server = Server::start_with_env(&data, &[("BULWARK_PUBLISH_INTERVAL_SECS", "3600")]);
    let alice = token(&data, "alice");
    let root = data.join("root.json");
    for project in ["victim", "fresh", "bystander"] {
        let out = twine_upload(
            &server.url,
            &alice,
            &make_dist(&dir.join(project), project, "1.0", &[]),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (key, _) = developer_key(dir, "dev");
    claim(&server, &root, &key, &alice, "victim");
    claim(&server, &root, &key, &alice, "fresh");
    promote(dir, &data, "victim");
    assert!(
        wait_until(Duration::from_secs(30), || published(&server, "claimed", 2)),
        "the promotion was not published"
    );
    // The developers release 2.0 of the claimed project.
    let out = developer(
        &[
            "upload",
            "--index",
            &server.url,
            "--root",
            path(&root),
            "--key",
            path(&key),
        ],
        &alice,
    )
    .args(make_dist(&dir.join("victim-2"), "victim", "2.0", &[]))
    .output()
    .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // python-tuf resolves all three kinds of project: claimed (victim),
    // recently-claimed (fresh) and unclaimed (bystander).
    for (project, version) in [("victim", "2.0"), ("fresh", "1.0"), ("bystander", "1.0")] {
        let wheel = format!("{project}-{version}-py3-none-any.whl");
        let out = python_script("verify_index.py")
            .arg(&root)
            .arg(&server.url)
            .arg(project)
            .arg(&wheel)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python-tuf: {wheel}: {}",
            stderr(&out)
        );
    }
    // A returning client: it has seen the promotion.
    let returning = Proxy::start(&server.url, &root, &dir.join("cache-returning"));
    let site = dir.join("site-returning");
    assert!(
        pip_install(&returning.url, &site, "victim")
            .status
            .success()
    );
    assert_eq!(installed_version(&site, "victim"), "2.0");

    let mut attacker = Attacker::steal(&data);
    let evil = |project: &str| -> Vec<PathBuf> {
        make_dist(&dir.join(format!("evil-{project}")), project, "6.6.6", &[])
            .into_iter()
            .map(PathBuf::from)
            .collect()
    };

    // Unclaimed: the attacker wins, so the attack is real.
    attacker.offer(
        "bystander",
        &json_page(&server, "bystander"),
        &evil("bystander"),
        Route::Bin,
    );
    let [pip, uv] = install_both(dir, &server, &root, "bystander", "bystander");
    assert_eq!(pip.as_deref(), Some("6.6.6"));
    assert_eq!(uv.as_deref(), Some("6.6.6"));

    // Recently-claimed: the online key signs recently-claimed, so it can
    // delegate the project to a key of its own (PEP 480).
    attacker.offer(
        "fresh",
        &json_page(&server, "fresh"),
        &evil("fresh"),
        Route::RecentlyClaimed,
    );
    let [pip, uv] = install_both(dir, &server, &root, "fresh", "fresh");
    assert_eq!(pip.as_deref(), Some("6.6.6"));
    assert_eq!(uv.as_deref(), Some("6.6.6"));

    // Claimed: neither route works, for pip, uv and python-tuf.
    let genuine = json_page(&server, "victim");
    for route in [Route::Bin, Route::RecentlyClaimed] {
        let tag = format!("victim-{route:?}");
        let page = attacker.offer("victim", &genuine, &evil("victim"), route);
        for installed in install_both(dir, &server, &root, "victim", &tag) {
            assert_ne!(installed.as_deref(), Some("6.6.6"), "{route:?}");
        }
        let evil_file = page_filename(&page, "6.6.6");
        let out = python_script("verify_index.py")
            .arg(&root)
            .arg(&server.url)
            .arg("victim")
            .arg(&evil_file)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "python-tuf accepted {evil_file} ({route:?})"
        );
    }
    // The returning client still gets the genuine release.
    let site = dir.join("site-returning-2");
    let out = pip_install(&returning.url, &site, "victim");
    if out.status.success() {
        assert_eq!(installed_version(&site, "victim"), "2.0");
    }

    // Rolling claimed back to before the promotion: a returning client
    // refuses the snapshot.
    attacker.list_older("claimed", 1);
    let site = dir.join("site-returning-3");
    let out = pip_install(&returning.url, &site, "victim");
    assert!(
        !out.status.success(),
        "the returning proxy took a rollback of claimed"
    );
    assert!(
        returning
            .log()
            .contains("claimed version 1 is older than trusted version 2"),
        "{}",
        returning.log()
    );

    // A new client cannot tell that rollback (TUF bounds it by expiry
    // only): within claimed version 1's 30 days it falls through to the
    // recently-claimed the attacker signs.
    attacker.sign_valid_for(90 * 86_400);
    attacker.list_older("claimed", 1);
    let [pip, _] = install_both(dir, &server, &root, "victim", "victim-new-client");
    assert_eq!(
        pip.as_deref(),
        Some("6.6.6"),
        "the window the expiry bounds"
    );
    // After those 30 days, a new client refuses the older claimed: it has
    // expired, and the attacker cannot re-sign it.
    let cache = dir.join("cache-31-days-later");
    let later = Proxy::start_with(
        &server.url,
        &root,
        &cache,
        &["/usr/bin/faketime", "-f", "+31d"],
        &[],
    );
    let site = dir.join("site-31-days-later");
    let out = pip_install(&later.url, &site, "victim");
    assert!(
        !out.status.success(),
        "a new client took an expired claimed"
    );
    assert!(
        later.log().contains("claimed metadata expired at"),
        "{}",
        later.log()
    );
}

/// The filename of a file of `version` on a page.
fn page_filename(page: &[u8], version: &str) -> String {
    let text = String::from_utf8_lossy(page);
    let marker = format!("-{version}-py3-none-any.whl");
    let end = text.find(&marker).unwrap() + marker.len();
    let start = text[..end].rfind('"').unwrap() + 1;
    text[start..end].to_owned()
}
