//! The TUF repository engine of the index: which roles exist and who signs
//! them (`roles`, `policy`; where each file lives is `bulwark-layout`), creating a repository (`init`),
//! encrypted key files (`keyfile`), the publisher that turns queued
//! changes into signed, consistent snapshots (`publish`), and developer-signed
//! project transactions (`transaction`): the index's checks, and the
//! developer's side that builds the page and signs the role they accept.
//!
//! ```text
//! StateStore (files, changes) ──▶ Publisher::run_once ──▶ BlobStore (pages, metadata)
//!                                     │ page::render (deterministic JSON, bulwark-pypi)
//!                                     └ roles::* bodies, signed with the online key
//! ```
//!
//! The server process holds only the online key; offline roles are signed
//! by `init` or by the key ceremony commands and only read here.

pub mod ceremony;
pub mod clock;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod gc;
pub mod init;
pub mod keyfile;
pub mod page;
pub mod policy;
pub mod publish;
pub mod roles;
pub mod transaction;

// The wire layout is shared with the clients; `crate::layout` names it here.
use bulwark_layout as layout;

pub use policy::Policy;
pub use publish::{PublishError, PublishReport, Publisher};
