//! Upload→published delay of developer-signed transactions (issue 11,
//! "Measure"), paired with twine-style uploads in the same run, through
//! the server's own path: real HTTP requests (reqwest, multipart bodies as
//! twine and `bulwark upload --key` send them) to `bulwark-server`'s router
//! on loopback, over the benchmark repository's stores, and the publisher
//! run as the server's publisher task runs it (`publisher::run_once` on
//! every wake-up from the handlers' `Notify`).
//!
//! ```text
//! set-up: claims::claim (2×S projects) ─▶ claims::promote (S of them) ─▶ a token for the owner
//! per sample, in rotating order, one at a time on an idle index:
//!   twine:            real wheel ─▶ POST /legacy/                         (unclaimed project)
//!   recently-claimed: real wheel, next page, role v+1 signed ─▶ POST /api/projects/<p>/transaction
//!   claimed:          same, for a project promoted to claimed
//!   t0 = just before the request; accepted = its 200; published = the end of the
//!   publisher run after which the store's published page is the new one
//!   (`timestamp.json` is written before `run_once` returns)
//! ```
//!
//! What a developer's client does before the request (inspecting the
//! wheel, rendering the page, signing the role) is not part of the delay,
//! as building twine's form is not. Nothing here is asserted about timing.

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bulwark_pypi::Limits;
use bulwark_repo::Publisher;
use bulwark_repo::clock::unix_micros;
use bulwark_repo::transaction::UploadedFile;
use bulwark_store::StateStore;
use bulwark_tuf::hash::{HashAlgorithm, sha256_hex};
use tokio::sync::{Notify, oneshot};

use crate::claims::{self, Developers};
use crate::index::Index;
use crate::repo::BenchRepo;
use crate::stats::{Spread, nearest_rank};
use crate::synth::{self, Rng, UPLOADER};

/// How long one sample may take before the run fails.
const TIMEOUT: Duration = Duration::from_mins(2);
/// Bytes of incompressible payload in each wheel.
const PAYLOAD: usize = 4096;

/// What kind of upload a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadKind {
    /// `POST /legacy/` to an unclaimed project.
    Twine,
    /// A transaction of a recently-claimed project.
    RecentlyClaimed,
    /// A transaction of a claimed project.
    Claimed,
}

impl UploadKind {
    /// The kind's name in the report.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Twine => "twine upload (unclaimed)",
            Self::RecentlyClaimed => "transaction (recently-claimed)",
            Self::Claimed => "transaction (claimed)",
        }
    }

    const ALL: [Self; 3] = [Self::Twine, Self::RecentlyClaimed, Self::Claimed];
}

/// The samples of one kind, milliseconds, in measurement order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The kind.
    pub kind: UploadKind,
    /// Request sent → its 200.
    pub accepted_ms: Vec<f64>,
    /// Request sent → the end of the publish run that published it.
    pub published_ms: Vec<f64>,
}

impl Series {
    fn new(kind: UploadKind) -> Self {
        Self {
            kind,
            accepted_ms: Vec::new(),
            published_ms: Vec::new(),
        }
    }

    /// Median of the upload→published delays.
    #[must_use]
    pub fn median(&self) -> f64 {
        Spread::of(&self.published_ms).median
    }

    /// 95th percentile (nearest rank) of the upload→published delays.
    #[must_use]
    pub fn p95(&self) -> f64 {
        nearest_rank(&self.published_ms, 95)
    }

    /// Median of request→200.
    #[must_use]
    pub fn accepted_median(&self) -> f64 {
        Spread::of(&self.accepted_ms).median
    }
}

/// What `transaction-latency` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionResult {
    /// Projects in the repository.
    pub projects: u64,
    /// `log2` of its bin count.
    pub bin_bits: u32,
    /// Claims in the repository while measuring (those of this benchmark
    /// included).
    pub claims: usize,
    /// Size of each uploaded wheel.
    pub wheel_bytes: u64,
    /// Twine uploads, then transactions of recently-claimed and claimed projects.
    pub series: Vec<Series>,
}

impl TransactionResult {
    /// The series of `kind`.
    #[must_use]
    pub fn series(&self, kind: UploadKind) -> Option<&Series> {
        self.series.iter().find(|s| s.kind == kind)
    }

    /// Median over samples of `kind`'s delay divided by the twine delay of
    /// the same round (the paired ratio).
    #[must_use]
    pub fn paired_ratio(&self, kind: UploadKind) -> Option<f64> {
        let (ours, twine) = (self.series(kind)?, self.series(UploadKind::Twine)?);
        let ratios: Vec<f64> = ours
            .published_ms
            .iter()
            .zip(&twine.published_ms)
            .map(|(a, b)| a / b.max(1e-9))
            .collect();
        (!ratios.is_empty()).then(|| Spread::of(&ratios).median)
    }
}

/// A wheel of `project` `version` (a module of [`PAYLOAD`] random bytes,
/// `METADATA`, `WHEEL`, `RECORD`): its filename and bytes.
pub fn wheel(project: &str, version: &str, seed: u64) -> anyhow::Result<(String, Vec<u8>)> {
    let stem = project.replace('-', "_");
    let dist_info = format!("{stem}-{version}.dist-info");
    let mut rng = Rng::new(seed);
    let mut payload = Vec::with_capacity(PAYLOAD);
    while payload.len() < PAYLOAD {
        payload.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nRequires-Python: >=3.9\n"
    );
    let entries: [(String, &[u8]); 4] = [
        (format!("{stem}/data.bin"), &payload),
        (format!("{dist_info}/METADATA"), metadata.as_bytes()),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: bulwark-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (format!("{dist_info}/RECORD"), b""),
    ];
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(name, options)?;
        writer.write_all(data)?;
    }
    Ok((
        format!("{stem}-{version}-py3-none-any.whl"),
        writer.finish()?.into_inner(),
    ))
}

/// A `multipart/form-data` body: text fields, then file parts.
struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    fn new(seed: u64) -> Self {
        Self {
            boundary: format!(
                "bulwark-bench-{seed:016x}{:016x}",
                Rng::new(seed).next_u64()
            ),
            body: Vec::new(),
        }
    }

    fn part(&mut self, name: &str, filename: Option<&str>, bytes: &[u8]) {
        let disposition = match filename {
            Some(f) => format!(
                "form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            ),
            None => format!("form-data; name=\"{name}\""),
        };
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: {disposition}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
    }

    fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// The fields twine sends for a wheel.
fn twine_form(project: &str, version: &str, filename: &str, bytes: &[u8], seed: u64) -> Form {
    let mut form = Form::new(seed);
    let blake2 = bulwark_tuf::hex::encode(&HashAlgorithm::Blake2b256.digest(bytes));
    for (key, value) in [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("metadata_version", "2.1"),
        ("name", project),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("sha256_digest", &sha256_hex(bytes)),
        ("blake2_256_digest", &blake2),
    ] {
        form.part(key, None, value.as_bytes());
    }
    form.part("content", Some(filename), bytes);
    form
}

/// What the publisher task is waiting to see published.
struct Awaited {
    project: String,
    /// The published page's SHA-256 must be this one (`Ok`), or another
    /// than this one (`Err`).
    page: Result<String, String>,
    done: oneshot::Sender<Instant>,
}

type Slot = Arc<Mutex<Option<Awaited>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's publisher task (`bulwark_server::publisher::run`): a run,
/// then sleep until a handler wakes it or the interval passes; after each
/// run, also tells whoever waits whether their change is now published.
async fn publisher_task(
    publisher: Arc<Publisher>,
    wake: Arc<Notify>,
    store: Arc<dyn StateStore>,
    slot: Slot,
    interval: Duration,
) {
    let stats = bulwark_server::publisher::PublishStats::default();
    loop {
        bulwark_server::publisher::run_once(&publisher, &stats).await;
        let ended = Instant::now();
        let waiting = lock(&slot).take();
        if let Some(awaited) = waiting {
            let (store, project) = (store.clone(), awaited.project.clone());
            let page = tokio::task::spawn_blocking(move || store.page(&project))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .map(|p| p.sha256);
            let shows_it = match (&awaited.page, page) {
                (Ok(want), Some(sha)) => *want == sha,
                (Err(old), Some(sha)) => *old != sha,
                (_, None) => false,
            };
            if shows_it {
                let _ = awaited.done.send(ended);
            } else {
                *lock(&slot) = Some(awaited);
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One prepared upload.
struct Prepared {
    url: String,
    wheel_bytes: u64,
    form: (String, Vec<u8>),
    project: String,
    page: Result<String, String>,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct TransactionConfig {
    /// Samples of each kind.
    pub samples: u64,
}

/// Picks `count` unclaimed synthetic projects with a published page, from
/// the top of the synthetic range down (claims elsewhere take a stride
/// from the bottom).
fn unclaimed_projects(repo: &BenchRepo, projects: u64, count: u64) -> anyhow::Result<Vec<String>> {
    let mut picked = Vec::new();
    for i in (1..projects).rev() {
        if picked.len() as u64 == count {
            break;
        }
        let name = synth::project_name(i);
        if repo.store.claim(&name)?.is_none() && repo.store.page(&name)?.is_some() {
            picked.push(name);
        }
    }
    if (picked.len() as u64) < count {
        bail!(
            "only {} unclaimed projects of {projects}, {count} needed",
            picked.len()
        );
    }
    Ok(picked)
}

/// Claims `2 × samples` projects (half promoted to claimed), then uploads
/// `samples` of each kind through HTTP, one at a time, in rotating order.
pub fn run(
    repo: &BenchRepo,
    projects: u64,
    config: &TransactionConfig,
) -> anyhow::Result<TransactionResult> {
    let s = config.samples.max(1);
    let picked = unclaimed_projects(repo, projects, 3 * s)?;
    let (twine_projects, rest) = picked.split_at(usize::try_from(s)?);
    let (recent_projects, claimed_projects) = rest.split_at(usize::try_from(s)?);
    let mut developers = Developers::default();
    claims::claim(repo, rest, &mut developers)?;
    claims::promote(repo, claimed_projects)?;
    let claims_now = repo.store.claims()?.len();

    let index = Index::start(repo)?;
    let slot: Slot = Arc::default();
    index.runtime().spawn(publisher_task(
        repo.publisher.clone(),
        index.state.publish.clone(),
        repo.store.clone(),
        slot.clone(),
        index.state.config.publish_interval,
    ));
    let token = bulwark_server::auth::create_token(repo.store.as_ref(), UPLOADER, unix_micros())?;
    let client = reqwest::Client::new();

    let mut series: Vec<Series> = UploadKind::ALL.into_iter().map(Series::new).collect();
    let mut wheel_bytes = 0;
    for round in 0..s {
        let j = usize::try_from(round)?;
        for step in 0..3 {
            let kind = UploadKind::ALL[(j + step) % 3];
            let project = match kind {
                UploadKind::Twine => &twine_projects[j],
                UploadKind::RecentlyClaimed => &recent_projects[j],
                UploadKind::Claimed => &claimed_projects[j],
            };
            let seed = round * 3 + step as u64;
            let prepared = prepare(repo, &index, &developers, kind, project, seed)?;
            wheel_bytes = prepared.wheel_bytes;
            let (accepted, published) = index.block_on(send(&client, &token, &slot, prepared))?;
            let entry = &mut series[UploadKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)];
            entry.accepted_ms.push(accepted.as_secs_f64() * 1e3);
            entry.published_ms.push(published.as_secs_f64() * 1e3);
        }
        if (round + 1) % 50 == 0 {
            eprintln!("transaction latency: {} rounds of 3", round + 1);
        }
    }
    drop(index);
    Ok(TransactionResult {
        projects,
        bin_bits: repo.policy.bin_bits,
        claims: claims_now,
        wheel_bytes,
        series,
    })
}

/// Builds the request of one sample (not timed).
fn prepare(
    repo: &BenchRepo,
    index: &Index,
    developers: &Developers,
    kind: UploadKind,
    project: &str,
    seed: u64,
) -> anyhow::Result<Prepared> {
    let version = format!("900.{seed}");
    let (filename, bytes) = wheel(project, &version, seed)?;
    let current = repo
        .store
        .page(project)?
        .with_context(|| format!("{project} has no page"))?
        .sha256;
    if kind == UploadKind::Twine {
        return Ok(Prepared {
            url: format!("{}/legacy/", index.base),
            wheel_bytes: bytes.len() as u64,
            form: twine_form(project, &version, &filename, &bytes, seed).finish(),
            project: project.to_owned(),
            page: Err(current),
        });
    }
    let inspected = bulwark_pypi::inspect_bytes(&filename, &bytes, &Limits::default())?;
    let uploaded = UploadedFile::from(&inspected);
    let release = claims::release(repo, developers, project, &[uploaded], unix_micros())?;
    let mut form = Form::new(seed);
    form.part("role", Some("role.json"), &release.role);
    form.part("page", Some("index.json"), &release.page);
    form.part("content", Some(&filename), &bytes);
    Ok(Prepared {
        url: format!("{}/api/projects/{project}/transaction", index.base),
        wheel_bytes: bytes.len() as u64,
        form: form.finish(),
        project: project.to_owned(),
        page: Ok(sha256_hex(&release.page)),
    })
}

/// Sends one upload; returns request→200 and request→published.
async fn send(
    client: &reqwest::Client,
    token: &str,
    slot: &Slot,
    prepared: Prepared,
) -> anyhow::Result<(Duration, Duration)> {
    let (done, published) = oneshot::channel();
    let (content_type, body) = prepared.form;
    let started = Instant::now();
    *lock(slot) = Some(Awaited {
        project: prepared.project.clone(),
        page: prepared.page,
        done,
    });
    let response = client
        .post(&prepared.url)
        .basic_auth("__token__", Some(token))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", prepared.url))?;
    let status = response.status();
    let accepted = started.elapsed();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!(
            "{} refused the upload to {}: {status} {text}",
            prepared.url,
            prepared.project
        );
    }
    let at = tokio::time::timeout(TIMEOUT, published)
        .await
        .with_context(|| format!("{} was not published in {TIMEOUT:?}", prepared.project))?
        .context("the publisher task ended")?;
    Ok((accepted, at.duration_since(started)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_pass_the_upload_inspection() {
        let (filename, bytes) = wheel("bench-0000007", "900.1", 1).unwrap();
        assert_eq!(filename, "bench_0000007-900.1-py3-none-any.whl");
        let inspected = bulwark_pypi::inspect_bytes(&filename, &bytes, &Limits::default()).unwrap();
        assert_eq!(inspected.size, bytes.len() as u64);
        assert!(bytes.len() > PAYLOAD, "the payload does not compress");
    }

    #[test]
    fn paired_ratio_is_the_median_of_per_round_ratios() {
        let series = |kind, published_ms: Vec<f64>| Series {
            kind,
            accepted_ms: vec![1.0; published_ms.len()],
            published_ms,
        };
        let result = TransactionResult {
            projects: 1,
            bin_bits: 4,
            claims: 2,
            wheel_bytes: 1,
            series: vec![
                series(UploadKind::Twine, vec![10.0, 20.0, 40.0]),
                series(UploadKind::Claimed, vec![20.0, 20.0, 20.0]),
            ],
        };
        assert_eq!(result.paired_ratio(UploadKind::Claimed), Some(1.0));
        assert_eq!(result.paired_ratio(UploadKind::RecentlyClaimed), None);
    }
}
