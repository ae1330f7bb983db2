//! An in-memory TUF repository that signs real metadata with real keys.
//!
//! The repository is kept as typed, public bodies (`root`, `timestamp`,
//! `snapshot`, every targets role) plus the signers of each role. Nothing is
//! signed until [`RepositorySimulator::publish`], which renders every file
//! the repository serves, as a map from URL path (under the server root) to
//! bytes:
//!
//! ```text
//! metadata/N.root.json            every root version ever published
//! metadata/timestamp.json
//! metadata/V.snapshot.json        (metadata/snapshot.json without consistent snapshots)
//! metadata/V.<encoded role>.json  (metadata/<encoded role>.json)
//! targets/<dir>/<sha256>.<name>   and <sha512>.<name> (targets/<dir>/<name>)
//! ```
//!
//! Snapshot and timestamp list the versions of what was just rendered (and,
//! by default, lengths and sha256 hashes). Versions never move on their own:
//! call [`RepositorySimulator::update`] (role + snapshot + timestamp) or set
//! them. Versioned files of earlier publishes stay served, as on a real
//! repository. Tampering hooks act on the next publish: replaced or removed
//! files, other signers per role, edited signature lists, edited snapshot
//! and timestamp bodies.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bulwark_tuf::delegation::{
    DelegatedRole, DelegatedRoles, Delegations, PathSpec, SuccinctRoles,
};
use bulwark_tuf::hash::{HashAlgorithm, sha256_hex};
use bulwark_tuf::hex;
use bulwark_tuf::json::Value;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{
    Common, Envelope, Key, MetaFile, RoleKeys, Root, Signature, SignedBody, SnapshotMeta,
    TargetFile, Targets, TimestampMeta,
};
use bulwark_tuf::names::{RoleName, percent_encode};
use bulwark_tuf::time::Timestamp;

use crate::server::canonical_path;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The fixed "current time" of client tests, 2025-06-01T00:00:00Z. Metadata
/// expires 30 days (root: a year) after it unless a test says otherwise.
#[must_use]
pub fn now() -> Timestamp {
    Timestamp::from_unix(1_748_736_000)
}

/// The description of a target with these bytes: length, sha256 and sha512.
#[must_use]
pub fn target_file(content: &[u8]) -> TargetFile {
    let sha512 = hex::encode(&HashAlgorithm::Sha512.digest(content));
    TargetFile {
        length: content.len() as u64,
        hashes: BTreeMap::from([
            ("sha256".to_owned(), sha256_hex(content)),
            ("sha512".to_owned(), sha512),
        ]),
        unknown: BTreeMap::new(),
    }
}

/// A private key together with the key object and key ID it is listed under.
/// Cloning shares the key.
#[derive(Clone)]
pub struct Signer {
    keyid: String,
    object: Value,
    key: Arc<SigningKey>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("keyid", &self.keyid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh Ed25519 key.
    #[must_use]
    pub fn generate() -> Self {
        Self::generate_with(Algorithm::Ed25519)
    }

    /// A fresh key of `algorithm` (Ed25519 or ECDSA P-256).
    #[must_use]
    pub fn generate_with(algorithm: Algorithm) -> Self {
        let key = SigningKey::generate(algorithm).expect("generate a signing key");
        Self {
            keyid: key.key_id(),
            object: key.public_key_object(),
            key: Arc::new(key),
        }
    }

    /// The key ID signatures carry.
    #[must_use]
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The public key object as listed in metadata.
    #[must_use]
    pub fn key_object(&self) -> &Value {
        &self.object
    }

    /// The public key as metadata lists it.
    #[must_use]
    pub fn metadata_key(&self) -> Key {
        Key::from_value(&self.keyid, &self.object, "key").expect("a generated key is well formed")
    }

    /// The same private key under another key object (one extra field
    /// `x-alias`), hence another key ID: two key IDs for one public key.
    #[must_use]
    pub fn alias(&self, tag: &str) -> Self {
        let Value::Object(mut object) = self.object.clone() else {
            unreachable!("key objects are objects")
        };
        object.insert("x-alias".to_owned(), Value::from(tag));
        let object = Value::Object(object);
        Self {
            keyid: bulwark_tuf::keys::key_id(&object),
            object,
            key: Arc::clone(&self.key),
        }
    }

    /// A signature over `message` under this signer's key ID.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Signature {
        let sig = self.key.sign(message).expect("sign");
        Signature {
            keyid: self.keyid.clone(),
            sig,
            unknown: BTreeMap::new(),
        }
    }
}

/// What a referring role lists about a metadata file besides its version
/// (`METAFILES` in timestamp and snapshot). Both by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    /// List the length.
    pub length: bool,
    /// List the sha256 hash.
    pub hashes: bool,
}

impl Default for Listing {
    fn default() -> Self {
        Self {
            length: true,
            hashes: true,
        }
    }
}

type SnapshotHook = Box<dyn Fn(&mut SnapshotMeta)>;
type TimestampHook = Box<dyn Fn(&mut TimestampMeta)>;
type SignatureHook = Box<dyn Fn(&mut Vec<Signature>)>;

/// An in-memory TUF repository. See the module documentation.
pub struct RepositorySimulator {
    /// The root body. Its version is that of the last published root until
    /// [`RepositorySimulator::publish_root`] publishes the next one.
    pub root: Root,
    /// Version and expiry of the next timestamp; its `meta` is computed.
    pub timestamp: Common,
    /// Version and expiry of the next snapshot; its `meta` is computed.
    pub snapshot: Common,
    /// Every targets role, the top-level `targets` included.
    pub targets: BTreeMap<RoleName, Targets>,
    /// The keys each role is signed with by default.
    pub signers: BTreeMap<RoleName, Vec<Signer>>,
    /// Per-role replacement for `signers` (sign with arbitrary key sets).
    pub sign_with: BTreeMap<RoleName, Vec<Signer>>,
    /// What snapshot lists about each targets file besides its version.
    pub snapshot_lists: Listing,
    /// What timestamp lists about snapshot besides its version.
    pub timestamp_lists: Listing,
    roots: Vec<Vec<u8>>,
    /// The root signers of each published root version (index = version - 1).
    root_key_history: Vec<Vec<Signer>>,
    contents: Vec<(String, Vec<u8>)>,
    files: BTreeMap<String, Vec<u8>>,
    overrides: BTreeMap<String, Option<Vec<u8>>>,
    snapshot_hook: Option<SnapshotHook>,
    timestamp_hook: Option<TimestampHook>,
    signature_hooks: BTreeMap<RoleName, SignatureHook>,
    /// ECDSA signatures are randomised; re-publishing unchanged metadata must
    /// give the same bytes, so signatures are remembered.
    signature_cache: RefCell<BTreeMap<(String, Vec<u8>), String>>,
}

impl fmt::Debug for RepositorySimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepositorySimulator")
            .field("root_version", &self.root.common.version)
            .field("roles", &self.targets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for RepositorySimulator {
    fn default() -> Self {
        Self::new()
    }
}

fn role(name: &str) -> RoleName {
    RoleName::new(name)
}

fn new_targets(version: u64) -> Targets {
    Targets {
        common: Common::new(version, now().plus_seconds(30 * DAY)),
        targets: BTreeMap::new(),
        delegations: None,
    }
}

fn empty_delegations() -> Delegations {
    Delegations {
        keys: BTreeMap::new(),
        roles: DelegatedRoles::List(Vec::new()),
        unknown: BTreeMap::new(),
    }
}

impl RepositorySimulator {
    /// A repository with one Ed25519 key per top-level role, thresholds of
    /// 1, consistent snapshots, an empty top-level targets role, and root
    /// version 1 published.
    #[must_use]
    pub fn new() -> Self {
        Self::with_algorithms(|_| Algorithm::Ed25519)
    }

    /// Like [`RepositorySimulator::new`], with each top-level role's key of
    /// the algorithm `algorithm(role)` chooses.
    #[must_use]
    pub fn with_algorithms(algorithm: impl Fn(&str) -> Algorithm) -> Self {
        let mut signers = BTreeMap::new();
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for name in [
            RoleName::ROOT,
            RoleName::TIMESTAMP,
            RoleName::SNAPSHOT,
            RoleName::TARGETS,
        ] {
            let signer = Signer::generate_with(algorithm(name));
            keys.insert(signer.keyid.clone(), signer.metadata_key());
            roles.insert(
                name.to_owned(),
                RoleKeys {
                    keyids: vec![signer.keyid.clone()],
                    threshold: 1,
                },
            );
            signers.insert(role(name), vec![signer]);
        }
        let root = Root {
            common: Common::new(1, now().plus_seconds(365 * DAY)),
            consistent_snapshot: true,
            keys,
            roles,
            roles_unknown: BTreeMap::new(),
        };
        let mut sim = Self {
            root,
            timestamp: Common::new(1, now().plus_seconds(30 * DAY)),
            snapshot: Common::new(1, now().plus_seconds(30 * DAY)),
            targets: BTreeMap::from([(role(RoleName::TARGETS), new_targets(1))]),
            signers,
            sign_with: BTreeMap::new(),
            snapshot_lists: Listing::default(),
            timestamp_lists: Listing::default(),
            roots: Vec::new(),
            root_key_history: Vec::new(),
            contents: Vec::new(),
            files: BTreeMap::new(),
            overrides: BTreeMap::new(),
            snapshot_hook: None,
            timestamp_hook: None,
            signature_hooks: BTreeMap::new(),
            signature_cache: RefCell::new(BTreeMap::new()),
        };
        sim.publish_root();
        sim
    }

    // ----- signing ---------------------------------------------------------

    fn signature(&self, signer: &Signer, message: &[u8]) -> Signature {
        let mut cache = self.signature_cache.borrow_mut();
        let sig = cache
            .entry((signer.keyid.clone(), message.to_vec()))
            .or_insert_with(|| signer.sign(message).sig)
            .clone();
        Signature {
            keyid: signer.keyid.clone(),
            sig,
            unknown: BTreeMap::new(),
        }
    }

    /// `body` signed by exactly `signers`, in order, as canonical JSON bytes.
    #[must_use]
    pub fn sign_body<T: SignedBody>(&self, body: T, signers: &[Signer]) -> Vec<u8> {
        let mut envelope = Envelope::new(body);
        for signer in signers {
            let signature = self.signature(signer, envelope.canonical_signed());
            envelope.signatures.push(signature);
        }
        envelope.to_bytes()
    }

    /// `body` signed as `name` is on publish: by `sign_with` or `signers`,
    /// then through the role's signature hook.
    fn sign_role<T: SignedBody>(&self, name: &RoleName, body: T) -> Vec<u8> {
        let signers = self
            .sign_with
            .get(name)
            .or_else(|| self.signers.get(name))
            .cloned()
            .unwrap_or_default();
        let mut envelope = Envelope::new(body);
        for signer in &signers {
            let signature = self.signature(signer, envelope.canonical_signed());
            envelope.signatures.push(signature);
        }
        if let Some(hook) = self.signature_hooks.get(name) {
            hook(&mut envelope.signatures);
        }
        envelope.to_bytes()
    }

    // ----- roots -----------------------------------------------------------

    /// The root signers by default for the root version being written: the
    /// root keys of its predecessor and its own (§5.3.4 needs both).
    fn default_root_signers(&self, version: u64) -> Vec<Signer> {
        let previous = usize::try_from(version)
            .ok()
            .and_then(|v| v.checked_sub(2))
            .and_then(|i| self.root_key_history.get(i))
            .cloned()
            .unwrap_or_default();
        let mut signers = previous;
        for signer in self
            .signers
            .get(&role(RoleName::ROOT))
            .into_iter()
            .flatten()
        {
            if !signers.iter().any(|s| s.keyid == signer.keyid) {
                signers.push(signer.clone());
            }
        }
        signers
    }

    /// Publishes `self.root` as the next root version, signed by the
    /// previous root's keys and its own (or by `sign_with["root"]`).
    pub fn publish_root(&mut self) {
        self.root.common.version = self.roots.len() as u64 + 1;
        let signers = match self.sign_with.get(&role(RoleName::ROOT)) {
            Some(signers) => signers.clone(),
            None => self.default_root_signers(self.root.common.version),
        };
        self.publish_root_signed_by(&signers);
    }

    /// Publishes `self.root` as the next root file, signed by exactly
    /// `signers`, keeping whatever version the body says (so a test can
    /// serve `3.root.json` that claims to be version 5).
    pub fn publish_root_signed_by(&mut self, signers: &[Signer]) {
        let bytes = self.sign_body(self.root.clone(), signers);
        self.roots.push(bytes);
        self.root_key_history.push(
            self.signers
                .get(&role(RoleName::ROOT))
                .cloned()
                .unwrap_or_default(),
        );
    }

    /// Re-signs `self.root` in place of the latest published root file, for
    /// changing root version 1 before any client has seen it.
    pub fn republish_root(&mut self) {
        self.roots.pop();
        self.root_key_history.pop();
        self.publish_root();
    }

    /// The bytes of published root `version`.
    #[must_use]
    pub fn root_bytes(&self, version: u64) -> Vec<u8> {
        let index = usize::try_from(version - 1).expect("version fits");
        self.roots[index].clone()
    }

    /// The number of root files published.
    #[must_use]
    pub fn root_count(&self) -> u64 {
        self.roots.len() as u64
    }

    // ----- keys ------------------------------------------------------------

    /// Authorises `signer` for `role` (in root for top-level roles, in every
    /// delegator for a delegated role) and signs `role` with it from now on.
    pub fn add_key(&mut self, name: &str, signer: Signer) {
        let name = role(name);
        if name.is_top_level() {
            self.root
                .keys
                .insert(signer.keyid.clone(), signer.metadata_key());
            let keys = self
                .root
                .roles
                .get_mut(name.as_str())
                .expect("top-level role");
            if !keys.keyids.contains(&signer.keyid) {
                keys.keyids.push(signer.keyid.clone());
            }
        } else {
            for delegations in self
                .targets
                .values_mut()
                .filter_map(|t| t.delegations.as_mut())
            {
                let DelegatedRoles::List(list) = &mut delegations.roles else {
                    continue;
                };
                if let Some(entry) = list.iter_mut().find(|r| r.name == name) {
                    if !entry.keys.keyids.contains(&signer.keyid) {
                        entry.keys.keyids.push(signer.keyid.clone());
                    }
                    delegations
                        .keys
                        .insert(signer.keyid.clone(), signer.metadata_key());
                }
            }
        }
        let list = self.signers.entry(name).or_default();
        if !list.iter().any(|s| s.keyid == signer.keyid) {
            list.push(signer);
        }
    }

    /// Removes the key `keyid` from `role` (in root or every delegator) and
    /// stops signing `role` with it. The key object is dropped from `keys`
    /// when no other role uses it.
    pub fn remove_key(&mut self, name: &str, keyid: &str) {
        let name = role(name);
        if name.is_top_level() {
            if let Some(keys) = self.root.roles.get_mut(name.as_str()) {
                keys.keyids.retain(|k| k != keyid);
            }
            if !self
                .root
                .roles
                .values()
                .any(|r| r.keyids.iter().any(|k| k == keyid))
            {
                self.root.keys.remove(keyid);
            }
        } else {
            for delegations in self
                .targets
                .values_mut()
                .filter_map(|t| t.delegations.as_mut())
            {
                let DelegatedRoles::List(list) = &mut delegations.roles else {
                    continue;
                };
                for entry in list.iter_mut().filter(|r| r.name == name) {
                    entry.keys.keyids.retain(|k| k != keyid);
                }
                if !list
                    .iter()
                    .any(|r| r.keys.keyids.iter().any(|k| k == keyid))
                {
                    delegations.keys.remove(keyid);
                }
            }
        }
        if let Some(list) = self.signers.get_mut(&name) {
            list.retain(|s| s.keyid != keyid);
        }
    }

    /// Replaces every key of `role` with `signers` and sets its threshold.
    pub fn replace_keys(&mut self, name: &str, signers: Vec<Signer>, threshold: u64) {
        let old: Vec<String> = self
            .signers
            .get(&role(name))
            .into_iter()
            .flatten()
            .map(|s| s.keyid.clone())
            .collect();
        for keyid in old {
            self.remove_key(name, &keyid);
        }
        for signer in signers {
            self.add_key(name, signer);
        }
        self.set_threshold(name, threshold);
    }

    /// Replaces the keys of `role` with as many fresh Ed25519 keys as its
    /// threshold. The role's delegator (root, or the delegating targets
    /// roles) must be re-published for the change to show.
    pub fn rotate_keys(&mut self, name: &str) {
        let threshold = self.threshold(name);
        let fresh = (0..threshold).map(|_| Signer::generate()).collect();
        self.replace_keys(name, fresh, threshold);
    }

    fn threshold(&self, name: &str) -> u64 {
        let name = role(name);
        if name.is_top_level() {
            return self.root.roles[name.as_str()].threshold;
        }
        self.targets
            .values()
            .filter_map(|t| t.delegated_role_keys(&name))
            .map(|k| k.threshold)
            .next()
            .unwrap_or(1)
    }

    /// Sets the threshold of `role` (in root or every delegator).
    pub fn set_threshold(&mut self, name: &str, threshold: u64) {
        let name = role(name);
        if name.is_top_level() {
            self.root
                .roles
                .get_mut(name.as_str())
                .expect("top-level role")
                .threshold = threshold;
            return;
        }
        for delegations in self
            .targets
            .values_mut()
            .filter_map(|t| t.delegations.as_mut())
        {
            if let DelegatedRoles::List(list) = &mut delegations.roles {
                for entry in list.iter_mut().filter(|r| r.name == name) {
                    entry.keys.threshold = threshold;
                }
            }
        }
    }

    /// The current signers of `role`.
    #[must_use]
    pub fn signers_of(&self, name: &str) -> Vec<Signer> {
        self.signers.get(&role(name)).cloned().unwrap_or_default()
    }

    // ----- versions and expiry ---------------------------------------------

    /// The common fields of any role, to set a version or an expiry.
    pub fn common_mut(&mut self, name: &str) -> &mut Common {
        match name {
            RoleName::ROOT => &mut self.root.common,
            RoleName::TIMESTAMP => &mut self.timestamp,
            RoleName::SNAPSHOT => &mut self.snapshot,
            other => {
                &mut self
                    .targets
                    .get_mut(&role(other))
                    .expect("known targets role")
                    .common
            }
        }
    }

    /// The targets role called `name`.
    pub fn targets_mut(&mut self, name: &str) -> &mut Targets {
        self.targets
            .get_mut(&role(name))
            .expect("known targets role")
    }

    /// Sets the version `role` will be published with.
    pub fn set_version(&mut self, name: &str, version: u64) {
        self.common_mut(name).version = version;
    }

    /// Sets when `role` expires.
    pub fn set_expires(&mut self, name: &str, expires: Timestamp) {
        self.common_mut(name).expires = expires;
    }

    /// Makes `role` expire one day before [`now`].
    pub fn expire(&mut self, name: &str) {
        self.set_expires(name, now().plus_seconds(-DAY));
    }

    /// Bumps the timestamp version.
    pub fn update_timestamp(&mut self) {
        self.timestamp.version += 1;
    }

    /// Bumps the snapshot and timestamp versions.
    pub fn update_snapshot(&mut self) {
        self.snapshot.version += 1;
        self.update_timestamp();
    }

    /// Bumps the version of targets role `name`, then snapshot and timestamp:
    /// what a repository does after changing one targets role.
    pub fn update(&mut self, name: &str) {
        self.common_mut(name).version += 1;
        self.update_snapshot();
    }

    // ----- targets and delegations -----------------------------------------

    /// Lists `content` as target `path` in targets role `name` and serves it.
    pub fn add_target(&mut self, name: &str, path: &str, content: &[u8]) {
        self.targets_mut(name)
            .targets
            .insert(path.to_owned(), target_file(content));
        self.serve_target(path, content);
    }

    /// Serves `content` as target `path` without listing it anywhere (the
    /// last bytes served under one plain name win).
    pub fn serve_target(&mut self, path: &str, content: &[u8]) {
        self.contents.retain(|(p, c)| !(p == path && c == content));
        self.contents.push((path.to_owned(), content.to_vec()));
    }

    /// Stops listing target `path` in targets role `name`.
    pub fn remove_target(&mut self, name: &str, path: &str) {
        self.targets_mut(name).targets.remove(path);
    }

    /// Makes `delegator` delegate `paths` to `name`, appended after its
    /// other delegations, with threshold 1. A role seen for the first time
    /// gets a fresh key and an empty targets body (version 1); an existing
    /// role (a diamond, a cycle) is delegated with its current keys.
    pub fn delegate(
        &mut self,
        delegator: &str,
        name: &str,
        paths: PathSpec,
        terminating: bool,
    ) -> RoleName {
        let name = role(name);
        assert!(!name.is_top_level(), "cannot delegate to a top-level role");
        let signers = self
            .signers
            .entry(name.clone())
            .or_insert_with(|| vec![Signer::generate()])
            .clone();
        self.targets
            .entry(name.clone())
            .or_insert_with(|| new_targets(1));
        let parent = self.targets_mut(delegator);
        let delegations = parent.delegations.get_or_insert_with(empty_delegations);
        for signer in &signers {
            delegations
                .keys
                .insert(signer.keyid.clone(), signer.metadata_key());
        }
        let DelegatedRoles::List(list) = &mut delegations.roles else {
            panic!("{delegator} delegates to succinct roles")
        };
        list.retain(|r| r.name != name);
        list.push(DelegatedRole {
            name: name.clone(),
            keys: RoleKeys {
                keyids: signers.iter().map(|s| s.keyid.clone()).collect(),
                threshold: 1,
            },
            terminating,
            paths,
            unknown: BTreeMap::new(),
        });
        name
    }

    /// Shorthand for a delegation by glob patterns.
    pub fn delegate_paths(
        &mut self,
        delegator: &str,
        name: &str,
        patterns: &[&str],
        terminating: bool,
    ) -> RoleName {
        let paths = PathSpec::Patterns(patterns.iter().map(|p| (*p).to_owned()).collect());
        self.delegate(delegator, name, paths, terminating)
    }

    /// Makes `delegator` delegate to `2^bit_length` succinct hashed bins
    /// named `<prefix>-<hex>` (TAP 15) that share one fresh key, and creates
    /// every bin with an empty targets body.
    pub fn add_succinct_bins(
        &mut self,
        delegator: &str,
        bit_length: u32,
        prefix: &str,
    ) -> SuccinctRoles {
        let signer = Signer::generate();
        let succinct = SuccinctRoles {
            keys: RoleKeys {
                keyids: vec![signer.keyid.clone()],
                threshold: 1,
            },
            bit_length,
            name_prefix: prefix.to_owned(),
            unknown: BTreeMap::new(),
        };
        self.targets_mut(delegator).delegations = Some(Delegations {
            keys: BTreeMap::from([(signer.keyid.clone(), signer.metadata_key())]),
            roles: DelegatedRoles::Succinct(succinct.clone()),
            unknown: BTreeMap::new(),
        });
        for bin in 0..succinct.bin_count() {
            let name = succinct.bin_name(bin);
            self.signers.insert(name.clone(), vec![signer.clone()]);
            self.targets.insert(name, new_targets(1));
        }
        succinct
    }

    // ----- tampering -------------------------------------------------------

    /// Serves `bytes` at `path` instead of what publishing renders there
    /// (from the next publish on, until cleared).
    pub fn override_file(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.overrides
            .insert(canonical_path(path), Some(bytes.into()));
    }

    /// Stops serving `path` (it answers 404) from the next publish on.
    pub fn withhold_file(&mut self, path: &str) {
        self.overrides.insert(canonical_path(path), None);
    }

    /// Forgets the override of `path`.
    pub fn clear_override(&mut self, path: &str) {
        self.overrides.remove(&canonical_path(path));
    }

    /// Edits the snapshot body (after its `meta` is computed, before signing).
    pub fn tamper_snapshot(&mut self, hook: impl Fn(&mut SnapshotMeta) + 'static) {
        self.snapshot_hook = Some(Box::new(hook));
    }

    /// Edits the timestamp body (after its `meta` is computed, before signing).
    pub fn tamper_timestamp(&mut self, hook: impl Fn(&mut TimestampMeta) + 'static) {
        self.timestamp_hook = Some(Box::new(hook));
    }

    /// Edits the signature list of `role` after signing.
    pub fn tamper_signatures(&mut self, name: &str, hook: impl Fn(&mut Vec<Signature>) + 'static) {
        self.signature_hooks.insert(role(name), Box::new(hook));
    }

    /// Removes every override, hook and `sign_with` entry.
    pub fn clear_tampering(&mut self) {
        self.overrides.clear();
        self.snapshot_hook = None;
        self.timestamp_hook = None;
        self.signature_hooks.clear();
        self.sign_with.clear();
    }

    // ----- publishing ------------------------------------------------------

    /// The path `role`'s metadata is served at for `version`.
    #[must_use]
    pub fn metadata_path(&self, name: &str, version: u64) -> String {
        let encoded = role(name).encoded();
        if self.root.consistent_snapshot {
            format!("metadata/{version}.{encoded}.json")
        } else {
            format!("metadata/{encoded}.json")
        }
    }

    /// The paths target `path` with `content` is served at.
    #[must_use]
    pub fn target_paths(&self, path: &str, content: &[u8]) -> Vec<String> {
        let (dir, name) = path
            .rsplit_once('/')
            .map_or((None, path), |(d, n)| (Some(d), n));
        let mut prefix = String::new();
        for segment in dir.into_iter().flat_map(|d| d.split('/')) {
            prefix.push_str(&percent_encode(segment));
            prefix.push('/');
        }
        let names = if self.root.consistent_snapshot {
            target_file(content)
                .hashes
                .values()
                .map(|hash| format!("{hash}.{name}"))
                .collect()
        } else {
            vec![name.to_owned()]
        };
        names
            .iter()
            .map(|n| format!("targets/{prefix}{}", percent_encode(n)))
            .collect()
    }

    fn meta_file(version: u64, bytes: &[u8], listing: Listing) -> MetaFile {
        MetaFile {
            version,
            length: listing.length.then_some(bytes.len() as u64),
            hashes: listing
                .hashes
                .then(|| BTreeMap::from([("sha256".to_owned(), sha256_hex(bytes))])),
            unknown: BTreeMap::new(),
        }
    }

    /// Signs everything and returns every file the repository serves (URL
    /// path → bytes), overrides applied. Files of earlier publishes stay.
    pub fn publish(&mut self) -> BTreeMap<String, Vec<u8>> {
        let mut rendered = Vec::new();
        for (version, bytes) in (1..).zip(&self.roots) {
            rendered.push((format!("metadata/{version}.root.json"), bytes.clone()));
        }
        let mut meta = BTreeMap::new();
        for (name, body) in &self.targets {
            let bytes = self.sign_role(name, body.clone());
            let version = body.common.version;
            let listed = Self::meta_file(version, &bytes, self.snapshot_lists);
            meta.insert(format!("{}.json", name.as_str()), listed);
            rendered.push((self.metadata_path(name.as_str(), version), bytes));
        }
        let mut snapshot = SnapshotMeta {
            common: self.snapshot.clone(),
            meta: meta.into(),
        };
        if let Some(hook) = &self.snapshot_hook {
            hook(&mut snapshot);
        }
        let version = snapshot.common.version;
        let snapshot_bytes = self.sign_role(&role(RoleName::SNAPSHOT), snapshot);
        let mut timestamp = TimestampMeta {
            common: self.timestamp.clone(),
            snapshot: Self::meta_file(version, &snapshot_bytes, self.timestamp_lists),
        };
        if let Some(hook) = &self.timestamp_hook {
            hook(&mut timestamp);
        }
        rendered.push((
            self.metadata_path(RoleName::SNAPSHOT, version),
            snapshot_bytes,
        ));
        rendered.push((
            "metadata/timestamp.json".to_owned(),
            self.sign_role(&role(RoleName::TIMESTAMP), timestamp),
        ));
        for (path, content) in &self.contents {
            for served in self.target_paths(path, content) {
                rendered.push((served, content.clone()));
            }
        }
        for (path, bytes) in rendered {
            self.files.insert(canonical_path(&path), bytes);
        }
        self.served()
    }

    /// What the repository serves now: the files of every publish so far,
    /// overrides applied.
    #[must_use]
    pub fn served(&self) -> BTreeMap<String, Vec<u8>> {
        let mut served = self.files.clone();
        for (path, bytes) in &self.overrides {
            match bytes {
                Some(bytes) => served.insert(path.clone(), bytes.clone()),
                None => served.remove(path),
            };
        }
        served
    }

    /// The bytes honestly published at `path` (overrides not applied).
    #[must_use]
    pub fn published(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(&canonical_path(path)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_tuf::TrustedSet;

    #[test]
    fn publishes_a_repository_the_trusted_set_accepts() {
        let mut sim = RepositorySimulator::new();
        sim.add_target("targets", "dir/file.txt", b"hello");
        sim.delegate_paths("targets", "a role/../x", &["dir/*"], false);
        let files = sim.publish();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        let sha256 = sha256_hex(b"hello");
        assert!(names.contains(&"metadata/1.root.json"));
        assert!(names.contains(&"metadata/timestamp.json"));
        assert!(names.contains(&"metadata/1.snapshot.json"));
        assert!(names.contains(&"metadata/1.targets.json"));
        assert!(
            names.contains(&"metadata/1.a%20role%2F..%2Fx.json"),
            "{names:?}"
        );
        assert!(names.contains(&format!("targets/dir/{sha256}.file.txt").as_str()));

        let mut set = TrustedSet::new(&files["metadata/1.root.json"], now()).unwrap();
        set.update_timestamp(&files["metadata/timestamp.json"])
            .unwrap();
        set.update_snapshot(&files["metadata/1.snapshot.json"])
            .unwrap();
        set.update_targets(&files["metadata/1.targets.json"])
            .unwrap();
        set.update_delegated_targets(
            &files["metadata/1.a%20role%2F..%2Fx.json"],
            &role("a role/../x"),
            &role("targets"),
        )
        .unwrap();
    }

    #[test]
    fn root_rotation_is_signed_by_old_and_new_keys() {
        let mut sim = RepositorySimulator::new();
        sim.rotate_keys("root");
        sim.publish_root();
        sim.publish();
        let mut set = TrustedSet::new(&sim.root_bytes(1), now()).unwrap();
        set.update_root(&sim.root_bytes(2)).unwrap();
        assert_eq!(set.root().common.version, 2);
    }

    #[test]
    fn republishing_unchanged_ecdsa_metadata_gives_the_same_bytes() {
        let mut sim = RepositorySimulator::with_algorithms(|_| Algorithm::EcdsaP256);
        let first = sim.publish();
        assert_eq!(sim.publish(), first);
    }
}
