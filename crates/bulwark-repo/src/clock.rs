//! The system clock, read through glibc (so libfaketime can move it), in
//! the two forms the server side uses.

use bulwark_tuf::time::Timestamp;

/// Microseconds since the Unix epoch.
#[must_use]
pub fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Now, in whole seconds.
#[must_use]
pub fn now() -> Timestamp {
    Timestamp::from_unix(unix_micros().div_euclid(1_000_000))
}
