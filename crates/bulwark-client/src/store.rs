//! The local metadata directory: the exact bytes of every trusted metadata
//! file, under unversioned names (`root.json`, `timestamp.json`,
//! `<percent-encoded role>.json`), each written atomically so that a crash
//! leaves either the old file or the new one, never a mix (through
//! `bulwark-fs`), and the [`MetadataStore`] abstraction the updater works
//! over.

use std::io;
use std::path::{Path, PathBuf};

use bulwark_fs::fs;
use bulwark_tuf::names::RoleName;

/// Where an [`Updater`](crate::Updater) keeps the metadata it trusts, and
/// where it looks for it before downloading. Bytes read back are untrusted
/// until the trusted set accepts them again; `persist` is only ever called
/// with bytes the trusted set has just accepted, so a store holds nothing
/// but trusted metadata.
///
/// [`MetadataDir`] keeps one copy per role under unversioned names (a
/// client); a mirror keeps every version under its consistent-snapshot
/// name and decides itself when to publish what it was given.
pub trait MetadataStore {
    /// Where the store is, for messages.
    fn location(&self) -> &Path;

    /// The stored bytes of `role`: the copy of `version` when the store
    /// keeps versions and `version` is given, otherwise its only copy.
    fn read_local(&self, role: &RoleName, version: Option<u64>) -> io::Result<Option<Vec<u8>>>;

    /// Keeps `bytes`, version `version` of `role`, which the trusted set
    /// has just accepted.
    fn persist(&mut self, role: &RoleName, version: u64, bytes: &[u8]) -> io::Result<()>;

    /// Forgets the stored copy of `role` (§5.3.11: after a rotation of the
    /// timestamp or snapshot keys it is no rollback baseline any more).
    fn forget(&mut self, role: &RoleName) -> io::Result<()>;

    /// Makes every `persist` and `forget` so far durable.
    fn flush(&mut self) -> io::Result<()>;
}

/// A directory of trusted metadata.
#[derive(Clone, Debug)]
pub struct MetadataDir {
    path: PathBuf,
}

impl MetadataDir {
    /// The directory at `path`, created if missing.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        bulwark_fs::create_dir_all_durable(&path)?;
        Ok(Self { path })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `role`'s metadata lives.
    #[must_use]
    pub fn file(&self, role: &RoleName) -> PathBuf {
        self.path.join(format!("{}.json", role.encoded()))
    }

    /// The stored bytes of `role`, or `None` when there are none.
    pub fn read(&self, role: &RoleName) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.file(role)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as `role`'s metadata, atomically and durably.
    pub fn write(&self, role: &RoleName, bytes: &[u8]) -> io::Result<()> {
        bulwark_fs::write_atomic(&self.file(role), bytes)
    }

    /// Stores `bytes` as `role`'s metadata atomically: written and fsynced
    /// under a temporary name, then renamed into place. The rename is
    /// durable once [`MetadataDir::sync`] returns, so that several files
    /// can share one directory fsync.
    pub fn replace(&self, role: &RoleName, bytes: &[u8]) -> io::Result<()> {
        bulwark_fs::replace(&self.file(role), bytes)
    }

    /// Makes every rename and removal in the directory so far durable.
    pub fn sync(&self) -> io::Result<()> {
        bulwark_fs::sync_dir(&self.path)
    }

    /// Forgets `role`'s metadata.
    pub fn remove(&self, role: &RoleName) -> io::Result<()> {
        match fs::remove_file(self.file(role)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// One copy per role, unversioned: whatever version the trusted set
/// accepted last.
impl MetadataStore for MetadataDir {
    fn location(&self) -> &Path {
        &self.path
    }

    fn read_local(&self, role: &RoleName, _version: Option<u64>) -> io::Result<Option<Vec<u8>>> {
        self.read(role)
    }

    fn persist(&mut self, role: &RoleName, _version: u64, bytes: &[u8]) -> io::Result<()> {
        self.replace(role, bytes)
    }

    fn forget(&mut self, role: &RoleName) -> io::Result<()> {
        self.remove(role)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_under_encoded_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataDir::open(dir.path().join("meta")).unwrap();
        let role = RoleName::new("../evil/role");
        store.write(&role, b"one").unwrap();
        store.write(&role, b"two").unwrap();
        assert_eq!(store.read(&role).unwrap().as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = fs::read_dir(store.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("..%2Fevil%2Frole.json")]
        );
        store.remove(&role).unwrap();
        store.remove(&role).unwrap();
        assert_eq!(store.read(&role).unwrap(), None);
    }

    #[test]
    fn replaced_files_are_in_place_before_the_directory_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataDir::open(dir.path()).unwrap();
        let (a, b) = (RoleName::new("a"), RoleName::new("b"));
        store.replace(&a, b"one").unwrap();
        store.replace(&b, b"two").unwrap();
        store.replace(&a, b"three").unwrap();
        store.sync().unwrap();
        assert_eq!(store.read(&a).unwrap().as_deref(), Some(&b"three"[..]));
        assert_eq!(store.read(&b).unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(
            fs::read_dir(store.path()).unwrap().count(),
            2,
            "no temporary files left"
        );
    }
}
