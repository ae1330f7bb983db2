//! `bulwark mirror sync`: copy an index's newest consistent snapshot into a
//! directory, verifying everything, and publish its timestamp last. The
//! directory is then served by `bulwark serve --mirror DIR` or any static
//! web server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use bulwark_mirror::{Progress, SyncOptions};

/// Options of `bulwark mirror`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Copy and verify the upstream's newest consistent snapshot into --dest.
    Sync(SyncArgs),
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// The upstream index's base URL (e.g. `https://index.example/`).
    #[arg(long)]
    upstream: String,
    /// The trusted root metadata of the upstream.
    #[arg(long)]
    root: PathBuf,
    /// The mirror directory (created if missing).
    #[arg(long)]
    dest: PathBuf,
    /// How long a replaced snapshot stays servable, in seconds.
    #[arg(long, default_value_t = 3600)]
    retention_secs: u32,
    /// Most downloads at a time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Re-hash every file already in the mirror (by default, files of pages
    /// the mirror already serves are checked by size only).
    #[arg(long)]
    verify_existing: bool,
    #[command(flatten)]
    upstream_token: crate::upstream::TokenFlags,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Sync(args) => sync(args),
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn stage(&self, name: &str) {
        self.0.set_message(name.to_owned());
    }

    fn plan(&self, files: u64, _bytes: u64) {
        self.0.set_position(0);
        self.0.set_length(files);
    }

    fn done(&self, _bytes: u64, _downloaded: bool) {
        self.0.inc(1);
    }
}

fn sync(args: SyncArgs) -> anyhow::Result<()> {
    crate::init_logging(None)?;
    let root = crate::trusted_root::read(&args.root)?;
    let (upstream, token) = crate::upstream::resolve(&args.upstream, args.upstream_token)?;
    let mut options = SyncOptions::new(&upstream, root, args.dest.clone(), crate::now());
    options.fetch.upstream_token = token;
    options.retention_secs = i64::from(args.retention_secs);
    options.concurrency = usize::from(args.concurrency);
    options.verify_existing = args.verify_existing;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg:>9} {bar:40} {pos}/{len} files, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = Arc::new(Bar(bar.clone()));
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(bulwark_mirror::sync(&options, progress));
    bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "mirror sync from {} failed; {} still serves its previous snapshot",
            upstream,
            args.dest.display()
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if report.changed {
        println!(
            "mirrored snapshot {}: {} files, {} downloaded ({} bytes) in {seconds:.1} s; removed {} old files",
            report.snapshot_version,
            report.files,
            report.downloaded_files,
            report.downloaded_bytes,
            report.gc.removed
        );
    } else {
        println!(
            "up to date at snapshot {}: {} files downloaded ({} bytes) in {seconds:.1} s; removed {} old files",
            report.snapshot_version,
            report.downloaded_files,
            report.downloaded_bytes,
            report.gc.removed
        );
    }
    Ok(())
}
