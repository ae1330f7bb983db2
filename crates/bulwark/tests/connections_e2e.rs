//! `bulwark serve` against clients that hold connections: request heads
//! sent a byte at a time (slowloris), idle keep-alive connections, and more
//! connections than the server may hold (issue #10, defect 3). Each is cut
//! off or refused cleanly while ordinary requests keep being answered.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Server, wait_until};

/// Generous bounds for "eventually": the server's header timeout in these
/// tests is 2 s, so a connection still open after this was never cut.
const CUT_OFF_WITHIN: Duration = Duration::from_secs(30);

fn addr(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// One plain `GET path` on a new connection; the status code, or `None`
/// when the connection failed or the answer is not HTTP.
fn get_status(server: &Server, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr(server)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        addr(server)
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

/// A client that sends a request head one byte every `interval` and never
/// finishes it; `closed` turns true once the server ends the connection.
struct Slowloris {
    closed: Arc<AtomicBool>,
}

impl Slowloris {
    fn start(server: &Server, interval: Duration) -> Self {
        let closed = Arc::new(AtomicBool::new(false));
        let mut stream = TcpStream::connect(addr(server)).unwrap();
        let flag = closed.clone();
        std::thread::spawn(move || {
            let head = b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
            for byte in head.iter().cycle() {
                if stream.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(interval);
            }
            flag.store(true, Ordering::SeqCst);
        });
        Self { closed }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Whether the server closed `stream` (a read sees the end or a reset)
/// within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

#[test]
fn slow_heads_and_idle_keep_alive_connections_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[("BULWARK_HEADER_TIMEOUT_SECS", "2")],
    );
    let slow: Vec<Slowloris> = (0..30)
        .map(|_| Slowloris::start(&server, Duration::from_millis(200)))
        .collect();

    // A keep-alive connection that got its answer and then says nothing.
    let mut idle = TcpStream::connect(addr(&server)).unwrap();
    write!(idle, "GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = [0; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // Ordinary clients are answered meanwhile.
    for _ in 0..20 {
        assert_eq!(get_status(&server, "/simple/"), Some(200));
    }

    assert!(
        closed_by_server(&mut idle, CUT_OFF_WITHIN),
        "an idle keep-alive connection was never closed"
    );
    assert!(
        wait_until(CUT_OFF_WITHIN, || slow.iter().all(Slowloris::is_closed)),
        "{} of 30 slowloris connections were still open after {CUT_OFF_WITHIN:?}",
        slow.iter().filter(|s| !s.is_closed()).count()
    );
    assert_eq!(get_status(&server, "/simple/"), Some(200));
}

#[test]
fn connections_over_the_limit_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[
            ("BULWARK_HEADER_TIMEOUT_SECS", "2"),
            ("BULWARK_MAX_CONNECTIONS", "5"),
        ],
    );
    // Five connections that send nothing hold every slot.
    let mut holders: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(addr(&server)).unwrap())
        .collect();
    // Wait until the server has accepted all five: then the next one is over.
    let refused = wait_until(Duration::from_secs(10), || {
        let mut extra = TcpStream::connect(addr(&server)).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = write!(extra, "GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains("Retry-After: 1\r\n"), "{answer}");
            assert!(answer.contains("Connection: close\r\n"), "{answer}");
            true
        } else {
            false
        }
    });
    assert!(refused, "a sixth connection was never refused with 503");
    // Once the silent ones are cut off, the index answers again.
    for holder in &mut holders {
        assert!(closed_by_server(holder, CUT_OFF_WITHIN));
    }
    assert_eq!(get_status(&server, "/simple/"), Some(200));
}

#[test]
fn three_hundred_slow_clients_against_256_files_leave_the_server_responsive() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_file_limit(
        &dir.path().join("data"),
        &[("BULWARK_HEADER_TIMEOUT_SECS", "2")],
        256,
    );
    let slow: Vec<Slowloris> = (0..300)
        .map(|_| Slowloris::start(&server, Duration::from_secs(1)))
        .collect();
    // A client that retries on 503 (as pip does) gets its answer.
    let answered = wait_until(CUT_OFF_WITHIN, || {
        get_status(&server, "/simple/") == Some(200)
    });
    assert!(answered, "the index never answered; log:\n{}", server.log());
    assert!(
        wait_until(CUT_OFF_WITHIN, || slow.iter().all(Slowloris::is_closed)),
        "{} of 300 slowloris connections were still open",
        slow.iter().filter(|s| !s.is_closed()).count()
    );
    assert!(
        server
            .log()
            .contains("the open-file limit allows fewer connections than configured"),
        "{}",
        server.log()
    );
    assert_eq!(get_status(&server, "/simple/"), Some(200));
}
