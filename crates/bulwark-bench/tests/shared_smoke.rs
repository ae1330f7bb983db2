//! A tiny publishing section on PostgreSQL + S3 (the servers `scripts/test`
//! starts): one and two index servers, every upload published. Like the
//! store's own tests, it fails rather than skips when the variables naming
//! the servers are unset. No timing is asserted.

use std::path::PathBuf;

use bulwark_bench::backend::Backend;
use bulwark_bench::client::ClientConfig;
use bulwark_bench::hsm::ResignCosts;
use bulwark_bench::{Options, Suite};

#[test]
fn the_publishing_section_runs_on_postgres_and_s3() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        projects: 200,
        bin_bits: 4,
        uploads: 100,
        uploaders: 4,
        rounds: 2,
        paced_rate: Some(50.0),
        backends: vec![Backend::Shared],
        dir: dir.path().join("repo"),
        client: ClientConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_bulwark-bench")), 1),
        scripts: None,
        claims: None,
        transactions: 1,
    };
    let report = bulwark_bench::run(Suite::Publish, &options, "shared smoke").unwrap();

    let [publish] = report.publish.as_slice() else {
        panic!("one backend measured: {:?}", report.publish);
    };
    assert_eq!(publish.backend, Backend::Shared);
    assert_eq!(publish.full_publish_pages, 200);
    // 16 bins, recently-claimed, snapshot, timestamp.
    assert_eq!(publish.resign_roles, 19);
    let servers: Vec<usize> = publish.sustained.iter().map(|s| s.servers).collect();
    assert_eq!(servers, [1, 2]);
    for sustained in &publish.sustained {
        assert_eq!(sustained.uploads_per_s.n, 2, "one figure per round");
        assert_eq!(sustained.delay_ms.n, 200, "a delay for every upload");
        assert_eq!(sustained.paced.delay_ms.n, 500, "10 s at 50/s");
    }
    // This process has no SoftHSM2 token (the binary makes one).
    assert!(matches!(
        publish.resign_costs,
        Some(ResignCosts::Skipped(_))
    ));
    let md = report.to_markdown();
    assert!(md.contains("## Publishing on PostgreSQL + S3"), "{md}");
    assert!(md.contains("2 servers"), "{md}");
}
