//! The delegation a developer offers when claiming a project or changing a
//! recently-claimed project's keys: `{"keys":{<keyid>:<key>,…},"threshold":N}`,
//! untrusted bytes, turned into the terminating `project-<name>` delegation
//! the index will list (DESIGN.md §3) and the `delegations` object it
//! stores.

use std::collections::BTreeMap;

use bulwark_pypi::ProjectName;
use bulwark_tuf::delegation::{DelegatedRole, DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::json::Value;
use bulwark_tuf::metadata::RoleKeys;

use super::ProjectDelegation;
use crate::layout::project_role;
use crate::roles::PublicKeyEntry;

/// The most keys one project may delegate to.
pub const MAX_PROJECT_KEYS: usize = 32;

/// Why an offered delegation is refused; the reason names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidDelegation(String);

/// An offered delegation, checked: what the index delegates, and the
/// `delegations` object with exactly the project's role and its keys that
/// it stores (`ClaimRecord::delegation`).
#[derive(Clone, Debug)]
pub struct OfferedDelegation {
    /// The project's delegation.
    pub delegation: ProjectDelegation,
    /// As stored.
    pub stored: Delegations,
}

/// Reads the delegation `json` offered for `project`: an object with
/// exactly `keys` (1 to [`MAX_PROJECT_KEYS`] TUF public keys under their
/// key IDs, which must be the IDs computed from the keys, spec §4.2) and
/// `threshold` (1 to the number of keys).
pub fn offered_delegation(
    project: &ProjectName,
    json: &[u8],
) -> Result<OfferedDelegation, InvalidDelegation> {
    let bad = |reason: String| InvalidDelegation(reason);
    let value = bulwark_tuf::json::parse(json).map_err(|e| bad(e.to_string()))?;
    let Value::Object(fields) = &value else {
        return Err(bad("not a JSON object".to_owned()));
    };
    if let Some(other) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "keys" | "threshold"))
    {
        return Err(bad(format!("unknown field {other:?}")));
    }
    let Some(Value::Object(keys)) = fields.get("keys") else {
        return Err(bad(
            "\"keys\" must be an object of key IDs to keys".to_owned()
        ));
    };
    if keys.is_empty() || keys.len() > MAX_PROJECT_KEYS {
        return Err(bad(format!(
            "between 1 and {MAX_PROJECT_KEYS} keys are required"
        )));
    }
    let threshold = match fields.get("threshold") {
        Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
        _ => return Err(bad("\"threshold\" must be an integer".to_owned())),
    };
    if threshold == 0 || threshold > keys.len() as u64 {
        return Err(bad(format!(
            "threshold {threshold} cannot be met by {} key(s)",
            keys.len()
        )));
    }
    let mut trusted = BTreeMap::new();
    for (keyid, object) in keys {
        let entry =
            PublicKeyEntry::from_object(object).map_err(|e| bad(format!("key {keyid:?}: {e}")))?;
        if entry.keyid != *keyid {
            return Err(bad(format!(
                "key {keyid:?} has key ID {}, computed from the key",
                entry.keyid
            )));
        }
        trusted.insert(entry.keyid, entry.key);
    }
    let name = project.normalized();
    let role = DelegatedRole {
        name: project_role(name),
        keys: RoleKeys {
            keyids: trusted.keys().cloned().collect(),
            threshold,
        },
        terminating: true,
        paths: PathSpec::Patterns(vec![format!("simple/{name}/*")]),
        unknown: BTreeMap::new(),
    };
    let stored = Delegations {
        keys: trusted.clone(),
        roles: DelegatedRoles::List(vec![role.clone()]),
        unknown: BTreeMap::new(),
    };
    let delegation =
        ProjectDelegation::new(project.clone(), role, trusted).map_err(|e| bad(e.to_string()))?;
    Ok(OfferedDelegation { delegation, stored })
}
