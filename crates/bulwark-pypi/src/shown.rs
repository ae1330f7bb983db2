//! Untrusted text made safe to put in an error message.

/// The most characters of untrusted text kept in a message.
const MAX_SHOWN: usize = 100;

/// `text` quoted, with control and other non-printable characters escaped
/// (so it can never break a log line or an HTTP reason phrase) and cut to
/// [`MAX_SHOWN`] characters, marked with `…` when cut.
pub(crate) fn shown(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_SHOWN).collect();
    let truncated = cut.len() < text.len();
    cut = format!("{cut:?}");
    if truncated {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_truncates() {
        assert_eq!(shown("a\nb\r\0"), r#""a\nb\r\0""#);
        let long = "x".repeat(500);
        let s = shown(&long);
        assert!(s.ends_with("\"…"));
        assert_eq!(s.chars().count(), MAX_SHOWN + 3);
    }
}
