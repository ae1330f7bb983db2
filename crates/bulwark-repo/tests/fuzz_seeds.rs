//! Replays the fuzz seeds in `fuzz/seeds/project_transaction/` through the
//! project-transaction harness, plus deterministic mutations of each seed,
//! so that every CI run on stable exercises the index's parsers of what
//! developers send even without `cargo fuzz`. Same approach as
//! `bulwark-tuf/tests/fuzz_seeds.rs`.

use std::fs;
use std::path::Path;

use bulwark_repo::fuzzing;

/// Mutations per seed.
const MUTATIONS: usize = 2000;

#[test]
fn project_transaction_seeds_and_mutations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/project_transaction");
    let mut seeds: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    bulwark_tuf::fuzzing::replay(
        &seeds,
        fuzzing::project_transaction,
        MUTATIONS,
        bulwark_tuf::fuzzing::JSON_BYTES,
    );
}
