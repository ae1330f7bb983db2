//! Replays the fuzz seeds in `fuzz/seeds/` through the fuzz harnesses, plus
//! deterministic mutations of each seed, so that every CI run on stable
//! exercises the parsers of untrusted bytes even without `cargo fuzz`.

use std::fs;
use std::path::Path;

use bulwark_tuf::fuzzing;

/// Mutations per seed and harness.
const MUTATIONS: usize = 2000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    seeds
}

fn replay(target: &str, harness: fn(&[u8])) {
    fuzzing::replay(&seeds(target), harness, MUTATIONS, fuzzing::JSON_BYTES);
}

#[test]
fn canonical_json_seeds_and_mutations() {
    replay("canonical_json", fuzzing::canonical_round_trip);
    replay("metadata", fuzzing::canonical_round_trip);
}

#[test]
fn metadata_seeds_and_mutations() {
    replay("metadata", fuzzing::parse_metadata);
}

#[test]
fn trusted_set_seeds_and_mutations() {
    replay("trusted_set", fuzzing::offer_to_trusted_set);
}
