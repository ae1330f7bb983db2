//! HTTP downloads with the limits TUF needs: a byte cap enforced while the
//! body streams in (endless-data attacks, spec 1.0.34 §5.3.3, §5.4.1, …),
//! and time limits that defeat slow retrieval: connecting, waiting for each
//! chunk, and a whole-download deadline that grows with the expected size.
//!
//! HTTPS is verified by rustls-platform-verifier (the system's roots), as
//! reqwest would set it up, but the verifier reads the roots on the first
//! TLS handshake rather than when the client is built: a client that only
//! ever speaks plain HTTP (a loopback mirror, a test server) never pays for
//! loading the system's CA certificates.

use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

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
    /// Follow redirects to another origin (scheme, host and port) than the
    /// requested URL's. Off by default: a redirect elsewhere is an error.
    pub cross_origin_redirects: bool,
    /// An API token for a private upstream index, sent with every request
    /// to its origin.
    pub upstream_token: Option<UpstreamToken>,
}

/// An API token sent as HTTP Basic `__token__:<token>` (as pip and uv send
/// index credentials) with every request to one origin, the upstream
/// index's, and to no other (a file host elsewhere never sees it; reqwest
/// drops it on a redirect to another host too). `Debug` never shows it.
#[derive(Clone)]
pub struct UpstreamToken {
    origin: reqwest::Url,
    token: String,
}

impl UpstreamToken {
    /// `token` for the origin of the index at `upstream`.
    pub fn new(upstream: &str, token: &str) -> Result<Self, FetchError> {
        let origin = reqwest::Url::parse(upstream).map_err(|_| FetchError::BadUrl {
            url: redact_userinfo(upstream),
        })?;
        Ok(Self {
            origin,
            token: token.to_owned(),
        })
    }

    /// Whether requests to `url` carry the token.
    fn covers(&self, url: &reqwest::Url) -> bool {
        url.origin() == self.origin.origin()
    }
}

impl std::fmt::Debug for UpstreamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamToken")
            .field("origin", &self.origin.origin().ascii_serialization())
            .field("token", &"***")
            .finish()
    }
}

/// `url` without what its userinfo could hold (a password, a token).
fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split('/').next().and_then(|a| a.rsplit_once('@')) {
            Some((_, host)) => {
                let path = rest.split_once('/').map_or("", |(_, p)| p);
                format!("{scheme}://***@{host}/{path}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            base_deadline: Duration::from_secs(30),
            min_rate: 64 * 1024,
            max_redirects: 5,
            cross_origin_redirects: false,
            upstream_token: None,
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
    /// The server answered 401: it needs valid credentials (a private
    /// index without, or with a bad, API token).
    #[error("HTTP 401: the index requires a valid API token ({reason})")]
    Unauthorized {
        /// The server's reason phrase, made printable.
        reason: String,
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
    /// The server redirected to another origin, which is not followed
    /// unless [`FetchConfig::cross_origin_redirects`] allows it.
    #[error("{from} redirects to another origin, {to}; not followed")]
    CrossOriginRedirect {
        /// The URL that redirected.
        from: String,
        /// Where it pointed.
        to: String,
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

/// A page fetched by [`Fetcher::fetch_page`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPage {
    /// The body.
    pub bytes: Vec<u8>,
    /// The response's `Content-Type`, if it had a readable one.
    pub content_type: Option<String>,
    /// The URL the body came from, after redirects: what relative links
    /// in it resolve against.
    pub url: String,
}

/// What a download's response said beside its body.
struct Answered {
    received: u64,
    content_type: Option<String>,
    url: String,
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
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(config.connect_timeout)
            .redirect(redirect_policy(&config))
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(describe(e)))?;
        Ok(Self { client, config })
    }

    /// Downloads `url` into memory, refusing more than `cap` bytes.
    pub async fn fetch(&self, url: &str, cap: u64) -> Result<Vec<u8>, FetchError> {
        let mut body = Vec::new();
        self.download(url, cap, None, &mut body).await?;
        Ok(body)
    }

    /// Downloads `url` into memory asking for the media types `accept`
    /// (content negotiation, as for PEP 691 pages), refusing more than
    /// `cap` bytes; with the answer's type and final URL.
    pub async fn fetch_page(
        &self,
        url: &str,
        accept: &str,
        cap: u64,
    ) -> Result<FetchedPage, FetchError> {
        let mut bytes = Vec::new();
        let answered = self.download(url, cap, Some(accept), &mut bytes).await?;
        Ok(FetchedPage {
            bytes,
            content_type: answered.content_type,
            url: answered.url,
        })
    }

    /// Downloads `url`, passing each chunk to `sink` as it arrives and
    /// refusing more than `cap` bytes in total. Returns the byte count.
    pub async fn fetch_with(
        &self,
        url: &str,
        cap: u64,
        sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, FetchError> {
        let answered = self.download(url, cap, None, &mut Chunks(sink)).await?;
        Ok(answered.received)
    }

    async fn download(
        &self,
        url: &str,
        cap: u64,
        accept: Option<&str>,
        sink: &mut impl Sink,
    ) -> Result<Answered, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl {
            url: url.to_owned(),
        })?;
        let rate_allowance = Duration::from_secs(cap / self.config.min_rate.max(1));
        let deadline = Instant::now() + self.config.base_deadline + rate_allowance;
        let mut request = self.client.get(parsed.clone());
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(token) = &self.config.upstream_token
            && token.covers(&parsed)
        {
            // basic_auth marks the header sensitive: never logged.
            request = request.basic_auth("__token__", Some(&token.token));
        }
        let mut response = timeout(self.config.connect_timeout, request.send())
            .await
            .map_err(|_| FetchError::ConnectTimeout(self.config.connect_timeout))?
            .map_err(send_error)?;
        let status = response.status().as_u16();
        if status == 401 {
            return Err(FetchError::Unauthorized {
                reason: printable_reason(&response),
            });
        }
        if status == 403 || status == 404 {
            return Err(FetchError::NotFound { status });
        }
        if !response.status().is_success() {
            return Err(FetchError::Status { status });
        }
        match response.content_length() {
            Some(len) if len > cap => return Err(FetchError::TooLarge { limit: cap }),
            Some(len) => sink.expect(len),
            None => {}
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let final_url = response.url().to_string();
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
            sink.write(&chunk).map_err(FetchError::Sink)?;
        }
        Ok(Answered {
            received,
            content_type,
            url: final_url,
        })
    }
}

/// The reason phrase of `response` (which the server chose: untrusted),
/// reduced to at most 200 printable ASCII characters.
fn printable_reason(response: &reqwest::Response) -> String {
    let phrase = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map_or_else(
            || {
                response
                    .status()
                    .canonical_reason()
                    .unwrap_or("Unauthorized")
                    .as_bytes()
                    .to_vec()
            },
            |r| r.as_bytes().to_vec(),
        );
    phrase
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

/// Follows at most `max_redirects` redirects, and only within the
/// origin of the requested URL unless `cross_origin_redirects`.
fn redirect_policy(config: &FetchConfig) -> reqwest::redirect::Policy {
    let (max, cross_origin) = (config.max_redirects, config.cross_origin_redirects);
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            return attempt.error(TooManyRedirects(max));
        }
        let from = attempt.previous().last().cloned();
        match from {
            Some(from) if !cross_origin && from.origin() != attempt.url().origin() => {
                let to = attempt.url().to_string();
                attempt.error(CrossOrigin {
                    from: from.to_string(),
                    to,
                })
            }
            _ => attempt.follow(),
        }
    })
}

/// The redirect policy's refusal of another origin.
#[derive(Debug, thiserror::Error)]
#[error("{from} redirects to another origin, {to}")]
struct CrossOrigin {
    from: String,
    to: String,
}

/// The redirect policy's refusal of one redirect too many.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
struct TooManyRedirects(usize);

/// A failed request, with a cross-origin redirect told apart.
fn send_error(error: reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(CrossOrigin { from, to }) = cause.downcast_ref::<CrossOrigin>() {
            return FetchError::CrossOriginRedirect {
                from: from.clone(),
                to: to.clone(),
            };
        }
        source = cause.source();
    }
    FetchError::Transport(describe(error))
}

/// Where a download's body goes.
trait Sink {
    /// The server announced `len` bytes (never more than the cap).
    fn expect(&mut self, _len: u64) {}
    /// The next chunk.
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()>;
}

impl Sink for Vec<u8> {
    fn expect(&mut self, len: u64) {
        // One allocation of the announced size rather than doubling (and
        // copying) up to it; the length is still checked chunk by chunk.
        self.reserve_exact(usize::try_from(len).unwrap_or(0));
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

/// A caller's function, called with each chunk.
struct Chunks<F>(F);

impl<F: FnMut(&[u8]) -> std::io::Result<()>> Sink for Chunks<F> {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        (self.0)(chunk)
    }
}

/// The TLS configuration reqwest builds for its rustls backend with our
/// settings (TLS 1.2 and 1.3, SNI, ALPN `http/1.1`, no client certificate,
/// the platform verifier), except that the verifier is created on first use.
fn tls_config() -> Result<rustls::ClientConfig, FetchError> {
    install_crypto_provider();
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| FetchError::Transport(format!("TLS set-up failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LazyPlatformVerifier {
            provider,
            verifier: OnceLock::new(),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls-platform-verifier's verifier, created at the first TLS handshake
/// (when it reads the system's root certificates) and then reused by every
/// connection of the client. Every check is the platform verifier's own; if
/// it cannot be created, every certificate is refused.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // Asked while the first ClientHello is written. Should the verifier
        // fail to load, the handshake still fails in `verify_server_cert`.
        match self.verifier() {
            Ok(verifier) => verifier.supported_verify_schemes(),
            Err(_) => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
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

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;

    #[test]
    fn the_upstream_token_goes_to_the_upstream_origin_only_and_is_never_shown() {
        let token = UpstreamToken::new("http://index.example:8080/base/", "bwk_1_s3cret").unwrap();
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(token.covers(&url("http://index.example:8080/tuf/metadata/1.root.json")));
        for other in [
            "https://index.example:8080/files/x",
            "http://index.example/files/x",
            "http://index.example:8081/files/x",
            "http://files.example:8080/files/x",
        ] {
            assert!(!token.covers(&url(other)), "{other}");
        }
        let shown = format!(
            "{:?}",
            FetchConfig {
                upstream_token: Some(token),
                ..FetchConfig::default()
            }
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("index.example:8080"), "{shown}");
        let bad = UpstreamToken::new("http://__token__:s3cret@ho st/", "t").unwrap_err();
        assert!(!bad.to_string().contains("s3cret"), "{bad}");
    }

    /// A self-signed certificate for `localhost` (test only), and its key.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATigAwIBAgIUek4AIEo9YgMod7Ml96bhP/LmSYwwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTExMDYzNloYDzIxMjYxMTAx
MTEwNjM2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARjF1vPD9dy/uqfZd/Js+JsPL54MYI0/v35tnFTnYq9qwxHAkwuvUws
j4faff1jhmbACzFS8lghGEGn6Y8n7xSAo2YwZDAdBgNVHQ4EFgQU1ji82WPE1I46
R88qScOXqkLEUqUwHwYDVR0jBBgwFoAU1ji82WPE1I46R88qScOXqkLEUqUwFAYD
VR0RBA0wC4IJbG9jYWxob3N0MAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0EAwIDSAAw
RQIgad2iJR3ycd7/CimlH0UpSE2cOCR403Z07NqTHF7rpQgCIQDp7GMkFLfqOSq/
AIDDbd8Ju6hVG5S68y8MIN7DYU6S3A==
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEFVourwr+ZHjqXG5
YrDcHNCMV8WBKNnJ6Ig4ZLu5Cr6hRANCAARjF1vPD9dy/uqfZd/Js+JsPL54MYI0
/v35tnFTnYq9qwxHAkwuvUwsj4faff1jhmbACzFS8lghGEGn6Y8n7xSA
-----END PRIVATE KEY-----
";

    /// Serves `ok` over TLS with [`CERT`] on a loopback port, on a thread.
    fn tls_server() -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                // Read the request (this also completes the handshake),
                // answer, and close cleanly.
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        port
    }

    /// The TLS verifier is created on first use, but it is the platform
    /// verifier all the same: a certificate no system root vouches for is
    /// refused during the handshake.
    #[tokio::test]
    async fn https_refuses_a_certificate_no_system_root_vouches_for() {
        let port = tls_server();
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        let err = fetcher
            .fetch(&format!("https://localhost:{port}/"), 16)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Transport(m) if m.contains("invalid peer certificate")),
            "{err}"
        );
    }

    /// The same server, trusted explicitly, serves the file: the refusal
    /// above is the certificate check and nothing else.
    #[tokio::test]
    async fn the_test_tls_server_works_when_its_certificate_is_trusted() {
        let port = tls_server();
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(CERT.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let response = client
            .get(format!("https://localhost:{port}/"))
            .send()
            .await;
        let body = response.unwrap().text().await.unwrap();
        assert_eq!(body, "ok");
    }
}
