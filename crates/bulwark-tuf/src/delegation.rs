//! Delegations (spec 1.0.34 §4.5 "DELEGATIONS") and succinct hashed bins
//! (TAP 15): which roles may speak for which target paths.
//!
//! The search over them — pre-order depth-first, in order of appearance,
//! honouring terminating delegations (§5.6.7) — is [`crate::search`].

use std::collections::{BTreeMap, BTreeSet};

use crate::fields::{Fields, Path, SchemaError, int, object_with};
use crate::hash::sha256_hex;
use crate::json::{Array, Node, Value};
use crate::metadata::{Key, RoleKeys, keys_value, read_keys};
use crate::names::RoleName;

/// The `delegations` object of targets metadata.
#[derive(Clone, Debug)]
pub struct Delegations {
    /// Keys of delegated roles.
    pub keys: BTreeMap<String, Key>,
    /// The delegated roles.
    pub roles: DelegatedRoles,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

/// Either an ordered list of roles, or succinct hashed bins; never both (TAP 15).
#[derive(Clone, Debug)]
pub enum DelegatedRoles {
    /// `roles`: in priority order.
    List(Vec<DelegatedRole>),
    /// `succinct_roles`.
    Succinct(SuccinctRoles),
}

/// One entry of `roles`.
#[derive(Clone, Debug)]
pub struct DelegatedRole {
    /// The role's name.
    pub name: RoleName,
    /// Its keys and threshold.
    pub keys: RoleKeys,
    /// Whether the search stops after this role (§5.6.7.2.1).
    pub terminating: bool,
    /// The target paths it may sign for.
    pub paths: PathSpec,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

/// The target paths a delegated role is trusted for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSpec {
    /// `paths`: shell-style patterns, matched one path segment at a time.
    Patterns(Vec<String>),
    /// `path_hash_prefixes`: hex prefixes of the SHA-256 of the target path.
    HashPrefixes(Vec<String>),
}

impl PathSpec {
    /// True when `target` is one of the paths this role may sign for.
    #[must_use]
    pub fn matches(&self, target: &str) -> bool {
        match self {
            Self::Patterns(patterns) => patterns.iter().any(|p| path_matches(p, target)),
            Self::HashPrefixes(prefixes) => {
                let digest = sha256_hex(target.as_bytes());
                prefixes
                    .iter()
                    .any(|p| digest.starts_with(&p.to_ascii_lowercase()))
            }
        }
    }

    /// The first pattern or hash prefix of this spec that may match a path
    /// `parent` does not, or `None` when every path this spec matches is
    /// also matched by `parent`: a delegator must not delegate targets that
    /// were not delegated to itself (PEP 480 "Snapshot Process"; spec
    /// 1.0.34 §4.5 "DELEGATIONS", where a delegatee is trusted only for
    /// paths its delegator is).
    ///
    /// Decided conservatively, per pattern: a pattern is within a parent
    /// pattern with as many segments when each of its segments is the
    /// parent's segment, or the parent's segment is only `*`, or it is a
    /// literal the parent's segment matches (wildcards never cross `/`, so
    /// segments can be compared one by one). A hash prefix is within a
    /// parent prefix it extends. Under hash prefixes only literal paths they
    /// match are within; under patterns no hash prefix is.
    #[must_use]
    pub fn first_outside<'a>(&'a self, parent: &PathSpec) -> Option<&'a str> {
        match self {
            Self::Patterns(patterns) => patterns.iter().find(|c| !parent.covers_pattern(c)),
            Self::HashPrefixes(prefixes) => prefixes.iter().find(|c| !parent.covers_prefix(c)),
        }
        .map(String::as_str)
    }

    fn covers_pattern(&self, child: &str) -> bool {
        match self {
            Self::Patterns(patterns) => patterns.iter().any(|p| pattern_within(child, p)),
            Self::HashPrefixes(_) => is_literal(child) && self.matches(child),
        }
    }

    fn covers_prefix(&self, child: &str) -> bool {
        let child = child.to_ascii_lowercase();
        match self {
            Self::Patterns(_) => false,
            Self::HashPrefixes(prefixes) => prefixes
                .iter()
                .any(|p| child.starts_with(&p.to_ascii_lowercase())),
        }
    }
}

/// True when every path `child` matches, `parent` matches (see
/// [`PathSpec::first_outside`]).
fn pattern_within(child: &str, parent: &str) -> bool {
    child.split('/').count() == parent.split('/').count()
        && child
            .split('/')
            .zip(parent.split('/'))
            .all(|(c, p)| segment_within(c, p))
}

fn segment_within(child: &str, parent: &str) -> bool {
    child == parent
        || (!parent.is_empty() && parent.bytes().all(|b| b == b'*'))
        || (is_literal(child) && segment_matches(parent.as_bytes(), child.as_bytes()))
}

/// True when `pattern` has no wildcard or class, so matches only itself.
fn is_literal(pattern: &str) -> bool {
    !pattern.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// `succinct_roles`: `2^bit_length` bins named `<name_prefix>-<hex>` that share
/// one set of keys and are all terminating (TAP 15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccinctRoles {
    /// Keys and threshold shared by every bin.
    pub keys: RoleKeys,
    /// How many leading bits of the path hash pick the bin, 1 to 32.
    pub bit_length: u32,
    /// The bins' name prefix.
    pub name_prefix: String,
    /// Unknown fields.
    pub unknown: BTreeMap<String, Value>,
}

impl SuccinctRoles {
    /// The number of hex digits in a bin name's suffix.
    fn suffix_len(&self) -> usize {
        self.bit_length.div_ceil(4) as usize
    }

    /// The number of bins.
    #[must_use]
    pub fn bin_count(&self) -> u64 {
        1 << self.bit_length
    }

    /// The name of bin number `bin`.
    #[must_use]
    pub fn bin_name(&self, bin: u64) -> RoleName {
        RoleName::new(format!(
            "{}-{bin:0width$x}",
            self.name_prefix,
            width = self.suffix_len()
        ))
    }

    /// The bin responsible for `target`: the first `bit_length` bits of its SHA-256.
    #[must_use]
    pub fn bin_for(&self, target: &str) -> RoleName {
        self.bin_name(bin_index(target, self.bit_length))
    }

    /// True when `name` is one of the bins.
    #[must_use]
    pub fn is_bin(&self, name: &RoleName) -> bool {
        let Some(suffix) = name
            .as_str()
            .strip_prefix(self.name_prefix.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
        else {
            return false;
        };
        suffix.len() == self.suffix_len()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && u64::from_str_radix(suffix, 16).is_ok_and(|bin| bin < self.bin_count())
    }
}

/// The number of the bin responsible for `target` among `2^bit_length`
/// bins: the first `bit_length` bits of the SHA-256 of the path (TAP 15).
#[must_use]
pub fn bin_index(target: &str, bit_length: u32) -> u64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, target.as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest.as_ref()[..4]);
    u64::from(u32::from_be_bytes(first) >> (32 - bit_length.clamp(1, 32)))
}

impl Delegations {
    pub(crate) fn read(value: Node<'_>, path: String) -> Result<Self, SchemaError> {
        let mut f = Fields::of(value, path)?;
        let keys_path = f.path_of("keys");
        let keys = read_keys(f.object("keys")?, &keys_path)?;
        let roles_path = f.path_of("roles");
        let succinct_path = f.path_of("succinct_roles");
        let roles = match (f.optional_array("roles")?, f.optional("succinct_roles")) {
            (Some(list), None) => DelegatedRoles::List(read_role_list(list, &roles_path)?),
            (None, Some(succinct)) => {
                DelegatedRoles::Succinct(read_succinct(succinct, succinct_path)?)
            }
            (Some(_), Some(_)) => {
                return Err(SchemaError::new(
                    roles_path,
                    "roles and succinct_roles are mutually exclusive",
                ));
            }
            (None, None) => {
                return Err(SchemaError::new(roles_path, "missing (or succinct_roles)"));
            }
        };
        Ok(Self {
            keys,
            roles,
            unknown: f.rest(),
        })
    }

    pub(crate) fn to_value(&self) -> Value {
        let roles = match &self.roles {
            DelegatedRoles::List(list) => (
                "roles",
                Value::Array(list.iter().map(DelegatedRole::to_value).collect()),
            ),
            DelegatedRoles::Succinct(s) => {
                let mut fields = s.keys.fields().to_vec();
                fields.push(("bit_length", int(u64::from(s.bit_length))));
                fields.push(("name_prefix", s.name_prefix.as_str().into()));
                ("succinct_roles", object_with(fields, &s.unknown))
            }
        };
        object_with([("keys", keys_value(&self.keys)), roles], &self.unknown)
    }

    /// Parses a `delegations` object on its own (as the index stores a
    /// claimed project's trusted delegation beside the metadata).
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::metadata::MetadataError> {
        let document = crate::json::Document::parse(bytes)?;
        Ok(Self::read(document.root(), "delegations".to_owned())?)
    }

    /// The object as JSON that [`Delegations::from_json`] reads back
    /// (compact, keys sorted).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        crate::json::to_vec(&self.to_value())
    }

    /// The keys and threshold of the delegated role `name`, if it is delegated here.
    #[must_use]
    pub fn role_keys(&self, name: &RoleName) -> Option<&RoleKeys> {
        match &self.roles {
            DelegatedRoles::List(list) => list.iter().find(|r| &r.name == name).map(|r| &r.keys),
            DelegatedRoles::Succinct(s) => s.is_bin(name).then_some(&s.keys),
        }
    }

    /// The roles that may sign for `target`, in priority order, each with
    /// whether it is terminating (§5.6.7.2). Succinct bins are terminating.
    #[must_use]
    pub fn roles_for_target(&self, target: &str) -> Vec<(RoleName, bool)> {
        match &self.roles {
            DelegatedRoles::List(list) => list
                .iter()
                .filter(|r| r.paths.matches(target))
                .map(|r| (r.name.clone(), r.terminating))
                .collect(),
            DelegatedRoles::Succinct(s) => vec![(s.bin_for(target), true)],
        }
    }
}

impl DelegatedRole {
    fn to_value(&self) -> Value {
        let mut fields = self.keys.fields().to_vec();
        fields.push(("name", self.name.as_str().into()));
        fields.push(("terminating", Value::Bool(self.terminating)));
        let strings =
            |items: &[String]| Value::Array(items.iter().map(|s| s.as_str().into()).collect());
        fields.push(match &self.paths {
            PathSpec::Patterns(p) => ("paths", strings(p)),
            PathSpec::HashPrefixes(p) => ("path_hash_prefixes", strings(p)),
        });
        object_with(fields, &self.unknown)
    }
}

fn read_role_list(list: Array<'_>, path: &str) -> Result<Vec<DelegatedRole>, SchemaError> {
    let mut names = BTreeSet::new();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let element = Path::Element {
                array: path,
                index: i,
            };
            let mut f = Fields::of(item, element)?;
            let name = RoleName::new(f.string("name")?);
            if name.is_top_level() {
                return Err(SchemaError::new(
                    f.path_of("name"),
                    format!("{name:?} is a top-level role name"),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(SchemaError::new(
                    f.path_of("name"),
                    format!("role {name:?} is delegated twice"),
                ));
            }
            let keys = RoleKeys::read(&mut f)?;
            let terminating = f
                .boolean("terminating")?
                .ok_or_else(|| SchemaError::new(f.path_of("terminating"), "missing"))?;
            let patterns = f.optional_array("paths")?;
            let prefixes = f.optional_array("path_hash_prefixes")?;
            let paths = match (patterns, prefixes) {
                (Some(p), None) => PathSpec::Patterns(f.string_items("paths", p)?),
                (None, Some(p)) => PathSpec::HashPrefixes(f.string_items("path_hash_prefixes", p)?),
                (Some(_), Some(_)) => {
                    return Err(SchemaError::new(
                        f.path_of("paths"),
                        "paths and path_hash_prefixes are mutually exclusive",
                    ));
                }
                (None, None) => {
                    return Err(SchemaError::new(
                        f.path_of("paths"),
                        "missing (or path_hash_prefixes)",
                    ));
                }
            };
            Ok(DelegatedRole {
                name,
                keys,
                terminating,
                paths,
                unknown: f.rest(),
            })
        })
        .collect()
}

fn read_succinct(value: Node<'_>, path: String) -> Result<SuccinctRoles, SchemaError> {
    let mut f = Fields::of(value, path)?;
    let keys = RoleKeys::read(&mut f)?;
    let bit_length = f.integer("bit_length", 1)?;
    let bit_length = u32::try_from(bit_length)
        .ok()
        .filter(|b| *b <= 32)
        .ok_or_else(|| {
            SchemaError::new(
                f.path_of("bit_length"),
                format!("must be 1 to 32, found {bit_length}"),
            )
        })?;
    let name_prefix = f.string("name_prefix")?.to_owned();
    Ok(SuccinctRoles {
        keys,
        bit_length,
        name_prefix,
        unknown: f.rest(),
    })
}

/// Matches a target path against a `paths` pattern (§4.5 "PATHPATTERN"):
/// both are split on `/` and must have the same number of segments, and
/// each segment matches as a shell pattern (`*`, `?`, `[seq]`, `[!seq]`),
/// so a wildcard never matches a path separator.
#[must_use]
pub fn path_matches(pattern: &str, target: &str) -> bool {
    let mut p = pattern.split('/');
    let mut t = target.split('/');
    loop {
        match (p.next(), t.next()) {
            (None, None) => return true,
            (Some(ps), Some(ts)) if segment_matches(ps.as_bytes(), ts.as_bytes()) => {}
            _ => return false,
        }
    }
}

fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative glob with single-star backtracking: linear in practice and
    // never exponential on hostile patterns.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        match pattern.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(b'?') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(b'[') => {
                if let Some((matched, next)) = class_matches(&pattern[pi..], text[ti]) {
                    if matched {
                        pi += next;
                        ti += 1;
                        continue;
                    }
                } else if text[ti] == b'[' {
                    // An unclosed '[' is a literal.
                    pi += 1;
                    ti += 1;
                    continue;
                }
            }
            Some(&c) if c == text[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[pi..].iter().all(|&b| b == b'*')
}

/// Matches one byte against a `[...]` class at the start of `pattern`;
/// returns whether it matched and the class's length, or `None` when the
/// class is not closed.
fn class_matches(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'!'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let end = pattern[i + 2];
            matched |= (c..=end).contains(&byte);
            i += 3;
        } else {
            matched |= c == byte;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_follow_spec_examples() {
        // The examples of spec §4.5 "PATHPATTERN".
        assert!(path_matches("targets/*.tgz", "targets/foo.tgz"));
        assert!(!path_matches("targets/*.tgz", "targets/foo.txt"));
        assert!(path_matches("foo-version-?.tgz", "foo-version-2.tgz"));
        assert!(!path_matches("foo-version-?.tgz", "foo-version-alpha.tgz"));
        assert!(path_matches("*.tgz", "foo.tgz"));
        assert!(!path_matches("*.tgz", "targets/foo.tgz"));
        assert!(path_matches("foo.tgz", "foo.tgz"));
        assert!(!path_matches("foo.tgz", "foo.tgzx"));
    }

    #[test]
    fn wildcards_never_cross_separators() {
        assert!(path_matches("simple/*/*", "simple/pkg/index.json"));
        assert!(!path_matches("simple/*", "simple/pkg/index.json"));
        assert!(path_matches("*", ""));
        assert!(path_matches("a/*", "a/"));
        assert!(!path_matches("*", "a/b"));
        assert!(path_matches("*/*/*", "a/b/c"));
    }

    #[test]
    fn character_classes() {
        assert!(path_matches("file[0-9].txt", "file7.txt"));
        assert!(!path_matches("file[0-9].txt", "filex.txt"));
        assert!(path_matches("file[!0-9].txt", "filex.txt"));
        assert!(path_matches("a[]]b", "a]b"));
        assert!(path_matches("a[b", "a[b"));
        assert!(path_matches("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!path_matches("*a*b*c*d", "xxaxxbxxcxx"));
        // Pathological pattern stays fast.
        assert!(!path_matches(&"*a".repeat(50), &"a".repeat(40)));
    }

    #[test]
    fn succinct_bins_follow_tap15() {
        let bins = SuccinctRoles {
            keys: RoleKeys {
                keyids: vec![],
                threshold: 1,
            },
            bit_length: 5,
            name_prefix: "bin".into(),
            unknown: BTreeMap::new(),
        };
        assert_eq!(bins.bin_count(), 32);
        assert_eq!(bins.bin_name(0).as_str(), "bin-00");
        assert_eq!(bins.bin_name(31).as_str(), "bin-1f");
        assert!(bins.is_bin(&RoleName::new("bin-1f")));
        assert!(!bins.is_bin(&RoleName::new("bin-20")));
        assert!(!bins.is_bin(&RoleName::new("bin-1F")));
        assert!(!bins.is_bin(&RoleName::new("bin-001")));
        assert!(!bins.is_bin(&RoleName::new("bins-01")));
        // sha256("a") starts with 0xca978112: first 5 bits 11001 = 25 = 0x19.
        assert_eq!(bins.bin_for("a").as_str(), "bin-19");
    }

    #[test]
    fn nested_delegations_stay_within_the_delegators_paths() {
        let project = PathSpec::Patterns(vec!["simple/demo/*".into()]);
        let patterns = |p: &[&str]| PathSpec::Patterns(p.iter().map(|s| (*s).into()).collect());
        for within in [
            &["simple/demo/*"][..],
            &["simple/demo/index.json"],
            &["simple/demo/*.json", "simple/demo/index.[jx]son"],
            &["simple/demo/"],
            &[],
        ] {
            assert_eq!(patterns(within).first_outside(&project), None, "{within:?}");
        }
        for (outside, first) in [
            (&["simple/demo/*", "simple/*/*"][..], "simple/*/*"),
            (&["simple/d*/index.json"], "simple/d*/index.json"),
            (&["simple/demo?/index.json"], "simple/demo?/index.json"),
            (&["simple/[d]emo/index.json"], "simple/[d]emo/index.json"),
            (&["simple/demo/*/*"], "simple/demo/*/*"),
            (&["simple/demo"], "simple/demo"),
            (&["*"], "*"),
            (&["simple/other/index.json"], "simple/other/index.json"),
        ] {
            assert_eq!(patterns(outside).first_outside(&project), Some(first));
        }
        assert_eq!(patterns(&["a/b"]).first_outside(&patterns(&["*/**"])), None);
        // sha256("a") starts with ca978112.
        let prefixes = PathSpec::HashPrefixes(vec!["CA".into()]);
        assert_eq!(
            PathSpec::HashPrefixes(vec!["ca97".into()]).first_outside(&prefixes),
            None
        );
        let escaping = PathSpec::HashPrefixes(vec!["ca97".into(), String::new()]);
        assert_eq!(escaping.first_outside(&prefixes), Some(""));
        assert_eq!(patterns(&["a"]).first_outside(&prefixes), None);
        assert_eq!(patterns(&["b"]).first_outside(&prefixes), Some("b"));
        assert_eq!(patterns(&["?"]).first_outside(&prefixes), Some("?"));
        assert_eq!(prefixes.first_outside(&project), Some("CA"));
    }

    #[test]
    fn hash_prefixes_match_the_path_digest() {
        let spec = PathSpec::HashPrefixes(vec!["CA9".into()]);
        assert!(spec.matches("a"));
        assert!(!PathSpec::HashPrefixes(vec!["00".into()]).matches("a"));
    }
}
