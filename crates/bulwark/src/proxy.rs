//! `bulwark proxy`: a local simple-API endpoint for pip and uv that serves
//! only pages and files verified through TUF against `--root`.
//!
//! Settings: flags beat `BULWARK_PROXY_*` environment variables, which beat
//! a TOML file (`--config FILE` or `BULWARK_PROXY_CONFIG`, keys `upstream`,
//! `root`, `listen`, `cache_dir`, `freshness_secs`), which beats the defaults.
//!
//! | flag | env | default |
//! |---|---|---|
//! | `--upstream URL` | `BULWARK_PROXY_UPSTREAM` | required |
//! | `--root FILE` | `BULWARK_PROXY_ROOT` | required |
//! | `--listen ADDR` | `BULWARK_PROXY_LISTEN` | `127.0.0.1:8081` |
//! | `--cache-dir DIR` | `BULWARK_PROXY_CACHE_DIR` | `$XDG_CACHE_HOME/bulwark/proxy` (else `~/.cache/bulwark/proxy`) |
//! | `--freshness-secs N` | `BULWARK_PROXY_FRESHNESS_SECS` | 5 |
//! | `--upstream-token TOKEN`, `--upstream-token-file FILE` | `BULWARK_UPSTREAM_TOKEN`, `BULWARK_UPSTREAM_TOKEN_FILE` | none |
//!
//! `BULWARK_FETCH_TIMEOUT_SECS` shortens the upstream download limits, as
//! for `bulwark tuf-client`.
//!
//! The cache directory holds one state directory per root and upstream,
//! locked by the proxy that uses it (`bulwark_proxy::state`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bulwark_http::listen::ConnectionLimits;
use bulwark_proxy::{Proxy, ProxyConfig};

use crate::config::env;

/// Options of `bulwark proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the Bulwark index to verify, such as <http://127.0.0.1:8080/>.
    #[arg(long)]
    upstream: Option<String>,
    /// The trusted root.json of that index.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Address to listen on (default: 127.0.0.1:8081).
    #[arg(long)]
    listen: Option<String>,
    /// Where verified metadata, pages and files are kept, one subdirectory per
    /// root and upstream (default: bulwark/proxy in the user's cache directory).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Seconds a verified timestamp is reused before the next refresh (default: 5).
    #[arg(long)]
    freshness_secs: Option<u64>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    upstream_token: crate::upstream::TokenFlags,
}

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    upstream: Option<String>,
    root: Option<PathBuf>,
    listen: Option<String>,
    cache_dir: Option<PathBuf>,
    freshness_secs: Option<u64>,
}

fn read_file(path: Option<PathBuf>) -> anyhow::Result<File> {
    let Some(path) = path.or(env::<PathBuf>("PROXY_CONFIG")?) else {
        return Ok(File::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = read_file(args.config)?;
    let Some(upstream) = args
        .upstream
        .or(env::<String>("PROXY_UPSTREAM")?)
        .or(file.upstream)
    else {
        bail!("--upstream (or BULWARK_PROXY_UPSTREAM) is required");
    };
    let Some(root) = args.root.or(env::<PathBuf>("PROXY_ROOT")?).or(file.root) else {
        bail!(
            "--root (or BULWARK_PROXY_ROOT) is required: the trusted root.json of the upstream index"
        );
    };
    let listen = args
        .listen
        .or(env("PROXY_LISTEN")?)
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("listen: {listen:?} is not an address like 127.0.0.1:8081"))?;
    let Some(cache_dir) = args
        .cache_dir
        .or(env("PROXY_CACHE_DIR")?)
        .or(file.cache_dir)
        .or_else(bulwark_proxy::state::default_cache_dir)
    else {
        bail!("--cache-dir is required: neither XDG_CACHE_HOME nor HOME names a cache directory");
    };
    let freshness = args
        .freshness_secs
        .or(env("PROXY_FRESHNESS_SECS")?)
        .or(file.freshness_secs)
        .map_or(bulwark_proxy::DEFAULT_FRESHNESS, Duration::from_secs);
    let (upstream, token) = crate::upstream::resolve(&upstream, args.upstream_token)?;
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        bail!(
            "upstream: {:?} is not an http:// or https:// URL",
            bulwark_store::redact_url(&upstream)
        );
    }
    crate::init_logging(None)?;
    let root_bytes = crate::trusted_root::read(&root)?;
    let mut config = ProxyConfig::new(&upstream, cache_dir, crate::now);
    config.freshness = freshness;
    config.fetch = crate::tuf_client::fetch_config()?;
    config.fetch.upstream_token = token;
    let proxy = Proxy::open(&config, &root_bytes)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Configuration mistakes fail here; an unreachable upstream only
        // warns (in the log) when the verified cache can serve.
        proxy.trust.check_upstream().await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        banner(&addr, &config, proxy.state_dir());
        bulwark_proxy::serve(listener, proxy, ConnectionLimits::default())
            .await
            .context("the proxy stopped")
    })
}

/// Prints how to use the proxy; write errors are ignored.
fn banner(addr: &SocketAddr, config: &ProxyConfig, state_dir: &std::path::Path) {
    let base = format!("http://{addr}");
    let text = format!(
        "Bulwark proxy on {base}/ serving only what {} signed\n\
         \x20 pip:    pip install --index-url {base}/simple/ NAME\n\
         \x20 uv:     uv pip install --index-url {base}/simple/ NAME\n\
         \x20 cache:  {}\n",
        config.upstream,
        state_dir.display()
    );
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out));
}
