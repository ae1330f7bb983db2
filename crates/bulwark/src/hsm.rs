//! Keys on a PKCS#11 token, for the commands that sign: where the module
//! and the PIN come from (`pkcs11_module` / `--pkcs11-module` /
//! `BULWARK_PKCS11_MODULE` or the URI's `module-path`; `BULWARK_PKCS11_PIN`
//! or a prompt), on top of `bulwark_hsm`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bulwark_hsm::{Generated, KeyRequest, Pin, Pkcs11Key, Pkcs11Uri};

/// True when a `--key`/`online_key` value is a PKCS#11 URI, not a path.
pub fn is_uri(value: &Path) -> bool {
    value.to_str().is_some_and(Pkcs11Uri::is_pkcs11)
}

/// Parses `text` as a PKCS#11 URI (the error never repeats it: it may hold
/// a PIN).
pub fn parse(text: &str) -> anyhow::Result<Pkcs11Uri> {
    Pkcs11Uri::parse(text).map_err(anyhow::Error::from)
}

/// The module to load for `uri`: its `module-path`, else `configured`.
fn module(uri: &Pkcs11Uri, configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    uri.module_path
        .as_deref()
        .or(configured)
        .map(Path::to_path_buf)
        .context(
            "no PKCS#11 module: set pkcs11_module (BULWARK_PKCS11_MODULE, --pkcs11-module) \
             or module-path in the URI, e.g. /usr/lib/softhsm/libsofthsm2.so for SoftHSM2",
        )
}

fn pin(uri: &Pkcs11Uri) -> anyhow::Result<Pin> {
    let token = uri.token.as_deref().unwrap_or("the PKCS#11 token");
    Ok(Pin::new(crate::data::pkcs11_pin(token)?))
}

/// Opens the key `uri` names, logging in once.
pub fn open(uri: &Pkcs11Uri, configured: Option<&Path>) -> anyhow::Result<Pkcs11Key> {
    let module = module(uri, configured)?;
    Pkcs11Key::open(&module, uri, &pin(uri)?).with_context(|| format!("cannot open the key {uri}"))
}

/// Generates a key pair on the token `uri` names.
pub fn generate(
    uri: &Pkcs11Uri,
    configured: Option<&Path>,
    request: KeyRequest,
) -> anyhow::Result<Generated> {
    let module = module(uri, configured)?;
    Pkcs11Key::generate(&module, uri, &pin(uri)?, request)
        .with_context(|| format!("cannot generate the key {uri}"))
}
