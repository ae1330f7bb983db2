//! The `bulwark` command. Each subcommand lives in its own module; this file
//! only parses arguments and turns every failure into one line on stderr and
//! exit status 1 (never 2, never a panic's 101).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
fn chain(error: &anyhow::Error) -> String {
    error.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
