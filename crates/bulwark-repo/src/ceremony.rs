//! The production key ceremony (PEP 458, "Managing offline keys"): the
//! offline roles' documents are drafted unsigned, each key holder signs them
//! on their own machine, the signatures are combined and checked, and the
//! result is installed into a repository whose server only ever holds the
//! online key.
//!
//! ```text
//! public key parts ─▶ init / rotate_online / rotate_root / renew ─▶ unsigned Document
//! each key holder:    sign(Document, SigningKey, Authority) ─▶ SignatureFile
//! coordinator:        add_signature(…) per file ─▶ check_threshold ─▶ signed Document
//! server operator:    Current::load(blobs) ─▶ plan_install(signed Documents) ─▶ blob writes
//! ```
//!
//! No threshold is counted here. Roots go through `TrustedSet::new` and
//! `TrustedSet::update_root`; targets, claimed and unclaimed through
//! `Envelope::check_signatures`, so bulwark-tuf's one threshold function
//! decides every case. The only storage access is [`Current::load`], through the
//! [`BlobStore`] trait; nothing here writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use bulwark_store::{BlobStore, StoreError};
use bulwark_tuf::delegation::{DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::keys::{KeyError, SigningKey};
use bulwark_tuf::metadata::{
    Common, Envelope, Key, MetadataError, RoleKeys, Root, Signature, Targets,
};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;
use bulwark_tuf::{Refused, SchemaError, TrustedSet};

use crate::layout::{self, BIN_PREFIX, CLAIMED, RECENTLY_CLAIMED, UNCLAIMED};
use crate::roles::{self, KeyPlan, PublicKeyEntry};

/// The largest bin count a ceremony may set up, as `bulwark serve` allows.
pub const MAX_BIN_BITS: u32 = 16;

/// The roles whose keys are offline, and which the ceremony therefore signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OfflineRole {
    /// `root`
    Root,
    /// `targets`
    Targets,
    /// `claimed`
    Claimed,
    /// `unclaimed`
    Unclaimed,
}

impl OfflineRole {
    /// Every offline role, root first.
    pub const ALL: [Self; 4] = [Self::Root, Self::Targets, Self::Claimed, Self::Unclaimed];

    /// The role's name in metadata and file names.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => RoleName::ROOT,
            Self::Targets => RoleName::TARGETS,
            Self::Claimed => CLAIMED,
            Self::Unclaimed => UNCLAIMED,
        }
    }

    /// The role called `name`, if it is an offline role.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for OfflineRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a ceremony step refused. Nothing is written when any step refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// A document is not well-formed metadata of its role's type.
    #[error("{role} metadata is malformed")]
    Malformed {
        /// The role the document was read as.
        role: OfflineRole,
        /// What is wrong with it.
        #[source]
        source: MetadataError,
    },
    /// A signature file is not one.
    #[error("not a signature file: {0}")]
    MalformedSignatureFile(&'static str),
    /// A signature file is for another role or version than the document.
    #[error(
        "the signature is for {found_role} version {found_version}, not for {role} version {version}"
    )]
    WrongDocument {
        /// The document's role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// The role the signature file names.
        found_role: OfflineRole,
        /// The version the signature file names.
        found_version: u64,
    },
    /// The signature file's `signed_sha256` is not the document's: the
    /// signature was made over a different document.
    #[error(
        "the signature by key {keyid} was made over a different document (signed_sha256 {found}, this document's is {expected})"
    )]
    DifferentDocument {
        /// The signing key.
        keyid: String,
        /// The digest the signature file names.
        found: String,
        /// The digest of this document's canonical signed bytes.
        expected: String,
    },
    /// The key is not one the authority lists for the role.
    #[error("key {keyid} is not authorised to sign {role}")]
    Unauthorised {
        /// The key.
        keyid: String,
        /// The role.
        role: OfflineRole,
    },
    /// The document already carries a signature by this key.
    #[error("key {keyid} has already signed this document")]
    DuplicateKey {
        /// The key.
        keyid: String,
    },
    /// The signature does not verify over the document's canonical signed bytes.
    #[error("the signature by key {keyid} does not verify over this document")]
    BadSignature {
        /// The key.
        keyid: String,
    },
    /// Fewer distinct authorised keys signed than the threshold.
    #[error(
        "{role} version {version} is signed by {valid} of the {threshold} keys that {by} requires"
    )]
    BelowThreshold {
        /// The role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// Distinct authorised keys with a valid signature.
        valid: u64,
        /// The threshold.
        threshold: u64,
        /// Whose threshold: `root version 1`, `targets version 2`, …
        by: String,
    },
    /// The document has expired.
    #[error("{role} version {version} expired at {expires}")]
    Expired {
        /// The role.
        role: OfflineRole,
        /// The document's version.
        version: u64,
        /// Its expiry.
        expires: Timestamp,
    },
    /// Checking the document needs an authority that was not given.
    #[error("checking {role} needs {needs}")]
    NeedsAuthority {
        /// The role.
        role: OfflineRole,
        /// What is needed.
        needs: &'static str,
    },
    /// The delegator given does not delegate to the role.
    #[error("the delegator does not delegate to {role}")]
    NotDelegated {
        /// The role.
        role: OfflineRole,
    },
    /// A version out of sequence.
    #[error("{role} version {offered} was offered where version {expected} was expected")]
    WrongVersion {
        /// The role.
        role: OfflineRole,
        /// The version offered.
        offered: u64,
        /// The version expected.
        expected: u64,
    },
    /// One role and version offered twice.
    #[error("{role} version {version} is offered twice")]
    Duplicate {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
    },
    /// A new repository needs version 1 of every offline role.
    #[error(
        "the repository has no {0} metadata: a new repository needs version 1 of root, targets, claimed and unclaimed"
    )]
    Missing(OfflineRole),
    /// The repository would not work as Bulwark's publisher expects.
    #[error("the repository would be incoherent: {0}")]
    Incoherent(String),
    /// The keys given for a new document do not make a sound plan.
    #[error("{0}")]
    Plan(String),
    /// TUF verification refused the document for a reason not listed above.
    #[error("{role} version {version} was refused")]
    Refused {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
        /// Why.
        #[source]
        source: Box<Refused>,
    },
    /// A document already installed does not verify (under the new state,
    /// when the install changes its authority).
    #[error("the installed {role} version {version} does not verify")]
    Installed {
        /// The role.
        role: OfflineRole,
        /// The version.
        version: u64,
        /// Why.
        #[source]
        source: Box<CeremonyError>,
    },
    /// A key could not be used.
    #[error("a key could not be used")]
    Key(#[source] KeyError),
    /// A public key object is invalid.
    #[error("a public key is invalid")]
    PublicKey(#[source] SchemaError),
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
}

/// A document's body: root, or one of the targets-type offline roles.
#[derive(Clone, Debug)]
pub enum Body {
    /// Root metadata.
    Root(Envelope<Root>),
    /// Targets, claimed or unclaimed metadata.
    Targets(Envelope<Targets>),
}

/// Metadata of one offline role, signed or not.
#[derive(Clone, Debug)]
pub struct Document {
    role: OfflineRole,
    body: Body,
}

impl Document {
    /// Parses `bytes` as metadata for `role`.
    pub fn parse(role: OfflineRole, bytes: &[u8]) -> Result<Self, CeremonyError> {
        let malformed = |source| CeremonyError::Malformed { role, source };
        let body = match role {
            OfflineRole::Root => Body::Root(Envelope::parse(bytes).map_err(malformed)?),
            _ => Body::Targets(Envelope::parse(bytes).map_err(malformed)?),
        };
        Ok(Self { role, body })
    }

    fn root(envelope: Envelope<Root>) -> Self {
        Self {
            role: OfflineRole::Root,
            body: Body::Root(envelope),
        }
    }

    /// `role` must not be root.
    fn targets(role: OfflineRole, envelope: Envelope<Targets>) -> Self {
        debug_assert_ne!(role, OfflineRole::Root);
        Self {
            role,
            body: Body::Targets(envelope),
        }
    }

    /// The role.
    #[must_use]
    pub fn role(&self) -> OfflineRole {
        self.role
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &Body {
        &self.body
    }

    fn common(&self) -> &Common {
        match &self.body {
            Body::Root(e) => &e.signed.common,
            Body::Targets(e) => &e.signed.common,
        }
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.common().version
    }

    /// The expiry.
    #[must_use]
    pub fn expires(&self) -> Timestamp {
        self.common().expires
    }

    /// The signatures it carries.
    #[must_use]
    pub fn signatures(&self) -> &[Signature] {
        match &self.body {
            Body::Root(e) => &e.signatures,
            Body::Targets(e) => &e.signatures,
        }
    }

    fn signatures_mut(&mut self) -> &mut Vec<Signature> {
        match &mut self.body {
            Body::Root(e) => &mut e.signatures,
            Body::Targets(e) => &mut e.signatures,
        }
    }

    /// The canonical bytes of `signed`: what every signature covers.
    #[must_use]
    pub fn canonical_signed(&self) -> &[u8] {
        match &self.body {
            Body::Root(e) => e.canonical_signed(),
            Body::Targets(e) => e.canonical_signed(),
        }
    }

    /// The SHA-256 of [`Document::canonical_signed`], which key holders
    /// compare before signing and which signature files name.
    #[must_use]
    pub fn signed_sha256(&self) -> String {
        sha256_hex(self.canonical_signed())
    }

    /// The whole document, as it is published.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Root(e) => e.to_bytes(),
            Body::Targets(e) => e.to_bytes(),
        }
    }

    /// Its file name: `<version>.<role>.json`.
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}.{}.json", self.version(), self.role)
    }

    /// Its blob key in a repository (`tuf/metadata/<version>.<role>.json`).
    #[must_use]
    pub fn blob_key(&self) -> String {
        layout::metadata_key(self.role.name(), self.version())
    }

    /// A summary for the people who sign it: what each key is trusted for.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} version {} (expires {})\n  signed_sha256 {}\n",
            self.role,
            self.version(),
            self.expires(),
            self.signed_sha256()
        );
        match &self.body {
            Body::Root(e) => {
                for (name, keys) in &e.signed.roles {
                    let _ = writeln!(out, "  {name}: {}", describe_keys(keys));
                }
            }
            Body::Targets(e) => describe_delegations(&mut out, e.signed.delegations.as_ref()),
        }
        let signers: Vec<&str> = self.signatures().iter().map(|s| s.keyid.as_str()).collect();
        let _ = writeln!(
            out,
            "  signed by: {}",
            if signers.is_empty() {
                "nobody yet".to_owned()
            } else {
                signers.join(" ")
            }
        );
        out
    }
}

fn describe_keys(keys: &RoleKeys) -> String {
    format!(
        "{} of {} keys: {}",
        keys.threshold,
        keys.keyids.len(),
        keys.keyids.join(" ")
    )
}

fn describe_delegations(out: &mut String, delegations: Option<&Delegations>) {
    let Some(roles) = delegations.map(|d| &d.roles) else {
        out.push_str("  delegates nothing\n");
        return;
    };
    match roles {
        DelegatedRoles::List(list) => {
            if list.is_empty() {
                out.push_str("  delegates to nobody yet\n");
            }
            for role in list {
                let paths = match &role.paths {
                    PathSpec::Patterns(p) => format!("paths {}", p.join(" ")),
                    PathSpec::HashPrefixes(p) => format!("hash prefixes {}", p.join(" ")),
                };
                let kind = if role.terminating {
                    "terminating"
                } else {
                    "non-terminating"
                };
                let _ = writeln!(
                    out,
                    "  delegates {} ({paths}, {kind}): {}",
                    role.name,
                    describe_keys(&role.keys)
                );
            }
        }
        DelegatedRoles::Succinct(s) => {
            let _ = writeln!(
                out,
                "  delegates {} bins {}-*: {}",
                s.bin_count(),
                s.name_prefix,
                describe_keys(&s.keys)
            );
        }
    }
}

/// Reads `<version>.<role>.json`, the names ceremony documents carry.
#[must_use]
pub fn parse_file_name(name: &str) -> Option<(u64, OfflineRole)> {
    let (version, role) = name.strip_suffix(".json")?.split_once('.')?;
    let number: u64 = version.parse().ok()?;
    (number >= 1 && number.to_string() == version).then_some(())?;
    Some((number, OfflineRole::from_name(role)?))
}

/// One key holder's signature over one document, as passed from the key
/// holder's machine to whoever combines the signatures.
///
/// ```json
/// {"keyid": "…", "role": "root", "sig": "…", "signed_sha256": "…", "version": 2}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureFile {
    /// The signing key.
    pub keyid: String,
    /// The signature over the document's canonical signed bytes.
    pub sig: String,
    /// The document's role.
    pub role: OfflineRole,
    /// The document's version.
    pub version: u64,
    /// The SHA-256 of the document's canonical signed bytes.
    pub signed_sha256: String,
}

impl SignatureFile {
    /// The file's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let object: BTreeMap<String, Value> = [
            ("keyid", self.keyid.as_str().into()),
            ("sig", self.sig.as_str().into()),
            ("role", self.role.name().into()),
            (
                "version",
                Value::Int(i64::try_from(self.version).unwrap_or(i64::MAX)),
            ),
            ("signed_sha256", self.signed_sha256.as_str().into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut bytes = json::to_vec(&Value::Object(object));
        bytes.push(b'\n');
        bytes
    }

    /// Parses a signature file.
    pub fn parse(bytes: &[u8]) -> Result<Self, CeremonyError> {
        let Ok(Value::Object(map)) = json::parse(bytes) else {
            return Err(CeremonyError::MalformedSignatureFile("not a JSON object"));
        };
        let text = |key: &'static str| match map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(CeremonyError::MalformedSignatureFile(
                "keyid, sig, role and signed_sha256 must be strings",
            )),
        };
        let role = OfflineRole::from_name(&text("role")?).ok_or(
            CeremonyError::MalformedSignatureFile("role is not an offline role"),
        )?;
        let version = match map.get("version") {
            Some(Value::Int(n)) => u64::try_from(*n).ok().filter(|v| *v >= 1),
            _ => None,
        }
        .ok_or(CeremonyError::MalformedSignatureFile(
            "version must be a positive integer",
        ))?;
        Ok(Self {
            keyid: text("keyid")?,
            sig: text("sig")?,
            role,
            version,
            signed_sha256: text("signed_sha256")?,
        })
    }
}

/// What says who may sign a document.
#[derive(Clone, Copy, Debug)]
pub enum Authority<'a> {
    /// Nothing beyond the document: enough for root version 1, and for
    /// signing any root with one of its own root keys.
    None,
    /// A root: for root N+1 the previous root (whose root keys may sign too
    /// and whose threshold must also be met); for targets, the root that
    /// lists the targets keys.
    Root(&'a Envelope<Root>),
    /// The top-level targets metadata: for claimed and unclaimed.
    Delegator(&'a Envelope<Targets>),
}

/// Keys that may sign a document, and the threshold of them it needs.
struct Grant<'a> {
    keys: &'a BTreeMap<String, Key>,
    role: &'a RoleKeys,
    by: String,
}

/// Every grant under which `doc` may be signed: for root its own and (for
/// N+1) the previous root's; for the others the one their delegator gives.
fn grants<'a>(
    doc: &'a Document,
    authority: Authority<'a>,
) -> Result<Vec<Grant<'a>>, CeremonyError> {
    let role = doc.role;
    let root_grant = |root: &'a Envelope<Root>, name: &str| {
        let keys = root
            .signed
            .role(name)
            .ok_or(CeremonyError::NeedsAuthority {
                role,
                needs: "a root that lists the role",
            })?;
        Ok::<_, CeremonyError>(Grant {
            keys: &root.signed.keys,
            role: keys,
            by: format!("root version {}", root.signed.common.version),
        })
    };
    match (&doc.body, authority) {
        (Body::Root(own), Authority::None) => Ok(vec![root_grant(own, RoleName::ROOT)?]),
        (Body::Root(own), Authority::Root(previous)) => {
            let expected = previous.signed.common.version.saturating_add(1);
            if own.signed.common.version != expected {
                return Err(CeremonyError::WrongVersion {
                    role,
                    offered: own.signed.common.version,
                    expected,
                });
            }
            Ok(vec![
                root_grant(own, RoleName::ROOT)?,
                root_grant(previous, RoleName::ROOT)?,
            ])
        }
        (Body::Targets(_), Authority::Root(root)) if role == OfflineRole::Targets => {
            Ok(vec![root_grant(root, RoleName::TARGETS)?])
        }
        (Body::Targets(_), Authority::Delegator(targets)) if role != OfflineRole::Targets => {
            let delegations = targets
                .signed
                .delegations
                .as_ref()
                .ok_or(CeremonyError::NotDelegated { role })?;
            let keys = delegations
                .role_keys(&RoleName::new(role.name()))
                .ok_or(CeremonyError::NotDelegated { role })?;
            let by = format!("targets version {}", targets.signed.common.version);
            Ok(vec![Grant {
                keys: &delegations.keys,
                role: keys,
                by,
            }])
        }
        (Body::Root(_), Authority::Delegator(_)) => Err(CeremonyError::NeedsAuthority {
            role,
            needs: "the previous root, if any",
        }),
        (Body::Targets(_), _) if role == OfflineRole::Targets => {
            Err(CeremonyError::NeedsAuthority {
                role,
                needs: "the root that lists the targets keys",
            })
        }
        (Body::Targets(_), _) => Err(CeremonyError::NeedsAuthority {
            role,
            needs: "the targets metadata that delegates to it",
        }),
    }
}

/// The key `keyid` if one of `grants` authorises it and it is usable.
fn authorised_key<'a>(grants: &[Grant<'a>], keyid: &str) -> Option<&'a Key> {
    grants
        .iter()
        .filter(|g| g.role.keyids.iter().any(|k| k == keyid))
        .find_map(|g| g.keys.get(keyid).filter(|k| k.verifier().is_some()))
}

/// Signs `doc` with `key`, refusing a key that `authority` does not list
/// for the document's role.
pub fn sign(
    doc: &Document,
    key: &SigningKey,
    authority: Authority<'_>,
) -> Result<SignatureFile, CeremonyError> {
    let keyid = key.key_id();
    if authorised_key(&grants(doc, authority)?, &keyid).is_none() {
        return Err(CeremonyError::Unauthorised {
            keyid,
            role: doc.role,
        });
    }
    let sig = key
        .sign(doc.canonical_signed())
        .map_err(CeremonyError::Key)?;
    Ok(SignatureFile {
        keyid,
        sig,
        role: doc.role,
        version: doc.version(),
        signed_sha256: doc.signed_sha256(),
    })
}

/// Adds one key holder's signature to `doc` after checking that it is for
/// this document, by an authorised key not yet counted, and valid.
pub fn add_signature(
    doc: &mut Document,
    signature: &SignatureFile,
    authority: Authority<'_>,
) -> Result<(), CeremonyError> {
    if signature.role != doc.role || signature.version != doc.version() {
        return Err(CeremonyError::WrongDocument {
            role: doc.role,
            version: doc.version(),
            found_role: signature.role,
            found_version: signature.version,
        });
    }
    let expected = doc.signed_sha256();
    if signature.signed_sha256 != expected {
        return Err(CeremonyError::DifferentDocument {
            keyid: signature.keyid.clone(),
            found: signature.signed_sha256.clone(),
            expected,
        });
    }
    check_one(doc, &signature.keyid, &signature.sig, authority)?;
    if doc.signatures().iter().any(|s| s.keyid == signature.keyid) {
        return Err(CeremonyError::DuplicateKey {
            keyid: signature.keyid.clone(),
        });
    }
    doc.signatures_mut().push(Signature {
        keyid: signature.keyid.clone(),
        sig: signature.sig.clone(),
        unknown: BTreeMap::new(),
    });
    Ok(())
}

/// Checks every signature `doc` already carries as [`add_signature`] checks
/// a new one, so that a combined document holds no stray signatures.
pub fn check_signatures(doc: &Document, authority: Authority<'_>) -> Result<(), CeremonyError> {
    doc.signatures()
        .iter()
        .try_for_each(|s| check_one(doc, &s.keyid, &s.sig, authority))
}

fn check_one(
    doc: &Document,
    keyid: &str,
    sig: &str,
    authority: Authority<'_>,
) -> Result<(), CeremonyError> {
    let grants = grants(doc, authority)?;
    let key = authorised_key(&grants, keyid).ok_or_else(|| CeremonyError::Unauthorised {
        keyid: keyid.to_owned(),
        role: doc.role,
    })?;
    if key
        .verifier()
        .is_some_and(|v| v.verify(doc.canonical_signed(), sig))
    {
        Ok(())
    } else {
        Err(CeremonyError::BadSignature {
            keyid: keyid.to_owned(),
        })
    }
}

/// Refuses `doc` unless it is signed by a threshold of the keys authorised
/// for it — for root N+1, by the previous root's threshold and by its own —
/// and unexpired at `now`.
pub fn check_threshold(
    doc: &Document,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    let expired = || CeremonyError::Expired {
        role: doc.role,
        version: doc.version(),
        expires: doc.expires(),
    };
    match &doc.body {
        Body::Root(root) => {
            let previous = match authority {
                Authority::Root(previous) => {
                    grants(doc, authority)?;
                    Some(previous)
                }
                Authority::None if doc.version() == 1 => None,
                _ => {
                    return Err(CeremonyError::NeedsAuthority {
                        role: doc.role,
                        needs: "the previous root",
                    });
                }
            };
            let bytes = root.to_bytes();
            TrustedSet::new(&bytes, now)
                .map_err(|e| refusal(doc, &format!("root version {}", doc.version()), e))?;
            if let Some(previous) = previous {
                let by = format!("root version {}", previous.signed.common.version);
                let mut set = TrustedSet::new(&previous.to_bytes(), now).map_err(|e| {
                    CeremonyError::Refused {
                        role: OfflineRole::Root,
                        version: previous.signed.common.version,
                        source: Box::new(e),
                    }
                })?;
                set.update_root(&bytes).map_err(|e| refusal(doc, &by, e))?;
            }
            if doc.common().is_expired(now) {
                return Err(expired());
            }
            Ok(())
        }
        Body::Targets(targets) => {
            let grants = grants(doc, authority)?;
            let grant = grants
                .first()
                .ok_or(CeremonyError::NotDelegated { role: doc.role })?;
            check_targets(doc, targets, grant, now)
        }
    }
}

/// A refusal of the trusted set, in the ceremony's terms.
fn refusal(doc: &Document, by: &str, refused: Refused) -> CeremonyError {
    let (role, version) = (doc.role, doc.version());
    match refused {
        Refused::BelowThreshold {
            valid, threshold, ..
        } => CeremonyError::BelowThreshold {
            role,
            version,
            valid,
            threshold,
            by: by.to_owned(),
        },
        Refused::Expired { expires, .. } => CeremonyError::Expired {
            role,
            version,
            expires,
        },
        other => CeremonyError::Refused {
            role,
            version,
            source: Box::new(other),
        },
    }
}

/// Checks a targets-type document against `grant`: a threshold of the keys
/// the grant authorises (counted by bulwark-tuf's one threshold function,
/// §5.6.3), and not expired (§5.6.5).
fn check_targets(
    doc: &Document,
    targets: &Envelope<Targets>,
    grant: &Grant<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    let role = RoleName::new(doc.role.name());
    targets
        .check_signatures(&role, grant.keys, grant.role)
        .map_err(|e| refusal(doc, &grant.by, e))?;
    if targets.signed.common.is_expired(now) {
        let expires = targets.signed.common.expires;
        return Err(refusal(doc, &grant.by, Refused::Expired { role, expires }));
    }
    Ok(())
}

/// A time at which a document that expires at `expires` is not yet
/// expired: `now`, or just before the expiry. Used to check the signatures
/// of documents already installed, whose expiry is not an install's concern.
fn unexpired(now: Timestamp, expires: Timestamp) -> Timestamp {
    if expires <= now {
        expires.plus_seconds(-1)
    } else {
        now
    }
}

/// The public keys of a new repository and how its documents are laid out.
#[derive(Clone, Debug)]
pub struct InitPlan {
    /// The root keys.
    pub root: Vec<PublicKeyEntry>,
    /// How many root keys must sign a root.
    pub root_threshold: u64,
    /// The targets keys.
    pub targets: Vec<PublicKeyEntry>,
    /// How many targets keys must sign targets.
    pub targets_threshold: u64,
    /// The claimed key.
    pub claimed: PublicKeyEntry,
    /// The unclaimed key.
    pub unclaimed: PublicKeyEntry,
    /// The online key (timestamp, snapshot, recently-claimed, bins).
    pub online: PublicKeyEntry,
    /// `2^bin_bits` hashed bins.
    pub bin_bits: u32,
    /// When the version 1 documents expire.
    pub expires: Timestamp,
}

fn check_threshold_range(
    role: OfflineRole,
    keys: &[PublicKeyEntry],
    threshold: u64,
) -> Result<(), CeremonyError> {
    if threshold == 0 || threshold > keys.len() as u64 {
        return Err(CeremonyError::Plan(format!(
            "the {role} threshold must be between 1 and the number of {role} keys ({})",
            keys.len()
        )));
    }
    Ok(())
}

/// Refuses a key given twice, or for two roles: PEP 458 wants every offline
/// role's keys independent, and the online key must never be an offline one.
fn check_independent<'a>(
    uses: impl IntoIterator<Item = (&'a str, &'a PublicKeyEntry)>,
) -> Result<(), CeremonyError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (role, entry) in uses {
        if let Some(first) = seen.insert(&entry.keyid, role) {
            let problem = if first == role {
                format!("is given twice for {role}")
            } else {
                format!("is given for both {first} and {role}")
            };
            return Err(CeremonyError::Plan(format!(
                "key {} {problem}: every role needs its own keys",
                entry.keyid
            )));
        }
    }
    Ok(())
}

/// The unsigned version 1 documents of a new repository: root, targets,
/// claimed, unclaimed — the same bodies as the development set-up's.
pub fn init(plan: &InitPlan) -> Result<[Document; 4], CeremonyError> {
    check_threshold_range(OfflineRole::Root, &plan.root, plan.root_threshold)?;
    check_threshold_range(OfflineRole::Targets, &plan.targets, plan.targets_threshold)?;
    if !(1..=MAX_BIN_BITS).contains(&plan.bin_bits) {
        return Err(CeremonyError::Plan(format!(
            "bin bits must be between 1 and {MAX_BIN_BITS}"
        )));
    }
    check_independent(
        plan.root
            .iter()
            .map(|k| ("root", k))
            .chain(plan.targets.iter().map(|k| ("targets", k)))
            .chain([
                ("claimed", &plan.claimed),
                ("unclaimed", &plan.unclaimed),
                ("online", &plan.online),
            ]),
    )?;
    let key_plan = KeyPlan {
        root: plan.root.clone(),
        root_threshold: plan.root_threshold,
        targets: plan.targets.clone(),
        targets_threshold: plan.targets_threshold,
        online: plan.online.clone(),
    };
    let expires = plan.expires;
    Ok([
        Document::root(Envelope::new(roles::root(&key_plan, 1, expires))),
        Document::targets(
            OfflineRole::Targets,
            Envelope::new(roles::targets(
                &plan.claimed,
                &plan.online,
                &plan.unclaimed,
                1,
                expires,
            )),
        ),
        Document::targets(
            OfflineRole::Claimed,
            Envelope::new(roles::project_delegator(1, expires)),
        ),
        Document::targets(
            OfflineRole::Unclaimed,
            Envelope::new(roles::unclaimed(&plan.online, plan.bin_bits, 1, expires)),
        ),
    ])
}

/// The offline metadata a repository has installed: the newest version of
/// each role, all verified (root through its chain from version 1).
#[derive(Clone, Debug)]
pub struct Current {
    /// The newest root.
    pub root: Envelope<Root>,
    /// The newest targets.
    pub targets: Envelope<Targets>,
    /// The newest claimed.
    pub claimed: Envelope<Targets>,
    /// The newest unclaimed.
    pub unclaimed: Envelope<Targets>,
}

impl Current {
    /// Reads and verifies the installed offline metadata; `None` when the
    /// repository has no root yet. Expiry is not checked: renewing expired
    /// metadata is what a ceremony is for.
    pub fn load(blobs: &dyn BlobStore, now: Timestamp) -> Result<Option<Self>, CeremonyError> {
        let Some(first) = blobs.get(&layout::metadata_key(RoleName::ROOT, 1))? else {
            return Ok(None);
        };
        let mut root = installed_root(&first, None, now)?;
        while let Some(bytes) = blobs.get(&layout::metadata_key(
            RoleName::ROOT,
            root.signed.common.version + 1,
        ))? {
            root = installed_root(&bytes, Some(&root), now)?;
        }
        let targets = newest(blobs, OfflineRole::Targets, Authority::Root(&root), now)?;
        let claimed = newest(
            blobs,
            OfflineRole::Claimed,
            Authority::Delegator(&targets),
            now,
        )?;
        let unclaimed = newest(
            blobs,
            OfflineRole::Unclaimed,
            Authority::Delegator(&targets),
            now,
        )?;
        Ok(Some(Self {
            root,
            targets,
            claimed,
            unclaimed,
        }))
    }

    /// The online key ID, after checking that timestamp, snapshot,
    /// recently-claimed and the bins all use it and no offline role does:
    /// `bulwark serve` must hold exactly this key.
    pub fn online_keyid(&self) -> Result<String, CeremonyError> {
        check_layout(
            &self.root.signed,
            &self.targets.signed,
            &self.unclaimed.signed,
        )
    }

    /// The `bit_length` of the hashed bins unclaimed delegates to: the
    /// publisher must sign exactly these bins.
    #[must_use]
    pub fn bin_bits(&self) -> Option<u32> {
        match &self.unclaimed.signed.delegations.as_ref()?.roles {
            DelegatedRoles::Succinct(bins) => Some(bins.bit_length),
            DelegatedRoles::List(_) => None,
        }
    }

    /// The installed document of `role`.
    #[must_use]
    pub fn document(&self, role: OfflineRole) -> Document {
        match role {
            OfflineRole::Root => Document::root(self.root.clone()),
            OfflineRole::Targets => Document::targets(role, self.targets.clone()),
            OfflineRole::Claimed => Document::targets(role, self.claimed.clone()),
            OfflineRole::Unclaimed => Document::targets(role, self.unclaimed.clone()),
        }
    }
}

/// Checks an installed document's signatures (not its expiry).
fn installed(
    doc: &Document,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<(), CeremonyError> {
    check_threshold(doc, authority, unexpired(now, doc.expires())).map_err(|e| {
        CeremonyError::Installed {
            role: doc.role,
            version: doc.version(),
            source: Box::new(e),
        }
    })
}

fn installed_root(
    bytes: &[u8],
    previous: Option<&Envelope<Root>>,
    now: Timestamp,
) -> Result<Envelope<Root>, CeremonyError> {
    let envelope: Envelope<Root> =
        Envelope::parse(bytes).map_err(|source| CeremonyError::Malformed {
            role: OfflineRole::Root,
            source,
        })?;
    installed(
        &Document::root(envelope.clone()),
        previous.map_or(Authority::None, Authority::Root),
        now,
    )?;
    Ok(envelope)
}

fn newest(
    blobs: &dyn BlobStore,
    role: OfflineRole,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<Envelope<Targets>, CeremonyError> {
    let mut version = 0;
    while blobs
        .len(&layout::metadata_key(role.name(), version + 1))?
        .is_some()
    {
        version += 1;
    }
    let bytes = blobs
        .get(&layout::metadata_key(role.name(), version))?
        .ok_or(CeremonyError::Missing(role))?;
    let envelope: Envelope<Targets> =
        Envelope::parse(&bytes).map_err(|source| CeremonyError::Malformed { role, source })?;
    installed(&Document::targets(role, envelope.clone()), authority, now)?;
    Ok(envelope)
}

/// What [`plan_install`] decided.
#[derive(Clone, Debug)]
pub struct InstallPlan {
    /// `(blob key, bytes)`, to be written in this order: delegated roles,
    /// then targets, then roots (so a new repository's root comes last; its
    /// presence marks the repository as created).
    pub writes: Vec<(String, Vec<u8>)>,
    /// True when the writes create the repository.
    pub creates: bool,
    /// The online key after the install.
    pub online_keyid: String,
    /// True when the online key changes: the server must be restarted with
    /// the new key.
    pub online_key_changed: bool,
}

/// Checks `offered` signed documents against the installed state (`None`
/// for a new repository) and returns what to write. Roots must continue the
/// chain; every other role must be exactly one version newer and verify
/// under the root (or targets) in force after the install; documents left
/// in place must still verify under it; and the result must have one online
/// key for timestamp, snapshot, recently-claimed and the bins, which no
/// offline role uses. Offered documents are checked at `now`, expiry
/// included.
pub fn plan_install(
    current: Option<&Current>,
    offered: &[Document],
    now: Timestamp,
) -> Result<InstallPlan, CeremonyError> {
    let mut roots: Vec<(&Document, &Envelope<Root>)> = Vec::new();
    let mut others: BTreeMap<OfflineRole, (&Document, &Envelope<Targets>)> = BTreeMap::new();
    for doc in offered {
        let duplicate = || CeremonyError::Duplicate {
            role: doc.role,
            version: doc.version(),
        };
        match &doc.body {
            Body::Root(_) if roots.iter().any(|(d, _)| d.version() == doc.version()) => {
                return Err(duplicate());
            }
            Body::Root(envelope) => roots.push((doc, envelope)),
            Body::Targets(envelope) => {
                if others.insert(doc.role, (doc, envelope)).is_some() {
                    return Err(duplicate());
                }
            }
        }
    }
    roots.sort_by_key(|(d, _)| d.version());
    let mut root = current.map(|c| &c.root);
    for (doc, envelope) in roots {
        let expected = root.map_or(1, |r| r.signed.common.version + 1);
        if doc.version() != expected {
            return Err(CeremonyError::WrongVersion {
                role: doc.role,
                offered: doc.version(),
                expected,
            });
        }
        check_threshold(doc, root.map_or(Authority::None, Authority::Root), now)?;
        root = Some(envelope);
    }
    let root = root.ok_or(CeremonyError::Missing(OfflineRole::Root))?;
    let after =
        |role: OfflineRole, installed: Option<&Envelope<Targets>>, authority: Authority<'_>| {
            settle(role, others.get(&role).copied(), installed, authority, now)
        };
    let targets = after(
        OfflineRole::Targets,
        current.map(|c| &c.targets),
        Authority::Root(root),
    )?;
    after(
        OfflineRole::Claimed,
        current.map(|c| &c.claimed),
        Authority::Delegator(&targets),
    )?;
    let unclaimed = after(
        OfflineRole::Unclaimed,
        current.map(|c| &c.unclaimed),
        Authority::Delegator(&targets),
    )?;
    let online_keyid = check_layout(&root.signed, &targets.signed, &unclaimed.signed)?;
    let online_key_changed = current
        .and_then(|c| c.root.signed.role(RoleName::TIMESTAMP))
        .is_some_and(|keys| keys.keyids != [online_keyid.clone()]);
    let mut ordered: Vec<&Document> = offered.iter().collect();
    ordered.sort_by_key(|d| (write_rank(d.role), d.version()));
    Ok(InstallPlan {
        writes: ordered
            .into_iter()
            .map(|d| (d.blob_key(), d.to_bytes()))
            .collect(),
        creates: current.is_none(),
        online_keyid,
        online_key_changed,
    })
}

fn write_rank(role: OfflineRole) -> u8 {
    match role {
        OfflineRole::Claimed => 0,
        OfflineRole::Unclaimed => 1,
        OfflineRole::Targets => 2,
        OfflineRole::Root => 3,
    }
}

/// The role's metadata after an install: the offered version, checked at
/// `now`, or the installed one, whose signatures must still verify under
/// `authority` (which the install may have changed).
fn settle(
    role: OfflineRole,
    offered: Option<(&Document, &Envelope<Targets>)>,
    current: Option<&Envelope<Targets>>,
    authority: Authority<'_>,
    now: Timestamp,
) -> Result<Envelope<Targets>, CeremonyError> {
    match (offered, current) {
        (Some((doc, envelope)), current) => {
            let expected = current.map_or(1, |c| c.signed.common.version + 1);
            if doc.version() != expected {
                return Err(CeremonyError::WrongVersion {
                    role,
                    offered: doc.version(),
                    expected,
                });
            }
            check_threshold(doc, authority, now)?;
            Ok(envelope.clone())
        }
        (None, Some(envelope)) => {
            installed(&Document::targets(role, envelope.clone()), authority, now)?;
            Ok(envelope.clone())
        }
        (None, None) => Err(CeremonyError::Missing(role)),
    }
}

/// The one key ID of a role signed by the online key, or why it is not one.
fn single_key(name: &str, keys: Option<&RoleKeys>) -> Result<String, CeremonyError> {
    match keys {
        Some(RoleKeys {
            keyids,
            threshold: 1,
        }) if keyids.len() == 1 => Ok(keyids[0].clone()),
        _ => Err(CeremonyError::Incoherent(format!(
            "{name} must be signed by exactly one key, the online key"
        ))),
    }
}

/// Checks the layout of DESIGN.md §3 that the publisher relies on, and
/// returns the online key ID.
fn check_layout(
    root: &Root,
    targets: &Targets,
    unclaimed: &Targets,
) -> Result<String, CeremonyError> {
    let incoherent = |why: &str| CeremonyError::Incoherent(why.to_owned());
    if !root.consistent_snapshot {
        return Err(incoherent("root must enable consistent snapshots"));
    }
    let online = single_key("timestamp", root.role(RoleName::TIMESTAMP))?;
    if single_key("snapshot", root.role(RoleName::SNAPSHOT))? != online {
        return Err(incoherent(
            "timestamp and snapshot must share the online key",
        ));
    }
    let order = "targets must delegate to claimed, recently-claimed and unclaimed, in that order";
    let Some(DelegatedRoles::List(list)) = targets.delegations.as_ref().map(|d| &d.roles) else {
        return Err(incoherent(order));
    };
    let [claimed, recent, unclaimed_role] = list.as_slice() else {
        return Err(incoherent(order));
    };
    if [&claimed.name, &recent.name, &unclaimed_role.name].map(RoleName::as_str)
        != [CLAIMED, RECENTLY_CLAIMED, UNCLAIMED]
    {
        return Err(incoherent(order));
    }
    if single_key(RECENTLY_CLAIMED, Some(&recent.keys))? != online {
        return Err(incoherent(
            "recently-claimed must be delegated to the online key of timestamp and snapshot",
        ));
    }
    let Some(DelegatedRoles::Succinct(bins)) = unclaimed.delegations.as_ref().map(|d| &d.roles)
    else {
        return Err(incoherent(
            "unclaimed must delegate to succinct hashed bins",
        ));
    };
    if bins.name_prefix != BIN_PREFIX || single_key("the bins", Some(&bins.keys))? != online {
        return Err(incoherent(
            "unclaimed must delegate bins named bin-* to the online key of timestamp and snapshot",
        ));
    }
    let offline = [
        ("root", root.role(RoleName::ROOT)),
        ("targets", root.role(RoleName::TARGETS)),
        ("claimed", Some(&claimed.keys)),
        ("unclaimed", Some(&unclaimed_role.keys)),
    ];
    if let Some((role, _)) = offline
        .iter()
        .find(|(_, keys)| keys.is_some_and(|k| k.keyids.contains(&online)))
    {
        return Err(CeremonyError::Incoherent(format!(
            "the online key {online} is also a {role} key, so the server would hold an offline key"
        )));
    }
    Ok(online)
}

/// The next version of `common`, expiring at `expires`.
fn bump(common: &mut Common, expires: Timestamp) {
    common.version += 1;
    common.expires = expires;
}

/// Drops keys no role of `root` uses any more.
fn prune_root_keys(root: &mut Root) {
    let used: BTreeSet<String> = root
        .roles
        .values()
        .flat_map(|r| r.keyids.iter().cloned())
        .collect();
    root.keys.retain(|id, _| used.contains(id));
}

/// Drops keys no delegated role uses any more.
fn prune_delegation_keys(delegations: &mut Delegations) {
    let used: BTreeSet<String> = match &delegations.roles {
        DelegatedRoles::List(list) => list
            .iter()
            .flat_map(|r| r.keys.keyids.iter().cloned())
            .collect(),
        DelegatedRoles::Succinct(s) => s.keys.keyids.iter().cloned().collect(),
    };
    delegations.keys.retain(|id, _| used.contains(id));
}

fn only(entry: &PublicKeyEntry) -> RoleKeys {
    RoleKeys {
        keyids: vec![entry.keyid.clone()],
        threshold: 1,
    }
}

/// Every key ID an offline role of `current` uses.
fn offline_keyids(current: &Current) -> BTreeSet<&str> {
    let root = &current.root.signed;
    let mut ids: BTreeSet<&str> = [RoleName::ROOT, RoleName::TARGETS]
        .iter()
        .filter_map(|name| root.role(name))
        .flat_map(|k| k.keyids.iter().map(String::as_str))
        .collect();
    if let Some(d) = &current.targets.signed.delegations {
        for role in [CLAIMED, UNCLAIMED] {
            ids.extend(
                d.role_keys(&RoleName::new(role))
                    .iter()
                    .flat_map(|k| k.keyids.iter().map(String::as_str)),
            );
        }
    }
    ids
}

/// Unsigned root N+1, targets v+1 and unclaimed v+1 that move timestamp,
/// snapshot, recently-claimed and the bins to the online key `online`
/// (PEP 458, "In the Event of a Key Compromise", steps 1, 2 and 4).
pub fn rotate_online(
    current: &Current,
    online: &PublicKeyEntry,
    expires: Timestamp,
) -> Result<[Document; 3], CeremonyError> {
    if current
        .root
        .signed
        .role(RoleName::TIMESTAMP)
        .is_some_and(|k| k.keyids == [online.keyid.clone()])
    {
        return Err(CeremonyError::Plan(format!(
            "key {} is already the online key",
            online.keyid
        )));
    }
    if offline_keyids(current).contains(online.keyid.as_str()) {
        return Err(CeremonyError::Plan(format!(
            "key {} is an offline key; the online key must be a new one",
            online.keyid
        )));
    }
    let mut root = current.root.signed.clone();
    bump(&mut root.common, expires);
    root.roles
        .insert(RoleName::TIMESTAMP.to_owned(), only(online));
    root.roles
        .insert(RoleName::SNAPSHOT.to_owned(), only(online));
    root.keys.insert(online.keyid.clone(), online.key.clone());
    prune_root_keys(&mut root);

    let layout = |what: &str| CeremonyError::Incoherent(format!("the installed {what}"));
    let mut targets = current.targets.signed.clone();
    bump(&mut targets.common, expires);
    let delegations = targets
        .delegations
        .as_mut()
        .ok_or_else(|| layout("targets delegates nothing"))?;
    let DelegatedRoles::List(list) = &mut delegations.roles else {
        return Err(layout(
            "targets delegates to bins, not to claimed, recently-claimed and unclaimed",
        ));
    };
    let recent = list
        .iter_mut()
        .find(|r| r.name.as_str() == RECENTLY_CLAIMED)
        .ok_or_else(|| layout("targets does not delegate to recently-claimed"))?;
    recent.keys = only(online);
    delegations
        .keys
        .insert(online.keyid.clone(), online.key.clone());
    prune_delegation_keys(delegations);

    let mut unclaimed = current.unclaimed.signed.clone();
    bump(&mut unclaimed.common, expires);
    let delegations = unclaimed
        .delegations
        .as_mut()
        .ok_or_else(|| layout("unclaimed delegates nothing"))?;
    let DelegatedRoles::Succinct(bins) = &mut delegations.roles else {
        return Err(layout(
            "unclaimed does not delegate to succinct hashed bins",
        ));
    };
    bins.keys = only(online);
    delegations
        .keys
        .insert(online.keyid.clone(), online.key.clone());
    prune_delegation_keys(delegations);

    Ok([
        Document::root(Envelope::new(root)),
        Document::targets(OfflineRole::Targets, Envelope::new(targets)),
        Document::targets(OfflineRole::Unclaimed, Envelope::new(unclaimed)),
    ])
}

/// Unsigned root N+1 with new root keys and threshold. Clients accept it
/// only when signed by a threshold of the old root keys and of the new.
pub fn rotate_root(
    current: &Current,
    keys: &[PublicKeyEntry],
    threshold: u64,
    expires: Timestamp,
) -> Result<Document, CeremonyError> {
    check_threshold_range(OfflineRole::Root, keys, threshold)?;
    check_independent(keys.iter().map(|k| ("root", k)))?;
    let mut root = current.root.signed.clone();
    for (name, role) in &root.roles {
        if name == RoleName::ROOT {
            continue;
        }
        if let Some(k) = keys.iter().find(|k| role.keyids.contains(&k.keyid)) {
            return Err(CeremonyError::Plan(format!(
                "key {} is a {name} key; root keys must be independent",
                k.keyid
            )));
        }
    }
    bump(&mut root.common, expires);
    root.roles.insert(
        RoleName::ROOT.to_owned(),
        RoleKeys {
            keyids: keys.iter().map(|k| k.keyid.clone()).collect(),
            threshold,
        },
    );
    root.keys
        .extend(keys.iter().map(|k| (k.keyid.clone(), k.key.clone())));
    prune_root_keys(&mut root);
    Ok(Document::root(Envelope::new(root)))
}

/// Unsigned next version of `role`, unchanged except for its version and
/// expiry: the yearly re-signing of offline roles.
#[must_use]
pub fn renew(current: &Current, role: OfflineRole, expires: Timestamp) -> Document {
    match current.document(role).body {
        Body::Root(envelope) => {
            let mut root = envelope.signed;
            bump(&mut root.common, expires);
            Document::root(Envelope::new(root))
        }
        Body::Targets(envelope) => {
            let mut targets = envelope.signed;
            bump(&mut targets.common, expires);
            Document::targets(role, Envelope::new(targets))
        }
    }
}

#[cfg(test)]
mod tests {
    use bulwark_store::fs::FsBlobs;
    use bulwark_tuf::keys::Algorithm;

    use super::*;
    use crate::init::{OfflineSigners, initialize};
    use crate::policy::Policy;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::Ed25519).unwrap()
    }

    fn entry(key: &SigningKey) -> PublicKeyEntry {
        PublicKeyEntry::from_object(&key.public_key_object()).unwrap()
    }

    fn expires() -> Timestamp {
        NOW.plus_seconds(Policy::default().offline_expiry)
    }

    /// Every offline key of a repository, plus its online key.
    struct Holders {
        offline: OfflineSigners,
        online: SigningKey,
    }

    impl Holders {
        fn new() -> Self {
            let offline = OfflineSigners {
                root: vec![key(), key(), key()],
                root_threshold: 2,
                targets: key(),
                claimed: key(),
                unclaimed: key(),
            };
            Self {
                offline,
                online: key(),
            }
        }

        fn root(&self, i: usize) -> &SigningKey {
            &self.offline.root[i]
        }

        fn plan(&self) -> InitPlan {
            InitPlan {
                root: self.offline.root.iter().map(entry).collect(),
                root_threshold: 2,
                targets: vec![entry(&self.offline.targets)],
                targets_threshold: 1,
                claimed: entry(&self.offline.claimed),
                unclaimed: entry(&self.offline.unclaimed),
                online: entry(&self.online),
                bin_bits: Policy::default().bin_bits,
                expires: expires(),
            }
        }

        /// Version 1 of the four offline roles, signed as the ceremony does.
        fn version_1(&self) -> Vec<Document> {
            let [root, targets, claimed, unclaimed] = init(&self.plan()).unwrap();
            let root = signed(&root, &[self.root(0), self.root(2)], Authority::None).unwrap();
            let targets = signed(
                &targets,
                &[&self.offline.targets],
                Authority::Root(as_root(&root)),
            )
            .unwrap();
            let delegator = Authority::Delegator(as_targets(&targets));
            let claimed = signed(&claimed, &[&self.offline.claimed], delegator).unwrap();
            let unclaimed = signed(&unclaimed, &[&self.offline.unclaimed], delegator).unwrap();
            vec![root, targets, claimed, unclaimed]
        }
    }

    fn as_root(doc: &Document) -> &Envelope<Root> {
        match doc.body() {
            Body::Root(e) => e,
            Body::Targets(_) => panic!("not a root"),
        }
    }

    fn as_targets(doc: &Document) -> &Envelope<Targets> {
        match doc.body() {
            Body::Targets(e) => e,
            Body::Root(_) => panic!("not targets"),
        }
    }

    /// Each key holder signs `doc`; the signatures are combined and the
    /// threshold checked, as `bulwark ceremony sign` and `combine` do.
    fn signed(
        doc: &Document,
        keys: &[&SigningKey],
        authority: Authority<'_>,
    ) -> Result<Document, CeremonyError> {
        let mut out = doc.clone();
        for key in keys {
            let signature = sign(doc, key, authority)?;
            add_signature(&mut out, &signature, authority)?;
        }
        check_threshold(&out, authority, NOW)?;
        Ok(out)
    }

    fn blobs() -> (tempfile::TempDir, FsBlobs) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        (dir, blobs)
    }

    fn install(blobs: &FsBlobs, docs: &[Document]) -> Result<InstallPlan, CeremonyError> {
        let current = Current::load(blobs, NOW)?;
        let plan = plan_install(current.as_ref(), docs, NOW)?;
        for (key, bytes) in &plan.writes {
            assert!(blobs.len(key).unwrap().is_none(), "{key} exists");
            blobs.put(key, bytes).unwrap();
        }
        Ok(plan)
    }

    fn versions(current: &Current) -> [u64; 4] {
        [
            &current.root.signed.common,
            &current.targets.signed.common,
            &current.claimed.signed.common,
            &current.unclaimed.signed.common,
        ]
        .map(|c| c.version)
    }

    #[test]
    fn init_drafts_exactly_the_development_layout() {
        let holders = Holders::new();
        let (_dir, dev) = blobs();
        initialize(
            &dev,
            &holders.offline,
            &holders.online,
            &Policy::default(),
            NOW,
        )
        .unwrap();
        for doc in init(&holders.plan()).unwrap() {
            assert!(doc.signatures().is_empty());
            assert_eq!(doc.file_name(), format!("1.{}.json", doc.role()));
            let theirs =
                Document::parse(doc.role(), &dev.get(&doc.blob_key()).unwrap().unwrap()).unwrap();
            assert_eq!(
                doc.canonical_signed(),
                theirs.canonical_signed(),
                "{}",
                doc.role()
            );
        }
    }

    #[test]
    fn root_needs_a_threshold_of_its_keys() {
        let holders = Holders::new();
        let [root, ..] = init(&holders.plan()).unwrap();
        let err = signed(&root, &[holders.root(1)], Authority::None).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 1, threshold: 2, by, .. } if by == "root version 1"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "root version 1 is signed by 1 of the 2 keys that root version 1 requires"
        );
        signed(&root, &[holders.root(1), holders.root(2)], Authority::None).unwrap();
    }

    #[test]
    fn only_keys_the_authority_lists_may_sign() {
        let holders = Holders::new();
        let [root, targets, claimed, _] = init(&holders.plan()).unwrap();
        let targets_key = &holders.offline.targets;
        assert!(matches!(
            sign(&root, targets_key, Authority::None),
            Err(CeremonyError::Unauthorised { .. })
        ));
        assert!(matches!(
            sign(&targets, targets_key, Authority::None),
            Err(CeremonyError::NeedsAuthority {
                role: OfflineRole::Targets,
                ..
            })
        ));
        let by_root = Authority::Root(as_root(&root));
        assert!(matches!(
            sign(&targets, holders.root(0), by_root),
            Err(CeremonyError::Unauthorised { .. })
        ));
        sign(&targets, targets_key, by_root).unwrap();
        let delegator = Authority::Delegator(as_targets(&targets));
        assert!(matches!(
            sign(&claimed, &holders.offline.unclaimed, delegator),
            Err(CeremonyError::Unauthorised { .. })
        ));
        assert!(matches!(
            sign(&claimed, &holders.online, delegator),
            Err(CeremonyError::Unauthorised { .. })
        ));
        sign(&claimed, &holders.offline.claimed, delegator).unwrap();
    }

    #[test]
    fn combining_checks_each_signature() {
        let holders = Holders::new();
        let [root, targets, ..] = init(&holders.plan()).unwrap();
        let mut doc = root.clone();
        let good = sign(&root, holders.root(0), Authority::None).unwrap();

        // A signature over another document: a draft with another expiry.
        let other = init(&InitPlan {
            expires: expires().plus_seconds(1),
            ..holders.plan()
        })
        .unwrap();
        let elsewhere = sign(&other[0], holders.root(1), Authority::None).unwrap();
        let err = add_signature(&mut doc, &elsewhere, Authority::None).unwrap_err();
        assert!(
            matches!(err, CeremonyError::DifferentDocument { .. }),
            "{err}"
        );
        // …relabelled with this document's digest, it does not verify.
        let relabelled = SignatureFile {
            signed_sha256: root.signed_sha256(),
            ..elsewhere
        };
        let err = add_signature(&mut doc, &relabelled, Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::BadSignature { .. }), "{err}");

        // A key the root does not list, relabelled as a root signature.
        let stray = sign(
            &targets,
            &holders.offline.targets,
            Authority::Root(as_root(&root)),
        )
        .unwrap();
        let err = add_signature(&mut doc, &stray, Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::WrongDocument { .. }), "{err}");
        let stray = SignatureFile {
            role: OfflineRole::Root,
            signed_sha256: root.signed_sha256(),
            ..stray
        };
        let err = add_signature(&mut doc, &stray, Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::Unauthorised { .. }), "{err}");

        add_signature(&mut doc, &good, Authority::None).unwrap();
        let err = add_signature(&mut doc, &good, Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::DuplicateKey { .. }), "{err}");
        assert_eq!(doc.signatures().len(), 1);
        check_signatures(&doc, Authority::None).unwrap();
        assert!(matches!(
            check_threshold(&doc, Authority::None, NOW),
            Err(CeremonyError::BelowThreshold { valid: 1, .. })
        ));
    }

    #[test]
    fn expired_documents_are_refused() {
        let holders = Holders::new();
        let [root, ..] = init(&InitPlan {
            expires: NOW,
            ..holders.plan()
        })
        .unwrap();
        let err = signed(&root, &[holders.root(0), holders.root(1)], Authority::None).unwrap_err();
        assert!(matches!(err, CeremonyError::Expired { .. }), "{err}");
    }

    #[test]
    fn signature_files_round_trip_and_junk_is_refused() {
        let sig = SignatureFile {
            keyid: "ab".into(),
            sig: "cd".into(),
            role: OfflineRole::Unclaimed,
            version: 3,
            signed_sha256: "ef".into(),
        };
        assert_eq!(SignatureFile::parse(&sig.to_bytes()).unwrap(), sig);
        for junk in [
            &b"[]"[..],
            b"{}",
            b"not json",
            br#"{"keyid":"a","sig":"b","role":"snapshot","version":1,"signed_sha256":"c"}"#,
        ] {
            assert!(matches!(
                SignatureFile::parse(junk),
                Err(CeremonyError::MalformedSignatureFile(_))
            ));
        }
        let zero = String::from_utf8(sig.to_bytes())
            .unwrap()
            .replace("\"version\":3", "\"version\":0");
        assert!(SignatureFile::parse(zero.as_bytes()).is_err());
    }

    #[test]
    fn file_names_give_version_and_role() {
        assert_eq!(parse_file_name("1.root.json"), Some((1, OfflineRole::Root)));
        assert_eq!(
            parse_file_name("12.unclaimed.json"),
            Some((12, OfflineRole::Unclaimed))
        );
        for bad in [
            "0.root.json",
            "01.root.json",
            "1.snapshot.json",
            "root.json",
            "1.root.json.sig",
            "x.targets.json",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_new_repository_is_installed_whole_and_loads() {
        let holders = Holders::new();
        let docs = holders.version_1();
        let (_dir, blobs) = blobs();
        let err = plan_install(None, &docs[..1], NOW).unwrap_err();
        assert!(
            matches!(err, CeremonyError::Missing(OfflineRole::Targets)),
            "{err}"
        );
        let plan = install(&blobs, &docs).unwrap();
        assert!(plan.creates && !plan.online_key_changed);
        assert_eq!(plan.online_keyid, holders.online.key_id());
        assert_eq!(
            plan.writes.last().unwrap().0,
            "tuf/metadata/1.root.json",
            "root is written last"
        );
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        assert_eq!(versions(&current), [1, 1, 1, 1]);
        assert_eq!(current.online_keyid().unwrap(), holders.online.key_id());
        assert_eq!(current.bin_bits(), Some(Policy::default().bin_bits));
        let err = plan_install(Some(&current), &docs, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                CeremonyError::WrongVersion {
                    offered: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn install_refuses_a_root_below_threshold_and_unsigned_documents() {
        let holders = Holders::new();
        let mut docs = holders.version_1();
        let [root, ..] = init(&holders.plan()).unwrap();
        let mut weak = root.clone();
        add_signature(
            &mut weak,
            &sign(&root, holders.root(0), Authority::None).unwrap(),
            Authority::None,
        )
        .unwrap();
        docs[0] = weak;
        assert!(matches!(
            plan_install(None, &docs, NOW),
            Err(CeremonyError::BelowThreshold { valid: 1, .. })
        ));
        let mut docs = holders.version_1();
        docs[3] = init(&holders.plan()).unwrap()[3].clone();
        assert!(matches!(
            plan_install(None, &docs, NOW),
            Err(CeremonyError::BelowThreshold {
                role: OfflineRole::Unclaimed,
                valid: 0,
                ..
            })
        ));
    }

    #[test]
    fn targets_signed_by_a_key_the_current_root_does_not_list_is_refused() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let next = renew(&current, OfflineRole::Targets, expires());
        assert_eq!(next.version(), 2);
        // Mallory drafts a root listing her key for targets and signs under it.
        let mallory = key();
        let fake = init(&InitPlan {
            targets: vec![entry(&mallory)],
            ..holders.plan()
        })
        .unwrap();
        let forged = signed(&next, &[&mallory], Authority::Root(as_root(&fake[0]))).unwrap();
        let err = plan_install(Some(&current), &[forged], NOW).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { role: OfflineRole::Targets, valid: 0, by, .. } if by == "root version 1"),
            "{err}"
        );
        let good = signed(
            &next,
            &[&holders.offline.targets],
            Authority::Root(&current.root),
        )
        .unwrap();
        install(&blobs, &[good]).unwrap();
        assert_eq!(
            versions(&Current::load(&blobs, NOW).unwrap().unwrap()),
            [1, 2, 1, 1]
        );
    }

    #[test]
    fn online_key_rotation_is_installed_as_a_whole() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let new_online = key();
        let err = rotate_online(&current, &entry(&holders.offline.claimed), expires()).unwrap_err();
        assert!(matches!(err, CeremonyError::Plan(_)), "{err}");
        let [root, targets, unclaimed] =
            rotate_online(&current, &entry(&new_online), expires()).unwrap();
        assert!(
            !as_root(&root)
                .signed
                .keys
                .contains_key(&holders.online.key_id()),
            "the old online key is dropped"
        );
        let root = signed(
            &root,
            &[holders.root(0), holders.root(1)],
            Authority::Root(&current.root),
        )
        .unwrap();
        let targets = signed(
            &targets,
            &[&holders.offline.targets],
            Authority::Root(as_root(&root)),
        )
        .unwrap();
        let unclaimed = signed(
            &unclaimed,
            &[&holders.offline.unclaimed],
            Authority::Delegator(as_targets(&targets)),
        )
        .unwrap();

        let err = plan_install(Some(&current), std::slice::from_ref(&root), NOW).unwrap_err();
        assert!(matches!(err, CeremonyError::Incoherent(_)), "{err}");
        let plan = install(&blobs, &[unclaimed, root, targets]).unwrap();
        assert!(plan.online_key_changed && !plan.creates);
        assert_eq!(plan.online_keyid, new_online.key_id());
        let order: Vec<&str> = plan.writes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order,
            [
                "tuf/metadata/2.unclaimed.json",
                "tuf/metadata/2.targets.json",
                "tuf/metadata/2.root.json"
            ]
        );
        assert_eq!(
            versions(&Current::load(&blobs, NOW).unwrap().unwrap()),
            [2, 2, 1, 2]
        );
    }

    #[test]
    fn root_rotation_needs_the_old_threshold_and_the_new() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let (r4, r5) = (key(), key());
        let keys = [entry(holders.root(0)), entry(&r4), entry(&r5)];
        assert!(matches!(
            rotate_root(&current, &keys, 4, expires()),
            Err(CeremonyError::Plan(_))
        ));
        assert!(matches!(
            rotate_root(&current, &[entry(&holders.online)], 1, expires()),
            Err(CeremonyError::Plan(_))
        ));
        let next = rotate_root(&current, &keys, 2, expires()).unwrap();
        let by_previous = Authority::Root(&current.root);

        let err = signed(&next, &[holders.root(0), &r4, &r5], by_previous).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 1, by, .. } if by == "root version 1"),
            "{err}"
        );
        let err = signed(&next, &[holders.root(1), holders.root(2)], by_previous).unwrap_err();
        assert!(
            matches!(&err, CeremonyError::BelowThreshold { valid: 0, by, .. } if by == "root version 2"),
            "{err}"
        );
        assert!(matches!(
            check_threshold(&next, Authority::None, NOW),
            Err(CeremonyError::NeedsAuthority { .. })
        ));

        // Signed by one old key only, it is refused at install too.
        let mut weak = next.clone();
        for k in [holders.root(0), &r4, &r5] {
            add_signature(
                &mut weak,
                &sign(&next, k, by_previous).unwrap(),
                by_previous,
            )
            .unwrap();
        }
        assert!(matches!(
            plan_install(Some(&current), &[weak], NOW),
            Err(CeremonyError::BelowThreshold { valid: 1, .. })
        ));

        let good = signed(&next, &[holders.root(0), holders.root(1), &r4], by_previous).unwrap();
        install(&blobs, &[good]).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        assert_eq!(versions(&current), [2, 1, 1, 1]);
        assert!(
            !current
                .root
                .signed
                .keys
                .contains_key(&holders.root(2).key_id()),
            "removed root keys are dropped"
        );
    }

    #[test]
    fn a_root_that_orphans_the_installed_targets_is_refused() {
        let holders = Holders::new();
        let (_dir, blobs) = blobs();
        install(&blobs, &holders.version_1()).unwrap();
        let current = Current::load(&blobs, NOW).unwrap().unwrap();
        let Body::Root(next) = renew(&current, OfflineRole::Root, expires()).body else {
            panic!()
        };
        let mut body = next.signed;
        let new_targets = entry(&key());
        body.roles
            .insert(RoleName::TARGETS.to_owned(), only(&new_targets));
        body.keys
            .insert(new_targets.keyid.clone(), new_targets.key.clone());
        let next = Document::root(Envelope::new(body));
        let next = signed(
            &next,
            &[holders.root(0), holders.root(1)],
            Authority::Root(&current.root),
        )
        .unwrap();
        let err = plan_install(Some(&current), &[next], NOW).unwrap_err();
        assert!(
            matches!(
                err,
                CeremonyError::Installed {
                    role: OfflineRole::Targets,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn init_refuses_unsound_plans() {
        let holders = Holders::new();
        let plan = holders.plan();
        let refused = |plan: InitPlan| matches!(init(&plan), Err(CeremonyError::Plan(_)));
        assert!(refused(InitPlan {
            root_threshold: 0,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            root_threshold: 4,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            targets_threshold: 2,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            bin_bits: 0,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            bin_bits: 17,
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            online: plan.root[0].clone(),
            ..plan.clone()
        }));
        assert!(refused(InitPlan {
            unclaimed: plan.claimed.clone(),
            ..plan.clone()
        }));
        let twice = vec![plan.root[0].clone(), plan.root[0].clone()];
        assert!(refused(InitPlan {
            root: twice,
            ..plan.clone()
        }));
        assert!(init(&plan).is_ok());
    }

    #[test]
    fn describe_names_every_role_and_key() {
        let holders = Holders::new();
        let docs = holders.version_1();
        let text = docs[0].describe();
        assert!(
            text.contains("root: 2 of 3 keys") && text.contains(&holders.root(2).key_id()),
            "{text}"
        );
        assert!(text.contains(&docs[0].signed_sha256()), "{text}");
        let text = docs[1].describe();
        assert!(
            text.contains("delegates recently-claimed (paths simple/*/*, non-terminating)"),
            "{text}"
        );
        assert!(
            docs[3]
                .describe()
                .contains("delegates 256 bins bin-*: 1 of 1 keys")
        );
    }
}
