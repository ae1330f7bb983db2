//! The report: markdown for people, JSON for tools, from the same results.

use std::fmt::Write as _;

use crate::backend::Backend;
use crate::bytes::{
    BytesResult, Download, PEP458_NEW_USER, PEP458_RETURNING_NEW, PEP458_RETURNING_SAME,
};
use crate::claimed_bytes::{CATEGORIES, ClaimedBytesResult, Kind, Scenario, category};
use crate::client::{ClientResult, Python, Samples};
use crate::hsm::{ResignCosts, algorithm_name};
use crate::json::Json;
use crate::publish::{Paced, PublishResult, Sustained};
use crate::scripts::ScriptRun;
use crate::stats::{Spread, Summary, float};
use crate::transactions::{TransactionResult, UploadKind};

/// Goal: sustained uploads/s on 2 cores (issue 5).
pub const GOAL_UPLOADS_PER_S: f64 = 5_000.0;
/// Goal: index requests/s against pypiserver, as a ratio.
const GOAL_THROUGHPUT_RATIO: f64 = 20.0;
/// Goal: upload→published p99, milliseconds.
pub const GOAL_P99_MS: f64 = 500.0;
/// Goal (issue 12): upload→published p99 with two servers on the shared
/// backend, milliseconds…
pub const GOAL_SHARED_P99_MS: f64 = 1_000.0;
/// …at this offered rate, uploads/s.
pub const GOAL_SHARED_RATE: f64 = 500.0;
/// Goal (issue 12): a full re-sign at 1M projects with the online key on
/// SoftHSM2, seconds.
pub const GOAL_HSM_RESIGN_SECS: f64 = 60.0;
/// Goal: 1M projects from nothing to signed metadata, seconds.
pub const GOAL_FULL_PUBLISH_SECS: f64 = 60.0;
/// The project count the goals are stated at.
pub const GOAL_PROJECTS: u64 = 1_000_000;
/// Goal: new user, gzip bytes.
pub const GOAL_NEW_USER: u64 = 16 * 1024;
/// Goal: returning user, gzip bytes.
pub const GOAL_RETURNING: u64 = 4 * 1024;
/// Goal: python-tuf's client CPU over ours for one cold lookup (≥ 20× less).
pub const GOAL_CLIENT_CPU_RATIO: f64 = 20.0;
/// Goal (issue 11): a claimed lookup costs a new user at most this times
/// the bytes (gzip) of an unclaimed lookup with no claims.
pub const GOAL_CLAIMED_RATIO: f64 = 1.2;

/// Everything one invocation measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    /// Where the repository lived.
    pub data_dir: String,
    /// Publishing, per backend, if run.
    pub publish: Vec<PublishResult>,
    /// Metadata bytes, if run.
    pub bytes: Option<BytesResult>,
    /// Client CPU, if run.
    pub client: Option<ClientResult>,
    /// Metadata bytes with claimed projects, if run.
    pub claimed_bytes: Option<ClaimedBytesResult>,
    /// Transactions against twine uploads, if run.
    pub transactions: Option<TransactionResult>,
    /// The whole-process scripts, if run.
    pub scripts: Vec<ScriptRun>,
    /// Peak RSS of the whole run, KiB.
    pub peak_rss_kib: Option<u64>,
}

fn verdict(met: bool, how: impl FnOnce() -> String) -> String {
    if met { "met".to_owned() } else { how() }
}

fn paced_json(paced: &Paced) -> Json {
    Json::obj([
        ("offered_per_s", Json::Float(paced.offered)),
        ("achieved_per_s", Json::Float(paced.achieved)),
        ("uploads", Json::Int(paced.uploads)),
        ("run_ms", summary_json(paced.run_ms)),
        ("delay_ms", summary_json(paced.delay_ms)),
    ])
}

fn sustained_json(s: &Sustained) -> Json {
    Json::obj([
        ("servers", Json::Int(s.servers as u64)),
        ("uploads_per_s", summary_json(s.uploads_per_s)),
        ("run_ms", summary_json(s.run_ms)),
        ("uploads_per_run", summary_json(s.uploads_per_run)),
        ("failed_runs", Json::Int(s.failed_runs)),
        ("delay_ms", summary_json(s.delay_ms)),
        ("paced", paced_json(&s.paced)),
    ])
}

fn resign_costs_json(costs: Option<&ResignCosts>) -> Json {
    match costs {
        None => Json::Null,
        Some(ResignCosts::Skipped(reason)) => Json::obj([("skipped", Json::Str(reason.clone()))]),
        Some(ResignCosts::Measured(costs)) => Json::Arr(
            costs
                .iter()
                .map(|c| {
                    Json::obj([
                        (
                            "algorithm",
                            Json::Str(algorithm_name(c.algorithm).to_owned()),
                        ),
                        (
                            "key",
                            Json::Str(if c.on_token { "softhsm2" } else { "file" }.to_owned()),
                        ),
                        ("secs", Json::Float(c.secs)),
                        ("roles", Json::Int(c.roles as u64)),
                    ])
                })
                .collect(),
        ),
    }
}

fn publish_json(p: &PublishResult) -> Json {
    Json::obj([
        ("backend", Json::Str(p.backend.name().to_owned())),
        ("projects", Json::Int(p.projects)),
        ("files", Json::Int(p.files)),
        ("bin_bits", Json::Int(u64::from(p.bin_bits))),
        ("load_secs", Json::Float(p.load_secs)),
        ("full_publish_secs", Json::Float(p.full_publish_secs)),
        (
            "full_publish_secs_scaled_to_1m",
            Json::Float(scaled_full_publish(p)),
        ),
        ("full_publish_pages", Json::Int(p.full_publish_pages as u64)),
        ("full_publish_roles", Json::Int(p.full_publish_roles as u64)),
        ("resign_secs", Json::Float(p.resign_secs)),
        ("resign_roles", Json::Int(p.resign_roles as u64)),
        ("build_peak_rss_kib", opt_int(p.build_peak_rss_kib)),
        ("uploads_per_round", Json::Int(p.uploads)),
        ("uploaders", Json::Int(p.uploaders)),
        ("rounds", Json::Int(p.rounds)),
        (
            "sustained",
            Json::Arr(p.sustained.iter().map(sustained_json).collect()),
        ),
        ("resign_costs", resign_costs_json(p.resign_costs.as_ref())),
        ("peak_rss_kib", opt_int(p.peak_rss_kib)),
    ])
}

fn summary_json(s: Summary) -> Json {
    Json::obj([
        ("n", Json::Int(s.n as u64)),
        ("p50", Json::Float(s.p50)),
        ("p99", Json::Float(s.p99)),
    ])
}

fn download_json(d: &Download) -> Json {
    Json::obj([
        ("raw", Json::Int(d.raw())),
        ("gzip", Json::Int(d.gzip())),
        (
            "files",
            Json::Arr(
                d.items
                    .iter()
                    .map(|i| {
                        Json::obj([
                            ("name", Json::Str(i.name.clone())),
                            ("raw", Json::Int(i.raw)),
                            ("gzip", Json::Int(i.gzip)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn bytes_json(b: &BytesResult) -> Json {
    Json::obj([
        ("projects", Json::Int(b.projects)),
        ("bin_bits", Json::Int(u64::from(b.bin_bits))),
        ("project", Json::Str(b.project.clone())),
        ("new_user", download_json(&b.new_user)),
        ("returning_same_snapshot", download_json(&b.returning_same)),
        ("returning_new_snapshot", download_json(&b.returning_new)),
        (
            "median_bin",
            Json::obj([
                ("raw", Json::Int(b.median_bin.0)),
                ("gzip", Json::Int(b.median_bin.1)),
            ]),
        ),
        (
            "pep458_estimate",
            Json::obj([
                ("new_user", Json::Int(PEP458_NEW_USER)),
                ("returning_same_snapshot", Json::Int(PEP458_RETURNING_SAME)),
                ("returning_new_snapshot", Json::Int(PEP458_RETURNING_NEW)),
            ]),
        ),
        (
            "per_file_target_model",
            Json::obj([
                ("targets", Json::Int(b.per_file_targets)),
                ("new_user", download_json(&b.per_file[0])),
                ("returning_same_snapshot", download_json(&b.per_file[1])),
                ("returning_new_snapshot", download_json(&b.per_file[2])),
            ]),
        ),
        (
            "bin_table",
            Json::Arr(
                b.table
                    .iter()
                    .map(|r| {
                        Json::obj([
                            ("bin_bits", Json::Int(u64::from(r.bin_bits))),
                            ("snapshot_raw", Json::Int(r.snapshot.0)),
                            ("snapshot_gzip", Json::Int(r.snapshot.1)),
                            ("median_bin_raw", Json::Int(r.bin.0)),
                            ("median_bin_gzip", Json::Int(r.bin.1)),
                            ("new_user_gzip", Json::Int(r.new_user_gzip)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn opt_int(v: Option<u64>) -> Json {
    v.map_or(Json::Null, Json::Int)
}

/// Estimated full-publish time at the goal's size, scaling linearly.
fn scaled_full_publish(p: &PublishResult) -> f64 {
    p.full_publish_secs * float(GOAL_PROJECTS) / float(p.projects.max(1))
}

impl Report {
    /// The JSON report.
    #[must_use]
    pub fn to_json(&self) -> Json {
        let publish = Json::Arr(self.publish.iter().map(publish_json).collect());
        let bytes = self.bytes.as_ref().map_or(Json::Null, bytes_json);
        Json::obj([
            ("command", Json::Str(self.command.clone())),
            ("data_dir", Json::Str(self.data_dir.clone())),
            ("publish", publish),
            ("metadata_bytes", bytes),
            (
                "client_cpu",
                self.client.as_ref().map_or(Json::Null, client_json),
            ),
            (
                "claimed_bytes",
                self.claimed_bytes
                    .as_ref()
                    .map_or(Json::Null, claimed_bytes_json),
            ),
            (
                "transaction_latency",
                self.transactions
                    .as_ref()
                    .map_or(Json::Null, transactions_json),
            ),
            (
                "scripts",
                Json::Arr(self.scripts.iter().map(ScriptRun::to_json).collect()),
            ),
            ("peak_rss_kib", opt_int(self.peak_rss_kib)),
        ])
    }

    /// The markdown report.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# bulwark-bench report\n");
        let _ = writeln!(md, "Command: `{}`  ", self.command);
        let _ = writeln!(md, "Repository directory: `{}`  ", self.data_dir);
        if let Some(kib) = self.peak_rss_kib {
            let _ = writeln!(md, "Peak RSS (whole run): {:.1} MiB", float(kib) / 1024.0);
        }
        for p in &self.publish {
            publish_markdown(&mut md, p);
        }
        if let Some(b) = &self.bytes {
            bytes_markdown(&mut md, b);
        }
        if let Some(c) = &self.client {
            client_markdown(&mut md, c);
        }
        if let Some(c) = &self.claimed_bytes {
            claimed_bytes_markdown(&mut md, c);
        }
        if let Some(t) = &self.transactions {
            transactions_markdown(&mut md, t);
        }
        if !self.scripts.is_empty() {
            scripts_markdown(&mut md, &self.scripts);
        }
        md
    }
}

fn publish_markdown(md: &mut String, p: &PublishResult) {
    let scaled = scaled_full_publish(p);
    let _ = writeln!(
        md,
        "\n## Publishing on {} ({} projects, {} files, {} bins)\n",
        p.backend.stores(),
        p.projects,
        p.files,
        1u64 << p.bin_bits
    );
    let _ = writeln!(md, "| figure | value | goal |\n|---|---|---|");
    let _ = writeln!(
        md,
        "| bulk load through `add_files` ({} files per transaction) | {:.1} s ({:.0} files/s) | — |",
        crate::publish::load_chunk(p.backend),
        p.load_secs,
        float(p.files) / p.load_secs.max(1e-9)
    );
    let _ = writeln!(
        md,
        "| full publish ({} pages, {} roles signed) | {:.2} s; ×{:.0} linear to 1M: {:.0} s | ≤ {GOAL_FULL_PUBLISH_SECS:.0} s at 1M: {} |",
        p.full_publish_pages,
        p.full_publish_roles,
        p.full_publish_secs,
        float(GOAL_PROJECTS) / float(p.projects.max(1)),
        scaled,
        verdict(scaled <= GOAL_FULL_PUBLISH_SECS, || format!(
            "missed by {:.1}×",
            scaled / GOAL_FULL_PUBLISH_SECS
        ))
    );
    let _ = writeln!(
        md,
        "| full re-sign (every online role expiring: {} roles) | {:.2} s | — |",
        p.resign_roles, p.resign_secs
    );
    if let Some(kib) = p.build_peak_rss_kib {
        let _ = writeln!(
            md,
            "| peak RSS after load, full publish and re-sign | {:.1} MiB | — |",
            float(kib) / 1024.0
        );
    }
    for s in &p.sustained {
        sustained_markdown(md, p, s);
    }
    resign_costs_markdown(md, p);
    if let Some(kib) = p.peak_rss_kib {
        let _ = writeln!(
            md,
            "| peak RSS after the sustained rounds | {:.1} MiB | — |",
            float(kib) / 1024.0
        );
    }
}

/// The rows of the sustained rounds with `s.servers` index servers.
fn sustained_markdown(md: &mut String, p: &PublishResult, s: &Sustained) {
    let servers = match (p.backend, s.servers) {
        (Backend::Embedded, _) => String::new(),
        (Backend::Shared, 1) => ", one server".to_owned(),
        (Backend::Shared, n) => format!(", {n} servers"),
    };
    let _ = writeln!(
        md,
        "| sustained uploads/s ({} rounds of {} uploads from {} threads{servers}, publisher back to back; median round) | {:.0} | ≥ {GOAL_UPLOADS_PER_S:.0}: {} |",
        p.rounds,
        p.uploads,
        p.uploaders,
        s.uploads_per_s.p50,
        verdict(s.uploads_per_s.p50 >= GOAL_UPLOADS_PER_S, || format!(
            "missed by {:.1}×",
            GOAL_UPLOADS_PER_S / s.uploads_per_s.p50.max(1e-9)
        ))
    );
    let _ = writeln!(
        md,
        "| publish run ({} runs{servers}; {} failed and retried, paced round included), p50 / p99 | {:.0} / {:.0} ms, {:.0} / {:.0} uploads | — |",
        s.run_ms.n,
        s.failed_runs,
        s.run_ms.p50,
        s.run_ms.p99,
        s.uploads_per_run.p50,
        s.uploads_per_run.p99
    );
    let _ = writeln!(
        md,
        "| upload→published under saturation (each of {} uploads{servers}), p50 / p99 | {:.0} / {:.0} ms | — |",
        s.delay_ms.n, s.delay_ms.p50, s.delay_ms.p99
    );
    let paced = &s.paced;
    let _ = writeln!(
        md,
        "| paced round{servers}: {} uploads at {:.0}/s offered ({:.0}/s achieved), publish run p50 / p99 | {:.0} / {:.0} ms | — |",
        paced.uploads, paced.offered, paced.achieved, paced.run_ms.p50, paced.run_ms.p99
    );
    let goal = match (p.backend, s.servers) {
        (Backend::Embedded, _) => format!(
            "p99 ≤ {GOAL_P99_MS:.0} ms: {}",
            verdict(paced.delay_ms.p99 <= GOAL_P99_MS, || format!(
                "missed by {:.0} ms",
                paced.delay_ms.p99 - GOAL_P99_MS
            ))
        ),
        (Backend::Shared, 2) => shared_goal(paced),
        (Backend::Shared, _) => "—".to_owned(),
    };
    let _ = writeln!(
        md,
        "| upload→published at {:.0}/s offered{servers} (from when each was due), p50 / p99 | {:.0} / {:.0} ms | {goal} |",
        paced.offered, paced.delay_ms.p50, paced.delay_ms.p99,
    );
}

/// Issue 12's latency goal: with two servers on the shared backend, p99
/// within a second at 500 uploads/s offered.
fn shared_goal(paced: &Paced) -> String {
    let goal = format!("p99 ≤ {GOAL_SHARED_P99_MS:.0} ms at {GOAL_SHARED_RATE:.0}/s");
    let outcome = if paced.offered < GOAL_SHARED_RATE {
        "not at the goal's rate (--paced-rate 500)".to_owned()
    } else {
        verdict(paced.delay_ms.p99 <= GOAL_SHARED_P99_MS, || {
            format!(
                "missed by {:.0} ms",
                paced.delay_ms.p99 - GOAL_SHARED_P99_MS
            )
        })
    };
    format!("{goal}: {outcome}")
}

/// The rows of the full re-signs with each online key.
fn resign_costs_markdown(md: &mut String, p: &PublishResult) {
    match &p.resign_costs {
        None => {}
        Some(ResignCosts::Skipped(reason)) => {
            let _ = writeln!(
                md,
                "| full re-sign with the online key on SoftHSM2 | not measured: {reason} | — |"
            );
        }
        Some(ResignCosts::Measured(costs)) => {
            for c in costs {
                let goal = if c.on_token {
                    let met = c.secs <= GOAL_HSM_RESIGN_SECS;
                    let at = if p.projects >= GOAL_PROJECTS {
                        ""
                    } else {
                        " (at this size)"
                    };
                    format!(
                        "≤ {GOAL_HSM_RESIGN_SECS:.0} s at 1M: {}{at}",
                        verdict(met, || format!(
                            "missed by {:.1}×",
                            c.secs / GOAL_HSM_RESIGN_SECS
                        ))
                    )
                } else {
                    "—".to_owned()
                };
                let _ = writeln!(
                    md,
                    "| full re-sign with a new {} online key {} ({} roles) | {:.2} s | {goal} |",
                    algorithm_name(c.algorithm),
                    if c.on_token {
                        "on SoftHSM2"
                    } else {
                        "in a file"
                    },
                    c.roles,
                    c.secs
                );
            }
        }
    }
}

fn kb(n: u64) -> String {
    format!("{:.1} KB", float(n) / 1000.0)
}

fn download_row(md: &mut String, label: &str, d: &Download, goal: &str) {
    let names: Vec<&str> = d.items.iter().map(|i| i.name.as_str()).collect();
    let _ = writeln!(
        md,
        "| {label} | {} | {} | {} | {goal} |",
        names.join(", "),
        kb(d.raw()),
        kb(d.gzip())
    );
}

fn bytes_markdown(md: &mut String, b: &BytesResult) {
    let _ = writeln!(
        md,
        "\n## Metadata bytes per install ({} projects, {} bins, project `{}`)\n",
        b.projects,
        1u64 << b.bin_bits,
        b.project
    );
    let _ = writeln!(
        md,
        "Beyond the distribution and its page. KB = 1,000 bytes; gzip at the default level.\n"
    );
    let _ = writeln!(
        md,
        "| user | files fetched | raw | gzip | goal (gzip, at 1M) |\n|---|---|---|---|---|"
    );
    let scale = if b.projects >= GOAL_PROJECTS {
        ""
    } else {
        " at this size"
    };
    let goal = |bytes: u64, goal: u64| {
        let outcome = if bytes <= goal {
            "met".to_owned()
        } else {
            format!("missed by {}", kb(bytes - goal))
        };
        format!("≤ {}: {outcome}{scale}", kb(goal))
    };
    download_row(
        md,
        "new user",
        &b.new_user,
        &goal(b.new_user.gzip(), GOAL_NEW_USER),
    );
    download_row(
        md,
        "returning, same snapshot",
        &b.returning_same,
        &goal(b.returning_same.gzip(), GOAL_RETURNING),
    );
    download_row(
        md,
        "returning, new snapshot",
        &b.returning_new,
        &goal(b.returning_new.gzip(), GOAL_RETURNING),
    );
    let _ = writeln!(
        md,
        "\nMedian bin: {} raw, {} gzip.\n",
        kb(b.median_bin.0),
        kb(b.median_bin.1)
    );
    let _ = writeln!(
        md,
        "### Against PEP 458's estimate and the per-file-target layout\n"
    );
    let _ = writeln!(
        md,
        "Per-file-target model: {} targets (every distribution and page), 256 succinct bins, signed with the same canonical JSON.\n",
        b.per_file_targets
    );
    let _ = writeln!(
        md,
        "| user | Bulwark raw / gzip | per-file targets raw / gzip | PEP 458 estimate (raw) |\n|---|---|---|---|"
    );
    for (label, ours, model, pep) in [
        ("new user", &b.new_user, &b.per_file[0], PEP458_NEW_USER),
        (
            "returning, same snapshot",
            &b.returning_same,
            &b.per_file[1],
            PEP458_RETURNING_SAME,
        ),
        (
            "returning, new snapshot",
            &b.returning_new,
            &b.per_file[2],
            PEP458_RETURNING_NEW,
        ),
    ] {
        let _ = writeln!(
            md,
            "| {label} | {} / {} | {} / {} | {} |",
            kb(ours.raw()),
            kb(ours.gzip()),
            kb(model.raw()),
            kb(model.gzip()),
            kb(pep)
        );
    }
    comparison_markdown(md, b);
}

fn comparison_markdown(md: &mut String, b: &BytesResult) {
    let _ = writeln!(
        md,
        "\n### Bin count against snapshot and bin size (Bulwark layout)\n"
    );
    let _ = writeln!(
        md,
        "| bins | snapshot raw / gzip | median bin raw / gzip | new user gzip |\n|---|---|---|---|"
    );
    for r in &b.table {
        let _ = writeln!(
            md,
            "| {} | {} / {} | {} / {} | {} |",
            1u64 << r.bin_bits,
            kb(r.snapshot.0),
            kb(r.snapshot.1),
            kb(r.bin.0),
            kb(r.bin.1),
            kb(r.new_user_gzip)
        );
    }
    if let Some(row) = b.table.iter().find(|r| r.bin_bits == 14) {
        let _ = writeln!(
            md,
            "\nWith 16,384 bins (PEP 458's count for PyPI) the snapshot alone is {} gzip at any project count, \
             so a flat snapshot puts new users and returning users with a new snapshot above the \
             {} and {} goals at 1M projects.",
            kb(row.snapshot.1),
            kb(GOAL_NEW_USER),
            kb(GOAL_RETURNING)
        );
    }
    let dominant = b
        .new_user
        .items
        .iter()
        .max_by_key(|i| i.gzip)
        .map_or("", |i| i.name.as_str());
    let _ = writeln!(md, "\nLargest new-user download (gzip): `{dominant}`.");
}

/// What one sample of the client comparison does, on each side.
const CLIENT_INCLUDED: &str = "in-process, one cold lookup per sample, interpreter start-up and imports excluded: \
empty metadata and target directories and the repository's 1.root.json; HTTP client and updater (the root persisted), \
refresh (root, timestamp, snapshot, targets), delegation search for the project's page (claimed, recently-claimed, \
unclaimed, its bin), page download with length and hash check, page parse, then one 64 KiB distribution downloaded \
and its length and sha256 compared with the page; served on loopback by a separate process";

/// The clock both sides read.
const CLIENT_CLOCK: &str =
    "CLOCK_PROCESS_CPUTIME_ID: user + system time of every thread of the client's process";

fn spread_json(s: Spread) -> Json {
    Json::obj([
        ("n", Json::Int(s.n as u64)),
        ("median", Json::Float(s.median)),
        ("min", Json::Float(s.min)),
        ("max", Json::Float(s.max)),
        ("first", Json::Float(s.first)),
    ])
}

fn samples_json(s: &Samples) -> Vec<(String, Json)> {
    let list = |v: &[f64]| Json::Arr(v.iter().map(|x| Json::Float(*x)).collect());
    vec![
        ("cpu_ms".to_owned(), spread_json(s.cpu())),
        ("wall_ms".to_owned(), spread_json(s.wall())),
        ("cpu_ms_samples".to_owned(), list(&s.cpu_ms)),
        ("wall_ms_samples".to_owned(), list(&s.wall_ms)),
    ]
}

fn client_json(c: &ClientResult) -> Json {
    let (python, not_measured) = match &c.python {
        Python::Measured {
            tuf_version,
            python_version,
            samples,
        } => {
            let mut pairs = vec![
                ("tuf_version".to_owned(), Json::Str(tuf_version.clone())),
                (
                    "python_version".to_owned(),
                    Json::Str(python_version.clone()),
                ),
            ];
            pairs.extend(samples_json(samples));
            (Json::Obj(pairs), Json::Null)
        }
        Python::NotMeasured(why) => (Json::Null, Json::Str(why.clone())),
    };
    Json::obj([
        ("projects", Json::Int(c.projects)),
        ("bin_bits", Json::Int(u64::from(c.bin_bits))),
        ("project", Json::Str(c.project.clone())),
        ("file", Json::Str(c.filename.clone())),
        ("file_bytes", Json::Int(c.file_bytes)),
        ("build", Json::Str(c.build.to_owned())),
        ("client_dir", Json::Str(c.client_dir.clone())),
        ("included", Json::Str(CLIENT_INCLUDED.to_owned())),
        ("cpu_clock", Json::Str(CLIENT_CLOCK.to_owned())),
        ("bulwark", {
            let mut pairs = samples_json(&c.ours);
            pairs.push((
                "http_client_cpu_ms".to_owned(),
                spread_json(Spread::of(&c.ours_http_client_cpu_ms)),
            ));
            Json::Obj(pairs)
        }),
        ("python_tuf", python),
        ("python_tuf_not_measured", not_measured),
        ("cpu_ratio", c.cpu_ratio().map_or(Json::Null, Json::Float)),
        ("wall_ratio", c.wall_ratio().map_or(Json::Null, Json::Float)),
        ("goal_cpu_ratio", Json::Float(GOAL_CLIENT_CPU_RATIO)),
    ])
}

fn client_row(md: &mut String, label: &str, s: &Samples) {
    let (cpu, wall) = (s.cpu(), s.wall());
    let _ = writeln!(
        md,
        "| {label} | {:.1} ms | {:.1} / {:.1} ms | {:.1} ms | {:.1} ms |",
        cpu.median, cpu.min, cpu.max, cpu.first, wall.median
    );
}

fn client_markdown(md: &mut String, c: &ClientResult) {
    let _ = writeln!(
        md,
        "\n## Client CPU ({} projects, {} bins, project `{}`, {} build)\n",
        c.projects,
        1u64 << c.bin_bits,
        c.project,
        c.build
    );
    let _ = writeln!(
        md,
        "One cold lookup per sample, measured in-process on each side (interpreter start-up and \
         imports excluded): empty metadata and target directories and the repository's \
         `1.root.json`; HTTP client and updater; refresh (root, timestamp, snapshot, targets); \
         the delegation search for `simple/{}/index.json` (claimed, recently-claimed, unclaimed, \
         its bin); the page downloaded, checked and parsed; `{}` ({} bytes) downloaded and its \
         length and sha256 compared with the page. A separate process serves the repository \
         on loopback (bulwark-mirror's router, as `bulwark serve --mirror`); its CPU is not \
         counted. CPU is user + system time of the client's whole process \
         (`CLOCK_PROCESS_CPUTIME_ID`, which python's `time.process_time()` reads too). Bulwark's \
         client fsyncs every file it persists; python-tuf does not.\n",
        c.project, c.filename, c.file_bytes
    );
    let _ = writeln!(
        md,
        "| client | CPU, median | min / max | first lookup | wall, median |\n|---|---|---|---|---|"
    );
    client_row(md, "Bulwark (`bulwark-client`, this process)", &c.ours);
    match &c.python {
        Python::Measured {
            tuf_version,
            python_version,
            samples,
        } => client_row(
            md,
            &format!("python-tuf {tuf_version} ngclient (Python {python_version})"),
            samples,
        ),
        Python::NotMeasured(why) => {
            let _ = writeln!(md, "| python-tuf | {why} | | | |");
        }
    }
    let _ = writeln!(
        md,
        "\n{} lookups per client; their directories were under `{}`. Of Bulwark's CPU, building \
         the HTTP client (`Fetcher::new`; the TLS verifier is only created at a first https \
         handshake) took {:.1} ms (median).",
        c.ours.cpu_ms.len(),
        c.client_dir,
        Spread::of(&c.ours_http_client_cpu_ms).median
    );
    if let (Some(cpu), Some(wall)) = (c.cpu_ratio(), c.wall_ratio()) {
        let _ = writeln!(
            md,
            "\nRatio of medians, python-tuf / Bulwark: **{cpu:.1}× the CPU** (goal ≥ {GOAL_CLIENT_CPU_RATIO:.0}×: {}), {wall:.1}× the wall time.",
            verdict(cpu >= GOAL_CLIENT_CPU_RATIO, || format!(
                "missed by {:.1}×",
                GOAL_CLIENT_CPU_RATIO / cpu.max(1e-9)
            ))
        );
    }
    if c.build != "release" {
        let _ = writeln!(
            md,
            "\nThis was a {} build of Bulwark's client: its figures are not representative.",
            c.build
        );
    }
}

/// `a / b` as "N.N×", when both exist and `b` is not zero.
fn ratio(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(float(a) / float(b)),
        _ => None,
    }
}

fn scripts_markdown(md: &mut String, runs: &[ScriptRun]) {
    let _ = writeln!(md, "\n## Whole-process measurements (`scripts/`)\n");
    for run in runs {
        let _ = writeln!(md, "### `{}`\n\n{}.\n", run.command, run.script.what);
        match &run.figures {
            Err(e) => {
                let _ = writeln!(md, "Not measured: {e}\n");
            }
            Ok(figures) => {
                let _ = writeln!(md, "| figure | value |\n|---|---|");
                for (key, value) in figures {
                    let _ = writeln!(md, "| {key} | {value} |");
                }
                for (label, value, goal) in derived(run) {
                    let verdict = goal.map_or_else(String::new, |goal| {
                        if value >= goal {
                            format!(" (goal ≥ {goal:.0}×: met)")
                        } else {
                            format!(" (goal ≥ {goal:.0}×: missed by {:.1}×)", goal / value)
                        }
                    });
                    let _ = writeln!(md, "| **{label}** | **{value:.1}×**{verdict} |");
                }
                let _ = writeln!(md);
            }
        }
        if !run.output.trim().is_empty() {
            let _ = writeln!(md, "```text\n{}\n```\n", run.output.trim_end());
        }
    }
}

/// Ratios against the peer measured in the same script run, with their goals.
fn derived(run: &ScriptRun) -> Vec<(&'static str, f64, Option<f64>)> {
    let pairs: &[(&str, &str, &str, Option<f64>)] = match run.script.name {
        "index-throughput" => &[
            (
                "pages: bulwark / pypiserver",
                "bulwark_page_rps",
                "pypiserver_page_rps",
                Some(GOAL_THROUGHPUT_RATIO),
            ),
            (
                "files: bulwark / pypiserver",
                "bulwark_file_rps",
                "pypiserver_file_rps",
                Some(GOAL_THROUGHPUT_RATIO),
            ),
        ],
        "client-cpu" => &[(
            "CPU: python-tuf / bulwark (whole process)",
            "python_tuf_us",
            "bulwark_us",
            None,
        )],
        "upstream-install" => &[
            (
                "pip, cold: pypiserver redirect / bulwark",
                "pypiserver_pip_cold_ms",
                "bulwark_pip_cold_ms",
                None,
            ),
            (
                "pip, warm: pypiserver redirect / bulwark",
                "pypiserver_pip_warm_ms",
                "bulwark_pip_warm_ms",
                None,
            ),
            (
                "pip, cold: devpi mirror / bulwark",
                "devpi_pip_cold_ms",
                "bulwark_pip_cold_ms",
                None,
            ),
            (
                "pip, warm: devpi mirror / bulwark",
                "devpi_pip_warm_ms",
                "bulwark_pip_warm_ms",
                None,
            ),
            (
                "uv, cold: pypiserver redirect / bulwark",
                "pypiserver_uv_cold_ms",
                "bulwark_uv_cold_ms",
                None,
            ),
            (
                "uv, warm: pypiserver redirect / bulwark",
                "pypiserver_uv_warm_ms",
                "bulwark_uv_warm_ms",
                None,
            ),
            (
                "uv, cold: devpi mirror / bulwark",
                "devpi_uv_cold_ms",
                "bulwark_uv_cold_ms",
                None,
            ),
            (
                "uv, warm: devpi mirror / bulwark",
                "devpi_uv_warm_ms",
                "bulwark_uv_warm_ms",
                None,
            ),
            (
                "peak RSS: devpi mirror / bulwark",
                "devpi_peak_rss_kib",
                "bulwark_peak_rss_kib",
                None,
            ),
            (
                "peak RSS: pypiserver redirect / bulwark",
                "pypiserver_peak_rss_kib",
                "bulwark_peak_rss_kib",
                None,
            ),
        ],
        _ => &[],
    };
    pairs
        .iter()
        .filter_map(|(label, a, b, goal)| {
            ratio(run.figure(a), run.figure(b)).map(|r| (*label, r, *goal))
        })
        .collect()
}

fn claimed_bytes_json(c: &ClaimedBytesResult) -> Json {
    let lookup = |l: &crate::claimed_bytes::Lookup| {
        Json::obj([
            ("kind", Json::Str(l.kind.name().to_owned())),
            ("project", Json::Str(l.project.clone())),
            ("found_in", Json::Str(l.found_in.clone())),
            ("new_user", download_json(&l.new_user)),
            ("returning_same_snapshot", download_json(&l.returning_same)),
            ("returning_new_snapshot", download_json(&l.returning_new)),
        ])
    };
    let bins = |b: crate::claimed_bytes::ClaimBins| {
        Json::obj([
            ("count", Json::Int(b.count as u64)),
            ("median_raw", Json::Int(b.raw)),
            ("median_gzip", Json::Int(b.gzip)),
        ])
    };
    let baseline = c.baseline().map(|l| l.new_user.gzip());
    Json::obj([
        ("projects", Json::Int(c.projects)),
        ("bin_bits", Json::Int(u64::from(c.bin_bits))),
        (
            "recently_claimed_share",
            Json::Float(1.0 / float(crate::claimed_bytes::RECENTLY_CLAIMED_EVERY)),
        ),
        ("goal_new_user_ratio", Json::Float(GOAL_CLAIMED_RATIO)),
        (
            "scenarios",
            Json::Arr(
                c.scenarios
                    .iter()
                    .map(|s| {
                        let claimed_new = s
                            .lookups
                            .iter()
                            .find(|l| l.kind == Kind::Claimed)
                            .map(|l| l.new_user.gzip());
                        let growth = snapshot_growth(c, s);
                        Json::obj([
                            ("claims", Json::Int(s.claims)),
                            ("recently_claimed", Json::Int(s.recently_claimed)),
                            ("snapshot_roles", Json::Int(s.snapshot_roles)),
                            ("snapshot_raw", Json::Int(s.snapshot.0)),
                            ("snapshot_gzip", Json::Int(s.snapshot.1)),
                            (
                                "snapshot_growth_per_claim_raw",
                                growth.map_or(Json::Null, |g| Json::Float(g.0)),
                            ),
                            (
                                "snapshot_growth_per_claim_gzip",
                                growth.map_or(Json::Null, |g| Json::Float(g.1)),
                            ),
                            ("claimed_bins", bins(s.claimed_bins)),
                            ("recently_claimed_bins", bins(s.recently_claimed_bins)),
                            ("claim_secs", Json::Float(s.claim_secs)),
                            ("promote_secs", Json::Float(s.promote_secs)),
                            (
                                "claimed_new_user_gzip_over_baseline",
                                ratio(claimed_new, baseline).map_or(Json::Null, Json::Float),
                            ),
                            (
                                "tap16_model_claimed_new_user",
                                s.tap16_new_user.as_ref().map_or(Json::Null, download_json),
                            ),
                            ("lookups", Json::Arr(s.lookups.iter().map(lookup).collect())),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

/// The snapshot's growth per claimed project since the baseline, raw and
/// gzip bytes (none for the baseline itself).
fn snapshot_growth(c: &ClaimedBytesResult, s: &Scenario) -> Option<(f64, f64)> {
    let base = c.scenarios.iter().find(|b| b.claims == 0)?;
    (s.claims > 0).then(|| {
        let per = |a: u64, b: u64| (float(a) - float(b)) / float(s.claims);
        (
            per(s.snapshot.0, base.snapshot.0),
            per(s.snapshot.1, base.snapshot.1),
        )
    })
}

/// Raw and gzip bytes of the files of `d` in `category_name`, if any.
fn category_bytes(d: &Download, category_name: &str) -> Option<(u64, u64)> {
    let items: Vec<_> = d
        .items
        .iter()
        .filter(|i| category(&i.name) == category_name)
        .collect();
    (!items.is_empty()).then(|| {
        (
            items.iter().map(|i| i.raw).sum(),
            items.iter().map(|i| i.gzip).sum(),
        )
    })
}

fn raw_gzip(bytes: Option<(u64, u64)>) -> String {
    bytes.map_or_else(
        || "—".to_owned(),
        |(raw, gzip)| format!("{} / {}", kb(raw), kb(gzip)),
    )
}

fn claimed_bytes_markdown(md: &mut String, c: &ClaimedBytesResult) {
    let _ = writeln!(
        md,
        "\n## Metadata bytes per install with claimed projects ({} projects, {} bins)\n",
        c.projects,
        1u64 << c.bin_bits
    );
    let _ = writeln!(
        md,
        "What the real client (`bulwark-client`'s `Updater`, cold metadata directory for a new \
         user, the same directory for a returning one) downloads to find a project's page, as \
         the in-process index's request log shows it, bytes as stored. One repository: first \
         no claims (the baseline), then the claim counts below, cumulative; one claim in {} \
         stays recently-claimed, the others are promoted to claimed by the ceremony's roles. \
         Returning, new snapshot: after one release (developer transaction, one new file) or \
         one twine-style upload (unclaimed) to the project and a publish run. New users count \
         `1.root.json`. KB = 1,000 bytes, raw / gzip (default level).\n",
        crate::claimed_bytes::RECENTLY_CLAIMED_EVERY
    );
    let baseline = c.baseline().map(|l| l.new_user.gzip());
    let _ = writeln!(
        md,
        "| claims (recently-claimed) | project | found in | new user | returning, same snapshot | returning, new snapshot | new user gzip / baseline |\n|---|---|---|---|---|---|---|"
    );
    for s in &c.scenarios {
        for l in &s.lookups {
            let vs = ratio(Some(l.new_user.gzip()), baseline)
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                md,
                "| {} ({}) | {} `{}` | `{}` | {} / {} | {} / {} | {} / {} | {vs} |",
                s.claims,
                s.recently_claimed,
                l.kind.name(),
                l.project,
                l.found_in,
                kb(l.new_user.raw()),
                kb(l.new_user.gzip()),
                kb(l.returning_same.raw()),
                kb(l.returning_same.gzip()),
                kb(l.returning_new.raw()),
                kb(l.returning_new.gzip()),
            );
        }
    }
    itemised_markdown(md, c);
    snapshot_markdown(md, c);
    if let Some(base) = baseline {
        goal_markdown(md, c, base);
    }
}

fn itemised_markdown(md: &mut String, c: &ClaimedBytesResult) {
    for (title, pick) in [
        (
            "new user",
            (|l: &crate::claimed_bytes::Lookup| &l.new_user) as fn(&_) -> &Download,
        ),
        ("returning, same snapshot", |l| &l.returning_same),
        ("returning, new snapshot", |l| &l.returning_new),
    ] {
        let columns: Vec<(String, &Download)> = c
            .scenarios
            .iter()
            .flat_map(|s| {
                s.lookups
                    .iter()
                    .map(move |l| (format!("{} claims: {}", s.claims, l.kind.name()), pick(l)))
            })
            .collect();
        let _ = writeln!(md, "\n### Itemised: {title} (raw / gzip)\n");
        let header: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
        let _ = writeln!(
            md,
            "| file | {} |\n|---|{}",
            header.join(" | "),
            "---|".repeat(columns.len())
        );
        for name in CATEGORIES {
            let cells: Vec<String> = columns
                .iter()
                .map(|(_, d)| raw_gzip(category_bytes(d, name)))
                .collect();
            let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
        }
        let totals: Vec<String> = columns
            .iter()
            .map(|(_, d)| format!("**{} / {}**", kb(d.raw()), kb(d.gzip())))
            .collect();
        let _ = writeln!(md, "| **total** | {} |", totals.join(" | "));
    }
}

fn snapshot_markdown(md: &mut String, c: &ClaimedBytesResult) {
    let _ = writeln!(
        md,
        "\n### The snapshot and the claim bins\n\n| claims | roles in the snapshot | snapshot raw / gzip | growth per claimed project raw / gzip | `claimed-<hh>`: bins, median raw / gzip | `recently-claimed-<hh>`: bins, median raw / gzip | set-up: claim / promote |\n|---|---|---|---|---|---|---|"
    );
    for s in &c.scenarios {
        let growth = snapshot_growth(c, s).map_or_else(
            || "—".to_owned(),
            |(raw, gzip)| format!("{raw:.1} / {gzip:.1} B"),
        );
        let bins = |b: crate::claimed_bytes::ClaimBins| {
            if b.count == 0 {
                "—".to_owned()
            } else {
                format!("{}, {} / {}", b.count, kb(b.raw), kb(b.gzip))
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {growth} | {} | {} | {:.1} / {:.1} s |",
            s.claims,
            s.snapshot_roles,
            kb(s.snapshot.0),
            kb(s.snapshot.1),
            bins(s.claimed_bins),
            bins(s.recently_claimed_bins),
            s.claim_secs,
            s.promote_secs
        );
    }
}

fn goal_markdown(md: &mut String, c: &ClaimedBytesResult, base: u64) {
    let _ = writeln!(
        md,
        "\n### Goal: a claimed lookup costs a new user ≤ {GOAL_CLAIMED_RATIO:.1}× an unclaimed one today ({} gzip; ≤ {})\n",
        kb(base),
        kb(scaled(base, GOAL_CLAIMED_RATIO))
    );
    let _ = writeln!(
        md,
        "| claims | claimed new user gzip | ratio | verdict | of which snapshot | TAP 16 model: snapshot replaced by Merkle proofs of the roles fetched | its ratio |\n|---|---|---|---|---|---|---|"
    );
    for s in &c.scenarios {
        let Some(l) = s.lookups.iter().find(|l| l.kind == Kind::Claimed) else {
            continue;
        };
        let gzip = l.new_user.gzip();
        let r = float(gzip) / float(base.max(1));
        let verdict = verdict(r <= GOAL_CLAIMED_RATIO, || {
            format!(
                "missed by {}",
                kb(gzip.saturating_sub(scaled(base, GOAL_CLAIMED_RATIO)))
            )
        });
        let snapshot = category_bytes(&l.new_user, "snapshot").map_or(0, |b| b.1);
        let (tap16, tap16_ratio) = s.tap16_new_user.as_ref().map_or_else(
            || ("—".to_owned(), "—".to_owned()),
            |d| {
                (
                    kb(d.gzip()),
                    format!("{:.2}×", float(d.gzip()) / float(base.max(1))),
                )
            },
        );
        let _ = writeln!(
            md,
            "| {} | {} | {r:.2}× | {verdict} | {} | {tap16} | {tap16_ratio} |",
            s.claims,
            kb(gzip),
            kb(snapshot)
        );
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "byte counts far below 2^52"
)]
fn scaled(bytes: u64, factor: f64) -> u64 {
    (float(bytes) * factor).floor() as u64
}

fn transactions_json(t: &TransactionResult) -> Json {
    let twine = t
        .series(UploadKind::Twine)
        .map(crate::transactions::Series::median);
    Json::obj([
        ("projects", Json::Int(t.projects)),
        ("bin_bits", Json::Int(u64::from(t.bin_bits))),
        ("claims", Json::Int(t.claims as u64)),
        ("wheel_bytes", Json::Int(t.wheel_bytes)),
        (
            "series",
            Json::Arr(
                t.series
                    .iter()
                    .map(|s| {
                        let list =
                            |v: &[f64]| Json::Arr(v.iter().map(|x| Json::Float(*x)).collect());
                        Json::obj([
                            ("kind", Json::Str(s.kind.name().to_owned())),
                            ("n", Json::Int(s.published_ms.len() as u64)),
                            ("accepted_ms", spread_json(Spread::of(&s.accepted_ms))),
                            ("published_ms", spread_json(Spread::of(&s.published_ms))),
                            ("published_p95_ms", Json::Float(s.p95())),
                            (
                                "median_over_twine",
                                twine.map_or(Json::Null, |t| Json::Float(s.median() / t.max(1e-9))),
                            ),
                            (
                                "paired_ratio",
                                t.paired_ratio(s.kind).map_or(Json::Null, Json::Float),
                            ),
                            ("published_ms_samples", list(&s.published_ms)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn transactions_markdown(md: &mut String, t: &TransactionResult) {
    let _ = writeln!(
        md,
        "\n## Upload→published: developer transactions against twine uploads ({} projects, {} bins, {} claims)\n",
        t.projects,
        1u64 << t.bin_bits,
        t.claims
    );
    let _ = writeln!(
        md,
        "One upload at a time on an otherwise idle index, kinds in rotating order: real HTTP \
         (reqwest) to `bulwark-server`'s router on loopback, each upload one new {}-byte \
         wheel; the publisher runs as the server's task does (woken by the handler). From just \
         before the request to its 200, and to the end of the publish run after which the \
         published page is the new one. Paired ratio: median over rounds of the kind's delay \
         over the twine upload's of the same round.\n",
        t.wheel_bytes
    );
    let _ = writeln!(
        md,
        "| upload | n | request→200, median | upload→published, median | p95 | median / twine's | paired ratio |\n|---|---|---|---|---|---|---|"
    );
    let twine = t
        .series(UploadKind::Twine)
        .map(crate::transactions::Series::median);
    for s in &t.series {
        let over = twine.map_or_else(
            || "—".to_owned(),
            |tw| format!("{:.2}×", s.median() / tw.max(1e-9)),
        );
        let paired = t
            .paired_ratio(s.kind)
            .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {over} | {paired} |",
            s.kind.name(),
            s.published_ms.len(),
            s.accepted_median(),
            s.median(),
            s.p95()
        );
    }
}
