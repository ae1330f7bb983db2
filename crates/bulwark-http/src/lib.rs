//! The HTTP serving layer shared by the index (`bulwark-server`), the
//! read-only mirror (`bulwark serve --mirror`) and the verifying proxy.
//!
//! It owns what the three answer alike: errors as a status plus a reason
//! phrase ([`ApiError`]; twine and pip print the reason), content
//! negotiation of the simple API ([`negotiate`], 406), serving blobs out of
//! a [`BlobStore`](bulwark_store::BlobStore) (strong `ETag`s, `Range`,
//! chunked streaming; [`blobs`]), the simple-API front end over a
//! [`PageSource`] ([`simple`]) and request logging ([`log_request`]). It does
//! not own where pages come from (the index renders them live, the mirror
//! reads its current snapshot, the proxy verifies them through TUF), nor
//! uploads, nor any verification. It links no database and no signing code,
//! so the client side can use it.
//!
//! ```text
//! GET /simple/, /simple/<name>/ ─▶ simple::router ─ negotiate (406) ─▶ PageSource::projects / page
//!                                    │ non-normalized name ─▶ 301 /simple/<normalized>/
//!                                    └ JSON: the page bytes as signed; HTML: render_html(parse_json(bytes))
//! GET /files/…, /tuf/metadata/…, /tuf/targets/… ─▶ blobs::router ─▶ blobs::serve(BlobStore, key)
//!        immutable: ETag (304), year-long cache │ mutable (timestamp.json): read whole, no-cache
//!        Range ─▶ 206 / 416 │ > 256 KiB ─▶ streamed in chunks read off the async threads
//! errors ─▶ ApiError ─▶ status + reason phrase + plain-text body (details only in the log)
//! ```

pub mod blobs;
mod blocking;
pub mod error;
pub mod listen;
mod log;
pub mod negotiate;
pub mod simple;

pub use blocking::blocking;
pub use error::{ApiError, chain};
pub use log::log_request;
pub use simple::{Page, PageSource};
