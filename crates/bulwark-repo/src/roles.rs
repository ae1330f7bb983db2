//! The bodies of every role Bulwark signs, per DESIGN.md §3 and PEP 458.

use std::collections::BTreeMap;

use bulwark_tuf::delegation::{
    DelegatedRole, DelegatedRoles, Delegations, PathSpec, SuccinctRoles,
};
use bulwark_tuf::json::Value;
use bulwark_tuf::metadata::{
    Common, Key, MetaFile, RoleKeys, Root, SnapshotMeta, TargetFile, Targets, TimestampMeta,
};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use crate::layout::{self, BIN_PREFIX, CLAIMED, PROJECT_PATTERN, RECENTLY_CLAIMED, UNCLAIMED};

/// A public key as listed in metadata, with its key ID.
#[derive(Clone, Debug)]
pub struct PublicKeyEntry {
    /// The key ID.
    pub keyid: String,
    /// The key object.
    pub key: Key,
}

impl PublicKeyEntry {
    /// An entry from a TUF key object.
    pub fn from_object(object: &Value) -> Result<Self, bulwark_tuf::SchemaError> {
        let keyid = bulwark_tuf::keys::key_id(object);
        let key = Key::from_value(&keyid, object, "key")?;
        Ok(Self { keyid, key })
    }
}

fn keys_map(entries: &[&PublicKeyEntry]) -> BTreeMap<String, Key> {
    entries
        .iter()
        .map(|e| (e.keyid.clone(), e.key.clone()))
        .collect()
}

fn role_keys(entries: &[PublicKeyEntry], threshold: u64) -> RoleKeys {
    RoleKeys {
        keyids: entries.iter().map(|e| e.keyid.clone()).collect(),
        threshold,
    }
}

/// Who holds which key: the input of a root.
#[derive(Clone, Debug)]
pub struct KeyPlan {
    /// Root keys (offline, held by different people).
    pub root: Vec<PublicKeyEntry>,
    /// How many root keys must sign a root.
    pub root_threshold: u64,
    /// Targets keys (offline).
    pub targets: Vec<PublicKeyEntry>,
    /// How many targets keys must sign targets.
    pub targets_threshold: u64,
    /// The online key: timestamp, snapshot, bins, recently-claimed.
    pub online: PublicKeyEntry,
}

/// A root body.
#[must_use]
pub fn root(plan: &KeyPlan, version: u64, expires: Timestamp) -> Root {
    let all: Vec<&PublicKeyEntry> = plan
        .root
        .iter()
        .chain(&plan.targets)
        .chain([&plan.online])
        .collect();
    let online = role_keys(std::slice::from_ref(&plan.online), 1);
    Root {
        common: Common::new(version, expires),
        consistent_snapshot: true,
        keys: keys_map(&all),
        roles: BTreeMap::from([
            (
                RoleName::ROOT.to_owned(),
                role_keys(&plan.root, plan.root_threshold),
            ),
            (
                RoleName::TARGETS.to_owned(),
                role_keys(&plan.targets, plan.targets_threshold),
            ),
            (RoleName::SNAPSHOT.to_owned(), online.clone()),
            (RoleName::TIMESTAMP.to_owned(), online),
        ]),
        roles_unknown: BTreeMap::new(),
    }
}

fn delegation(name: &str, key: &PublicKeyEntry) -> DelegatedRole {
    DelegatedRole {
        name: RoleName::new(name),
        keys: role_keys(std::slice::from_ref(key), 1),
        terminating: false,
        paths: PathSpec::Patterns(vec![PROJECT_PATTERN.to_owned()]),
        unknown: BTreeMap::new(),
    }
}

/// A targets body that lists no target and delegates to `roles`, in
/// order, with `keys`.
fn delegator(
    keys: BTreeMap<String, Key>,
    roles: Vec<DelegatedRole>,
    version: u64,
    expires: Timestamp,
) -> Targets {
    Targets {
        common: Common::new(version, expires),
        targets: BTreeMap::new(),
        delegations: Some(Delegations {
            keys,
            roles: DelegatedRoles::List(roles),
            unknown: BTreeMap::new(),
        }),
    }
}

/// The top-level targets body: delegates, in priority order, to claimed,
/// recently-claimed and unclaimed (DESIGN.md §3).
#[must_use]
pub fn targets(
    claimed: &PublicKeyEntry,
    online: &PublicKeyEntry,
    unclaimed: &PublicKeyEntry,
    version: u64,
    expires: Timestamp,
) -> Targets {
    delegator(
        keys_map(&[claimed, online, unclaimed]),
        vec![
            delegation(CLAIMED, claimed),
            delegation(RECENTLY_CLAIMED, online),
            delegation(UNCLAIMED, unclaimed),
        ],
        version,
        expires,
    )
}

/// A role that delegates to developer-signed projects, `tier` (claimed or
/// recently-claimed), signed by `key`: one standard, non-terminating
/// `path_hash_prefixes` delegation to each claim bin in `bins` (the
/// non-empty ones), all to `key`. Non-terminating, so that a client whose
/// project is in no bin here goes on to the next role (DESIGN.md §3 as
/// refined in ARCHITECTURE.md: claim bins). Bulwark starts with none.
#[must_use]
pub fn project_delegator(
    tier: &str,
    key: &PublicKeyEntry,
    bins: impl IntoIterator<Item = u32>,
    version: u64,
    expires: Timestamp,
) -> Targets {
    let roles: Vec<DelegatedRole> = bins
        .into_iter()
        .map(|bin| DelegatedRole {
            name: RoleName::new(layout::claim_bin_name(tier, bin)),
            keys: role_keys(std::slice::from_ref(key), 1),
            terminating: false,
            paths: PathSpec::HashPrefixes(vec![layout::claim_bin_prefix(bin)]),
            unknown: BTreeMap::new(),
        })
        .collect();
    let keys = if roles.is_empty() {
        BTreeMap::new()
    } else {
        keys_map(&[key])
    };
    delegator(keys, roles, version, expires)
}

/// A claim bin: the terminating delegations of its projects (each a
/// `delegations` object with exactly the project's role and its keys, as
/// the index trusts it), ordered by role name.
#[must_use]
pub fn claim_bin(projects: &[&Delegations], version: u64, expires: Timestamp) -> Targets {
    let mut keys = BTreeMap::new();
    let mut roles: Vec<DelegatedRole> = Vec::new();
    for project in projects {
        keys.extend(
            project
                .keys
                .iter()
                .map(|(id, key)| (id.clone(), key.clone())),
        );
        if let DelegatedRoles::List(list) = &project.roles {
            roles.extend(list.iter().cloned());
        }
    }
    roles.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    delegator(keys, roles, version, expires)
}

/// A project's own `delegations` object: its delegated role `role` and, of
/// `keys`, exactly the keys that role names. This is how the index stores a
/// claim's trusted delegation and how a claim bin's entry is read back, so
/// that the two compare byte for byte ([`Delegations::to_json`]).
#[must_use]
pub fn project_delegation(role: &DelegatedRole, keys: &BTreeMap<String, Key>) -> Delegations {
    Delegations {
        keys: role
            .keys
            .keyids
            .iter()
            .filter_map(|id| keys.get(id).map(|k| (id.clone(), k.clone())))
            .collect(),
        roles: DelegatedRoles::List(vec![role.clone()]),
        unknown: BTreeMap::new(),
    }
}

/// The projects a claim bin lists, the reverse of [`claim_bin`]: each
/// `project-<name>` delegation as [`project_delegation`], by project name.
/// Other delegations are skipped; `None` when the bin delegates to
/// succinct roles, which no claim bin does.
#[must_use]
pub fn claim_bin_projects(bin: &Targets) -> Option<BTreeMap<String, Delegations>> {
    let Some(delegations) = &bin.delegations else {
        return Some(BTreeMap::new());
    };
    let DelegatedRoles::List(list) = &delegations.roles else {
        return None;
    };
    Some(
        list.iter()
            .filter_map(|role| {
                let project = role
                    .name
                    .as_str()
                    .strip_prefix(layout::PROJECT_ROLE_PREFIX)?;
                Some((
                    project.to_owned(),
                    project_delegation(role, &delegations.keys),
                ))
            })
            .collect(),
    )
}

/// The unclaimed body: succinct hashed bins signed by the online key (TAP 15).
#[must_use]
pub fn unclaimed(
    online: &PublicKeyEntry,
    bin_bits: u32,
    version: u64,
    expires: Timestamp,
) -> Targets {
    Targets {
        common: Common::new(version, expires),
        targets: BTreeMap::new(),
        delegations: Some(Delegations {
            keys: keys_map(&[online]),
            roles: DelegatedRoles::Succinct(SuccinctRoles {
                keys: role_keys(std::slice::from_ref(online), 1),
                bit_length: bin_bits,
                name_prefix: BIN_PREFIX.to_owned(),
                unknown: BTreeMap::new(),
            }),
            unknown: BTreeMap::new(),
        }),
    }
}

/// A bin body listing project pages (target path → length and hash).
#[must_use]
pub fn bin(pages: BTreeMap<String, TargetFile>, version: u64, expires: Timestamp) -> Targets {
    Targets {
        common: Common::new(version, expires),
        targets: pages,
        delegations: None,
    }
}

/// A snapshot body listing every targets role's version.
#[must_use]
pub fn snapshot(
    versions: impl IntoIterator<Item = (String, u64)>,
    version: u64,
    expires: Timestamp,
) -> SnapshotMeta {
    SnapshotMeta {
        common: Common::new(version, expires),
        meta: versions
            .into_iter()
            .map(|(role, v)| (format!("{role}.json"), MetaFile::new(v)))
            .collect(),
    }
}

/// A timestamp body naming a snapshot by version, length and SHA-256.
#[must_use]
pub fn timestamp(
    snapshot_version: u64,
    snapshot_bytes: &[u8],
    version: u64,
    expires: Timestamp,
) -> TimestampMeta {
    let mut meta = MetaFile::new(snapshot_version);
    meta.length = Some(snapshot_bytes.len() as u64);
    meta.hashes = Some(BTreeMap::from([(
        "sha256".to_owned(),
        bulwark_tuf::hash::sha256_hex(snapshot_bytes),
    )]));
    TimestampMeta {
        common: Common::new(version, expires),
        snapshot: meta,
    }
}
