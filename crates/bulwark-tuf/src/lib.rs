//! The pure TUF verification core of Bulwark: canonical JSON, the metadata
//! model, keys and signatures, the trusted-metadata state machine of the
//! client workflow (spec 1.0.34 §5), the delegation search and succinct
//! hashed bins (TAP 15).
//!
//! It does no I/O and reads no clock: bytes and the fixed update start time
//! go in; verified metadata or a typed [`Refused`] comes out.
//!
//! ```text
//! bytes ─▶ json ─▶ metadata::Envelope ─▶ TrustedSet::update_* ─▶ Verified<T>
//!                                            │ threshold::check (the only one)
//!                                            ▼ hash::check_meta
//!                                         Refused (state unchanged)
//! ```

pub mod canonical;
pub mod delegation;
mod fields;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod hash;
pub mod hex;
pub mod json;
pub mod keys;
pub mod meta_map;
pub mod metadata;
pub mod names;
mod refused;
mod root;
pub mod search;
pub mod signer;
mod snapshot;
mod targets;
mod threshold;
pub mod time;
mod timestamp;
pub mod trusted;

pub use fields::SchemaError;
pub use refused::Refused;
pub use timestamp::TimestampUpdate;
pub use trusted::{TrustedSet, Verified};
