//! Client CPU (issue 5): one cold lookup by Bulwark's client against the
//! same lookup by python-tuf's ngclient, same repository, same run.
//!
//! ```text
//! BenchRepo (published) ─▶ add `bench-client` (one 64 KiB wheel: blob + add_file) ─▶ run_once
//!   ─▶ child process `bulwark-bench serve-mirror <dir>/blobs`: bulwark-mirror's router,
//!      the code behind `bulwark serve --mirror`, on 127.0.0.1 (its CPU is not counted)
//!   ─▶ ours:       N × lookup in this process (bulwark-client), CPU-clock deltas
//!   ─▶ python-tuf: tests/python/ngclient_cpu.py, N × the same lookup in one interpreter
//! ```
//!
//! A lookup, on both sides, starts from empty metadata and target
//! directories and the repository's `1.root.json`: build the HTTP client
//! and the updater (persisting the trusted root), refresh (root, timestamp,
//! snapshot, targets), search the delegations for `simple/bench-client/index.json`
//! (claimed, recently-claimed, unclaimed, the project's bin), download and
//! verify the page, parse it, find the distribution, download it and
//! compare its length and sha256 with the page. CPU is
//! `CLOCK_PROCESS_CPUTIME_ID` (user + system time of every thread of the
//! process), which is also what python's `time.process_time()` reads.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_client::{FetchConfig, Fetcher, Limits, MetadataDir, Updater};
use bulwark_http::listen::ConnectionLimits;
use bulwark_layout as layout;
use bulwark_pypi::ProjectPage;
use bulwark_repo::clock::{now, unix_micros};
use bulwark_store::{AddFile, FileRecord};
use bulwark_tuf::hash::{HashAlgorithm, check_length, sha256_hex};
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::names::{RoleName, percent_encode};

use crate::repo::BenchRepo;
use crate::stats::{Spread, float};
use crate::synth::{Rng, UPLOADER};

/// The project whose page and file the clients look up.
pub const PROJECT: &str = "bench-client";
/// Its one distribution.
pub const FILENAME: &str = "bench_client-1.0.0-py3-none-any.whl";
/// The distribution's size.
pub const FILE_BYTES: u64 = 64 * 1024;
/// The hidden subcommand of `bulwark-bench` that serves a blob directory.
pub const SERVE_SUBCOMMAND: &str = "serve-mirror";

/// How to measure.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Lookups per client.
    pub samples: usize,
    /// An executable whose [`SERVE_SUBCOMMAND`] serves a directory (the
    /// `bulwark-bench` binary).
    pub server: PathBuf,
    /// The Python with python-tuf (`scripts/python-env`'s venv).
    pub python: PathBuf,
    /// Where the clients' fresh directories go; by default inside the
    /// repository's temporary directory (same file system as the repository).
    pub dir: Option<PathBuf>,
}

impl ClientConfig {
    /// `samples` lookups, served by `server`, with the default Python.
    #[must_use]
    pub fn new(server: PathBuf, samples: usize) -> Self {
        Self {
            samples,
            server,
            python: default_python(),
            dir: None,
        }
    }
}

/// The venv's Python, where `scripts/python-env` creates it:
/// `$BULWARK_VENV/bin/python`, by default under the workspace's `target/venv`.
#[must_use]
pub fn default_python() -> PathBuf {
    std::env::var_os("BULWARK_VENV")
        .map_or_else(|| crate::workspace().join("target/venv"), PathBuf::from)
        .join("bin/python")
}

/// The python-tuf side's script.
#[must_use]
pub fn script() -> PathBuf {
    crate::workspace().join("tests/python/ngclient_cpu.py")
}

/// Every sample of one client, milliseconds, in measurement order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// CPU time (user + system) per lookup.
    pub cpu_ms: Vec<f64>,
    /// Wall time per lookup.
    pub wall_ms: Vec<f64>,
}

impl Samples {
    /// The CPU spread.
    #[must_use]
    pub fn cpu(&self) -> Spread {
        Spread::of(&self.cpu_ms)
    }

    /// The wall-time spread.
    #[must_use]
    pub fn wall(&self) -> Spread {
        Spread::of(&self.wall_ms)
    }
}

/// The python-tuf side's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Python {
    /// Measured: every lookup verified the file.
    Measured {
        /// python-tuf's version.
        tuf_version: String,
        /// The interpreter's version.
        python_version: String,
        /// The samples.
        samples: Samples,
    },
    /// Not measured, and why (the venv is missing).
    NotMeasured(String),
}

/// What the client comparison measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientResult {
    /// Projects in the repository (without `bench-client`).
    pub projects: u64,
    /// `log2` of the bin count.
    pub bin_bits: u32,
    /// The project looked up.
    pub project: String,
    /// The file checked.
    pub filename: String,
    /// Its size.
    pub file_bytes: u64,
    /// Where the clients' metadata and target directories were.
    pub client_dir: String,
    /// `release` or `debug`: how this process (our client) was built.
    pub build: &'static str,
    /// Bulwark's client, in this process.
    pub ours: Samples,
    /// Of each of our samples' CPU, milliseconds spent building the HTTP
    /// client (`Fetcher::new`).
    pub ours_http_client_cpu_ms: Vec<f64>,
    /// python-tuf's client.
    pub python: Python,
}

impl ClientResult {
    /// python-tuf's median CPU over ours, if both were measured.
    #[must_use]
    pub fn cpu_ratio(&self) -> Option<f64> {
        match &self.python {
            Python::Measured { samples, .. } => {
                Some(samples.cpu().median / self.ours.cpu().median.max(1e-9))
            }
            Python::NotMeasured(_) => None,
        }
    }

    /// python-tuf's median wall time over ours, if both were measured.
    #[must_use]
    pub fn wall_ratio(&self) -> Option<f64> {
        match &self.python {
            Python::Measured { samples, .. } => {
                Some(samples.wall().median / self.ours.wall().median.max(1e-9))
            }
            Python::NotMeasured(_) => None,
        }
    }
}

/// What both clients look up, and where.
struct Lookup {
    root: Vec<u8>,
    metadata_url: String,
    targets_url: String,
    sha256: String,
}

/// Adds `bench-client` and its distribution to the published repository,
/// serves it, and measures both clients.
pub fn run(repo: &BenchRepo, projects: u64, config: &ClientConfig) -> anyhow::Result<ClientResult> {
    if config.samples == 0 {
        bail!("the client comparison needs at least one sample");
    }
    let record = add_distribution(repo)?;
    let server = Server::start(&config.server, &repo.dir.path().join("blobs"))?;
    let root_key = layout::metadata_key(RoleName::ROOT, 1);
    let lookup = Lookup {
        root: repo
            .blobs
            .get(&root_key)?
            .with_context(|| format!("the repository has no {root_key}"))?,
        metadata_url: format!("{}/{}", server.base, layout::METADATA_PREFIX),
        targets_url: format!("{}/{}", server.base, layout::TARGETS_PREFIX),
        sha256: record.sha256,
    };
    let work_tmp = match &config.dir {
        Some(parent) => {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            tempfile::Builder::new()
                .prefix("bulwark-bench-clients-")
                .tempdir_in(parent)?
        }
        None => tempfile::Builder::new()
            .prefix("clients-")
            .tempdir_in(repo.dir.path())?,
    };
    let work = work_tmp.path();

    let (ours, ours_http_client_cpu_ms) = measure_ours(&lookup, work, config.samples)?;
    eprintln!(
        "client CPU, bulwark: median {:.1} ms over {} lookups",
        ours.cpu().median,
        config.samples
    );
    let python = measure_python(&lookup, work, config)?;
    if let Python::Measured { samples, .. } = &python {
        eprintln!(
            "client CPU, python-tuf: median {:.1} ms over {} lookups",
            samples.cpu().median,
            config.samples
        );
    }
    drop(server);
    Ok(ClientResult {
        projects,
        bin_bits: repo.policy.bin_bits,
        project: PROJECT.to_owned(),
        filename: FILENAME.to_owned(),
        file_bytes: FILE_BYTES,
        client_dir: work.display().to_string(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        ours,
        ours_http_client_cpu_ms,
        python,
    })
}

/// The distribution's bytes: deterministic, incompressible.
fn distribution() -> Vec<u8> {
    let mut rng = Rng::new(0x00C1_1E57);
    let mut bytes = Vec::with_capacity(usize::try_from(FILE_BYTES).unwrap_or(0));
    while (bytes.len() as u64) < FILE_BYTES {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes
}

/// Stores the distribution as an upload does (blob under the server's
/// key, then the record) and publishes, so its page is signed.
fn add_distribution(repo: &BenchRepo) -> anyhow::Result<FileRecord> {
    let bytes = distribution();
    let record = FileRecord {
        project: PROJECT.to_owned(),
        filename: FILENAME.to_owned(),
        version: "1.0.0".to_owned(),
        size: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        blake2b_256: bulwark_tuf::hex::encode(&HashAlgorithm::Blake2b256.digest(&bytes)),
        requires_python: Some(">=3.9".to_owned()),
        metadata_sha256: None,
        upload_time_us: unix_micros(),
        yanked: None,
        uploader: UPLOADER.to_owned(),
    };
    repo.blobs
        .put(&layout::file_key(&record.sha256, &record.filename), &bytes)?;
    match repo.store.add_file(PROJECT, &record)? {
        AddFile::Added { .. } => {}
        other => bail!("{FILENAME} refused: {other:?}"),
    }
    repo.publisher
        .run_once(now())?
        .with_context(|| format!("publishing {PROJECT} signed nothing"))?;
    Ok(record)
}

/// The serving child process; killed when dropped.
struct Server {
    child: Child,
    /// Closing it tells the child to exit, should this process die first.
    stdin: Option<ChildStdin>,
    base: String,
}

impl Server {
    fn start(exe: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .arg(SERVE_SUBCOMMAND)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} {SERVE_SUBCOMMAND}", exe.display()))?;
        let stdin = child.stdin.take();
        let mut reader = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut first = String::new();
        let read = reader.read_line(&mut first);
        let base = first.trim().to_owned();
        if read.is_err() || !base.starts_with("http://") {
            let _ = child.kill();
            let status = child.wait();
            bail!(
                "{} {SERVE_SUBCOMMAND} printed no URL (exit: {status:?})",
                exe.display()
            );
        }
        // Keep draining, so the child never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Ok(Self { child, stdin, base })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves the blob directory `dir` (laid out as a mirror directory:
/// `tuf/metadata/`, `tuf/targets/`, `files/`) read-only on a free loopback
/// port with bulwark-mirror's router, the one `bulwark serve --mirror`
/// runs. Prints the base URL as the first line of stdout and exits when
/// stdin closes.
pub fn serve_mirror(dir: &Path) -> anyhow::Result<()> {
    let state = bulwark_mirror::serve::open(dir)?;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "http://{addr}")?;
            out.flush()?;
        }
        bulwark_mirror::serve::serve(listener, state, ConnectionLimits::default())
            .await
            .context("the server stopped")
    })
}

/// This process's CPU time so far (user + system, every thread).
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Our samples, and the CPU of building the HTTP client in each.
fn measure_ours(
    lookup: &Lookup,
    work: &Path,
    samples: usize,
) -> anyhow::Result<(Samples, Vec<f64>)> {
    // Built once, outside the timed sections: a current-thread runtime, so
    // the lookup runs on this thread and no worker threads idle beside it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (mut out, mut http_client) = (Samples::default(), Vec::new());
    for n in 1..=samples {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-")
            .tempdir_in(work)?;
        let (metadata, targets) = (dir.path().join("metadata"), dir.path().join("targets"));
        std::fs::create_dir(&metadata)?;
        std::fs::create_dir(&targets)?;

        let (cpu, wall) = (cpu_time(), Instant::now());
        let verified = runtime.block_on(ours_once(lookup, &metadata, &targets));
        let (cpu, wall) = (cpu_time().saturating_sub(cpu), wall.elapsed());

        let (sha256, fetcher_cpu) =
            verified.with_context(|| format!("bulwark's lookup {n} failed"))?;
        if sha256 != lookup.sha256 {
            bail!("bulwark's lookup {n} verified {sha256}, not the stored {FILENAME}");
        }
        out.cpu_ms.push(cpu.as_secs_f64() * 1e3);
        out.wall_ms.push(wall.as_secs_f64() * 1e3);
        http_client.push(fetcher_cpu.as_secs_f64() * 1e3);
        // Let the dropped connection's task finish before the next sample.
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
    }
    Ok((out, http_client))
}

/// The timed section of our side; returns the verified file's sha256 and
/// the CPU time that building the HTTP client took.
async fn ours_once(
    lookup: &Lookup,
    metadata: &Path,
    targets: &Path,
) -> anyhow::Result<(String, Duration)> {
    let store = MetadataDir::open(metadata)?;
    store.write(&RoleName::new(RoleName::ROOT), &lookup.root)?;
    let started = cpu_time();
    let fetcher = Fetcher::new(FetchConfig::default())?;
    let fetcher_cpu = cpu_time().saturating_sub(started);
    let mut updater = Updater::new(
        store,
        &lookup.metadata_url,
        fetcher.clone(),
        Limits::default(),
        now(),
    )?;
    updater.refresh().await.context("refresh failed")?;
    let page_target = layout::page_target(PROJECT);
    let info = updater.target_info(&page_target).await?;
    let dest = targets.join(percent_encode(&page_target));
    updater
        .download_target(&page_target, &info, &lookup.targets_url, &dest)
        .await?;
    let page = ProjectPage::parse_json(&std::fs::read(&dest)?)?;
    let file = page
        .files
        .iter()
        .find(|f| f.filename.as_str() == FILENAME)
        .with_context(|| format!("{FILENAME} is not on {page_target}"))?;
    // The page's URLs are relative to its own directory (DESIGN.md §2).
    let url = reqwest::Url::parse(&lookup.targets_url)?
        .join(&page_target)?
        .join(&file.url)?;
    let bytes = fetcher
        .fetch(
            url.as_str(),
            file.size.unwrap_or(bulwark_pypi::MAX_UNSTATED_FILE_SIZE),
        )
        .await?;
    check_length(bytes.len() as u64, file.size)?;
    let sha256 = sha256_hex(&bytes);
    if sha256 != file.sha256 {
        bail!("{url}: sha256 {sha256} does not match the page");
    }
    Ok((sha256, fetcher_cpu))
}

fn measure_python(lookup: &Lookup, work: &Path, config: &ClientConfig) -> anyhow::Result<Python> {
    if !config.python.is_file() {
        return Ok(Python::NotMeasured(format!(
            "python-tuf not measured: run scripts/python-env ({} does not exist)",
            config.python.display()
        )));
    }
    let root = work.join("1.root.json");
    std::fs::write(&root, &lookup.root)?;
    let script = script();
    let output = Command::new(&config.python)
        .arg(&script)
        .arg("--root")
        .arg(&root)
        .args(["--metadata-url", &lookup.metadata_url])
        .args(["--targets-url", &lookup.targets_url])
        .args(["--project", PROJECT, "--filename", FILENAME])
        .arg("--work-dir")
        .arg(work.join("python"))
        .args(["--samples", &config.samples.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", config.python.display()))?;
    if !output.status.success() {
        bail!(
            "python-tuf's lookup failed ({}, {}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_python(&output.stdout, &lookup.sha256, config.samples)
        .with_context(|| format!("unexpected output from {}", script.display()))
}

/// Reads `ngclient_cpu.py`'s report and checks that it verified `sha256`
/// in every one of `samples` lookups.
fn parse_python(stdout: &[u8], sha256: &str, samples: usize) -> anyhow::Result<Python> {
    let value = json::parse(stdout)?;
    let Value::Object(top) = value else {
        bail!("not a JSON object");
    };
    let string = |key: &str| match top.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(anyhow::anyhow!("no string {key:?}")),
    };
    let micros = |key: &str| -> anyhow::Result<Vec<f64>> {
        let Some(Value::Array(items)) = top.get(key) else {
            bail!("no array {key:?}");
        };
        items
            .iter()
            .map(|v| match v {
                Value::Int(us) if *us >= 0 => Ok(float(u64::try_from(*us)?) / 1e3),
                _ => bail!("{key:?} holds something other than microseconds"),
            })
            .collect()
    };
    let verified = string("verified_sha256")?;
    if verified != sha256 {
        bail!("python-tuf verified {verified}, not the stored {FILENAME}");
    }
    let measured = Samples {
        cpu_ms: micros("cpu_us")?,
        wall_ms: micros("wall_us")?,
    };
    if measured.cpu_ms.len() != samples || measured.wall_ms.len() != samples {
        bail!(
            "{} samples reported, {samples} asked for",
            measured.cpu_ms.len()
        );
    }
    Ok(Python::Measured {
        tuf_version: string("tuf_version")?,
        python_version: string("python_version")?,
        samples: measured,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_is_deterministic_and_64_kib() {
        let bytes = distribution();
        assert_eq!(bytes.len() as u64, FILE_BYTES);
        assert_eq!(bytes, distribution());
    }

    #[test]
    fn python_report_must_verify_the_stored_file() {
        let report = br#"{"tuf_version": "7.0.1", "python_version": "3.11.7",
            "verified_sha256": "ab", "cpu_us": [1500, 2500], "wall_us": [3000, 4000]}"#;
        let Python::Measured { samples, .. } = parse_python(report, "ab", 2).unwrap() else {
            panic!("not measured");
        };
        assert_eq!(samples.cpu_ms, [1.5, 2.5]);
        assert!(parse_python(report, "cd", 2).is_err(), "another file");
        assert!(parse_python(report, "ab", 3).is_err(), "samples missing");
    }
}
