//! `bulwark owner add|remove|list PROJECT [USER]`: an operator's view of a
//! project's owners, run beside the data (as `bulwark token create` is).
//! Every change is one store transaction that also writes the audit log
//! (`bulwark audit`), with the operator as actor: `--actor NAME`, or the
//! OS user running the command.
//!
//! With `--index URL`, `add` and `remove` ask a running index instead, as
//! an owner with their API token (`--token` or `BULWARK_TOKEN`): `POST` and
//! `DELETE /api/projects/<name>/owners`, audit-logged with the token's user.

use anyhow::Context as _;
use bulwark_store::{Actor, OwnerChange};

use crate::config::{Settings, StoreFlags};
use crate::data::Data;

/// Options of `bulwark owner`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make USER an owner of PROJECT (owners upload, yank, claim and manage owners).
    Add(Change),
    /// Remove USER from the owners of PROJECT (never its last owner).
    Remove(Change),
    /// List the owners of PROJECT.
    List {
        #[command(flatten)]
        stores: StoreFlags,
        /// The project.
        project: String,
    },
}

#[derive(Debug, clap::Args)]
struct Change {
    #[command(flatten)]
    stores: StoreFlags,
    #[command(flatten)]
    actor: ActorFlag,
    /// Ask this running index, as an owner (instead of the stores).
    #[arg(long, value_name = "URL")]
    index: Option<String>,
    /// With --index: an owner's API token (or `BULWARK_TOKEN`).
    #[arg(
        long,
        env = "BULWARK_TOKEN",
        hide_env_values = true,
        requires = "index"
    )]
    token: Option<String>,
    /// The project.
    project: String,
    /// The user.
    user: String,
}

/// Who the audit log records as acting.
#[derive(Debug, clap::Args)]
pub struct ActorFlag {
    /// Who acts, for the audit log (default: the OS user running the command).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
}

impl ActorFlag {
    /// The operator acting: `--actor`, or `$USER` / `$LOGNAME`.
    pub fn operator(&self) -> anyhow::Result<Actor> {
        let name = match &self.actor {
            Some(name) => name.clone(),
            None => ["USER", "LOGNAME"]
                .into_iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
                .context("cannot tell who is acting (no USER or LOGNAME): pass --actor NAME")?,
        };
        if !bulwark_server::auth::valid_user(&name) {
            anyhow::bail!(
                "invalid actor {name:?}: 1 to 100 letters, digits, '.', '_' and '-' (pass --actor NAME)"
            );
        }
        Ok(Actor::Operator(name))
    }
}

/// The normalized name of `project`, refusing an invalid one.
pub fn normalized(project: &str) -> anyhow::Result<String> {
    bulwark_pypi::ProjectName::parse(project)
        .map(|p| p.normalized().to_owned())
        .map_err(|e| anyhow::anyhow!("invalid project name {project:?}: {e}"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Add(change) => apply(change, true),
        Command::Remove(change) => apply(change, false),
        Command::List { stores, project } => list(stores, &project),
    }
}

fn apply(change: Change, add: bool) -> anyhow::Result<()> {
    let Change {
        stores,
        actor,
        index,
        token,
        project,
        user,
    } = change;
    let project = normalized(&project)?;
    if !bulwark_server::auth::valid_user(&user) {
        anyhow::bail!(
            "invalid user name {user:?}: user names are 1 to 100 characters of letters, \
             digits, '.', '_' and '-'"
        );
    }
    if let Some(index) = index {
        let StoreFlags {
            data_dir,
            config,
            state,
            blobs,
        } = &stores;
        if data_dir.is_some() || config.is_some() || state.is_some() || blobs.is_some() {
            anyhow::bail!(
                "--index asks a running index: leave out --data-dir, --config, --state and --blobs"
            );
        }
        if actor.actor.is_some() {
            anyhow::bail!("--actor is for operators: with --index the token's user acts");
        }
        let token =
            token.context("--index needs an owner's API token (--token or BULWARK_TOKEN)")?;
        return ask_the_index(&index, &token, &project, &user, add);
    }
    let actor = actor.operator()?;
    crate::init_logging(None)?;
    let settings = Settings::load(stores, None)?;
    let data = Data::open_existing(&settings)?;
    let outcome = if add {
        data.store.add_owner(&project, &user, &actor)
    } else {
        data.store.remove_owner(&project, &user, &actor)
    }
    .context("cannot change the owners")?;
    match outcome {
        OwnerChange::Done => {
            let action = if add { "added" } else { "removed" };
            tracing::info!(
                project,
                user,
                actor = actor.audit_name(),
                action,
                "ownership changed"
            );
            if add {
                println!("{user} is now an owner of {project}");
            } else {
                println!("{user} is no longer an owner of {project}");
            }
            Ok(())
        }
        OwnerChange::NoSuchProject => anyhow::bail!("no such project: {project}"),
        OwnerChange::AlreadyOwner => anyhow::bail!("{user} is already an owner of {project}"),
        OwnerChange::NotOwner => anyhow::bail!("{user} is not an owner of {project}"),
        OwnerChange::LastOwner => anyhow::bail!(
            "{user} is the last owner of {project}: a project without owners could never be \
             managed again; add another owner first"
        ),
        OwnerChange::Forbidden => {
            anyhow::bail!("refused: {actor:?} may not change the owners of {project}")
        }
    }
}

/// The change through the index's API, as the token's user.
fn ask_the_index(
    index: &str,
    token: &str,
    project: &str,
    user: &str,
    add: bool,
) -> anyhow::Result<()> {
    if !(index.starts_with("http://") || index.starts_with("https://")) {
        anyhow::bail!("--index {index:?} is not an http:// or https:// URL");
    }
    let base = index.trim_end_matches('/');
    let owners = format!("{base}/api/projects/{project}/owners");
    crate::tuf_client::runtime()?.block_on(async {
        bulwark_client::fetch::install_crypto_provider();
        let client = reqwest::Client::new();
        let request = if add {
            client
                .post(&owners)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(format!("user={user}"))
        } else {
            client.delete(format!("{owners}/{user}"))
        };
        let response = request
            .basic_auth("__token__", Some(token))
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let action = if add { "add" } else { "remove" };
            anyhow::bail!(
                "the index refused to {action} {user} as an owner of {project}: {}",
                crate::developer::refusal(status, &body)
            );
        }
        println!("{}", body.trim());
        Ok(())
    })
}

fn list(stores: StoreFlags, project: &str) -> anyhow::Result<()> {
    let project = normalized(project)?;
    let settings = Settings::load(stores, None)?;
    let data = Data::open_existing(&settings)?;
    let owners = data
        .store
        .owners(&project)
        .context("cannot read the owners")?;
    if owners.is_empty() {
        anyhow::bail!("no such project: {project}");
    }
    for o in owners {
        println!("{}\tadded {} by {}", o.user, time(o.added_us), o.added_by);
    }
    Ok(())
}

/// A time in microseconds since the epoch, as RFC 3339 in UTC.
pub fn time(us: i64) -> bulwark_tuf::time::Timestamp {
    bulwark_tuf::time::Timestamp::from_unix(us.div_euclid(1_000_000))
}
