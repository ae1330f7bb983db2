//! `bulwark tuf-client`: the TUF client conformance protocol
//! (`init`, `refresh`, `download`), over the `bulwark-client` updater.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bulwark_client::{FetchConfig, Fetcher, Limits, MetadataDir, Updater};
use bulwark_tuf::TrustedSet;
use bulwark_tuf::names::{RoleName, percent_encode};
use bulwark_tuf::time::Timestamp;

/// Options of `bulwark tuf-client`; they may come in any order before the command.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding the trusted metadata.
    #[arg(long, global = true)]
    metadata_dir: Option<PathBuf>,
    /// Base URL of the repository's metadata (percent-escapes are kept).
    #[arg(long, global = true)]
    metadata_url: Option<String>,
    /// Target path to download; repeat for several, downloaded in order.
    #[arg(long = "target-name", global = true)]
    target_names: Vec<String>,
    /// Base URL of the repository's targets.
    #[arg(long, global = true)]
    target_base_url: Option<String>,
    /// Directory where verified targets are stored, each under its
    /// percent-encoded target path.
    #[arg(long, global = true)]
    target_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Trust the given root; makes no network request.
    Init {
        /// The initial trusted root.json.
        trusted_root: PathBuf,
    },
    /// Update the top-level metadata.
    Refresh,
    /// Refresh, then download and verify each --target-name.
    Download,
}

fn required<T>(value: Option<T>, flag: &str) -> anyhow::Result<T> {
    value.with_context(|| format!("{flag} is required for this command"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = required(args.metadata_dir, "--metadata-dir")?;
    // The fixed update start time (spec §5.1), read once from the system clock.
    let now = crate::now();
    match args.command {
        Command::Init { trusted_root } => init(&dir, &trusted_root, now),
        Command::Refresh => {
            let url = required(args.metadata_url, "--metadata-url")?;
            runtime()?.block_on(async {
                let mut updater = updater(&dir, &url, now)?;
                updater.refresh().await.context("refresh failed")
            })
        }
        Command::Download => {
            let url = required(args.metadata_url, "--metadata-url")?;
            let base = required(args.target_base_url, "--target-base-url")?;
            let target_dir = required(args.target_dir, "--target-dir")?;
            if args.target_names.is_empty() {
                bail!("--target-name is required for download");
            }
            runtime()?.block_on(async {
                let mut updater = updater(&dir, &url, now)?;
                updater.refresh().await.context("refresh failed")?;
                for name in &args.target_names {
                    let info = updater.target_info(name).await?;
                    let dest = target_dir.join(percent_encode(name));
                    updater
                        .download_target(name, &info, &base, &dest)
                        .await
                        .with_context(|| format!("download of {name:?} failed"))?;
                }
                Ok(())
            })
        }
    }
}

/// Checks that `trusted_root` is a root signed by its own threshold, then
/// stores it as the trusted root.
fn init(
    dir: &std::path::Path,
    trusted_root: &std::path::Path,
    now: Timestamp,
) -> anyhow::Result<()> {
    let bytes = crate::trusted_root::read(trusted_root)?;
    TrustedSet::new(&bytes, now).context("the trusted root is not valid")?;
    let store =
        MetadataDir::open(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    store
        .write(&RoleName::new(RoleName::ROOT), &bytes)
        .with_context(|| format!("cannot write to {}", dir.display()))
}

fn updater(dir: &std::path::Path, url: &str, now: Timestamp) -> anyhow::Result<Updater> {
    let store = MetadataDir::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let fetcher = Fetcher::new(fetch_config()?)?;
    Ok(Updater::new(store, url, fetcher, Limits::default(), now)?)
}

/// Download time limits; `BULWARK_FETCH_TIMEOUT_SECS` shortens them (tests
/// of slow retrieval use it); `bulwark proxy` honours it too.
pub(crate) fn fetch_config() -> anyhow::Result<FetchConfig> {
    let mut config = FetchConfig::default();
    if let Ok(secs) = std::env::var("BULWARK_FETCH_TIMEOUT_SECS") {
        let secs: u64 = secs
            .parse()
            .context("BULWARK_FETCH_TIMEOUT_SECS must be a whole number of seconds")?;
        let limit = std::time::Duration::from_secs(secs);
        config.connect_timeout = limit;
        config.idle_timeout = limit;
        config.base_deadline = limit;
    }
    Ok(config)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
