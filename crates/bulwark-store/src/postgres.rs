//! [`StateStore`] on a PostgreSQL database, shared by several servers.
//!
//! Races between processes are decided by the database, never by a mutex
//! of this process:
//!
//! - Every write runs at `SERIALIZABLE` isolation, and the whole transaction
//!   is retried (up to [`MAX_ATTEMPTS`] times, after a short random backoff)
//!   when PostgreSQL aborts it as a serialization failure (SQLSTATE 40001),
//!   a deadlock (40P01) or a unique violation (23505). The methods check
//!   before they insert, so a retry sees what the concurrent transaction
//!   committed and answers as a sequential run would: two servers adding
//!   one filename with different bytes get one `Added` and one `Conflict`,
//!   never a backend error. The unique constraints stay the last guard.
//! - Change sequence numbers come from a counter row updated inside the
//!   transaction that queues the change (`UPDATE counters … RETURNING`),
//!   not from a `SEQUENCE`: the row lock makes them commit in order, so a
//!   snapshot holding change 6 holds change 5, and the publisher, which
//!   removes the changes up to the highest it saw, never loses one. Since
//!   such transactions run one at a time anyway, each first waits for the
//!   others (`LOCK TABLE counters`, before its snapshot) instead of failing
//!   on the counter row and retrying. The publish counter is a counter row
//!   too: durable, never reused.
//! - Every transaction that queues a change sends `NOTIFY bulwark_changes`
//!   (delivered at commit); each store keeps one connection listening, so
//!   [`StateStore::wait_for_change`] wakes the publisher of another server.
//! - The publisher lease is one row, taken with the database clock
//!   (`clock_timestamp()` once the row lock is granted, not `now()`, the
//!   transaction's start: an acquisition that waited behind a long commit
//!   must not judge the lease by an earlier time);
//!   `commit_publish` locks it (`FOR UPDATE`) and refuses a fence that is
//!   not its epoch.
//! - Reads run in `REPEATABLE READ, READ ONLY` transactions: one snapshot.
//!
//! The schema is versioned in `schema_version` and migrated at connect in
//! one transaction holding an advisory lock, so two servers starting at
//! once never both migrate; a schema newer than this build is refused.
//!
//! ```text
//!  threads ─▶ IoRuntime::run ─▶ pool (≤ pool size connections) ─▶ PostgreSQL
//!  IoRuntime task: listener connection (LISTEN bulwark_changes) ─▶ Notify ─▶ wait_for_change
//! ```
//!
//! Connections are unencrypted (`NoTls`): run the database on a trusted
//! network or a local socket.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Config, IsolationLevel, NoTls, Row};

use crate::export::{Chunks, IS_EMPTY};
use crate::io::IoRuntime;
use crate::rules::{
    AuditEntry, Decision, Lease, LeaseStep, TIMESTAMP_ROLE, check_transaction, claim_is_current,
    identity_of, owner_change, removal_entry, removal_release, timestamp_advances, unix_micros,
};
use crate::{
    Actor, AddFile, AuditRecord, ClaimRecord, ClaimTier, FileIdentity, FileRecord,
    NestedRoleRecord, OwnerChange, OwnerRecord, PageRecord, PendingChanges, ProjectRecord,
    ProjectTransaction, PublishCommit, RecentUpload, Removal, RemoveOutcome, RemovedFileRecord,
    Result, RevokeToken, RoleRecord, StateRecord, StateStore, StoreError, TokenPermission,
    TokenRecord, TokenScope, TransactionOutcome, UPSTREAM_CREATOR, UpstreamChanges,
    UpstreamFileRecord, UpstreamProjectRecord, UpstreamPull, UpstreamPullOutcome, YankOutcome,
};

/// Connections in the pool of [`PgState::connect`].
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How many times a write transaction runs before a conflict with
/// concurrent ones is returned as an error.
pub const MAX_ATTEMPTS: u32 = 20;

/// How long opening a connection may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a method waits for a free connection of the pool.
const POOL_WAIT: Duration = Duration::from_mins(1);

/// How long the listener waits before reconnecting after its connection
/// dropped.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// The channel of change notifications.
const CHANNEL: &str = "bulwark_changes";

/// Rows fetched from a portal at a time by [`StateStore::export`].
const PORTAL_ROWS: i32 = 10_000;

/// The key of the advisory lock that migrations hold: "BULW".
const MIGRATION_LOCK: i64 = 0x4255_4C57;

/// The schema, one migration per version: migration `i` takes the database
/// from version `i` to `i + 1`. Append, never edit. The same tables and
/// constraints as the `SQLite` schema; text that listings order by is
/// `COLLATE "C"` (byte order, as the conformance suite requires).
const MIGRATIONS: &[&str] = &[
    // Version 1.
    r#"
    -- API tokens; only a hash of the secret is kept.
    CREATE TABLE tokens (
        id            TEXT COLLATE "C" PRIMARY KEY,
        "user"        TEXT   NOT NULL,
        secret_sha256 TEXT   NOT NULL,
        created_us    BIGINT NOT NULL
    );
    CREATE INDEX tokens_by_user ON tokens ("user");

    -- Projects by normalized name.
    CREATE TABLE projects (
        name         TEXT COLLATE "C" PRIMARY KEY,
        display_name TEXT   NOT NULL,
        owner        TEXT   NOT NULL,
        created_us   BIGINT NOT NULL
    );

    -- Distribution files; a filename is unique across the whole index.
    -- `release` and `distribution` are the file's FileIdentity: a release
    -- holds each distribution once (`distribution` NULL only for files
    -- imported from a database that had two spellings of one).
    CREATE TABLE files (
        filename        TEXT COLLATE "C" PRIMARY KEY,
        project         TEXT COLLATE "C" NOT NULL REFERENCES projects (name),
        version         TEXT   NOT NULL,
        size            BIGINT NOT NULL CHECK (size >= 0),
        sha256          TEXT   NOT NULL,
        blake2b_256     TEXT   NOT NULL,
        requires_python TEXT,
        metadata_sha256 TEXT,
        upload_time_us  BIGINT NOT NULL,
        yanked          TEXT,  -- NULL: not yanked; otherwise the reason, maybe ''
        uploader        TEXT   NOT NULL,
        release         TEXT,
        distribution    TEXT
    );
    CREATE INDEX files_by_project ON files (project, filename);
    CREATE INDEX files_by_sha256 ON files (sha256);
    CREATE UNIQUE INDEX files_by_distribution ON files (project, release, distribution);

    -- The publish queue. `seq` comes from the 'change' counter, in commit order.
    CREATE TABLE changes (
        seq     BIGINT PRIMARY KEY CHECK (seq > 0),
        project TEXT COLLATE "C" NOT NULL REFERENCES projects (name)
    );
    CREATE INDEX changes_by_project ON changes (project);

    CREATE TABLE counters (
        name  TEXT   PRIMARY KEY,
        value BIGINT NOT NULL CHECK (value >= 0)
    );
    INSERT INTO counters (name, value) VALUES ('publish', 0), ('change', 0);

    -- Published project pages (TUF targets).
    CREATE TABLE pages (
        project TEXT COLLATE "C" PRIMARY KEY,
        sha256  TEXT   NOT NULL,
        length  BIGINT NOT NULL CHECK (length >= 0),
        bin     BIGINT NOT NULL CHECK (bin >= 0)
    );
    CREATE INDEX pages_by_bin ON pages (bin, project);

    -- Published TUF roles.
    CREATE TABLE roles (
        name    TEXT COLLATE "C" PRIMARY KEY,
        version BIGINT NOT NULL CHECK (version >= 0),
        expires BIGINT NOT NULL,
        length  BIGINT NOT NULL CHECK (length >= 0),
        sha256  TEXT   NOT NULL
    );

    -- The latest published timestamp.json: at most one row.
    CREATE TABLE "timestamp" (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        bytes BYTEA   NOT NULL
    );

    CREATE TABLE settings (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );

    -- Developer-claimed projects: the delegation the index trusts and the
    -- developer-signed role and page it last recorded.
    CREATE TABLE claims (
        project      TEXT COLLATE "C" PRIMARY KEY REFERENCES projects (name),
        tier         TEXT   NOT NULL CHECK (tier IN ('recently-claimed', 'claimed')),
        delegation   TEXT   NOT NULL,
        role_version BIGINT NOT NULL CHECK (role_version >= 0),
        role_expires BIGINT NOT NULL,
        role_sha256  TEXT   NOT NULL,
        role_length  BIGINT NOT NULL CHECK (role_length >= 0),
        page_sha256  TEXT   NOT NULL,
        page_length  BIGINT NOT NULL CHECK (page_length >= 0)
    );

    -- The nested roles (project-<name>.<label>) a claimed project's role
    -- delegates to, as last accepted.
    CREATE TABLE claim_nested (
        project TEXT COLLATE "C" NOT NULL REFERENCES claims (project),
        name    TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL CHECK (version >= 0),
        expires BIGINT NOT NULL,
        sha256  TEXT   NOT NULL,
        length  BIGINT NOT NULL CHECK (length >= 0),
        PRIMARY KEY (project, name)
    );

    -- The publisher lease: one row. `epoch` grows each time the lease
    -- passes to a holder and fences commit_publish; `expires_at` is in the
    -- database's clock (NULL: released or never taken).
    CREATE TABLE publisher_lease (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        holder     TEXT,
        expires_at TIMESTAMPTZ,
        epoch      BIGINT NOT NULL CHECK (epoch >= 0)
    );
    INSERT INTO publisher_lease (id, holder, expires_at, epoch) VALUES (1, NULL, NULL, 0);
    "#,
    // Version 2.
    r"
    -- What a token may do and for how long (bulwark token). `projects`:
    -- NULL for every project, else the normalized names it may change,
    -- separated by single spaces. Times are microseconds since the Unix
    -- epoch; NULL: never. Existing tokens keep working as before.
    ALTER TABLE tokens
        ADD COLUMN description  TEXT NOT NULL DEFAULT '',
        ADD COLUMN permission   TEXT NOT NULL DEFAULT 'upload'
            CHECK (permission IN ('upload', 'read')),
        ADD COLUMN projects     TEXT,
        ADD COLUMN expires_us   BIGINT,
        ADD COLUMN revoked_us   BIGINT,
        ADD COLUMN last_used_us BIGINT;
    CREATE INDEX tokens_by_creation ON tokens (created_us, id);
    ",
    // Version 3.
    r#"
    -- Co-owners: who may upload to, yank, claim and manage a project. The
    -- one owner projects had so far is their creator and first owner.
    ALTER TABLE projects RENAME COLUMN owner TO created_by;
    CREATE TABLE project_owners (
        project  TEXT COLLATE "C" NOT NULL REFERENCES projects (name),
        "user"   TEXT COLLATE "C" NOT NULL,
        added_us BIGINT NOT NULL,
        added_by TEXT   NOT NULL,
        PRIMARY KEY (project, "user")
    );
    INSERT INTO project_owners (project, "user", added_us, added_by)
        SELECT name, created_by, created_us, created_by FROM projects;

    -- Ownership changes and administrative removals, in commit order.
    CREATE TABLE audit_log (
        seq     BIGINT PRIMARY KEY CHECK (seq > 0),
        time_us BIGINT NOT NULL,
        actor   TEXT   NOT NULL,
        action  TEXT   NOT NULL,
        project TEXT COLLATE "C" NOT NULL,
        detail  TEXT   NOT NULL
    );
    CREATE INDEX audit_by_project ON audit_log (project, seq);

    -- Files an administrator removed: their filenames are never accepted
    -- again, and their blobs are kept for the snapshot retention.
    CREATE TABLE removed_files (
        filename   TEXT COLLATE "C" PRIMARY KEY,
        project    TEXT COLLATE "C" NOT NULL REFERENCES projects (name),
        sha256     TEXT   NOT NULL,
        removed_us BIGINT NOT NULL
    );
    "#,
    // Version 4.
    "
    -- The web pages' most recently updated projects: files newest first.
    CREATE INDEX files_by_upload_time ON files (upload_time_us);
    ",
    // Version 5.
    r#"
    -- Projects pulled from an upstream index, and where each of their files
    -- is fetched from (a file's row here outlives an administrative removal
    -- of the file, harmlessly: it is read joined with files).
    CREATE TABLE upstream_projects (
        project    TEXT COLLATE "C" PRIMARY KEY REFERENCES projects (name),
        upstream   TEXT   NOT NULL,
        fetched_us BIGINT NOT NULL
    );
    CREATE TABLE upstream_files (
        filename TEXT COLLATE "C" PRIMARY KEY,
        url      TEXT NOT NULL
    );
    "#,
];

/// Why the PostgreSQL store failed, beyond the database's own errors.
/// Messages never include a password.
#[derive(Debug, thiserror::Error)]
enum PgError {
    #[error("invalid PostgreSQL URL (not shown: it may hold a password)")]
    BadUrl(#[source] tokio_postgres::Error),
    #[error("cannot connect to PostgreSQL at {0}")]
    Unreachable(String, #[source] deadpool_postgres::PoolError),
    #[error("cannot get a PostgreSQL connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("cannot set up the PostgreSQL connection pool")]
    Build(#[source] deadpool_postgres::BuildError),
    #[error("cannot listen for changes on PostgreSQL at {0}")]
    Listen(String, #[source] tokio_postgres::Error),
    #[error("no answer from the change listener on PostgreSQL at {0}")]
    ListenGone(String),
    #[error("not a Bulwark database: it has tables but no schema_version table")]
    Foreign,
    #[error("value {0} does not fit a PostgreSQL BIGINT")]
    TooLarge(u64),
    #[error("token id {0:?} already exists")]
    TokenExists(String),
}

/// An error inside a transaction body: the database's (which a retry may
/// cure) or the store's.
#[derive(Debug)]
enum TxError {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl TxError {
    /// Whether running the whole transaction again may succeed: it lost a
    /// race with a concurrent transaction.
    fn retryable(&self) -> bool {
        let Self::Db(e) = self else {
            return false;
        };
        e.code().is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::UNIQUE_VIOLATION
        })
    }

    fn into_store(self) -> StoreError {
        match self {
            Self::Db(e) => backend(e),
            Self::Store(e) => e,
        }
    }
}

type TxResult<T> = std::result::Result<T, TxError>;

/// A transaction of a pooled connection.
type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// The PostgreSQL state store. See the module documentation.
#[derive(Debug)]
pub struct PgState {
    pool: Pool,
    /// Woken by the listener for each notification on [`CHANNEL`] (and
    /// once it listens again after a reconnection, since it may have
    /// missed some).
    changes: Arc<Notify>,
    listener: tokio::task::JoinHandle<()>,
    /// Last: dropped after the pool's connections.
    io: IoRuntime,
}

impl Drop for PgState {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgState {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`
    /// or a `key=value` connection string) with a pool of
    /// [`DEFAULT_POOL_SIZE`] connections, and creates or migrates the schema.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE)
    }

    /// As [`PgState::connect`], with at most `pool_size` connections (at
    /// least 1) for the methods, plus one that listens for changes.
    pub fn connect_with_pool_size(url: &str, pool_size: usize) -> Result<Self> {
        let mut config: Config = url.parse().map_err(|e| backend(PgError::BadUrl(e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe(&config);
        let io = IoRuntime::new("bulwark-postgres", 2)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| backend(PgError::Build(e)))?;
        io.run(async {
            let mut client = pool
                .get()
                .await
                .map_err(|e| backend(PgError::Unreachable(target.clone(), e)))?;
            migrate(&mut client).await.map_err(TxError::into_store)
        })?;
        let changes = Arc::new(Notify::new());
        let (ready, listening) = tokio::sync::oneshot::channel();
        let listener = io
            .handle()
            .spawn(listen(config, Arc::clone(&changes), ready));
        // Listening before connect returns: a change queued after it wakes
        // this store's waiters.
        match io.run(listening) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(backend(PgError::Listen(target, e))),
            Err(_) => return Err(backend(PgError::ListenGone(target))),
        }
        Ok(Self {
            pool,
            changes,
            listener,
            io,
        })
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| backend(PgError::Pool(e)))
    }

    /// Runs `body` in a `REPEATABLE READ, READ ONLY` transaction: one
    /// snapshot, never a serialization failure.
    fn read<T>(&self, body: impl AsyncFnOnce(&Tx<'_>) -> TxResult<T>) -> Result<T> {
        self.io.run(async {
            let mut client = self.client().await?;
            let attempt = async {
                let tx = client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let value = body(&tx).await?;
                tx.commit().await?;
                Ok(value)
            };
            attempt.await.map_err(TxError::into_store)
        })
    }

    /// Runs `body` in a `SERIALIZABLE` transaction that commits what it wrote.
    fn write<T>(
        &self,
        kind: Kind,
        mut body: impl AsyncFnMut(&mut Tx<'_>) -> TxResult<T>,
    ) -> Result<T> {
        self.write_or_roll_back(kind, async |tx| body(tx).await.map(Decision::Commit))
    }

    /// Runs `body` in a `SERIALIZABLE` transaction that it may roll back (to
    /// refuse a request after writing part of it). The whole transaction
    /// runs again when it lost a race ([`TxError::retryable`]), up to
    /// [`MAX_ATTEMPTS`] times: the one retry loop of this store.
    fn write_or_roll_back<T>(
        &self,
        kind: Kind,
        mut body: impl AsyncFnMut(&mut Tx<'_>) -> TxResult<Decision<T>>,
    ) -> Result<T> {
        self.io.run(async {
            let mut client = self.client().await?;
            let mut attempt = 1;
            loop {
                match write_once(&mut client, kind, &mut body).await {
                    Err(e) if e.retryable() && attempt < MAX_ATTEMPTS => {
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                    outcome => return outcome.map_err(TxError::into_store),
                }
            }
        })
    }
}

/// What a write transaction may do, beyond its own rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// It may queue a change (or, `commit_publish`, remove queued ones): it
    /// waits for the transactions queueing one before it begins (see
    /// [`write_once`]).
    QueuesChange,
    /// It queues no change.
    Plain,
}

/// One attempt of [`PgState::write_or_roll_back`].
async fn write_once<T>(
    client: &mut Object,
    kind: Kind,
    body: &mut impl AsyncFnMut(&mut Tx<'_>) -> TxResult<Decision<T>>,
) -> TxResult<T> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()
        .await?;
    if kind == Kind::QueuesChange {
        // Every transaction queueing a change updates the 'change' counter
        // row, so they run one at a time anyway; one that met the row
        // updated by another after its snapshot would fail and retry. So
        // each waits for the counters table first: LOCK takes no snapshot
        // (PostgreSQL takes it at the first query after), so it sees the
        // previous one's commit and does not fail on the counter. The mode
        // conflicts with itself and with UPDATE, never with reads.
        tx.batch_execute("LOCK TABLE counters IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    }
    match body(&mut tx).await {
        Ok(Decision::Commit(value)) => {
            // A serializable transaction may fail at commit, too.
            tx.commit().await?;
            Ok(value)
        }
        Ok(Decision::RollBack(value)) => {
            tx.rollback().await?;
            Ok(value)
        }
        Err(e) => {
            // Dropping the transaction would roll back as well; this way the
            // connection is clean before a retry begins.
            tx.rollback().await.ok();
            Err(e)
        }
    }
}

/// A random pause before attempt `attempt + 1`, below 2^attempt ms (at
/// most 64 ms), so that the transactions that collided do not collide again.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher as _, RandomState};
    let ceiling_us = 1000_u64 << attempt.min(6);
    // RandomState's keys are random per process and differ at each call.
    Duration::from_micros(RandomState::new().hash_one(attempt) % ceiling_us)
}

/// Where `config` connects, for error messages: users, hosts, ports and
/// database, never the password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("(default user)"),
        if hosts.is_empty() {
            "(default host)".to_owned()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("(default database)"),
    )
}

/// Keeps one connection listening on [`CHANNEL`], forwarding each
/// notification to `changes`, and reconnects when it drops. `ready` gets
/// the outcome of the first attempt.
async fn listen(
    config: Config,
    changes: Arc<Notify>,
    ready: tokio::sync::oneshot::Sender<std::result::Result<(), tokio_postgres::Error>>,
) {
    let mut ready = Some(ready);
    loop {
        let outcome = listen_once(&config, &changes, &mut ready).await;
        if let (Some(ready), Err(e)) = (ready.take(), outcome) {
            ready.send(Err(e)).ok();
            return;
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// One connection of [`listen`], until it drops.
async fn listen_once(
    config: &Config,
    changes: &Arc<Notify>,
    ready: &mut Option<
        tokio::sync::oneshot::Sender<std::result::Result<(), tokio_postgres::Error>>,
    >,
) -> std::result::Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let notify = Arc::clone(changes);
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                // One waiter (the publisher): a wake-up that comes while it
                // is busy is kept for its next wait.
                Ok(AsyncMessage::Notification(_)) => notify.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        driver.abort();
        return Err(e);
    }
    match ready.take() {
        Some(ready) => {
            ready.send(Ok(())).ok();
        }
        // Notifications sent while nobody listened were lost: wake the
        // waiter, which finds any change by reading the queue.
        None => changes.notify_one(),
    }
    driver.await.ok();
    Ok(())
}

/// Brings the schema to the latest version, in one transaction holding the
/// migration lock (a second server starting meanwhile waits, then finds
/// the schema migrated).
async fn migrate(client: &mut Object) -> TxResult<()> {
    // READ COMMITTED: after waiting for the lock, the statements see what
    // the server that held it committed.
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    let versioned: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    let found = if versioned {
        let version: i64 = tx
            .query_one("SELECT version FROM schema_version WHERE id = 1", &[])
            .await?
            .try_get(0)?;
        stored_u64(version, "schema version")?
    } else {
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await?
            .try_get(0)?;
        if tables != 0 {
            return Err(backend(PgError::Foreign).into());
        }
        tx.batch_execute(
            "CREATE TABLE schema_version (
                 id      INTEGER PRIMARY KEY CHECK (id = 1),
                 version BIGINT  NOT NULL CHECK (version >= 0)
             );
             INSERT INTO schema_version (id, version) VALUES (1, 0);",
        )
        .await?;
        0
    };
    let supported = MIGRATIONS.len() as u64;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported }.into());
    }
    for migration in MIGRATIONS
        .iter()
        .skip(usize::try_from(found).unwrap_or(usize::MAX))
    {
        tx.batch_execute(migration).await?;
    }
    tx.execute(
        "UPDATE schema_version SET version = $1 WHERE id = 1",
        &[&param(supported)?],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    crate::failures::failed(crate::failures::Store::State, e)
}

/// A `u64` as the `BIGINT` that stores it.
fn param(value: u64) -> TxResult<i64> {
    i64::try_from(value).map_err(|_| backend(PgError::TooLarge(value)).into())
}

/// A stored `BIGINT` as the `u64` it must be.
fn stored_u64(value: i64, what: &str) -> TxResult<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("stored {what} {value} is negative")).into())
}

/// Column `i` of `row`, a `BIGINT` holding a `u64`.
fn u64_at(row: &Row, i: usize) -> TxResult<u64> {
    stored_u64(row.try_get(i)?, row.columns()[i].name())
}

/// Column `i` of `row`, a `BIGINT` holding a `u32`.
fn u32_at(row: &Row, i: usize) -> TxResult<u32> {
    let value: i64 = row.try_get(i)?;
    u32::try_from(value).map_err(|_| {
        StoreError::Corrupt(format!(
            "stored {} {value} is out of range",
            row.columns()[i].name()
        ))
        .into()
    })
}

/// Runs `sql` (a statement prepared once per connection) and returns its rows.
async fn query(tx: &Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> TxResult<Vec<Row>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

/// As [`query`], for at most one row.
async fn query_opt(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> TxResult<Option<Row>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

/// As [`query`], for exactly one row.
async fn query_one(tx: &Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> TxResult<Row> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

/// Runs `sql` and returns how many rows it matched.
async fn execute(tx: &Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> TxResult<u64> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// The columns [`file_from_row`] reads, in its order.
macro_rules! file_columns {
    () => {
        "project, filename, version, size, sha256, blake2b_256, requires_python, \
         metadata_sha256, upload_time_us, yanked, uploader"
    };
}

fn file_from_row(row: &Row) -> TxResult<FileRecord> {
    Ok(FileRecord {
        project: row.try_get(0)?,
        filename: row.try_get(1)?,
        version: row.try_get(2)?,
        size: u64_at(row, 3)?,
        sha256: row.try_get(4)?,
        blake2b_256: row.try_get(5)?,
        requires_python: row.try_get(6)?,
        metadata_sha256: row.try_get(7)?,
        upload_time_us: row.try_get(8)?,
        yanked: row.try_get(9)?,
        uploader: row.try_get(10)?,
    })
}

fn project_from_row(row: &Row) -> TxResult<ProjectRecord> {
    Ok(ProjectRecord {
        name: row.try_get(0)?,
        display_name: row.try_get(1)?,
        created_by: row.try_get(2)?,
        created_us: row.try_get(3)?,
    })
}

fn page_from_row(row: &Row) -> TxResult<PageRecord> {
    Ok(PageRecord {
        project: row.try_get(0)?,
        sha256: row.try_get(1)?,
        length: u64_at(row, 2)?,
        bin: u32_at(row, 3)?,
    })
}

fn role_from_row(row: &Row) -> TxResult<RoleRecord> {
    Ok(RoleRecord {
        role: row.try_get(0)?,
        version: u64_at(row, 1)?,
        expires: row.try_get(2)?,
        length: u64_at(row, 3)?,
        sha256: row.try_get(4)?,
    })
}

/// The columns [`token_from_row`] reads, in its order.
macro_rules! token_columns {
    () => {
        "id, \"user\", secret_sha256, created_us, description, permission, projects, \
         expires_us, revoked_us, last_used_us"
    };
}

fn token_from_row(row: &Row) -> TxResult<TokenRecord> {
    let permission: String = row.try_get(5)?;
    let permission = TokenPermission::parse(&permission)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown token permission {permission:?}")))?;
    Ok(TokenRecord {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        secret_sha256: row.try_get(2)?,
        created_us: row.try_get(3)?,
        description: row.try_get(4)?,
        permission,
        scope: TokenScope::from_column(row.try_get::<_, Option<&str>>(6)?),
        expires_us: row.try_get(7)?,
        revoked_us: row.try_get(8)?,
        last_used_us: row.try_get(9)?,
    })
}

/// The columns [`claim_from_row`] reads, in its order.
macro_rules! claim_columns {
    () => {
        "project, tier, delegation, role_version, role_expires, role_sha256, role_length, \
         page_sha256, page_length"
    };
}

/// A claim without its nested roles ([`with_nested`] adds them).
fn claim_from_row(row: &Row) -> TxResult<ClaimRecord> {
    let tier: String = row.try_get(1)?;
    let tier = ClaimTier::parse(&tier)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown claim tier {tier:?}")))?;
    Ok(ClaimRecord {
        project: row.try_get(0)?,
        tier,
        delegation: row.try_get(2)?,
        role_version: u64_at(row, 3)?,
        role_expires: row.try_get(4)?,
        role_sha256: row.try_get(5)?,
        role_length: u64_at(row, 6)?,
        page_sha256: row.try_get(7)?,
        page_length: u64_at(row, 8)?,
        nested: Vec::new(),
    })
}

fn nested_from_row(row: &Row) -> TxResult<NestedRoleRecord> {
    Ok(NestedRoleRecord {
        name: row.try_get(0)?,
        version: u64_at(row, 1)?,
        expires: row.try_get(2)?,
        sha256: row.try_get(3)?,
        length: u64_at(row, 4)?,
    })
}

/// Maps every row with `f`.
fn all<T>(rows: &[Row], f: impl Fn(&Row) -> TxResult<T>) -> TxResult<Vec<T>> {
    rows.iter().map(f).collect()
}

/// `claim` with its nested roles.
async fn with_nested(tx: &Tx<'_>, mut claim: ClaimRecord) -> TxResult<ClaimRecord> {
    let rows = query(
        tx,
        "SELECT name, version, expires, sha256, length FROM claim_nested \
         WHERE project = $1 ORDER BY name",
        &[&claim.project],
    )
    .await?;
    claim.nested = all(&rows, nested_from_row)?;
    Ok(claim)
}

async fn claim_of(tx: &Tx<'_>, project: &str) -> TxResult<Option<ClaimRecord>> {
    let sql = concat!(
        "SELECT ",
        claim_columns!(),
        " FROM claims WHERE project = $1"
    );
    match query_opt(tx, sql, &[&project]).await? {
        Some(row) => Ok(Some(with_nested(tx, claim_from_row(&row)?).await?)),
        None => Ok(None),
    }
}

async fn is_claimed(tx: &Tx<'_>, project: &str) -> TxResult<bool> {
    let row = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM claims WHERE project = $1)",
        &[&project],
    )
    .await?;
    Ok(row.try_get(0)?)
}

async fn project_exists(tx: &Tx<'_>, project: &str) -> TxResult<bool> {
    let row = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM projects WHERE name = $1)",
        &[&project],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Whether `user` owns `project`: `None` when there is no such project.
async fn ownership(tx: &Tx<'_>, project: &str, user: &str) -> TxResult<Option<bool>> {
    let row = query_opt(
        tx,
        "SELECT EXISTS (SELECT 1 FROM project_owners WHERE project = $1 AND \"user\" = $2) \
         FROM projects WHERE name = $1",
        &[&project, &user],
    )
    .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

fn owner_from_row(row: &Row) -> TxResult<OwnerRecord> {
    Ok(OwnerRecord {
        project: row.try_get(0)?,
        user: row.try_get(1)?,
        added_us: row.try_get(2)?,
        added_by: row.try_get(3)?,
    })
}

fn audit_from_row(row: &Row) -> TxResult<AuditRecord> {
    Ok(AuditRecord {
        seq: u64_at(row, 0)?,
        time_us: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        project: row.try_get(4)?,
        detail: row.try_get(5)?,
    })
}

fn removed_from_row(row: &Row) -> TxResult<RemovedFileRecord> {
    Ok(RemovedFileRecord {
        filename: row.try_get(0)?,
        project: row.try_get(1)?,
        sha256: row.try_get(2)?,
        removed_us: row.try_get(3)?,
    })
}

async fn owners_of(tx: &Tx<'_>, project: &str) -> TxResult<Vec<OwnerRecord>> {
    let rows = query(
        tx,
        "SELECT project, \"user\", added_us, added_by FROM project_owners \
         WHERE project = $1 ORDER BY \"user\"",
        &[&project],
    )
    .await?;
    all(&rows, owner_from_row)
}

async fn insert_owner(tx: &Tx<'_>, o: &OwnerRecord) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO project_owners (project, \"user\", added_us, added_by) \
         VALUES ($1, $2, $3, $4)",
        &[&o.project, &o.user, &o.added_us, &o.added_by],
    )
    .await?;
    Ok(())
}

/// Appends an entry to the audit log, after every entry committed before
/// (a concurrent writer of the log fails to serialize and retries).
async fn audit(tx: &Tx<'_>, e: &AuditEntry) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO audit_log (seq, time_us, actor, action, project, detail) \
         SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4, $5 FROM audit_log",
        &[&e.time_us, &e.actor, &e.action, &e.project, &e.detail],
    )
    .await?;
    Ok(())
}

async fn insert_removed(tx: &Tx<'_>, r: &RemovedFileRecord) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO removed_files (filename, project, sha256, removed_us) \
         VALUES ($1, $2, $3, $4)",
        &[&r.filename, &r.project, &r.sha256, &r.removed_us],
    )
    .await?;
    Ok(())
}

async fn is_removed(tx: &Tx<'_>, filename: &str) -> TxResult<bool> {
    let row = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM removed_files WHERE filename = $1)",
        &[&filename],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Creates project `name`, its creator its one owner.
async fn create_project(
    tx: &Tx<'_>,
    name: &str,
    display_name: &str,
    creator: &str,
    created_us: i64,
) -> TxResult<()> {
    insert_project(tx, name, display_name, creator, created_us).await?;
    insert_owner(
        tx,
        &OwnerRecord {
            project: name.to_owned(),
            user: creator.to_owned(),
            added_us: created_us,
            added_by: creator.to_owned(),
        },
    )
    .await
}

/// The body of [`StateStore::add_owner`] and [`StateStore::remove_owner`]
/// in their write transaction.
async fn change_owner(
    tx: &Tx<'_>,
    project: &str,
    user: &str,
    actor: &Actor,
    add: bool,
) -> TxResult<OwnerChange> {
    if !project_exists(tx, project).await? {
        return Ok(OwnerChange::NoSuchProject);
    }
    let owners = owners_of(tx, project).await?;
    let entry = match owner_change(&owners, project, user, actor, add) {
        Ok(entry) => entry,
        Err(refusal) => return Ok(refusal),
    };
    if add {
        let owner = OwnerRecord {
            project: project.to_owned(),
            user: user.to_owned(),
            added_us: entry.time_us,
            added_by: entry.actor.clone(),
        };
        insert_owner(tx, &owner).await?;
    } else {
        execute(
            tx,
            "DELETE FROM project_owners WHERE project = $1 AND \"user\" = $2",
            &[&project, &user],
        )
        .await?;
    }
    audit(tx, &entry).await?;
    Ok(OwnerChange::Done)
}

/// The body of [`StateStore::remove_files`] in its write transaction.
async fn remove_in(tx: &Tx<'_>, r: &Removal, release: Option<&str>) -> TxResult<RemoveOutcome> {
    if !project_exists(tx, &r.project).await? {
        return Ok(RemoveOutcome::NotFound);
    }
    if is_claimed(tx, &r.project).await? {
        return Ok(RemoveOutcome::Claimed);
    }
    let rows = query(
        tx,
        concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE project = $1 AND ($2::text IS NULL OR release = $2) \
             AND ($3::text IS NULL OR filename = $3) ORDER BY filename"
        ),
        &[&r.project, &release, &r.filename],
    )
    .await?;
    let files = all(&rows, file_from_row)?;
    if files.is_empty() {
        return Ok(RemoveOutcome::NotFound);
    }
    let now = unix_micros();
    for f in &files {
        execute(tx, "DELETE FROM files WHERE filename = $1", &[&f.filename]).await?;
        let removed = RemovedFileRecord {
            filename: f.filename.clone(),
            project: f.project.clone(),
            sha256: f.sha256.clone(),
            removed_us: now,
        };
        insert_removed(tx, &removed).await?;
    }
    let change = queue_change(tx, &r.project).await?;
    audit(tx, &removal_entry(r, &files, now)).await?;
    Ok(RemoveOutcome::Removed { files, change })
}

async fn has_queued_change(tx: &Tx<'_>, project: &str) -> TxResult<bool> {
    let row = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM changes WHERE project = $1)",
        &[&project],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// The project and SHA-256 of the file stored under `filename`.
async fn stored_file(tx: &Tx<'_>, filename: &str) -> TxResult<Option<(String, String)>> {
    let row = query_opt(
        tx,
        "SELECT project, sha256 FROM files WHERE filename = $1",
        &[&filename],
    )
    .await?;
    Ok(row
        .map(|row| Ok::<_, tokio_postgres::Error>((row.try_get(0)?, row.try_get(1)?)))
        .transpose()?)
}

/// Why a stored file of `project` with the release and distribution of
/// `identity` refuses a new file, if there is one.
async fn identity_clash(
    tx: &Tx<'_>,
    project: &str,
    identity: &FileIdentity,
) -> TxResult<Option<AddFile>> {
    let row = query_opt(
        tx,
        "SELECT filename FROM files WHERE project = $1 AND release = $2 AND distribution = $3",
        &[&project, &identity.release, &identity.distribution],
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let filename: String = row.try_get(0)?;
    let stored = FileIdentity::of(&filename).map_err(|e| {
        StoreError::Corrupt(format!("stored file {filename:?} has an invalid name: {e}"))
    })?;
    Ok(Some(identity.refusal_beside(&stored)))
}

async fn insert_project(
    tx: &Tx<'_>,
    name: &str,
    display_name: &str,
    created_by: &str,
    created_us: i64,
) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO projects (name, display_name, created_by, created_us) \
         VALUES ($1, $2, $3, $4)",
        &[&name, &display_name, &created_by, &created_us],
    )
    .await?;
    Ok(())
}

async fn insert_file(tx: &Tx<'_>, file: &FileRecord, identity: &FileIdentity) -> TxResult<()> {
    let size = param(file.size)?;
    execute(
        tx,
        concat!(
            "INSERT INTO files (",
            file_columns!(),
            ", release, distribution) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        &[
            &file.project,
            &file.filename,
            &file.version,
            &size,
            &file.sha256,
            &file.blake2b_256,
            &file.requires_python,
            &file.metadata_sha256,
            &file.upload_time_us,
            &file.yanked,
            &file.uploader,
            &identity.release,
            &identity.distribution,
        ],
    )
    .await?;
    Ok(())
}

/// Queues a change for `project`, returning its sequence number: the next
/// value of the 'change' counter, whose row stays locked until commit, so
/// changes commit in sequence order. The notification goes out at commit.
async fn queue_change(tx: &Tx<'_>, project: &str) -> TxResult<u64> {
    let row = query_one(
        tx,
        "WITH next AS (UPDATE counters SET value = value + 1 WHERE name = 'change' \
         RETURNING value) \
         INSERT INTO changes (seq, project) SELECT value, $1 FROM next RETURNING seq",
        &[&project],
    )
    .await?;
    let seq = u64_at(&row, 0)?;
    query(tx, "SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
    Ok(seq)
}

/// Makes the [`StateRecord`] of one row of an export query.
type RecordFromRow = fn(&Row) -> TxResult<StateRecord>;

/// The queries of [`StateStore::export`] after the counters, in
/// [`StateRecord`]'s order, and what each row becomes. Claims come without
/// their nested roles ([`with_nested_roles`]).
const EXPORTS: [(&str, RecordFromRow); 13] = [
    ("SELECT key, value FROM settings ORDER BY key", |row| {
        Ok(StateRecord::Setting {
            key: row.try_get(0)?,
            value: row.try_get(1)?,
        })
    }),
    (
        concat!("SELECT ", token_columns!(), " FROM tokens ORDER BY id"),
        |row| token_from_row(row).map(StateRecord::Token),
    ),
    (
        "SELECT name, display_name, created_by, created_us FROM projects ORDER BY name",
        |row| project_from_row(row).map(StateRecord::Project),
    ),
    (
        "SELECT project, \"user\", added_us, added_by FROM project_owners \
         ORDER BY project, \"user\"",
        |row| owner_from_row(row).map(StateRecord::Owner),
    ),
    (
        concat!(
            "SELECT ",
            file_columns!(),
            ", release, distribution FROM files ORDER BY filename"
        ),
        |row| {
            Ok(StateRecord::File {
                file: file_from_row(row)?,
                release: row.try_get(11)?,
                distribution: row.try_get(12)?,
            })
        },
    ),
    (
        "SELECT filename, project, sha256, removed_us FROM removed_files ORDER BY filename",
        |row| removed_from_row(row).map(StateRecord::Removed),
    ),
    (
        "SELECT project, upstream, fetched_us FROM upstream_projects ORDER BY project",
        |row| upstream_from_row(row).map(StateRecord::Upstream),
    ),
    (
        "SELECT u.filename, u.url FROM upstream_files u \
         JOIN files f ON f.filename = u.filename ORDER BY u.filename",
        |row| upstream_file_from_row(row).map(StateRecord::UpstreamFile),
    ),
    (
        concat!("SELECT ", claim_columns!(), " FROM claims ORDER BY project"),
        |row| claim_from_row(row).map(StateRecord::Claim),
    ),
    ("SELECT seq, project FROM changes ORDER BY seq", |row| {
        Ok(StateRecord::Change {
            seq: u64_at(row, 0)?,
            project: row.try_get(1)?,
        })
    }),
    (
        "SELECT project, sha256, length, bin FROM pages ORDER BY project",
        |row| page_from_row(row).map(StateRecord::Page),
    ),
    (
        "SELECT name, version, expires, length, sha256 FROM roles ORDER BY name",
        |row| role_from_row(row).map(StateRecord::Role),
    ),
    (
        "SELECT seq, time_us, actor, action, project, detail FROM audit_log ORDER BY seq",
        |row| audit_from_row(row).map(StateRecord::Audit),
    ),
];

/// Fills in the nested roles of the claims among `records`, with one query.
async fn with_nested_roles(tx: &Tx<'_>, records: &mut [StateRecord]) -> TxResult<()> {
    let projects: Vec<&str> = records
        .iter()
        .filter_map(|record| match record {
            StateRecord::Claim(claim) => Some(claim.project.as_str()),
            _ => None,
        })
        .collect();
    if projects.is_empty() {
        return Ok(());
    }
    let rows = query(
        tx,
        "SELECT project, name, version, expires, sha256, length FROM claim_nested \
         WHERE project = ANY($1) ORDER BY project, name",
        &[&projects],
    )
    .await?;
    let mut nested: std::collections::HashMap<String, Vec<NestedRoleRecord>> =
        std::collections::HashMap::new();
    for row in &rows {
        let project: String = row.try_get(0)?;
        nested.entry(project).or_default().push(NestedRoleRecord {
            name: row.try_get(1)?,
            version: u64_at(row, 2)?,
            expires: row.try_get(3)?,
            sha256: row.try_get(4)?,
            length: u64_at(row, 5)?,
        });
    }
    for record in records {
        if let StateRecord::Claim(claim) = record {
            claim.nested = nested.remove(&claim.project).unwrap_or_default();
        }
    }
    Ok(())
}

/// The values `$value` of the records of `$chunk` that match `$variant`.
macro_rules! each {
    ($chunk:expr, $variant:pat => $value:expr) => {
        $chunk
            .iter()
            .filter_map(|record| match record {
                $variant => Some($value),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// Writes one chunk of exported records, as they were, inside
/// [`StateStore::restore`]'s transaction: one statement per kind of
/// record (arrays unnested into rows), kinds in the order of
/// [`StateRecord`], so that every row follows those it refers to.
async fn restore_chunk(tx: &Tx<'_>, chunk: &[StateRecord]) -> TxResult<()> {
    for (publish, change) in
        each!(chunk, StateRecord::Counters { publish, change } => (*publish, *change))
    {
        execute(
            tx,
            "UPDATE counters SET value = CASE name WHEN 'publish' THEN $1::bigint ELSE $2::bigint END \
             WHERE name IN ('publish', 'change')",
            &[&param(publish)?, &param(change)?],
        )
        .await?;
    }
    let settings = each!(chunk, StateRecord::Setting { key, value } => (key, value));
    if !settings.is_empty() {
        let (keys, values): (Vec<_>, Vec<_>) = settings.into_iter().unzip();
        execute(
            tx,
            "INSERT INTO settings (key, value) SELECT * FROM unnest($1::text[], $2::text[])",
            &[&keys, &values],
        )
        .await?;
    }
    let tokens = each!(chunk, StateRecord::Token(t) => t);
    if !tokens.is_empty() {
        execute(
            tx,
            concat!(
                "INSERT INTO tokens (",
                token_columns!(),
                ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], \
                 $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])"
            ),
            &[
                &tokens.iter().map(|t| &t.id).collect::<Vec<_>>(),
                &tokens.iter().map(|t| &t.user).collect::<Vec<_>>(),
                &tokens.iter().map(|t| &t.secret_sha256).collect::<Vec<_>>(),
                &tokens.iter().map(|t| t.created_us).collect::<Vec<_>>(),
                &tokens.iter().map(|t| &t.description).collect::<Vec<_>>(),
                &tokens
                    .iter()
                    .map(|t| t.permission.as_str())
                    .collect::<Vec<_>>(),
                &tokens
                    .iter()
                    .map(|t| t.scope.to_column())
                    .collect::<Vec<_>>(),
                &tokens.iter().map(|t| t.expires_us).collect::<Vec<_>>(),
                &tokens.iter().map(|t| t.revoked_us).collect::<Vec<_>>(),
                &tokens.iter().map(|t| t.last_used_us).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    let projects = each!(chunk, StateRecord::Project(p) => p);
    if !projects.is_empty() {
        execute(
            tx,
            "INSERT INTO projects (name, display_name, created_by, created_us) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
            &[
                &projects.iter().map(|p| &p.name).collect::<Vec<_>>(),
                &projects.iter().map(|p| &p.display_name).collect::<Vec<_>>(),
                &projects.iter().map(|p| &p.created_by).collect::<Vec<_>>(),
                &projects.iter().map(|p| p.created_us).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    for owner in each!(chunk, StateRecord::Owner(o) => o) {
        insert_owner(tx, owner).await?;
    }
    restore_files(tx, chunk).await?;
    for removed in each!(chunk, StateRecord::Removed(r) => r) {
        insert_removed(tx, removed).await?;
    }
    for upstream in each!(chunk, StateRecord::Upstream(u) => u) {
        upsert_upstream(tx, upstream).await?;
    }
    for file in each!(chunk, StateRecord::UpstreamFile(f) => f) {
        upsert_upstream_file(tx, file).await?;
    }
    for claim in each!(chunk, StateRecord::Claim(c) => c) {
        upsert_claim(tx, claim).await?;
    }
    restore_published(tx, chunk).await
}

/// The files of [`restore_chunk`].
async fn restore_files(tx: &Tx<'_>, chunk: &[StateRecord]) -> TxResult<()> {
    let files = each!(chunk, StateRecord::File { file, release, distribution } => (file, release, distribution));
    if !files.is_empty() {
        let sizes = files
            .iter()
            .map(|(f, _, _)| param(f.size))
            .collect::<TxResult<Vec<_>>>()?;
        execute(
            tx,
            concat!(
                "INSERT INTO files (",
                file_columns!(),
                ", release, distribution) SELECT * FROM unnest($1::text[], $2::text[], \
                 $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], \
                 $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[])"
            ),
            &[
                &files.iter().map(|(f, _, _)| &f.project).collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| &f.filename)
                    .collect::<Vec<_>>(),
                &files.iter().map(|(f, _, _)| &f.version).collect::<Vec<_>>(),
                &sizes,
                &files.iter().map(|(f, _, _)| &f.sha256).collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| &f.blake2b_256)
                    .collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| &f.requires_python)
                    .collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| &f.metadata_sha256)
                    .collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| f.upload_time_us)
                    .collect::<Vec<_>>(),
                &files.iter().map(|(f, _, _)| &f.yanked).collect::<Vec<_>>(),
                &files
                    .iter()
                    .map(|(f, _, _)| &f.uploader)
                    .collect::<Vec<_>>(),
                &files.iter().map(|(_, r, _)| *r).collect::<Vec<_>>(),
                &files.iter().map(|(_, _, d)| *d).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The queued changes and published records of [`restore_chunk`].
async fn restore_published(tx: &Tx<'_>, chunk: &[StateRecord]) -> TxResult<()> {
    let changes = each!(chunk, StateRecord::Change { seq, project } => (seq, project));
    if !changes.is_empty() {
        let seqs = changes
            .iter()
            .map(|(seq, _)| param(**seq))
            .collect::<TxResult<Vec<_>>>()?;
        execute(
            tx,
            "INSERT INTO changes (seq, project) SELECT * FROM unnest($1::bigint[], $2::text[])",
            &[&seqs, &changes.iter().map(|(_, p)| *p).collect::<Vec<_>>()],
        )
        .await?;
    }
    let pages = each!(chunk, StateRecord::Page(p) => p);
    if !pages.is_empty() {
        let lengths = pages
            .iter()
            .map(|p| param(p.length))
            .collect::<TxResult<Vec<_>>>()?;
        execute(
            tx,
            "INSERT INTO pages (project, sha256, length, bin) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])",
            &[
                &pages.iter().map(|p| &p.project).collect::<Vec<_>>(),
                &pages.iter().map(|p| &p.sha256).collect::<Vec<_>>(),
                &lengths,
                &pages.iter().map(|p| i64::from(p.bin)).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    for r in each!(chunk, StateRecord::Role(r) => r) {
        let (version, length) = (param(r.version)?, param(r.length)?);
        execute(
            tx,
            "INSERT INTO roles (name, version, expires, length, sha256) VALUES ($1, $2, $3, $4, $5)",
            &[&r.role, &version, &r.expires, &length, &r.sha256],
        )
        .await?;
    }
    for a in each!(chunk, StateRecord::Audit(a) => a) {
        execute(
            tx,
            "INSERT INTO audit_log (seq, time_us, actor, action, project, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &param(a.seq)?,
                &a.time_us,
                &a.actor,
                &a.action,
                &a.project,
                &a.detail,
            ],
        )
        .await?;
    }
    for bytes in each!(chunk, StateRecord::Timestamp(bytes) => bytes) {
        execute(
            tx,
            "INSERT INTO \"timestamp\" (id, bytes) VALUES (1, $1)",
            &[bytes],
        )
        .await?;
    }
    Ok(())
}

/// One file of [`StateStore::add_file`], inside a transaction; the same
/// checks in the same order as the `SQLite` store's.
/// Whether project `project` is pulled from an upstream index.
async fn is_upstream(tx: &Tx<'_>, project: &str) -> TxResult<bool> {
    let row = query_one(
        tx,
        "SELECT EXISTS (SELECT 1 FROM upstream_projects WHERE project = $1)",
        &[&project],
    )
    .await?;
    Ok(row.try_get(0)?)
}

fn upstream_from_row(row: &Row) -> TxResult<UpstreamProjectRecord> {
    Ok(UpstreamProjectRecord {
        project: row.try_get(0)?,
        upstream: row.try_get(1)?,
        fetched_us: row.try_get(2)?,
    })
}

fn upstream_file_from_row(row: &Row) -> TxResult<UpstreamFileRecord> {
    Ok(UpstreamFileRecord {
        filename: row.try_get(0)?,
        url: row.try_get(1)?,
    })
}

async fn upsert_upstream(tx: &Tx<'_>, u: &UpstreamProjectRecord) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO upstream_projects (project, upstream, fetched_us) VALUES ($1, $2, $3) \
         ON CONFLICT (project) DO UPDATE SET upstream = $2, fetched_us = $3",
        &[&u.project, &u.upstream, &u.fetched_us],
    )
    .await?;
    Ok(())
}

async fn upsert_upstream_file(tx: &Tx<'_>, f: &UpstreamFileRecord) -> TxResult<()> {
    execute(
        tx,
        "INSERT INTO upstream_files (filename, url) VALUES ($1, $2) \
         ON CONFLICT (filename) DO UPDATE SET url = $2",
        &[&f.filename, &f.url],
    )
    .await?;
    Ok(())
}

/// The body of [`StateStore::pull_upstream`] in its write transaction.
async fn pull_in(tx: &Tx<'_>, pull: &UpstreamPull) -> TxResult<UpstreamPullOutcome> {
    let project = &pull.project;
    let mut changes = UpstreamChanges::default();
    if project_exists(tx, project).await? {
        if !is_upstream(tx, project).await? {
            return Ok(UpstreamPullOutcome::Local);
        }
    } else {
        insert_project(
            tx,
            project,
            &pull.display_name,
            UPSTREAM_CREATOR,
            pull.fetched_us,
        )
        .await?;
        changes.created = true;
    }
    upsert_upstream(
        tx,
        &UpstreamProjectRecord {
            project: project.clone(),
            upstream: pull.upstream.clone(),
            fetched_us: pull.fetched_us,
        },
    )
    .await?;
    for (file, url) in &pull.files {
        let identity = identity_of(&file.filename)?;
        if file.project != *project {
            return Err(StoreError::Misuse(format!(
                "pull of {project} has file {} of project {}",
                file.filename, file.project
            ))
            .into());
        }
        if let Some((stored_project, sha256)) = stored_file(tx, &file.filename).await? {
            if stored_project != *project || sha256 != file.sha256 {
                changes
                    .refused
                    .push((file.filename.clone(), AddFile::Conflict));
                continue;
            }
            changes.yank_changed += usize::try_from(
                execute(
                    tx,
                    "UPDATE files SET yanked = $2 \
                     WHERE filename = $1 AND yanked IS DISTINCT FROM $2",
                    &[&file.filename, &file.yanked],
                )
                .await?,
            )
            .unwrap_or(usize::MAX);
            continue;
        }
        if is_removed(tx, &file.filename).await? {
            changes
                .refused
                .push((file.filename.clone(), AddFile::Removed));
            continue;
        }
        if let Some(refusal) = identity_clash(tx, project, &identity).await? {
            changes.refused.push((file.filename.clone(), refusal));
            continue;
        }
        insert_file(tx, file, &identity).await?;
        upsert_upstream_file(
            tx,
            &UpstreamFileRecord {
                filename: file.filename.clone(),
                url: url.clone(),
            },
        )
        .await?;
        changes.added += 1;
    }
    if changes.created || changes.added > 0 || changes.yank_changed > 0 {
        queue_change(tx, project).await?;
    }
    Ok(UpstreamPullOutcome::Pulled(changes))
}

/// The body of [`StateStore::release_upstream`] in its write transaction.
async fn release_in(
    tx: &Tx<'_>,
    project: &str,
    owner: &str,
    actor: &Actor,
    now_us: i64,
) -> TxResult<bool> {
    if !is_upstream(tx, project).await? {
        return Ok(false);
    }
    execute(
        tx,
        "DELETE FROM upstream_files WHERE filename IN \
         (SELECT filename FROM files WHERE project = $1)",
        &[&project],
    )
    .await?;
    let dropped = execute(tx, "DELETE FROM files WHERE project = $1", &[&project]).await?;
    execute(
        tx,
        "DELETE FROM upstream_projects WHERE project = $1",
        &[&project],
    )
    .await?;
    insert_owner(
        tx,
        &OwnerRecord {
            project: project.to_owned(),
            user: owner.to_owned(),
            added_us: now_us,
            added_by: actor.audit_name(),
        },
    )
    .await?;
    audit(
        tx,
        &AuditEntry {
            time_us: now_us,
            actor: actor.audit_name(),
            action: "release-upstream",
            project: project.to_owned(),
            detail: format!(
                "released from its upstream to owner {owner}; {dropped} upstream files dropped"
            ),
        },
    )
    .await?;
    queue_change(tx, project).await?;
    Ok(true)
}

async fn add_one(
    tx: &Tx<'_>,
    display_name: &str,
    file: &FileRecord,
    identity: &FileIdentity,
) -> TxResult<AddFile> {
    let owns = ownership(tx, &file.project, &file.uploader).await?;
    if owns.is_some() && is_upstream(tx, &file.project).await? {
        return Ok(AddFile::Upstream);
    }
    if owns == Some(false) {
        return Ok(AddFile::Forbidden);
    }
    if owns.is_some() && is_claimed(tx, &file.project).await? {
        return Ok(AddFile::Claimed);
    }
    if let Some((project, sha256)) = stored_file(tx, &file.filename).await? {
        return Ok(if project == file.project && sha256 == file.sha256 {
            AddFile::Identical
        } else {
            AddFile::Conflict
        });
    }
    if is_removed(tx, &file.filename).await? {
        return Ok(AddFile::Removed);
    }
    if let Some(refusal) = identity_clash(tx, &file.project, identity).await? {
        return Ok(refusal);
    }
    if owns.is_none() {
        create_project(
            tx,
            &file.project,
            display_name,
            &file.uploader,
            file.upload_time_us,
        )
        .await?;
    }
    insert_file(tx, file, identity).await?;
    let change = queue_change(tx, &file.project).await?;
    Ok(AddFile::Added { change })
}

/// Stores `c` as the claim of its project, replacing the stored claim and
/// its nested roles.
async fn upsert_claim(tx: &Tx<'_>, c: &ClaimRecord) -> TxResult<()> {
    let project = &c.project;
    let (role_version, role_length, page_length) = (
        param(c.role_version)?,
        param(c.role_length)?,
        param(c.page_length)?,
    );
    execute(
        tx,
        concat!(
            "INSERT INTO claims (",
            claim_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (project) DO UPDATE SET tier = excluded.tier, \
             delegation = excluded.delegation, role_version = excluded.role_version, \
             role_expires = excluded.role_expires, role_sha256 = excluded.role_sha256, \
             role_length = excluded.role_length, page_sha256 = excluded.page_sha256, \
             page_length = excluded.page_length"
        ),
        &[
            &c.project,
            &c.tier.as_str(),
            &c.delegation,
            &role_version,
            &c.role_expires,
            &c.role_sha256,
            &role_length,
            &c.page_sha256,
            &page_length,
        ],
    )
    .await?;
    // The claim's list replaces the stored one.
    execute(
        tx,
        "DELETE FROM claim_nested WHERE project = $1",
        &[project],
    )
    .await?;
    for n in &c.nested {
        let (version, length) = (param(n.version)?, param(n.length)?);
        execute(
            tx,
            "INSERT INTO claim_nested (project, name, version, expires, sha256, length) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[project, &n.name, &version, &n.expires, &n.sha256, &length],
        )
        .await?;
    }
    Ok(())
}

/// The body of [`StateStore::record_transaction`], in its write
/// transaction; every refusal rolls back what was written before it.
async fn record_in(
    tx: &Tx<'_>,
    t: &ProjectTransaction,
    identities: &[FileIdentity],
) -> TxResult<Decision<Result<TransactionOutcome>>> {
    use Decision::{Commit, RollBack};
    let project = &t.claim.project;
    match ownership(tx, project, &t.user).await? {
        Some(false) => return Ok(RollBack(Ok(TransactionOutcome::Forbidden))),
        Some(true) => {}
        None => {
            let created_us = match t.files.iter().map(|f| f.upload_time_us).min() {
                Some(earliest) => earliest,
                None => unix_micros(),
            };
            create_project(tx, project, &t.display_name, &t.user, created_us).await?;
        }
    }
    let current = match claim_of(tx, project).await? {
        // A first claim was checked against the published page: a change
        // queued since (a twine upload that won the race) is not on it.
        None => t.checked_against.is_none() && !has_queued_change(tx, project).await?,
        Some(stored) => claim_is_current(&stored, t),
    };
    if !current {
        return Ok(RollBack(Ok(TransactionOutcome::Stale)));
    }
    for (file, identity) in t.files.iter().zip(identities) {
        let clash = match stored_file(tx, &file.filename).await? {
            Some((p, sha256)) => p != *project || sha256 != file.sha256,
            None if identity_clash(tx, project, identity).await?.is_none()
                && !is_removed(tx, &file.filename).await? =>
            {
                insert_file(tx, file, identity).await?;
                false
            }
            None => true,
        };
        if clash {
            let filename = file.filename.clone();
            return Ok(RollBack(Ok(TransactionOutcome::Conflict { filename })));
        }
    }
    for (filename, yanked) in &t.yanked {
        // Rows matched, changed or not: 0 is a file the project lacks.
        let matched = execute(
            tx,
            "UPDATE files SET yanked = $3 WHERE project = $1 AND filename = $2",
            &[project, filename, yanked],
        )
        .await?;
        if matched == 0 {
            return Ok(RollBack(Err(StoreError::Misuse(format!(
                "transaction of {project} sets the yank state of {filename}, not a file of it"
            )))));
        }
    }
    upsert_claim(tx, &t.claim).await?;
    let change = queue_change(tx, project).await?;
    Ok(Commit(Ok(TransactionOutcome::Recorded { change })))
}

impl StateStore for PgState {
    fn put_token(&self, token: &TokenRecord) -> Result<()> {
        // Checked first, so that an existing id is refused at once, not
        // after every retry of a unique violation; the constraint decides a
        // race.
        self.write_or_roll_back(Kind::Plain, async |tx| {
            let exists = query_opt(tx, "SELECT 1 FROM tokens WHERE id = $1", &[&token.id]).await?;
            if exists.is_some() {
                let refused = backend(PgError::TokenExists(token.id.clone()));
                return Ok(Decision::RollBack(Err(refused)));
            }
            execute(
                tx,
                concat!(
                    "INSERT INTO tokens (",
                    token_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &token.id,
                    &token.user,
                    &token.secret_sha256,
                    &token.created_us,
                    &token.description,
                    &token.permission.as_str(),
                    &token.scope.to_column(),
                    &token.expires_us,
                    &token.revoked_us,
                    &token.last_used_us,
                ],
            )
            .await?;
            Ok(Decision::Commit(Ok(())))
        })?
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.read(async |tx| {
            let sql = concat!("SELECT ", token_columns!(), " FROM tokens WHERE id = $1");
            query_opt(tx, sql, &[&id])
                .await?
                .as_ref()
                .map(token_from_row)
                .transpose()
        })
    }

    fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>> {
        self.read(async |tx| {
            let sql = concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens WHERE $1::text IS NULL OR \"user\" = $1 ORDER BY created_us, id"
            );
            query(tx, sql, &[&user])
                .await?
                .iter()
                .map(token_from_row)
                .collect()
        })
    }

    fn revoke_token(&self, id: &str, now_us: i64) -> Result<RevokeToken> {
        self.write(Kind::Plain, async |tx| {
            let sql = "SELECT revoked_us FROM tokens WHERE id = $1 FOR UPDATE";
            let Some(row) = query_opt(tx, sql, &[&id]).await? else {
                return Ok(RevokeToken::NotFound);
            };
            if let Some(revoked_us) = row.try_get::<_, Option<i64>>(0)? {
                return Ok(RevokeToken::AlreadyRevoked { revoked_us });
            }
            execute(
                tx,
                "UPDATE tokens SET revoked_us = $2 WHERE id = $1",
                &[&id, &now_us],
            )
            .await?;
            Ok(RevokeToken::Revoked)
        })
    }

    fn touch_token(&self, id: &str, now_us: i64, interval_us: i64) -> Result<bool> {
        self.write(Kind::Plain, async |tx| {
            let changed = execute(
                tx,
                "UPDATE tokens SET last_used_us = $2 WHERE id = $1 \
                 AND (last_used_us IS NULL OR last_used_us <= $3)",
                &[&id, &now_us, &now_us.saturating_sub(interval_us)],
            )
            .await?;
            Ok(changed > 0)
        })
    }

    fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        self.read(async |tx| {
            let sql =
                "SELECT name, display_name, created_by, created_us FROM projects WHERE name = $1";
            query_opt(tx, sql, &[&name])
                .await?
                .as_ref()
                .map(project_from_row)
                .transpose()
        })
    }

    fn projects(&self) -> Result<Vec<ProjectRecord>> {
        self.read(async |tx| {
            let sql =
                "SELECT name, display_name, created_by, created_us FROM projects ORDER BY name";
            all(&query(tx, sql, &[]).await?, project_from_row)
        })
    }

    fn recently_updated(&self, limit: usize) -> Result<Vec<RecentUpload>> {
        crate::rules::recently_updated(limit, |window| {
            let window = i64::try_from(window).unwrap_or(i64::MAX);
            self.read(async |tx| {
                let sql = "SELECT f.project, p.display_name, f.version, f.upload_time_us
                           FROM files f JOIN projects p ON p.name = f.project
                           ORDER BY f.upload_time_us DESC, f.filename LIMIT $1";
                query(tx, sql, &[&window])
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(RecentUpload {
                            project: row.try_get(0)?,
                            display_name: row.try_get(1)?,
                            version: row.try_get(2)?,
                            upload_time_us: row.try_get(3)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn search_projects(&self, query_text: &str, limit: usize) -> Result<Vec<ProjectRecord>> {
        if query_text.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let end = crate::rules::prefix_end(query_text);
        self.read(async |tx| {
            let sql = "SELECT name, display_name, created_by, created_us FROM projects
                       WHERE name >= $1 AND name < $2 ORDER BY name LIMIT $3";
            let mut found = all(
                &query(tx, sql, &[&query_text, &end, &limit]).await?,
                project_from_row,
            )?;
            let rest = limit - i64::try_from(found.len()).unwrap_or(limit);
            if rest > 0 {
                // strpos, not LIKE: free of wildcards.
                let sql = "SELECT name, display_name, created_by, created_us FROM projects
                           WHERE strpos(name, $1) > 1 ORDER BY name LIMIT $2";
                found.extend(all(
                    &query(tx, sql, &[&query_text, &rest]).await?,
                    project_from_row,
                )?);
            }
            Ok(found)
        })
    }

    fn files(&self, project: &str) -> Result<Vec<FileRecord>> {
        self.read(async |tx| {
            let sql = concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE project = $1 ORDER BY filename"
            );
            all(&query(tx, sql, &[&project]).await?, file_from_row)
        })
    }

    fn file_by_sha256(&self, sha256: &str) -> Result<Option<FileRecord>> {
        // As in SQLite: should two files share bytes, the first by filename.
        self.read(async |tx| {
            let sql = concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE sha256 = $1 ORDER BY filename LIMIT 1"
            );
            query_opt(tx, sql, &[&sha256])
                .await?
                .as_ref()
                .map(file_from_row)
                .transpose()
        })
    }

    fn file(&self, filename: &str) -> Result<Option<FileRecord>> {
        self.read(async |tx| {
            let sql = concat!(
                "SELECT ",
                file_columns!(),
                " FROM files WHERE filename = $1"
            );
            query_opt(tx, sql, &[&filename])
                .await?
                .as_ref()
                .map(file_from_row)
                .transpose()
        })
    }

    fn add_file(&self, display_name: &str, file: &FileRecord) -> Result<AddFile> {
        // Concurrent uploads are concurrent transactions here: the database
        // orders them, so there is no group commit to share.
        self.add_files(&[(display_name, file)])?
            .pop()
            .unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "add_files answered nothing for one file".to_owned(),
                ))
            })
    }

    fn add_files(&self, files: &[(&str, &FileRecord)]) -> Result<Vec<Result<AddFile>>> {
        self.write(Kind::QueuesChange, async |tx| {
            let mut outcomes = Vec::with_capacity(files.len());
            for (display_name, file) in files {
                let identity = match identity_of(&file.filename) {
                    Ok(identity) => identity,
                    Err(e) => {
                        outcomes.push(Err(e));
                        continue;
                    }
                };
                // A savepoint per file: one that fails alone is rolled back
                // alone; one that lost a race retries the whole transaction.
                let savepoint = tx.savepoint("add_file").await?;
                match add_one(&savepoint, display_name, file, &identity).await {
                    Ok(added) => {
                        savepoint.commit().await?;
                        outcomes.push(Ok(added));
                    }
                    Err(e) if e.retryable() => return Err(e),
                    Err(e) => {
                        savepoint.rollback().await?;
                        outcomes.push(Err(e.into_store()));
                    }
                }
            }
            Ok(outcomes)
        })
    }

    fn set_yanked(
        &self,
        project: &str,
        version: &str,
        yanked: Option<&str>,
        user: &str,
    ) -> Result<YankOutcome> {
        let release = bulwark_pypi::Version::parse(version)
            .map_err(|e| StoreError::Misuse(format!("cannot yank version {version:?}: {e}")))?
            .canonical();
        self.write(Kind::QueuesChange, async |tx| {
            match ownership(tx, project, user).await? {
                None => return Ok(YankOutcome::NotFound),
                Some(false) => return Ok(YankOutcome::Forbidden),
                Some(true) => {}
            }
            if is_claimed(tx, project).await? {
                return Ok(YankOutcome::Claimed);
            }
            let files = query_one(
                tx,
                "SELECT count(*) FROM files WHERE project = $1 AND release = $2",
                &[&project, &release],
            )
            .await?;
            if u64_at(&files, 0)? == 0 {
                return Ok(YankOutcome::NotFound);
            }
            // Only files whose state really changes count; when none does,
            // nothing is queued.
            let changed = execute(
                tx,
                "UPDATE files SET yanked = $3 \
                 WHERE project = $1 AND release = $2 AND yanked IS DISTINCT FROM $3",
                &[&project, &release, &yanked],
            )
            .await?;
            if changed > 0 {
                queue_change(tx, project).await?;
            }
            Ok(YankOutcome::Updated { files: changed })
        })
    }

    fn record_transaction(&self, t: &ProjectTransaction) -> Result<TransactionOutcome> {
        let identities = check_transaction(t)?;
        self.write_or_roll_back(Kind::QueuesChange, async |tx| {
            record_in(tx, t, &identities).await
        })?
    }

    fn claim(&self, project: &str) -> Result<Option<ClaimRecord>> {
        self.read(async |tx| claim_of(tx, project).await)
    }

    fn claims(&self) -> Result<Vec<ClaimRecord>> {
        self.read(async |tx| {
            let sql = concat!("SELECT ", claim_columns!(), " FROM claims ORDER BY project");
            let mut claims = Vec::new();
            for row in query(tx, sql, &[]).await? {
                claims.push(with_nested(tx, claim_from_row(&row)?).await?);
            }
            Ok(claims)
        })
    }

    fn set_claim_delegation(
        &self,
        project: &str,
        tier: ClaimTier,
        delegation: &str,
    ) -> Result<bool> {
        self.write(Kind::QueuesChange, async |tx| {
            if !is_claimed(tx, project).await? {
                return Ok(false);
            }
            // As for yanks: when nothing changes, nothing is queued.
            let changed = execute(
                tx,
                "UPDATE claims SET tier = $2, delegation = $3 \
                 WHERE project = $1 AND (tier IS DISTINCT FROM $2 OR delegation IS DISTINCT FROM $3)",
                &[&project, &tier.as_str(), &delegation],
            )
            .await?;
            if changed > 0 {
                queue_change(tx, project).await?;
            }
            Ok(true)
        })
    }

    fn owners(&self, project: &str) -> Result<Vec<OwnerRecord>> {
        self.read(async |tx| owners_of(tx, project).await)
    }

    fn add_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange> {
        // SERIALIZABLE: a refusal has written nothing, and two changes
        // racing on the same owners cannot both commit.
        self.write(Kind::Plain, async |tx| {
            change_owner(tx, project, user, actor, true).await
        })
    }

    fn remove_owner(&self, project: &str, user: &str, actor: &Actor) -> Result<OwnerChange> {
        // SERIALIZABLE: two removals that each saw two owners write skew;
        // one fails to serialize, retries, and finds the last owner.
        self.write(Kind::Plain, async |tx| {
            change_owner(tx, project, user, actor, false).await
        })
    }

    fn remove_files(&self, removal: &Removal) -> Result<RemoveOutcome> {
        let release = removal_release(removal)?;
        self.write(Kind::QueuesChange, async |tx| {
            remove_in(tx, removal, release.as_deref()).await
        })
    }

    fn removed_files(&self) -> Result<Vec<RemovedFileRecord>> {
        self.read(async |tx| {
            let sql = "SELECT filename, project, sha256, removed_us FROM removed_files \
                       ORDER BY filename";
            all(&query(tx, sql, &[]).await?, removed_from_row)
        })
    }

    fn pull_upstream(&self, pull: &UpstreamPull) -> Result<UpstreamPullOutcome> {
        self.write(Kind::QueuesChange, async |tx| pull_in(tx, pull).await)
    }

    fn upstream_project(&self, project: &str) -> Result<Option<UpstreamProjectRecord>> {
        self.read(async |tx| {
            let sql = "SELECT project, upstream, fetched_us FROM upstream_projects \
                       WHERE project = $1";
            query_opt(tx, sql, &[&project])
                .await?
                .map(|row| upstream_from_row(&row))
                .transpose()
        })
    }

    fn upstream_projects(&self) -> Result<Vec<UpstreamProjectRecord>> {
        self.read(async |tx| {
            let sql = "SELECT project, upstream, fetched_us FROM upstream_projects \
                       ORDER BY project";
            all(&query(tx, sql, &[]).await?, upstream_from_row)
        })
    }

    fn upstream_file(&self, filename: &str) -> Result<Option<UpstreamFileRecord>> {
        self.read(async |tx| {
            let sql = "SELECT u.filename, u.url FROM upstream_files u \
                       JOIN files f ON f.filename = u.filename WHERE u.filename = $1";
            query_opt(tx, sql, &[&filename])
                .await?
                .map(|row| upstream_file_from_row(&row))
                .transpose()
        })
    }

    fn upstream_fetched(&self, project: &str, fetched_us: i64) -> Result<()> {
        self.write(Kind::Plain, async |tx| {
            execute(
                tx,
                "UPDATE upstream_projects SET fetched_us = $2 WHERE project = $1",
                &[&project, &fetched_us],
            )
            .await?;
            Ok(())
        })
    }

    fn release_upstream(
        &self,
        project: &str,
        owner: &str,
        actor: &Actor,
        now_us: i64,
    ) -> Result<bool> {
        self.write(Kind::QueuesChange, async |tx| {
            release_in(tx, project, owner, actor, now_us).await
        })
    }

    fn audit_log(&self, project: Option<&str>) -> Result<Vec<AuditRecord>> {
        self.read(async |tx| {
            let sql = "SELECT seq, time_us, actor, action, project, detail FROM audit_log \
                       WHERE $1::text IS NULL OR project = $1 ORDER BY seq";
            all(&query(tx, sql, &[&project]).await?, audit_from_row)
        })
    }

    fn pending_changes(&self) -> Result<PendingChanges> {
        // One snapshot; changes commit in sequence order (the counter row),
        // so no change below `up_to_change` can appear later.
        self.read(async |tx| {
            let max = query_one(tx, "SELECT coalesce(max(seq), 0) FROM changes", &[]).await?;
            let rows = query(
                tx,
                "SELECT DISTINCT project FROM changes ORDER BY project",
                &[],
            )
            .await?;
            Ok(PendingChanges {
                up_to_change: u64_at(&max, 0)?,
                projects: all(&rows, |row| Ok(row.try_get(0)?))?,
            })
        })
    }

    fn next_publish_version(&self) -> Result<u64> {
        self.write(Kind::Plain, async |tx| {
            let row = query_opt(
                tx,
                "UPDATE counters SET value = value + 1 WHERE name = 'publish' RETURNING value",
                &[],
            )
            .await?;
            match row {
                Some(row) => u64_at(&row, 0),
                None => {
                    Err(StoreError::Corrupt("the publish counter is missing".to_owned()).into())
                }
            }
        })
    }

    fn commit_publish(&self, commit: &PublishCommit) -> Result<()> {
        // It removes queued changes: run between the transactions that
        // queue them (Kind::QueuesChange), or under a steady stream of
        // uploads it loses its serialization conflicts to them run after run.
        self.write_or_roll_back(Kind::QueuesChange, async |tx| {
            // The lease row stays locked until this commits: a successor
            // taking the lease waits, and a commit after it sees its epoch.
            let lease = query_one(
                tx,
                "SELECT epoch FROM publisher_lease WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
            let current = u64_at(&lease, 0)?;
            if current != commit.fence {
                return Ok(Decision::RollBack(Err(StoreError::Fenced {
                    fence: commit.fence,
                    current,
                })));
            }
            let stored = query_opt(
                tx,
                "SELECT version FROM roles WHERE name = $1",
                &[&TIMESTAMP_ROLE],
            )
            .await?
            .map(|row| u64_at(&row, 0))
            .transpose()?;
            if let Err(e) = timestamp_advances(commit, stored) {
                return Ok(Decision::RollBack(Err(e)));
            }
            for p in &commit.pages {
                let (length, bin) = (param(p.length)?, i64::from(p.bin));
                execute(
                    tx,
                    "INSERT INTO pages (project, sha256, length, bin) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (project) DO UPDATE SET \
                     sha256 = excluded.sha256, length = excluded.length, bin = excluded.bin",
                    &[&p.project, &p.sha256, &length, &bin],
                )
                .await?;
            }
            for r in &commit.roles {
                let (version, length) = (param(r.version)?, param(r.length)?);
                execute(
                    tx,
                    "INSERT INTO roles (name, version, expires, length, sha256) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
                     expires = excluded.expires, length = excluded.length, \
                     sha256 = excluded.sha256",
                    &[&r.role, &version, &r.expires, &length, &r.sha256],
                )
                .await?;
            }
            execute(
                tx,
                "INSERT INTO \"timestamp\" (id, bytes) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
                &[&commit.timestamp],
            )
            .await?;
            let up_to = param(commit.up_to_change)?;
            execute(tx, "DELETE FROM changes WHERE seq <= $1", &[&up_to]).await?;
            Ok(Decision::Commit(Ok(())))
        })?
    }

    fn pages_in_bin(&self, bin: u32) -> Result<Vec<PageRecord>> {
        self.read(async |tx| {
            let sql = "SELECT project, sha256, length, bin FROM pages WHERE bin = $1";
            all(&query(tx, sql, &[&i64::from(bin)]).await?, page_from_row)
        })
    }

    fn page(&self, project: &str) -> Result<Option<PageRecord>> {
        self.read(async |tx| {
            let sql = "SELECT project, sha256, length, bin FROM pages WHERE project = $1";
            query_opt(tx, sql, &[&project])
                .await?
                .as_ref()
                .map(page_from_row)
                .transpose()
        })
    }

    fn roles(&self) -> Result<Vec<RoleRecord>> {
        self.read(async |tx| {
            let sql = "SELECT name, version, expires, length, sha256 FROM roles ORDER BY name";
            all(&query(tx, sql, &[]).await?, role_from_row)
        })
    }

    fn latest_timestamp(&self) -> Result<Option<Vec<u8>>> {
        self.read(async |tx| {
            let row = query_opt(tx, "SELECT bytes FROM \"timestamp\" WHERE id = 1", &[]).await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(async |tx| {
            let row = query_opt(tx, "SELECT value FROM settings WHERE key = $1", &[&key]).await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(Kind::Plain, async |tx| {
            execute(
                tx,
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await?;
            Ok(())
        })
    }

    fn export(&self, sink: &mut dyn FnMut(Vec<StateRecord>) -> Result<()>) -> Result<()> {
        let mut client = self.io.run(self.client())?;
        // One snapshot for every query; the rows come through portals, a
        // chunk at a time, so memory holds one chunk whatever the size.
        let tx = self
            .io
            .run(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start(),
            )
            .map_err(backend)?;
        let mut out = Chunks::new(sink);
        let counters = self
            .io
            .run(query_one(
                &tx,
                "SELECT (SELECT value FROM counters WHERE name = 'publish'), \
                 (SELECT value FROM counters WHERE name = 'change')",
                &[],
            ))
            .and_then(|row| {
                Ok(StateRecord::Counters {
                    publish: u64_at(&row, 0)?,
                    change: u64_at(&row, 1)?,
                })
            })
            .map_err(TxError::into_store)?;
        out.push(counters)?;
        for (sql, record) in EXPORTS {
            let portal = self.io.run(tx.bind(sql, &[])).map_err(backend)?;
            loop {
                let rows = self
                    .io
                    .run(tx.query_portal(&portal, PORTAL_ROWS))
                    .map_err(backend)?;
                let mut records = all(&rows, record).map_err(TxError::into_store)?;
                // Claims come without their nested roles: one query adds
                // those of the whole chunk.
                self.io
                    .run(with_nested_roles(&tx, &mut records))
                    .map_err(TxError::into_store)?;
                for record in records {
                    out.push(record)?;
                }
                if rows.len() < usize::try_from(PORTAL_ROWS).unwrap_or(usize::MAX) {
                    break;
                }
            }
        }
        let timestamp = self
            .io
            .run(query_opt(&tx, "SELECT bytes FROM \"timestamp\"", &[]))
            .and_then(|row| Ok(row.map(|row| row.try_get(0)).transpose()?))
            .map_err(TxError::into_store)?;
        if let Some(bytes) = timestamp {
            out.push(StateRecord::Timestamp(bytes))?;
        }
        out.finish()?;
        self.io.run(tx.commit()).map_err(backend)
    }

    fn is_empty(&self) -> Result<bool> {
        self.read(async |tx| Ok(query_one(tx, IS_EMPTY, &[]).await?.try_get(0)?))
    }

    fn restore(&self, source: &dyn StateStore) -> Result<()> {
        let mut client = self.io.run(self.client())?;
        let tx = self
            .io
            .run(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start(),
            )
            .map_err(backend)?;
        // The lock keeps every change-queueing writer out until the commit,
        // and the serializable transaction fails any other that wrote.
        let empty: bool = self
            .io
            .run(async {
                tx.batch_execute("LOCK TABLE counters IN SHARE ROW EXCLUSIVE MODE")
                    .await?;
                Ok(query_one(&tx, IS_EMPTY, &[]).await?.try_get(0)?)
            })
            .map_err(TxError::into_store)?;
        if !empty {
            return Err(StoreError::NotEmpty);
        }
        source.export(&mut |chunk| {
            self.io
                .run(restore_chunk(&tx, &chunk))
                .map_err(TxError::into_store)
        })?;
        // Dropped without a commit on any error above: rolled back.
        self.io.run(tx.commit()).map_err(backend)
    }

    fn acquire_publisher(&self, holder: &str, lease: Duration) -> Result<Option<u64>> {
        // The database's clock decides expiry, so servers whose clocks
        // disagree still agree on who holds the lease.
        let seconds = lease.as_secs_f64();
        self.write_or_roll_back(Kind::Plain, async |tx| {
            let row = query_one(
                tx,
                // Liveness is judged above the subquery that locks the
                // row: a select list beside FOR UPDATE is computed before
                // the lock is granted, so after a wait it would judge by
                // the time the wait began.
                "SELECT holder, coalesce(expires_at > clock_timestamp(), false), epoch \
                 FROM (SELECT holder, expires_at, epoch FROM publisher_lease \
                       WHERE id = 1 FOR UPDATE) AS lease",
                &[],
            )
            .await?;
            let stored_holder: Option<String> = row.try_get(0)?;
            let step = Lease {
                holder: stored_holder.as_deref(),
                live: row.try_get(1)?,
                epoch: u64_at(&row, 2)?,
            }
            .step(holder)?;
            let fence = match step {
                LeaseStep::Refuse => return Ok(Decision::RollBack(None)),
                LeaseStep::Renew { fence } | LeaseStep::Take { fence } => fence,
            };
            execute(
                tx,
                "UPDATE publisher_lease SET holder = $1, \
                 expires_at = clock_timestamp() + make_interval(secs => $2), epoch = $3 \
                 WHERE id = 1",
                &[&holder, &seconds, &param(fence)?],
            )
            .await?;
            Ok(Decision::Commit(Some(fence)))
        })
    }

    fn release_publisher(&self, holder: &str) -> Result<()> {
        self.write(Kind::Plain, async |tx| {
            execute(
                tx,
                "UPDATE publisher_lease SET holder = NULL, expires_at = NULL \
                 WHERE id = 1 AND holder = $1",
                &[&holder],
            )
            .await?;
            Ok(())
        })
    }

    fn wait_for_change(&self, timeout: Duration) -> Result<bool> {
        Ok(self.io.run(async {
            tokio::time::timeout(timeout, self.changes.notified())
                .await
                .is_ok()
        }))
    }
}
