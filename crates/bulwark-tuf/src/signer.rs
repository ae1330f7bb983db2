//! What signs metadata: the [`Signer`] trait, implemented here by the
//! in-memory [`SigningKey`] and elsewhere by keys that never leave their
//! hardware (`bulwark-hsm`'s PKCS#11 key).
//!
//! ```text
//! Envelope::sign(&dyn Signer) ─▶ Signer::key_id, Signer::sign(canonical signed)
//!                                   ├─ SigningKey: ring, in memory
//!                                   └─ a PKCS#11 key: C_Sign on the token
//! ```
//!
//! A signer is shared by the threads that sign bins in parallel, so it is
//! `Send + Sync`; one that wraps a device serialises or pools its access
//! to the device itself.

use std::sync::Arc;

use crate::json::Value;
use crate::keys::{self, Algorithm, KeyError, PublicKey, SigningKey};

/// A private key that signs, wherever it lives. Its signatures are in the
/// wire format of its [`Algorithm`]'s scheme, exactly as [`SigningKey`]
/// writes them, so that any verifier of that scheme accepts them.
pub trait Signer: Send + Sync {
    /// The key's algorithm.
    fn algorithm(&self) -> Algorithm;

    /// The public half, ready to verify with.
    fn public_key(&self) -> PublicKey;

    /// The public key object as it goes into metadata.
    fn public_key_object(&self) -> Value {
        self.public_key().key_object()
    }

    /// The key ID of [`Signer::public_key_object`] (TUF spec §4.2).
    fn key_id(&self) -> String {
        keys::key_id(&self.public_key_object())
    }

    /// Signs `message`, returning the signature as lowercase hex in the
    /// scheme's wire format.
    fn sign(&self, message: &[u8]) -> Result<String, KeyError>;
}

impl Signer for SigningKey {
    fn algorithm(&self) -> Algorithm {
        SigningKey::algorithm(self)
    }

    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }

    fn public_key_object(&self) -> Value {
        SigningKey::public_key_object(self)
    }

    fn key_id(&self) -> String {
        SigningKey::key_id(self)
    }

    fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        SigningKey::sign(self, message)
    }
}

/// Forwards every method to the signer behind a pointer.
macro_rules! forward {
    ($($pointer:ty),*) => {$(
        impl<S: Signer + ?Sized> Signer for $pointer {
            fn algorithm(&self) -> Algorithm {
                (**self).algorithm()
            }

            fn public_key(&self) -> PublicKey {
                (**self).public_key()
            }

            fn public_key_object(&self) -> Value {
                (**self).public_key_object()
            }

            fn key_id(&self) -> String {
                (**self).key_id()
            }

            fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
                (**self).sign(message)
            }
        }
    )*};
}

forward!(&S, Box<S>, Arc<S>);

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_signs_through_the_trait_as_it_does_itself() {
        for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let signer: Box<dyn Signer> =
                Box::new(SigningKey::from_pkcs8(algorithm, key.to_pkcs8()).unwrap());
            assert_eq!(signer.key_id(), key.key_id());
            assert_eq!(signer.public_key_object(), key.public_key_object());
            assert_eq!(Signer::algorithm(&signer), algorithm);
            let signature = signer.sign(b"message").unwrap();
            assert!(key.public_key().verify(b"message", &signature));
        }
    }

    #[test]
    fn raw_public_keys_give_the_same_key_object_as_the_signing_key() {
        for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let raw = PublicKey::from_raw(algorithm, key.public_key().material()).unwrap();
            assert_eq!(raw.key_object(), key.public_key_object());
            assert!(matches!(
                PublicKey::from_raw(algorithm, &key.public_key().material()[1..]),
                Err(KeyError::InvalidRawPublicKey { .. })
            ));
        }
        assert!(PublicKey::from_raw(Algorithm::RsaPssSha256, &[0; 256]).is_err());
    }

    #[test]
    fn fixed_ecdsa_signatures_become_der_that_verifies() {
        // Sign with ring in the fixed form, convert, verify as DER: covers
        // r and s with and without the top bit set over many signatures.
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let fixed_key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let key = SigningKey::from_pkcs8(Algorithm::EcdsaP256, pkcs8.as_ref()).unwrap();
        for i in 0..200u32 {
            let message = i.to_be_bytes();
            let fixed = fixed_key.sign(&rng, &message).unwrap();
            let der = keys::ecdsa_p256_signature_from_fixed(fixed.as_ref()).unwrap();
            assert!(key.public_key().verify(&message, &der), "{der}");
        }
        // Small r and s: leading zero bytes are dropped, zero stays one byte.
        let mut fixed = [0u8; 64];
        fixed[31] = 0x01;
        fixed[33] = 0x80;
        assert_eq!(
            keys::ecdsa_p256_signature_from_fixed(&fixed).unwrap(),
            format!("3025020101022000{}", "80".to_owned() + &"00".repeat(30))
        );
        assert!(keys::ecdsa_p256_signature_from_fixed(&[0; 63]).is_err());
    }
}
