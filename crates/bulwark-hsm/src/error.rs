//! [`HsmError`]: why a key on a token could not be found, made or used.

use std::path::PathBuf;

use crate::uri::UriError;

/// Why a PKCS#11 key could not be opened, generated or used.
///
/// Messages name the module, the token and the key, never the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The URI is unusable.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {}", path.display())]
    Module {
        /// The module's path.
        path: PathBuf,
        /// What the loader or `C_Initialize` said.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No token matches the URI.
    #[error("no token matches {uri} in the PKCS#11 module {}", module.display())]
    NoToken {
        /// The URI, without secrets.
        uri: String,
        /// The module searched.
        module: PathBuf,
    },
    /// Several tokens match the URI.
    #[error("{count} tokens match {uri}: name one with token=, serial= or slot-id=")]
    SeveralTokens {
        /// The URI, without secrets.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// The token refused the PIN.
    #[error("the PIN for token {token:?} is incorrect")]
    WrongPin {
        /// The token's label.
        token: String,
    },
    /// The token's user PIN is locked after too many wrong tries.
    #[error("the user PIN of token {token:?} is locked")]
    PinLocked {
        /// The token's label.
        token: String,
    },
    /// No private key on the token matches the URI.
    #[error("token {token:?} holds no private key matching {uri}")]
    NoKey {
        /// The token's label.
        token: String,
        /// The URI, without secrets.
        uri: String,
    },
    /// Several private keys match the URI.
    #[error("{count} private keys on token {token:?} match {uri}: name one with object= and id=")]
    SeveralKeys {
        /// The token's label.
        token: String,
        /// The URI, without secrets.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// The private key has no public key object beside it (same `CKA_ID`).
    #[error("token {token:?} holds no public key beside the private key {uri}")]
    NoPublicKey {
        /// The token's label.
        token: String,
        /// The URI, without secrets.
        uri: String,
    },
    /// `generate` was asked for a key the token already holds.
    #[error("token {token:?} already holds a key matching {uri}; keys are never overwritten")]
    KeyExists {
        /// The token's label.
        token: String,
        /// The URI, without secrets.
        uri: String,
    },
    /// The key is of a type or curve Bulwark does not sign with.
    #[error("the key {uri} is neither an ed25519 nor an ECDSA P-256 key")]
    UnsupportedKey {
        /// The URI, without secrets.
        uri: String,
    },
    /// The private key could leave the token (`CKA_EXTRACTABLE` or not
    /// `CKA_SENSITIVE`): refused, so that a key that is meant to stay in
    /// hardware provably does.
    #[error(
        "the private key {uri} can be extracted from the token (it must be sensitive and not extractable)"
    )]
    Extractable {
        /// The URI, without secrets.
        uri: String,
    },
    /// The token supports none of the mechanisms needed for the algorithm.
    #[error("token {token:?} cannot {what}")]
    Unsupported {
        /// The token's label.
        token: String,
        /// What it cannot do, e.g. "generate ed25519 keys (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKM_EDDSA`)".
        what: String,
    },
    /// The key on the token did not sign verifiably with its public key.
    #[error("the key {uri} does not verify with the public key beside it")]
    Mismatch {
        /// The URI, without secrets.
        uri: String,
    },
    /// Another PKCS#11 call failed.
    #[error("PKCS#11 {operation} failed")]
    Pkcs11 {
        /// What was being done.
        operation: &'static str,
        /// The module's answer.
        #[source]
        source: cryptoki::error::Error,
    },
}

impl HsmError {
    /// A closure that wraps a cryptoki error as [`HsmError::Pkcs11`].
    pub(crate) fn during(operation: &'static str) -> impl Fn(cryptoki::error::Error) -> HsmError {
        move |source| HsmError::Pkcs11 { operation, source }
    }
}
