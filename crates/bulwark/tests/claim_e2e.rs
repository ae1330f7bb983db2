//! Developer-claimed projects from the developer's side, as processes:
//! `bulwark key generate`, `bulwark claim`, `bulwark upload` (with and
//! without `--key`) and `bulwark yank --key` against a real `bulwark serve`.
//! Also: argument checks, the twine-compatible upload, the refusals that
//! TUF alone decides, and the transactions the commands send, captured in
//! front of the index and run through the
//! index's own checks (`bulwark_repo::transaction::check`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_repo::transaction::{
    Previous, ProjectDelegation, TransactionPolicy, UploadedFile, check,
};
use bulwark_tuf::delegation::{DelegatedRole, PathSpec};
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::metadata::{Key, RoleKeys};
use bulwark_tuf::names::RoleName;
use common::{
    Proxy, Server, bulwark, developer, developer_key, installed_version, json_page, make_dist,
    path, pip_install, python_script, run_ok, stderr, stdout, token, twine_upload,
};

use common::DEVELOPER_PASSPHRASE as PASSPHRASE;

/// Asserts that `out` failed with exactly one line on stderr, `error: …`
/// containing `expected`, and no secret.
fn fails_with(out: &Output, expected: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded:\n{}{err}", stdout(out));
    assert_eq!(err.lines().count(), 1, "not one line:\n{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    assert!(!err.contains(PASSPHRASE), "{err}");
    assert!(!err.contains("bwk_"), "the token leaked: {err}");
}

/// Runs `bulwark claim demo` with `extra` arguments until TUF shows the
/// twine-uploaded page (the publisher signs it within a second or so):
/// the first output that is not "no such project".
fn claim_once_published(
    index: &str,
    root: &Path,
    key: &Path,
    token: &str,
    extra: &[&str],
) -> Output {
    let mut last = None;
    common::wait_until(std::time::Duration::from_secs(10), || {
        let mut args = vec!["claim", "demo", "--index", index, "--root", path(root)];
        args.extend(["--key", path(key)]);
        args.extend(extra);
        let out = developer(&args, token).output().unwrap();
        let published = !stderr(&out).contains("no such project");
        last = Some(out);
        published
    });
    last.unwrap()
}

#[test]
fn developer_commands_check_their_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = developer_key(dir.path(), "dev");
    // A key file named without a directory lands in the current one.
    run_ok(
        bulwark()
            .args(["key", "generate", "--out", "bare.key"])
            .current_dir(dir.path())
            .env("BULWARK_KEY_PASSPHRASE", PASSPHRASE),
    );
    assert!(dir.path().join("bare.key").is_file());
    let root = dir.path().join("root.json");
    let index = "http://127.0.0.1:9";
    let base = ["--index", index, "--root", path(&root), "--key", path(&key)];

    let claim = |extra: &[&str]| {
        let mut args = vec!["claim"];
        args.extend(base);
        args.extend(extra);
        args.push("demo");
        developer(&args, "bwk_x_secret").output().unwrap()
    };
    fails_with(
        &claim(&["--threshold", "2"]),
        "--threshold 2 is more than the 1 key given (--key and --public-key)",
    );
    fails_with(
        &claim(&["--threshold", "0"]),
        "--threshold must be at least 1",
    );
    let other = developer_key(dir.path(), "other").1;
    fails_with(
        &claim(&["--public-key", path(&other), "--threshold", "2"]),
        "--threshold 2 needs 2 signing keys, and 1 --key was given",
    );
    // The same key as a --key and a --public-key is one key.
    fails_with(
        &claim(&["--public-key", path(&public), "--threshold", "2"]),
        "--threshold 2 is more than the 1 key given",
    );
    fails_with(&claim(&["--key", path(&key)]), "hold the same key");
    // Arguments pass; the trusted root is missing.
    fails_with(&claim(&[]), "cannot read the trusted root");
    fails_with(
        &developer(
            &["claim", "--index", index, "--root", path(&root), "demo"],
            "t",
        )
        .output()
        .unwrap(),
        "--key <FILE>",
    );

    let dist = dir.path().join("demo-1.0.tar.gz");
    std::fs::write(&dist, b"not a tarball").unwrap();
    fails_with(
        &developer(
            &[
                "upload",
                "--index",
                index,
                "--public-key",
                path(&public),
                path(&dist),
            ],
            "t",
        )
        .output()
        .unwrap(),
        "--public-key and --threshold only apply with --key",
    );
    fails_with(
        &developer(
            &["upload", "--index", index, "--key", path(&key), path(&dist)],
            "t",
        )
        .output()
        .unwrap(),
        "--root is required with --key",
    );
    fails_with(
        &developer(&["upload", "--index", index, path(&dist)], "t")
            .output()
            .unwrap(),
        "demo-1.0.tar.gz is not a distribution the index accepts",
    );
    fails_with(
        &developer(&["upload", "--index", "ftp://x", path(&dist)], "t")
            .output()
            .unwrap(),
        "--index \"ftp://x\" is not an http:// or https:// URL",
    );
    fails_with(
        &developer(
            &["yank", "--index", index, "--key", path(&key), "demo", "1.0"],
            "t",
        )
        .output()
        .unwrap(),
        "--root is required with --key",
    );
}

/// Without `--key`, `bulwark upload` is a twine upload; the refusals that
/// TUF alone decides need no index support for claims.
#[test]
fn upload_without_key_is_a_twine_upload_and_tuf_decides_what_may_be_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let (key, _) = developer_key(dir.path(), "dev");
    let root = data.join("root.json");
    let dists = make_dist(&dir.path().join("dist"), "demo", "1.0", &[]);

    let mut args = vec!["upload", "--index", server.url.as_str()];
    args.extend(dists.iter().map(String::as_str));
    let out = run_ok(&mut developer(&args, &alice));
    let uploaded: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(uploaded.len(), 2, "{uploaded:?}");
    assert!(uploaded.iter().all(|l| l.starts_with("uploaded demo-1.0")));
    // An identical re-upload is accepted, as for twine.
    run_ok(&mut developer(&args, &alice));
    let site = dir.path().join("site");
    let out = pip_install(&server.url, &site, "demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "demo"), "1.0");

    let mallory = token(&data, "mallory");
    let out = developer(&args, &mallory).output().unwrap();
    fails_with(&out, "the index refused demo-1.0");
    fails_with(&out, ": 403 ");

    // TUF lists demo in an online bin: --key does not claim it silently.
    let signed = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--index", server.url.as_str(), "--root", path(&root)]);
        all.extend(["--key", path(&key)]);
        developer(&all, &alice).output().unwrap()
    };
    let mut upload = vec!["upload"];
    upload.extend(dists.iter().map(String::as_str));
    fails_with(
        &signed(&upload),
        "demo is not claimed: run bulwark claim first",
    );
    fails_with(
        &signed(&["yank", "demo", "1.0"]),
        "demo is not claimed: the index yanks its releases (leave out --key)",
    );
    fails_with(
        &signed(&["claim", "ghost"]),
        "no such project ghost; `bulwark upload --key` claims a new project",
    );
    // A root that is not the index's.
    let other_data = dir.path().join("other");
    let other = Server::start(&other_data);
    let mut wrong_root = vec!["claim", "demo", "--index", other.url.as_str()];
    wrong_root.extend(["--root", path(&root), "--key", path(&key)]);
    fails_with(
        &developer(&wrong_root, &alice).output().unwrap(),
        "cannot verify demo through TUF",
    );
}

/// One transaction captured in front of the index.
#[derive(Debug)]
struct Captured {
    path: String,
    authorization: String,
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

impl Captured {
    fn part(&self, name: &str) -> Option<&[u8]> {
        self.parts
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, bytes)| bytes.as_slice())
    }

    fn files(&self) -> Vec<(&str, &[u8])> {
        self.parts
            .iter()
            .filter(|(n, _, _)| n == "content")
            .map(|(_, f, b)| (f.as_deref().unwrap(), b.as_slice()))
            .collect()
    }
}

/// An HTTP/1.1 front for `bulwark serve` (one request per connection):
/// answers transaction POSTs itself, recording them, and forwards the
/// rest, so that what the commands send can be checked before the index
/// takes transactions.
struct Front {
    url: String,
    captured: Arc<Mutex<Vec<Captured>>>,
}

impl Front {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let shared = captured.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, captured) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &captured);
                });
            }
        });
        Self { url, captured }
    }

    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.captured.lock().unwrap())
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    captured: &Mutex<Vec<Captured>>,
) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0; 16 * 1024];
    let split = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&request[..split]).into_owned();
    let header = |name: &str| {
        head.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while request.len() < split + 4 + length {
        let n = client.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = request[split + 4..].to_vec();
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if method == "POST" && path.ends_with("/transaction") {
        let project = path.split('/').nth(3).unwrap_or_default().to_owned();
        let content_type = header("content-type").unwrap_or_default();
        let parts = parse_multipart(&content_type, &body);
        let role = parts
            .iter()
            .find(|(n, _, _)| n == "role")
            .map(|(_, _, b)| b.clone())
            .unwrap_or_default();
        let version = json::parse(&role)
            .ok()
            .and_then(|v| match v {
                Value::Object(o) => match o.get("signed") {
                    Some(Value::Object(s)) => s.get("version").cloned(),
                    _ => None,
                },
                _ => None,
            })
            .and_then(|v| if let Value::Int(n) = v { Some(n) } else { None })
            .unwrap_or(0);
        let files = parts.iter().filter(|(n, _, _)| n == "content").count();
        captured.lock().unwrap().push(Captured {
            path: path.to_owned(),
            authorization: header("authorization").unwrap_or_default(),
            parts,
        });
        let answer = format!(
            r#"{{"files":{files},"project":"{project}","role":"project-{project}","tier":"recently-claimed","version":{version}}}"#
        );
        client.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .as_bytes(),
        )?;
        return client.shutdown(Shutdown::Both);
    }
    let mut forwarded = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(forwarded.as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.shutdown(Shutdown::Both)
}

/// The parts of a `multipart/form-data` body: name, filename, bytes.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).unwrap().trim();
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter has no line break before it.
    let mut body = [b"\r\n".as_slice(), body].concat();
    let mut parts = Vec::new();
    loop {
        let at = find(&body, delimiter.as_bytes()).unwrap();
        body.drain(..at + delimiter.len());
        if body.starts_with(b"--") {
            return parts;
        }
        let end = find(&body, b"\r\n\r\n").unwrap();
        let headers = String::from_utf8_lossy(&body[..end]).into_owned();
        body.drain(..end + 4);
        let next = find(&body, delimiter.as_bytes()).unwrap();
        let param = |name: &str| {
            headers
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        };
        // `name` comes before `filename` in every part the commands send.
        let name = param("name").unwrap();
        parts.push((name, param("filename"), body[..next].to_vec()));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The delegation a transaction asks for, as the index would record it.
fn delegation_of(captured: &Captured, project: &ProjectName) -> ProjectDelegation {
    let Value::Object(object) = json::parse(captured.part("delegation").unwrap()).unwrap() else {
        panic!("the delegation is not an object")
    };
    let Some(Value::Object(keys)) = object.get("keys") else {
        panic!("no keys")
    };
    let Some(Value::Int(threshold)) = object.get("threshold") else {
        panic!("no threshold")
    };
    let keys: BTreeMap<String, Key> = keys
        .iter()
        .map(|(id, key)| (id.clone(), Key::from_value(id, key, "key").unwrap()))
        .collect();
    let name = project.normalized();
    let role = DelegatedRole {
        name: RoleName::new(format!("project-{name}")),
        keys: RoleKeys {
            keyids: keys.keys().cloned().collect(),
            threshold: u64::try_from(*threshold).unwrap(),
        },
        terminating: true,
        paths: PathSpec::Patterns(vec![format!("simple/{name}/*")]),
        unknown: BTreeMap::new(),
    };
    ProjectDelegation::new(project.clone(), role, keys).unwrap()
}

/// The transactions `bulwark claim` and `bulwark upload --key` send pass
/// the index's checks of a transaction.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn signed_transactions_pass_the_index_checks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let (key, _) = developer_key(dir.path(), "dev");
    let (_, other_public) = developer_key(dir.path(), "other");
    let root = data.join("root.json");
    let front = Front::start(&server.url);
    let out = twine_upload(
        &server.url,
        &alice,
        &make_dist(&dir.path().join("d1"), "demo", "1.0", &[]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = claim_once_published(&front.url, &root, &key, &alice, &["--no-wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let captured = front.take();
    let [claim] = captured.as_slice() else {
        panic!("{captured:?}")
    };
    assert_eq!(claim.path, "/api/projects/demo/transaction");
    assert!(claim.authorization.starts_with("Basic "), "{claim:?}");
    assert!(claim.files().is_empty());
    let demo = ProjectName::parse("demo").unwrap();
    let page = json_page(&server, "demo");
    assert_eq!(
        claim.part("page").unwrap(),
        page,
        "the claim lists the page TUF verified"
    );
    let previous = ProjectPage::parse_json(&page).unwrap();
    let delegation = delegation_of(claim, &demo);
    assert_eq!(delegation.role().keys.threshold, 1);
    let verified = check(
        &delegation,
        Previous {
            role: None,
            page: Some(&previous),
            nested: &[],
        },
        bulwark_repo::transaction::Offered {
            role: Some(claim.part("role").unwrap()),
            nested: &[],
            page: claim.part("page").unwrap(),
            uploads: &[],
        },
        bulwark_repo::clock::now(),
        &TransactionPolicy::default(),
    )
    .unwrap();
    assert_eq!(verified.version(), 1);

    // A new project: claimed by its first signed upload, with two keys.
    let fresh = make_dist(&dir.path().join("d2"), "Fresh_Pkg", "0.1", &[]);
    let mut args = vec!["upload", "--index", &front.url, "--root", path(&root)];
    args.extend(["--key", path(&key), "--public-key", path(&other_public)]);
    args.push("--no-wait");
    args.extend(fresh.iter().map(String::as_str));
    let out = run_ok(&mut developer(&args, &alice));
    assert_eq!(
        stdout(&out).trim(),
        "accepted project-fresh-pkg version 1 (recently-claimed); not waiting for TUF to show it"
    );
    let captured = front.take();
    let [upload] = captured.as_slice() else {
        panic!("{captured:?}")
    };
    assert_eq!(upload.path, "/api/projects/fresh-pkg/transaction");
    let project = ProjectName::parse("fresh-pkg").unwrap();
    let delegation = delegation_of(upload, &project);
    assert_eq!(
        (
            delegation.role().keys.keyids.len(),
            delegation.role().keys.threshold
        ),
        (2, 1)
    );
    let uploads: Vec<UploadedFile> = upload
        .files()
        .iter()
        .map(|(filename, bytes)| {
            let inspected =
                bulwark_pypi::inspect_bytes(filename, bytes, &bulwark_pypi::Limits::default())
                    .unwrap();
            UploadedFile::from(&inspected)
        })
        .collect();
    assert_eq!(uploads.len(), 2);
    let verified = check(
        &delegation,
        Previous::default(),
        bulwark_repo::transaction::Offered {
            role: Some(upload.part("role").unwrap()),
            nested: &[],
            page: upload.part("page").unwrap(),
            uploads: &uploads,
        },
        bulwark_repo::clock::now(),
        &TransactionPolicy::default(),
    )
    .unwrap();
    assert_eq!((verified.version(), verified.added().len()), (1, 2));

    // Refusals are shown as one line with the status and the reason.
    let mallory = token(&data, "mallory");
    let out = developer(
        &[
            "claim",
            "demo",
            "--index",
            &server.url,
            "--root",
            path(&root),
            "--key",
            path(&key),
        ],
        &mallory,
    )
    .output()
    .unwrap();
    fails_with(
        &out,
        "the index refused the transaction for demo: 403 The user does not own project demo",
    );
}

/// The whole story, once the index takes transactions: a twine-uploaded
/// project is claimed, released and yanked with the developer's key,
/// installed through the verifying proxy, and closed to twine.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn claim_upload_yank_and_install_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let (key, _) = developer_key(dir.path(), "dev");
    let root = data.join("root.json");
    let url = server.url.as_str();
    let with_key = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--index", url, "--root", path(&root), "--key", path(&key)]);
        run_ok(&mut developer(&all, &alice))
    };

    let out = twine_upload(
        url,
        &alice,
        &make_dist(&dir.path().join("1.0"), "demo", "1.0", &[]),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = claim_once_published(url, &root, &key, &alice, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 1 (recently-claimed)"
    );

    let v11 = make_dist(&dir.path().join("1.1"), "demo", "1.1", &[]);
    let mut upload = vec!["upload"];
    upload.extend(v11.iter().map(String::as_str));
    let out = with_key(&upload);
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 2 (recently-claimed)"
    );
    let out = with_key(&["yank", "demo", "1.0", "--reason", "superseded"]);
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 3 (recently-claimed)"
    );

    // A TUF client finds the page in project-demo, with 1.0 yanked.
    let meta = dir.path().join("tuf");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir", path(&meta), "init"])
            .arg(&root),
    );
    let targets = dir.path().join("targets");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir", path(&meta)])
            .args(["--metadata-url", &format!("{url}/tuf/metadata/")])
            .args(["--target-base-url", &format!("{url}/tuf/targets/")])
            .args(["--target-dir", path(&targets)])
            .args(["--target-name", "simple/demo/index.json", "download"]),
    );
    assert!(meta.join("project-demo.json").exists());
    let page = std::fs::read(targets.join("simple%2Fdemo%2Findex.json")).unwrap();
    let page = ProjectPage::parse_json(&page).unwrap();
    for file in &page.files {
        let yanked = file.filename.version().to_string() == "1.0";
        assert_eq!(file.yanked.is_some(), yanked, "{file:?}");
    }
    assert_eq!(page.files.len(), 4);

    // The verifying proxy installs 1.1.
    let proxy = Proxy::start(url, &root, &dir.path().join("proxy-cache"));
    let site = dir.path().join("site");
    let out = pip_install(&proxy.url, &site, "demo");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(installed_version(&site, "demo"), "1.1");

    // twine can no longer upload to demo, nor the index yank for it.
    let out = twine_upload(
        url,
        &alice,
        &make_dist(&dir.path().join("1.2"), "demo", "1.2", &[]),
    );
    assert!(!out.status.success());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    // twine prints the status and, on the next line, the reason phrase of
    // the status line.
    assert!(
        text.contains("403 Forbidden")
            && text.contains("Project demo is claimed: upload with bulwark upload --key"),
        "{text}"
    );
    let out = developer(&["yank", "demo", "1.1", "--index", url], &alice)
        .output()
        .unwrap();
    fails_with(&out, "the index refused to yank demo 1.1: 403 ");

    // A mirror copies the developers' role and their page, and serves the
    // page python-tuf verifies through it.
    let mirror = dir.path().join("mirror");
    run_ok(
        bulwark()
            .args(["mirror", "sync", "--upstream", url, "--root"])
            .arg(&root)
            .arg("--dest")
            .arg(&mirror),
    );
    let roles: Vec<String> = std::fs::read_dir(mirror.join("tuf/metadata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".project-demo.json"))
        .collect();
    assert!(!roles.is_empty(), "the mirror has no project-demo role");
    let mirror_server = Server::start_mirror(&mirror);
    let out = python_script("verify_index.py")
        .arg(&root)
        .arg(&mirror_server.url)
        .arg("demo")
        .arg("demo-1.1-py3-none-any.whl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf through the mirror: {}",
        stderr(&out)
    );
}

/// Maintainers: a second and third maintainer's keys are added with a
/// threshold of 2 (signed by the current key and the new ones), after which
/// one key alone cannot release, two can; and someone holding only the
/// upload token and a key of their own cannot take the project over.
#[test]
fn maintainers_thresholds_and_a_stolen_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let (first, _) = developer_key(dir.path(), "first");
    let (second, second_public) = developer_key(dir.path(), "second");
    let (_, third_public) = developer_key(dir.path(), "third");
    let (mallory, _) = developer_key(dir.path(), "mallory");
    let root = data.join("root.json");
    let url = server.url.as_str();
    let upload = |version: &str, extra: &[&str]| {
        let files = make_dist(&dir.path().join(version), "demo", version, &[]);
        let mut args = vec!["upload", "--index", url, "--root", path(&root)];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        developer(&args, &alice).output().unwrap()
    };

    let out = twine_upload(
        url,
        &alice,
        &make_dist(&dir.path().join("1.0"), "demo", "1.0", &[]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = claim_once_published(url, &root, &first, &alice, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The stolen token with a key of the thief's own: refused, keys unchanged.
    let out = upload(
        "6.6.6",
        &[
            "--key",
            path(&mallory),
            "--public-key",
            path(&mallory),
            "--threshold",
            "1",
        ],
    );
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");

    // First and second sign a release that adds second and third, 2 of 3.
    let out = upload(
        "1.1",
        &[
            "--key",
            path(&first),
            "--key",
            path(&second),
            "--public-key",
            path(&second_public),
            "--public-key",
            path(&third_public),
            "--threshold",
            "2",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // One key is no longer enough; two are.
    let out = upload("1.2", &["--key", path(&first)]);
    assert!(
        !out.status.success(),
        "one key of three released with threshold 2"
    );
    let out = upload("1.2", &["--key", path(&first), "--key", path(&second)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo version 3 (recently-claimed)"
    );

    // What was published: 1.0, 1.1, 1.2; never the thief's release.
    let page = String::from_utf8(json_page(&server, "demo")).unwrap();
    assert!(page.contains("demo-1.2-py3-none-any.whl"), "{page}");
    assert!(!page.contains("6.6.6"), "{page}");
}

/// The owner leaves the page to a CI key (`bulwark delegate`); CI
/// releases and yanks with its key alone (`bulwark upload --key`, `bulwark
/// yank --key`), which sign the nested role only; the owner's key no
/// longer signs the page; a TUF client and python-tuf (from the index
/// and from a mirror) find the release through `project-demo.ci`.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn a_ci_key_releases_through_a_nested_role_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let (owner, _) = developer_key(dir.path(), "owner");
    let (ci, _) = developer_key(dir.path(), "ci");
    let root = data.join("root.json");
    let url = server.url.as_str();
    let out = twine_upload(
        url,
        &alice,
        &make_dist(&dir.path().join("1.0"), "demo", "1.0", &[]),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = claim_once_published(url, &root, &owner, &alice, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let common = ["--index", url, "--root", path(&root)];
    let mut delegate = vec!["delegate", "--key", path(&owner), "--to-key", path(&ci)];
    delegate.extend(common);
    delegate.extend(["--name", "ci", "demo"]);
    let out = run_ok(&mut developer(&delegate, &alice));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo.ci version 1 (recently-claimed)"
    );

    let v11 = make_dist(&dir.path().join("1.1"), "demo", "1.1", &[]);
    let mut upload = vec!["upload", "--key", path(&ci)];
    upload.extend(common);
    upload.extend(v11.iter().map(String::as_str));
    let out = run_ok(&mut developer(&upload, &alice));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo.ci version 2 (recently-claimed)"
    );

    let mut yank = vec!["yank", "--key", path(&ci)];
    yank.extend(common);
    yank.extend(["demo", "1.0"]);
    let out = run_ok(&mut developer(&yank, &alice));
    assert_eq!(
        stdout(&out).trim(),
        "published project-demo.ci version 3 (recently-claimed)"
    );

    let v12 = make_dist(&dir.path().join("1.2"), "demo", "1.2", &[]);
    let mut by_owner = vec!["upload", "--key", path(&owner)];
    by_owner.extend(common);
    by_owner.extend(v12.iter().map(String::as_str));
    let out = developer(&by_owner, &alice).output().unwrap();
    fails_with(&out, "is not one of project-demo.ci's keys");

    let meta = dir.path().join("tuf");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir", path(&meta), "init"])
            .arg(&root),
    );
    let targets = dir.path().join("targets");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir", path(&meta)])
            .args(["--metadata-url", &format!("{url}/tuf/metadata/")])
            .args(["--target-base-url", &format!("{url}/tuf/targets/")])
            .args(["--target-dir", path(&targets)])
            .args(["--target-name", "simple/demo/index.json", "download"]),
    );
    assert!(meta.join("project-demo.ci.json").exists());
    let page = std::fs::read(targets.join("simple%2Fdemo%2Findex.json")).unwrap();
    let page = ProjectPage::parse_json(&page).unwrap();
    for file in &page.files {
        let yanked = file.filename.version().to_string() == "1.0";
        assert_eq!(file.yanked.is_some(), yanked, "{file:?}");
    }
    assert!(
        page.files
            .iter()
            .any(|f| f.filename.as_str() == "demo-1.1-py3-none-any.whl"),
        "{page:?}"
    );
    let out = python_script("verify_index.py")
        .arg(&root)
        .arg(url)
        .arg("demo")
        .arg("demo-1.1-py3-none-any.whl")
        .output()
        .unwrap();
    assert!(out.status.success(), "python-tuf: {}", stderr(&out));

    // A mirror copies the nested role, and python-tuf verifies through it.
    let mirror = dir.path().join("mirror");
    run_ok(
        bulwark()
            .args(["mirror", "sync", "--upstream", url, "--root"])
            .arg(&root)
            .arg("--dest")
            .arg(&mirror),
    );
    assert!(
        std::fs::read_dir(mirror.join("tuf/metadata"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".project-demo.ci.json")),
        "the mirror has no project-demo.ci role"
    );
    let mirror_server = Server::start_mirror(&mirror);
    let out = python_script("verify_index.py")
        .arg(&root)
        .arg(&mirror_server.url)
        .arg("demo")
        .arg("demo-1.1-py3-none-any.whl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf through the mirror: {}",
        stderr(&out)
    );
}
