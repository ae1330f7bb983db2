//! Harness shared by the `cargo fuzz` target `project_transaction` and by
//! the seed replay test that runs on stable: the index's parsers of what a
//! developer sends (the offered delegation, the signed role, the page) and
//! every check of a project transaction, on arbitrary bytes. It panics only
//! when a property is violated.

use std::sync::OnceLock;

use bulwark_pypi::ProjectName;
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Common, Envelope, Key, Targets};
use bulwark_tuf::time::Timestamp;

use crate::layout::page_target;
use crate::transaction::{
    Offered, OfferedNested, Previous, TransactionPolicy, check, nested_delegation,
    offered_delegation,
};

/// When the harness runs, as far as expiry is concerned.
const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

/// The developer key the harness signs fuzzed role bodies with, so that
/// the checks past the signature threshold are reached too.
fn developer() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate(Algorithm::Ed25519)
            .unwrap_or_else(|e| panic!("cannot generate a key: {e}"))
    })
}

/// The delegation of `demo` to the harness's key, threshold 1, built by
/// the same parser as an offered one.
fn delegation(project: &ProjectName) -> crate::transaction::ProjectDelegation {
    let object = developer().public_key_object();
    let keyid = bulwark_tuf::keys::key_id(&object);
    let json = bulwark_tuf::json::to_vec(&bulwark_tuf::json::Value::Object(
        [
            (
                "keys".to_owned(),
                bulwark_tuf::json::Value::Object([(keyid, object)].into()),
            ),
            ("threshold".to_owned(), bulwark_tuf::json::Value::Int(1)),
        ]
        .into(),
    ));
    offered_delegation(project, &json)
        .unwrap_or_else(|e| panic!("the harness's own delegation is refused: {e}"))
        .delegation
}

/// A trusted version 1 of `project-demo` that leaves the page to
/// `project-demo.ci`, delegated to the harness's key.
fn delegating_role(project: &ProjectName) -> Targets {
    let object = developer().public_key_object();
    let keyid = bulwark_tuf::keys::key_id(&object);
    let key = Key::from_value(&keyid, &object, "key")
        .unwrap_or_else(|e| panic!("the harness's own key is refused: {e}"));
    Targets {
        common: Common::new(1, NOW.plus_seconds(30 * 86_400)),
        targets: std::collections::BTreeMap::new(),
        delegations: Some(nested_delegation(project, "ci", [(keyid, key)].into(), 1)),
    }
}

/// Feeds `data` to the transaction parsers and checks:
///
/// - `offered_delegation` never panics, and what it accepts is a
///   terminating delegation of the project's paths whose stored form reads
///   back;
/// - `check` never panics on `data` split into a role and a page (the first
///   two bytes give the role's length): as received, and with the role's
///   bytes taken as a `signed` body the harness signs; what it accepts names
///   the page by its sha256 and is version 1 (a claim of a new project);
/// - `check` never panics on the same role bytes offered as the nested
///   role `project-demo.ci` of a trusted project role that delegates to
///   it, the project role kept; what it accepts is that role's version 1,
///   listing the page by its sha256.
///
/// # Panics
///
/// When one of those properties does not hold.
pub fn project_transaction(data: &[u8]) {
    let demo = ProjectName::parse("demo").unwrap_or_else(|e| panic!("{e}"));
    if let Ok(offered) = offered_delegation(&demo, data) {
        let role = offered.delegation.role();
        assert!(role.terminating, "an offered delegation must terminate");
        assert!(role.paths.matches(&page_target("demo")));
        let stored = bulwark_tuf::delegation::Delegations::from_json(&offered.stored.to_json())
            .unwrap_or_else(|e| panic!("the stored delegation does not read back: {e}"));
        assert_eq!(stored.to_json(), offered.stored.to_json());
    }

    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*head)).min(rest.len());
    let (role, page) = rest.split_at(split);
    let delegation = delegation(&demo);
    let policy = TransactionPolicy::default();
    let offer = |role: &[u8]| {
        let result = check(
            &delegation,
            Previous::default(),
            Offered {
                role: Some(role),
                nested: &[],
                page,
                uploads: &[],
            },
            NOW,
            &policy,
        );
        if let Ok(verified) = result {
            assert_eq!(verified.page_sha256(), sha256_hex(page));
            assert_eq!(verified.version(), 1);
        }
    };
    let trusted = delegating_role(&demo);
    let offer_nested = |role: &[u8]| {
        let nested = [OfferedNested {
            name: "project-demo.ci",
            role,
        }];
        let result = check(
            &delegation,
            Previous {
                role: Some(&trusted),
                page: None,
                nested: &[],
            },
            Offered {
                role: None,
                nested: &nested,
                page,
                uploads: &[],
            },
            NOW,
            &policy,
        );
        if let Ok(verified) = result {
            assert_eq!(verified.page_sha256(), sha256_hex(page));
            assert_eq!(verified.lister().as_str(), "project-demo.ci");
            assert_eq!(
                verified
                    .nested()
                    .first()
                    .map(crate::transaction::VerifiedNested::version),
                Some(1)
            );
        }
    };
    offer(role);
    offer_nested(role);
    let mut document = b"{\"signatures\":[],\"signed\":".to_vec();
    document.extend_from_slice(role);
    document.push(b'}');
    if let Ok(mut envelope) = Envelope::<Targets>::parse(&document)
        && envelope.sign(developer()).is_ok()
    {
        offer(&envelope.to_bytes());
        offer_nested(&envelope.to_bytes());
    }
}
