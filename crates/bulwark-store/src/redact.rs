//! Store URLs as messages may show them: the one place that decides what of
//! a `postgres://` or `s3://` URL (or any other) is safe to log.

/// `url` for messages: without its user information (`scheme://***@host`;
/// it may hold a password, or a token as the user name) and without its
/// query and fragment (which may hold `password=`). The scheme, host and
/// path stay, so a message still says which store it means.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn user_information_query_and_fragment_never_reach_a_message() {
        for (url, shown) in [
            ("s3://id:secret@bucket/p", "s3://***@bucket/p"),
            ("id:secret@bucket", "***@bucket"),
            ("s3://bucket/p@q", "s3://bucket/p@q"),
            ("postgres://u:secret@db:5432/x", "postgres://***@db:5432/x"),
            ("postgres://token@db/x", "postgres://***@db/x"),
            ("postgres://db/x?user=u&password=secret", "postgres://db/x"),
            ("postgres://u:p@ss@db/x", "postgres://***@db/x"),
            ("postgres://db/x#password=secret", "postgres://db/x"),
            ("mysql://db", "mysql://db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
