//! `bulwark upstream list|release`: the projects this index pulled from
//! its upstream indexes (`upstream` setting), and an administrator's
//! release of one, beside the data as `bulwark remove` runs. A pulled name
//! refuses uploads (dependency confusion: a public project must not be
//! replaced by whoever uploads its name here first); `release` drops its
//! upstream files from the index (its next signed page lists none), makes
//! `--owner` its one owner and records it in the audit log. From then on
//! it is a local project, never pulled again.

use std::io::Write as _;

use anyhow::Context as _;
use bulwark_tuf::json::Value;

use crate::config::{Settings, StoreFlags};
use crate::data::Data;
use crate::owner::ActorFlag;

/// Options of `bulwark upstream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the projects pulled from upstream indexes.
    List {
        #[command(flatten)]
        stores: StoreFlags,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Release a pulled name to this index: its upstream files leave it,
    /// OWNER may upload to it (operator command).
    Release {
        #[command(flatten)]
        stores: StoreFlags,
        #[command(flatten)]
        actor: ActorFlag,
        /// The user who becomes the project's owner.
        #[arg(long, value_name = "USER")]
        owner: String,
        /// The project.
        project: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::List { stores, json } => list(stores, json),
        Command::Release {
            stores,
            actor,
            owner,
            project,
        } => release(stores, &actor, &owner, &project),
    }
}

fn list(stores: StoreFlags, as_json: bool) -> anyhow::Result<()> {
    let settings = Settings::load(stores, None)?;
    let data = Data::open_existing(&settings)?;
    let pulled = data
        .store
        .upstream_projects()
        .context("cannot read the upstream projects")?;
    let mut out = std::io::stdout().lock();
    for p in pulled {
        let files = data
            .store
            .files(&p.project)
            .context("cannot read the files")?
            .len();
        let fetched = crate::owner::time(p.fetched_us).to_string();
        let upstream = bulwark_store::redact_url(&p.upstream);
        if as_json {
            crate::audit::write_json_line(
                &mut out,
                [
                    ("project", Value::String(p.project)),
                    ("upstream", Value::String(upstream)),
                    (
                        "files",
                        Value::Int(i64::try_from(files).unwrap_or(i64::MAX)),
                    ),
                    ("fetched", Value::String(fetched)),
                ],
            )?;
        } else {
            writeln!(
                out,
                "{}\t{upstream}\t{files} files\tread {fetched}",
                p.project
            )?;
        }
    }
    Ok(())
}

fn release(
    stores: StoreFlags,
    actor: &ActorFlag,
    owner: &str,
    project: &str,
) -> anyhow::Result<()> {
    let project = crate::owner::normalized(project)?;
    if !bulwark_server::auth::valid_user(owner) {
        anyhow::bail!(
            "--owner: user names are 1 to 100 characters of letters, digits, '.', '_' and '-'"
        );
    }
    let actor = actor.operator()?;
    crate::init_logging(None)?;
    let settings = Settings::load(stores, None)?;
    let data = Data::open_existing(&settings)?;
    let now = bulwark_repo::clock::unix_micros();
    if !data
        .store
        .release_upstream(&project, owner, &actor, now)
        .context("cannot release the project")?
    {
        anyhow::bail!("{project} is not a project pulled from an upstream index");
    }
    tracing::info!(
        project,
        owner,
        actor = actor.audit_name(),
        "upstream project released"
    );
    println!(
        "{project}: released to {owner}; its upstream files are no longer served and the next \
         publish signs its page without them; it is never pulled again"
    );
    Ok(())
}
