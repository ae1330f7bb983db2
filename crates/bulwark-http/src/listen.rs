//! Accepting connections with bounds that a slow or idle client cannot
//! outlast: the index, the mirror and the proxy all serve through [`serve`].
//!
//! ```text
//! accept ─▶ a connection slot free? ─ no ─▶ 503 + Retry-After, close (bounded helpers)
//!                 │ yes
//!                 ▼
//!           hyper HTTP/1.1 with a timer: the request head must arrive within
//!           `header_timeout` — counted from the connection's start, and again
//!           from the end of each response, so an idle keep-alive connection
//!           is closed after the same time; an answer the client takes
//!           nothing of for `send_timeout` ends the connection
//! ```
//!
//! Every open connection holds a file descriptor, so the slot count never
//! exceeds what the process may open: [`connection_budget`] raises the soft
//! `RLIMIT_NOFILE` to the hard one and keeps [`FD_RESERVE`] descriptors for
//! the blob store, the database and temporary files.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Bounds on client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The longest a client may take to send a request head, and the
    /// longest a keep-alive connection may stay idle between requests.
    pub header_timeout: Duration,
    /// The most connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// The longest a response may wait for the client to take any of it
    /// (a client that stops reading a download); the connection is then
    /// closed.
    pub send_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(15),
            max_connections: 1024,
            send_timeout: Duration::from_mins(1),
        }
    }
}

/// File descriptors kept for everything but client connections.
pub const FD_RESERVE: u64 = 64;

/// Connections refused at once: each refusal holds its socket for up to
/// [`REFUSAL_TIME`] so that the client reads the 503; beyond this many, a
/// connection is closed without an answer.
const MAX_REFUSING: usize = 64;
/// How long a refusal waits to write the 503 and to see the client's end.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// The answer to a connection over the limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Retry-After: 1\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 41\r\n\
    Connection: close\r\n\r\n\
    Too many connections; retry in a second.\n";

/// How many connections the process can serve at once: `configured`, or
/// fewer when the open-file limit (raised to its hard maximum first) leaves
/// less than that beside [`FD_RESERVE`] and the sockets of refusals.
#[must_use]
fn connection_budget(configured: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        // Keeps the soft limit where it was if raising it is refused.
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    match limit.current {
        Some(files) => {
            let spare = FD_RESERVE + MAX_REFUSING as u64;
            let available = usize::try_from(files.saturating_sub(spare)).unwrap_or(usize::MAX);
            configured.min(available.max(1))
        }
        None => configured,
    }
}

/// Serves `app` on `listener` until the process ends, within `limits`
/// (the connection count lowered to the [`connection_budget`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let max_connections = connection_budget(limits.max_connections);
    if max_connections < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            serving = max_connections,
            "the open-file limit allows fewer connections than configured"
        );
    }
    let slots = Arc::new(Semaphore::new(max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before
                // it was accepted: wait a little rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        // Small responses go out at once rather than waiting for an ACK.
        let _ = stream.set_nodelay(true);
        let stream = SendTimeout {
            stream,
            limit: limits.send_timeout,
            stalled: None,
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
}

/// A connection whose writes fail once the client has taken nothing for
/// `limit`: hyper's timers bound reading a request, not sending the
/// answer, and a client that stops reading would otherwise hold its slot
/// for as long as it likes.
struct SendTimeout {
    stream: TcpStream,
    limit: Duration,
    /// Running while a write waits for the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SendTimeout {
    /// After the socket answered `Pending`: pending until `limit` has
    /// passed without progress, then an error that ends the connection.
    fn wait<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing of the answer for the send timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Passes on what the socket answered, timing a wait.
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.wait(cx),
        }
    }
}

impl AsyncRead for SendTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.progress(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.progress(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.progress(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.progress(cx, polled)
    }
}

/// Answers a connection over the limit with [`BUSY`] and closes it. The
/// client's request is read (briefly) after the answer: closing a socket
/// with unread data makes the kernel reset it, and the client would see the
/// reset instead of the 503.
async fn refuse(mut stream: TcpStream) {
    let answer = async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        let mut sink = [0; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
}
