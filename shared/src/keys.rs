//! The token signing keys: where they come from (`JWT_SECRET` on this machine, a Secrets Manager
//! secret in deployed stacks, `JWT_SECRET_ARN`), the secret's format, and when a warm function
//! reads it again. See docs/secrets.md.
//!
//! The secret holds the current key and, after a rotation, the previous one; both verify tokens,
//! each known by the `kid` its tokens carry. A plain string (what the stack generates at first)
//! is one key, `k0`. The JSON form, as `make rotate-secret` writes it:
//!
//! ```json
//! {"current": {"kid": "k20261205T0100Z", "key": "..."},
//!  "previous": {"kid": "k0", "key": "..."},
//!  "otp_key": "...", "rotated_at": 1796432400}
//! ```
//!
//! `otp_key` is what the login-code hashing key derives from. A rotation keeps it, so codes in
//! flight and the per-address counters (keyed by a hash of the address) survive it; absent, the
//! current key is used, as before the first rotation.
use std::fmt;

use serde::Deserialize;

use crate::config::{MIN_SECRET_BYTES, Secret};

/// The `kid` of the one key of a plain-string secret, and of tokens issued before tokens carried
/// a `kid` at all.
pub const FIRST_KID: &str = "k0";

/// The longest `kid` a secret may name; a token's header naming a longer one is unknown.
pub const MAX_KID_LEN: usize = 64;

/// A warm function reads the secret again on a token with a `kid` it does not know (a newer
/// instance signed it after a rotation), but at most once in this many seconds: random `kid`s
/// cannot make it call Secrets Manager on every request.
pub const REFETCH_INTERVAL_S: i64 = 30;

/// A warm function also reads the secret again when its copy is this old, so it does not go on
/// signing with a key a rotation retired: docs/secrets.md, why rotations must be a token
/// lifetime plus this apart.
pub const MAX_KEY_AGE_S: i64 = 3_600;

/// One signing key and the `kid` its tokens carry.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub secret: Secret,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What the secret holds: the key new tokens are signed with, the one before it, and the
/// material of the code-hashing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    pub current: SigningKey,
    pub previous: Option<SigningKey>,
    otp_material: Secret,
}

/// A secret that is not one of the two forms, or holds a key too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token key secret is invalid: {0}")]
pub struct KeyError(pub String);

#[derive(Deserialize)]
struct Stored {
    current: StoredKey,
    #[serde(default)]
    previous: Option<StoredKey>,
    #[serde(default)]
    otp_key: Option<String>,
}

#[derive(Deserialize)]
struct StoredKey {
    kid: String,
    key: String,
}

impl KeySet {
    /// One key, `k0`, which the code-hashing key also derives from: `JWT_SECRET`, or a secret
    /// that was never rotated.
    pub fn single(secret: Secret) -> Self {
        Self {
            current: SigningKey {
                kid: FIRST_KID.to_owned(),
                secret: secret.clone(),
            },
            previous: None,
            otp_material: secret,
        }
    }

    /// Reads a secret's value: a plain string (one key) or the JSON form.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if !text.trim_start().starts_with('{') {
            check_key(text, "the key")?;
            return Ok(Self::single(Secret::new(text)));
        }
        // Not serde_json's message: a wrong type quotes the value, which may be a key.
        let stored: Stored = serde_json::from_str(text).map_err(|e| {
            KeyError(format!(
                "not the JSON form ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let key = |k: StoredKey, what: &str| -> Result<SigningKey, KeyError> {
            check_kid(&k.kid)?;
            check_key(&k.key, what)?;
            Ok(SigningKey {
                kid: k.kid,
                secret: Secret::new(k.key),
            })
        };
        let current = key(stored.current, "current.key")?;
        let previous = stored
            .previous
            .map(|p| key(p, "previous.key"))
            .transpose()?;
        if previous.as_ref().is_some_and(|p| p.kid == current.kid) {
            return Err(KeyError("current and previous have the same kid".into()));
        }
        let otp_material = match stored.otp_key {
            Some(k) => {
                check_key(&k, "otp_key")?;
                Secret::new(k)
            }
            None => current.secret.clone(),
        };
        Ok(Self {
            current,
            previous,
            otp_material,
        })
    }

    /// The key a token's `kid` names, if this set has it.
    pub fn key(&self, kid: &str) -> Option<&SigningKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
    }

    /// What the login-code hashing key derives from (unless `OTP_SECRET` sets one).
    pub fn otp_material(&self) -> &Secret {
        &self.otp_material
    }
}

fn check_key(key: &str, what: &str) -> Result<(), KeyError> {
    if key.len() < MIN_SECRET_BYTES {
        return Err(KeyError(format!(
            "{what} must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeyError(format!(
            "a kid is 1-{MAX_KID_LEN} letters, digits, `-`, `_` or `.`"
        )))
    }
}

/// Where a deployed function reads its keys: one Secrets Manager secret, by ARN.
#[derive(Clone)]
pub struct SecretSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSource")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// The secret could not be read, or holds something else than keys.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("Secrets Manager could not be read")]
    Unavailable(#[source] crate::sdk::BoxError),
    #[error(transparent)]
    Invalid(#[from] KeyError),
}

impl SecretSource {
    /// The secret `secret_id` (its ARN or name), at `endpoint` if given (moto in the tests).
    pub fn new(secret_id: &str, endpoint: Option<&str>) -> Self {
        let builder = aws_sdk_secretsmanager::config::Builder::from(&crate::sdk::sdk_config());
        let builder = match endpoint {
            Some(endpoint) => builder.endpoint_url(endpoint),
            None => builder,
        };
        Self {
            client: aws_sdk_secretsmanager::Client::from_conf(builder.build()),
            secret_id: secret_id.to_owned(),
        }
    }

    /// One `GetSecretValue` of the current version.
    #[tracing::instrument(skip_all)]
    pub async fn fetch(&self) -> Result<KeySet, FetchError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| FetchError::Unavailable(Box::new(e)))?;
        let text = out
            .secret_string()
            .ok_or_else(|| KeyError("the secret has no SecretString".into()))?;
        Ok(KeySet::parse(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn a_plain_secret_is_one_key_named_k0_and_the_code_key_material() {
        let set = KeySet::parse(A).unwrap();
        assert_eq!(set.current.kid, FIRST_KID);
        assert_eq!(set.current.secret.expose(), A.as_bytes());
        assert_eq!(set.previous, None);
        assert_eq!(set.otp_material().expose(), A.as_bytes());
    }

    #[test]
    fn the_json_form_holds_both_keys_and_keeps_the_code_key_material_apart() {
        let text = format!(
            r#"{{"current":{{"kid":"k2","key":"{B}"}},"previous":{{"kid":"k0","key":"{A}"}},"otp_key":"{A}","rotated_at":1}}"#
        );
        let set = KeySet::parse(&text).unwrap();
        assert_eq!(set.current.kid, "k2");
        assert_eq!(set.key("k0").unwrap().secret.expose(), A.as_bytes());
        assert_eq!(set.key("k2").unwrap().secret.expose(), B.as_bytes());
        assert_eq!(set.key("k1"), None);
        assert_eq!(set.otp_material().expose(), A.as_bytes());
    }

    #[test]
    fn without_otp_key_the_code_key_derives_from_the_current_key() {
        let text = format!(r#"{{"current":{{"kid":"k2","key":"{C}"}}}}"#);
        assert_eq!(
            KeySet::parse(&text).unwrap().otp_material().expose(),
            C.as_bytes()
        );
    }

    #[test]
    fn short_keys_bad_kids_and_other_shapes_are_refused_without_quoting_a_key() {
        let short = "s".repeat(MIN_SECRET_BYTES - 1);
        let cases = [
            short.clone(),
            format!(r#"{{"current":{{"kid":"k1","key":"{short}"}}}}"#),
            format!(r#"{{"current":{{"kid":"k 1","key":"{A}"}}}}"#),
            format!(r#"{{"current":{{"kid":"","key":"{A}"}}}}"#),
            format!(
                r#"{{"current":{{"kid":"{}","key":"{A}"}}}}"#,
                "k".repeat(MAX_KID_LEN + 1)
            ),
            format!(
                r#"{{"current":{{"kid":"k1","key":"{A}"}},"previous":{{"kid":"k1","key":"{B}"}}}}"#
            ),
            format!(r#"{{"current":{{"kid":"k1","key":"{A}"}},"otp_key":"{short}"}}"#),
            format!(r#"{{"key":"{A}"}}"#),
            format!(r#"{{"current":{{"kid":"k1","key":"{A}"}}"#),
            format!(r#"{{"current":"{A}"}}"#),
        ];
        for text in cases {
            let err = KeySet::parse(&text).unwrap_err().to_string();
            assert!(!err.contains(A) && !err.contains(&short), "{err}");
        }
    }

    #[test]
    fn debug_output_shows_kids_but_never_keys() {
        let set = KeySet::parse(A).unwrap();
        let shown = format!("{set:?}");
        assert!(shown.contains("k0") && !shown.contains(A), "{shown}");
    }
}
