//! `bulwark mirror sync` and `bulwark serve --mirror` as processes: a real
//! index with twine uploads, python-tuf and pip against the mirror,
//! incremental syncs counted in the upstream's request log, an interrupted
//! sync (killed with SIGKILL behind a slow upstream), a corrupted upstream
//! file, and the retention of old snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    Proxy, Server, bulwark, installed_version, make_dist, pip_install, python_script, run_ok,
    stderr, stdout, token, twine_upload, uv_install, venv_bin, wait_until,
};

/// Builds and uploads `name` `version` (wheel and sdist), then waits until
/// the upstream's signed metadata lists both.
fn upload(server: &Server, token: &str, dists: &Path, name: &str, version: &str) -> Vec<String> {
    let files = make_dist(&dists.join(format!("{name}-{version}")), name, version, &[]);
    let out = twine_upload(&server.url, token, &files);
    assert!(
        out.status.success(),
        "twine upload failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    // Both files are in the signed metadata (each upload may be published
    // on its own), so the snapshot the next sync copies has them all.
    let root = server.data.join("root.json");
    for file in &files {
        let filename = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || verified(
                &root,
                &server.url,
                name,
                filename
            )
            .is_some()),
            "{filename} was not published:\n{}",
            server.log()
        );
    }
    files
}

/// python-tuf's verdict on `filename` of `project` at `base`.
fn verified(root: &Path, base: &str, project: &str, filename: &str) -> Option<String> {
    let out = python_script("verify_index.py")
        .arg(root)
        .arg(base)
        .arg(project)
        .arg(filename)
        .output()
        .unwrap();
    out.status.success().then(|| stdout(&out))
}

fn sync_cmd(upstream: &str, root: &Path, dest: &Path) -> Command {
    let mut cmd = bulwark();
    cmd.args(["mirror", "sync", "--upstream", upstream, "--root"])
        .arg(root)
        .arg("--dest")
        .arg(dest);
    cmd
}

/// Request paths in the upstream's log that start with `prefix`.
fn requests(server: &Server, prefix: &str) -> Vec<String> {
    let needle = format!("\"{prefix}");
    server
        .log()
        .lines()
        .filter_map(|line| {
            line.find(&needle)
                .map(|at| line[at + 1..].split('"').next().unwrap_or("").to_owned())
        })
        .collect()
}

fn timestamp(mirror: &Path) -> Vec<u8> {
    std::fs::read(mirror.join("tuf/metadata/timestamp.json")).unwrap()
}

fn snapshot_version(mirror: &Path) -> u64 {
    common::listed_version(&timestamp(mirror), "snapshot.json")
}

/// The stored copy of `filename` in an index's data directory or a mirror.
fn upstream_blob(data: &Path, filename: &str) -> PathBuf {
    let blobs = data.join("blobs");
    let files = if blobs.is_dir() {
        blobs
    } else {
        data.to_owned()
    }
    .join("files");
    for entry in std::fs::read_dir(&files).unwrap() {
        let candidate = entry.unwrap().path().join(filename);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{filename} is not under {}", files.display());
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn sync_serve_verify_install_then_incremental_sync_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = Server::start(&data);
    let root = data.join("root.json");
    let alice = token(&data, "alice");
    let dists = dir.path().join("dist");
    upload(&upstream, &alice, &dists, "demo", "1.0");
    upload(&upstream, &alice, &dists, "other-pkg", "0.1");

    let mirror = dir.path().join("mirror");
    let out = run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    assert!(
        stdout(&out).starts_with("mirrored snapshot "),
        "{}",
        stdout(&out)
    );
    // The index's blob layout.
    for sub in [
        "tuf/metadata/1.root.json",
        "tuf/metadata/timestamp.json",
        "tuf/targets/simple/demo",
        "files",
    ] {
        assert!(mirror.join(sub).exists(), "{sub} missing in the mirror");
    }

    let served = Server::start_mirror(&mirror);
    let entry = verified(&root, &served.url, "demo", "demo-1.0-py3-none-any.whl")
        .expect("python-tuf must verify the mirror");
    assert!(entry.contains("\"size\""), "{entry}");
    assert!(verified(&root, &served.url, "other-pkg", "other_pkg-0.1.tar.gz").is_some());
    let site = dir.path().join("site");
    let out = pip_install(&served.url, &site, "demo");
    assert!(
        out.status.success(),
        "pip install from the mirror failed: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        served.log()
    );
    assert_eq!(installed_version(&site, "demo"), "1.0");
    // Read-only: twine gets a 405 that says why.
    let out = Command::new(venv_bin("twine"))
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
        ])
        .arg(format!("{}/legacy/", served.url))
        .args(["-u", "__token__", "-p", &alice])
        .arg(dists.join("demo-1.0").join("demo-1.0.tar.gz"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("405") && said.contains("read-only mirror"),
        "{said}"
    );

    // A second sync right away downloads no file, page or role again.
    let (files_before, targets_before) = (
        requests(&upstream, "/files/").len(),
        requests(&upstream, "/tuf/targets/").len(),
    );
    let out = run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    assert!(stdout(&out).starts_with("up to date"), "{}", stdout(&out));
    assert_eq!(requests(&upstream, "/files/").len(), files_before);
    assert_eq!(requests(&upstream, "/tuf/targets/").len(), targets_before);

    // After a new upload, only the new files and the changed page are fetched.
    let old_snapshot = snapshot_version(&mirror);
    upload(&upstream, &alice, &dists, "demo", "2.0");
    // (python-tuf's check of the upload made requests of its own.)
    let (files_before, targets_before) = (
        requests(&upstream, "/files/").len(),
        requests(&upstream, "/tuf/targets/").len(),
    );
    let metadata_before = requests(&upstream, "/tuf/metadata/").len();
    let out = run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    assert!(
        stdout(&out).starts_with("mirrored snapshot "),
        "{}",
        stdout(&out)
    );
    let new_files: Vec<String> = requests(&upstream, "/files/")[files_before..].to_vec();
    let mut names: Vec<&str> = new_files
        .iter()
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "demo-2.0-py3-none-any.whl",
            "demo-2.0-py3-none-any.whl.metadata",
            "demo-2.0.tar.gz"
        ],
        "{new_files:?}"
    );
    let new_targets = &requests(&upstream, "/tuf/targets/")[targets_before..];
    assert_eq!(
        new_targets.len(),
        1,
        "only demo's new page: {new_targets:?}"
    );
    assert!(
        new_targets[0].starts_with("/tuf/targets/simple/demo/"),
        "{new_targets:?}"
    );
    // Roles: root N+1 probe, timestamp, snapshot, and the re-signed ones
    // only (targets, claimed and unchanged bins are reused).
    let new_metadata = &requests(&upstream, "/tuf/metadata/")[metadata_before..];
    assert!(new_metadata.len() < 10, "{new_metadata:?}");
    let site2 = dir.path().join("site2");
    let out = pip_install(&served.url, &site2, "demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site2, "demo"), "2.0");

    // Retention: the previous snapshot is kept for the retention period…
    assert!(
        mirror
            .join(format!("tuf/metadata/{old_snapshot}.snapshot.json"))
            .is_file()
    );
    // …and removed by a sync with no retention; the mirror stays whole.
    upload(&upstream, &alice, &dists, "other-pkg", "0.2");
    let out = run_ok(sync_cmd(&upstream.url, &root, &mirror).args(["--retention-secs", "0"]));
    assert!(
        !stdout(&out).contains("removed 0 old files"),
        "{}",
        stdout(&out)
    );
    assert!(
        !mirror
            .join(format!("tuf/metadata/{old_snapshot}.snapshot.json"))
            .exists()
    );
    assert!(
        mirror.join("tuf/metadata/1.root.json").is_file(),
        "roots are kept forever"
    );

    // A damaged file in the mirror is repaired by --verify-existing.
    let wheel = "demo-2.0-py3-none-any.whl";
    let good = std::fs::read(upstream_blob(&data, wheel)).unwrap();
    let damaged = upstream_blob(&mirror, wheel);
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    std::fs::write(&damaged, &bad).unwrap();
    run_ok(sync_cmd(&upstream.url, &root, &mirror).arg("--verify-existing"));
    assert_eq!(std::fs::read(&damaged).unwrap(), good);
    assert!(verified(&root, &served.url, "demo", "demo-2.0.tar.gz").is_some());
    assert!(
        verified(
            &root,
            &served.url,
            "other-pkg",
            "other_pkg-0.2-py3-none-any.whl"
        )
        .is_some()
    );
}

/// A forwarding HTTP server that delays every `/files/` request.
/// Every filename the index accepts mirrors: an epoch version puts a `!`
/// in both filenames (`epoch_demo-1!0.5.tar.gz`), which once failed the
/// whole sync (issue 9, defect 1).
#[test]
fn files_with_an_epoch_version_are_mirrored_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = Server::start(&data);
    let root = data.join("root.json");
    let alice = token(&data, "alice");
    let files = upload(
        &upstream,
        &alice,
        &dir.path().join("dist"),
        "epoch-demo",
        "1!0.5",
    );

    let mirror = dir.path().join("mirror");
    let out = sync_cmd(&upstream.url, &root, &mirror).output().unwrap();
    assert!(
        out.status.success(),
        "mirror sync failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let served = Server::start_mirror(&mirror);
    for file in &files {
        let filename = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(filename.contains("1!0.5"), "{filename}");
        assert_eq!(
            std::fs::read(upstream_blob(&mirror, filename)).unwrap(),
            std::fs::read(file).unwrap(),
            "{filename}"
        );
        assert!(
            verified(&root, &served.url, "epoch-demo", filename).is_some(),
            "python-tuf must verify {filename} on the mirror:\n{}",
            served.log()
        );
    }
}

/// A destination that holds a mirror of another repository is refused,
/// naming the directory and what differs, and left as it was (issue 9,
/// defect 4).
#[test]
fn a_mirror_of_another_repository_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (first_data, second_data) = (dir.path().join("first"), dir.path().join("second"));
    let first = Server::start(&first_data);
    let second = Server::start(&second_data);
    let mirror = dir.path().join("mirror");
    run_ok(&mut sync_cmd(
        &first.url,
        &first_data.join("root.json"),
        &mirror,
    ));
    let before = timestamp(&mirror);

    let out = sync_cmd(&second.url, &second_data.join("root.json"), &mirror)
        .output()
        .unwrap();
    let said = stderr(&out);
    assert!(!out.status.success(), "{}{said}", stdout(&out));
    assert!(
        said.contains(&mirror.display().to_string())
            && said.contains("another repository")
            && said.contains("1.root.json"),
        "{said}"
    );
    assert_eq!(timestamp(&mirror), before);
    // The same repository still syncs.
    run_ok(&mut sync_cmd(
        &first.url,
        &first_data.join("root.json"),
        &mirror,
    ));
}

const SLOW_PROXY: &str = r#"
import sys, time, urllib.request, urllib.error
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
upstream, delay = sys.argv[1].rstrip("/"), float(sys.argv[2])
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/files/"):
            time.sleep(delay)
        try:
            with urllib.request.urlopen(upstream + self.path) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn slow_proxy(upstream: &str, delay_secs: u32) -> (Killed, String) {
    let mut child = Command::new(venv_bin("python"))
        .args(["-c", SLOW_PROXY, upstream, &delay_secs.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), line.trim().to_owned())
}

/// Every blob the mirror's current snapshot needs is present: python-tuf
/// and pip both work and see the expected version.
fn assert_serves(root: &Path, mirror: &Server, site: &Path, version: &str) {
    let wheel = format!("demo-{version}-py3-none-any.whl");
    assert!(
        verified(root, &mirror.url, "demo", &wheel).is_some(),
        "{wheel} not verified on the mirror\n{}",
        mirror.log()
    );
    let out = pip_install(&mirror.url, site, "demo");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(installed_version(site, "demo"), version);
}

#[test]
fn interrupted_sync_and_corrupted_upstream_file_leave_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = Server::start(&data);
    let root = data.join("root.json");
    let alice = token(&data, "alice");
    let dists = dir.path().join("dist");
    upload(&upstream, &alice, &dists, "demo", "1.0");
    let mirror = dir.path().join("mirror");
    run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    let served = Server::start_mirror(&mirror);
    let before = timestamp(&mirror);
    let old_snapshot = snapshot_version(&mirror);
    upload(&upstream, &alice, &dists, "demo", "2.0");

    // kill -9 part-way: the new snapshot's metadata has arrived, its files not.
    let (_proxy, slow_url) = slow_proxy(&upstream.url, 30);
    let mut child = sync_cmd(&slow_url, &root, &mirror)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let newer_snapshot_present = || {
        std::fs::read_dir(mirror.join("tuf/metadata"))
            .unwrap()
            .any(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.ends_with(".snapshot.json")
                    && name.split('.').next().unwrap().parse::<u64>().unwrap() > old_snapshot
            })
    };
    assert!(
        wait_until(Duration::from_secs(20), newer_snapshot_present),
        "the sync never fetched the new snapshot"
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(
        timestamp(&mirror),
        before,
        "an interrupted sync must not change timestamp.json"
    );
    assert_serves(&root, &served, &dir.path().join("site1"), "1.0");

    // A corrupted file upstream is refused, clearly, and not published.
    let blob = upstream_blob(&data, "demo-2.0-py3-none-any.whl");
    let good = std::fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(&blob, &bad).unwrap();
    let out = sync_cmd(&upstream.url, &root, &mirror).output().unwrap();
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("demo-2.0-py3-none-any.whl")
            && message.contains("hash does not match")
            && message.contains("previous snapshot"),
        "{message}"
    );
    assert_eq!(timestamp(&mirror), before);
    assert_serves(&root, &served, &dir.path().join("site2"), "1.0");

    // Repaired upstream: the sync resumes and publishes the new snapshot.
    std::fs::write(&blob, &good).unwrap();
    let out = run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    assert!(
        stdout(&out).starts_with("mirrored snapshot "),
        "{}",
        stdout(&out)
    );
    assert!(snapshot_version(&mirror) > old_snapshot);
    assert_serves(&root, &served, &dir.path().join("site3"), "2.0");
}

/// A proxy pointed at a mirror verifies exactly as against the index: pip
/// installs through it, and a file corrupted on the mirror is refused
/// (nothing installed) until the mirror is repaired.
#[test]
fn proxy_verifies_a_mirror_and_refuses_its_corrupted_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = Server::start(&data);
    let root = data.join("root.json");
    let alice = token(&data, "alice");
    upload(&upstream, &alice, &dir.path().join("dist"), "demo", "1.0");
    let mirror = dir.path().join("mirror");
    run_ok(&mut sync_cmd(&upstream.url, &root, &mirror));
    drop(upstream);
    let served = Server::start_mirror(&mirror);

    let proxy = Proxy::start(&served.url, &root, &dir.path().join("cache"));
    let site = dir.path().join("site");
    let out = pip_install(&proxy.url, &site, "demo");
    assert!(
        out.status.success(),
        "pip through proxy → mirror failed: {}\n{}",
        stderr(&out),
        proxy.log()
    );
    assert_eq!(installed_version(&site, "demo"), "1.0");
    let uv_site = dir.path().join("site-uv");
    let out = uv_install(&proxy.url, &uv_site, "demo");
    assert!(
        out.status.success(),
        "uv through proxy → mirror failed: {}\n{}",
        stderr(&out),
        proxy.log()
    );
    assert_eq!(installed_version(&uv_site, "demo"), "1.0");

    // Corrupt the wheel on the mirror (same size, one byte flipped).
    let wheel = std::fs::read_dir(mirror.join("files"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("the mirror holds the wheel");
    let original = std::fs::read(&wheel).unwrap();
    let mut corrupted = original.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x55;
    std::fs::write(&wheel, &corrupted).unwrap();

    let fresh = Proxy::start(&served.url, &root, &dir.path().join("cache2"));
    let refused = dir.path().join("site-refused");
    let out = pip_install(&fresh.url, &refused, "demo");
    assert!(
        !out.status.success(),
        "a corrupted mirror file must not install"
    );
    assert!(
        !refused.join("demo.py").exists(),
        "nothing may be installed"
    );
    assert!(
        fresh.log().contains("does not match the signed page"),
        "{}",
        fresh.log()
    );

    std::fs::write(&wheel, &original).unwrap();
    let out = pip_install(&fresh.url, &refused, "demo");
    assert!(
        out.status.success(),
        "the proxy recovers once the mirror is repaired: {}",
        stderr(&out)
    );
}
