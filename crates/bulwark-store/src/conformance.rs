//! The conformance suite: what every [`StateStore`] and [`BlobStore`]
//! backend must do, as executable checks. Each backend's tests call these
//! functions with a factory for its stores; a failure panics with the name of
//! every failing check and why.
//!
//! ```no_run
//! use bulwark_store::conformance::state_store_suite;
//! use bulwark_store::sqlite::SqliteState;
//!
//! state_store_suite(&|| Box::new(SqliteState::in_memory().expect("an in-memory database")));
//! ```
//!
//! Beyond the trait documentation, the suite pins these points so that all
//! backends agree:
//!
//! - listings are in byte order (Rust's `str` order, SQL `COLLATE "C"`);
//! - a project's `created_us` is the `upload_time_us` of its first file;
//! - ownership is checked first: a non-owner gets `Forbidden` even for an
//!   identical or conflicting file, and for a version that does not exist;
//! - a filename held by another project is a `Conflict`, and creates nothing;
//! - change numbers and publish versions start at 1 or above, only grow,
//!   and are never reused, even once the queue is drained;
//! - `set_yanked` counts the files whose state changed, and queues a change
//!   only when that count is not zero;
//! - `put_token` refuses an existing id and keeps the stored token;
//! - `tokens` lists oldest first (creation time, then id); `revoke_token`
//!   keeps the first revocation time; `touch_token` writes at most once
//!   per interval;
//! - `get_range` past the end returns the bytes that exist (possibly none);
//!   it returns `None` only for a missing key;
//! - `pages_in_bin` may answer in any order (the others are ordered);
//! - a batch's blobs are invisible (to `get`, `len` and `list`) until its
//!   commit, and a key staged twice gets its last bytes;
//! - keys obey [`crate::key::validate_key`] in every backend.
//! - `recently_updated` ranks a project by its newest file (ties by name)
//!   and shows that file's version; `search_projects` is case-sensitive and
//!   takes its query literally (`%` and `_` are no wildcards).
//! - a claimed project refuses `add_file` and `set_yanked` from its owner
//!   (`Claimed`, after the `Forbidden` of a non-owner; `set_yanked` of a
//!   missing project is still `NotFound`) and from nobody else differently;
//! - `record_transaction` checks, in order: ownership (`Forbidden`), the
//!   claim (`Stale`), then its files in order (`Conflict` for the first
//!   refused); a file sent twice in one transaction is kept once when
//!   identical, a `Conflict` when not;
//! - a claim's nested roles are replaced by each recorded claim's list,
//!   and a transaction checked against other nested versions is `Stale`;
//! - `set_claim_delegation` queues a change only when the tier or the
//!   delegation changed;
//! - the publisher lease starts at epoch 0 (so a commit under fence 0 is
//!   accepted until someone takes it), a fenced commit changes nothing, and
//!   releasing a lease one does not hold does nothing;
//! - `export` lists a store's records in [`crate::StateRecord`]'s order, so
//!   that a restored store exports exactly what its source did; the
//!   counters travel, so no version or change number is handed out twice;
//! - a commit whose timestamp record is not newer than the stored one is
//!   `StaleTimestamp` and changes nothing, whatever its fence;
//! - a file is keyed by its [`crate::FileIdentity`] as well as its filename:
//!   after a check of the filename (`Identical`, or `Conflict` for other
//!   bytes), a stored file of the same project, release and distribution
//!   makes it a `Conflict`, or `SecondSdist` for an sdist in another format;
//!   in a transaction, either is a `Conflict`;
//! - every owner may upload, yank and transact; owner changes check, in
//!   order: the project (`NoSuchProject`), a user actor's ownership
//!   (`Forbidden`), then `AlreadyOwner` / `NotOwner` / `LastOwner`, and a
//!   refusal writes no audit record;
//! - a removal keeps the project and its owners, and its filenames are
//!   `Removed` for every later upload (after the checks of ownership, the
//!   claim and a stored file of that name) and `Conflict` in a transaction;
//! - audit sequence numbers start at 1 and grow in commit order.
//! - an upstream project has no owner, and every upload to it is
//!   `Upstream` (before ownership); a pull never touches a local project,
//!   keeps files its page no longer lists, and refuses a stored filename
//!   with other bytes (`Conflict`) or a removed one (`Removed`).
#![expect(
    clippy::expect_used,
    reason = "the suite reports failures by panicking, with the failed step as message"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{
    Actor, AddFile, AuditRecord, BlobStore, ClaimRecord, ClaimTier, EXPORT_CHUNK, FileIdentity,
    FileRecord, NestedRoleRecord, OwnerChange, PageRecord, PendingChanges, ProjectTransaction,
    PublishCommit, Removal, RemoveOutcome, RevokeToken, RoleRecord, StateRecord, StateStore,
    StoreError, TokenPermission, TokenRecord, TokenScope, TokenState, TransactionOutcome,
    UPSTREAM_CREATOR, UpstreamChanges, UpstreamPull, UpstreamPullOutcome, YankOutcome,
};

/// A factory for stores under test.
type Make<'a, S> = dyn Fn() -> Box<S> + 'a;
/// One named check.
type Check<S> = (&'static str, fn(&Make<'_, S>));

/// A check named after its function.
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        &[$((stringify!($check), $check)),*]
    };
}

const STATE_CHECKS: &[Check<dyn StateStore>] = checks![
    empty_store_has_nothing,
    tokens_round_trip_and_are_never_replaced,
    every_token_field_round_trips,
    tokens_are_listed_oldest_first,
    revoked_tokens_stay_revoked,
    token_use_is_recorded_once_per_interval,
    settings_round_trip_and_overwrite,
    first_upload_creates_the_project,
    every_file_field_round_trips,
    other_users_are_forbidden,
    identical_reupload_changes_nothing,
    conflicting_filename_is_refused,
    respelled_files_of_a_release_already_exist,
    one_sdist_per_release,
    invalid_filenames_are_misuse,
    listings_are_in_byte_order,
    recently_updated_lists_each_project_once_newest_first,
    search_finds_prefixes_first_then_substrings,
    file_by_sha256_finds_files,
    file_finds_a_file_by_its_filename,
    pending_changes_across_commits,
    owner_yanks_and_unyanks,
    yanks_act_on_the_whole_release,
    yank_refusals_change_nothing,
    publish_counter_increases,
    commit_publish_upserts_records,
    failed_writes_change_nothing,
    add_files_adds_in_order,
    concurrent_uploads,
    concurrent_publish_counter,
    concurrent_commits_are_atomic_for_readers,
    transaction_creates_the_project_files_and_claim,
    transaction_claims_an_existing_project,
    every_claim_field_round_trips,
    transaction_of_another_user_is_forbidden,
    stale_transactions_change_nothing,
    nested_roles_are_replaced_and_race,
    conflicting_transaction_is_rolled_back,
    transactions_refuse_respelled_files,
    identical_files_in_a_transaction_are_kept,
    transaction_yank_states_apply_to_named_files,
    contradictory_transactions_are_misuse,
    claimed_projects_refuse_uploads,
    claimed_projects_refuse_yanks,
    set_claim_delegation_changes_tier_and_delegation,
    transactions_are_atomic_for_readers,
    uploads_racing_a_claim_never_follow_it,
    restore_copies_everything_and_continues_the_counters,
    co_owners_upload_yank_and_transact,
    owner_changes_refused_change_nothing,
    owners_of_users_need_ownership,
    removing_owners_never_leaves_none,
    removal_refusals_change_nothing,
    removals_drop_files_and_queue_a_change,
    removals_of_claimed_projects_are_refused,
    audit_log_lists_every_change_in_order,
    publisher_lease_is_exclusive_and_fences_commits,
    publisher_lease_passes_on_expiry,
    publish_runs_never_go_back,
    one_publisher_among_concurrent_acquirers,
    wait_for_change_returns_by_its_timeout,
    upstream_pulls_add_keep_and_refuse,
    upstream_projects_refuse_uploads_removed_files_and_local_names,
    releasing_an_upstream_project_frees_the_name,
];

const BLOB_CHECKS: &[Check<dyn BlobStore>] = checks![
    missing_keys,
    put_then_get,
    staged_files_are_stored_whole_and_never_listed,
    overwrite_replaces,
    ranges,
    delete_removes_only_the_key,
    list_is_sorted_and_filtered_by_prefix,
    invalid_keys_are_refused,
    unusual_valid_keys_work,
    concurrent_overwrite_is_atomic,
    concurrent_puts_of_distinct_keys,
    batch_is_invisible_until_commit,
    dropped_batch_leaves_nothing,
    batch_refuses_invalid_keys,
    concurrent_staging_in_one_batch,
];

/// Runs every state check. `make` returns a new, empty store at each call.
///
/// # Panics
///
/// When a check fails, after running all of them, listing the failures.
pub fn state_store_suite(make: &dyn Fn() -> Box<dyn StateStore>) {
    run("StateStore", STATE_CHECKS, make);
}

/// Runs every blob check. `make` returns a new, empty store at each call.
///
/// # Panics
///
/// When a check fails, after running all of them, listing the failures.
pub fn blob_store_suite(make: &dyn Fn() -> Box<dyn BlobStore>) {
    run("BlobStore", BLOB_CHECKS, make);
}

/// Runs every blob check but those `skipped`, each `(check name, why)`: for
/// a test server that cannot do what the backend and the real service can
/// (s3rver cannot store a 255-byte key segment, and crashes trying). Each
/// skipped check is printed with its reason; the backend's own tests should
/// cover what the check would have, as far as the server allows.
///
/// # Panics
///
/// When a check fails, after running all the others, listing the
/// failures; when a skipped name is not a check.
pub fn blob_store_suite_skipping(make: &dyn Fn() -> Box<dyn BlobStore>, skipped: &[(&str, &str)]) {
    for (name, why) in skipped {
        assert!(
            BLOB_CHECKS.iter().any(|(check, _)| check == name),
            "no blob check is named {name:?}"
        );
        eprintln!("BlobStore conformance: skipping {name}: {why}");
    }
    let checks: Vec<Check<dyn BlobStore>> = BLOB_CHECKS
        .iter()
        .filter(|(check, _)| !skipped.iter().any(|(name, _)| name == check))
        .copied()
        .collect();
    run("BlobStore", &checks, make);
}

/// Checks that everything a state store holds survives closing and
/// reopening it. `open` opens the same database at each call; it is empty at
/// the first.
///
/// # Panics
///
/// When something was lost or changed.
pub fn state_store_reopen_suite(open: &dyn Fn() -> Box<dyn StateStore>) {
    let store = open();
    let token = token("tok-reopen", "alice");
    store.put_token(&token).expect("put_token");
    let a1 = file("alpha", "alpha-1.0.tar.gz", "1.0", "reopen-a1", "alice");
    let a2 = file("alpha", "alpha-2.0.tar.gz", "2.0", "reopen-a2", "alice");
    let b1 = file("beta", "beta-1.0.tar.gz", "1.0", "reopen-b1", "bob");
    let first = added(store.add_file("Alpha", &a1), "add alpha 1.0");
    added(store.add_file("Alpha", &a2), "add alpha 2.0");
    added(store.add_file("Beta", &b1), "add beta 1.0");
    let yank = store.set_yanked("alpha", "1.0", Some("bad"), "alice");
    assert_eq!(yank.expect("set_yanked"), YankOutcome::Updated { files: 1 });
    let g1 = file("gamma", "gamma-1.0.tar.gz", "1.0", "reopen-g1", "carol");
    let t = transaction("carol", None, claim("gamma", 1), vec![g1], vec![]);
    recorded(store.record_transaction(&t), "record gamma");
    let promoted = store.set_claim_delegation("gamma", ClaimTier::Claimed, "{\"promoted\":1}");
    assert!(promoted.expect("set_claim_delegation"), "gamma has a claim");
    store.set_setting("bins", "8").expect("set_setting");
    let mut version = 0;
    for _ in 0..3 {
        version = store.next_publish_version().expect("next_publish_version");
    }
    let commit = PublishCommit {
        up_to_change: first,
        pages: vec![page("alpha", "reopen-page", 1)],
        roles: vec![role("snapshot", version, "reopen-snapshot")],
        timestamp: b"timestamp v3".to_vec(),
        fence: 0,
    };
    store.commit_publish(&commit).expect("commit_publish");
    let before = Observed::take(&*store, &["alpha", "beta", "gamma"], &[1]);
    assert_eq!(before.claims.len(), 1, "gamma's claim");
    drop(store);

    let store = open();
    let after = Observed::take(&*store, &["alpha", "beta", "gamma"], &[1]);
    assert_eq!(after, before, "the state changed across a reopen");
    assert_eq!(store.token("tok-reopen").expect("token"), Some(token));
    assert_eq!(
        store.setting("bins").expect("setting"),
        Some("8".to_owned())
    );
    let next = store.next_publish_version().expect("next_publish_version");
    assert!(
        next > version,
        "the publish counter went from {version} to {next} across a reopen"
    );
    let c = file("alpha", "alpha-3.0.tar.gz", "3.0", "reopen-a3", "alice");
    let change = added(store.add_file("Alpha", &c), "add alpha 3.0 after reopen");
    assert!(
        change > before.pending.up_to_change,
        "change number {change} reused after a reopen (queue was up to {})",
        before.pending.up_to_change
    );
    drop(store);

    let store = open();
    let again = store.next_publish_version().expect("next_publish_version");
    assert!(
        again > next,
        "the publish counter went from {next} to {again} across a reopen"
    );
    assert_eq!(
        store.files("alpha").expect("files").len(),
        3,
        "alpha files after reopen"
    );
}

/// Checks that blobs survive closing and reopening the store. `open` opens
/// the same store at each call; it is empty at the first.
///
/// # Panics
///
/// When something was lost or changed.
pub fn blob_store_reopen_suite(open: &dyn Fn() -> Box<dyn BlobStore>) {
    let store = open();
    store.put("files/ab/a-1.0.tar.gz", b"sdist").expect("put");
    store
        .put("tuf/metadata/timestamp.json", b"v1")
        .expect("put");
    store
        .put("tuf/metadata/timestamp.json", b"v2")
        .expect("put");
    store.put("gone", b"x").expect("put");
    store.delete("gone").expect("delete");
    drop(store);
    let store = open();
    assert_eq!(
        store.list("").expect("list"),
        ["files/ab/a-1.0.tar.gz", "tuf/metadata/timestamp.json"],
        "keys after a reopen"
    );
    assert_eq!(
        store.get("files/ab/a-1.0.tar.gz").expect("get").as_deref(),
        Some(&b"sdist"[..])
    );
    assert_eq!(
        store
            .get("tuf/metadata/timestamp.json")
            .expect("get")
            .as_deref(),
        Some(&b"v2"[..])
    );
}

fn run<S: ?Sized>(suite: &str, checks: &[Check<S>], make: &Make<'_, S>) {
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|&(name, check)| {
            catch_unwind(AssertUnwindSafe(|| check(make)))
                .err()
                .map(|panic| format!("  {name}: {}", panic_message(&*panic)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{suite} conformance: {} of {} checks failed:\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n")
    );
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// Joins a thread, re-raising its panic with its own message.
fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

// ----- Records ---------------------------------------------------------------

/// A lowercase hex string of 64 digits derived from `tag` (FNV-1a, four
/// ways): distinct tags give distinct "hashes", without a hash dependency.
fn digest(tag: &str) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for salt in 0_u64..4 {
        let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ salt;
        for b in tag.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let _ = write!(hex, "{h:016x}");
    }
    hex
}

fn file(project: &str, filename: &str, version: &str, content: &str, uploader: &str) -> FileRecord {
    FileRecord {
        project: project.to_owned(),
        filename: filename.to_owned(),
        version: version.to_owned(),
        size: 1000 + content.len() as u64,
        sha256: digest(content),
        blake2b_256: digest(&format!("blake2b:{content}")),
        requires_python: Some(">=3.9".to_owned()),
        metadata_sha256: Some(digest(&format!("metadata:{content}"))),
        upload_time_us: 1_750_000_000_000_000,
        yanked: None,
        uploader: uploader.to_owned(),
    }
}

fn token(id: &str, user: &str) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        user: user.to_owned(),
        secret_sha256: digest(&format!("secret:{id}")),
        created_us: 1_750_000_000_000_000,
        ..TokenRecord::default()
    }
}

fn page(project: &str, content: &str, bin: u32) -> PageRecord {
    PageRecord {
        project: project.to_owned(),
        sha256: digest(content),
        length: 100 + content.len() as u64,
        bin,
    }
}

fn role(name: &str, version: u64, content: &str) -> RoleRecord {
    RoleRecord {
        role: name.to_owned(),
        version,
        expires: 1_900_000_000,
        length: 500 + content.len() as u64,
        sha256: digest(content),
    }
}

/// A claim of `project` at role `version`, every field derived from both.
fn claim(project: &str, version: u64) -> ClaimRecord {
    let keyid = digest(&format!("key:{project}"));
    ClaimRecord {
        project: project.to_owned(),
        tier: ClaimTier::RecentlyClaimed,
        delegation: format!(r#"{{"keys":{{"{keyid}":{{}}}},"role":"project-{project}"}}"#),
        role_version: version,
        role_expires: 1_900_000_000 + i64::try_from(version).expect("a small version"),
        role_sha256: digest(&format!("role:{project}:{version}")),
        role_length: 700 + version,
        page_sha256: digest(&format!("page:{project}:{version}")),
        page_length: 300 + version,
        nested: Vec::new(),
    }
}

fn transaction(
    user: &str,
    checked_against: Option<u64>,
    claim: ClaimRecord,
    files: Vec<FileRecord>,
    yanked: Vec<(&str, Option<&str>)>,
) -> ProjectTransaction {
    ProjectTransaction {
        display_name: claim.project.to_uppercase(),
        user: user.to_owned(),
        checked_against,
        checked_delegation: None,
        checked_nested: Vec::new(),
        claim,
        files,
        yanked: yanked
            .into_iter()
            .map(|(f, y)| (f.to_owned(), y.map(str::to_owned)))
            .collect(),
    }
}

#[track_caller]
fn recorded(outcome: crate::Result<TransactionOutcome>, what: &str) -> u64 {
    match outcome.expect(what) {
        TransactionOutcome::Recorded { change } => change,
        other => panic!("{what}: expected Recorded, got {other:?}"),
    }
}

#[track_caller]
fn added(outcome: crate::Result<AddFile>, what: &str) -> u64 {
    match outcome.expect(what) {
        AddFile::Added { change } => change,
        other => panic!("{what}: expected Added, got {other:?}"),
    }
}

/// Everything readable about some projects and bins, to compare before and
/// after an operation that must change nothing.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    projects: Vec<crate::ProjectRecord>,
    files: Vec<Vec<FileRecord>>,
    pending: PendingChanges,
    pages: Vec<Option<PageRecord>>,
    bins: Vec<Vec<PageRecord>>,
    roles: Vec<RoleRecord>,
    timestamp: Option<Vec<u8>>,
    claims: Vec<ClaimRecord>,
}

impl Observed {
    fn take(store: &dyn StateStore, projects: &[&str], bins: &[u32]) -> Self {
        Self {
            projects: store.projects().expect("projects"),
            files: projects
                .iter()
                .map(|p| store.files(p).expect("files"))
                .collect(),
            pending: store.pending_changes().expect("pending_changes"),
            pages: projects
                .iter()
                .map(|p| store.page(p).expect("page"))
                .collect(),
            bins: bins
                .iter()
                .map(|&b| sorted_pages(store.pages_in_bin(b).expect("pages_in_bin")))
                .collect(),
            roles: store.roles().expect("roles"),
            timestamp: store.latest_timestamp().expect("latest_timestamp"),
            claims: store.claims().expect("claims"),
        }
    }
}

/// `pages_in_bin` promises no order.
fn sorted_pages(mut pages: Vec<PageRecord>) -> Vec<PageRecord> {
    pages.sort_by(|a, b| a.project.cmp(&b.project));
    pages
}

fn names(files: &[FileRecord]) -> Vec<&str> {
    files.iter().map(|f| f.filename.as_str()).collect()
}

// ----- State checks ----------------------------------------------------------

fn empty_store_has_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    assert_eq!(s.project("a").expect("project"), None);
    assert_eq!(s.projects().expect("projects"), []);
    assert_eq!(s.files("a").expect("files"), []);
    assert_eq!(
        s.file_by_sha256(&digest("x")).expect("file_by_sha256"),
        None
    );
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges::default()
    );
    assert_eq!(s.pages_in_bin(0).expect("pages_in_bin"), []);
    assert_eq!(s.page("a").expect("page"), None);
    assert_eq!(s.roles().expect("roles"), []);
    assert_eq!(s.latest_timestamp().expect("latest_timestamp"), None);
    assert_eq!(s.setting("a").expect("setting"), None);
    assert_eq!(s.token("a").expect("token"), None);
    assert_eq!(s.claim("a").expect("claim"), None);
    assert_eq!(s.claims().expect("claims"), []);
}

fn tokens_round_trip_and_are_never_replaced(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let t1 = token("tok1", "alice");
    let t2 = token("tok2", "alice");
    s.put_token(&t1).expect("put_token tok1");
    s.put_token(&t2).expect("put_token tok2");
    assert_eq!(s.token("tok1").expect("token"), Some(t1.clone()));
    assert_eq!(s.token("tok2").expect("token"), Some(t2));
    assert_eq!(s.token("tok3").expect("token"), None);
    let mallory = TokenRecord {
        user: "mallory".to_owned(),
        secret_sha256: digest("mallory"),
        ..t1.clone()
    };
    assert!(
        s.put_token(&mallory).is_err(),
        "put_token replaced an existing token id"
    );
    assert_eq!(
        s.token("tok1").expect("token"),
        Some(t1),
        "a refused put_token changed the token"
    );
}

/// A token with every optional field set.
fn full_token(id: &str, user: &str) -> TokenRecord {
    TokenRecord {
        description: "CI of démo, 2026".to_owned(),
        permission: TokenPermission::Read,
        scope: TokenScope::Projects(vec!["a-b".to_owned(), "zeta".to_owned()]),
        expires_us: Some(1_760_000_000_000_000),
        revoked_us: Some(1_755_000_000_000_000),
        last_used_us: Some(1_751_000_000_000_000),
        ..token(id, user)
    }
}

fn every_token_field_round_trips(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let full = full_token("tok-full", "alice");
    s.put_token(&full).expect("put_token");
    assert_eq!(s.token("tok-full").expect("token"), Some(full));
    let plain = token("tok-plain", "alice");
    s.put_token(&plain).expect("put_token");
    assert_eq!(s.token("tok-plain").expect("token"), Some(plain));
}

fn tokens_are_listed_oldest_first(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let at = |id: &str, user: &str, created_us| TokenRecord {
        created_us,
        ..token(id, user)
    };
    s.put_token(&at("b", "alice", 20)).expect("put_token");
    s.put_token(&at("c", "bob", 10)).expect("put_token");
    s.put_token(&at("a", "alice", 20)).expect("put_token");
    let ids = |tokens: Vec<TokenRecord>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(s.tokens(None).expect("tokens")), ["c", "a", "b"]);
    assert_eq!(ids(s.tokens(Some("alice")).expect("tokens")), ["a", "b"]);
    assert_eq!(
        ids(s.tokens(Some("carol")).expect("tokens")),
        [] as [&str; 0]
    );
}

fn revoked_tokens_stay_revoked(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let t = TokenRecord {
        expires_us: Some(1_000),
        ..token("tok", "alice")
    };
    s.put_token(&t).expect("put_token");
    assert_eq!(
        s.token("tok").expect("token").expect("stored").state(999),
        TokenState::Active
    );
    assert_eq!(
        s.token("tok").expect("token").expect("stored").state(1_000),
        TokenState::Expired
    );
    assert_eq!(
        s.revoke_token("nope", 5).expect("revoke_token"),
        RevokeToken::NotFound
    );
    assert_eq!(
        s.revoke_token("tok", 5).expect("revoke_token"),
        RevokeToken::Revoked
    );
    assert_eq!(
        s.revoke_token("tok", 9).expect("revoke_token"),
        RevokeToken::AlreadyRevoked { revoked_us: 5 },
        "a second revocation changed the first's time"
    );
    let stored = s.token("tok").expect("token").expect("stored");
    assert_eq!(stored.revoked_us, Some(5));
    assert_eq!(stored.state(0), TokenState::Revoked);
    assert_eq!(
        TokenRecord {
            revoked_us: None,
            ..stored
        },
        t,
        "revoking changed more than revoked_us"
    );
}

fn token_use_is_recorded_once_per_interval(make: &Make<'_, dyn StateStore>) {
    let s = make();
    s.put_token(&token("tok", "alice")).expect("put_token");
    let last_used = || s.token("tok").expect("token").expect("stored").last_used_us;
    assert_eq!(last_used(), None);
    assert!(
        s.touch_token("tok", 1_000, 60).expect("touch_token"),
        "first use not recorded"
    );
    assert_eq!(last_used(), Some(1_000));
    assert!(
        !s.touch_token("tok", 1_059, 60).expect("touch_token"),
        "recorded within the interval"
    );
    assert_eq!(last_used(), Some(1_000));
    assert!(
        s.touch_token("tok", 1_060, 60).expect("touch_token"),
        "not recorded after the interval"
    );
    assert_eq!(last_used(), Some(1_060));
    assert!(
        !s.touch_token("nope", 1_000, 60).expect("touch_token"),
        "touched a missing token"
    );
}

fn settings_round_trip_and_overwrite(make: &Make<'_, dyn StateStore>) {
    let s = make();
    s.set_setting("bins", "8").expect("set_setting");
    s.set_setting("name", "").expect("set_setting");
    s.set_setting("ünïcode", "välue").expect("set_setting");
    assert_eq!(s.setting("bins").expect("setting").as_deref(), Some("8"));
    assert_eq!(s.setting("name").expect("setting").as_deref(), Some(""));
    assert_eq!(
        s.setting("ünïcode").expect("setting").as_deref(),
        Some("välue")
    );
    s.set_setting("bins", "16").expect("set_setting");
    assert_eq!(
        s.setting("bins").expect("setting").as_deref(),
        Some("16"),
        "overwrite"
    );
    assert_eq!(s.setting("other").expect("setting"), None);
}

fn first_upload_creates_the_project(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let mut f = file("foo-bar", "foo_bar-1.0.tar.gz", "1.0", "fb1", "alice");
    f.upload_time_us = 1_234_567;
    let change = added(s.add_file("Foo.Bar", &f), "first upload");
    assert!(change >= 1, "change numbers start at 1, got {change}");
    let project = s
        .project("foo-bar")
        .expect("project")
        .expect("project was not created");
    assert_eq!(project.name, "foo-bar");
    assert_eq!(project.display_name, "Foo.Bar");
    assert_eq!(
        project.created_by, "alice",
        "the first uploader created the project"
    );
    let owners = s.owners("foo-bar").expect("owners");
    assert_eq!(
        owners,
        [crate::OwnerRecord {
            project: "foo-bar".to_owned(),
            user: "alice".to_owned(),
            added_us: 1_234_567,
            added_by: "alice".to_owned(),
        }],
        "the first uploader is the one owner"
    );
    assert_eq!(
        project.created_us, 1_234_567,
        "created_us is the first file's upload time"
    );
    assert_eq!(
        s.projects().expect("projects"),
        std::slice::from_ref(&project)
    );
    assert_eq!(s.files("foo-bar").expect("files"), [f.clone()]);
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges {
            up_to_change: change,
            projects: vec!["foo-bar".to_owned()]
        }
    );
    // A later upload under another display name keeps the first one.
    let g = file("foo-bar", "foo_bar-2.0.tar.gz", "2.0", "fb2", "alice");
    let second = added(s.add_file("FOO_BAR", &g), "second upload");
    assert!(
        second > change,
        "change numbers must grow: {change} then {second}"
    );
    assert_eq!(
        s.project("foo-bar").expect("project"),
        Some(project),
        "project record changed"
    );
    assert_eq!(s.files("foo-bar").expect("files"), [f, g]);
}

fn every_file_field_round_trips(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let bare = FileRecord {
        project: "zeta".to_owned(),
        filename: "zeta-0.1.tar.gz".to_owned(),
        version: "0.1".to_owned(),
        size: 0,
        sha256: digest("bare"),
        blake2b_256: digest("bare-b2"),
        requires_python: None,
        metadata_sha256: None,
        upload_time_us: -1,
        yanked: None,
        uploader: "ü-user".to_owned(),
    };
    let full = FileRecord {
        project: "zeta".to_owned(),
        filename: "zeta-1.0.post1-py3-none-any.whl".to_owned(),
        version: "1.0.post1".to_owned(),
        size: u64::MAX >> 1, // i64::MAX: what a signed 64-bit column holds
        sha256: digest("full"),
        blake2b_256: digest("full-b2"),
        requires_python: Some(">=3.8, !=3.9.*".to_owned()),
        metadata_sha256: Some(digest("full-md")),
        upload_time_us: i64::MAX,
        yanked: Some(String::new()),
        uploader: "ü-user".to_owned(),
    };
    let reason = FileRecord {
        filename: "zeta-1.0.post1.tar.gz".to_owned(),
        sha256: digest("reason"),
        yanked: Some("broken \"build\"; see #12".to_owned()),
        ..full.clone()
    };
    for f in [&bare, &full, &reason] {
        added(s.add_file("Zeta", f), &format!("add {}", f.filename));
    }
    assert_eq!(
        s.files("zeta").expect("files"),
        [bare.clone(), full.clone(), reason.clone()]
    );
    for f in [bare, full, reason] {
        assert_eq!(
            s.file_by_sha256(&f.sha256).expect("file_by_sha256"),
            Some(f)
        );
    }
}

fn other_users_are_forbidden(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let f = file("foo", "foo-1.0.tar.gz", "1.0", "foo1", "alice");
    added(s.add_file("foo", &f), "alice's upload");
    let before = Observed::take(&*s, &["foo"], &[]);
    let new_file = file("foo", "foo-2.0.tar.gz", "2.0", "foo2", "mallory");
    let identical = FileRecord {
        uploader: "mallory".to_owned(),
        ..f.clone()
    };
    let conflicting = FileRecord {
        sha256: digest("evil"),
        ..identical.clone()
    };
    for (what, g) in [
        ("new", new_file),
        ("identical", identical),
        ("conflicting", conflicting),
    ] {
        let outcome = s.add_file("Foo", &g).expect("add_file");
        assert_eq!(outcome, AddFile::Forbidden, "{what} file from a non-owner");
    }
    assert_eq!(
        Observed::take(&*s, &["foo"], &[]),
        before,
        "a refused upload changed the state"
    );
}

fn identical_reupload_changes_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let f = file("foo", "foo-1.0.tar.gz", "1.0", "foo1", "alice");
    let change = added(s.add_file("foo", &f), "first upload");
    let before = Observed::take(&*s, &["foo"], &[]);
    assert_eq!(s.add_file("foo", &f).expect("add_file"), AddFile::Identical);
    // Same bytes, other upload details: still the same file.
    let later = FileRecord {
        upload_time_us: f.upload_time_us + 1,
        requires_python: None,
        ..f.clone()
    };
    assert_eq!(
        s.add_file("Foo", &later).expect("add_file"),
        AddFile::Identical
    );
    assert_eq!(
        Observed::take(&*s, &["foo"], &[]),
        before,
        "an identical re-upload changed the state"
    );
    // Also once the first upload has been published: nothing is queued.
    let commit = PublishCommit {
        up_to_change: change,
        ..PublishCommit::default()
    };
    s.commit_publish(&commit).expect("commit_publish");
    assert_eq!(s.add_file("foo", &f).expect("add_file"), AddFile::Identical);
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges::default(),
        "an identical re-upload queued a change"
    );
}

fn conflicting_filename_is_refused(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let f = file("foo", "foo-1.0.tar.gz", "1.0", "foo1", "alice");
    added(s.add_file("foo", &f), "first upload");
    let before = Observed::take(&*s, &["foo", "bar"], &[]);
    let other_bytes = FileRecord {
        sha256: digest("other"),
        ..f.clone()
    };
    assert_eq!(
        s.add_file("foo", &other_bytes).expect("add_file"),
        AddFile::Conflict
    );
    // The filename is taken index-wide: another project cannot have it, even
    // with the same bytes, and is not created by the attempt.
    for sha256 in [f.sha256.clone(), digest("other")] {
        let elsewhere = FileRecord {
            project: "bar".to_owned(),
            uploader: "bob".to_owned(),
            sha256,
            ..f.clone()
        };
        assert_eq!(
            s.add_file("bar", &elsewhere).expect("add_file"),
            AddFile::Conflict
        );
    }
    assert_eq!(
        s.project("bar").expect("project"),
        None,
        "a refused upload created a project"
    );
    assert_eq!(
        Observed::take(&*s, &["foo", "bar"], &[]),
        before,
        "a conflicting upload changed the state"
    );
}

/// Adds `filename` (version `version`, bytes `content`) to `foo-bar` as alice.
fn foo_bar(s: &dyn StateStore, filename: &str, version: &str, content: &str) -> AddFile {
    let f = file("foo-bar", filename, version, content, "alice");
    s.add_file("foo_bar", &f).expect("add_file")
}

/// Issue #10 (defect 5): another spelling of a stored distribution of the
/// same release (name case or normalization, version zero padding, the
/// order or case of compressed wheel tags) already exists; other tags, a
/// build tag, another release or the sdist beside a wheel are other files.
fn respelled_files_of_a_release_already_exist(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        Ok(foo_bar(&*s, "foo_bar-1.0.tar.gz", "1.0", "sdist")),
        "first sdist",
    );
    added(
        Ok(foo_bar(&*s, "foo_bar-1.0-py3-none-any.whl", "1.0", "wheel")),
        "first wheel",
    );
    added(
        Ok(foo_bar(
            &*s,
            "foo_bar-1.0-py2.py3-none-any.whl",
            "1.0",
            "both",
        )),
        "a wheel of other tags",
    );
    let before = Observed::take(&*s, &["foo-bar"], &[]);
    for (filename, version) in [
        ("Foo_Bar-1.0.tar.gz", "1.0"),
        ("foo_bar-1.0.0.tar.gz", "1.0.0"),
        ("FOO.bar-1.tar.gz", "1"),
        ("foo_bar-1.0.0-py3-none-any.whl", "1.0.0"),
        ("Foo_Bar-1-py3-none-any.whl", "1"),
        ("foo_bar-1.0-PY3-NONE-ANY.whl", "1.0"),
        ("foo_bar-1.0-py3.py2-none-any.whl", "1.0"),
    ] {
        assert_eq!(
            foo_bar(&*s, filename, version, filename),
            AddFile::Conflict,
            "{filename} beside the stored spelling"
        );
    }
    assert_eq!(
        Observed::take(&*s, &["foo-bar"], &[]),
        before,
        "a refused spelling changed something"
    );
    // The same filename with the same bytes is still identical.
    assert_eq!(
        foo_bar(&*s, "foo_bar-1.0.tar.gz", "1.0", "sdist"),
        AddFile::Identical
    );
    for (filename, version) in [
        ("foo_bar-1.0-1-py3-none-any.whl", "1.0"),
        ("foo_bar-1.0-py3-none-manylinux1_x86_64.whl", "1.0"),
        ("foo_bar-1.0.1-py3-none-any.whl", "1.0.1"),
        ("foo_bar-1.0+local-py3-none-any.whl", "1.0+local"),
        ("foo_bar-1.0.post0-py3-none-any.whl", "1.0.post0"),
    ] {
        added(Ok(foo_bar(&*s, filename, version, filename)), filename);
    }
    assert_eq!(
        FileIdentity::of("Foo_Bar-1.0.0-PY3.py2-none-any.whl").expect("identity"),
        FileIdentity::of("foo_bar-1-py2.py3-none-any.whl").expect("identity")
    );
}

/// One sdist per release, as `PyPI` allows: a second one in another format,
/// under any spelling of the version, is `SecondSdist`; another release takes
/// its own.
fn one_sdist_per_release(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        Ok(foo_bar(&*s, "foo_bar-1.0.zip", "1.0", "zip")),
        "first sdist",
    );
    let before = Observed::take(&*s, &["foo-bar"], &[]);
    for (filename, version) in [
        ("foo_bar-1.0.tar.gz", "1.0"),
        ("Foo_Bar-1.0.0.tar.gz", "1.0.0"),
    ] {
        assert_eq!(
            foo_bar(&*s, filename, version, filename),
            AddFile::SecondSdist,
            "{filename} beside foo_bar-1.0.zip"
        );
    }
    assert_eq!(
        foo_bar(&*s, "foo_bar-1.zip", "1", "other zip"),
        AddFile::Conflict,
        "the same format is the same file respelled"
    );
    assert_eq!(Observed::take(&*s, &["foo-bar"], &[]), before);
    added(
        Ok(foo_bar(&*s, "foo_bar-1.1.tar.gz", "1.1", "1.1")),
        "another release",
    );
    added(
        Ok(foo_bar(&*s, "foo_bar-1.0-py3-none-any.whl", "1.0", "wheel")),
        "a wheel of the release",
    );
}

/// A record whose filename is no distribution filename is the caller's bug.
fn invalid_filenames_are_misuse(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let bad = file("foo", "foo.exe", "1.0", "foo", "alice");
    assert!(
        matches!(s.add_file("foo", &bad), Err(StoreError::Misuse(_))),
        "add_file"
    );
    let good = file("foo", "foo-1.0.tar.gz", "1.0", "foo1", "alice");
    let outcomes = s
        .add_files(&[("foo", &bad), ("foo", &good)])
        .expect("add_files");
    assert!(
        matches!(outcomes[0], Err(StoreError::Misuse(_))),
        "add_files"
    );
    assert!(
        matches!(outcomes[1], Ok(AddFile::Added { .. })),
        "add_files"
    );
    let t = transaction(
        "alice",
        None,
        claim("dev", 1),
        vec![file("dev", "dev", "1.0", "d", "alice")],
        vec![],
    );
    assert!(
        matches!(s.record_transaction(&t), Err(StoreError::Misuse(_))),
        "record_transaction"
    );
    assert!(
        matches!(
            s.set_yanked("foo", "banana", None, "alice"),
            Err(StoreError::Misuse(_))
        ),
        "set_yanked"
    );
    assert_eq!(s.files("foo").expect("files"), [good]);
    assert_eq!(s.project("dev").expect("project"), None);
}

fn listings_are_in_byte_order(make: &Make<'_, dyn StateStore>) {
    let s = make();
    for (project, filename) in [
        ("zeta", "zeta-1.0.tar.gz"),
        ("alpha", "alpha-2.0.tar.gz"),
        ("mid", "mid-1.0.tar.gz"),
        ("alpha", "alpha-1.0.tar.gz"),
        ("alpha", "alpha-1.0-py3-none-any.whl"),
        ("alpha", "Alpha-0.9.tar.gz"),
        ("alpha-b", "alpha_b-1.0.tar.gz"),
    ] {
        let f = file(project, filename, "1.0", filename, "alice");
        added(s.add_file(project, &f), filename);
    }
    let projects: Vec<String> = s
        .projects()
        .expect("projects")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(projects, ["alpha", "alpha-b", "mid", "zeta"]);
    assert_eq!(
        names(&s.files("alpha").expect("files")),
        [
            "Alpha-0.9.tar.gz",
            "alpha-1.0-py3-none-any.whl",
            "alpha-1.0.tar.gz",
            "alpha-2.0.tar.gz"
        ]
    );
    assert_eq!(
        names(&s.files("alpha-b").expect("files")),
        ["alpha_b-1.0.tar.gz"]
    );
    assert_eq!(s.files("nothing").expect("files"), []);
}

fn recently_updated_lists_each_project_once_newest_first(make: &Make<'_, dyn StateStore>) {
    let s = make();
    assert_eq!(s.recently_updated(10).expect("recently_updated"), []);
    for (project, filename, version, time) in [
        ("alpha", "alpha-1.0.tar.gz", "1.0", 10),
        ("beta", "beta-1.0.tar.gz", "1.0", 20),
        ("alpha", "alpha-2.0.tar.gz", "2.0", 30),
        ("gamma", "gamma-0.1.tar.gz", "0.1", 5),
        ("delta", "delta-3.0.tar.gz", "3.0", 20),
    ] {
        let mut f = file(project, filename, version, filename, "alice");
        f.upload_time_us = time;
        added(s.add_file(&project.to_uppercase(), &f), filename);
    }
    let recent = s.recently_updated(3).expect("recently_updated");
    let shown: Vec<(&str, &str, &str, i64)> = recent
        .iter()
        .map(|r| {
            (
                r.project.as_str(),
                r.display_name.as_str(),
                r.version.as_str(),
                r.upload_time_us,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("alpha", "ALPHA", "2.0", 30),
            ("beta", "BETA", "1.0", 20),
            ("delta", "DELTA", "3.0", 20)
        ]
    );
    assert_eq!(s.recently_updated(10).expect("recently_updated").len(), 4);
    assert_eq!(s.recently_updated(0).expect("recently_updated"), []);
    // More files than the first window: still one row per project.
    for n in 0..100 {
        let filename = format!("busy-{n}.0.tar.gz");
        let mut f = file("busy", &filename, &format!("{n}.0"), &filename, "alice");
        f.upload_time_us = 100 + n;
        added(s.add_file("busy", &f), &filename);
    }
    let names: Vec<String> = s
        .recently_updated(3)
        .expect("recently_updated")
        .into_iter()
        .map(|r| format!("{} {}", r.project, r.version))
        .collect();
    assert_eq!(names, ["busy 99.0", "alpha 2.0", "beta 1.0"]);
}

fn search_finds_prefixes_first_then_substrings(make: &Make<'_, dyn StateStore>) {
    let s = make();
    for project in [
        "requests",
        "requests-oauth",
        "my-requests",
        "pyreq",
        "zeta",
        "re",
    ] {
        let filename = format!("{}-1.0.tar.gz", project.replace('-', "_"));
        let f = file(project, &filename, "1.0", &filename, "alice");
        added(s.add_file(project, &f), &filename);
    }
    let found = |q: &str, limit: usize| -> Vec<String> {
        s.search_projects(q, limit)
            .expect("search_projects")
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(
        found("req", 10),
        ["requests", "requests-oauth", "my-requests", "pyreq"]
    );
    assert_eq!(
        found("req", 3),
        ["requests", "requests-oauth", "my-requests"]
    );
    assert_eq!(found("re", 2), ["re", "requests"]);
    assert_eq!(
        found("requests", 10),
        ["requests", "requests-oauth", "my-requests"]
    );
    assert_eq!(found("REQ", 10), Vec::<String>::new());
    assert_eq!(found("%", 10), Vec::<String>::new());
    assert_eq!(found("_", 10), Vec::<String>::new());
    assert_eq!(found("", 10), Vec::<String>::new());
    assert_eq!(found("req", 0), Vec::<String>::new());
    assert_eq!(found("nothing", 10), Vec::<String>::new());
}

fn file_finds_a_file_by_its_filename(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let a = file("a", "a-1.0.tar.gz", "1.0", "a1", "alice");
    added(s.add_file("a", &a), "a");
    assert_eq!(s.file("a-1.0.tar.gz").expect("file"), Some(a));
    assert_eq!(s.file("a-2.0.tar.gz").expect("file"), None);
    assert_eq!(s.file("A-1.0.tar.gz").expect("file"), None);
}

fn file_by_sha256_finds_files(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let a = file("a", "a-1.0.tar.gz", "1.0", "a1", "alice");
    let b = file("b", "b-1.0.tar.gz", "1.0", "b1", "bob");
    added(s.add_file("a", &a), "a");
    added(s.add_file("b", &b), "b");
    assert_eq!(
        s.file_by_sha256(&a.sha256).expect("file_by_sha256"),
        Some(a)
    );
    assert_eq!(
        s.file_by_sha256(&b.sha256).expect("file_by_sha256"),
        Some(b.clone())
    );
    assert_eq!(
        s.file_by_sha256(&b.blake2b_256).expect("file_by_sha256"),
        None
    );
    assert_eq!(
        s.file_by_sha256(&digest("none")).expect("file_by_sha256"),
        None
    );
}

fn pending_changes_across_commits(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let pending = || s.pending_changes().expect("pending_changes");
    let commit = |up_to_change| {
        let commit = PublishCommit {
            up_to_change,
            ..PublishCommit::default()
        };
        s.commit_publish(&commit).expect("commit_publish");
    };
    let expect = |up_to_change, projects: &[&str]| PendingChanges {
        up_to_change,
        projects: projects.iter().map(|&p| p.to_owned()).collect(),
    };
    let upload = |project: &str, n: u32| {
        let f = file(
            project,
            &format!("{project}-{n}.tar.gz"),
            &n.to_string(),
            &format!("{project}{n}"),
            "u",
        );
        added(s.add_file(project, &f), &format!("upload {project} {n}"))
    };
    assert_eq!(pending(), expect(0, &[]));
    let c1 = upload("b", 1);
    let c2 = upload("a", 1);
    let c3 = upload("b", 2);
    assert!(
        c1 < c2 && c2 < c3,
        "change numbers must grow: {c1}, {c2}, {c3}"
    );
    assert_eq!(
        pending(),
        expect(c3, &["a", "b"]),
        "distinct projects, sorted"
    );
    commit(c1);
    assert_eq!(
        pending(),
        expect(c3, &["a", "b"]),
        "b changed again after c1"
    );
    commit(c2);
    assert_eq!(pending(), expect(c3, &["b"]));
    let c4 = upload("a", 2);
    assert_eq!(pending(), expect(c4, &["a", "b"]));
    commit(0);
    assert_eq!(
        pending(),
        expect(c4, &["a", "b"]),
        "a commit up to 0 removes nothing"
    );
    commit(c4);
    assert_eq!(pending(), expect(0, &[]), "everything published");
    let c5 = upload("c", 1);
    assert!(
        c5 > c4,
        "change number {c5} reused after the queue was drained (last was {c4})"
    );
    assert_eq!(pending(), expect(c5, &["c"]));
}

fn yank_fixture(s: &dyn StateStore) {
    for (filename, version) in [
        ("yank-1.0.tar.gz", "1.0"),
        ("yank-1.0-py3-none-any.whl", "1.0"),
        ("yank-2.0.tar.gz", "2.0"),
    ] {
        added(
            s.add_file("Yank", &file("yank", filename, version, filename, "owner")),
            filename,
        );
    }
    let up_to_change = s.pending_changes().expect("pending_changes").up_to_change;
    let commit = PublishCommit {
        up_to_change,
        ..PublishCommit::default()
    };
    s.commit_publish(&commit).expect("commit_publish");
}

/// PEP 592 yanks releases: every spelling of the version names all of it.
fn yanks_act_on_the_whole_release(make: &Make<'_, dyn StateStore>) {
    let s = make();
    for (filename, version) in [
        ("foo_bar-1.0.tar.gz", "1.0"),
        ("Foo_Bar-1-py3-none-any.whl", "1"),
        ("foo_bar-1.0.0-1-py3-none-any.whl", "1.0.0"),
        ("foo_bar-1.0.1.tar.gz", "1.0.1"),
        ("foo_bar-1.0+local.tar.gz", "1.0+local"),
    ] {
        added(Ok(foo_bar(&*s, filename, version, filename)), filename);
    }
    let yanked = |s: &dyn StateStore| -> Vec<String> {
        let files = s.files("foo-bar").expect("files");
        files
            .into_iter()
            .filter(|f| f.yanked.is_some())
            .map(|f| f.filename)
            .collect()
    };
    for (version, reason, files) in [
        ("1.0.0", Some("broken"), 3),
        ("1", None, 3),
        ("01.0", Some(""), 3),
        ("1.0", Some(""), 0),
    ] {
        assert_eq!(
            s.set_yanked("foo-bar", version, reason, "alice")
                .expect("set_yanked"),
            YankOutcome::Updated { files },
            "set_yanked({version}, {reason:?})"
        );
    }
    assert_eq!(
        yanked(&*s),
        [
            "Foo_Bar-1-py3-none-any.whl",
            "foo_bar-1.0.0-1-py3-none-any.whl",
            "foo_bar-1.0.tar.gz"
        ]
    );
    assert_eq!(
        s.set_yanked("foo-bar", "1.0.0.0.1", None, "alice")
            .expect("set_yanked"),
        YankOutcome::NotFound
    );
}

fn yanked_states(s: &dyn StateStore) -> Vec<(String, Option<String>)> {
    let files = s.files("yank").expect("files");
    files.into_iter().map(|f| (f.filename, f.yanked)).collect()
}

fn owner_yanks_and_unyanks(make: &Make<'_, dyn StateStore>) {
    let s = make();
    yank_fixture(&*s);
    let states = |v1: Option<&str>| {
        let v1 = v1.map(str::to_owned);
        vec![
            ("yank-1.0-py3-none-any.whl".to_owned(), v1.clone()),
            ("yank-1.0.tar.gz".to_owned(), v1),
            ("yank-2.0.tar.gz".to_owned(), None),
        ]
    };
    let mut last = 0;
    let mut step = |yanked: Option<&str>, files: u64, queued: bool| {
        let outcome = s
            .set_yanked("yank", "1.0", yanked, "owner")
            .expect("set_yanked");
        assert_eq!(
            outcome,
            YankOutcome::Updated { files },
            "set_yanked({yanked:?})"
        );
        assert_eq!(
            yanked_states(&*s),
            states(yanked),
            "after set_yanked({yanked:?})"
        );
        let pending = s.pending_changes().expect("pending_changes");
        if queued {
            assert!(
                pending.up_to_change > last,
                "set_yanked({yanked:?}) queued no change"
            );
            assert_eq!(pending.projects, ["yank"]);
            last = pending.up_to_change;
            let commit = PublishCommit {
                up_to_change: last,
                ..PublishCommit::default()
            };
            s.commit_publish(&commit).expect("commit_publish");
        } else {
            assert_eq!(
                pending,
                PendingChanges::default(),
                "set_yanked({yanked:?}) changed nothing yet queued a change"
            );
        }
    };
    step(Some("broken"), 2, true);
    step(Some("broken"), 0, false);
    step(Some("really broken"), 2, true);
    step(Some(""), 2, true);
    step(Some(""), 0, false);
    step(None, 2, true);
    step(None, 0, false);
}

fn yank_refusals_change_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    yank_fixture(&*s);
    let before = Observed::take(&*s, &["yank"], &[]);
    for (project, version, user, expected) in [
        ("yank", "1.0", "mallory", YankOutcome::Forbidden),
        ("yank", "9.9", "mallory", YankOutcome::Forbidden),
        ("yank", "9.9", "owner", YankOutcome::NotFound),
        ("nope", "1.0", "owner", YankOutcome::NotFound),
        ("nope", "1.0", "mallory", YankOutcome::NotFound),
    ] {
        let outcome = s
            .set_yanked(project, version, Some("x"), user)
            .expect("set_yanked");
        assert_eq!(
            outcome, expected,
            "set_yanked({project}, {version}) as {user}"
        );
    }
    assert_eq!(
        Observed::take(&*s, &["yank"], &[]),
        before,
        "a refused yank changed the state"
    );
}

fn publish_counter_increases(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let mut last = 0;
    for i in 0..5 {
        let v = s.next_publish_version().expect("next_publish_version");
        assert!(v > last, "publish version {v} after {last}");
        last = v;
        if i == 2 {
            s.commit_publish(&PublishCommit::default())
                .expect("commit_publish");
        }
    }
}

fn commit_publish_upserts_records(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let (a, b, c) = (page("a", "a1", 3), page("b", "b1", 3), page("c", "c1", 5));
    let first = PublishCommit {
        up_to_change: 0,
        pages: vec![a.clone(), b.clone(), c.clone()],
        roles: vec![
            role("timestamp", 1, "ts1"),
            role("snapshot", 1, "snap1"),
            role("bin-3", 1, "bin3"),
            role("project-a", 7, "pa"),
        ],
        timestamp: b"timestamp 1".to_vec(),
        fence: 0,
    };
    s.commit_publish(&first).expect("commit_publish");
    assert_eq!(
        sorted_pages(s.pages_in_bin(3).expect("pages_in_bin")),
        [a.clone(), b.clone()]
    );
    assert_eq!(
        s.pages_in_bin(5).expect("pages_in_bin"),
        std::slice::from_ref(&c)
    );
    assert_eq!(s.pages_in_bin(4).expect("pages_in_bin"), []);
    assert_eq!(s.page("a").expect("page"), Some(a));
    assert_eq!(s.page("z").expect("page"), None);
    let role_names: Vec<String> = s
        .roles()
        .expect("roles")
        .into_iter()
        .map(|r| r.role)
        .collect();
    assert_eq!(
        role_names,
        ["bin-3", "project-a", "snapshot", "timestamp"],
        "roles by name"
    );
    assert_eq!(
        s.latest_timestamp().expect("latest_timestamp").as_deref(),
        Some(&b"timestamp 1"[..])
    );

    // Upserts: `a` moves to bin 5, snapshot gets a new version, the rest stays.
    let a2 = page("a", "a2", 5);
    let second = PublishCommit {
        up_to_change: 0,
        pages: vec![a2.clone()],
        roles: vec![role("snapshot", 2, "snap2"), role("timestamp", 2, "ts2")],
        timestamp: b"timestamp 2".to_vec(),
        fence: 0,
    };
    s.commit_publish(&second).expect("commit_publish");
    assert_eq!(s.pages_in_bin(3).expect("pages_in_bin"), [b]);
    assert_eq!(
        sorted_pages(s.pages_in_bin(5).expect("pages_in_bin")),
        [a2.clone(), c]
    );
    assert_eq!(s.page("a").expect("page"), Some(a2));
    assert_eq!(
        s.roles().expect("roles"),
        [
            role("bin-3", 1, "bin3"),
            role("project-a", 7, "pa"),
            role("snapshot", 2, "snap2"),
            role("timestamp", 2, "ts2"),
        ]
    );
    assert_eq!(
        s.latest_timestamp().expect("latest_timestamp").as_deref(),
        Some(&b"timestamp 2"[..])
    );
}

/// A write that fails part-way (here: a value a backend may be unable to
/// store, such as a `u64` above `i64::MAX`) must change nothing; a backend
/// that can store it must store it exactly.
fn failed_writes_change_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let change = added(
        s.add_file("a", &file("a", "a-1.0.tar.gz", "1.0", "a1", "alice")),
        "upload",
    );
    let good = PublishCommit {
        up_to_change: 0,
        pages: vec![page("a", "a-old", 1)],
        roles: vec![role("snapshot", 1, "s1")],
        timestamp: b"old".to_vec(),
        fence: 0,
    };
    s.commit_publish(&good).expect("commit_publish");
    let before = Observed::take(&*s, &["a", "b", "huge"], &[1, 2]);
    let mut huge_role = role("targets", 1, "t");
    huge_role.version = u64::MAX;
    let mut huge_page = page("b", "b", 2);
    huge_page.length = u64::MAX;
    let bad = PublishCommit {
        up_to_change: change,
        pages: vec![page("a", "a-new", 2), huge_page.clone()],
        roles: vec![role("snapshot", 2, "s2"), huge_role.clone()],
        timestamp: b"new".to_vec(),
        fence: 0,
    };
    if s.commit_publish(&bad).is_ok() {
        assert_eq!(
            s.page("b").expect("page"),
            Some(huge_page),
            "u64::MAX page length"
        );
        let stored = s
            .roles()
            .expect("roles")
            .into_iter()
            .find(|r| r.role == "targets");
        assert_eq!(stored, Some(huge_role), "u64::MAX role version");
        assert_eq!(
            s.pending_changes().expect("pending_changes"),
            PendingChanges::default()
        );
    } else {
        let after = Observed::take(&*s, &["a", "b", "huge"], &[1, 2]);
        assert_eq!(after, before, "a failed commit_publish changed the state");
    }

    let before = Observed::take(&*s, &["a", "b", "huge"], &[1, 2]);
    let mut f = file("huge", "huge-1.0.tar.gz", "1.0", "huge", "alice");
    f.size = u64::MAX;
    if s.add_file("Huge", &f).is_ok() {
        assert_eq!(s.files("huge").expect("files"), [f], "u64::MAX file size");
    } else {
        let after = Observed::take(&*s, &["a", "b", "huge"], &[1, 2]);
        assert_eq!(after, before, "a failed add_file changed the state");
    }
}

fn add_files_adds_in_order(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let first = file("p", "p-1.0.tar.gz", "1.0", "p1", "alice");
    let second = file("p", "p-2.0.tar.gz", "2.0", "p2", "alice");
    let conflicting = file("p", "p-1.0.tar.gz", "1.0", "other bytes", "alice");
    let foreign = file("p", "p-3.0.tar.gz", "3.0", "p3", "bob");
    let mut huge = file("q", "q-1.0.tar.gz", "1.0", "q1", "alice");
    huge.size = u64::MAX;
    let last = file("r", "r-1.0.tar.gz", "1.0", "r1", "carol");
    let outcomes = s
        .add_files(&[
            ("P", &first),
            ("P", &second),
            ("P", &first),
            ("P", &conflicting),
            ("P", &foreign),
            ("Q", &huge),
            ("R", &last),
        ])
        .expect("add_files");
    assert_eq!(outcomes.len(), 7, "one outcome per file");
    let changes: Vec<u64> = [&outcomes[0], &outcomes[1], &outcomes[6]]
        .into_iter()
        .map(|o| match o {
            Ok(AddFile::Added { change }) => *change,
            other => panic!("expected Added, got {other:?}"),
        })
        .collect();
    assert!(
        changes.windows(2).all(|w| w[0] < w[1]),
        "changes grow in order: {changes:?}"
    );
    assert!(
        matches!(outcomes[2], Ok(AddFile::Identical)),
        "{:?}",
        outcomes[2]
    );
    assert!(
        matches!(outcomes[3], Ok(AddFile::Conflict)),
        "{:?}",
        outcomes[3]
    );
    assert!(
        matches!(outcomes[4], Ok(AddFile::Forbidden)),
        "{:?}",
        outcomes[4]
    );
    match &outcomes[5] {
        Ok(AddFile::Added { .. }) => {
            assert_eq!(s.files("q").expect("files"), [huge], "u64::MAX file size");
        }
        Ok(other) => panic!("unexpected outcome for q: {other:?}"),
        Err(_) => {
            assert_eq!(
                s.project("q").expect("project"),
                None,
                "a failed file left its project"
            );
            assert!(s.files("q").expect("files").is_empty());
        }
    }
    assert_eq!(
        names(&s.files("p").expect("files")),
        ["p-1.0.tar.gz", "p-2.0.tar.gz"]
    );
    assert_eq!(
        s.files("r").expect("files"),
        [last],
        "a file after a failed one"
    );
    let project = s.project("p").expect("project").expect("p exists");
    assert_eq!(
        (project.display_name.as_str(), project.created_by.as_str()),
        ("P", "alice")
    );
    assert!(
        s.add_files(&[]).expect("an empty call").is_empty(),
        "no files, no outcomes"
    );
}

/// Counts finished threads, even those that panicked, so that the loops
/// waiting for them end.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const THREADS: usize = 8;
const ROUNDS: usize = 10;

/// One uploader's work: its own project, a project every uploader races to
/// create, and filenames every uploader races to take (half of them with the
/// same bytes) as one user.
fn uploader(s: &dyn StateStore, t: usize) -> Vec<(FileRecord, AddFile)> {
    let user = format!("user-{t}");
    let mut outcomes = Vec::new();
    for i in 0..ROUNDS {
        let own = format!("own-{t}");
        let race_bytes = if t.is_multiple_of(2) {
            format!("race-{i}")
        } else {
            format!("race-{i}-{t}")
        };
        for f in [
            file(
                &own,
                &format!("own_{t}-{i}.tar.gz"),
                &i.to_string(),
                &format!("own-{t}-{i}"),
                &user,
            ),
            file(
                "shared",
                &format!("shared-{t}.{i}.tar.gz"),
                "1.0",
                &format!("shared-{t}-{i}"),
                &user,
            ),
            file(
                "race",
                &format!("race-{i}.tar.gz"),
                &i.to_string(),
                &race_bytes,
                "racer",
            ),
        ] {
            let outcome = s.add_file(&f.project, &f).expect("concurrent add_file");
            outcomes.push((f, outcome));
        }
    }
    outcomes
}

type Outcomes = Vec<(FileRecord, AddFile)>;

/// Eight uploaders at once, with a publisher draining the queue meanwhile:
/// every `Added` file is stored, no change is lost, ownership is never split.
fn concurrent_uploads(make: &Make<'_, dyn StateStore>) {
    let store = make();
    let s: &dyn StateStore = &*store;
    let finished = AtomicUsize::new(0);
    let (outcomes, commits) = thread::scope(|scope| {
        let uploaders: Vec<_> = (0..THREADS)
            .map(|t| {
                let finished = &finished;
                scope.spawn(move || {
                    let _finished = Finished(finished);
                    uploader(s, t)
                })
            })
            .collect();
        let publisher = scope.spawn(|| {
            let mut commits = Vec::new();
            while finished.load(Ordering::SeqCst) < THREADS {
                let pending = s.pending_changes().expect("pending_changes");
                if pending.up_to_change > 0 {
                    let commit = PublishCommit {
                        up_to_change: pending.up_to_change,
                        ..PublishCommit::default()
                    };
                    s.commit_publish(&commit).expect("commit_publish");
                    commits.push(pending);
                }
                thread::yield_now();
            }
            commits
        });
        let outcomes: Outcomes = uploaders.into_iter().flat_map(join).collect();
        (outcomes, join(publisher))
    });
    no_change_lost(s, &outcomes, &commits);
    for t in 0..THREADS {
        let files = s.files(&format!("own-{t}")).expect("files");
        assert_eq!(files.len(), ROUNDS, "files of own-{t}");
    }
    ownership_not_split(s, &outcomes);
    one_winner_per_filename(s, &outcomes);
}

/// Every `Added` file is stored exactly as given, under a distinct change
/// that the first commit covering it published, or that is still pending.
fn no_change_lost(s: &dyn StateStore, outcomes: &Outcomes, commits: &[PendingChanges]) {
    let final_pending = s.pending_changes().expect("pending_changes");
    let mut changes = Vec::new();
    for (f, outcome) in outcomes {
        let AddFile::Added { change } = *outcome else {
            continue;
        };
        changes.push(change);
        let stored = s.files(&f.project).expect("files");
        assert!(
            stored.contains(f),
            "{} was Added but is not stored",
            f.filename
        );
        let covering = commits
            .iter()
            .find(|c| c.up_to_change >= change)
            .unwrap_or(&final_pending);
        assert!(
            covering.up_to_change >= change && covering.projects.contains(&f.project),
            "change {change} for {} was lost (covered by {covering:?})",
            f.project
        );
    }
    let count = changes.len();
    changes.sort_unstable();
    changes.dedup();
    assert_eq!(
        changes.len(),
        count,
        "two uploads got the same change number"
    );
}

/// The project every uploader raced to create has one owner, whose uploads
/// all succeeded, and nobody else's.
fn ownership_not_split(s: &dyn StateStore, outcomes: &Outcomes) {
    let owner = s
        .project("shared")
        .expect("project")
        .expect("shared project")
        .created_by;
    assert_eq!(
        s.owners("shared")
            .expect("owners")
            .iter()
            .map(|o| o.user.as_str())
            .collect::<Vec<_>>(),
        [owner.as_str()],
        "the creator is the one owner"
    );
    for (f, outcome) in outcomes.iter().filter(|(f, _)| f.project == "shared") {
        let right = if f.uploader == owner {
            matches!(outcome, AddFile::Added { .. })
        } else {
            *outcome == AddFile::Forbidden
        };
        assert!(
            right,
            "{} by {} (owner {owner}): {outcome:?}",
            f.filename, f.uploader
        );
    }
    let shared = s.files("shared").expect("files");
    assert_eq!(
        shared.len(),
        ROUNDS,
        "only the owner's files are in the shared project"
    );
    assert!(
        shared.iter().all(|f| f.uploader == owner),
        "ownership of the shared project split"
    );
}

/// Each raced filename was `Added` once; the other attempts were
/// `Identical` exactly when they had the stored bytes, else `Conflict`.
fn one_winner_per_filename(s: &dyn StateStore, outcomes: &Outcomes) {
    let race = s.files("race").expect("files");
    assert_eq!(race.len(), ROUNDS, "files of the raced project");
    for stored in &race {
        let attempts: Vec<_> = outcomes
            .iter()
            .filter(|(f, _)| f.filename == stored.filename)
            .collect();
        let winners = attempts
            .iter()
            .filter(|(_, o)| matches!(o, AddFile::Added { .. }))
            .count();
        assert_eq!(winners, 1, "{} was Added {winners} times", stored.filename);
        for (f, outcome) in attempts {
            let right = match outcome {
                AddFile::Added { .. } | AddFile::Identical => f.sha256 == stored.sha256,
                AddFile::Conflict => f.sha256 != stored.sha256,
                AddFile::SecondSdist
                | AddFile::Forbidden
                | AddFile::Claimed
                | AddFile::Removed
                | AddFile::Upstream => false,
            };
            assert!(
                right,
                "{}: {outcome:?} for bytes {} (stored {})",
                f.filename, f.sha256, stored.sha256
            );
        }
    }
}

fn concurrent_publish_counter(make: &Make<'_, dyn StateStore>) {
    let store = make();
    let s: &dyn StateStore = &*store;
    let mut all: Vec<u64> = thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let versions: Vec<u64> = (0..25)
                        .map(|_| s.next_publish_version().expect("next_publish_version"))
                        .collect();
                    assert!(
                        versions.is_sorted_by(|a, b| a < b),
                        "one thread saw {versions:?}"
                    );
                    versions
                })
            })
            .collect();
        threads.into_iter().flat_map(join).collect()
    });
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "a publish version was handed out twice");
}

/// Readers never see half a commit. Commit `v` sets every page length, every
/// role version and the timestamp to `v`; a reader cycling through
/// `pages_in_bin`, `roles` and `latest_timestamp` must find each answer
/// uniform and never older than an answer it had before, whichever part of a
/// commit a backend happens to apply first.
fn concurrent_commits_are_atomic_for_readers(make: &Make<'_, dyn StateStore>) {
    const COMMITS: u64 = 40;
    let store = make();
    let s: &dyn StateStore = &*store;
    let finished = AtomicUsize::new(0);
    let commit = |v: u64| PublishCommit {
        up_to_change: 0,
        pages: ["p1", "p2", "p3"]
            .iter()
            .map(|p| PageRecord {
                length: v,
                ..page(p, "page", 0)
            })
            .collect(),
        roles: ["r1", "r2", "r3"]
            .iter()
            .map(|r| role(r, v, "role"))
            .collect(),
        timestamp: v.to_string().into_bytes(),
        fence: 0,
    };
    thread::scope(|scope| {
        let finished = &finished;
        let publisher = scope.spawn(move || {
            let _finished = Finished(finished);
            for v in 1..=COMMITS {
                s.commit_publish(&commit(v)).expect("commit_publish");
            }
        });
        let readers: Vec<_> = (0..3)
            .map(|_| scope.spawn(move || read_uniform_versions(s, finished)))
            .collect();
        join(publisher);
        readers.into_iter().for_each(join);
    });
    assert_eq!(
        s.latest_timestamp().expect("latest_timestamp"),
        Some(COMMITS.to_string().into_bytes())
    );
}

/// The reader of [`concurrent_commits_are_atomic_for_readers`].
fn read_uniform_versions(s: &dyn StateStore, finished: &AtomicUsize) {
    /// The one version in `versions`, or 0 when nothing is published yet.
    fn uniform(what: &str, versions: &[u64]) -> u64 {
        let v = versions.first().copied().unwrap_or(0);
        let whole =
            versions.is_empty() || (versions.len() == 3 && versions.iter().all(|&x| x == v));
        assert!(whole, "{what} seen mid-commit: {versions:?}");
        v
    }
    let mut newest = 0;
    let mut seen = |what: &str, v: u64| {
        assert!(
            v >= newest,
            "{what} at version {v} after version {newest} was seen"
        );
        newest = v;
    };
    while finished.load(Ordering::SeqCst) == 0 {
        let pages = s.pages_in_bin(0).expect("pages_in_bin");
        let lengths: Vec<u64> = pages.iter().map(|p| p.length).collect();
        seen("pages", uniform("pages", &lengths));
        let roles = s.roles().expect("roles");
        let versions: Vec<u64> = roles.iter().map(|r| r.version).collect();
        seen("roles", uniform("roles", &versions));
        let timestamp = s.latest_timestamp().expect("latest_timestamp");
        let version = timestamp.map_or(0, |t| {
            let text = String::from_utf8(t).expect("timestamp bytes");
            text.parse().expect("timestamp version")
        });
        seen("timestamp", version);
    }
}

// ----- Claim checks ----------------------------------------------------------

fn transaction_creates_the_project_files_and_claim(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let mut later = file("dev", "dev-1.0.tar.gz", "1.0", "dev1-sdist", "alice");
    later.upload_time_us = 5_000;
    let mut earlier = file(
        "dev",
        "dev-1.0-py3-none-any.whl",
        "1.0",
        "dev1-wheel",
        "alice",
    );
    earlier.upload_time_us = 3_000;
    let t = transaction(
        "alice",
        None,
        claim("dev", 1),
        vec![later.clone(), earlier.clone()],
        vec![],
    );
    let change = recorded(s.record_transaction(&t), "first transaction");
    assert!(change >= 1, "change numbers start at 1, got {change}");
    assert_eq!(
        s.project("dev").expect("project"),
        Some(crate::ProjectRecord {
            name: "dev".to_owned(),
            display_name: "DEV".to_owned(),
            created_by: "alice".to_owned(),
            created_us: 3_000,
        }),
        "owned by the user, created at the earliest upload"
    );
    assert_eq!(s.files("dev").expect("files"), [earlier, later]);
    assert_eq!(s.claim("dev").expect("claim"), Some(t.claim.clone()));
    assert_eq!(s.claims().expect("claims"), [t.claim]);
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges {
            up_to_change: change,
            projects: vec!["dev".to_owned()]
        }
    );
    // The next transaction, checked against the recorded claim.
    let commit = PublishCommit {
        up_to_change: change,
        ..PublishCommit::default()
    };
    s.commit_publish(&commit).expect("commit_publish");
    let two = file("dev", "dev-2.0.tar.gz", "2.0", "dev2", "alice");
    let next = transaction("alice", Some(1), claim("dev", 2), vec![two], vec![]);
    let second = recorded(s.record_transaction(&next), "second transaction");
    assert!(
        second > change,
        "change numbers grow: {change} then {second}"
    );
    assert_eq!(s.claim("dev").expect("claim"), Some(next.claim));
    assert_eq!(s.files("dev").expect("files").len(), 3);
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges {
            up_to_change: second,
            projects: vec!["dev".to_owned()]
        }
    );
    // Without files: a new role and page only (for a yank, say).
    let bare = transaction("alice", Some(2), claim("dev", 3), vec![], vec![]);
    let third = recorded(s.record_transaction(&bare), "transaction without files");
    assert!(third > second, "change numbers grow: {second} then {third}");
    assert_eq!(s.claim("dev").expect("claim"), Some(bare.claim));
}

fn transaction_claims_an_existing_project(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let mut twine = file("old", "old-1.0.tar.gz", "1.0", "old1", "alice");
    twine.upload_time_us = 7;
    added(s.add_file("Old", &twine), "twine upload");
    // Published: a claim is checked against the published page.
    drain(&*s);
    let project = s.project("old").expect("project");
    let new = file("old", "old-2.0.tar.gz", "2.0", "old2", "alice");
    let t = transaction("alice", None, claim("old", 1), vec![new.clone()], vec![]);
    recorded(s.record_transaction(&t), "claiming transaction");
    assert_eq!(
        s.project("old").expect("project"),
        project,
        "the project record changed"
    );
    assert_eq!(s.files("old").expect("files"), [twine, new]);
    assert_eq!(s.claim("old").expect("claim"), Some(t.claim));
}

fn every_claim_field_round_trips(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let bare = ClaimRecord {
        project: "zeta".to_owned(),
        tier: ClaimTier::RecentlyClaimed,
        delegation: String::new(),
        role_version: 0,
        role_expires: i64::MIN,
        role_sha256: digest("zeta-role"),
        role_length: 0,
        page_sha256: digest("zeta-page"),
        page_length: 0,
        nested: Vec::new(),
    };
    let full = ClaimRecord {
        project: "alpha".to_owned(),
        tier: ClaimTier::Claimed,
        delegation: r#"{"keys":{"ü":{"q":"\"x\"\n"}},"role":"project-alpha"}"#.to_owned(),
        role_version: u64::MAX >> 1, // i64::MAX: what a signed 64-bit column holds
        role_expires: i64::MAX,
        role_sha256: digest("alpha-role"),
        role_length: u64::MAX >> 1,
        page_sha256: digest("alpha-page"),
        page_length: u64::MAX >> 1,
        nested: vec![
            NestedRoleRecord {
                name: "project-alpha.a".to_owned(),
                version: 0,
                expires: i64::MIN,
                sha256: digest("alpha-a"),
                length: 0,
            },
            NestedRoleRecord {
                name: "project-alpha.ü".to_owned(),
                version: u64::MAX >> 1,
                expires: i64::MAX,
                sha256: digest("alpha-ü"),
                length: u64::MAX >> 1,
            },
        ],
    };
    let (mid, alpha_b) = (claim("mid", 4), claim("alpha-b", 9));
    for c in [&bare, &full, &mid, &alpha_b] {
        let t = transaction("alice", None, c.clone(), vec![], vec![]);
        recorded(s.record_transaction(&t), &format!("claim {}", c.project));
    }
    for c in [&bare, &full, &mid, &alpha_b] {
        assert_eq!(s.claim(&c.project).expect("claim").as_ref(), Some(c));
    }
    assert_eq!(s.claim("nothing").expect("claim"), None);
    assert_eq!(
        s.claims().expect("claims"),
        [full.clone(), alpha_b, mid, bare.clone()],
        "claims by project name"
    );
    // A later transaction replaces every field it owns.
    let replaced = ClaimRecord {
        role_version: 1,
        role_expires: -5,
        role_sha256: digest("zeta-role-2"),
        role_length: 12,
        page_sha256: digest("zeta-page-2"),
        page_length: 34,
        ..bare
    };
    let t = transaction("alice", Some(0), replaced.clone(), vec![], vec![]);
    recorded(s.record_transaction(&t), "replace zeta's claim");
    assert_eq!(s.claim("zeta").expect("claim"), Some(replaced));
    assert_eq!(
        s.claim("alpha").expect("claim"),
        Some(full),
        "another claim"
    );
}

/// Nested role `name` of `dev` at `version`.
fn nested(name: &str, version: u64) -> NestedRoleRecord {
    NestedRoleRecord {
        name: format!("project-dev.{name}"),
        version,
        expires: 1_900_000_000,
        sha256: digest(&format!("nested:{name}:{version}")),
        length: 100 + version,
    }
}

fn nested_roles_are_replaced_and_race(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let first = ClaimRecord {
        nested: vec![nested("a", 1), nested("ci", 1)],
        ..claim("dev", 2)
    };
    let t = transaction("alice", None, first.clone(), vec![], vec![]);
    recorded(s.record_transaction(&t), "claim dev with two nested roles");
    assert_eq!(s.claim("dev").expect("claim"), Some(first.clone()));
    // A CI release: the project role's version stays, one nested role moves.
    let release = ClaimRecord {
        nested: vec![nested("a", 1), nested("ci", 2)],
        ..claim("dev", 2)
    };
    let checked = |versions: &[(&str, u64)]| ProjectTransaction {
        checked_nested: versions
            .iter()
            .map(|(n, v)| (format!("project-dev.{n}"), *v))
            .collect(),
        ..transaction("alice", Some(2), release.clone(), vec![], vec![])
    };
    // Versions that do not grow are the caller's mistake.
    for contradictory in [&[("a", 1), ("ci", 2)][..], &[("a", 1), ("ci", 1), ("b", 1)]] {
        assert!(
            matches!(
                s.record_transaction(&checked(contradictory)),
                Err(StoreError::Misuse(_))
            ),
            "checked against {contradictory:?}"
        );
    }
    for stale in [&[][..], &[("ci", 1)], &[("a", 0), ("ci", 1)]] {
        assert_eq!(
            s.record_transaction(&checked(stale))
                .expect("record_transaction"),
            TransactionOutcome::Stale,
            "checked against {stale:?}"
        );
        assert_eq!(s.claim("dev").expect("claim"), Some(first.clone()));
    }
    // In any order.
    recorded(
        s.record_transaction(&checked(&[("ci", 1), ("a", 1)])),
        "the CI release",
    );
    assert_eq!(s.claim("dev").expect("claim"), Some(release.clone()));
    assert_eq!(
        s.record_transaction(&checked(&[("a", 1), ("ci", 1)]))
            .expect("record_transaction"),
        TransactionOutcome::Stale,
        "the same release, raced"
    );
    // The list replaces the stored one.
    let fewer = claim("dev", 3);
    let t = ProjectTransaction {
        checked_nested: vec![
            ("project-dev.a".to_owned(), 1),
            ("project-dev.ci".to_owned(), 2),
        ],
        ..transaction("alice", Some(2), fewer.clone(), vec![], vec![])
    };
    recorded(s.record_transaction(&t), "a claim without nested roles");
    assert_eq!(s.claim("dev").expect("claim"), Some(fewer.clone()));
    assert_eq!(s.claims().expect("claims"), [fewer]);
}

fn transaction_of_another_user_is_forbidden(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "Twine",
            &file("twine", "twine-1.0.tar.gz", "1.0", "tw1", "alice"),
        ),
        "alice's upload",
    );
    let t = transaction("alice", None, claim("dev", 1), vec![], vec![]);
    recorded(s.record_transaction(&t), "alice's claim");
    let before = Observed::take(&*s, &["twine", "dev"], &[]);
    for (project, checked_against) in [("twine", None), ("dev", Some(1)), ("dev", None)] {
        let mallory = |name: &str, content: &str| file(project, name, "9.0", content, "mallory");
        let files = vec![
            mallory(&format!("{project}-9.0.tar.gz"), "evil"),
            // Ownership comes first: a conflicting file does not matter.
            mallory(&format!("{project}-1.0.tar.gz"), "evil conflict"),
        ];
        let t = transaction(
            "mallory",
            checked_against,
            claim(project, 2),
            files,
            vec![(&format!("{project}-1.0.tar.gz"), Some("evil"))],
        );
        assert_eq!(
            s.record_transaction(&t).expect("record_transaction"),
            TransactionOutcome::Forbidden,
            "mallory's transaction for {project} checked against {checked_against:?}"
        );
    }
    assert_eq!(
        Observed::take(&*s, &["twine", "dev"], &[]),
        before,
        "a forbidden transaction changed the state"
    );
}

fn stale_transactions_change_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "Plain",
            &file("plain", "plain-1.0.tar.gz", "1.0", "p1", "alice"),
        ),
        "upload",
    );
    let dev1 = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    let t = transaction("alice", None, claim("dev", 3), vec![dev1], vec![]);
    recorded(s.record_transaction(&t), "claim dev at version 3");
    let before = Observed::take(&*s, &["plain", "dev", "new"], &[]);
    let attempt = |project: &str, checked_against: Option<u64>, c: ClaimRecord| {
        let files = vec![file(
            project,
            &format!("{project}-5.0.tar.gz"),
            "5.0",
            &format!("{project}5"),
            "alice",
        )];
        let yanked = if project == "new" {
            vec![]
        } else {
            vec![(format!("{project}-1.0.tar.gz"), Some("stale".to_owned()))]
        };
        let t = ProjectTransaction {
            yanked,
            ..transaction("alice", checked_against, c, files, vec![])
        };
        let outcome = s.record_transaction(&t).expect("record_transaction");
        assert_eq!(
            outcome,
            TransactionOutcome::Stale,
            "{project} checked against {checked_against:?}"
        );
        assert_eq!(
            Observed::take(&*s, &["plain", "dev", "new"], &[]),
            before,
            "a stale transaction for {project} checked against {checked_against:?} changed the state"
        );
    };
    attempt("dev", None, claim("dev", 4));
    attempt("dev", Some(2), claim("dev", 4));
    attempt("dev", Some(4), claim("dev", 5));
    attempt("plain", Some(1), claim("plain", 2));
    // A first claim of plain while its twine upload is still queued: the
    // page it was checked against does not list that upload.
    attempt("plain", None, claim("plain", 1));
    attempt("new", Some(1), claim("new", 2));
    assert_eq!(
        s.project("new").expect("project"),
        None,
        "a stale transaction created a project"
    );

    // A claim promoted (or given other keys) after the check is stale too:
    // recording it would undo the administrator's change.
    assert!(
        s.set_claim_delegation("dev", ClaimTier::Claimed, "{\"new keys\":1}")
            .expect("set_claim_delegation"),
        "dev has a claim"
    );
    let before = Observed::take(&*s, &["plain", "dev", "new"], &[]);
    let t = transaction("alice", Some(3), claim("dev", 4), vec![], vec![]);
    assert_eq!(
        s.record_transaction(&t).expect("record_transaction"),
        TransactionOutcome::Stale,
        "a transaction checked against the delegation before a promotion"
    );
    let keys_only = ClaimRecord {
        tier: ClaimTier::Claimed,
        ..claim("dev", 4)
    };
    let t = transaction("alice", Some(3), keys_only, vec![], vec![]);
    assert_eq!(
        s.record_transaction(&t).expect("record_transaction"),
        TransactionOutcome::Stale,
        "a transaction checked against the keys before a change of keys"
    );
    assert_eq!(
        Observed::take(&*s, &["plain", "dev", "new"], &[]),
        before,
        "a transaction stale by its delegation changed the state"
    );
    let current = ClaimRecord {
        tier: ClaimTier::Claimed,
        delegation: "{\"new keys\":1}".to_owned(),
        ..claim("dev", 4)
    };
    let t = transaction("alice", Some(3), current.clone(), vec![], vec![]);
    recorded(
        s.record_transaction(&t),
        "a transaction checked against the promoted claim",
    );
    assert_eq!(s.claim("dev").expect("claim"), Some(current));
}

fn conflicting_transaction_is_rolled_back(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let theirs = file("other", "other-1.0.tar.gz", "1.0", "other1", "bob");
    added(s.add_file("Other", &theirs), "bob's upload");
    let dev1 = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    let t = transaction("alice", None, claim("dev", 1), vec![dev1.clone()], vec![]);
    let change = recorded(s.record_transaction(&t), "claim dev");
    let commit = PublishCommit {
        up_to_change: change,
        ..PublishCommit::default()
    };
    s.commit_publish(&commit).expect("commit_publish");
    let projects = ["other", "dev", "fresh"];
    let before = Observed::take(&*s, &projects, &[]);
    let refused = |t: &ProjectTransaction, filename: &str, what: &str| {
        assert_eq!(
            s.record_transaction(t).expect("record_transaction"),
            TransactionOutcome::Conflict {
                filename: filename.to_owned()
            },
            "{what}"
        );
        assert_eq!(
            Observed::take(&*s, &projects, &[]),
            before,
            "{what}: a conflicting transaction changed the state"
        );
    };
    let new = |project: &str, n: u32| {
        file(
            project,
            &format!("{project}-{n}.0.tar.gz"),
            &format!("{n}.0"),
            &format!("{project}-new-{n}"),
            "alice",
        )
    };
    // Another project's filename, with the same bytes or others, between
    // files that alone would be added.
    for sha256 in [theirs.sha256.clone(), digest("mine")] {
        let stolen = FileRecord {
            project: "dev".to_owned(),
            uploader: "alice".to_owned(),
            sha256,
            ..theirs.clone()
        };
        let t = transaction(
            "alice",
            Some(1),
            claim("dev", 2),
            vec![new("dev", 2), stolen, new("dev", 3)],
            vec![("dev-1.0.tar.gz", Some("yanked"))],
        );
        refused(&t, "other-1.0.tar.gz", "another project's filename");
        let fresh = FileRecord {
            project: "fresh".to_owned(),
            uploader: "alice".to_owned(),
            ..theirs.clone()
        };
        let t = transaction(
            "alice",
            None,
            claim("fresh", 1),
            vec![new("fresh", 2), fresh],
            vec![],
        );
        refused(
            &t,
            "other-1.0.tar.gz",
            "a new project with another's filename",
        );
    }
    // Other bytes under one of the project's own filenames.
    let rebuilt = FileRecord {
        sha256: digest("rebuilt"),
        ..dev1.clone()
    };
    let t = transaction(
        "alice",
        Some(1),
        claim("dev", 2),
        vec![new("dev", 2), rebuilt],
        vec![],
    );
    refused(&t, "dev-1.0.tar.gz", "other bytes under a stored filename");
    // Two different files under one filename in the same transaction.
    let twin = FileRecord {
        sha256: digest("twin"),
        ..new("dev", 4)
    };
    let t = transaction(
        "alice",
        Some(1),
        claim("dev", 2),
        vec![new("dev", 4), twin],
        vec![],
    );
    refused(&t, "dev-4.0.tar.gz", "two files under one filename");
}

/// A developer-signed transaction is held to the same release identity as
/// a twine upload: a respelled or second sdist refuses it whole.
fn transactions_refuse_respelled_files(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "dev",
            &file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice"),
        ),
        "twine upload",
    );
    drain(&*s);
    let before = Observed::take(&*s, &["dev"], &[]);
    let new = |filename: &str, version: &str| file("dev", filename, version, filename, "alice");
    for files in [
        vec![
            new("dev-2.0.tar.gz", "2.0"),
            new("Dev-1.0.0.tar.gz", "1.0.0"),
        ],
        vec![new("dev-2.0.tar.gz", "2.0"), new("dev-1.zip", "1")],
        vec![new("dev-2.0.tar.gz", "2.0"), new("dev-2.zip", "2")],
        vec![
            new("dev-2-py3-none-any.whl", "2"),
            new("DEV-2.0-py3-none-any.whl", "2.0"),
        ],
    ] {
        let refused = files[1].filename.clone();
        let t = transaction("alice", None, claim("dev", 1), files, vec![]);
        assert_eq!(
            s.record_transaction(&t).expect("record_transaction"),
            TransactionOutcome::Conflict {
                filename: refused.clone()
            },
            "{refused}"
        );
        assert_eq!(
            Observed::take(&*s, &["dev"], &[]),
            before,
            "{refused}: a refused transaction changed something"
        );
        assert_eq!(s.claim("dev").expect("claim"), None);
    }
    let t = transaction(
        "alice",
        None,
        claim("dev", 1),
        vec![new("dev-1.0-py3-none-any.whl", "1.0")],
        vec![],
    );
    recorded(s.record_transaction(&t), "a wheel of the release");
}

fn identical_files_in_a_transaction_are_kept(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let mut stored = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    stored.upload_time_us = 1;
    added(s.add_file("dev", &stored), "twine upload");
    drain(&*s);
    let resent = FileRecord {
        upload_time_us: 99,
        requires_python: None,
        ..stored.clone()
    };
    let two = file("dev", "dev-2.0.tar.gz", "2.0", "dev2", "alice");
    let t = transaction(
        "alice",
        None,
        claim("dev", 1),
        vec![resent.clone(), two.clone(), two.clone()],
        vec![],
    );
    recorded(s.record_transaction(&t), "identical file re-sent");
    assert_eq!(
        s.files("dev").expect("files"),
        [stored.clone(), two],
        "the stored file is kept as it was, a file sent twice stored once"
    );
    let t = transaction("alice", Some(1), claim("dev", 2), vec![resent], vec![]);
    recorded(s.record_transaction(&t), "only an identical file");
    assert_eq!(s.claim("dev").expect("claim"), Some(claim("dev", 2)));
    assert_eq!(s.files("dev").expect("files")[0], stored);
}

fn transaction_yank_states_apply_to_named_files(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let yanked = |filename: &str, reason: Option<&str>| FileRecord {
        yanked: reason.map(str::to_owned),
        ..file("dev", filename, "1.0", filename, "alice")
    };
    let initial = [
        yanked("dev-1.0.tar.gz", None),
        yanked("dev-2.0.tar.gz", Some("old")),
        yanked("dev-3.0.tar.gz", Some("keep")),
        yanked("dev-4.0.tar.gz", None),
    ];
    let t = transaction("alice", None, claim("dev", 1), initial.to_vec(), vec![]);
    recorded(s.record_transaction(&t), "claim dev");
    let other = file("other", "other-1.0.tar.gz", "1.0", "other1", "alice");
    added(s.add_file("other", &other), "a file of another project");
    let new = yanked("dev-5.0.tar.gz", None);
    let t = transaction(
        "alice",
        Some(1),
        claim("dev", 2),
        vec![new],
        vec![
            ("dev-1.0.tar.gz", Some("broken")),
            ("dev-2.0.tar.gz", None),
            ("dev-4.0.tar.gz", Some("")),
            ("dev-5.0.tar.gz", Some("born yanked")),
        ],
    );
    recorded(s.record_transaction(&t), "yanks");
    let states: Vec<(String, Option<String>)> = s
        .files("dev")
        .expect("files")
        .into_iter()
        .map(|f| (f.filename, f.yanked))
        .collect();
    let expected: Vec<(String, Option<String>)> = [
        ("dev-1.0.tar.gz", Some("broken")),
        ("dev-2.0.tar.gz", None),
        ("dev-3.0.tar.gz", Some("keep")),
        ("dev-4.0.tar.gz", Some("")),
        ("dev-5.0.tar.gz", Some("born yanked")),
    ]
    .into_iter()
    .map(|(f, y)| (f.to_owned(), y.map(str::to_owned)))
    .collect();
    assert_eq!(states, expected, "yank states after the transaction");
    assert_eq!(
        s.files("other").expect("files"),
        [other],
        "another project's file changed"
    );
}

fn contradictory_transactions_are_misuse(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let dev1 = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    let t = transaction("alice", None, claim("dev", 2), vec![dev1], vec![]);
    recorded(s.record_transaction(&t), "claim dev");
    added(
        s.add_file(
            "other",
            &file("other", "other-1.0.tar.gz", "1.0", "o1", "alice"),
        ),
        "a file of another project",
    );
    let projects = ["dev", "other", "new"];
    let before = Observed::take(&*s, &projects, &[]);
    let good = file("dev", "dev-2.0.tar.gz", "2.0", "dev2", "alice");
    let cases = [
        (
            "a file of another project",
            transaction(
                "alice",
                Some(2),
                claim("dev", 3),
                vec![
                    good.clone(),
                    file("other", "other-2.0.tar.gz", "2.0", "o2", "alice"),
                ],
                vec![],
            ),
        ),
        (
            "a file of another uploader",
            transaction(
                "alice",
                Some(2),
                claim("dev", 3),
                vec![file("dev", "dev-3.0.tar.gz", "3.0", "dev3", "bob")],
                vec![],
            ),
        ),
        (
            "a role version that does not grow",
            transaction(
                "alice",
                Some(2),
                claim("dev", 2),
                vec![good.clone()],
                vec![],
            ),
        ),
        (
            "a yank state of another project's file",
            transaction(
                "alice",
                Some(2),
                claim("dev", 3),
                vec![good.clone()],
                vec![("other-1.0.tar.gz", Some("x"))],
            ),
        ),
        (
            "a yank state of a missing file",
            transaction(
                "alice",
                Some(2),
                claim("dev", 3),
                vec![good.clone()],
                vec![("dev-1.0.tar.gz", Some("x")), ("dev-9.0.tar.gz", Some("x"))],
            ),
        ),
        (
            "a yank state on a new project's missing file",
            transaction(
                "alice",
                None,
                claim("new", 1),
                vec![],
                vec![("new-1.0.tar.gz", None)],
            ),
        ),
    ];
    for (what, t) in cases {
        let result = s.record_transaction(&t);
        assert!(
            matches!(result, Err(StoreError::Misuse(_))),
            "{what}: {result:?}"
        );
        assert_eq!(
            Observed::take(&*s, &projects, &[]),
            before,
            "{what}: a refused transaction changed the state"
        );
    }
}

fn claimed_projects_refuse_uploads(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let dev1 = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    let t = transaction("alice", None, claim("dev", 1), vec![dev1.clone()], vec![]);
    let change = recorded(s.record_transaction(&t), "claim dev");
    let commit = PublishCommit {
        up_to_change: change,
        ..PublishCommit::default()
    };
    s.commit_publish(&commit).expect("commit_publish");
    let before = Observed::take(&*s, &["dev"], &[]);
    let new = file("dev", "dev-2.0.tar.gz", "2.0", "dev2", "alice");
    let conflicting = FileRecord {
        sha256: digest("other"),
        ..dev1.clone()
    };
    for (what, f, expected) in [
        ("new file", new.clone(), AddFile::Claimed),
        ("identical file", dev1, AddFile::Claimed),
        ("conflicting file", conflicting, AddFile::Claimed),
        (
            "another user's file",
            FileRecord {
                uploader: "mallory".to_owned(),
                ..new.clone()
            },
            AddFile::Forbidden,
        ),
    ] {
        assert_eq!(s.add_file("dev", &f).expect("add_file"), expected, "{what}");
    }
    assert_eq!(
        Observed::take(&*s, &["dev"], &[]),
        before,
        "an upload to a claimed project changed the state"
    );
    let free = file("free", "free-1.0.tar.gz", "1.0", "free1", "alice");
    let outcomes = s
        .add_files(&[("dev", &new), ("free", &free)])
        .expect("add_files");
    assert!(
        matches!(
            outcomes[..],
            [Ok(AddFile::Claimed), Ok(AddFile::Added { .. })]
        ),
        "add_files: {outcomes:?}"
    );
    assert_eq!(s.files("free").expect("files"), [free]);
    assert_eq!(s.files("dev").expect("files"), before.files[0]);
    assert_eq!(s.claims().expect("claims"), before.claims);
    assert_eq!(
        s.pending_changes().expect("pending_changes").projects,
        ["free"],
        "add_files queued a change for the claimed project"
    );
}

fn claimed_projects_refuse_yanks(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let dev1 = file("dev", "dev-1.0.tar.gz", "1.0", "dev1", "alice");
    let t = transaction("alice", None, claim("dev", 1), vec![dev1], vec![]);
    recorded(s.record_transaction(&t), "claim dev");
    let before = Observed::take(&*s, &["dev"], &[]);
    for (project, version, user, yanked, expected) in [
        ("dev", "1.0", "alice", Some("x"), YankOutcome::Claimed),
        ("dev", "1.0", "alice", None, YankOutcome::Claimed),
        ("dev", "9.9", "alice", Some("x"), YankOutcome::Claimed),
        ("dev", "1.0", "mallory", Some("x"), YankOutcome::Forbidden),
        ("nope", "1.0", "alice", Some("x"), YankOutcome::NotFound),
    ] {
        let outcome = s
            .set_yanked(project, version, yanked, user)
            .expect("set_yanked");
        assert_eq!(
            outcome, expected,
            "set_yanked({project}, {version}, {yanked:?}) as {user}"
        );
    }
    assert_eq!(
        Observed::take(&*s, &["dev"], &[]),
        before,
        "a refused yank changed a claimed project"
    );
}

fn set_claim_delegation_changes_tier_and_delegation(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "plain",
            &file("plain", "plain-1.0.tar.gz", "1.0", "p1", "alice"),
        ),
        "upload",
    );
    let t = transaction("alice", None, claim("dev", 1), vec![], vec![]);
    recorded(s.record_transaction(&t), "claim dev");
    let t = transaction("alice", None, claim("keep", 1), vec![], vec![]);
    recorded(s.record_transaction(&t), "claim keep");
    let publish_all = || {
        let up_to_change = s.pending_changes().expect("pending_changes").up_to_change;
        let commit = PublishCommit {
            up_to_change,
            ..PublishCommit::default()
        };
        s.commit_publish(&commit).expect("commit_publish");
    };
    publish_all();
    let before = Observed::take(&*s, &["plain", "dev", "keep"], &[]);
    for project in ["nope", "plain"] {
        assert!(
            !s.set_claim_delegation(project, ClaimTier::Claimed, "{}")
                .expect("set_claim_delegation"),
            "{project} has no claim"
        );
    }
    assert_eq!(
        Observed::take(&*s, &["plain", "dev", "keep"], &[]),
        before,
        "set_claim_delegation without a claim changed the state"
    );
    let mut last = 0;
    for (tier, delegation, queued) in [
        (ClaimTier::Claimed, "{\"promoted\":1}", true),
        (ClaimTier::Claimed, "{\"promoted\":1}", false),
        (ClaimTier::Claimed, "{\"promoted\":2}", true),
        (ClaimTier::RecentlyClaimed, "{\"promoted\":2}", true),
    ] {
        let done = s
            .set_claim_delegation("dev", tier, delegation)
            .expect("set_claim_delegation");
        assert!(done, "dev has a claim");
        assert_eq!(
            s.claim("dev").expect("claim"),
            Some(ClaimRecord {
                tier,
                delegation: delegation.to_owned(),
                ..claim("dev", 1)
            }),
            "after set_claim_delegation({tier:?}, {delegation})"
        );
        assert_eq!(
            s.claim("keep").expect("claim"),
            Some(claim("keep", 1)),
            "another claim changed"
        );
        let pending = s.pending_changes().expect("pending_changes");
        if queued {
            assert!(
                pending.up_to_change > last && pending.projects == ["dev"],
                "set_claim_delegation({tier:?}, {delegation}) queued {pending:?}"
            );
            last = pending.up_to_change;
            publish_all();
        } else {
            assert_eq!(
                pending,
                PendingChanges::default(),
                "set_claim_delegation changed nothing yet queued a change"
            );
        }
    }
}

/// Readers never see half a transaction. Transaction `v` adds file `v`
/// and records role version `v`: reading the files and then the claim
/// must find a version at least the file count, and reading the claim and
/// then the files at least as many files as the version.
fn transactions_are_atomic_for_readers(make: &Make<'_, dyn StateStore>) {
    const TRANSACTIONS: u64 = 30;
    let store = make();
    let s: &dyn StateStore = &*store;
    let finished = AtomicUsize::new(0);
    thread::scope(|scope| {
        let finished = &finished;
        let writer = scope.spawn(move || {
            let _finished = Finished(finished);
            for v in 1..=TRANSACTIONS {
                let f = file(
                    "dev",
                    &format!("dev-{v}.tar.gz"),
                    &v.to_string(),
                    &format!("dev{v}"),
                    "alice",
                );
                let checked = (v > 1).then(|| v - 1);
                let t = transaction("alice", checked, claim("dev", v), vec![f], vec![]);
                recorded(s.record_transaction(&t), "transaction");
            }
        });
        let readers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(move || {
                    let version = || s.claim("dev").expect("claim").map_or(0, |c| c.role_version);
                    let count = || s.files("dev").expect("files").len() as u64;
                    while finished.load(Ordering::SeqCst) == 0 {
                        let files = count();
                        let v = version();
                        assert!(v >= files, "{files} files, then claim version {v}");
                        let v = version();
                        let files = count();
                        assert!(files >= v, "claim version {v}, then {files} files");
                        if v > 0 {
                            assert!(
                                s.project("dev").expect("project").is_some(),
                                "a claim without its project"
                            );
                        }
                    }
                })
            })
            .collect();
        join(writer);
        readers.into_iter().for_each(join);
    });
    assert_eq!(s.files("dev").expect("files").len() as u64, TRANSACTIONS);
}

/// Marks every queued change published, as a publish run does.
fn drain(s: &dyn StateStore) {
    let up_to_change = s.pending_changes().expect("pending").up_to_change;
    s.commit_publish(&PublishCommit {
        up_to_change,
        ..PublishCommit::default()
    })
    .expect("commit_publish");
}

/// Uploads racing the transaction that claims their project: each is either
/// added before the claim (a smaller change number) or refused as claimed.
fn uploads_racing_a_claim_never_follow_it(make: &Make<'_, dyn StateStore>) {
    let store = make();
    let s: &dyn StateStore = &*store;
    added(
        s.add_file("dev", &file("dev", "dev-9.tar.gz", "9", "dev9", "alice")),
        "first upload",
    );
    let (outcomes, claimed) = thread::scope(|scope| {
        let uploaders: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    (0..ROUNDS * 2)
                        .map(|i| {
                            let name = format!("dev-{t}.{i}.tar.gz");
                            let f = file("dev", &name, "1.0", &name, "alice");
                            let outcome = s.add_file("dev", &f).expect("add_file");
                            (f, outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // A claim is refused while an upload waits to be published: the
        // claimer publishes, then claims, until no upload came in between.
        let claimer = scope.spawn(move || {
            thread::yield_now();
            let t = transaction("alice", None, claim("dev", 1), vec![], vec![]);
            loop {
                drain(s);
                match s.record_transaction(&t).expect("record_transaction") {
                    TransactionOutcome::Recorded { change } => break change,
                    TransactionOutcome::Stale => thread::yield_now(),
                    other => panic!("claim: {other:?}"),
                }
            }
        });
        let outcomes: Outcomes = uploaders.into_iter().flat_map(join).collect();
        (outcomes, join(claimer))
    });
    let stored = s.files("dev").expect("files");
    for (f, outcome) in &outcomes {
        match outcome {
            AddFile::Added { change } => {
                assert!(
                    *change < claimed,
                    "{} added as change {change} after the claim's {claimed}",
                    f.filename
                );
                assert!(
                    stored.contains(f),
                    "{} was Added but is not stored",
                    f.filename
                );
            }
            AddFile::Claimed => {
                assert!(
                    !stored.contains(f),
                    "{} was refused but is stored",
                    f.filename
                );
            }
            other => panic!("{}: {other:?}", f.filename),
        }
    }
    let added = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, AddFile::Added { .. }))
        .count();
    assert_eq!(stored.len(), added + 1, "stored files");
}

// ----- Publisher lease checks ------------------------------------------------

const LONG_LEASE: Duration = Duration::from_mins(1);

/// Everything `s` exports, checking the chunk size on the way.
fn exported(s: &dyn StateStore) -> Vec<StateRecord> {
    let mut records = Vec::new();
    s.export(&mut |chunk| {
        assert!(
            !chunk.is_empty() && chunk.len() <= EXPORT_CHUNK,
            "a chunk of {} records",
            chunk.len()
        );
        records.extend(chunk);
        Ok(())
    })
    .expect("export");
    records
}

/// Fills `source` with every kind of record: tokens, a setting, more files
/// than one export chunk, a yank, a claim with a nested role, a publish run
/// and a change queued after it. The publish version and the change.
fn every_kind_of_state(source: &dyn StateStore) -> (u64, u64) {
    source.put_token(&token("tok-b", "bob")).expect("put_token");
    source
        .put_token(&token("tok-a", "alice"))
        .expect("put_token");
    source
        .put_token(&full_token("tok-c", "carol"))
        .expect("put_token");
    source
        .set_setting("online-keyid", "k1")
        .expect("set_setting");
    // More files than one export chunk, over a few projects.
    let bulk: Vec<FileRecord> = (0..=EXPORT_CHUNK)
        .map(|i| {
            let project = format!("bulk{}", i % 7);
            let filename = format!("{project}-{i}.0.tar.gz");
            file(&project, &filename, &format!("{i}.0"), &filename, "alice")
        })
        .collect();
    let display: Vec<String> = bulk.iter().map(|f| f.project.to_uppercase()).collect();
    let pairs: Vec<(&str, &FileRecord)> = display.iter().map(String::as_str).zip(&bulk).collect();
    let outcomes = source.add_files(&pairs).expect("add_files");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(AddFile::Added { .. }))),
        "every bulk file added"
    );
    let yank = source.set_yanked("bulk3", "3.0", Some("broken"), "alice");
    assert_eq!(yank.expect("set_yanked"), YankOutcome::Updated { files: 1 });
    // A co-owner, a removed file and their audit records.
    let operator = Actor::Operator("root".to_owned());
    let owner = source.add_owner("bulk2", "bob", &operator);
    assert_eq!(owner.expect("add_owner"), OwnerChange::Done);
    let removal = Removal {
        project: "bulk4".to_owned(),
        version: Some("4.0".to_owned()),
        filename: None,
        actor: operator,
        reason: "takedown".to_owned(),
    };
    assert!(
        matches!(
            source.remove_files(&removal).expect("remove_files"),
            RemoveOutcome::Removed { .. }
        ),
        "a release removed"
    );
    let upstream = pull(
        "dep",
        10,
        &[
            ("dep-1.0.tar.gz", "d1", None),
            ("dep-2.0.tar.gz", "d2", Some("")),
        ],
    );
    pulled(source.pull_upstream(&upstream), "upstream pull");
    let mut claimed = claim("claimed", 2);
    claimed.nested = vec![nested("claimed", 1)];
    let files = vec![file("claimed", "claimed-1.0.tar.gz", "1.0", "c1", "carol")];
    let t = transaction("carol", None, claimed, files, vec![]);
    recorded(source.record_transaction(&t), "claim");
    let version = source.next_publish_version().expect("next_publish_version");
    let pending = source.pending_changes().expect("pending_changes");
    source
        .commit_publish(&PublishCommit {
            up_to_change: pending.up_to_change,
            pages: vec![page("bulk0", "bulk0 page", 3), page("claimed", "page", 9)],
            roles: vec![
                role("snapshot", version, "snap"),
                role("timestamp", version, "ts"),
            ],
            timestamp: format!("timestamp {version}").into_bytes(),
            fence: 0,
        })
        .expect("commit_publish");
    // A change still queued travels too.
    let late = added(
        source.add_file(
            "Late",
            &file("late", "late-1.0.tar.gz", "1.0", "late1", "dave"),
        ),
        "late upload",
    );
    (version, late)
}

/// A pull of upstream project `project` at `fetched_us` listing `files`
/// (filename, content, yanked), fetched from `https://up.example/…`.
fn pull(project: &str, fetched_us: i64, files: &[(&str, &str, Option<&str>)]) -> UpstreamPull {
    UpstreamPull {
        project: project.to_owned(),
        display_name: project.to_uppercase(),
        upstream: "https://up.example/simple/".to_owned(),
        fetched_us,
        files: files
            .iter()
            .map(|(filename, content, yanked)| {
                let version = filename
                    .rsplit_once('-')
                    .and_then(|(_, v)| v.strip_suffix(".tar.gz"))
                    .expect("a test sdist name");
                let mut record = file(project, filename, version, content, UPSTREAM_CREATOR);
                record.yanked = yanked.map(str::to_owned);
                (record, format!("https://up.example/files/{filename}"))
            })
            .collect(),
    }
}

fn pulled(outcome: crate::Result<UpstreamPullOutcome>, what: &str) -> UpstreamChanges {
    match outcome.expect(what) {
        UpstreamPullOutcome::Pulled(changes) => changes,
        UpstreamPullOutcome::Local => panic!("{what}: Local"),
    }
}

fn upstream_pulls_add_keep_and_refuse(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let first = pull(
        "dep",
        10,
        &[
            ("dep-1.0.tar.gz", "d1", None),
            ("dep-2.0.tar.gz", "d2", None),
        ],
    );
    let changes = pulled(s.pull_upstream(&first), "first pull");
    assert!(changes.created && changes.added == 2 && changes.refused.is_empty());
    assert_eq!(s.pending_changes().expect("pending").projects, ["dep"]);
    let record = s.upstream_project("dep").expect("upstream_project");
    assert_eq!(
        record.map(|r| (r.upstream, r.fetched_us)),
        Some(("https://up.example/simple/".to_owned(), 10))
    );
    assert!(
        s.owners("dep").expect("owners").is_empty(),
        "nobody owns it"
    );
    assert_eq!(
        s.upstream_file("dep-2.0.tar.gz")
            .expect("upstream_file")
            .map(|f| f.url),
        Some("https://up.example/files/dep-2.0.tar.gz".to_owned())
    );
    assert_eq!(
        s.upstream_file("other-1.0.tar.gz").expect("upstream_file"),
        None
    );
    drain(s.as_ref());

    // The same page again changes nothing and queues nothing.
    let same = pulled(
        s.pull_upstream(&pull("dep", 20, &[("dep-1.0.tar.gz", "d1", None)])),
        "same",
    );
    assert_eq!(same, UpstreamChanges::default());
    assert!(s.pending_changes().expect("pending").projects.is_empty());
    assert_eq!(
        s.upstream_project("dep")
            .expect("upstream_project")
            .map(|r| r.fetched_us),
        Some(20)
    );

    // 1.0 yanked, 2.0 replaced (refused), 3.0 new; a file no longer listed stays.
    let later = pull(
        "dep",
        30,
        &[
            ("dep-1.0.tar.gz", "d1", Some("broken")),
            ("dep-2.0.tar.gz", "tampered", None),
            ("dep-3.0.tar.gz", "d3", None),
        ],
    );
    let changes = pulled(s.pull_upstream(&later), "later pull");
    assert_eq!(
        changes,
        UpstreamChanges {
            created: false,
            added: 1,
            yank_changed: 1,
            refused: vec![("dep-2.0.tar.gz".to_owned(), AddFile::Conflict)],
        }
    );
    let files = s.files("dep").expect("files");
    assert_eq!(
        names(&files),
        ["dep-1.0.tar.gz", "dep-2.0.tar.gz", "dep-3.0.tar.gz"]
    );
    assert_eq!(files[1].sha256, digest("d2"), "the first bytes stay");
    assert_eq!(files[0].yanked.as_deref(), Some("broken"));
    assert_eq!(s.pending_changes().expect("pending").projects, ["dep"]);
}

fn upstream_projects_refuse_uploads_removed_files_and_local_names(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let first = pull(
        "dep",
        10,
        &[
            ("dep-1.0.tar.gz", "d1", None),
            ("dep-3.0.tar.gz", "d3", None),
        ],
    );
    pulled(s.pull_upstream(&first), "first pull");
    // Nobody uploads to it, not even under its creator's name.
    for user in ["alice", UPSTREAM_CREATOR] {
        let upload = s.add_file("dep", &file("dep", "dep-4.0.tar.gz", "4.0", "d4", user));
        assert_eq!(upload.expect("add_file"), AddFile::Upstream, "{user}");
    }

    // A removed file never comes back from upstream.
    let removal = Removal {
        project: "dep".to_owned(),
        version: Some("3.0".to_owned()),
        filename: None,
        actor: Actor::Operator("root".to_owned()),
        reason: "takedown".to_owned(),
    };
    s.remove_files(&removal).expect("remove_files");
    assert_eq!(
        s.upstream_file("dep-3.0.tar.gz").expect("upstream_file"),
        None
    );
    let again = pulled(
        s.pull_upstream(&pull("dep", 40, &[("dep-3.0.tar.gz", "d3", None)])),
        "again",
    );
    assert_eq!(
        again.refused,
        [("dep-3.0.tar.gz".to_owned(), AddFile::Removed)]
    );

    // A local project never takes an upstream page.
    added(
        s.add_file(
            "Local",
            &file("local", "local-1.0.tar.gz", "1.0", "l1", "alice"),
        ),
        "local",
    );
    let local = s.pull_upstream(&pull("local", 50, &[("local-9.0.tar.gz", "l9", None)]));
    assert_eq!(
        local.expect("pull of a local project"),
        UpstreamPullOutcome::Local
    );
    assert_eq!(
        names(&s.files("local").expect("files")),
        ["local-1.0.tar.gz"]
    );
    assert_eq!(s.upstream_project("local").expect("upstream_project"), None);
}

fn releasing_an_upstream_project_frees_the_name(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let operator = Actor::Operator("root".to_owned());
    assert!(
        !s.release_upstream("dep", "alice", &operator, 5)
            .expect("release of nothing")
    );
    pulled(
        s.pull_upstream(&pull("dep", 10, &[("dep-1.0.tar.gz", "d1", None)])),
        "pull",
    );
    drain(s.as_ref());
    assert!(
        s.release_upstream("dep", "alice", &operator, 20)
            .expect("release")
    );
    assert!(
        s.files("dep").expect("files").is_empty(),
        "its upstream files leave it"
    );
    assert_eq!(s.upstream_project("dep").expect("upstream_project"), None);
    assert_eq!(
        s.upstream_file("dep-1.0.tar.gz").expect("upstream_file"),
        None
    );
    assert_eq!(
        s.pending_changes().expect("pending").projects,
        ["dep"],
        "its page changes"
    );
    let owners = s.owners("dep").expect("owners");
    assert_eq!(
        owners.iter().map(|o| o.user.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    let audit = s.audit_log(Some("dep")).expect("audit_log");
    assert_eq!(
        audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        ["release-upstream"]
    );
    assert_eq!(audit[0].actor, "operator:root");
    added(
        s.add_file(
            "dep",
            &file("dep", "dep-5.0.tar.gz", "5.0", "mine", "alice"),
        ),
        "owner's upload",
    );
    let local = s.pull_upstream(&pull("dep", 30, &[("dep-9.0.tar.gz", "d9", None)]));
    assert_eq!(
        local.expect("pull after release"),
        UpstreamPullOutcome::Local
    );
    assert!(
        !s.release_upstream("dep", "bob", &operator, 40)
            .expect("second release")
    );
}

fn restore_copies_everything_and_continues_the_counters(make: &Make<'_, dyn StateStore>) {
    let source = make();
    assert!(source.is_empty().expect("is_empty"), "a new store is empty");
    let (version, late) = every_kind_of_state(source.as_ref());
    assert!(!source.is_empty().expect("is_empty"), "a store with state");

    let exports = exported(source.as_ref());
    let kinds: Vec<std::mem::Discriminant<StateRecord>> = {
        let mut kinds: Vec<_> = exports.iter().map(std::mem::discriminant).collect();
        kinds.dedup();
        kinds
    };
    assert_eq!(kinds.len(), 15, "one run of each kind of record, in order");
    assert!(
        exports.contains(&StateRecord::Change {
            seq: late,
            project: "late".to_owned()
        }),
        "the queued change is exported"
    );

    let target = make();
    target.restore(source.as_ref()).expect("restore");
    assert_eq!(exported(target.as_ref()), exports, "the restored store");
    assert_eq!(
        exported(source.as_ref()),
        exports,
        "the source is unchanged"
    );
    assert_eq!(
        target.claim("claimed").expect("claim"),
        source.claim("claimed").expect("claim"),
        "the claim with its nested roles"
    );
    assert_eq!(
        target.owners("bulk2").expect("owners").len(),
        2,
        "the co-owner"
    );
    assert_eq!(
        target.audit_log(None).expect("audit_log"),
        source.audit_log(None).expect("audit_log"),
        "the audit log"
    );
    assert_eq!(
        target.removed_files().expect("removed_files"),
        source.removed_files().expect("removed_files"),
        "the removed files"
    );
    let operator = Actor::Operator("root".to_owned());
    let owner = target.add_owner("bulk2", "carol", &operator);
    assert_eq!(owner.expect("add_owner"), OwnerChange::Done);
    let log = target.audit_log(Some("bulk2")).expect("audit_log");
    assert!(
        log.windows(2).all(|w| w[0].seq < w[1].seq) && log.len() == 2,
        "the audit log goes on after the restore: {log:?}"
    );
    assert!(
        target.next_publish_version().expect("next_publish_version") > version,
        "no publish version is handed out twice"
    );
    let next = added(
        target.add_file(
            "Late",
            &file("late", "late-2.0.tar.gz", "2.0", "late2", "dave"),
        ),
        "upload after the restore",
    );
    assert!(
        next > late,
        "no change number is handed out twice: {next} after {late}"
    );

    // A store with state refuses a restore, and keeps its state.
    let before = exported(target.as_ref());
    assert!(
        matches!(target.restore(source.as_ref()), Err(StoreError::NotEmpty)),
        "restore into a store with state"
    );
    assert_eq!(
        exported(target.as_ref()),
        before,
        "a refused restore changes nothing"
    );
}

// ----- Owners, removals and the audit log -------------------------------------

const ROOT: &str = "root";

fn operator() -> Actor {
    Actor::Operator(ROOT.to_owned())
}

fn owner_names(s: &dyn StateStore, project: &str) -> Vec<String> {
    s.owners(project)
        .expect("owners")
        .into_iter()
        .map(|o| o.user)
        .collect()
}

fn co_owners_upload_yank_and_transact(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "Team",
            &file("team", "team-1.0.tar.gz", "1.0", "t1", "alice"),
        ),
        "alice's upload",
    );
    let change = s.add_owner("team", "bob", &operator());
    assert_eq!(change.expect("add_owner"), OwnerChange::Done);
    let owners = s.owners("team").expect("owners");
    assert_eq!(owner_names(s.as_ref(), "team"), ["alice", "bob"]);
    assert_eq!(owners[1].added_by, "operator:root", "who added bob");
    added(
        s.add_file("Team", &file("team", "team-2.0.tar.gz", "2.0", "t2", "bob")),
        "the co-owner's upload",
    );
    assert_eq!(
        s.add_file(
            "Team",
            &file("team", "team-3.0.tar.gz", "3.0", "t3", "carol")
        )
        .expect("carol's upload"),
        AddFile::Forbidden,
        "a non-owner"
    );
    assert_eq!(
        s.set_yanked("team", "1.0", Some("old"), "bob")
            .expect("set_yanked"),
        YankOutcome::Updated { files: 1 },
        "the co-owner yanks the creator's release"
    );
    assert_eq!(
        s.set_yanked("team", "1.0", None, "carol")
            .expect("set_yanked"),
        YankOutcome::Forbidden
    );
    let t = transaction("carol", None, claim("team", 1), vec![], vec![]);
    assert_eq!(
        s.record_transaction(&t).expect("carol's transaction"),
        TransactionOutcome::Forbidden
    );
    drain(s.as_ref());
    let t = transaction("bob", None, claim("team", 1), vec![], vec![]);
    recorded(s.record_transaction(&t), "the co-owner claims");
    assert_eq!(
        s.project("team")
            .expect("project")
            .expect("team")
            .created_by,
        "alice",
        "the creator stays"
    );
}

fn owner_changes_refused_change_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "Team",
            &file("team", "team-1.0.tar.gz", "1.0", "t1", "alice"),
        ),
        "upload",
    );
    let op = operator();
    let cases = [
        (
            s.add_owner("nothing", "bob", &op),
            OwnerChange::NoSuchProject,
        ),
        (
            s.remove_owner("nothing", "bob", &op),
            OwnerChange::NoSuchProject,
        ),
        (s.add_owner("team", "alice", &op), OwnerChange::AlreadyOwner),
        (s.remove_owner("team", "bob", &op), OwnerChange::NotOwner),
        (s.remove_owner("team", "alice", &op), OwnerChange::LastOwner),
    ];
    for (i, (outcome, expected)) in cases.into_iter().enumerate() {
        assert_eq!(outcome.expect("owner change"), expected, "case {i}");
    }
    assert_eq!(owner_names(s.as_ref(), "team"), ["alice"]);
    assert_eq!(s.audit_log(None).expect("audit_log"), [], "no audit record");
}

fn owners_of_users_need_ownership(make: &Make<'_, dyn StateStore>) {
    let s = make();
    added(
        s.add_file(
            "Team",
            &file("team", "team-1.0.tar.gz", "1.0", "t1", "alice"),
        ),
        "upload",
    );
    let carol = Actor::User("carol".to_owned());
    assert_eq!(
        s.add_owner("team", "carol", &carol).expect("add_owner"),
        OwnerChange::Forbidden,
        "a non-owner adds herself"
    );
    assert_eq!(
        s.remove_owner("team", "alice", &carol)
            .expect("remove_owner"),
        OwnerChange::Forbidden,
        "a non-owner removes an owner"
    );
    assert_eq!(
        s.add_owner("nothing", "carol", &carol).expect("add_owner"),
        OwnerChange::NoSuchProject
    );
    let alice = Actor::User("alice".to_owned());
    assert_eq!(
        s.add_owner("team", "bob", &alice).expect("add_owner"),
        OwnerChange::Done,
        "an owner adds one"
    );
    let bob = Actor::User("bob".to_owned());
    assert_eq!(
        s.remove_owner("team", "alice", &bob).expect("remove_owner"),
        OwnerChange::Done,
        "a co-owner removes the creator"
    );
    assert_eq!(
        s.remove_owner("team", "bob", &bob).expect("remove_owner"),
        OwnerChange::LastOwner,
        "the last owner cannot leave"
    );
    assert_eq!(owner_names(s.as_ref(), "team"), ["bob"]);
    assert_eq!(
        s.add_file(
            "Team",
            &file("team", "team-2.0.tar.gz", "2.0", "t2", "alice")
        )
        .expect("upload"),
        AddFile::Forbidden,
        "a removed owner"
    );
    let log = s.audit_log(Some("team")).expect("audit_log");
    let actors: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str(), a.detail.as_str()))
        .collect();
    assert_eq!(
        actors,
        [
            ("alice", AuditRecord::OWNER_ADD, "bob"),
            ("bob", AuditRecord::OWNER_REMOVE, "alice")
        ]
    );
}

fn removing_owners_never_leaves_none(make: &Make<'_, dyn StateStore>) {
    const ROUNDS: usize = 8;
    let s = make();
    for round in 0..ROUNDS {
        let project = format!("race{round}");
        let filename = format!("{project}-1.0.tar.gz");
        added(
            s.add_file(
                &project,
                &file(&project, &filename, "1.0", &filename, "alice"),
            ),
            "upload",
        );
        let op = operator();
        assert_eq!(
            s.add_owner(&project, "bob", &op).expect("add_owner"),
            OwnerChange::Done
        );
        let store = s.as_ref();
        let outcomes: Vec<OwnerChange> = thread::scope(|scope| {
            let handles: Vec<_> = ["alice", "bob"]
                .into_iter()
                .map(|user| {
                    let (project, op) = (&project, &op);
                    scope.spawn(move || store.remove_owner(project, user, op))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| join(h).expect("remove_owner"))
                .collect()
        });
        let done = outcomes.iter().filter(|o| **o == OwnerChange::Done).count();
        let last = outcomes
            .iter()
            .filter(|o| **o == OwnerChange::LastOwner)
            .count();
        assert_eq!((done, last), (1, 1), "round {round}: {outcomes:?}");
        assert_eq!(owner_names(store, &project).len(), 1, "round {round}");
    }
}

/// Project `gone`: a wheel and an sdist of 1.0, an sdist of 2.0 and of
/// 3.0, all published.
fn removal_fixture(s: &dyn StateStore) -> [FileRecord; 4] {
    let files = [
        file("gone", "gone-1.0-py3-none-any.whl", "1.0", "g1w", "alice"),
        file("gone", "gone-1.0.tar.gz", "1.0", "g1s", "alice"),
        file("gone", "gone-2.0.tar.gz", "2.0", "g2", "alice"),
        file("gone", "gone-3.0.tar.gz", "3.0", "g3", "alice"),
    ];
    for f in &files {
        added(s.add_file("Gone", f), "upload");
    }
    drain(s);
    files
}

/// A removal of `gone` by operator root.
fn removal(version: Option<&str>, filename: Option<&str>) -> Removal {
    Removal {
        project: "gone".to_owned(),
        version: version.map(str::to_owned),
        filename: filename.map(str::to_owned),
        actor: operator(),
        reason: "court order 42".to_owned(),
    }
}

fn removal_refusals_change_nothing(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let [wheel, ..] = removal_fixture(s.as_ref());
    let before = Observed::take(s.as_ref(), &["gone"], &[]);
    for (what, r) in [
        (
            "a missing file",
            removal(Some("1.0"), Some("gone-9.0.tar.gz")),
        ),
        (
            "a file of another release",
            removal(Some("2.0"), Some(&wheel.filename)),
        ),
        ("a missing release", removal(Some("9.0"), None)),
    ] {
        assert_eq!(
            s.remove_files(&r).expect(what),
            RemoveOutcome::NotFound,
            "{what}"
        );
    }
    let nothing = Removal {
        project: "nothing".to_owned(),
        ..removal(None, None)
    };
    assert_eq!(
        s.remove_files(&nothing).expect("a missing project"),
        RemoveOutcome::NotFound
    );
    for (what, r) in [
        (
            "a file without a version",
            removal(None, Some(&wheel.filename)),
        ),
        ("an invalid version", removal(Some("not a version"), None)),
    ] {
        assert!(
            matches!(s.remove_files(&r), Err(StoreError::Misuse(_))),
            "{what}"
        );
    }
    assert_eq!(
        Observed::take(s.as_ref(), &["gone"], &[]),
        before,
        "refusals change nothing"
    );
    assert_eq!(s.audit_log(None).expect("audit_log"), [], "no audit record");
}

fn removals_drop_files_and_queue_a_change(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let [wheel, _, two, three] = removal_fixture(s.as_ref());
    let RemoveOutcome::Removed { files, change } = s
        .remove_files(&removal(Some("1.0.0"), Some(&wheel.filename)))
        .expect("remove one file")
    else {
        panic!("one file removed");
    };
    assert_eq!(files, std::slice::from_ref(&wheel), "the removed file");
    assert_eq!(
        s.pending_changes().expect("pending_changes"),
        PendingChanges {
            up_to_change: change,
            projects: vec!["gone".to_owned()]
        },
        "a change queued for the page"
    );
    assert_eq!(s.file(&wheel.filename).expect("file"), None);
    assert_eq!(
        names(&s.files("gone").expect("files")),
        ["gone-1.0.tar.gz", "gone-2.0.tar.gz", "gone-3.0.tar.gz"]
    );
    let removed = s.removed_files().expect("removed_files");
    assert_eq!(removed.len(), 1);
    assert_eq!(
        (removed[0].filename.as_str(), removed[0].sha256.as_str()),
        (wheel.filename.as_str(), wheel.sha256.as_str())
    );
    assert_eq!(
        s.add_file("Gone", &wheel).expect("re-upload"),
        AddFile::Removed,
        "a removed filename is never reused"
    );
    let RemoveOutcome::Removed { files, .. } = s
        .remove_files(&removal(Some("2"), None))
        .expect("remove a release")
    else {
        panic!("a release removed");
    };
    assert_eq!(files, [two]);
    let RemoveOutcome::Removed { files, .. } = s
        .remove_files(&removal(None, None))
        .expect("remove the project")
    else {
        panic!("the project removed");
    };
    assert_eq!(names(&files), ["gone-1.0.tar.gz", "gone-3.0.tar.gz"]);
    assert_eq!(s.files("gone").expect("files"), []);
    assert_eq!(
        s.remove_files(&removal(None, None)).expect("again"),
        RemoveOutcome::NotFound,
        "nothing left to remove"
    );
    assert!(
        s.project("gone").expect("project").is_some(),
        "the name stays reserved"
    );
    assert_eq!(
        owner_names(s.as_ref(), "gone"),
        ["alice"],
        "with its owners"
    );
    assert_eq!(
        s.add_file(
            "Gone",
            &file("gone", "gone-4.0.tar.gz", "4.0", "g4", "mallory")
        )
        .expect("another user"),
        AddFile::Forbidden,
        "nobody else takes the name"
    );
    added(
        s.add_file(
            "Gone",
            &file("gone", "gone-4.0.tar.gz", "4.0", "g4", "alice"),
        ),
        "an owner uploads again",
    );
    let t = transaction("alice", None, claim("gone", 1), vec![three], vec![]);
    drain(s.as_ref());
    assert_eq!(
        s.record_transaction(&t).expect("transaction"),
        TransactionOutcome::Conflict {
            filename: "gone-3.0.tar.gz".to_owned()
        },
        "a transaction cannot bring a removed file back"
    );
    let log = s.audit_log(Some("gone")).expect("audit_log");
    assert_eq!(log.len(), 3, "one record per removal: {log:?}");
    assert!(
        log.iter().all(|a| a.action == AuditRecord::REMOVE
            && a.actor == "operator:root"
            && a.detail.contains("court order 42")),
        "{log:?}"
    );
    assert!(log[0].detail.contains(&wheel.filename), "{:?}", log[0]);
}

fn removals_of_claimed_projects_are_refused(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let f = file("dev", "dev-1.0.tar.gz", "1.0", "d1", "alice");
    let t = transaction("alice", None, claim("dev", 1), vec![f], vec![]);
    recorded(s.record_transaction(&t), "claim");
    drain(s.as_ref());
    let before = Observed::take(s.as_ref(), &["dev"], &[]);
    let removal = Removal {
        project: "dev".to_owned(),
        version: Some("1.0".to_owned()),
        filename: None,
        actor: operator(),
        reason: String::new(),
    };
    assert_eq!(
        s.remove_files(&removal).expect("remove_files"),
        RemoveOutcome::Claimed
    );
    assert_eq!(Observed::take(s.as_ref(), &["dev"], &[]), before);
    assert_eq!(s.removed_files().expect("removed_files"), []);
    assert_eq!(s.audit_log(None).expect("audit_log"), []);
}

fn audit_log_lists_every_change_in_order(make: &Make<'_, dyn StateStore>) {
    let s = make();
    for project in ["a", "b"] {
        let filename = format!("{project}-1.0.tar.gz");
        added(
            s.add_file(
                project,
                &file(project, &filename, "1.0", &filename, "alice"),
            ),
            "upload",
        );
    }
    let op = operator();
    let steps = [
        s.add_owner("b", "bob", &op),
        s.add_owner("a", "bob", &op),
        s.remove_owner("b", "alice", &op),
    ];
    assert!(
        steps
            .into_iter()
            .all(|o| o.expect("owner change") == OwnerChange::Done),
        "every change done"
    );
    let log = s.audit_log(None).expect("audit_log");
    let seen: Vec<(u64, &str, &str, &str)> = log
        .iter()
        .map(|a| {
            (
                a.seq,
                a.project.as_str(),
                a.action.as_str(),
                a.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "b", AuditRecord::OWNER_ADD, "bob"),
            (2, "a", AuditRecord::OWNER_ADD, "bob"),
            (3, "b", AuditRecord::OWNER_REMOVE, "alice"),
        ]
    );
    assert!(
        log.iter()
            .all(|a| a.actor == "operator:root" && a.time_us > 0),
        "{log:?}"
    );
    let b = s.audit_log(Some("b")).expect("audit_log");
    assert_eq!(b, [log[0].clone(), log[2].clone()], "one project's entries");
    assert_eq!(s.audit_log(Some("c")).expect("audit_log"), []);
}

#[track_caller]
fn fenced(outcome: crate::Result<()>, fence: u64, current: u64) {
    match outcome {
        Err(StoreError::Fenced {
            fence: f,
            current: c,
        }) => {
            assert_eq!((f, c), (fence, current), "Fenced fields");
        }
        other => panic!("expected Fenced {{ fence: {fence}, current: {current} }}, got {other:?}"),
    }
}

/// One holder at a time; renewals keep the fence, a release lets another
/// holder in at once with a higher fence, and only the current fence
/// commits (a refused commit changes nothing).
fn publisher_lease_is_exclusive_and_fences_commits(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let change = added(
        s.add_file("a", &file("a", "a-1.0.tar.gz", "1.0", "a1", "alice")),
        "upload",
    );
    let commit = |fence: u64| PublishCommit {
        up_to_change: change,
        pages: vec![page("a", "a", 1)],
        roles: vec![role("snapshot", 1, "s")],
        timestamp: b"ts".to_vec(),
        fence,
    };
    let a = s
        .acquire_publisher("server-a", LONG_LEASE)
        .expect("acquire a")
        .expect("a free lease is taken");
    assert!(
        a >= 1,
        "the first fence is above the initial epoch 0, got {a}"
    );
    assert_eq!(
        s.acquire_publisher("server-b", LONG_LEASE)
            .expect("acquire b"),
        None
    );
    assert_eq!(
        s.acquire_publisher("server-a", LONG_LEASE)
            .expect("renew a"),
        Some(a),
        "a renewal keeps the fence"
    );
    let before = Observed::take(&*s, &["a"], &[1]);
    fenced(s.commit_publish(&commit(0)), 0, a);
    fenced(s.commit_publish(&commit(a + 1)), a + 1, a);
    assert_eq!(
        Observed::take(&*s, &["a"], &[1]),
        before,
        "a fenced commit changed the state"
    );
    s.release_publisher("server-b")
        .expect("release by a non-holder");
    assert_eq!(
        s.acquire_publisher("server-b", LONG_LEASE)
            .expect("acquire b"),
        None
    );
    s.release_publisher("server-a").expect("release a");
    let b = s
        .acquire_publisher("server-b", LONG_LEASE)
        .expect("acquire b")
        .expect("a released lease is free");
    assert!(b > a, "fence {b} after {a}");
    fenced(s.commit_publish(&commit(a)), a, b);
    s.commit_publish(&commit(b))
        .expect("commit under the current fence");
    assert_eq!(
        s.pending_changes().expect("pending"),
        PendingChanges::default()
    );
    assert_eq!(s.page("a").expect("page"), Some(page("a", "a", 1)));
}

/// An expired lease passes to another holder with a higher fence, and the
/// deposed holder can neither commit nor take it back while it is held.
fn publisher_lease_passes_on_expiry(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let short = Duration::from_millis(200);
    let a = s
        .acquire_publisher("server-a", short)
        .expect("acquire a")
        .expect("a free lease is taken");
    assert_eq!(
        s.acquire_publisher("server-b", LONG_LEASE)
            .expect("acquire b"),
        None
    );
    thread::sleep(short + Duration::from_millis(300));
    let b = s
        .acquire_publisher("server-b", LONG_LEASE)
        .expect("acquire b")
        .expect("an expired lease is taken");
    assert!(b > a, "fence {b} after {a}");
    assert_eq!(
        s.acquire_publisher("server-a", short).expect("acquire a"),
        None
    );
    let commit = |fence| PublishCommit {
        timestamp: b"late".to_vec(),
        fence,
        ..PublishCommit::default()
    };
    fenced(s.commit_publish(&commit(a)), a, b);
    assert_eq!(s.latest_timestamp().expect("latest_timestamp"), None);
    s.commit_publish(&commit(b))
        .expect("commit under the current fence");
    // The lease passing back is a new epoch again.
    s.release_publisher("server-b").expect("release b");
    let again = s
        .acquire_publisher("server-a", short)
        .expect("acquire a")
        .expect("a released lease is free");
    assert!(again > b, "fence {again} after {b}");
}

/// Two runs under one fence (two processes under one holder name): the
/// run that commits second with an older timestamp version is refused and
/// changes nothing, so published metadata never goes back.
fn publish_runs_never_go_back(make: &Make<'_, dyn StateStore>) {
    #[track_caller]
    fn stale(outcome: crate::Result<()>, offered: u64, stored: u64) {
        match outcome {
            Err(StoreError::StaleTimestamp {
                offered: o,
                stored: s,
            }) => assert_eq!((o, s), (offered, stored), "StaleTimestamp fields"),
            other => panic!(
                "expected StaleTimestamp {{ offered: {offered}, stored: {stored} }}, got {other:?}"
            ),
        }
    }
    let s = make();
    let fence = s
        .acquire_publisher("embedded", LONG_LEASE)
        .expect("acquire")
        .expect("a free lease is taken");
    let change = added(
        s.add_file("a", &file("a", "a-1.0.tar.gz", "1.0", "a1", "alice")),
        "upload",
    );
    let run = |version: u64| PublishCommit {
        up_to_change: change,
        pages: vec![page("a", &format!("a{version}"), 1)],
        roles: vec![
            role("snapshot", version, &format!("s{version}")),
            role("timestamp", version, &format!("t{version}")),
        ],
        timestamp: format!("timestamp {version}").into_bytes(),
        fence,
    };
    s.commit_publish(&run(2)).expect("commit version 2");
    let before = Observed::take(&*s, &["a"], &[1]);
    stale(s.commit_publish(&run(1)), 1, 2);
    stale(s.commit_publish(&run(2)), 2, 2);
    assert_eq!(
        Observed::take(&*s, &["a"], &[1]),
        before,
        "a stale commit changed the state"
    );
    s.commit_publish(&run(3)).expect("commit version 3");
    assert_eq!(
        s.latest_timestamp().expect("latest_timestamp").as_deref(),
        Some(&b"timestamp 3"[..])
    );
}

/// Holders racing for a free lease: exactly one gets it.
fn one_publisher_among_concurrent_acquirers(make: &Make<'_, dyn StateStore>) {
    let store = make();
    let s: &dyn StateStore = &*store;
    let winners: Vec<(usize, u64)> = thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    s.acquire_publisher(&format!("server-{t}"), LONG_LEASE)
                        .expect("acquire_publisher")
                        .map(|fence| (t, fence))
                })
            })
            .collect();
        threads.into_iter().filter_map(join).collect()
    });
    assert_eq!(winners.len(), 1, "lease holders: {winners:?}");
}

/// Without another process queueing changes, a wait ends by its timeout.
fn wait_for_change_returns_by_its_timeout(make: &Make<'_, dyn StateStore>) {
    let s = make();
    let timeout = Duration::from_millis(100);
    let started = Instant::now();
    let woken = s.wait_for_change(timeout).expect("wait_for_change");
    let elapsed = started.elapsed();
    assert!(
        woken || elapsed >= timeout,
        "returned false after {elapsed:?}, before its timeout"
    );
    assert!(elapsed < Duration::from_secs(5), "waited {elapsed:?}");
}

// ----- Blob checks -----------------------------------------------------------

fn missing_keys(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    assert_eq!(b.get("a/b").expect("get"), None);
    assert_eq!(b.len("a/b").expect("len"), None);
    assert_eq!(b.get_range("a/b", 0, 1).expect("get_range"), None);
    b.delete("a/b")
        .expect("deleting a missing key is not an error");
    assert_eq!(b.list("").expect("list"), Vec::<String>::new());
    // A key's "directory" is not a key.
    b.put("dir/file", b"x").expect("put");
    assert_eq!(
        b.get("dir").expect("get"),
        None,
        "a key's parent is not a key"
    );
    assert_eq!(b.len("dir").expect("len"), None);
    assert_eq!(b.get_range("dir", 0, 1).expect("get_range"), None);
    assert_eq!(
        b.get("dir/file/more").expect("get"),
        None,
        "a key below a key"
    );
    b.delete("dir").expect("delete");
    assert_eq!(
        b.get("dir/file").expect("get").as_deref(),
        Some(&b"x"[..]),
        "deleting a parent removed a key"
    );
}

fn put_then_get(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    let binary: Vec<u8> = (0..=255).chain(0..=255).collect();
    for (key, bytes) in [
        ("top", &b"top-level"[..]),
        ("files/ab/cd/pkg-1.0-py3-none-any.whl", &binary[..]),
        ("tuf/metadata/1.root.json", b"{}"),
        ("empty", b""),
    ] {
        b.put(key, bytes).expect("put");
        assert_eq!(
            b.get(key).expect("get").as_deref(),
            Some(bytes),
            "get {key}"
        );
        assert_eq!(
            b.len(key).expect("len"),
            Some(bytes.len() as u64),
            "len {key}"
        );
    }
}

fn staged_files_are_stored_whole_and_never_listed(make: &Make<'_, dyn BlobStore>) {
    use std::io::Write as _;
    let b = make();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut staged = b.staging_file().expect("staging_file");
    staged.write_all(&bytes).expect("write");
    assert_eq!(b.list("").expect("list"), Vec::<String>::new());
    b.put_file("files/ab/big-1.0.tar.gz", staged)
        .expect("put_file");
    assert_eq!(b.get("files/ab/big-1.0.tar.gz").expect("get"), Some(bytes));
    // Over an existing blob, and a staging file dropped unstored.
    let mut again = b.staging_file().expect("staging_file");
    again.write_all(b"new").expect("write");
    b.put_file("files/ab/big-1.0.tar.gz", again)
        .expect("put_file");
    let mut dropped = b.staging_file().expect("staging_file");
    dropped.write_all(b"never stored").expect("write");
    // A staging file being written is never stale.
    let mut writing = b.staging_file().expect("staging_file");
    writing.write_all(b"in flight").expect("write");
    assert_eq!(b.remove_stale_staging().expect("remove_stale_staging"), 0);
    writing.write_all(b" still").expect("write");
    drop(writing);
    drop(dropped);
    assert_eq!(
        b.get("files/ab/big-1.0.tar.gz").expect("get").as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(
        b.list("").expect("list"),
        vec!["files/ab/big-1.0.tar.gz".to_owned()]
    );
    assert!(matches!(
        b.put_file("../escape", b.staging_file().expect("staging_file")),
        Err(StoreError::InvalidKey(_))
    ));
}

fn overwrite_replaces(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    b.put("tuf/metadata/timestamp.json", b"a longer first version")
        .expect("put");
    b.put("tuf/metadata/timestamp.json", b"short").expect("put");
    assert_eq!(
        b.get("tuf/metadata/timestamp.json")
            .expect("get")
            .as_deref(),
        Some(&b"short"[..])
    );
    assert_eq!(b.len("tuf/metadata/timestamp.json").expect("len"), Some(5));
    b.put("tuf/metadata/timestamp.json", b"").expect("put");
    assert_eq!(
        b.get("tuf/metadata/timestamp.json")
            .expect("get")
            .as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        b.list("").expect("list"),
        ["tuf/metadata/timestamp.json"],
        "an overwrite left extra keys"
    );
}

fn ranges(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    let bytes: Vec<u8> = (0..=250_u8).cycle().take(1000).collect();
    b.put("f", &bytes).expect("put");
    b.put("empty", b"").expect("put");
    let range = |offset: u64, length: u64| {
        b.get_range("f", offset, length)
            .expect("get_range")
            .expect("existing key")
    };
    assert_eq!(range(0, 10), bytes[..10], "start");
    assert_eq!(range(500, 7), bytes[500..507], "middle");
    assert_eq!(range(990, 10), bytes[990..], "exactly up to the end");
    assert_eq!(range(999, 1), bytes[999..], "last byte");
    assert_eq!(range(995, 10), bytes[995..], "past the end: what exists");
    assert_eq!(range(10, u64::MAX), bytes[10..], "length u64::MAX");
    assert_eq!(range(0, 1000), bytes, "everything");
    assert_eq!(range(1000, 10), [0_u8; 0], "at the end");
    assert_eq!(range(5000, 10), [0_u8; 0], "beyond the end");
    assert_eq!(range(u64::MAX, u64::MAX), [0_u8; 0], "offset u64::MAX");
    assert_eq!(range(10, 0), [0_u8; 0], "length 0");
    assert_eq!(
        b.get_range("empty", 0, 10).expect("get_range"),
        Some(Vec::new()),
        "empty blob"
    );
    assert_eq!(
        b.get_range("missing", 0, 10).expect("get_range"),
        None,
        "missing key"
    );
}

fn delete_removes_only_the_key(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    for key in ["d/a", "d/ab", "d/a.json", "e"] {
        b.put(key, key.as_bytes()).expect("put");
    }
    b.delete("d/a").expect("delete");
    assert_eq!(b.get("d/a").expect("get"), None);
    assert_eq!(b.len("d/a").expect("len"), None);
    assert_eq!(b.list("").expect("list"), ["d/a.json", "d/ab", "e"]);
    b.delete("d/a").expect("deleting twice");
    b.put("d/a", b"again").expect("put after delete");
    assert_eq!(b.get("d/a").expect("get").as_deref(), Some(&b"again"[..]));
}

fn list_is_sorted_and_filtered_by_prefix(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    let keys = [
        "tuf/metadata/10.root.json",
        "tuf/metadata/1.root.json",
        "tuf/metadata/2.root.json",
        "tuf/metadata/1.snapshot.json",
        "tuf/metadata/timestamp.json",
        "files/ab/x-1.0.tar.gz",
        "files/ab.c/y",
        "files/ab-c/z",
        "files/abc/w",
        "files/A/upper",
        "simple/pkg/abc.index.json",
        "top",
    ];
    for key in keys {
        b.put(key, key.as_bytes()).expect("put");
    }
    let mut all = keys.to_vec();
    all.sort_unstable();
    let list = |prefix: &str| b.list(prefix).expect("list");
    assert_eq!(list(""), all, "everything, in byte order");
    assert_eq!(
        list("tuf/metadata/1."),
        ["tuf/metadata/1.root.json", "tuf/metadata/1.snapshot.json"]
    );
    assert_eq!(
        list("tuf/metadata/1"),
        [
            "tuf/metadata/1.root.json",
            "tuf/metadata/1.snapshot.json",
            "tuf/metadata/10.root.json"
        ]
    );
    assert_eq!(
        list("files/ab"),
        [
            "files/ab-c/z",
            "files/ab.c/y",
            "files/ab/x-1.0.tar.gz",
            "files/abc/w"
        ]
    );
    assert_eq!(list("files/ab/"), ["files/ab/x-1.0.tar.gz"]);
    assert_eq!(
        list("files/"),
        all.iter()
            .filter(|k| k.starts_with("files/"))
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(list("f"), list("files/"));
    assert_eq!(list("top"), ["top"]);
    assert_eq!(
        list("tuf/metadata/timestamp.json"),
        ["tuf/metadata/timestamp.json"]
    );
    assert_eq!(
        list("tuf/metadata/timestamp.json/"),
        Vec::<String>::new(),
        "below a key"
    );
    assert_eq!(list("nothing"), Vec::<String>::new());
    assert_eq!(
        list("simple/pkg/abc.index.json.extra"),
        Vec::<String>::new()
    );
}

fn invalid_keys_are_refused(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    b.put("ok", b"x").expect("put");
    let long = "x".repeat(256);
    let invalid = [
        "",
        "/",
        "/abs",
        "a/",
        "a//b",
        ".",
        "..",
        "../escape",
        "a/../b",
        "a/./b",
        "a\\b",
        "..\\x",
        "a\0b",
        ".tmp-x",
        "a/.tmp-1/b",
        &long,
    ];
    for key in invalid {
        let refused = |result: crate::Result<()>, op: &str| {
            assert!(
                matches!(&result, Err(StoreError::InvalidKey(k)) if k == key),
                "{op}({key:?}) gave {result:?}, not InvalidKey({key:?})"
            );
        };
        refused(b.put(key, b"bad"), "put");
        refused(b.get(key).map(drop), "get");
        refused(b.len(key).map(drop), "len");
        refused(b.get_range(key, 0, 1).map(drop), "get_range");
        refused(b.delete(key), "delete");
    }
    for prefix in ["/", "/etc", "a//", "../", "../x", "a/../b"] {
        let result = b.list(prefix);
        assert!(
            matches!(&result, Err(StoreError::InvalidKey(_))),
            "list({prefix:?}) gave {result:?}"
        );
    }
    assert_eq!(
        b.list("").expect("list"),
        ["ok"],
        "a refused put stored something"
    );
}

fn unusual_valid_keys_work(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    let long = "y".repeat(255);
    let keys = [
        "a/.hidden",
        "a/..b",
        "a/b..",
        "a/.tmp",
        "a/tmp-.x",
        "ünï/ключ",
        "a b/c%20d",
        &long,
    ];
    for key in keys {
        b.put(key, key.as_bytes()).expect(key);
        assert_eq!(
            b.get(key).expect("get").as_deref(),
            Some(key.as_bytes()),
            "{key:?}"
        );
    }
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    assert_eq!(b.list("").expect("list"), sorted);
}

/// A reader sees the old bytes or the new, never a mix.
fn concurrent_overwrite_is_atomic(make: &Make<'_, dyn BlobStore>) {
    let store = make();
    let b: &dyn BlobStore = &*store;
    let old = vec![b'o'; 256 * 1024];
    let new = vec![b'n'; 512 * 1024 + 1];
    b.put("x/blob", &old).expect("put");
    let finished = AtomicUsize::new(0);
    thread::scope(|scope| {
        let finished = &finished;
        let (old, new) = (&old, &new);
        let writer = scope.spawn(move || {
            let _finished = Finished(finished);
            for i in 0..20 {
                b.put("x/blob", if i % 2 == 0 { new } else { old })
                    .expect("put");
            }
        });
        let readers: Vec<_> = (0..3)
            .map(|_| scope.spawn(move || read_whole_blobs(b, finished, old, new)))
            .collect();
        join(writer);
        readers.into_iter().for_each(join);
    });
    assert_eq!(
        b.list("").expect("list"),
        ["x/blob"],
        "overwrites left extra keys"
    );
}

/// The reader of [`concurrent_overwrite_is_atomic`].
fn read_whole_blobs(b: &dyn BlobStore, finished: &AtomicUsize, old: &[u8], new: &[u8]) {
    while finished.load(Ordering::SeqCst) == 0 {
        let got = b
            .get("x/blob")
            .expect("get")
            .expect("the key vanished during an overwrite");
        assert!(got == old || got == new, "read {} mixed bytes", got.len());
        let len = b.len("x/blob").expect("len").expect("the key vanished");
        assert!(
            len == old.len() as u64 || len == new.len() as u64,
            "length {len}"
        );
        let tail = b
            .get_range("x/blob", 256 * 1024 - 4, 8)
            .expect("get_range")
            .expect("the key vanished");
        assert!(
            tail == [b'o'; 4] || tail == [b'n'; 8],
            "range read mixed bytes: {tail:?}"
        );
    }
}

fn concurrent_puts_of_distinct_keys(make: &Make<'_, dyn BlobStore>) {
    let store = make();
    let b: &dyn BlobStore = &*store;
    thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in 0..20 {
                    // Threads share directories, and create them concurrently.
                    let key = format!("files/{:02}/{t}-{i}", i % 5);
                    b.put(&key, key.as_bytes()).expect("put");
                }
            });
        }
    });
    let keys = b.list("files/").expect("list");
    assert_eq!(keys.len(), THREADS * 20, "keys after concurrent puts");
    for key in keys {
        assert_eq!(b.get(&key).expect("get").as_deref(), Some(key.as_bytes()));
    }
}

fn batch_is_invisible_until_commit(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    b.put("tuf/metadata/timestamp.json", b"old").expect("put");
    let batch = b.batch();
    batch
        .put("tuf/targets/simple/p/1.index.json", b"page")
        .expect("stage");
    batch
        .put("tuf/metadata/2.bin-0.json", b"first")
        .expect("stage");
    batch
        .put("tuf/metadata/2.bin-0.json", b"second")
        .expect("stage");
    batch
        .put("tuf/metadata/timestamp.json", b"new")
        .expect("stage");
    assert_eq!(
        b.list("").expect("list"),
        vec!["tuf/metadata/timestamp.json".to_owned()],
        "staged blobs are listed before the commit"
    );
    assert_eq!(b.get("tuf/metadata/2.bin-0.json").expect("get"), None);
    assert_eq!(
        b.len("tuf/targets/simple/p/1.index.json").expect("len"),
        None
    );
    assert_eq!(
        b.get("tuf/metadata/timestamp.json")
            .expect("get")
            .as_deref(),
        Some(&b"old"[..]),
        "an overwrite is visible before the commit"
    );
    batch.commit().expect("commit");
    for (key, bytes) in [
        ("tuf/metadata/2.bin-0.json", &b"second"[..]),
        ("tuf/metadata/timestamp.json", b"new"),
        ("tuf/targets/simple/p/1.index.json", b"page"),
    ] {
        assert_eq!(b.get(key).expect("get").as_deref(), Some(bytes), "{key}");
    }
    assert_eq!(b.list("").expect("list").len(), 3, "keys after the commit");
    b.batch().commit().expect("an empty batch commits");
}

fn dropped_batch_leaves_nothing(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    b.put("keep", b"k").expect("put");
    let batch = b.batch();
    batch.put("keep", b"replaced").expect("stage");
    batch.put("new/dir/blob", b"n").expect("stage");
    drop(batch);
    assert_eq!(b.list("").expect("list"), vec!["keep".to_owned()]);
    assert_eq!(b.get("keep").expect("get").as_deref(), Some(&b"k"[..]));
    b.put("new/dir/blob", b"after")
        .expect("put after a dropped batch");
    assert_eq!(
        b.get("new/dir/blob").expect("get").as_deref(),
        Some(&b"after"[..])
    );
}

fn batch_refuses_invalid_keys(make: &Make<'_, dyn BlobStore>) {
    let b = make();
    let batch = b.batch();
    for key in ["", "/abs", "a/../b", "a//b", "a\\b", "nul\0"] {
        assert!(
            matches!(batch.put(key, b"x"), Err(StoreError::InvalidKey(_))),
            "staged invalid key {key:?}"
        );
    }
    batch.commit().expect("commit");
    assert_eq!(b.list("").expect("list"), Vec::<String>::new());
}

fn concurrent_staging_in_one_batch(make: &Make<'_, dyn BlobStore>) {
    let store = make();
    let b: &dyn BlobStore = &*store;
    let batch = b.batch();
    let staging: &dyn crate::BlobBatch = &*batch;
    thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in 0..20 {
                    let key = format!("pages/{:02}/{t}-{i}", i % 5);
                    staging.put(&key, key.as_bytes()).expect("stage");
                }
            });
        }
    });
    assert_eq!(b.list("").expect("list"), Vec::<String>::new());
    batch.commit().expect("commit");
    let keys = b.list("pages/").expect("list");
    assert_eq!(keys.len(), THREADS * 20, "keys after concurrent staging");
    for key in keys {
        assert_eq!(b.get(&key).expect("get").as_deref(), Some(key.as_bytes()));
    }
}
