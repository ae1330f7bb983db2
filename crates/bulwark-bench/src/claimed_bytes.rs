//! Metadata bytes per install with developer-claimed projects (issue 11,
//! "Measure"): what a TUF client downloads to find the page of a claimed,
//! a recently-claimed and an unclaimed project, on the published
//! repository, first with no claims (the baseline: what an unclaimed
//! lookup costs today), then after claiming more and more projects, all in
//! one run on one repository.
//!
//! ```text
//! BenchRepo (published, N projects) ─▶ Index (bulwark-server's router, request log)
//!   baseline:  bulwark-client Updater, cold dir ─▶ find_target(simple/<p>/index.json)
//!   for each claim count C (cumulative; one claim in ten stays recently-claimed):
//!     claims::claim (developer-signed roles, index's check, record_transaction, run_once)
//!     claims::promote (ceremony: claimed + claimed-<hh>, offline key; run_once adopts)
//!     per project kind: new user (cold dir) ─▶ returning, same snapshot (same dir)
//!       ─▶ one release / upload to the project, run_once ─▶ returning, new snapshot
//! ```
//!
//! The files are what the real client fetched, as the index's request log
//! shows them (every `200` under `/tuf/metadata/`), the bytes as stored;
//! `1.root.json` is counted for a new user as in `bytes` (a client that
//! ships it saves that line). gzip is flate2's default level.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use bulwark_client::{FetchConfig, Fetcher, Limits, MetadataDir, Updater};
use bulwark_layout::{self as layout, CLAIMED, RECENTLY_CLAIMED};
use bulwark_repo::clock::{now, unix_micros};
use bulwark_store::AddFile;
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::names::RoleName;

use crate::bytes::{Download, gzip_len};
use crate::claims::{self, Developers};
use crate::index::Index;
use crate::repo::BenchRepo;
use crate::stats::median_u64;
use crate::synth;

/// One claim in this many stays recently-claimed; the others are promoted
/// to claimed (90 % / 10 %).
pub const RECENTLY_CLAIMED_EVERY: u64 = 10;

/// What a project is, for the lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Delegated by `claimed` (offline), through `claimed-<hh>`.
    Claimed,
    /// Delegated by `recently-claimed` (online), through `recently-claimed-<hh>`.
    RecentlyClaimed,
    /// Listed by a `bin-<hex>` of `unclaimed`.
    Unclaimed,
}

impl Kind {
    /// The kind's name in the report.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::RecentlyClaimed => "recently-claimed",
            Self::Unclaimed => "unclaimed",
        }
    }
}

/// One project's lookups.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// What the project is.
    pub kind: Kind,
    /// The project.
    pub project: String,
    /// The role the client found its page in.
    pub found_in: String,
    /// New user (root v1 included).
    pub new_user: Download,
    /// Returning user, snapshot unchanged.
    pub returning_same: Download,
    /// Returning user after one release (claimed) or upload (unclaimed) to
    /// the project and a publish run.
    pub returning_new: Download,
}

/// Median size of the claim bins of one tier, raw and gzip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimBins {
    /// Bins published.
    pub count: usize,
    /// Median raw bytes.
    pub raw: u64,
    /// Median gzip bytes.
    pub gzip: u64,
}

/// The repository with `claimed` claims.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Claimed projects (both tiers).
    pub claims: u64,
    /// Of which recently-claimed.
    pub recently_claimed: u64,
    /// Roles the snapshot lists.
    pub snapshot_roles: u64,
    /// The snapshot a new user downloads, raw and gzip.
    pub snapshot: (u64, u64),
    /// `claimed-<hh>` bins.
    pub claimed_bins: ClaimBins,
    /// `recently-claimed-<hh>` bins.
    pub recently_claimed_bins: ClaimBins,
    /// Seconds to sign, check and record the new claims (developer keys,
    /// roles, the index's check, `record_transaction`) and publish them.
    pub claim_secs: f64,
    /// Seconds to promote (ceremony roles signed, the publish run adopting them).
    pub promote_secs: f64,
    /// The lookups, unclaimed first.
    pub lookups: Vec<Lookup>,
    /// A new user's download of a claimed project's page with the
    /// snapshot replaced by TAP 16 snapshot Merkle proofs for each role
    /// on the path (a model, see [`tap16_proof`]).
    pub tap16_new_user: Option<Download>,
}

/// What `claimed-bytes` measured.
#[derive(Clone, Debug)]
pub struct ClaimedBytesResult {
    /// Projects in the repository.
    pub projects: u64,
    /// `log2` of its bin count.
    pub bin_bits: u32,
    /// The baseline (no claims) and each claim count.
    pub scenarios: Vec<Scenario>,
}

impl ClaimedBytesResult {
    /// The baseline: an unclaimed lookup with no claims.
    #[must_use]
    pub fn baseline(&self) -> Option<&Lookup> {
        self.scenarios
            .iter()
            .find(|s| s.claims == 0)
            .and_then(|s| s.lookups.iter().find(|l| l.kind == Kind::Unclaimed))
    }
}

/// The synthetic project claimed `k`-th: a stride through `1..projects`
/// (project 0 stays unclaimed), so claims spread over the name space and
/// every claim count's set contains the smaller ones'.
fn claim_order(projects: u64) -> impl Fn(u64) -> u64 {
    let span = projects.saturating_sub(1).max(1);
    let stride = [7_919_u64, 104_729, 1_299_709]
        .into_iter()
        .find(|p| gcd(*p, span) == 1)
        .unwrap_or(1);
    move |k| 1 + (k * stride) % span
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Whether claim `k` stays recently-claimed.
fn stays_recent(k: u64) -> bool {
    k % RECENTLY_CLAIMED_EVERY == RECENTLY_CLAIMED_EVERY - 1
}

/// The repository's root v1.
fn root(repo: &BenchRepo) -> anyhow::Result<Vec<u8>> {
    let key = layout::metadata_key(RoleName::ROOT, 1);
    repo.blobs
        .get(&key)?
        .with_context(|| format!("{key} is missing"))
}

/// One lookup of `project`'s page by the real client with the metadata
/// directory `dir` (cold when `new`): what it downloaded, and the role
/// that listed the page.
fn lookup(
    index: &Index,
    repo: &BenchRepo,
    dir: &Path,
    project: &str,
    new: bool,
) -> anyhow::Result<(Download, String)> {
    let root = root(repo)?;
    let metadata_url = format!("{}/{}", index.base, layout::METADATA_PREFIX);
    let path = layout::page_target(project);
    index.take_log();
    let found = index.block_on(async {
        let store = MetadataDir::open(dir)?;
        if new {
            store.write(&RoleName::new(RoleName::ROOT), &root)?;
        }
        let fetcher = Fetcher::new(FetchConfig::default())?;
        let mut updater = Updater::new(store, &metadata_url, fetcher, Limits::default(), now())?;
        anyhow::Ok(updater.find_target(&path).await?)
    })?;
    let log = index.take_log();
    let published = repo
        .store
        .page(project)?
        .with_context(|| format!("{project} has no page"))?;
    if found.target.hashes.get("sha256") != Some(&published.sha256) {
        bail!("the client found another page of {project} than the published one");
    }
    let mut download = Download::default();
    if new {
        download.push("1.root.json", &root);
    }
    for served in log {
        if served.status != 200 {
            continue;
        }
        if let Some(name) = served
            .path
            .strip_prefix(&format!("/{}", layout::METADATA_PREFIX))
        {
            let key = served.path.trim_start_matches('/');
            let bytes = repo
                .blobs
                .get(key)?
                .with_context(|| format!("{key} was served but is missing"))?;
            download.push(name, &bytes);
        }
    }
    Ok((download, found.role.as_str().to_owned()))
}

/// The category of a downloaded metadata file, for the itemised tables:
/// `root`, `timestamp`, `snapshot`, `targets`, `claimed`, `claimed-<hh>`,
/// `recently-claimed`, `recently-claimed-<hh>`, `unclaimed`, `bin`,
/// `project-<name>`.
#[must_use]
pub fn category(file: &str) -> &'static str {
    let stem = file.strip_suffix(".json").unwrap_or(file);
    let role = match stem.split_once('.') {
        Some((version, role)) if version.bytes().all(|b| b.is_ascii_digit()) => role,
        _ => stem,
    };
    match role {
        "root" => "root",
        "timestamp" => "timestamp",
        "snapshot" => "snapshot",
        "targets" => "targets",
        CLAIMED => "claimed",
        RECENTLY_CLAIMED => "recently-claimed",
        layout::UNCLAIMED => "unclaimed",
        r if layout::claim_bin_of_role(CLAIMED, r).is_some() => "claimed-<hh>",
        r if layout::claim_bin_of_role(RECENTLY_CLAIMED, r).is_some() => "recently-claimed-<hh>",
        r if r.starts_with(layout::PROJECT_ROLE_PREFIX) => "project-<name>",
        r if r.starts_with("bin-") => "bin",
        _ => "other",
    }
}

/// The categories in the order of the tables.
pub const CATEGORIES: [&str; 11] = [
    "root",
    "timestamp",
    "snapshot",
    "targets",
    "claimed",
    "claimed-<hh>",
    "recently-claimed",
    "recently-claimed-<hh>",
    "unclaimed",
    "bin",
    "project-<name>",
];

/// How to run.
#[derive(Clone, Debug)]
pub struct ClaimedBytesConfig {
    /// Projects in the repository (claims are taken from `1..projects`).
    pub projects: u64,
    /// Claim counts to measure at, ascending (each includes the previous).
    pub claims: Vec<u64>,
}

/// The default claim counts: 1 % and 10 % of the projects (10,000 and
/// 100,000 at 1M).
#[must_use]
pub fn default_claims(projects: u64) -> Vec<u64> {
    vec![projects / 100, projects / 10]
}

/// Measures the baseline, then claims up to each count and measures.
pub fn run(repo: &BenchRepo, config: &ClaimedBytesConfig) -> anyhow::Result<ClaimedBytesResult> {
    let mut claims = config.claims.clone();
    claims.sort_unstable();
    claims.dedup();
    claims.retain(|c| *c > 0);
    if claims.last().is_some_and(|c| *c >= config.projects) {
        bail!(
            "cannot claim {} of {} projects",
            claims.last().copied().unwrap_or(0),
            config.projects
        );
    }
    let index = Index::start(repo)?;
    let work = tempfile::Builder::new()
        .prefix("claimed-bytes-")
        .tempdir_in(repo.dir.path())?;
    let order = claim_order(config.projects);
    let mut developers = Developers::default();
    let mut scenarios = vec![measure(
        &index,
        repo,
        &order,
        work.path(),
        &developers,
        Claimed::default(),
    )?];
    let mut done = 0u64;
    for (n, &count) in claims.iter().enumerate() {
        let started = Instant::now();
        let new: Vec<u64> = (done..count).collect();
        let names: Vec<String> = new.iter().map(|k| synth::project_name(order(*k))).collect();
        claims::claim(repo, &names, &mut developers)?;
        let claim_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let promoted: Vec<String> = new
            .iter()
            .filter(|k| !stays_recent(**k))
            .map(|k| synth::project_name(order(*k)))
            .collect();
        if !promoted.is_empty() {
            claims::promote(repo, &promoted)?;
        }
        let promote_secs = started.elapsed().as_secs_f64();
        eprintln!(
            "claimed {count} projects: {} new claims in {claim_secs:.1} s, {} promoted in {promote_secs:.1} s",
            names.len(),
            promoted.len()
        );
        done = count;
        let dir = work.path().join(format!("{n}"));
        std::fs::create_dir_all(&dir)?;
        let recent = (0..count).filter(|k| stays_recent(*k)).count() as u64;
        scenarios.push(measure(
            &index,
            repo,
            &order,
            &dir,
            &developers,
            Claimed {
                count,
                recent,
                claim_secs,
                promote_secs,
            },
        )?);
    }
    Ok(ClaimedBytesResult {
        projects: config.projects,
        bin_bits: repo.policy.bin_bits,
        scenarios,
    })
}

fn claim_bins(
    repo: &BenchRepo,
    roles: &BTreeMap<String, u64>,
    tier: &str,
) -> anyhow::Result<ClaimBins> {
    let (mut raw, mut gzip) = (Vec::new(), Vec::new());
    for (role, version) in roles {
        if layout::claim_bin_of_role(tier, role).is_some() {
            let key = layout::metadata_key(role, *version);
            let bytes = repo
                .blobs
                .get(&key)?
                .with_context(|| format!("{key} is missing"))?;
            raw.push(bytes.len() as u64);
            gzip.push(gzip_len(&bytes));
        }
    }
    Ok(ClaimBins {
        count: raw.len(),
        raw: median_u64(&raw),
        gzip: median_u64(&gzip),
    })
}

/// How many projects are claimed, and how long claiming them took.
#[derive(Clone, Copy, Debug, Default)]
struct Claimed {
    count: u64,
    recent: u64,
    claim_secs: f64,
    promote_secs: f64,
}

/// Measures the three kinds of lookup on the repository as it is.
fn measure(
    index: &Index,
    repo: &BenchRepo,
    order: &dyn Fn(u64) -> u64,
    dir: &Path,
    developers: &Developers,
    state: Claimed,
) -> anyhow::Result<Scenario> {
    let Claimed {
        count,
        recent,
        claim_secs,
        promote_secs,
    } = state;
    let mut targets: Vec<(Kind, u64)> = vec![(Kind::Unclaimed, 0)];
    if count > 0 {
        targets.push((Kind::Claimed, 0));
    }
    if recent > 0 {
        targets.push((Kind::RecentlyClaimed, RECENTLY_CLAIMED_EVERY - 1));
    }
    let mut lookups = Vec::new();
    for (kind, k) in targets {
        let i = match kind {
            Kind::Unclaimed => 0,
            _ => order(k),
        };
        let project = synth::project_name(i);
        let dir = dir.join(kind.name());
        std::fs::create_dir_all(&dir)?;
        let (new_user, found_in) = lookup(index, repo, &dir, &project, true)?;
        let expected = match kind {
            Kind::Unclaimed => found_in.starts_with("bin-"),
            _ => found_in == layout::project_role(&project).as_str(),
        };
        if !expected {
            bail!(
                "the {} project {project} was found in {found_in}",
                kind.name()
            );
        }
        let (returning_same, _) = lookup(index, repo, &dir, &project, false)?;
        change(repo, developers, kind, i, count)?;
        let (returning_new, _) = lookup(index, repo, &dir, &project, false)?;
        lookups.push(Lookup {
            kind,
            project,
            found_in,
            new_user,
            returning_same,
            returning_new,
        });
    }
    let roles: BTreeMap<String, u64> = repo
        .store
        .roles()?
        .into_iter()
        .map(|r| (r.role, r.version))
        .collect();
    let snapshot_key = layout::metadata_key(
        RoleName::SNAPSHOT,
        *roles
            .get(RoleName::SNAPSHOT)
            .context("no snapshot published")?,
    );
    let snapshot = repo
        .blobs
        .get(&snapshot_key)?
        .with_context(|| format!("{snapshot_key} is missing"))?;
    let listed: Vec<(String, u64)> = roles
        .iter()
        .filter(|(r, _)| !matches!(r.as_str(), "root" | "timestamp" | "snapshot"))
        .map(|(r, v)| (r.clone(), *v))
        .collect();
    let tap16_new_user = lookups
        .iter()
        .find(|l| l.kind == Kind::Claimed)
        .map(|l| tap16_download(&l.new_user, &listed));
    Ok(Scenario {
        claims: count,
        recently_claimed: recent,
        snapshot_roles: listed.len() as u64,
        snapshot: (snapshot.len() as u64, gzip_len(&snapshot)),
        claimed_bins: claim_bins(repo, &roles, CLAIMED)?,
        recently_claimed_bins: claim_bins(repo, &roles, RECENTLY_CLAIMED)?,
        claim_secs,
        promote_secs,
        lookups,
        tap16_new_user,
    })
}

/// One change to `project` (`i`), published: a release of one new
/// distribution for a claimed project (a developer transaction, checked
/// and recorded as the index does), a twine-style upload for an unclaimed one.
fn change(
    repo: &BenchRepo,
    developers: &Developers,
    kind: Kind,
    i: u64,
    scenario: u64,
) -> anyhow::Result<()> {
    let project = synth::project_name(i);
    let n = synth::files_of(i) + 2_000_000 + scenario % 1_000_000;
    let file = synth::file(i, n, unix_micros());
    match kind {
        Kind::Unclaimed => match repo.store.add_file(&project, &file)? {
            AddFile::Added { .. } => {}
            other => bail!("the upload to {project} was refused: {other:?}"),
        },
        Kind::Claimed | Kind::RecentlyClaimed => {
            let uploaded = claims::uploaded(&file)?;
            let release = claims::release(
                repo,
                developers,
                &project,
                std::slice::from_ref(&uploaded),
                file.upload_time_us,
            )?;
            claims::record_release(repo, &release, &[uploaded])?;
        }
    }
    repo.publisher
        .run_once(now())?
        .with_context(|| format!("a run after the change to {project} publishes it"))?;
    Ok(())
}

/// A TAP 16 snapshot Merkle tree over the snapshot's `listed` roles, and
/// the proof file of `role` in it: `{"leaf_contents":{"<role>.json":{"version":V}},
/// "merkle_path":{"0":<hex>,…},"path_directions":{"0":"L"|"R",…}}`
/// (TAP 16's format; leaves are SHA-256 of the canonical leaf contents,
/// nodes SHA-256 of their children's hex digests, an odd node goes up
/// alone). A model: Bulwark does not publish these.
#[must_use]
pub fn tap16_proof(listed: &[(String, u64)], role: &str) -> Option<Vec<u8>> {
    use bulwark_tuf::json::{Value, to_vec};
    let leaf = |(name, version): &(String, u64)| {
        Value::Object(BTreeMap::from([(
            format!("{name}.json"),
            Value::Object(BTreeMap::from([(
                "version".to_owned(),
                Value::Int(i64::try_from(*version).unwrap_or(i64::MAX)),
            )])),
        )]))
    };
    let mut position = listed.iter().position(|(name, _)| name == role)?;
    let mut level: Vec<String> = listed
        .iter()
        .map(|l| sha256_hex(&to_vec(&leaf(l))))
        .collect();
    let (mut path, mut directions) = (BTreeMap::new(), BTreeMap::new());
    while level.len() > 1 {
        let sibling = position ^ 1;
        if let Some(hash) = level.get(sibling) {
            let index = path.len().to_string();
            path.insert(index.clone(), Value::String(hash.clone()));
            let side = if sibling < position { "L" } else { "R" };
            directions.insert(index, Value::String(side.to_owned()));
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => sha256_hex(format!("{a}{b}").as_bytes()),
                [a] => a.clone(),
                _ => String::new(),
            })
            .collect();
        position /= 2;
    }
    Some(to_vec(&Value::Object(BTreeMap::from([
        (
            "leaf_contents".to_owned(),
            leaf(&listed[listed.iter().position(|(n, _)| n == role)?]),
        ),
        ("merkle_path".to_owned(), Value::Object(path)),
        ("path_directions".to_owned(), Value::Object(directions)),
    ]))))
}

/// `download` with its snapshot replaced by the TAP 16 proofs of every
/// targets role it fetched.
fn tap16_download(download: &Download, listed: &[(String, u64)]) -> Download {
    let mut out = Download::default();
    for item in &download.items {
        if category(&item.name) == "snapshot" {
            continue;
        }
        out.items.push(item.clone());
    }
    for item in &download.items {
        let stem = item.name.strip_suffix(".json").unwrap_or(&item.name);
        let role = stem.split_once('.').map_or(stem, |(_, r)| r);
        if let Some(proof) = listed
            .iter()
            .any(|(name, _)| name == role)
            .then(|| tap16_proof(listed, role))
            .flatten()
        {
            out.push(format!("{role}.merkle.json"), &proof);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_order_is_a_permutation_without_project_zero() {
        for projects in [2u64, 10, 500, 1_000] {
            let order = claim_order(projects);
            let mut seen: Vec<u64> = (0..projects - 1).map(&order).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len() as u64, projects - 1, "{projects}");
            assert!(seen.iter().all(|i| (1..projects).contains(i)), "{projects}");
        }
    }

    #[test]
    fn categories_name_every_role_of_the_layout() {
        for (file, category_name) in [
            ("1.root.json", "root"),
            ("timestamp.json", "timestamp"),
            ("7.snapshot.json", "snapshot"),
            ("1.targets.json", "targets"),
            ("2.claimed.json", "claimed"),
            ("1.claimed-3f.json", "claimed-<hh>"),
            ("9.recently-claimed.json", "recently-claimed"),
            ("9.recently-claimed-07.json", "recently-claimed-<hh>"),
            ("1.unclaimed.json", "unclaimed"),
            ("9.bin-0a1.json", "bin"),
            ("3.project-bench-0000001.json", "project-<name>"),
        ] {
            assert_eq!(category(file), category_name, "{file}");
        }
    }

    #[test]
    fn tap16_proofs_lead_to_one_root() {
        let listed: Vec<(String, u64)> = (0..5).map(|i| (format!("r{i}"), i)).collect();
        let proof = tap16_proof(&listed, "r4").unwrap();
        let text = String::from_utf8(proof).unwrap();
        assert!(text.contains("\"r4.json\":{\"version\":4}"), "{text}");
        // Five leaves: r4 goes up alone twice, then meets the root's left half.
        assert!(text.contains("\"merkle_path\":{\"0\":"), "{text}");
        assert!(tap16_proof(&listed, "absent").is_none());
    }
}
