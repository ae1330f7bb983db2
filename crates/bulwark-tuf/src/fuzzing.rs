//! Harnesses shared by the `cargo fuzz` targets in `fuzz/` and by the
//! corpus replay test that runs on stable in CI. Each takes arbitrary bytes
//! and panics only when a property is violated.

use std::sync::OnceLock;

use crate::canonical;
use crate::json;
use crate::keys::{Algorithm, SigningKey};
use crate::metadata::{
    Common, Envelope, Key, MetaFile, RoleKeys, Root, SignedBody, SnapshotMeta, Targets,
    TimestampMeta,
};
use crate::time::Timestamp;
use crate::trusted::TrustedSet;

/// Parsing never panics; canonical output parses to the same value and
/// re-encodes to the same bytes. (Canonical JSON writes control characters
/// raw, which strict JSON refuses, so such values are only encoded.) The
/// borrowed [`json::Document`] agrees with the owned [`json::Value`], and
/// an object it finds already canonical is byte for byte what the
/// canonical encoder writes: signatures are checked over those bytes.
pub fn canonical_round_trip(data: &[u8]) {
    let Ok(document) = json::Document::parse(data) else {
        assert!(json::parse(data).is_err(), "the two parsers disagree");
        return;
    };
    let Ok(value) = json::parse(data) else {
        panic!("the two parsers disagree")
    };
    assert_eq!(
        document.root().to_value(),
        value,
        "the two parsers disagree"
    );
    let bytes = canonical::to_vec(&value);
    if let Some(object) = document.root().as_object() {
        assert_eq!(
            object.canonical_bytes(),
            &bytes[..],
            "canonical bytes of a parsed object differ from the encoder's"
        );
        if object.is_canonical() {
            assert_eq!(object.raw(), &bytes[..], "input taken as canonical is not");
        }
    }
    if bytes.iter().any(|&b| b < 0x20) {
        return;
    }
    let reparsed =
        json::parse(&bytes).unwrap_or_else(|e| panic!("canonical output does not parse: {e}"));
    assert_eq!(reparsed, value, "canonical round trip changed the value");
    assert_eq!(
        canonical::to_vec(&reparsed),
        bytes,
        "canonical encoding is not stable"
    );
}

/// Parsing as every role type never panics, and a parsed body serialises
/// back to the `signed` object it came from: every field kept with its
/// value, and nothing added but defaults of absent optional fields.
pub fn parse_metadata(data: &[u8]) {
    check_round_trip::<Root>(data);
    check_round_trip::<TimestampMeta>(data);
    check_round_trip::<SnapshotMeta>(data);
    check_round_trip::<Targets>(data);
}

fn check_round_trip<T: SignedBody>(data: &[u8]) {
    const DEFAULTED: &[&str] = &["consistent_snapshot"];
    let Ok(envelope) = Envelope::<T>::parse(data) else {
        return;
    };
    let Ok(json::Value::Object(mut document)) = json::parse(data) else {
        panic!("parsed metadata is not an object")
    };
    let Some(json::Value::Object(original)) = document.remove("signed") else {
        panic!("parsed metadata has no signed object")
    };
    let json::Value::Object(written) = envelope.signed.to_value() else {
        panic!("signed is not an object")
    };
    for (key, value) in &original {
        assert_eq!(
            written.get(key),
            Some(value),
            "re-serialising {} changed {key:?}",
            T::TYPE.as_str()
        );
    }
    for key in written.keys() {
        assert!(
            original.contains_key(key) || DEFAULTED.contains(&key.as_str()),
            "re-serialising added {key:?}"
        );
    }
}

struct Fixture {
    root: Vec<u8>,
    timestamp: Vec<u8>,
    snapshot: Vec<u8>,
}

/// A small valid repository signed by one key, built once per process.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::Ed25519)
            .unwrap_or_else(|e| panic!("key generation failed: {e}"));
        let expires = Timestamp::from_unix(4_102_444_800);
        let keyid = key.key_id();
        let role = RoleKeys {
            keyids: vec![keyid.clone()],
            threshold: 1,
        };
        let root = Root {
            common: Common::new(1, expires),
            consistent_snapshot: true,
            keys: [(
                keyid.clone(),
                Key::from_value(&keyid, &key.public_key_object(), "key")
                    .unwrap_or_else(|e| panic!("{e}")),
            )]
            .into(),
            roles: ["root", "timestamp", "snapshot", "targets"]
                .map(|r| (r.to_owned(), role.clone()))
                .into(),
            roles_unknown: std::collections::BTreeMap::new(),
        };
        let snapshot = SnapshotMeta {
            common: Common::new(1, expires),
            meta: [("targets.json".to_owned(), MetaFile::new(1))].into(),
        };
        let snapshot_bytes = signed_bytes(snapshot, &key);
        let timestamp = TimestampMeta {
            common: Common::new(1, expires),
            snapshot: MetaFile::new(1),
        };
        Fixture {
            root: signed_bytes(root, &key),
            timestamp: signed_bytes(timestamp, &key),
            snapshot: snapshot_bytes,
        }
    })
}

fn signed_bytes<T: SignedBody>(body: T, key: &SigningKey) -> Vec<u8> {
    let mut envelope = Envelope::new(body);
    envelope
        .sign(key)
        .unwrap_or_else(|e| panic!("signing failed: {e}"));
    envelope.to_bytes()
}

/// Offers `data` at each step of the workflow; a refusal must leave the
/// trusted versions exactly as they were.
pub fn offer_to_trusted_set(data: &[u8]) {
    let f = fixture();
    let now = Timestamp::from_unix(1_700_000_000);
    let _ = TrustedSet::new(data, now);
    let Ok(mut set) = TrustedSet::new(&f.root, now) else {
        panic!("fixture root refused")
    };
    if set.update_root(data).is_err() {
        assert_eq!(set.root().common.version, 1);
    }
    let Ok(mut set) = TrustedSet::new(&f.root, now) else {
        panic!("fixture root refused")
    };
    if set.update_timestamp(data).is_err() {
        assert!(set.timestamp().is_none());
    }
    let Ok(mut set) = TrustedSet::new(&f.root, now) else {
        panic!("fixture root refused")
    };
    assert!(set.update_timestamp(&f.timestamp).is_ok());
    if set.update_snapshot(data).is_err() {
        assert!(set.snapshot().is_none());
    }
    assert!(set.update_snapshot(&f.snapshot).is_ok());
    if set.update_targets(data).is_err() {
        assert!(
            set.targets(&crate::names::RoleName::new("targets"))
                .is_none()
        );
    }
}

/// A xorshift generator: deterministic and dependency-free, for replaying
/// seeds with mutations on stable Rust.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Flips, inserts, deletes, duplicates, overwrites or truncates bytes,
/// favouring the `interesting` ones.
fn mutate(seed: &[u8], rng: &mut Rng, interesting: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len());
        let pick = interesting
            .get(rng.below(interesting.len()))
            .copied()
            .unwrap_or(0);
        match rng.below(6) {
            0 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
            1 => data.insert(at, pick),
            2 if !data.is_empty() => {
                data.remove(at);
            }
            3 => {
                let end = (at + rng.below(16)).min(data.len());
                let chunk = data[at..end].to_vec();
                data.splice(at..at, chunk);
            }
            4 if !data.is_empty() => data[at] = pick,
            _ => data.truncate(at),
        }
    }
    data
}

/// JSON punctuation and digits: what metadata parsers branch on.
pub const JSON_BYTES: &[u8] = b"{}[]\",:-0123456789.eE\\u tfn";

/// Runs `harness` on every seed and on `mutations` deterministic mutations
/// of each, favouring `interesting` bytes.
pub fn replay(seeds: &[Vec<u8>], harness: impl Fn(&[u8]), mutations: usize, interesting: &[u8]) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in seeds {
        harness(seed);
        for _ in 0..mutations {
            harness(&mutate(seed, &mut rng, interesting));
        }
    }
}
