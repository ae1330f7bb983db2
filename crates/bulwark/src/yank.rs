//! `bulwark yank` / `bulwark unyank`: the project owner's command for
//! PEP 592 yanking, calling the index's authenticated HTTP API.

use anyhow::{Context as _, bail};

/// Options of `bulwark yank` and `bulwark unyank`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The index's base URL, e.g. `http://127.0.0.1:8080/`.
    #[arg(
        long,
        env = "BULWARK_INDEX_URL",
        default_value = "http://127.0.0.1:8080/"
    )]
    index: String,
    /// The owner's API token (or `BULWARK_TOKEN`).
    #[arg(long, env = "BULWARK_TOKEN", hide_env_values = true)]
    token: String,
    /// Why the release is yanked (yank only).
    #[arg(long, default_value = "")]
    reason: String,
    /// The project.
    project: String,
    /// The version.
    version: String,
}

/// Yanks (`undo == false`) or un-yanks a release.
pub fn run(args: &Args, undo: bool) -> anyhow::Result<()> {
    let action = if undo { "unyank" } else { "yank" };
    if undo && !args.reason.is_empty() {
        bail!("--reason only applies to yank");
    }
    let base = args.index.trim_end_matches('/');
    let url = format!(
        "{base}/api/projects/{}/{}/{action}",
        args.project, args.version
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        bulwark_client::fetch::install_crypto_provider();
        let response = reqwest::Client::new()
            .post(&url)
            .basic_auth("__token__", Some(&args.token))
            .body(args.reason.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "the index refused to {action} {} {}: {} {}",
                args.project,
                args.version,
                status.as_u16(),
                body.trim()
            );
        }
        println!("{}", body.trim());
        Ok(())
    })
}
