//! Content negotiation for the simple API (PEP 691): `Accept` picks JSON or
//! HTML; with no `Accept` the answer is HTML, and when nothing offered is
//! acceptable the answer is 406.

use axum::http::{HeaderMap, StatusCode, header};

use crate::error::ApiError;

/// A serialisation of the simple API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PEP 691 JSON.
    Json,
    /// PEP 503 HTML.
    Html,
}

/// The content type a response in `format` is sent with, given the media
/// type the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The serialisation.
    pub format: Format,
    /// The `Content-Type`.
    pub content_type: &'static str,
}

const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
const TEXT_HTML: &str = "text/html; charset=utf-8";

fn candidate(media: &str) -> Option<Chosen> {
    let chosen = |format, content_type| {
        Some(Chosen {
            format,
            content_type,
        })
    };
    match media {
        "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => {
            chosen(Format::Json, JSON_V1)
        }
        "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => {
            chosen(Format::Html, HTML_V1)
        }
        "text/html" | "text/*" | "*/*" => chosen(Format::Html, TEXT_HTML),
        _ => None,
    }
}

/// Picks the response format for an `Accept` header: the acceptable media
/// type with the highest quality, the earliest listed among equals.
#[must_use]
pub fn negotiate(accept: Option<&str>) -> Option<Chosen> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Chosen {
            format: Format::Html,
            content_type: TEXT_HTML,
        });
    };
    let mut best: Option<(u32, Chosen)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut quality = 1000;
        for param in parts {
            if let Some(q) = param.trim().strip_prefix("q=") {
                quality = parse_quality(q.trim()).unwrap_or(0);
            }
        }
        if quality == 0 {
            continue;
        }
        if let Some(chosen) = candidate(&media)
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, chosen));
        }
    }
    best.map(|(_, chosen)| chosen)
}

/// The format the request's `Accept` asks for, or 406 naming what is
/// offered.
pub fn chosen(headers: &HeaderMap) -> Result<Chosen, ApiError> {
    negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: ask for application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html or text/html",
        )
    })
}

/// A quality value in thousandths (`0.5` → 500), per RFC 9110 §12.4.2.
fn parse_quality(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u32>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_quality_then_order() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)).unwrap().format, Format::Json);
        let html_first = "text/html, application/vnd.pypi.simple.v1+json";
        assert_eq!(negotiate(Some(html_first)).unwrap().format, Format::Html);
        let json_preferred = "text/html;q=0.5, application/vnd.pypi.simple.latest+json";
        assert_eq!(
            negotiate(Some(json_preferred)).unwrap().content_type,
            JSON_V1
        );
        assert_eq!(negotiate(None).unwrap().content_type, TEXT_HTML);
        assert_eq!(negotiate(Some("*/*")).unwrap().format, Format::Html);
    }

    #[test]
    fn nothing_acceptable_is_none() {
        assert_eq!(negotiate(Some("application/json")), None);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0")),
            None
        );
        assert_eq!(negotiate(Some("application/vnd.pypi.simple.v2+json")), None);
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.25"), Some(250));
    }

    #[test]
    fn chosen_refuses_with_406_naming_what_is_offered() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "application/json".parse().unwrap());
        let error = chosen(&headers).unwrap_err();
        assert_eq!(error.status(), StatusCode::NOT_ACCEPTABLE);
        assert!(
            error
                .reason()
                .contains("application/vnd.pypi.simple.v1+json")
        );
        assert_eq!(chosen(&HeaderMap::new()).unwrap().content_type, TEXT_HTML);
    }
}
