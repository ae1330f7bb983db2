//! Signing keys that live in a PKCS#11 token (a hardware security module,
//! a smart card, SoftHSM2): the only crate of Bulwark that talks PKCS#11,
//! through `cryptoki`.
//!
//! It owns finding a key from an RFC 7512 URI ([`Pkcs11Uri`]), generating a
//! key pair on a token (private half sensitive, never extractable,
//! sign-only), and signing with it as a [`bulwark_tuf::signer::Signer`], so
//! that the publisher and the key ceremony use a token key exactly as they
//! use a key file's key. It does not own where the PIN or the module path
//! come from (the `bulwark` binary: `BULWARK_PKCS11_PIN` or a prompt, the
//! `pkcs11_module` setting).
//!
//! ```text
//! Pkcs11Uri::parse ─▶ Pkcs11Key::open(module, uri, pin)
//!                      ├ C_Initialize (once per module and process)
//!                      ├ the one token matching the URI, C_Login (once)
//!                      ├ the private key (refused if extractable) and its public key
//!                      └ a probe signature, verified with bulwark-tuf
//! Signer::sign ─▶ a pooled session ─▶ C_Sign (CKM_EDDSA, or CKM_ECDSA over SHA-256 → DER)
//! ```
//!
//! The private key never leaves the token: nothing here reads a private
//! attribute's value, and a key that could be extracted is refused.

mod error;
mod key;
mod uri;

pub use error::HsmError;
pub use key::{DEFAULT_MAX_SESSIONS, Generated, KeyRequest, Pin, Pkcs11Key};
pub use uri::{Pkcs11Uri, UriError};
