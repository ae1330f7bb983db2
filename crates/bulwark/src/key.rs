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
use bulwark_tuf::signer::Signer as _;

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
    /// only; or, with --pkcs11, on a PKCS#11 token, where its private half
    /// stays (PIN: `BULWARK_PKCS11_PIN` or the terminal). Prints the key ID
    /// and the public key.
    Generate {
        /// The key file to create (must not exist); with --pkcs11, a file to
        /// write the public key to, as printed (for `ceremony init`).
        #[arg(long, required_unless_present = "pkcs11")]
        out: Option<PathBuf>,
        /// The signature algorithm [default: ed25519; on a token without
        /// `EdDSA`, ecdsa-p256].
        #[arg(long, value_enum)]
        algorithm: Option<KeyAlgorithm>,
        /// Generate on a PKCS#11 token, at this RFC 7512 URI
        /// (`pkcs11:token=…;object=…`).
        #[arg(long, value_name = "URI")]
        pkcs11: Option<String>,
        /// The PKCS#11 module (a URI's module-path overrides it).
        #[arg(long, value_name = "FILE", env = "BULWARK_PKCS11_MODULE")]
        pkcs11_module: Option<PathBuf>,
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
        Command::Generate {
            out,
            algorithm,
            pkcs11: Some(uri),
            pkcs11_module,
        } => generate_on_token(&uri, pkcs11_module.as_deref(), algorithm, out.as_deref()),
        Command::Generate {
            out: Some(out),
            algorithm,
            ..
        } => generate(&out, algorithm.unwrap_or(KeyAlgorithm::Ed25519)),
        Command::Generate { out: None, .. } => bail!("--out is required"),
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

/// `key generate --pkcs11`: a key pair made on the token; the public key
/// printed (and written to `out`) as for a key file.
fn generate_on_token(
    uri: &str,
    module: Option<&Path>,
    algorithm: Option<KeyAlgorithm>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let uri = crate::hsm::parse(uri)?;
    if let Some(out) = out
        && out.exists()
    {
        bail!("{} already exists", out.display());
    }
    let request = match algorithm {
        None => bulwark_hsm::KeyRequest::Preferred,
        Some(KeyAlgorithm::Ed25519) => bulwark_hsm::KeyRequest::Exactly(Algorithm::Ed25519),
        Some(KeyAlgorithm::EcdsaP256) => bulwark_hsm::KeyRequest::Exactly(Algorithm::EcdsaP256),
    };
    let generated = crate::hsm::generate(&uri, module, request)?;
    if generated.fell_back {
        eprintln!(
            "note: token {:?} offers no EdDSA; generated an ecdsa-p256 key instead",
            generated.key.token()
        );
    }
    let key = &generated.key;
    let line = public_json(&key.key_id(), key.public_key_object());
    if let Some(out) = out {
        bulwark_fs::create_new(out, format!("{line}\n").as_bytes(), 0o644)?;
    }
    println!("{line}");
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

/// The most bytes read from a `--public-key` file.
const MAX_PUBLIC_KEY_FILE: u64 = 64 * 1024;

/// A public key named on the command line (`--public-key`): a key file
/// (its public part), or what `bulwark key generate` and `bulwark key
/// show` print, `{"keyid": …, "public": {…}}`, or a bare TUF key object.
pub fn read_public_key(path: &Path) -> anyhow::Result<PublicKeyEntry> {
    let bytes = read_capped(path, MAX_PUBLIC_KEY_FILE)?;
    if keyfile::info(&bytes).is_ok() {
        return read_public(path);
    }
    let unusable = || {
        format!(
            "{} is neither a key file nor a public key as `bulwark key show` prints it",
            path.display()
        )
    };
    let value = json::parse(bytes.trim_ascii()).with_context(unusable)?;
    let Value::Object(object) = &value else {
        bail!(unusable());
    };
    let (public, keyid) = match (object.get("public"), object.get("keyid")) {
        (Some(public), Some(Value::String(keyid))) => (public, Some(keyid)),
        (Some(public), None) => (public, None),
        _ if object.contains_key("keytype") => (&value, None),
        _ => bail!(unusable()),
    };
    let entry = PublicKeyEntry::from_object(public)
        .with_context(|| format!("{} holds an invalid public key", path.display()))?;
    if keyid.is_some_and(|keyid| *keyid != entry.keyid) {
        bail!(
            "{}: the public key does not match the key ID it names",
            path.display()
        );
    }
    if entry.key.verifier().is_none() {
        bail!(
            "{}: the public key is of a type or scheme Bulwark cannot verify",
            path.display()
        );
    }
    Ok(entry)
}

fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let context = || format!("cannot read {}", path.display());
    let file = std::fs::File::open(path).with_context(context)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(context)?;
    if bytes.len() as u64 > cap {
        bail!("{} is larger than a public key can be", path.display());
    }
    Ok(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_read_as_key_show_prints_them_or_from_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let shown = write(
            "shown.pub",
            format!("{}\n", public_json(&key.key_id(), key.public_key_object())).as_bytes(),
        );
        assert_eq!(read_public_key(&shown).unwrap().keyid, key.key_id());
        let bare = write("bare.pub", &json::to_vec(&key.public_key_object()));
        assert_eq!(read_public_key(&bare).unwrap().keyid, key.key_id());
        let sealed = keyfile::seal(&key, b"pass", 1).unwrap();
        let file = write("dev.key", &sealed);
        assert_eq!(read_public_key(&file).unwrap().keyid, key.key_id());

        let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let lying = write(
            "lying.pub",
            public_json(&other.key_id(), key.public_key_object()).as_bytes(),
        );
        let err = read_public_key(&lying).unwrap_err().to_string();
        assert!(
            err.ends_with("the public key does not match the key ID it names"),
            "{err}"
        );
        for junk in [&b"not json"[..], b"[1]", b"{\"keyid\":\"x\"}"] {
            let path = write("junk.pub", junk);
            let err = read_public_key(&path).unwrap_err().to_string();
            assert!(
                err.ends_with(
                    "is neither a key file nor a public key as `bulwark key show` prints it"
                ),
                "{err}"
            );
        }
    }
}
