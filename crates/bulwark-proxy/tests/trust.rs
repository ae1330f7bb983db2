//! The proxy's trust layer against a simulated repository over real HTTP:
//! the freshness policy, projects absent from the signed metadata, and
//! refusals of tampered pages and metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::sync::Arc;
use std::time::Duration;

use bulwark_proxy::{Proxy, ProxyConfig, ProxyError};
use bulwark_pypi::{DistFilename, PageFile, ProjectName, ProjectPage, UploadTime, render_json};
use bulwark_testkit::{Fault, RepositorySimulator, TestServer, now};
use bulwark_tuf::hash::sha256_hex;

const PAGE_PATH: &str = "simple/demo/index.json";

fn page_bytes(project: &str, version: &str) -> Vec<u8> {
    let filename = format!("{project}-{version}-py3-none-any.whl");
    let sha256 = sha256_hex(filename.as_bytes());
    render_json(&ProjectPage {
        name: ProjectName::parse(project).unwrap(),
        files: vec![PageFile {
            url: format!("../../files/{sha256}/{filename}"),
            filename: DistFilename::parse(&filename).unwrap(),
            sha256,
            blake2b_256: Some("0".repeat(64)),
            size: Some(filename.len() as u64),
            requires_python: None,
            yanked: None,
            core_metadata_sha256: None,
            upload_time: UploadTime::from_seconds(now()),
        }],
    })
}

struct Repo {
    sim: RepositorySimulator,
    server: TestServer,
    cache: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let mut sim = RepositorySimulator::new();
        sim.add_target("targets", PAGE_PATH, &page_bytes("demo", "1.0"));
        let mut repo = Self {
            sim,
            server: TestServer::start(),
            cache: tempfile::tempdir().unwrap(),
        };
        repo.publish();
        repo
    }

    /// Serves the simulator's files under `tuf/`, as `bulwark serve` does.
    fn publish(&mut self) {
        let files = self
            .sim
            .publish()
            .into_iter()
            .map(|(path, bytes)| (format!("tuf/{path}"), bytes))
            .collect();
        self.server.serve(&files);
    }

    fn proxy(&self, freshness: Duration) -> Arc<Proxy> {
        let mut config = ProxyConfig::new(
            &format!("{}/", self.server.url()),
            self.cache.path().to_owned(),
            now,
        );
        config.freshness = freshness;
        Proxy::open(&config, &self.sim.root_bytes(1)).unwrap()
    }

    fn requests(&self, suffix: &str) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|path| path.ends_with(suffix))
            .count()
    }
}

fn demo() -> ProjectName {
    ProjectName::parse("demo").unwrap()
}

#[tokio::test]
async fn a_fresh_timestamp_is_reused_and_pages_come_from_the_cache() {
    let repo = Repo::new();
    let proxy = repo.proxy(Duration::from_mins(1));
    for _ in 0..5 {
        let page = proxy.trust.page(&demo()).await.unwrap();
        assert_eq!(page.bytes, page_bytes("demo", "1.0"));
    }
    assert_eq!(
        repo.requests("timestamp.json"),
        1,
        "{:?}",
        repo.server.requests()
    );
    assert_eq!(
        repo.requests(".index.json"),
        1,
        "{:?}",
        repo.server.requests()
    );
}

#[tokio::test]
async fn zero_freshness_refreshes_for_every_page_and_sees_new_releases() {
    let mut repo = Repo::new();
    let proxy = repo.proxy(Duration::ZERO);
    proxy.trust.page(&demo()).await.unwrap();
    repo.sim
        .add_target("targets", PAGE_PATH, &page_bytes("demo", "2.0"));
    repo.sim.update("targets");
    repo.publish();
    let page = proxy.trust.page(&demo()).await.unwrap();
    assert_eq!(page.bytes, page_bytes("demo", "2.0"));
    assert_eq!(repo.requests("timestamp.json"), 2);
}

#[tokio::test]
async fn a_project_absent_from_signed_metadata_is_not_found() {
    let repo = Repo::new();
    repo.server.put(
        "tuf/targets/simple/other/index.json",
        page_bytes("other", "1.0"),
    );
    let proxy = repo.proxy(Duration::from_mins(1));
    let error = proxy
        .trust
        .page(&ProjectName::parse("other").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ProxyError::NotFound { .. }), "{error}");
    assert_eq!(error.status(), axum::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_swapped_page_is_refused_with_a_clear_reason() {
    let repo = Repo::new();
    let signed = page_bytes("demo", "1.0");
    let served = format!("tuf/targets/simple/demo/{}.index.json", sha256_hex(&signed));
    repo.server.put(&served, page_bytes("demo", "6.6"));
    let proxy = repo.proxy(Duration::from_mins(1));
    let error = proxy.trust.page(&demo()).await.unwrap_err();
    assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
    assert_eq!(
        error.reason(),
        "refused: page hash does not match signed metadata - possible tampering"
    );
    assert_eq!(
        std::fs::read_dir(proxy.trust.pages_dir()).unwrap().count(),
        0,
        "nothing unverified is cached"
    );
}

#[tokio::test]
async fn expired_metadata_is_refused() {
    let mut repo = Repo::new();
    repo.sim.expire("timestamp");
    repo.publish();
    let proxy = repo.proxy(Duration::from_mins(1));
    let error = proxy.trust.page(&demo()).await.unwrap_err();
    assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
    assert!(
        error
            .reason()
            .starts_with("refused: signed metadata rejected ("),
        "{}",
        error.reason()
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_replaced_by_the_cache_but_a_bad_answer_is_not() {
    let mut repo = Repo::new();
    let proxy = repo.proxy(Duration::ZERO);
    assert_eq!(proxy.trust.page(&demo()).await.unwrap().offline, None);
    repo.server
        .set_fault("tuf/metadata/2.root.json", Fault::Status(503));
    let page = proxy.trust.page(&demo()).await.unwrap();
    assert_eq!(page.bytes, page_bytes("demo", "1.0"));
    let reason = page.offline.unwrap();
    assert!(reason.contains("2.root.json (HTTP status 503)"), "{reason}");
    repo.server.clear_faults();
    repo.sim.tamper_signatures("timestamp", Vec::clear);
    repo.sim.update_timestamp();
    repo.publish();
    let error = proxy.trust.page(&demo()).await.unwrap_err();
    assert!(
        error
            .reason()
            .starts_with("refused: signed metadata rejected (timestamp has 0 valid signatures"),
        "{}",
        error.reason()
    );
}
