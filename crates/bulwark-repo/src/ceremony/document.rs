//! The document model: [`OfflineRole`], [`Document`] (one offline role's
//! metadata, signed or not), its file name and the summary key holders read.

use std::fmt::{self, Write as _};

use bulwark_tuf::delegation::{DelegatedRoles, Delegations, PathSpec};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::metadata::{Common, Envelope, RoleKeys, Root, Signature, Targets};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::CeremonyError;
use crate::layout::{self, CLAIMED, UNCLAIMED};

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
    /// `claimed-<hh>`: claim bin `hh` of `claimed`, signed by the keys
    /// `claimed` delegates it to (its own).
    ClaimBin(u32),
}

impl OfflineRole {
    /// Every top-level offline role, root first (claim bins come and go
    /// with `claimed`).
    pub const ALL: [Self; 4] = [Self::Root, Self::Targets, Self::Claimed, Self::Unclaimed];

    /// The role's name in metadata and file names.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Self::Root => RoleName::ROOT.to_owned(),
            Self::Targets => RoleName::TARGETS.to_owned(),
            Self::Claimed => CLAIMED.to_owned(),
            Self::Unclaimed => UNCLAIMED.to_owned(),
            Self::ClaimBin(bin) => layout::claim_bin_name(CLAIMED, bin),
        }
    }

    /// The role called `name`, if it is an offline role.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .or_else(|| layout::claim_bin_of_role(CLAIMED, name).map(Self::ClaimBin))
    }

    /// The role that delegates to this one: targets for root's children,
    /// claimed for its claim bins, `None` for root and targets (root lists them).
    #[must_use]
    pub fn delegator(self) -> Option<Self> {
        match self {
            Self::Root | Self::Targets => None,
            Self::Claimed | Self::Unclaimed => Some(Self::Targets),
            Self::ClaimBin(_) => Some(Self::Claimed),
        }
    }
}

impl fmt::Display for OfflineRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A document's body: root, or one of the targets-type offline roles.
#[derive(Clone, Debug)]
pub enum Body {
    /// Root metadata.
    Root(Envelope<Root>),
    /// Targets, claimed, unclaimed or claim bin metadata.
    Targets(Envelope<Targets>),
}

/// Metadata of one offline role, signed or not.
#[derive(Clone, Debug)]
pub struct Document {
    pub(super) role: OfflineRole,
    pub(super) body: Body,
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

    pub(super) fn root(envelope: Envelope<Root>) -> Self {
        Self {
            role: OfflineRole::Root,
            body: Body::Root(envelope),
        }
    }

    /// `role` must not be root.
    pub(super) fn targets(role: OfflineRole, envelope: Envelope<Targets>) -> Self {
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

    pub(super) fn common(&self) -> &Common {
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

    pub(super) fn signatures_mut(&mut self) -> &mut Vec<Signature> {
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
        layout::metadata_key(&self.role.name(), self.version())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::fixtures::Holders;

    #[test]
    fn file_names_give_version_and_role() {
        assert_eq!(parse_file_name("1.root.json"), Some((1, OfflineRole::Root)));
        assert_eq!(
            parse_file_name("12.unclaimed.json"),
            Some((12, OfflineRole::Unclaimed))
        );
        assert_eq!(
            parse_file_name("3.claimed-3f.json"),
            Some((3, OfflineRole::ClaimBin(0x3f)))
        );
        assert_eq!(OfflineRole::ClaimBin(7).to_string(), "claimed-07");
        for bad in [
            "0.root.json",
            "01.root.json",
            "1.snapshot.json",
            "root.json",
            "1.root.json.sig",
            "x.targets.json",
            "1.claimed-3F.json",
            "1.claimed-100.json",
            "1.recently-claimed-3f.json",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
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
