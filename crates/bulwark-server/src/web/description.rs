//! A release's description (core metadata `Description`, by its
//! `Description-Content-Type`), made safe to show: anyone who can upload
//! writes it, so nothing executable may reach the page.
//!
//! ```text
//! text/markdown  ─▶ pulldown-cmark (CommonMark + GFM tables, strikethrough, task lists;
//!                   headings two levels down, under the page's own)
//!                ─▶ ammonia (allow-list sanitiser) ─▶ SanitizedHtml
//! text/x-rst, text/plain, absent, anything else ─▶ Preformatted (escaped by the template)
//! ```
//!
//! reStructuredText is shown as preformatted text: the Rust RST crates
//! (`rst_parser`/`rst_renderer`) are unmaintained and incomplete, and a
//! wrong rendering is worse than the source, which RST is written to be
//! readable as. The page's Content-Security-Policy forbids scripts too, a
//! second line behind the sanitiser.

use std::fmt;

/// HTML that went through the sanitiser: the only kind of string a
/// template may insert unescaped (`|safe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SanitizedHtml(String);

impl fmt::Display for SanitizedHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A description as the project page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Description {
    /// Markdown rendered to HTML, sanitised.
    Html(SanitizedHtml),
    /// Anything else, as text (the template escapes it).
    Preformatted(String),
}

/// Whether a `Description-Content-Type` names Markdown: its media type
/// (before any `;` parameter, such as `charset` or `variant`), compared
/// case-insensitively, is `text/markdown` (core metadata 2.1).
fn is_markdown(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/markdown"))
}

/// `text` shown as its `content_type` says.
#[must_use]
pub fn render(text: &str, content_type: Option<&str>) -> Description {
    if is_markdown(content_type) {
        Description::Html(markdown(text))
    } else {
        Description::Preformatted(text.to_owned())
    }
}

/// A description's heading level on the page: two below its own, as the
/// description sits under the page's `h1` and its `h2` "Description", so
/// that headings keep their order (`h1` becomes `h3`; `h5` and `h6` become
/// `h6`).
fn demoted(level: pulldown_cmark::HeadingLevel) -> pulldown_cmark::HeadingLevel {
    use pulldown_cmark::HeadingLevel::{H1, H2, H3, H4, H5, H6};
    match level {
        H1 => H3,
        H2 => H4,
        H3 => H5,
        H4 | H5 | H6 => H6,
    }
}

/// Markdown to sanitised HTML. Raw HTML in the Markdown passes through
/// pulldown-cmark and is then cleaned by ammonia's allow-list: no `script`,
/// `style` or `iframe`, no `on*` attribute, only `http`, `https` and
/// `mailto` URLs (and relative ones), links get `rel="noopener noreferrer
/// nofollow"`. Images are dropped: the page loads nothing from elsewhere,
/// so that it works offline and tells no third party who looked.
fn markdown(text: &str) -> SanitizedHtml {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut unsafe_html = String::with_capacity(text.len() * 3 / 2);
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: demoted(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demoted(level))),
        other => other,
    });
    html::push_html(&mut unsafe_html, events);
    let clean = ammonia::Builder::default()
        .rm_tags(["img"])
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string();
    SanitizedHtml(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(text: &str) -> String {
        match render(text, Some("text/markdown; charset=UTF-8; variant=GFM")) {
            Description::Html(html) => html.to_string(),
            Description::Preformatted(text) => panic!("not rendered: {text}"),
        }
    }

    #[test]
    fn markdown_is_rendered() {
        let out =
            html("# Title\n\nSome *emphasis* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(out.contains("<h3>Title</h3>"), "{out}");
        assert!(out.contains("<em>emphasis</em>"), "{out}");
        assert!(out.contains("<code>code</code>"), "{out}");
        assert!(out.contains("<table>"), "{out}");
    }

    #[test]
    fn nothing_executable_survives_markdown() {
        let attack = concat!(
            "Hello <script>alert('x')</script>\n\n",
            "[click](javascript:alert('link'))\n\n",
            "<a href=\"javascript:alert('raw')\">raw</a>\n\n",
            "<img src=x onerror=\"alert('img')\">\n\n",
            "<p onclick=\"alert('p')\" style=\"color:red\">para</p>\n\n",
            "<iframe src=\"https://evil.example/\"></iframe>\n\n",
            "<svg><script>alert('svg')</script></svg>\n\n",
            "<a href=\"JaVaScRiPt:alert('case')\">case</a>\n\n",
            "<a href=\"data:text/html,<script>alert(1)</script>\">data</a>\n\n",
            "<form action=\"https://evil.example/\"><input name=x></form>\n\n",
            "[ok](https://example.org/)\n",
        );
        let out = html(attack);
        let lower = out.to_ascii_lowercase();
        for forbidden in [
            "<script",
            "javascript:",
            "onerror",
            "onclick",
            "<iframe",
            "<img",
            "<svg",
            "data:",
            "<form",
            "<input",
            "style=",
            "alert(",
        ] {
            assert!(!lower.contains(forbidden), "{forbidden} survived in {out}");
        }
        assert!(
            out.contains(
                "<a href=\"https://example.org/\" rel=\"noopener noreferrer nofollow\">ok</a>"
            ),
            "{out}"
        );
        assert!(out.contains("Hello"), "{out}");
    }

    #[test]
    fn other_content_types_are_preformatted_text() {
        for content_type in [
            None,
            Some("text/x-rst"),
            Some("text/plain"),
            Some("text/html"),
        ] {
            let text = "Title\n=====\n\n<script>alert(1)</script>";
            assert_eq!(
                render(text, content_type),
                Description::Preformatted(text.to_owned()),
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn the_markdown_media_type_is_read_without_parameters_and_case() {
        assert!(is_markdown(Some("TEXT/Markdown")));
        assert!(is_markdown(Some(" text/markdown ; variant=CommonMark")));
        assert!(!is_markdown(Some("text/markdownx")));
        assert!(!is_markdown(Some("")));
        assert!(!is_markdown(None));
    }
}
