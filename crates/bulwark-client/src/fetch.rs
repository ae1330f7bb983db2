//! HTTP downloads with the limits TUF needs: a byte cap enforced while the
//! body streams in (endless-data attacks, spec 1.0.34 §5.3.3, §5.4.1, …),
//! and time limits that defeat slow retrieval: connecting, waiting for each
//! chunk, and a whole-download deadline that grows with the expected size.

use std::sync::Once;
use std::time::Duration;

use tokio::time::{Instant, timeout, timeout_at};

/// Time limits for one download.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Limit on connecting and receiving the response headers.
    pub connect_timeout: Duration,
    /// Limit on the silence between two chunks of the body.
    pub idle_timeout: Duration,
    /// Fixed part of the whole-download deadline.
    pub base_deadline: Duration,
    /// Slowest average rate tolerated, in bytes per second: the deadline
    /// grows by `cap / min_rate`, so a large file may take longer than a
    /// small one but a drip-fed body always ends.
    pub min_rate: u64,
    /// Most redirects followed; more (or a loop) is an error.
    pub max_redirects: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            base_deadline: Duration::from_secs(30),
            min_rate: 64 * 1024,
            max_redirects: 5,
        }
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered 403 or 404: the file does not exist there.
    #[error("not found (HTTP {status})")]
    NotFound {
        /// The status.
        status: u16,
    },
    /// Another non-success status.
    #[error("HTTP status {status}")]
    Status {
        /// The status.
        status: u16,
    },
    /// The body was longer than allowed.
    #[error("response is larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Connecting or the response headers took too long.
    #[error("no response within {0:?}")]
    ConnectTimeout(Duration),
    /// The body stalled, or the whole download exceeded its deadline.
    #[error("download too slow: {0}")]
    Slow(&'static str),
    /// The URL could not be parsed.
    #[error("invalid URL {url:?}")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// A network or protocol error, including redirect loops.
    #[error("{0}")]
    Transport(String),
    /// Writing the body to its sink failed.
    #[error("storing the download failed")]
    Sink(#[source] std::io::Error),
}

/// Installs *ring* as the TLS crypto provider, once per process; needed
/// before any reqwest client is built.
pub fn install_crypto_provider() {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another library may have installed a provider first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Downloads bytes over HTTP(S) with caps and time limits.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

impl Fetcher {
    /// A fetcher with `config`.
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(describe(e)))?;
        Ok(Self { client, config })
    }

    /// Downloads `url` into memory, refusing more than `cap` bytes.
    pub async fn fetch(&self, url: &str, cap: u64) -> Result<Vec<u8>, FetchError> {
        let mut body = Vec::new();
        self.fetch_with(url, cap, |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(body)
    }

    /// Downloads `url`, passing each chunk to `sink` as it arrives and
    /// refusing more than `cap` bytes in total. Returns the byte count.
    pub async fn fetch_with(
        &self,
        url: &str,
        cap: u64,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl {
            url: url.to_owned(),
        })?;
        let rate_allowance = Duration::from_secs(cap / self.config.min_rate.max(1));
        let deadline = Instant::now() + self.config.base_deadline + rate_allowance;
        let mut response = timeout(self.config.connect_timeout, self.client.get(parsed).send())
            .await
            .map_err(|_| FetchError::ConnectTimeout(self.config.connect_timeout))?
            .map_err(|e| FetchError::Transport(describe(e)))?;
        let status = response.status().as_u16();
        if status == 403 || status == 404 {
            return Err(FetchError::NotFound { status });
        }
        if !response.status().is_success() {
            return Err(FetchError::Status { status });
        }
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(FetchError::TooLarge { limit: cap });
        }
        let mut received: u64 = 0;
        loop {
            let idle_deadline = (Instant::now() + self.config.idle_timeout).min(deadline);
            let chunk = timeout_at(idle_deadline, response.chunk())
                .await
                .map_err(|_| {
                    FetchError::Slow(if Instant::now() >= deadline {
                        "the whole download exceeded its deadline"
                    } else {
                        "no data received for too long"
                    })
                })?
                .map_err(|e| FetchError::Transport(describe(e)))?;
            let Some(chunk) = chunk else { break };
            received += chunk.len() as u64;
            if received > cap {
                return Err(FetchError::TooLarge { limit: cap });
            }
            sink(&chunk).map_err(FetchError::Sink)?;
        }
        Ok(received)
    }
}

/// The error and its causes on one line, without the URL's query string.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
