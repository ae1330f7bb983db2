//! `bulwark ceremony …`: the production key ceremony, as thin file-reading
//! and file-writing wrappers around `bulwark_repo::ceremony`.
//!
//! ```text
//! ceremony init ──▶ OUT/1.{root,targets,claimed,unclaimed}.json   (unsigned drafts)
//!   each key holder, on their own machine:
//!   ceremony sign --key KEY DOC --out SIG                         (one signature file)
//! ceremony combine DOC SIG… --out SIGNED                          (each signature and the threshold checked)
//! ceremony install --data-dir DATA SIGNED…                        (verified against the repository, then stored)
//! later: ceremony rotate-online | rotate-root | renew ──▶ OUT/<v>.<role>.json, then sign, combine, install
//! claimed projects: ceremony promote | reset-keys ──▶ OUT/<v>.claimed-<hh>.json…, OUT/<v>.claimed.json
//!   (claim bins signed with the claimed key, --delegator OUT/<v>.claimed.json), then combine, install
//! ```
//!
//! Only `sign` opens a private key. Every other command reads public parts
//! of key files and metadata, so the server machine never needs an offline
//! key; `bulwark serve` is then given the online key alone (`online_key`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bulwark_repo::Policy;
use bulwark_repo::ceremony::{
    self as steps, Authority, CeremonyError, Current, Document, InitPlan, OfflineRole,
    SignatureFile, parse_file_name,
};
use bulwark_repo::policy::DEFAULT_BIN_BITS;
use bulwark_repo::roles::PublicKeyEntry;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::metadata::{Envelope, Root, Targets};
use bulwark_tuf::signer::Signer;
use bulwark_tuf::time::Timestamp;

use crate::data::Data;
use crate::key;

/// Options of `bulwark ceremony`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Draft version 1 of root, targets, claimed and unclaimed, unsigned,
    /// from the public parts of the key files (no passphrase needed).
    Init(InitArgs),
    /// Show what a document says: each role's keys and threshold, and the
    /// digest that key holders compare before signing.
    Show {
        /// The document (`<version>.<role>.json`).
        doc: PathBuf,
        /// The document's role, when its file name does not say.
        #[arg(long)]
        role: Option<String>,
    },
    /// Sign one document with one key, on the key holder's machine.
    Sign(SignArgs),
    /// Add key holders' signatures to a document and check its threshold.
    Combine(CombineArgs),
    /// Verify signed documents against a repository's trusted metadata and
    /// store them; creates the repository when it has none.
    Install(InstallArgs),
    /// Draft root, targets and unclaimed moving timestamp, snapshot,
    /// recently-claimed and the bins to a new online key.
    RotateOnline(RotateOnlineArgs),
    /// Draft a root with new root keys; it needs the old threshold and the new.
    RotateRoot(RotateRootArgs),
    /// Draft the next version of offline roles, changing only their expiry
    /// (claimed together with its claim bins).
    Renew(RenewArgs),
    /// Draft claimed and its claim bins with claimed projects moved from
    /// recently-claimed into claimed (their developers' keys as the index
    /// trusts them).
    Promote(PromoteArgs),
    /// Draft the claim bin (and claimed) replacing the keys of a claimed
    /// project whose developers lost theirs.
    ResetKeys(ResetKeysArgs),
}

// The expiry of drafts: the policy's `offline_expiry` (a year) by default,
// its `claimed_expiry` (30 days) for claimed and its claim bins as promote,
// reset-keys and renew --role claimed draft them.
#[derive(Debug, clap::Args)]
struct Expiry {
    /// Days until the drafted documents expire [default: 365; 30 for
    /// promote, reset-keys and renew --role claimed].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    expires_days: Option<u32>,
}

impl Expiry {
    /// The expiry given, else `default` seconds from now.
    fn at_or(&self, default: i64) -> Timestamp {
        let seconds = self
            .expires_days
            .map_or(default, |days| i64::from(days) * 86_400);
        crate::now().plus_seconds(seconds)
    }

    /// The expiry of a top-level offline role other than claimed.
    fn offline(&self) -> Timestamp {
        self.at_or(Policy::default().offline_expiry)
    }

    /// The expiry of claimed and its claim bins.
    fn claimed(&self) -> Timestamp {
        self.at_or(Policy::default().claimed_expiry)
    }
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Root key files (public parts are read); repeat or list several.
    #[arg(long = "root-key", required = true, num_args = 1..)]
    root_keys: Vec<PathBuf>,
    /// How many root keys must sign a root (PEP 458: more than 1).
    #[arg(long)]
    root_threshold: u64,
    /// Targets key files; repeat or list several.
    #[arg(long = "targets-key", required = true, num_args = 1..)]
    targets_keys: Vec<PathBuf>,
    /// How many targets keys must sign targets.
    #[arg(long, default_value_t = 1)]
    targets_threshold: u64,
    /// The claimed key file.
    #[arg(long)]
    claimed_key: PathBuf,
    /// The unclaimed key file.
    #[arg(long)]
    unclaimed_key: PathBuf,
    /// The online key file, or its public key as `bulwark key generate --pkcs11` prints it (the only key the server will hold).
    #[arg(long)]
    online_key: PathBuf,
    /// 2^N hashed bins; `bulwark serve` must use the same `bin_bits`.
    #[arg(long, default_value_t = DEFAULT_BIN_BITS)]
    bin_bits: u32,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the drafts.
    #[arg(long)]
    out: PathBuf,
}

/// What says who may sign the document.
#[derive(Debug, clap::Args)]
struct AuthorityArgs {
    /// For targets: the root listing the targets keys (the root it will be
    /// installed with). For root N+1: root N.
    #[arg(long, conflicts_with = "delegator")]
    root: Option<PathBuf>,
    /// For claimed and unclaimed: the targets metadata that delegates to
    /// them. For a claim bin (`claimed-<hh>`): the claimed document that
    /// delegates to it (the draft installed with it, or the installed one).
    #[arg(long)]
    delegator: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The key file to sign with (its passphrase: `BULWARK_KEY_PASSPHRASE`
    /// or a prompt), or a key on a PKCS#11 token: `pkcs11:token=…;object=…`
    /// (its PIN: `BULWARK_PKCS11_PIN` or a prompt).
    #[arg(long)]
    key: PathBuf,
    /// The PKCS#11 module of a `pkcs11:` key (a URI's module-path overrides it).
    #[arg(long, value_name = "FILE", env = "BULWARK_PKCS11_MODULE")]
    pkcs11_module: Option<PathBuf>,
    /// The document to sign (`<version>.<role>.json`).
    doc: PathBuf,
    /// The signature file to write.
    #[arg(long)]
    out: PathBuf,
    /// The document's role, when its file name does not say.
    #[arg(long)]
    role: Option<String>,
    #[command(flatten)]
    authority: AuthorityArgs,
}

#[derive(Debug, clap::Args)]
struct CombineArgs {
    /// The document (`<version>.<role>.json`).
    doc: PathBuf,
    /// Signature files from `ceremony sign`.
    #[arg(required = true)]
    signatures: Vec<PathBuf>,
    /// The signed document to write, named `<version>.<role>.json`.
    #[arg(long)]
    out: PathBuf,
    /// The document's role, when its file name does not say.
    #[arg(long)]
    role: Option<String>,
    #[command(flatten)]
    authority: AuthorityArgs,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The repository's data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Signed documents, each named `<version>.<role>.json`.
    #[arg(required = true)]
    signed: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RotateOnlineArgs {
    /// The repository's data directory (only its public metadata is read).
    #[arg(long)]
    data_dir: PathBuf,
    /// The new online key file, or its public key (`bulwark key generate --pkcs11`).
    #[arg(long)]
    online_key: PathBuf,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the drafts.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RotateRootArgs {
    /// The repository's data directory (only its public metadata is read).
    #[arg(long)]
    data_dir: PathBuf,
    /// The new root key files (keys to keep included); repeat or list several.
    #[arg(long = "root-key", required = true, num_args = 1..)]
    root_keys: Vec<PathBuf>,
    /// How many of the new root keys must sign a root.
    #[arg(long)]
    root_threshold: u64,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the draft.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RenewArgs {
    /// The repository's data directory (only its public metadata is read).
    #[arg(long)]
    data_dir: PathBuf,
    /// The role to renew: root, targets, claimed (with every claim bin) or
    /// unclaimed; repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the drafts.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct PromoteArgs {
    /// The repository's data directory: its public metadata and its claims
    /// are read (a running `bulwark serve` may keep using it).
    #[arg(long)]
    data_dir: PathBuf,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the drafts.
    #[arg(long)]
    out: PathBuf,
    /// The projects to promote, each claimed by its developers (in recently-claimed).
    #[arg(required = true)]
    projects: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ResetKeysArgs {
    /// The repository's data directory: its public metadata and its claims
    /// are read (a running `bulwark serve` may keep using it).
    #[arg(long)]
    data_dir: PathBuf,
    /// The developers' new public keys: key files (only public parts are
    /// read) or what `bulwark key show` prints; repeat for several.
    #[arg(long = "public-key", required = true)]
    public_keys: Vec<PathBuf>,
    /// How many of the new keys must sign the project's role.
    #[arg(long, default_value_t = 1)]
    threshold: u64,
    #[command(flatten)]
    expiry: Expiry,
    /// Directory for the drafts.
    #[arg(long)]
    out: PathBuf,
    /// The claimed project.
    project: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Init(args) => init(&args),
        Command::Show { doc, role } => {
            print!("{}", read_document(&doc, role.as_deref())?.describe());
            Ok(())
        }
        Command::Sign(args) => sign(&args),
        Command::Combine(args) => combine(&args),
        Command::Install(args) => install(&args),
        Command::RotateOnline(args) => {
            let current = current(&args.data_dir)?;
            let online = key::read_public_key(&args.online_key)?;
            let docs = steps::rotate_online(&current, &online, args.expiry.offline())
                .context("cannot draft the rotation")?;
            write_drafts(&args.out, &docs)
        }
        Command::RotateRoot(args) => {
            let current = current(&args.data_dir)?;
            let keys = args
                .root_keys
                .iter()
                .map(|p| key::read_public_key(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let doc =
                steps::rotate_root(&current, &keys, args.root_threshold, args.expiry.offline())
                    .context("cannot draft the root")?;
            write_drafts(&args.out, &[doc])?;
            warn_low_threshold(args.root_threshold);
            Ok(())
        }
        Command::Renew(args) => renew(&args),
        Command::Promote(args) => {
            let (data, current) = open_repository(&args.data_dir)?;
            let projects: Vec<&str> = args.projects.iter().map(String::as_str).collect();
            let docs = steps::promote(
                &current,
                data.store.as_ref(),
                &projects,
                args.expiry.claimed(),
            )
            .context("cannot promote")?;
            write_drafts(&args.out, &docs)?;
            print_claimed_next_steps(&args.out, &docs);
            Ok(())
        }
        Command::ResetKeys(args) => {
            let (data, current) = open_repository(&args.data_dir)?;
            let keys = args
                .public_keys
                .iter()
                .map(|p| read_developer_key(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let docs = steps::reset_keys(
                &current,
                data.store.as_ref(),
                &args.project,
                &keys,
                args.threshold,
                args.expiry.claimed(),
            )
            .with_context(|| format!("cannot reset the keys of {}", args.project))?;
            write_drafts(&args.out, &docs)?;
            print_claimed_next_steps(&args.out, &docs);
            Ok(())
        }
    }
}

fn renew(args: &RenewArgs) -> anyhow::Result<()> {
    let current = current(&args.data_dir)?;
    let mut docs = Vec::new();
    for name in &args.roles {
        match offline_role(name)? {
            OfflineRole::Claimed => {
                docs.extend(steps::renew_claimed(&current, args.expiry.claimed()));
            }
            OfflineRole::ClaimBin(_) => bail!(
                "{name} is renewed with claimed (--role claimed renews every claim bin): the publisher finds claim bins through a newer claimed"
            ),
            role => docs.push(steps::renew(&current, role, args.expiry.offline())?),
        }
    }
    write_drafts(&args.out, &docs)?;
    if docs
        .iter()
        .any(|d| matches!(d.role(), OfflineRole::ClaimBin(_)))
    {
        print_claimed_next_steps(&args.out, &docs);
    }
    Ok(())
}

/// Tells the administrator how claim bins are signed: with the claimed
/// key, under the drafted claimed.
fn print_claimed_next_steps(out: &Path, docs: &[Document]) {
    let Some(claimed) = docs.iter().find(|d| d.role() == OfflineRole::Claimed) else {
        return;
    };
    let claimed = out.join(claimed.file_name());
    println!(
        "next: sign each document with the claimed key (claim bins with --delegator {0}, claimed with --delegator of the installed targets), combine, then ceremony install all of them together",
        claimed.display()
    );
}

/// A developer's public key: a Bulwark key file (only its public part is
/// read), the JSON `bulwark key show` prints (`{"keyid": …, "public": {…}}`),
/// or a TUF key object.
fn read_developer_key(path: &Path) -> anyhow::Result<PublicKeyEntry> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bulwark_repo::keyfile::info(&bytes).is_ok() {
        return key::read_public(path);
    }
    let not_a_key = || {
        format!(
            "{} is neither a key file nor a public key (bulwark key show prints one)",
            path.display()
        )
    };
    let value = json::parse(bytes.trim_ascii()).with_context(not_a_key)?;
    let (object, keyid) = match &value {
        Value::Object(map) if map.contains_key("public") => (
            map.get("public").cloned().unwrap_or(Value::Null),
            map.get("keyid").cloned(),
        ),
        _ => (value.clone(), None),
    };
    let entry = PublicKeyEntry::from_object(&object).with_context(not_a_key)?;
    if let Some(named) = keyid
        && named != Value::String(entry.keyid.clone())
    {
        bail!(
            "{}: the public key does not match the key ID it names",
            path.display()
        );
    }
    Ok(entry)
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let read_all = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| key::read_public_key(p))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let plan = InitPlan {
        root: read_all(&args.root_keys)?,
        root_threshold: args.root_threshold,
        targets: read_all(&args.targets_keys)?,
        targets_threshold: args.targets_threshold,
        claimed: key::read_public_key(&args.claimed_key)?,
        unclaimed: key::read_public_key(&args.unclaimed_key)?,
        online: key::read_public_key(&args.online_key)?,
        bin_bits: args.bin_bits,
        expires: args.expiry.offline(),
        claimed_expires: args.expiry.claimed(),
    };
    let docs = steps::init(&plan).context("cannot draft the repository")?;
    write_drafts(&args.out, &docs)?;
    warn_low_threshold(args.root_threshold);
    Ok(())
}

fn warn_low_threshold(threshold: u64) {
    if threshold == 1 {
        eprintln!(
            "warning: a root threshold of 1 lets a single lost or stolen key decide; PEP 458 wants more than 1"
        );
    }
}

fn sign(args: &SignArgs) -> anyhow::Result<()> {
    // A key on a token: its URI is checked first (it must not carry a PIN).
    let uri = match args.key.to_str() {
        Some(text) if crate::hsm::is_uri(&args.key) => Some(crate::hsm::parse(text)?),
        _ => None,
    };
    let doc = read_document(&args.doc, args.role.as_deref())?;
    let authority = LoadedAuthority::load(&args.authority)?;
    if args.out.exists() {
        bail!("{} already exists", args.out.display());
    }
    print!("{}", doc.describe());
    let key: Box<dyn Signer> = match &uri {
        Some(uri) => Box::new(crate::hsm::open(uri, args.pkcs11_module.as_deref())?),
        None => Box::new(key::open(&args.key)?),
    };
    let signature = steps::sign(&doc, key.as_ref(), authority.get())
        .map_err(hint)
        .with_context(|| {
            format!(
                "cannot sign {} with {}",
                args.doc.display(),
                args.key.display()
            )
        })?;
    write_new(&args.out, &signature.to_bytes())?;
    println!(
        "signed by key {} into {}",
        signature.keyid,
        args.out.display()
    );
    Ok(())
}

fn combine(args: &CombineArgs) -> anyhow::Result<()> {
    let mut doc = read_document(&args.doc, args.role.as_deref())?;
    let out_name = args.out.file_name().and_then(|n| n.to_str());
    if out_name != Some(doc.file_name().as_str()) {
        bail!(
            "name the signed document {} (--out DIR/{0}): install reads its role and version from the name",
            doc.file_name()
        );
    }
    let authority = LoadedAuthority::load(&args.authority)?;
    steps::check_signatures(&doc, authority.get())
        .map_err(hint)
        .with_context(|| {
            format!(
                "{} already carries a signature that does not count",
                args.doc.display()
            )
        })?;
    for path in &args.signatures {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let signature = SignatureFile::parse(&bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        steps::add_signature(&mut doc, &signature, authority.get())
            .map_err(hint)
            .with_context(|| format!("refusing the signature in {}", path.display()))?;
    }
    steps::check_threshold(&doc, authority.get(), crate::now())
        .map_err(hint)
        .with_context(|| format!("refusing to write {}", args.out.display()))?;
    write_new(&args.out, &doc.to_bytes())?;
    print!("{}", doc.describe());
    println!("wrote {}", args.out.display());
    Ok(())
}

fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let docs = args
        .signed
        .iter()
        .map(|p| read_document(p, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let data = open_data(&args.data_dir)?;
    let now = crate::now();
    let current = Current::load(data.blobs.as_ref(), now)
        .context("cannot verify the repository's installed metadata")?;
    let plan = steps::plan_install(current.as_ref(), &docs, now).context("refusing to install")?;
    steps::check_against_claims(current.as_ref(), &docs, data.store.as_ref())
        .context("refusing to install")?;
    for (key, _) in &plan.writes {
        if bulwark_store::BlobStore::len(data.blobs.as_ref(), key)?.is_some() {
            bail!(
                "refusing to install: {key} already exists in {}",
                data.dir.display()
            );
        }
    }
    for (key, bytes) in &plan.writes {
        bulwark_store::BlobStore::put(data.blobs.as_ref(), key, bytes)
            .with_context(|| format!("cannot store {key}"))?;
        println!("installed {key}");
    }
    if plan.creates {
        println!(
            "created the repository in {}; start bulwark serve with online_key (or BULWARK_ONLINE_KEY) set to the key file of {} (or its pkcs11: URI)",
            data.dir.display(),
            plan.online_keyid
        );
    } else if plan.online_key_changed {
        println!(
            "the online key is now {}: restart bulwark serve with online_key (or BULWARK_ONLINE_KEY) set to its key file (or its pkcs11: URI)",
            plan.online_keyid
        );
    } else {
        println!(
            "a running bulwark serve publishes the new metadata within a few seconds (it polls for installs)"
        );
    }
    Ok(())
}

/// Names the flag that supplies a missing authority.
fn hint(error: CeremonyError) -> anyhow::Error {
    match error {
        CeremonyError::NeedsAuthority { role, .. } => {
            let flag = match role {
                OfflineRole::Root | OfflineRole::Targets => "--root",
                OfflineRole::ClaimBin(_) => "--delegator CLAIMED",
                _ => "--delegator",
            };
            anyhow::anyhow!("{error} (pass {flag})")
        }
        other => other.into(),
    }
}

/// The stores of the index whose data directory is `dir`; shared stores
/// come from `BULWARK_STATE` and `BULWARK_BLOBS` (or the file
/// `BULWARK_CONFIG` names), as for `bulwark serve`.
fn open_data(dir: &Path) -> anyhow::Result<Data> {
    let flags = crate::config::StoreFlags {
        data_dir: Some(dir.to_owned()),
        ..crate::config::StoreFlags::default()
    };
    Data::open(&crate::config::Settings::load(flags, None)?)
}

/// The installed, verified offline metadata of the repository in `dir`.
fn current(dir: &Path) -> anyhow::Result<Current> {
    Ok(open_repository(dir)?.1)
}

/// The data directory `dir`, which must exist (its state store is opened
/// beside a running server's: SQLite's WAL lets both read), and its
/// installed, verified offline metadata.
fn open_repository(dir: &Path) -> anyhow::Result<(Data, Current)> {
    if !dir.is_dir() {
        bail!("{} does not exist", dir.display());
    }
    let data = open_data(dir)?;
    let current = Current::load(data.blobs.as_ref(), crate::now())
        .context("cannot verify the repository's installed metadata")?
        .with_context(|| {
            format!(
                "{} holds no repository yet: use ceremony init and install",
                dir.display()
            )
        })?;
    Ok((data, current))
}

fn offline_role(name: &str) -> anyhow::Result<OfflineRole> {
    OfflineRole::from_name(name).with_context(|| {
        format!("{name:?} is not an offline role (root, targets, claimed, claimed-<hh>, unclaimed)")
    })
}

/// Reads a document, taking its role from `role` or from its file name
/// (`<version>.<role>.json`), whose version must then match.
fn read_document(path: &Path, role: Option<&str>) -> anyhow::Result<Document> {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_file_name);
    let role = match (role, named) {
        (Some(role), _) => offline_role(role)?,
        (None, Some((_, role))) => role,
        (None, None) => bail!(
            "cannot tell which role {} is for: name it <version>.<role>.json or pass --role",
            path.display()
        ),
    };
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc =
        Document::parse(role, &bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if let Some((version, named_role)) = named
        && named_role == role
        && version != doc.version()
    {
        bail!(
            "{} holds {role} version {}, not the version its name says",
            path.display(),
            doc.version()
        );
    }
    Ok(doc)
}

/// The authority given on the command line, read.
enum LoadedAuthority {
    None,
    Root(Envelope<Root>),
    Delegator(Envelope<Targets>),
}

impl LoadedAuthority {
    fn load(args: &AuthorityArgs) -> anyhow::Result<Self> {
        if let Some(path) = &args.root {
            let root = Envelope::parse(&crate::trusted_root::read(path)?)
                .with_context(|| format!("{} is not root metadata", path.display()))?;
            return Ok(Self::Root(root));
        }
        if let Some(path) = &args.delegator {
            let bytes =
                fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let targets = Envelope::parse(&bytes)
                .with_context(|| format!("{} is not targets metadata", path.display()))?;
            return Ok(Self::Delegator(targets));
        }
        Ok(Self::None)
    }

    fn get(&self) -> Authority<'_> {
        match self {
            Self::None => Authority::None,
            Self::Root(root) => Authority::Root(root),
            Self::Delegator(targets) => Authority::Delegator(targets),
        }
    }
}

/// Writes drafts into `dir` as `<version>.<role>.json`, refusing to
/// overwrite anything, and prints what each says.
fn write_drafts(dir: &Path, docs: &[Document]) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(existing) = docs
        .iter()
        .map(|d| dir.join(d.file_name()))
        .find(|p| p.exists())
    {
        bail!("{} already exists", existing.display());
    }
    for doc in docs {
        let path = dir.join(doc.file_name());
        write_new(&path, &doc.to_bytes())?;
        println!("{}", path.display());
        print!("{}", doc.describe());
    }
    Ok(())
}

/// Writes a new public file (metadata, signature), never overwriting one.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(bulwark_fs::create_new(path, bytes, 0o644)?)
}
