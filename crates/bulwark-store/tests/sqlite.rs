//! What the `SQLite` state store does beyond the conformance suite: the file
//! it creates, the databases it refuses, and several handles on one file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::path::Path;

use bulwark_store::sqlite::SqliteState;
use bulwark_store::{AddFile, FileRecord, StateStore, StoreError, TokenRecord};
use rusqlite::Connection;

fn file(filename: &str) -> FileRecord {
    FileRecord {
        project: "pkg".to_owned(),
        filename: filename.to_owned(),
        version: "1.0".to_owned(),
        size: 10,
        sha256: "a".repeat(64),
        blake2b_256: "b".repeat(64),
        requires_python: None,
        metadata_sha256: None,
        upload_time_us: 1,
        yanked: None,
        uploader: "alice".to_owned(),
    }
}

fn pragma(path: &Path, name: &str) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}

#[test]
fn open_creates_a_versioned_wal_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteState::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(pragma(&path, "user_version"), 9);
    assert_eq!(pragma(&path, "application_id"), 0x4255_4C57);
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.retain(|t| t != "sqlite_sequence");
    assert_eq!(
        tables,
        [
            "audit_log",
            "changes",
            "claim_nested",
            "claims",
            "counters",
            "files",
            "pages",
            "project_owners",
            "projects",
            "publisher_lease",
            "removed_files",
            "roles",
            "settings",
            "timestamp",
            "tokens",
            "upstream_files",
            "upstream_projects"
        ]
    );
    drop(store);
    // Reopening an up-to-date database changes nothing.
    SqliteState::open(&path).unwrap();
    assert_eq!(pragma(&path, "user_version"), 9);
}

#[test]
fn refuses_a_database_from_a_newer_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteState::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 10)
        .unwrap();
    let error = SqliteState::open(&path).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::SchemaTooNew {
                found: 10,
                supported: 9
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("schema version 10 is newer"),
        "{error}"
    );
    assert_eq!(pragma(&path, "user_version"), 10, "left as it was");
}

#[test]
fn refuses_and_leaves_alone_a_database_of_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
        .unwrap();
    let error = SqliteState::open(&path).unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("not a Bulwark database"), "{cause}");
    assert_eq!(pragma(&path, "user_version"), 0);
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tables, 1);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the journal mode was changed");
}

#[test]
fn open_fails_cleanly_without_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteState::open(&dir.path().join("missing/state.db")).unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)));
}

/// A server and a command-line tool (`bulwark token create`) may have the
/// same database open at once.
#[test]
fn two_handles_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let server = SqliteState::open(&path).unwrap();
    let cli = SqliteState::open(&path).unwrap();
    let token = TokenRecord {
        id: "t".to_owned(),
        user: "alice".to_owned(),
        secret_sha256: "c".repeat(64),
        created_us: 5,
        ..TokenRecord::default()
    };
    cli.put_token(&token).unwrap();
    assert_eq!(server.token("t").unwrap(), Some(token));
    assert!(matches!(
        server.add_file("pkg", &file("pkg-1.0.tar.gz")).unwrap(),
        AddFile::Added { .. }
    ));
    assert_eq!(cli.files("pkg").unwrap(), [file("pkg-1.0.tar.gz")]);
    let a = server.next_publish_version().unwrap();
    let b = cli.next_publish_version().unwrap();
    assert!(b > a);
}

#[test]
fn impossible_stored_values_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteState::open(&path).unwrap();
    store.add_file("pkg", &file("pkg-1.0.tar.gz")).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE files SET size = -1;")
        .unwrap();
    assert!(matches!(store.files("pkg"), Err(StoreError::Corrupt(_))));
}

/// A token stored before tokens had a permission, scope or expiry (schema
/// version 5) keeps working after the migration as it did: upload, every
/// project, no expiry.
#[test]
fn tokens_of_an_older_schema_keep_their_powers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteState::open(&path).unwrap());
    // Back to version 5: the tokens table as it was then, and no owners
    // table, upload-time index or upstream tables (versions 7 to 9).
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE project_owners;
         DROP TABLE audit_log;
         DROP TABLE removed_files;
         DROP TABLE upstream_projects;
         DROP TABLE upstream_files;
         ALTER TABLE projects RENAME COLUMN created_by TO owner;
         DROP INDEX files_by_upload_time;
         DROP INDEX tokens_by_creation;
         ALTER TABLE tokens DROP COLUMN description;
         ALTER TABLE tokens DROP COLUMN permission;
         ALTER TABLE tokens DROP COLUMN projects;
         ALTER TABLE tokens DROP COLUMN expires_us;
         ALTER TABLE tokens DROP COLUMN revoked_us;
         ALTER TABLE tokens DROP COLUMN last_used_us;
         INSERT INTO tokens (id, user, secret_sha256, created_us) VALUES ('old', 'alice', 'c', 7);
         PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteState::open(&path).unwrap();
    assert_eq!(pragma(&path, "user_version"), 9);
    assert_eq!(
        store.token("old").unwrap(),
        Some(TokenRecord {
            id: "old".to_owned(),
            user: "alice".to_owned(),
            secret_sha256: "c".to_owned(),
            created_us: 7,
            ..TokenRecord::default()
        })
    );
}
