//! Crash safety of `bulwark serve`: SIGKILL at random points while uploads
//! and publishing are in flight, restart, and check that every upload that
//! got a 200 is published, that the metadata verifies with the TUF client
//! across restarts, and that no metadata version was ever reused.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, bulwark, python_script, run_ok, stderr, stdout, wait_until};

/// Deterministic pseudo-random delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Uploads `file` with curl; true when the server answered 200.
fn upload(url: &str, token: &str, file: &Path) -> bool {
    common::curl_upload(url, token, file).0 == "200"
}

/// Polls timestamp.json and records version → bytes; panics on a reuse.
fn watch_timestamps(url: &str, stop: &AtomicBool, seen: &Mutex<BTreeMap<u64, String>>) {
    while !stop.load(Ordering::Relaxed) {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "2"])
            .arg(format!("{url}/tuf/metadata/timestamp.json"))
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            record_timestamp(&out.stdout, seen);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn record_timestamp(bytes: &[u8], seen: &Mutex<BTreeMap<u64, String>>) {
    let envelope =
        bulwark_tuf::metadata::Envelope::<bulwark_tuf::metadata::TimestampMeta>::parse(bytes)
            .unwrap();
    let version = envelope.signed.common.version;
    let digest = bulwark_tuf::hash::sha256_hex(bytes);
    let mut seen = seen.lock().unwrap();
    let previous = seen.entry(version).or_insert_with(|| digest.clone());
    assert_eq!(
        *previous, digest,
        "timestamp version {version} was published twice with different contents"
    );
}

fn tuf_client(meta: &Path, url: &str) -> Command {
    let mut cmd = bulwark();
    cmd.args(["tuf-client", "--metadata-dir"])
        .arg(meta)
        .arg("--metadata-url")
        .arg(format!("{url}/tuf/metadata/"));
    cmd
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn every_acknowledged_upload_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wheels: Vec<PathBuf> = (0..45)
        .map(|i| {
            let out = run_ok(
                python_script("make_dist.py")
                    .arg(dir.path().join("dist"))
                    .arg(format!("crash-{}", i % 15))
                    .arg(format!("1.{}", i / 15)),
            );
            PathBuf::from(stdout(&out).lines().next().unwrap())
        })
        .collect();

    let mut server = Server::start(&data);
    let token = stdout(&run_ok(
        bulwark()
            .args(["token", "create", "--data-dir"])
            .arg(&data)
            .arg("carol"),
    ))
    .trim()
    .to_owned();
    let meta = dir.path().join("client");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir"])
            .arg(&meta)
            .arg("init")
            .arg(data.join("root.json")),
    );
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let mut acknowledged = Vec::new();
    let mut next = 0;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..6 {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = std::thread::spawn({
            let (url, stop, seen) = (server.url.clone(), stop.clone(), seen.clone());
            move || watch_timestamps(&url, &stop, &seen)
        });
        let batch: Vec<PathBuf> = wheels[next..(next + 9).min(wheels.len())].to_vec();
        next += batch.len();
        let uploader = std::thread::spawn({
            let (url, token) = (server.url.clone(), token.clone());
            move || {
                batch
                    .into_iter()
                    .filter(|w| upload(&url, &token, w))
                    .collect::<Vec<_>>()
            }
        });
        std::thread::sleep(Duration::from_millis(30 + rng.below(250)));
        server.kill();
        acknowledged.extend(uploader.join().unwrap());
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
        server = Server::start(&data);
        // The client that trusted metadata from before the crash must
        // accept what is published after it (no version went backwards).
        let out = tuf_client(&meta, &server.url)
            .arg("refresh")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: refresh after restart failed: {}\n{}",
            stderr(&out),
            server.log()
        );
    }
    assert!(
        !acknowledged.is_empty(),
        "no upload was acknowledged; the test proves nothing"
    );

    // Every acknowledged file is on its project's signed page.
    let mut by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for wheel in &acknowledged {
        let name = wheel.file_name().unwrap().to_str().unwrap().to_owned();
        let project = name.split('-').next().unwrap().replace('_', "-");
        by_project.entry(project).or_default().push(name);
    }
    let targets = dir.path().join("targets");
    let published = wait_until(Duration::from_secs(20), || {
        let mut cmd = tuf_client(&meta, &server.url);
        for project in by_project.keys() {
            cmd.arg("--target-name")
                .arg(format!("simple/{project}/index.json"));
        }
        cmd.arg("--target-base-url")
            .arg(format!("{}/tuf/targets/", server.url))
            .arg("--target-dir")
            .arg(&targets)
            .arg("download");
        cmd.output().unwrap().status.success()
            && by_project.iter().all(|(project, files)| {
                let page = std::fs::read_to_string(
                    targets.join(format!("simple%2F{project}%2Findex.json")),
                )
                .unwrap_or_default();
                files.iter().all(|f| page.contains(f.as_str()))
            })
    });
    assert!(
        published,
        "acknowledged uploads missing from signed pages {by_project:?}\n{}",
        server.log()
    );
    let out = Command::new("curl")
        .args(["-sf"])
        .arg(format!("{}/tuf/metadata/timestamp.json", server.url))
        .output()
        .unwrap();
    record_timestamp(&out.stdout, &seen);
    let versions: Vec<u64> = seen.lock().unwrap().keys().copied().collect();
    eprintln!(
        "{} of {} uploads acknowledged; timestamp versions seen: {versions:?}",
        acknowledged.len(),
        next
    );
    assert!(
        versions.len() > 1,
        "the watcher saw too few timestamps: {versions:?}"
    );
}

#[test]
fn bytes_stored_but_never_recorded_are_not_served_and_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let make = |name: &str| {
        let out = run_ok(
            python_script("make_dist.py")
                .arg(dir.path().join("dist"))
                .arg(name)
                .arg("1.0"),
        );
        PathBuf::from(stdout(&out).lines().next().unwrap())
    };
    let (kept, lost) = (make("kept"), make("lost"));
    let env = [("BULWARK_PUBLISH_INTERVAL_SECS", "1")];
    let mut server = Server::start_with_env(&data, &env);
    let token = common::token(&data, "carol");
    assert!(upload(&server.url, &token, &kept));
    server.kill();

    // What a SIGKILL between storing an upload and recording it leaves:
    // the file and its `.metadata` under their keys, and no record.
    let bytes = std::fs::read(&lost).unwrap();
    let sha = bulwark_tuf::hash::sha256_hex(&bytes);
    let name = lost.file_name().unwrap().to_str().unwrap();
    let stored = data.join("blobs/files").join(&sha);
    std::fs::create_dir_all(&stored).unwrap();
    std::fs::write(stored.join(name), &bytes).unwrap();
    std::fs::write(stored.join(format!("{name}.metadata")), b"Name: lost\n").unwrap();

    let server = Server::start_with_env(&data, &env);
    let kept_sha = bulwark_tuf::hash::sha256_hex(&std::fs::read(&kept).unwrap());
    let kept_name = kept.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        common::http_status(&format!("{}/files/{kept_sha}/{kept_name}", server.url)),
        "200"
    );
    for path in [
        format!("files/{sha}/{name}"),
        format!("files/{sha}/{name}.metadata"),
        format!("tuf/targets/files/{sha}/{name}"),
    ] {
        assert_eq!(
            common::http_status(&format!("{}/{path}", server.url)),
            "404",
            "{path} was served without a record"
        );
    }
    // Two sweeps ten publish intervals apart find it unrecorded: removed.
    let metadata = stored.join(format!("{name}.metadata"));
    assert!(
        wait_until(Duration::from_mins(1), || {
            !stored.join(name).exists()
                && !metadata.exists()
                && server.log().contains("removed files no record names")
        }),
        "the unrecorded file was never removed; log:\n{}",
        server.log()
    );
    assert_eq!(
        common::http_status(&format!("{}/files/{kept_sha}/{kept_name}", server.url)),
        "200"
    );
}
