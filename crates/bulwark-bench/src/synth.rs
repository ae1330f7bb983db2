//! The deterministic synthetic package index: project names and file records from a
//! seedless generator, so every run (and every machine) builds the same
//! repository for the same `--projects`.
//!
//! Files per project follow a long tail (most projects have a few files, a
//! few have hundreds): 85 % have 1–5, 14 % 6–20, 0.9 % 21–100 and 0.1 %
//! 100–499, about 5.2 files per project on average. The real index's mean is
//! higher (about 22), which matters for the per-file-target layout only;
//! Bulwark signs one page per project, whatever its number of files.

use bulwark_store::FileRecord;

/// The uploader of every synthetic file.
pub const UPLOADER: &str = "bench";

/// `SplitMix64`: small, fast and good enough to spread synthetic data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// 64 lowercase hex digits (a fake SHA-256 or BLAKE2b-256).
    pub fn hex256(&mut self) -> String {
        use std::fmt::Write as _;
        let mut s = String::with_capacity(64);
        for _ in 0..4 {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s
    }
}

/// The normalized name of synthetic project `i`.
#[must_use]
pub fn project_name(i: u64) -> String {
    format!("bench-{i:07}")
}

/// How many files project `i` has.
#[must_use]
pub fn files_of(i: u64) -> u64 {
    let mut rng = Rng::new(i.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5EED);
    let bucket = rng.below(1000);
    if bucket < 850 {
        1 + rng.below(5)
    } else if bucket < 990 {
        6 + rng.below(15)
    } else if bucket < 999 {
        21 + rng.below(80)
    } else {
        100 + rng.below(400)
    }
}

/// File `n` of project `i` (alternately a wheel and an sdist of a version),
/// uploaded at `upload_time_us`.
#[must_use]
pub fn file(i: u64, n: u64, upload_time_us: i64) -> FileRecord {
    let mut rng = Rng::new((i << 20) ^ n ^ 0xF11E_5EED_0000_0000);
    let project = project_name(i);
    let stem = project.replace('-', "_");
    let version = format!("{}.{}.0", n / 2 / 10, n / 2 % 10);
    let filename = if n.is_multiple_of(2) {
        format!("{stem}-{version}-py3-none-any.whl")
    } else {
        format!("{stem}-{version}.tar.gz")
    };
    let size = 2_000 + rng.below(4_000_000);
    FileRecord {
        project,
        filename,
        version,
        size,
        sha256: rng.hex256(),
        blake2b_256: rng.hex256(),
        requires_python: Some(">=3.9".to_owned()),
        metadata_sha256: (n.is_multiple_of(2)).then(|| rng.hex256()),
        upload_time_us,
        yanked: None,
        uploader: UPLOADER.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_long_tailed() {
        assert_eq!(file(3, 1, 0), file(3, 1, 0));
        let counts: Vec<u64> = (0..20_000).map(files_of).collect();
        let small = counts.iter().filter(|c| **c <= 5).count();
        assert!(small > 16_000, "most projects have 1-5 files: {small}");
        assert!(counts.iter().any(|c| *c >= 100), "a few have hundreds");
    }
}
