//! `bulwark-bench`: runs the benchmark suite and prints (and, for `all`,
//! writes) the report. See `BENCHMARKS.md`.

use std::path::PathBuf;

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
    /// Uploads per publish run in the sustained phase.
    #[arg(long, global = true, default_value_t = 100)]
    batch: u64,
    /// Publish runs in the sustained phase.
    #[arg(long, global = true, default_value_t = 30)]
    runs: u64,
    /// Directory under which the temporary repository is created (not the
    /// system temp dir: on a shared machine, /tmp cleaners have removed a
    /// repository in the middle of a run).
    #[arg(long, global = true, default_value = "target/bench/work")]
    dir: PathBuf,
    /// Where `all` writes report.md and report.json.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Bulk load, full publish, sustained publishing.
    Publish,
    /// Metadata bytes per install, against PEP 458 and the per-file layout.
    MetadataBytes,
    /// Both, writing the report.
    All {
        /// The quick size (10,000 projects) instead of the full one.
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let (suite, default_projects) = match cli.command {
        Command::Publish => (Suite::Publish, 10_000),
        Command::MetadataBytes => (Suite::MetadataBytes, 10_000),
        Command::All { quick } => (Suite::All, if quick { 10_000 } else { 1_000_000 }),
    };
    let projects = cli.projects.unwrap_or(default_projects);
    let options = Options {
        projects,
        bin_bits: cli
            .bin_bits
            .unwrap_or_else(|| bulwark_bench::default_bin_bits(projects)),
        batch: cli.batch,
        runs: cli.runs,
        dir: cli.dir,
    };
    let report = bulwark_bench::run(suite, &options, &command)?;
    print!("{}", report.to_markdown());
    if suite == Suite::All {
        bulwark_bench::write_report(&report, &cli.out)?;
        eprintln!("wrote {}/report.md and report.json", cli.out.display());
    }
    Ok(())
}
