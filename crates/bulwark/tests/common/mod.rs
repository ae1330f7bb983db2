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

/// Reads the first line a `bulwark serve`/`proxy` process prints and
/// returns the URL in it (without a trailing slash); keeps draining stdout
/// so that the process never writes to a closed pipe.
pub fn banner_url(child: &mut Child, log: &Path) -> String {
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            panic!(
                "unexpected banner {first:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .trim_end_matches('/')
        .to_owned()
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
        Self::start_command(bulwark(), data, env)
    }

    /// Like [`Server::start_with_env`], with at most `files` open files
    /// (soft and hard limit, set by `prlimit`).
    pub fn start_with_file_limit(data: &Path, env: &[(&str, &str)], files: u64) -> Self {
        let mut prlimit = Command::new("prlimit");
        prlimit
            .arg(format!("--nofile={files}:{files}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_bulwark"));
        Self::start_command(prlimit, data, env)
    }

    fn start_command(mut command: Command, data: &Path, env: &[(&str, &str)]) -> Self {
        let log = data.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "BULWARK_LOG",
                "info,bulwark_server=debug,bulwark_http=debug",
            )
            .env_remove("BULWARK_KEY_PASSPHRASE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("cannot start bulwark serve");
        let url = banner_url(&mut child, &log);
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
            .env(
                "BULWARK_LOG",
                "info,bulwark_mirror=debug,bulwark_http=debug",
            )
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("cannot start bulwark serve --mirror");
        let url = banner_url(&mut child, &log);
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
        Self::spawn(upstream, root, cache, "127.0.0.1:0", wrapper, env)
    }

    /// Starts `bulwark proxy` listening on `listen` (`host:port`), e.g. the
    /// address of a proxy that was stopped, whose URLs a lock file holds.
    pub fn start_on(upstream: &str, root: &Path, cache: &Path, listen: &str) -> Self {
        Self::spawn(upstream, root, cache, listen, &[], &[])
    }

    fn spawn(
        upstream: &str,
        root: &Path,
        cache: &Path,
        listen: &str,
        wrapper: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log = cache.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        // faketime runs the proxy as its child: a group of their own lets
        // Drop end both.
        let mut child = wrapped(wrapper)
            .args(proxy_args(upstream, root, listen))
            .arg("--cache-dir")
            .arg(cache)
            .env("BULWARK_LOG", "info,bulwark_proxy=debug,bulwark_http=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bulwark proxy through {wrapper:?}: {e}"));
        let url = banner_url(&mut child, &log);
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

/// The arguments of `bulwark proxy` for `upstream` and `root`, listening on
/// `listen` (`127.0.0.1:0`: a free port), with `--freshness-secs 0`.
fn proxy_args(upstream: &str, root: &Path, listen: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["proxy", "--upstream", upstream, "--root"]
        .map(Into::into)
        .into();
    args.push(root.into());
    args.extend(["--listen", listen, "--freshness-secs", "0"].map(Into::into));
    args
}

/// `bulwark`, or `bulwark` run by `wrapper` (e.g. `faketime -f +3d`) in a
/// process group of its own, so that killing the group ends both.
fn wrapped(wrapper: &[&str]) -> Command {
    match wrapper {
        [] => bulwark(),
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg(env!("CARGO_BIN_EXE_bulwark"));
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command
        }
    }
}

/// Kills the process group `child` leads.
fn kill_group(child: &Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
}

/// Runs `bulwark proxy` for `upstream` and `root` with `extra` arguments,
/// through `wrapper` (see [`Proxy::start_with`]), expecting it to refuse to
/// start: its output once it exits, or a panic if it is still running
/// after 30 seconds.
pub fn proxy_refuses_to_start(
    upstream: &str,
    root: &Path,
    extra: &[&std::ffi::OsStr],
    wrapper: &[&str],
) -> Output {
    let mut child = wrapped(wrapper)
        .args(proxy_args(upstream, root, "127.0.0.1:0"))
        .args(extra)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start bulwark proxy");
    let exited = wait_until(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        kill_group(&child);
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        exited && !out.status.success(),
        "bulwark proxy started:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.group {
            kill_group(&self.child);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates an API token for `user` in the data directory `data`.
pub fn token(data: &Path, user: &str) -> String {
    let out = run_ok(
        bulwark()
            .args(["token", "create", "--data-dir"])
            .arg(data)
            .arg(user),
    );
    let token = stdout(&out).trim().to_owned();
    assert!(
        token.starts_with("bwk_") && !token.contains('\n'),
        "{token:?}"
    );
    token
}

/// Builds a wheel and an sdist of `name` `version`, depending on
/// `requires`, into `out` (`tests/python/make_dist.py`); returns their paths.
pub fn make_dist(out: &Path, name: &str, version: &str, requires: &[&str]) -> Vec<String> {
    let mut make = python_script("make_dist.py");
    make.arg(out).arg(name).arg(version);
    for requirement in requires {
        make.args(["--requires", requirement]);
    }
    stdout(&run_ok(&mut make))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `twine upload` of `files` to the index at `url` with `token`.
pub fn twine_upload(url: &str, token: &str, files: &[String]) -> Output {
    Command::new(venv_bin("twine"))
        .args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
        ])
        .arg(format!("{url}/legacy/"))
        .args(["-u", "__token__", "-p", token])
        .args(files)
        .output()
        .unwrap()
}

/// `pip install` of `requirement` from the simple API at `base` into
/// `target`, with no retries (pip retries a 502 five times with back-off).
pub fn pip_install(base: &str, target: &Path, requirement: &str) -> Output {
    pip_install_with(base, target, requirement, &["--retries", "0"])
}

/// `pip install` as [`pip_install`], with pip's default retries and
/// `extra` arguments instead.
pub fn pip_install_with(base: &str, target: &Path, requirement: &str, extra: &[&str]) -> Output {
    Command::new(venv_bin("pip"))
        .args([
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(extra)
        .arg("--index-url")
        .arg(format!("{base}/simple/"))
        .arg("--target")
        .arg(target)
        .arg(requirement)
        .output()
        .unwrap()
}

/// `uv pip install` of `requirement` from the simple API at `base` into
/// `target`, with no retries.
pub fn uv_install(base: &str, target: &Path, requirement: &str) -> Output {
    uv_install_with(base, target, requirement, &[("UV_HTTP_RETRIES", "0")])
}

/// `uv pip install` as [`uv_install`], with uv's default retries and the
/// environment variables `env` instead.
pub fn uv_install_with(
    base: &str,
    target: &Path,
    requirement: &str,
    env: &[(&str, &str)],
) -> Output {
    Command::new(venv_bin("uv"))
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv_bin("python"))
        .arg("--target")
        .arg(target)
        .arg("--index-url")
        .arg(format!("{base}/simple/"))
        .arg(requirement)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The `VERSION` of `module` installed in `target` (every module `make_dist`
/// writes defines it).
pub fn installed_version(target: &Path, module: &str) -> String {
    let out = run_ok(
        Command::new(venv_bin("python"))
            .arg("-c")
            .arg(format!("import {module}; print({module}.VERSION)"))
            .env("PYTHONPATH", target),
    );
    stdout(&out).trim().to_owned()
}
pub mod forge;

/// The passphrase of the developer keys the tests generate.
pub const DEVELOPER_PASSPHRASE: &str = "correct horse battery staple";

/// `bulwark key generate` into `dir/<name>.key`; also writes the public
/// key it prints to `dir/<name>.pub`. Returns both paths.
pub fn developer_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let out = run_ok(
        bulwark()
            .args(["key", "generate", "--out"])
            .arg(&key)
            .env("BULWARK_KEY_PASSPHRASE", DEVELOPER_PASSPHRASE),
    );
    let public = dir.join(format!("{name}.pub"));
    std::fs::write(&public, stdout(&out)).unwrap();
    (key, public)
}

/// `bulwark <args>` as a developer: the key passphrase and `token` in the
/// environment.
pub fn developer(args: &[&str], token: &str) -> Command {
    let mut cmd = bulwark();
    cmd.args(args)
        .env("BULWARK_KEY_PASSPHRASE", DEVELOPER_PASSPHRASE)
        .env("BULWARK_TOKEN", token)
        .env_remove("BULWARK_INDEX_URL");
    cmd
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The live PEP 691 JSON page of `project` on `server`.
pub fn json_page(server: &Server, project: &str) -> Vec<u8> {
    run_ok(
        Command::new("curl")
            .args(["-sSf", "-H", "Accept: application/vnd.pypi.simple.v1+json"])
            .arg(format!("{}/simple/{project}/", server.url)),
    )
    .stdout
}

/// Uploads `file` to `url`'s `/legacy/` as `token` with curl (no twine: the
/// process tests need the status and headers, and many uploads at once);
/// the status code and the response headers.
pub fn curl_upload(url: &str, token: &str, file: &Path) -> (String, String) {
    let sha = bulwark_tuf::hash::sha256_hex(&std::fs::read(file).unwrap());
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "30", "-u"])
        .arg(format!("__token__:{token}"))
        .args(["-F", ":action=file_upload", "-F", "protocol_version=1"])
        .arg("-F")
        .arg(format!("sha256_digest={sha}"))
        .arg("-F")
        .arg(format!("content=@{}", file.display()))
        .arg(format!("{url}/legacy/"))
        .output()
        .unwrap();
    let text = stdout(&out);
    let (headers, status) = text.rsplit_once("\r\n\r\n").unwrap_or(("", &text));
    (status.to_owned(), headers.to_owned())
}

/// The status code of a GET of `url`, by curl (`000` when there was no
/// answer within 10 s).
pub fn http_status(url: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(url)
        .output()
        .unwrap();
    stdout(&out)
}

/// The first number after `"version"` in `json` from `from` on.
fn version_after(json: &str, from: usize) -> u64 {
    let at = from
        + json[from..]
            .find("\"version\"")
            .unwrap_or_else(|| panic!("no version in {json}"));
    json[at + "\"version\"".len()..]
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The `version` of a role's `signed` body: its last `"version"`, as keys
/// are sorted (`signed` after `signatures`, `version` after `meta`).
pub fn role_version(bytes: &[u8]) -> u64 {
    let json = String::from_utf8_lossy(bytes);
    version_after(&json, json.rfind("\"version\"").unwrap())
}

/// The version `meta` of a timestamp or snapshot lists for `file`.
pub fn listed_version(bytes: &[u8], file: &str) -> u64 {
    let json = String::from_utf8_lossy(bytes);
    let at = json
        .find(&format!("\"{file}\""))
        .unwrap_or_else(|| panic!("{file} is not listed in {json}"));
    version_after(&json, at)
}
