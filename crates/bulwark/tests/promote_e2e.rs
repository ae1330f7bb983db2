//! Promoting a claimed project and resetting its keys, as real processes:
//! a project uploaded with twine is claimed by a developer-signed
//! transaction, the administrator drafts `claimed` and its claim bin with
//! `bulwark ceremony promote`, signs them with the claimed key, combines
//! and installs them while `bulwark serve` runs; python-tuf and `bulwark
//! tuf-client` then resolve the project through claimed. A key reset
//! (`ceremony reset-keys`) hands the project to a new developer key: the
//! index accepts a role signed by it and refuses one signed by the old key.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bulwark_pypi::ProjectName;
use bulwark_repo::roles;
use bulwark_repo::transaction::sign_project_role;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, SnapshotMeta, Targets, TimestampMeta};
use bulwark_tuf::names::RoleName;
use common::{
    Server, bulwark, make_dist, python_script, run_ok, stderr, stdout, token, twine_upload,
    wait_until,
};

const PASSPHRASE: &str = "BULWARK_KEY_PASSPHRASE";
/// The passphrase of the development keys `bulwark serve` writes to
/// `<data>/keys/`, among them the offline claimed key.
const DEV_PASS: &str = "the development keys of this test";
const PROJECT: &str = "promo-demo";
const WHEEL: &str = "promo_demo-1.0-py3-none-any.whl";

/// How long a running index may take to publish an install. The server's
/// timed run is every 60 seconds; an install must not wait for it.
const PROMPTLY: Duration = Duration::from_secs(15);

fn metadata_dir(data: &Path) -> PathBuf {
    data.join("blobs/tuf/metadata")
}

/// The version of `role` the published snapshot lists, read from the data
/// directory as a client would get it.
fn published_version(data: &Path, role: &str) -> Option<u64> {
    let dir = metadata_dir(data);
    let timestamp: Envelope<TimestampMeta> =
        Envelope::parse(&fs::read(dir.join("timestamp.json")).ok()?).unwrap();
    let version = timestamp.signed.snapshot.version;
    let snapshot: Envelope<SnapshotMeta> =
        Envelope::parse(&fs::read(dir.join(format!("{version}.snapshot.json"))).unwrap()).unwrap();
    snapshot
        .signed
        .role_meta(&RoleName::new(role))
        .map(|m| m.version)
}

/// The projects the published version of claim bin `role` lists.
fn published_projects(data: &Path, role: &str) -> Vec<String> {
    let Some(version) = published_version(data, role) else {
        return Vec::new();
    };
    let bytes = fs::read(metadata_dir(data).join(format!("{version}.{role}.json"))).unwrap();
    let bin: Envelope<Targets> = Envelope::parse(&bytes).unwrap();
    roles::claim_bin_projects(&bin.signed)
        .unwrap()
        .into_keys()
        .collect()
}

/// The project's page as the index serves it in JSON: the bytes a
/// developer's role lists.
fn current_page(server: &Server) -> Vec<u8> {
    let out = run_ok(
        Command::new("curl")
            .args(["-sf", "-H", "Accept: application/vnd.pypi.simple.v1+json"])
            .arg(format!("{}/simple/{PROJECT}/", server.url)),
    );
    out.stdout
}

/// `POST /api/projects/<name>/transaction` with `role`, `page` and, for a
/// claim, `delegation`; returns the HTTP status and the body.
fn post_transaction(
    server: &Server,
    token: &str,
    dir: &Path,
    role: &[u8],
    page: &[u8],
    delegation: Option<&[u8]>,
) -> (u16, String) {
    fs::create_dir_all(dir).unwrap();
    let part = |name: &str, bytes: &[u8]| {
        let path = dir.join(format!("{name}.json"));
        fs::write(&path, bytes).unwrap();
        format!("{name}=@{}", path.display())
    };
    let body = dir.join("response");
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}", "-u"])
        .arg(format!("__token__:{token}"))
        .args(["-F", &part("role", role), "-F", &part("page", page)]);
    if let Some(delegation) = delegation {
        curl.args(["-F", &part("delegation", delegation)]);
    }
    let out = run_ok(curl.arg(format!("{}/api/projects/{PROJECT}/transaction", server.url)));
    let status = stdout(&out).trim().parse().unwrap();
    (status, fs::read_to_string(&body).unwrap_or_default())
}

/// Version `version` of the project's role, listing `page`, signed by `key`.
fn role(version: u64, page: &[u8], key: &SigningKey) -> Vec<u8> {
    let expires = bulwark_repo::clock::now().plus_seconds(300 * 86_400);
    let project = ProjectName::parse(PROJECT).unwrap();
    sign_project_role(&project, version, expires, page, &[key], None).unwrap()
}

/// What `bulwark key show` prints for `key`: `{"keyid": …, "public": {…}}`.
fn public_json(key: &SigningKey) -> Vec<u8> {
    json::to_vec(&Value::Object(
        [
            ("keyid".to_owned(), Value::String(key.key_id())),
            ("public".to_owned(), key.public_key_object()),
        ]
        .into(),
    ))
}

/// Asserts that `out` failed with one error line containing `needle`.
fn refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a refusal containing {needle:?}; stderr: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn ceremony(args: &[&str]) -> Command {
    let mut cmd = bulwark();
    cmd.arg("ceremony").args(args).env_remove(PASSPHRASE);
    cmd
}

/// The administrator's side, on the data directory of a running index.
struct Admin {
    data: PathBuf,
    work: PathBuf,
}

impl Admin {
    fn draft(&self, command: &str, extra: &[&str], out: &str) -> Output {
        ceremony(&[command, "--data-dir"])
            .arg(&self.data)
            .arg("--out")
            .arg(self.work.join(out))
            .args(extra)
            .output()
            .unwrap()
    }

    fn sign(&self, key: &str, doc: &Path, delegator: &Path) -> Output {
        let name = doc.file_name().unwrap().to_str().unwrap();
        bulwark()
            .args(["ceremony", "sign", "--key"])
            .arg(self.data.join(format!("keys/{key}.key")))
            .arg(doc)
            .arg("--delegator")
            .arg(delegator)
            .arg("--out")
            .arg(self.work.join(format!("{name}.{key}.sig")))
            .env(PASSPHRASE, DEV_PASS)
            .output()
            .unwrap()
    }

    /// Signs every draft of `dir` with the claimed key (claimed under the
    /// installed targets, claim bins under the drafted claimed), combines
    /// them into `signed-<dir>` and returns the signed documents.
    fn sign_and_combine(&self, dir: &str) -> Vec<PathBuf> {
        let drafts = self.work.join(dir);
        let signed = self.work.join(format!("signed-{dir}"));
        fs::create_dir_all(&signed).unwrap();
        let targets = metadata_dir(&self.data).join("1.targets.json");
        let mut docs: Vec<PathBuf> = fs::read_dir(&drafts)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        docs.sort();
        let claimed = docs
            .iter()
            .find(|p| p.to_str().unwrap().ends_with(".claimed.json"))
            .expect("a claimed draft")
            .clone();
        docs.iter()
            .map(|doc| {
                let delegator = if *doc == claimed { &targets } else { &claimed };
                let out = self.sign("claimed", doc, delegator);
                assert!(out.status.success(), "{}", stderr(&out));
                let name = doc.file_name().unwrap().to_str().unwrap();
                let sig = self.work.join(format!("{name}.claimed.sig"));
                let result = signed.join(name);
                run_ok(
                    ceremony(&["combine"])
                        .arg(doc)
                        .arg(&sig)
                        .arg("--delegator")
                        .arg(delegator)
                        .arg("--out")
                        .arg(&result),
                );
                result
            })
            .collect()
    }

    fn install(&self, docs: &[PathBuf]) -> Output {
        ceremony(&["install", "--data-dir"])
            .arg(&self.data)
            .args(docs)
            .output()
            .unwrap()
    }
}

/// python-tuf, trusting the index's root, verifies the wheel through the
/// signed project page.
fn python_tuf_verifies(server: &Server) {
    let verify = || {
        python_script("verify_index.py")
            .arg(server.data.join("root.json"))
            .arg(&server.url)
            .arg(PROJECT)
            .arg(WHEEL)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "python-tuf refused {WHEEL}: {}\nlog:\n{}",
        stderr(&out),
        server.log()
    );
}

#[test]
fn a_claimed_project_is_promoted_and_its_keys_reset_while_the_index_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[(PASSPHRASE, DEV_PASS)]);
    let alice = token(&data, "alice");
    for (name, dist) in [("Promo_Demo", "dist"), ("Plain_Demo", "dist-plain")] {
        let files = make_dist(&dir.path().join(dist), name, "1.0", &[]);
        let out = twine_upload(&server.url, &alice, &files);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    // A project is claimed once its uploads are published (its bin lists it).
    let unclaimed_bin = bulwark_layout::bin_name(bulwark_layout::bin_of(PROJECT, 8), 8);
    let page_published = || {
        let Some(version) = published_version(&data, &unclaimed_bin) else {
            return false;
        };
        let path = metadata_dir(&data).join(format!("{version}.{unclaimed_bin}.json"));
        let bin: Envelope<Targets> = Envelope::parse(&fs::read(path).unwrap()).unwrap();
        bin.signed
            .targets
            .contains_key(&bulwark_layout::page_target(PROJECT))
    };
    assert!(
        wait_until(PROMPTLY, page_published),
        "the upload was never published; log:\n{}",
        server.log()
    );

    // The developer claims the project: its current page, signed by their key.
    let dev1 = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let delegation = json::to_vec(&Value::Object(
        [
            (
                "keys".to_owned(),
                Value::Object([(dev1.key_id(), dev1.public_key_object())].into()),
            ),
            ("threshold".to_owned(), Value::Int(1)),
        ]
        .into(),
    ));
    let page = current_page(&server);
    let posts = dir.path().join("posts");
    let (status, body) = post_transaction(
        &server,
        &alice,
        &posts.join("claim"),
        &role(1, &page, &dev1),
        &page,
        Some(&delegation),
    );
    assert_eq!(status, 200, "{body}");
    let bin = bulwark_layout::claim_bin_of(PROJECT);
    let recent_bin = bulwark_layout::claim_bin_name(bulwark_layout::RECENTLY_CLAIMED, bin);
    let claimed_bin = bulwark_layout::claim_bin_name(bulwark_layout::CLAIMED, bin);
    assert!(
        wait_until(PROMPTLY, || published_projects(&data, &recent_bin)
            == [PROJECT]),
        "the claim was never published; log:\n{}",
        server.log()
    );
    python_tuf_verifies(&server);

    // Only claimed projects can be promoted, each refusal naming its project.
    let admin = Admin {
        data: data.clone(),
        work: dir.path().join("admin"),
    };
    refused(
        &admin.draft("promote", &["nobody", "plain-demo"], "refused"),
        "project nobody does not exist on this index; project plain-demo is not claimed",
    );
    assert!(!admin.work.join("refused").exists());

    // Promote: draft, sign with the claimed key, combine, install while serving.
    let out = admin.draft("promote", &["Promo_Demo"], "promote");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "delegates project-{PROJECT} (paths simple/{PROJECT}/*, terminating)"
        )),
        "{}",
        stdout(&out)
    );
    let drafts = admin.work.join("promote");
    let bin_draft = drafts.join(format!("1.{claimed_bin}.json"));
    let wrong = admin.sign("unclaimed", &bin_draft, &drafts.join("2.claimed.json"));
    refused(&wrong, &format!("is not authorised to sign {claimed_bin}"));
    let shown = run_ok(ceremony(&["show"]).arg(&bin_draft));
    assert!(
        stdout(&shown).contains(&dev1.key_id()),
        "{}",
        stdout(&shown)
    );
    let signed = admin.sign_and_combine("promote");
    assert_eq!(signed.len(), 2);
    let out = admin.install(&signed);
    assert!(out.status.success(), "{}", stderr(&out));
    let installed = stdout(&out);
    let bin_line = installed.find(&format!("1.{claimed_bin}.json")).unwrap();
    let claimed_line = installed.find("2.claimed.json").unwrap();
    assert!(
        bin_line < claimed_line,
        "claim bins are installed first: {installed}"
    );

    assert!(
        wait_until(PROMPTLY, || published_version(&data, "claimed") == Some(2)),
        "the running index did not publish the install promptly; log:\n{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains("newer offline metadata was installed; publishing it"),
        "the install was not noticed by the poll"
    );
    assert_eq!(published_projects(&data, &claimed_bin), [PROJECT]);
    assert!(
        published_projects(&data, &recent_bin).is_empty(),
        "recently-claimed still lists the promoted project"
    );
    python_tuf_verifies(&server);
    let client = dir.path().join("client");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir"])
            .arg(&client)
            .arg("init")
            .arg(data.join("root.json")),
    );
    let targets = dir.path().join("targets");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir"])
            .arg(&client)
            .arg("--metadata-url")
            .arg(format!("{}/tuf/metadata/", server.url))
            .args([
                "--target-name",
                &format!("simple/{PROJECT}/index.json"),
                "--target-base-url",
            ])
            .arg(format!("{}/tuf/targets/", server.url))
            .arg("--target-dir")
            .arg(&targets)
            .arg("download"),
    );
    let downloaded =
        fs::read_to_string(targets.join(format!("simple%2F{PROJECT}%2Findex.json"))).unwrap();
    assert!(downloaded.contains(WHEEL), "{downloaded}");
    assert!(
        fs::read_dir(client.join("")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .contains(&claimed_bin)),
        "the client walked through {claimed_bin}"
    );

    // The developer loses their key: the administrator resets it.
    let dev2 = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let public = dir.path().join("dev2.pub");
    fs::write(&public, public_json(&dev2)).unwrap();
    let public_arg = public.to_str().unwrap();
    refused(
        &admin.draft(
            "reset-keys",
            &["--public-key", public_arg, "plain-demo"],
            "refused",
        ),
        "project plain-demo is not claimed",
    );
    let out = admin.draft(
        "reset-keys",
        &["--public-key", public_arg, PROJECT],
        "reset",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = admin.install(&admin.sign_and_combine("reset"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_until(PROMPTLY, || published_version(&data, "claimed") == Some(3)),
        "the key reset was not published; log:\n{}",
        server.log()
    );
    assert_eq!(published_version(&data, &claimed_bin), Some(2));

    // A role signed by the old key is refused; by the new key, accepted and published.
    let page = current_page(&server);
    let (status, body) = post_transaction(
        &server,
        &alice,
        &posts.join("old-key"),
        &role(2, &page, &dev1),
        &page,
        None,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_transaction(
        &server,
        &alice,
        &posts.join("new-key"),
        &role(2, &page, &dev2),
        &page,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"tier\":\"claimed\""), "{body}");
    let project_role = format!("project-{PROJECT}");
    assert!(
        wait_until(PROMPTLY, || published_version(&data, &project_role)
            == Some(2)),
        "the new role was not published; log:\n{}",
        server.log()
    );
    python_tuf_verifies(&server);

    // The monthly renewal re-signs claimed with every claim bin.
    refused(
        &admin.draft("renew", &["--role", &claimed_bin], "renew-bin"),
        "is renewed with claimed",
    );
    let out = admin.draft("renew", &["--role", "claimed"], "renew");
    assert!(out.status.success(), "{}", stderr(&out));
    let renewed = admin.work.join("renew/4.claimed.json");
    let expires = Envelope::<Targets>::parse(&fs::read(&renewed).unwrap())
        .unwrap()
        .signed
        .common
        .expires
        .unix();
    let month = bulwark_repo::clock::now().unix() + 30 * 86_400;
    assert!((month - 60..=month + 60).contains(&expires), "{expires}");
    let out = admin.install(&admin.sign_and_combine("renew"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_until(PROMPTLY, || published_version(&data, "claimed") == Some(4)
            && published_version(&data, &claimed_bin) == Some(3)),
        "the renewal was not published; log:\n{}",
        server.log()
    );
    python_tuf_verifies(&server);
}
