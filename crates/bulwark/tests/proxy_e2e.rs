//! `bulwark proxy` as a process between the real pip and uv and a real
//! `bulwark serve`: installs through the proxy, the warm cache, projects
//! absent from the signed metadata, and a man in the middle between the
//! proxy and the index who flips a byte in a wheel, swaps a page, replays
//! an older page, bin, snapshot or timestamp, withholds a new release
//! behind a stale bin, streams endless bodies or drips bytes; and a proxy
//! whose clock is past the timestamp's expiry. Each attack fails the
//! install, installs nothing, is named in the proxy's reason and log, and
//! stops mattering as soon as the man in the middle is honest again.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Proxy, Server, installed_version, listed_version, make_dist, pip_install, pip_install_with,
    proxy_refuses_to_start, role_version, run_ok, stderr, stdout, token, twine_upload, uv_install,
    uv_install_with, venv_bin, wait_until,
};

/// The requests a [`Mode`] applies to: paths starting with `start` and
/// ending with `end`.
#[derive(Clone, Debug)]
struct Paths {
    start: String,
    end: String,
}

impl Paths {
    fn new(start: &str, end: &str) -> Self {
        Self {
            start: start.to_owned(),
            end: end.to_owned(),
        }
    }

    fn matches(&self, path: &str) -> bool {
        path.starts_with(&self.start) && path.ends_with(&self.end)
    }
}

/// What the man in the middle does to the index's answers.
#[derive(Clone, Debug)]
enum Mode {
    /// Forward every byte as it is.
    Honest,
    /// Flip one bit in the middle of every wheel under `/files/`.
    FlipWheel,
    /// Answer matching requests with `bytes` (another page, an older bin,
    /// snapshot or timestamp).
    Replace { paths: Paths, bytes: Vec<u8> },
    /// Answer matching requests with a 200 and a body that never ends.
    Endless(Paths),
    /// Forward the head of matching answers, then the body a byte at a time.
    Drip(Paths),
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
    let mode = mode.lock().unwrap().clone();
    if let Mode::Endless(paths) = &mode
        && paths.matches(&path)
    {
        return endless(client);
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    if let Mode::Drip(paths) = &mode
        && paths.matches(&path)
    {
        return drip(client, &response);
    }
    client.write_all(&tamper(&mode, &path, response))?;
    client.shutdown(Shutdown::Both)
}

/// A 200 with no length whose body goes on until the reader hangs up (or
/// 256 MiB, so that a reader without a cap fails the test rather than
/// hanging it).
fn endless(mut client: TcpStream) -> std::io::Result<()> {
    client.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
    )?;
    let chunk = [b'x'; 16 * 1024];
    for _ in 0..16 * 1024 {
        client.write_all(&chunk)?;
    }
    client.shutdown(Shutdown::Both)
}

/// The head at once, then one byte of the body every 50 ms: never idle
/// for long, but far slower than any download deadline allows.
fn drip(mut client: TcpStream, response: &[u8]) -> std::io::Result<()> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| at + 4);
    client.write_all(&response[..split])?;
    for byte in &response[split..] {
        std::thread::sleep(Duration::from_millis(50));
        client.write_all(std::slice::from_ref(byte))?;
    }
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
        Mode::Replace { paths, bytes } if paths.matches(path) => bytes.clone(),
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

fn upload(server: &Server, token: &str, out: &Path, name: &str, version: &str) {
    upload_requiring(server, token, out, name, version, &[]);
}

/// Uploads a wheel and an sdist of `name` that depend on `requires`.
fn upload_requiring(
    server: &Server,
    token: &str,
    out: &Path,
    name: &str,
    version: &str,
    requires: &[&str],
) {
    let files = make_dist(out, name, version, requires);
    let out = twine_upload(&server.url, token, &files);
    assert!(
        out.status.success(),
        "twine upload failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
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
    head(url)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The status line and headers of a GET.
fn head(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(url)
        .output()
        .unwrap();
    stdout(&out)
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
    /// What the index signed right after the first releases.
    first: Captured,
}

impl Setup {
    fn site(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> PathBuf {
        self.server.data.join("root.json")
    }
}

/// Signed files of the index at one moment, for replaying later.
struct Captured {
    timestamp: Vec<u8>,
    timestamp_version: u64,
    snapshot: Vec<u8>,
    /// demo-pkg's bin and its version.
    bin: (u64, Vec<u8>),
    /// demo-pkg's signed page.
    page: Vec<u8>,
}

impl Captured {
    fn now(server: &Server) -> Self {
        let timestamp = get(&format!("{}/tuf/metadata/timestamp.json", server.url));
        let timestamp_version = role_version(&timestamp);
        let (_, snapshot) = current(&server.url, "snapshot");
        Self {
            timestamp,
            timestamp_version,
            snapshot,
            bin: current(&server.url, &demo_bin()),
            page: page(&server.url, "demo-pkg", JSON).1.into_bytes(),
        }
    }
}

/// The body of a GET, which must succeed.
fn get(url: &str) -> Vec<u8> {
    run_ok(Command::new("curl").args(["-sf"]).arg(url)).stdout
}

/// The hashed bin whose role lists demo-pkg's page.
fn demo_bin() -> String {
    let bits = 8; // `bin_bits` of `bulwark serve`, by default
    bulwark_layout::bin_name(bulwark_layout::bin_of("demo-pkg", bits), bits)
}

/// The version and bytes of `role` (`snapshot` or a targets role) as the
/// index's current timestamp names them.
fn current(server: &str, role: &str) -> (u64, Vec<u8>) {
    let timestamp = get(&format!("{server}/tuf/metadata/timestamp.json"));
    let version = listed_version(&timestamp, "snapshot.json");
    let snapshot = get(&format!("{server}/tuf/metadata/{version}.snapshot.json"));
    if role == "snapshot" {
        return (version, snapshot);
    }
    let version = listed_version(&snapshot, &format!("{role}.json"));
    (
        version,
        get(&format!("{server}/tuf/metadata/{version}.{role}.json")),
    )
}

/// An index in a new directory, where alice uploaded demo-pkg 1.0.
fn index_with_demo() -> (tempfile::TempDir, Server, String) {
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
    (dir, server, alice)
}

fn setup() -> Setup {
    let (dir, server, alice) = index_with_demo();
    let data = server.data.clone();
    upload(
        &server,
        &alice,
        &dir.path().join("dist/o1"),
        "other-pkg",
        "1.0",
    );
    upload_requiring(
        &server,
        &alice,
        &dir.path().join("dist/a1"),
        "app-with-dep",
        "1.0",
        &["other-pkg>=1.0"],
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
            && published("other-pkg")
            && published("app-with-dep")),
        "the proxy never served the published pages; proxy log:\n{}\nserver log:\n{}",
        proxy.log(),
        server.log()
    );
    let first = Captured::now(&server);
    Setup {
        dir,
        server,
        alice,
        mitm,
        proxy,
        first,
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
        !pip_install(&s.proxy.url, &s.site("site-absent"), "never-uploaded")
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
    let out = pip_install(&s.proxy.url, &site, "demo-pkg");
    assert!(
        out.status.success(),
        "pip install failed: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        s.proxy.log()
    );
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    let site = s.site("site-uv");
    let out = uv_install(&s.proxy.url, &site, "other-pkg");
    assert!(
        out.status.success(),
        "uv pip install failed: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        s.proxy.log()
    );
    assert_eq!(installed_version(&site, "other_pkg"), "1.0");
    // A dependency is resolved, fetched and verified through the proxy too.
    let site = s.site("site-dep");
    let out = pip_install(&s.proxy.url, &site, "app-with-dep");
    assert!(
        out.status.success(),
        "pip install with a dependency failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(installed_version(&site, "app_with_dep"), "1.0");
    assert_eq!(installed_version(&site, "other_pkg"), "1.0");

    let before = s.server.log().len();
    let site = s.site("site-warm");
    let out = pip_install(&s.proxy.url, &site, "demo-pkg");
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
    s.mitm.set(Mode::Replace {
        paths: Paths::new("/tuf/targets/simple/demo-pkg/", ""),
        bytes: other_page,
    });
    upload(
        &s.server,
        &s.alice,
        &s.dir.path().join("dist/d2"),
        "Demo_Pkg",
        "2.0",
    );
    refused_page(
        &s.proxy,
        "409 refused: page hash does not match signed metadata - possible tampering",
    );
    let site = s.site("site-swapped");
    let out = pip_install(&s.proxy.url, &site, "demo-pkg==2.0");
    assert!(
        !out.status.success(),
        "pip installed from a swapped page: {}",
        stdout(&out)
    );
    // pip reports only the status; the reason is in the status line
    // (above) and in the proxy's log.
    assert!(
        s.proxy
            .log()
            .contains("refused: page hash does not match signed metadata - possible tampering"),
        "{}",
        s.proxy.log()
    );
    assert!(nothing_installed(&site, "demo-pkg"));
}

/// Honest pages, but a flipped byte in the new wheel. pip and uv run with
/// their default retries: the refusal is a status neither retries (a 502
/// made pip retry five times and then fail without the reason), and each
/// prints the reason once, pip without a traceback.
fn flipped_wheel_is_refused(s: &Setup) {
    s.mitm.set(Mode::FlipWheel);
    let reason = "refused: file demo_pkg-2.0-py3-none-any.whl hash does not match the signed page - possible tampering";
    let site = s.site("site-flipped");
    let out = pip_install_with(&s.proxy.url, &site, "demo-pkg==2.0", &[]);
    said_once("pip", &out, reason, &["Retrying", "Traceback"]);
    assert!(nothing_installed(&site, "demo-pkg"));
    assert!(s.proxy.log().contains(reason), "{}", s.proxy.log());
    let site = s.site("site-flipped-uv");
    let out = uv_install_with(&s.proxy.url, &site, "demo-pkg==2.0", &[]);
    said_once("uv", &out, reason, &["retries", "retry"]);
    assert!(nothing_installed(&site, "demo-pkg"));
}

/// `tool` failed, printing `reason` exactly once and none of `never`.
fn said_once(tool: &str, out: &Output, reason: &str, never: &[&str]) {
    let said = format!("{}{}", stdout(out), stderr(out));
    assert!(
        !out.status.success(),
        "{tool} installed a tampered wheel: {said}"
    );
    assert_eq!(said.matches(reason).count(), 1, "{tool} said:\n{said}");
    for word in never {
        assert!(!said.contains(word), "{tool} said {word:?}:\n{said}");
    }
}

/// The index signs a new page of demo-pkg (1.0 yanked for `reason`,
/// unique per call), so the proxy's next page request needs a new
/// snapshot, bin and page.
fn republish(s: &Setup, reason: &str) {
    run_ok(
        Command::new("curl")
            .args(["-sf", "-X", "POST", "--data", reason, "-u"])
            .arg(format!("__token__:{}", s.alice))
            .arg(format!("{}/api/projects/demo-pkg/1.0/yank", s.server.url)),
    );
}

/// Waits until `proxy` refuses demo-pkg's page with a status line that
/// contains `reason`, and returns that line. Other answers on the way are
/// ignored: the index may still be publishing.
fn refused_page(proxy: &Proxy, reason: &str) -> String {
    let url = format!("{}/simple/demo-pkg/", proxy.url);
    let mut line = String::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            line = status_line(&url);
            line.contains("409") && line.contains(reason)
        }),
        "the proxy never refused the page with {reason:?} (last: {line}); log:\n{}",
        proxy.log()
    );
    line
}

/// What pip says when the proxy refuses a page: pip logs why a page could
/// not be fetched only at debug level (`-vv`), so its message is that
/// nothing matches; the reason is in the status line and the proxy's log.
const PIP_NO_PAGE: &str = "ERROR: No matching distribution found for demo-pkg";

/// What pip says when the upstream cannot deliver a file: the status, a
/// 502 (which pip retries, and then reports without the reason phrase; a
/// refused file is a 409 whose reason pip prints).
const PIP_UNAVAILABLE: &str = "502";

/// pip cannot install `requirement` through `proxy` and its output has
/// `pip_says`, nothing lands in `site`, and the proxy logged `reason`
/// after byte `log_from` of its log.
fn install_is_refused(
    proxy: &Proxy,
    site: &Path,
    (requirement, pip_says): (&str, &str),
    log_from: usize,
    reason: &str,
) {
    let out = pip_install(&proxy.url, site, requirement);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "pip installed {requirement}: {said}");
    assert!(
        said.contains(pip_says),
        "pip did not say what failed: {said}"
    );
    assert!(nothing_installed(site, "demo-pkg"), "{said}");
    let log = proxy.log();
    assert!(
        log[log_from..].contains(reason),
        "the proxy's log does not name {reason:?}:\n{}",
        &log[log_from..]
    );
}

/// uv cannot install `requirement` through `proxy`, and installs nothing;
/// its message contains `says`.
fn uv_install_is_refused(proxy: &Proxy, site: &Path, requirement: &str, says: &str) {
    let out = uv_install(&proxy.url, site, requirement);
    assert!(
        !out.status.success(),
        "uv installed {requirement}: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(says), "{}", stderr(&out));
    assert!(nothing_installed(site, "demo-pkg"));
}

/// Honest again, `proxy` installs demo-pkg `version`.
fn recovers(s: &Setup, proxy: &Proxy, site: &str, version: &str) {
    s.mitm.set(Mode::Honest);
    let site = s.site(site);
    let out = pip_install(&proxy.url, &site, &format!("demo-pkg=={version}"));
    assert!(
        out.status.success(),
        "pip install failed after the attack stopped: {}{}\n{}",
        stdout(&out),
        stderr(&out),
        proxy.log()
    );
    assert_eq!(installed_version(&site, "demo_pkg"), version);
    assert!(!nothing_installed(&site, "demo-pkg"));
}

fn bin_paths() -> Paths {
    Paths::new("/tuf/metadata/", &format!(".{}.json", demo_bin()))
}

/// Scenario 5: 3.0 is released, but the man in the middle keeps serving
/// the bin signed before it (valid, but older than the snapshot lists),
/// hoping pip settles for 2.0. The bin's version must match the snapshot's
/// (mix-and-match, §5.6.4), so the page lookup is refused instead.
fn stale_bin_withholds_nothing(s: &Setup) {
    let (stale_version, stale) = current(&s.server.url, &demo_bin());
    s.mitm.set(Mode::Replace {
        paths: bin_paths(),
        bytes: stale,
    });
    let from = s.proxy.log().len();
    upload(
        &s.server,
        &s.alice,
        &s.dir.path().join("dist/d3"),
        "Demo_Pkg",
        "3.0",
    );
    let reason = format!(
        "{} version {stale_version} does not match version",
        demo_bin()
    );
    let line = refused_page(&s.proxy, &reason);
    assert!(
        line.contains("409 refused: signed metadata rejected (")
            && line.contains(&reason)
            && line.contains("listed in snapshot) - possible tampering"),
        "{line}"
    );
    install_is_refused(
        &s.proxy,
        &s.site("site-stale"),
        ("demo-pkg", PIP_NO_PAGE),
        from,
        &reason,
    );
    uv_install_is_refused(&s.proxy, &s.site("site-stale-uv"), "demo-pkg", &reason);
    recovers(s, &s.proxy, "site-stale-honest", "3.0");
}

/// Scenario 2: the bin of the first releases, under the newest name.
fn older_bin_is_refused(s: &Setup) {
    let (old_version, old) = s.first.bin.clone();
    s.mitm.set(Mode::Replace {
        paths: bin_paths(),
        bytes: old,
    });
    let from = s.proxy.log().len();
    republish(s, "replayed bin");
    let reason = format!(
        "{} version {old_version} does not match version",
        demo_bin()
    );
    refused_page(&s.proxy, &reason);
    install_is_refused(
        &s.proxy,
        &s.site("site-old-bin"),
        ("demo-pkg", PIP_NO_PAGE),
        from,
        &reason,
    );
    recovers(s, &s.proxy, "site-old-bin-honest", "3.0");
}

/// Scenario 1: the page of 1.0, captured at the start, for the current one.
fn older_page_is_refused(s: &Setup) {
    s.mitm.set(Mode::Replace {
        paths: Paths::new("/tuf/targets/simple/demo-pkg/", ".index.json"),
        bytes: s.first.page.clone(),
    });
    let from = s.proxy.log().len();
    republish(s, "replayed page");
    let reason = "refused: page hash does not match signed metadata - possible tampering";
    refused_page(&s.proxy, reason);
    install_is_refused(
        &s.proxy,
        &s.site("site-old-page"),
        ("demo-pkg", PIP_NO_PAGE),
        from,
        reason,
    );
    uv_install_is_refused(&s.proxy, &s.site("site-old-page-uv"), "demo-pkg", reason);
    recovers(s, &s.proxy, "site-old-page-honest", "3.0");
}

/// Scenario 3: the first timestamp replayed (a rollback, §5.4.3.1: refused,
/// and the proxy keeps trusting its newer one), then the first snapshot
/// under the name the newest timestamp lists (§5.5.2: refused).
fn older_timestamp_and_snapshot_are_refused(s: &Setup) {
    let trusted_path = state_dir(&s.dir.path().join("cache")).join("metadata/timestamp.json");
    let trusted = std::fs::read(&trusted_path).unwrap();
    s.mitm.set(Mode::Replace {
        paths: Paths::new("/tuf/metadata/timestamp.json", ""),
        bytes: s.first.timestamp.clone(),
    });
    let from = s.proxy.log().len();
    let reason = format!(
        "timestamp version {} is older than trusted version {}",
        s.first.timestamp_version,
        role_version(&trusted)
    );
    refused_page(&s.proxy, &reason);
    install_is_refused(
        &s.proxy,
        &s.site("site-old-ts"),
        ("demo-pkg", PIP_NO_PAGE),
        from,
        &reason,
    );
    uv_install_is_refused(&s.proxy, &s.site("site-old-ts-uv"), "demo-pkg", &reason);
    assert_eq!(std::fs::read(&trusted_path).unwrap(), trusted);

    s.mitm.set(Mode::Replace {
        paths: Paths::new("/tuf/metadata/", ".snapshot.json"),
        bytes: s.first.snapshot.clone(),
    });
    let from = s.proxy.log().len();
    republish(s, "replayed snapshot");
    let reason = "signed metadata rejected (snapshot does not match what timestamp lists)";
    refused_page(&s.proxy, reason);
    install_is_refused(
        &s.proxy,
        &s.site("site-old-snapshot"),
        ("demo-pkg", PIP_NO_PAGE),
        from,
        reason,
    );
    recovers(s, &s.proxy, "site-old-snapshot-honest", "3.0");
}

/// Scenario 4: a proxy whose clock is three days ahead finds the genuine
/// timestamp (valid for a day) expired (§5.4.4) and refuses to start; the
/// same cache works again with the right clock.
fn expired_timestamp_is_refused(s: &Setup) {
    s.mitm.set(Mode::Honest);
    assert!(
        Path::new("/usr/bin/faketime").exists(),
        "faketime is not installed (scripts/test-deps installs it)"
    );
    let cache = s.dir.path().join("cache-future");
    let out = proxy_refuses_to_start(
        &s.mitm.url,
        &s.root(),
        &["--cache-dir".as_ref(), cache.as_os_str()],
        &["/usr/bin/faketime", "-f", "+3d"],
    );
    let said = stderr(&out);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("refused: signed metadata rejected (timestamp metadata expired at")
            && said.contains(&format!("{}/tuf/metadata/", s.mitm.url)),
        "{said}"
    );
    let now = Proxy::start(&s.mitm.url, &s.root(), &cache);
    recovers(s, &now, "site-expired-honest", "3.0");
}

/// Scenarios 6 and 7, on a proxy with 3-second download limits and an
/// empty cache: endless bodies for the wheel's `.metadata`, the wheel and
/// the timestamp hit their byte caps; drip-fed ones hit the deadlines.
fn endless_and_slow_downloads_are_cut_off(s: &Setup) {
    let wheel = "demo_pkg-3.0-py3-none-any.whl";
    let proxy = Proxy::start_with(
        &s.mitm.url,
        &s.root(),
        &s.dir.path().join("cache-limits"),
        &[],
        &[("BULWARK_FETCH_TIMEOUT_SECS", "3")],
    );
    let timestamp = Paths::new("/tuf/metadata/timestamp.json", "");
    let metadata = format!("{wheel}.metadata");

    s.mitm.set(Mode::Endless(Paths::new("/files/", &metadata)));
    let reason = format!(
        "refused: metadata file {metadata} is larger than the signed page says - possible tampering"
    );
    install_is_refused(
        &proxy,
        &s.site("site-endless-metadata"),
        ("demo-pkg==3.0", &reason),
        0,
        &reason,
    );
    uv_install_is_refused(
        &proxy,
        &s.site("site-endless-metadata-uv"),
        "demo-pkg==3.0",
        &reason,
    );

    s.mitm.set(Mode::Endless(Paths::new("/files/", wheel)));
    let from = proxy.log().len();
    let reason =
        format!("refused: file {wheel} is larger than the signed page says - possible tampering");
    install_is_refused(
        &proxy,
        &s.site("site-endless"),
        ("demo-pkg==3.0", &reason),
        from,
        &reason,
    );
    uv_install_is_refused(&proxy, &s.site("site-endless-uv"), "demo-pkg==3.0", &reason);

    s.mitm.set(Mode::Endless(timestamp.clone()));
    refused_page(
        &proxy,
        "refused: timestamp metadata is larger than 16384 bytes - possible endless-data attack",
    );

    s.mitm.set(Mode::Drip(Paths::new("/files/", wheel)));
    let from = proxy.log().len();
    let started = Instant::now();
    install_is_refused(
        &proxy,
        &s.site("site-drip"),
        ("demo-pkg==3.0", PIP_UNAVAILABLE),
        from,
        &format!(
            "upstream unavailable: cannot download {wheel} from {}/files/",
            s.mitm.url
        ),
    );
    assert!(proxy.log()[from..].contains("(download too slow"));
    assert!(started.elapsed() < Duration::from_secs(20));

    // A drip-fed timestamp is an upstream that cannot be reached in time,
    // not a wrong answer: the verified cache serves, saying so.
    s.mitm.set(Mode::Drip(timestamp));
    let started = Instant::now();
    let page_head = head(&format!("{}/simple/demo-pkg/", proxy.url));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        page_head.starts_with("HTTP/1.1 200")
            && page_head.contains(&format!(
                "x-bulwark-offline: the upstream cannot be reached: cannot download timestamp metadata from {}/tuf/metadata/timestamp.json (download too slow",
                s.mitm.url
            )),
        "{page_head}\n{}",
        proxy.log()
    );

    recovers(s, &proxy, "site-limits-honest", "3.0");
}

#[test]
fn pip_and_uv_install_through_the_proxy_and_tampering_is_refused() {
    let s = setup();
    pages_are_the_signed_ones(&s);
    installs_and_the_warm_cache(&s);
    swapped_page_is_refused(&s);
    flipped_wheel_is_refused(&s);
    recovers(&s, &s.proxy, "site-honest", "2.0");

    stale_bin_withholds_nothing(&s);
    older_bin_is_refused(&s);
    older_page_is_refused(&s);
    older_timestamp_and_snapshot_are_refused(&s);
    expired_timestamp_is_refused(&s);
    endless_and_slow_downloads_are_cut_off(&s);
}

/// The state directory of the one root and upstream a proxy used `cache` for.
fn state_dir(cache: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Waits until `proxy` answers a page request for a project nobody
/// uploaded with a 404, which takes a successful refresh of the signed
/// metadata; returns the last status line.
fn refreshes(proxy: &Proxy) -> String {
    let url = format!("{}/simple/never-uploaded/", proxy.url);
    let mut line = String::new();
    wait_until(Duration::from_secs(30), || {
        line = status_line(&url);
        line.contains("404")
    });
    line
}

/// Two indexes with roots of their own, and a cache directory.
struct Indexes {
    dir: tempfile::TempDir,
    /// The data directories of `index` and `other`.
    one: PathBuf,
    two: PathBuf,
    index: Server,
    other: Server,
    cache: PathBuf,
}

impl Indexes {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        Self {
            index: Server::start(&one),
            other: Server::start(&two),
            cache: dir.path().join("cache"),
            one,
            two,
            dir,
        }
    }
}

/// Two indexes, two proxies, one `--cache-dir`: each proxy keeps the state
/// of its own root and upstream (the second used to replace the first's
/// trusted root, so the first refused every page), and a second proxy for
/// the same root and upstream refuses to start, naming the directory and
/// the process that holds it.
#[test]
fn proxies_sharing_a_cache_dir_keep_their_own_trust() {
    let Indexes {
        dir: _dir,
        one,
        two,
        index: index_one,
        other: index_two,
        cache,
    } = Indexes::start();
    let first = Proxy::start(&index_one.url, &one.join("root.json"), &cache);
    assert!(refreshes(&first).contains("404"), "{}", first.log());
    let second = Proxy::start(&index_two.url, &two.join("root.json"), &cache);
    assert!(refreshes(&second).contains("404"), "{}", second.log());
    let line = refreshes(&first);
    assert!(
        line.contains("404"),
        "the first proxy stopped trusting its index: {line}\n{}",
        first.log()
    );

    let out = proxy_refuses_to_start(
        &index_one.url,
        &one.join("root.json"),
        &["--cache-dir".as_ref(), cache.as_os_str()],
        &[],
    );
    let said = stderr(&out);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains(&cache.display().to_string())
            && said.contains("in use")
            && said.contains(&format!("pid {}", first.child.id())),
        "{said}"
    );
    assert!(refreshes(&first).contains("404"), "{}", first.log());
}

/// The one line a proxy that refuses to start prints, which must name
/// everything in `names`.
fn start_refused(upstream: &str, root: &Path, cache: &Path, names: &[&str]) -> String {
    let out = proxy_refuses_to_start(
        upstream,
        root,
        &["--cache-dir".as_ref(), cache.as_os_str()],
        &[],
    );
    let said = stderr(&out);
    assert_eq!(said.lines().count(), 1, "{said}");
    for name in names {
        assert!(said.contains(name), "{name:?} is not in: {said}");
    }
    said
}

/// Configuration mistakes used to start a proxy that then answered every
/// page with "possible tampering" or "not found": the simple index URL as
/// the upstream, the root of another index, an upstream nobody listens on.
/// Each now stops the proxy at start-up with one line naming the URL, what
/// is wrong and what to try.
#[test]
fn configuration_mistakes_stop_the_proxy_at_start_up() {
    let Indexes {
        dir: _dir,
        one,
        two,
        index,
        other,
        cache,
    } = Indexes::start();
    let simple = format!("{}/simple/", index.url);
    start_refused(
        &simple,
        &one.join("root.json"),
        &cache,
        &[
            &format!("{simple}tuf/metadata/timestamp.json answered HTTP 404"),
            &format!(
                "looks like the simple index URL; use the base URL {}/",
                index.url
            ),
        ],
    );
    start_refused(
        &index.url,
        &two.join("root.json"),
        &cache,
        &[
            "the trusted root does not match the upstream's",
            &format!("{}/tuf/metadata/", index.url),
            "is --root the root.json of this index?",
        ],
    );
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);
    start_refused(
        &closed,
        &one.join("root.json"),
        &cache,
        &[
            &format!(
                "the upstream cannot be reached: cannot download root version 2 metadata from {closed}/tuf/metadata/2.root.json"
            ),
            "the verified cache cannot serve in its place",
        ],
    );
    drop(other);
    // The right settings start, and refresh.
    let proxy = Proxy::start(&index.url, &one.join("root.json"), &cache);
    assert!(refreshes(&proxy).contains("404"), "{}", proxy.log());
}

/// Waits until `proxy` serves demo-pkg's page (the index may still be
/// publishing it); returns the page's URL.
fn demo_page_served(proxy: &Proxy) -> String {
    let page_url = format!("{}/simple/demo-pkg/", proxy.url);
    assert!(
        wait_until(Duration::from_secs(30), || curl(&page_url, &[JSON]).0
            == 200),
        "{}",
        proxy.log()
    );
    page_url
}

/// While the upstream cannot be reached, the proxy serves the pages and
/// files it verified and cached, saying so in a header and its log, also
/// after a restart; with metadata past its expiry it serves nothing and
/// does not start.
#[test]
fn the_verified_cache_serves_while_the_upstream_is_unreachable() {
    let (dir, mut server, _) = index_with_demo();
    let (root, cache) = (server.data.join("root.json"), dir.path().join("cache"));
    let proxy = Proxy::start(&server.url, &root, &cache);
    let page_url = demo_page_served(&proxy);
    let out = pip_install(&proxy.url, &dir.path().join("site-online"), "demo-pkg");
    assert!(out.status.success(), "{}", stderr(&out));

    let upstream = server.url.clone();
    server.kill();
    let page_head = head(&page_url);
    assert!(
        page_head.starts_with("HTTP/1.1 200")
            && page_head.contains(&format!(
                "x-bulwark-offline: the upstream cannot be reached: cannot download root version 2 metadata from {upstream}/tuf/metadata/2.root.json"
            )),
        "{page_head}\n{}",
        proxy.log()
    );
    let site = dir.path().join("site-offline");
    let out = pip_install(&proxy.url, &site, "demo-pkg");
    assert!(out.status.success(), "{}\n{}", stderr(&out), proxy.log());
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    assert!(proxy.log().contains("served from the verified cache"));
    // What the cache does not hold (here the bin of another project) is
    // not served, and the reason names the URL that cannot be reached.
    let line = status_line(&format!("{}/simple/never-uploaded/", proxy.url));
    assert!(
        line.starts_with("HTTP/1.1 502 upstream unavailable: cannot download bin-")
            && line.contains(&format!("metadata from {upstream}/tuf/metadata/")),
        "{line}"
    );
    drop(proxy);

    let restarted = Proxy::start(&upstream, &root, &cache);
    let site = dir.path().join("site-restarted");
    let out = uv_install(&restarted.url, &site, "demo-pkg");
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        restarted.log()
    );
    assert_eq!(installed_version(&site, "demo_pkg"), "1.0");
    drop(restarted);

    // Three days on, the cached timestamp (valid for a day) has expired.
    let out = proxy_refuses_to_start(
        &upstream,
        &root,
        &["--cache-dir".as_ref(), cache.as_os_str()],
        &["/usr/bin/faketime", "-f", "+3d"],
    );
    let said = stderr(&out);
    assert!(
        said.contains("the upstream cannot be reached")
            && said.contains(
                "the verified cache cannot serve in its place (timestamp metadata expired at"
            ),
        "{said}"
    );
}

/// `uv` in `project`, through the simple API at `base`, with no cache and
/// the venv's Python.
fn uv_project(project: &Path, base: &str, args: &[&str]) -> Output {
    Command::new(venv_bin("uv"))
        .args(args)
        .args(["--no-cache", "--python"])
        .arg(venv_bin("python"))
        .arg("--default-index")
        .arg(format!("{base}/simple/"))
        .current_dir(project)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_HTTP_RETRIES", "0")
        .output()
        .unwrap()
}

/// A uv lock file names file URLs only. Locked through one proxy, it
/// installs (`uv sync --frozen`) through a new proxy process on the same
/// cache and address, which never served the pages: it verifies the page
/// each filename names (this used to be a 404 for every file).
#[test]
fn a_lock_file_installs_through_a_restarted_proxy() {
    let (dir, server, _) = index_with_demo();
    let (root, cache) = (server.data.join("root.json"), dir.path().join("cache"));
    let proxy = Proxy::start(&server.url, &root, &cache);
    demo_page_served(&proxy);
    let project = dir.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"demo-pkg\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    let out = uv_project(&project, &proxy.url, &["lock"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), proxy.log());
    let lock = std::fs::read_to_string(project.join("uv.lock")).unwrap();
    assert!(
        lock.contains(&format!("{}/files/", proxy.url)) && lock.contains("demo_pkg-1.0"),
        "{lock}"
    );

    let url = proxy.url.clone();
    drop(proxy);
    let listen = url.trim_start_matches("http://");
    let restarted = Proxy::start_on(&server.url, &root, &cache, listen);
    assert_eq!(restarted.url, url);
    let out = uv_project(&project, &restarted.url, &["sync", "--frozen"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr(&out),
        restarted.log()
    );
    let out = run_ok(
        Command::new(project.join(".venv/bin/python"))
            .args(["-c", "import demo_pkg; print(demo_pkg.VERSION)"]),
    );
    assert_eq!(stdout(&out).trim(), "1.0");
}
