//! PEP 503 HTML pages (with the PEP 629 version meta tag and the PEP 592,
//! 658 and 714 link attributes), for clients that do not speak JSON. Not
//! signed, but rendered from the same data as the JSON page and just as
//! deterministic.

use std::fmt::Write as _;

use super::json::sorted_unique;
use super::{API_VERSION, ProjectPage};
use crate::name::ProjectName;

/// The project page as PEP 503 HTML 5: one `<a>` per file, sorted by
/// filename, with `href="{url}#sha256={hash}"`, `data-requires-python`,
/// `data-yanked`, `data-core-metadata` and `data-dist-info-metadata`.
#[must_use]
pub fn render_html(page: &ProjectPage) -> String {
    let mut out = String::with_capacity(256 + page.files.len() * 256);
    let name = escape(page.name.as_given());
    head(&mut out, &format!("Links for {name}"));
    let _ = writeln!(out, "    <h1>Links for {name}</h1>");
    for file in page.sorted_files() {
        let _ = write!(
            out,
            "    <a href=\"{}#sha256={}\"",
            escape(&file.url),
            escape(&file.sha256)
        );
        if let Some(requires_python) = &file.requires_python {
            let _ = write!(out, " data-requires-python=\"{}\"", escape(requires_python));
        }
        if let Some(reason) = &file.yanked {
            let _ = write!(out, " data-yanked=\"{}\"", escape(reason));
        }
        if let Some(sha256) = &file.core_metadata_sha256 {
            let sha256 = escape(sha256);
            let _ = write!(
                out,
                " data-core-metadata=\"sha256={sha256}\" data-dist-info-metadata=\"sha256={sha256}\""
            );
        }
        let _ = writeln!(out, ">{}</a><br>", escape(file.filename.as_str()));
    }
    tail(&mut out);
    out
}

/// The project list as PEP 503 HTML 5: one `<a href="{normalized}/">` per
/// project, sorted and de-duplicated by normalized name, text as given.
#[must_use]
pub fn render_index_html(names: &[ProjectName]) -> String {
    let mut out = String::with_capacity(256 + names.len() * 64);
    head(&mut out, "Simple index");
    for name in sorted_unique(names) {
        let _ = writeln!(
            out,
            "    <a href=\"{}/\">{}</a><br>",
            escape(name.normalized()),
            escape(name.as_given())
        );
    }
    tail(&mut out);
    out
}

fn head(out: &mut String, title: &str) {
    out.push_str("<!DOCTYPE html>\n<html>\n  <head>\n");
    let _ = writeln!(
        out,
        "    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">"
    );
    let _ = writeln!(out, "    <title>{title}</title>\n  </head>\n  <body>");
}

fn tail(out: &mut String) {
    out.push_str("  </body>\n</html>\n");
}

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values; control characters other than tab and newline become
/// numeric references so that no raw control byte reaches the page.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "&#x{:x};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(escape(">=3.8, <4"), "&gt;=3.8, &lt;4");
        assert_eq!(
            escape("a\u{0}b\u{1b}c\u{7f}\td\n"),
            "a&#x0;b&#x1b;c&#x7f;\td\n"
        );
        assert_eq!(escape("ünïcode"), "ünïcode");
    }
}
