//! The legacy upload API as twine uses it (`POST /legacy/`, multipart form).
//!
//! Everything is checked before anything is stored: authentication, the
//! form, the digests against the bytes, the filename grammar, the archive
//! (bombs, path tricks) and its metadata against the filename and the form.
//! Only then are the file and its `.metadata` written as blobs and the file
//! recorded — one transaction that also queues the change for the
//! publisher — and only after that commit does twine get its 200.

use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulwark_http::{ApiError, blocking};
use bulwark_repo::gc::RefusedBlobs;
use bulwark_store::AddFile;

use crate::auth::authenticate;
use crate::receive::{self, Received};
use crate::state::AppState;

/// The form fields we use; the others (classifiers, description, …) are
/// ignored because the archive's own metadata is authoritative.
#[derive(Default)]
struct Form {
    action: Option<String>,
    protocol_version: Option<String>,
    name: Option<String>,
    version: Option<String>,
    filetype: Option<String>,
    sha256_digest: Option<String>,
    blake2_256_digest: Option<String>,
    content: Option<Received>,
}

/// The longest text field of the form read.
const MAX_FIELD_BYTES: usize = 4096;

async fn read_form(
    mut multipart: Multipart,
    blobs: Arc<dyn bulwark_store::BlobStore>,
) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let bad = receive::bad_form("upload form");
    while let Some(field) = multipart.next_field().await.map_err(&bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "content" {
            let filename = field
                .file_name()
                .map(str::to_owned)
                .ok_or_else(|| ApiError::bad_request("Upload has no filename"))?;
            if form.content.is_some() {
                return Err(ApiError::bad_request("Upload has more than one file"));
            }
            form.content =
                Some(receive::receive(field, filename, blobs.clone(), "upload form").await?);
            continue;
        }
        let slot = match name.as_str() {
            ":action" => &mut form.action,
            "protocol_version" => &mut form.protocol_version,
            "name" => &mut form.name,
            "version" => &mut form.version,
            "filetype" => &mut form.filetype,
            "sha256_digest" => &mut form.sha256_digest,
            "blake2_256_digest" => &mut form.blake2_256_digest,
            _ => continue,
        };
        let bytes = receive::read_capped(field, MAX_FIELD_BYTES, &name, "upload form").await?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::bad_request(format!("Form field {name} is not UTF-8")))?;
        *slot = Some(text);
    }
    Ok(form)
}

fn check_digest(given: Option<&str>, actual: &str, what: &str) -> Result<(), ApiError> {
    match given {
        Some(given) if !given.trim().eq_ignore_ascii_case(actual) => Err(ApiError::bad_request(
            format!("The {what} digest supplied does not match the file's"),
        )),
        _ => Ok(()),
    }
}

/// The most of a refused body read and discarded before answering.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Answers `refusal` to `request` and closes the connection, after reading
/// and discarding its body (up to [`DRAIN_LIMIT`]): closing a connection
/// with unread data makes the kernel reset it, and the client would see a
/// reset instead of the answer.
async fn refuse_after_draining(request: axum::extract::Request, refusal: ApiError) -> Response {
    let mut body = request.into_body().into_data_stream();
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match futures_util::StreamExt::next(&mut body).await {
            Some(Ok(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
    let mut response = refusal.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// Answers 413 to an upload whose `Content-Length` is over `limit` before
/// anything is parsed.
pub async fn refuse_oversized(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|len| len <= limit as u64) {
        return next.run(request).await;
    }
    let refusal = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Upload larger than the {limit}-byte limit"),
    );
    refuse_after_draining(request, refusal).await
}

/// How long a client refused for too many concurrent uploads is asked to
/// wait, in seconds.
const BUSY_RETRY_SECS: u64 = 5;

/// Lets at most as many uploads (and transactions) in at once as `slots`
/// has permits; past that, answers 503 with `Retry-After`. Each upload in
/// flight holds a staging file and a blocking thread while it is inspected
/// and stored, so their number is what bounds disk and thread use.
pub async fn limit_concurrent(
    axum::extract::State(slots): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(slot) = slots.try_acquire_owned() else {
        let refusal = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many uploads in progress; retry in a few seconds",
        );
        let mut response = refuse_after_draining(request, refusal).await;
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(BUSY_RETRY_SECS),
        );
        return response;
    };
    request.extensions_mut().insert(UploadSlot {
        _permit: Arc::new(slot),
    });
    next.run(request).await
}

/// An upload's place among the concurrent ones. The handler moves a clone
/// into its blocking work (inspecting, storing), so that the place stays
/// taken until that work ends, even when the request is dropped first (the
/// client went away, the request timed out).
#[derive(Clone)]
pub struct UploadSlot {
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
}

/// `POST /legacy/`.
pub async fn upload(
    State(state): State<AppState>,
    axum::Extension(slot): axum::Extension<UploadSlot>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let auth_headers = headers.clone();
    let token = blocking(move || authenticate(store.as_ref(), &auth_headers)).await?;
    token.may_write()?;
    let form = read_form(multipart, state.blobs.clone()).await?;
    if form.action.as_deref() != Some("file_upload") {
        return Err(ApiError::bad_request(
            "Unsupported :action, only file_upload is supported",
        ));
    }
    if form.protocol_version.as_deref().is_some_and(|v| v != "1") {
        return Err(ApiError::bad_request(
            "Unsupported protocol_version, only 1 is supported",
        ));
    }
    let received = form
        .content
        .ok_or_else(|| ApiError::bad_request("Upload has no file content"))?;
    if form.sha256_digest.is_none() && form.blake2_256_digest.is_none() {
        return Err(ApiError::bad_request(
            "Upload must include sha256_digest or blake2_256_digest",
        ));
    }
    let limits = state.config.upload_limits.clone();
    let held = slot.clone();
    let (inspected, received) = blocking(move || {
        let _slot = held;
        received
            .inspect(&limits)
            .map(|i| (i, received))
            .map_err(|e| e.into_api_error(None))
    })
    .await?;
    check_digest(form.sha256_digest.as_deref(), &inspected.sha256, "SHA-256")?;
    check_digest(
        form.blake2_256_digest.as_deref(),
        &inspected.blake2b_256,
        "BLAKE2b-256",
    )?;
    let project = inspected.filename.name().clone();
    // A scoped token creates no project but those it names.
    token.may_change(project.normalized())?;
    let user = token.user;
    crate::release::check_upload(
        &inspected.filename,
        form.name.as_deref(),
        form.version.as_deref(),
        state.config.allow_local_versions,
    )?;
    if let Some(filetype) = &form.filetype {
        let expected = if matches!(inspected.filename.kind(), bulwark_pypi::DistKind::Wheel(_)) {
            "bdist_wheel"
        } else {
            "sdist"
        };
        if filetype != expected {
            return Err(ApiError::bad_request(format!(
                "filetype {filetype:?} does not match a {expected} file"
            )));
        }
    }
    let (store, blobs) = (state.store.clone(), state.blobs.clone());
    let refused = RefusedBlobs::for_stores(state.config.shared_state);
    let outcome = blocking(move || {
        let _slot = slot;
        ingest(
            store.as_ref(),
            blobs.as_ref(),
            &inspected,
            received.file,
            &user,
            bulwark_repo::clock::unix_micros(),
            refused,
        )
    })
    .await
    .map_err(|e| ApiError::internal("storing upload", &e))?;
    if matches!(outcome, AddFile::Added { .. }) {
        state.publish.notify_one();
    }
    answer(outcome, project.normalized())
}

/// What twine is told about a recorded (or refused) file of `project`.
fn answer(outcome: AddFile, project: &str) -> Result<Response, ApiError> {
    match outcome {
        AddFile::Added { .. } => Ok((StatusCode::OK, "OK\n").into_response()),
        AddFile::Identical => {
            Ok((StatusCode::OK, "OK (identical file already uploaded)\n").into_response())
        }
        AddFile::Conflict => Err(ApiError::bad_request("File already exists")),
        AddFile::SecondSdist => Err(ApiError::bad_request(
            "Only one sdist may be uploaded per release",
        )),
        AddFile::Removed => Err(ApiError::bad_request(
            "This filename was removed by an administrator and cannot be used again: \
             use a different version",
        )),
        AddFile::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("The user does not own project {project}"),
        )),
        AddFile::Claimed => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Project {project} is claimed: upload with bulwark upload --key"),
        )),
        AddFile::Upstream => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Project {project} is cached from upstream: an administrator must release \
                 the name (bulwark upstream release {project} --owner USER) before it can \
                 be uploaded here"
            ),
        )),
    }
}

/// Stores an inspected distribution uploaded by `user`: stores its staging
/// `file` and its `.metadata` as blobs, then records the file (one transaction that
/// also queues the change). If the record is refused, the blobs it stored
/// are removed again or left to the unrecorded sweep, as `refused` says.
/// Used by the upload endpoint and by `bulwark import`.
pub fn ingest(
    store: &dyn bulwark_store::StateStore,
    blobs: &dyn bulwark_store::BlobStore,
    inspected: &bulwark_pypi::Inspected,
    file: tempfile::NamedTempFile,
    user: &str,
    upload_time_us: i64,
    refused: RefusedBlobs,
) -> bulwark_store::Result<AddFile> {
    let upload = bulwark_repo::transaction::UploadedFile::from(inspected);
    let record = bulwark_repo::page::file_record(&upload, user, upload_time_us);
    let file_key = bulwark_layout::file_key(&record.sha256, &record.filename);
    let metadata_key = bulwark_layout::metadata_file_key(&record.sha256, &record.filename);
    let _same_file = bulwark_repo::gc::file_locks([record.sha256.as_str()]);
    let existed = blobs.len(&file_key)?.is_some();
    blobs.put_file(&file_key, file)?;
    if record.metadata_sha256.is_some() {
        blobs.put(&metadata_key, &inspected.metadata_bytes)?;
    }
    let outcome = store.add_file(inspected.metadata.name().as_given(), &record)?;
    if !matches!(outcome, AddFile::Added { .. } | AddFile::Identical)
        && !existed
        && refused == RefusedBlobs::Remove
    {
        blobs.delete(&file_key)?;
        blobs.delete(&metadata_key)?;
    }
    Ok(outcome)
}
