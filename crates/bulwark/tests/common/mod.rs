//! Helpers shared by the process-level tests: the `bulwark` binary, the
//! Python venv with the real peers (python-tuf, pip, uv, twine), and a
//! `bulwark serve` process on a free loopback port.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bulwark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The venv holding the Python peers, created by scripts/python-env.
pub fn venv() -> PathBuf {
    let status = Command::new(repo_root().join("scripts/python-env"))
        .status()
        .expect("cannot run scripts/python-env");
    assert!(status.success(), "scripts/python-env failed");
    std::env::var_os("BULWARK_VENV").map_or_else(|| repo_root().join("target/venv"), PathBuf::from)
}

/// A program of the venv (`python`, `pip`, `uv`, `twine`).
pub fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// A script of tests/python run with the venv's python.
pub fn python_script(script: &str) -> Command {
    let mut cmd = Command::new(venv_bin("python"));
    cmd.arg(repo_root().join("tests/python").join(script));
    cmd
}

/// Polls `check` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// A running `bulwark serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Starts `bulwark serve` on `data` and waits for its banner.
    pub fn start(data: &Path) -> Self {
        Self::start_with_env(data, &[])
    }

    /// Like [`Server::start`], with extra environment variables (e.g.
    /// `BULWARK_ONLINE_KEY` and the key's `BULWARK_KEY_PASSPHRASE`).
    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Self {
        let log = data.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = bulwark()
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .env("BULWARK_LOG", "info,bulwark_server=debug")
            .env_remove("BULWARK_KEY_PASSPHRASE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("cannot start bulwark serve");
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        // Keep draining stdout so that the server never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "unexpected banner {first:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .trim_end_matches('/')
            .to_owned();
        Self {
            child,
            url,
            data: data.to_owned(),
            log,
        }
    }

    /// Starts `bulwark serve --mirror DIR` (read-only) and waits for its
    /// banner; `data` is the mirror directory.
    pub fn start_mirror(dir: &Path) -> Self {
        let log = dir.with_extension("serve.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = bulwark()
            .arg("serve")
            .arg("--mirror")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("BULWARK_LOG", "info,bulwark_mirror=debug")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("cannot start bulwark serve --mirror");
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "unexpected banner {first:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .trim_end_matches('/')
            .to_owned();
        Self {
            child,
            url,
            data: dir.to_owned(),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `bulwark proxy`.
/// A running `bulwark proxy`.
pub struct Proxy {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
    /// Whether `child` leads a process group of its own (a wrapper).
    group: bool,
}

impl Proxy {
    /// Starts `bulwark proxy` for `upstream`, trusting `root`, with
    /// `--freshness-secs 0` so that every page request re-reads metadata.
    pub fn start(upstream: &str, root: &Path, cache: &Path) -> Self {
        Self::start_with(upstream, root, cache, &[], &[])
    }

    /// Starts `bulwark proxy` through `wrapper` (e.g. `faketime -f +3d`),
    /// with extra environment variables.
    pub fn start_with(
        upstream: &str,
        root: &Path,
        cache: &Path,
        wrapper: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log = cache.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = match wrapper {
            [] => bulwark(),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_bulwark"));
                // faketime runs the proxy as its child: a group of their
                // own lets Drop end both.
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
                command
            }
        };
        let mut child = command
            .args(["proxy", "--upstream", upstream, "--root"])
            .arg(root)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--freshness-secs",
                "0",
                "--cache-dir",
            ])
            .arg(cache)
            .env("BULWARK_LOG", "info,bulwark_proxy=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bulwark proxy through {wrapper:?}: {e}"));
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "unexpected banner {first:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .trim_end_matches('/')
            .to_owned();
        Self {
            child,
            url,
            log,
            group: !wrapper.is_empty(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
