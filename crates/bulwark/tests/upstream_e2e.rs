//! `bulwark serve` as a signed pull-through cache of an upstream index
//! (`BULWARK_UPSTREAM`, issue #14), with real processes on loopback: the
//! upstream is a second `bulwark serve` or pypiserver (HTML pages with
//! `#sha256=` fragments and no sizes). pip and uv install a local package
//! whose dependencies live only upstream, directly and through `bulwark
//! proxy`; python-tuf verifies an upstream project's page; a replaced
//! upstream file is refused and not stored; a local name wins over a higher
//! upstream version, a name cached from upstream refuses uploads until
//! `bulwark upstream release`, deny and allow lists keep names from being
//! pulled; cached installs keep working with the upstream stopped, while new
//! names get 503; after the TTL new upstream files appear, removed ones stay
//! and a changed hash is refused; upstream yanks are carried.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_tuf::json::{self, Value};
use common::{
    Proxy, Server, bulwark, http_status, installed_version, make_dist, pip_install, python_script,
    run_ok, stderr, stdout, token, twine_upload, uv_install, venv_bin, wait_until,
};

const JSON: &str = "Accept: application/vnd.pypi.simple.v1+json";

/// How long a test waits for something the index does in the background
/// (signing a page, a refresh after the TTL).
const PATIENCE: Duration = Duration::from_mins(1);

/// Status code and body of a GET through curl (`-L`: redirects followed).
fn curl(url: &str, headers: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sL", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Status and body of the PEP 691 JSON page of `project` on `base`.
fn json_page(base: &str, project: &str) -> (u16, String) {
    curl(&format!("{base}/simple/{project}/"), &[JSON])
}

/// The JSON page of `project`, which must be answered with a 200 (the
/// first request for an upstream project waits for its signed page).
fn page_ok(index: &Server, project: &str) -> String {
    let (code, body) = json_page(&index.url, project);
    assert_eq!(
        code,
        200,
        "GET /simple/{project}/: {body}\nindex log:\n{}",
        index.log()
    );
    body
}

/// One file of a JSON project page.
#[derive(Debug)]
struct Listed {
    filename: String,
    url: String,
    sha256: String,
    /// `None` when the page gives no size.
    size: Option<i64>,
    /// `None` if not yanked, else the reason (empty for `true`).
    yanked: Option<String>,
}

/// The files of a PEP 691 JSON page.
fn listed(page: &str) -> Vec<Listed> {
    let Ok(Value::Object(top)) = json::parse(page.as_bytes()) else {
        panic!("not a JSON page: {page}")
    };
    let Some(Value::Array(files)) = top.get("files") else {
        panic!("no files in {page}")
    };
    let text = |entry: &std::collections::BTreeMap<String, Value>, key: &str| match entry.get(key) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{key} is {other:?} in {page}"),
    };
    files
        .iter()
        .map(|file| {
            let Value::Object(entry) = file else {
                panic!("a file is not an object in {page}")
            };
            let Some(Value::Object(hashes)) = entry.get("hashes") else {
                panic!("no hashes in {page}")
            };
            Listed {
                filename: text(entry, "filename"),
                url: text(entry, "url"),
                sha256: text(hashes, "sha256"),
                size: match entry.get("size") {
                    Some(Value::Int(size)) => Some(*size),
                    _ => None,
                },
                yanked: match entry.get("yanked") {
                    Some(Value::Bool(true)) => Some(String::new()),
                    Some(Value::String(reason)) => Some(reason.clone()),
                    _ => None,
                },
            }
        })
        .collect()
}

/// The entry of `filename` on `page`.
fn entry<'a>(page: &'a [Listed], filename: &str) -> &'a Listed {
    page.iter()
        .find(|f| f.filename == filename)
        .unwrap_or_else(|| panic!("{filename} is not on the page: {page:?}"))
}

/// The absolute URL of `href` as a page of `project` on `base` gives it.
fn file_url(base: &str, project: &str, href: &str) -> String {
    if href.starts_with("http://") || href.starts_with("https://") {
        return href.to_owned();
    }
    if let Some(absolute) = href.strip_prefix('/') {
        return format!("{base}/{absolute}");
    }
    let mut dir = vec!["simple", project];
    let mut rest = href;
    while let Some(up) = rest.strip_prefix("../") {
        dir.pop();
        rest = up;
    }
    let mut url = format!("{base}/");
    for part in dir {
        url.push_str(part);
        url.push('/');
    }
    url.push_str(rest);
    url
}

/// The wheel among the files `make_dist` built.
fn wheel_in(files: &[String]) -> &str {
    files
        .iter()
        .find(|f| {
            Path::new(f)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("whl"))
        })
        .unwrap_or_else(|| panic!("no wheel among {files:?}"))
}

fn sha256_of(path: &Path) -> String {
    bulwark_tuf::hash::sha256_hex(&std::fs::read(path).unwrap())
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Builds `name` `version` (a wheel and an sdist, depending on
/// `requires`) and uploads it to `server` with twine as `token`.
fn publish(
    server: &Server,
    token: &str,
    out: &Path,
    name: &str,
    version: &str,
    requires: &[&str],
) -> Vec<String> {
    let files = make_dist(out, name, version, requires);
    let result = twine_upload(&server.url, token, &files);
    assert!(
        result.status.success(),
        "twine upload of {name} {version} to {} failed: {}{}",
        server.url,
        stdout(&result),
        stderr(&result)
    );
    files
}

/// A `bulwark serve` on `data` pulling what it does not host from
/// `upstream` (a simple-index URL), with extra settings `env`.
fn start_index(data: &Path, upstream: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![("BULWARK_UPSTREAM", upstream)];
    all.extend_from_slice(env);
    Server::start_with_env(data, &all)
}

/// The simple-index URL of a Bulwark server, as `BULWARK_UPSTREAM` takes it.
fn simple(server: &Server) -> String {
    format!("{}/simple/", server.url)
}

/// A process whose log a failing test shows.
trait Logged {
    /// Its URL and log.
    fn describe(&self) -> String;
}

impl Logged for Server {
    fn describe(&self) -> String {
        format!("log of {}:\n{}", self.url, self.log())
    }
}

impl Logged for Proxy {
    fn describe(&self) -> String {
        format!("log of the proxy {}:\n{}", self.url, self.log())
    }
}

/// Panics with the install's output and the logs unless it succeeded.
#[track_caller]
fn installed(out: &Output, what: &str, logs: &[&dyn Logged]) {
    if !out.status.success() {
        let mut text = format!("{what} failed:\n{}\n{}", stdout(out), stderr(out));
        for server in logs {
            let _ = write!(text, "\n{}", server.describe());
        }
        panic!("{text}");
    }
}

/// `bulwark <args> --data-dir <data>`, which must succeed; its stdout.
fn operator(data: &Path, args: &[&str]) -> String {
    stdout(&run_ok(bulwark().args(args).arg("--data-dir").arg(data)))
}

/// A running pypiserver serving the packages in `dir`, without the
/// fallback redirect to `PyPI`, re-reading the directory on every request.
struct Pypiserver {
    child: Child,
    url: String,
    port: u16,
    log: PathBuf,
}

impl Pypiserver {
    fn start(dir: &Path) -> Self {
        // The port is picked by binding port 0 and let go before pypiserver
        // binds it: another process may take it meanwhile, so try again.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if let Some(server) = Self::start_on(dir, port) {
                return server;
            }
        }
        panic!(
            "pypi-server never answered; log:\n{}",
            std::fs::read_to_string(dir.with_extension("pypiserver.log")).unwrap_or_default()
        );
    }

    /// Starts pypiserver on `port`; `None` if it exits or never answers.
    fn start_on(dir: &Path, port: u16) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.with_extension("pypiserver.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(venv_bin("pypi-server"))
            .args(["run", "-p", &port.to_string(), "-i", "127.0.0.1"])
            .args(["--disable-fallback", "--backend", "simple-dir"])
            .args(["--hash-algo", "sha256"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("cannot start pypi-server");
        let url = format!("http://127.0.0.1:{port}");
        let up = wait_until(PATIENCE, || {
            matches!(child.try_wait(), Ok(Some(_)))
                || http_status(&format!("{url}/simple/")) == "200"
        });
        if up && matches!(child.try_wait(), Ok(None)) {
            return Some(Self {
                child,
                url,
                port,
                log,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    fn simple(&self) -> String {
        format!("{}/simple/", self.url)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pypiserver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// python-tuf (`tests/python/tuf_client.py`), trusting only the index's
/// root.json, downloads the signed page of `project`; its text.
fn python_tuf_page(index: &Server, project: &str, work: &Path) -> String {
    let meta = work.join(format!("tuf-meta-{project}"));
    let targets = work.join(format!("tuf-targets-{project}"));
    std::fs::create_dir_all(&targets).unwrap();
    run_ok(
        python_script("tuf_client.py")
            .arg("--metadata-dir")
            .arg(&meta)
            .arg("init")
            .arg(index.data.join("root.json")),
    );
    let download = || {
        python_script("tuf_client.py")
            .arg("--metadata-dir")
            .arg(&meta)
            .arg("--metadata-url")
            .arg(format!("{}/tuf/metadata/", index.url))
            .arg("--target-name")
            .arg(format!("simple/{project}/index.json"))
            .arg("--target-base-url")
            .arg(format!("{}/tuf/targets/", index.url))
            .arg("--target-dir")
            .arg(&targets)
            .arg("download")
            .output()
            .unwrap()
    };
    assert!(
        wait_until(PATIENCE, || download().status.success()),
        "python-tuf never downloaded simple/{project}/index.json: {}\nindex log:\n{}",
        stderr(&download()),
        index.log()
    );
    std::fs::read_to_string(targets.join(format!("simple%2F{project}%2Findex.json"))).unwrap()
}

/// An upstream `bulwark serve` in `dir/upstream` where `uploader` published
/// dep-b 1.0 and dep-a 1.0 (which requires dep-b); its token.
fn upstream_with_deps(dir: &Path) -> (Server, String) {
    let upstream = Server::start(&dir.join("upstream"));
    let uploader = token(&upstream.data, "uploader");
    publish(
        &upstream,
        &uploader,
        &dir.join("dist/b1"),
        "dep-b",
        "1.0",
        &[],
    );
    publish(
        &upstream,
        &uploader,
        &dir.join("dist/a1"),
        "dep-a",
        "1.0",
        &["dep-b>=1.0"],
    );
    (upstream, uploader)
}

/// pip and uv install `ourapp` (local) with dep-a and dep-b (upstream)
/// from `base` alone into new directories under `work` named `label`.
fn installs_the_tree(base: &str, work: &Path, label: &str, logs: &[&dyn Logged]) {
    let site = work.join(format!("site-pip-{label}"));
    installed(
        &pip_install(base, &site, "ourapp"),
        &format!("pip install ourapp ({label})"),
        logs,
    );
    for module in ["ourapp", "dep_a", "dep_b"] {
        assert_eq!(installed_version(&site, module), "1.0", "{module}");
    }
    let site = work.join(format!("site-uv-{label}"));
    installed(
        &uv_install(base, &site, "ourapp"),
        &format!("uv pip install ourapp ({label})"),
        logs,
    );
    for module in ["ourapp", "dep_a", "dep_b"] {
        assert_eq!(installed_version(&site, module), "1.0", "{module}");
    }
}

/// `bulwark proxy` in front of an index that has not pulled anything yet:
/// for each name its signed metadata does not list, the proxy asks the
/// index's /simple/<name>/ once, the index pulls and signs the project,
/// and pip and uv install the whole tree, every page verified by TUF.
#[test]
fn the_proxy_installs_upstream_dependencies_the_index_never_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, _) = upstream_with_deps(dir.path());
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);
    let alice = token(&index.data, "alice");
    publish(
        &index,
        &alice,
        &dir.path().join("dist/app"),
        "ourapp",
        "1.0",
        &["dep-a>=1.0"],
    );
    let proxy = Proxy::start(
        &index.url,
        &index.data.join("root.json"),
        &dir.path().join("proxy-cache"),
    );
    assert!(
        wait_until(PATIENCE, || json_page(&proxy.url, "ourapp").0 == 200),
        "the proxy never served ourapp's signed page; proxy log:\n{}\nindex log:\n{}",
        proxy.log(),
        index.log()
    );
    let list = operator(&index.data, &["upstream", "list"]);
    assert!(list.is_empty(), "nothing is pulled yet: {list}");
    installs_the_tree(
        &proxy.url,
        dir.path(),
        "proxy",
        &[&proxy, &index, &upstream],
    );
    let list = operator(&index.data, &["upstream", "list"]);
    assert!(list.contains("dep-a") && list.contains("dep-b"), "{list}");
}

/// pip and uv, given only the index's URL, install a local package whose
/// dependencies live only upstream; the pages of the upstream projects
/// point at the index's own /files/; then the same through `bulwark proxy`,
/// which verifies every page against the index's TUF metadata.
#[test]
fn pip_and_uv_install_local_package_with_upstream_dependencies_directly_and_through_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, _) = upstream_with_deps(dir.path());
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);
    let alice = token(&index.data, "alice");
    publish(
        &index,
        &alice,
        &dir.path().join("dist/app"),
        "ourapp",
        "1.0",
        &["dep-a>=1.0"],
    );

    installs_the_tree(&index.url, dir.path(), "direct", &[&index, &upstream]);

    // The upstream project's page sends clients to this index's files,
    // never to the upstream.
    let page = page_ok(&index, "dep-a");
    let files = listed(&page);
    assert_eq!(files.len(), 2, "{page}");
    for file in &files {
        assert!(
            file_url(&index.url, "dep-a", &file.url).starts_with(&format!("{}/files/", index.url)),
            "{file:?}"
        );
    }
    assert!(!page.contains(&upstream.url), "{page}");
    // PEP 658: the wheel's metadata file is listed and served by the index.
    assert!(page.contains("core-metadata"), "{page}");
    let wheel = entry(&files, "dep_a-1.0-py3-none-any.whl");
    let (code, metadata) = curl(
        &format!("{}.metadata", file_url(&index.url, "dep-a", &wheel.url)),
        &[],
    );
    assert_eq!(code, 200, "{metadata}\nindex log:\n{}", index.log());
    assert!(metadata.contains("Requires-Dist: dep-b>=1.0"), "{metadata}");

    // The proxy serves only what the index's TUF metadata lists: the
    // upstream projects the index cached, and its local one.
    let proxy = Proxy::start(
        &index.url,
        &index.data.join("root.json"),
        &dir.path().join("proxy-cache"),
    );
    let published = |name: &str| json_page(&proxy.url, name).0 == 200;
    assert!(
        wait_until(PATIENCE, || published("ourapp")
            && published("dep-a")
            && published("dep-b")),
        "the proxy never served the signed pages; proxy log:\n{}\nindex log:\n{}",
        proxy.log(),
        index.log()
    );
    installs_the_tree(
        &proxy.url,
        dir.path(),
        "proxy",
        &[&proxy, &index, &upstream],
    );
}

/// python-tuf, trusting only the index's root.json, downloads the signed
/// page of a project the index pulled from upstream, and the wheel through
/// it: the page lists the upstream's sha256 and size.
#[test]
fn python_tuf_verifies_an_upstream_project_page_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Server::start(&dir.path().join("upstream"));
    let uploader = token(&upstream.data, "uploader");
    let files = publish(
        &upstream,
        &uploader,
        &dir.path().join("dist"),
        "Dep_A",
        "1.0",
        &[],
    );
    let wheel = wheel_in(&files);
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);
    page_ok(&index, "dep-a");

    let verify = || {
        python_script("verify_index.py")
            .arg(index.data.join("root.json"))
            .arg(&index.url)
            .arg("dep-a")
            .arg(file_name(wheel))
            .output()
            .unwrap()
    };
    assert!(
        wait_until(PATIENCE, || verify().status.success()),
        "python-tuf never verified dep-a: {}\nindex log:\n{}",
        stderr(&verify()),
        index.log()
    );
    let verified = stdout(&verify());
    assert!(
        verified.contains(&sha256_of(Path::new(wheel))),
        "{verified}"
    );

    let page = python_tuf_page(&index, "dep-a", dir.path());
    let files = listed(&page);
    let signed = entry(&files, &file_name(wheel));
    assert_eq!(signed.sha256, sha256_of(Path::new(wheel)));
    assert_eq!(
        signed.size,
        Some(i64::try_from(std::fs::metadata(wheel).unwrap().len()).unwrap())
    );
}

/// pypiserver as the upstream (PEP 503 HTML, `#sha256=` fragments, no
/// sizes): pip and uv install through the index; the signed page lists
/// pypiserver's sha256 and, having no size from it, gives none.
#[test]
fn pypiserver_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    let b = make_dist(&packages, "dep-b", "1.0", &[]);
    make_dist(&packages, "dep-a", "1.0", &["dep-b>=1.0"]);
    let pypiserver = Pypiserver::start(&packages);
    let index = start_index(&dir.path().join("index"), &pypiserver.simple(), &[]);
    let alice = token(&index.data, "alice");
    publish(
        &index,
        &alice,
        &dir.path().join("dist/app"),
        "ourapp",
        "1.0",
        &["dep-a>=1.0"],
    );
    let site = dir.path().join("site-pip");
    let out = pip_install(&index.url, &site, "ourapp");
    assert!(
        out.status.success(),
        "pip install failed: {}{}\nindex log:\n{}\npypiserver log:\n{}",
        stdout(&out),
        stderr(&out),
        index.log(),
        pypiserver.log()
    );
    for module in ["ourapp", "dep_a", "dep_b"] {
        assert_eq!(installed_version(&site, module), "1.0", "{module}");
    }
    let site = dir.path().join("site-uv");
    installed(
        &uv_install(&index.url, &site, "ourapp"),
        "uv install",
        &[&index],
    );
    assert_eq!(installed_version(&site, "dep_b"), "1.0");

    let page = python_tuf_page(&index, "dep-b", dir.path());
    let files = listed(&page);
    assert_eq!(files.len(), 2, "{page}");
    for built in &b {
        let signed = entry(&files, &file_name(built));
        assert_eq!(signed.sha256, sha256_of(Path::new(built)), "{page}");
        assert_eq!(signed.size, None, "pypiserver gives no size: {page}");
    }
    assert!(!page.contains("_blake2b_256"), "{page}");
}

/// The result of fetching a file through the index with curl: whether
/// curl succeeded, the status code, and the body.
fn fetch(url: &str, to: &Path) -> (bool, String, Vec<u8>) {
    let _ = std::fs::remove_file(to);
    let out = Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "%{http_code}", "-o"])
        .arg(to)
        .arg(url)
        .output()
        .unwrap();
    (
        out.status.success(),
        stdout(&out),
        std::fs::read(to).unwrap_or_default(),
    )
}

/// A wheel that pypiserver serves under the name of the one the index
/// signed, with other bytes, is refused: curl gets no complete 200, pip
/// fails, and a second attempt fails again (nothing was stored); once the
/// original is back, the file downloads, with the signed bytes.
#[test]
fn a_replaced_upstream_file_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    let built = make_dist(&packages, "tampered-pkg", "1.0", &[]);
    let wheel = PathBuf::from(wheel_in(&built));
    let original = std::fs::read(&wheel).unwrap();
    let evil = make_dist(
        &dir.path().join("evil"),
        "tampered-pkg",
        "1.0",
        &["evil-dep"],
    );
    let evil = std::fs::read(wheel_in(&evil)).unwrap();
    assert_ne!(original, evil);
    let pypiserver = Pypiserver::start(&packages);
    let index = start_index(&dir.path().join("index"), &pypiserver.simple(), &[]);

    let page = page_ok(&index, "tampered-pkg");
    let files = listed(&page);
    let signed = entry(&files, &file_name(wheel.to_str().unwrap()));
    assert_eq!(signed.sha256, bulwark_tuf::hash::sha256_hex(&original));
    let url = file_url(&index.url, "tampered-pkg", &signed.url);

    std::fs::write(&wheel, &evil).unwrap();
    let body = dir.path().join("body");
    for attempt in ["first", "second"] {
        let (ok, code, bytes) = fetch(&url, &body);
        assert!(
            !ok || code != "200",
            "{attempt} download of the replaced file was answered in full ({code}, {} bytes, \
             {} the replacement)\nindex log:\n{}",
            bytes.len(),
            if bytes == evil { "is" } else { "is not" },
            index.log()
        );
        assert_ne!(
            bytes, evil,
            "{attempt}: the replaced bytes reached the client"
        );
    }
    let log = index.log();
    assert!(
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains("upstream file refused"))
            .count()
            >= 2,
        "the index logs each refusal:\n{log}"
    );
    let site = dir.path().join("site");
    let out = pip_install(&index.url, &site, "tampered-pkg");
    assert!(
        !out.status.success(),
        "pip installed a replaced file: {}",
        stdout(&out)
    );
    assert!(!site.join("tampered_pkg.py").exists());

    std::fs::write(&wheel, &original).unwrap();
    let (ok, code, bytes) = fetch(&url, &body);
    assert!(
        ok && code == "200" && bytes == original,
        "the original file is not served once back upstream ({code}, {} bytes)\nindex log:\n{}",
        bytes.len(),
        index.log()
    );
    installed(
        &pip_install(&index.url, &dir.path().join("site-ok"), "tampered-pkg"),
        "pip install of the original",
        &[&index],
    );
}

/// Dependency confusion: the upstream publishes the name of a local
/// project with a higher version; pip and uv get the local one, and the
/// index's page lists only the local files.
#[test]
fn a_local_project_wins_over_a_higher_upstream_version() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Server::start(&dir.path().join("upstream"));
    let mallory = token(&upstream.data, "mallory");
    publish(
        &upstream,
        &mallory,
        &dir.path().join("dist/evil"),
        "ourapp",
        "9.0",
        &[],
    );
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);
    let alice = token(&index.data, "alice");
    publish(
        &index,
        &alice,
        &dir.path().join("dist/app"),
        "ourapp",
        "1.0",
        &[],
    );

    let site = dir.path().join("site-pip");
    installed(&pip_install(&index.url, &site, "ourapp"), "pip", &[&index]);
    assert_eq!(installed_version(&site, "ourapp"), "1.0");
    let site = dir.path().join("site-uv");
    installed(&uv_install(&index.url, &site, "ourapp"), "uv", &[&index]);
    assert_eq!(installed_version(&site, "ourapp"), "1.0");
    let out = pip_install(&index.url, &dir.path().join("site-9"), "ourapp>=2");
    assert!(
        !out.status.success(),
        "pip found ourapp>=2: {}",
        stdout(&out)
    );
    let page = page_ok(&index, "ourapp");
    assert!(!page.contains("ourapp-9.0"), "{page}");
    assert_eq!(listed(&page).len(), 2, "{page}");
}

/// A name cached from upstream refuses uploads to the index (403, naming
/// the cause and `bulwark upstream release`); `bulwark upstream list`
/// shows it; after `bulwark upstream release` (audited) the upload goes
/// through and the page lists only the local files.
#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn a_name_cached_from_upstream_refuses_uploads_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, _) = upstream_with_deps(dir.path());
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);
    page_ok(&index, "dep-b");

    let list = operator(&index.data, &["upstream", "list"]);
    assert!(list.contains("dep-b"), "{list}");
    assert!(!list.contains("dep-a"), "never requested: {list}");
    let list = operator(&index.data, &["upstream", "list", "--json"]);
    assert!(
        list.contains("dep-b") && list.contains(&upstream.url),
        "{list}"
    );

    let alice = token(&index.data, "alice");
    let v2 = make_dist(&dir.path().join("dist/b2"), "dep-b", "2.0", &[]);
    let out = twine_upload(&index.url, &alice, &v2);
    assert!(
        !out.status.success(),
        "the upload to a cached name went through"
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("403") && text.contains("cached from upstream"),
        "{text}"
    );

    assert!(
        text.contains("bulwark upstream release"),
        "the refusal names the way out: {text}"
    );

    // Only a pulled name can be released.
    let release = |project: &str| {
        bulwark()
            .args([
                "upstream", "release", "--owner", "alice", "--actor", "admin",
            ])
            .arg(project)
            .arg("--data-dir")
            .arg(&index.data)
            .output()
            .unwrap()
    };
    let out = bulwark()
        .args([
            "upstream",
            "release",
            "--owner",
            "not a user",
            "--actor",
            "admin",
        ])
        .arg("dep-b")
        .arg("--data-dir")
        .arg(&index.data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--owner: user names are 1 to 100 characters"),
        "{}",
        stderr(&out)
    );
    let out = release("never-pulled");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("never-pulled is not a project pulled from an upstream index"),
        "{}",
        stderr(&out)
    );
    let out = release("Dep_B");
    assert!(out.status.success(), "{}", stderr(&out));
    let audit = operator(&index.data, &["audit", "--project", "dep-b"]);
    assert!(
        audit.contains("release-upstream") && audit.contains("admin"),
        "{audit}"
    );
    let list = operator(&index.data, &["upstream", "list"]);
    assert!(!list.contains("dep-b"), "{list}");
    let out = release("dep-b");
    assert!(!out.status.success(), "released twice");

    let out = twine_upload(&index.url, &alice, &v2);
    assert!(
        out.status.success(),
        "the upload after the release failed: {}{}\nindex log:\n{}",
        stdout(&out),
        stderr(&out),
        index.log()
    );
    // Once signed, the page lists the local files only.
    let local_only = || {
        let (code, page) = json_page(&index.url, "dep-b");
        code == 200
            && listed(&page)
                .into_iter()
                .map(|f| f.filename)
                .collect::<Vec<_>>()
                == ["dep_b-2.0-py3-none-any.whl", "dep_b-2.0.tar.gz"]
    };
    assert!(
        wait_until(PATIENCE, local_only),
        "dep-b's page: {}\nindex log:\n{}",
        json_page(&index.url, "dep-b").1,
        index.log()
    );
    let site = dir.path().join("site");
    installed(&pip_install(&index.url, &site, "dep-b"), "pip", &[&index]);
    assert_eq!(installed_version(&site, "dep_b"), "2.0");
}

/// `upstream_deny` names (a trailing `*` a prefix) are never fetched,
/// whatever their spelling; with `upstream_allow`, only matching names are.
#[test]
fn deny_and_allow_lists_keep_names_from_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Server::start(&dir.path().join("upstream"));
    let uploader = token(&upstream.data, "uploader");
    for name in ["secret-thing", "other-thing"] {
        publish(
            &upstream,
            &uploader,
            &dir.path().join("dist").join(name),
            name,
            "1.0",
            &[],
        );
    }
    let denying = start_index(
        &dir.path().join("denying"),
        &simple(&upstream),
        &[("BULWARK_UPSTREAM_DENY", "secret-*")],
    );
    assert_eq!(json_page(&denying.url, "secret-thing").0, 404);
    assert_eq!(json_page(&denying.url, "Secret.Thing").0, 404);
    page_ok(&denying, "other-thing");
    assert_eq!(json_page(&denying.url, "secret-thing").0, 404);

    let allowing = start_index(
        &dir.path().join("allowing"),
        &simple(&upstream),
        &[("BULWARK_UPSTREAM_ALLOW", "other-thing")],
    );
    assert_eq!(json_page(&allowing.url, "secret-thing").0, 404);
    page_ok(&allowing, "other-thing");
}

/// With the upstream stopped, what was installed once installs again from
/// the cache (even past the TTL, whose refresh fails), and a name never
/// fetched gets a 503 that says why.
#[test]
fn cached_installs_keep_working_while_the_upstream_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let (mut upstream, uploader) = upstream_with_deps(dir.path());
    publish(
        &upstream,
        &uploader,
        &dir.path().join("dist/later"),
        "later-pkg",
        "1.0",
        &[],
    );
    let index = start_index(
        &dir.path().join("index"),
        &simple(&upstream),
        &[("BULWARK_UPSTREAM_TTL_SECS", "1")],
    );
    let alice = token(&index.data, "alice");
    publish(
        &index,
        &alice,
        &dir.path().join("dist/app"),
        "ourapp",
        "1.0",
        &["dep-a>=1.0"],
    );
    installs_the_tree(&index.url, dir.path(), "online", &[&index, &upstream]);

    upstream.kill();
    // Past the TTL: the next requests try (and fail) to refresh.
    std::thread::sleep(Duration::from_secs(2));
    installs_the_tree(&index.url, dir.path(), "offline", &[&index]);
    installs_the_tree(&index.url, dir.path(), "offline-again", &[&index]);

    let log = index.log();
    assert!(
        log.contains("upstream refresh failed, cached page kept"),
        "the refreshes past the TTL were tried and failed:\n{log}"
    );
    let (code, body) = json_page(&index.url, "later-pkg");
    assert_eq!(code, 503, "{body}\nindex log:\n{}", index.log());
    assert!(body.to_lowercase().contains("upstream"), "{body}");
    page_ok(&index, "dep-a");
}

/// A file of a pulled project that was never downloaded cannot be served
/// while the upstream is down: the client gets no complete 200 (and pip
/// fails), while the signed page is still served; once the upstream is
/// back, the file downloads.
#[test]
fn a_file_never_fetched_is_not_served_while_the_upstream_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    make_dist(&packages, "dep-b", "1.0", &[]);
    let pypiserver = Pypiserver::start(&packages);
    let index = start_index(&dir.path().join("index"), &pypiserver.simple(), &[]);
    let page = page_ok(&index, "dep-b");
    let files = listed(&page);
    let wheel = entry(&files, "dep_b-1.0-py3-none-any.whl");
    let url = file_url(&index.url, "dep-b", &wheel.url);

    let port = pypiserver.port;
    drop(pypiserver);
    let body = dir.path().join("body");
    let (_, code, bytes) = fetch(&url, &body);
    assert_eq!(
        code,
        "502",
        "a file never fetched, with the upstream down, is a 502 ({} bytes)",
        bytes.len()
    );
    assert!(
        String::from_utf8_lossy(&bytes).contains("The upstream index did not give this file"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let out = pip_install(&index.url, &dir.path().join("site-down"), "dep-b");
    assert!(!out.status.success(), "{}", stdout(&out));
    page_ok(&index, "dep-b");

    let pypiserver =
        Pypiserver::start_on(&packages, port).expect("pypi-server cannot listen on its port again");
    let site = dir.path().join("site");
    let out = pip_install(&index.url, &site, "dep-b");
    assert!(
        out.status.success(),
        "pip install once the upstream is back: {}{}\nindex log:\n{}\npypiserver log:\n{}",
        stdout(&out),
        stderr(&out),
        index.log(),
        pypiserver.log()
    );
    assert_eq!(installed_version(&site, "dep_b"), "1.0");
}

/// With a TTL of one second, a release uploaded upstream after the index
/// cached the project appears on the index's page; pip then gets it.
#[test]
fn a_new_upstream_release_appears_after_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, uploader) = upstream_with_deps(dir.path());
    let index = start_index(
        &dir.path().join("index"),
        &simple(&upstream),
        &[("BULWARK_UPSTREAM_TTL_SECS", "1")],
    );
    assert_eq!(listed(&page_ok(&index, "dep-b")).len(), 2);

    publish(
        &upstream,
        &uploader,
        &dir.path().join("dist/b2"),
        "dep-b",
        "2.0",
        &[],
    );
    let appeared = wait_until(PATIENCE, || {
        json_page(&index.url, "dep-b")
            .1
            .contains("dep_b-2.0-py3-none-any.whl")
    });
    assert!(
        appeared,
        "dep-b 2.0 never appeared on the index; page: {}\nindex log:\n{}",
        json_page(&index.url, "dep-b").1,
        index.log()
    );
    assert_eq!(listed(&page_ok(&index, "dep-b")).len(), 4);
    let site = dir.path().join("site");
    installed(&pip_install(&index.url, &site, "dep-b"), "pip", &[&index]);
    assert_eq!(installed_version(&site, "dep_b"), "2.0");
}

/// Refreshes from pypiserver after the TTL: a file pypiserver no longer
/// lists stays on the signed page while a new one is added; then a wheel
/// replaced under the same filename keeps its original sha256 on the page
/// (the change is logged as a warning), and a file added beside it still
/// comes in.
#[test]
fn a_refresh_keeps_removed_files_and_refuses_changed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    let v1 = make_dist(&packages, "keep-pkg", "1.0", &[]);
    let wheel = wheel_in(&v1).to_owned();
    let sdist = v1.iter().find(|f| **f != wheel).unwrap().clone();
    let original = sha256_of(Path::new(&wheel));
    let pypiserver = Pypiserver::start(&packages);
    let index = start_index(
        &dir.path().join("index"),
        &pypiserver.simple(),
        &[("BULWARK_UPSTREAM_TTL_SECS", "1")],
    );
    assert_eq!(listed(&page_ok(&index, "keep-pkg")).len(), 2);
    let appears = |filename: &str| {
        let appeared = wait_until(PATIENCE, || {
            json_page(&index.url, "keep-pkg").1.contains(filename)
        });
        assert!(
            appeared,
            "{filename} never appeared on the index: {}\nindex log:\n{}\npypiserver log:\n{}",
            json_page(&index.url, "keep-pkg").1,
            index.log(),
            pypiserver.log()
        );
    };

    // Removed upstream, kept here.
    std::fs::remove_file(&sdist).unwrap();
    make_dist(&packages, "keep-pkg", "2.0", &[]);
    appears("keep_pkg-2.0-py3-none-any.whl");
    let page = page_ok(&index, "keep-pkg");
    let files = listed(&page);
    assert_eq!(files.len(), 4, "{page}");
    entry(&files, &file_name(&sdist));

    // Replaced upstream: refused, logged; a new file beside it comes in.
    let other = make_dist(&dir.path().join("other"), "keep-pkg", "1.0", &["other-dep"]);
    std::fs::copy(wheel_in(&other), &wheel).unwrap();
    assert_ne!(sha256_of(Path::new(&wheel)), original);
    let warned = || {
        index
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains(&file_name(&wheel)))
    };
    assert!(
        wait_until(PATIENCE, || {
            json_page(&index.url, "keep-pkg");
            warned()
        }),
        "no warning names the replaced file; index log:\n{}",
        index.log()
    );
    let page = page_ok(&index, "keep-pkg");
    assert_eq!(
        entry(&listed(&page), &file_name(&wheel)).sha256,
        original,
        "{page}"
    );
    make_dist(&packages, "keep-pkg", "3.0", &[]);
    appears("keep_pkg-3.0-py3-none-any.whl");
    let page = page_ok(&index, "keep-pkg");
    let files = listed(&page);
    assert_eq!(files.len(), 6, "{page}");
    assert_eq!(entry(&files, &file_name(&wheel)).sha256, original, "{page}");
}

/// A release yanked upstream (PEP 592, with its reason) is yanked on the
/// index's signed page, as python-tuf downloads it; pip skips it.
#[test]
fn an_upstream_yank_is_carried_into_the_signed_page() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Server::start(&dir.path().join("upstream"));
    let uploader = token(&upstream.data, "uploader");
    publish(
        &upstream,
        &uploader,
        &dir.path().join("dist/1"),
        "dep-a",
        "1.0",
        &[],
    );
    publish(
        &upstream,
        &uploader,
        &dir.path().join("dist/2"),
        "dep-a",
        "2.0",
        &[],
    );
    run_ok(
        bulwark()
            .args(["yank", "--index", &upstream.url, "--reason", "broken build"])
            .args(["dep-a", "2.0"])
            .env("BULWARK_TOKEN", &uploader),
    );
    let index = start_index(&dir.path().join("index"), &simple(&upstream), &[]);

    for page in [
        page_ok(&index, "dep-a"),
        python_tuf_page(&index, "dep-a", dir.path()),
    ] {
        let files = listed(&page);
        assert_eq!(files.len(), 4, "{page}");
        for file in &files {
            let expected = file
                .filename
                .contains("-2.0")
                .then(|| "broken build".to_owned());
            assert_eq!(file.yanked, expected, "{page}");
        }
    }
    let site = dir.path().join("site");
    installed(&pip_install(&index.url, &site, "dep-a"), "pip", &[&index]);
    assert_eq!(installed_version(&site, "dep_a"), "1.0");
}

/// A yank or un-yank made upstream after the index cached the project is
/// carried by the refresh after the TTL.
#[test]
fn an_upstream_yank_after_caching_is_carried_on_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, uploader) = upstream_with_deps(dir.path());
    let index = start_index(
        &dir.path().join("index"),
        &simple(&upstream),
        &[("BULWARK_UPSTREAM_TTL_SECS", "1")],
    );
    assert!(
        listed(&page_ok(&index, "dep-b"))
            .iter()
            .all(|f| f.yanked.is_none())
    );

    let yank = |action: &str| {
        let mut cmd = bulwark();
        cmd.args([action, "--index", &upstream.url]);
        if action == "yank" {
            cmd.args(["--reason", "superseded"]);
        }
        run_ok(cmd.args(["dep-b", "1.0"]).env("BULWARK_TOKEN", &uploader));
    };
    let yanked_on_index = |reason: Option<&str>| {
        wait_until(PATIENCE, || {
            let (code, page) = json_page(&index.url, "dep-b");
            code == 200 && listed(&page).iter().all(|f| f.yanked.as_deref() == reason)
        })
    };
    yank("yank");
    assert!(
        yanked_on_index(Some("superseded")),
        "the upstream yank never reached the index: {}\nindex log:\n{}",
        json_page(&index.url, "dep-b").1,
        index.log()
    );
    yank("unyank");
    assert!(
        yanked_on_index(None),
        "the upstream un-yank never reached the index: {}\nindex log:\n{}",
        json_page(&index.url, "dep-b").1,
        index.log()
    );
}

/// The filenames a JSON page lists, in its order.
fn filenames(page: &str) -> Vec<String> {
    listed(page).into_iter().map(|f| f.filename).collect()
}

/// Several upstreams are searched in order: a name both have comes from
/// the first alone, a name only the second has from the second, a name
/// none has is 404; an unreachable upstream is passed over, and when
/// every upstream is unreachable a new name is 503.
#[test]
fn several_upstreams_are_searched_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(&dir.path().join("first"));
    let uploader = token(&first.data, "uploader");
    publish(
        &first,
        &uploader,
        &dir.path().join("dist/shared"),
        "shared-pkg",
        "1.0",
        &[],
    );
    let packages = dir.path().join("packages");
    make_dist(&packages, "shared-pkg", "2.0", &[]);
    make_dist(&packages, "second-only", "1.0", &[]);
    let second = Pypiserver::start(&packages);
    let both = format!("{},{}", simple(&first), second.simple());
    let index = start_index(&dir.path().join("index"), &both, &[]);

    let page = page_ok(&index, "shared-pkg");
    assert_eq!(
        filenames(&page),
        ["shared_pkg-1.0-py3-none-any.whl", "shared_pkg-1.0.tar.gz"],
        "{page}"
    );
    let page = page_ok(&index, "second-only");
    assert_eq!(filenames(&page).len(), 2, "{page}");
    assert_eq!(json_page(&index.url, "nowhere-pkg").0, 404);
    let site = dir.path().join("site");
    installed(
        &pip_install(&index.url, &site, "shared-pkg"),
        "pip",
        &[&index],
    );
    assert_eq!(installed_version(&site, "shared_pkg"), "1.0");

    // A port nothing listens on any more.
    let dead = format!(
        "http://{}/simple/",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    );
    let passing = start_index(
        &dir.path().join("passing"),
        &format!("{dead},{}", second.simple()),
        &[],
    );
    page_ok(&passing, "second-only");
    let down = start_index(&dir.path().join("down"), &dead, &[]);
    let (code, body) = json_page(&down.url, "second-only");
    assert_eq!(code, 503, "{body}\nindex log:\n{}", down.log());
    assert!(body.to_lowercase().contains("upstream"), "{body}");
}

/// `bulwark serve` refuses to start on upstream settings it cannot use,
/// naming the setting.
#[test]
fn serve_refuses_bad_upstream_settings() {
    let dir = tempfile::tempdir().unwrap();
    for (env, message) in [
        (
            vec![("BULWARK_UPSTREAM", "ftp://example.test/simple/")],
            "upstream: \"ftp://example.test/simple/\" is not an http(s) URL",
        ),
        (
            vec![("BULWARK_UPSTREAM", "not a url")],
            "upstream: \"not a url\" is not a URL",
        ),
        (
            vec![
                ("BULWARK_UPSTREAM", "http://127.0.0.1:9/simple/"),
                ("BULWARK_UPSTREAM_WAIT_SECS", "0"),
            ],
            "upstream_wait_secs: 0 is too short",
        ),
        (
            vec![
                ("BULWARK_UPSTREAM", "http://127.0.0.1:9/simple/"),
                ("BULWARK_UPSTREAM_DENY", "ok-name,bad name*"),
            ],
            "upstream_deny: \"bad name*\" is not a project name or a prefix*",
        ),
        (
            vec![
                ("BULWARK_UPSTREAM", "http://127.0.0.1:9/simple/"),
                ("BULWARK_UPSTREAM_ALLOW", "!"),
            ],
            "upstream_allow: \"!\" is not a project name or a prefix*",
        ),
    ] {
        let mut child = bulwark()
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let exited = wait_until(PATIENCE, || matches!(child.try_wait(), Ok(Some(_))));
        if !exited {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            exited && !out.status.success(),
            "bulwark serve started with {env:?}"
        );
        assert!(stderr(&out).contains(message), "{env:?}: {}", stderr(&out));
    }
}

/// What a [`StaticIndex`] answers: path → (content type, body).
type Routes = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// A tiny upstream on std threads that answers fixed bodies by path (404
/// otherwise), one request per connection: for pages and files no real
/// index would serve.
struct StaticIndex {
    url: String,
    routes: Routes,
}

impl StaticIndex {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: Routes = Arc::default();
        let shared = routes.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let routes = shared.clone();
                std::thread::spawn(move || {
                    let _ = answer(client, &routes);
                });
            }
        });
        Self { url, routes }
    }

    fn set(&self, path: &str, content_type: &str, body: &[u8]) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), (content_type.to_owned(), body.to_owned()));
    }
}

fn answer(
    mut client: TcpStream,
    routes: &Mutex<HashMap<String, (String, Vec<u8>)>>,
) -> std::io::Result<()> {
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
    let path = text.split_whitespace().nth(1).unwrap_or_default();
    let found = routes.lock().unwrap().get(path).cloned();
    let (status, content_type, body) = match found {
        Some((content_type, body)) => ("200 OK", content_type, body),
        None => (
            "404 Not Found",
            "text/plain".to_owned(),
            b"not found".to_vec(),
        ),
    };
    client.write_all(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    client.write_all(&body)?;
    client.shutdown(Shutdown::Both)
}

/// An upstream JSON page with entries the index must not keep (no sha256,
/// another project's file, not a distribution filename) beside a good
/// wheel: only the wheel is signed, with its PEP 658 metadata hash; a
/// `.metadata` file whose bytes do not match that hash is refused and not
/// stored, and served once the upstream serves the right bytes.
#[test]
fn only_valid_upstream_files_are_kept_and_bad_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let built = make_dist(&dir.path().join("dist"), "meta-pkg", "1.0", &[]);
    let wheel = std::fs::read(wheel_in(&built)).unwrap();
    let wheel_sha = bulwark_tuf::hash::sha256_hex(&wheel);
    let metadata = b"Metadata-Version: 2.1\nName: meta-pkg\nVersion: 1.0\n".to_vec();
    let metadata_sha = bulwark_tuf::hash::sha256_hex(&metadata);
    let upstream = StaticIndex::start();
    let page = format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "name": "meta-pkg", "files": [
  {{"filename": "meta_pkg-1.0-py3-none-any.whl", "url": "../../files/meta_pkg-1.0-py3-none-any.whl",
    "hashes": {{"sha256": "{wheel_sha}"}}, "core-metadata": {{"sha256": "{metadata_sha}"}}}},
  {{"filename": "meta_pkg-1.0.tar.gz", "url": "../../files/meta_pkg-1.0.tar.gz", "hashes": {{}}}},
  {{"filename": "other_pkg-1.0-py3-none-any.whl", "url": "../../files/other_pkg-1.0-py3-none-any.whl",
    "hashes": {{"sha256": "{wheel_sha}"}}}},
  {{"filename": "meta-pkg-setup.exe", "url": "../../files/meta-pkg-setup.exe",
    "hashes": {{"sha256": "{wheel_sha}"}}}}
]}}"#
    );
    upstream.set(
        "/simple/meta-pkg/",
        "application/vnd.pypi.simple.v1+json",
        page.as_bytes(),
    );
    let wheel_path = "/files/meta_pkg-1.0-py3-none-any.whl";
    upstream.set(wheel_path, "application/octet-stream", &wheel);
    let tampered = b"Metadata-Version: 2.1\nName: meta-pkg\nVersion: 1.0\nRequires-Dist: evil\n";
    upstream.set(
        &format!("{wheel_path}.metadata"),
        "application/octet-stream",
        tampered,
    );
    let index = start_index(
        &dir.path().join("index"),
        &format!("{}/simple/", upstream.url),
        &[],
    );

    let page = page_ok(&index, "meta-pkg");
    let files = listed(&page);
    assert_eq!(
        filenames(&page),
        ["meta_pkg-1.0-py3-none-any.whl"],
        "{page}"
    );
    assert!(page.contains(&metadata_sha), "{page}");
    let url = file_url(&index.url, "meta-pkg", &files[0].url);

    let body = dir.path().join("body");
    for attempt in ["first", "second"] {
        let (ok, code, bytes) = fetch(&format!("{url}.metadata"), &body);
        assert!(
            !ok || code != "200",
            "{attempt}: the mismatching .metadata was answered in full ({code}, {} bytes)\n\
             index log:\n{}",
            bytes.len(),
            index.log()
        );
    }
    upstream.set(
        &format!("{wheel_path}.metadata"),
        "application/octet-stream",
        &metadata,
    );
    let (ok, code, bytes) = fetch(&format!("{url}.metadata"), &body);
    assert!(
        ok && code == "200" && bytes == metadata,
        ".metadata once right upstream: {code}, {} bytes\nindex log:\n{}",
        bytes.len(),
        index.log()
    );
    let (ok, code, bytes) = fetch(&url, &body);
    assert!(ok && code == "200" && bytes == wheel, "the wheel: {code}");
}

/// A private upstream (`read_access = "token"`) is read with a read-only
/// token given in the upstream URL (`http://__token__:TOKEN@host/simple/`):
/// its pages and its files; neither the index's log nor `bulwark upstream
/// list` shows the token. Without the token nothing is pulled.
#[test]
fn a_private_upstream_is_read_with_a_token_in_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Server::start_with_env(
        &dir.path().join("upstream"),
        &[("BULWARK_READ_ACCESS", "token")],
    );
    let uploader = token(&upstream.data, "uploader");
    publish(
        &upstream,
        &uploader,
        &dir.path().join("dist"),
        "private-dep",
        "1.0",
        &[],
    );
    let reader = stdout(&run_ok(
        bulwark()
            .args(["token", "create", "--data-dir"])
            .arg(&upstream.data)
            .args(["reader", "--read-only"]),
    ))
    .trim()
    .to_owned();

    // Without the token, the private upstream is not read.
    let anonymous = start_index(&dir.path().join("anonymous"), &simple(&upstream), &[]);
    let (code, body) = json_page(&anonymous.url, "private-dep");
    assert_ne!(code, 200, "{body}");

    let with_token = upstream
        .url
        .replacen("http://", &format!("http://__token__:{reader}@"), 1);
    let index = start_index(
        &dir.path().join("index"),
        &format!("{with_token}/simple/"),
        &[],
    );
    page_ok(&index, "private-dep");
    let list = operator(&index.data, &["upstream", "list", "--json"]);
    assert!(list.contains("private-dep"), "{list}");
    assert!(!list.contains(&reader), "the token is shown: {list}");

    let site = dir.path().join("site");
    installed(
        &pip_install(&index.url, &site, "private-dep"),
        "pip",
        &[&index, &upstream],
    );
    assert_eq!(installed_version(&site, "private_dep"), "1.0");
    assert!(!index.log().contains(&reader), "the token is logged");
}
