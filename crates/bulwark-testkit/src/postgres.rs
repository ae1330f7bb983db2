//! A fresh PostgreSQL database per test, on the server that `scripts/test`
//! (or `scripts/backends start`) runs for the test suite.
//!
//! `BULWARK_TEST_POSTGRES` names that server as a superuser URL, such as
//! `postgres://postgres@127.0.0.1:55432/postgres`. Tests never skip when it
//! is missing: they panic and say how to start it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that names the test server.
pub const ENV: &str = "BULWARK_TEST_POSTGRES";

/// The test server's superuser URL.
///
/// # Panics
///
/// When `BULWARK_TEST_POSTGRES` is unset.
#[must_use]
pub fn server_url() -> String {
    std::env::var(ENV).unwrap_or_else(|_| {
        panic!(
            "{ENV} is not set: run the tests through `scripts/test`, which starts \
             PostgreSQL for them, or first run `eval \"$(scripts/backends start)\"`"
        )
    })
}

/// The prefix of every test database's name, followed by the test
/// process's id.
const PREFIX: &str = "bulwark_test_";

/// Creates a new, empty database with a unique name on the test server and
/// returns its URL (the server's URL naming that database).
///
/// The first call of a process drops the test databases of processes that
/// have ended, so that repeated runs do not fill the disk; a running test
/// process keeps its own.
///
/// # Panics
///
/// When `BULWARK_TEST_POSTGRES` is unset or the server refuses.
#[must_use]
pub fn fresh_database() -> String {
    fresh_database_on(&server_url())
}

/// As [`fresh_database`], on the server at the superuser URL `server`
/// (the benchmark harness names its own).
///
/// # Panics
///
/// When the server refuses.
#[must_use]
pub fn fresh_database_on(server: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| drop_databases_of_ended_processes(server));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{PREFIX}{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    execute(server, &format!("CREATE DATABASE {name}"));
    with_database(server, &name)
}

/// Drops the database at `url`, made by [`fresh_database_on`] on `server`,
/// closing the connections still open to it.
///
/// # Panics
///
/// When `url` names no database or the server refuses.
pub fn drop_database(server: &str, url: &str) {
    let name = database_of(url).unwrap_or_else(|| panic!("{url:?} names no database"));
    execute(
        server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
}

/// Drops the test databases whose process (by the id in their name) is no
/// longer running.
fn drop_databases_of_ended_processes(server: &str) {
    let names = with_client(server, async |client| {
        let rows = client
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                &[&PREFIX],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<_>>()
    });
    for name in names {
        let pid = name[PREFIX.len()..].split('_').next().unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
            // Another test process may be dropping it too: its error is no
            // reason to fail this test.
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            with_client(server, async |client| client.batch_execute(&sql).await.ok());
        }
    }
}

/// Runs `sql` (one or more statements) on the database at `url`.
///
/// # Panics
///
/// When the connection or a statement fails.
pub fn execute(url: &str, sql: &str) {
    with_client(url, async |client| {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    });
}

/// Runs `f` with a connection to the database at `url`.
fn with_client<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL ({ENV}): {e}"));
        let driver = tokio::spawn(connection);
        let value = f(&client).await;
        drop(client);
        driver.await.unwrap().unwrap();
        value
    })
}

/// `url` without its query, split where its database would start: the
/// scheme and authority, and the path after its `/` (`None` without one).
fn split_url(url: &str) -> (&str, Option<&str>) {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    match base[authority_start..].find('/') {
        Some(slash) => (
            &base[..authority_start + slash],
            Some(&base[authority_start + slash + 1..]),
        ),
        None => (base, None),
    }
}

/// The database a URL names.
fn database_of(url: &str) -> Option<&str> {
    split_url(url).1.filter(|name| !name.is_empty())
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q);
    let (base, _) = split_url(url);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{database_of, with_database};

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:55432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:55432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
    }

    #[test]
    fn finds_the_database_of_a_url() {
        assert_eq!(
            database_of("postgres://u:p@h:1/t1?sslmode=disable"),
            Some("t1")
        );
        assert_eq!(database_of("postgres://h/t2"), Some("t2"));
        assert_eq!(database_of("postgres://h/"), None);
        assert_eq!(database_of("postgres://h"), None);
    }
}
