//! `bulwark token create [--data-dir DIR] USER`: prints a new API token,
//! and nothing else, on stdout.

use anyhow::Context as _;

use crate::config::{Settings, StoreFlags};
use crate::data::Data;

/// Options of `bulwark token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create an API token for USER (who then owns the projects they upload first).
    Create {
        #[command(flatten)]
        stores: StoreFlags,
        /// The user the token authenticates.
        user: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Create { stores, user } = args.command;
    if !bulwark_server::auth::valid_user(&user) {
        anyhow::bail!("user names are 1 to 100 characters of letters, digits, '.', '_' and '-'");
    }
    let settings = Settings::load(stores, None)?;
    let data = Data::open_existing(&settings)?;
    let now_us = bulwark_repo::clock::unix_micros();
    let token = bulwark_server::auth::create_token(data.store.as_ref(), &user, now_us)
        .context("cannot create the token")?;
    println!("{token}");
    Ok(())
}
