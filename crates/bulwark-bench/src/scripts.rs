//! The whole-process measurements: `scripts/*` run real `bulwark` processes
//! against real peers (pypiserver with wrk, python-tuf's client, pip through
//! the proxy, concurrent `curl` uploads, devpi-server's mirror), which a library cannot do in
//! process. `all` runs each with `BULWARK_BENCH_JSON` naming a file where the
//! script writes its figures (whole numbers only, read with the TUF core's
//! strict parser), and keeps what the script printed.
//!
//! ```text
//! all ─▶ bash scripts/<name> <args>   (BULWARK_BENCH_JSON=<out>/<name>.json)
//!     ─▶ stdout (the human figures) + the JSON object ─▶ report "Whole-process measurements"
//! ```

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use bulwark_tuf::json::{self, Value};

use crate::json::Json;
use crate::peers::Peers;

/// One script of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    /// Its file name under `scripts/`.
    pub name: &'static str,
    /// Its arguments.
    pub args: &'static [&'static str],
    /// What it measures, for the report.
    pub what: &'static str,
}

/// The scripts `all` runs, in order.
pub const SCRIPTS: &[Script] = &[
    Script {
        name: "index-throughput",
        args: &["10", "32"],
        what: "requests/s for a project page and a 4 KB wheel, bulwark serve vs pypiserver 2.4.2, wrk on loopback (goal ≥ 20×)",
    },
    Script {
        name: "client-cpu",
        args: &["15"],
        what: "CPU of one cold download, whole process: bulwark tuf-client vs python-tuf 7.0.1's client, 16 succinct bins",
    },
    Script {
        name: "publish-latency",
        args: &["400", "16"],
        what: "HTTP uploads by 16 concurrent curl clients into a release bulwark serve, and the server's peak RSS",
    },
    Script {
        name: "import-throughput",
        args: &["2000"],
        what: "bulwark import of 2,000 small wheels and the publish run that signs them, and the import's peak RSS",
    },
    Script {
        name: "proxy-memory",
        args: &[],
        what: "pip install of 50 packages through a cold bulwark proxy: time and peak RSS of proxy and serve",
    },
    Script {
        name: "upload-memory",
        args: &["3", "90", "10"],
        what: "RSS growth of a release bulwark serve and of pypiserver 2.4.2 receiving ten concurrent 90 MiB uploads (goal ≤ 64 MiB)",
    },
    Script {
        name: "mirror-sync",
        args: &["2000"],
        what: "bulwark mirror sync of an index of 2,000 small wheels over loopback: cold, warm (nothing new) and re-verifying every file, and the cold sync's peak RSS",
    },
    Script {
        name: "upstream-install",
        args: &["3", "5"],
        what: "pip and uv install of a 50-package tree through a pull-through index, cold (fresh index) and warm (cached in the index, client cache off): bulwark serve with an upstream vs pypiserver 2.4.2's --fallback-url redirect and devpi-server 6.20.3's mirror index, and each index's peak RSS",
    },
];

/// What one script produced.
#[derive(Clone, Debug)]
pub struct ScriptRun {
    /// The script.
    pub script: Script,
    /// The command line, from the workspace root.
    pub command: String,
    /// What it printed on standard output.
    pub output: String,
    /// Its figures, or why there are none.
    pub figures: Result<Vec<(String, u64)>, String>,
}

/// Runs every script from `workspace` against the prepared `peers`,
/// writing their JSON under `out`. A script that fails is reported, not
/// fatal: the rest of the suite stands.
#[must_use]
pub fn run_all(workspace: &Path, out: &Path, peers: &Peers) -> Vec<ScriptRun> {
    SCRIPTS
        .iter()
        .map(|script| {
            eprintln!("running scripts/{} {}", script.name, script.args.join(" "));
            let json = out.join(format!("{}.json", script.name));
            let mut command = command(workspace, script, &json, peers);
            let (output, figures) = match run_one(script, &json, &mut command) {
                Ok((output, figures)) => (output, Ok(figures)),
                Err(e) => (String::new(), Err(format!("{e:#}"))),
            };
            ScriptRun {
                script: *script,
                command: format!("scripts/{} {}", script.name, script.args.join(" "))
                    .trim_end()
                    .to_owned(),
                output,
                figures,
            }
        })
        .collect()
}

/// The command that runs `script` from `workspace`: its figures go to
/// `json_path` (`BULWARK_BENCH_JSON`), and it measures the prepared
/// `bulwark` (`BULWARK_BIN`).
fn command(workspace: &Path, script: &Script, json_path: &Path, peers: &Peers) -> Command {
    let mut command = bash(workspace, script.name, script.args);
    command.env("BULWARK_BENCH_JSON", json_path);
    if let Some(bulwark) = &peers.bulwark {
        command.env("BULWARK_BIN", bulwark);
    }
    command
}

/// `scripts/<name> <args>`, run from `workspace` with no input; what it
/// prints on stderr goes to ours.
pub(crate) fn bash(workspace: &Path, name: &str, args: &[&str]) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(workspace.join("scripts").join(name))
        .args(args)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn run_one(
    script: &Script,
    json_path: &Path,
    command: &mut Command,
) -> anyhow::Result<(String, Vec<(String, u64)>)> {
    let _ = std::fs::remove_file(json_path);
    let done = command
        .output()
        .with_context(|| format!("cannot run scripts/{}", script.name))?;
    let output = String::from_utf8_lossy(&done.stdout).into_owned();
    if !done.status.success() {
        bail!("scripts/{} failed ({})", script.name, done.status);
    }
    let bytes = std::fs::read(json_path)
        .with_context(|| format!("scripts/{} wrote no {}", script.name, json_path.display()))?;
    Ok((
        output,
        figures(&bytes).with_context(|| format!("{}", json_path.display()))?,
    ))
}

/// The whole-number figures of a script's JSON object, in key order.
fn figures(bytes: &[u8]) -> anyhow::Result<Vec<(String, u64)>> {
    let Value::Object(object) = json::parse(bytes)? else {
        bail!("not a JSON object");
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            Value::Int(n) => match u64::try_from(n) {
                Ok(n) => Ok((key, n)),
                Err(_) => bail!("{key} is negative"),
            },
            other => bail!("{key} is a {}, not a whole number", other.type_name()),
        })
        .collect()
}

impl ScriptRun {
    /// One of the figures.
    #[must_use]
    pub fn figure(&self, key: &str) -> Option<u64> {
        self.figures
            .as_ref()
            .ok()?
            .iter()
            .find_map(|(k, v)| (k == key).then_some(*v))
    }

    /// The JSON of this run.
    #[must_use]
    pub fn to_json(&self) -> Json {
        let figures = match &self.figures {
            Ok(figures) => Json::Obj(
                figures
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::Int(*v)))
                    .collect(),
            ),
            Err(e) => Json::obj([("error", Json::Str(e.clone()))]),
        };
        Json::obj([
            ("script", Json::Str(self.script.name.to_owned())),
            ("command", Json::Str(self.command.clone())),
            ("figures", figures),
            ("output", Json::Str(self.output.clone())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Each script measures the `bulwark` that `scripts/bench-env` names,
    /// which is `BULWARK_BIN` when the suite runs it, else the one cargo
    /// built wherever the target directory is, never `target/release`.
    #[test]
    fn scripts_measure_the_binary_the_suite_prepared() {
        let peers = Peers {
            bulwark: Some(PathBuf::from("/elsewhere/ct/release/bulwark")),
        };
        for script in SCRIPTS {
            let command = command(Path::new("/w"), script, Path::new("/o.json"), &peers);
            assert!(
                command.get_envs().any(|(k, v)| k == "BULWARK_BIN"
                    && v == peers.bulwark.as_deref().map(Path::as_os_str)),
                "{}",
                script.name
            );
            let path = crate::workspace().join("scripts").join(script.name);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.contains("$(scripts/bench-env"),
                "scripts/{} does not take its binary from scripts/bench-env",
                script.name
            );
            assert!(
                !text.contains("target/release"),
                "scripts/{} looks for target/release",
                script.name
            );
        }
    }

    #[test]
    fn figures_are_whole_numbers() {
        assert_eq!(
            figures(br#"{"b": 2, "a": 1}"#).unwrap(),
            [("a".to_owned(), 1), ("b".to_owned(), 2)]
        );
        assert!(figures(br#"{"a": 1.5}"#).is_err(), "floats are refused");
        assert!(figures(br#"{"a": -1}"#).is_err());
        assert!(figures(br#"{"a": "x"}"#).is_err());
        assert!(figures(b"[1]").is_err());
        assert!(figures(b"").is_err());
    }
}
