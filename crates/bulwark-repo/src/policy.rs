//! How long signatures last and how the repository is laid out.

/// Repository policy. Expiry periods follow PEP 458: offline roles a year,
/// online roles a day; `claimed` and its claim bins a month (DESIGN.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Hashed bins: `2^bin_bits`.
    pub bin_bits: u32,
    /// Lifetime of online roles (timestamp, snapshot, bins, recently-claimed
    /// and its claim bins), seconds.
    pub online_expiry: i64,
    /// Lifetime of offline roles (root, targets, claimed, unclaimed), seconds.
    pub offline_expiry: i64,
    /// Lifetime of `claimed` and its claim bins as `bulwark ceremony
    /// promote`, `reset-keys` and `renew --role claimed` draft them,
    /// seconds. Short, because until an older `claimed` expires a stolen
    /// online key can show a new client that older version, in which a
    /// promoted project is still only in recently-claimed (DESIGN.md §3).
    pub claimed_expiry: i64,
    /// Online roles are re-signed when they have less than this left, seconds.
    pub resign_margin: i64,
}

/// The default bin count: 2^8 = 256 bins keeps bins around a few KB up to
/// tens of thousands of projects; PyPI-scale repositories want 2^14.
pub const DEFAULT_BIN_BITS: u32 = 8;

impl Default for Policy {
    fn default() -> Self {
        Self {
            bin_bits: DEFAULT_BIN_BITS,
            online_expiry: 86_400,
            offline_expiry: 365 * 86_400,
            claimed_expiry: 30 * 86_400,
            resign_margin: 12 * 3_600,
        }
    }
}

impl Policy {
    /// The number of hashed bins.
    #[must_use]
    pub fn bin_count(&self) -> u32 {
        1 << self.bin_bits
    }

    /// True for roles the server signs with the online key.
    #[must_use]
    pub fn is_online(role: &str) -> bool {
        matches!(
            role,
            "timestamp" | "snapshot" | crate::layout::RECENTLY_CLAIMED
        ) || role.starts_with("bin-")
            || crate::layout::claim_bin_of_role(crate::layout::RECENTLY_CLAIMED, role).is_some()
    }
}
