//! `bulwark import [--data-dir DIR] [--user USER] DIR`: publishes a
//! directory of existing distributions — the flat or per-project layout
//! pypiserver uses — through the same checks and the same storage path as
//! an upload, on every core, with a progress bar. The imported projects
//! belong to `--user`. The publisher then signs everything in one run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use bulwark_server::receive::Refusal;
use bulwark_store::AddFile;

use crate::config::{Settings, StoreFlags};
use crate::data::Data;

/// Options of `bulwark import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreFlags,
    /// The user who will own the imported projects (the one whose token
    /// uploads their next releases).
    #[arg(long)]
    user: String,
    /// The directory of distributions (searched recursively).
    dir: PathBuf,
}

/// What is done with a file found in the directory.
enum Found {
    /// A wheel or an sdist in a format the index accepts.
    Distribution,
    /// A distribution format the index does not accept, and why.
    Unsupported(&'static str),
    /// Anything else (a README, an index page …).
    Other,
}

/// Formats pypiserver directories hold that the index refuses, by suffix
/// of the lowercased name, with the reason given to the operator.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        ".egg",
        "eggs are not accepted (PEP 715: PyPI no longer accepts them)",
    ),
    (
        ".exe",
        "bdist_wininst installers are not accepted (PEP 527)",
    ),
    (".msi", "bdist_msi installers are not accepted (PEP 527)"),
    (".rpm", "bdist_rpm packages are not accepted (PEP 527)"),
    (".dmg", "bdist_dmg images are not accepted (PEP 527)"),
    (".tar.bz2", "sdists must be .tar.gz (PEP 625, PEP 527)"),
    (".tar.xz", "sdists must be .tar.gz (PEP 625, PEP 527)"),
    (".tar.z", "sdists must be .tar.gz (PEP 625, PEP 527)"),
    (".tbz", "sdists must be .tar.gz (PEP 625, PEP 527)"),
    (".tgz", "sdists must be named .tar.gz (PEP 625)"),
    (".tar", "sdists must be .tar.gz (PEP 625, PEP 527)"),
];

fn classify(path: &Path) -> Found {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if [".whl", ".tar.gz", ".zip"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Found::Distribution;
    }
    UNSUPPORTED
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or(Found::Other, |(_, why)| Found::Unsupported(why))
}

/// The files under `dir`: distributions to import, unsupported ones with
/// the reason, and how many others were passed over.
#[derive(Default)]
struct Listing {
    distributions: Vec<PathBuf>,
    unsupported: Vec<(PathBuf, &'static str)>,
    others: usize,
}

fn find(dir: &Path, found: &mut Listing) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        if kind.is_dir() {
            find(&entry.path(), found)?;
        } else if kind.is_file() {
            let path = entry.path();
            match classify(&path) {
                Found::Distribution => found.distributions.push(path),
                Found::Unsupported(why) => found.unsupported.push((path, why)),
                Found::Other => found.others += 1,
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    added: AtomicU64,
    present: AtomicU64,
    bytes: AtomicU64,
    refused: Mutex<Vec<String>>,
}

fn import_one(
    data: &Data,
    path: &Path,
    user: &str,
    limits: &bulwark_pypi::Limits,
    allow_local_versions: bool,
    tally: &Tally,
) -> anyhow::Result<()> {
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file name is not UTF-8")?;
    let mut source = std::fs::File::open(path).context("cannot read the file")?;
    let received =
        bulwark_server::receive::stage(data.blobs.as_ref(), filename.to_owned(), &mut source)
            .context("cannot copy the file into the blob store")?;
    let size = received.digests.size;
    let inspected = received.inspect(limits).map_err(|e| match e {
        Refusal::Invalid(e) => anyhow::anyhow!("invalid distribution: {e}"),
        Refusal::Unreadable(e) => anyhow::anyhow!("cannot read the staged copy: {e}"),
    })?;
    bulwark_server::release::check_local(inspected.filename.version(), allow_local_versions)?;
    let time_us = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    match bulwark_server::upload::ingest(
        data.store.as_ref(),
        data.blobs.as_ref(),
        &inspected,
        received.file,
        user,
        time_us,
        bulwark_repo::gc::RefusedBlobs::for_stores(data.shared),
    )? {
        AddFile::Added { .. } => tally.added.fetch_add(1, Ordering::Relaxed),
        AddFile::Identical => tally.present.fetch_add(1, Ordering::Relaxed),
        AddFile::Conflict => {
            bail!(
                "a different file with this name, or another spelling of it, is already in the index"
            )
        }
        AddFile::SecondSdist => bail!("the release already has an sdist (one per release)"),
        AddFile::Removed => {
            bail!("an administrator removed a file of this name: it is never reused")
        }
        AddFile::Forbidden => bail!("the project belongs to another user"),
        AddFile::Claimed => {
            bail!("the project is claimed: its developers add files with bulwark upload --key")
        }
        AddFile::Upstream => bail!(
            "the project is cached from upstream: release it first (bulwark upstream release)"
        ),
    };
    tally.bytes.fetch_add(size, Ordering::Relaxed);
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !bulwark_server::auth::valid_user(&args.user) {
        bail!("--user: user names are 1 to 100 characters of letters, digits, '.', '_' and '-'");
    }
    let settings = Settings::load(args.stores, None)?;
    crate::init_logging(None)?;
    let mut listing = Listing::default();
    find(&args.dir, &mut listing)?;
    let mut files = listing.distributions;
    files.sort();
    listing.unsupported.sort();
    for (path, why) in &listing.unsupported {
        eprintln!("skipped: {}: {why}", path.display());
    }
    let data = Data::open(&settings)?;
    let limits = bulwark_pypi::Limits::default();
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let tally = Tally::default();
    let queue = Mutex::new(files.iter());
    // Importing waits on fsync more than on the CPU: four workers per core
    // keep the disk busy and let their files share commits.
    let workers = 4 * std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(path) = queue.lock().ok().and_then(|mut q| q.next()) {
                    let allow_local = settings.allow_local_versions;
                    if let Err(e) =
                        import_one(&data, path, &args.user, &limits, allow_local, &tally)
                    {
                        let line = format!("{}: {}", path.display(), crate::chain(&e));
                        tally.refused.lock().map(|mut r| r.push(line)).ok();
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let refused = tally.refused.into_inner().unwrap_or_default();
    for line in &refused {
        eprintln!("refused: {line}");
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    let megabytes = tally.bytes.load(Ordering::Relaxed) as f64 / 1e6;
    println!(
        "imported {} files ({} already present, {} refused) in {seconds:.1} s, {:.1} MB/s",
        tally.added.load(Ordering::Relaxed),
        tally.present.load(Ordering::Relaxed),
        refused.len(),
        megabytes / seconds.max(1e-9),
    );
    if !listing.unsupported.is_empty() || listing.others > 0 {
        println!(
            "skipped {} files in formats the index does not accept (listed above) and {} other files",
            listing.unsupported.len(),
            listing.others
        );
    }
    if tally.added.load(Ordering::Relaxed) > 0 {
        println!(
            "projects new to the index belong to {0}: `bulwark token create {0}` makes the token that uploads their next releases",
            args.user
        );
    }
    crate::serve::publish_now(&data, &settings)?;
    if !refused.is_empty() {
        bail!("{} files were refused (listed above)", refused.len());
    }
    Ok(())
}
