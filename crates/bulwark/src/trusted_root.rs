//! Reading a trusted root file named on the command line (`tuf-client init`,
//! `proxy --root`, `mirror sync --root`, `ceremony … --root`): capped like a
//! downloaded root, so a wrong path such as `/dev/zero` is a refusal, not
//! every byte of memory.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

/// The bytes of the trusted root at `path`, at most the cap on a downloaded
/// root (`bulwark_client::Limits::default().root`); a larger file is refused
/// after reading one byte more than the cap.
pub fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_capped(path, bulwark_client::Limits::default().root)
}

fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let context = || format!("cannot read the trusted root {}", path.display());
    let file = std::fs::File::open(path).with_context(context)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(context)?;
    if bytes.len() as u64 > cap {
        bail!(
            "the trusted root {} is larger than {} KiB, the cap on root metadata",
            path.display(),
            cap / 1024
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_cap_and_refuses_one_byte_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        std::fs::write(&path, [b'x'; 2048]).unwrap();
        assert_eq!(read_capped(&path, 2048).unwrap().len(), 2048);
        let err = read_capped(&path, 1024).unwrap_err().to_string();
        assert!(
            err.ends_with("is larger than 1 KiB, the cap on root metadata"),
            "{err}"
        );
        let err = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(
            err.to_string().contains("/dev/zero is larger than"),
            "{err}"
        );
    }
}
