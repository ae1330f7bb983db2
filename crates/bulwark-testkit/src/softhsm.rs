//! Throwaway SoftHSM2 tokens for the hardware-key tests.
//!
//! SoftHSM2 reads its configuration (where tokens live) from the
//! `SOFTHSM2_CONF` variable when the module is initialised, and a test may
//! not change its own environment (`set_var` is unsafe and this workspace
//! forbids unsafe code). So a test that loads the module in its own process
//! runs itself again as a child with the variable set:
//!
//! ```text
//! #[test] fn t() ── rerun_with_softhsm("t", tokens) ─▶ parent: new SoftHsm in a tempdir,
//!                                                       init the tokens, run `<test binary> t --exact`
//!                                                       with SOFTHSM2_CONF, assert it passed ─▶ None
//!                                                    ─▶ child: Some(SoftHsm) ─▶ the test's body
//! ```
//!
//! Processes the test starts (`bulwark serve`) are simply given
//! [`SoftHsm::conf`] as `SOFTHSM2_CONF`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `softhsm2` puts the module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The security officer PIN of every test token.
pub const SO_PIN: &str = "so-pin-0000";

/// Set in the child process a test runs as.
const CHILD: &str = "BULWARK_TEST_SOFTHSM_CHILD";

/// A SoftHSM2 configuration and token directory of its own.
pub struct SoftHsm {
    /// Owned by the process that made it; `None` in a child.
    _dir: Option<tempfile::TempDir>,
    conf: PathBuf,
}

impl SoftHsm {
    /// A new, empty SoftHSM2 in a temporary directory.
    #[must_use]
    pub fn new() -> Self {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "the hardware-key tests need SoftHSM2 ({SOFTHSM_MODULE}): run scripts/test-deps as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        Self {
            _dir: Some(dir),
            conf,
        }
    }

    /// The file to give as `SOFTHSM2_CONF`.
    #[must_use]
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// Initialises a new token `label` with user PIN `pin` in a free slot.
    pub fn init_token(&self, label: &str, pin: &str) {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--pin", pin])
            .args(["--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("cannot run softhsm2-util: run scripts/test-deps as root");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}

/// In the test `test` (its full name in its test binary): in the parent
/// process, makes a SoftHSM2 with `tokens` (label, PIN), runs the test
/// again in a child process that uses it, asserts that the child passed
/// and returns `None`; in that child, returns the SoftHSM2 to use.
#[must_use]
pub fn rerun_with_softhsm(test: &str, tokens: &[(&str, &str)]) -> Option<SoftHsm> {
    if std::env::var_os(CHILD).is_some() {
        let conf = std::env::var_os("SOFTHSM2_CONF").expect("the child has SOFTHSM2_CONF");
        return Some(SoftHsm {
            _dir: None,
            conf: PathBuf::from(conf),
        });
    }
    let hsm = SoftHsm::new();
    for (label, pin) in tokens {
        hsm.init_token(label, pin);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("SOFTHSM2_CONF", hsm.conf())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed with SoftHSM2:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    None
}
