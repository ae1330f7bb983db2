//! What `bulwark claim`, `bulwark upload --key` and `bulwark yank --key`
//! share (DESIGN.md §3, §4): the project as TUF shows it from the trusted
//! root, the developers' keys, one signed transaction sent to the index,
//! and the wait until TUF shows what the index accepted.
//!
//! ```text
//! --root ─▶ Tuf (a temporary metadata dir) ─▶ Updater::find_target("simple/<name>/index.json")
//!        ─▶ Listed::Absent | Unclaimed(page) | Claimed { page, role, delegation, tier }
//! previous page ─▶ bulwark_repo::transaction::{next_page, yank_page, unyank_page}
//!               ─▶ render_json ─▶ sign_next (sign_project_role, next_role_version)
//! role + page (+ delegation) (+ files) ─POST <index>/api/projects/<name>/transaction─▶ Accepted
//!        ─▶ Tuf again until project-<name> is at the accepted version ─▶ "published …"
//! ```
//!
//! The page and role are always verified through `bulwark_client`'s
//! `Updater` (the one TUF workflow) and its verified download; nothing here
//! trusts an answer of the index that TUF did not verify. Its metadata
//! lives in a temporary directory for the length of one command, so each
//! command starts from the trusted root given with `--root`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_client::{Fetcher, Limits, MetadataDir, UpdateError, Updater};
use bulwark_layout::{CLAIMED, RECENTLY_CLAIMED, nested_role_prefix, page_target, project_role};
use bulwark_pypi::{ProjectName, ProjectPage};
use bulwark_repo::roles::PublicKeyEntry;
use bulwark_repo::transaction::{next_role_version, sign_project_role};
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::metadata::{Key, Targets};
use bulwark_tuf::names::RoleName;

use crate::key;
use reqwest::multipart::{Form, Part};

/// Where the index is and whose token speaks to it.
#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// The index's base URL, e.g. `http://127.0.0.1:8080/`.
    #[arg(
        long,
        env = "BULWARK_INDEX_URL",
        default_value = "http://127.0.0.1:8080/"
    )]
    pub index: String,
    /// An owner's API token (or `BULWARK_TOKEN`).
    #[arg(long, env = "BULWARK_TOKEN", hide_env_values = true)]
    pub token: String,
}

impl IndexArgs {
    /// The base URL without its trailing slash.
    pub fn base(&self) -> anyhow::Result<&str> {
        index_base(&self.index)
    }
}

fn index_base(index: &str) -> anyhow::Result<&str> {
    if !(index.starts_with("http://") || index.starts_with("https://")) {
        bail!("--index {index:?} is not an http:// or https:// URL");
    }
    Ok(index.trim_end_matches('/'))
}

/// When a signed project role expires.
#[derive(Debug, clap::Args)]
pub struct ExpiryArgs {
    /// Days until the signed project role expires.
    #[arg(
        long = "expires",
        value_name = "DAYS",
        default_value_t = 365,
        value_parser = clap::value_parser!(u32).range(1..=3650)
    )]
    pub expires_days: u32,
}

impl ExpiryArgs {
    /// When a role signed now expires.
    pub fn at(&self) -> bulwark_tuf::time::Timestamp {
        crate::now().plus_seconds(i64::from(self.expires_days) * 86_400)
    }
}

/// Who may sign for the project, when claiming it or changing its keys.
#[derive(Debug, clap::Args)]
pub struct DelegationArgs {
    /// Another developer's public key that may sign for the project: their
    /// key file, or the line `bulwark key generate` or `bulwark key show`
    /// printed, saved to a file; repeat for several. For a claimed
    /// project, this (or --threshold) asks the index to change its keys
    /// to the --key and --public-key keys.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// How many of the project's keys must sign each version of its role
    /// (default 1).
    #[arg(long)]
    pub threshold: Option<u64>,
}

impl DelegationArgs {
    /// Whether the command line asks for keys or a threshold.
    pub fn given(&self) -> bool {
        !self.public_keys.is_empty() || self.threshold.is_some()
    }

    /// The public keys of `--public-key`.
    pub fn read(&self) -> anyhow::Result<Vec<PublicKeyEntry>> {
        self.public_keys
            .iter()
            .map(|p| key::read_public_key(p))
            .collect()
    }
}

/// Whether and how long to wait for TUF to show an accepted transaction.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Do not wait for TUF to show what the index accepted.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for TUF to show it, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        conflicts_with = "no_wait"
    )]
    pub wait_secs: u64,
}

/// The developer keys given with `--key`: their public parts are read at
/// once (no passphrase); the keys are opened only to sign.
#[derive(Debug)]
pub struct Signers {
    files: Vec<(PathBuf, PublicKeyEntry)>,
}

impl Signers {
    /// Reads the public parts of the key files; one key twice is refused.
    pub fn read(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut files: Vec<(PathBuf, PublicKeyEntry)> = Vec::new();
        for path in paths {
            let entry = key::read_public(path)?;
            if let Some((first, _)) = files.iter().find(|(_, e)| e.keyid == entry.keyid) {
                bail!(
                    "{} and {} hold the same key {}",
                    first.display(),
                    path.display(),
                    entry.keyid
                );
            }
            files.push((path.clone(), entry));
        }
        Ok(Self { files })
    }

    /// The public keys.
    pub fn entries(&self) -> Vec<PublicKeyEntry> {
        self.files.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Opens every key (each passphrase: `BULWARK_KEY_PASSPHRASE` or a prompt).
    pub fn open(&self) -> anyhow::Result<Vec<SigningKey>> {
        self.files.iter().map(|(path, _)| key::open(path)).collect()
    }

    /// Refuses unless these keys alone meet `delegation`'s threshold: every
    /// one of them must be a key of the role, as the index counts only
    /// those.
    pub fn check(&self, delegation: &Delegation, role: &RoleName) -> anyhow::Result<()> {
        if let Some((path, entry)) = self
            .files
            .iter()
            .find(|(_, e)| !delegation.keys.contains_key(&e.keyid))
        {
            bail!(
                "the key {} in {} is not one of {role}'s keys",
                entry.keyid,
                path.display()
            );
        }
        let signing = self.files.len() as u64;
        if signing < delegation.threshold {
            bail!(
                "{role} needs signatures from {} of its keys, and {signing} --key {} given",
                delegation.threshold,
                if signing == 1 { "was" } else { "were" }
            );
        }
        Ok(())
    }

    /// Refuses a key change unless these keys meet both the `current`
    /// delegation's threshold (which authorises the change: the index checks
    /// it) and the `requested` one's (which clients will check), every one of
    /// them being a key of one or the other.
    pub fn check_change(
        &self,
        current: &Delegation,
        requested: &Delegation,
        role: &RoleName,
    ) -> anyhow::Result<()> {
        if let Some((path, entry)) = self.files.iter().find(|(_, e)| {
            !current.keys.contains_key(&e.keyid) && !requested.keys.contains_key(&e.keyid)
        }) {
            bail!(
                "the key {} in {} is neither one of {role}'s keys nor a requested one",
                entry.keyid,
                path.display()
            );
        }
        for (delegation, which) in [(current, "current"), (requested, "new")] {
            let signing = self
                .files
                .iter()
                .filter(|(_, e)| delegation.keys.contains_key(&e.keyid))
                .count() as u64;
            if signing < delegation.threshold {
                bail!(
                    "changing {role}'s keys needs signatures from {} of its {which} keys, and {signing} --key of them {}",
                    delegation.threshold,
                    if signing == 1 {
                        "was given"
                    } else {
                        "were given"
                    }
                );
            }
        }
        Ok(())
    }
}

/// The keys a project role is delegated to, and how many must sign.
#[derive(Clone, Debug)]
pub struct Delegation {
    /// Key ID → key.
    pub keys: BTreeMap<String, Key>,
    /// How many distinct keys must sign.
    pub threshold: u64,
}

impl Delegation {
    /// The delegation asked for on the command line: the signing keys and
    /// the `--public-key`s, with `threshold` (default 1), which must be
    /// reachable both by all the keys and by the signing keys alone.
    pub fn requested(
        signers: &[PublicKeyEntry],
        others: &[PublicKeyEntry],
        threshold: Option<u64>,
    ) -> anyhow::Result<Self> {
        if signers.is_empty() {
            bail!("--key is required: at least one developer key must sign");
        }
        let keys: BTreeMap<String, Key> = signers
            .iter()
            .chain(others)
            .map(|e| (e.keyid.clone(), e.key.clone()))
            .collect();
        let threshold = threshold.unwrap_or(1);
        if threshold == 0 {
            bail!("--threshold must be at least 1");
        }
        let total = keys.len() as u64;
        if threshold > total {
            bail!(
                "--threshold {threshold} is more than the {total} {} given (--key and --public-key)",
                if total == 1 { "key" } else { "keys" }
            );
        }
        let signing = signers
            .iter()
            .map(|e| e.keyid.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        if signing < threshold {
            bail!(
                "--threshold {threshold} needs {threshold} signing keys, and {signing} --key {} given",
                if signing == 1 { "was" } else { "were" }
            );
        }
        Ok(Self { keys, threshold })
    }

    /// The delegation to `role` in the trusted `delegator`: its keys (those
    /// the delegation names) and threshold.
    fn trusted(delegator: &Targets, role: &RoleName) -> Option<Self> {
        let delegations = delegator.delegations.as_ref()?;
        let role_keys = delegations.role_keys(role)?;
        let keys = role_keys
            .keyids
            .iter()
            .filter_map(|id| Some((id.clone(), delegations.keys.get(id)?.clone())))
            .collect();
        Some(Self {
            keys,
            threshold: role_keys.threshold,
        })
    }

    /// Whether `other` names the same keys and threshold.
    pub fn same_as(&self, other: &Self) -> bool {
        self.threshold == other.threshold && self.keys.keys().eq(other.keys.keys())
    }

    /// The `delegation` part of a transaction:
    /// `{"keys":{"<keyid>":<key>,…},"threshold":N}`.
    fn to_json(&self) -> Vec<u8> {
        let keys = self
            .keys
            .iter()
            .map(|(id, key)| (id.clone(), key.to_value()))
            .collect();
        let threshold = i64::try_from(self.threshold).unwrap_or(i64::MAX);
        json::to_vec(&Value::Object(BTreeMap::from([
            ("keys".to_owned(), Value::Object(keys)),
            ("threshold".to_owned(), Value::Int(threshold)),
        ])))
    }
}

/// A project's page as TUF verified it.
#[derive(Clone, Debug)]
pub struct Page {
    /// The signed bytes.
    pub bytes: Vec<u8>,
    /// The page, parsed.
    pub page: ProjectPage,
}

/// A developer-claimed project as TUF shows it.
#[derive(Clone, Debug)]
pub struct Claim {
    /// `project-<name>`.
    pub role: RoleName,
    /// The verified role.
    pub metadata: Targets,
    /// Its delegation, as the role that delegates to it lists it.
    pub delegation: Delegation,
    /// `claimed` or `recently-claimed` (or the delegator's name, if
    /// neither).
    pub tier: String,
    /// The page the role (or its nested role) lists.
    pub page: Page,
    /// The nested role that lists the page, when the project role leaves
    /// it to one.
    pub nested: Option<Nested>,
}

impl Claim {
    /// The role that signs the page, and its delegation: the nested role
    /// listing it, if any, else the project role.
    pub fn page_signers(&self) -> (&Delegation, &RoleName) {
        match &self.nested {
            Some(nested) => (&nested.delegation, &nested.role),
            None => (&self.delegation, &self.role),
        }
    }
}

/// A nested role `project-<name>.<label>` that lists a project's page.
#[derive(Clone, Debug)]
pub struct Nested {
    /// `project-<name>.<label>`.
    pub role: RoleName,
    /// The verified role.
    pub metadata: Targets,
    /// Its delegation, as the project role lists it.
    pub delegation: Delegation,
}

/// Which role lists a project's page.
#[derive(Clone, Debug)]
pub enum Listed {
    /// None: the project does not exist (or has never been published).
    Absent,
    /// An online bin: the index signs for the project.
    Unclaimed(Page),
    /// The developers' own role.
    Claimed(Box<Claim>),
}

/// A TUF client of the index from its trusted root, keeping its metadata
/// in a temporary directory removed when it is dropped.
#[derive(Debug)]
pub struct Tuf {
    dir: tempfile::TempDir,
    metadata_url: String,
    targets_url: String,
    fetch: bulwark_client::FetchConfig,
}

impl Tuf {
    /// A client of the index at `base` that trusts the root in `root`,
    /// reading with `token` (an index with `read_access = "token"` needs
    /// it for metadata too).
    pub fn open(base: &str, root: &Path, token: &str) -> anyhow::Result<Self> {
        let mut fetch = crate::tuf_client::fetch_config()?;
        fetch.upstream_token = Some(bulwark_client::UpstreamToken::new(base, token)?);
        let bytes = crate::trusted_root::read(root)?;
        bulwark_tuf::TrustedSet::new(&bytes, crate::now())
            .with_context(|| format!("the trusted root {} is not valid", root.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("bulwark-tuf-")
            .tempdir()
            .context("cannot create a temporary directory for TUF metadata")?;
        let store = MetadataDir::open(dir.path().join("metadata"))?;
        store.write(&RoleName::new(RoleName::ROOT), &bytes)?;
        Ok(Self {
            dir,
            metadata_url: format!("{base}/{}", bulwark_layout::METADATA_PREFIX),
            targets_url: format!("{base}/{}", bulwark_layout::TARGETS_PREFIX),
            fetch,
        })
    }

    /// A fresh updater over the stored metadata (an updater refreshes once).
    fn updater(&self) -> anyhow::Result<Updater> {
        let store = MetadataDir::open(self.dir.path().join("metadata"))?;
        let fetcher = Fetcher::new(self.fetch.clone())?;
        Ok(Updater::new(
            store,
            &self.metadata_url,
            fetcher,
            Limits::default(),
            crate::now(),
        )?)
    }

    /// The project's page and the role that lists it, as TUF shows them now.
    pub async fn project(&self, project: &ProjectName) -> anyhow::Result<Listed> {
        let name = project.normalized();
        let target = page_target(name);
        let role = project_role(name);
        let mut updater = self.updater()?;
        let found = match updater.find_target(&target).await {
            Ok(found) => found,
            Err(UpdateError::TargetNotFound { .. }) => {
                // The search visits the project's role when it is delegated.
                if updater.trusted().targets(&role).is_some() {
                    bail!("TUF delegates {name} to {role}, but {role} lists no page");
                }
                return Ok(Listed::Absent);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot verify {name} through TUF"));
            }
        };
        let dest = self.dir.path().join("index.json");
        updater
            .download_target(&target, &found.target, &self.targets_url, &dest)
            .await
            .with_context(|| format!("cannot download the page of {name}"))?;
        let bytes = std::fs::read(&dest)
            .with_context(|| format!("cannot read the verified page of {name}"))?;
        let parsed = ProjectPage::parse_json(&bytes)
            .with_context(|| format!("the verified page of {name} cannot be read"))?;
        if parsed.name != *project {
            bail!(
                "the verified page {target} is project {}'s",
                parsed.name.normalized()
            );
        }
        let page = Page {
            bytes,
            page: parsed,
        };
        let is_nested = found.role.as_str().starts_with(&nested_role_prefix(name));
        if found.role != role && !is_nested {
            return Ok(Listed::Unclaimed(page));
        }
        let trusted = updater.trusted();
        let verified = |role: &RoleName| {
            trusted
                .targets(role)
                .map(|verified| (**verified).clone())
                .with_context(|| format!("{role} is not in the trusted metadata"))
        };
        let metadata = verified(&role)?;
        let nested = if is_nested {
            // One level: the project role delegates to the nested role.
            let delegation = Delegation::trusted(&metadata, &found.role)
                .filter(|_| found.delegator == role)
                .with_context(|| format!("{role} does not delegate to {}", found.role))?;
            Some(Nested {
                metadata: verified(&found.role)?,
                role: found.role.clone(),
                delegation,
            })
        } else {
            None
        };
        let delegator = if is_nested {
            trusted
                .targets_roles()
                .find(|r| {
                    trusted
                        .targets(r)
                        .is_some_and(|t| Delegation::trusted(t, &role).is_some())
                })
                .cloned()
                .with_context(|| format!("no trusted role delegates to {role}"))?
        } else {
            found.delegator.clone()
        };
        let delegation = trusted
            .targets(&delegator)
            .and_then(|delegator| Delegation::trusted(delegator, &role))
            .with_context(|| format!("{delegator} does not delegate to {role}"))?;
        Ok(Listed::Claimed(Box::new(Claim {
            role,
            metadata,
            delegation,
            tier: tier_of(&delegator),
            page,
            nested,
        })))
    }

    /// Polls TUF until `project-<name>` is at `version` or later, for at
    /// most `timeout`; returns the tier that delegates to it.
    async fn wait_for(
        &self,
        project: &ProjectName,
        version: u64,
        nested: Option<&(String, u64)>,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let shown = |claim: &Claim| {
            claim.metadata.common.version >= version
                && nested.is_none_or(|(name, version)| {
                    claim.nested.as_ref().is_some_and(|n| {
                        n.role.as_str() == name && n.metadata.common.version >= *version
                    })
                })
        };
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let polled = tokio::time::timeout(left, self.project(project))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in time")));
            let seen = match polled {
                Ok(Listed::Claimed(claim)) if shown(&claim) => {
                    return Ok(claim.tier);
                }
                Ok(Listed::Claimed(claim)) => {
                    format!("{} version {}", claim.role, claim.metadata.common.version)
                }
                Ok(Listed::Unclaimed(_)) => "the project unclaimed".to_owned(),
                Ok(Listed::Absent) => "no page".to_owned(),
                Err(e) => crate::chain(&e),
            };
            if Instant::now() >= end {
                bail!(
                    "the index accepted {} version {version}, but TUF did not show it within {} s (last seen: {seen})",
                    project_role(project.normalized()),
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The claim tier a delegator's name says: `claimed` and `claimed-<hex>`
/// are `claimed`, and likewise for `recently-claimed`.
fn tier_of(delegator: &RoleName) -> String {
    let name = delegator.as_str();
    [RECENTLY_CLAIMED, CLAIMED]
        .into_iter()
        .find(|tier| {
            name.strip_prefix(tier)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .unwrap_or(name)
        .to_owned()
}

/// The next version of a project role, listing `page` and keeping the
/// nested delegations of `previous`, signed by `keys`: the version and
/// the metadata bytes.
pub fn sign_next(
    project: &ProjectName,
    previous: Option<&Targets>,
    page: &[u8],
    keys: &[SigningKey],
    expiry: &ExpiryArgs,
) -> anyhow::Result<(u64, Vec<u8>)> {
    let version = next_role_version(previous);
    let keys: Vec<&SigningKey> = keys.iter().collect();
    let delegations = previous.and_then(|role| role.delegations.clone());
    let role = sign_project_role(project, version, expiry.at(), page, &keys, delegations)
        .with_context(|| format!("cannot sign {}", project_role(project.normalized())))?;
    Ok((version, role))
}

/// The next version of the nested role `nested`, listing `page`, signed by
/// `keys` (a nested role listing the page has a project role's body, with
/// no delegations): the version and the metadata bytes.
pub fn sign_nested_next(
    project: &ProjectName,
    nested: &Nested,
    page: &[u8],
    keys: &[SigningKey],
    expiry: &ExpiryArgs,
) -> anyhow::Result<(u64, Vec<u8>)> {
    let version = next_role_version(Some(&nested.metadata));
    let keys: Vec<&SigningKey> = keys.iter().collect();
    let role = sign_project_role(project, version, expiry.at(), page, &keys, None)
        .with_context(|| format!("cannot sign {}", nested.role))?;
    Ok((version, role))
}

/// What a new page signs: the next version of the nested role that lists
/// the page, if a nested role does (a CI key signs it, and only it), else
/// of the project role. The project role's version after it, the project
/// role's bytes if signed, and the nested role's name, version and bytes
/// if signed.
pub type Signed = (u64, Option<Vec<u8>>, Option<(String, u64, Vec<u8>)>);

pub fn sign_page(
    project: &ProjectName,
    previous: Option<&Claim>,
    page: &[u8],
    keys: &[SigningKey],
    expiry: &ExpiryArgs,
) -> anyhow::Result<Signed> {
    if let Some(claim) = previous
        && let Some(nested) = &claim.nested
    {
        let (version, bytes) = sign_nested_next(project, nested, page, keys, expiry)?;
        let sent = (nested.role.as_str().to_owned(), version, bytes);
        return Ok((claim.metadata.common.version, None, Some(sent)));
    }
    let (version, role) = sign_next(project, previous.map(|c| &c.metadata), page, keys, expiry)?;
    Ok((version, Some(role), None))
}

/// One developer-signed transaction, as the index's API takes it.
#[derive(Debug)]
pub struct Transaction {
    /// The project.
    pub project: ProjectName,
    /// The version of the project role after it: the one signed, or the
    /// trusted one when `role` is `None`.
    pub version: u64,
    /// The signed `project-<name>` metadata; `None` keeps the trusted one.
    pub role: Option<Vec<u8>>,
    /// The signed nested role, if any: its name, version and metadata.
    pub nested: Option<(String, u64, Vec<u8>)>,
    /// The page it lists.
    pub page: Vec<u8>,
    /// The keys and threshold to delegate to, when claiming or changing them.
    pub delegation: Option<Delegation>,
    /// The distributions: filename and bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The index's answer to an accepted transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// `project-<name>`.
    pub role: String,
    /// The role's version now.
    pub version: u64,
    /// `recently-claimed` or `claimed`.
    pub tier: String,
    /// How many files the transaction added.
    pub files: u64,
    /// The nested role sent, and its version.
    pub nested: Option<(String, u64)>,
}

/// Sends `transaction` to the index; refuses an answer about another role
/// or version than the one signed.
pub async fn send(index: &IndexArgs, transaction: Transaction) -> anyhow::Result<Accepted> {
    let name = transaction.project.normalized().to_owned();
    let url = format!("{}/api/projects/{name}/transaction", index.base()?);
    let mut form = Form::new().part("page", file_part("index.json", transaction.page));
    if let Some(role) = transaction.role {
        form = form.part("role", file_part("role.json", role));
    }
    let nested = match transaction.nested {
        Some((name, version, bytes)) => {
            form = form.part("nested", file_part(&name, bytes));
            Some((name, version))
        }
        None => None,
    };
    if let Some(delegation) = &transaction.delegation {
        form = form.text(
            "delegation",
            String::from_utf8_lossy(&delegation.to_json()).into_owned(),
        );
    }
    for (filename, bytes) in transaction.files {
        form = form.part("content", file_part(&filename, bytes));
    }
    let body = post(
        &url,
        &index.token,
        form,
        &format!("the transaction for {name}"),
    )
    .await?;
    let mut accepted = parse_accepted(&body).with_context(|| {
        format!("the index accepted the transaction for {name}, but its answer cannot be read")
    })?;
    let role = project_role(&name);
    if accepted.role != role.as_str() || accepted.version != transaction.version {
        bail!(
            "the index says it accepted {} version {}, but {role} version {} was sent",
            accepted.role,
            accepted.version,
            transaction.version
        );
    }
    accepted.nested = nested;
    Ok(accepted)
}

/// A file part of a form: `bytes` named `filename`.
pub fn file_part(filename: &str, bytes: Vec<u8>) -> Part {
    Part::bytes(bytes).file_name(filename.to_owned())
}

/// Posts `form` to `url` with the token; the answer's body, or the error
/// `the index refused <what>: <status> <reason>`.
pub async fn post(url: &str, token: &str, form: Form, what: &str) -> anyhow::Result<String> {
    let base = url.split("/api/").next().unwrap_or(url);
    bulwark_client::fetch::install_crypto_provider();
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth("__token__", Some(token))
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the index refused {what}: {}", refusal(status, &text));
    }
    Ok(text)
}

/// `<status> <reason>` on one line: the first line of the body (the
/// index's reason), else the status's standard phrase.
pub fn refusal(status: reqwest::StatusCode, body: &str) -> String {
    let reason: String = match body.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => line
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(300)
            .collect(),
        None => status.canonical_reason().unwrap_or_default().to_owned(),
    };
    format!("{} {reason}", status.as_u16())
        .trim_end()
        .to_owned()
}

fn parse_accepted(body: &str) -> anyhow::Result<Accepted> {
    let value = json::parse(body.trim().as_bytes())?;
    let Value::Object(object) = value else {
        bail!("not a JSON object");
    };
    let string = |field: &str| match object.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(anyhow::anyhow!("no string {field:?}")),
    };
    let number = |field: &str| match object.get(field) {
        Some(Value::Int(n)) => u64::try_from(*n).map_err(|_| anyhow::anyhow!("negative {field:?}")),
        _ => Err(anyhow::anyhow!("no number {field:?}")),
    };
    Ok(Accepted {
        role: string("role")?,
        version: number("version")?,
        tier: string("tier")?,
        files: number("files")?,
        nested: None,
    })
}

/// After the index accepted a transaction: unless `--no-wait`, waits until
/// TUF shows the role at the accepted version; prints one line.
pub async fn finish(
    tuf: &Tuf,
    wait: &WaitArgs,
    project: &ProjectName,
    accepted: &Accepted,
) -> anyhow::Result<()> {
    let (role, version) = match &accepted.nested {
        Some((name, version)) => (name.as_str(), *version),
        None => (accepted.role.as_str(), accepted.version),
    };
    if wait.no_wait {
        println!(
            "accepted {role} version {version} ({}); not waiting for TUF to show it",
            accepted.tier
        );
        return Ok(());
    }
    let tier = tuf
        .wait_for(
            project,
            accepted.version,
            accepted.nested.as_ref(),
            Duration::from_secs(wait.wait_secs),
        )
        .await?;
    println!("published {role} version {version} ({tier})");
    Ok(())
}

/// A project name given on the command line.
pub fn parse_project(name: &str) -> anyhow::Result<ProjectName> {
    ProjectName::parse(name).with_context(|| format!("{name:?} is not a valid project name"))
}

/// The trusted root, which signing needs.
pub fn required_root(root: Option<&Path>) -> anyhow::Result<&Path> {
    root.context("--root is required with --key: the index's trusted root.json, which the project's page and role are verified against")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> PublicKeyEntry {
        let key = SigningKey::generate(bulwark_tuf::keys::Algorithm::Ed25519).unwrap();
        PublicKeyEntry::from_object(&key.public_key_object()).unwrap()
    }

    fn error(result: anyhow::Result<Delegation>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn requested_delegation_defaults_to_threshold_one_of_every_key() {
        let (a, b) = (entry(), entry());
        let d =
            Delegation::requested(std::slice::from_ref(&a), &[b.clone(), a.clone()], None).unwrap();
        assert_eq!(d.threshold, 1);
        assert_eq!(
            d.keys.keys().collect::<Vec<_>>(),
            [&a.keyid, &b.keyid]
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        let json = String::from_utf8(d.to_json()).unwrap();
        assert!(json.starts_with("{\"keys\":{\""), "{json}");
        assert!(json.ends_with(",\"threshold\":1}"), "{json}");
        assert!(json.contains(&a.keyid) && json.contains("\"keytype\":\"ed25519\""));
    }

    #[test]
    fn requested_threshold_must_be_reachable() {
        let (a, b, c) = (entry(), entry(), entry());
        assert_eq!(
            error(Delegation::requested(
                std::slice::from_ref(&a),
                &[],
                Some(0)
            )),
            "--threshold must be at least 1"
        );
        assert_eq!(
            error(Delegation::requested(
                std::slice::from_ref(&a),
                std::slice::from_ref(&b),
                Some(3)
            )),
            "--threshold 3 is more than the 2 keys given (--key and --public-key)"
        );
        assert_eq!(
            error(Delegation::requested(
                std::slice::from_ref(&a),
                &[b.clone(), c.clone()],
                Some(2)
            )),
            "--threshold 2 needs 2 signing keys, and 1 --key was given"
        );
        assert_eq!(
            error(Delegation::requested(&[], std::slice::from_ref(&b), None)),
            "--key is required: at least one developer key must sign"
        );
        let d = Delegation::requested(&[a, b], &[c], Some(2)).unwrap();
        assert_eq!((d.keys.len(), d.threshold), (3, 2));
    }

    #[test]
    fn signers_must_be_the_roles_keys_and_meet_its_threshold() {
        let (a, b) = (entry(), entry());
        let role = project_role("demo");
        let signers = |entries: &[&PublicKeyEntry]| Signers {
            files: entries
                .iter()
                .map(|e| {
                    (
                        PathBuf::from(format!("{}.key", &e.keyid[..4])),
                        (*e).clone(),
                    )
                })
                .collect(),
        };
        let both = Delegation::requested(&[a.clone(), b.clone()], &[], Some(2)).unwrap();
        signers(&[&a, &b]).check(&both, &role).unwrap();
        let err = signers(&[&a]).check(&both, &role).unwrap_err().to_string();
        assert_eq!(
            err,
            "project-demo needs signatures from 2 of its keys, and 1 --key was given"
        );
        let only_a = Delegation::requested(std::slice::from_ref(&a), &[], None).unwrap();
        let err = signers(&[&a, &b])
            .check(&only_a, &role)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("the key {} in ", b.keyid))
                && err.ends_with("is not one of project-demo's keys"),
            "{err}"
        );
        assert!(both.same_as(&both.clone()));
        assert!(!both.same_as(&only_a));
    }

    #[test]
    fn tiers_are_read_from_the_delegators_name() {
        let tier = |name: &str| tier_of(&RoleName::new(name));
        assert_eq!(tier("claimed"), "claimed");
        assert_eq!(tier("claimed-3f"), "claimed");
        assert_eq!(tier("recently-claimed"), "recently-claimed");
        assert_eq!(tier("recently-claimed-07"), "recently-claimed");
        assert_eq!(tier("claimedx"), "claimedx");
        assert_eq!(tier("targets"), "targets");
    }

    #[test]
    fn refusals_are_one_line_with_the_status() {
        let forbidden = reqwest::StatusCode::FORBIDDEN;
        assert_eq!(
            refusal(forbidden, "Project demo is claimed\nmore\n"),
            "403 Project demo is claimed"
        );
        assert_eq!(refusal(forbidden, "\n  \n"), "403 Forbidden");
        assert_eq!(refusal(forbidden, "a\tb"), "403 a?b");
        assert_eq!(refusal(forbidden, &"x".repeat(1000)).len(), 304);
    }

    #[test]
    fn accepted_answers_are_read() {
        let body = r#"{"files":1,"project":"demo","role":"project-demo","tier":"recently-claimed","version":2}"#;
        assert_eq!(
            parse_accepted(body).unwrap(),
            Accepted {
                role: "project-demo".to_owned(),
                version: 2,
                tier: "recently-claimed".to_owned(),
                files: 1,
                nested: None,
            }
        );
        assert!(parse_accepted("OK").is_err());
        assert!(
            parse_accepted(r#"{"role":"project-demo","version":-1,"tier":"x","files":0}"#).is_err()
        );
    }

    #[test]
    fn index_urls_must_be_http() {
        assert_eq!(index_base("http://x:1/").unwrap(), "http://x:1");
        assert_eq!(
            index_base("x:1").unwrap_err().to_string(),
            "--index \"x:1\" is not an http:// or https:// URL"
        );
    }
}
