//! The claims benchmarks on a tiny repository: claimed-bytes (claims,
//! promotion, every kind of lookup by the real client) and
//! transaction-latency (transactions and twine uploads over HTTP). Checks
//! what was fetched and that every figure exists; no timing is asserted.

use std::path::PathBuf;

use bulwark_bench::backend::Backend;
use bulwark_bench::claimed_bytes::{Kind, category};
use bulwark_bench::client::ClientConfig;
use bulwark_bench::transactions::UploadKind;
use bulwark_bench::{Options, Suite};

fn options(dir: &std::path::Path) -> Options {
    Options {
        projects: 400,
        bin_bits: 4,
        uploads: 0,
        uploaders: 1,
        rounds: 0,
        paced_rate: None,
        backends: vec![Backend::Embedded],
        dir: dir.join("repo"),
        client: ClientConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_bulwark-bench")), 1),
        scripts: None,
        claims: Some(vec![20, 100]),
        transactions: 4,
    }
}

fn categories(download: &bulwark_bench::bytes::Download) -> Vec<&'static str> {
    download.items.iter().map(|i| category(&i.name)).collect()
}

#[test]
fn claimed_bytes_walks_every_kind_of_project() {
    let dir = tempfile::tempdir().unwrap();
    let report = bulwark_bench::run(Suite::ClaimedBytes, &options(dir.path()), "smoke").unwrap();
    assert!(report.publish.is_empty() && report.bytes.is_none());
    let result = report.claimed_bytes.as_ref().unwrap();
    let counts: Vec<(u64, u64)> = result
        .scenarios
        .iter()
        .map(|s| (s.claims, s.recently_claimed))
        .collect();
    assert_eq!(counts, [(0, 0), (20, 2), (100, 10)]);

    let baseline = result.baseline().unwrap();
    assert_eq!(
        categories(&baseline.new_user),
        [
            "root",
            "timestamp",
            "snapshot",
            "targets",
            "claimed",
            "recently-claimed",
            "unclaimed",
            "bin"
        ],
        "with no claims, claimed and recently-claimed delegate to nothing"
    );
    let last = result.scenarios.last().unwrap();
    for lookup in &last.lookups {
        let fetched = categories(&lookup.new_user);
        let (must, must_not): (&[&str], &[&str]) = match lookup.kind {
            Kind::Claimed => (
                &["claimed", "claimed-<hh>", "project-<name>"],
                &["recently-claimed", "unclaimed", "bin"],
            ),
            Kind::RecentlyClaimed => (
                &[
                    "claimed",
                    "recently-claimed",
                    "recently-claimed-<hh>",
                    "project-<name>",
                ],
                &["unclaimed", "bin"],
            ),
            Kind::Unclaimed => (
                &["claimed", "recently-claimed", "unclaimed", "bin"],
                &["project-<name>"],
            ),
        };
        for c in must {
            assert!(
                fetched.contains(c),
                "{:?} lacks {c}: {fetched:?}",
                lookup.kind
            );
        }
        for c in must_not {
            assert!(
                !fetched.contains(c),
                "{:?} has {c}: {fetched:?}",
                lookup.kind
            );
        }
        assert_eq!(
            categories(&lookup.returning_same),
            ["timestamp"],
            "{:?}",
            lookup.kind
        );
        let changed = categories(&lookup.returning_new);
        assert!(
            changed.starts_with(&["timestamp", "snapshot"]),
            "{:?}: {changed:?}",
            lookup.kind
        );
        assert!(lookup.new_user.gzip() > 0 && lookup.new_user.gzip() < lookup.new_user.raw());
    }
    assert!(last.snapshot.0 > result.scenarios[0].snapshot.0);
    assert!(last.claimed_bins.count > 0 && last.recently_claimed_bins.count > 0);
    assert!(last.tap16_new_user.is_some());

    let md = report.to_markdown();
    assert!(md.contains("## Metadata bytes per install with claimed projects"));
    assert!(md.contains("### Goal: a claimed lookup costs a new user"));
    let json = report.to_json().to_pretty();
    assert!(json.contains("\"snapshot_growth_per_claim_gzip\""));
}

#[test]
fn transaction_latency_measures_each_kind_through_http() {
    let dir = tempfile::tempdir().unwrap();
    let report =
        bulwark_bench::run(Suite::TransactionLatency, &options(dir.path()), "smoke").unwrap();
    let result = report.transactions.as_ref().unwrap();
    assert_eq!(result.claims, 8, "2 × 4 projects claimed");
    for kind in [
        UploadKind::Twine,
        UploadKind::RecentlyClaimed,
        UploadKind::Claimed,
    ] {
        let series = result.series(kind).unwrap();
        assert_eq!(series.published_ms.len(), 4, "{kind:?}");
        for (accepted, published) in series.accepted_ms.iter().zip(&series.published_ms) {
            assert!(*accepted > 0.0 && *published > 0.0, "{kind:?}");
        }
        assert!(result.paired_ratio(kind).is_some());
    }
    let md = report.to_markdown();
    assert!(md.contains("## Upload→published: developer transactions against twine uploads"));
}
