//! Hexadecimal text, as TUF writes key IDs, hashes, Ed25519 public keys and
//! signatures.
//!
//! [`encode`] always writes lowercase, which is what securesystemslib and
//! python-tuf emit and what key IDs are compared as. [`decode`] accepts either
//! case because Python's `bytes.fromhex`, which the reference implementation
//! verifies with, does too.

/// The lowercase digits, indexed by nibble.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Returns `bytes` as lowercase hexadecimal, two digits per byte.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Returns the bytes that `s` spells in hexadecimal, or `None` when `s` has an
/// odd number of characters or any character that is not a hex digit.
///
/// Upper- and lowercase digits are both accepted; nothing else is (no `0x`
/// prefix, no whitespace, no separators).
#[must_use]
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| match *pair {
            [high, low] => Some((nibble(high)? << 4) | nibble(low)?),
            _ => None,
        })
        .collect()
}

/// The value of one ASCII hex digit.
const fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_writes_lowercase_two_digits_per_byte() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0f, 0xa0, 0xff, 0x5c]), "000fa0ff5c");
    }

    #[test]
    fn decode_accepts_both_cases() {
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(
            decode("000fa0ff5c"),
            Some(vec![0x00, 0x0f, 0xa0, 0xff, 0x5c])
        );
        assert_eq!(
            decode("000FA0FF5C"),
            Some(vec![0x00, 0x0f, 0xa0, 0xff, 0x5c])
        );
        assert_eq!(decode("aBcD"), Some(vec![0xab, 0xcd]));
    }

    #[test]
    fn decode_refuses_odd_length() {
        assert_eq!(decode("a"), None);
        assert_eq!(decode("abc"), None);
    }

    #[test]
    fn decode_refuses_non_hex_characters() {
        for bad in [
            "0g", "g0", "0x00", " 00", "00 ", "0-", "+0", "zz", "é0", "0\n", "ÿ",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trip_every_byte() {
        let all: Vec<u8> = (0..=u8::MAX).collect();
        let text = encode(&all);
        assert_eq!(text.len(), 512);
        assert!(!text.bytes().any(|c| c.is_ascii_uppercase()));
        assert_eq!(decode(&text), Some(all.clone()));
        assert_eq!(decode(&text.to_ascii_uppercase()), Some(all));
    }
}
