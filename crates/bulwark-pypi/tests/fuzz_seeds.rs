//! Replays the fuzz seeds in `fuzz/seeds/pypi_upload/` and
//! `fuzz/seeds/upstream_page/` through the fuzz harnesses, plus
//! deterministic mutations of each seed, so that every CI run on stable
//! exercises the parsers of untrusted upload and upstream page bytes even
//! without `cargo fuzz`. Same approach as `bulwark-tuf/tests/fuzz_seeds.rs`.

use std::fs;
use std::path::Path;

use bulwark_pypi::fuzzing;

/// Mutations per seed.
const MUTATIONS: usize = 2000;

fn seed_dir(target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

fn seeds_of(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seed_dir(target);
    let mut seeds: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (
                name,
                fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
            )
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    seeds
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    seeds_of("pypi_upload")
}

#[test]
fn seeds_are_accepted_where_they_should_be() {
    use bulwark_pypi::{
        CoreMetadata, DistFilename, Limits, ProjectPage, inspect_bytes, render_json,
    };

    let seeds: std::collections::BTreeMap<_, _> = seeds().into_iter().collect();
    let limits = Limits::default();
    assert!(inspect_bytes("demo-1.0-py3-none-any.whl", &seeds["wheel.whl"], &limits).is_ok());
    assert!(inspect_bytes("demo-1.0.tar.gz", &seeds["sdist.tar.gz"], &limits).is_ok());
    // Links that stay inside the tree, a link to a directory, a hard link.
    assert!(inspect_bytes("demo-1.0.tar.gz", &seeds["sdist-links.tar.gz"], &limits).is_ok());
    assert!(inspect_bytes("demo-1.0.zip", &seeds["sdist.zip"], &limits).is_ok());
    assert!(CoreMetadata::parse(&seeds["METADATA"]).is_ok());
    let filename = std::str::from_utf8(&seeds["filename.txt"]).unwrap_or_default();
    assert!(DistFilename::parse(filename).is_ok());
    let page =
        ProjectPage::parse_json(&seeds["page.json"]).unwrap_or_else(|e| panic!("page seed: {e}"));
    assert_eq!(
        render_json(&page),
        seeds["page.json"],
        "the page seed is in canonical form"
    );
}

#[test]
fn pypi_upload_seeds_and_mutations() {
    /// The punctuation of JSON and metadata and the bytes that zip, gzip and
    /// tar headers are made of.
    const INTERESTING: &[u8] =
        b"{}[]\",:-0123456789.eE\\u tfn\n\r\t\0\xff\x7f/_PK\x03\x04\x01\x02\x05\x06\x1f\x8b";
    let seeds: Vec<Vec<u8>> = seeds().into_iter().map(|(_, bytes)| bytes).collect();
    bulwark_tuf::fuzzing::replay(&seeds, fuzzing::pypi_upload, MUTATIONS, INTERESTING);
}

#[test]
fn upstream_page_seeds_and_mutations() {
    /// The punctuation of HTML and JSON pages.
    const INTERESTING: &[u8] = b"<>/=\"'#&;{}[]:,- abcdefsha256=0123456789.whl.tar.gz\n\0\xff";
    let seeds: Vec<Vec<u8>> = seeds_of("upstream_page")
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    for seed in &seeds {
        fuzzing::upstream_page(seed);
    }
    bulwark_tuf::fuzzing::replay(&seeds, fuzzing::upstream_page, MUTATIONS, INTERESTING);
}
