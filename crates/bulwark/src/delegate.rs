//! `bulwark delegate`: the owner of a claimed project leaves its page to a
//! nested role `project-<name>.<label>` with its own keys (a CI key, say;
//! PEP 480 developers may delegate further).
//!
//! One transaction carries both roles: the project role's next version,
//! signed with the owner's `--key`s, which delegates to the nested role
//! and lists no target; and the nested role's version 1, signed with every
//! `--to-key`, listing the page as TUF shows it now. The owner therefore
//! needs the new keys' files once (they generate them and hand them to
//! CI afterwards): the index never publishes a delegation to a role that
//! has no metadata yet. From then on `bulwark upload --key <a to-key>`
//! signs the nested role only.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bulwark_repo::transaction::{
    nested_delegation, next_role_version, sign_delegating_role, sign_project_role,
};
use bulwark_tuf::keys::SigningKey;

use crate::developer::{self, ExpiryArgs, IndexArgs, Listed, Signers, Transaction, Tuf, WaitArgs};

/// Options of `bulwark delegate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    index: IndexArgs,
    /// The index's trusted root.json, which the project's page and role are
    /// verified against.
    #[arg(long, value_name = "FILE")]
    root: PathBuf,
    /// A key file of the project's role, to sign its next version; repeat
    /// to meet its threshold.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// A key file (`bulwark key generate`) of the nested role: each signs
    /// its first version; repeat for several.
    #[arg(long = "to-key", value_name = "FILE", required = true)]
    to_keys: Vec<PathBuf>,
    /// How many of the --to-key keys must sign each version of the nested
    /// role.
    #[arg(long, default_value_t = 1)]
    threshold: u64,
    /// The nested role's label: it is named `project-<name>.<label>`.
    #[arg(long = "name", value_name = "LABEL")]
    label: String,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// The claimed project.
    project: String,
}

/// Whether `label` may name a nested role: 1 to 64 lowercase ASCII
/// letters, digits and `-`, so that the role's name is one file name.
fn check_label(label: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if label.is_empty() || label.len() > 64 || !label.chars().all(allowed) {
        bail!("--name {label:?} must be 1 to 64 lowercase letters, digits and '-'");
    }
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    check_label(&args.label)?;
    let project = developer::parse_project(&args.project)?;
    let base = args.index.base()?;
    let owners = Signers::read(&args.keys)?;
    let delegates = Signers::read(&args.to_keys)?;
    let count = delegates.entries().len() as u64;
    if args.threshold == 0 || args.threshold > count {
        bail!(
            "--threshold {} cannot be met by the {count} --to-key given",
            args.threshold
        );
    }
    let tuf = Tuf::open(base, &args.root, &args.index.token)?;
    crate::tuf_client::runtime()?.block_on(async {
        let name = project.normalized();
        let claim = match tuf.project(&project).await? {
            Listed::Claimed(claim) => claim,
            Listed::Unclaimed(_) | Listed::Absent => {
                bail!("{name} is not claimed: run bulwark claim first")
            }
        };
        if let Some(nested) = &claim.nested {
            bail!("the page of {name} is already signed by {}", nested.role);
        }
        if claim.metadata.delegations.is_some() {
            bail!(
                "{} already delegates: one nested role is supported",
                claim.role
            );
        }
        owners.check(&claim.delegation, &claim.role)?;
        let keys = delegates
            .entries()
            .into_iter()
            .map(|e| (e.keyid, e.key))
            .collect();
        let delegations = nested_delegation(&project, &args.label, keys, args.threshold);
        let nested_name = format!("{}.{}", claim.role, args.label);
        let version = next_role_version(Some(&claim.metadata));
        let owner_keys = owners.open()?;
        let owner_keys: Vec<&SigningKey> = owner_keys.iter().collect();
        let role = sign_delegating_role(version, args.expiry.at(), &owner_keys, delegations)
            .with_context(|| format!("cannot sign {}", claim.role))?;
        let nested_keys = delegates.open()?;
        let nested_keys: Vec<&SigningKey> = nested_keys.iter().collect();
        let nested = sign_project_role(
            &project,
            1,
            args.expiry.at(),
            &claim.page.bytes,
            &nested_keys,
            None,
        )
        .with_context(|| format!("cannot sign {nested_name}"))?;
        let accepted = developer::send(
            &args.index,
            Transaction {
                project: project.clone(),
                version,
                role: Some(role),
                nested: Some((nested_name, 1, nested)),
                page: claim.page.bytes.clone(),
                delegation: None,
                files: Vec::new(),
            },
        )
        .await?;
        developer::finish(&tuf, &args.wait, &project, &accepted).await
    })
}

#[cfg(test)]
mod tests {
    use super::check_label;

    #[test]
    fn labels_are_one_file_name_component() {
        for ok in ["ci", "github-actions", "a1"] {
            assert!(check_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "CI", "a.b", "a/b", "..", &"a".repeat(65)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }
}
