//! What the online key's home costs per publish run: a full re-sign of
//! every online role with the key in a file and with the key on SoftHSM2,
//! through the publisher's `Signer`, as `bulwark serve` signs with
//! `online_key = "pkcs11:…"`.
//!
//! SoftHSM2 reads where its tokens live from `SOFTHSM2_CONF` when the
//! module is first loaded, and this workspace forbids the unsafe
//! `set_var`; so the binary runs itself again with a throwaway token:
//!
//! ```text
//! main ─ rerun_with_softhsm ─▶ parent: testkit SoftHsm in a temp dir, init token,
//!                                      run this command again (SOFTHSM2_CONF, CHILD) ─▶ its exit status
//!                           ─▶ child (or no SoftHSM2 here): the run itself
//! resign_costs (after the sustained rounds), for a new ed25519 and ecdsa-p256 key on the
//!   token: a Publisher with it over the repository's stores ─▶ run_once: a new online
//!   key re-signs every online role (timed) ─▶ the repository's own key file again (timed)
//! ```

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use anyhow::Context as _;
use bulwark_hsm::{KeyRequest, Pin, Pkcs11Key, Pkcs11Uri};
use bulwark_repo::Publisher;
use bulwark_repo::clock::now;
use bulwark_testkit::softhsm::{SOFTHSM_MODULE, SoftHsm};
use bulwark_tuf::keys::Algorithm;

use crate::repo::{BenchRepo, ONLINE_ALGORITHM};

/// The label of the throwaway token.
const TOKEN: &str = "bulwark-bench";

/// Its user PIN.
const PIN: &str = "bench-pin-0000";

/// Set in the process that runs with the token.
const CHILD: &str = "BULWARK_BENCH_SOFTHSM";

/// The algorithms measured on the token.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Ed25519, Algorithm::EcdsaP256];

/// How the report names an algorithm of [`ALGORITHMS`].
#[must_use]
pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EcdsaP256 => "ecdsa-p256",
        other => other.keytype(),
    }
}

/// One full re-sign with one online key.
#[derive(Clone, Debug)]
pub struct ResignCost {
    /// The key's algorithm.
    pub algorithm: Algorithm,
    /// On SoftHSM2 (else a key file's key, in memory).
    pub on_token: bool,
    /// The run, seconds.
    pub secs: f64,
    /// Online roles it signed.
    pub roles: usize,
}

/// The key signing costs of one backend's publishing section.
#[derive(Clone, Debug)]
pub enum ResignCosts {
    /// Measured: the token's keys, then the key file.
    Measured(Vec<ResignCost>),
    /// Not measured, and why.
    Skipped(String),
}

/// Whether the run wants SoftHSM2 and this machine has it: `None` when it
/// does, else why not.
fn softhsm_missing() -> Option<String> {
    if !Path::new(SOFTHSM_MODULE).exists() {
        return Some(format!("no SoftHSM2 module at {SOFTHSM_MODULE}"));
    }
    let util = Command::new("softhsm2-util").arg("--version").output();
    if !util.is_ok_and(|out| out.status.success()) {
        return Some("softhsm2-util is not on PATH".to_owned());
    }
    None
}

/// In `main`, before anything is measured: unless this process already
/// runs with the token, makes a throwaway SoftHSM2 token, runs this
/// command again with it and returns the child's exit status. `None`: go
/// on in this process (the child, or a machine without SoftHSM2, whose
/// report then says why the token was not measured).
pub fn rerun_with_softhsm() -> anyhow::Result<Option<ExitStatus>> {
    if std::env::var_os(CHILD).is_some() {
        return Ok(None);
    }
    if let Some(reason) = softhsm_missing() {
        eprintln!("signing on SoftHSM2 will not be measured: {reason}");
        return Ok(None);
    }
    let hsm = SoftHsm::new();
    hsm.init_token(TOKEN, PIN);
    let mut args = std::env::args_os();
    let program = std::env::current_exe().context("cannot find this executable")?;
    let status = Command::new(program)
        .args(args.by_ref().skip(1))
        .env(CHILD, "1")
        .env("SOFTHSM2_CONF", hsm.conf())
        .status()
        .context("cannot run the benchmark again with SoftHSM2")?;
    Ok(Some(status))
}

/// Times a full re-sign with a new key of each of [`ALGORITHMS`] on the
/// token, then with the repository's own key file again (ed25519, the same
/// run: a key new to the latest metadata), after which what it published
/// last verifies against its root once more. Run after the sustained
/// rounds: each run changes the online key. Measures nothing when this
/// process has no token.
pub fn resign_costs(repo: &BenchRepo) -> anyhow::Result<ResignCosts> {
    if std::env::var_os(CHILD).is_none() {
        return Ok(ResignCosts::Skipped(softhsm_missing().unwrap_or_else(
            || "this process has no SoftHSM2 token (the binary makes one)".to_owned(),
        )));
    }
    let pin = Pin::new(PIN.to_owned());
    let mut costs = Vec::new();
    for algorithm in ALGORITHMS {
        // One key per algorithm and backend: a label the token lacks.
        let label = format!("online-{}-{}", algorithm_name(algorithm), repo.backend);
        let uri = Pkcs11Uri::parse(&format!("pkcs11:token={TOKEN};object={label}"))?;
        let key = Pkcs11Key::generate(
            Path::new(SOFTHSM_MODULE),
            &uri,
            &pin,
            KeyRequest::Exactly(algorithm),
        )
        .with_context(|| format!("cannot make a key on SoftHSM2 ({uri})"))?
        .key;
        costs.push(resign_with(&repo.publisher_with(key), algorithm, true)?);
    }
    costs.push(resign_with(&repo.publisher, ONLINE_ALGORITHM, false)?);
    Ok(ResignCosts::Measured(costs))
}

/// A full re-sign by `publisher`, whose online key (of `algorithm`, on
/// the token or not) is new to the repository: its first run signs every
/// online role.
fn resign_with(
    publisher: &Publisher,
    algorithm: Algorithm,
    on_token: bool,
) -> anyhow::Result<ResignCost> {
    let started = Instant::now();
    let report = publisher
        .run_once(now())?
        .context("a new online key re-signs every online role")?;
    let cost = ResignCost {
        algorithm,
        on_token,
        secs: started.elapsed().as_secs_f64(),
        roles: report.roles_signed,
    };
    eprintln!(
        "full re-sign with an {} key {}: {} roles in {:.2} s",
        algorithm_name(algorithm),
        if on_token { "on SoftHSM2" } else { "in a file" },
        cost.roles,
        cost.secs
    );
    Ok(cost)
}
