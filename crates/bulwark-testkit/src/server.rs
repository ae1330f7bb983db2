//! A small HTTP/1.1 server on `127.0.0.1:0` for client tests: it serves a
//! shared, mutable map of path → bytes, records every request path, and
//! injects faults per path (status codes, endless or drip-fed bodies,
//! redirects, lying `Content-Length`, silence).
//!
//! One thread per connection, `Connection: close` on every response. Paths
//! are compared in a canonical form ([`canonical_path`]): each `/`-separated
//! segment is percent-decoded on its own, so `%2F` inside a segment names a
//! file whose name contains a slash, never a directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A fault injected for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status code and a short body.
    Status(u16),
    /// Answer 200 with no `Content-Length` and a body that never ends.
    Endless,
    /// Answer 200 with the file's real `Content-Length` (or none, when there
    /// is no file) and send the body one byte per `interval`, endlessly when
    /// there is no file.
    Drip {
        /// Pause before each byte.
        interval: Duration,
    },
    /// Answer 302 with `Location: /<path>`, or with the URL itself when it
    /// has a scheme (`http://other-host/…`).
    Redirect(String),
    /// Answer 200 declaring this `Content-Length`, then send the real body
    /// and close.
    ContentLength(u64),
    /// Read the request and never answer, until the client goes away or the
    /// server is dropped.
    Hang,
}

#[derive(Default)]
struct Shared {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    faults: Mutex<BTreeMap<String, Fault>>,
    requests: Mutex<Vec<String>>,
    shutdown: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the server down with it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The test HTTP server. Dropping it stops accepting connections and ends
/// every connection that is waiting on a fault.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on an ephemeral port of `127.0.0.1`.
    #[must_use]
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = Arc::clone(&accept_shared);
                thread::spawn(move || {
                    // Errors only mean the client went away.
                    let _ = handle(stream, &conn_shared);
                });
            }
        });
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/metadata/`
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!("{}/metadata/", self.url())
    }

    /// `http://127.0.0.1:<port>/targets/`
    #[must_use]
    pub fn targets_url(&self) -> String {
        format!("{}/targets/", self.url())
    }

    /// Replaces every served file with `files` (path → bytes, paths as URL
    /// paths without the leading `/`).
    pub fn serve(&self, files: &BTreeMap<String, Vec<u8>>) {
        *lock(&self.shared.files) = files
            .iter()
            .map(|(path, bytes)| (canonical_path(path), bytes.clone()))
            .collect();
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        lock(&self.shared.files).insert(canonical_path(path), bytes.into());
    }

    /// Stops serving `path` (it answers 404).
    pub fn remove(&self, path: &str) {
        lock(&self.shared.files).remove(&canonical_path(path));
    }

    /// The bytes served at `path`, if any.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.shared.files).get(&canonical_path(path)).cloned()
    }

    /// Injects `fault` for every request of `path`.
    pub fn set_fault(&self, path: &str, fault: Fault) {
        lock(&self.shared.faults).insert(canonical_path(path), fault);
    }

    /// Removes the fault for `path`.
    pub fn clear_fault(&self, path: &str) {
        lock(&self.shared.faults).remove(&canonical_path(path));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request path so far, in order, as sent (still percent-encoded),
    /// without the leading `/`.
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the acceptor so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The canonical form of a URL path used to match files and faults: no
/// leading `/`, no query, each segment percent-decoded and then re-encoded
/// with every byte outside `A-Z a-z 0-9 - . _ ~` as uppercase `%XX`. So
/// `a%20b`, `a b` and `a%20%62` are the same file, and `x%2Fy` is one file
/// name containing a slash, not a directory `x`.
#[must_use]
pub fn canonical_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/')
        .map(|segment| encode(&decode(segment)))
        .collect::<Vec<_>>()
        .join("/")
}

fn decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            )
        {
            out.push((h << 4) | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Reads the request head; returns the request target, or `None` when the
/// client sent something that is not an HTTP request.
fn read_request_target(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(_method), Some(target)) => Ok(Some(target.to_owned())),
        _ => Ok(None),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_head(
    stream: &mut TcpStream,
    status: u16,
    length: Option<u64>,
    extra: &str,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\n{extra}",
        reason(status)
    );
    if let Some(length) = length {
        let _ = write!(head, "Content-Length: {length}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn handle(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(target) = read_request_target(&mut stream)? else {
        return Ok(());
    };
    let raw = target.strip_prefix('/').unwrap_or(&target).to_owned();
    let key = canonical_path(&raw);
    lock(&shared.requests).push(raw);
    let fault = lock(&shared.faults).get(&key).cloned();
    let file = lock(&shared.files).get(&key).cloned();
    match (fault, file) {
        (None, Some(body)) => {
            write_head(&mut stream, 200, Some(body.len() as u64), "")?;
            stream.write_all(&body)?;
        }
        (None, None) => write_head(&mut stream, 404, Some(0), "")?,
        (Some(Fault::Status(status)), _) => {
            let body = format!("status {status}\n");
            write_head(&mut stream, status, Some(body.len() as u64), "")?;
            stream.write_all(body.as_bytes())?;
        }
        (Some(Fault::Redirect(to)), _) => {
            let location = if to.contains("://") {
                to
            } else {
                format!("/{}", to.strip_prefix('/').unwrap_or(&to))
            };
            write_head(
                &mut stream,
                302,
                Some(0),
                &format!("Location: {location}\r\n"),
            )?;
        }
        (Some(Fault::ContentLength(length)), body) => {
            write_head(&mut stream, 200, Some(length), "")?;
            stream.write_all(&body.unwrap_or_default())?;
        }
        (Some(Fault::Endless), _) => {
            write_head(&mut stream, 200, None, "")?;
            let chunk = vec![b'{'; 16 * 1024];
            while !shared.shutdown.load(Ordering::SeqCst) {
                stream.write_all(&chunk)?;
            }
        }
        (Some(Fault::Drip { interval }), body) => {
            write_head(&mut stream, 200, body.as_ref().map(|b| b.len() as u64), "")?;
            let endless = body.is_none();
            let body = body.unwrap_or_default();
            for i in 0.. {
                if shared.shutdown.load(Ordering::SeqCst) || (!endless && i >= body.len()) {
                    break;
                }
                thread::sleep(interval);
                stream.write_all(&[body.get(i).copied().unwrap_or(b' ')])?;
                stream.flush()?;
            }
        }
        (Some(Fault::Hang), _) => {
            stream.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut buf = [0u8; 256];
            while !shared.shutdown.load(Ordering::SeqCst) {
                match stream.read(&mut buf) {
                    // The client gave up.
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(server: &TestServer, path: &str) -> String {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        write!(stream, "GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn canonical_paths_decode_each_segment_alone() {
        assert_eq!(
            canonical_path("/metadata/1.%2Fdelegatedrole.json"),
            "metadata/1.%2Fdelegatedrole.json"
        );
        assert_eq!(
            canonical_path("metadata/1.a role.json"),
            "metadata/1.a%20role.json"
        );
        assert_eq!(
            canonical_path("metadata/1.a%20r%6fle.json?x=1"),
            "metadata/1.a%20role.json"
        );
        assert_eq!(canonical_path("a/%2e%2e/b"), "a/../b");
        assert_eq!(canonical_path("bad%zz"), "bad%25zz");
    }

    #[test]
    fn serves_files_records_requests_and_injects_faults() {
        let server = TestServer::start();
        server.put("metadata/1.%3F.json", b"question".to_vec());
        let response = get(&server, "metadata/1.%3f.json");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nquestion"));
        assert!(get(&server, "metadata/missing.json").starts_with("HTTP/1.1 404"));
        server.set_fault("metadata/1.%3F.json", Fault::Status(500));
        assert!(get(&server, "metadata/1.%3F.json").starts_with("HTTP/1.1 500"));
        server.set_fault("loop", Fault::Redirect("loop".into()));
        assert!(get(&server, "loop").contains("Location: /loop\r\n"));
        server.set_fault("lie", Fault::ContentLength(99));
        assert!(get(&server, "lie").contains("Content-Length: 99\r\n"));
        assert_eq!(
            server.requests(),
            [
                "metadata/1.%3f.json",
                "metadata/missing.json",
                "metadata/1.%3F.json",
                "loop",
                "lie"
            ]
        );
        server.clear_requests();
        assert!(server.requests().is_empty());
    }
}
