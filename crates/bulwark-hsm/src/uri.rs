//! PKCS#11 URIs (RFC 7512) naming a key on a token:
//! `pkcs11:token=Bulwark;object=online?module-path=/usr/lib/softhsm/libsofthsm2.so`.
//!
//! Path attributes (`;`-separated) select the token (`token`, `manufacturer`,
//! `model`, `serial`, `slot-id`) and the key (`object`, the key's label, and
//! `id`, its `CKA_ID` bytes); `type`, when given, must be `private`. Values
//! may be percent-encoded. Of the query attributes (`&`-separated, after
//! `?`) only `module-path` is taken. `pin-value` and `pin-source` are
//! refused: a PIN never goes in settings or on a command line, where logs,
//! shell histories and process lists keep it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a string is not a PKCS#11 URI Bulwark can use.
///
/// Messages name attributes, never their values: a refused URI may carry a
/// PIN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The string does not start with `pkcs11:`.
    #[error("not a PKCS#11 URI (it must start with pkcs11:)")]
    NotPkcs11,
    /// The URI carries a PIN (`pin-value`) or says where to read one
    /// (`pin-source`).
    #[error(
        "the PKCS#11 URI carries {attribute}: a PIN never goes in settings or arguments; \
         set BULWARK_PKCS11_PIN or type it at the prompt"
    )]
    PinInUri {
        /// `pin-value` or `pin-source`.
        attribute: &'static str,
    },
    /// An attribute this crate does not know or does not support.
    #[error("the PKCS#11 URI attribute {name:?} is not supported")]
    UnsupportedAttribute {
        /// The attribute's name.
        name: String,
    },
    /// An attribute without `=`.
    #[error("the PKCS#11 URI attribute {name:?} has no value")]
    MissingValue {
        /// The attribute's name.
        name: String,
    },
    /// An attribute given twice.
    #[error("the PKCS#11 URI gives {name} twice")]
    Duplicate {
        /// The attribute's name.
        name: String,
    },
    /// A `%` not followed by two hex digits, or text that is not UTF-8
    /// once decoded.
    #[error("the PKCS#11 URI attribute {name} is not validly percent-encoded")]
    BadEncoding {
        /// The attribute's name.
        name: String,
    },
    /// A `type` other than `private`.
    #[error("the PKCS#11 URI must name a private key (type=private), not type={found:?}")]
    NotPrivateKey {
        /// The type given.
        found: String,
    },
    /// A `slot-id` that is not a decimal number.
    #[error("the PKCS#11 URI slot-id is not a number")]
    BadSlotId,
    /// Neither `object` nor `id`: the URI names no key.
    #[error("the PKCS#11 URI names no key: give object=LABEL or id=BYTES")]
    NoKey,
}

/// A parsed PKCS#11 URI naming one private key. It never holds a PIN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token's label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot's number.
    pub slot_id: Option<u64>,
    /// `object`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID` bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path`: the PKCS#11 module to load, overriding the setting.
    pub module_path: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// True when `text` is meant as a PKCS#11 URI (starts with `pkcs11:`),
    /// rather than a key file's path.
    #[must_use]
    pub fn is_pkcs11(text: &str) -> bool {
        text.get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses `text`, refusing PINs, unknown attributes and a URI that
    /// names no key.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        if !Self::is_pkcs11(text) {
            return Err(UriError::NotPkcs11);
        }
        let rest = text.get(7..).unwrap_or_default();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        // Look at the query first, so that a PIN is refused before anything
        // else about the URI is reported.
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = split(attribute)?;
            match name {
                "pin-value" => {
                    return Err(UriError::PinInUri {
                        attribute: "pin-value",
                    });
                }
                "pin-source" => {
                    return Err(UriError::PinInUri {
                        attribute: "pin-source",
                    });
                }
                "module-path" => {
                    set(
                        &mut uri.module_path,
                        name,
                        PathBuf::from(text_value(name, value)?),
                    )?;
                }
                _ => {
                    return Err(UriError::UnsupportedAttribute {
                        name: name.to_owned(),
                    });
                }
            }
        }
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = split(attribute)?;
            match name {
                "token" => set(&mut uri.token, name, text_value(name, value)?)?,
                "manufacturer" => set(&mut uri.manufacturer, name, text_value(name, value)?)?,
                "model" => set(&mut uri.model, name, text_value(name, value)?)?,
                "serial" => set(&mut uri.serial, name, text_value(name, value)?)?,
                "object" => set(&mut uri.object, name, text_value(name, value)?)?,
                "id" => set(&mut uri.id, name, decode(name, value)?)?,
                "slot-id" => {
                    let slot = text_value(name, value)?
                        .parse()
                        .map_err(|_| UriError::BadSlotId)?;
                    set(&mut uri.slot_id, name, slot)?;
                }
                "type" => {
                    let found = text_value(name, value)?;
                    if found != "private" {
                        return Err(UriError::NotPrivateKey { found });
                    }
                }
                _ => {
                    return Err(UriError::UnsupportedAttribute {
                        name: name.to_owned(),
                    });
                }
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(UriError::NoKey);
        }
        Ok(uri)
    }

    /// The module this URI names with `module-path`, else `default`.
    #[must_use]
    pub fn module<'a>(&'a self, default: &'a Path) -> &'a Path {
        self.module_path.as_deref().unwrap_or(default)
    }
}

/// The URI again, in a canonical form (for messages: it holds no secret).
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut parts = Vec::new();
        let text = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("object", &self.object),
        ];
        for (name, value) in text {
            if let Some(value) = value {
                parts.push(format!("{name}={}", encode(value.as_bytes())));
            }
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", encode_all(id)));
        }
        f.write_str(&parts.join(";"))?;
        if let Some(module) = &self.module_path {
            write!(
                f,
                "?module-path={}",
                encode(module.to_string_lossy().as_bytes())
            )?;
        }
        Ok(())
    }
}

fn split(attribute: &str) -> Result<(&str, &str), UriError> {
    attribute
        .split_once('=')
        .ok_or_else(|| UriError::MissingValue {
            name: attribute.to_owned(),
        })
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate {
            name: name.to_owned(),
        });
    }
    *slot = Some(value);
    Ok(())
}

fn text_value(name: &str, value: &str) -> Result<String, UriError> {
    String::from_utf8(decode(name, value)?).map_err(|_| UriError::BadEncoding {
        name: name.to_owned(),
    })
}

/// Percent-decodes `value` (RFC 3986 §2.1).
fn decode(name: &str, value: &str) -> Result<Vec<u8>, UriError> {
    let bad = || UriError::BadEncoding {
        name: name.to_owned(),
    };
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let digits = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
            let text = std::str::from_utf8(&digits).map_err(|_| bad())?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| bad())?);
        } else {
            out.push(byte);
        }
    }
    Ok(out)
}

/// Percent-encodes every byte (for `id`, which is binary).
fn encode_all(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "%{b:02X}");
        out
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn token_object_and_id_are_read_percent_decoded() {
        let uri =
            Pkcs11Uri::parse("pkcs11:token=Bulwark%20Ops;object=online%2Dkey;id=%01%02a").unwrap();
        assert_eq!(uri.token.as_deref(), Some("Bulwark Ops"));
        assert_eq!(uri.object.as_deref(), Some("online-key"));
        assert_eq!(uri.id.as_deref(), Some(&[1, 2, b'a'][..]));
        assert_eq!(uri.module_path, None);
        let again = Pkcs11Uri::parse(&uri.to_string()).unwrap();
        assert_eq!(again, uri);
    }

    #[test]
    fn module_path_overrides_the_default_module() {
        let uri = Pkcs11Uri::parse(
            "PKCS11:object=k;serial=1234;slot-id=7;type=private?module-path=/opt/hsm/lib%20x.so",
        )
        .unwrap();
        assert_eq!(
            uri.module(Path::new("/default.so")),
            Path::new("/opt/hsm/lib x.so")
        );
        assert_eq!(uri.serial.as_deref(), Some("1234"));
        assert_eq!(uri.slot_id, Some(7));
        let plain = Pkcs11Uri::parse("pkcs11:id=%AA").unwrap();
        assert_eq!(
            plain.module(Path::new("/default.so")),
            Path::new("/default.so")
        );
    }

    #[test]
    fn a_pin_in_the_uri_is_refused_without_repeating_it() {
        for text in [
            "pkcs11:token=t;object=k?pin-value=123456",
            "pkcs11:token=t;object=k?module-path=/x.so&pin-value=123456",
            "pkcs11:token=t;unknown=1?pin-value=123456",
            "pkcs11:token=t;object=k?pin-source=file:/tmp/pin",
        ] {
            let err = Pkcs11Uri::parse(text).unwrap_err();
            assert!(matches!(err, UriError::PinInUri { .. }), "{err}");
            let message = err.to_string();
            assert!(
                !message.contains("123456") && !message.contains("/tmp/pin"),
                "{message}"
            );
            assert!(message.contains("BULWARK_PKCS11_PIN"), "{message}");
        }
    }

    #[test]
    fn malformed_uris_are_refused_with_the_reason() {
        type Expected = fn(&UriError) -> bool;
        let cases: [(&str, Expected); 9] = [
            ("/keys/online.key", |e| matches!(e, UriError::NotPkcs11)),
            ("pkcs11:token=t", |e| matches!(e, UriError::NoKey)),
            ("pkcs11:object=a;object=b", |e| {
                matches!(e, UriError::Duplicate { .. })
            }),
            ("pkcs11:object=%zz", |e| {
                matches!(e, UriError::BadEncoding { .. })
            }),
            ("pkcs11:object=%4", |e| {
                matches!(e, UriError::BadEncoding { .. })
            }),
            ("pkcs11:object=%FF", |e| {
                matches!(e, UriError::BadEncoding { .. })
            }),
            ("pkcs11:object=k;type=cert", |e| {
                matches!(e, UriError::NotPrivateKey { .. })
            }),
            ("pkcs11:object=k;library-version=1", |e| {
                matches!(e, UriError::UnsupportedAttribute { .. })
            }),
            ("pkcs11:object", |e| {
                matches!(e, UriError::MissingValue { .. })
            }),
        ];
        for (text, expected) in cases {
            let err = Pkcs11Uri::parse(text).unwrap_err();
            assert!(expected(&err), "{text}: {err}");
        }
    }
}
