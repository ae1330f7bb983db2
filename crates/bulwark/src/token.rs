//! `bulwark token`: manage API tokens.
//!
//! - `create USER [--project NAME]… [--expires 30d|12h|90m|never]
//!   [--description TEXT] [--read-only]` prints a new token, and nothing
//!   else, on stdout;
//! - `list [USER] [--json]` prints every token (of USER) without its secret;
//! - `revoke ID` stops a token at once, on every server of the index.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use bulwark_server::auth::{self, NewToken};
use bulwark_store::{RevokeToken, TokenPermission, TokenRecord, TokenScope};
use bulwark_tuf::json::Value;
use bulwark_tuf::time::Timestamp;

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
        /// Only for this project (repeatable); it need not exist yet. The
        /// token can then upload, yank and sign for these projects only,
        /// and create no other. Reads stay index-wide.
        #[arg(long = "project", value_name = "NAME")]
        projects: Vec<String>,
        /// How long the token works: minutes, hours or days (`90m`, `12h`,
        /// `30d`, at most 3650 days), or `never`.
        #[arg(long, value_name = "DURATION", default_value = "never")]
        expires: String,
        /// What the token is for, shown by `bulwark token list` (one line,
        /// at most 200 characters).
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
        /// The token can only read the index (for machines installing from
        /// an index with `read_access = "token"`), never upload or yank.
        #[arg(long)]
        read_only: bool,
    },
    /// List the tokens (of USER), oldest first, without their secrets.
    List {
        #[command(flatten)]
        stores: StoreFlags,
        /// Only this user's tokens.
        user: Option<String>,
        /// One JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (by the id `bulwark token list` shows): every server
    /// of the index refuses it from its next request on.
    Revoke {
        #[command(flatten)]
        stores: StoreFlags,
        /// The token's id.
        id: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Create {
            stores,
            user,
            projects,
            expires,
            description,
            read_only,
        } => {
            if !auth::valid_user(&user) {
                bail!("user names are 1 to 100 characters of letters, digits, '.', '_' and '-'");
            }
            let lifetime = parse_expiry(&expires).context("--expires")?;
            if !auth::valid_description(&description) {
                bail!(
                    "--description: at most {} characters on one line, without control characters",
                    auth::MAX_DESCRIPTION
                );
            }
            auth::scope_of(&projects)?;
            let settings = Settings::load(stores, None)?;
            let data = Data::open_existing(&settings)?;
            let now_us = bulwark_repo::clock::unix_micros();
            let new = NewToken {
                user,
                description,
                permission: if read_only {
                    TokenPermission::Read
                } else {
                    TokenPermission::Upload
                },
                projects,
                expires_us: lifetime.map(|secs| now_us.saturating_add(secs * 1_000_000)),
            };
            let token = auth::create(data.store.as_ref(), &new, now_us)
                .context("cannot create the token")?;
            println!("{token}");
        }
        Command::List { stores, user, json } => {
            let settings = Settings::load(stores, None)?;
            let data = Data::open_existing(&settings)?;
            let tokens = data
                .store
                .tokens(user.as_deref())
                .context("cannot list the tokens")?;
            let now_us = bulwark_repo::clock::unix_micros();
            if json {
                println!("{}", json_list(&tokens, now_us));
            } else {
                print!("{}", table(&tokens, now_us));
            }
        }
        Command::Revoke { stores, id } => {
            let settings = Settings::load(stores, None)?;
            let data = Data::open_existing(&settings)?;
            let now_us = bulwark_repo::clock::unix_micros();
            match data
                .store
                .revoke_token(&id, now_us)
                .context("cannot revoke the token")?
            {
                RevokeToken::Revoked => println!("revoked token {id}"),
                RevokeToken::AlreadyRevoked { revoked_us } => println!(
                    "token {id} was already revoked at {}; nothing changed",
                    time(revoked_us)
                ),
                RevokeToken::NotFound => {
                    bail!("no token has id {id:?} (bulwark token list shows the ids)")
                }
            }
        }
    }
    Ok(())
}

/// The longest lifetime `--expires` accepts, in days: longer is a typo or
/// should be `never`.
const MAX_EXPIRY_DAYS: i64 = 3_650;

/// `--expires`: `never` (`None`), or a positive number of minutes, hours or
/// days (`90m`, `12h`, `30d`) up to [`MAX_EXPIRY_DAYS`], in seconds.
fn parse_expiry(text: &str) -> anyhow::Result<Option<i64>> {
    if text == "never" {
        return Ok(None);
    }
    let usage = || {
        format!("{text:?} is not a duration like 90m, 12h or 30d (minutes, hours, days), or never")
    };
    let split = text.len().saturating_sub(1);
    let (number, unit) = (
        text.get(..split).unwrap_or_default(),
        text.get(split..).unwrap_or_default(),
    );
    let unit_secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => bail!(usage()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        bail!(usage());
    }
    let secs = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .filter(|&secs| secs <= MAX_EXPIRY_DAYS * 86_400)
        .with_context(|| {
            format!(
                "{text:?} is more than {MAX_EXPIRY_DAYS} days: \
                 use never for a token that does not expire"
            )
        })?;
    if secs == 0 {
        bail!("{text:?} would expire at once: give a positive duration");
    }
    Ok(Some(secs))
}

/// A time as `bulwark token list` shows it.
fn time(us: i64) -> String {
    Timestamp::from_unix(us.div_euclid(1_000_000)).to_string()
}

/// A scope as `bulwark token list` shows it.
fn scope(scope: &TokenScope) -> String {
    match scope {
        TokenScope::All => "all projects".to_owned(),
        TokenScope::Projects(names) => names.join(","),
    }
}

/// The tokens as a table, one line each: never the secret or its digest.
fn table(tokens: &[TokenRecord], now_us: i64) -> String {
    let header = [
        "ID",
        "USER",
        "PERMISSION",
        "SCOPE",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "STATE",
        "DESCRIPTION",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 9]> = tokens
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.user.clone(),
                t.permission.as_str().to_owned(),
                scope(&t.scope),
                time(t.created_us),
                t.last_used_us.map_or_else(|| "never".to_owned(), time),
                t.expires_us.map_or_else(|| "never".to_owned(), time),
                t.state(now_us).as_str().to_owned(),
                t.description.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The tokens as one JSON array, for scripts: never the secret or its
/// digest. Times are RFC 3339 (UTC) or `null`.
fn json_list(tokens: &[TokenRecord], now_us: i64) -> String {
    let time_or_null = |us: Option<i64>| us.map_or(Value::Null, |us| Value::String(time(us)));
    let list = tokens
        .iter()
        .map(|t| {
            let projects = match &t.scope {
                TokenScope::All => Value::Null,
                TokenScope::Projects(names) => {
                    Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect())
                }
            };
            Value::Object(BTreeMap::from([
                ("id".to_owned(), Value::from(t.id.as_str())),
                ("user".to_owned(), Value::from(t.user.as_str())),
                ("permission".to_owned(), Value::from(t.permission.as_str())),
                ("projects".to_owned(), projects),
                (
                    "description".to_owned(),
                    Value::from(t.description.as_str()),
                ),
                ("created".to_owned(), time_or_null(Some(t.created_us))),
                ("last_used".to_owned(), time_or_null(t.last_used_us)),
                ("expires".to_owned(), time_or_null(t.expires_us)),
                ("revoked".to_owned(), time_or_null(t.revoked_us)),
                ("state".to_owned(), Value::from(t.state(now_us).as_str())),
            ]))
        })
        .collect();
    String::from_utf8_lossy(&bulwark_tuf::json::to_vec(&Value::Array(list))).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_minutes_hours_days_and_never() {
        assert_eq!(parse_expiry("never").unwrap(), None);
        assert_eq!(parse_expiry("90m").unwrap(), Some(5_400));
        assert_eq!(parse_expiry("12h").unwrap(), Some(43_200));
        assert_eq!(parse_expiry("30d").unwrap(), Some(2_592_000));
        assert_eq!(parse_expiry("3650d").unwrap(), Some(315_360_000));
    }

    #[test]
    fn expiry_refuses_zero_absurd_and_malformed_durations() {
        for zero in ["0d", "0m", "000h"] {
            let err = parse_expiry(zero).unwrap_err().to_string();
            assert!(err.contains("would expire at once"), "{zero}: {err}");
        }
        for absurd in ["3651d", "87601h", "99999999999999999999d"] {
            let err = parse_expiry(absurd).unwrap_err().to_string();
            assert!(err.contains("more than 3650 days"), "{absurd}: {err}");
        }
        for bad in [
            "", "d", "30", "30s", "30 d", "-1d", "+1d", "1.5h", "1w", "Never", "1é",
        ] {
            let err = parse_expiry(bad).unwrap_err().to_string();
            assert!(err.contains("is not a duration like"), "{bad}: {err}");
        }
    }

    #[test]
    fn listings_never_show_the_secret_digest() {
        let token = TokenRecord {
            id: "0123456789abcdef".to_owned(),
            user: "alice".to_owned(),
            secret_sha256: "f".repeat(64),
            created_us: 1_750_000_000_000_000,
            description: "CI".to_owned(),
            scope: TokenScope::Projects(vec!["a".to_owned(), "b".to_owned()]),
            expires_us: Some(1_750_000_060_000_000),
            ..TokenRecord::default()
        };
        let now = 1_750_000_120_000_000;
        let table = table(std::slice::from_ref(&token), now);
        let json = json_list(std::slice::from_ref(&token), now);
        for out in [&table, &json] {
            assert!(!out.contains("ffff"), "{out}");
            assert!(out.contains("expired"), "{out}");
        }
        assert!(table.contains("a,b"), "{table}");
        assert!(json.contains(r#""projects":["a","b"]"#), "{json}");
        assert!(json.contains(r#""last_used":null"#), "{json}");
    }
}
