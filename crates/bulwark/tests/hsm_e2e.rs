//! Keys in hardware, as real processes on a real SoftHSM2 token: the online
//! key and one root key are generated on the token (`bulwark key generate
//! --pkcs11`); the ceremony drafts the repository from their public keys;
//! a root signature made on the token combines with a key file's signature
//! to reach the root threshold of 2; `bulwark serve` signs with the online
//! key on the token, and python-tuf verifies what it publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bulwark_testkit::softhsm::{SOFTHSM_MODULE, SoftHsm};
use common::{
    Server, bulwark, make_dist, python_script, run_ok, stderr, stdout, token, twine_upload,
    wait_until,
};

const PASSPHRASE: &str = "a passphrase for the key files";
const PIN: &str = "ops-pin-4711";
const ONLINE: &str = "pkcs11:token=Ops;object=online";
const ROOT_3: &str = "pkcs11:token=Ops;object=root-3";

/// `bulwark` with the token's module, configuration and PIN in its environment.
fn on_token(hsm: &SoftHsm) -> Command {
    let mut cmd = bulwark();
    cmd.env("SOFTHSM2_CONF", hsm.conf())
        .env("BULWARK_PKCS11_MODULE", SOFTHSM_MODULE)
        .env("BULWARK_PKCS11_PIN", PIN)
        .env("BULWARK_KEY_PASSPHRASE", PASSPHRASE);
    cmd
}

fn file_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.key"));
    run_ok(
        bulwark()
            .args(["key", "generate", "--out"])
            .arg(&path)
            .env("BULWARK_KEY_PASSPHRASE", PASSPHRASE),
    );
    path
}

/// `bulwark key generate --pkcs11 URI --out DIR/NAME.pub`.
fn token_key(hsm: &SoftHsm, dir: &Path, name: &str, uri: &str) -> PathBuf {
    let public = dir.join(format!("{name}.pub"));
    let out = run_ok(
        on_token(hsm)
            .args(["key", "generate", "--pkcs11", uri, "--out"])
            .arg(&public),
    );
    assert_eq!(fs::read_to_string(&public).unwrap(), stdout(&out));
    assert!(
        stdout(&out).contains(r#""keytype":"ed25519""#),
        "{}",
        stdout(&out)
    );
    public
}

fn sign(hsm: &SoftHsm, key: &str, doc: &Path, authority: &[&Path], out: &Path) -> PathBuf {
    let mut cmd = on_token(hsm);
    cmd.args(["ceremony", "sign", "--key", key])
        .arg(doc)
        .arg("--out")
        .arg(out);
    if let [flag, path] = authority {
        cmd.arg(flag).arg(path);
    }
    run_ok(&mut cmd);
    out.to_owned()
}

fn combine(doc: &Path, sigs: &[&Path], authority: &[&Path], out: &Path) -> Output {
    let mut cmd = bulwark();
    cmd.args(["ceremony", "combine"])
        .arg(doc)
        .args(sigs)
        .arg("--out")
        .arg(out);
    if let [flag, path] = authority {
        cmd.arg(flag).arg(path);
    }
    cmd.output().unwrap()
}

fn combine_ok(doc: &Path, sigs: &[&Path], authority: &[&Path], out: &Path) -> PathBuf {
    let result = combine(doc, sigs, authority, out);
    assert!(result.status.success(), "{}", stderr(&result));
    out.to_owned()
}

/// Keys for the repository in `safe` (two root keys in files, the third
/// on the token; the online key on the token; the other offline keys in
/// files) and `ceremony init` into `draft`. Returns the first root key and
/// the targets, claimed and unclaimed key files.
fn draft_repository(hsm: &SoftHsm, safe: &Path, draft: &Path) -> [PathBuf; 4] {
    let roots = [file_key(safe, "root-1"), file_key(safe, "root-2")];
    let root_3 = token_key(hsm, safe, "root-3", ROOT_3);
    let online = token_key(hsm, safe, "online", ONLINE);
    let (targets, claimed, unclaimed) = (
        file_key(safe, "targets"),
        file_key(safe, "claimed"),
        file_key(safe, "unclaimed"),
    );
    run_ok(
        bulwark()
            .args(["ceremony", "init", "--root-key"])
            .args(&roots)
            .arg(&root_3)
            .args(["--root-threshold", "2", "--targets-key"])
            .arg(&targets)
            .arg("--claimed-key")
            .arg(&claimed)
            .arg("--unclaimed-key")
            .arg(&unclaimed)
            .arg("--online-key")
            .arg(&online)
            .arg("--out")
            .arg(draft),
    );
    let [root_1, _] = roots;
    [root_1, targets, claimed, unclaimed]
}

/// The ceremony in `dir`, with the online key and the third root key on
/// `hsm`'s token: returns the signed root and the data directory.
fn ceremony(hsm: &SoftHsm, dir: &Path) -> (PathBuf, PathBuf) {
    let (safe, draft, sigs, signed, data) = (
        dir.join("safe"),
        dir.join("draft"),
        dir.join("sigs"),
        dir.join("signed"),
        dir.join("data"),
    );
    for d in [&safe, &sigs, &signed] {
        fs::create_dir_all(d).unwrap();
    }
    let [root_1, targets, claimed, unclaimed] = draft_repository(hsm, &safe, &draft);
    let doc = |role: &str| draft.join(format!("1.{role}.json"));
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    // Root: one signature from a key file, one from the token.
    let root_file_sig = sign(hsm, &path(&root_1), &doc("root"), &[], &sigs.join("r1.sig"));
    let root_token_sig = sign(hsm, ROOT_3, &doc("root"), &[], &sigs.join("r3.sig"));
    let alone = combine(
        &doc("root"),
        &[&root_token_sig],
        &[],
        &signed.join("1.root.json"),
    );
    assert!(
        !alone.status.success() && stderr(&alone).contains("signed by 1 of the 2 keys"),
        "one signature must not reach the threshold: {}",
        stderr(&alone)
    );
    let root = combine_ok(
        &doc("root"),
        &[&root_file_sig, &root_token_sig],
        &[],
        &signed.join("1.root.json"),
    );
    let root_flag = [Path::new("--root"), root.as_path()];
    let t = sign(
        hsm,
        &path(&targets),
        &doc("targets"),
        &root_flag,
        &sigs.join("t.sig"),
    );
    let targets_doc = combine_ok(
        &doc("targets"),
        &[&t],
        &root_flag,
        &signed.join("1.targets.json"),
    );
    let delegator = [Path::new("--delegator"), targets_doc.as_path()];
    let c = sign(
        hsm,
        &path(&claimed),
        &doc("claimed"),
        &delegator,
        &sigs.join("c.sig"),
    );
    let u = sign(
        hsm,
        &path(&unclaimed),
        &doc("unclaimed"),
        &delegator,
        &sigs.join("u.sig"),
    );
    let claimed_doc = combine_ok(
        &doc("claimed"),
        &[&c],
        &delegator,
        &signed.join("1.claimed.json"),
    );
    let unclaimed_doc = combine_ok(
        &doc("unclaimed"),
        &[&u],
        &delegator,
        &signed.join("1.unclaimed.json"),
    );
    run_ok(
        bulwark()
            .args(["ceremony", "install", "--data-dir"])
            .arg(&data)
            .args([&root, &targets_doc, &claimed_doc, &unclaimed_doc]),
    );
    (root, data)
}

#[test]
fn serve_signs_with_the_online_key_on_a_token_and_a_token_root_signature_counts() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new();
    hsm.init_token("Ops", PIN);
    let (root, data) = ceremony(&hsm, dir.path());

    // A wrong PIN: serve refuses to start, with a clear error and no PIN.
    let wrong = on_token(&hsm)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("BULWARK_ONLINE_KEY", ONLINE)
        .env("BULWARK_PKCS11_PIN", "not-the-pin")
        .output()
        .unwrap();
    let err = stderr(&wrong);
    assert!(!wrong.status.success(), "{err}");
    assert!(
        err.contains(r#"the PIN for token "Ops" is incorrect"#),
        "{err}"
    );
    assert!(!err.contains("not-the-pin"), "{err}");

    // The server holds no key file at all: the online key is on the token.
    let conf = hsm.conf().to_str().unwrap().to_owned();
    let server = Server::start_with_env(
        &data,
        &[
            ("BULWARK_ONLINE_KEY", ONLINE),
            ("BULWARK_PKCS11_MODULE", SOFTHSM_MODULE),
            ("BULWARK_PKCS11_PIN", PIN),
            ("SOFTHSM2_CONF", &conf),
        ],
    );
    assert!(!server.log().contains(PIN), "the PIN must never be logged");
    let token = token(&data, "alice");
    let files = make_dist(dir.path(), "Hsm_Demo", "1.0", &[]);
    let out = twine_upload(&server.url, &token, &files);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let verify = || {
        python_script("verify_index.py")
            .arg(&root)
            .arg(&server.url)
            .arg("hsm-demo")
            .arg("hsm_demo-1.0-py3-none-any.whl")
            .output()
            .unwrap()
    };
    assert!(
        wait_until(std::time::Duration::from_secs(20), || verify()
            .status
            .success()),
        "python-tuf never verified the upload: {}\nlog:\n{}",
        stderr(&verify()),
        server.log()
    );
    assert!(!server.log().contains(PIN), "the PIN must never be logged");
}

/// Runs `cmd` with no terminal, expecting exit status 1 and one error line
/// containing `needle` (and never the secret `secret`).
fn refused(cmd: &mut Command, needle: &str, secret: &str) {
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(
        !err.contains(secret) && !stdout(&out).contains(secret),
        "{err}"
    );
}

#[test]
fn pkcs11_mistakes_are_one_clear_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new();
    hsm.init_token("Ops", PIN);
    let with_pin = "pkcs11:token=Ops;object=online?pin-value=s3cret-pin";

    // A PIN in the online_key setting: serve refuses before doing anything.
    refused(
        bulwark()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("BULWARK_ONLINE_KEY", with_pin),
        "online_key: the PKCS#11 URI carries pin-value",
        "s3cret-pin",
    );
    assert!(!dir.path().join("data").exists(), "nothing may be created");
    // …and on the command line.
    refused(
        on_token(&hsm).args(["key", "generate", "--pkcs11", with_pin]),
        "carries pin-value: a PIN never goes in settings or arguments",
        "s3cret-pin",
    );
    refused(
        on_token(&hsm).args([
            "ceremony",
            "sign",
            "--key",
            with_pin,
            "1.root.json",
            "--out",
            "x",
        ]),
        "carries pin-value",
        "s3cret-pin",
    );
    // No module anywhere.
    refused(
        on_token(&hsm)
            .env_remove("BULWARK_PKCS11_MODULE")
            .args(["key", "generate", "--pkcs11", ONLINE]),
        "no PKCS#11 module: set pkcs11_module (BULWARK_PKCS11_MODULE, --pkcs11-module)",
        PIN,
    );
    // No PIN and no terminal to ask on.
    refused(
        on_token(&hsm)
            .env_remove("BULWARK_PKCS11_PIN")
            .args(["key", "generate", "--pkcs11", ONLINE]),
        "no PIN for Ops: set BULWARK_PKCS11_PIN or run on a terminal",
        PIN,
    );
    // The module given by the URI instead; a token that is not there.
    refused(
        on_token(&hsm)
            .env_remove("BULWARK_PKCS11_MODULE")
            .args(["key", "generate", "--pkcs11"])
            .arg(format!(
                "pkcs11:token=Missing;object=k?module-path={SOFTHSM_MODULE}"
            )),
        "no token matches pkcs11:token=Missing;object=k",
        PIN,
    );
}
