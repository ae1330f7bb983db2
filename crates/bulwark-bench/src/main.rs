//! `bulwark-bench`: runs the benchmark suite and prints (and, for `all`,
//! writes) the report. See `BENCHMARKS.md`.

use std::path::PathBuf;

use anyhow::Context as _;
use bulwark_bench::backend::{self, Backend};
use bulwark_bench::client::ClientConfig;
use bulwark_bench::{Options, Suite};
use clap::{Parser, Subcommand};

/// Benchmarks of the real Bulwark code paths on synthetic repositories.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Projects in the synthetic repository (default: 10,000; `all`: 1,000,000).
    #[arg(long, global = true)]
    projects: Option<u64>,
    /// `log2` of the bin count (default 14 at 100,000 projects or more, else 8).
    #[arg(long, global = true)]
    bin_bits: Option<u32>,
    /// Uploads per sustained round.
    #[arg(long, global = true, default_value_t = 20_000)]
    uploads: u64,
    /// Concurrent uploader threads in the sustained rounds.
    #[arg(long, global = true, default_value_t = 16)]
    uploaders: u64,
    /// Sustained rounds (the report gives the median round).
    #[arg(long, global = true, default_value_t = 3)]
    rounds: u64,
    /// Uploads/s offered in the paced round that measures latency below
    /// saturation (default: half the saturated median).
    #[arg(long, global = true, value_parser = positive_rate)]
    paced_rate: Option<f64>,
    /// The stores the publishing section runs on, comma-separated, each
    /// in the same run: `embedded` (SQLite + files) and `shared`
    /// (PostgreSQL from `BULWARK_BENCH_POSTGRES` or `BULWARK_TEST_POSTGRES`,
    /// S3 from `BULWARK_TEST_S3` and `AWS_*`). Default: embedded; for `all`,
    /// both when those variables are set.
    #[arg(long, global = true, value_delimiter = ',')]
    backends: Option<Vec<Backend>>,
    /// Directory under which the temporary repository is created (not the
    /// system temp dir: on a shared machine, /tmp cleaners have removed a
    /// repository in the middle of a run).
    #[arg(long, global = true, default_value = "target/bench/work")]
    dir: PathBuf,
    /// Where `all` writes report.md and report.json.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
    /// Cold lookups per client in the client CPU comparison.
    #[arg(long, global = true, default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..))]
    client_samples: u16,
    /// The Python with python-tuf for the client CPU comparison (default:
    /// `$BULWARK_VENV/bin/python`, else the workspace's `target/venv/bin/python`,
    /// which `scripts/python-env` creates).
    #[arg(long, global = true)]
    python: Option<PathBuf>,
    /// Where the client CPU comparison creates the clients' metadata and
    /// target directories (default: inside the repository's directory).
    #[arg(long, global = true)]
    client_dir: Option<PathBuf>,
    /// Claim counts at which `claimed-bytes` measures, comma-separated and
    /// cumulative (default: 1 % and 10 % of the projects).
    #[arg(long, global = true, value_delimiter = ',')]
    claims: Option<Vec<u64>>,
    /// Uploads of each kind (twine, recently-claimed and claimed
    /// transactions) in `transaction-latency`.
    #[arg(long, global = true, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    transactions: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Bulk load, full publish, sustained publishing.
    Publish,
    /// Metadata bytes per install, against PEP 458 and the per-file layout.
    MetadataBytes,
    /// CPU of one cold lookup (refresh, project page, one 64 KiB file), our
    /// client against python-tuf's ngclient.
    ClientCpu,
    /// Metadata bytes per install of a claimed, a recently-claimed and an
    /// unclaimed project, with no claims and after claiming `--claims`
    /// projects (one in ten stays recently-claimed).
    ClaimedBytes,
    /// Upload→published delay of developer-signed transactions against
    /// twine uploads, over HTTP to the in-process index.
    TransactionLatency,
    /// Everything but the claims benchmarks, writing the report: the
    /// synthetic repository, then the whole-process scripts (`scripts/*`)
    /// against their peers.
    All {
        /// The quick size (10,000 projects) instead of the full one.
        #[arg(long)]
        quick: bool,
        /// Skip the whole-process scripts.
        #[arg(long)]
        no_scripts: bool,
    },
    /// Serves a blob directory read-only on a free loopback port (the
    /// client CPU comparison runs it as a child process).
    #[command(hide = true, name = "serve-mirror")]
    ServeMirror {
        /// The directory (`tuf/metadata/`, `tuf/targets/`, `files/`).
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let run_scripts = matches!(
        cli.command,
        Command::All {
            no_scripts: false,
            ..
        }
    );
    let (suite, default_projects) = match cli.command {
        Command::Publish => (Suite::Publish, 10_000),
        Command::MetadataBytes => (Suite::MetadataBytes, 10_000),
        Command::ClientCpu => (Suite::ClientCpu, 10_000),
        Command::ClaimedBytes => (Suite::ClaimedBytes, 10_000),
        Command::TransactionLatency => (Suite::TransactionLatency, 10_000),
        Command::All { quick, .. } => (Suite::All, if quick { 10_000 } else { 1_000_000 }),
        Command::ServeMirror { dir } => return bulwark_bench::client::serve_mirror(&dir),
    };
    let backends = match cli.backends {
        Some(backends) => backends,
        None if suite == Suite::All => match backend::shared_unavailable() {
            None => vec![Backend::Embedded, Backend::Shared],
            Some(reason) => {
                eprintln!("publishing on PostgreSQL + S3 will not be measured: {reason}");
                vec![Backend::Embedded]
            }
        },
        None => vec![Backend::Embedded],
    };
    if matches!(suite, Suite::Publish | Suite::All)
        && let Some(status) = bulwark_bench::hsm::rerun_with_softhsm()?
    {
        std::process::exit(status.code().unwrap_or(1));
    }
    // The comparison serves the repository from a second copy of this binary.
    let mut client = ClientConfig::new(
        std::env::current_exe().context("cannot find this executable")?,
        usize::from(cli.client_samples),
    );
    if let Some(python) = cli.python {
        client.python = python;
    }
    client.dir = cli.client_dir;
    let projects = cli.projects.unwrap_or(default_projects);
    let options = Options {
        projects,
        bin_bits: cli
            .bin_bits
            .unwrap_or_else(|| bulwark_bench::default_bin_bits(projects)),
        uploads: cli.uploads,
        uploaders: cli.uploaders,
        rounds: cli.rounds,
        paced_rate: cli.paced_rate,
        backends,
        dir: cli.dir,
        client,
        scripts: run_scripts.then(|| cli.out.clone()),
        claims: cli.claims,
        transactions: cli.transactions,
    };
    if run_scripts {
        std::fs::create_dir_all(&cli.out)
            .with_context(|| format!("cannot create {}", cli.out.display()))?;
    }
    let report = bulwark_bench::run(suite, &options, &command)?;
    print!("{}", report.to_markdown());
    // The claims benchmarks run alone, and write beside `all`'s report.
    let out = match suite {
        Suite::All => Some(cli.out),
        Suite::ClaimedBytes => Some(cli.out.join("claimed-bytes")),
        Suite::TransactionLatency => Some(cli.out.join("transaction-latency")),
        _ => None,
    };
    if let Some(out) = out {
        bulwark_bench::write_report(&report, &out)?;
        eprintln!("wrote {}/report.md and report.json", out.display());
    }
    Ok(())
}

/// A finite rate above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a positive number of uploads per second"
        )),
    }
}
