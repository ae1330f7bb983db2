//! The `bulwark tuf-client` command as a process: exit statuses, its error
//! lines, the system clock as libfaketime shifts it, and interoperability
//! with python-tuf on repositories python-tuf generated.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::{bulwark, python_script, stderr};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("cannot start bulwark")
}

/// Every argument error, of `tuf-client` as of every other command, is one
/// line on stderr (the client protocol's promise) and exit status 1; clap's
/// usage text is not printed.
#[test]
fn bad_arguments_are_one_line_and_exit_1_never_2() {
    for (args, hint) in [
        (&["tuf-client"][..], "bulwark tuf-client"),
        (&["tuf-client", "--metadata-dir"], "bulwark tuf-client"),
        (
            &["tuf-client", "--metadata-dir", "/tmp/x", "frobnicate"],
            "bulwark tuf-client",
        ),
        (
            &[
                "tuf-client",
                "--metadata-dir",
                "/tmp/x",
                "--bogus",
                "refresh",
            ],
            "bulwark tuf-client refresh",
        ),
        (
            &["tuf-client", "--metadat-dir", "/tmp/x", "refresh"],
            "bulwark tuf-client refresh",
        ),
        (
            &["tuf-client", "--metadata-dir", "/tmp/x", "init"],
            "bulwark tuf-client init",
        ),
        (
            &["tuf-client", "--metadata-dir", "/tmp/x", "init", "a", "b"],
            "bulwark tuf-client init",
        ),
        (
            &["tuf-client", "refresh", "-x"],
            "bulwark tuf-client refresh",
        ),
        (&["no-such-command"], "bulwark"),
        (&[], "bulwark"),
        (&["mirror", "sync"], "bulwark mirror sync"),
        (&["proxy", "--freshness-secs", "soon"], "bulwark proxy"),
        (&["ceremony"], "bulwark ceremony"),
    ] {
        let out = run(bulwark().args(args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.trim_end().ends_with(&format!("; try '{hint} --help'")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = run(bulwark().args(["tuf-client", "--metadat-dir", "/tmp/x", "refresh"]));
    assert!(
        stderr(&out).contains("a similar argument exists: '--metadata-dir'"),
        "clap's tip is kept: {}",
        stderr(&out)
    );
    let out = run(bulwark().args(["mirror", "sync"]));
    assert!(
        stderr(&out).contains("--upstream <UPSTREAM> --root <ROOT> --dest <DEST>"),
        "every missing argument is named: {}",
        stderr(&out)
    );
    for args in [
        &["tuf-client", "--help"][..],
        &["--help"],
        &["--version"],
        &["help", "proxy"],
    ] {
        let out = run(bulwark().args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn missing_required_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(bulwark()
        .arg("tuf-client")
        .arg("--metadata-dir")
        .arg(dir.path())
        .arg("refresh"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: --metadata-url is required for this command"
    );
    let out = run(bulwark().args([
        "tuf-client",
        "refresh",
        "--metadata-url",
        "http://127.0.0.1:9/",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: --metadata-dir is required for this command"
    );
}

#[test]
fn init_refuses_a_bad_root_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta");
    let bad = dir.path().join("root.json");
    fs::write(&bad, br#"{"signed": {"_type": "root"}, "signatures": []}"#).unwrap();
    let out = run(bulwark()
        .arg("tuf-client")
        .arg("--metadata-dir")
        .arg(&meta)
        .arg("init")
        .arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("signed.spec_version: missing"), "{err}");
    assert!(!meta.join("root.json").exists());

    let dup = dir.path().join("dup.json");
    fs::write(&dup, br#"{"signed": {}, "signed": {}, "signatures": []}"#).unwrap();
    let out = run(bulwark()
        .arg("tuf-client")
        .arg("--metadata-dir")
        .arg(&meta)
        .arg("init")
        .arg(&dup));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("duplicate object key \"signed\""),
        "{}",
        stderr(&out)
    );

    let out = run(bulwark()
        .arg("tuf-client")
        .arg("--metadata-dir")
        .arg(&meta)
        .arg("init")
        .arg(dir.path().join("absent")));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"));
}

/// `bulwark` with at most 1 GiB of address space, so that a command that
/// reads a file whole fails fast instead of eating the machine.
fn capped_bulwark() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_bulwark"));
    cmd
}

/// A trusted root given on the command line is read as a downloaded root
/// is: at most 512 KiB (`Limits::default().root`), never whole, by every
/// command that takes one.
#[test]
fn trusted_root_files_are_capped_like_downloaded_roots() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    fs::write(&big, vec![b' '; 512 * 1024 + 1]).unwrap();
    let (meta, cache, mirror) = (
        dir.path().join("meta"),
        dir.path().join("cache"),
        dir.path().join("mirror"),
    );
    for root in [Path::new("/dev/zero"), &big] {
        let mut tuf_client = capped_bulwark();
        tuf_client
            .arg("tuf-client")
            .arg("--metadata-dir")
            .arg(&meta)
            .arg("init")
            .arg(root);
        let mut proxy = capped_bulwark();
        proxy
            .args(["proxy", "--upstream", "http://127.0.0.1:9/", "--cache-dir"])
            .arg(&cache)
            .arg("--root")
            .arg(root);
        let mut sync = capped_bulwark();
        sync.args([
            "mirror",
            "sync",
            "--upstream",
            "http://127.0.0.1:9/",
            "--dest",
        ])
        .arg(&mirror)
        .arg("--root")
        .arg(root);
        for mut cmd in [tuf_client, proxy, sync] {
            let out = run(&mut cmd);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
            assert_eq!(
                err.trim_end(),
                format!(
                    "error: the trusted root {} is larger than 512 KiB, the cap on root metadata",
                    root.display()
                ),
                "{cmd:?}"
            );
        }
    }
    assert!(!meta.join("root.json").exists());
}

#[test]
fn refresh_without_init_names_the_missing_root() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(bulwark()
        .arg("tuf-client")
        .arg("--metadata-dir")
        .arg(dir.path())
        .args(["--metadata-url", "http://127.0.0.1:9/", "refresh"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no trusted root.json"),
        "{}",
        stderr(&out)
    );
}

/// Python repositories generated by python-tuf (`tests/python/make_repos.py`),
/// served by tests/python/serve.py on loopback.
struct PythonRepos {
    _dir: tempfile::TempDir,
    repos: PathBuf,
    url: String,
    server: Child,
}

impl Drop for PythonRepos {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn python_repos() -> PythonRepos {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let status = python_script("make_repos.py")
        .arg(&repos)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "make_repos.py failed");
    let mut server = python_script("serve.py")
        .arg(&repos)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "serve.py printed {url:?}"
    );
    PythonRepos {
        _dir: dir,
        repos,
        url,
        server,
    }
}

/// Both clients, run by `tests/python/check_python_client.py` with identical
/// arguments against the same python-tuf repositories (every key type,
/// delegations, succinct hashed bins, and invalid repositories), must agree
/// with each repository's expectations — and so with each other.
#[test]
fn bulwark_and_python_tuf_agree_on_python_tuf_repositories() {
    let repos = python_repos();
    let check = |client: Option<String>| {
        let mut cmd = python_script("check_python_client.py");
        cmd.arg(&repos.repos).arg(&repos.url);
        if let Some(client) = client {
            cmd.arg("--client").arg(client);
        }
        let out = cmd.output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{report}\n{}", stderr(&out));
        report.lines().last().unwrap_or_default().to_owned()
    };
    let python_tuf = check(None);
    let ours = check(Some(format!(
        "{} tuf-client",
        env!("CARGO_BIN_EXE_bulwark")
    )));
    assert!(python_tuf.ends_with(" passed, 0 failed"), "{python_tuf}");
    assert_eq!(ours, python_tuf);
}

/// The client reads the time from the system clock through glibc, so
/// libfaketime can move it: 60 days on, the 30-day timestamp has expired.
#[test]
fn honours_the_clock_as_libfaketime_sets_it() {
    let faketime = Path::new("/usr/bin/faketime");
    assert!(
        faketime.exists(),
        "faketime is not installed (scripts/test installs it)"
    );
    let repos = python_repos();
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta");
    let url = format!("{}/ed25519-basic/metadata/", repos.url);
    let root = repos.repos.join("ed25519-basic/initial_root.json");
    let client = |prefix: &[&str], args: &[&str]| {
        let mut cmd = if prefix.is_empty() {
            bulwark()
        } else {
            let mut cmd = Command::new(faketime);
            cmd.args(prefix).arg(env!("CARGO_BIN_EXE_bulwark"));
            cmd
        };
        cmd.arg("tuf-client")
            .arg("--metadata-dir")
            .arg(&meta)
            .args(args);
        run(&mut cmd)
    };
    let out = client(&[], &["init", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = client(&["-f", "+60d"], &["--metadata-url", &url, "refresh"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("expired"), "{err}");
    assert_eq!(
        fs::read_dir(&meta).unwrap().count(),
        1,
        "only root.json may be stored after a refused refresh"
    );
    let out = client(&[], &["--metadata-url", &url, "refresh"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut names: Vec<_> = fs::read_dir(&meta)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "root.json",
            "snapshot.json",
            "targets.json",
            "timestamp.json"
        ]
    );
}
