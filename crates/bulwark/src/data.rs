//! The stores of an index: by default the data directory (SQLite state,
//! local blobs, development key files), or the shared production backends
//! that several servers use at once (`state = "postgres://…"`,
//! `blobs = "s3://…"`).
//!
//! ```text
//! <data_dir>/state.sqlite3    StateStore (unless `state` is set)
//! <data_dir>/blobs/           BlobStore: files/, tuf/metadata/, tuf/targets/ (unless `blobs` is set)
//! <data_dir>/staging/         uploads on their way into S3 (when `blobs` is set)
//! <data_dir>/keys/*.key       encrypted key files (development set-up only)
//! <data_dir>/root.json        the trusted root to give to clients (a copy of 1.root.json)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{BlobStore, StateStore, redact_url};

use crate::config::Settings;

/// The state database's file name in a data directory.
const DATABASE: &str = "state.sqlite3";

/// The opened stores of an index.
pub struct Data {
    pub dir: PathBuf,
    pub store: Arc<dyn StateStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// True when the state is a shared database that several servers may
    /// use at once (PostgreSQL), false for the data directory's SQLite.
    pub shared: bool,
}

impl Data {
    /// Opens (creating if needed) the stores `settings` name.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let dir = &settings.data_dir;
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let store: Arc<dyn StateStore> = match &settings.state {
            Some(url) => Arc::new(
                bulwark_store::postgres::PgState::connect(url)
                    .with_context(|| format!("state: cannot open {}", redact_url(url)))?,
            ),
            None => Arc::new(
                SqliteState::open(&dir.join(DATABASE))
                    .with_context(|| format!("cannot open the database in {}", dir.display()))?,
            ),
        };
        let blobs: Arc<dyn BlobStore> = match &settings.blobs {
            Some(url) => Arc::new(
                bulwark_store::s3::S3Blobs::open(url, &dir.join("staging"))
                    .with_context(|| format!("blobs: cannot open {}", redact_url(url)))?,
            ),
            None => Arc::new(
                FsBlobs::open(&dir.join("blobs"))
                    .with_context(|| format!("cannot open the blob store in {}", dir.display()))?,
            ),
        };
        Ok(Self {
            dir: dir.clone(),
            store,
            blobs,
            shared: settings.state.is_some(),
        })
    }

    /// Opens the stores of an existing index, refusing a data directory
    /// that holds none (a mistyped `--data-dir` must not create an empty
    /// index that the real server knows nothing about). Shared backends
    /// are checked once open: they must hold a repository.
    pub fn open_existing(settings: &Settings) -> anyhow::Result<Self> {
        let database = settings.data_dir.join(DATABASE);
        if settings.state.is_none() && !database.is_file() {
            anyhow::bail!(
                "{} holds no index (there is no {}): give the --data-dir (or data_dir setting) \
                 of the index that `bulwark serve` runs on",
                settings.data_dir.display(),
                database.display()
            );
        }
        let data = Self::open(settings)?;
        let root = bulwark_layout::metadata_key(bulwark_tuf::names::RoleName::ROOT, 1);
        if settings.state.is_some() && data.blobs.len(&root)?.is_none() {
            anyhow::bail!(
                "the shared stores hold no repository yet: start `bulwark serve` on them first"
            );
        }
        Ok(data)
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
