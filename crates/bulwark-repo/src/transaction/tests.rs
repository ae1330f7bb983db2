//! One test per check of `check`, named after its rule: each builds a valid
//! transaction signed with real ed25519 keys, breaks exactly that rule and
//! asserts the refusal; plus the accepted transactions and a test feeding
//! mutated and garbage bytes.

use std::collections::BTreeMap;

use bulwark_pypi::{DistFilename, PageError, PageFile, ProjectName, ProjectPage, UploadTime};
use bulwark_tuf::Refused;
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::{HashAlgorithm, Mismatch, sha256_hex};
use bulwark_tuf::hex;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Common, Envelope, Key, RoleKeys, TargetFile, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::*;
use crate::layout::file_url;

pub(super) const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
pub(super) const DAY: i64 = 86_400;

pub(super) fn key() -> SigningKey {
    SigningKey::generate(Algorithm::Ed25519).unwrap()
}

pub(super) fn keys_of(keys: &[&SigningKey]) -> BTreeMap<String, Key> {
    keys.iter()
        .map(|k| {
            let id = k.key_id();
            let key = Key::from_value(&id, &k.public_key_object(), "key").unwrap();
            (id, key)
        })
        .collect()
}

pub(super) fn demo() -> ProjectName {
    ProjectName::parse("demo").unwrap()
}

/// A file of the page, with digests derived from `filename`.
pub(super) fn file(filename: &str) -> PageFile {
    let sha256 = sha256_hex(filename.as_bytes());
    let parsed = DistFilename::parse(filename).unwrap();
    PageFile {
        core_metadata_sha256: parsed
            .is_wheel()
            .then(|| sha256_hex(format!("{filename}.metadata").as_bytes())),
        filename: parsed,
        url: file_url(&sha256, filename),
        sha256,
        blake2b_256: Some(hex::encode(
            &HashAlgorithm::Blake2b256.digest(filename.as_bytes()),
        )),
        size: Some(1000 + filename.len() as u64),
        requires_python: Some(">=3.9".to_owned()),
        yanked: None,
        upload_time: UploadTime::from_unix_micros(1_700_000_000_123_456),
    }
}

pub(super) fn page(files: &[PageFile]) -> ProjectPage {
    ProjectPage {
        name: demo(),
        files: files.to_vec(),
    }
}

pub(super) const OLD: &str = "demo-1.0.tar.gz";
pub(super) const NEW: &str = "demo-2.0-py3-none-any.whl";

/// The target description of `bytes`: length and sha256, as `bulwark
/// upload` lists the page.
pub(super) fn described(bytes: &[u8]) -> TargetFile {
    TargetFile {
        length: bytes.len() as u64,
        hashes: BTreeMap::from([("sha256".to_owned(), sha256_hex(bytes))]),
        unknown: BTreeMap::new(),
    }
}

type EditRole = Box<dyn Fn(&mut Targets)>;
type EditEnvelope = Box<dyn Fn(&mut Envelope<Targets>)>;

/// A transaction and the trusted state it is checked against. Every field
/// starts valid; a test changes one thing.
struct Case {
    keys: Vec<SigningKey>,
    threshold: u64,
    /// Indices into `keys` of the keys that sign the new role.
    signers: Vec<usize>,
    previous_role: Option<Targets>,
    previous_page: Option<ProjectPage>,
    page: ProjectPage,
    /// Page bytes other than the rendering of `page`.
    page_bytes: Option<Vec<u8>>,
    uploads: Vec<UploadedFile>,
    version: u64,
    expires: Timestamp,
    edit_role: Option<EditRole>,
    edit_envelope: Option<EditEnvelope>,
    /// Role bytes other than the signed role.
    role_bytes: Option<Vec<u8>>,
    policy: TransactionPolicy,
}

impl Case {
    /// A release of a claimed project: version 1 listed `OLD`; version 2
    /// adds the uploaded `NEW`.
    fn release() -> Self {
        let previous = page(&[file(OLD)]);
        let previous_role = Targets {
            common: Common::new(1, NOW.plus_seconds(30 * DAY)),
            targets: BTreeMap::from([(
                crate::layout::page_target("demo"),
                described(&bulwark_pypi::render_json(&previous)),
            )]),
            delegations: None,
        };
        Self {
            keys: vec![key(), key(), key()],
            threshold: 1,
            signers: vec![0],
            previous_role: Some(previous_role),
            previous_page: Some(previous),
            page: page(&[file(OLD), file(NEW)]),
            page_bytes: None,
            uploads: vec![UploadedFile::from(&file(NEW))],
            version: 2,
            expires: NOW.plus_seconds(365 * DAY),
            edit_role: None,
            edit_envelope: None,
            role_bytes: None,
            policy: TransactionPolicy::default(),
        }
    }

    /// The first claim of a project its bin signed with `OLD`: version 1
    /// of the role, listing the page as it is, with no upload.
    fn first_claim() -> Self {
        let mut case = Self::release();
        case.previous_role = None;
        case.page = page(&[file(OLD)]);
        case.uploads.clear();
        case.version = 1;
        case
    }

    /// This case with `edit` applied to the role before it is signed.
    fn with_role(mut self, edit: impl Fn(&mut Targets) + 'static) -> Self {
        self.edit_role = Some(Box::new(edit));
        self
    }

    fn delegation(&self) -> ProjectDelegation {
        delegation(&self.keys, self.threshold)
    }

    fn page_bytes(&self) -> Vec<u8> {
        self.page_bytes
            .clone()
            .unwrap_or_else(|| bulwark_pypi::render_json(&self.page))
    }

    /// The role listing `page`, edited, signed and edited again.
    fn role_bytes(&self, page: &[u8]) -> Vec<u8> {
        if let Some(bytes) = &self.role_bytes {
            return bytes.clone();
        }
        let mut body = Targets {
            common: Common::new(self.version, self.expires),
            targets: BTreeMap::from([(crate::layout::page_target("demo"), described(page))]),
            delegations: None,
        };
        if let Some(edit) = &self.edit_role {
            edit(&mut body);
        }
        let mut envelope = Envelope::new(body);
        for &i in &self.signers {
            envelope.sign(&self.keys[i]).unwrap();
        }
        if let Some(edit) = &self.edit_envelope {
            edit(&mut envelope);
        }
        envelope.to_bytes()
    }

    fn check_bytes(
        &self,
        role: &[u8],
        page: &[u8],
    ) -> Result<VerifiedTransaction, TransactionRefused> {
        let previous = Previous {
            role: self.previous_role.as_ref(),
            page: self.previous_page.as_ref(),
            nested: &[],
        };
        let offered = Offered {
            role: Some(role),
            nested: &[],
            page,
            uploads: &self.uploads,
        };
        check(&self.delegation(), previous, offered, NOW, &self.policy)
    }

    fn check(&self) -> Result<VerifiedTransaction, TransactionRefused> {
        let page = self.page_bytes();
        self.check_bytes(&self.role_bytes(&page), &page)
    }

    fn refusal(&self) -> TransactionRefused {
        self.check().expect_err("the transaction was accepted")
    }

    fn page_problem(&self) -> PageProblem {
        match self.refusal() {
            TransactionRefused::Page(problem) => problem,
            other => panic!("expected a page refusal, got {other:?}"),
        }
    }
}

/// The delegation of `project-demo` to `keys` with `threshold`.
pub(super) fn delegation(keys: &[SigningKey], threshold: u64) -> ProjectDelegation {
    let role = DelegatedRole {
        name: RoleName::new("project-demo"),
        keys: RoleKeys {
            keyids: keys.iter().map(SigningKey::key_id).collect(),
            threshold,
        },
        terminating: true,
        paths: PathSpec::Patterns(vec!["simple/demo/*".to_owned()]),
        unknown: BTreeMap::new(),
    };
    let keys = keys_of(&keys.iter().collect::<Vec<_>>());
    ProjectDelegation::new(demo(), role, keys).unwrap()
}

// The accepted transactions.

#[test]
fn first_claim_is_version_1_of_the_published_page() {
    let case = Case::first_claim();
    let verified = case.check().unwrap();
    assert_eq!(verified.role().as_str(), "project-demo");
    assert_eq!(verified.version(), 1);
    assert_eq!(verified.expires(), case.expires);
    let page = case.page_bytes();
    assert_eq!(verified.page_target(), "simple/demo/index.json");
    assert_eq!(verified.page_length(), page.len() as u64);
    assert_eq!(verified.page_sha256(), sha256_hex(&page));
    assert_eq!(verified.page(), &case.page);
    assert!(verified.added().is_empty());
    assert!(verified.yank_changed().is_empty());
}

#[test]
fn first_claim_of_a_new_project_uploads_its_first_file() {
    let mut case = Case::first_claim();
    case.previous_page = None;
    case.uploads = vec![UploadedFile::from(&file(OLD))];
    let verified = case.check().unwrap();
    assert_eq!(verified.added(), [file(OLD)]);
}

#[test]
fn release_adds_the_uploaded_file() {
    let case = Case::release();
    let verified = case.check().unwrap();
    assert_eq!(verified.version(), 2);
    assert_eq!(verified.added(), [file(NEW)]);
    assert!(verified.yank_changed().is_empty());
    // Versions may skip: strictly greater is enough.
    let mut later = Case::release();
    later.version = 7;
    assert_eq!(later.check().unwrap().version(), 7);
}

#[test]
fn yank_only_transaction_changes_yanked() {
    let mut case = Case::release();
    case.uploads.clear();
    let mut yanked = file(OLD);
    yanked.yanked = Some("broken build".to_owned());
    case.page = page(&[yanked.clone()]);
    let verified = case.check().unwrap();
    assert!(verified.added().is_empty());
    assert_eq!(verified.yank_changed(), [yanked]);
}

#[test]
fn threshold_two_of_three_developers() {
    let mut case = Case::release();
    case.threshold = 2;
    case.signers = vec![0, 2];
    assert!(case.check().is_ok());
}

#[test]
fn nested_ci_key_delegation_is_accepted() {
    let case = nested("project-demo.ci", "simple/demo/*", 1);
    let verified = case.check().unwrap();
    let nested = verified
        .metadata()
        .unwrap()
        .signed
        .delegations
        .as_ref()
        .unwrap();
    assert_eq!(nested.keys.len(), 1);
}

/// A delegation to a CI role with `keys` for `pattern`.
pub(super) fn ci_delegation(
    keys: &BTreeMap<String, Key>,
    name: &str,
    pattern: &str,
    threshold: u64,
) -> Delegations {
    Delegations {
        keys: keys.clone(),
        roles: DelegatedRoles::List(vec![DelegatedRole {
            name: RoleName::new(name),
            keys: RoleKeys {
                keyids: keys.keys().cloned().collect(),
                threshold,
            },
            terminating: true,
            paths: PathSpec::Patterns(vec![pattern.to_owned()]),
            unknown: BTreeMap::new(),
        }]),
        unknown: BTreeMap::new(),
    }
}

#[test]
fn a_delegation_of_another_project_is_the_callers_mistake() {
    let case = Case::release();
    let role = case.delegation().role().clone();
    let other = ProjectName::parse("other").unwrap();
    let err = ProjectDelegation::new(other, role, BTreeMap::new()).unwrap_err();
    assert_eq!(err.expected.as_str(), "project-other");
}

// Rules 1 and 2: signatures.

#[test]
fn rule_1_threshold_of_the_delegated_keys_signed() {
    let mut case = Case::release();
    case.threshold = 2;
    let refusal = case.refusal();
    assert!(
        matches!(
            refusal,
            TransactionRefused::Threshold(Refused::BelowThreshold {
                valid: 1,
                threshold: 2,
                ..
            })
        ),
        "{refusal:?}"
    );
    // A key the project did not register counts for nothing.
    let mut stranger = Case::release();
    stranger.signers.clear();
    let outsider = key();
    stranger.edit_envelope = Some(Box::new(move |envelope| {
        envelope.sign(&outsider).unwrap();
    }));
    assert!(matches!(
        stranger.refusal(),
        TransactionRefused::Threshold(Refused::BelowThreshold { valid: 0, .. })
    ));
}

#[test]
fn rule_2_bad_signatures_do_not_count() {
    let mut case = Case::release();
    case.edit_envelope = Some(Box::new(|envelope| {
        let sig = &mut envelope.signatures[0].sig;
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        sig.replace_range(0..1, flipped);
    }));
    assert!(matches!(
        case.refusal(),
        TransactionRefused::Threshold(Refused::BelowThreshold { valid: 0, .. })
    ));
}

#[test]
fn rule_2_malformed_role_is_refused() {
    let mut case = Case::release();
    case.role_bytes = Some(case.page_bytes());
    assert!(matches!(case.refusal(), TransactionRefused::Malformed(_)));
    // Two signatures by one key make the document malformed (spec §4.2).
    let mut twice = Case::release();
    twice.edit_envelope = Some(Box::new(|envelope| {
        let again = envelope.signatures[0].clone();
        envelope.signatures.push(again);
    }));
    assert!(matches!(twice.refusal(), TransactionRefused::Malformed(_)));
}

// Rule 3: version.

#[test]
fn rule_3_version_strictly_greater() {
    let mut same = Case::release();
    same.version = 1;
    assert!(matches!(
        same.refusal(),
        TransactionRefused::Version {
            offered: 1,
            required: RequiredVersion::After(1)
        }
    ));
    let mut first = Case::first_claim();
    first.version = 2;
    assert!(matches!(
        first.refusal(),
        TransactionRefused::Version {
            offered: 2,
            required: RequiredVersion::First
        }
    ));
}

// Rule 4: expiry.

#[test]
fn rule_4_not_expired() {
    let mut case = Case::release();
    case.expires = NOW;
    assert!(matches!(
        case.refusal(),
        TransactionRefused::Expiry(ExpiryProblem::Expired { expires }) if expires == NOW
    ));
}

#[test]
fn rule_4_expiry_within_bound() {
    let mut case = Case::release();
    case.expires = NOW.plus_seconds(DEFAULT_MAX_EXPIRY + 1);
    assert!(matches!(
        case.refusal(),
        TransactionRefused::Expiry(ExpiryProblem::TooFar { .. })
    ));
    // The bound is the caller's.
    case.policy.max_expiry = DEFAULT_MAX_EXPIRY + 1;
    assert!(case.check().is_ok());
}

// Rule 5: targets.

/// A case whose role also lists `path`.
fn with_target(path: &'static str) -> Case {
    Case::release().with_role(move |body| {
        let page = body.targets.values().next().unwrap().clone();
        body.targets.insert(path.to_owned(), page);
    })
}

#[test]
fn rule_5_targets_only_under_delegated_paths() {
    let case = with_target("simple/other/index.json");
    assert!(matches!(
        case.refusal(),
        TransactionRefused::Targets(TargetsProblem::OutsideDelegation { path })
            if path == "simple/other/index.json"
    ));
}

#[test]
fn rule_5_exactly_one_target_the_page() {
    let extra = with_target("simple/demo/notes.txt");
    assert!(matches!(
        extra.refusal(),
        TransactionRefused::Targets(TargetsProblem::NotThePage { path, .. })
            if path == "simple/demo/notes.txt"
    ));
    let none = Case::release().with_role(|body| body.targets.clear());
    assert!(matches!(
        none.refusal(),
        TransactionRefused::Targets(TargetsProblem::NoPage { .. })
    ));
}

// Rule 6: the page's bytes.

/// A case whose listed page description is edited by `edit`.
fn listing(edit: impl Fn(&mut TargetFile) + 'static) -> Case {
    Case::release().with_role(move |body| body.targets.values_mut().for_each(&edit))
}

#[test]
fn rule_6_listed_page_length_and_hashes_match() {
    let long = listing(|page| page.length += 1);
    assert!(matches!(
        long.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Mismatch(Mismatch::Length { .. }))
    ));
    // A role signed for another page.
    let mut other_page = Case::release();
    let signed_page = bulwark_pypi::render_json(&page(&[file(OLD)]));
    other_page.role_bytes = Some(other_page.role_bytes(&signed_page));
    assert!(matches!(
        other_page.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Mismatch(
            Mismatch::Length { .. } | Mismatch::Hash { .. }
        ))
    ));
    // Every listed hash must match, and be one that can be checked.
    let blake = listing(|page| {
        page.hashes
            .insert("blake2b-256".to_owned(), "00".repeat(32));
    });
    assert!(matches!(
        blake.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Mismatch(Mismatch::Hash { algorithm })) if algorithm == "blake2b-256"
    ));
    // A matching second hash is refused too: python-tuf would fetch the page
    // by it, a name the index does not serve.
    let bytes = bulwark_pypi::render_json(&Case::release().page);
    let digest = hex::encode(&HashAlgorithm::Blake2b256.digest(&bytes));
    let blake = listing(move |page| {
        page.hashes.insert("blake2b-256".to_owned(), digest.clone());
    });
    assert!(matches!(
        blake.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::OtherHashes(names)) if names == ["blake2b-256"]
    ));
    let md5 = listing(|page| {
        page.hashes.insert("md5".to_owned(), "00".repeat(16));
    });
    assert!(matches!(
        md5.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Mismatch(
            Mismatch::UnsupportedAlgorithm { .. }
        ))
    ));
}

#[test]
fn rule_6_sha256_required_in_lowercase() {
    let no_sha256 = listing(|page| {
        page.hashes.remove("sha256");
        page.hashes.insert("sha512".to_owned(), "00".repeat(64));
    });
    assert!(matches!(
        no_sha256.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::NoSha256)
    ));
    let upper = listing(|page| {
        let sha256 = page.hashes.get_mut("sha256").unwrap();
        *sha256 = sha256.to_uppercase();
    });
    assert!(matches!(
        upper.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Sha256NotLowercase)
    ));
}

// Rule 7: the page.

#[test]
fn rule_7_page_parses() {
    let mut case = Case::release();
    case.page_bytes = Some(b"<html>demo</html>".to_vec());
    assert!(matches!(
        case.page_problem(),
        PageProblem::Unreadable(PageError::Json(_))
    ));
}

#[test]
fn rule_7_page_names_this_project() {
    let mut case = Case::release();
    case.page = ProjectPage {
        name: ProjectName::parse("other").unwrap(),
        files: vec![file("other-1.0.tar.gz")],
    };
    assert!(matches!(
        case.page_problem(),
        PageProblem::OtherProject { found } if found == "other"
    ));
}

#[test]
fn rule_7_page_is_what_the_renderer_writes() {
    let mut case = Case::release();
    let rendered = String::from_utf8(case.page_bytes()).unwrap();
    assert!(rendered.starts_with("{\"files\":"));
    case.page_bytes = Some(
        rendered
            .replacen("{\"files\":", "{ \"files\": ", 1)
            .into_bytes(),
    );
    assert!(matches!(case.page_problem(), PageProblem::NotRendered));
}

#[test]
fn rule_7_files_link_the_layout_url() {
    let mut case = Case::release();
    let mut elsewhere = file(NEW);
    elsewhere.url = format!("https://elsewhere.example/files/{}/{NEW}", elsewhere.sha256);
    case.page = page(&[file(OLD), elsewhere]);
    assert!(matches!(
        case.page_problem(),
        PageProblem::FileUrl { filename } if filename == NEW
    ));
}

#[test]
fn rule_7_no_file_dropped() {
    let mut case = Case::release();
    case.page = page(&[file(NEW)]);
    assert!(matches!(
        case.page_problem(),
        PageProblem::Dropped { filename } if filename == OLD
    ));
}

#[test]
fn rule_7_no_file_changed() {
    let mut case = Case::release();
    let mut changed = file(OLD);
    changed.requires_python = Some(">=3.12".to_owned());
    case.page = page(&[changed, file(NEW)]);
    assert!(matches!(
        case.page_problem(),
        PageProblem::Changed { filename, field: "requires-python" } if filename == OLD
    ));
}

#[test]
fn rule_7_yank_only_without_uploads() {
    let mut case = Case::release();
    let mut yanked = file(OLD);
    yanked.yanked = Some(String::new());
    case.page = page(&[yanked, file(NEW)]);
    assert!(matches!(
        case.page_problem(),
        PageProblem::Changed { filename, field: "yanked" } if filename == OLD
    ));
}

#[test]
fn rule_7_no_file_added_that_was_not_uploaded() {
    let mut case = Case::release();
    case.uploads.clear();
    assert!(matches!(
        case.page_problem(),
        PageProblem::NotUploaded { filename } if filename == NEW
    ));
}

#[test]
fn rule_7_every_upload_is_on_the_page() {
    let mut case = Case::release();
    case.uploads
        .push(UploadedFile::from(&file("demo-2.0.tar.gz")));
    assert!(matches!(
        case.page_problem(),
        PageProblem::UploadNotListed { filename } if filename == "demo-2.0.tar.gz"
    ));
    let mut twice = Case::release();
    twice.uploads.push(UploadedFile::from(&file(NEW)));
    assert!(matches!(
        twice.page_problem(),
        PageProblem::DuplicateUpload { filename } if filename == NEW
    ));
}

#[test]
fn rule_7_page_matches_the_upload_records() {
    for (field, edit) in [
        (
            "sha256",
            (|u| u.sha256 = "0".repeat(64)) as fn(&mut UploadedFile),
        ),
        ("_blake2b_256", |u| u.blake2b_256 = "0".repeat(64)),
        ("size", |u| u.size += 1),
        ("requires-python", |u| u.requires_python = None),
        ("core-metadata", |u| u.core_metadata_sha256 = None),
    ] {
        let mut case = Case::release();
        edit(&mut case.uploads[0]);
        let problem = case.page_problem();
        assert!(
            matches!(
                &problem,
                PageProblem::UploadDiffers { filename, field: f } if filename == NEW && *f == field
            ),
            "{field}: {problem:?}"
        );
    }
}

// Rule 8: delegations inside the project role.

/// A case whose role delegates to a CI role as given.
fn nested(name: &'static str, pattern: &'static str, threshold: u64) -> Case {
    let ci_keys = keys_of(&[&key()]);
    Case::release().with_role(move |body| {
        body.delegations = Some(ci_delegation(&ci_keys, name, pattern, threshold));
    })
}

#[test]
fn rule_8_nested_delegation_stays_within_the_project() {
    for pattern in [
        "simple/*/*",
        "simple/de*/index.json",
        "*",
        "simple/demo/*/*",
    ] {
        let refusal = nested("project-demo.ci", pattern, 1).refusal();
        assert!(
            matches!(
                &refusal,
                TransactionRefused::Delegation(DelegationProblem::PathOutside { pattern: p, .. })
                    if p == pattern
            ),
            "{pattern}: {refusal:?}"
        );
    }
    assert!(
        nested("project-demo.ci", "simple/demo/index.json", 1)
            .check()
            .is_ok()
    );
}

#[test]
fn rule_8_nested_succinct_bins_are_refused() {
    let case = Case::release().with_role(|body| {
        body.delegations = Some(Delegations {
            keys: BTreeMap::new(),
            roles: DelegatedRoles::Succinct(bulwark_tuf::delegation::SuccinctRoles {
                keys: RoleKeys {
                    keyids: Vec::new(),
                    threshold: 1,
                },
                bit_length: 1,
                name_prefix: "project-demo.bin".to_owned(),
                unknown: BTreeMap::new(),
            }),
            unknown: BTreeMap::new(),
        });
    });
    assert!(matches!(
        case.refusal(),
        TransactionRefused::Delegation(DelegationProblem::Succinct)
    ));
}

#[test]
fn rule_8_nested_threshold_is_sane() {
    let refusal = nested("project-demo.ci", "simple/demo/*", 2).refusal();
    assert!(matches!(
        refusal,
        TransactionRefused::Delegation(DelegationProblem::Threshold {
            threshold: 2,
            keys: 1,
            ..
        })
    ));
}

#[test]
fn rule_8_nested_roles_are_named_inside_the_project() {
    for name in [
        "project-requests",
        "bin-00",
        "project-demo-ci",
        "project-demo.",
    ] {
        let refusal = nested(name, "simple/demo/*", 1).refusal();
        assert!(
            matches!(
                &refusal,
                TransactionRefused::Delegation(DelegationProblem::RoleName { role, .. })
                    if role == name
            ),
            "{name}: {refusal:?}"
        );
    }
}

// No panics.

#[test]
fn garbage_role_and_page_bytes_never_panic() {
    use bulwark_tuf::fuzzing::{JSON_BYTES, replay};
    const MUTATIONS: usize = 1500;
    let case = Case::release();
    let page = case.page_bytes();
    let role = case.role_bytes(&page);
    for garbage in [
        &b""[..],
        b"null",
        b"{}",
        b"[]",
        b"{\"signed\":{},\"signatures\":[]}",
        &[b'['; 10_000],
        b"\xff\xfe\x00",
    ] {
        assert!(case.check_bytes(garbage, &page).is_err());
        assert!(case.check_bytes(&role, garbage).is_err());
    }
    // Mutated roles, against the valid page.
    replay(
        &[role],
        |data| drop(case.check_bytes(data, &page)),
        MUTATIONS,
        JSON_BYTES,
    );
    // Mutated pages, each listed by a role signed for it, so that the page
    // checks see them; any page accepted is exactly what the renderer writes.
    let check_page = |data: &[u8]| {
        if let Ok(verified) = case.check_bytes(&case.role_bytes(data), data) {
            assert_eq!(bulwark_pypi::render_json(verified.page()), data);
        }
    };
    replay(&[page], check_page, MUTATIONS, JSON_BYTES);
}
