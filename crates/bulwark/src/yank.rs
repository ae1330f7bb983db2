//! `bulwark yank` / `bulwark unyank`: PEP 592 yanking, as the project's
//! owner.
//!
//! Without `--key`, the index's authenticated API yanks and the index signs
//! the page; it refuses a claimed project (403 with its reason), whose
//! page only its developers sign. With `--key`, the page with the release
//! (un)yanked is built from the TUF-verified page (`transaction::yank_page`,
//! `unyank_page`) and sent, with the next version of `project-<name>`, as
//! a transaction without files.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bulwark_pypi::{Version, render_json};
use bulwark_repo::transaction::{unyank_page, yank_page};

use crate::developer::{self, ExpiryArgs, IndexArgs, Listed, Signers, Transaction, Tuf, WaitArgs};

/// Options of `bulwark yank` and `bulwark unyank`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    index: IndexArgs,
    /// Why the release is yanked (yank only).
    #[arg(long, default_value = "")]
    reason: String,
    /// The index's trusted root.json (needed with --key), which the
    /// project's page and role are verified against.
    #[arg(long, value_name = "FILE")]
    root: Option<PathBuf>,
    /// A developer key file of a claimed project to sign the new page
    /// with; repeat for several. Passphrases: `BULWARK_KEY_PASSPHRASE` or a
    /// prompt.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[command(flatten)]
    wait: WaitArgs,
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
    if args.keys.is_empty() {
        ask_the_index(args, action)
    } else {
        sign(args, undo)
    }
}

/// The index yanks, through its API.
fn ask_the_index(args: &Args, action: &str) -> anyhow::Result<()> {
    let base = args.index.base()?;
    let url = format!(
        "{base}/api/projects/{}/{}/{action}",
        args.project, args.version
    );
    crate::tuf_client::runtime()?.block_on(async {
        bulwark_client::fetch::install_crypto_provider();
        let response = reqwest::Client::new()
            .post(&url)
            .basic_auth("__token__", Some(&args.index.token))
            .body(args.reason.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "the index refused to {action} {} {}: {}",
                args.project,
                args.version,
                developer::refusal(status, &body)
            );
        }
        println!("{}", body.trim());
        Ok(())
    })
}

/// The developers yank, by signing the page with the release (un)yanked.
fn sign(args: &Args, undo: bool) -> anyhow::Result<()> {
    let project = developer::parse_project(&args.project)?;
    let version = Version::parse(&args.version)
        .with_context(|| format!("{:?} is not a valid version", args.version))?;
    let root = developer::required_root(args.root.as_deref())?;
    let signers = Signers::read(&args.keys)?;
    let tuf = Tuf::open(args.index.base()?, root, &args.index.token)?;
    crate::tuf_client::runtime()?.block_on(async {
        let name = project.normalized();
        let claim = match tuf.project(&project).await? {
            Listed::Claimed(claim) => claim,
            Listed::Unclaimed(_) => {
                bail!("{name} is not claimed: the index yanks its releases (leave out --key)")
            }
            Listed::Absent => bail!("no such project {name}"),
        };
        let (delegation, role) = claim.page_signers();
        signers.check(delegation, role)?;
        let previous = &claim.page.page;
        let page = if undo {
            unyank_page(previous, &version)
        } else {
            let reason = Some(args.reason.as_str()).filter(|r| !r.is_empty());
            yank_page(previous, &version, reason)
        }
        .with_context(|| format!("cannot change {name} {version}"))?;
        let page_bytes = render_json(&page);
        if page_bytes == claim.page.bytes {
            let state = if undo { "not yanked" } else { "already yanked" };
            println!("{name} {version} is {state}; nothing to sign");
            return Ok(());
        }
        let keys = signers.open()?;
        let (role_version, role, nested) =
            developer::sign_page(&project, Some(&claim), &page_bytes, &keys, &args.expiry)?;
        let accepted = developer::send(
            &args.index,
            Transaction {
                project: project.clone(),
                version: role_version,
                role,
                nested,
                page: page_bytes,
                delegation: None,
                files: Vec::new(),
            },
        )
        .await?;
        developer::finish(&tuf, &args.wait, &project, &accepted).await
    })
}
