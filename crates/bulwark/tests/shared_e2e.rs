//! Several `bulwark serve` processes on one PostgreSQL database and one S3
//! bucket (started by `scripts/backends`): uploads on either, installs from
//! the other, one publisher elected through the database, a publisher
//! killed with SIGKILL (also in the middle of uploads to both) replaced by
//! the other server, races decided by the database, and an embedded index
//! moved up to the shared backends by `bulwark migrate`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Proxy, Server, bulwark, curl_upload, installed_version, make_dist, pip_install, python_script,
    run_ok, stderr, stdout, twine_upload, uv_install, wait_until,
};

/// The environment that points a command at the shared stores.
struct Shared {
    env: Vec<(String, String)>,
}

impl Shared {
    fn new(name: &str) -> Self {
        let env = vec![
            (
                "BULWARK_STATE".to_owned(),
                bulwark_testkit::postgres::fresh_database(),
            ),
            (
                "BULWARK_BLOBS".to_owned(),
                bulwark_testkit::s3_test_url(name),
            ),
            ("BULWARK_KEY_PASSPHRASE".to_owned(), "shared".to_owned()),
            (
                "BULWARK_PUBLISH_INTERVAL_SECS".to_owned(),
                "3600".to_owned(),
            ),
        ];
        Self { env }
    }

    fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect()
    }

    fn token(&self, data: &Path, user: &str) -> String {
        let out = run_ok(
            bulwark()
                .args(["token", "create", "--data-dir"])
                .arg(data)
                .arg(user)
                .envs(self.with(&[])),
        );
        stdout(&out).trim().to_owned()
    }
}

/// python-tuf, trusting `server`'s root.json, verifies `filename` of
/// `project` through `server`'s signed metadata.
fn verified(server: &Server, project: &str, filename: &str) -> bool {
    verified_all(server, project, &[filename])
}

/// [`verified`], for every one of `filenames` at once.
fn verified_all(server: &Server, project: &str, filenames: &[&str]) -> bool {
    python_script("verify_index.py")
        .arg(server.data.join("root.json"))
        .arg(&server.url)
        .arg(project)
        .args(filenames)
        .output()
        .unwrap()
        .status
        .success()
}

/// The version of the timestamp `server` serves.
fn timestamp_version(server: &Server) -> u64 {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "10"])
        .arg(format!("{}/tuf/metadata/timestamp.json", server.url))
        .output()
        .unwrap();
    common::role_version(&out.stdout)
}

/// One filename, different bytes, uploaded to both servers at once: the
/// database lets exactly one in.
fn one_filename_on_both_servers_has_one_winner(a: &Server, b: &Server, alice: &str, dists: &Path) {
    let race_a = make_dist(&dists.join("ra"), "race-demo", "1.0", &[]);
    let race_b = make_dist(&dists.join("rb"), "race-demo", "1.0", &["six"]);
    let wheel = |files: &[String]| {
        files
            .iter()
            .find(|f| Path::new(f).extension().is_some_and(|e| e == "whl"))
            .unwrap()
            .to_owned()
    };
    let (wa, wb) = (wheel(&race_a), wheel(&race_b));
    assert_eq!(
        Path::new(&wa).file_name(),
        Path::new(&wb).file_name(),
        "the same filename"
    );
    assert_ne!(std::fs::read(&wa).unwrap(), std::fs::read(&wb).unwrap());
    let (sa, sb) = std::thread::scope(|s| {
        let ta = s.spawn(|| curl_upload(&a.url, alice, Path::new(&wa)).0);
        let tb = s.spawn(|| curl_upload(&b.url, alice, Path::new(&wb)).0);
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let mut statuses = [sa.clone(), sb.clone()];
    statuses.sort();
    assert_eq!(statuses, ["200", "400"], "A: {sa}, B: {sb}");
}

/// Two servers on `shared`: the first (A, the publisher) creates the
/// repository with development keys in its data directory; the second
/// (B) gets only a copy of the online key.
fn two_servers(dir: &Path, shared: &Shared) -> (Server, Server) {
    let a_data = dir.join("a");
    let a = Server::start_with_env(&a_data, &shared.with(&[]));
    let b_data = dir.join("b");
    std::fs::create_dir_all(b_data.join("keys")).unwrap();
    std::fs::copy(
        a_data.join("keys/online.key"),
        b_data.join("keys/online.key"),
    )
    .unwrap();
    let b = Server::start_with_env(
        &b_data,
        &shared.with(&[("BULWARK_ONLINE_KEY", "keys/online.key")]),
    );
    assert_eq!(
        std::fs::read(a_data.join("root.json")).unwrap(),
        std::fs::read(b_data.join("root.json")).unwrap(),
        "both servers hand out the one root"
    );
    assert!(a.log().contains("this server now publishes"), "{}", a.log());
    (a, b)
}

#[test]
fn two_servers_share_one_database_and_bucket_and_survive_the_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new("two-servers");
    let (mut a, b) = two_servers(dir.path(), &shared);
    let b_data = b.data.clone();
    let alice = shared.token(&b_data, "alice");

    // twine uploads to A; pip and uv install from B; python-tuf verifies
    // through B.
    let dists = dir.path().join("dist");
    let v1 = make_dist(&dists.join("1"), "shared-demo", "1.0", &[]);
    let out = twine_upload(&a.url, &alice, &v1);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let site = dir.path().join("pip-site");
    let out = pip_install(&b.url, &site, "shared-demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "shared_demo"), "1.0");
    let site = dir.path().join("uv-site");
    let out = uv_install(&b.url, &site, "shared-demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "shared_demo"), "1.0");
    // Through the verifying proxy in front of B: pip installs only what
    // B's signed metadata lists.
    let proxy = Proxy::start(
        &b.url,
        &b_data.join("root.json"),
        &dir.path().join("proxy-cache"),
    );
    let site = dir.path().join("proxy-site");
    assert!(
        wait_until(Duration::from_secs(20), || pip_install(
            &proxy.url,
            &site,
            "shared-demo"
        )
        .status
        .success()),
        "pip never installed through the proxy; proxy log:\n{}",
        proxy.log()
    );
    assert_eq!(installed_version(&site, "shared_demo"), "1.0");
    let wheel1 = "shared_demo-1.0-py3-none-any.whl";
    // The publish interval is an hour: only the wake-up through the
    // database (an upload on B, published by A) can publish this in time.
    let v2 = make_dist(&dists.join("2"), "shared-demo", "2.0", &[]);
    let out = twine_upload(&b.url, &alice, &v2);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let wheel2 = "shared_demo-2.0-py3-none-any.whl";
    assert!(
        wait_until(Duration::from_secs(20), || verified(
            &b,
            "shared-demo",
            wheel1
        ) && verified(
            &b,
            "shared-demo",
            wheel2
        )),
        "python-tuf never verified both uploads through B; A's log:\n{}",
        a.log()
    );

    one_filename_on_both_servers_has_one_winner(&a, &b, &alice, &dists);

    // SIGKILL the publisher (A): B takes the lease over within seconds and
    // publishes what is uploaded to it; versions only grow.
    let before = timestamp_version(&b);
    a.kill();
    let v3 = make_dist(&dists.join("3"), "shared-demo", "3.0", &[]);
    let out = twine_upload(&b.url, &alice, &v3);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let wheel3 = "shared_demo-3.0-py3-none-any.whl";
    assert!(
        wait_until(Duration::from_secs(30), || verified(
            &b,
            "shared-demo",
            wheel3
        )),
        "B never published after A died; B's log:\n{}",
        b.log()
    );
    assert!(b.log().contains("this server now publishes"), "{}", b.log());
    assert!(timestamp_version(&b) > before);
    // Every acknowledged upload is published.
    for wheel in [wheel1, wheel2] {
        assert!(verified(&b, "shared-demo", wheel), "{wheel}");
    }
}

#[test]
fn a_server_refuses_unreachable_backends_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = bulwark()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--state", "postgres://nobody:s3cret@127.0.0.1:1/none"])
        .args(["--blobs", "s3://never-reached"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("state: cannot open"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let out = bulwark()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data2"))
        .args(["--blobs", "s3://no-such-bucket-here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("blobs: cannot open s3://no-such-bucket-here"),
        "{err}"
    );
}

/// Every blob file under `data`'s blobs/, with its bytes.
fn blob_tree(data: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![data.join("blobs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// `bulwark migrate` on `data` with `env`.
fn migrate(data: &Path, env: &[(&str, &str)]) -> std::process::Output {
    bulwark()
        .args(["migrate", "--data-dir"])
        .arg(data)
        .env_remove("BULWARK_STATE")
        .env_remove("BULWARK_BLOBS")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn an_embedded_index_moves_up_and_its_clients_keep_updating() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new("migrate");
    let data = dir.path().join("data");
    let mut embedded = Server::start_with_env(
        &data,
        &[
            ("BULWARK_KEY_PASSPHRASE", "shared"),
            ("BULWARK_PUBLISH_INTERVAL_SECS", "1"),
        ],
    );
    let alice = common::token(&data, "alice");
    let dists = dir.path().join("dist");
    let v1 = make_dist(&dists.join("1"), "moving-demo", "1.0", &[]);
    let out = twine_upload(&embedded.url, &alice, &v1);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // A long-lived python-tuf client: its trusted metadata stays in one
    // directory, from before the move to after it.
    let client = dir.path().join("client-metadata");
    let client_dir = client.to_str().unwrap();
    let verified_by_client = |server: &Server, filename: &str| {
        python_script("verify_index.py")
            .arg(data.join("root.json"))
            .arg(&server.url)
            .arg("moving-demo")
            .arg(filename)
            .env("VERIFY_METADATA_DIR", client_dir)
            .output()
            .unwrap()
            .status
            .success()
    };
    let wheel1 = "moving_demo-1.0-py3-none-any.whl";
    assert!(
        wait_until(Duration::from_secs(20), || verified_by_client(
            &embedded, wheel1
        )),
        "the embedded server never published; log:\n{}",
        embedded.log()
    );
    let version_before = timestamp_version(&embedded);

    // Not while a server runs on the data directory.
    let out = migrate(&data, &shared.with(&[]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a server is running on"),
        "{}",
        stderr(&out)
    );
    embedded.kill();
    let source_blobs = blob_tree(&data);
    let mut out = migrate(&data, &shared.with(&[]));
    // SIGKILL left the lease to run out (five seconds).
    assert!(wait_until(Duration::from_secs(20), || {
        out = migrate(&data, &shared.with(&[]));
        !stderr(&out).contains("a server is running on")
    }));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("read back and identical"), "{report}");
    assert!(report.contains("1 tokens"), "{report}");
    assert_eq!(
        blob_tree(&data),
        source_blobs,
        "the source's blobs are untouched"
    );
    // A second migration into the same database is refused.
    let out = migrate(&data, &shared.with(&[]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already holds an index"),
        "{}",
        stderr(&out)
    );

    // The same data directory (its keys) on the shared backends: alice's
    // token still works, the next publish continues the versions, and the
    // client updates from what it trusted before the move.
    let server = Server::start_with_env(&data, &shared.with(&[]));
    let v2 = make_dist(&dists.join("2"), "moving-demo", "2.0", &[]);
    let out = twine_upload(&server.url, &alice, &v2);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let wheel2 = "moving_demo-2.0-py3-none-any.whl";
    assert!(
        wait_until(Duration::from_secs(20), || verified_by_client(
            &server, wheel2
        )),
        "the long-lived client never verified the upload after the move; log:\n{}",
        server.log()
    );
    assert!(
        verified_by_client(&server, wheel1),
        "the file from before the move"
    );
    assert!(timestamp_version(&server) > version_before);
    let site = dir.path().join("site");
    let out = pip_install(&server.url, &site, "moving-demo==1.0");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "moving_demo"), "1.0");
}

#[test]
fn migrate_needs_both_shared_backends() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = migrate(&data, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("give both --state"), "{err}");
    assert!(!data.exists(), "nothing created");
}

#[test]
fn uploads_on_both_servers_while_the_publisher_is_killed_are_all_published() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new("storm");
    let (mut a, b) = two_servers(dir.path(), &shared);
    let alice = shared.token(&b.data, "alice");
    // Twelve wheels of one project, built before the storm.
    let dists = dir.path().join("dist");
    let wheels: Vec<String> = std::thread::scope(|s| {
        let builders: Vec<_> = (1..=12)
            .map(|v| {
                let out = dists.join(v.to_string());
                s.spawn(move || make_dist(&out, "storm-demo", &format!("{v}.0"), &[]))
            })
            .collect();
        builders
            .into_iter()
            .map(|b| {
                let files = b.join().unwrap();
                files
                    .into_iter()
                    .find(|f| Path::new(f).extension().is_some_and(|e| e == "whl"))
                    .unwrap()
            })
            .collect()
    });
    // Six go to A, six to B, at the same time; A (the publisher) is
    // SIGKILLed once two of its uploads are acknowledged, so some of its
    // uploads meet a dead server and are not acknowledged.
    let a_url = a.url.clone();
    let acked_on_a = std::sync::atomic::AtomicUsize::new(0);
    let acknowledged: Vec<String> = std::thread::scope(|s| {
        let to_a = s.spawn(|| {
            let mut acked = Vec::new();
            for wheel in &wheels[..6] {
                if curl_upload(&a_url, &alice, Path::new(wheel)).0 == "200" {
                    acked.push(wheel.clone());
                    acked_on_a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            acked
        });
        let to_b = s.spawn(|| {
            let mut acked = Vec::new();
            for wheel in &wheels[6..] {
                let (status, _) = curl_upload(&b.url, &alice, Path::new(wheel));
                assert_eq!(status, "200", "B acknowledges every upload");
                acked.push(wheel.clone());
            }
            acked
        });
        assert!(
            wait_until(Duration::from_mins(1), || acked_on_a
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 2),
            "A never acknowledged two uploads; log:\n{}",
            a.log()
        );
        a.kill();
        let mut acked = to_a.join().unwrap();
        acked.extend(to_b.join().unwrap());
        acked
    });
    assert!(acknowledged.len() >= 8, "{acknowledged:?}");
    let names: Vec<&str> = acknowledged
        .iter()
        .map(|w| Path::new(w).file_name().unwrap().to_str().unwrap())
        .collect();
    // B takes the lease over and publishes every acknowledged upload, A's
    // included: an acknowledged upload is in the database, whoever publishes.
    assert!(
        wait_until(Duration::from_secs(40), || verified_all(
            &b,
            "storm-demo",
            &names
        )),
        "not every acknowledged upload was published ({names:?}); B's log:\n{}",
        b.log()
    );
    assert!(b.log().contains("this server now publishes"), "{}", b.log());
}
