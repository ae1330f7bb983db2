//! `bulwark proxy` as a process between the real pip and uv and a real
//! `bulwark serve`: installs through the proxy, the warm cache, projects
//! absent from the signed metadata, and tampering by a man in the middle
//! between the proxy and the index (a flipped byte in a wheel, another
//! project's page served for a page request).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, bulwark, python_script, run_ok, stderr, stdout, venv_bin, wait_until};

/// What the man in the middle does to the index's answers.
#[derive(Clone, Debug)]
enum Mode {
    /// Forward every byte as it is.
    Honest,
    /// Flip one bit in the middle of every wheel under `/files/`.
    FlipWheel,
    /// Answer requests for `victim`'s signed page with `bytes`.
    SwapPage { victim: String, bytes: Vec<u8> },
}

/// A tiny HTTP/1.1 forwarder on std threads: one request per connection.
struct Mitm {
    url: String,
    mode: Arc<Mutex<Mode>>,
}

impl Mitm {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Honest));
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let shared = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, mode) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = forward(client, &upstream, &mode);
                });
            }
        });
        Self { url, mode }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn forward(mut client: TcpStream, upstream: &str, mode: &Mutex<Mode>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut request = String::new();
    for line in text.split("\r\n") {
        if !line.is_empty() && !line.to_ascii_lowercase().starts_with("connection:") {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let mode = mode.lock().unwrap().clone();
    client.write_all(&tamper(&mode, &path, response))?;
    client.shutdown(Shutdown::Both)
}

fn tamper(mode: &Mode, path: &str, response: Vec<u8>) -> Vec<u8> {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let (head, body) = (&response[..split], &response[split + 4..]);
    let is_wheel = path.starts_with("/files/")
        && Path::new(path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("whl"));
    let body = match mode {
        Mode::FlipWheel if is_wheel && !body.is_empty() => {
            let mut body = body.to_vec();
            let middle = body.len() / 2;
            body[middle] ^= 1;
            body
        }
        Mode::SwapPage { victim, bytes }
            if path.starts_with(&format!("/tuf/targets/simple/{victim}/")) =>
        {
            bytes.clone()
        }
        _ => return response,
    };
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(head).split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("content-length:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out
}

/// A running `bulwark proxy`.
struct Proxy {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Proxy {
    fn start(upstream: &str, root: &Path, cache: &Path) -> Self {
        let log = cache.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = bulwark()
            .args(["proxy", "--upstream", upstream, "--root"])
            .arg(root)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--freshness-secs",
                "1",
                "--cache-dir",
            ])
            .arg(cache)
            .env("BULWARK_LOG", "info,bulwark_proxy=debug")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("cannot start bulwark proxy");
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
        Self { child, url, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(data: &Path, user: &str) -> String {
    stdout(&run_ok(
        bulwark()
            .args(["token", "create", "--data-dir"])
            .arg(data)
            .arg(user),
    ))
    .trim()
    .to_owned()
}

fn upload(server: &Server, token: &str, out: &Path, name: &str, version: &str) {
    let files: Vec<String> = stdout(&run_ok(
        python_script("make_dist.py")
            .arg(out)
            .arg(name)
            .arg(version),
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    run_ok(
        Command::new(venv_bin("twine"))
            .args([
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
            ])
            .arg(format!("{}/legacy/", server.url))
            .args(["-u", "__token__", "-p", token])
            .args(&files),
    );
}

fn pip_install(proxy: &Proxy, target: &Path, requirement: &str) -> Output {
    Command::new(venv_bin("pip"))
        .args([
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--index-url",
        ])
        .arg(format!("{}/simple/", proxy.url))
        .arg("--target")
        .arg(target)
        .arg(requirement)
        .output()
        .unwrap()
}

fn uv_install(proxy: &Proxy, target: &Path, requirement: &str) -> Output {
    Command::new(venv_bin("uv"))
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv_bin("python"))
        .arg("--target")
        .arg(target)
        .arg("--index-url")
        .arg(format!("{}/simple/", proxy.url))
        .arg(requirement)
        .output()
        .unwrap()
}

fn installed_version(target: &Path, module: &str) -> String {
    let out = run_ok(
        Command::new(venv_bin("python"))
            .arg("-c")
            .arg(format!("import {module}; print({module}.VERSION)"))
            .env("PYTHONPATH", target),
    );
    stdout(&out).trim().to_owned()
}

/// `pip show` sees nothing installed in `target`.
fn nothing_installed(target: &Path, name: &str) -> bool {
    let out = Command::new(venv_bin("pip"))
        .args(["show", "--disable-pip-version-check", name])
        .env("PYTHONPATH", target)
        .output()
        .unwrap();
    !out.status.success() && stdout(&out).trim().is_empty()
}

/// Status code and body of a GET through curl.
fn curl(url: &str, headers: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}"]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The status line of a GET.
fn status_line(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(url)
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Status and body of a project page.
fn page(base: &str, name: &str, accept: &str) -> (u16, String) {
    curl(&format!("{base}/simple/{name}/"), &[accept])
}

const JSON: &str = "Accept: application/vnd.pypi.simple.v1+json";

/// Everything one test needs: the index, the man in the middle, the proxy.
struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    alice: String,
    mitm: Mitm,
    proxy: Proxy,
}

impl Setup {
    fn site(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let alice = token(&data, "alice");
    upload(
        &server,
        &alice,
        &dir.path().join("dist/d1"),
        "Demo_Pkg",
        "1.0",
    );
    upload(
        &server,
        &alice,
        &dir.path().join("dist/o1"),
        "other-pkg",
        "1.0",
    );
    let mitm = Mitm::start(&server.url);
    let proxy = Proxy::start(
        &mitm.url,
        &data.join("root.json"),
        &dir.path().join("cache"),
    );
    let published = |name: &str| curl(&format!("{}/simple/{name}/", proxy.url), &[JSON]).0 == 200;
    assert!(
        wait_until(Duration::from_secs(30), || published("demo-pkg")
            && published("other-pkg")),
        "the proxy never served the published pages; proxy log:\n{}\nserver log:\n{}",
        proxy.log(),
        server.log()
    );
    Setup {
        dir,
        server,
        alice,
        mitm,
        proxy,
    }
}

/// The JSON page is the signed bytes, HTML is rendered from it, names
/// redirect, and what is not signed is not found.
fn pages_are_the_signed_ones(s: &Setup) {
    let (_, signed_page) = page(&s.proxy.url, "demo-pkg", JSON);
    assert_eq!(signed_page, page(&s.server.url, "demo-pkg", JSON).1);
    let (code, html) = page(&s.proxy.url, "demo-pkg", "Accept: text/html");
    assert_eq!(code, 200);
    assert!(
        html.contains("href=\"../../files/") && html.contains("demo_pkg-1.0-py3-none-any.whl"),
        "{html}"
    );
    assert!(status_line(&format!("{}/simple/Demo_Pkg/", s.proxy.url)).contains("301"));

    assert_eq!(page(&s.proxy.url, "never-uploaded", JSON).0, 404);
    assert!(
        !pip_install(&s.proxy, &s.site("site-absent"), "never-uploaded")
            .status
            .success()
    );
    let unlisted = format!(
        "{}/files/{}/x-1.0-py3-none-any.whl",
        s.proxy.url,
        "0".repeat(64)
    );
    assert_eq!(curl(&unlisted, &[]).0, 404);
}

/// pip and uv install; a second install is served from the proxy's cache.
fn installs_and_the_warm_cache(s: &Setup) {
    let site = s.site("site-pip");
    let out = pip_install(&s.proxy, &site, "demo-pkg");
    assert!(
        out.status.success(),
        "pip install failed: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        s.proxy.log()
    );
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    let site = s.site("site-uv");
    let out = uv_install(&s.proxy, &site, "other-pkg");
    assert!(
        out.status.success(),
        "uv pip install failed: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        s.proxy.log()
    );
    assert_eq!(installed_version(&site, "other_pkg"), "1.0");

    let before = s.server.log().len();
    let site = s.site("site-warm");
    let out = pip_install(&s.proxy, &site, "demo-pkg");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    let upstream_requests = s.server.log()[before..].to_owned();
    assert!(
        !upstream_requests.contains("/files/"),
        "the warm install fetched files upstream:\n{upstream_requests}"
    );
    assert!(
        !upstream_requests.contains("/tuf/targets/"),
        "the warm install fetched the page again:\n{upstream_requests}"
    );

    // Ranges come from the verified cache; a file not cached yet (the
    // sdist nobody installed) is fetched and verified whole first.
    let before = s.server.log().len();
    assert_eq!(
        range(&s.proxy.url, "demo-pkg", "demo_pkg-1.0-py3-none-any.whl"),
        (206, 10)
    );
    assert_eq!(
        range(&s.proxy.url, "other-pkg", "other_pkg-1.0.tar.gz"),
        (206, 10)
    );
    let upstream_requests = s.server.log()[before..].to_owned();
    assert!(
        !upstream_requests.contains("demo_pkg-1.0-py3-none-any.whl"),
        "{upstream_requests}"
    );
    assert!(
        upstream_requests.contains("other_pkg-1.0.tar.gz"),
        "{upstream_requests}"
    );
}

/// Status and body length of `Range: bytes=0-9` for `filename` as linked
/// from `project`'s page on `base`.
fn range(base: &str, project: &str, filename: &str) -> (u16, usize) {
    let (_, html) = page(base, project, "Accept: text/html");
    let href = html
        .split("href=\"")
        .filter_map(|part| part.split('"').next())
        .find(|href| href.contains(filename))
        .and_then(|href| href.trim_start_matches("../../").split('#').next())
        .unwrap_or_else(|| panic!("{filename} not on the page:\n{html}"))
        .to_owned();
    let out = run_ok(
        Command::new("curl")
            .args(["-s", "-r", "0-9", "-o", "-", "-w", "%{http_code}"])
            .arg(format!("{base}/{href}")),
    );
    let (body, code) = out.stdout.split_at(out.stdout.len() - 3);
    (String::from_utf8_lossy(code).parse().unwrap(), body.len())
}

/// A new release's page is answered with another project's page.
fn swapped_page_is_refused(s: &Setup) {
    let other_page = page(&s.server.url, "other-pkg", JSON).1.into_bytes();
    s.mitm.set(Mode::SwapPage {
        victim: "demo-pkg".to_owned(),
        bytes: other_page,
    });
    upload(
        &s.server,
        &s.alice,
        &s.dir.path().join("dist/d2"),
        "Demo_Pkg",
        "2.0",
    );
    assert!(
        wait_until(Duration::from_secs(30), || page(
            &s.proxy.url,
            "demo-pkg",
            JSON
        )
        .0 == 502),
        "the swapped page was never refused; proxy log:\n{}",
        s.proxy.log()
    );
    let reason = status_line(&format!("{}/simple/demo-pkg/", s.proxy.url));
    assert!(
        reason
            .contains("502 refused: page hash does not match signed metadata - possible tampering"),
        "{reason}"
    );
    let site = s.site("site-swapped");
    let out = pip_install(&s.proxy, &site, "demo-pkg==2.0");
    assert!(
        !out.status.success(),
        "pip installed from a swapped page: {}",
        stdout(&out)
    );
    // pip retries a 502 and then reports only the status; the reason is in
    // the status line (above) and in the proxy's log.
    assert!(
        s.proxy
            .log()
            .contains("refused: page hash does not match signed metadata - possible tampering"),
        "{}",
        s.proxy.log()
    );
    assert!(nothing_installed(&site, "demo-pkg"));
}

/// Honest pages, but a flipped byte in the new wheel.
fn flipped_wheel_is_refused(s: &Setup) {
    s.mitm.set(Mode::FlipWheel);
    let site = s.site("site-flipped");
    let out = pip_install(&s.proxy, &site, "demo-pkg==2.0");
    assert!(
        !out.status.success(),
        "pip installed a tampered wheel: {}",
        stdout(&out)
    );
    assert!(nothing_installed(&site, "demo-pkg"));
    let reason = "refused: file demo_pkg-2.0-py3-none-any.whl hash does not match the signed page - possible tampering";
    assert!(stderr(&out).contains("502"), "{}", stderr(&out));
    assert!(s.proxy.log().contains(reason), "{}", s.proxy.log());
    let site = s.site("site-flipped-uv");
    let out = uv_install(&s.proxy, &site, "demo-pkg==2.0");
    assert!(
        !out.status.success(),
        "uv installed a tampered wheel: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(reason),
        "{}\n{}",
        stderr(&out),
        s.proxy.log()
    );
    assert!(nothing_installed(&site, "demo-pkg"));
}

#[test]
fn pip_and_uv_install_through_the_proxy_and_tampering_is_refused() {
    let s = setup();
    pages_are_the_signed_ones(&s);
    installs_and_the_warm_cache(&s);
    swapped_page_is_refused(&s);
    flipped_wheel_is_refused(&s);

    // Honest again: the same install succeeds.
    s.mitm.set(Mode::Honest);
    let site = s.site("site-honest");
    let out = pip_install(&s.proxy, &site, "demo-pkg==2.0");
    assert!(
        out.status.success(),
        "pip install failed after the tampering stopped: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        s.proxy.log()
    );
    assert_eq!(installed_version(&site, "demo_pkg"), "2.0");
    assert!(
        !nothing_installed(&site, "demo-pkg"),
        "pip show must see a real install"
    );
}
