//! The web pages in a real browser: headless Chromium, driven through
//! chromedriver's W3C `WebDriver` API (plain HTTP, sent with curl), against a
//! real `bulwark serve` that twine uploaded to. The test searches by
//! typing into the search form and submitting it, reads each page's
//! rendered text (never pixels), checks that nothing of a script
//! injection in a description survived, and saves a screenshot of each
//! page under `target/screenshots/`.
//!
//! Chromium and chromedriver are required (Debian `chromium` and
//! `chromium-driver`, which `scripts/test-deps` installs): without them
//! the test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use bulwark_tuf::json::{self, Value};
use common::{
    Server, developer, developer_key, make_dist, path, python_script, repo_root, run_ok, stderr,
    stdout, token, twine_upload, wait_until,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C `WebDriver` element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn object(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn string(value: &Value) -> &str {
    match value {
        Value::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn member<'v>(value: &'v Value, key: &str) -> &'v Value {
    match value {
        Value::Object(map) => map
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {value:?}")),
        other => panic!("not an object: {other:?}"),
    }
}

/// A chromedriver process and one headless Chromium session in it.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    fn start() -> Self {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "chromium and chromium-driver are not installed (scripts/test-deps installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
        };
        let ready = wait_until(Duration::from_secs(30), || {
            browser
                .try_call("GET", "/status", None)
                .is_some_and(|v| matches!(member(&v, "ready"), Value::Bool(true)))
        });
        assert!(ready, "chromedriver did not become ready");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-dev-shm-usage",
            "--window-size=1280,1600",
        ]
        .map(Value::from);
        let options = object(&[
            ("binary", Value::from(CHROMIUM)),
            ("args", Value::Array(args.to_vec())),
        ]);
        let capabilities = object(&[(
            "capabilities",
            object(&[(
                "alwaysMatch",
                object(&[
                    ("browserName", Value::from("chrome")),
                    ("goog:chromeOptions", options),
                ]),
            )]),
        )]);
        let created = browser.call("POST", "/session", Some(&capabilities));
        string(member(&created, "sessionId")).clone_into(&mut browser.session);
        browser
    }

    /// Sends a `WebDriver` command; its `value`, or `None` when there was no
    /// answer (chromedriver still starting).
    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Value> {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "60", "-X", method])
            .args(["-H", "Content-Type: application/json"]);
        if let Some(body) = body {
            curl.arg("--data-binary")
                .arg(String::from_utf8(json::to_vec(body)).unwrap());
        }
        let out = curl.arg(format!("{}{path}", self.base)).output().unwrap();
        if !out.status.success() {
            return None;
        }
        let answer = json::parse(&out.stdout)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", stdout(&out)));
        Some(member(&answer, "value").clone())
    }

    /// Sends a `WebDriver` command in the session (`path` after
    /// `/session/<id>`), panicking on a `WebDriver` error.
    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let value = self
            .try_call(method, path, body)
            .unwrap_or_else(|| panic!("no answer from chromedriver to {method} {path}"));
        if let Value::Object(map) = &value
            && let Some(error) = map.get("error")
        {
            panic!("{method} {path}: {error:?}: {:?}", map.get("message"));
        }
        value
    }

    fn go(&self, url: &str) {
        self.session_call("POST", "/url", Some(&object(&[("url", Value::from(url))])));
    }

    fn url(&self) -> String {
        string(&self.session_call("GET", "/url", None)).to_owned()
    }

    fn find(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(&object(&[
                ("using", Value::from("css selector")),
                ("value", Value::from(css)),
            ])),
        );
        string(member(&found, ELEMENT)).to_owned()
    }

    /// The rendered text of the page, as a reader sees it.
    fn text(&self) -> String {
        let body = self.find("body");
        string(&self.session_call("GET", &format!("/element/{body}/text"), None)).to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&object(&[("text", Value::from(text))])),
        );
    }

    fn clear(&self, css: &str) {
        let element = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{element}/clear"),
            Some(&object(&[])),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&object(&[])),
        );
    }

    /// Runs `script` in the page (`WebDriver`'s own evaluation, which the
    /// page's Content-Security-Policy does not govern) and returns its value.
    fn eval(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(&object(&[
                ("script", Value::from(script)),
                ("args", Value::Array(Vec::new())),
            ])),
        )
    }

    /// Saves a screenshot of the viewport to `target/screenshots/<name>.png`.
    fn screenshot(&self, name: &str) -> PathBuf {
        let png = base64::engine::general_purpose::STANDARD
            .decode(string(&self.session_call("GET", "/screenshot", None)))
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = repo_root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap();
        file
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Asserts that `text` contains each of `expected`.
fn shows(page: &str, text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "{page} lacks {e:?}:\n{text}");
    }
}

/// What a description may try: a script, a `javascript:` link, an
/// `onerror` attribute, each of which would retitle the page.
const HOSTILE_MARKDOWN: &str = "# Web demo\n\n\
Some **bold text** and a [safe link](https://example.org/).\n\n\
<script>document.title = 'pwned-script'</script>\n\n\
[click me](javascript:document.title='pwned-link')\n\n\
<img src=\"x\" onerror=\"document.title='pwned-onerror'\">\n\n\
<p onmouseover=\"document.title='pwned-hover'\">hover text</p>\n";

#[test]
#[expect(clippy::too_many_lines, reason = "one scenario, page by page")]
fn web_pages_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let url = server.url.as_str();
    let alice = token(&data, "alice");

    // web-demo 1.0 (a hostile Markdown description) and 2.0, yanked.
    let description = dir.path().join("README.md");
    std::fs::write(&description, HOSTILE_MARKDOWN).unwrap();
    let mut make = python_script("make_dist.py");
    make.arg(dir.path().join("d1")).args(["web-demo", "1.0"]);
    make.args(["--requires-python", ">=3.8", "--description"])
        .arg(&description)
        .args(["--description-content-type", "text/markdown"]);
    let v1: Vec<String> = stdout(&run_ok(&mut make))
        .lines()
        .map(str::to_owned)
        .collect();
    let v2 = make_dist(&dir.path().join("d2"), "web-demo", "2.0", &[]);
    let other = make_dist(&dir.path().join("d3"), "other-tool", "0.1", &[]);
    let claimed = make_dist(&dir.path().join("d4"), "claimed-pkg", "1.0", &[]);
    for files in [&v1, &v2, &other, &claimed] {
        let out = twine_upload(url, &alice, files);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    run_ok(
        common::bulwark()
            .args(["yank", "--index", url, "--reason", "broken build"])
            .args(["web-demo", "2.0"])
            .env("BULWARK_TOKEN", &alice),
    );
    // claimed-pkg is claimed by its developer once its page is published.
    let (key, _) = developer_key(dir.path(), "dev");
    let root = data.join("root.json");
    let claimed_ok = wait_until(Duration::from_secs(20), || {
        let args = [
            "claim",
            "claimed-pkg",
            "--index",
            url,
            "--root",
            path(&root),
            "--key",
            path(&key),
        ];
        developer(&args, &alice).output().unwrap().status.success()
    });
    assert!(claimed_ok, "claiming claimed-pkg failed:\n{}", server.log());
    // Everything published: the status page's queue is empty.
    let published = wait_until(Duration::from_secs(20), || {
        let page = run_ok(Command::new("curl").args(["-sSf", &format!("{url}/status/")]));
        stdout(&page).contains("empty: everything accepted is signed")
    });
    assert!(published, "the queue never emptied:\n{}", server.log());

    let browser = Browser::start();
    let mut screenshots = Vec::new();

    // The home page: the search form and the recent projects.
    browser.go(&format!("{url}/"));
    let text = browser.text();
    shows(
        "/",
        &text,
        &[
            "Recently updated projects",
            "web-demo",
            "other-tool",
            "claimed-pkg",
            &format!("pip install --index-url {url}/simple/ NAME"),
        ],
    );
    screenshots.push(browser.screenshot("home"));

    // Search through the form, as a person would.
    browser.type_into("#q", "Web_Demo");
    browser.click("form.search button");
    assert!(
        wait_until(Duration::from_secs(10), || browser
            .url()
            .contains("/search?q=")),
        "the form did not submit: {}",
        browser.url()
    );
    assert!(
        browser.url().ends_with("/search?q=Web_Demo"),
        "{}",
        browser.url()
    );
    let text = browser.text();
    shows(
        "/search",
        &text,
        &["1 project matches “web-demo”.", "web-demo"],
    );
    assert!(!text.contains("other-tool"), "{text}");
    screenshots.push(browser.screenshot("search"));
    browser.clear("#q");
    browser.type_into("#q", "o");
    browser.click("form.search button");
    let found = wait_until(Duration::from_secs(10), || browser.url().ends_with("?q=o"));
    assert!(found, "{}", browser.url());
    let text = browser.text();
    shows(
        "/search?q=o",
        &text,
        &[
            "2 projects match “o”.",
            "other-tool starts with “o”",
            "web-demo contains “o”",
        ],
    );
    assert!(
        text.find("other-tool").unwrap() < text.find("web-demo").unwrap(),
        "{text}"
    );
    // An odd query is answered, escaped, with a reason.
    browser.go(&format!(
        "{url}/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    ));
    shows(
        "/search (odd)",
        &browser.text(),
        &["no project matches “<script>alert(1)</script>”"],
    );

    // A project: releases newest first, the yank and its reason, files
    // with hashes, install commands, TUF status, the description safe.
    browser.go(&format!("{url}/project/Web_Demo"));
    assert!(
        browser.url().ends_with("/project/web-demo/"),
        "{}",
        browser.url()
    );
    let text = browser.text();
    let wheel = std::fs::read(&v1[0]).unwrap();
    let sha = bulwark_tuf::hash::sha256_hex(&wheel);
    shows(
        "/project/web-demo/",
        &text,
        &[
            "web-demo 1.0",
            "test package web-demo",
            &format!("pip install --index-url {url}/simple/ web-demo"),
            &format!("uv pip install --index-url {url}/simple/ web-demo"),
            "Yanked: broken build",
            "web_demo-2.0-py3-none-any.whl",
            "web_demo-1.0-py3-none-any.whl",
            &sha,
            &format!("({} bytes)", wheel.len()),
            ">=3.8",
            "unclaimed",
            "bin-",
            "delegated by unclaimed",
            "snapshot version",
            "Web demo",
            "bold text",
            "hover text",
        ],
    );
    let newest = text.find("web_demo-2.0-py3-none-any.whl").unwrap();
    let older = text.find("web_demo-1.0-py3-none-any.whl").unwrap();
    assert!(newest < older, "2.0 is not listed first:\n{text}");
    let found = browser.eval(
        "return [document.title, document.scripts.length, \
         document.querySelectorAll('[onerror],[onmouseover],img').length, \
         document.querySelectorAll('a[href^=\"javascript:\"]').length].join('|')",
    );
    assert_eq!(string(&found), "web-demo · Bulwark|0|0|0");
    // Hovering does not run anything either.
    browser.click("h1");
    assert_eq!(
        string(&browser.eval("return document.title")),
        "web-demo · Bulwark"
    );
    screenshots.push(browser.screenshot("project"));

    // A claimed project: its developers' role signs it.
    browser.go(&format!("{url}/project/claimed-pkg/"));
    let text = browser.text();
    shows(
        "/project/claimed-pkg/",
        &text,
        &[
            "recently-claimed",
            "project-claimed-pkg",
            "version 1 of project-claimed-pkg",
            "Developer keys",
            "1 of 1 keys must sign",
            "claimed_pkg-1.0.tar.gz",
        ],
    );
    screenshots.push(browser.screenshot("project-claimed"));

    // An unknown project.
    browser.go(&format!("{url}/project/nothing-here/"));
    shows(
        "/project/nothing-here/",
        &browser.text(),
        &[
            "Not found",
            "There is no project called “nothing-here” on this index.",
        ],
    );

    // The repository's health.
    browser.go(&format!("{url}/status/"));
    let text = browser.text();
    shows(
        "/status/",
        &text,
        &[
            "Repository status",
            "root",
            "timestamp",
            "snapshot",
            "targets",
            "claimed",
            "recently-claimed",
            "unclaimed",
            "bin-*",
            "256",
            "Last publish run",
            "Upload→published",
            "empty: everything accepted is signed",
        ],
    );
    assert!(!text.contains("cannot be read"), "{text}");
    screenshots.push(browser.screenshot("status"));

    for shot in &screenshots {
        assert!(
            std::fs::metadata(shot).unwrap().len() > 1000,
            "{}",
            shot.display()
        );
    }
}
