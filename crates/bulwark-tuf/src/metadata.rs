//! The metadata model of spec 1.0.34 §4: the signed envelope and the four
//! top-level roles plus delegations, parsed from untrusted bytes.
//!
//! ```text
//! bytes ──json::Document::parse──▶ Document ──Envelope::parse──▶ Envelope<T>
//!        (strings borrowed, no          │ keeps the canonical bytes of `signed`
//!         per-object allocation)        ▼ for signature checks (threshold.rs)
//! ```
//!
//! Parsing checks shape only (types, required fields, ranges). Whether the
//! metadata is *trusted* is decided by [`crate::trusted::TrustedSet`]. Unknown
//! fields are kept at every level, and signatures are always checked over the
//! canonical form of the `signed` object as received, so nothing a newer
//! writer added can be lost or break verification.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::canonical;
use crate::delegation::Delegations;
use crate::fields::{Fields, Path, SchemaError, int, object_with, string_map};
use crate::json::{self, Document, Node, Object, Value};
use crate::keys::{self, PublicKey};
use crate::meta_map::MetaMap;
use crate::names::RoleName;
use crate::signer::Signer;
use crate::time::Timestamp;

/// The major version of the specification this crate implements.
pub const SPEC_MAJOR_VERSION: &str = "1";

/// The specification version written by this crate.
pub const SPEC_VERSION: &str = "1.0.34";

/// The kinds of metadata document, by their `_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleType {
    /// `root`
    Root,
    /// `timestamp`
    Timestamp,
    /// `snapshot`
    Snapshot,
    /// `targets`, top-level or delegated
    Targets,
}

impl RoleType {
    /// The `_type` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Timestamp => "timestamp",
            Self::Snapshot => "snapshot",
            Self::Targets => "targets",
        }
    }
}

/// A body of signed metadata: one of [`Root`], [`TimestampMeta`], [`SnapshotMeta`], [`Targets`].
pub trait SignedBody: Sized {
    /// The `_type` this body has.
    const TYPE: RoleType;
    /// Parses the `signed` object of a parsed document.
    fn parse(signed: Node<'_>) -> Result<Self, SchemaError>;
    /// The `signed` object.
    fn to_value(&self) -> Value;
    /// The fields every role has.
    fn common(&self) -> &Common;
}

/// One signature from the `signatures` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The key ID that claims to have signed.
    pub keyid: String,
    /// The signature, hex as the scheme defines it.
    pub sig: String,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

/// A parsed metadata document: the typed body, its signatures, and the
/// canonical bytes of `signed` as received, which is what was signed.
#[derive(Clone, Debug)]
pub struct Envelope<T> {
    /// The typed body.
    pub signed: T,
    /// The signatures; key IDs are unique (spec §4.2 "SIGNATURES").
    pub signatures: Vec<Signature>,
    canonical_signed: Vec<u8>,
    /// Where [`Envelope::to_value`] finds the `signed` object.
    source: Source,
}

/// The `signed` object of an envelope, exactly as received or built.
#[derive(Clone, Debug)]
enum Source {
    /// Received already in canonical form: the canonical bytes are the
    /// received bytes (and, having been parsed strictly, parse again).
    Canonical,
    /// Received in another form (whitespace, other key order, escapes):
    /// the received bytes of `signed`.
    Received(Vec<u8>),
    /// Built by [`Envelope::new`].
    Built(Value),
}

impl<T: SignedBody> Envelope<T> {
    /// Parses and shape-checks a metadata document of type `T`.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let document = Document::parse(bytes)?;
        Ok(Self::from_node(document.root())?)
    }

    fn from_node(value: Node<'_>) -> Result<Self, SchemaError> {
        let mut top = Fields::of(value, "")?;
        let signed_value = top.required("signed")?;
        let signatures_value = top.array("signatures")?;
        let mut fields = Fields::of(signed_value, "signed")?;
        let found = fields.string("_type")?;
        if found != T::TYPE.as_str() {
            return Err(SchemaError::new(
                "signed._type",
                format!("expected {:?}, found {found:?}", T::TYPE.as_str()),
            ));
        }
        let signed = T::parse(signed_value)?;
        let mut signatures = Vec::with_capacity(signatures_value.len());
        let mut seen = BTreeSet::new();
        for (i, item) in signatures_value.iter().enumerate() {
            let path = Path::Element {
                array: "signatures",
                index: i,
            };
            let mut f = Fields::of(item, path)?;
            let keyid = f.string("keyid")?;
            let sig = f.string("sig")?.to_owned();
            if !seen.insert(keyid) {
                return Err(SchemaError::new(
                    format!("signatures[{i}].keyid"),
                    format!("key ID {keyid} signs more than once"),
                ));
            }
            signatures.push(Signature {
                keyid: keyid.to_owned(),
                sig,
                unknown: f.rest(),
            });
        }
        // `Fields::of` above made sure that `signed` is an object.
        let object = signed_value
            .as_object()
            .ok_or_else(|| SchemaError::new("signed", "expected an object"))?;
        // What the signatures cover: the canonical form of `signed` as
        // received. Metadata written canonically is its own canonical form,
        // so it is taken as it is rather than written out again.
        let canonical_signed = object.canonical_bytes().into_owned();
        let source = if object.is_canonical() {
            Source::Canonical
        } else {
            Source::Received(object.raw().to_vec())
        };
        Ok(Self {
            signed,
            signatures,
            canonical_signed,
            source,
        })
    }

    /// The canonical bytes of the received `signed` object.
    #[must_use]
    pub fn canonical_signed(&self) -> &[u8] {
        &self.canonical_signed
    }

    /// A new envelope around `signed`, with no signatures yet.
    pub fn new(signed: T) -> Self {
        let signed_value = signed.to_value();
        let canonical_signed = canonical::to_vec(&signed_value);
        Self {
            signed,
            signatures: Vec::new(),
            canonical_signed,
            source: Source::Built(signed_value),
        }
    }

    /// Adds a signature by `key` (in memory or in hardware) over the
    /// canonical `signed` bytes, replacing any earlier signature by the
    /// same key.
    pub fn sign(&mut self, key: &(impl Signer + ?Sized)) -> Result<(), keys::KeyError> {
        let keyid = key.key_id();
        let sig = key.sign(&self.canonical_signed)?;
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(Signature {
            keyid,
            sig,
            unknown: BTreeMap::new(),
        });
        Ok(())
    }

    /// Checks that a threshold of the keys `authorised` lists (looked up in
    /// `keys`) signed this document as `role`, with the same single
    /// threshold count the trusted set uses. For tools that check metadata
    /// outside the client workflow, such as a signing ceremony.
    pub fn check_signatures(
        &self,
        role: &RoleName,
        keys: &BTreeMap<String, Key>,
        authorised: &RoleKeys,
    ) -> Result<(), crate::Refused> {
        crate::threshold::check(
            role,
            &self.canonical_signed,
            &self.signatures,
            keys,
            authorised,
        )
    }

    /// The whole document as JSON.
    #[must_use]
    pub fn to_value(&self) -> Value {
        // The `signed` object as received, read again from the received
        // bytes. (Canonical bytes are read only when they are the received
        // bytes: canonical JSON writes control characters, such as the
        // newlines of PEM keys, raw, which strict JSON refuses.) Bytes that
        // parsed once parse again; were that ever not so, the typed model
        // still has every field.
        let reparse = |bytes: &[u8]| json::parse(bytes).unwrap_or_else(|_| self.signed.to_value());
        let signed = match &self.source {
            Source::Built(value) => value.clone(),
            Source::Canonical => reparse(&self.canonical_signed),
            Source::Received(bytes) => reparse(bytes),
        };
        let signatures = self
            .signatures
            .iter()
            .map(|s| {
                object_with(
                    [
                        ("keyid", s.keyid.as_str().into()),
                        ("sig", s.sig.as_str().into()),
                    ],
                    &s.unknown,
                )
            })
            .collect();
        Value::Object(BTreeMap::from([
            ("signatures".to_owned(), Value::Array(signatures)),
            ("signed".to_owned(), signed),
        ]))
    }

    /// The whole document as compact JSON with sorted keys: canonical JSON,
    /// except that control characters in strings are escaped so that strict
    /// JSON readers (ours, Python's `json`) accept it. The canonical form of
    /// what it parses to, which the signatures cover, is unchanged.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        json::to_vec(&self.to_value())
    }
}

/// Why bytes are not a metadata document of the expected type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not (strict) JSON.
    #[error(transparent)]
    Json(#[from] json::JsonError),
    /// JSON of the wrong shape.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Fields every role's `signed` object has (spec §4.3, "ROLE").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Common {
    /// `spec_version`; its major version is checked to be ours.
    pub spec_version: String,
    /// `version`, at least 1.
    pub version: u64,
    /// `expires`.
    pub expires: Timestamp,
    /// Fields of `signed` this crate does not know.
    pub unknown: BTreeMap<String, Value>,
}

impl Common {
    /// Common fields for new metadata.
    #[must_use]
    pub fn new(version: u64, expires: Timestamp) -> Self {
        Self {
            spec_version: SPEC_VERSION.to_owned(),
            version,
            expires,
            unknown: BTreeMap::new(),
        }
    }

    fn read(f: &mut Fields<'_, '_>) -> Result<Self, SchemaError> {
        f.optional("_type");
        let spec_version = f.string("spec_version")?.to_owned();
        // §4.3: clients MUST verify that spec_version matches the expected version.
        let mut parts = spec_version.split('.');
        let major = parts.next().unwrap_or_default();
        let valid = matches!(spec_version.split('.').count(), 2 | 3)
            && spec_version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid || major != SPEC_MAJOR_VERSION {
            return Err(SchemaError::new(
                f.path_of("spec_version"),
                format!("unsupported specification version {spec_version:?}, expected 1.x"),
            ));
        }
        let version = f.integer("version", 1)?;
        let expires_text = f.string("expires")?;
        let expires = Timestamp::parse(expires_text).ok_or_else(|| {
            SchemaError::new(
                f.path_of("expires"),
                format!("expected YYYY-MM-DDTHH:MM:SSZ, found {expires_text:?}"),
            )
        })?;
        Ok(Self {
            spec_version,
            version,
            expires,
            unknown: BTreeMap::new(),
        })
    }

    fn fields(&self, kind: RoleType) -> [(&'static str, Value); 4] {
        [
            ("_type", kind.as_str().into()),
            ("spec_version", self.spec_version.as_str().into()),
            ("version", int(self.version)),
            ("expires", self.expires.to_string().into()),
        ]
    }

    /// True when these metadata have expired at `now` (§5.3.10, §5.4.4, …).
    #[must_use]
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires <= now
    }
}

/// A public key as listed in root or delegations (§4.2 "KEY").
#[derive(Clone, Debug)]
pub struct Key {
    /// `keytype`
    pub keytype: String,
    /// `scheme`
    pub scheme: String,
    /// `keyval`
    pub keyval: BTreeMap<String, Value>,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
    /// The usable key, when the type and scheme are supported, the material is
    /// well formed and the key ID it is listed under is its true key ID
    /// (§4.3 "KEYID"). Keys without one are listed but never trusted.
    verifier: Option<Arc<PublicKey>>,
}

impl Key {
    /// A key from its metadata object, as listed under `keyid`.
    pub fn from_value(keyid: &str, value: &Value, path: &str) -> Result<Self, SchemaError> {
        // Written as strict JSON and read back, `value` is itself again.
        let bytes = json::to_vec(value);
        let document = Document::parse(&bytes)
            .map_err(|e| SchemaError::new(path, format!("not JSON: {e}")))?;
        Self::from_node(keyid, document.root(), path)
    }

    /// A key from its object in a parsed document, as listed under `keyid`.
    pub(crate) fn from_node<'p>(
        keyid: &str,
        value: Node<'_>,
        path: impl Into<Path<'p>>,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::of(value, path)?;
        let keytype = f.string("keytype")?.to_owned();
        let scheme = f.string("scheme")?.to_owned();
        let keyval = f.object("keyval")?.to_map();
        let verifier = if key_id_of(value) == keyid {
            PublicKey::from_parts(&keytype, &scheme, &keyval)
                .ok()
                .flatten()
                .map(Arc::new)
        } else {
            None
        };
        Ok(Self {
            keytype,
            scheme,
            keyval,
            unknown: f.rest(),
            verifier,
        })
    }

    /// The verifier, if this key can be trusted at all.
    #[must_use]
    pub fn verifier(&self) -> Option<&PublicKey> {
        self.verifier.as_deref()
    }

    /// The key object.
    #[must_use]
    pub fn to_value(&self) -> Value {
        object_with(
            [
                ("keytype", self.keytype.as_str().into()),
                ("scheme", self.scheme.as_str().into()),
                ("keyval", Value::Object(self.keyval.clone())),
            ],
            &self.unknown,
        )
    }
}

/// The key ID of a key object in a parsed document (see [`keys::key_id`]).
fn key_id_of(value: Node<'_>) -> String {
    let bytes = if let Some(object) = value.as_object() {
        object.canonical_bytes()
    } else {
        let mut canonical = Vec::new();
        canonical::write_node(value, &mut canonical);
        canonical.into()
    };
    crate::hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

/// Parses a `keys` object (key ID → key).
pub(crate) fn read_keys(map: Object<'_>, path: &str) -> Result<BTreeMap<String, Key>, SchemaError> {
    read_map(map, |keyid, v| {
        let key_path = Path::Member {
            object: path,
            key: keyid,
        };
        Key::from_node(keyid, v, key_path)
    })
}

pub(crate) fn keys_value(keys: &BTreeMap<String, Key>) -> Value {
    Value::Object(
        keys.iter()
            .map(|(id, k)| (id.clone(), k.to_value()))
            .collect(),
    )
}

/// The keys and threshold authorised for a role (§4.3 "ROLE" in root, and
/// delegated roles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleKeys {
    /// Authorised key IDs; a repeated ID counts once.
    pub keyids: Vec<String>,
    /// How many distinct authorised keys must sign, at least 1.
    pub threshold: u64,
}

impl RoleKeys {
    pub(crate) fn read(f: &mut Fields<'_, '_>) -> Result<Self, SchemaError> {
        Ok(Self {
            keyids: f.strings("keyids")?,
            threshold: f.integer("threshold", 1)?,
        })
    }

    pub(crate) fn fields(&self) -> [(&'static str, Value); 2] {
        [
            (
                "keyids",
                Value::Array(self.keyids.iter().map(|k| k.as_str().into()).collect()),
            ),
            ("threshold", int(self.threshold)),
        ]
    }
}

/// Root metadata (§4.3).
#[derive(Clone, Debug)]
pub struct Root {
    /// Common fields.
    pub common: Common,
    /// `consistent_snapshot`, false when absent.
    pub consistent_snapshot: bool,
    /// Every key any top-level role uses.
    pub keys: BTreeMap<String, Key>,
    /// Keys and thresholds for root, timestamp, snapshot and targets.
    pub roles: BTreeMap<String, RoleKeys>,
    /// Unknown fields of each role entry.
    pub roles_unknown: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Root {
    /// The keys and threshold of a top-level role; present for all four by construction.
    #[must_use]
    pub fn role(&self, name: &str) -> Option<&RoleKeys> {
        self.roles.get(name)
    }
}

impl SignedBody for Root {
    const TYPE: RoleType = RoleType::Root;

    fn parse(signed: Node<'_>) -> Result<Self, SchemaError> {
        let mut f = Fields::of(signed, "signed")?;
        let common = Common::read(&mut f)?;
        let consistent_snapshot = f.boolean("consistent_snapshot")?.unwrap_or(false);
        let keys_path = f.path_of("keys");
        let keys = read_keys(f.object("keys")?, &keys_path)?;
        let roles_path = f.path_of("roles");
        let mut roles = BTreeMap::new();
        let mut roles_unknown = BTreeMap::new();
        for (name, v) in f.object("roles")?.iter() {
            let path = Path::Member {
                object: &roles_path,
                key: name,
            };
            let mut rf = Fields::of(v, path)?;
            roles.insert(name.to_owned(), RoleKeys::read(&mut rf)?);
            roles_unknown.insert(name.to_owned(), rf.rest());
        }
        for required in [
            RoleName::ROOT,
            RoleName::TIMESTAMP,
            RoleName::SNAPSHOT,
            RoleName::TARGETS,
        ] {
            if !roles.contains_key(required) {
                return Err(SchemaError::new(
                    format!("{roles_path}[{required:?}]"),
                    "missing",
                ));
            }
        }
        let mut common = common;
        common.unknown = f.rest();
        Ok(Self {
            common,
            consistent_snapshot,
            keys,
            roles,
            roles_unknown,
        })
    }

    fn to_value(&self) -> Value {
        let roles = self
            .roles
            .iter()
            .map(|(name, keys)| {
                let unknown = self.roles_unknown.get(name).cloned().unwrap_or_default();
                (name.clone(), object_with(keys.fields(), &unknown))
            })
            .collect();
        let mut fields = self.common.fields(Self::TYPE).to_vec();
        fields.push(("consistent_snapshot", Value::Bool(self.consistent_snapshot)));
        fields.push(("keys", keys_value(&self.keys)));
        fields.push(("roles", Value::Object(roles)));
        object_with(fields, &self.common.unknown)
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

/// A metadata file's description in timestamp or snapshot (§4.4 "METAFILES").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaFile {
    /// Its version, at least 1.
    pub version: u64,
    /// Its length in bytes, if listed.
    pub length: Option<u64>,
    /// Its hashes, if listed (never an empty map).
    pub hashes: Option<BTreeMap<String, String>>,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

impl MetaFile {
    /// A description with only a version.
    #[must_use]
    pub fn new(version: u64) -> Self {
        Self {
            version,
            length: None,
            hashes: None,
            unknown: BTreeMap::new(),
        }
    }

    fn read(value: Node<'_>, path: Path<'_>) -> Result<Self, SchemaError> {
        // The shape of nearly every entry of a large snapshot, `{"version":N}`
        // with N ≥ 1, read without the general machinery; anything else
        // (including a bad version, for its error) takes the general path.
        if let Some(object) = value.as_object()
            && object.len() == 1
            && let (key, version) = object.member(0)
            && key == "version"
            && let Some(version) = version.as_int().and_then(|n| u64::try_from(n).ok())
            && version >= 1
        {
            return Ok(Self::new(version));
        }
        let mut f = Fields::of(value, path)?;
        let version = f.integer("version", 1)?;
        let length = f.optional_integer("length", 0)?;
        let hashes = read_hashes(&mut f, false)?;
        Ok(Self {
            version,
            length,
            hashes,
            unknown: f.rest(),
        })
    }

    fn to_value(&self) -> Value {
        let mut fields = vec![("version", int(self.version))];
        if let Some(length) = self.length {
            fields.push(("length", int(length)));
        }
        if let Some(hashes) = &self.hashes {
            fields.push(("hashes", hashes_value(hashes)));
        }
        object_with(fields, &self.unknown)
    }
}

fn read_hashes(
    f: &mut Fields<'_, '_>,
    required: bool,
) -> Result<Option<BTreeMap<String, String>>, SchemaError> {
    let map = if required {
        Some(f.object("hashes")?)
    } else {
        f.optional_object("hashes")?
    };
    map.map(|map| {
        if map.is_empty() {
            return Err(SchemaError::new(
                f.path_of("hashes"),
                "must list at least one hash",
            ));
        }
        string_map(map, &f.path_of("hashes"))
    })
    .transpose()
}

fn hashes_value(hashes: &BTreeMap<String, String>) -> Value {
    Value::Object(
        hashes
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect(),
    )
}

fn read_meta(map: Object<'_>, path: &str) -> Result<MetaMap, SchemaError> {
    let name_bytes = map.iter().map(|(name, _)| name.len()).sum();
    let mut meta = MetaMap::with_capacity(map.len(), name_bytes);
    for (name, v) in map.iter() {
        let entry = Path::Member {
            object: path,
            key: name,
        };
        // A parsed object's members are unique and in name order.
        meta.push_sorted(name, MetaFile::read(v, entry)?)
            .map_err(|_| SchemaError::new(path, "names out of order"))?;
    }
    Ok(meta)
}

/// Reads every member of `map` with `read`, into a map with the same keys.
pub(crate) fn read_map<T>(
    map: Object<'_>,
    mut read: impl FnMut(&str, Node<'_>) -> Result<T, SchemaError>,
) -> Result<BTreeMap<String, T>, SchemaError> {
    // Collected at its final size, in key order, which the map is then
    // built from in one pass (a bin can list thousands of targets).
    let mut entries = Vec::with_capacity(map.len());
    for (name, v) in map.iter() {
        entries.push((name.to_owned(), read(name, v)?));
    }
    Ok(BTreeMap::from_iter(entries))
}

fn meta_value<'a>(meta: impl IntoIterator<Item = (&'a str, &'a MetaFile)>) -> Value {
    Value::Object(
        meta.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_value()))
            .collect(),
    )
}

/// Timestamp metadata (§4.6).
#[derive(Clone, Debug)]
pub struct TimestampMeta {
    /// Common fields.
    pub common: Common,
    /// The description of `snapshot.json`, the only entry of `meta`.
    pub snapshot: MetaFile,
}

impl SignedBody for TimestampMeta {
    const TYPE: RoleType = RoleType::Timestamp;

    fn parse(signed: Node<'_>) -> Result<Self, SchemaError> {
        let mut f = Fields::of(signed, "signed")?;
        let mut common = Common::read(&mut f)?;
        let path = f.path_of("meta");
        let mut meta = read_meta(f.object("meta")?, &path)?;
        let snapshot = meta
            .remove("snapshot.json")
            .ok_or_else(|| SchemaError::new(format!("{path}[\"snapshot.json\"]"), "missing"))?;
        if let Some(extra) = meta.keys().next() {
            return Err(SchemaError::new(
                format!("{path}[{extra:?}]"),
                "timestamp may only describe snapshot.json",
            ));
        }
        common.unknown = f.rest();
        Ok(Self { common, snapshot })
    }

    fn to_value(&self) -> Value {
        let mut fields = self.common.fields(Self::TYPE).to_vec();
        fields.push(("meta", meta_value([("snapshot.json", &self.snapshot)])));
        object_with(fields, &self.common.unknown)
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

/// Snapshot metadata (§4.5).
#[derive(Clone, Debug)]
pub struct SnapshotMeta {
    /// Common fields.
    pub common: Common,
    /// Targets metadata files (`targets.json`, `<role>.json`) and their versions.
    pub meta: MetaMap,
}

impl SnapshotMeta {
    /// The description of a targets role's metadata file.
    #[must_use]
    pub fn role_meta(&self, role: &RoleName) -> Option<&MetaFile> {
        self.meta.get(&format!("{}.json", role.as_str()))
    }
}

impl SignedBody for SnapshotMeta {
    const TYPE: RoleType = RoleType::Snapshot;

    fn parse(signed: Node<'_>) -> Result<Self, SchemaError> {
        let mut f = Fields::of(signed, "signed")?;
        let mut common = Common::read(&mut f)?;
        let path = f.path_of("meta");
        let meta = read_meta(f.object("meta")?, &path)?;
        common.unknown = f.rest();
        Ok(Self { common, meta })
    }

    fn to_value(&self) -> Value {
        let mut fields = self.common.fields(Self::TYPE).to_vec();
        fields.push(("meta", meta_value(&self.meta)));
        object_with(fields, &self.common.unknown)
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

/// A target's description (§4.5 "TARGETS").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetFile {
    /// Length in bytes.
    pub length: u64,
    /// Hashes, at least one.
    pub hashes: BTreeMap<String, String>,
    /// `custom` and any unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

impl TargetFile {
    fn read(value: Node<'_>, path: Path<'_>) -> Result<Self, SchemaError> {
        let mut f = Fields::of(value, path)?;
        let length = f.integer("length", 0)?;
        let hashes = read_hashes(&mut f, true)?.unwrap_or_default();
        Ok(Self {
            length,
            hashes,
            unknown: f.rest(),
        })
    }

    fn to_value(&self) -> Value {
        object_with(
            [
                ("length", int(self.length)),
                ("hashes", hashes_value(&self.hashes)),
            ],
            &self.unknown,
        )
    }

    /// The hash used to name the file in a consistent snapshot
    /// (`<hash>.<basename>`, §5.7.3): sha256 when listed, otherwise the
    /// first listed.
    #[must_use]
    pub fn naming_hash(&self) -> Option<&str> {
        self.hashes
            .get("sha256")
            .or_else(|| self.hashes.values().next())
            .map(String::as_str)
    }
}

/// Targets metadata, top-level or delegated (§4.5).
#[derive(Clone, Debug)]
pub struct Targets {
    /// Common fields.
    pub common: Common,
    /// Target path → description.
    pub targets: BTreeMap<String, TargetFile>,
    /// Delegations to other roles, if any.
    pub delegations: Option<Delegations>,
}

impl Targets {
    /// The keys and threshold of the role called `name`, if this role delegates to it.
    #[must_use]
    pub fn delegated_role_keys(&self, name: &RoleName) -> Option<&RoleKeys> {
        self.delegations.as_ref()?.role_keys(name)
    }
}

impl SignedBody for Targets {
    const TYPE: RoleType = RoleType::Targets;

    fn parse(signed: Node<'_>) -> Result<Self, SchemaError> {
        let mut f = Fields::of(signed, "signed")?;
        let mut common = Common::read(&mut f)?;
        let path = f.path_of("targets");
        let targets = read_map(f.object("targets")?, |name, v| {
            let entry = Path::Member {
                object: &path,
                key: name,
            };
            TargetFile::read(v, entry)
        })?;
        let delegations_path = f.path_of("delegations");
        let delegations = f
            .optional("delegations")
            .map(|v| Delegations::read(v, delegations_path))
            .transpose()?;
        common.unknown = f.rest();
        Ok(Self {
            common,
            targets,
            delegations,
        })
    }

    fn to_value(&self) -> Value {
        let mut fields = self.common.fields(Self::TYPE).to_vec();
        fields.push((
            "targets",
            Value::Object(
                self.targets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        ));
        if let Some(d) = &self.delegations {
            fields.push(("delegations", d.to_value()));
        }
        object_with(fields, &self.common.unknown)
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"{"signatures":[{"keyid":"ab","sig":"00","extra":1}],
      "signed":{"_type":"root","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z",
      "consistent_snapshot":true,"x-custom":{"a":[1]},
      "keys":{"ab":{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"00"}}},
      "roles":{"root":{"keyids":["ab"],"threshold":1},"timestamp":{"keyids":["ab"],"threshold":1},
               "snapshot":{"keyids":["ab"],"threshold":1},"targets":{"keyids":["ab"],"threshold":1}}}}"#;

    fn schema_err<T: SignedBody + std::fmt::Debug>(doc: &str) -> SchemaError {
        match Envelope::<T>::parse(doc.as_bytes()) {
            Err(MetadataError::Schema(e)) => e,
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_unknown_fields() {
        let env = Envelope::<Root>::parse(ROOT.as_bytes()).unwrap();
        let original = json::parse(ROOT.as_bytes()).unwrap();
        let Value::Object(top) = &original else {
            panic!()
        };
        assert_eq!(env.signed.to_value(), top["signed"]);
        assert_eq!(env.canonical_signed(), canonical::to_vec(&top["signed"]));
        assert_eq!(env.to_value(), original);
        assert!(env.signed.consistent_snapshot);
        // The key ID "ab" is not the key's true ID, so the key is never usable.
        assert!(env.signed.keys["ab"].verifier().is_none());
    }

    #[test]
    fn refuses_wrong_type_and_spec_version() {
        assert_eq!(schema_err::<TimestampMeta>(ROOT).field, "signed._type");
        let v2 = ROOT.replace("1.0.31", "2.0.0");
        assert_eq!(schema_err::<Root>(&v2).field, "signed.spec_version");
        let junk = ROOT.replace("1.0.31", "1.x");
        assert_eq!(schema_err::<Root>(&junk).field, "signed.spec_version");
    }

    #[test]
    fn refuses_bad_integers() {
        let zero = ROOT.replace("\"version\":1", "\"version\":0");
        assert_eq!(schema_err::<Root>(&zero).field, "signed.version");
        let neg = ROOT.replace("\"threshold\":1}", "\"threshold\":-1}");
        assert!(schema_err::<Root>(&neg).field.ends_with(".threshold"));
        let string = ROOT.replace("\"version\":1", "\"version\":\"1\"");
        assert_eq!(
            schema_err::<Root>(&string),
            SchemaError::new("signed.version", "expected an integer, found string")
        );
        assert!(matches!(
            Envelope::<Root>::parse(ROOT.replace("\"version\":1", "\"version\":1.0").as_bytes()),
            Err(MetadataError::Json(_))
        ));
    }

    #[test]
    fn refuses_missing_roles_and_duplicate_signatures() {
        let no_targets = ROOT.replace("\"targets\":{\"keyids\"", "\"other\":{\"keyids\"");
        assert_eq!(
            schema_err::<Root>(&no_targets).field,
            "signed.roles[\"targets\"]"
        );
        let dup = ROOT.replace(
            r#"{"keyid":"ab","sig":"00","extra":1}"#,
            r#"{"keyid":"ab","sig":"00"},{"keyid":"ab","sig":"01"}"#,
        );
        assert_eq!(schema_err::<Root>(&dup).field, "signatures[1].keyid");
        let expires = ROOT.replace("2030-01-01T00:00:00Z", "2030-01-01");
        assert_eq!(schema_err::<Root>(&expires).field, "signed.expires");
    }

    #[test]
    fn meta_files_of_every_shape_read_the_same() {
        let read = |text: &str| {
            let document = Document::parse(text.as_bytes()).unwrap();
            MetaFile::read(document.root(), Path::from("m"))
        };
        assert_eq!(read(r#"{"version":7}"#).unwrap(), MetaFile::new(7));
        let full = read(r#"{"hashes":{"sha256":"aa"},"length":3,"version":7,"x":1}"#).unwrap();
        assert_eq!((full.version, full.length), (7, Some(3)));
        assert_eq!(full.unknown.len(), 1);
        for bad in [
            r#"{"version":0}"#,
            r#"{"version":-1}"#,
            r#"{"version":"7"}"#,
            r#"{"versions":7}"#,
            "[]",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(
            read(r#"{"version":0}"#).unwrap_err(),
            SchemaError::new("m.version", "expected an integer ≥ 1, found 0")
        );
    }

    #[test]
    fn timestamp_meta_must_be_exactly_snapshot() {
        let ts = r#"{"signatures":[],"signed":{"_type":"timestamp","spec_version":"1.0","version":3,
          "expires":"2030-01-01T00:00:00Z","meta":{"snapshot.json":{"version":2,"length":10,"hashes":{"sha256":"aa"}}}}}"#;
        let env = Envelope::<TimestampMeta>::parse(ts.as_bytes()).unwrap();
        assert_eq!(env.signed.snapshot.version, 2);
        assert_eq!(env.signed.snapshot.length, Some(10));
        let extra = ts.replace("\"meta\":{", "\"meta\":{\"x.json\":{\"version\":1},");
        assert!(
            schema_err::<TimestampMeta>(&extra)
                .problem
                .contains("only describe")
        );
        let empty = ts.replace("{\"sha256\":\"aa\"}", "{}");
        assert!(
            schema_err::<TimestampMeta>(&empty)
                .problem
                .contains("at least one")
        );
    }
}
