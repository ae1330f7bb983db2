//! Which release an upload belongs to, checked before anything is stored:
//! the form's `name` and `version` must name the file's project and release,
//! compared as PEP 503 and PEP 440 compare them (twine sends the version of
//! the metadata, `1.4.0`, for `tw_ver-1.4-py3-none-any.whl`), and a local
//! version is refused unless the index allows them. Whether the release
//! already has the file is the store's to decide, in the transaction that
//! records it (`bulwark_store::FileIdentity`).

use bulwark_http::ApiError;
use bulwark_pypi::{DistFilename, ProjectName, Version};

/// A local version offered to an index that does not accept them.
#[derive(Debug, thiserror::Error)]
#[error(
    "Local versions such as {0} are not accepted by this index; \
     set allow_local_versions = true (BULWARK_ALLOW_LOCAL_VERSIONS) to accept them"
)]
pub struct LocalVersionRefused(String);

/// Refuses a local version (`1.0+local`) unless `allow_local`. PEP 440
/// ("Local version identifiers"): public indexes should not accept them,
/// and `PyPI` does not; a private index may (`allow_local_versions`). Used
/// by the upload endpoint, developer transactions and `bulwark import`.
pub fn check_local(version: &Version, allow_local: bool) -> Result<(), LocalVersionRefused> {
    if version.is_local() && !allow_local {
        return Err(LocalVersionRefused(version.to_string()));
    }
    Ok(())
}

/// The release checks of an upload of `filename`, with the form's `name`
/// and `version` fields when twine sent them.
pub fn check_upload(
    filename: &DistFilename,
    form_name: Option<&str>,
    form_version: Option<&str>,
    allow_local: bool,
) -> Result<(), ApiError> {
    let project = filename.name();
    if let Some(name) = form_name
        && ProjectName::parse(name).ok().as_ref() != Some(project)
    {
        return Err(ApiError::bad_request(format!(
            "Form name {name:?} does not match the file's project {}",
            project.normalized()
        )));
    }
    let version = filename.version();
    // PEP 440 "Version matching": the release segment is zero-padded, so
    // `1.4.0` names release `1.4`; the canonical forms are equal exactly then.
    if let Some(form_version) = form_version
        && Version::parse(form_version).ok().map(|v| v.canonical()) != Some(version.canonical())
    {
        return Err(ApiError::bad_request(format!(
            "Form version {form_version:?} does not match the file's version {version}"
        )));
    }
    check_local(version, allow_local).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filename(s: &str) -> DistFilename {
        DistFilename::parse(s).unwrap()
    }

    #[test]
    fn form_versions_are_compared_as_pep440() {
        let wheel = filename("tw_ver-1.4-py3-none-any.whl");
        for same in ["1.4", "1.4.0", "v1.4", "1.4.0.0"] {
            assert!(
                check_upload(&wheel, None, Some(same), false).is_ok(),
                "{same}"
            );
        }
        for other in ["1.4.1", "1.4+local", "1.4.post0", "banana"] {
            assert!(
                check_upload(&wheel, None, Some(other), false).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn form_names_are_compared_normalized() {
        let sdist = filename("Foo_Bar-1.0.tar.gz");
        for same in ["foo-bar", "FOO.BAR", "foo__bar"] {
            assert!(
                check_upload(&sdist, Some(same), None, false).is_ok(),
                "{same}"
            );
        }
        for other in ["foobar", "foo bar"] {
            assert!(
                check_upload(&sdist, Some(other), None, false).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn local_versions_need_the_setting() {
        let local = filename("demo-1.0+Ubuntu.1-py3-none-any.whl");
        let refused = check_upload(&local, None, None, false).unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST);
        let message = check_local(local.version(), false).unwrap_err().to_string();
        assert!(message.contains("1.0+ubuntu.1") && message.contains("allow_local_versions"));
        assert!(check_upload(&local, Some("demo"), Some("1.0+ubuntu.1"), true).is_ok());
        assert!(check_local(filename("demo-1.0.tar.gz").version(), false).is_ok());
    }
}
