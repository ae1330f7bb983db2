//! The proxy's state directory: one per trusted root and upstream, held by
//! one process at a time.
//!
//! ```text
//! <cache dir>/                 default $XDG_CACHE_HOME/bulwark/proxy, else ~/.cache/bulwark/proxy
//!   <id>/                      id: sha256 of "<sha256 of the --root file>\n<upstream URL>", 16 hex digits
//!     lock                     advisory lock (flock) held while a proxy runs; names its pid
//!     upstream.txt             the upstream URL, for people looking at the cache
//!     anchor-root.json         the trusted root the metadata chains from
//!     metadata/ pages/ files/  trusted metadata and verified bytes
//! ```
//!
//! Proxies for different roots or upstreams never share state, so one
//! cannot replace what another trusts. Two proxies for the same root and
//! upstream would refresh the same metadata directory; the second refuses
//! to start instead, naming the directory and the process that holds it.
//! The lock is released by the kernel when its holder exits, however it
//! exits, so a crashed proxy never leaves the directory locked.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use bulwark_tuf::hash::sha256_hex;

use crate::StartError;

/// The default cache directory: `$XDG_CACHE_HOME/bulwark/proxy` when that
/// is an absolute path, else `$HOME/.cache/bulwark/proxy`; `None` when
/// neither variable helps.
#[must_use]
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// [`default_cache_dir`] from the values of `XDG_CACHE_HOME` and `HOME`.
/// The XDG base directory specification says to ignore relative paths.
fn cache_dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |value: Option<OsString>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    let cache = absolute(xdg_cache_home).or_else(|| Some(absolute(home)?.join(".cache")))?;
    Some(cache.join("bulwark").join("proxy"))
}

/// The state directory under `cache_dir` for a proxy trusting the root file
/// `root` (its bytes) and verifying `upstream`.
#[must_use]
pub fn state_dir(cache_dir: &Path, root: &[u8], upstream: &str) -> PathBuf {
    let id = sha256_hex(format!("{}\n{upstream}", sha256_hex(root)).as_bytes());
    cache_dir.join(&id[..16])
}

/// The lock on a state directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Creates `dir` if needed and locks it for this process, or explains who
/// holds it.
pub fn lock(dir: &Path, upstream: &str) -> Result<StateLock, StartError> {
    let cache = |source| StartError::Cache {
        dir: dir.to_owned(),
        source,
    };
    bulwark_fs::create_dir_all_durable(dir).map_err(cache)?;
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| cache(bulwark_fs::error_at("open", &path, e)))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StartError::InUse {
                dir: dir.to_owned(),
                holder: holder.trim().to_owned(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(cache(bulwark_fs::error_at("lock", &path, e))),
    }
    // Only the holder writes the file, so a reader sees the holder's pid.
    let write = |file: &mut File| {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "pid {}", std::process::id())
    };
    write(&mut file).map_err(|e| cache(bulwark_fs::error_at("write", &path, e)))?;
    let note = dir.join("upstream.txt");
    if std::fs::read(&note).ok().as_deref() != Some(format!("{upstream}\n").as_bytes()) {
        bulwark_fs::write_atomic(&note, format!("{upstream}\n").as_bytes()).map_err(cache)?;
    }
    Ok(StateLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cache_is_the_platform_cache_directory() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            cache_dir_from(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            dir(Some("/x/cache"), Some("/home/a")),
            Some(PathBuf::from("/x/cache/bulwark/proxy"))
        );
        assert_eq!(
            dir(Some("relative"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.cache/bulwark/proxy"))
        );
        assert_eq!(
            dir(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.cache/bulwark/proxy"))
        );
        assert_eq!(dir(None, None), None);
        assert_eq!(dir(Some(""), Some("")), None);
    }

    #[test]
    fn each_root_and_upstream_has_its_own_state() {
        let cache = Path::new("/c");
        let a = state_dir(cache, b"root a", "http://h/");
        assert_eq!(a, state_dir(cache, b"root a", "http://h/"));
        assert_ne!(a, state_dir(cache, b"root b", "http://h/"));
        assert_ne!(a, state_dir(cache, b"root a", "http://other/"));
        assert_eq!(a.parent(), Some(cache));
    }

    #[test]
    fn a_locked_state_directory_names_its_holder() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("state");
        let held = lock(&dir, "http://h/").unwrap();
        let error = lock(&dir, "http://h/").unwrap_err();
        let said = error.to_string();
        assert!(
            said.contains(&dir.display().to_string())
                && said.contains(&format!("pid {}", std::process::id())),
            "{said}"
        );
        drop(held);
        lock(&dir, "http://h/").unwrap();
    }
}
