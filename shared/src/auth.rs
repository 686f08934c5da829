//! Access tokens: HS256 JWTs carrying the user id and the user's token version.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::domain::UserId;
use crate::error::AuthFailure;

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

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: i64,
}

impl Tokens {
    pub fn new(secret: &Secret, ttl_seconds: i64) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            ttl_seconds,
        }
    }

    pub fn issue(&self, user: &UserId, token_version: u64, now_s: i64) -> String {
        let claims = Claims {
            sub: user.as_str().to_owned(),
            iat: now_s,
            exp: now_s + self.ttl_seconds,
            ver: token_version,
        };
        // Encoding HS256 with a byte key only fails on serialisation errors, which these plain
        // claims cannot produce.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Signature, algorithm and claims; `now_s` decides expiry so tests can move time.
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Claims, AuthFailure> {
        let mut validation = self.validation.clone();
        // We check `exp` against our own clock below, so the library does not read the system one.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                _ => AuthFailure::Invalid,
            },
        )?;
        if data.claims.exp <= now_s {
            return Err(AuthFailure::Expired);
        }
        Ok(data.claims)
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

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let t = tokens();
        let claims = t.verify(&t.issue(&user(), 7, NOW), NOW + 1).unwrap();
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

    #[test]
    fn a_token_counts_as_a_recent_login_up_to_the_age_given_and_not_after() {
        let t = tokens();
        let claims = t.verify(&t.issue(&user(), 0, NOW), NOW).unwrap();
        assert!(claims.issued_within(300, NOW));
        assert!(claims.issued_within(300, NOW + 300));
        assert!(!claims.issued_within(300, NOW + 301));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let t = tokens();
        let token = t.issue(&user(), 0, NOW);
        assert_eq!(t.verify(&token, NOW + 3_600), Err(AuthFailure::Expired));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = Tokens::new(&Secret::new(b"x".repeat(32)), 3_600);
        assert_eq!(
            tokens().verify(&other.issue(&user(), 0, NOW), NOW),
            Err(AuthFailure::Invalid)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let t = tokens();
        let token = t.issue(&user(), 0, NOW);
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = B64.encode(format!(
            r#"{{"sub":"u-2","iat":{NOW},"exp":{},"ver":0}}"#,
            NOW + 3_600
        ));
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(t.verify(&forged, NOW), Err(AuthFailure::Invalid));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
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
            assert_eq!(t.verify(&token, NOW), Err(AuthFailure::Invalid), "{header}");
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
        assert_eq!(t.verify(&hs384, NOW), Err(AuthFailure::Invalid));
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", "abc", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert_eq!(
                tokens().verify(token, NOW),
                Err(AuthFailure::Invalid),
                "{token}"
            );
        }
    }
}
