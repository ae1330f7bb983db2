//! How the pages write numbers and times: UTC in ISO 8601 to the second,
//! sizes in binary units, durations in the two largest units.

use bulwark_tuf::time::Timestamp;

/// `micros` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn time_us(micros: i64) -> String {
    Timestamp::from_unix(micros.div_euclid(1_000_000)).to_string()
}

/// `seconds` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn time_s(seconds: i64) -> String {
    Timestamp::from_unix(seconds).to_string()
}

/// A size in bytes, exact below 1 KiB, else to one decimal in KiB, MiB or GiB.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024 * 1024 && unit + 1 < UNITS.len() {
        value /= 1024;
        unit += 1;
    }
    // Tenths without floating point: value / 1024 to one decimal.
    let tenths = (value * 10 + 512) / 1024;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// A duration in seconds in its two largest units (`2 d 3 h`, `5 min 2 s`);
/// a negative one is `expired <duration> ago`.
pub fn duration(seconds: i64) -> String {
    if seconds < 0 {
        return format!("expired {} ago", duration(seconds.saturating_neg()));
    }
    let parts = [
        (seconds / 86_400, "d"),
        (seconds / 3_600 % 24, "h"),
        (seconds / 60 % 60, "min"),
        (seconds % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0 || first == 3)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A duration in microseconds: milliseconds below a minute, else as
/// [`duration`].
pub fn duration_us(micros: u64) -> String {
    if micros < 60_000_000 {
        format!("{} ms", micros / 1000)
    } else {
        duration(i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(3_661), "1 h 1 min");
        assert_eq!(duration(2 * 86_400 + 3 * 3_600 + 5), "2 d 3 h");
        assert_eq!(duration(86_400), "1 d");
        assert_eq!(duration(-120), "expired 2 min ago");
        assert_eq!(duration_us(1_500), "1 ms");
        assert_eq!(duration_us(90_000_000), "1 min 30 s");
    }

    #[test]
    fn times_are_utc_to_the_second() {
        assert_eq!(time_us(1_750_000_000_123_456), "2025-06-15T15:06:40Z");
        assert_eq!(time_s(0), "1970-01-01T00:00:00Z");
    }
}
