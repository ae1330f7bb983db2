//! The bridge between the synchronous store traits and the asynchronous
//! clients of network backends (PostgreSQL, S3).
//!
//! The traits stay synchronous (ARCHITECTURE.md, "Storage backends"): the
//! engine calls them from its own threads and from `spawn_blocking`, so a
//! network call blocks one thread of a bounded pool for one round trip. A
//! backend keeps one [`IoRuntime`] whose worker threads drive its sockets;
//! [`IoRuntime::run`] polls a future on the calling thread, inside that
//! runtime's context, until it completes. It works from any thread, also
//! from inside another Tokio runtime (the caller's thread then waits, as it
//! would on a SQLite lock), and never deadlocks on the caller's runtime,
//! because the backend's I/O never runs there.

use std::future::Future;

use crate::{Result, StoreError};

/// A small multi-threaded Tokio runtime owned by one backend.
#[derive(Debug)]
pub struct IoRuntime {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl IoRuntime {
    /// Starts a runtime of `workers` threads named `name`.
    pub fn new(name: &str, workers: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// The runtime's handle, for spawning background tasks (a connection's
    /// driver, a listener).
    #[must_use]
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime().handle()
    }

    /// Runs `future` to completion on the calling thread, with this
    /// runtime as the context for the sockets and timers it creates.
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        let _context = self.runtime().enter();
        futures_executor::block_on(future)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        match &self.runtime {
            Some(runtime) => runtime,
            None => unreachable!("the runtime is only taken when dropped"),
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // A store may be dropped inside an async task, where a blocking
        // shutdown would panic; the workers hold nothing that needs waiting.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure by design")]

    use super::IoRuntime;

    async fn echo_once() -> Vec<u8> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0; 5];
            socket.read_exact(&mut buf).await.unwrap();
            socket.write_all(&buf).await.unwrap();
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut back = vec![0; 5];
        client.read_exact(&mut back).await.unwrap();
        server.await.unwrap();
        back
    }

    #[test]
    fn runs_socket_io_from_a_plain_thread() {
        let io = IoRuntime::new("test-io", 1).unwrap();
        assert_eq!(io.run(echo_once()), b"hello");
    }

    #[test]
    fn runs_from_inside_another_runtime_and_drops_there() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        outer.block_on(async {
            let io = IoRuntime::new("test-io", 1).unwrap();
            assert_eq!(io.run(echo_once()), b"hello");
            drop(io);
        });
    }
}
