//! The `bulwark` command. Each subcommand lives in its own module; this file
//! only parses arguments and turns every failure into one line on stderr and
//! exit status 1 (never 2, never a panic's 101).

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser, Subcommand};

mod audit;
mod ceremony;
mod claim;
mod config;
mod data;
mod delegate;
mod developer;
mod hsm;
mod import;
mod key;
mod migrate;
mod mirror;
mod owner;
mod proxy;
mod pulled;
mod remove;
mod serve;
mod token;
mod trusted_root;
mod tuf_client;
mod upload;
mod upstream;
mod yank;

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
    /// Manage a project's owners (operator command, beside the data).
    Owner(owner::Args),
    /// Remove files of a project, or all of them (a legal takedown; operator command).
    Remove(remove::Args),
    /// Show the audit log: ownership changes and removals.
    Audit(audit::Args),
    /// Projects pulled from upstream indexes: list them, or release one
    /// for local uploads (operator command).
    Upstream(pulled::Args),
    /// Copy an embedded index (--data-dir) to PostgreSQL and S3 (--state, --blobs).
    Migrate(migrate::Args),
    /// Manage encrypted key files (one per key holder).
    Key(key::Args),
    /// The offline key ceremony: draft, sign, combine and install offline metadata.
    Ceremony(ceremony::Args),
    /// Upload distributions: as twine does, or with --key as one
    /// developer-signed transaction.
    Upload(upload::Args),
    /// Claim a project with developer keys (PEP 480): from then on only
    /// they sign its releases.
    Claim(claim::Args),
    /// Leave a claimed project's page to a nested role with its own keys
    /// (e.g. a CI key), as an owner of the project.
    Delegate(delegate::Args),
    /// Yank a release (PEP 592), as an owner of its project.
    Yank(yank::Args),
    /// Undo a yank, as an owner of the project.
    Unyank(yank::Args),
    /// A TUF client following the TUF conformance client protocol.
    TufClient(tuf_client::Args),
    /// A local index for pip and uv that serves only what the upstream index signed.
    Proxy(proxy::Args),
    /// Mirror an index: copy and verify its newest consistent snapshot.
    Mirror(mirror::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let args: Vec<_> = std::env::args_os().collect();
            eprintln!("{}", one_line(&e, &command_path(&args)));
            return ExitCode::FAILURE;
        }
        Err(e) => {
            // --help and --version, on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Import(args) => import::run(args),
        Command::Token(args) => token::run(args),
        Command::Owner(args) => owner::run(args),
        Command::Remove(args) => remove::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Upstream(args) => pulled::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Key(args) => key::run(args),
        Command::Ceremony(args) => ceremony::run(args),
        Command::TufClient(args) => tuf_client::run(args),
        Command::Upload(args) => upload::run(&args),
        Command::Claim(args) => claim::run(&args),
        Command::Delegate(args) => delegate::run(&args),
        Command::Yank(args) => yank::run(&args, false),
        Command::Unyank(args) => yank::run(&args, true),
        Command::Proxy(args) => proxy::run(args),
        Command::Mirror(args) => mirror::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// A command-line error as one line, like every other failure: clap's
/// message and tips without the usage text, and where to read more.
fn one_line(error: &clap::Error, command: &str) -> String {
    let message = if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap would print the whole help here.
        "a command is required".to_owned()
    } else {
        let text = error.render().to_string();
        let text = text.strip_prefix("error: ").unwrap_or(&text);
        text.split("\n\n")
            .enumerate()
            .filter(|(n, paragraph)| *n == 0 || paragraph.trim_start().starts_with("tip:"))
            .map(|(_, paragraph)| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!("error: {message}; try '{command} --help'")
}

/// `bulwark` and the subcommands named in `args` (the program name first),
/// e.g. `bulwark tuf-client init`.
fn command_path(args: &[std::ffi::OsString]) -> String {
    let mut command = Cli::command();
    let mut path = vec![command.get_name().to_owned()];
    for arg in args.iter().skip(1).filter_map(|arg| arg.to_str()) {
        let Some(sub) = command.find_subcommand(arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        command = sub;
    }
    path.join(" ")
}

/// An error and its causes, on one line.
pub(crate) fn chain(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The current time from the system clock (read through glibc, so
/// libfaketime can move it).
fn now() -> bulwark_tuf::time::Timestamp {
    bulwark_repo::clock::now()
}

/// How the log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Text on a terminal, JSON lines otherwise (a file, a journal, a
    /// log collector).
    #[default]
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request's id in `span`.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "auto" => Ok(Self::Auto),
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{other:?} is not auto, text or json")),
        }
    }
}

/// Logs to stderr as `format` says (`None`: as `BULWARK_LOG_FORMAT` says,
/// else [`LogFormat::Auto`]); `BULWARK_LOG` (e.g. `debug`) sets the level.
fn init_logging(format: Option<LogFormat>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BULWARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = match format {
        Some(format) => format,
        None => config::env("LOG_FORMAT")?.unwrap_or_default(),
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = match format {
        LogFormat::Auto => !terminal,
        LogFormat::Text => false,
        LogFormat::Json => true,
    };
    // A second call (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        // Colours only on a terminal.
        builder.with_ansi(terminal).try_init()
    };
    Ok(())
}
