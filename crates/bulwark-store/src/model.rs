//! The records the stores hold. Names are PEP 503-normalized project names;
//! times are microseconds since the Unix epoch.

/// An API token. Only a hash of the secret is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public identifier embedded in the token.
    pub id: String,
    /// The user it authenticates.
    pub user: String,
    /// Lowercase hex SHA-256 of the token's secret part.
    pub secret_sha256: String,
    /// Creation time.
    pub created_us: i64,
    /// What its owner wrote about it (one line; may be empty).
    pub description: String,
    /// What it may do.
    pub permission: TokenPermission,
    /// Which projects it may change.
    pub scope: TokenScope,
    /// When it stops working; `None`: never.
    pub expires_us: Option<i64>,
    /// When it was revoked; `None`: not revoked.
    pub revoked_us: Option<i64>,
    /// When it was last used, recorded at most once a minute
    /// ([`crate::StateStore::touch_token`]); `None`: never.
    pub last_used_us: Option<i64>,
}

impl TokenRecord {
    /// The token's state at `now_us`: revocation wins over expiry.
    #[must_use]
    pub fn state(&self, now_us: i64) -> TokenState {
        if self.revoked_us.is_some() {
            TokenState::Revoked
        } else if self.expires_us.is_some_and(|e| e <= now_us) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// Whether a token is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Usable.
    Active,
    /// Past its expiry time.
    Expired,
    /// Revoked by `bulwark token revoke`.
    Revoked,
}

impl TokenState {
    /// The state's name as `bulwark token list` shows it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// What a token may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenPermission {
    /// Read the index, and upload, yank and record transactions (within
    /// its [`TokenScope`]).
    #[default]
    Upload,
    /// Only read the index (an index with `read_access = "token"`).
    Read,
}

impl TokenPermission {
    /// The permission's name as stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Read => "read",
        }
    }

    /// The permission named by [`TokenPermission::as_str`].
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "upload" => Some(Self::Upload),
            "read" => Some(Self::Read),
            _ => None,
        }
    }
}

/// Which projects a token may change (project-scoped tokens, as the
/// Python Package Index has them).
/// Reads are index-wide whatever the scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TokenScope {
    /// Every project its user may change.
    #[default]
    All,
    /// Only these projects (normalized names, sorted, no duplicates, at
    /// least one), and only if its user may change them.
    Projects(Vec<String>),
}

impl TokenScope {
    /// Whether the scope includes the project with this normalized name.
    #[must_use]
    pub fn allows(&self, project: &str) -> bool {
        match self {
            Self::All => true,
            Self::Projects(names) => names.iter().any(|n| n == project),
        }
    }

    /// The scope as a database column holds it: `None` for every project,
    /// else the names separated by single spaces (a normalized name has
    /// none).
    #[must_use]
    pub fn to_column(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Projects(names) => Some(names.join(" ")),
        }
    }

    /// The scope a column written by [`TokenScope::to_column`] holds.
    #[must_use]
    pub fn from_column(column: Option<&str>) -> Self {
        match column {
            None => Self::All,
            Some(names) => Self::Projects(names.split(' ').map(str::to_owned).collect()),
        }
    }
}

/// What [`crate::StateStore::revoke_token`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeToken {
    /// The token is revoked from now on.
    Revoked,
    /// The token had been revoked before, at this time; nothing changed.
    AlreadyRevoked {
        /// When it was revoked.
        revoked_us: i64,
    },
    /// No token has this id.
    NotFound,
}

/// A project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Normalized name.
    pub name: String,
    /// The name as first uploaded.
    pub display_name: String,
    /// The user who created it (its first uploader). Who may change it is
    /// the project's owners ([`OwnerRecord`]), of which the creator is
    /// only the first.
    pub created_by: String,
    /// Creation time.
    pub created_us: i64,
}

/// One owner of a project: a user who may upload to it, yank it, claim
/// it and change its owners. A project always has at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRecord {
    /// Normalized project name.
    pub project: String,
    /// The owner.
    pub user: String,
    /// When they became an owner.
    pub added_us: i64,
    /// Who made them one: the creator for the first owner, otherwise an
    /// [`Actor`] as [`Actor::audit_name`] writes it.
    pub added_by: String,
}

/// Who asks for an ownership change or a removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An operator with access to the stores (a `bulwark` command run
    /// beside the data): allowed everything, named by their OS user or
    /// `--actor`.
    Operator(String),
    /// An authenticated user (an API token's): allowed only on projects
    /// they own.
    User(String),
}

impl Actor {
    /// The actor as the audit log records it: `operator:<name>` for an
    /// operator, the user name for a user (user names have no `:`, so the
    /// two never meet).
    #[must_use]
    pub fn audit_name(&self) -> String {
        match self {
            Self::Operator(name) => format!("operator:{name}"),
            Self::User(user) => user.clone(),
        }
    }
}

/// What [`crate::StateStore::add_owner`] and
/// [`crate::StateStore::remove_owner`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerChange {
    /// Done, and an audit record written.
    Done,
    /// The project does not exist.
    NoSuchProject,
    /// The actor is a user who does not own the project.
    Forbidden,
    /// Adding: the user already owns the project.
    AlreadyOwner,
    /// Removing: the user does not own the project.
    NotOwner,
    /// Removing: the user is the project's last owner, and a project
    /// without owners could never be managed again.
    LastOwner,
}

/// One entry of the audit log: an ownership change or an administrative
/// removal, written in the transaction that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its sequence number, growing in commit order.
    pub seq: u64,
    /// When it happened.
    pub time_us: i64,
    /// Who did it ([`Actor::audit_name`]).
    pub actor: String,
    /// What was done: `owner-add`, `owner-remove` or `remove`.
    pub action: String,
    /// The normalized project name.
    pub project: String,
    /// The details: the user added or removed; what was removed and why.
    pub detail: String,
}

impl AuditRecord {
    /// The action of [`crate::StateStore::add_owner`].
    pub const OWNER_ADD: &'static str = "owner-add";
    /// The action of [`crate::StateStore::remove_owner`].
    pub const OWNER_REMOVE: &'static str = "owner-remove";
    /// The action of [`crate::StateStore::remove_files`].
    pub const REMOVE: &'static str = "remove";
}

/// An administrative removal (a legal takedown) of files of a project:
/// the whole project, one release or one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// Normalized project name.
    pub project: String,
    /// The release (any spelling of its PEP 440 version), or every file of
    /// the project when `None`.
    pub version: Option<String>,
    /// One file of that release, or all of them when `None`. Needs a
    /// version.
    pub filename: Option<String>,
    /// Who removes: an operator ([`Actor::Operator`]) in practice; the
    /// store checks no ownership for a removal.
    pub actor: Actor,
    /// Why, for the audit log.
    pub reason: String,
}

/// What [`crate::StateStore::remove_files`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// These files were removed, a change queued and an audit record
    /// written.
    Removed {
        /// The removed files, ordered by filename.
        files: Vec<FileRecord>,
        /// The queued change's sequence number.
        change: u64,
    },
    /// The project, release or file does not exist (or has no file left).
    NotFound,
    /// The project is claimed (PEP 480): its page is signed by its
    /// developers, so the index cannot sign one without the files.
    Claimed,
}

/// A file removed by [`crate::StateStore::remove_files`]: never served
/// again, its filename never reused, and its blobs (the file and its
/// `.metadata`) kept until the snapshot retention has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedFileRecord {
    /// The distribution's file name.
    pub filename: String,
    /// Normalized project name.
    pub project: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// When it was removed.
    pub removed_us: i64,
}

/// A project's latest upload, as [`crate::StateStore::recently_updated`]
/// lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentUpload {
    /// Normalized project name.
    pub project: String,
    /// The project's name as first uploaded.
    pub display_name: String,
    /// The normalized version of the latest uploaded file.
    pub version: String,
    /// Its upload time.
    pub upload_time_us: i64,
}

/// One distribution file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Normalized project name.
    pub project: String,
    /// The distribution's file name.
    pub filename: String,
    /// Normalized PEP 440 version.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Lowercase hex BLAKE2b-256.
    pub blake2b_256: String,
    /// `Requires-Python`, if any.
    pub requires_python: Option<String>,
    /// SHA-256 of the core metadata file served beside it (PEP 658).
    pub metadata_sha256: Option<String>,
    /// Upload time.
    pub upload_time_us: i64,
    /// `None`, or `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// The user who uploaded it.
    pub uploader: String,
}

/// Which release of its project a file belongs to, and which distribution
/// of that release it is: what two files are compared by, beside their
/// filenames. Every backend keys a project's files by it, so that one
/// distribution can never be stored twice under two spellings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// The canonical form of the version ([`bulwark_pypi::Version::canonical`]):
    /// `1.0`, `1.0.0` and `1` are one release, as PEP 440 compares them.
    pub release: String,
    /// `sdist` for a source distribution, whatever its format: `PyPI` takes
    /// one per release. For a wheel, `wheel-<build>-<python>-<abi>-<platform>`
    /// (the build tag empty when there is none), each compressed tag set
    /// lowercased and sorted, so that two spellings of the same tags (wheel
    /// spec, "Compressed Tag Sets") are one distribution.
    pub distribution: String,
    /// The archive format of an sdist: a second sdist of a release in the
    /// same format is the same file spelled otherwise.
    sdist_format: Option<bulwark_pypi::SdistFormat>,
}

impl FileIdentity {
    /// The identity of the file named `filename`, a wheel or sdist filename.
    pub fn of(filename: &str) -> Result<Self, bulwark_pypi::FilenameError> {
        let parsed = bulwark_pypi::DistFilename::parse(filename)?;
        let distribution = match parsed.kind() {
            bulwark_pypi::DistKind::Sdist(_) => "sdist".to_owned(),
            bulwark_pypi::DistKind::Wheel(tags) => {
                let build = tags
                    .build()
                    .map(|b| format!("{}{}", b.number(), b.suffix().to_ascii_lowercase()))
                    .unwrap_or_default();
                format!(
                    "wheel-{build}-{}-{}-{}",
                    tag_set(tags.python()),
                    tag_set(tags.abi()),
                    tag_set(tags.platform())
                )
            }
        };
        Ok(Self {
            release: parsed.version().canonical(),
            distribution,
            sdist_format: parsed.sdist_format(),
        })
    }

    /// Why a new file of this identity is refused beside `stored`, a file of
    /// the same project, release and distribution under another filename:
    /// it is `stored` spelled otherwise ([`AddFile::Conflict`]: "File
    /// already exists"), or a second sdist of the release
    /// ([`AddFile::SecondSdist`]).
    #[must_use]
    pub fn refusal_beside(&self, stored: &Self) -> AddFile {
        if self.sdist_format == stored.sdist_format {
            AddFile::Conflict
        } else {
            AddFile::SecondSdist
        }
    }
}

/// A compressed tag set (`py2.py3`) in one spelling: lowercased, sorted.
fn tag_set(set: &str) -> String {
    let mut tags: Vec<String> = set.split('.').map(str::to_ascii_lowercase).collect();
    tags.sort_unstable();
    tags.dedup();
    tags.join(".")
}

/// What [`crate::StateStore::add_file`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddFile {
    /// Stored, and a change queued with this sequence number.
    Added {
        /// The change's sequence number.
        change: u64,
    },
    /// The same file was already there; nothing changed.
    Identical,
    /// A different file already has this filename, or the release already
    /// has this distribution under another spelling of the filename (case,
    /// name or version normalization: [`FileIdentity`]).
    Conflict,
    /// The release already has an sdist, in another format: one sdist per
    /// release, as `PyPI` allows.
    SecondSdist,
    /// An administrator removed a file of this filename
    /// ([`crate::StateStore::remove_files`]): it is never used again, as on
    /// `PyPI`.
    Removed,
    /// The uploader is not an owner of the project.
    Forbidden,
    /// The project is claimed: only a developer-signed transaction
    /// ([`crate::StateStore::record_transaction`]) may add to it.
    Claimed,
    /// The project is pulled from an upstream index: nobody uploads to it
    /// until an administrator releases the name
    /// ([`crate::StateStore::release_upstream`]).
    Upstream,
}

/// The creator recorded for a project pulled from an upstream index (user
/// names have no `:`, so no user is ever called this).
pub const UPSTREAM_CREATOR: &str = "upstream:";

/// A project pulled from an upstream index: signed like an unclaimed
/// project, refreshed from its upstream, never uploaded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamProjectRecord {
    /// Normalized project name.
    pub project: String,
    /// The upstream index (its simple-API base URL) it was found on.
    pub upstream: String,
    /// When its upstream page was last read or tried, microseconds since
    /// the Unix epoch.
    pub fetched_us: i64,
}

/// Where a file of an upstream project is fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamFileRecord {
    /// The distribution filename.
    pub filename: String,
    /// Its absolute URL on the upstream index.
    pub url: String,
}

/// One reading of an upstream project's page, for
/// [`crate::StateStore::pull_upstream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamPull {
    /// Normalized project name.
    pub project: String,
    /// The name as the upstream spells it.
    pub display_name: String,
    /// The upstream index it was read from.
    pub upstream: String,
    /// When it was read, microseconds since the Unix epoch.
    pub fetched_us: i64,
    /// The files the page lists, each with its URL. Their uploader is
    /// [`UPSTREAM_CREATOR`]; `size` is 0 and `blake2b_256` empty when the
    /// upstream did not state them.
    pub files: Vec<(FileRecord, String)>,
}

/// What [`crate::StateStore::pull_upstream`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamPullOutcome {
    /// The name is a project of this index: nothing was recorded (a local
    /// name never falls through to an upstream).
    Local,
    /// Recorded; a change was queued when anything changed.
    Pulled(UpstreamChanges),
}

/// What one pull changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamChanges {
    /// The project was new to the index.
    pub created: bool,
    /// Files added.
    pub added: usize,
    /// Files whose yank state changed.
    pub yank_changed: usize,
    /// Files the page lists that were not taken, and why:
    /// [`AddFile::Conflict`] for a filename stored with another sha256 (a
    /// replaced or tampered upstream file), [`AddFile::Removed`],
    /// [`AddFile::SecondSdist`].
    pub refused: Vec<(String, AddFile)>,
}

/// What [`crate::StateStore::set_yanked`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YankOutcome {
    /// This many files changed, and a change was queued.
    Updated {
        /// Files changed.
        files: u64,
    },
    /// The project or release does not exist.
    NotFound,
    /// The user is not an owner of the project.
    Forbidden,
    /// The project is claimed: its developers yank by signing a new page.
    Claimed,
}

/// Changes waiting to be published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingChanges {
    /// The highest queued change sequence number (0 when none).
    pub up_to_change: u64,
    /// The distinct projects changed, sorted.
    pub projects: Vec<String>,
}

/// A published project page: a TUF target `simple/<project>/index.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRecord {
    /// Normalized project name.
    pub project: String,
    /// Lowercase hex SHA-256 of the page bytes.
    pub sha256: String,
    /// Page length.
    pub length: u64,
    /// The hashed bin it belongs to.
    pub bin: u32,
}

/// A published TUF role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRecord {
    /// Role name.
    pub role: String,
    /// Its current version.
    pub version: u64,
    /// When it expires, seconds since the Unix epoch.
    pub expires: i64,
    /// Length of its metadata file.
    pub length: u64,
    /// Lowercase hex SHA-256 of its metadata file.
    pub sha256: String,
}

/// A finished publish run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishCommit {
    /// Queued changes up to this sequence number are now published.
    pub up_to_change: u64,
    /// New page records.
    pub pages: Vec<PageRecord>,
    /// New role records.
    pub roles: Vec<RoleRecord>,
    /// The new timestamp's bytes.
    pub timestamp: Vec<u8>,
    /// The publisher lease's epoch the run was made under
    /// ([`crate::StateStore::acquire_publisher`]); 0 for a publisher that
    /// runs without election on a store whose lease was never taken.
    pub fence: u64,
}

/// Which role delegates to a developer-claimed project (DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimTier {
    /// Delegated by `recently-claimed`, signed by the online key.
    RecentlyClaimed,
    /// Delegated by `claimed`, signed offline by the administrator.
    Claimed,
}

impl ClaimTier {
    /// The tier's name as stored and shown: the delegating role's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecentlyClaimed => "recently-claimed",
            Self::Claimed => "claimed",
        }
    }

    /// The tier named by [`ClaimTier::as_str`].
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "recently-claimed" => Some(Self::RecentlyClaimed),
            "claimed" => Some(Self::Claimed),
            _ => None,
        }
    }
}

/// A developer-claimed project: who may sign it and what they last signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRecord {
    /// Normalized project name.
    pub project: String,
    /// Which role delegates to it.
    pub tier: ClaimTier,
    /// The delegation the index trusts, as the delegating role lists it:
    /// a TUF `delegations` object, `{"keys":{<keyid>:<key>,…},"roles":[<the
    /// project's role>]}`.
    /// Opaque to the store.
    pub delegation: String,
    /// The version of the developer-signed `project-<name>` role.
    pub role_version: u64,
    /// When that role expires, seconds since the Unix epoch.
    pub role_expires: i64,
    /// Lowercase hex SHA-256 of the role's bytes (blob `claims/<sha256>.json`).
    pub role_sha256: String,
    /// Length of the role's bytes.
    pub role_length: u64,
    /// Lowercase hex SHA-256 of the developer-signed page (stored where the
    /// publisher stores pages).
    pub page_sha256: String,
    /// Length of the page.
    pub page_length: u64,
    /// The nested roles (`project-<name>.<label>`) the project role
    /// delegates to, as last accepted, by name: every one accepted so far
    /// (a recorded claim's list replaces the stored one).
    pub nested: Vec<NestedRoleRecord>,
}

/// A developer-signed nested role of a claimed project, as last accepted
/// (blob `claims/<sha256>.role.json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedRoleRecord {
    /// The role's name, `project-<name>.<label>`.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// When it expires, seconds since the Unix epoch.
    pub expires: i64,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Length of its bytes.
    pub length: u64,
}

/// A developer-signed project transaction the index has checked, to be
/// recorded in one database transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectTransaction {
    /// The project's name as given, for a project created by this transaction.
    pub display_name: String,
    /// The authenticated user; must own the project (or creates it).
    pub user: String,
    /// The claim's role version the transaction was checked against, `None`
    /// when the project had no claim (it was checked against the published
    /// page): if the stored claim differs, or for `None` a change of the
    /// project is queued, nothing is recorded ([`TransactionOutcome::Stale`]).
    pub checked_against: Option<u64>,
    /// For a key change, the delegation the transaction was checked
    /// against (the one it replaces); `None` when it keeps
    /// `claim.delegation`. The stored claim's delegation must be this one,
    /// and its tier `claim.tier`, or nothing is recorded.
    pub checked_delegation: Option<String>,
    /// The nested roles the transaction was checked against, as the stored
    /// claim lists them (name and version, by name): a transaction that
    /// only signs a nested role leaves `role_version` as it is, so two such
    /// transactions race on these. If they differ, nothing is recorded.
    pub checked_nested: Vec<(String, u64)>,
    /// The project's new claim state (`claim.project` names the project).
    pub claim: ClaimRecord,
    /// The files uploaded with the transaction, all of `claim.project`.
    pub files: Vec<FileRecord>,
    /// The yank state the new page gives each file it lists (filename, `None`
    /// or `Some(reason)`); files of the project it does not name keep theirs.
    pub yanked: Vec<(String, Option<String>)>,
}

/// What [`crate::StateStore::record_transaction`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionOutcome {
    /// Recorded, and a change queued with this sequence number.
    Recorded {
        /// The change's sequence number.
        change: u64,
    },
    /// The user is not an owner of the project.
    Forbidden,
    /// A file of the transaction has the filename of a different stored
    /// file (other bytes, or another project's), or the [`FileIdentity`] of
    /// another file of the project (the same distribution of the release
    /// spelled otherwise, or a second sdist of it).
    Conflict {
        /// The filename.
        filename: String,
    },
    /// The claim changed after the transaction was checked against it.
    Stale,
}

/// One record of a state store's whole content, as
/// [`crate::StateStore::export`] hands it out and
/// [`crate::StateStore::restore`] writes it back: every table but the
/// publisher lease (which belongs to the processes running on a store, not
/// to its state). An export lists the kinds in this order (each kind
/// after those it refers to), each kind by its key in byte order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateRecord {
    /// The counters: the last publish version handed out and the last
    /// change sequence number (neither is ever reused).
    Counters {
        /// The publish counter ([`crate::StateStore::next_publish_version`]).
        publish: u64,
        /// The highest change sequence number ever handed out.
        change: u64,
    },
    /// A repository setting.
    Setting {
        /// Its key.
        key: String,
        /// Its value.
        value: String,
    },
    /// An API token.
    Token(TokenRecord),
    /// A project.
    Project(ProjectRecord),
    /// An owner of a project.
    Owner(OwnerRecord),
    /// A file with its stored identity columns, carried as stored: a file
    /// imported from an old database may have none
    /// ([`FileIdentity`] explains why).
    File {
        /// The file.
        file: FileRecord,
        /// Its stored [`FileIdentity::release`].
        release: Option<String>,
        /// Its stored [`FileIdentity::distribution`].
        distribution: Option<String>,
    },
    /// A file removed by an administrator.
    Removed(RemovedFileRecord),
    /// A project pulled from an upstream index.
    Upstream(UpstreamProjectRecord),
    /// Where a stored file of an upstream project is fetched from.
    UpstreamFile(UpstreamFileRecord),
    /// A claim, with its nested roles.
    Claim(ClaimRecord),
    /// A queued change, not yet published.
    Change {
        /// Its sequence number.
        seq: u64,
        /// The project it changed.
        project: String,
    },
    /// A published page record.
    Page(PageRecord),
    /// A published role record.
    Role(RoleRecord),
    /// An audit log entry.
    Audit(AuditRecord),
    /// The latest published timestamp's bytes.
    Timestamp(Vec<u8>),
}
