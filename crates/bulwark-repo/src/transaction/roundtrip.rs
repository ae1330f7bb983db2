//! Round trips: each transaction is built on the developer's side (`build`:
//! pages from inspected uploads and the verified previous page, roles
//! signed with real keys) and checked on the index's side (`check`), which
//! accepts it, or refuses it with the variant the mistake calls for.

use bulwark_pypi::{
    CoreMetadata, DistFilename, Inspected, ProjectPage, UploadTime, Version, render_json,
};
use bulwark_tuf::delegation::DelegatedRoles;
use bulwark_tuf::hash::{HashAlgorithm, sha256_hex};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, Targets};
use bulwark_tuf::{Refused, hex};

use super::tests::{DAY, NOW, ci_delegation, delegation, demo, key, keys_of};
use super::*;
use crate::page::{file_record, project_page};

const OLD: &str = "demo-1.0.tar.gz";
const OLD_WHEEL: &str = "demo-1.0-py3-none-any.whl";
const NEW: &str = "demo-2.0-py3-none-any.whl";
const NEW_SDIST: &str = "demo-2.0.tar.gz";

/// When the files of the unclaimed project were uploaded through twine.
const TWINE_US: i64 = 1_700_000_000_000_007;
/// When the developer's transaction uploads its files.
const RELEASE_US: i64 = 1_799_999_000_123_456;

fn release_time() -> UploadTime {
    UploadTime::from_unix_micros(RELEASE_US)
}

/// What `bulwark_pypi::inspect` returns for `filename` with `content`.
fn inspected(filename: &str, content: &[u8]) -> Inspected {
    let filename = DistFilename::parse(filename).unwrap();
    let metadata_bytes = format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: {}\nRequires-Python: >=3.9\n",
        filename.name().as_given(),
        filename.version()
    )
    .into_bytes();
    Inspected {
        metadata: CoreMetadata::parse(&metadata_bytes).unwrap(),
        metadata_bytes,
        sha256: sha256_hex(content),
        blake2b_256: hex::encode(&HashAlgorithm::Blake2b256.digest(content)),
        size: content.len() as u64,
        filename,
    }
}

/// The upload record of `filename`, whose content is its name.
fn upload(filename: &str) -> UploadedFile {
    UploadedFile::from(&inspected(filename, filename.as_bytes()))
}

/// The page of the unclaimed project as the index renders it from the
/// records of twine uploads, parsed back as a TUF client gets it.
fn twine_page(filenames: &[&str]) -> ProjectPage {
    let records: Vec<_> = filenames
        .iter()
        .map(|f| file_record(&upload(f), "alice", TWINE_US))
        .collect();
    let bytes = crate::page::render("demo", &records).unwrap();
    ProjectPage::parse_json(&bytes).unwrap()
}

/// A project as the index trusts it (its delegation, its published role
/// and page) and its developers' keys.
struct Project {
    keys: Vec<SigningKey>,
    threshold: u64,
    role: Option<Targets>,
    page: Option<ProjectPage>,
    nested: Option<Delegations>,
}

impl Project {
    /// A project whose bin published `page` (`None`: no such project yet),
    /// about to be claimed with `keys`, `threshold` of which must sign.
    fn unclaimed(page: Option<ProjectPage>, keys: Vec<SigningKey>, threshold: u64) -> Self {
        Self {
            keys,
            threshold,
            role: None,
            page,
            nested: None,
        }
    }

    /// A project claimed with one ed25519 key, with `files` from before.
    fn claimed(files: &[&str]) -> Self {
        let mut project = Self::unclaimed(Some(twine_page(files)), vec![key()], 1);
        let page = project.page.clone();
        project.offer(page.as_ref().unwrap(), &[], &[0]).unwrap();
        project
    }

    /// The page the developers verified: the index's published one.
    fn verified_page(&self) -> Option<&ProjectPage> {
        self.page.as_ref()
    }

    /// Version `version` of the role, as `bulwark upload` signs it for
    /// `page` with the keys `signers`: role bytes and page bytes.
    fn sign(&self, page: &ProjectPage, signers: &[usize], version: u64) -> (Vec<u8>, Vec<u8>) {
        let bytes = render_json(page);
        let keys: Vec<&SigningKey> = signers.iter().map(|&i| &self.keys[i]).collect();
        let role = sign_project_role(
            &demo(),
            version,
            NOW.plus_seconds(365 * DAY),
            &bytes,
            &keys,
            self.nested.clone(),
        )
        .unwrap();
        (role, bytes)
    }

    /// The index's check of `role` and `page` with the records of
    /// `uploads`; once accepted, they are what the index trusts.
    fn check(
        &mut self,
        role: &[u8],
        page: &[u8],
        uploads: &[UploadedFile],
    ) -> Result<VerifiedTransaction, TransactionRefused> {
        let previous = Previous {
            role: self.role.as_ref(),
            page: self.page.as_ref(),
            nested: &[],
        };
        let offered = Offered {
            role: Some(role),
            nested: &[],
            page,
            uploads,
        };
        let delegation = delegation(&self.keys, self.threshold);
        let verified = check(
            &delegation,
            previous,
            offered,
            NOW,
            &TransactionPolicy::default(),
        )?;
        self.role = verified.metadata().map(|m| m.signed.clone());
        self.page = Some(verified.page().clone());
        Ok(verified)
    }

    /// Signs `page` with `signers`, as the version after the trusted one,
    /// and offers it with `uploads`.
    fn offer(
        &mut self,
        page: &ProjectPage,
        uploads: &[UploadedFile],
        signers: &[usize],
    ) -> Result<VerifiedTransaction, TransactionRefused> {
        let (role, bytes) = self.sign(page, signers, next_role_version(self.role.as_ref()));
        self.check(&role, &bytes, uploads)
    }

    /// Builds the next page from the verified one and `uploads`, signs it
    /// with the first key and offers it.
    fn release(&mut self, uploads: &[UploadedFile]) -> VerifiedTransaction {
        let page = built(self.verified_page(), uploads);
        self.offer(&page, uploads, &[0]).unwrap()
    }
}

/// The next page of `demo` after `previous`, the uploads at the release
/// time.
fn built(previous: Option<&ProjectPage>, uploads: &[UploadedFile]) -> ProjectPage {
    next_page(&demo(), previous, uploads, release_time()).unwrap()
}

fn filenames(files: &[PageFile]) -> Vec<&str> {
    files.iter().map(|f| f.filename.as_str()).collect()
}

// Accepted.

#[test]
fn claim_signs_version_1_of_the_published_page() {
    let published = twine_page(&[OLD, OLD_WHEEL]);
    let mut project = Project::unclaimed(Some(published.clone()), vec![key()], 1);
    let page = built(project.verified_page(), &[]);
    assert_eq!(page, published);
    let verified = project.offer(&page, &[], &[0]).unwrap();
    assert_eq!(verified.version(), 1);
    assert!(verified.added().is_empty() && verified.yank_changed().is_empty());
    // The claimed page is byte for byte the page the index served before.
    let records = [
        file_record(&upload(OLD), "alice", TWINE_US),
        file_record(&upload(OLD_WHEEL), "alice", TWINE_US),
    ];
    let served = crate::page::render("demo", &records).unwrap();
    assert_eq!(verified.page_length(), served.len() as u64);
    assert_eq!(verified.page_sha256(), sha256_hex(&served));
}

#[test]
fn first_release_of_a_new_project_claims_it() {
    let mut project = Project::unclaimed(None, vec![key()], 1);
    let uploads = [upload(NEW), upload(NEW_SDIST)];
    let verified = project.release(&uploads);
    assert_eq!(verified.version(), 1);
    assert_eq!(filenames(verified.added()), [NEW, NEW_SDIST]);
    // What the index stores for the files renders to the signed page: its
    // live page is the developer's, byte for byte.
    let records: Vec<_> = uploads
        .iter()
        .map(|u| file_record(u, "bob", RELEASE_US))
        .collect();
    assert_eq!(
        project_page("demo", &records).unwrap(),
        *verified.page(),
        "the records the index stores describe the signed page"
    );
    assert_eq!(
        sha256_hex(&crate::page::render("demo", &records).unwrap()),
        verified.page_sha256()
    );
    // The wheel serves core metadata, the sdist does not (one rule, in
    // `Inspected::core_metadata_sha256`).
    let page = verified.page();
    assert!(page.files[1].core_metadata_sha256.is_none());
    assert_eq!(
        page.files[0].core_metadata_sha256,
        inspected(NEW, NEW.as_bytes()).core_metadata_sha256()
    );
}

#[test]
fn release_adds_files_to_the_verified_page() {
    let mut project = Project::claimed(&[OLD]);
    let before = project.verified_page().unwrap().files[0].clone();
    let verified = project.release(&[upload(NEW_SDIST), upload(NEW)]);
    assert_eq!(verified.version(), 2);
    assert_eq!(filenames(verified.added()), [NEW, NEW_SDIST]);
    assert!(
        verified
            .added()
            .iter()
            .all(|f| f.upload_time == release_time() && f.yanked.is_none())
    );
    assert_eq!(verified.page().files.len(), 3);
    assert!(verified.page().files.contains(&before));
    // And the next release follows it.
    let third = project.release(&[upload(OLD_WHEEL)]);
    assert_eq!(third.version(), 3);
    assert_eq!(filenames(third.added()), [OLD_WHEEL]);
}

#[test]
fn identical_reupload_is_a_no_op() {
    let mut project = Project::claimed(&[OLD]);
    let previous = project.verified_page().unwrap().clone();
    let again = [upload(OLD)];
    let page = built(Some(&previous), &again);
    assert_eq!(page, previous, "the upload time of the listed file stays");
    let verified = project.offer(&page, &again, &[0]).unwrap();
    assert!(verified.added().is_empty());
}

#[test]
fn different_file_under_a_listed_filename_is_refused() {
    let project = Project::claimed(&[OLD]);
    let other = UploadedFile::from(&inspected(OLD, b"other bytes"));
    assert_eq!(
        next_page(&demo(), project.verified_page(), &[other], release_time()),
        Err(BuildError::FileExists {
            filename: OLD.to_owned(),
            field: "sha256"
        })
    );
}

#[test]
fn yank_and_unyank_act_on_every_file_of_the_release() {
    let mut project = Project::claimed(&[OLD, OLD_WHEEL, NEW]);
    // `1.0.0` is release `1.0` (PEP 440).
    let version = Version::parse("1.0.0").unwrap();
    let page = yank_page(project.verified_page().unwrap(), &version, Some("broken")).unwrap();
    let verified = project.offer(&page, &[], &[0]).unwrap();
    assert_eq!(filenames(verified.yank_changed()), [OLD_WHEEL, OLD]);
    assert!(
        verified
            .yank_changed()
            .iter()
            .all(|f| f.yanked.as_deref() == Some("broken"))
    );
    let page = verified.page();
    assert!(
        page.files
            .iter()
            .any(|f| f.filename.as_str() == NEW && f.yanked.is_none())
    );

    let page = unyank_page(project.verified_page().unwrap(), &version).unwrap();
    let verified = project.offer(&page, &[], &[0]).unwrap();
    assert_eq!(verified.version(), 3);
    assert_eq!(filenames(verified.yank_changed()), [OLD_WHEEL, OLD]);
    assert!(verified.page().files.iter().all(|f| f.yanked.is_none()));

    // A yank without a reason is `"yanked": true`.
    let page = yank_page(project.verified_page().unwrap(), &version, None).unwrap();
    let bytes = String::from_utf8(render_json(&page)).unwrap();
    assert_eq!(bytes.matches("\"yanked\":true").count(), 2, "{bytes}");
    assert!(project.offer(&page, &[], &[0]).is_ok());

    let missing = Version::parse("3.0").unwrap();
    assert_eq!(
        yank_page(project.verified_page().unwrap(), &missing, None),
        Err(BuildError::NoSuchRelease {
            version: "3.0".to_owned()
        })
    );
}

#[test]
fn two_of_three_developers_sign() {
    let mut project = Project::unclaimed(Some(twine_page(&[OLD])), vec![key(), key(), key()], 2);
    let page = project.page.clone().unwrap();
    assert!(project.offer(&page, &[], &[0, 2]).is_ok());
    let page = built(project.verified_page(), &[upload(NEW)]);
    assert_eq!(
        project
            .offer(&page, &[upload(NEW)], &[2, 1])
            .unwrap()
            .version(),
        2
    );
}

#[test]
fn ecdsa_developer_keys_sign() {
    let ecdsa = || SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    let mut project = Project::unclaimed(None, vec![ecdsa()], 1);
    assert_eq!(project.release(&[upload(NEW)]).version(), 1);
    // Mixed with ed25519, two of two.
    let mut mixed = Project::unclaimed(None, vec![ecdsa(), key()], 2);
    let page = built(None, &[upload(NEW)]);
    assert!(mixed.offer(&page, &[upload(NEW)], &[0, 1]).is_ok());
}

#[test]
fn nested_ci_delegation_is_signed_as_given() {
    let ci = key();
    let nested = ci_delegation(&keys_of(&[&ci]), "project-demo.ci", "simple/demo/*", 1);
    let mut project = Project::claimed(&[OLD]);
    project.nested = Some(nested);
    let verified = project.release(&[upload(NEW)]);
    let signed = verified
        .metadata()
        .unwrap()
        .signed
        .delegations
        .as_ref()
        .unwrap();
    let DelegatedRoles::List(roles) = &signed.roles else {
        panic!("not a list of roles");
    };
    let [role] = roles.as_slice() else {
        panic!("{roles:?}");
    };
    assert_eq!(role.name.as_str(), "project-demo.ci");
    assert_eq!(role.keys.keyids, [ci.key_id()]);
    assert!(role.paths.matches("simple/demo/index.json"));
    assert_eq!(signed.keys.keys().collect::<Vec<_>>(), [&ci.key_id()]);
}

#[test]
fn project_role_lists_exactly_the_page() {
    let page = b"{\"files\":[]}";
    let (a, b) = (key(), key());
    let expires = NOW.plus_seconds(DAY);
    let bytes = sign_project_role(&demo(), 4, expires, page, &[&a, &b], None).unwrap();
    let role = Envelope::<Targets>::parse(&bytes).unwrap();
    assert_eq!(role.signed.common.version, 4);
    assert_eq!(role.signed.common.expires, expires);
    assert!(role.signed.delegations.is_none());
    let listed: Vec<_> = role.signed.targets.iter().collect();
    assert_eq!(listed.len(), 1);
    let (path, file) = listed[0];
    assert_eq!(path, "simple/demo/index.json");
    assert_eq!(file.length, page.len() as u64);
    assert_eq!(
        file.hashes,
        BTreeMap::from([("sha256".to_owned(), sha256_hex(page))])
    );
    let signers: Vec<_> = role.signatures.iter().map(|s| s.keyid.clone()).collect();
    assert_eq!(signers, [a.key_id(), b.key_id()]);
    assert_eq!(next_role_version(None), 1);
    assert_eq!(next_role_version(Some(&role.signed)), 5);
}

#[test]
fn next_page_refuses_what_is_not_this_projects() {
    let other = ProjectName::parse("other").unwrap();
    let previous = twine_page(&[OLD]);
    assert_eq!(
        next_page(&other, Some(&previous), &[], release_time()),
        Err(BuildError::PreviousOfOtherProject {
            project: "other".to_owned(),
            found: "demo".to_owned()
        })
    );
    assert_eq!(
        next_page(&other, None, &[upload(NEW)], release_time()),
        Err(BuildError::OtherProject {
            filename: NEW.to_owned(),
            project: "other".to_owned()
        })
    );
    assert_eq!(
        next_page(&demo(), None, &[upload(NEW), upload(NEW)], release_time()),
        Err(BuildError::UploadedTwice {
            filename: NEW.to_owned()
        })
    );
}

// Refused: the round trip can fail.

/// The page problem `result` was refused for.
fn page_problem(result: Result<VerifiedTransaction, TransactionRefused>) -> PageProblem {
    match result {
        Err(TransactionRefused::Page(problem)) => problem,
        other => panic!("expected a page refusal, got {other:?}"),
    }
}

fn dropped(filename: &str) -> PageProblem {
    PageProblem::Dropped {
        filename: filename.to_owned(),
    }
}

#[test]
fn claim_of_a_stale_page_is_refused() {
    // The owner verified the page with OLD; a twine upload of NEW was
    // published before the claim arrived.
    let verified = twine_page(&[OLD]);
    let mut project = Project::unclaimed(Some(twine_page(&[OLD, NEW])), vec![key()], 1);
    let page = built(Some(&verified), &[]);
    let refusal = project.offer(&page, &[], &[0]);
    assert_eq!(page_problem(refusal), dropped(NEW));
}

#[test]
fn release_built_on_an_older_version_is_refused() {
    // Two maintainers start from version 1; the first one's release lands.
    let mut project = Project::claimed(&[OLD]);
    let stale_role = project.role.clone();
    let stale_page = project.page.clone();
    project.release(&[upload(NEW)]);
    let page = built(stale_page.as_ref(), &[upload(NEW_SDIST)]);
    // Signed as the version after the one the second maintainer saw.
    let (role, bytes) = project.sign(&page, &[0], next_role_version(stale_role.as_ref()));
    let refusal = project.check(&role, &bytes, &[upload(NEW_SDIST)]);
    assert!(
        matches!(
            refusal,
            Err(TransactionRefused::Version {
                offered: 2,
                required: RequiredVersion::After(2)
            })
        ),
        "{refusal:?}"
    );
    // Signed as version 3, it still drops the first one's file.
    let refusal = project.offer(&page, &[upload(NEW_SDIST)], &[0]);
    assert_eq!(page_problem(refusal), dropped(NEW));
}

#[test]
fn a_changed_file_is_refused() {
    // The developer signed the page for one file; the bytes the index
    // received and inspected under that filename are others.
    let mut project = Project::claimed(&[OLD]);
    let page = built(project.verified_page(), &[upload(NEW)]);
    let received = UploadedFile::from(&inspected(NEW, b"tampered"));
    let refusal = project.offer(&page, &[received], &[0]);
    assert_eq!(
        page_problem(refusal),
        PageProblem::UploadDiffers {
            filename: NEW.to_owned(),
            field: "sha256"
        }
    );
}

#[test]
fn a_missing_signature_is_refused() {
    let mut project = Project::unclaimed(Some(twine_page(&[OLD])), vec![key(), key(), key()], 2);
    let page = project.page.clone().unwrap();
    for (signers, valid) in [(&[1][..], 1), (&[], 0)] {
        let refusal = project.offer(&page, &[], signers).unwrap_err();
        assert!(
            matches!(
                refusal,
                TransactionRefused::Threshold(Refused::BelowThreshold { valid: v, threshold: 2, .. })
                    if v == valid
            ),
            "{signers:?}: {refusal:?}"
        );
    }
    // A key the project did not register counts for nothing.
    let stranger = key();
    let bytes = render_json(&page);
    let role = sign_project_role(
        &demo(),
        1,
        NOW.plus_seconds(DAY),
        &bytes,
        &[&stranger, &project.keys[0]],
        None,
    )
    .unwrap();
    assert!(matches!(
        project.check(&role, &bytes, &[]),
        Err(TransactionRefused::Threshold(Refused::BelowThreshold {
            valid: 1,
            ..
        }))
    ));
}
