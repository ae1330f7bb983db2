//! Where everything lives, written once for the index and every client: the
//! role layout of DESIGN.md §3, the TUF target path of each project page,
//! the blob keys of every published file (DESIGN.md §7 gives the URLs; a
//! blob key is the URL path without its leading `/`), the relative file URLs
//! inside pages, and the parses that turn each of them back into its parts.
//! Pure: no I/O.
//!
//! ```text
//! root ── timestamp, snapshot (online key)
//!      └─ targets (offline) ─▶ claimed (offline) ─▶ claimed-<hh> (offline)
//!                              recently-claimed (online) ─▶ recently-claimed-<hh> (online)
//!                                  each claim bin ─▶ project-<name> (developers, terminating)
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
/// The name prefix of every developer role: `project-<normalized-name>`
/// (DESIGN.md §3), kept forever.
pub const PROJECT_ROLE_PREFIX: &str = "project-";
/// The name prefix of the succinct hashed bins.
pub const BIN_PREFIX: &str = "bin";
/// Hex digits of the target path's SHA-256 that pick a claim bin: claimed
/// and recently-claimed each reach their projects through up to 16^2 = 256
/// bins (`path_hash_prefixes` of this many digits), so that a lookup
/// downloads one bin's project delegations, not every one.
pub const CLAIM_BIN_DIGITS: u32 = 2;
/// The path pattern every project delegation of targets covers.
pub const PROJECT_PATTERN: &str = "simple/*/*";

/// Blob key prefix of TUF metadata (URL `/tuf/metadata/`).
pub const METADATA_PREFIX: &str = "tuf/metadata/";
/// Blob key prefix of TUF targets (URL `/tuf/targets/`).
pub const TARGETS_PREFIX: &str = "tuf/targets/";
/// Blob key prefix of distribution files (URL `/files/`).
pub const FILES_PREFIX: &str = "files/";

/// The role of a claimed project: `project-<normalized-name>`.
#[must_use]
pub fn project_role(project: &str) -> RoleName {
    RoleName::new(format!("{PROJECT_ROLE_PREFIX}{project}"))
}

/// What the name of every role delegated inside a project's role starts
/// with: `project-<normalized-name>.`. Role metadata shares one namespace in
/// the snapshot, and normalized project names have no `.`, so no nested
/// role can take the name of another project's role or of an index role.
#[must_use]
pub fn nested_role_prefix(project: &str) -> String {
    format!("{}.", project_role(project))
}

/// The TUF target path of a project's signed page.
#[must_use]
pub fn page_target(project: &str) -> String {
    format!("simple/{project}/index.json")
}

/// The URL path of a project's page in the simple API (PEP 503: the
/// normalized name, with a trailing slash), on the index, a mirror and the
/// proxy alike.
#[must_use]
pub fn project_page_url(project: &str) -> String {
    format!("/simple/{project}/")
}

/// The project whose page is the target at `path` (`simple/<name>/index.json`),
/// if it is one: the reverse of [`page_target`]. The name is returned as
/// written; callers that need a valid project name parse it.
#[must_use]
pub fn project_of_target(path: &str) -> Option<&str> {
    path.strip_prefix("simple/")?
        .strip_suffix("/index.json")
        .filter(|name| safe_segment(name))
}

/// The blob key of a target under consistent snapshots (TUF §5.7.3):
/// `tuf/targets/<dir>/<hash>.<name>`. `None` when a segment of the path or
/// the hash could not be stored and served under the same name everywhere.
#[must_use]
pub fn target_key(path: &str, hash: &str) -> Option<String> {
    if !path.split('/').all(safe_segment) || !safe_segment(hash) {
        return None;
    }
    Some(match path.rsplit_once('/') {
        Some((dir, name)) => format!("{TARGETS_PREFIX}{dir}/{hash}.{name}"),
        None => format!("{TARGETS_PREFIX}{hash}.{path}"),
    })
}

/// True for a path segment that is stored and served under the same name
/// on the index, a mirror and any static web server: non-empty, not hidden
/// (so never `.`, `..` or a temporary file), and only characters that need
/// no percent-encoding in a URL path and are safe in a file name. Every
/// distribution filename the index accepts passes (`!` appears in epoch
/// versions such as `demo-1!0.5.tar.gz`).
#[must_use]
pub fn safe_segment(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+~!".contains(&b))
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

/// Blob key prefix of what developers signed for claimed projects and the
/// index accepted (roles and pages), content-addressed, until and after the
/// publisher copies them under `tuf/`. Never served.
pub const CLAIMS_PREFIX: &str = "claims/";

/// The blob key of an accepted developer-signed role with this SHA-256.
#[must_use]
pub fn claim_role_key(sha256: &str) -> String {
    format!("{CLAIMS_PREFIX}{sha256}.role.json")
}

/// The blob key of an accepted developer-signed page with this SHA-256.
#[must_use]
pub fn claim_page_key(sha256: &str) -> String {
    format!("{CLAIMS_PREFIX}{sha256}.page.json")
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

/// The `(sha256, filename)` a page's file URL names, if it has exactly the
/// form [`file_url`] writes with a lowercase hex sha256 and a safe filename:
/// the reverse of [`file_url`].
#[must_use]
pub fn parse_file_url(url: &str) -> Option<(&str, &str)> {
    let (sha256, filename) = url
        .strip_prefix("../../")?
        .strip_prefix(FILES_PREFIX)?
        .split_once('/')?;
    (is_sha256(sha256) && safe_segment(filename)).then_some((sha256, filename))
}

/// The `(sha256, filename, is_metadata)` a distribution blob key names
/// ([`file_key`], or [`metadata_file_key`] when `is_metadata`), if it has
/// that form.
#[must_use]
pub fn parse_file_key(key: &str) -> Option<(&str, &str, bool)> {
    let (sha256, name) = key.strip_prefix(FILES_PREFIX)?.split_once('/')?;
    if !is_sha256(sha256) || !safe_segment(name) {
        return None;
    }
    Some(match name.strip_suffix(".metadata") {
        Some(filename) => (sha256, filename, true),
        None => (sha256, name, false),
    })
}

/// True for 64 lowercase hex digits, the only form a sha256 takes in keys
/// and URLs.
#[must_use]
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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

/// The claim bin of a project: the first [`CLAIM_BIN_DIGITS`] hex digits of
/// the SHA-256 of its page's target path, as a number.
#[must_use]
pub fn claim_bin_of(project: &str) -> u32 {
    u32::try_from(bin_index(&page_target(project), CLAIM_BIN_DIGITS * 4)).unwrap_or(u32::MAX)
}

/// The `path_hash_prefixes` entry of claim bin `bin`: its hex digits.
#[must_use]
pub fn claim_bin_prefix(bin: u32) -> String {
    format!("{bin:0width$x}", width = CLAIM_BIN_DIGITS as usize)
}

/// The role name of claim bin `bin` under `tier` ([`CLAIMED`] or
/// [`RECENTLY_CLAIMED`]): `claimed-3f`, `recently-claimed-3f`.
#[must_use]
pub fn claim_bin_name(tier: &str, bin: u32) -> String {
    format!("{tier}-{}", claim_bin_prefix(bin))
}

/// The bin a claim bin's role name under `tier` names: the reverse of
/// [`claim_bin_name`].
#[must_use]
pub fn claim_bin_of_role(tier: &str, role: &str) -> Option<u32> {
    let hex = role.strip_prefix(tier)?.strip_prefix('-')?;
    (hex.len() == CLAIM_BIN_DIGITS as usize
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| u32::from_str_radix(hex, 16).ok())
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_urls() {
        assert_eq!(page_target("foo-bar"), "simple/foo-bar/index.json");
        assert_eq!(project_page_url("foo-bar"), "/simple/foo-bar/");
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
        assert_eq!(project_role("foo-bar").as_str(), "project-foo-bar");
        assert_eq!(nested_role_prefix("foo-bar"), "project-foo-bar.");
    }

    #[test]
    fn claim_bins_follow_the_path_hash() {
        // sha256("simple/requests/index.json") starts with the bin's digits,
        // which is what clients compare `path_hash_prefixes` with.
        let digest = bulwark_tuf::hash::sha256_hex(page_target("requests").as_bytes());
        let bin = claim_bin_of("requests");
        assert!(digest.starts_with(&claim_bin_prefix(bin)), "{digest}");
        assert_eq!(claim_bin_name(CLAIMED, 0x3f), "claimed-3f");
        assert_eq!(claim_bin_name(RECENTLY_CLAIMED, 7), "recently-claimed-07");
        assert_eq!(claim_bin_of_role(CLAIMED, "claimed-3f"), Some(0x3f));
        assert_eq!(
            claim_bin_of_role(RECENTLY_CLAIMED, "recently-claimed-07"),
            Some(7)
        );
        for other in [
            "claimed",
            "claimed-3",
            "claimed-3F",
            "claimed-zz",
            "recently-claimed-07",
            "bin-3f",
        ] {
            assert_eq!(claim_bin_of_role(CLAIMED, other), None, "{other}");
        }
    }

    #[test]
    fn parses_are_the_reverse_of_the_writers() {
        assert_eq!(project_of_target(&page_target("foo-bar")), Some("foo-bar"));
        for other in [
            "simple/index.json",
            "simple/../index.json",
            "files/x/index.json",
            "simple/a/b/index.json",
        ] {
            assert_eq!(project_of_target(other), None, "{other}");
        }
        let sha = "0123456789abcdef".repeat(4);
        for filename in [
            "demo-1.0.tar.gz",
            "demo-1!0.5.tar.gz",
            "demo-1.0+local-py3-none-any.whl",
        ] {
            assert_eq!(
                parse_file_url(&file_url(&sha, filename)),
                Some((sha.as_str(), filename)),
                "{filename}"
            );
        }
        for url in [
            format!("https://elsewhere.example/files/{sha}/demo-1.0.tar.gz"),
            format!("../../files/{}/demo-1.0.tar.gz", "A".repeat(64)),
            format!("../../files/{sha}/../demo-1.0.tar.gz"),
            format!("../../files/{sha}/a/b.tar.gz"),
            "../../files/../demo-1.0.tar.gz".to_owned(),
        ] {
            assert_eq!(parse_file_url(&url), None, "{url}");
        }
    }

    #[test]
    fn target_keys_follow_the_index_layout() {
        assert_eq!(
            target_key("simple/demo/index.json", "ab").unwrap(),
            page_key("demo", "ab")
        );
        assert_eq!(
            target_key("top.txt", "ab").unwrap(),
            "tuf/targets/ab.top.txt"
        );
        for bad in [
            "simple/../x",
            "simple//x",
            "/abs",
            "simple/.hidden/x",
            "simple/a b/x",
        ] {
            assert_eq!(target_key(bad, "ab"), None, "{bad}");
        }
        assert_eq!(target_key("simple/demo/index.json", "../x"), None);
    }
}
