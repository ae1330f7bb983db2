//! Blob keys: the one validation rule every [`crate::BlobStore`] applies, so
//! that a key accepted by one backend is accepted by all of them and a
//! repository can be copied between backends unchanged.
//!
//! A key is a relative, `/`-separated path whose segments are non-empty, are
//! not `.` or `..`, hold no backslash and no ASCII control character (NUL
//! included: S3 listings are XML 1.0, which cannot carry most of them, and
//! `object_store` refuses them), are at most 255 bytes (the usual file-name
//! limit) and do not start with [`RESERVED_PREFIX`].

use crate::{Result, StoreError};

/// Segments starting with this are reserved for a backend's own temporary
/// objects (the file system writes `.tmp-…` files before renaming them), so
/// no key can ever name one.
pub const RESERVED_PREFIX: &str = bulwark_fs::TEMP_PREFIX;

/// The longest segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 255;

/// Checks that `key` is a valid blob key.
pub fn validate_key(key: &str) -> Result<()> {
    if !key.is_empty() && key.split('/').all(valid_segment) {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_owned()))
    }
}

/// Checks a `list` prefix: any string that a key may start with, where the
/// part before its last `/` (if any) must itself be a valid key. Refusing the
/// rest (`/etc`, `a//b`, `../x`) catches callers' bugs early instead of
/// silently listing nothing.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    match prefix.rsplit_once('/') {
        Some((dir, _)) => validate_key(dir).map_err(|_| StoreError::InvalidKey(prefix.to_owned())),
        None => Ok(()),
    }
}

/// Whether one `/`-free segment may appear in a key.
pub(crate) fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= MAX_SEGMENT_LEN
        && !segment.contains(|c: char| c == '\\' || c.is_ascii_control())
        && !segment.starts_with(RESERVED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "files/0123/foo-1.0.tar.gz",
            "tuf/metadata/3.snapshot.json",
            "a/.hidden",
            "a/..b",
            "a/b..",
            "a/.tmp",
            "a/tmp-.x",
            "ünïcode/ключ",
            &"x".repeat(255),
        ] {
            assert!(validate_key(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn refuses_keys_that_are_not_plain_relative_paths() {
        for key in [
            "",
            "/",
            "/abs",
            "a/",
            "a//b",
            ".",
            "..",
            "a/./b",
            "a/../b",
            "..\\x",
            "a\\b",
            "a\0b",
            "a\nb",
            "tab\t",
            "del\x7f",
            ".tmp-1",
            "a/.tmp-x/b",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(validate_key(key), Err(StoreError::InvalidKey(k)) if k == key),
                "{key:?}"
            );
        }
    }

    #[test]
    fn prefixes_may_end_anywhere_but_their_directory_must_be_a_key() {
        for prefix in ["", "f", "files/", "files/ab", "tuf/metadata/1.", "a/.tm"] {
            assert!(validate_prefix(prefix).is_ok(), "{prefix:?}");
        }
        for prefix in ["/", "/etc", "a//", "../x", "a/../", ".tmp-1/"] {
            assert!(validate_prefix(prefix).is_err(), "{prefix:?}");
        }
    }
}
