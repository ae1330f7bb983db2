//! `bulwark claim`: developers take over signing their project (PEP 480).
//!
//! The project's current page is verified through TUF from `--root`;
//! version 1 of `project-<name>` listing exactly those bytes is signed
//! with every `--key`, and sent to the index with the keys and threshold
//! to delegate to. From then on the index's online key can no longer sign
//! for the project: its role is delegated terminating, to these keys.

use std::path::PathBuf;

use anyhow::bail;

use crate::developer::{
    self, DelegationArgs, ExpiryArgs, IndexArgs, Listed, Signers, Transaction, Tuf, WaitArgs,
};

/// Options of `bulwark claim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    index: IndexArgs,
    /// The index's trusted root.json, which the project's page is verified against.
    #[arg(long, value_name = "FILE")]
    root: PathBuf,
    /// A developer key file (`bulwark key generate`) to sign with; repeat
    /// for several. Passphrases: `BULWARK_KEY_PASSPHRASE` or a prompt.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    delegation: DelegationArgs,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// The project to claim; it must exist on the index.
    project: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let project = developer::parse_project(&args.project)?;
    let base = args.index.base()?;
    let signers = Signers::read(&args.keys)?;
    let delegation = developer::Delegation::requested(
        &signers.entries(),
        &args.delegation.read()?,
        args.delegation.threshold,
    )?;
    let tuf = Tuf::open(base, &args.root, &args.index.token)?;
    crate::tuf_client::runtime()?.block_on(async {
        let name = project.normalized();
        let page = match tuf.project(&project).await? {
            Listed::Unclaimed(page) => page,
            Listed::Absent => {
                bail!("no such project {name}; `bulwark upload --key` claims a new project")
            }
            Listed::Claimed(claim) => bail!(
                "{name} is already claimed ({} version {}, {}): sign its releases with bulwark upload --key",
                claim.role,
                claim.metadata.common.version,
                claim.tier
            ),
        };
        let keys = signers.open()?;
        let (version, role) = developer::sign_next(&project, None, &page.bytes, &keys, &args.expiry)?;
        let accepted = developer::send(
            &args.index,
            Transaction {
                project: project.clone(),
                version,
                role: Some(role),
                nested: None,
                page: page.bytes,
                delegation: Some(delegation),
                files: Vec::new(),
            },
        )
        .await?;
        developer::finish(&tuf, &args.wait, &project, &accepted).await
    })
}
