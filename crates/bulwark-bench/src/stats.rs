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
        let sorted = sorted(values);
        Self {
            n: sorted.len(),
            p50: percentile(&sorted, 50),
            p99: percentile(&sorted, 99),
        }
    }
}

/// Median, extremes and the first of repeated measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    /// How many.
    pub n: usize,
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The first, which pays one-time costs (lazy initialisation, imports
    /// done on first use, cold caches).
    pub first: f64,
}

impl Spread {
    /// The spread of `values`, in measurement order (all zero when empty).
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        let sorted = sorted(values);
        let n = sorted.len();
        if n == 0 {
            return Self::default();
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        Self {
            n,
            median,
            min: sorted[0],
            max: sorted[n - 1],
            first: values[0],
        }
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The nearest-rank percentile `p` of sorted `values`.
fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// The nearest-rank percentile `p` of `values`, in any order (0 when empty).
#[must_use]
pub fn nearest_rank(values: &[f64], p: usize) -> f64 {
    percentile(&sorted(values), p)
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

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of(&[5.0, 1.0, 3.0]);
        assert_eq!(
            (s.n, s.median, s.min, s.max, s.first),
            (3, 3.0, 1.0, 5.0, 5.0)
        );
        assert!((Spread::of(&[4.0, 1.0, 2.0, 3.0]).median - 2.5).abs() < 1e-12);
        assert_eq!(Spread::of(&[]), Spread::default());
    }
}
