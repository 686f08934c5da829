//! Access tokens: HS256 JWTs carrying the user id and the user's token version, and in their
//! header the `kid` of the key that signed them.
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::error::{AuthFailure, Chain};
use crate::keys::{
    FIRST_KID, FetchError, KeySet, MAX_KEY_AGE_S, MAX_KID_LEN, REFETCH_INTERVAL_S, SecretSource,
};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's token version when issued; logout bumps the stored one, revoking this token.
    pub ver: u64,
}

impl Claims {
    /// Whether the token was issued (at a login) no more than `max_age_s` seconds before `now_s`:
    /// what deleting the account asks, so a token lost or left on a shared device cannot.
    pub fn issued_within(&self, max_age_s: i64, now_s: i64) -> bool {
        now_s.saturating_sub(self.iat) <= max_age_s
    }
}

/// Signs tokens with the current key and verifies them with whichever key their `kid` names;
/// with a [`SecretSource`], reads the keys again after a rotation (see [`crate::keys`]).
pub struct Tokens {
    ring: RwLock<Arc<Ring>>,
    source: Option<SecretSource>,
    validation: Validation,
    pub ttl_seconds: i64,
    /// When the keys held were read, and when the secret was last asked for (clock seconds).
    read_at_s: AtomicI64,
    asked_at_s: AtomicI64,
    fetches: AtomicU64,
}

/// A [`KeySet`] ready for use: the encoding key of the current key, a decoding key per `kid`.
struct Ring {
    kid: String,
    encoding: EncodingKey,
    decoding: Vec<(String, DecodingKey)>,
}

impl Ring {
    fn new(keys: &KeySet) -> Self {
        let decoding = std::iter::once(&keys.current)
            .chain(&keys.previous)
            .map(|k| (k.kid.clone(), DecodingKey::from_secret(k.secret.expose())))
            .collect();
        Self {
            kid: keys.current.kid.clone(),
            encoding: EncodingKey::from_secret(keys.current.secret.expose()),
            decoding,
        }
    }

    fn decoding(&self, kid: &str) -> Option<&DecodingKey> {
        self.decoding
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
    }
}

impl Tokens {
    /// One fixed key (`JWT_SECRET`): nothing to read again.
    pub fn new(secret: &Secret, ttl_seconds: i64) -> Self {
        Self::from_keys(&KeySet::single(secret.clone()), None, 0, ttl_seconds)
    }

    /// The keys `source` holds now, read once (a function's init); `now_s` is the state's clock.
    pub async fn load(
        source: SecretSource,
        ttl_seconds: i64,
        now_s: i64,
    ) -> Result<(Self, KeySet), FetchError> {
        let keys = source.fetch().await?;
        let tokens = Self::from_keys(&keys, Some(source), now_s, ttl_seconds);
        tokens.fetches.store(1, Ordering::Relaxed);
        Ok((tokens, keys))
    }

    fn from_keys(
        keys: &KeySet,
        source: Option<SecretSource>,
        now_s: i64,
        ttl_seconds: i64,
    ) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            ring: RwLock::new(Arc::new(Ring::new(keys))),
            source,
            validation,
            ttl_seconds,
            read_at_s: AtomicI64::new(now_s),
            asked_at_s: AtomicI64::new(now_s),
            fetches: AtomicU64::new(0),
        }
    }

    fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many times the secret was read: at init, then after rotations.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub fn issue(&self, user: &UserId, token_version: u64, now_s: i64) -> String {
        let claims = Claims {
            sub: user.as_str().to_owned(),
            iat: now_s,
            exp: now_s + self.ttl_seconds,
            ver: token_version,
        };
        let ring = self.ring();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(ring.kid.clone());
        // Encoding HS256 with a byte key only fails on serialisation errors, which these plain
        // claims cannot produce.
        jsonwebtoken::encode(&header, &claims, &ring.encoding).unwrap_or_default()
    }

    /// Signature, algorithm and claims; `now_s` decides expiry so tests can move time. A token
    /// whose `kid` no key here has makes a warm function read the secret again (a newer instance
    /// may have signed it after a rotation), at most once per [`REFETCH_INTERVAL_S`].
    pub async fn verify(&self, token: &str, now_s: i64) -> Result<Claims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Invalid)?;
        // Tokens issued before tokens carried a `kid` were signed with the first key.
        let kid = header.kid.unwrap_or_else(|| FIRST_KID.to_owned());
        self.refresh_if_old(now_s).await;
        let mut ring = self.ring();
        if ring.decoding(&kid).is_none() && kid.len() <= MAX_KID_LEN && self.refetch(now_s).await {
            ring = self.ring();
        }
        let key = ring.decoding(&kid).ok_or(AuthFailure::Invalid)?;
        let mut validation = self.validation.clone();
        // We check `exp` against our own clock below, so the library does not read the system one.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            ErrorKind::ExpiredSignature => AuthFailure::Expired,
            _ => AuthFailure::Invalid,
        })?;
        if data.claims.exp <= now_s {
            return Err(AuthFailure::Expired);
        }
        Ok(data.claims)
    }

    /// Reads the secret again if the keys held are [`MAX_KEY_AGE_S`] old, so a warm function
    /// does not sign with a key a rotation retired for longer than that.
    pub async fn refresh_if_old(&self, now_s: i64) {
        if self.source.is_some() && now_s - self.read_at_s.load(Ordering::Relaxed) >= MAX_KEY_AGE_S
        {
            self.refetch(now_s).await;
        }
    }

    /// Reads the secret again unless it was asked for in the last [`REFETCH_INTERVAL_S`];
    /// whether the keys were replaced. A failure keeps the keys held.
    async fn refetch(&self, now_s: i64) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        let asked = self.asked_at_s.load(Ordering::Relaxed);
        if now_s - asked < REFETCH_INTERVAL_S {
            return false;
        }
        // Claimed before the call: a request arriving meanwhile does not ask too.
        if self
            .asked_at_s
            .compare_exchange(asked, now_s, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match source.fetch().await {
            Ok(keys) => {
                tracing::info!(
                    kid = %keys.current.kid,
                    previous = keys.previous.as_ref().map(|k| k.kid.as_str()),
                    "token keys read again"
                );
                *self.ring.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(Ring::new(&keys));
                self.read_at_s.store(now_s, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "token keys could not be read again; keeping those held");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new(b"s".repeat(32)), 3_600)
    }

    fn user() -> UserId {
        UserId::from_trusted("u-1".into())
    }

    #[tokio::test]
    async fn an_issued_token_verifies_with_its_claims() {
        let t = tokens();
        let claims = t.verify(&t.issue(&user(), 7, NOW), NOW + 1).await.unwrap();
        assert_eq!(
            claims,
            Claims {
                sub: "u-1".into(),
                iat: NOW,
                exp: NOW + 3_600,
                ver: 7
            }
        );
    }

    #[tokio::test]
    async fn a_token_counts_as_a_recent_login_up_to_the_age_given_and_not_after() {
        let t = tokens();
        let claims = t.verify(&t.issue(&user(), 0, NOW), NOW).await.unwrap();
        assert!(claims.issued_within(300, NOW));
        assert!(claims.issued_within(300, NOW + 300));
        assert!(!claims.issued_within(300, NOW + 301));
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let t = tokens();
        let token = t.issue(&user(), 0, NOW);
        assert_eq!(
            t.verify(&token, NOW + 3_600).await,
            Err(AuthFailure::Expired)
        );
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
        let other = Tokens::new(&Secret::new(b"x".repeat(32)), 3_600);
        assert_eq!(
            tokens().verify(&other.issue(&user(), 0, NOW), NOW).await,
            Err(AuthFailure::Invalid)
        );
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let t = tokens();
        let token = t.issue(&user(), 0, NOW);
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = B64.encode(format!(
            r#"{{"sub":"u-2","iat":{NOW},"exp":{},"ver":0}}"#,
            NOW + 3_600
        ));
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(t.verify(&forged, NOW).await, Err(AuthFailure::Invalid));
    }

    #[tokio::test]
    async fn alg_none_and_other_algorithms_are_refused() {
        let t = tokens();
        let payload = B64.encode(format!(
            r#"{{"sub":"u-1","iat":{NOW},"exp":{},"ver":0}}"#,
            NOW + 3_600
        ));
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let token = format!("{}.{}.", B64.encode(header), payload);
            assert_eq!(
                t.verify(&token, NOW).await,
                Err(AuthFailure::Invalid),
                "{header}"
            );
        }
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &Claims {
                sub: "u-1".into(),
                iat: NOW,
                exp: NOW + 3_600,
                ver: 0,
            },
            &EncodingKey::from_secret(&b"s".repeat(32)),
        )
        .unwrap();
        assert_eq!(t.verify(&hs384, NOW).await, Err(AuthFailure::Invalid));
    }

    #[tokio::test]
    async fn garbage_is_refused() {
        for token in ["", "abc", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert_eq!(
                tokens().verify(token, NOW).await,
                Err(AuthFailure::Invalid),
                "{token}"
            );
        }
    }

    fn keys(text: &str) -> KeySet {
        KeySet::parse(text).unwrap()
    }

    const OLD: &str = "old-key-old-key-old-key-old-key-old-key!";
    const NEW: &str = "new-key-new-key-new-key-new-key-new-key!";

    fn rotated() -> Tokens {
        let text = format!(
            r#"{{"current":{{"kid":"k2","key":"{NEW}"}},"previous":{{"kid":"k0","key":"{OLD}"}}}}"#
        );
        Tokens::from_keys(&keys(&text), None, NOW, 3_600)
    }

    #[tokio::test]
    async fn tokens_name_the_key_that_signed_them() {
        let token = rotated().issue(&user(), 0, NOW);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k2"));
        let first = tokens().issue(&user(), 0, NOW);
        let header = jsonwebtoken::decode_header(&first).unwrap();
        assert_eq!(header.kid.as_deref(), Some(FIRST_KID));
    }

    #[tokio::test]
    async fn a_token_of_the_previous_key_verifies_after_a_rotation() {
        let before = Tokens::new(&Secret::new(OLD), 3_600).issue(&user(), 3, NOW);
        assert_eq!(rotated().verify(&before, NOW).await.unwrap().ver, 3);
    }

    #[tokio::test]
    async fn a_token_without_a_kid_is_one_of_the_first_key() {
        let claims = Claims {
            sub: "u-1".into(),
            iat: NOW,
            exp: NOW + 60,
            ver: 0,
        };
        let old_style = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(OLD.as_bytes()),
        )
        .unwrap();
        assert_eq!(rotated().verify(&old_style, NOW).await, Ok(claims));
    }

    #[tokio::test]
    async fn a_token_naming_a_key_we_do_not_have_is_refused_even_if_its_signature_is_ours() {
        let t = rotated();
        let claims = Claims {
            sub: "u-1".into(),
            iat: NOW,
            exp: NOW + 60,
            ver: 0,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k9".into());
        let unknown =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(NEW.as_bytes()))
                .unwrap();
        assert_eq!(t.verify(&unknown, NOW).await, Err(AuthFailure::Invalid));
        // The key of one kid does not verify a token naming the other.
        header.kid = Some("k0".into());
        let crossed =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(NEW.as_bytes()))
                .unwrap();
        assert_eq!(t.verify(&crossed, NOW).await, Err(AuthFailure::Invalid));
    }
}
