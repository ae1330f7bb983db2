//! `bulwark audit [--project NAME] [--json]`: the audit log, oldest first:
//! every ownership change (`owner-add`, `owner-remove`) and administrative
//! removal (`remove`), with when, who and what. One tab-separated line per
//! entry, or one JSON object per line with `--json`.

use std::io::Write as _;

use anyhow::Context as _;
use bulwark_tuf::json::{self, Value};

use crate::config::{Settings, StoreFlags};
use crate::data::Data;

/// Options of `bulwark audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreFlags,
    /// Only this project's entries.
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
    /// One JSON object per line instead of tab-separated text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let project = args
        .project
        .as_deref()
        .map(crate::owner::normalized)
        .transpose()?;
    let settings = Settings::load(args.stores, None)?;
    let data = Data::open_existing(&settings)?;
    let log = data
        .store
        .audit_log(project.as_deref())
        .context("cannot read the audit log")?;
    let mut out = std::io::stdout().lock();
    for a in log {
        let time = crate::owner::time(a.time_us).to_string();
        if args.json {
            write_json_line(
                &mut out,
                [
                    ("seq", Value::Int(i64::try_from(a.seq).unwrap_or(i64::MAX))),
                    ("time", Value::String(time)),
                    ("time_us", Value::Int(a.time_us)),
                    ("actor", Value::String(a.actor)),
                    ("action", Value::String(a.action)),
                    ("project", Value::String(a.project)),
                    ("detail", Value::String(a.detail)),
                ],
            )?;
        } else {
            writeln!(
                out,
                "{}\t{time}\t{}\t{}\t{}\t{}",
                a.seq, a.actor, a.action, a.project, a.detail
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes `fields` as one JSON object on a line of its own (the `--json`
/// listings of `audit` and `upstream list`).
pub(crate) fn write_json_line<const N: usize>(
    out: &mut impl std::io::Write,
    fields: [(&str, Value); N],
) -> std::io::Result<()> {
    let object = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    out.write_all(&json::to_vec(&object))?;
    out.write_all(b"\n")
}
