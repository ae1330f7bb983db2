//! Signature files and combining them: each key holder [`sign`]s on their
//! own machine and sends a [`SignatureFile`]; whoever combines them checks
//! each one with [`add_signature`].

use std::collections::BTreeMap;

use bulwark_tuf::json::{self, Value};
use bulwark_tuf::metadata::Signature;
use bulwark_tuf::signer::Signer;

use super::authority::{authorised_key, grants};
use super::{Authority, CeremonyError, Document, OfflineRole};

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
            ("role", self.role.name().as_str().into()),
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

/// Signs `doc` with `key` (a key file's key or one in a hardware token),
/// refusing a key that `authority` does not list for the document's role.
pub fn sign(
    doc: &Document,
    key: &(impl Signer + ?Sized),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::fixtures::{Holders, NOW, as_root, expires};
    use crate::ceremony::{InitPlan, check_threshold, init};

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
}
