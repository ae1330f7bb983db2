//! `bulwark remove PROJECT [VERSION [FILE]]`: an administrator removes
//! files (a legal takedown), beside the data as `bulwark token create`
//! runs. In one store transaction the file records go, their filenames are
//! kept so that no upload reuses them, a change is queued and the audit
//! log records who removed what and why (`--reason`). At once the live
//! `/simple/` page, the JSON API and `/files/` stop serving them; the next
//! publish signs the project's page without them; their blobs are deleted
//! by the publisher's unrecorded-blob sweep once the snapshot retention
//! has passed since the removal. The project and its owners stay, so its
//! name is still theirs. A claimed project (PEP 480) is refused: its page
//! is its developers' signature, which the index cannot redo.

use anyhow::Context as _;
use bulwark_store::{Removal, RemoveOutcome};

use crate::config::{Settings, StoreFlags};
use crate::data::Data;
use crate::owner::ActorFlag;

/// Options of `bulwark remove`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreFlags,
    #[command(flatten)]
    actor: ActorFlag,
    /// Why, for the audit log (e.g. the legal request's reference).
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    /// Confirm the removal of every file of the project (needed without VERSION).
    #[arg(long)]
    yes: bool,
    /// The project.
    project: String,
    /// Only this release (any spelling of its PEP 440 version).
    version: Option<String>,
    /// Only this file of the release.
    file: Option<String>,
}

/// The longest reason the audit log takes.
const MAX_REASON: usize = 1024;

pub fn run(args: Args) -> anyhow::Result<()> {
    let project = crate::owner::normalized(&args.project)?;
    if let Some(version) = &args.version {
        bulwark_pypi::Version::parse(version)
            .map_err(|e| anyhow::anyhow!("invalid version {version:?}: {e}"))?;
    }
    if args.reason.len() > MAX_REASON || args.reason.chars().any(char::is_control) {
        anyhow::bail!("the reason must be one line of at most {MAX_REASON} bytes");
    }
    let actor = args.actor.operator()?;
    crate::init_logging(None)?;
    let settings = Settings::load(args.stores, None)?;
    let data = Data::open_existing(&settings)?;
    let store = data.store.as_ref();
    if store
        .claim(&project)
        .context("cannot read the project's claim")?
        .is_some()
    {
        anyhow::bail!("{}", claimed(&project));
    }
    if args.version.is_none() && !args.yes {
        let files = store.files(&project).context("cannot read the files")?;
        if store.project(&project)?.is_none() {
            anyhow::bail!("no such project: {project}");
        }
        let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
        anyhow::bail!(
            "refusing to remove every file of {project} without --yes: {} file(s){}{}",
            names.len(),
            if names.is_empty() { "" } else { ": " },
            names.join(", ")
        );
    }
    let removal = Removal {
        project: project.clone(),
        version: args.version.clone(),
        filename: args.file.clone(),
        actor: actor.clone(),
        reason: args.reason.clone(),
    };
    match store.remove_files(&removal).context("cannot remove")? {
        RemoveOutcome::Removed { files, change } => {
            let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
            tracing::info!(
                project,
                files = names.join(", "),
                actor = actor.audit_name(),
                reason = args.reason,
                change,
                "files removed by an administrator"
            );
            for name in &names {
                println!("removed {name}");
            }
            println!(
                "{project}: no longer served; the next publish signs its page without them; \
                 their blobs are deleted once the snapshot retention ({}s) has passed",
                settings.snapshot_retention_secs
            );
            Ok(())
        }
        RemoveOutcome::NotFound => match (&args.version, &args.file) {
            (None, _) => anyhow::bail!("no such project, or no file left: {project}"),
            (Some(version), None) => anyhow::bail!("{project} has no release {version}"),
            (Some(version), Some(file)) => {
                anyhow::bail!("{project} {version} has no file {file}")
            }
        },
        RemoveOutcome::Claimed => anyhow::bail!("{}", claimed(&project)),
    }
}

/// Why a claimed project's files are not removed here.
fn claimed(project: &str) -> String {
    format!(
        "{project} is claimed (PEP 480): its page is signed by its developers' keys, which the \
         index does not hold, so it cannot sign a page without the file and clients would \
         still find it listed; its developers must sign a new page without it"
    )
}
