//! Rules 9 and 10: nested roles inside the project role (a CI key allowed
//! to sign the page). One test per refusal, each breaking one thing of a
//! valid transaction, plus the two accepted shapes: the owner's
//! delegation (project role and the nested role's first version) and a CI
//! release (the nested role alone).

use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::keys::SigningKey;
use bulwark_tuf::metadata::{Common, Envelope, RoleKeys, Targets};
use bulwark_tuf::names::RoleName;

use super::tests::{DAY, NEW, NOW, OLD, delegation, demo, described, file, key, keys_of, page};
use super::*;

const CI: &str = "project-demo.ci";
const PAGE: &str = "simple/demo/index.json";

/// A role body listing `page` (if any) with `delegations`.
fn body(version: u64, page: Option<&[u8]>, delegations: Option<Delegations>) -> Targets {
    Targets {
        common: Common::new(version, NOW.plus_seconds(30 * DAY)),
        targets: page
            .map(|bytes| BTreeMap::from([(PAGE.to_owned(), described(bytes))]))
            .unwrap_or_default(),
        delegations,
    }
}

fn signed(body: Targets, keys: &[&SigningKey]) -> Envelope<Targets> {
    let mut envelope = Envelope::new(body);
    for key in keys {
        envelope.sign(key).unwrap();
    }
    // As the index reads it back from its store.
    Envelope::parse(&envelope.to_bytes()).unwrap()
}

/// A transaction with nested roles and the trusted state it is checked
/// against; every field starts valid and a test changes one thing.
struct Tree {
    owner: SigningKey,
    ci: SigningKey,
    previous_role: Option<Targets>,
    previous_page: ProjectPage,
    trusted: Vec<TrustedNested>,
    role: Option<Vec<u8>>,
    nested: Vec<(String, Vec<u8>)>,
    page: ProjectPage,
    uploads: Vec<UploadedFile>,
}

impl Tree {
    /// The project's page, `OLD` only, listed by version 1 of the role.
    fn base() -> (SigningKey, SigningKey, ProjectPage, Targets) {
        let previous = page(&[file(OLD)]);
        let bytes = bulwark_pypi::render_json(&previous);
        (key(), key(), previous, body(1, Some(&bytes), None))
    }

    fn ci_delegation(&self) -> Delegations {
        nested_delegation(&demo(), "ci", keys_of(&[&self.ci]), 1)
    }

    /// The owner's delegation: version 2 of the project role delegates to
    /// `project-demo.ci` and lists nothing; the CI key signs its version 1,
    /// listing the page as it is.
    fn delegate() -> Self {
        let (owner, ci, previous_page, previous_role) = Self::base();
        let mut tree = Self {
            owner,
            ci,
            previous_role: Some(previous_role),
            page: previous_page.clone(),
            previous_page,
            trusted: Vec::new(),
            role: None,
            nested: Vec::new(),
            uploads: Vec::new(),
        };
        tree.role = Some(tree.project_role(2, None, tree.ci_delegation()));
        tree.nested = vec![(CI.to_owned(), tree.ci_role(1, &tree.page_bytes()))];
        tree
    }

    /// A CI release after `delegate`: version 2 of the nested role alone
    /// lists the page with the uploaded `NEW`.
    fn release() -> Self {
        let mut tree = Self::delegate();
        let verified = tree.check().unwrap();
        tree.previous_role = verified.metadata().map(|m| m.signed.clone());
        tree.trusted = vec![TrustedNested {
            name: RoleName::new(CI),
            metadata: signed(verified.nested()[0].metadata().signed.clone(), &[&tree.ci]),
        }];
        tree.role = None;
        tree.page = page(&[file(OLD), file(NEW)]);
        tree.uploads = vec![UploadedFile::from(&file(NEW))];
        tree.nested = vec![(CI.to_owned(), tree.ci_role(2, &tree.page_bytes()))];
        tree
    }

    fn page_bytes(&self) -> Vec<u8> {
        bulwark_pypi::render_json(&self.page)
    }

    fn project_role(&self, version: u64, page: Option<&[u8]>, delegations: Delegations) -> Vec<u8> {
        signed(body(version, page, Some(delegations)), &[&self.owner]).to_bytes()
    }

    fn ci_role(&self, version: u64, page: &[u8]) -> Vec<u8> {
        signed(body(version, Some(page), None), &[&self.ci]).to_bytes()
    }

    fn check(&self) -> Result<VerifiedTransaction, TransactionRefused> {
        let delegation = delegation(std::slice::from_ref(&self.owner), 1);
        let previous = Previous {
            role: self.previous_role.as_ref(),
            page: Some(&self.previous_page),
            nested: &self.trusted,
        };
        let nested: Vec<OfferedNested<'_>> = self
            .nested
            .iter()
            .map(|(name, role)| OfferedNested { name, role })
            .collect();
        let page = self.page_bytes();
        let offered = Offered {
            role: self.role.as_deref(),
            nested: &nested,
            page: &page,
            uploads: &self.uploads,
        };
        check(
            &delegation,
            previous,
            offered,
            NOW,
            &TransactionPolicy::default(),
        )
    }

    fn refusal(&self) -> TransactionRefused {
        self.check().expect_err("the transaction was accepted")
    }

    fn tree_problem(&self) -> TreeProblem {
        match self.refusal() {
            TransactionRefused::Tree(problem) => problem,
            other => panic!("expected a tree refusal, got {other:?}"),
        }
    }

    fn nested_problem(&self) -> NestedProblem {
        match self.refusal() {
            TransactionRefused::Nested { role, problem } => {
                assert_eq!(role, CI);
                problem
            }
            other => panic!("expected a nested role refusal, got {other:?}"),
        }
    }
}

// The accepted transactions.

#[test]
fn owner_delegates_the_page_to_a_ci_role() {
    let tree = Tree::delegate();
    let verified = tree.check().unwrap();
    assert_eq!(verified.version(), 2);
    assert!(verified.metadata().unwrap().signed.targets.is_empty());
    assert_eq!(verified.lister().as_str(), CI);
    let [nested] = verified.nested() else {
        panic!("one nested role")
    };
    assert_eq!((nested.name().as_str(), nested.version()), (CI, 1));
    assert_eq!(verified.page_sha256(), sha256_hex(&tree.page_bytes()));
    assert!(verified.added().is_empty());
}

#[test]
fn ci_release_signs_only_the_nested_role() {
    let tree = Tree::release();
    let verified = tree.check().unwrap();
    // The project role is kept as trusted.
    assert!(verified.metadata().is_none());
    assert_eq!(verified.version(), 2);
    assert_eq!(verified.lister().as_str(), CI);
    assert_eq!(verified.nested()[0].version(), 2);
    assert_eq!(verified.added().len(), 1);
}

#[test]
fn owner_may_take_the_page_back_while_the_ci_role_stays_delegated() {
    let mut tree = Tree::release();
    tree.uploads.clear();
    tree.page = tree.previous_page.clone();
    let page = tree.page_bytes();
    tree.role = Some(tree.project_role(3, Some(&page), tree.ci_delegation()));
    tree.nested.clear();
    let verified = tree.check().unwrap();
    assert_eq!(verified.lister().as_str(), "project-demo");
}

// Rule 9: each nested role offered.

#[test]
fn rule_9_nested_role_is_well_formed() {
    let mut tree = Tree::release();
    tree.nested[0].1 = b"{\"signed\":{}}".to_vec();
    assert!(matches!(tree.nested_problem(), NestedProblem::Malformed(_)));
}

#[test]
fn rule_9_nested_role_is_signed_by_its_delegated_keys() {
    let mut tree = Tree::release();
    // The owner delegates the role but is not one of its keys.
    let bytes = signed(body(2, Some(&tree.page_bytes()), None), &[&tree.owner]).to_bytes();
    tree.nested[0].1 = bytes;
    assert!(matches!(tree.nested_problem(), NestedProblem::Threshold(_)));
}

#[test]
fn rule_9_nested_version_strictly_greater() {
    let mut tree = Tree::release();
    tree.nested[0].1 = tree.ci_role(1, &tree.page_bytes());
    assert!(matches!(
        tree.nested_problem(),
        NestedProblem::Version {
            offered: 1,
            required: RequiredVersion::After(1)
        }
    ));
}

#[test]
fn rule_9_nested_expiry_within_bound() {
    let mut tree = Tree::release();
    let mut late = body(2, Some(&tree.page_bytes()), None);
    late.common.expires = NOW.plus_seconds(DEFAULT_MAX_EXPIRY + DAY);
    tree.nested[0].1 = signed(late, &[&tree.ci]).to_bytes();
    assert!(matches!(
        tree.nested_problem(),
        NestedProblem::Expiry(ExpiryProblem::TooFar { .. })
    ));
}

#[test]
fn rule_9_nested_lists_only_the_page_within_its_paths() {
    for (path, outside) in [
        ("simple/demo/other.json", false),
        ("simple/other/index.json", true),
    ] {
        let mut tree = Tree::release();
        let mut extra = body(2, Some(&tree.page_bytes()), None);
        extra.targets.insert(path.to_owned(), described(b"x"));
        tree.nested[0].1 = signed(extra, &[&tree.ci]).to_bytes();
        let problem = tree.nested_problem();
        assert!(
            match &problem {
                NestedProblem::Targets(TargetsProblem::OutsideDelegation { path: p }) =>
                    outside && p == path,
                NestedProblem::Targets(TargetsProblem::NotThePage { path: p, .. }) =>
                    !outside && p == path,
                _ => false,
            },
            "{path}: {problem:?}"
        );
    }
}

#[test]
fn rule_9_nested_role_delegates_no_further() {
    let mut tree = Tree::release();
    let deeper = nested_delegation(&demo(), "ci.deeper", keys_of(&[&tree.ci]), 1);
    let bytes = signed(body(2, Some(&tree.page_bytes()), Some(deeper)), &[&tree.ci]).to_bytes();
    tree.nested[0].1 = bytes;
    assert!(matches!(tree.nested_problem(), NestedProblem::Delegates));
}

#[test]
fn rule_9_nested_role_is_delegated_by_the_project_role() {
    let mut tree = Tree::release();
    tree.nested[0].0 = "project-demo.other".to_owned();
    assert_eq!(
        tree.tree_problem(),
        TreeProblem::NotDelegated {
            role: "project-demo.other".to_owned()
        }
    );
}

#[test]
fn rule_9_nested_role_offered_once() {
    let mut tree = Tree::release();
    tree.nested.push(tree.nested[0].clone());
    assert_eq!(
        tree.tree_problem(),
        TreeProblem::OfferedTwice {
            role: CI.to_owned()
        }
    );
}

// Rule 10: the project's roles lead clients to exactly the page.

#[test]
fn rule_10_a_project_role_is_offered_or_trusted() {
    let mut tree = Tree::delegate();
    tree.previous_role = None;
    tree.role = None;
    assert_eq!(tree.tree_problem(), TreeProblem::NoProjectRole);
}

#[test]
fn rule_10_some_role_is_offered() {
    let mut tree = Tree::release();
    tree.nested.clear();
    assert_eq!(tree.tree_problem(), TreeProblem::NothingSigned);
}

#[test]
fn rule_10_kept_project_role_has_not_expired() {
    let mut tree = Tree::release();
    if let Some(role) = &mut tree.previous_role {
        role.common.expires = NOW;
    }
    assert!(matches!(
        tree.refusal(),
        TransactionRefused::Expiry(ExpiryProblem::Expired { .. })
    ));
}

#[test]
fn rule_10_published_nested_roles_stay_delegated() {
    let mut tree = Tree::release();
    tree.uploads.clear();
    tree.page = tree.previous_page.clone();
    let page = tree.page_bytes();
    tree.role = Some(signed(body(3, Some(&page), None), &[&tree.owner]).to_bytes());
    tree.nested.clear();
    assert_eq!(
        tree.tree_problem(),
        TreeProblem::Dropped {
            role: CI.to_owned()
        }
    );
}

#[test]
fn rule_10_a_role_clients_need_has_metadata() {
    let mut tree = Tree::delegate();
    tree.nested.clear();
    assert_eq!(
        tree.tree_problem(),
        TreeProblem::Missing {
            role: CI.to_owned()
        }
    );
}

/// `delegate` with a second role, `project-demo.a`, before the CI role,
/// signed by the CI key and listing nothing.
fn with_role_before(terminating: bool) -> Tree {
    let mut tree = Tree::delegate();
    let mut delegations = tree.ci_delegation();
    if let DelegatedRoles::List(roles) = &mut delegations.roles {
        let mut first: DelegatedRole = roles[0].clone();
        first.name = RoleName::new("project-demo.a");
        first.terminating = terminating;
        roles.insert(0, first);
    }
    tree.role = Some(tree.project_role(2, None, delegations));
    let empty = signed(body(1, None, None), &[&tree.ci]).to_bytes();
    tree.nested.push(("project-demo.a".to_owned(), empty));
    tree
}

#[test]
fn rule_10_no_terminating_role_before_the_page() {
    assert_eq!(
        with_role_before(true).tree_problem(),
        TreeProblem::TerminatingBeforePage {
            role: "project-demo.a".to_owned()
        }
    );
    let verified = with_role_before(false).check().unwrap();
    assert_eq!(verified.lister().as_str(), CI);
}

#[test]
fn rule_10_some_role_lists_the_page() {
    let mut tree = Tree::delegate();
    let mut delegations = tree.ci_delegation();
    if let DelegatedRoles::List(roles) = &mut delegations.roles {
        roles[0].terminating = false;
    }
    tree.role = Some(tree.project_role(2, None, delegations));
    tree.nested[0].1 = signed(body(1, None, None), &[&tree.ci]).to_bytes();
    assert_eq!(tree.tree_problem(), TreeProblem::PageNotReached);
}

#[test]
fn rule_10_one_role_lists_the_page() {
    let mut tree = Tree::delegate();
    let page = tree.page_bytes();
    tree.role = Some(tree.project_role(2, Some(&page), tree.ci_delegation()));
    assert_eq!(
        tree.tree_problem(),
        TreeProblem::ListedTwice {
            role: CI.to_owned()
        }
    );
}

#[test]
fn rule_10_kept_nested_role_verifies_with_the_keys_delegated_now() {
    let mut tree = Tree::release();
    tree.uploads.clear();
    tree.page = tree.previous_page.clone();
    tree.nested.clear();
    // The owner moves the CI role to a new key without its new version.
    let new_ci = key();
    let delegations = nested_delegation(&demo(), "ci", keys_of(&[&new_ci]), 1);
    tree.role = Some(tree.project_role(3, None, delegations));
    assert!(matches!(tree.nested_problem(), NestedProblem::Threshold(_)));
}

#[test]
fn rule_10_kept_nested_role_has_not_expired() {
    let mut tree = Tree::release();
    let mut kept = tree.trusted[0].metadata.signed.clone();
    kept.common.expires = NOW;
    tree.trusted[0].metadata = signed(kept, &[&tree.ci]);
    tree.uploads.clear();
    tree.page = tree.previous_page.clone();
    tree.nested.clear();
    tree.role = Some(tree.project_role(3, None, tree.ci_delegation()));
    assert!(matches!(
        tree.nested_problem(),
        NestedProblem::Expiry(ExpiryProblem::Expired { .. })
    ));
}

// Rules 6 and 7 apply to the page as the nested role lists it.

#[test]
fn rule_6_page_bytes_are_those_the_nested_role_lists() {
    let mut tree = Tree::release();
    tree.nested[0].1 = tree.ci_role(2, b"another page");
    assert!(matches!(
        tree.refusal(),
        TransactionRefused::PageBytes(PageBytesProblem::Mismatch(_))
    ));
}

#[test]
fn rule_7_page_of_the_nested_role_is_the_previous_page_plus_uploads() {
    let mut tree = Tree::release();
    tree.uploads.clear();
    assert!(matches!(
        tree.refusal(),
        TransactionRefused::Page(PageProblem::NotUploaded { .. })
    ));
}

#[test]
fn delegation_helper_names_the_role_inside_the_project() {
    let delegations = nested_delegation(&demo(), "ci", keys_of(&[&key()]), 1);
    let DelegatedRoles::List(roles) = &delegations.roles else {
        panic!("a list")
    };
    assert_eq!(roles[0].name.as_str(), CI);
    assert_eq!(
        roles[0].paths,
        PathSpec::Patterns(vec!["simple/demo/*".to_owned()])
    );
    assert_eq!(
        roles[0].keys,
        RoleKeys {
            keyids: delegations.keys.keys().cloned().collect(),
            threshold: 1
        }
    );
}
