//! The data directory of an index: SQLite state, blobs, key files.
//!
//! ```text
//! <data_dir>/state.sqlite3    StateStore
//! <data_dir>/blobs/           BlobStore: files/, tuf/metadata/, tuf/targets/
//! <data_dir>/keys/*.key       encrypted key files (development set-up only)
//! <data_dir>/root.json        the trusted root to give to clients (a copy of 1.root.json)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;

/// The state database's file name in a data directory.
const DATABASE: &str = "state.sqlite3";

/// The opened stores of a data directory.
pub struct Data {
    pub dir: PathBuf,
    pub store: Arc<SqliteState>,
    pub blobs: Arc<FsBlobs>,
}

impl Data {
    /// Opens (creating if needed) the data directory `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let store = SqliteState::open(&dir.join(DATABASE))
            .with_context(|| format!("cannot open the database in {}", dir.display()))?;
        let blobs = FsBlobs::open(&dir.join("blobs"))
            .with_context(|| format!("cannot open the blob store in {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            store: Arc::new(store),
            blobs: Arc::new(blobs),
        })
    }

    /// Opens the data directory `dir` of an existing index, refusing one
    /// that holds none (a mistyped `--data-dir` must not create an empty
    /// index that the real server knows nothing about).
    pub fn open_existing(dir: &Path) -> anyhow::Result<Self> {
        let database = dir.join(DATABASE);
        if !database.is_file() {
            anyhow::bail!(
                "{} holds no index (there is no {}): give the --data-dir (or data_dir setting) \
                 of the index that `bulwark serve` runs on",
                dir.display(),
                database.display()
            );
        }
        Self::open(dir)
    }

    /// The directory of development key files.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }
}

/// Writes a new file readable and writable by its owner only (mode 0600),
/// refusing to overwrite an existing one.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // A bare file name (`--out dev.key`) is in the current directory.
    bulwark_fs::create_dir_all_durable(bulwark_fs::parent_dir(path))?;
    Ok(bulwark_fs::create_new(path, bytes, 0o600)?)
}

/// The passphrase of key files: `BULWARK_KEY_PASSPHRASE`, else a prompt on
/// the terminal, else (no terminal) empty.
pub fn passphrase(purpose: &str) -> anyhow::Result<String> {
    Ok(secret(
        "BULWARK_KEY_PASSPHRASE",
        &format!("Passphrase for {purpose}"),
    )?
    .unwrap_or_default())
}

/// The user PIN of a PKCS#11 token: `BULWARK_PKCS11_PIN`, else a prompt on
/// the terminal, else an error.
pub fn pkcs11_pin(purpose: &str) -> anyhow::Result<String> {
    secret("BULWARK_PKCS11_PIN", &format!("PIN for {purpose}"))?.with_context(|| {
        format!("no PIN for {purpose}: set BULWARK_PKCS11_PIN or run on a terminal")
    })
}

/// A secret from the variable `var`, else asked with `prompt` on the
/// terminal, else `None`.
fn secret(var: &str, prompt: &str) -> anyhow::Result<Option<String>> {
    if let Ok(value) = std::env::var(var) {
        return Ok(Some(value));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return rpassword::prompt_password(format!("{prompt}: "))
            .map(Some)
            .context("cannot read the secret from the terminal");
    }
    Ok(None)
}
