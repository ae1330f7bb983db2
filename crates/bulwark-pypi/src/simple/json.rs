//! The deterministic PEP 691 JSON writer.
//!
//! Written by hand rather than through a generic serializer so that the
//! exact bytes of a signed page are fixed here, in one place: keys are
//! emitted in sorted (code point) order, nothing is written between tokens,
//! and strings escape `"`, `\` and every control character (as `\u00XX`),
//! nothing else.

use super::{API_VERSION, PageFile, ProjectPage};
use crate::name::ProjectName;

/// The project page as PEP 691 JSON (API 1.1).
///
/// `{"files":[…],"meta":{"api-version":"1.1"},"name":…,"versions":[…]}`,
/// with files sorted by filename and `name` normalized.
#[must_use]
pub fn render_json(page: &ProjectPage) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + page.files.len() * 512);
    out.extend_from_slice(b"{\"files\":[");
    for (i, file) in page.sorted_files().into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_file(file, &mut out);
    }
    out.extend_from_slice(b"],");
    write_meta(&mut out);
    out.extend_from_slice(b",\"name\":");
    write_string(page.name.normalized(), &mut out);
    out.extend_from_slice(b",\"versions\":[");
    for (i, version) in page.versions().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(version, &mut out);
    }
    out.extend_from_slice(b"]}");
    out
}

/// The project list as PEP 691 JSON (API 1.1):
/// `{"meta":{"api-version":"1.1"},"projects":[{"name":…},…]}`, sorted and
/// de-duplicated by normalized name, each shown as given (the first
/// spelling in `names` wins).
#[must_use]
pub fn render_index_json(names: &[ProjectName]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + names.len() * 32);
    out.push(b'{');
    write_meta(&mut out);
    out.extend_from_slice(b",\"projects\":[");
    for (i, name) in sorted_unique(names).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_string(name.as_given(), &mut out);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// Names sorted by normalized form, the first of each normalized form kept.
pub(super) fn sorted_unique(names: &[ProjectName]) -> Vec<&ProjectName> {
    let mut sorted: Vec<&ProjectName> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted
}

fn write_meta(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"meta\":{\"api-version\":");
    write_string(API_VERSION, out);
    out.push(b'}');
}

/// One file object, keys in sorted order.
///
/// The BLAKE2b-256 digest is written under the private key `_blake2b_256`
/// (PEP 691 reserves keys starting with `_` for the index), not inside
/// `hashes`: pip takes the first key of `hashes` as *the* hash and passes
/// its name to `hashlib.new`, which knows no `blake2b_256`, and with sorted
/// keys `blake2b_256` would come first, so every pip install would fail
/// with "Unknown hash name" (checked with pip 23.2 and 26.3).
///
/// An upstream file's unknown digest and size are left out; PEP 700 asks
/// for `size`, and pip and uv read pages without it.
fn write_file(file: &PageFile, out: &mut Vec<u8>) {
    out.push(b'{');
    if let Some(blake2b_256) = &file.blake2b_256 {
        out.extend_from_slice(b"\"_blake2b_256\":");
        write_string(blake2b_256, out);
        out.push(b',');
    }
    if let Some(sha256) = &file.core_metadata_sha256 {
        // PEP 714's name, then PEP 658's for older clients; both always agree.
        for key in ["core-metadata", "dist-info-metadata"] {
            write_string(key, out);
            out.extend_from_slice(b":{\"sha256\":");
            write_string(sha256, out);
            out.extend_from_slice(b"},");
        }
    }
    out.extend_from_slice(b"\"filename\":");
    write_string(file.filename.as_str(), out);
    out.extend_from_slice(b",\"hashes\":{\"sha256\":");
    write_string(&file.sha256, out);
    out.push(b'}');
    if let Some(requires_python) = &file.requires_python {
        out.extend_from_slice(b",\"requires-python\":");
        write_string(requires_python, out);
    }
    if let Some(size) = file.size {
        out.extend_from_slice(b",\"size\":");
        out.extend_from_slice(size.to_string().as_bytes());
    }
    out.extend_from_slice(b",\"upload-time\":");
    write_string(&file.upload_time.to_string(), out);
    out.extend_from_slice(b",\"url\":");
    write_string(&file.url, out);
    out.extend_from_slice(b",\"yanked\":");
    match file.yanked.as_deref() {
        None => out.extend_from_slice(b"false"),
        Some("") => out.extend_from_slice(b"true"),
        Some(reason) => write_string(reason, out),
    }
    out.push(b'}');
}

/// A JSON string: `"` and `\` escaped with a backslash, control characters
/// as `\u00XX` (lowercase hex), everything else as UTF-8.
pub(super) fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0..0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
