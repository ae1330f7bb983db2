//! Large and concurrent uploads to `bulwark serve` (issue #10, defect 4):
//! an upload streams to disk while it is hashed, so the server's memory
//! does not grow with the file; past `max_concurrent_uploads` an upload
//! gets `503` with `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, curl_upload, http_status, token};

/// Writes `<name>-1.0-py3-none-any.whl` holding `size` incompressible
/// bytes (stored, not deflated) into `dir`.
fn big_wheel(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(format!("{name}-1.0-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{name}/data.bin"), stored).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ size as u64;
    let mut chunk = vec![0; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let take = left.min(chunk.len());
        zip.write_all(&chunk[..take]).unwrap();
        left -= take;
    }
    zip.start_file(format!("{name}-1.0.dist-info/METADATA"), stored)
        .unwrap();
    write!(zip, "Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n").unwrap();
    zip.start_file(format!("{name}-1.0.dist-info/WHEEL"), stored)
        .unwrap();
    write!(
        zip,
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    .unwrap();
    zip.finish().unwrap();
    path
}

/// The server's peak resident set size so far, in KiB.
fn peak_rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_90_mb_upload_streams_to_disk_and_is_served_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let token = token(&data, "alice");
    let small = big_wheel(dir.path(), "warm", 1 << 20);
    assert_eq!(curl_upload(&server.url, &token, &small).0, "200");
    let before = peak_rss_kib(&server);

    let big = big_wheel(dir.path(), "big", 90 << 20);
    let (status, _) = curl_upload(&server.url, &token, &big);
    assert_eq!(status, "200", "{}", server.log());
    let grown_mib = (peak_rss_kib(&server) - before) / 1024;
    // Held in memory, the upload alone would be 90 MiB (202 MB measured
    // before it was streamed).
    assert!(
        grown_mib < 64,
        "a 90 MiB upload grew the server's peak RSS by {grown_mib} MiB"
    );

    let sha = bulwark_tuf::hash::sha256_hex(&std::fs::read(&big).unwrap());
    let fetched = dir.path().join("fetched.whl");
    let out = Command::new("curl")
        .args(["-sf", "-o"])
        .arg(&fetched)
        .arg(format!(
            "{}/files/{sha}/big-1.0-py3-none-any.whl",
            server.url
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        bulwark_tuf::hash::sha256_hex(&std::fs::read(&fetched).unwrap()),
        sha
    );
}

#[test]
fn uploads_past_the_bound_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(&data, &[("BULWARK_MAX_CONCURRENT_UPLOADS", "1")]);
    let token = token(&data, "alice");
    let wheel = big_wheel(dir.path(), "later", 1024);

    // An upload that has sent its head and part of its body holds the slot.
    let addr = server.url.trim_start_matches("http://");
    let mut slow = TcpStream::connect(addr).unwrap();
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("__token__:{token}"),
    );
    write!(
        slow,
        "POST /legacy/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\n"
    )
    .unwrap();
    slow.flush().unwrap();
    let refused = common::wait_until(std::time::Duration::from_secs(10), || {
        let (status, headers) = curl_upload(&server.url, &token, &wheel);
        if status == "503" {
            assert!(headers.contains("retry-after: 5"), "{headers}");
            true
        } else {
            false
        }
    });
    assert!(refused, "a second concurrent upload was not refused");

    // Once the first ends, the slot is free again.
    drop(slow);
    let accepted = common::wait_until(std::time::Duration::from_secs(10), || {
        curl_upload(&server.url, &token, &wheel).0 == "200"
    });
    assert!(accepted, "{}", server.log());
}

#[test]
fn a_download_the_client_stops_reading_frees_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_env(
        &data,
        &[
            ("BULWARK_MAX_CONNECTIONS", "1"),
            ("BULWARK_SEND_TIMEOUT_SECS", "2"),
        ],
    );
    let token = token(&data, "alice");
    let big = big_wheel(dir.path(), "stall", 64 << 20);
    assert_eq!(curl_upload(&server.url, &token, &big).0, "200");
    let sha = bulwark_tuf::hash::sha256_hex(&std::fs::read(&big).unwrap());

    // A client that asks for the file and never reads: more than the
    // socket buffers hold, so the answer waits on it.
    let addr = server.url.trim_start_matches("http://");
    let mut stalled = TcpStream::connect(addr).unwrap();
    write!(
        stalled,
        "GET /files/{sha}/stall-1.0-py3-none-any.whl HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    // It holds the only connection slot until the send timeout frees it.
    assert_eq!(http_status(&format!("{}/simple/", server.url)), "503");
    let freed = common::wait_until(std::time::Duration::from_secs(30), || {
        http_status(&format!("{}/simple/", server.url)) == "200"
    });
    assert!(freed, "the stalled download kept its connection");
    drop(stalled);
}
