//! `bulwark upload`: a release.
//!
//! Without `--key`, each distribution is posted to `<index>/legacy/` as
//! twine posts it, and the index signs the page with its online key.
//!
//! With `--key`, the release is one developer-signed transaction: every
//! distribution is inspected here with the index's own checks, the new
//! page is the TUF-verified previous page plus the new files
//! (`transaction::next_page`), and the next version of `project-<name>`
//! lists it. A project TUF does not know yet is claimed by the same
//! transaction (its keys and threshold sent along); a project the index
//! signs for is refused, so that nobody claims one by accident. When TUF
//! finds the page in a nested role `project-<name>.<label>` (`bulwark
//! delegate`), the keys must be that role's, and only its next version
//! is signed and sent.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bulwark_pypi::{Inspected, ProjectName, UploadTime, render_json};
use bulwark_repo::transaction::{UploadedFile, next_page};

use crate::developer::{
    self, Delegation, DelegationArgs, ExpiryArgs, IndexArgs, Listed, Signers, Transaction, Tuf,
    WaitArgs,
};
use reqwest::multipart::Form;

/// Options of `bulwark upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    index: IndexArgs,
    /// The index's trusted root.json (needed with --key), which the
    /// project's page and role are verified against.
    #[arg(long, value_name = "FILE")]
    root: Option<PathBuf>,
    /// A developer key file (`bulwark key generate`) to sign the release
    /// with; repeat for several. Without any, files are uploaded as twine
    /// uploads them. Passphrases: `BULWARK_KEY_PASSPHRASE` or a prompt.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    delegation: DelegationArgs,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// The distributions (wheels and sdists) to upload.
    #[arg(required = true, value_name = "DIST")]
    dists: Vec<PathBuf>,
}

/// A distribution read and inspected.
struct Dist {
    filename: String,
    bytes: Vec<u8>,
    inspected: Inspected,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let base = args.index.base()?.to_owned();
    if args.keys.is_empty() && args.delegation.given() {
        bail!("--public-key and --threshold only apply with --key");
    }
    // Checked before any file is read.
    let root = if args.keys.is_empty() {
        None
    } else {
        Some(developer::required_root(args.root.as_deref())?)
    };
    let dists = args
        .dists
        .iter()
        .map(|p| read_dist(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match root {
        None => crate::tuf_client::runtime()?
            .block_on(async { legacy_upload(&args.index, &base, dists).await }),
        Some(root) => signed_upload(args, &base, root, dists),
    }
}

fn read_dist(path: &Path) -> anyhow::Result<Dist> {
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no usable file name", path.display()))?
        .to_owned();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The index inspects uploads with these limits by default.
    let inspected =
        bulwark_pypi::inspect_bytes(&filename, &bytes, &bulwark_pypi::Limits::default())
            .with_context(|| {
                format!("{} is not a distribution the index accepts", path.display())
            })?;
    Ok(Dist {
        filename,
        bytes,
        inspected,
    })
}

/// The one project of every distribution.
fn one_project<'a>(
    inspected: impl IntoIterator<Item = &'a Inspected>,
) -> anyhow::Result<ProjectName> {
    let mut project: Option<&Inspected> = None;
    for dist in inspected {
        match project {
            None => project = Some(dist),
            Some(first) if first.filename.name() != dist.filename.name() => bail!(
                "one upload is one project: {} is {}'s and {} is {}'s",
                first.filename.as_str(),
                first.filename.name().normalized(),
                dist.filename.as_str(),
                dist.filename.name().normalized()
            ),
            Some(_) => {}
        }
    }
    project
        .map(|d| d.filename.name().clone())
        .context("no distribution given")
}

/// Posts each file to `/legacy/` with the fields twine sends.
async fn legacy_upload(index: &IndexArgs, base: &str, dists: Vec<Dist>) -> anyhow::Result<()> {
    let url = format!("{base}/legacy/");
    for dist in dists {
        let form = legacy_form(&dist.inspected, &dist.filename, dist.bytes);
        developer::post(&url, &index.token, form, &dist.filename).await?;
        println!("uploaded {}", dist.filename);
    }
    Ok(())
}

/// The upload API form of one file (`:action=file_upload`, protocol 1).
fn legacy_form(inspected: &Inspected, filename: &str, bytes: Vec<u8>) -> Form {
    legacy_fields(inspected)
        .into_iter()
        .fold(Form::new(), |form, (name, value)| form.text(name, value))
        .part("content", developer::file_part(filename, bytes))
}

/// The text fields twine sends with a file.
fn legacy_fields(inspected: &Inspected) -> Vec<(&'static str, String)> {
    let (filetype, pyversion) = match inspected.filename.wheel_tags() {
        Some(tags) => ("bdist_wheel", tags.python()),
        None => ("sdist", "source"),
    };
    vec![
        (":action", "file_upload".to_owned()),
        ("protocol_version", "1".to_owned()),
        (
            "metadata_version",
            inspected.metadata.metadata_version().to_owned(),
        ),
        ("name", inspected.metadata.name().as_given().to_owned()),
        ("version", inspected.metadata.version().to_string()),
        ("filetype", filetype.to_owned()),
        ("pyversion", pyversion.to_owned()),
        ("sha256_digest", inspected.sha256.clone()),
        ("blake2_256_digest", inspected.blake2b_256.clone()),
    ]
}

/// One developer-signed transaction with every file.
fn signed_upload(args: &Args, base: &str, root: &Path, dists: Vec<Dist>) -> anyhow::Result<()> {
    let project = one_project(dists.iter().map(|d| &d.inspected))?;
    let name = project.normalized().to_owned();
    let signers = Signers::read(&args.keys)?;
    let others = args.delegation.read()?;
    let tuf = Tuf::open(base, root, &args.index.token)?;
    crate::tuf_client::runtime()?.block_on(async {
        let (previous, delegation) = match tuf.project(&project).await? {
            Listed::Absent => {
                let requested =
                    Delegation::requested(&signers.entries(), &others, args.delegation.threshold)?;
                (None, Some(requested))
            }
            Listed::Unclaimed(_) => bail!("{name} is not claimed: run bulwark claim first"),
            Listed::Claimed(claim) if claim.nested.is_some() => {
                if args.delegation.given() {
                    bail!(
                        "the page of {name} is signed by a nested role: its keys change with the project role (bulwark delegate)"
                    );
                }
                let (delegation, role) = claim.page_signers();
                signers.check(delegation, role)?;
                (Some(claim), None)
            }
            Listed::Claimed(claim) => {
                let change = if args.delegation.given() {
                    let requested = Delegation::requested(
                        &signers.entries(),
                        &others,
                        args.delegation.threshold,
                    )?;
                    (!requested.same_as(&claim.delegation)).then_some(requested)
                } else {
                    None
                };
                match &change {
                    None => signers.check(&claim.delegation, &claim.role)?,
                    Some(requested) => {
                        signers.check_change(&claim.delegation, requested, &claim.role)?;
                    }
                }
                (Some(claim), change)
            }
        };
        let uploads: Vec<UploadedFile> = dists
            .iter()
            .map(|d| UploadedFile::from(&d.inspected))
            .collect();
        let now = UploadTime::from_unix_micros(bulwark_repo::clock::unix_micros());
        let previous_page = previous.as_ref().map(|c| &c.page);
        let page = next_page(&project, previous_page.map(|p| &p.page), &uploads, now)
            .with_context(|| format!("cannot add the files to the page of {name}"))?;
        let page_bytes = render_json(&page);
        // Files the verified page lists already (identical, or next_page
        // would have refused) need not travel again.
        let listed = |filename: &str| {
            previous_page
                .is_some_and(|p| p.page.files.iter().any(|f| f.filename.as_str() == filename))
        };
        let files: Vec<(String, Vec<u8>)> = dists
            .into_iter()
            .filter(|d| !listed(&d.filename))
            .map(|d| (d.filename, d.bytes))
            .collect();
        if files.is_empty() && delegation.is_none() {
            println!("nothing to upload: the page of {name} already lists every file");
            return Ok(());
        }
        let keys = signers.open()?;
        let (version, role, nested) = developer::sign_page(
            &project,
            previous.as_deref(),
            &page_bytes,
            &keys,
            &args.expiry,
        )?;
        let accepted = developer::send(
            &args.index,
            Transaction {
                project: project.clone(),
                version,
                role,
                nested,
                page: page_bytes,
                delegation,
                files,
            },
        )
        .await?;
        developer::finish(&tuf, &args.wait, &project, &accepted).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal wheel of `name` `version`, inspected.
    fn wheel(name: &str, version: &str) -> Inspected {
        use std::io::Write as _;
        let dist_info = format!("{name}-{version}.dist-info");
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("{dist_info}/METADATA"), options)
            .unwrap();
        write!(
            zip,
            "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        .unwrap();
        zip.start_file(format!("{dist_info}/WHEEL"), options)
            .unwrap();
        writeln!(zip, "Wheel-Version: 1.0").unwrap();
        zip.start_file(format!("{dist_info}/RECORD"), options)
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let filename = format!("{name}-{version}-py3-none-any.whl");
        bulwark_pypi::inspect_bytes(&filename, &bytes, &bulwark_pypi::Limits::default()).unwrap()
    }

    #[test]
    fn an_upload_is_one_project() {
        let (a1, a2, b) = (
            wheel("demo", "1.0"),
            wheel("Demo", "1.1"),
            wheel("other", "1.0"),
        );
        assert_eq!(one_project([&a1, &a2]).unwrap().normalized(), "demo");
        let err = one_project([&a1, &b]).unwrap_err().to_string();
        assert_eq!(
            err,
            "one upload is one project: demo-1.0-py3-none-any.whl is demo's and other-1.0-py3-none-any.whl is other's"
        );
        assert!(one_project([]).is_err());
    }

    #[test]
    fn legacy_form_has_the_fields_twine_sends() {
        let inspected = wheel("demo", "1.0");
        let fields: std::collections::BTreeMap<_, _> =
            legacy_fields(&inspected).into_iter().collect();
        for (field, value) in [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("name", "demo"),
            ("version", "1.0"),
            ("filetype", "bdist_wheel"),
            ("pyversion", "py3"),
            ("sha256_digest", inspected.sha256.as_str()),
        ] {
            assert_eq!(
                fields.get(field).map(String::as_str),
                Some(value),
                "{field}"
            );
        }
    }
}
