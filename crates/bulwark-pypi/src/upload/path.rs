//! Checks on the paths of archive entries, each on its own (where links
//! resolve is the tree's concern).
//!
//! The index never extracts an upload, but installers do, and mirrors and
//! scanners may: an entry that could land outside the extraction directory
//! (absolute, `..`, a drive letter, a backslash that Windows reads as a
//! separator) is refused, and so are names that different tools spell
//! differently (`a//b`, `./a`, NUL, which C-based tools cut at, a
//! trailing `.` or space, which Windows strips), and control characters, which no real distribution has in a name and which
//! would reach installers' logs and terminals.

/// The longest entry path accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Why an entry path is unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// The path is empty.
    #[error("it is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("it is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// The path is not UTF-8.
    #[error("it is not UTF-8")]
    NotUtf8,
    /// The path contains a NUL byte.
    #[error("it contains a NUL byte")]
    Nul,
    /// The path contains a control character other than NUL.
    #[error("it contains a control character")]
    ControlCharacter,
    /// The path contains `\`.
    #[error("it contains a backslash")]
    Backslash,
    /// The path starts with `/` or a drive letter.
    #[error("it is absolute")]
    Absolute,
    /// A component is `..`.
    #[error("it has a '..' component")]
    ParentComponent,
    /// A component is empty or `.`.
    #[error("it has an empty or '.' component")]
    NotNormalized,
    /// A component ends in `.` or a space, which Windows strips, so that
    /// `PKG-INFO.` lands on `PKG-INFO`.
    #[error("a component ends in '.' or a space, which Windows strips")]
    TrailingDotOrSpace,
}

/// Checks an entry path. A directory's single trailing `/` must already be
/// removed.
pub(crate) fn check(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathProblem::TooLong);
    }
    if path.contains('\0') {
        return Err(PathProblem::Nul);
    }
    if path.contains(|c: char| c.is_ascii_control()) {
        return Err(PathProblem::ControlCharacter);
    }
    if path.contains('\\') {
        return Err(PathProblem::Backslash);
    }
    let bytes = path.as_bytes();
    if bytes[0] == b'/' || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(PathProblem::Absolute);
    }
    for component in path.split('/') {
        match component {
            ".." => return Err(PathProblem::ParentComponent),
            "" | "." => return Err(PathProblem::NotNormalized),
            _ if component.ends_with(['.', ' ']) => return Err(PathProblem::TrailingDotOrSpace),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for ok in [
            "a",
            "a/b/c.py",
            "foo-1.0.dist-info/METADATA",
            "a/.hidden",
            "a/..b",
            "a/.b",
            "a/b c",
            "é/ü",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn unsafe_paths_are_refused_with_the_reason() {
        for (bad, problem) in [
            ("", PathProblem::Empty),
            ("/etc/passwd", PathProblem::Absolute),
            ("C:/x", PathProblem::Absolute),
            ("c:x", PathProblem::Absolute),
            ("../x", PathProblem::ParentComponent),
            ("a/../../x", PathProblem::ParentComponent),
            ("a/..", PathProblem::ParentComponent),
            ("a\\b", PathProblem::Backslash),
            ("..\\x", PathProblem::Backslash),
            ("a\0b", PathProblem::Nul),
            ("a\nb", PathProblem::ControlCharacter),
            ("a\u{1b}[31m", PathProblem::ControlCharacter),
            ("a\u{7f}", PathProblem::ControlCharacter),
            ("a//b", PathProblem::NotNormalized),
            ("./a", PathProblem::NotNormalized),
            ("a/./b", PathProblem::NotNormalized),
            ("a/", PathProblem::NotNormalized),
            ("a/b..", PathProblem::TrailingDotOrSpace),
            ("a/PKG-INFO.", PathProblem::TrailingDotOrSpace),
            ("a/PKG-INFO ", PathProblem::TrailingDotOrSpace),
            ("a./b", PathProblem::TrailingDotOrSpace),
            ("...", PathProblem::TrailingDotOrSpace),
        ] {
            assert_eq!(check(bad), Err(problem), "{bad:?}");
        }
        assert_eq!(check(&"a/".repeat(MAX_PATH_LEN)), Err(PathProblem::TooLong));
    }
}
