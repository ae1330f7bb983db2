//! Test-only helpers for driving TUF clients against a real repository over
//! real HTTP, without Python and without a network.
//!
//! ```text
//! RepositorySimulator ──publish()──▶ path → bytes ──serve()──▶ TestServer ◀── HTTP ── client
//!   real keys, real signatures        (+ overrides,             (+ faults, request log)
//!   tampering hooks                    hooks)
//! ```
//!
//! [`RepositorySimulator`] keeps the repository as typed metadata bodies and
//! signs them with real keys at every [`RepositorySimulator::publish`];
//! [`TestServer`] serves the resulting files on `127.0.0.1` with per-path
//! fault injection and records every request path in order.
//!
//! [`s3_test_url`] hands each test a prefix of its own in the test bucket.
//!
//! This crate is only ever a dev-dependency, or a dependency of the
//! benchmark harness (`bulwark-bench`, never shipped), which makes its
//! throwaway databases, bucket prefixes and tokens the same way: a panic
//! here means the test set (or the benchmark's set-up) itself is broken,
//! and panicking with the reason is what a test wants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test-only crate: a failed setup step should abort the test with its reason"
)]

#[cfg(feature = "postgres")]
pub mod postgres;
mod s3;
mod server;
mod simulator;
pub mod softhsm;

pub use s3::{S3_VARIABLE, s3_test_url};
pub use server::{Fault, TestServer, canonical_path};
pub use simulator::{DAY, Listing, RepositorySimulator, Signer, now, target_file};
