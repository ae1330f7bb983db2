//! The production key ceremony as real processes. Every key holder has
//! their own key file and passphrase and signs on their own; the signatures
//! are combined and installed; `bulwark serve` runs with the online key
//! alone while the offline keys are locked away; python-tuf and
//! `bulwark tuf-client` verify the index, then again after the online key
//! and the root keys are rotated, starting from the original root.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bulwark_tuf::json::{self, Value};
use common::{
    Server, bulwark, make_dist, python_script, run_ok, stderr, stdout, token, twine_upload,
    wait_until,
};

const PASSPHRASE: &str = "BULWARK_KEY_PASSPHRASE";

/// A key holder: one key file, sealed with the holder's own passphrase.
struct Holder {
    file: PathBuf,
    pass: String,
    keyid: String,
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    let Value::Object(map) = value else {
        panic!("not an object: {value:?}")
    };
    map.get(key)
        .unwrap_or_else(|| panic!("no {key} in {value:?}"))
}

fn text(value: &Value, key: &str) -> String {
    let Value::String(s) = field(value, key) else {
        panic!("{key} is not a string")
    };
    s.clone()
}

fn read_json(path: &Path) -> Value {
    json::parse(&fs::read(path).unwrap()).unwrap()
}

fn generate(dir: &Path, name: &str) -> Holder {
    let file = dir.join(format!("{name}.key"));
    let pass = format!("{name}: a passphrase only its holder knows");
    let out = run_ok(
        bulwark()
            .args(["key", "generate", "--out"])
            .arg(&file)
            .env(PASSPHRASE, &pass),
    );
    let keyid = text(
        &json::parse(stdout(&out).trim().as_bytes()).unwrap(),
        "keyid",
    );
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode,
        0o600,
        "{} must be readable by its owner only",
        file.display()
    );
    Holder { file, pass, keyid }
}

/// `--root FILE` or `--delegator FILE`.
type Authority<'a> = Option<(&'a str, &'a Path)>;

fn with_authority(cmd: &mut Command, authority: Authority<'_>) {
    if let Some((flag, path)) = authority {
        cmd.arg(flag).arg(path);
    }
}

fn sign(holder: &Holder, doc: &Path, authority: Authority<'_>, out: &Path) -> Output {
    let mut cmd = bulwark();
    cmd.args(["ceremony", "sign", "--key"])
        .arg(&holder.file)
        .arg(doc)
        .arg("--out")
        .arg(out);
    cmd.env(PASSPHRASE, &holder.pass);
    with_authority(&mut cmd, authority);
    cmd.output().unwrap()
}

fn sign_ok(holder: &Holder, doc: &Path, authority: Authority<'_>, out: &Path) -> PathBuf {
    let result = sign(holder, doc, authority, out);
    assert!(
        result.status.success(),
        "signing {} failed: {}",
        doc.display(),
        stderr(&result)
    );
    out.to_owned()
}

fn combine(doc: &Path, signatures: &[&Path], authority: Authority<'_>, out: &Path) -> Output {
    let mut cmd = bulwark();
    cmd.args(["ceremony", "combine"])
        .arg(doc)
        .args(signatures)
        .arg("--out")
        .arg(out)
        .env_remove(PASSPHRASE);
    with_authority(&mut cmd, authority);
    cmd.output().unwrap()
}

fn combine_ok(doc: &Path, signatures: &[&Path], authority: Authority<'_>, out: &Path) -> PathBuf {
    let result = combine(doc, signatures, authority, out);
    assert!(
        result.status.success(),
        "combining {} failed: {}",
        doc.display(),
        stderr(&result)
    );
    out.to_owned()
}

fn install(data: &Path, docs: &[&Path]) -> Output {
    bulwark()
        .args(["ceremony", "install", "--data-dir"])
        .arg(data)
        .args(docs)
        .env_remove(PASSPHRASE)
        .output()
        .unwrap()
}

/// Asserts that `out` failed with exit status 1 and one error line containing `needle`.
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

/// The blob key of a metadata file in a data directory.
fn metadata(data: &Path, name: &str) -> PathBuf {
    data.join("blobs/tuf/metadata").join(name)
}

/// A repository created by the ceremony: 3 root keys (threshold 2) and one
/// key each for targets, claimed, unclaimed and online, held by different
/// people. The offline keys are in `safe`, the online key in `ops`.
struct Repository {
    dir: PathBuf,
    safe: PathBuf,
    roots: Vec<Holder>,
    targets: Holder,
    claimed: Holder,
    unclaimed: Holder,
    online: Holder,
    draft: PathBuf,
    sigs: PathBuf,
    signed: PathBuf,
    data: PathBuf,
}

impl Repository {
    fn create(dir: &Path) -> Self {
        let safe = dir.join("safe");
        let roots = (1..=3)
            .map(|i| generate(&safe, &format!("root-{i}")))
            .collect::<Vec<_>>();
        let (targets, claimed, unclaimed) = (
            generate(&safe, "targets"),
            generate(&safe, "claimed"),
            generate(&safe, "unclaimed"),
        );
        let online = generate(&dir.join("ops"), "online-1");
        let repo = Self {
            dir: dir.to_owned(),
            safe,
            roots,
            targets,
            claimed,
            unclaimed,
            online,
            draft: dir.join("draft"),
            sigs: dir.join("sigs"),
            signed: dir.join("signed"),
            data: dir.join("data"),
        };
        let out = run_ok(&mut repo.init_command(&repo.draft));
        assert!(
            stdout(&out).contains("root: 2 of 3 keys"),
            "{}",
            stdout(&out)
        );
        fs::create_dir_all(&repo.sigs).unwrap();
        fs::create_dir_all(&repo.signed).unwrap();
        repo
    }

    fn init_command(&self, out: &Path) -> Command {
        let mut cmd = bulwark();
        cmd.args(["ceremony", "init", "--root-key"])
            .args(self.roots.iter().map(|h| &h.file));
        cmd.args(["--root-threshold", "2", "--targets-key"])
            .arg(&self.targets.file);
        cmd.arg("--claimed-key")
            .arg(&self.claimed.file)
            .arg("--unclaimed-key")
            .arg(&self.unclaimed.file);
        cmd.arg("--online-key")
            .arg(&self.online.file)
            .arg("--out")
            .arg(out)
            .env_remove(PASSPHRASE);
        cmd
    }

    fn draft(&self, name: &str) -> PathBuf {
        self.draft.join(name)
    }

    fn sig(&self, name: &str) -> PathBuf {
        self.sigs.join(name)
    }

    fn signed(&self, name: &str) -> PathBuf {
        self.signed.join(name)
    }

    /// Each holder signs version 1 on their own; two of the three root key
    /// holders sign root; the signatures are combined and installed.
    fn sign_and_install_version_1(&self) {
        let (root, targets) = (self.draft("1.root.json"), self.draft("1.targets.json"));
        let r1 = sign_ok(&self.roots[0], &root, None, &self.sig("root-1.sig"));
        let r2 = sign_ok(&self.roots[1], &root, None, &self.sig("root-2.sig"));
        let t = sign_ok(
            &self.targets,
            &targets,
            Some(("--root", &root)),
            &self.sig("targets.sig"),
        );
        let c = sign_ok(
            &self.claimed,
            &self.draft("1.claimed.json"),
            Some(("--delegator", &targets)),
            &self.sig("claimed.sig"),
        );
        let u = sign_ok(
            &self.unclaimed,
            &self.draft("1.unclaimed.json"),
            Some(("--delegator", &targets)),
            &self.sig("unclaimed.sig"),
        );
        let root = combine_ok(&root, &[&r1, &r2], None, &self.signed("1.root.json"));
        let targets = combine_ok(
            &targets,
            &[&t],
            Some(("--root", &root)),
            &self.signed("1.targets.json"),
        );
        let delegator = Some(("--delegator", targets.as_path()));
        let claimed = combine_ok(
            &self.draft("1.claimed.json"),
            &[&c],
            delegator,
            &self.signed("1.claimed.json"),
        );
        let unclaimed = combine_ok(
            &self.draft("1.unclaimed.json"),
            &[&u],
            delegator,
            &self.signed("1.unclaimed.json"),
        );
        let out = run_ok(
            bulwark()
                .args(["ceremony", "install", "--data-dir"])
                .arg(&self.data)
                .args([&root, &targets, &claimed, &unclaimed]),
        );
        assert!(
            stdout(&out).contains("created the repository"),
            "{}",
            stdout(&out)
        );
        for role in ["root", "targets", "claimed", "unclaimed"] {
            assert_eq!(
                fs::read(metadata(&self.data, &format!("1.{role}.json"))).unwrap(),
                fs::read(self.signed(&format!("1.{role}.json"))).unwrap()
            );
        }
    }

    /// Locks the offline keys away (the server never has a path to them).
    fn lock_safe(&self) {
        fs::rename(&self.safe, self.dir.join("safe-locked")).unwrap();
    }

    fn unlock_safe(&self) {
        fs::rename(self.dir.join("safe-locked"), &self.safe).unwrap();
    }

    /// Puts `online` into the data directory as its only key file and
    /// starts `bulwark serve` with it.
    fn serve_with(&self, online: &Holder) -> Server {
        let path = self.data.join("online.key");
        let _ = fs::remove_file(&path);
        fs::copy(&online.file, &path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            key_files(&self.data),
            std::slice::from_ref(&online.keyid),
            "the data directory must hold the online key only"
        );
        assert!(
            !self.safe.exists(),
            "the offline keys must be locked away while the server runs"
        );
        Server::start_with_env(
            &self.data,
            &[
                ("BULWARK_ONLINE_KEY", "online.key"),
                (PASSPHRASE, &online.pass),
            ],
        )
    }
}

/// The key IDs of every Bulwark key file under `dir`.
fn key_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(key_files(&path));
        } else if fs::read(&path)
            .unwrap()
            .windows(16)
            .any(|w| w == b"bulwark-key-file")
        {
            found.push(text(&read_json(&path), "keyid"));
        }
    }
    found
}

fn upload(server: &Server, token: &str, dir: &Path, version: &str) {
    let files = make_dist(dir, "Ceremony_Demo", version, &[]);
    let out = twine_upload(&server.url, token, &files);
    assert!(
        out.status.success(),
        "twine upload failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// python-tuf, trusting only `root`, verifies the wheel of `version`
/// through the signed project page (retrying while the publisher catches up).
fn python_tuf_verifies(server: &Server, root: &Path, version: &str) {
    let wheel = format!("ceremony_demo-{version}-py3-none-any.whl");
    let verify = || {
        python_script("verify_index.py")
            .arg(root)
            .arg(&server.url)
            .arg("ceremony-demo")
            .arg(&wheel)
            .output()
            .unwrap()
    };
    let verified = wait_until(Duration::from_secs(20), || verify().status.success());
    assert!(
        verified,
        "python-tuf never verified {wheel}: {}\nlog:\n{}",
        stderr(&verify()),
        server.log()
    );
}

fn tuf_client(meta: &Path) -> Command {
    let mut cmd = bulwark();
    cmd.args(["tuf-client", "--metadata-dir"]).arg(meta);
    cmd
}

/// `bulwark tuf-client` refreshes from what `meta` trusts and downloads the project page.
fn tuf_client_downloads(server: &Server, meta: &Path, targets: &Path) -> String {
    run_ok(
        tuf_client(meta)
            .arg("--metadata-url")
            .arg(format!("{}/tuf/metadata/", server.url))
            .args([
                "--target-name",
                "simple/ceremony-demo/index.json",
                "--target-base-url",
            ])
            .arg(format!("{}/tuf/targets/", server.url))
            .arg("--target-dir")
            .arg(targets)
            .arg("download"),
    );
    fs::read_to_string(targets.join("simple%2Fceremony-demo%2Findex.json")).unwrap()
}

fn version_of(path: &Path) -> i64 {
    let doc = read_json(path);
    let Value::Int(v) = field(field(&doc, "signed"), "version") else {
        panic!("no version")
    };
    *v
}

/// The key ID that signed the newest version of every bin.
fn bin_signers(data: &Path) -> BTreeMap<String, String> {
    let mut newest: BTreeMap<String, (u64, PathBuf)> = BTreeMap::new();
    for entry in fs::read_dir(data.join("blobs/tuf/metadata")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some((version, bin)) = name.strip_suffix(".json").and_then(|n| n.split_once('.'))
        else {
            continue;
        };
        if bin.starts_with("bin-") {
            let version: u64 = version.parse().unwrap();
            if newest.get(bin).is_none_or(|(v, _)| *v < version) {
                newest.insert(bin.to_owned(), (version, path.clone()));
            }
        }
    }
    newest
        .into_iter()
        .map(|(bin, (_, path))| {
            let doc = read_json(&path);
            let Value::Array(signatures) = field(&doc, "signatures") else {
                panic!()
            };
            assert_eq!(signatures.len(), 1, "{bin}");
            (bin, text(&signatures[0], "keyid"))
        })
        .collect()
}

/// `doc` with the signatures of `sig_files` added, assembled by hand (no
/// threshold check), as an attacker or a careless operator might.
fn with_signatures(doc: &Path, sig_files: &[&Path]) -> Vec<u8> {
    let Value::Object(mut top) = read_json(doc) else {
        panic!()
    };
    let signatures = sig_files
        .iter()
        .map(|f| {
            let sig = read_json(f);
            Value::Object(BTreeMap::from([
                ("keyid".to_owned(), field(&sig, "keyid").clone()),
                ("sig".to_owned(), field(&sig, "sig").clone()),
            ]))
        })
        .collect();
    top.insert("signatures".to_owned(), Value::Array(signatures));
    json::to_vec(&Value::Object(top))
}

fn keyid_printed(out: &Output) -> String {
    text(
        &json::parse(stdout(out).trim().as_bytes()).unwrap(),
        "keyid",
    )
}

/// A running index, the user who uploads to it, and a `bulwark tuf-client`
/// metadata directory that persists across the rotations.
struct Index {
    server: Server,
    alice: String,
    client: PathBuf,
    original_root: PathBuf,
}

#[test]
fn ceremony_then_online_and_root_rotation_with_clients_on_the_original_root() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::create(dir.path());
    let shown = run_ok(
        bulwark()
            .args(["key", "show"])
            .arg(&repo.roots[0].file)
            .env_remove(PASSPHRASE),
    );
    assert_eq!(
        keyid_printed(&shown),
        repo.roots[0].keyid,
        "key show needs no passphrase"
    );
    repo.sign_and_install_version_1();
    let index = serve_and_verify(&repo);
    let (index, online2) = rotate_online_key(&repo, index);
    rotate_root_keys(&repo, &index);

    let log = index.server.log();
    let offline = repo
        .roots
        .iter()
        .chain([&repo.targets, &repo.claimed, &repo.unclaimed]);
    for holder in offline.chain([&repo.online, &online2]) {
        assert!(
            !log.contains(&holder.pass),
            "a passphrase is in the server log"
        );
    }
}

/// Serves with the online key alone, uploads one project, and has python-tuf
/// and `bulwark tuf-client`, trusting only the original root, verify it.
fn serve_and_verify(repo: &Repository) -> Index {
    repo.lock_safe();
    let server = repo.serve_with(&repo.online);
    let original_root = repo.signed("1.root.json");
    assert_eq!(
        fs::read(repo.data.join("root.json")).unwrap(),
        fs::read(&original_root).unwrap()
    );
    let alice = token(&repo.data, "alice");
    upload(&server, &alice, &repo.dir.join("dist-1"), "1.0");
    python_tuf_verifies(&server, &original_root, "1.0");
    let client = repo.dir.join("client");
    run_ok(tuf_client(&client).arg("init").arg(&original_root));
    let page = tuf_client_downloads(&server, &client, &repo.dir.join("targets-1"));
    assert!(page.contains("ceremony_demo-1.0"), "{page}");
    Index {
        server,
        alice,
        client,
        original_root,
    }
}

/// The offline holders sign root 2, targets 2 and unclaimed 2 naming a new
/// online key; the server is stopped, they are installed, and the server
/// restarts holding the new key alone.
fn rotate_online_key(repo: &Repository, index: Index) -> (Index, Holder) {
    repo.unlock_safe();
    let online2 = generate(&repo.dir.join("ops"), "online-2");
    let drafts = repo.dir.join("rotate-online");
    let mut rotate = bulwark();
    rotate
        .args(["ceremony", "rotate-online", "--data-dir"])
        .arg(&repo.data);
    run_ok(
        rotate
            .arg("--online-key")
            .arg(&online2.file)
            .arg("--out")
            .arg(&drafts),
    );
    let [root2, targets2, unclaimed2] = sign_online_rotation(repo, &drafts);
    repo.lock_safe();

    let needle = "recently-claimed must be delegated to the online key";
    refused(&install(&repo.data, &[&root2]), needle);
    let Index {
        server,
        alice,
        client,
        original_root,
    } = index;
    drop(server);
    let out = install(&repo.data, &[&root2, &targets2, &unclaimed2]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = format!("the online key is now {}", online2.keyid);
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
    let server = repo.serve_with(&online2);

    // The publisher's first run with the new key re-signed every bin with it.
    let signers = bin_signers(&repo.data);
    assert_eq!(signers.len(), 256);
    let stale: Vec<&String> = signers
        .iter()
        .filter(|(_, k)| **k != online2.keyid)
        .map(|(b, _)| b)
        .collect();
    assert!(
        stale.is_empty(),
        "bins not re-signed with the new online key: {stale:?}"
    );

    upload(&server, &alice, &repo.dir.join("dist-2"), "2.0");
    python_tuf_verifies(&server, &original_root, "2.0");
    python_tuf_verifies(&server, &original_root, "1.0");
    let page = tuf_client_downloads(&server, &client, &repo.dir.join("targets-2"));
    assert!(page.contains("ceremony_demo-2.0"), "{page}");
    (
        Index {
            server,
            alice,
            client,
            original_root,
        },
        online2,
    )
}

/// Root 2 signed by two root holders, targets 2 under root 2, unclaimed 2
/// under targets 2.
fn sign_online_rotation(repo: &Repository, drafts: &Path) -> [PathBuf; 3] {
    let root1 = metadata(&repo.data, "1.root.json");
    let by_root1 = Some(("--root", root1.as_path()));
    let draft = drafts.join("2.root.json");
    let r1 = sign_ok(&repo.roots[0], &draft, by_root1, &repo.sig("root2-1.sig"));
    let r3 = sign_ok(&repo.roots[2], &draft, by_root1, &repo.sig("root2-3.sig"));
    let root2 = combine_ok(&draft, &[&r1, &r3], by_root1, &repo.signed("2.root.json"));
    let by_root2 = Some(("--root", root2.as_path()));
    let draft = drafts.join("2.targets.json");
    let t = sign_ok(&repo.targets, &draft, by_root2, &repo.sig("targets2.sig"));
    let targets2 = combine_ok(&draft, &[&t], by_root2, &repo.signed("2.targets.json"));
    let by_targets2 = Some(("--delegator", targets2.as_path()));
    let draft = drafts.join("2.unclaimed.json");
    let u = sign_ok(
        &repo.unclaimed,
        &draft,
        by_targets2,
        &repo.sig("unclaimed2.sig"),
    );
    let unclaimed2 = combine_ok(&draft, &[&u], by_targets2, &repo.signed("2.unclaimed.json"));
    [root2, targets2, unclaimed2]
}

/// Keeps root-1, drops root-2 and root-3, adds root-4 and root-5, threshold
/// 2: root 3 needs 2 of the old keys and 2 of the new. Clients holding only
/// the original root then walk 1 → 2 → 3.
fn rotate_root_keys(repo: &Repository, index: &Index) {
    repo.unlock_safe();
    let (root4, root5) = (
        generate(&repo.safe, "root-4"),
        generate(&repo.safe, "root-5"),
    );
    let drafts = repo.dir.join("rotate-root");
    let mut rotate = bulwark();
    rotate
        .args(["ceremony", "rotate-root", "--data-dir"])
        .arg(&repo.data)
        .arg("--root-key");
    rotate
        .args([&repo.roots[0].file, &root4.file, &root5.file])
        .args(["--root-threshold", "2"]);
    run_ok(rotate.arg("--out").arg(&drafts));
    let draft = drafts.join("3.root.json");
    let root2 = metadata(&repo.data, "2.root.json");
    let by_root2 = Some(("--root", root2.as_path()));
    let s1 = sign_ok(&repo.roots[0], &draft, by_root2, &repo.sig("root3-1.sig"));
    let s2 = sign_ok(&repo.roots[1], &draft, by_root2, &repo.sig("root3-2.sig"));
    let s4 = sign_ok(&root4, &draft, by_root2, &repo.sig("root3-4.sig"));
    let s5 = sign_ok(&root5, &draft, by_root2, &repo.sig("root3-5.sig"));
    repo.lock_safe();

    // One old key (root-1) with both new ones: the new threshold is met, the old is not…
    let out = combine(
        &draft,
        &[&s1, &s4, &s5],
        by_root2,
        &repo.signed("3.root.json"),
    );
    refused(
        &out,
        "root version 3 is signed by 1 of the 2 keys that root version 2 requires",
    );
    // …and assembled by hand, install refuses it too, writing nothing.
    let weak = repo.dir.join("weak/3.root.json");
    fs::create_dir_all(weak.parent().unwrap()).unwrap();
    fs::write(&weak, with_signatures(&draft, &[&s1, &s4, &s5])).unwrap();
    refused(
        &install(&repo.data, &[&weak]),
        "signed by 1 of the 2 keys that root version 2 requires",
    );
    assert!(
        !metadata(&repo.data, "3.root.json").exists(),
        "a refused install writes nothing"
    );
    // Two old keys, of which only root-1 is new: the new threshold is not met.
    let out = combine(&draft, &[&s1, &s2], by_root2, &repo.signed("3.root.json"));
    refused(
        &out,
        "root version 3 is signed by 1 of the 2 keys that root version 3 requires",
    );
    let root3 = combine_ok(
        &draft,
        &[&s1, &s2, &s4],
        by_root2,
        &repo.signed("3.root.json"),
    );
    let out = install(&repo.data, &[&root3]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (server, original_root) = (&index.server, &index.original_root);
    python_tuf_verifies(server, original_root, "2.0");
    let url = format!("{}/tuf/metadata/", server.url);
    run_ok(
        tuf_client(&index.client)
            .arg("--metadata-url")
            .arg(&url)
            .arg("refresh"),
    );
    assert_eq!(version_of(&index.client.join("root.json")), 3);
    let fresh = repo.dir.join("fresh-client");
    run_ok(tuf_client(&fresh).arg("init").arg(original_root));
    let page = tuf_client_downloads(server, &fresh, &repo.dir.join("targets-3"));
    assert!(page.contains("ceremony_demo-2.0"), "{page}");
}

/// A copy of `signature` with `from` replaced by `to`, as a forger would edit it.
fn edited(signature: &Path, from: &str, to: &str, out: &Path) -> PathBuf {
    fs::write(
        out,
        fs::read_to_string(signature).unwrap().replace(from, to),
    )
    .unwrap();
    out.to_owned()
}

#[test]
fn sign_and_combine_refuse_unlisted_keys_and_other_documents() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::create(dir.path());
    let (root, targets) = (repo.draft("1.root.json"), repo.draft("1.targets.json"));
    let r1 = sign_ok(&repo.roots[0], &root, None, &repo.sig("root-1.sig"));
    let out = repo.signed("1.root.json");

    // A key the document's authority does not list cannot sign…
    let x = repo.sig("x.sig");
    let unlisted = format!("key {} is not authorised to sign root", repo.targets.keyid);
    refused(&sign(&repo.targets, &root, None, &x), &unlisted);
    let needle = "checking targets needs the root that lists the targets keys (pass --root)";
    refused(&sign(&repo.targets, &targets, None, &x), needle);
    let by_targets = Some(("--delegator", targets.as_path()));
    let unclaimed = repo.draft("1.unclaimed.json");
    refused(
        &sign(&repo.claimed, &unclaimed, by_targets, &x),
        "not authorised to sign unclaimed",
    );
    assert!(!x.exists(), "a refused signing writes nothing");
    // …and its signature, even relabelled as one over root, is not combined.
    let t = sign_ok(
        &repo.targets,
        &targets,
        Some(("--root", &root)),
        &repo.sig("targets.sig"),
    );
    let needle = "the signature is for targets version 1, not for root version 1";
    refused(&combine(&root, &[&r1, &t], None, &out), needle);
    let root_sha = text(&read_json(&r1), "signed_sha256");
    let targets_sha = text(&read_json(&t), "signed_sha256");
    let relabelled = edited(&t, "\"targets\"", "\"root\"", &repo.sig("relabelled-1.sig"));
    let relabelled = edited(
        &relabelled,
        &targets_sha,
        &root_sha,
        &repo.sig("relabelled-2.sig"),
    );
    refused(&combine(&root, &[&r1, &relabelled], None, &out), &unlisted);

    // A signature over a different document: a draft with another expiry.
    let other = dir.path().join("other-draft");
    run_ok(repo.init_command(&other).args(["--expires-days", "30"]));
    let elsewhere = sign_ok(
        &repo.roots[1],
        &other.join("1.root.json"),
        None,
        &repo.sig("other.sig"),
    );
    refused(
        &combine(&root, &[&r1, &elsewhere], None, &out),
        "was made over a different document",
    );
    let other_sha = text(&read_json(&elsewhere), "signed_sha256");
    let moved = edited(&elsewhere, &other_sha, &root_sha, &repo.sig("moved.sig"));
    refused(
        &combine(&root, &[&r1, &moved], None, &out),
        "does not verify over this document",
    );
    refused(
        &combine(&root, &[&r1, &r1], None, &out),
        "has already signed this document",
    );
    refused(
        &combine(&root, &[&r1], None, &out),
        "signed by 1 of the 2 keys",
    );
    let misnamed = repo.signed("root.json");
    refused(
        &combine(&root, &[&r1, &r1], None, &misnamed),
        "name the signed document 1.root.json",
    );
    assert!(
        !out.exists() && !misnamed.exists(),
        "a refused combine writes nothing"
    );
}

#[test]
fn install_refuses_documents_that_do_not_verify_against_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::create(dir.path());
    repo.sign_and_install_version_1();
    let fresh = dir.path().join("fresh-data");
    let needle = "a new repository needs version 1 of root, targets, claimed and unclaimed";
    refused(&install(&fresh, &[&repo.signed("1.root.json")]), needle);
    assert!(!metadata(&fresh, "1.root.json").exists());
    refused(
        &install(&repo.data, &[&repo.signed("1.targets.json")]),
        "version 1 was offered where version 2",
    );

    let renewal = dir.path().join("renew");
    let mut renew = bulwark();
    renew
        .args(["ceremony", "renew", "--data-dir"])
        .arg(&repo.data);
    run_ok(renew.args(["--role", "targets", "--out"]).arg(&renewal));
    let next = renewal.join("2.targets.json");

    // Targets signed by a key that a root of Mallory's lists, not the current root.
    let mallory = generate(&dir.path().join("mallory"), "mallory");
    let fake = dir.path().join("fake-draft");
    let mut init = bulwark();
    init.args(["ceremony", "init", "--root-key"])
        .args(repo.roots.iter().map(|h| &h.file));
    init.args(["--root-threshold", "2", "--targets-key"])
        .arg(&mallory.file);
    init.arg("--claimed-key")
        .arg(&repo.claimed.file)
        .arg("--unclaimed-key")
        .arg(&repo.unclaimed.file);
    run_ok(
        init.arg("--online-key")
            .arg(&repo.online.file)
            .arg("--out")
            .arg(&fake),
    );
    let fake_root = fake.join("1.root.json");
    let by_fake = Some(("--root", fake_root.as_path()));
    let m = sign_ok(&mallory, &next, by_fake, &repo.sig("mallory.sig"));
    let forged = dir.path().join("forged/2.targets.json");
    fs::create_dir_all(forged.parent().unwrap()).unwrap();
    combine_ok(&next, &[&m], by_fake, &forged);
    let needle = "targets version 2 is signed by 0 of the 1 keys that root version 1 requires";
    refused(&install(&repo.data, &[&forged]), needle);

    // The real holder's signature, on a document changed after signing.
    let current_root = metadata(&repo.data, "1.root.json");
    let by_root = Some(("--root", current_root.as_path()));
    let t2 = sign_ok(&repo.targets, &next, by_root, &repo.sig("targets2.sig"));
    let good = combine_ok(&next, &[&t2], by_root, &repo.signed("2.targets.json"));
    let tampered = dir.path().join("tampered/2.targets.json");
    fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    let expires = text(field(&read_json(&good), "signed"), "expires");
    edited(&good, &expires, "2099-01-01T00:00:00Z", &tampered);
    refused(
        &install(&repo.data, &[&tampered]),
        "targets version 2 is signed by 0 of the 1 keys",
    );
    assert!(
        !metadata(&repo.data, "2.targets.json").exists(),
        "a refused install writes nothing"
    );

    let out = install(&repo.data, &[&good]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(version_of(&metadata(&repo.data, "2.targets.json")), 2);
}

#[test]
fn secrets_never_appear_in_output_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let alice = generate(dir.path(), "alice");
    let file = fs::read_to_string(&alice.file).unwrap();
    let parsed = read_json(&alice.file);
    let (kdf, cipher) = (field(&parsed, "kdf"), field(&parsed, "cipher"));
    let secrets = [
        text(cipher, "ciphertext"),
        text(cipher, "nonce"),
        text(kdf, "salt"),
        alice.pass.clone(),
    ];
    let wrong = "not-alices-passphrase-0451";
    let check = |out: &Output| {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert_eq!(stderr(out).lines().count(), 1, "{all}");
        assert!(
            !all.contains(wrong),
            "the passphrase tried is in the output: {all}"
        );
        assert!(
            secrets.iter().all(|s| !all.contains(s.as_str())),
            "a secret is in the output: {all}"
        );
    };

    // A wrong passphrase.
    let doc = dir.path().join("1.claimed.json");
    fs::write(&doc, br#"{"signatures":[],"signed":{"_type":"targets","spec_version":"1.0.34","version":1,"expires":"2099-01-01T00:00:00Z","targets":{}}}"#).unwrap();
    let sign = |key: &Path, pass: &str| {
        let mut cmd = bulwark();
        cmd.args(["ceremony", "sign", "--key"])
            .arg(key)
            .arg(&doc)
            .arg("--delegator")
            .arg(&doc);
        cmd.arg("--out")
            .arg(dir.path().join("x.sig"))
            .env(PASSPHRASE, pass)
            .output()
            .unwrap()
    };
    let out = sign(&alice.file, wrong);
    check(&out);
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );

    // Damaged key files, read with and without the passphrase.
    let damaged = dir.path().join("damaged.key");
    let show = || {
        bulwark()
            .args(["key", "show"])
            .arg(&damaged)
            .output()
            .unwrap()
    };
    fs::write(&damaged, &file[..file.len() / 2]).unwrap();
    check(&show());
    check(&sign(&damaged, &alice.pass));
    fs::write(&damaged, file.replace(&alice.keyid, &"0".repeat(64))).unwrap();
    check(&show());
    let mut init = bulwark();
    init.args(["ceremony", "init", "--root-threshold", "1", "--root-key"])
        .arg(&damaged);
    for flag in [
        "--targets-key",
        "--claimed-key",
        "--unclaimed-key",
        "--online-key",
        "--out",
    ] {
        init.arg(flag).arg(&damaged);
    }
    check(&init.output().unwrap());
}

#[test]
fn key_files_are_never_overwritten_and_need_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let alice = generate(dir.path(), "alice");
    let before = fs::read(&alice.file).unwrap();
    let generate_to = |path: &Path| {
        let mut cmd = bulwark();
        cmd.args(["key", "generate", "--out"]).arg(path);
        cmd
    };
    refused(
        &generate_to(&alice.file)
            .env(PASSPHRASE, "x")
            .output()
            .unwrap(),
        "already exists",
    );
    assert_eq!(fs::read(&alice.file).unwrap(), before);
    let bob = dir.path().join("bob.key");
    refused(
        &generate_to(&bob).env_remove(PASSPHRASE).output().unwrap(),
        "no passphrase",
    );
    refused(
        &generate_to(&bob).env(PASSPHRASE, "").output().unwrap(),
        "refusing an empty passphrase",
    );
    assert!(!bob.exists());
    // Opening a key without a passphrase source says so.
    let doc = dir.path().join("1.claimed.json");
    fs::write(&doc, br#"{"signatures":[],"signed":{"_type":"targets","spec_version":"1.0.34","version":1,"expires":"2099-01-01T00:00:00Z","targets":{}}}"#).unwrap();
    let mut sign = bulwark();
    sign.args(["ceremony", "sign", "--key"])
        .arg(&alice.file)
        .arg(&doc)
        .arg("--delegator")
        .arg(&doc);
    let out = sign
        .arg("--out")
        .arg(dir.path().join("x.sig"))
        .env_remove(PASSPHRASE)
        .output()
        .unwrap();
    refused(&out, "no passphrase for");

    // ECDSA P-256 keys too; `key show` prints the same, with no passphrase.
    let p256 = dir.path().join("p256.key");
    let out = run_ok(
        generate_to(&p256)
            .args(["--algorithm", "ecdsa-p256"])
            .env(PASSPHRASE, "p256 pass"),
    );
    let printed = json::parse(stdout(&out).trim().as_bytes()).unwrap();
    assert_eq!(
        text(field(&printed, "public"), "scheme"),
        "ecdsa-sha2-nistp256"
    );
    assert_eq!(
        fs::metadata(&p256).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shown = run_ok(
        bulwark()
            .args(["key", "show"])
            .arg(&p256)
            .env_remove(PASSPHRASE),
    );
    assert_eq!(stdout(&shown), stdout(&out));
}
