//! The peers a run measures against, prepared before anything is measured:
//! the venv with python-tuf for the client comparison (`scripts/python-env`)
//! and, for the whole-process scripts, everything `scripts/bench-env --all`
//! prepares (that venv, wrk, pypiserver's venv, a release `bulwark`). Set-up
//! never runs between measurements, and a missing peer fails the run at
//! once instead of leaving a figure out.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::Options;

/// What [`prepare`] found.
#[derive(Clone, Debug, Default)]
pub struct Peers {
    /// The release `bulwark` the scripts measure, where cargo built it
    /// (honouring `CARGO_TARGET_DIR`); `None` when the scripts do not run.
    pub bulwark: Option<PathBuf>,
}

/// Prepares the peers that `options` needs.
pub fn prepare(workspace: &Path, options: &Options) -> anyhow::Result<Peers> {
    if options.scripts.is_some() {
        let path = script(workspace, "bench-env", &["--all"])
            .context("cannot prepare the scripts' peers (--no-scripts skips the scripts)")?;
        return Ok(Peers {
            bulwark: Some(PathBuf::from(path)),
        });
    }
    if options.client.python == crate::client::default_python() {
        script(workspace, "python-env", &[]).context("cannot prepare python-tuf's venv")?;
    }
    Ok(Peers::default())
}

/// Runs `scripts/<name> <args>` from `workspace` and returns the last line
/// it printed on stdout.
fn script(workspace: &Path, name: &str, args: &[&str]) -> anyhow::Result<String> {
    eprintln!("preparing: scripts/{name} {}", args.join(" "));
    let done = crate::scripts::bash(workspace, name, args)
        .output()
        .with_context(|| format!("cannot run scripts/{name}"))?;
    if !done.status.success() {
        bail!("scripts/{name} failed ({})", done.status);
    }
    Ok(String::from_utf8_lossy(&done.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned())
}
