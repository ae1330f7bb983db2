//! The production key ceremony (PEP 458, "Managing offline keys"): the
//! offline roles' documents are drafted unsigned, each key holder signs them
//! on their own machine, the signatures are combined and checked, and the
//! result is installed into a repository whose server only ever holds the
//! online key.
//!
//! ```text
//! public key parts ─▶ init / rotate_online / rotate_root / renew ─▶ unsigned Document
//! index claims     ─▶ promote / reset_keys ─▶ unsigned claim bins + claimed
//! each key holder:    sign(Document, SigningKey, Authority) ─▶ SignatureFile
//! coordinator:        add_signature(…) per file ─▶ check_threshold ─▶ signed Document
//! server operator:    Current::load(blobs) ─▶ plan_install(signed Documents) ─▶ blob writes
//! ```
//!
//! - `document`: [`OfflineRole`], [`Document`] and its file names;
//! - `draft`: the first row, unsigned documents from public key parts;
//! - `claims`: the second row, claim bins and claimed from the index's
//!   claims, and [`check_against_claims`] before an install;
//! - `signature`: [`SignatureFile`], [`sign`] and [`add_signature`];
//! - `authority`: who may sign ([`Authority`]) and [`check_threshold`];
//! - `install`: the installed state ([`Current`]) and [`plan_install`];
//! - `error`: [`CeremonyError`].
//!
//! No threshold is counted here. Roots go through `TrustedSet::new` and
//! `TrustedSet::update_root`; targets, claimed, unclaimed and the claim bins
//! through `Envelope::check_signatures`, so bulwark-tuf's one threshold
//! function decides every case. The only storage access is [`Current::load`],
//! through the [`BlobStore`](bulwark_store::BlobStore) trait, and reading the
//! index's claims in `claims`, through the
//! [`StateStore`](bulwark_store::StateStore) trait; nothing here writes.

mod authority;
mod claims;
mod development;
mod document;
mod draft;
mod error;
#[cfg(test)]
mod fixtures;
mod install;
mod signature;

pub use authority::{Authority, check_threshold};
pub use claims::{check_against_claims, promote, reset_keys};
pub use development::renew_claimed_if_due;
pub use document::{Body, Document, OfflineRole, parse_file_name};
pub use draft::{InitPlan, MAX_BIN_BITS, init, renew, renew_claimed, rotate_online, rotate_root};
pub use error::{CeremonyError, ProjectRefusal};
pub use install::{Current, InstallPlan, plan_install};
pub use signature::{SignatureFile, add_signature, check_signatures, sign};
