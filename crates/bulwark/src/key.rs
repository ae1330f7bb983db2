//! `bulwark key generate|show`: a key holder's encrypted key file.
//!
//! A key file holds one signing key sealed under a passphrase, plus its
//! public part in the clear (see `bulwark_repo::keyfile`). Neither the
//! passphrase nor the key material nor the file's contents ever appear in
//! output or errors; only the key ID and the public key object are printed.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bulwark_repo::keyfile;
use bulwark_repo::roles::PublicKeyEntry;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::keys::{Algorithm, SigningKey};

use crate::data::write_private;

/// Options of `bulwark key`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Generate a key, sealed with a passphrase (`BULWARK_KEY_PASSPHRASE`, or
    /// asked twice on the terminal), into a new file readable by its owner
    /// only. Prints the key ID and the public key.
    Generate {
        /// The key file to create (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// The signature algorithm.
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::Ed25519)]
        algorithm: KeyAlgorithm,
    },
    /// Print a key file's key ID and public key (no passphrase needed).
    Show {
        /// The key file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KeyAlgorithm {
    /// Ed25519 (the default).
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256 (`ecdsa-sha2-nistp256`).
    EcdsaP256,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Generate { out, algorithm } => generate(&out, algorithm),
        Command::Show { file } => {
            let entry = read_public(&file)?;
            println!("{}", public_json(&entry.keyid, entry.key.to_value()));
            Ok(())
        }
    }
}

fn generate(out: &Path, algorithm: KeyAlgorithm) -> anyhow::Result<()> {
    if out.exists() {
        bail!(
            "{} already exists; a key file is never overwritten",
            out.display()
        );
    }
    let pass = new_passphrase(out)?;
    let algorithm = match algorithm {
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519,
        KeyAlgorithm::EcdsaP256 => Algorithm::EcdsaP256,
    };
    let key = SigningKey::generate(algorithm).context("cannot generate a key")?;
    let sealed = keyfile::seal(&key, pass.as_bytes(), keyfile::DEFAULT_ITERATIONS)
        .context("cannot seal the key")?;
    write_private(out, &sealed)?;
    println!("{}", public_json(&key.key_id(), key.public_key_object()));
    Ok(())
}

/// The passphrase for a new key: `BULWARK_KEY_PASSPHRASE`, or asked twice
/// on the terminal. Never empty.
fn new_passphrase(out: &Path) -> anyhow::Result<String> {
    let pass = if let Ok(value) = std::env::var("BULWARK_KEY_PASSPHRASE") {
        value
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let first = rpassword::prompt_password(format!("New passphrase for {}: ", out.display()))
            .context("cannot read the passphrase")?;
        let second = rpassword::prompt_password("Repeat the passphrase: ")
            .context("cannot read the passphrase")?;
        if first != second {
            bail!("the passphrases do not match");
        }
        first
    } else {
        bail!("no passphrase: set BULWARK_KEY_PASSPHRASE or run on a terminal");
    };
    if pass.is_empty() {
        bail!("refusing an empty passphrase");
    }
    Ok(pass)
}

/// The public key of the key file at `path`, as metadata lists it. Reads
/// only the public part: no passphrase is needed.
pub fn read_public(path: &Path) -> anyhow::Result<PublicKeyEntry> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let info = keyfile::info(&bytes)
        .with_context(|| format!("{} is not a usable key file", path.display()))?;
    let entry = PublicKeyEntry::from_object(&info.public)
        .with_context(|| format!("{} holds an invalid public key", path.display()))?;
    if entry.keyid != info.keyid {
        bail!(
            "{}: the public key does not match the key ID the file names",
            path.display()
        );
    }
    Ok(entry)
}

/// Opens the key file at `path` with its passphrase (`BULWARK_KEY_PASSPHRASE`
/// or a prompt).
pub fn open(path: &Path) -> anyhow::Result<SigningKey> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if std::env::var_os("BULWARK_KEY_PASSPHRASE").is_none()
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        bail!(
            "no passphrase for {}: set BULWARK_KEY_PASSPHRASE or run on a terminal",
            path.display()
        );
    }
    let pass = crate::data::passphrase(&path.display().to_string())?;
    keyfile::open(&bytes, pass.as_bytes())
        .with_context(|| format!("cannot open the key file {}", path.display()))
}

/// `{"keyid": …, "public": {…}}` on one line.
fn public_json(keyid: &str, public: Value) -> String {
    let object = Value::Object(
        [
            ("keyid".to_owned(), Value::String(keyid.to_owned())),
            ("public".to_owned(), public),
        ]
        .into(),
    );
    String::from_utf8_lossy(&json::to_vec(&object)).into_owned()
}
