//! `GET /search?q=`: projects by name. The query is normalised as PEP 503
//! normalises names (lowercase, runs of `-`, `_` and `.` become one `-`),
//! so `Foo_Bar` finds `foo-bar`; names that start with it come first, then
//! names that contain it, at most [`MAX_RESULTS`].

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bulwark_http::{ApiError, blocking};

use crate::AppState;

/// The most projects one search lists.
pub const MAX_RESULTS: usize = 50;

/// The longest query taken: longer than any project name.
pub const MAX_QUERY_CHARS: usize = 200;

/// Why a query finds nothing without being looked up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryProblem {
    /// Nothing but blanks.
    #[error("Type a project name, or part of one, to search.")]
    Empty,
    /// Longer than [`MAX_QUERY_CHARS`].
    #[error("The query is too long: at most {MAX_QUERY_CHARS} characters.")]
    TooLong,
    /// A character no project name has.
    #[error("Project names hold only letters, digits, “-”, “_” and “.”: no project matches “{0}”.")]
    NotAName(String),
}

/// `query` normalised for [`bulwark_store::StateStore::search_projects`]:
/// trimmed, lowercased, and every run of `-`, `_` and `.` made one `-`
/// (PEP 503).
pub fn normalize(query: &str) -> Result<String, QueryProblem> {
    let query = query.trim();
    if query.is_empty() {
        return Err(QueryProblem::Empty);
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryProblem::TooLong);
    }
    let mut out = String::with_capacity(query.len());
    for c in query.chars() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            '-' | '_' | '.' => {
                if !out.ends_with('-') {
                    out.push('-');
                }
            }
            _ => return Err(QueryProblem::NotAName(query.to_owned())),
        }
    }
    Ok(out)
}

/// One project found.
struct Found {
    project: String,
    display_name: String,
    /// Its name starts with the query (else contains it).
    prefix: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct Search {
    query: String,
    normalized: String,
    summary: String,
    results: Vec<Found>,
}

/// What a search found, as the page says it.
fn summary(normalized: &str, found: usize, more: bool) -> String {
    match (found, more) {
        (0, _) => format!("No project name contains “{normalized}”."),
        (1, false) => format!("1 project matches “{normalized}”."),
        (n, false) => format!("{n} projects match “{normalized}”."),
        (n, true) => format!(
            "More than {n} projects match “{normalized}”; showing the first {n}. Type more of the name to narrow it down."
        ),
    }
}

/// `GET /search?q=`. The query string is read as pairs, so that a second
/// `q` or another parameter is no error: the first `q` is the query, and
/// none is an empty one.
pub async fn search(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let q = pairs
        .into_iter()
        .find_map(|(key, value)| (key == "q").then_some(value))
        .unwrap_or_default();
    let (normalized, summary, results) = match normalize(&q) {
        Err(problem) => (String::new(), problem.to_string(), Vec::new()),
        Ok(normalized) => {
            let (store, wanted) = (state.store.clone(), normalized.clone());
            let mut found = blocking(move || store.search_projects(&wanted, MAX_RESULTS + 1))
                .await
                .map_err(|e| ApiError::internal("searching projects", &e))?;
            let more = found.len() > MAX_RESULTS;
            found.truncate(MAX_RESULTS);
            let results: Vec<Found> = found
                .into_iter()
                .map(|p| Found {
                    prefix: p.name.starts_with(&normalized),
                    project: p.name,
                    display_name: p.display_name,
                })
                .collect();
            (
                normalized.clone(),
                summary(&normalized, results.len(), more),
                results,
            )
        }
    };
    let page = Search {
        query: q,
        normalized,
        summary,
        results,
    };
    super::respond(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_normalized_as_names_are() {
        assert_eq!(normalize("  Foo_Bar.baz "), Ok("foo-bar-baz".to_owned()));
        assert_eq!(normalize("a--__..b"), Ok("a-b".to_owned()));
        assert_eq!(normalize("REQ"), Ok("req".to_owned()));
        assert_eq!(normalize("_"), Ok("-".to_owned()));
    }

    #[test]
    fn odd_queries_are_refused_with_a_reason() {
        assert_eq!(normalize(""), Err(QueryProblem::Empty));
        assert_eq!(normalize(" \t "), Err(QueryProblem::Empty));
        assert_eq!(normalize(&"a".repeat(201)), Err(QueryProblem::TooLong));
        assert!(normalize(&"a".repeat(200)).is_ok());
        for odd in [
            "a b",
            "%",
            "<script>",
            "ünï",
            "a/b",
            "'; DROP TABLE projects",
        ] {
            assert_eq!(
                normalize(odd),
                Err(QueryProblem::NotAName(odd.trim().to_owned())),
                "{odd}"
            );
        }
    }

    #[test]
    fn summaries_count_and_say_when_cut() {
        assert_eq!(summary("x", 0, false), "No project name contains “x”.");
        assert_eq!(summary("x", 1, false), "1 project matches “x”.");
        assert_eq!(summary("x", 7, false), "7 projects match “x”.");
        assert!(summary("x", 50, true).starts_with("More than 50 projects match"));
    }
}
