//! [`Pkcs11Key`]: a private key on a token, found (or generated) through a
//! [`Pkcs11Uri`], that signs with `C_Sign` and never leaves the token.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use bulwark_tuf::keys::{self, Algorithm, KeyError, PublicKey};
use bulwark_tuf::signer::Signer;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ring::rand::SecureRandom as _;

use crate::error::HsmError;
use crate::uri::Pkcs11Uri;

/// DER `OBJECT IDENTIFIER` prime256v1 (1.2.840.10045.3.1.7): `CKA_EC_PARAMS`
/// of a P-256 key.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER `OBJECT IDENTIFIER` id-Ed25519 (1.3.101.112, RFC 8410): `CKA_EC_PARAMS`
/// of an Ed25519 key.
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER `PrintableString` "edwards25519", the other `CKA_EC_PARAMS` PKCS#11
/// 3.0 allows for Ed25519.
const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";

/// The most sessions a key opens by default: one per signing thread is
/// enough, and tokens limit sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 16;

/// A token's user PIN. It is zeroed when dropped and never printed.
pub struct Pin(AuthPin);

impl Pin {
    /// Wraps a PIN typed or read from the environment.
    #[must_use]
    pub fn new(pin: String) -> Self {
        Pin(AuthPin::from(pin))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(…)")
    }
}

/// The algorithms a token may be asked to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRequest {
    /// Ed25519, or ECDSA P-256 when the token cannot do Ed25519.
    Preferred,
    /// Exactly this algorithm (Ed25519 or ECDSA P-256).
    Exactly(Algorithm),
}

/// What [`Pkcs11Key::generate`] made.
#[derive(Debug)]
pub struct Generated {
    /// The new key, ready to sign.
    pub key: Pkcs11Key,
    /// True when Ed25519 was preferred but the token lacks it, so the key
    /// is ECDSA P-256.
    pub fell_back: bool,
}

/// A private key on a PKCS#11 token. The process logs in once; signing
/// threads share a small pool of sessions on the token (at most
/// `max_sessions`, opened as threads need them), so `sign` may run on
/// several threads at once.
///
/// A session that fails with a session-level error ([`session_lost`]: its
/// handle is gone, the token was removed, the login was lost) is dropped
/// from the pool, and the next signature opens a new one, logs it in again
/// and finds the key again (its handle may have changed), so a token that
/// comes back is used again without a restart.
pub struct Pkcs11Key {
    context: Pkcs11,
    slot: Slot,
    /// The private key's handle, found again by each new session.
    private: Mutex<ObjectHandle>,
    public: PublicKey,
    key_id: String,
    /// The URI as displayed in messages (no secret).
    uri: String,
    /// The private key's search template (from the URI).
    template: Vec<Attribute>,
    token: String,
    /// Kept to log new sessions in after the login was lost.
    pin: Pin,
    sessions: SessionPool,
}

/// Sessions on the key's token: idle ones, and how many exist. A session
/// given back stays open, so the login lasts while the key signs.
struct SessionPool {
    state: Mutex<PoolState>,
    returned: Condvar,
    max: usize,
}

struct PoolState {
    idle: Vec<Session>,
    open: usize,
}

impl Pkcs11Key {
    /// Opens the key `uri` names on a token of `module` (or of the URI's
    /// `module-path`), logging in with `pin`. Checks that the private key
    /// cannot leave the token and that it signs verifiably with the public
    /// key stored beside it.
    pub fn open(module: &Path, uri: &Pkcs11Uri, pin: &Pin) -> Result<Self, HsmError> {
        Self::open_with_sessions(module, uri, pin, DEFAULT_MAX_SESSIONS)
    }

    /// [`Pkcs11Key::open`] with at most `max_sessions` sessions (1:
    /// signatures are made one at a time).
    pub fn open_with_sessions(
        module: &Path,
        uri: &Pkcs11Uri,
        pin: &Pin,
        max_sessions: usize,
    ) -> Result<Self, HsmError> {
        let (context, slot, token) = find_token(uri.module(module), uri)?;
        let session = context
            .open_ro_session(slot)
            .map_err(HsmError::during("C_OpenSession"))?;
        login(&session, pin, &token)?;
        Self::from_session(context, slot, token, session, uri, pin, max_sessions)
    }

    /// Generates a key pair on the token `uri` names, labelled and
    /// identified as the URI says (a random `CKA_ID` when it gives none):
    /// the private key sensitive, never extractable and good for signing
    /// only. Refuses when the token already holds a key the URI matches.
    pub fn generate(
        module: &Path,
        uri: &Pkcs11Uri,
        pin: &Pin,
        request: KeyRequest,
    ) -> Result<Generated, HsmError> {
        let (context, slot, token) = find_token(uri.module(module), uri)?;
        let (algorithm, fell_back) = choose_algorithm(&context, slot, &token, request)?;
        let session = context
            .open_rw_session(slot)
            .map_err(HsmError::during("C_OpenSession"))?;
        login(&session, pin, &token)?;
        let shown = uri.to_string();
        let existing = session
            .find_objects(&key_template(uri, ObjectClass::PRIVATE_KEY))
            .map_err(HsmError::during("C_FindObjects"))?;
        if !existing.is_empty() {
            return Err(HsmError::KeyExists { token, uri: shown });
        }
        let id = if let Some(id) = &uri.id {
            id.clone()
        } else {
            let mut id = vec![0; 16];
            ring::rand::SystemRandom::new()
                .fill(&mut id)
                .map_err(|_| HsmError::Pkcs11 {
                    operation: "choosing a key ID",
                    source: CkError::InvalidValue,
                })?;
            id
        };
        let (mechanism, key_type, params) = match algorithm {
            Algorithm::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                KeyType::EC_EDWARDS,
                ED25519_PARAMS,
            ),
            _ => (Mechanism::EccKeyPairGen, KeyType::EC, P256_PARAMS),
        };
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::KeyType(key_type),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
            Attribute::EcParams(params.to_vec()),
            Attribute::Id(id.clone()),
        ];
        let mut private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::KeyType(key_type),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Id(id),
        ];
        if let Some(label) = &uri.object {
            public.push(Attribute::Label(label.as_bytes().to_vec()));
            private.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(HsmError::during("C_GenerateKeyPair"))?;
        let key = Self::from_session(
            context,
            slot,
            token,
            session,
            uri,
            pin,
            DEFAULT_MAX_SESSIONS,
        )?;
        Ok(Generated { key, fell_back })
    }

    /// Finds the key with a logged-in `session`, which becomes the pool's
    /// first.
    fn from_session(
        context: Pkcs11,
        slot: Slot,
        token: String,
        session: Session,
        uri: &Pkcs11Uri,
        pin: &Pin,
        max_sessions: usize,
    ) -> Result<Self, HsmError> {
        let shown = uri.to_string();
        let private_template = key_template(uri, ObjectClass::PRIVATE_KEY);
        let private = find_private(&session, &private_template, &token, &shown)?;
        let attributes = session
            .get_attributes(
                private,
                &[
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::Id,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                ],
            )
            .map_err(HsmError::during("C_GetAttributeValue"))?;
        let (mut key_type, mut params, mut id) = (None, None, None);
        let (mut sensitive, mut extractable) = (false, true);
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::EcParams(p) => params = Some(p),
                Attribute::Id(i) => id = Some(i),
                Attribute::Sensitive(s) => sensitive = s,
                Attribute::Extractable(e) => extractable = e,
                _ => {}
            }
        }
        if !sensitive || extractable {
            return Err(HsmError::Extractable { uri: shown });
        }
        let algorithm = match (key_type, params.as_deref()) {
            (Some(KeyType::EC_EDWARDS), Some(ED25519_PARAMS | ED25519_PARAMS_NAME)) => {
                Algorithm::Ed25519
            }
            (Some(KeyType::EC), Some(P256_PARAMS)) => Algorithm::EcdsaP256,
            _ => return Err(HsmError::UnsupportedKey { uri: shown }),
        };
        // The public key: the public key object with the same CKA_ID (and
        // label, when the URI names one).
        let mut template = key_template(uri, ObjectClass::PUBLIC_KEY);
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            template.retain(|a| !matches!(a, Attribute::Id(_)));
            template.push(Attribute::Id(id));
        }
        let no_public = || HsmError::NoPublicKey {
            token: token.clone(),
            uri: shown.clone(),
        };
        let public = match session
            .find_objects(&template)
            .map_err(HsmError::during("C_FindObjects"))?
            .as_slice()
        {
            [one] => *one,
            _ => return Err(no_public()),
        };
        let point = session
            .get_attributes(public, &[AttributeType::EcPoint])
            .map_err(HsmError::during("C_GetAttributeValue"))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(point) => Some(point),
                _ => None,
            })
            .ok_or_else(no_public)?;
        let public = PublicKey::from_raw(algorithm, unwrap_octet_string(&point))
            .map_err(|_| HsmError::UnsupportedKey { uri: shown.clone() })?;
        let key = Pkcs11Key {
            context,
            slot,
            private: Mutex::new(private),
            key_id: keys::key_id(&public.key_object()),
            public,
            uri: shown,
            template: private_template,
            token,
            pin: Pin(pin.0.clone()),
            sessions: SessionPool {
                state: Mutex::new(PoolState {
                    idle: vec![session],
                    open: 1,
                }),
                returned: Condvar::new(),
                max: max_sessions.max(1),
            },
        };
        // A pair whose halves do not belong together would publish
        // signatures nobody can verify: find out now.
        let probe = b"bulwark: does this key sign for its public key?";
        let signature = key.sign_hex(probe)?;
        if !key.public.verify(probe, &signature) {
            return Err(HsmError::Mismatch { uri: key.uri });
        }
        Ok(key)
    }

    /// The token's label.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A new session for the pool, logged in (a no-op while another session
    /// holds the login: login is per application and token, PKCS#11 §5.6),
    /// with the key found again.
    fn open_session(&self) -> Result<Session, HsmError> {
        let session = self
            .context
            .open_ro_session(self.slot)
            .map_err(HsmError::during("C_OpenSession"))?;
        login(&session, &self.pin, &self.token)?;
        let private = find_private(&session, &self.template, &self.token, &self.uri)?;
        *self.private.lock().unwrap_or_else(PoisonError::into_inner) = private;
        Ok(session)
    }

    /// Signs on the token with a pooled session; a session lost to a
    /// session-level error is dropped rather than given back.
    fn sign_hex(&self, message: &[u8]) -> Result<String, HsmError> {
        let session = self.sessions.take(|| self.open_session())?;
        let signed = self.sign_in(&session, message);
        match &signed {
            Err(HsmError::Pkcs11 { source, .. }) if session_lost(source) => {
                self.sessions.discard(session);
            }
            _ => self.sessions.give_back(session),
        }
        signed
    }

    /// Signs `message` in `session`.
    fn sign_in(&self, session: &Session, message: &[u8]) -> Result<String, HsmError> {
        let private = *self.private.lock().unwrap_or_else(PoisonError::into_inner);
        if self.public.algorithm() == Algorithm::Ed25519 {
            session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    private,
                    message,
                )
                .map(|signature| bulwark_tuf::hex::encode(&signature))
                .map_err(HsmError::during("C_Sign"))
        } else {
            // CKM_ECDSA signs a digest computed here; the token answers
            // r || s, which the ecdsa-sha2-nistp256 scheme writes as DER.
            let digest = ring::digest::digest(&ring::digest::SHA256, message);
            session
                .sign(&Mechanism::Ecdsa, private, digest.as_ref())
                .map_err(HsmError::during("C_Sign"))
                .and_then(|fixed| {
                    keys::ecdsa_p256_signature_from_fixed(&fixed).map_err(|_| HsmError::Mismatch {
                        uri: self.uri.clone(),
                    })
                })
        }
    }
}

impl Signer for Pkcs11Key {
    fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn key_id(&self) -> String {
        self.key_id.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        self.sign_hex(message)
            .map_err(|e| KeyError::External(Box::new(e)))
    }
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("uri", &self.uri)
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SessionPool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while the lock was held left the pool's list intact.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle session, a new one while fewer than `max` exist, or the next
    /// one given back.
    fn take(&self, open: impl Fn() -> Result<Session, HsmError>) -> Result<Session, HsmError> {
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                return Ok(session);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return open().inspect_err(|_| self.lock().open -= 1);
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, session: Session) {
        self.lock().idle.push(session);
        self.returned.notify_one();
    }

    /// Closes a broken session, making room for a new one.
    fn discard(&self, session: Session) {
        drop(session);
        self.lock().open -= 1;
        self.returned.notify_one();
    }
}

/// Whether `error` means the session is of no more use (its handle or
/// the login is gone, the token was removed or fails), rather than that
/// this one request failed.
fn session_lost(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid,
            _
        )
    )
}

/// The one private key `session` finds with `template`.
fn find_private(
    session: &Session,
    template: &[Attribute],
    token: &str,
    uri: &str,
) -> Result<ObjectHandle, HsmError> {
    let found = session
        .find_objects(template)
        .map_err(HsmError::during("C_FindObjects"))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(HsmError::NoKey {
            token: token.to_owned(),
            uri: uri.to_owned(),
        }),
        many => Err(HsmError::SeveralKeys {
            token: token.to_owned(),
            uri: uri.to_owned(),
            count: many.len(),
        }),
    }
}

/// The algorithm to generate on the token: `request`'s, if the token can
/// generate and sign with it; and whether Ed25519 had to give way to P-256.
fn choose_algorithm(
    context: &Pkcs11,
    slot: Slot,
    token: &str,
    request: KeyRequest,
) -> Result<(Algorithm, bool), HsmError> {
    let mechanisms = context
        .get_mechanism_list(slot)
        .map_err(HsmError::during("C_GetMechanismList"))?;
    let can = |algorithm| match algorithm {
        Algorithm::Ed25519 => {
            mechanisms.contains(&MechanismType::ECC_EDWARDS_KEY_PAIR_GEN)
                && mechanisms.contains(&MechanismType::EDDSA)
        }
        Algorithm::EcdsaP256 => {
            mechanisms.contains(&MechanismType::ECC_KEY_PAIR_GEN)
                && mechanisms.contains(&MechanismType::ECDSA)
        }
        Algorithm::RsaPssSha256 => false,
    };
    let unsupported = |what: &str| HsmError::Unsupported {
        token: token.to_owned(),
        what: what.to_owned(),
    };
    match request {
        KeyRequest::Preferred if can(Algorithm::Ed25519) => Ok((Algorithm::Ed25519, false)),
        KeyRequest::Preferred if can(Algorithm::EcdsaP256) => Ok((Algorithm::EcdsaP256, true)),
        KeyRequest::Preferred => Err(unsupported(
            "generate ed25519 or ECDSA P-256 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN with \
             CKM_EDDSA, or CKM_EC_KEY_PAIR_GEN with CKM_ECDSA)",
        )),
        KeyRequest::Exactly(algorithm) if can(algorithm) => Ok((algorithm, false)),
        KeyRequest::Exactly(Algorithm::Ed25519) => Err(unsupported(
            "generate ed25519 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA)",
        )),
        KeyRequest::Exactly(_) => Err(unsupported(
            "generate ECDSA P-256 keys (CKM_EC_KEY_PAIR_GEN, CKM_ECDSA)",
        )),
    }
}

/// The template matching the key (`object`, `id`) of `uri`, of `class`.
fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// `CKA_EC_POINT` is a DER `OCTET STRING` around the point (PKCS#11 3.0);
/// some modules give the point bare.
fn unwrap_octet_string(point: &[u8]) -> &[u8] {
    match point {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        bare => bare,
    }
}

/// Logs `session` in as the user. A login another key of this process
/// already made counts (PKCS#11 logs in an application, not a session).
fn login(session: &Session, pin: &Pin, token: &str) -> Result<(), HsmError> {
    match session.login(UserType::User, Some(&pin.0)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            Err(HsmError::WrongPin {
                token: token.to_owned(),
            })
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(HsmError::PinLocked {
            token: token.to_owned(),
        }),
        Err(source) => Err(HsmError::Pkcs11 {
            operation: "C_Login",
            source,
        }),
    }
}

/// The initialised context of `module`: one per module and process, since
/// `C_Initialize` may be called only once.
fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let failed = |source| HsmError::Module {
        path: module.to_owned(),
        source,
    };
    let context = Pkcs11::new(module).map_err(failed)?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => return Err(failed(source)),
    }
    contexts.insert(module.to_owned(), context.clone());
    Ok(context)
}

/// The one slot of `module` whose token matches `uri`, and its label.
fn find_token(module: &Path, uri: &Pkcs11Uri) -> Result<(Pkcs11, Slot, String), HsmError> {
    let context = context(module)?;
    let slots = context
        .get_slots_with_initialized_token()
        .map_err(HsmError::during("C_GetSlotList"))?;
    let mut matches = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = context
            .get_token_info(slot)
            .map_err(HsmError::during("C_GetTokenInfo"))?;
        // Token fields are blank-padded: compare them trimmed.
        let same = |wanted: &Option<String>, found: &str| {
            wanted
                .as_deref()
                .is_none_or(|wanted| wanted.trim_end() == found.trim_end())
        };
        if same(&uri.token, info.label())
            && same(&uri.manufacturer, info.manufacturer_id())
            && same(&uri.model, info.model())
            && same(&uri.serial, info.serial_number())
        {
            matches.push((slot, info.label().trim_end().to_owned()));
        }
    }
    match matches.len() {
        1 => {
            let (slot, label) = matches.swap_remove(0);
            Ok((context, slot, label))
        }
        0 => Err(HsmError::NoToken {
            uri: uri.to_string(),
            module: module.to_owned(),
        }),
        count => Err(HsmError::SeveralTokens {
            uri: uri.to_string(),
            count,
        }),
    }
}
