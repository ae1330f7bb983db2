//! Replays the fuzz seeds in `fuzz/seeds/` through the fuzz harnesses, plus
//! deterministic mutations of each seed, so that every CI run on stable
//! exercises the parsers of untrusted bytes even without `cargo fuzz`.

use std::fs;
use std::path::Path;

use bulwark_tuf::fuzzing;

/// Mutations per seed and harness.
const MUTATIONS: usize = 2000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
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

/// A xorshift generator: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Flips, inserts, deletes or duplicates bytes, favouring JSON punctuation.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: &[u8] = b"{}[]\",:-0123456789.eE\\u tfn";
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len());
        match rng.below(5) {
            0 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
            1 => data.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if !data.is_empty() => {
                data.remove(at);
            }
            3 => {
                let end = (at + rng.below(16)).min(data.len());
                let chunk = data[at..end].to_vec();
                data.splice(at..at, chunk);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn replay(target: &str, harness: fn(&[u8])) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in seeds(target) {
        harness(&seed);
        for _ in 0..MUTATIONS {
            harness(&mutate(&seed, &mut rng));
        }
    }
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
