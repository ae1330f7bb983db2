//! Blocking storage work, run off the async threads.

/// Runs blocking storage work off the async threads.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        // The closure panicked: re-raise it where it belongs.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
