//! Upload times as PEP 700 writes them: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.

use std::fmt;

use bulwark_tuf::time::Timestamp;

const MICROS_PER_SECOND: u32 = 1_000_000;

/// A point in time, UTC, with microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadTime {
    seconds: Timestamp,
    micros: u32,
}

impl UploadTime {
    /// A time from whole seconds and microseconds; `None` unless
    /// `micros < 1_000_000`.
    #[must_use]
    pub fn new(seconds: Timestamp, micros: u32) -> Option<Self> {
        (micros < MICROS_PER_SECOND).then_some(Self { seconds, micros })
    }

    /// A time with no fraction of a second.
    #[must_use]
    pub fn from_seconds(seconds: Timestamp) -> Self {
        Self { seconds, micros: 0 }
    }

    /// A time from microseconds since the Unix epoch.
    #[must_use]
    pub fn from_unix_micros(micros: i64) -> Self {
        let per_second = i64::from(MICROS_PER_SECOND);
        Self {
            seconds: Timestamp::from_unix(micros.div_euclid(per_second)),
            micros: u32::try_from(micros.rem_euclid(per_second)).unwrap_or(0),
        }
    }

    /// Microseconds since the Unix epoch: the reverse of
    /// [`UploadTime::from_unix_micros`].
    #[must_use]
    pub fn unix_micros(self) -> i64 {
        self.seconds.unix() * i64::from(MICROS_PER_SECOND) + i64::from(self.micros)
    }

    /// The whole seconds.
    #[must_use]
    pub fn seconds(self) -> Timestamp {
        self.seconds
    }

    /// The microseconds within the second.
    #[must_use]
    pub fn micros(self) -> u32 {
        self.micros
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` with an optional fraction of one to
    /// six digits before the `Z`, as PEP 700 allows.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_suffix('Z')?;
        let (whole, fraction) = match body.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (body, None),
        };
        let seconds = Timestamp::parse(&format!("{whole}Z"))?;
        let micros = match fraction {
            None => 0,
            Some(digits)
                if (1..=6).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("{digits:0<6}").parse().ok()?
            }
            Some(_) => return None,
        };
        Some(Self { seconds, micros })
    }
}

/// Always six fraction digits: `2024-05-01T12:00:00.000000Z`.
impl fmt::Display for UploadTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.seconds.to_string();
        let whole = seconds.strip_suffix('Z').unwrap_or(&seconds);
        write!(f, "{whole}.{:06}Z", self.micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_six_fraction_digits() {
        let t = UploadTime::from_unix_micros(1_700_000_000_123_456);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(t.seconds().unix(), 1_700_000_000);
        assert_eq!(t.micros(), 123_456);
        assert_eq!(
            UploadTime::from_seconds(Timestamp::from_unix(0)).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            UploadTime::from_unix_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(UploadTime::new(Timestamp::from_unix(0), 1_000_000), None);
        assert_eq!(
            UploadTime::new(Timestamp::from_unix(0), 5)
                .unwrap()
                .micros(),
            5
        );
    }

    #[test]
    fn parses_what_pep700_allows() {
        let t = UploadTime::parse("2023-11-14T22:13:20.123456Z").unwrap();
        assert_eq!(t, UploadTime::from_unix_micros(1_700_000_000_123_456));
        assert_eq!(
            UploadTime::parse("2023-11-14T22:13:20.5Z")
                .unwrap()
                .micros(),
            500_000
        );
        assert_eq!(
            UploadTime::parse("2023-11-14T22:13:20Z").unwrap().micros(),
            0
        );
        for bad in [
            "2023-11-14T22:13:20.1234567Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.12a4Z",
            "2023-11-14T22:13:20.123456",
            "2023-11-14T22:13:20.123456+00:00",
            "2023-11-14 22:13:20Z",
            "",
        ] {
            assert_eq!(UploadTime::parse(bad), None, "{bad}");
        }
    }
}
