//! `bulwark serve` as a process with the real clients: twine uploads, pip
//! and uv install (plain index, no TUF), yanking, `.metadata` files, and
//! python-tuf and `bulwark tuf-client` verifying the published pages.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    Server, bulwark, installed_version, make_dist, pip_install, python_script, run_ok, stderr,
    stdout, token, twine_upload, venv_bin, wait_until,
};

fn verified_by_python_tuf(server: &Server, project: &str, filename: &str) -> Option<String> {
    let out = python_script("verify_index.py")
        .arg(server.data.join("root.json"))
        .arg(&server.url)
        .arg(project)
        .arg(filename)
        .output()
        .unwrap();
    out.status.success().then(|| stdout(&out))
}

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn twine_upload_then_pip_and_uv_install_and_tuf_verification() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let dists = dir.path().join("dist");
    let v1 = make_dist(&dists.join("1"), "Demo_Pkg", "1.0", &[]);
    let v2 = make_dist(&dists.join("2"), "Demo_Pkg", "2.0", &[]);

    // twine: upload, identical re-upload, and refusals.
    let out = twine_upload(&server.url, &alice, &v1);
    assert!(
        out.status.success(),
        "twine upload failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = twine_upload(&server.url, &alice, &v1);
    assert!(
        out.status.success(),
        "identical re-upload must succeed: {}",
        stderr(&out)
    );
    let out = twine_upload(&server.url, &alice, &v2);
    assert!(out.status.success(), "{}", stderr(&out));
    let mallory = token(&data, "mallory");
    let out = twine_upload(
        &server.url,
        &mallory,
        &make_dist(&dists.join("m"), "demo-pkg", "3.0", &[]),
    );
    assert!(
        !out.status.success(),
        "another user must not upload to alice's project"
    );
    assert!(
        stdout(&out).contains("403") || stderr(&out).contains("403"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = twine_upload(
        &server.url,
        "bwk_0000_bad",
        &make_dist(&dists.join("x"), "other", "1.0", &[]),
    );
    assert!(!out.status.success());

    // pip and uv install the newest version, pip using the .metadata file.
    let site = dir.path().join("site-pip");
    let out = pip_install(&server.url, &site, "demo-pkg");
    assert!(
        out.status.success(),
        "pip install failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(installed_version(&site, "demo_pkg"), "2.0");
    assert!(
        server.log().contains(".whl.metadata"),
        "pip did not fetch the PEP 658 metadata file:\n{}",
        server.log()
    );
    let uv_site = dir.path().join("site-uv");
    let out = Command::new(venv_bin("uv"))
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv_bin("python"))
        .arg("--target")
        .arg(&uv_site)
        .arg("--index-url")
        .arg(format!("{}/simple/", server.url))
        .arg("demo-pkg==1.0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "uv pip install failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(installed_version(&uv_site, "demo_pkg"), "1.0");

    // Yank 2.0: pip now picks 1.0; un-yank: 2.0 again.
    let yank = |action: &str| {
        let mut cmd = bulwark();
        cmd.arg(action)
            .arg("--index")
            .arg(&server.url)
            .env("BULWARK_TOKEN", &alice);
        if action == "yank" {
            cmd.args(["--reason", "broken build"]);
        }
        run_ok(cmd.args(["demo-pkg", "2.0"]))
    };
    let out = bulwark()
        .args(["yank", "--index"])
        .arg(&server.url)
        .args(["--token", &mallory, "demo-pkg", "2.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "only the owner may yank");
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    yank("yank");
    let site = dir.path().join("site-yanked");
    let out = pip_install(&server.url, &site, "demo-pkg");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    yank("unyank");
    let site = dir.path().join("site-unyanked");
    assert!(pip_install(&server.url, &site, "demo-pkg").status.success());
    assert_eq!(installed_version(&site, "demo_pkg"), "2.0");

    // python-tuf, trusting only root.json, verifies the signed page and the
    // distribution's hash through it once the publisher has caught up.
    let wheel = "demo_pkg-2.0-py3-none-any.whl";
    assert!(
        wait_until(Duration::from_secs(20), || verified_by_python_tuf(
            &server, "demo-pkg", wheel
        )
        .is_some()),
        "python-tuf never verified {wheel}; log:\n{}",
        server.log()
    );
    let entry = verified_by_python_tuf(&server, "demo-pkg", wheel).unwrap();
    assert!(entry.contains("\"yanked\": false"), "{entry}");

    // Our own client verifies the same page.
    let meta = dir.path().join("tuf-meta");
    let targets = dir.path().join("tuf-targets");
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir"])
            .arg(&meta)
            .arg("init")
            .arg(data.join("root.json")),
    );
    run_ok(
        bulwark()
            .args(["tuf-client", "--metadata-dir"])
            .arg(&meta)
            .arg("--metadata-url")
            .arg(format!("{}/tuf/metadata/", server.url))
            .args([
                "--target-name",
                "simple/demo-pkg/index.json",
                "--target-base-url",
            ])
            .arg(format!("{}/tuf/targets/", server.url))
            .arg("--target-dir")
            .arg(&targets)
            .arg("download"),
    );
    let page = std::fs::read_to_string(targets.join("simple%2Fdemo-pkg%2Findex.json")).unwrap();
    assert!(page.contains(wheel), "{page}");
}

#[test]
fn import_publishes_a_pypiserver_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let packages = dir.path().join("packages");
    // pypiserver accepts a flat directory and one subdirectory per project.
    make_dist(&packages, "flat-one", "1.0", &[]);
    make_dist(&packages.join("nested"), "nested-two", "0.3", &[]);
    std::fs::write(packages.join("broken-1.0.tar.gz"), b"not an archive").unwrap();
    // Formats the index does not accept are reported, not silently passed over.
    std::fs::write(packages.join("old-1.0-py2.7.egg"), b"egg").unwrap();
    std::fs::write(packages.join("nested/old-1.0.tar.bz2"), b"bz2").unwrap();
    std::fs::write(packages.join("README.txt"), b"hello").unwrap();
    // Creating the repository first lets import sign right away.
    drop(Server::start(&data));
    let out = import_as_ops(&data, &packages);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused file makes the import fail: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("imported 4 files (0 already present, 1 refused)"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("broken-1.0.tar.gz"), "{err}");
    assert!(
        err.contains("old-1.0-py2.7.egg: eggs are not accepted"),
        "{err}"
    );
    assert!(
        err.contains("old-1.0.tar.bz2: sdists must be .tar.gz"),
        "{err}"
    );
    let out_text = stdout(&out);
    assert!(
        out_text.contains(
            "skipped 2 files in formats the index does not accept (listed above) and 1 other files"
        ),
        "{out_text}"
    );
    assert!(out_text.contains("belong to ops"), "{out_text}");
    // Who owns the projects is never a silent default.
    let out = bulwark()
        .args(["import", "--data-dir"])
        .arg(&data)
        .arg(&packages)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--user <USER>"), "{}", stderr(&out));
    let out = import_as_ops(&data, packages.join("nested"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 0 files (2 already present, 0 refused)"),
        "{}",
        stdout(&out)
    );

    let server = Server::start(&data);
    assert!(
        verified_by_python_tuf(&server, "nested-two", "nested_two-0.3-py3-none-any.whl").is_some(),
        "{}",
        server.log()
    );
    let site = dir.path().join("site");
    let out = pip_install(&server.url, &site, "flat-one");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "flat_one"), "1.0");
}

/// `bulwark import` beside a running server takes the publisher lease
/// under a name of its own, so it never publishes at the same time as the
/// server: it says so and leaves the publishing to the server.
#[test]
fn import_beside_a_running_server_leaves_publishing_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let packages = dir.path().join("packages");
    make_dist(&packages, "beside-one", "1.0", &[]);
    let server = Server::start_with_env(&data, &[("BULWARK_PUBLISH_INTERVAL_SECS", "1")]);
    let out = import_as_ops(&data, &packages);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("a server is publishing from this data directory"),
        "{text}"
    );
    assert!(!text.contains("published version"), "{text}");
    assert!(
        wait_until(Duration::from_secs(20), || verified_by_python_tuf(
            &server,
            "beside-one",
            "beside_one-1.0-py3-none-any.whl"
        )
        .is_some()),
        "{}",
        server.log()
    );
}

/// A server stopped by SIGTERM releases the publisher lease: an import
/// right after it publishes at once instead of waiting for the lease to
/// expire.
#[test]
fn a_stopped_server_releases_the_publisher_lease() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let packages = dir.path().join("packages");
    make_dist(&packages, "after-stop", "1.0", &[]);
    let mut server = Server::start(&data);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = server.child.wait().unwrap();
    assert!(exited.success(), "{exited:?}\n{}", server.log());
    assert!(
        server.log().contains("released the publisher lease"),
        "{}",
        server.log()
    );
    let started = std::time::Instant::now();
    let out = import_as_ops(&data, &packages);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("published version"),
        "{}",
        stdout(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the import waited for the lease to expire"
    );
}

/// `bulwark import --user ops` of `packages` into `data`.
fn import_as_ops(data: &Path, packages: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    bulwark()
        .args(["import", "--data-dir"])
        .arg(data)
        .args(["--user", "ops"])
        .arg(packages)
        .output()
        .unwrap()
}

/// GETs `url` with curl and parses the body as JSON.
fn get_json(url: &str) -> bulwark_tuf::json::Value {
    let out = run_ok(Command::new("curl").args(["-sSf", url]));
    bulwark_tuf::json::parse(&out.stdout).unwrap()
}

fn object(
    value: &bulwark_tuf::json::Value,
) -> &std::collections::BTreeMap<String, bulwark_tuf::json::Value> {
    match value {
        bulwark_tuf::json::Value::Object(object) => object,
        other => panic!("not an object: {other:?}"),
    }
}

fn array(value: &bulwark_tuf::json::Value) -> &[bulwark_tuf::json::Value] {
    match value {
        bulwark_tuf::json::Value::Array(array) => array,
        other => panic!("not an array: {other:?}"),
    }
}

fn text(value: &bulwark_tuf::json::Value) -> &str {
    match value {
        bulwark_tuf::json::Value::String(text) => text,
        other => panic!("not a string: {other:?}"),
    }
}

/// `PyPI`'s JSON API over twine uploads and a yank: the latest release is
/// the one not yanked, `1.0`-style versions find `1.0.0`-style releases,
/// every file is the simple page's (same yanks) and downloads with the
/// digest given.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn json_api_lists_what_the_simple_page_lists() {
    use bulwark_tuf::json::Value;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    let dists = dir.path().join("dist");
    for (version, requires) in [("1.0", &[][..]), ("2.0", &["requests>=2"][..])] {
        let files = make_dist(&dists.join(version), "Demo_Pkg", version, requires);
        let out = twine_upload(&server.url, &alice, &files);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    run_ok(
        bulwark()
            .args(["yank", "--index", &server.url, "--reason", "broken build"])
            .args(["demo-pkg", "2.0"])
            .env("BULWARK_TOKEN", &alice),
    );

    let status = |path: &str| common::http_status(&format!("{}{path}", server.url));
    assert_eq!(status("/pypi/Demo_Pkg/json"), "301");
    assert_eq!(status("/pypi/Demo_Pkg/2.0/json"), "301");
    assert_eq!(status("/pypi/nothing/json"), "404");
    assert_eq!(status("/pypi/demo-pkg/3.0/json"), "404");
    let out = Command::new("curl")
        .arg("-s")
        .arg(format!("{}/pypi/demo-pkg/3.0/json", server.url))
        .output()
        .unwrap();
    assert_eq!(stdout(&out), r#"{"message":"Not Found"}"#);

    let project = get_json(&format!("{}/pypi/demo-pkg/json", server.url));
    let top = object(&project);
    let info = object(&top["info"]);
    assert_eq!(text(&info["name"]), "Demo_Pkg");
    assert_eq!(text(&info["version"]), "1.0", "2.0 is yanked");
    assert_eq!(text(&info["summary"]), "test package Demo_Pkg");
    assert_eq!(info["yanked"], Value::Bool(false));
    assert_eq!(top["vulnerabilities"], Value::Array(Vec::new()));
    let releases = object(&top["releases"]);
    assert_eq!(releases.keys().collect::<Vec<_>>(), ["1.0", "2.0"]);
    assert_eq!(top["urls"], releases["1.0"]);

    // Exactly the simple page's files and yanks, and each downloads with
    // the digest given.
    let page =
        bulwark_pypi::ProjectPage::parse_json(&common::json_page(&server, "demo-pkg")).unwrap();
    let mut listed = Vec::new();
    for file in releases.values().flat_map(array) {
        let file = object(file);
        let filename = text(&file["filename"]);
        let on_page = page
            .files
            .iter()
            .find(|f| f.filename.as_str() == filename)
            .unwrap();
        assert_eq!(
            file["yanked"],
            Value::Bool(on_page.yanked.is_some()),
            "{filename}"
        );
        let digests = object(&file["digests"]);
        assert!(!digests.contains_key("md5"));
        assert_eq!(text(&digests["sha256"]), on_page.sha256);
        let url = text(&file["url"]);
        assert!(url.starts_with(&format!("{}/files/", server.url)), "{url}");
        let bytes = run_ok(Command::new("curl").args(["-sSf", url])).stdout;
        assert_eq!(
            bulwark_tuf::hash::sha256_hex(&bytes),
            text(&digests["sha256"]),
            "{url}"
        );
        let wheel = std::path::Path::new(filename)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("whl"));
        assert_eq!(
            text(&file["packagetype"]),
            if wheel { "bdist_wheel" } else { "sdist" }
        );
        assert_eq!(
            text(&file["python_version"]),
            if wheel { "py3" } else { "source" }
        );
        listed.push(filename.to_owned());
    }
    listed.sort();
    let mut expected: Vec<_> = page
        .files
        .iter()
        .map(|f| f.filename.as_str().to_owned())
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 4);

    // One release, found by PEP 440 equality (`2` is `2.0`), with its metadata.
    let release = get_json(&format!("{}/pypi/demo-pkg/2/json", server.url));
    let top = object(&release);
    assert!(!top.contains_key("releases"));
    let info = object(&top["info"]);
    assert_eq!(text(&info["version"]), "2.0");
    assert_eq!(info["yanked"], Value::Bool(true));
    assert_eq!(text(&info["yanked_reason"]), "broken build");
    assert_eq!(
        info["requires_dist"],
        Value::Array(vec![Value::from("requests>=2")])
    );
    assert_eq!(array(&top["urls"]).len(), 2);
    for file in array(&top["urls"]) {
        assert_eq!(object(file)["yanked_reason"], Value::from("broken build"));
    }
}

/// The value of the sample `series` in Prometheus text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn metrics_on_their_own_listener_and_json_logs_with_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_METRICS_LISTEN", "127.0.0.1:0")]);
    let alice = token(&data, "alice");
    let files = make_dist(&dir.path().join("dist"), "Demo_Pkg", "1.0", &[]);
    let out = twine_upload(&server.url, &alice, &files);
    assert!(out.status.success(), "{}", stderr(&out));
    let wrong = format!("{alice}x");
    let out = twine_upload(&server.url, &wrong, &files);
    assert!(!out.status.success());

    // Every log line is a JSON object (the log is a file, not a terminal).
    let lines = |log: &str| -> Vec<bulwark_tuf::json::Value> {
        log.lines()
            .map(|line| {
                bulwark_tuf::json::parse(line.as_bytes())
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    };
    let log = server.log();
    let metrics_at = lines(&log)
        .iter()
        .find_map(|line| {
            let bulwark_tuf::json::Value::Object(fields) = &object(line)["fields"] else {
                return None;
            };
            match fields.get("address") {
                Some(bulwark_tuf::json::Value::String(address)) => Some(address.clone()),
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"));
    let metrics_url = format!("http://{metrics_at}");
    assert_eq!(
        common::http_status(&format!("{}/metrics", server.url)),
        "404",
        "/metrics has a listener of its own"
    );
    for path in ["/healthz", "/readyz"] {
        assert_eq!(common::http_status(&format!("{}{path}", server.url)), "200");
        assert_eq!(common::http_status(&format!("{metrics_url}{path}")), "200");
    }
    let published = wait_until(Duration::from_secs(30), || {
        let text = stdout(&run_ok(
            Command::new("curl").args(["-sSf", &format!("{metrics_url}/metrics")]),
        ));
        sample(&text, "bulwark_upload_to_published_seconds_count") == Some(2.0)
    });
    let text = stdout(&run_ok(
        Command::new("curl").args(["-sSf", &format!("{metrics_url}/metrics")]),
    ));
    assert!(published, "{text}");
    for (series, value) in [
        (r#"bulwark_uploads_total{outcome="accepted"}"#, 2.0),
        (r#"bulwark_uploads_total{outcome="forbidden"}"#, 1.0),
        ("bulwark_publish_queue_projects", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }

    // A request's id comes back in X-Request-Id and is on its log lines.
    let out = run_ok(Command::new("curl").args([
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "X-Request-Id: e2e-request-7",
        &format!("{}/simple/demo-pkg/", server.url),
    ]));
    assert!(
        stdout(&out)
            .to_ascii_lowercase()
            .contains("x-request-id: e2e-request-7"),
        "{}",
        stdout(&out)
    );
    let logged = wait_until(Duration::from_secs(5), || {
        lines(&server.log()).iter().any(|line| {
            let top = object(line);
            matches!(&top.get("span"), Some(bulwark_tuf::json::Value::Object(span))
                if span.get("id") == Some(&bulwark_tuf::json::Value::String("e2e-request-7".to_owned())))
        })
    });
    assert!(logged, "{}", server.log());
    let log = server.log();
    assert!(!log.contains(&alice[4..]), "a token is in the log");
}
