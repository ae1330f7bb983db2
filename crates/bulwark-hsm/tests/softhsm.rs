//! Keys on a real SoftHSM2 token: generated there, signing there, verified
//! by bulwark-tuf's own verifier; and the errors an operator meets (wrong
//! PIN, missing token or key, a PIN in the URI) are clear and PIN-free.
//!
//! Each test runs itself again in a child process with its own SoftHSM2
//! (see `bulwark_testkit::softhsm`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;

use bulwark_hsm::{HsmError, KeyRequest, Pin, Pkcs11Key, Pkcs11Uri, UriError};
use bulwark_testkit::softhsm::{SOFTHSM_MODULE, rerun_with_softhsm};
use bulwark_tuf::json::Value;
use bulwark_tuf::keys::{Algorithm, PublicKey};
use bulwark_tuf::signer::Signer;

const PIN: &str = "4711-pin";

fn module() -> &'static Path {
    Path::new(SOFTHSM_MODULE)
}

fn uri(text: &str) -> Pkcs11Uri {
    Pkcs11Uri::parse(text).unwrap()
}

fn pin() -> Pin {
    Pin::new(PIN.to_owned())
}

/// The verifier metadata would give for `key`: its key object read back
/// as a client reads it.
fn verifier(key: &dyn Signer) -> PublicKey {
    let Value::Object(object) = key.public_key_object() else {
        panic!("not an object")
    };
    let text = |name: &str| match object.get(name) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let Some(Value::Object(keyval)) = object.get("keyval") else {
        panic!("no keyval")
    };
    PublicKey::from_parts(&text("keytype"), &text("scheme"), keyval)
        .unwrap()
        .unwrap()
}

fn assert_signs_verifiably(key: &Pkcs11Key, algorithm: Algorithm) {
    assert_eq!(Signer::algorithm(key), algorithm);
    let public = verifier(key);
    let message = br#"{"_type":"timestamp","version":7}"#;
    let signature = key.sign(message).unwrap();
    assert!(public.verify(message, &signature), "{signature}");
    assert!(!public.verify(b"another message", &signature));
    assert_eq!(
        key.key_id(),
        bulwark_tuf::keys::key_id(&key.public_key_object())
    );
}

#[test]
fn ed25519_key_generated_on_the_token_signs_verifiably() {
    let Some(_hsm) = rerun_with_softhsm(
        "ed25519_key_generated_on_the_token_signs_verifiably",
        &[("Bulwark", PIN)],
    ) else {
        return;
    };
    let generated = Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        KeyRequest::Preferred,
    )
    .unwrap();
    assert!(!generated.fell_back, "SoftHSM2 offers EDDSA");
    // As another PKCS#11 client (OpenSC's pkcs11-tool) sees the private
    // key: sensitive, never extractable, for signing only.
    let listed = std::process::Command::new("pkcs11-tool")
        .args([
            "--module",
            SOFTHSM_MODULE,
            "--token-label",
            "Bulwark",
            "--login",
            "--pin",
            PIN,
        ])
        .arg("--list-objects")
        .output()
        .expect("the hardware-key tests need pkcs11-tool: run scripts/test-deps as root");
    let listed = String::from_utf8_lossy(&listed.stdout);
    // One block per object, each starting on an unindented line.
    let mut blocks: Vec<String> = Vec::new();
    for line in listed.lines() {
        match blocks.last_mut() {
            Some(block) if line.starts_with(' ') => {
                block.push_str(line);
                block.push('\n');
            }
            _ => blocks.push(format!("{line}\n")),
        }
    }
    let private = blocks
        .iter()
        .find(|b| b.starts_with("Private Key Object") && b.contains("label:      online\n"))
        .unwrap_or_else(|| panic!("no private key listed:\n{listed}"));
    assert!(private.contains("Usage:      sign\n"), "{private}");
    assert!(
        private.contains("Access:     sensitive, always sensitive, never extractable"),
        "{private}"
    );
    assert_signs_verifiably(&generated.key, Algorithm::Ed25519);
    // Ed25519 is deterministic: the same message, the same signature.
    assert_eq!(
        generated.key.sign(b"m").unwrap(),
        generated.key.sign(b"m").unwrap()
    );

    // Opened again by label, the same key.
    let opened =
        Pkcs11Key::open(module(), &uri("pkcs11:token=Bulwark;object=online"), &pin()).unwrap();
    assert_eq!(opened.key_id(), generated.key.key_id());
    assert_signs_verifiably(&opened, Algorithm::Ed25519);

    // A key is never generated over another.
    let again = Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        KeyRequest::Preferred,
    )
    .unwrap_err();
    assert!(matches!(again, HsmError::KeyExists { .. }), "{again}");
}

#[test]
fn ecdsa_p256_key_signs_der_signatures_like_key_files() {
    let Some(_hsm) = rerun_with_softhsm(
        "ecdsa_p256_key_signs_der_signatures_like_key_files",
        &[("Bulwark", PIN)],
    ) else {
        return;
    };
    let generated = Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=ecdsa;id=%01%02"),
        &pin(),
        KeyRequest::Exactly(Algorithm::EcdsaP256),
    )
    .unwrap();
    assert_signs_verifiably(&generated.key, Algorithm::EcdsaP256);
    // DER, as ecdsa-sha2-nistp256 file keys write: SEQUENCE { r, s }.
    let signature = generated.key.sign(b"message").unwrap();
    assert!(signature.starts_with("30"), "{signature}");
    let Value::Object(object) = generated.key.public_key_object() else {
        panic!()
    };
    assert_eq!(object.get("keytype"), Some(&Value::from("ecdsa")));
    assert_eq!(
        object.get("scheme"),
        Some(&Value::from("ecdsa-sha2-nistp256"))
    );
    // Found by its id alone, too.
    let by_id = Pkcs11Key::open(module(), &uri("pkcs11:token=Bulwark;id=%01%02"), &pin()).unwrap();
    assert_eq!(by_id.key_id(), generated.key.key_id());
}

#[test]
fn many_threads_sign_with_one_key() {
    let Some(_hsm) = rerun_with_softhsm("many_threads_sign_with_one_key", &[("Bulwark", PIN)])
    else {
        return;
    };
    let key = Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        KeyRequest::Exactly(Algorithm::EcdsaP256),
    )
    .unwrap()
    .key;
    let public = verifier(&key);
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let (key, public) = (&key, &public);
            scope.spawn(move || {
                for i in 0..64u8 {
                    let message = [thread, i];
                    assert!(public.verify(&message, &key.sign(&message).unwrap()));
                }
            });
        }
    });
}

/// A session the token no longer knows (here: the library was finalized
/// and initialized again, as after a token reset) fails one signature; the
/// key drops it, and the next signature opens a new session, logs in again
/// and signs.
#[test]
fn a_lost_session_is_replaced_on_the_next_signature() {
    let Some(_hsm) = rerun_with_softhsm(
        "a_lost_session_is_replaced_on_the_next_signature",
        &[("Bulwark", PIN)],
    ) else {
        return;
    };
    let generated = Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        KeyRequest::Preferred,
    )
    .unwrap();
    drop(generated);
    let key = Pkcs11Key::open_with_sessions(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        1,
    )
    .unwrap();
    assert_signs_verifiably(&key, Algorithm::Ed25519);
    let context = cryptoki::context::Pkcs11::new(module()).unwrap();
    context.finalize().unwrap();
    let context = cryptoki::context::Pkcs11::new(module()).unwrap();
    context
        .initialize(cryptoki::context::CInitializeArgs::new(
            cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
        ))
        .unwrap();
    let lost = key.sign(b"m").unwrap_err();
    assert!(
        format!("{lost:?}").contains("SessionHandleInvalid"),
        "{lost:?}"
    );
    assert_signs_verifiably(&key, Algorithm::Ed25519);
}

#[test]
fn operator_mistakes_are_clear_errors_without_the_pin() {
    let Some(_hsm) = rerun_with_softhsm(
        "operator_mistakes_are_clear_errors_without_the_pin",
        &[("Bulwark", PIN)],
    ) else {
        return;
    };
    Pkcs11Key::generate(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
        KeyRequest::Preferred,
    )
    .unwrap();
    let no_pin_in = |err: &dyn std::error::Error| {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        assert!(!text.contains(PIN) && !text.contains("wrong-pin"), "{text}");
        text
    };

    let wrong = Pkcs11Key::open(
        module(),
        &uri("pkcs11:token=Bulwark;object=online"),
        &Pin::new("wrong-pin".to_owned()),
    )
    .unwrap_err();
    assert!(matches!(wrong, HsmError::WrongPin { .. }), "{wrong}");
    assert_eq!(
        no_pin_in(&wrong),
        "the PIN for token \"Bulwark\" is incorrect"
    );

    let no_token = Pkcs11Key::open(
        module(),
        &uri("pkcs11:token=Elsewhere;object=online"),
        &pin(),
    )
    .unwrap_err();
    assert!(matches!(no_token, HsmError::NoToken { .. }), "{no_token}");
    assert!(
        no_pin_in(&no_token).starts_with("no token matches pkcs11:token=Elsewhere;object=online")
    );

    let no_key = Pkcs11Key::open(
        module(),
        &uri("pkcs11:token=Bulwark;object=offline"),
        &pin(),
    )
    .unwrap_err();
    assert!(matches!(no_key, HsmError::NoKey { .. }), "{no_key}");
    assert_eq!(
        no_pin_in(&no_key),
        "token \"Bulwark\" holds no private key matching pkcs11:token=Bulwark;object=offline"
    );

    let in_uri = Pkcs11Uri::parse(&format!(
        "pkcs11:token=Bulwark;object=online?pin-value={PIN}"
    ))
    .unwrap_err();
    assert!(matches!(in_uri, UriError::PinInUri { .. }), "{in_uri}");
    no_pin_in(&in_uri);

    let no_module = Pkcs11Key::open(
        Path::new("/nonexistent/libpkcs11.so"),
        &uri("pkcs11:token=Bulwark;object=online"),
        &pin(),
    )
    .unwrap_err();
    assert!(matches!(no_module, HsmError::Module { .. }), "{no_module}");
}
