//! `multipart/form-data` bodies (RFC 7578) for the index's two upload
//! endpoints: `/legacy/` as twine posts to it, and a developer-signed
//! project transaction. Held in memory: the index reads a whole upload
//! before it answers anyway, and caps it.
//!
//! The boundary is derived from the SHA-256 of everything in the form, so
//! no part can contain it short of containing its own hash; it is checked
//! all the same.

use bulwark_tuf::hash::sha256_hex;

/// A form being built, in the order its parts are added.
#[derive(Debug, Default)]
pub struct Form {
    parts: Vec<Part>,
}

#[derive(Debug)]
struct Part {
    name: String,
    filename: Option<String>,
    bytes: Vec<u8>,
}

impl Form {
    /// An empty form.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text field.
    pub fn text(&mut self, name: &str, value: &str) {
        self.parts.push(Part {
            name: name.to_owned(),
            filename: None,
            bytes: value.as_bytes().to_vec(),
        });
    }

    /// Adds a file field named `filename`.
    pub fn file(&mut self, name: &str, filename: &str, bytes: Vec<u8>) {
        self.parts.push(Part {
            name: name.to_owned(),
            filename: Some(filename.to_owned()),
            bytes,
        });
    }

    /// The `Content-Type` header value and the body.
    #[must_use]
    pub fn encode(self) -> (String, Vec<u8>) {
        let boundary = self.boundary();
        let size: usize = self.parts.iter().map(|p| p.bytes.len() + 256).sum();
        let mut body = Vec::with_capacity(size + boundary.len() + 8);
        for part in self.parts {
            body.extend_from_slice(b"--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(quoted(&part.name).as_bytes());
            body.push(b'"');
            if let Some(filename) = &part.filename {
                body.extend_from_slice(b"; filename=\"");
                body.extend_from_slice(quoted(filename).as_bytes());
                body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream");
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&part.bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"--\r\n");
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    /// A boundary that occurs in no part.
    fn boundary(&self) -> String {
        let mut digest_input = Vec::new();
        for part in &self.parts {
            digest_input.extend_from_slice(sha256_hex(part.name.as_bytes()).as_bytes());
            digest_input.extend_from_slice(sha256_hex(&part.bytes).as_bytes());
        }
        let mut seed = sha256_hex(&digest_input);
        loop {
            let boundary = format!("bulwark-{}", &seed[..40]);
            let found = self.parts.iter().any(|p| {
                contains(&p.bytes, boundary.as_bytes())
                    || p.name.contains(&boundary)
                    || p.filename.as_deref().is_some_and(|f| f.contains(&boundary))
            });
            if !found {
                return boundary;
            }
            seed = sha256_hex(seed.as_bytes());
        }
    }
}

/// `value` inside a quoted header parameter: `"`, `\` and line breaks
/// percent-encoded, as browsers do (RFC 7578 §4.2).
fn quoted(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('"', "%22")
        .replace('\\', "%5C")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_text_and_file_parts_between_boundaries() {
        let mut form = Form::new();
        form.text(":action", "file_upload");
        form.file("content", "demo-1.0.tar.gz", b"\x00bytes\r\n".to_vec());
        let (content_type, body) = form.encode();
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"demo-1.0.tar.gz\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n\x00bytes\r\n\r\n--{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }

    #[test]
    fn boundary_never_occurs_in_a_part() {
        let mut probe = Form::new();
        probe.text("a", "x");
        let taken = probe.boundary();
        // A part holding the boundary the same parts would otherwise get
        // changes the digest, and so the boundary; the check covers the rest.
        let mut form = Form::new();
        form.text("a", &taken);
        let boundary = form.boundary();
        assert!(!boundary.is_empty());
        assert!(
            !form.parts[0]
                .bytes
                .windows(boundary.len())
                .any(|w| w == boundary.as_bytes())
        );
    }

    #[test]
    fn header_parameters_cannot_be_broken_out_of() {
        assert_eq!(quoted("a\"b\r\nc\\d%"), "a%22b%0D%0Ac%5Cd%25");
    }
}
