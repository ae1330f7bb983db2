//! Settings of `bulwark serve`, from (highest priority first) command-line
//! flags, `BULWARK_*` environment variables, a TOML file (`--config FILE` or
//! `BULWARK_CONFIG`), and defaults. A bad value is an error that names the
//! key it came from.
//!
//! ```toml
//! data_dir = "bulwark-data"         # BULWARK_DATA_DIR
//! state = "postgres://…"            # BULWARK_STATE (unset: SQLite in data_dir)
//! blobs = "s3://bucket/prefix"      # BULWARK_BLOBS (unset: data_dir/blobs; AWS_* variables)
//! listen = "127.0.0.1:8080"         # BULWARK_LISTEN (or a host name: localhost:8080)
//! online_key = "keys/online.key"    # BULWARK_ONLINE_KEY (relative to data_dir), or a key on a
//!                                   # PKCS#11 token: "pkcs11:token=…;object=…" (PIN: BULWARK_PKCS11_PIN)
//! pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"  # BULWARK_PKCS11_MODULE, --pkcs11-module
//!                                   # (no default; a URI's module-path overrides it)
//! max_upload_bytes = 104857600      # BULWARK_MAX_UPLOAD_BYTES
//! max_concurrent_uploads = 16       # BULWARK_MAX_CONCURRENT_UPLOADS (more get 503 + Retry-After)
//! request_timeout_secs = 300        # BULWARK_REQUEST_TIMEOUT_SECS
//! header_timeout_secs = 15          # BULWARK_HEADER_TIMEOUT_SECS (request head; idle keep-alive)
//! max_connections = 1024            # BULWARK_MAX_CONNECTIONS (fewer if the open-file limit is lower)
//! send_timeout_secs = 60            # BULWARK_SEND_TIMEOUT_SECS (a client taking nothing of an answer)
//! publish_interval_secs = 60        # BULWARK_PUBLISH_INTERVAL_SECS
//! bin_bits = 8                      # BULWARK_BIN_BITS (2^bin_bits hashed bins, 1..=16)
//! online_expiry_secs = 86400        # BULWARK_ONLINE_EXPIRY_SECS
//! snapshot_retention_secs = 3600    # BULWARK_SNAPSHOT_RETENTION_SECS
//! allow_local_versions = false      # BULWARK_ALLOW_LOCAL_VERSIONS (1.0+local, for private indexes)
//! metrics_listen = "127.0.0.1:9090" # BULWARK_METRICS_LISTEN (unset: /metrics beside the index)
//! log_format = "auto"               # BULWARK_LOG_FORMAT: text, json, or auto (json unless a terminal)
//! read_access = "public"            # BULWARK_READ_ACCESS: "public", or "token" (every read needs
//!                                   # an API token; /healthz, /readyz, /metrics stay open)
//! upstream = ["https://pypi.org/simple/"]  # BULWARK_UPSTREAM (commas): pull projects not hosted
//!                                   # here from these simple indexes, in order (unset: none)
//! upstream_ttl_secs = 600           # BULWARK_UPSTREAM_TTL_SECS (re-read a pulled page after this)
//! upstream_wait_secs = 15           # BULWARK_UPSTREAM_WAIT_SECS (a first request waits this long
//!                                   # for the pulled project's signature, then gets 503)
//! upstream_deny = ["ourcorp-*"]     # BULWARK_UPSTREAM_DENY (commas): names never pulled
//! upstream_allow = []               # BULWARK_UPSTREAM_ALLOW (commas): when set, only these are pulled
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bulwark_store::redact_url;
use serde::Deserialize;

/// The settings, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The shared state database (`postgres://…`); `None` for SQLite in `data_dir`.
    pub state: Option<String>,
    /// The shared blob store (`s3://bucket[/prefix]`); `None` for `data_dir/blobs`.
    pub blobs: Option<String>,
    pub listen: SocketAddr,
    pub online_key: Option<PathBuf>,
    pub pkcs11_module: Option<PathBuf>,
    pub max_upload_bytes: usize,
    pub max_concurrent_uploads: usize,
    pub request_timeout_secs: u64,
    pub header_timeout_secs: u64,
    pub max_connections: usize,
    pub send_timeout_secs: u64,
    pub publish_interval_secs: u64,
    pub bin_bits: u32,
    pub online_expiry_secs: i64,
    pub snapshot_retention_secs: u64,
    pub allow_local_versions: bool,
    /// Where `/metrics` is served instead of beside the index.
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: crate::LogFormat,
    pub read_access: bulwark_server::ReadAccess,
    /// Upstream simple indexes, in order.
    pub upstream: Vec<String>,
    pub upstream_ttl_secs: u64,
    pub upstream_wait_secs: u64,
    pub upstream_allow: Vec<String>,
    pub upstream_deny: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let policy = bulwark_repo::Policy::default();
        Self {
            data_dir: PathBuf::from("bulwark-data"),
            state: None,
            blobs: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            online_key: None,
            pkcs11_module: None,
            max_upload_bytes: 100 * 1024 * 1024,
            max_concurrent_uploads: 16,
            request_timeout_secs: 300,
            header_timeout_secs: 15,
            max_connections: 1024,
            send_timeout_secs: 60,
            publish_interval_secs: 60,
            bin_bits: policy.bin_bits,
            online_expiry_secs: policy.online_expiry,
            snapshot_retention_secs: 3_600,
            allow_local_versions: false,
            metrics_listen: None,
            log_format: crate::LogFormat::Auto,
            read_access: bulwark_server::ReadAccess::Public,
            upstream: Vec::new(),
            upstream_ttl_secs: 600,
            upstream_wait_secs: 15,
            upstream_allow: Vec::new(),
            upstream_deny: Vec::new(),
        }
    }
}

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    data_dir: Option<PathBuf>,
    state: Option<String>,
    blobs: Option<String>,
    listen: Option<String>,
    online_key: Option<PathBuf>,
    pkcs11_module: Option<PathBuf>,
    max_upload_bytes: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    request_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    send_timeout_secs: Option<u64>,
    publish_interval_secs: Option<u64>,
    bin_bits: Option<u32>,
    online_expiry_secs: Option<i64>,
    snapshot_retention_secs: Option<u64>,
    allow_local_versions: Option<bool>,
    metrics_listen: Option<String>,
    log_format: Option<String>,
    read_access: Option<String>,
    upstream: Option<OneOrMany>,
    upstream_ttl_secs: Option<u64>,
    upstream_wait_secs: Option<u64>,
    upstream_allow: Option<Vec<String>>,
    upstream_deny: Option<Vec<String>>,
}

/// A TOML value given as one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// A comma-separated list (empty items dropped).
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Who may read the index: `public` or `token`.
fn parse_read_access(value: &str, key: &str) -> anyhow::Result<bulwark_server::ReadAccess> {
    match value {
        "public" => Ok(bulwark_server::ReadAccess::Public),
        "token" => Ok(bulwark_server::ReadAccess::Token),
        _ => bail!("{key}: {value:?} is not \"public\" or \"token\""),
    }
}

/// An address to listen on: `127.0.0.1:8080`, `[::1]:8080`, or a host name
/// and port such as `localhost:8080` (its first address).
fn parse_listen(value: &str, key: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let bad =
        || format!("{key}: {value:?} is not an address like 127.0.0.1:8080 or localhost:8080");
    std::net::ToSocketAddrs::to_socket_addrs(value)
        .with_context(bad)?
        .next()
        .with_context(bad)
}

/// Sets each listed field of the settings `s` to the value given, when one
/// is (`Some`).
macro_rules! overlay {
    ($s:ident; $($field:ident <- $value:expr;)*) => {
        $(if let Some(v) = $value {
            $s.$field = v;
        })*
    };
}

/// Reads `BULWARK_<NAME>` and parses it, naming the variable on failure.
pub(crate) fn env<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    let var = format!("BULWARK_{name}");
    match std::env::var(&var) {
        Ok(value) => value
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{var}: {value:?} is not a valid value")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{var} is not valid UTF-8"),
    }
}

/// The flags that choose an index's stores, shared by every command that
/// opens them (`serve`, `token`, `import`, `migrate`).
#[derive(Debug, Default, clap::Args)]
pub struct StoreFlags {
    /// Data directory (default: ./bulwark-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Shared state database, `postgres://…` (default: SQLite in the data directory).
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// Shared blob store, `s3://bucket[/prefix]` (default: the data directory's
    /// blobs/); endpoint and credentials from the AWS_* environment variables.
    #[arg(long, value_name = "URL")]
    pub blobs: Option<String>,
}

impl Settings {
    /// Resolves the settings from the configuration file (`flags.config` or
    /// `BULWARK_CONFIG`), the environment, and flags already parsed.
    pub fn load(flags: StoreFlags, listen: Option<String>) -> anyhow::Result<Self> {
        let StoreFlags {
            data_dir,
            config,
            state,
            blobs,
        } = flags;
        let mut s = Self::default();
        let file_path = config.or(env::<PathBuf>("CONFIG")?);
        if let Some(path) = file_path {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let file: File = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))?;
            s.apply_file(file)?;
        }
        s.apply_env()?;
        overlay! { s;
            data_dir <- data_dir;
            state <- state.map(Some);
            blobs <- blobs.map(Some);
        }
        if let Some(v) = listen {
            s.listen = parse_listen(&v, "--listen")?;
        }
        s.validate()?;
        Ok(s)
    }

    /// Takes every setting `file` gives.
    fn apply_file(&mut self, file: File) -> anyhow::Result<()> {
        if let Some(v) = file.listen {
            self.listen = parse_listen(&v, "listen")?;
        }
        if let Some(v) = file.metrics_listen {
            self.metrics_listen = Some(parse_listen(&v, "metrics_listen")?);
        }
        if let Some(v) = file.log_format {
            self.log_format = v.parse().map_err(|e| anyhow::anyhow!("log_format: {e}"))?;
        }
        if let Some(v) = file.read_access {
            self.read_access = parse_read_access(&v, "read_access")?;
        }
        overlay! { self;
            data_dir <- file.data_dir;
            state <- file.state.map(Some);
            blobs <- file.blobs.map(Some);
            online_key <- file.online_key.map(Some);
            pkcs11_module <- file.pkcs11_module.map(Some);
            max_upload_bytes <- file.max_upload_bytes;
            max_concurrent_uploads <- file.max_concurrent_uploads;
            request_timeout_secs <- file.request_timeout_secs;
            header_timeout_secs <- file.header_timeout_secs;
            max_connections <- file.max_connections;
            send_timeout_secs <- file.send_timeout_secs;
            publish_interval_secs <- file.publish_interval_secs;
            bin_bits <- file.bin_bits;
            online_expiry_secs <- file.online_expiry_secs;
            snapshot_retention_secs <- file.snapshot_retention_secs;
            allow_local_versions <- file.allow_local_versions;
            upstream <- file.upstream.map(OneOrMany::into_vec);
            upstream_ttl_secs <- file.upstream_ttl_secs;
            upstream_wait_secs <- file.upstream_wait_secs;
            upstream_allow <- file.upstream_allow;
            upstream_deny <- file.upstream_deny;
        }
        Ok(())
    }

    /// Takes every setting a `BULWARK_*` variable gives.
    fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Some(v) = env::<String>("LISTEN")? {
            self.listen = parse_listen(&v, "BULWARK_LISTEN")?;
        }
        if let Some(v) = env::<String>("METRICS_LISTEN")? {
            self.metrics_listen = Some(parse_listen(&v, "BULWARK_METRICS_LISTEN")?);
        }
        if let Some(v) = env::<String>("READ_ACCESS")? {
            self.read_access = parse_read_access(&v, "BULWARK_READ_ACCESS")?;
        }
        overlay! { self;
            data_dir <- env("DATA_DIR")?;
            state <- env("STATE")?.map(Some);
            blobs <- env("BLOBS")?.map(Some);
            online_key <- env("ONLINE_KEY")?.map(Some);
            pkcs11_module <- env("PKCS11_MODULE")?.map(Some);
            max_upload_bytes <- env("MAX_UPLOAD_BYTES")?;
            max_concurrent_uploads <- env("MAX_CONCURRENT_UPLOADS")?;
            request_timeout_secs <- env("REQUEST_TIMEOUT_SECS")?;
            header_timeout_secs <- env("HEADER_TIMEOUT_SECS")?;
            max_connections <- env("MAX_CONNECTIONS")?;
            send_timeout_secs <- env("SEND_TIMEOUT_SECS")?;
            publish_interval_secs <- env("PUBLISH_INTERVAL_SECS")?;
            bin_bits <- env("BIN_BITS")?;
            online_expiry_secs <- env("ONLINE_EXPIRY_SECS")?;
            snapshot_retention_secs <- env("SNAPSHOT_RETENTION_SECS")?;
            allow_local_versions <- env("ALLOW_LOCAL_VERSIONS")?;
            log_format <- env("LOG_FORMAT")?;
            upstream <- env::<String>("UPSTREAM")?.as_deref().map(list);
            upstream_ttl_secs <- env("UPSTREAM_TTL_SECS")?;
            upstream_wait_secs <- env("UPSTREAM_WAIT_SECS")?;
            upstream_allow <- env::<String>("UPSTREAM_ALLOW")?.as_deref().map(list);
            upstream_deny <- env::<String>("UPSTREAM_DENY")?.as_deref().map(list);
        }
        Ok(())
    }

    /// The pull-through cache's settings; `None` without upstreams.
    pub fn upstream_config(
        &self,
    ) -> anyhow::Result<Option<bulwark_server::upstream::UpstreamConfig>> {
        use bulwark_server::upstream::{NamePattern, UpstreamConfig, UpstreamIndex};
        if self.upstream.is_empty() {
            return Ok(None);
        }
        let indexes = self
            .upstream
            .iter()
            .map(|given| {
                let (plain, token) = crate::upstream::split_userinfo(given)?;
                let mut url = url::Url::parse(&plain).map_err(|e| {
                    anyhow::anyhow!("upstream: {:?} is not a URL: {e}", redact_url(given))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    bail!("upstream: {:?} is not an http(s) URL", redact_url(given));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                let token = token
                    .map(|token| {
                        if !token.bytes().all(|b| b.is_ascii_graphic()) {
                            bail!("upstream: the token in {:?} holds spaces or control characters (not shown)", redact_url(given));
                        }
                        Ok(bulwark_client::UpstreamToken::new(url.as_str(), &token)?)
                    })
                    .transpose()?;
                Ok(UpstreamIndex { url, token })
            })
            .collect::<anyhow::Result<_>>()?;
        let patterns = |key: &str, given: &[String]| {
            given
                .iter()
                .map(|p| NamePattern::parse(p).map_err(|e| anyhow::anyhow!("{key}: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()
        };
        if self.upstream_wait_secs == 0 {
            bail!("upstream_wait_secs: 0 is too short (at least 1)");
        }
        Ok(Some(UpstreamConfig {
            indexes,
            ttl: std::time::Duration::from_secs(self.upstream_ttl_secs),
            wait: std::time::Duration::from_secs(self.upstream_wait_secs),
            allow: patterns("upstream_allow", &self.upstream_allow)?,
            deny: patterns("upstream_deny", &self.upstream_deny)?,
        }))
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.upstream_config()?;
        if let Some(uri) = self.online_pkcs11_uri() {
            // Refused here, before anything starts: a PIN in the URI, or a
            // URI naming no key. The message never repeats the value.
            bulwark_hsm::Pkcs11Uri::parse(uri).context("online_key")?;
        }
        if let Some(url) = &self.state
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!(
                "state: {:?} is not a postgres:// URL (leave state unset for SQLite in data_dir)",
                redact_url(url)
            );
        }
        if self.state.is_some() && self.blobs.is_none() {
            bail!(
                "state: a shared database needs a shared blob store too: set blobs = \"s3://…\" \
                 (servers on one database must see one bucket)"
            );
        }
        if let Some(url) = &self.blobs {
            let bucket = url
                .strip_prefix("s3://")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            if bucket.is_empty() {
                bail!(
                    "blobs: {:?} is not an s3://bucket[/prefix] URL (leave blobs unset for data_dir/blobs)",
                    redact_url(url)
                );
            }
        }
        if !(1..=16).contains(&self.bin_bits) {
            bail!(
                "bin_bits: {} is out of range (1 to 16, i.e. 2 to 65536 bins)",
                self.bin_bits
            );
        }
        if self.online_expiry_secs < 3_600 {
            bail!(
                "online_expiry_secs: {} is too short (at least 3600)",
                self.online_expiry_secs
            );
        }
        if self.publish_interval_secs == 0
            || self.request_timeout_secs == 0
            || self.header_timeout_secs == 0
            || self.max_connections == 0
            || self.send_timeout_secs == 0
            || self.max_upload_bytes == 0
            || self.max_concurrent_uploads == 0
        {
            bail!(
                "publish_interval_secs, request_timeout_secs, header_timeout_secs, max_connections, \
                 send_timeout_secs, max_upload_bytes and max_concurrent_uploads must be positive"
            );
        }
        Ok(())
    }

    /// `online_key` when it is a PKCS#11 URI rather than a key file.
    pub fn online_pkcs11_uri(&self) -> Option<&str> {
        self.online_key
            .as_deref()
            .and_then(Path::to_str)
            .filter(|text| bulwark_hsm::Pkcs11Uri::is_pkcs11(text))
    }

    /// The bounds on client connections these settings give.
    pub fn connection_limits(&self) -> bulwark_http::listen::ConnectionLimits {
        bulwark_http::listen::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
            max_connections: self.max_connections,
            send_timeout: std::time::Duration::from_secs(self.send_timeout_secs),
        }
    }

    /// The repository policy these settings give.
    pub fn policy(&self) -> bulwark_repo::Policy {
        bulwark_repo::Policy {
            bin_bits: self.bin_bits,
            online_expiry: self.online_expiry_secs,
            resign_margin: self.online_expiry_secs / 2,
            ..bulwark_repo::Policy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_addresses_and_host_names() {
        assert_eq!(
            parse_listen("127.0.0.1:8080", "--listen").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 8080))
        );
        let localhost = parse_listen("localhost:8080", "--listen").unwrap();
        assert!(localhost.ip().is_loopback(), "{localhost}");
        assert_eq!(localhost.port(), 8080);
        for bad in ["localhost", "8080", "no such host.invalid:80", ""] {
            let err = parse_listen(bad, "--listen").unwrap_err().to_string();
            assert!(err.starts_with("--listen: "), "{err}");
        }
    }

    #[test]
    fn local_versions_are_allowed_by_the_file_only_as_a_boolean() {
        assert!(!Settings::default().allow_local_versions);
        let path = std::env::temp_dir().join(format!("bulwark-local-{}.toml", std::process::id()));
        std::fs::write(&path, "allow_local_versions = true\n").unwrap();
        let flags = || StoreFlags {
            config: Some(path.clone()),
            ..StoreFlags::default()
        };
        let settings = Settings::load(flags(), None);
        std::fs::write(&path, "allow_local_versions = \"yes\"\n").unwrap();
        let bad = Settings::load(flags(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(settings.unwrap().allow_local_versions);
        let bad = bad.unwrap_err().to_string();
        assert!(bad.contains("expected a boolean"), "{bad}");
    }

    #[test]
    fn upstreams_are_one_url_or_a_list_and_bad_ones_are_named() {
        let path =
            std::env::temp_dir().join(format!("bulwark-upstream-{}.toml", std::process::id()));
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let flags = StoreFlags {
                config: Some(path.clone()),
                ..StoreFlags::default()
            };
            Settings::load(flags, None).and_then(|s| s.upstream_config())
        };
        let one = load("upstream = \"http://up.example/simple\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            one.indexes[0].url.as_str(),
            "http://up.example/simple/",
            "a / is added"
        );
        let two = load(
            "upstream = [\"https://a.example/simple/\", \"http://b.example/s/\"]\n\
             upstream_deny = [\"ourcorp-*\"]\nupstream_ttl_secs = 5\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(two.indexes.len(), 2);
        assert!(!two.may_pull("ourcorp-tool") && two.may_pull("requests"));
        assert_eq!(two.ttl, std::time::Duration::from_secs(5));
        let ftp = load("upstream = \"ftp://up.example/\"\n")
            .unwrap_err()
            .to_string();
        let pattern = load("upstream = \"http://u/\"\nupstream_deny = [\"a b\"]\n")
            .unwrap_err()
            .to_string();
        let none = load("").unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            ftp.contains("upstream: \"ftp://up.example/\" is not an http(s) URL"),
            "{ftp}"
        );
        assert!(pattern.starts_with("upstream_deny: "), "{pattern}");
        assert!(none.is_none(), "no upstream, no pull-through cache");
        assert_eq!(list(" a, ,b "), ["a", "b"]);
    }

    #[test]
    fn read_access_is_public_or_token_and_errors_name_the_key() {
        assert_eq!(
            Settings::default().read_access,
            bulwark_server::ReadAccess::Public
        );
        assert_eq!(
            parse_read_access("token", "read_access").unwrap(),
            bulwark_server::ReadAccess::Token
        );
        let path = std::env::temp_dir().join(format!("bulwark-read-{}.toml", std::process::id()));
        std::fs::write(&path, "read_access = \"token\"\n").unwrap();
        let flags = || StoreFlags {
            config: Some(path.clone()),
            ..StoreFlags::default()
        };
        let settings = Settings::load(flags(), None);
        std::fs::write(&path, "read_access = \"private\"\n").unwrap();
        let bad = Settings::load(flags(), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            settings.unwrap().read_access,
            bulwark_server::ReadAccess::Token
        );
        let bad = bad.unwrap_err().to_string();
        assert!(bad.starts_with("read_access: \"private\""), "{bad}");
        let env = parse_read_access("Token", "BULWARK_READ_ACCESS")
            .unwrap_err()
            .to_string();
        assert!(env.starts_with("BULWARK_READ_ACCESS: "), "{env}");
    }

    #[test]
    fn a_pin_in_the_online_key_uri_is_refused_without_repeating_it() {
        let path = std::env::temp_dir().join(format!("bulwark-pkcs11-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "online_key = \"pkcs11:token=t;object=k?pin-value=s3cret\"\npkcs11_module = \"/m.so\"\n",
        )
        .unwrap();
        let err = Settings::load(
            StoreFlags {
                config: Some(path.clone()),
                ..StoreFlags::default()
            },
            None,
        )
        .unwrap_err();
        std::fs::write(&path, "online_key = \"pkcs11:token=t;object=k\"\n").unwrap();
        let good = Settings::load(
            StoreFlags {
                config: Some(path.clone()),
                ..StoreFlags::default()
            },
            None,
        );
        std::fs::remove_file(&path).unwrap();
        let err = format!("{err:#}");
        assert!(
            err.starts_with("online_key: the PKCS#11 URI carries pin-value"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        let good = good.unwrap();
        assert_eq!(good.online_pkcs11_uri(), Some("pkcs11:token=t;object=k"));
    }

    #[test]
    fn backends_are_urls_named_in_errors_without_passwords() {
        let load = |state: &str, blobs: &str| {
            Settings::load(
                StoreFlags {
                    state: (!state.is_empty()).then(|| state.to_owned()),
                    blobs: (!blobs.is_empty()).then(|| blobs.to_owned()),
                    ..StoreFlags::default()
                },
                None,
            )
        };
        let ok = load("postgres://u:secret@db/bulwark", "s3://bucket/prefix").unwrap();
        let alone = load("postgres://u:secret@db/bulwark", "")
            .unwrap_err()
            .to_string();
        assert!(alone.contains("needs a shared blob store"), "{alone}");
        let query = redact_url("postgres://db/x?user=u&password=secret");
        assert!(!query.contains("secret"), "{query}");
        assert_eq!(ok.blobs.as_deref(), Some("s3://bucket/prefix"));
        let bad = load("mysql://u:secret@db/x", "").unwrap_err().to_string();
        assert!(
            bad.starts_with("state: ") && !bad.contains("secret"),
            "{bad}"
        );
        assert!(bad.contains("mysql://***@db"), "{bad}");
        for url in ["s3://", "s3:///prefix", "file:///tmp"] {
            let bad = load("", url).unwrap_err().to_string();
            assert!(bad.starts_with("blobs: "), "{bad}");
        }
    }
}
