//! Receiving distributions without holding them in memory: the bytes of an
//! upload stream into a staging file of the blob store while they are
//! hashed, are inspected from that file, and are stored by handing the file
//! to the store (a rename for the file store). Memory per upload is a few
//! chunks, whatever the file's size (issue #10, defect 4).
//!
//! ```text
//! multipart field ─chunks─▶ bounded channel ─▶ blocking writer: DigestWriter(staging file)
//!                                                        │ (file, sha256, blake2b-256, size)
//!                                                        ▼
//!                         inspect from the file ─▶ BlobStore::put_file (upload.rs, transaction.rs)
//! ```

use std::io::Write as _;
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError};
use bulwark_http::{ApiError, blocking};
use bulwark_pypi::{DigestWriter, Digests, Inspected, Limits, UploadError};
use bulwark_store::{BlobStore, StoreError};
use tempfile::NamedTempFile;

/// A distribution received into a staging file.
pub struct Received {
    /// The filename the client gave.
    pub filename: String,
    /// The bytes, in a staging file of the blob store.
    pub file: NamedTempFile,
    /// Their digests and size.
    pub digests: Digests,
}

/// Chunks in flight between the connection and the writer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The answer to a form that cannot be read (`what`: "upload form", …).
pub fn bad_form(what: &'static str) -> impl Fn(MultipartError) -> ApiError {
    move |e| ApiError::new(e.status(), format!("Invalid {what}: {}", e.body_text()))
}

/// Streams the file part `field` (named `filename`) into a staging file of
/// `blobs`, hashing it on the way.
pub async fn receive(
    mut field: Field<'_>,
    filename: String,
    blobs: Arc<dyn BlobStore>,
    what: &'static str,
) -> Result<Received, ApiError> {
    let file = blocking(move || blobs.staging_file())
        .await
        .map_err(|e| ApiError::internal("creating a staging file", &e))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(CHUNKS_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = DigestWriter::new(file);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        Ok::<_, std::io::Error>(out.finish())
    });
    let mut read = Ok(());
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                // The writer stopped (an I/O error): its result says why.
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                read = Err(bad_form(what)(e));
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::internal("writing a staging file", &e))?;
    read?;
    let (file, digests) = written.map_err(|e| ApiError::internal("writing a staging file", &e))?;
    Ok(Received {
        filename,
        file,
        digests,
    })
}

/// Reads the form part `field` (named `name`) whole, refusing more than
/// `limit` bytes as soon as they arrive, so that no part is buffered beyond
/// its limit.
pub async fn read_capped(
    mut field: Field<'_>,
    limit: usize,
    name: &str,
    what: &'static str,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_form(what))? {
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::bad_request(format!(
                "Form part {name} is longer than {limit} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Copies `source` into a staging file of `blobs`, hashing it on the way
/// (`bulwark import`, which reads files rather than a request).
pub fn stage(
    blobs: &dyn BlobStore,
    filename: String,
    source: &mut dyn std::io::Read,
) -> Result<Received, StoreError> {
    let mut out = DigestWriter::new(blobs.staging_file()?);
    std::io::copy(source, &mut out).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let (file, digests) = out.finish();
    Ok(Received {
        filename,
        file,
        digests,
    })
}

/// Why a received distribution was not accepted: its bytes (a client
/// error), or reading them back from the staging file (the server's).
pub enum Refusal {
    /// The distribution is invalid.
    Invalid(UploadError),
    /// The staging file could not be read.
    Unreadable(UploadError),
}

impl Received {
    /// Inspects the received bytes from their staging file (blocking: call
    /// it off the async threads).
    pub fn inspect(&self, limits: &Limits) -> Result<Inspected, Refusal> {
        bulwark_pypi::inspect(
            &self.filename,
            self.file.as_file(),
            self.digests.clone(),
            limits,
        )
        .map_err(|e| match e {
            UploadError::Read { .. } => Refusal::Unreadable(e),
            e => Refusal::Invalid(e),
        })
    }
}

impl Refusal {
    /// The answer to the client; `filename` is named when given.
    #[must_use]
    pub fn into_api_error(self, filename: Option<&str>) -> ApiError {
        match self {
            Self::Invalid(e) => ApiError::bad_request(match filename {
                Some(name) => format!("Invalid distribution {name}: {e}"),
                None => format!("Invalid distribution: {e}"),
            }),
            Self::Unreadable(e) => ApiError::internal("reading a staging file", &e),
        }
    }
}
