//! The `bulwark` command. Each subcommand lives in its own module; this file
//! only parses arguments and turns every failure into one line on stderr and
//! exit status 1 (never 2, never a panic's 101).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod config;
mod data;
mod import;
mod serve;
mod token;
mod tuf_client;

/// Bulwark: a Python package index that survives its own compromise.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the package index (zero set-up: creates ./bulwark-data on first start).
    Serve(serve::Args),
    /// Publish a directory of existing distributions (pypiserver layout).
    Import(import::Args),
    /// Manage API tokens.
    Token(token::Args),
    /// A TUF client following the TUF conformance client protocol.
    TufClient(tuf_client::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let status = if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
            let _ = e.print();
            return status;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Import(args) => import::run(args),
        Command::Token(args) => token::run(args),
        Command::TufClient(args) => tuf_client::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, on one line.
pub(crate) fn chain(error: &anyhow::Error) -> String {
    error.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

/// The current time from the system clock (read through glibc, so
/// libfaketime can move it).
fn now() -> bulwark_tuf::time::Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    bulwark_tuf::time::Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Logs to stderr; `BULWARK_LOG` (e.g. `debug`) sets the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BULWARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
