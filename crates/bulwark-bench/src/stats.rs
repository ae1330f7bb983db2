//! Medians, percentiles and the process's peak memory.

/// Median and tail of repeated measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// How many measurements.
    pub n: usize,
    /// The median.
    pub p50: f64,
    /// The 99th percentile (nearest rank: the maximum below 100 samples).
    pub p99: f64,
}

impl Summary {
    /// The summary of `values` (all zero when empty).
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            n: sorted.len(),
            p50: percentile(&sorted, 50),
            p99: percentile(&sorted, 99),
        }
    }
}

/// The nearest-rank percentile `p` of sorted `values`.
fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// A count as a float, for rates and report figures.
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "report figures are far below 2^52"
)]
pub fn float(n: u64) -> f64 {
    n as f64
}

/// The median of sizes.
#[must_use]
pub fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// This process's peak resident set size in KiB (`VmHWM`), where `/proc` has it.
#[must_use]
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.n, s.p50, s.p99), (5, 3.0, 5.0));
        assert_eq!(median_u64(&[3, 1, 2]), 2);
    }
}
