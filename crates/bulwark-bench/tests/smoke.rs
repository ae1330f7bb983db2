//! A tiny run of the whole harness: the report is produced and its fields
//! are sane. No timing is asserted (benchmarks are not tests).

use std::path::PathBuf;

use bulwark_bench::backend::Backend;
use bulwark_bench::client::{ClientConfig, Python};
use bulwark_bench::{Options, Suite};

#[test]
fn tiny_run_produces_a_sane_report() {
    // The run itself prepares the venv with python-tuf (scripts/python-env)
    // before it measures anything.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        projects: 500,
        bin_bits: 4,
        uploads: 200,
        uploaders: 4,
        rounds: 2,
        paced_rate: None,
        backends: vec![Backend::Embedded],
        dir: dir.path().join("repo"),
        // The repository is served by this package's own binary.
        client: ClientConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_bulwark-bench")), 3),
        scripts: None,
        claims: None,
        transactions: 1,
    };
    let report = bulwark_bench::run(Suite::All, &options, "smoke").unwrap();

    let [publish] = report.publish.as_slice() else {
        panic!("one backend measured: {:?}", report.publish);
    };
    assert_eq!(publish.backend, Backend::Embedded);
    assert_eq!(publish.projects, 500);
    assert!(publish.files >= 500, "every project has a file");
    assert_eq!(publish.full_publish_pages, 500);
    // 16 bins, recently-claimed, snapshot, timestamp.
    assert_eq!(publish.full_publish_roles, 19);
    assert_eq!(
        publish.resign_roles, 19,
        "a re-sign signs every online role"
    );
    let [sustained] = publish.sustained.as_slice() else {
        panic!("one server on SQLite: {:?}", publish.sustained);
    };
    assert_eq!(sustained.servers, 1);
    assert_eq!(sustained.uploads_per_s.n, 2, "one figure per round");
    assert!(sustained.uploads_per_s.p50 > 0.0);
    assert_eq!(sustained.delay_ms.n, 400, "a delay for every upload");
    assert!(sustained.run_ms.n >= 2, "at least one run per round");
    assert!(sustained.run_ms.p99 >= sustained.run_ms.p50);

    let bytes = report.bytes.as_ref().unwrap();
    let names: Vec<&str> = bytes
        .new_user
        .items
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(names[0], "1.root.json");
    assert!(names[7].contains(".bin-"), "{names:?}");
    for download in [&bytes.new_user, &bytes.returning_same, &bytes.returning_new] {
        assert!(download.raw() > 0 && download.gzip() > 0);
        assert!(download.gzip() < download.raw() + 100);
    }
    assert!(bytes.returning_same.raw() < bytes.returning_new.raw());
    assert!(bytes.returning_new.raw() < bytes.new_user.raw());
    assert!(bytes.per_file_targets > publish.files);
    assert_eq!(
        bytes.table.len(),
        bulwark_bench::bytes::TABLE_BIN_BITS.len()
    );
    assert!(
        bytes
            .table
            .windows(2)
            .all(|w| w[0].snapshot.0 < w[1].snapshot.0)
    );

    // Both clients looked up the page and verified the file in every sample
    // (a failed lookup fails the run); only that figures exist is checked.
    let client = report.client.as_ref().unwrap();
    assert_eq!(client.ours.cpu_ms.len(), 3);
    assert!(client.ours.cpu().median > 0.0 && client.ours.wall().median > 0.0);
    let Python::Measured { samples, .. } = &client.python else {
        panic!("python-tuf not measured: {:?}", client.python);
    };
    assert_eq!(samples.cpu_ms.len(), 3);
    assert!(samples.cpu().median > 0.0);
    assert!(client.cpu_ratio().is_some());

    // The claims benchmarks run alone (tests/claims_smoke.rs).
    assert!(report.claimed_bytes.is_none() && report.transactions.is_none());

    let out = dir.path().join("out");
    bulwark_bench::write_report(&report, &out).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Publishing") && md.contains("## Metadata bytes per install"));
    assert!(md.contains("## Client CPU") && md.contains("python-tuf 7.0.1 ngclient"));
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(json.starts_with('{') && json.ends_with("}\n"));
    for key in [
        "\"publish\"",
        "\"metadata_bytes\"",
        "\"bin_table\"",
        "\"client_cpu\"",
        "\"cpu_ratio\"",
        "\"peak_rss_kib\"",
    ] {
        assert!(json.contains(key), "report.json lacks {key}");
    }
    assert_eq!(json.matches('{').count(), json.matches('}').count());
}
