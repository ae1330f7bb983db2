//! The records the stores hold. Names are PEP 503-normalized project names;
//! times are microseconds since the Unix epoch.

/// An API token. Only a hash of the secret is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public identifier embedded in the token.
    pub id: String,
    /// The user it authenticates.
    pub user: String,
    /// Lowercase hex SHA-256 of the token's secret part.
    pub secret_sha256: String,
    /// Creation time.
    pub created_us: i64,
}

/// A project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Normalized name.
    pub name: String,
    /// The name as first uploaded.
    pub display_name: String,
    /// The user who owns it (its first uploader).
    pub owner: String,
    /// Creation time.
    pub created_us: i64,
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
    /// A different file already has this filename.
    Conflict,
    /// The project belongs to another user.
    Forbidden,
}

/// What [`crate::StateStore::set_yanked`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YankOutcome {
    /// This many files changed, and a change was queued.
    Updated {
        /// Files changed.
        files: u64,
    },
    /// The project or version does not exist.
    NotFound,
    /// The project belongs to another user.
    Forbidden,
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
}
