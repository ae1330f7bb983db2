//! Metadata bytes per install: what an installer downloads beyond the
//! distribution and its page, read from the published repository, against
//! PEP 458's estimate and a per-file-target layout signed the same way.
//!
//! ```text
//! new user:       root, timestamp, snapshot, targets ─▶ claimed ─▶ recently-claimed
//!                 ─▶ unclaimed ─▶ bin-<hex>   (the delegation search, in order)
//! returning user: timestamp (same snapshot) | timestamp, snapshot, changed bin
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Context as _;
use bulwark_layout::{self as layout, CLAIMED, RECENTLY_CLAIMED, TIMESTAMP_KEY, UNCLAIMED};
use bulwark_repo::clock::{now, unix_micros};
use bulwark_repo::roles::{self, PublicKeyEntry};
use bulwark_store::{PageRecord, RoleRecord};
use bulwark_tuf::delegation::bin_index;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::metadata::{Envelope, SignedBody, TargetFile};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use crate::repo::BenchRepo;
use crate::stats::median_u64;
use crate::synth;

/// PEP 458's estimate (Table 3, V16): new user.
pub const PEP458_NEW_USER: u64 = 1_517_722;
/// PEP 458's estimate (V12): returning user, same snapshot.
pub const PEP458_RETURNING_SAME: u64 = 108_698;
/// PEP 458's estimate (V14): returning user, new snapshot.
pub const PEP458_RETURNING_NEW: u64 = 207_002;
/// RSTUF's default number of bins, for the per-file-target model.
pub const PER_FILE_BIN_BITS: u32 = 8;
/// The bin counts of the trade-off table.
pub const TABLE_BIN_BITS: [u32; 6] = [6, 8, 10, 12, 14, 16];

/// One downloaded metadata file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What it is (its URL name).
    pub name: String,
    /// Bytes as served.
    pub raw: u64,
    /// Bytes gzip-compressed (default level).
    pub gzip: u64,
}

/// A list of downloads and its totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Download {
    /// The files, in fetch order.
    pub items: Vec<Item>,
}

impl Download {
    /// Adds a file of `bytes` named `name`.
    pub fn push(&mut self, name: impl Into<String>, bytes: &[u8]) {
        self.items.push(Item {
            name: name.into(),
            raw: bytes.len() as u64,
            gzip: gzip_len(bytes),
        });
    }

    /// Total raw bytes.
    #[must_use]
    pub fn raw(&self) -> u64 {
        self.items.iter().map(|i| i.raw).sum()
    }

    /// Total gzip bytes.
    #[must_use]
    pub fn gzip(&self) -> u64 {
        self.items.iter().map(|i| i.gzip).sum()
    }
}

/// One row of the bin-count trade-off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinRow {
    /// `log2` of the bin count.
    pub bin_bits: u32,
    /// Snapshot bytes, raw and gzip.
    pub snapshot: (u64, u64),
    /// Median bin bytes, raw and gzip.
    pub bin: (u64, u64),
    /// New user, gzip: fixed roles + snapshot + median bin.
    pub new_user_gzip: u64,
}

/// What `metadata-bytes` measured.
#[derive(Clone, Debug)]
pub struct BytesResult {
    /// Projects in the repository.
    pub projects: u64,
    /// `log2` of its bin count.
    pub bin_bits: u32,
    /// The project whose install is measured.
    pub project: String,
    /// New user (root v1 included; a client shipping it saves that line).
    pub new_user: Download,
    /// Returning user, snapshot unchanged.
    pub returning_same: Download,
    /// Returning user after one upload to the project.
    pub returning_new: Download,
    /// Median bin of the repository, raw and gzip.
    pub median_bin: (u64, u64),
    /// The per-file-target model: new user, returning (same), returning (new).
    pub per_file: [Download; 3],
    /// Targets in the per-file model.
    pub per_file_targets: u64,
    /// Bin count against snapshot and bin size.
    pub table: Vec<BinRow>,
}

/// Gzip-compressed length at the default level.
#[must_use]
pub fn gzip_len(bytes: &[u8]) -> u64 {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().map_or(0, |v| v.len() as u64)
}

fn sign<T: SignedBody>(body: T, key: &SigningKey) -> anyhow::Result<Vec<u8>> {
    let mut envelope = Envelope::new(body);
    envelope.sign(key)?;
    Ok(envelope.to_bytes())
}

fn blob(repo: &BenchRepo, key: &str) -> anyhow::Result<Vec<u8>> {
    repo.blobs
        .get(key)?
        .with_context(|| format!("{key} is missing"))
}

fn role_versions(repo: &BenchRepo) -> anyhow::Result<BTreeMap<String, RoleRecord>> {
    Ok(repo
        .store
        .roles()?
        .into_iter()
        .map(|r| (r.role.clone(), r))
        .collect())
}

fn role_file(
    repo: &BenchRepo,
    roles: &BTreeMap<String, RoleRecord>,
    role: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let version = roles
        .get(role)
        .with_context(|| format!("{role} is not published"))?
        .version;
    let key = layout::metadata_key(role, version);
    let bytes = blob(repo, &key)?;
    Ok((
        key.trim_start_matches(layout::METADATA_PREFIX).to_owned(),
        bytes,
    ))
}

/// Every published page record.
fn all_pages(repo: &BenchRepo) -> anyhow::Result<Vec<PageRecord>> {
    let mut pages = Vec::new();
    for bin in 0..repo.policy.bin_count() {
        pages.extend(repo.store.pages_in_bin(bin)?);
    }
    Ok(pages)
}

/// Measures an installation of one project from the published repository
/// `repo` (built by [`crate::publish`]), then the models.
pub fn run(repo: &BenchRepo, projects: u64) -> anyhow::Result<BytesResult> {
    let project = synth::project_name(0);
    let bin_bits = repo.policy.bin_bits;
    let roles = role_versions(repo)?;
    let bin_role = layout::bin_name(layout::bin_of(&project, bin_bits), bin_bits);

    // The delegation search for simple/<project>/index.json visits targets'
    // delegations in order (none terminating): claimed and recently-claimed
    // (empty), then unclaimed, whose succinct bins name one bin.
    let mut new_user = Download::default();
    let root = blob(repo, &layout::metadata_key(RoleName::ROOT, 1))?;
    new_user.push("1.root.json", &root);
    new_user.push("timestamp.json", &blob(repo, TIMESTAMP_KEY)?);
    // What a new user downloads whatever the bin count: the bin table adds
    // the timestamp, snapshot and bin of each layout to it.
    let mut fixed = Download::default();
    fixed.push("1.root.json", &root);
    for role in [
        RoleName::SNAPSHOT,
        RoleName::TARGETS,
        CLAIMED,
        RECENTLY_CLAIMED,
        UNCLAIMED,
        &bin_role,
    ] {
        let (name, bytes) = role_file(repo, &roles, role)?;
        new_user.push(name.clone(), &bytes);
        if role != RoleName::SNAPSHOT && role != bin_role {
            fixed.push(name, &bytes);
        }
    }
    let returning_same = Download {
        items: vec![new_user.items[1].clone()],
    };

    // The median bin, and a sample of bins for its compressed size.
    let bin_lengths: Vec<u64> = roles
        .values()
        .filter(|r| r.role.starts_with("bin-"))
        .map(|r| r.length)
        .collect();
    let median_bin_raw = median_u64(&bin_lengths);
    let step = (repo.policy.bin_count() / 64).max(1);
    let mut sampled = Vec::new();
    for bin in (0..repo.policy.bin_count()).step_by(step as usize) {
        let (_, bytes) = role_file(repo, &roles, &layout::bin_name(bin, bin_bits))?;
        sampled.push(gzip_len(&bytes));
    }
    let median_bin = (median_bin_raw, median_u64(&sampled));

    let pages = all_pages(repo)?;
    let table = bin_table(&roles, &pages, &fixed, new_user.items[1].gzip)?;
    let per_file = per_file_model(repo, projects, &pages, &new_user.items[0])?;

    // A returning user after one upload to the project: the new timestamp,
    // the new snapshot and the re-signed bin.
    let file = synth::file(0, synth::files_of(0) + 1_000_000, unix_micros());
    repo.store.add_file(&project, &file)?;
    repo.publisher
        .run_once(now())?
        .context("a run after an upload publishes it")?;
    let roles = role_versions(repo)?;
    let mut returning_new = Download::default();
    returning_new.push("timestamp.json", &blob(repo, TIMESTAMP_KEY)?);
    for role in [RoleName::SNAPSHOT, &bin_role] {
        let (name, bytes) = role_file(repo, &roles, role)?;
        returning_new.push(name, &bytes);
    }

    Ok(BytesResult {
        projects,
        bin_bits,
        project,
        new_user,
        returning_same,
        returning_new,
        median_bin,
        per_file: per_file.0,
        per_file_targets: per_file.1,
        table,
    })
}

fn expires() -> Timestamp {
    now().plus_seconds(86_400)
}

/// Each bin's signed length, and the bytes of the bins asked for.
type SignedBins = (Vec<u64>, BTreeMap<usize, Vec<u8>>);

/// Signs the bins of `targets` grouped by `bin_of`, returning each bin's
/// signed bytes length (raw) and, for the bins in `keep`, the bytes.
fn sign_bins(
    key: &SigningKey,
    version: u64,
    grouped: Vec<BTreeMap<String, TargetFile>>,
    keep: &[usize],
) -> anyhow::Result<SignedBins> {
    let expires = expires();
    let mut lengths = Vec::with_capacity(grouped.len());
    let mut kept = BTreeMap::new();
    for (i, targets) in grouped.into_iter().enumerate() {
        let bytes = sign(roles::bin(targets, version, expires), key)?;
        lengths.push(bytes.len() as u64);
        if keep.contains(&i) {
            kept.insert(i, bytes);
        }
    }
    Ok((lengths, kept))
}

fn page_target(page: &PageRecord) -> TargetFile {
    TargetFile {
        length: page.length,
        hashes: BTreeMap::from([("sha256".to_owned(), page.sha256.clone())]),
        unknown: BTreeMap::new(),
    }
}

fn sample(count: usize) -> Vec<usize> {
    (0..count).step_by((count / 64).max(1)).collect()
}

/// Bin count against snapshot size and bin size, with Bulwark's layout
/// (one page per project), re-signed for each count.
fn bin_table(
    roles: &BTreeMap<String, RoleRecord>,
    pages: &[PageRecord],
    fixed: &Download,
    timestamp_gzip: u64,
) -> anyhow::Result<Vec<BinRow>> {
    let key = SigningKey::generate(Algorithm::Ed25519)?;
    let version = roles.get(RoleName::SNAPSHOT).map_or(1, |r| r.version);
    let mut rows = Vec::new();
    for bits in TABLE_BIN_BITS {
        let count = 1usize << bits;
        let mut grouped = vec![BTreeMap::new(); count];
        for page in pages {
            grouped[layout::bin_of(&page.project, bits) as usize]
                .insert(layout::page_target(&page.project), page_target(page));
        }
        let keep = sample(count);
        let (lengths, kept) = sign_bins(&key, version, grouped, &keep)?;
        let gz: Vec<u64> = kept.values().map(|b| gzip_len(b)).collect();
        let listed = [RoleName::TARGETS, CLAIMED, RECENTLY_CLAIMED, UNCLAIMED]
            .into_iter()
            .map(|r| (r.to_owned(), roles.get(r).map_or(1, |r| r.version)))
            .chain((0..1u32 << bits).map(|b| (layout::bin_name(b, bits), version)));
        let snapshot = sign(roles::snapshot(listed, version, expires()), &key)?;
        let snapshot = (snapshot.len() as u64, gzip_len(&snapshot));
        let bin = (median_u64(&lengths), median_u64(&gz));
        rows.push(BinRow {
            bin_bits: bits,
            snapshot,
            bin,
            new_user_gzip: fixed.gzip() + timestamp_gzip + snapshot.1 + bin.1,
        });
    }
    Ok(rows)
}

/// The per-file-target layout of PEP 458 and RSTUF: every distribution
/// (`packages/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<filename>`, length and
/// BLAKE2b-256, as Warehouse names them) and every project page is a
/// target, in 256 succinct bins delegated from targets. Installing one
/// project needs the bin of its page and the bin of its distribution.
fn per_file_model(
    repo: &BenchRepo,
    projects: u64,
    pages: &[PageRecord],
    root: &Item,
) -> anyhow::Result<([Download; 3], u64)> {
    let key = SigningKey::generate(Algorithm::Ed25519)?;
    let entry = PublicKeyEntry::from_object(&key.public_key_object())?;
    let count = 1usize << PER_FILE_BIN_BITS;
    let bin_of =
        |path: &str| usize::try_from(bin_index(path, PER_FILE_BIN_BITS)).unwrap_or(usize::MAX);
    let mut grouped = vec![BTreeMap::new(); count];
    let mut targets = 0u64;
    for page in pages {
        let path = layout::page_target(&page.project);
        grouped[bin_of(&path)].insert(path, page_target(page));
        targets += 1;
    }
    let mut sample_paths = (String::new(), String::new());
    for i in 0..projects {
        for file in repo.store.files(&synth::project_name(i))? {
            let b2 = &file.blake2b_256;
            let path = format!(
                "packages/{}/{}/{}/{}",
                &b2[..2],
                &b2[2..4],
                &b2[4..],
                file.filename
            );
            if i == 0 {
                sample_paths = (layout::page_target(&file.project), path.clone());
            }
            grouped[bin_of(&path)].insert(
                path,
                TargetFile {
                    length: file.size,
                    hashes: BTreeMap::from([("blake2b-256".to_owned(), b2.clone())]),
                    unknown: BTreeMap::new(),
                },
            );
            targets += 1;
        }
    }
    let (page_bin, file_bin) = (bin_of(&sample_paths.0), bin_of(&sample_paths.1));
    let version = 2;
    let (_, kept) = sign_bins(&key, version, grouped, &[page_bin, file_bin])?;
    let top = sign(
        roles::unclaimed(&entry, PER_FILE_BIN_BITS, 1, expires()),
        &key,
    )?;
    let listed = std::iter::once(("targets".to_owned(), 1)).chain(
        (0..1u32 << PER_FILE_BIN_BITS).map(|b| (layout::bin_name(b, PER_FILE_BIN_BITS), version)),
    );
    let snapshot = sign(roles::snapshot(listed, version, expires()), &key)?;
    let timestamp = sign(
        roles::timestamp(version, &snapshot, version, expires()),
        &key,
    )?;

    let mut bins = Download::default();
    let mut seen = Vec::new();
    for bin in [page_bin, file_bin] {
        if !seen.contains(&bin) {
            seen.push(bin);
            let bytes = kept.get(&bin).context("kept bin")?;
            bins.push(format!("bin-{bin:02x}.json"), bytes);
        }
    }
    let mut new_user = Download::default();
    new_user.items.push(root.clone());
    new_user.push("timestamp.json", &timestamp);
    new_user.push("snapshot.json", &snapshot);
    new_user.push("targets.json", &top);
    new_user.items.extend(bins.items.iter().cloned());
    let mut returning_same = Download::default();
    returning_same.push("timestamp.json", &timestamp);
    let mut returning_new = returning_same.clone();
    returning_new.push("snapshot.json", &snapshot);
    returning_new.items.extend(bins.items);
    Ok(([new_user, returning_same, returning_new], targets))
}
