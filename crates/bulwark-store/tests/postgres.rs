//! The PostgreSQL state store: the conformance suite, each check in a fresh
//! database, and what only several connections or several servers (two
//! `PgState`s on one database) can show: races decided by the database,
//! the publisher lease across servers, and change notifications.
//!
//! Needs the test server: run through `scripts/test`, or first
//! `eval "$(scripts/backends start)"` (see `bulwark_testkit::postgres`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::collections::BTreeSet;
use std::error::Error as _;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bulwark_store::conformance::{state_store_reopen_suite, state_store_suite};
use bulwark_store::postgres::PgState;
use bulwark_store::sqlite::SqliteState;
use bulwark_store::{
    AddFile, FileRecord, PageRecord, PublishCommit, RoleRecord, StateRecord, StateStore,
    StoreError, TokenRecord,
};
use bulwark_testkit::postgres::{execute, fresh_database};

fn file(project: &str, filename: &str, content: &str, uploader: &str) -> FileRecord {
    FileRecord {
        project: project.to_owned(),
        filename: filename.to_owned(),
        version: "1.0".to_owned(),
        size: content.len() as u64,
        sha256: format!("{content:0>64}"),
        blake2b_256: format!("{content:0>64}"),
        requires_python: None,
        metadata_sha256: None,
        upload_time_us: 1_750_000_000_000_000,
        yanked: None,
        uploader: uploader.to_owned(),
    }
}

/// Two stores on one new database, as two servers would have.
fn two_servers() -> (PgState, PgState) {
    let url = fresh_database();
    (
        PgState::connect(&url).unwrap(),
        PgState::connect(&url).unwrap(),
    )
}

/// The error and its sources, as one line.
fn chain(e: &StoreError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[test]
fn postgres_passes_the_state_suite() {
    state_store_suite(&|| Box::new(PgState::connect(&fresh_database()).unwrap()));
}

#[test]
fn postgres_keeps_everything_across_reconnect() {
    let url = fresh_database();
    state_store_reopen_suite(&|| Box::new(PgState::connect(&url).unwrap()));
}

#[test]
fn servers_starting_at_once_migrate_once() {
    let url = fresh_database();
    let barrier = Barrier::new(4);
    thread::scope(|scope| {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    PgState::connect(&url)
                })
            })
            .collect();
        for start in starts {
            start.join().unwrap().unwrap();
        }
    });
}

/// A database of schema version 2 (one `owner` per project) gains the
/// owners table with every project's owner, its creator.
#[test]
fn migration_3_makes_each_owner_the_first_of_the_project_owners() {
    let url = fresh_database();
    drop(PgState::connect(&url).unwrap());
    // Back to version 2's shape, with a project.
    execute(
        &url,
        "DROP TABLE project_owners, audit_log, removed_files, upstream_projects, upstream_files; \
         ALTER TABLE projects RENAME COLUMN created_by TO owner; \
         DROP INDEX files_by_upload_time; \
         UPDATE schema_version SET version = 2; \
         INSERT INTO projects (name, display_name, owner, created_us) \
         VALUES ('pkg', 'Pkg', 'alice', 7)",
    );
    let store = PgState::connect(&url).unwrap();
    assert_eq!(store.project("pkg").unwrap().unwrap().created_by, "alice");
    let owners = store.owners("pkg").unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].user.as_str(),
            owners[0].added_us,
            owners[0].added_by.as_str()
        ),
        ("alice", 7, "alice")
    );
    assert_eq!(store.audit_log(None).unwrap(), []);
}

#[test]
fn refuses_a_newer_schema() {
    let url = fresh_database();
    drop(PgState::connect(&url).unwrap());
    execute(&url, "UPDATE schema_version SET version = 99");
    match PgState::connect(&url) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (99, 5));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// A version 3 database (before the upload-time index and the upstream
/// tables) is migrated at connect, keeping its data.
#[test]
fn migrates_a_version_3_schema() {
    let url = fresh_database();
    let store = PgState::connect(&url).unwrap();
    let f = file("pkg", "pkg-1.0.tar.gz", "a", "alice");
    assert!(matches!(
        store.add_file("Pkg", &f).unwrap(),
        AddFile::Added { .. }
    ));
    drop(store);
    execute(
        &url,
        "DROP INDEX files_by_upload_time; DROP TABLE upstream_projects, upstream_files; \
         UPDATE schema_version SET version = 3",
    );
    let store = PgState::connect(&url).unwrap();
    let recent = store.recently_updated(5).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].display_name, "Pkg");
    drop(store);
    // The migration created the index and the tables again (dropping them
    // succeeds).
    execute(
        &url,
        "DROP INDEX files_by_upload_time; DROP TABLE upstream_projects, upstream_files",
    );
}

#[test]
fn refuses_a_database_of_another_program() {
    let url = fresh_database();
    execute(&url, "CREATE TABLE invoices (id BIGINT PRIMARY KEY)");
    let e = PgState::connect(&url).unwrap_err();
    assert!(
        chain(&e).contains("not a Bulwark database"),
        "{}",
        chain(&e)
    );
}

#[test]
fn a_bad_url_is_a_clear_error_without_the_password() {
    let e = PgState::connect("postgres://alice:hunter2@127.0.0.1:notaport/db").unwrap_err();
    let text = chain(&e);
    assert!(text.contains("invalid PostgreSQL URL"), "{text}");
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let e =
        PgState::connect("postgres://alice:hunter2@127.0.0.1:1/db?connect_timeout=5").unwrap_err();
    let text = chain(&e);
    assert!(
        text.contains("cannot connect to PostgreSQL at alice@127.0.0.1:1/db"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
}

const RACERS: usize = 16;

/// Racers on two servers add one filename with different bytes at once:
/// one is added, every other one is the conflict a sequential run gives.
#[test]
fn two_servers_racing_for_one_filename_get_one_winner() {
    let (a, b) = two_servers();
    let barrier = Barrier::new(RACERS);
    let outcomes: Vec<AddFile> = thread::scope(|scope| {
        let racers: Vec<_> = (0..RACERS)
            .map(|t| {
                let (store, barrier) = (if t % 2 == 0 { &a } else { &b }, &barrier);
                scope.spawn(move || {
                    let f = file("race", "race-1.0.tar.gz", &format!("bytes{t}"), "racer");
                    barrier.wait();
                    store
                        .add_file("race", &f)
                        .expect("add_file is never an error")
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let added = outcomes
        .iter()
        .filter(|o| matches!(o, AddFile::Added { .. }))
        .count();
    assert_eq!(added, 1, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| **o == AddFile::Conflict).count(),
        RACERS - 1,
        "{outcomes:?}"
    );
    assert_eq!(a.files("race").unwrap().len(), 1);
}

/// Users on two servers create one project at once: one owns it, the
/// others are forbidden, and only the owner's file is stored.
#[test]
fn two_users_creating_one_project_get_one_owner() {
    let (a, b) = two_servers();
    let barrier = Barrier::new(RACERS);
    let outcomes: Vec<(String, AddFile)> = thread::scope(|scope| {
        let racers: Vec<_> = (0..RACERS)
            .map(|t| {
                let (store, barrier) = (if t % 2 == 0 { &a } else { &b }, &barrier);
                scope.spawn(move || {
                    let user = format!("user-{t}");
                    let f = file("shared", &format!("shared-{t}.0.tar.gz"), "x", &user);
                    barrier.wait();
                    (user, store.add_file("Shared", &f).unwrap())
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let owner = b.project("shared").unwrap().unwrap().created_by;
    let owners: Vec<String> = b
        .owners("shared")
        .unwrap()
        .into_iter()
        .map(|o| o.user)
        .collect();
    assert_eq!(
        owners,
        std::slice::from_ref(&owner),
        "the creator is the one owner"
    );
    for (user, outcome) in &outcomes {
        if *user == owner {
            assert!(
                matches!(outcome, AddFile::Added { .. }),
                "{user}: {outcome:?}"
            );
        } else {
            assert_eq!(*outcome, AddFile::Forbidden, "{user}");
        }
    }
    let files = a.files("shared").unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].uploader, owner);
}

/// Uploads on many threads of two servers while a publisher on one of them
/// drains the queue: every change is published, none is lost.
#[test]
fn no_change_is_lost_while_publishing() {
    const UPLOADERS: usize = 8;
    const FILES: usize = 15;
    let (a, b) = two_servers();
    let done = AtomicBool::new(false);
    let publish = |store: &PgState, committed: &mut Vec<(u64, Vec<String>)>| {
        let pending = store.pending_changes().unwrap();
        if pending.up_to_change == 0 {
            return;
        }
        let pages = pending
            .projects
            .iter()
            .map(|p| PageRecord {
                project: p.clone(),
                sha256: "0".repeat(64),
                length: pending.up_to_change,
                bin: 0,
            })
            .collect();
        store
            .commit_publish(&PublishCommit {
                up_to_change: pending.up_to_change,
                pages,
                ..PublishCommit::default()
            })
            .unwrap();
        committed.push((pending.up_to_change, pending.projects));
    };
    let (added, mut committed) = thread::scope(|scope| {
        let uploaders: Vec<_> = (0..UPLOADERS)
            .map(|t| {
                let store = if t % 2 == 0 { &a } else { &b };
                scope.spawn(move || {
                    let mut added = Vec::new();
                    for i in 0..FILES {
                        let project = format!("p{t}-{i}");
                        let f = file(&project, &format!("{project}-1.0.tar.gz"), "x", "u");
                        match store.add_file(&project, &f).unwrap() {
                            AddFile::Added { change } => added.push((change, project)),
                            other => panic!("{project}: {other:?}"),
                        }
                    }
                    added
                })
            })
            .collect();
        let publisher = scope.spawn(|| {
            let mut committed = Vec::new();
            while !done.load(Ordering::SeqCst) {
                publish(&a, &mut committed);
            }
            committed
        });
        let added: Vec<(u64, String)> = uploaders
            .into_iter()
            .flat_map(|u| u.join().unwrap())
            .collect();
        done.store(true, Ordering::SeqCst);
        (added, publisher.join().unwrap())
    });
    publish(&a, &mut committed);
    assert_eq!(a.pending_changes().unwrap().up_to_change, 0);
    assert_eq!(added.len(), UPLOADERS * FILES);
    let changes: BTreeSet<u64> = added.iter().map(|(c, _)| *c).collect();
    assert_eq!(changes.len(), added.len(), "a change number was reused");
    for (change, project) in &added {
        let covering = committed
            .iter()
            .find(|(up_to, _)| up_to >= change)
            .unwrap_or_else(|| panic!("change {change} of {project} was never published"));
        assert!(
            covering.1.contains(project),
            "change {change} of {project} was dropped by the commit up to {}",
            covering.0
        );
        assert!(b.page(project).unwrap().is_some(), "{project} has no page");
    }
}

/// The lease across two servers: one holds it, the other waits for its
/// expiry, then takes it with a higher fence, and the first one's commit
/// under its old fence is refused.
#[test]
fn the_publisher_lease_passes_between_servers_and_fences_the_old_holder() {
    let (a, b) = two_servers();
    let lease = Duration::from_secs(1);
    let first = a.acquire_publisher("server-a", lease).unwrap().unwrap();
    assert_eq!(b.acquire_publisher("server-b", lease).unwrap(), None);
    thread::sleep(lease + Duration::from_millis(200));
    let second = b.acquire_publisher("server-b", lease).unwrap().unwrap();
    assert!(second > first, "fence {second} after {first}");
    assert_eq!(a.acquire_publisher("server-a", lease).unwrap(), None);
    let late = PublishCommit {
        timestamp: b"from the deposed publisher".to_vec(),
        fence: first,
        ..PublishCommit::default()
    };
    assert!(
        matches!(
            a.commit_publish(&late),
            Err(StoreError::Fenced { fence, current }) if fence == first && current == second
        ),
        "the deposed publisher committed"
    );
    assert_eq!(b.latest_timestamp().unwrap(), None);
    b.release_publisher("server-b").unwrap();
    let third = a.acquire_publisher("server-a", lease).unwrap().unwrap();
    assert!(third > second, "fence {third} after {second}");
}

/// An acquisition that waits for the lease row (locked by a long commit)
/// judges expiry by the time it gets the row, not by the time its
/// transaction began: a lease that expired meanwhile passes, and the new
/// lease lasts its full length from then.
#[test]
fn the_lease_is_judged_when_its_row_is_locked_not_when_the_transaction_began() {
    let url = fresh_database();
    let (a, b) = (
        PgState::connect(&url).unwrap(),
        PgState::connect(&url).unwrap(),
    );
    let lease = Duration::from_secs(1);
    let first = a.acquire_publisher("server-a", lease).unwrap().unwrap();
    // Hold the lease row as a long commit_publish would, past the expiry.
    let second = thread::scope(|scope| {
        let holder = scope.spawn(|| {
            execute(
                &url,
                "BEGIN; SELECT 1 FROM publisher_lease WHERE id = 1 FOR UPDATE; \
                 SELECT pg_sleep(2); COMMIT",
            );
        });
        // Begins while a's lease is live, gets the row after it expired.
        thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        let second = b.acquire_publisher("server-b", lease).unwrap();
        assert!(
            started.elapsed() > Duration::from_secs(1),
            "the acquisition did not wait for the row lock"
        );
        holder.join().unwrap();
        second
    });
    let second = second.expect("a lease that expired while b waited for its row passes to b");
    assert!(second > first, "fence {second} after {first}");
    // b's lease lasts from when b got it: a cannot take it back at once.
    assert_eq!(a.acquire_publisher("server-a", lease).unwrap(), None);
}

/// A change queued on one server wakes a waiter on another within a second.
#[test]
fn wait_for_change_wakes_on_another_servers_change() {
    let (a, b) = two_servers();
    assert!(!a.wait_for_change(Duration::from_millis(100)).unwrap());
    thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let woken = a.wait_for_change(Duration::from_secs(30)).unwrap();
            (woken, Instant::now())
        });
        thread::sleep(Duration::from_millis(300));
        let f = file("woken", "woken-1.0.tar.gz", "x", "u");
        assert!(matches!(
            b.add_file("woken", &f).unwrap(),
            AddFile::Added { .. }
        ));
        let queued = Instant::now();
        let (woken, at) = waiter.join().unwrap();
        assert!(woken, "the waiter timed out");
        let after = at.saturating_duration_since(queued);
        assert!(
            after < Duration::from_secs(1),
            "woken {after:?} after the change"
        );
    });
}

/// The listener reconnects when its connection drops: after the server
/// ended it, a change queued on another server still wakes a waiter.
#[test]
fn wait_for_change_survives_a_dropped_listener_connection() {
    let url = fresh_database();
    let (a, b) = (
        PgState::connect(&url).unwrap(),
        PgState::connect(&url).unwrap(),
    );
    execute(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN bulwark_changes'",
    );
    // The listener reconnects after a second, and wakes its waiter then, as
    // it may have missed a notification meanwhile.
    assert!(
        a.wait_for_change(Duration::from_secs(10)).unwrap(),
        "no wake-up after the listener's connection dropped"
    );
    thread::scope(|scope| {
        let waiter = scope.spawn(|| a.wait_for_change(Duration::from_secs(30)).unwrap());
        thread::sleep(Duration::from_millis(300));
        let queued = Instant::now();
        let f = file("again", "again-1.0.tar.gz", "x", "u");
        assert!(matches!(
            b.add_file("again", &f).unwrap(),
            AddFile::Added { .. }
        ));
        assert!(waiter.join().unwrap(), "the waiter timed out");
        assert!(queued.elapsed() < Duration::from_secs(2), "woken late");
    });
}

/// Everything `store` exports.
fn exported(store: &dyn StateStore) -> Vec<StateRecord> {
    let mut records = Vec::new();
    store
        .export(&mut |chunk| {
            records.extend(chunk);
            Ok(())
        })
        .unwrap();
    records
}

/// An embedded store with some of everything: files, a yank, a publish,
/// a queued change, a token and a setting.
fn embedded_index(path: &std::path::Path) -> SqliteState {
    let store = SqliteState::open(path).unwrap();
    for (project, filename, content) in [
        ("alpha", "alpha-1.0.tar.gz", "a1"),
        ("alpha", "alpha-1.0-py3-none-any.whl", "a2"),
        ("beta", "beta-1.0.tar.gz", "b1"),
    ] {
        let outcome = store.add_file(project, &file(project, filename, content, "alice"));
        assert!(matches!(outcome.unwrap(), AddFile::Added { .. }));
    }
    store
        .set_yanked("beta", "1.0", Some("broken"), "alice")
        .unwrap();
    let version = store.next_publish_version().unwrap();
    let pending = store.pending_changes().unwrap();
    store
        .commit_publish(&PublishCommit {
            up_to_change: pending.up_to_change,
            pages: vec![PageRecord {
                project: "alpha".to_owned(),
                sha256: "a".repeat(64),
                length: 10,
                bin: 1,
            }],
            roles: vec![RoleRecord {
                role: "timestamp".to_owned(),
                version,
                expires: 1_900_000_000,
                length: 20,
                sha256: "b".repeat(64),
            }],
            timestamp: b"{}".to_vec(),
            fence: 0,
        })
        .unwrap();
    let outcome = store.add_file("gamma", &file("gamma", "gamma-1.0.tar.gz", "g1", "bob"));
    assert!(matches!(outcome.unwrap(), AddFile::Added { .. }));
    store
        .put_token(&TokenRecord {
            id: "tok".to_owned(),
            user: "alice".to_owned(),
            secret_sha256: "c".repeat(64),
            created_us: 1,
            ..TokenRecord::default()
        })
        .unwrap();
    store.set_setting("online-keyid", "k").unwrap();
    store
}

#[test]
fn an_embedded_index_moves_to_postgres_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = embedded_index(&dir.path().join("state.sqlite3"));
    let records = exported(&embedded);
    let pg = PgState::connect(&fresh_database()).unwrap();
    pg.restore(&embedded).unwrap();
    assert_eq!(exported(&pg), records, "SQLite → PostgreSQL");
    let back = SqliteState::open(&dir.path().join("back.sqlite3")).unwrap();
    back.restore(&pg).unwrap();
    assert_eq!(exported(&back), records, "PostgreSQL → SQLite");
}

#[test]
fn a_restore_that_fails_part_way_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    drop(embedded_index(&path));
    // A file of a project that does not exist, written behind the store's
    // back: the target refuses it after the settings, tokens and projects
    // before it were written.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO files (project, filename, version, size, sha256, blake2b_256,
                            upload_time_us, uploader, release, distribution)
         VALUES ('ghost', 'ghost-1.0.tar.gz', '1.0', 1, 'x', 'y', 1, 'eve', '1', 'sdist');",
    )
    .unwrap();
    drop(conn);
    let source = SqliteState::open(&path).unwrap();
    let pg = PgState::connect(&fresh_database()).unwrap();
    let fresh = exported(&pg);
    let e = pg.restore(&source).unwrap_err();
    assert!(
        chain(&e).contains("foreign key"),
        "the database refused the orphan file: {}",
        chain(&e)
    );
    assert!(pg.is_empty().unwrap());
    assert_eq!(exported(&pg), fresh, "nothing was written");
    // The failed restore left the database usable: a second one succeeds
    // once the source is sound.
    let sound = embedded_index(&dir.path().join("sound.sqlite3"));
    pg.restore(&sound).unwrap();
    assert_eq!(exported(&pg), exported(&sound));
}
