//! Untrusted bytes at every door of the trusted set (spec 1.0.34 §5.2–§5.6,
//! with the formats of §4): malformed documents are refused as
//! [`Refused::Malformed`] naming the field, never a panic, and mutated
//! documents are never accepted unless what was signed is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bulwark_tuf::json::{self, JsonErrorReason, Value};
use bulwark_tuf::metadata::{Envelope, MetadataError, Root};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::{Refused, TrustedSet, canonical};
use common::*;

/// The field a schema refusal names.
#[track_caller]
fn field(err: &Refused) -> &str {
    match err {
        Refused::Malformed {
            source: MetadataError::Schema(e),
            ..
        } => &e.field,
        other => panic!("expected a schema refusal, got {other:?}"),
    }
}

/// The reason of a JSON refusal.
#[track_caller]
fn json_reason(err: &Refused) -> &JsonErrorReason {
    match err {
        Refused::Malformed {
            source: MetadataError::Json(e),
            ..
        } => &e.reason,
        other => panic!("expected a JSON refusal, got {other:?}"),
    }
}

/// The role a refusal names.
fn role_of(err: &Refused) -> &str {
    match err {
        Refused::Malformed { role, .. } => role.as_str(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// Every door of the trusted set, each with a trusted set ready for it.
/// Snapshot and targets are listed without hashes so that the bytes reach the parser.
struct Doors {
    repo: Repo,
}

#[derive(Clone, Copy, Debug)]
enum Door {
    New,
    Root,
    Timestamp,
    LocalTimestamp,
    Snapshot,
    LocalSnapshot,
    Targets,
    Delegated,
}

const DOORS: [Door; 8] = [
    Door::New,
    Door::Root,
    Door::Timestamp,
    Door::LocalTimestamp,
    Door::Snapshot,
    Door::LocalSnapshot,
    Door::Targets,
    Door::Delegated,
];

impl Doors {
    fn new() -> Self {
        Self { repo: Repo::new() }
    }

    fn top_targets(&self) -> bulwark_tuf::metadata::Targets {
        let mut body = targets_body(1, future(), &[]);
        body.delegations = Some(delegations(
            &[&self.repo.targets],
            vec![delegated("a", &[&self.repo.targets], 1, false, &["*"])],
        ));
        body
    }

    /// A trusted set ready for `door`.
    fn set_for(&self, door: Door) -> TrustedSet {
        let repo = &self.repo;
        let mut set = repo.trusted();
        if matches!(
            door,
            Door::New | Door::Root | Door::Timestamp | Door::LocalTimestamp
        ) {
            return set;
        }
        set.update_timestamp(&repo.timestamp_bytes(1, meta(1)))
            .unwrap();
        if matches!(door, Door::Snapshot | Door::LocalSnapshot) {
            return set;
        }
        set.update_snapshot(&repo.snapshot_bytes(1, &[("targets", meta(1)), ("a", meta(1))]))
            .unwrap();
        if matches!(door, Door::Delegated) {
            set.update_targets(&repo.targets_bytes(self.top_targets()))
                .unwrap();
        }
        set
    }

    /// Offers `bytes` at `door` and checks that a refusal changes nothing.
    /// Returns the refusal, or the canonical `signed` bytes now trusted.
    fn offer(set: &mut TrustedSet, door: Door, bytes: &[u8]) -> Result<Vec<u8>, Refused> {
        let (role, delegator) = (RoleName::new("a"), RoleName::new("targets"));
        if let Door::New = door {
            return TrustedSet::new(bytes, now())
                .map(|s| s.root().envelope().canonical_signed().to_vec());
        }
        let before = state(set);
        let result = match door {
            Door::New => unreachable!(),
            Door::Root => set.update_root(bytes).map(|_| ()),
            Door::Timestamp => set.update_timestamp(bytes).map(|_| ()),
            Door::LocalTimestamp => set.load_local_timestamp(bytes),
            Door::Snapshot => set.update_snapshot(bytes),
            Door::LocalSnapshot => set.load_local_snapshot(bytes),
            Door::Targets => set.update_targets(bytes),
            Door::Delegated => set.update_delegated_targets(bytes, &role, &delegator),
        };
        match result {
            Err(refusal) => {
                assert_eq!(
                    state(set),
                    before,
                    "refusal {refusal:?} at {door:?} changed the trusted set"
                );
                Err(refusal)
            }
            Ok(()) => Ok(trusted_signed(set, door)),
        }
    }

    /// The valid document for `door`.
    fn valid(&self, door: Door) -> Vec<u8> {
        let repo = &self.repo;
        match door {
            Door::New => repo.root_bytes(1),
            Door::Root => repo.root_bytes(2),
            Door::Timestamp | Door::LocalTimestamp => repo.timestamp_bytes(2, meta(1)),
            Door::Snapshot | Door::LocalSnapshot => repo.snapshot_bytes(1, &[("targets", meta(1))]),
            Door::Targets => repo.targets_bytes(self.top_targets()),
            Door::Delegated => signed(targets_body(1, future(), &[("f", b"f")]), &[&repo.targets]),
        }
    }

    /// The role whose metadata `door` takes.
    fn role(door: Door) -> &'static str {
        match door {
            Door::New | Door::Root => "root",
            Door::Timestamp | Door::LocalTimestamp => "timestamp",
            Door::Snapshot | Door::LocalSnapshot => "snapshot",
            Door::Targets => "targets",
            Door::Delegated => "a",
        }
    }
}

/// The canonical `signed` bytes trusted for the role `door` takes.
fn trusted_signed(set: &TrustedSet, door: Door) -> Vec<u8> {
    match door {
        Door::New | Door::Root => set.root().envelope().canonical_signed().to_vec(),
        Door::Timestamp | Door::LocalTimestamp => set
            .timestamp()
            .unwrap()
            .envelope()
            .canonical_signed()
            .to_vec(),
        Door::Snapshot | Door::LocalSnapshot => set
            .snapshot()
            .unwrap()
            .envelope()
            .canonical_signed()
            .to_vec(),
        Door::Targets => set
            .targets(&RoleName::new("targets"))
            .unwrap()
            .envelope()
            .canonical_signed()
            .to_vec(),
        Door::Delegated => set
            .targets(&RoleName::new("a"))
            .unwrap()
            .envelope()
            .canonical_signed()
            .to_vec(),
    }
}

/// `bytes` with the first occurrence of `from` replaced by `to`.
fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// Offers `bytes` at every door and returns the refusals, each for the door's role.
fn refusals(doors: &Doors, edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<(Door, Refused)> {
    DOORS
        .iter()
        .map(|&door| {
            let mut set = doors.set_for(door);
            let bytes = edit(&doors.valid(door));
            let err =
                Doors::offer(&mut set, door, &bytes).expect_err("malformed metadata was accepted");
            assert_eq!(role_of(&err), Doors::role(door), "{door:?}");
            (door, err)
        })
        .collect()
}

// ---------------------------------------------------------------- shapes

/// §5.2–§5.6: bytes that are not JSON are refused at every door.
#[test]
fn malformed_json_is_refused() {
    let doors = Doors::new();
    for bad in [
        &b""[..],
        b"{",
        b"not json",
        b"{}x",
        b"\xff\xfe",
        b"{\"signed\":}",
        b"[1,]",
    ] {
        for (door, err) in refusals(&doors, |_| bad.to_vec()) {
            let _ = json_reason(&err);
            let _ = door;
        }
    }
    // Truncated valid documents.
    for (_, err) in refusals(&doors, |valid| valid[..valid.len() - 1].to_vec()) {
        assert_eq!(json_reason(&err), &JsonErrorReason::UnexpectedEnd);
    }
}

/// §4: JSON of the wrong shape names the offending field.
#[test]
fn json_of_the_wrong_shape_names_the_field() {
    let doors = Doors::new();
    for (bad, expected) in [
        (&b"[]"[..], ""),
        (b"{}", "signed"),
        (b"{\"signed\":1,\"signatures\":[]}", "signed"),
    ] {
        for (_, err) in refusals(&doors, |_| bad.to_vec()) {
            assert_eq!(field(&err), expected);
        }
    }
    for (_, err) in refusals(&doors, |valid| {
        replace_once(valid, "\"signatures\":[", "\"x\":[")
    }) {
        assert_eq!(field(&err), "signatures");
    }
    for (_, err) in refusals(&doors, |valid| {
        replace_once(valid, "\"sig\":", "\"notsig\":")
    }) {
        assert_eq!(field(&err), "signatures[0].sig");
    }
}

/// §4.3 "_type": metadata of another role is refused.
#[test]
fn wrong_type_is_malformed() {
    let doors = Doors::new();
    for (door, err) in refusals(&doors, |valid| {
        let Value::Object(top) = json::parse(valid).unwrap() else {
            panic!()
        };
        let Value::Object(signed) = &top["signed"] else {
            panic!()
        };
        let Value::String(kind) = &signed["_type"] else {
            panic!()
        };
        let other = if kind == "root" { "targets" } else { "root" };
        replace_once(
            valid,
            &format!("\"_type\":\"{kind}\""),
            &format!("\"_type\":\"{other}\""),
        )
    }) {
        assert_eq!(field(&err), "signed._type", "{door:?}");
    }
    // A timestamp offered as root, a root offered as timestamp.
    let mut set = doors.set_for(Door::Root);
    let err = Doors::offer(&mut set, Door::Root, &doors.valid(Door::Timestamp)).unwrap_err();
    assert_eq!(field(&err), "signed._type");
    let mut set = doors.set_for(Door::Timestamp);
    let err = Doors::offer(&mut set, Door::Timestamp, &doors.valid(Door::Root)).unwrap_err();
    assert_eq!(field(&err), "signed._type");
}

/// §4.1 (canonical JSON, strictly read): an object with the same key twice is refused, since two
/// readers could disagree about what was signed.
#[test]
fn duplicate_json_keys_are_refused() {
    let doors = Doors::new();
    for (_, err) in refusals(&doors, |valid| {
        replace_once(valid, "\"version\":", "\"version\":7,\"version\":")
    }) {
        assert_eq!(
            json_reason(&err),
            &JsonErrorReason::DuplicateKey("version".into())
        );
    }
    for (_, err) in refusals(&doors, |valid| {
        replace_once(valid, "{\"signatures\":", "{\"signed\":{},\"signatures\":")
    }) {
        assert_eq!(
            json_reason(&err),
            &JsonErrorReason::DuplicateKey("signed".into())
        );
    }
    // Escapes that decode to the same key are the same key.
    for (_, err) in refusals(&doors, |valid| {
        replace_once(valid, "\"version\":", "\"v\\u0065rsion\":7,\"version\":")
    }) {
        assert_eq!(
            json_reason(&err),
            &JsonErrorReason::DuplicateKey("version".into())
        );
    }
}

/// §4.1: the metadata format (canonical JSON) has no floats.
#[test]
fn floats_are_refused() {
    let doors = Doors::new();
    for float in ["1.0", "1e0", "1E2", "0.5"] {
        for (_, err) in refusals(&doors, |valid| {
            let text = String::from_utf8(valid.to_vec()).unwrap();
            let at = text.find("\"version\":").unwrap() + "\"version\":".len();
            let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
            format!("{}{float}{}", &text[..at], &text[end..]).into_bytes()
        }) {
            assert_eq!(json_reason(&err), &JsonErrorReason::NotAnInteger);
        }
    }
}

/// §4.3 "VERSION": versions are integers of at least 1.
#[test]
fn negative_zero_and_non_integer_versions_are_refused() {
    let doors = Doors::new();
    for version in ["-1", "0", "-9223372036854775808", "\"2\"", "null", "true"] {
        for (door, err) in refusals(&doors, |valid| {
            let text = String::from_utf8(valid.to_vec()).unwrap();
            // The document's own version: the last "version" key in canonical order is in `signed`.
            let at = text.rfind("\"version\":").unwrap() + "\"version\":".len();
            let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
            format!("{}{version}{}", &text[..at], &text[end..]).into_bytes()
        }) {
            assert!(field(&err).ends_with("version"), "{door:?}: {err:?}");
        }
    }
}

/// §4: every required field is required, and its absence is named.
#[test]
fn missing_fields_are_named() {
    let doors = Doors::new();
    for key in ["expires", "spec_version", "version", "_type"] {
        for (door, err) in refusals(&doors, |valid| edit_signed(valid, |s| drop(s.remove(key)))) {
            assert_eq!(field(&err), format!("signed.{key}"), "{door:?}");
        }
    }
    for (door, key, expected) in [
        (Door::New, "keys", "signed.keys"),
        (Door::Root, "roles", "signed.roles"),
        (Door::Timestamp, "meta", "signed.meta"),
        (Door::LocalSnapshot, "meta", "signed.meta"),
        (Door::Targets, "targets", "signed.targets"),
        (Door::Delegated, "targets", "signed.targets"),
    ] {
        let bytes = edit_signed(&doors.valid(door), |s| drop(s.remove(key)));
        let mut set = doors.set_for(door);
        let err = Doors::offer(&mut set, door, &bytes).unwrap_err();
        assert_eq!(field(&err), expected, "{door:?}");
    }
}

/// §4.3: a root must describe all four top-level roles, with thresholds of at least 1.
#[test]
fn root_role_entries_are_checked() {
    let repo = Repo::new();
    let err = TrustedSet::new(
        &edit_signed(&repo.root_bytes(1), |s| {
            let Some(Value::Object(roles)) = s.get_mut("roles") else {
                panic!()
            };
            roles.remove("snapshot");
        }),
        now(),
    )
    .unwrap_err();
    assert_eq!(field(&err), "signed.roles[\"snapshot\"]");
    for threshold in [Value::Int(0), Value::Int(-1), Value::from("1")] {
        let err = TrustedSet::new(
            &edit_signed(&repo.root_bytes(1), |s| {
                let Some(Value::Object(roles)) = s.get_mut("roles") else {
                    panic!()
                };
                let Some(Value::Object(root)) = roles.get_mut("root") else {
                    panic!()
                };
                root.insert("threshold".into(), threshold.clone());
            }),
            now(),
        )
        .unwrap_err();
        assert_eq!(field(&err), "signed.roles[\"root\"].threshold");
    }
}

/// §4.1, §5.3.5: integers beyond 64 bits are refused; large ones that fit
/// never overflow a version, threshold or length check.
#[test]
fn huge_integers_are_refused_or_handled() {
    let doors = Doors::new();
    for huge in [
        "18446744073709551616",
        "9223372036854775808",
        "99999999999999999999999999",
    ] {
        for (_, err) in refusals(&doors, |valid| {
            replace_once(valid, "\"version\":", &format!("\"version\":{huge},\"x\":"))
        }) {
            assert_eq!(json_reason(&err), &JsonErrorReason::IntegerOutOfRange);
        }
    }
    let repo = Repo::new();
    let max = u64::try_from(i64::MAX).unwrap();
    // A root of the largest version: the next version cannot exist, and nothing overflows.
    let mut set = TrustedSet::new(&signed(repo.root_body(max), &[&repo.root]), now()).unwrap();
    let err = refused(&mut set, |s| {
        s.update_root(&repo.root_bytes(max)).map(|_| ())
    });
    assert!(
        matches!(err, Refused::RootVersion { offered, .. } if offered == max),
        "{err:?}"
    );
    let mut set = repo.trusted();
    let err = refused(&mut set, |s| {
        s.update_root(&repo.root_bytes(max)).map(|_| ())
    });
    assert!(
        matches!(err, Refused::RootVersion { expected: 2, offered } if offered == max),
        "{err:?}"
    );
    // A threshold no one can meet.
    let mut body = repo.root_body(2);
    body.roles.get_mut("root").unwrap().threshold = max;
    let err = refused(&mut set, |s| {
        s.update_root(&signed(body, &[&repo.root])).map(|_| ())
    });
    assert!(
        matches!(err, Refused::BelowThreshold { valid: 1, threshold, .. } if threshold == max),
        "{err:?}"
    );
    // A listed length far beyond the bytes.
    let mut listed = meta(1);
    listed.length = Some(max);
    set.update_timestamp(&repo.timestamp_bytes(1, listed))
        .unwrap();
    let snapshot = repo.snapshot_bytes(1, &[]);
    let err = refused(&mut set, |s| s.update_snapshot(&snapshot));
    assert!(matches!(err, Refused::WrongFile { .. }), "{err:?}");
}

/// §4.3 `SPEC_VERSION`: a client must refuse metadata of another major version.
#[test]
fn unknown_spec_major_version_is_refused() {
    let doors = Doors::new();
    for version in [
        "2.0.0", "0.9.0", "10.0", "1", "1.0.0.0", "1.x", "", "v1.0.0", "1.0.", "+1.0.0",
    ] {
        for (door, err) in refusals(&doors, |valid| {
            edit_signed(valid, |s| {
                s.insert("spec_version".into(), Value::from(version));
            })
        }) {
            assert_eq!(field(&err), "signed.spec_version", "{door:?} {version:?}");
        }
    }
    // Any 1.x is accepted when signed.
    let repo = Repo::new();
    for version in ["1.0", "1.0.19", "1.99.0"] {
        let mut body = repo.root_body(1);
        body.common.spec_version = version.to_owned();
        TrustedSet::new(&signed(body, &[&repo.root]), now()).unwrap();
    }
}

/// §4.3 "EXPIRES": only the exact `YYYY-MM-DDTHH:MM:SSZ` form is accepted.
#[test]
fn expires_must_be_a_valid_timestamp() {
    let doors = Doors::new();
    for expires in [
        Value::from("2030-01-01"),
        Value::from("2030-02-30T00:00:00Z"),
        Value::Int(1_900_000_000),
    ] {
        for (_, err) in refusals(&doors, |valid| {
            edit_signed(valid, |s| {
                s.insert("expires".into(), expires.clone());
            })
        }) {
            assert_eq!(field(&err), "signed.expires");
        }
    }
}

// ---------------------------------------------------------------- mutations

/// A xorshift64 generator: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"0",
    b"1",
    b"-",
    b".",
    b"e",
    b" ",
    b"\n",
    b"\x00",
    b"\xff",
    b"\xc3\xa9",
    b"true",
    b"null",
    b"\\u0000",
    b"\\ud800",
    b"9999999999999999999999",
    b"-1",
    b"1.5",
    b"\"x\":1,",
];

/// Mutates `bytes` with one to three byte-level edits.
fn mutate_bytes(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = u8::try_from(rng.below(256)).unwrap(),
            2 => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => {
                let token = rng.pick(TOKENS);
                out.splice(at..at, token.iter().copied());
            }
            4 => {
                let len = rng.below(16);
                let from = rng.below(out.len());
                let slice: Vec<u8> = out[from..(from + len).min(out.len())].to_vec();
                out.splice(at..at, slice);
            }
            5 => out.truncate(at),
            _ => {
                // Change a digit, which is most often a version, length or threshold.
                let digits: Vec<usize> = out
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.is_ascii_digit())
                    .map(|(i, _)| i)
                    .collect();
                if !digits.is_empty() {
                    let i = *rng.pick(&digits);
                    out[i] = b'0' + u8::try_from(rng.below(10)).unwrap();
                }
            }
        }
    }
    out
}

/// Mutates one node of the parsed document and writes it back as JSON.
fn mutate_value(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut value = json::parse(bytes).unwrap();
    mutate_node(rng, &mut value);
    if rng.below(2) == 0 {
        canonical::to_vec(&value)
    } else {
        json::to_vec(&value)
    }
}

/// Walks down a random path, stopping at random, and changes the node there.
fn mutate_node(rng: &mut Rng, node: &mut Value) {
    let stop = rng.below(4) == 0;
    match node {
        Value::Object(map) if !map.is_empty() && !stop => {
            let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
            return mutate_node(rng, map.get_mut(&key).unwrap());
        }
        Value::Array(items) if !items.is_empty() && !stop => {
            let i = rng.below(items.len());
            return mutate_node(rng, &mut items[i]);
        }
        _ => {}
    }
    *node = match (rng.below(8), &*node) {
        (0, Value::Int(n)) => Value::Int(n.wrapping_add(1)),
        (1, Value::Int(n)) => Value::Int(n.wrapping_sub(1)),
        (2, Value::String(s)) => Value::String(format!("{s}x")),
        (3, Value::String(s)) => Value::String(s.to_uppercase()),
        (4, Value::Object(map)) => {
            let mut map = map.clone();
            let first = map.keys().next().cloned();
            if let Some(key) = first {
                map.remove(&key);
            }
            Value::Object(map)
        }
        (5, Value::Object(map)) => {
            let mut map = map.clone();
            map.insert("x-mutant".into(), Value::Null);
            Value::Object(map)
        }
        (6, Value::Array(items)) => {
            let mut items = items.clone();
            items.push(items.first().cloned().unwrap_or_else(|| Value::from("x")));
            Value::Array(items)
        }
        _ => rng
            .pick(&[
                Value::Null,
                Value::Int(0),
                Value::Int(-1),
                Value::from(""),
                Value::Bool(true),
                Value::Array(vec![]),
            ])
            .clone(),
    };
}

/// Offers `count` mutants of the valid document at `door`: none may panic,
/// every refusal leaves the trusted set unchanged (checked by `offer`), and
/// an accepted mutant must have exactly the signed content of the original.
fn offer_mutants(doors: &Doors, door: Door, seed: u64, count: usize) -> (usize, usize) {
    let valid = doors.valid(door);
    let original = Doors::offer(&mut doors.set_for(door), door, &valid).unwrap();
    let mut rng = Rng(seed);
    let mut set = doors.set_for(door);
    let mut accepted = 0;
    for i in 0..count {
        let mutant = if i % 4 == 3 {
            mutate_value(&mut rng, &valid)
        } else {
            mutate_bytes(&mut rng, &valid)
        };
        if let Ok(trusted) = Doors::offer(&mut set, door, &mutant) {
            assert_eq!(
                trusted,
                original,
                "{door:?} accepted a mutant whose signed content changed: {}",
                String::from_utf8_lossy(&mutant)
            );
            accepted += 1;
            set = doors.set_for(door);
        }
    }
    (accepted, count)
}

/// §5.2–§5.6 as a property: thousands of mutants of valid metadata at every
/// door never panic and are never accepted with changed signed content.
#[test]
fn mutated_metadata_is_never_accepted_with_changed_content() {
    let doors = Doors::new();
    for (i, door) in DOORS.into_iter().enumerate() {
        let (accepted, total) =
            offer_mutants(&doors, door, 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1), 3_000);
        // Some mutants keep the signed content (whitespace, signature hex
        // case); most must be refused.
        assert!(
            accepted < total / 2,
            "{door:?}: {accepted} of {total} accepted"
        );
    }
}

/// The same property for documents signed with every key type and listing
/// PEM keys, whose parsers see the mutants too.
#[test]
fn mutated_metadata_with_pem_keys_is_never_accepted_with_changed_content() {
    let (e, r) = (ecdsa(), rsa());
    let root = signed(
        root_body(
            1,
            future(),
            [(&[&e, &r], 2), (&[&e], 1), (&[&r], 1), (&[&e], 1)],
        ),
        &[&e, &r],
    );
    let original = Envelope::<Root>::parse(&root)
        .unwrap()
        .canonical_signed()
        .to_vec();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for i in 0..1_500 {
        let mutant = if i % 4 == 3 {
            mutate_value(&mut rng, &root)
        } else {
            mutate_bytes(&mut rng, &root)
        };
        if let Ok(set) = TrustedSet::new(&mutant, now()) {
            assert_eq!(set.root().envelope().canonical_signed(), original);
        }
    }
}
