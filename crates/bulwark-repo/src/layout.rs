//! Where everything lives: the role layout of DESIGN.md §3 and the blob keys
//! of every published file (DESIGN.md §7 gives the URLs; a blob key is the
//! URL path without its leading `/`).
//!
//! ```text
//! root ── timestamp, snapshot (online key)
//!      └─ targets (offline) ─▶ claimed (offline), recently-claimed (online),
//!                              unclaimed (offline) ─▶ bin-<hex> (online, succinct)
//! ```

use bulwark_tuf::delegation::bin_index;
use bulwark_tuf::names::RoleName;

/// The role delegating to developer-claimed projects (offline key).
pub const CLAIMED: &str = "claimed";
/// The role delegating to newly claimed projects (online key).
pub const RECENTLY_CLAIMED: &str = "recently-claimed";
/// The role delegating to the hashed bins (offline key).
pub const UNCLAIMED: &str = "unclaimed";
/// The name prefix of the succinct hashed bins.
pub const BIN_PREFIX: &str = "bin";
/// The path pattern every project delegation of targets covers.
pub const PROJECT_PATTERN: &str = "simple/*/*";

/// Blob key prefix of TUF metadata (URL `/tuf/metadata/`).
pub const METADATA_PREFIX: &str = "tuf/metadata/";
/// Blob key prefix of TUF targets (URL `/tuf/targets/`).
pub const TARGETS_PREFIX: &str = "tuf/targets/";
/// Blob key prefix of distribution files (URL `/files/`).
pub const FILES_PREFIX: &str = "files/";

/// The TUF target path of a project's signed page.
#[must_use]
pub fn page_target(project: &str) -> String {
    format!("simple/{project}/index.json")
}

/// The blob key of a project page with the given SHA-256 (consistent
/// snapshot naming: `<hash>.index.json`).
#[must_use]
pub fn page_key(project: &str, sha256: &str) -> String {
    format!("{TARGETS_PREFIX}simple/{project}/{sha256}.index.json")
}

/// The blob key of version `version` of `role`'s metadata.
#[must_use]
pub fn metadata_key(role: &str, version: u64) -> String {
    format!(
        "{METADATA_PREFIX}{version}.{}.json",
        RoleName::new(role).encoded()
    )
}

/// The blob key of the mutable timestamp.
pub const TIMESTAMP_KEY: &str = "tuf/metadata/timestamp.json";

/// The blob key of a distribution file.
#[must_use]
pub fn file_key(sha256: &str, filename: &str) -> String {
    format!("{FILES_PREFIX}{sha256}/{filename}")
}

/// The blob key of a distribution's core metadata file (PEP 658: the file's
/// URL plus `.metadata`).
#[must_use]
pub fn metadata_file_key(sha256: &str, filename: &str) -> String {
    format!("{}.metadata", file_key(sha256, filename))
}

/// A file's URL as written in project pages: relative to the page's
/// directory `simple/<project>/`, so the same signed page works on the
/// index, on mirrors and under `/tuf/targets/` (DESIGN.md §2).
#[must_use]
pub fn file_url(sha256: &str, filename: &str) -> String {
    format!("../../{}", file_key(sha256, filename))
}

/// The bin number of a project among `2^bin_bits` bins.
#[must_use]
pub fn bin_of(project: &str, bin_bits: u32) -> u32 {
    u32::try_from(bin_index(&page_target(project), bin_bits)).unwrap_or(u32::MAX)
}

/// The role name of bin `bin` among `2^bin_bits` bins (TAP 15 naming).
#[must_use]
pub fn bin_name(bin: u32, bin_bits: u32) -> String {
    format!(
        "{BIN_PREFIX}-{bin:0width$x}",
        width = bin_bits.div_ceil(4) as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_urls() {
        assert_eq!(page_target("foo-bar"), "simple/foo-bar/index.json");
        assert_eq!(
            page_key("foo", "ab"),
            "tuf/targets/simple/foo/ab.index.json"
        );
        assert_eq!(metadata_key("bin-0f", 7), "tuf/metadata/7.bin-0f.json");
        assert_eq!(
            metadata_key("recently-claimed", 2),
            "tuf/metadata/2.recently-claimed.json"
        );
        assert_eq!(
            file_url("ab", "x-1.0.tar.gz"),
            "../../files/ab/x-1.0.tar.gz"
        );
        assert_eq!(metadata_file_key("ab", "x.whl"), "files/ab/x.whl.metadata");
        assert_eq!(bin_name(5, 8), "bin-05");
        assert_eq!(bin_name(5, 9), "bin-005");
        assert!(bin_of("requests", 8) < 256);
    }
}
