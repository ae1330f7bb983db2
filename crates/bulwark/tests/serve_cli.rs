//! `bulwark serve` and `bulwark token` refusing bad settings: each error
//! names the key or variable it came from, and the exit status is 1.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::{bulwark, stderr};

fn serve_error(args: &[&str], env: &[(&str, &str)], config: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bulwark();
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args);
    if let Some(text) = config {
        let path = dir.path().join("bulwark.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "serve should have refused: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing may be created on a bad config"
    );
    err
}

#[test]
fn bad_settings_name_their_key() {
    let err = serve_error(&[], &[], Some("listen = \"127.0.0.1:0\"\nbinbits = 3\n"));
    assert!(err.contains("unknown field `binbits`"), "{err}");
    let err = serve_error(&[], &[], Some("bin_bits = \"many\"\n"));
    assert!(
        err.contains("bin_bits") || err.contains("invalid type"),
        "{err}"
    );
    let err = serve_error(&[], &[], Some("bin_bits = 40\n"));
    assert!(err.contains("bin_bits: 40 is out of range"), "{err}");
    let err = serve_error(&[], &[("BULWARK_BIN_BITS", "abc")], None);
    assert!(
        err.contains("BULWARK_BIN_BITS: \"abc\" is not a valid value"),
        "{err}"
    );
    let err = serve_error(&["--listen", "nowhere"], &[], None);
    assert!(err.contains("--listen: \"nowhere\""), "{err}");
    let err = serve_error(&[], &[("BULWARK_LISTEN", "1.2.3.4")], None);
    assert!(err.contains("BULWARK_LISTEN"), "{err}");
    let err = serve_error(&[], &[], Some("listen = [1]\n"));
    assert!(err.contains("config file"), "{err}");
}

#[test]
fn a_start_that_cannot_listen_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let err = serve_error(&["--listen", &port], &[], None);
    assert!(err.contains(&format!("cannot listen on {port}")), "{err}");
}

#[test]
fn token_create_refuses_a_directory_that_holds_no_index() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("bulwark-dta");
    let out = bulwark()
        .args(["token", "create", "--data-dir"])
        .arg(&typo)
        .arg("alice")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} holds no index", typo.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no token may be printed");
    assert!(!typo.exists(), "nothing may be created");
}

#[test]
fn token_create_refuses_bad_user_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = bulwark()
        .args(["token", "create", "--data-dir"])
        .arg(dir.path())
        .arg("bad name")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("user names are"), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing but a token may go to stdout"
    );
}

#[test]
fn proxy_settings_come_from_flags_env_and_file_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    std::fs::write(
        &config,
        "upstream = \"http://127.0.0.1:9/\"\nfreshnes_secs = 3\n",
    )
    .unwrap();
    let out = bulwark()
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown field `freshnes_secs`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &config,
        "upstream = \"ftp://example.org/\"\nroot = \"r.json\"\n",
    )
    .unwrap();
    let out = bulwark()
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("upstream: \"ftp://example.org/\" is not an http"),
        "{}",
        stderr(&out)
    );
    let out = bulwark()
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .env("BULWARK_PROXY_UPSTREAM", "http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("cannot read the trusted root r.json"),
        "env beats the file: {}",
        stderr(&out)
    );
    let out = bulwark()
        .args(["proxy", "--upstream", "http://127.0.0.1:9/"])
        .env_remove("BULWARK_PROXY_ROOT")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("--root (or BULWARK_PROXY_ROOT) is required"),
        "{}",
        stderr(&out)
    );
}

/// A text log that is not a terminal (here a file, as under systemd or
/// docker) carries no colour codes (by default such a log is JSON lines:
/// `serve_e2e`); the landing page gives commands to paste, with the index's
/// own URL.
#[test]
fn logs_are_plain_text_and_the_landing_page_is_pasteable() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::Server::start_with_env(&dir.path().join("data"), &[("BULWARK_LOG_FORMAT", "text")]);
    let out = common::run_ok(
        std::process::Command::new("curl")
            .args(["-sSf"])
            .arg(format!("{}/", server.url)),
    );
    let page = common::stdout(&out);
    let url = server.url.trim_end_matches('/');
    assert!(
        page.contains(&format!("pip install --index-url {url}/simple/ NAME")),
        "{page}"
    );
    assert!(
        page.contains(&format!("--repository-url {url}/legacy/")),
        "{page}"
    );
    let log = server.log();
    assert!(log.contains(" INFO "), "{log}");
    assert!(!log.starts_with('{'), "asked for text, got JSON: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
}
