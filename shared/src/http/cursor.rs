//! The `cursor` of `GET /v1/profile/referrals`: a position in the list, as clients carry it.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::domain::{ReferralKey, UserId};

/// Longest cursor `encode` writes (a 13-digit time and a UUID), with room to spare.
pub const MAX_CURSOR_LEN: usize = 128;

#[derive(Serialize, Deserialize)]
struct Wire {
    t: i64,
    u: String,
}

pub fn encode(key: &ReferralKey) -> String {
    let wire = Wire {
        t: key.activated_at,
        u: key.user_id.as_str().to_owned(),
    };
    B64.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// Only what `encode` can produce: a positive time and a user id that is a UUID, so a crafted
/// cursor cannot reach DynamoDB with a key it would reject.
pub fn decode(text: &str) -> Option<ReferralKey> {
    if text.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = B64.decode(text).ok()?;
    let wire: Wire = serde_json::from_slice(&bytes).ok()?;
    let id_ok = uuid::Uuid::try_parse(&wire.u).is_ok_and(|u| u.to_string() == wire.u);
    (wire.t > 0 && id_ok).then(|| ReferralKey {
        activated_at: wire.t,
        user_id: UserId::from_trusted(wire.u),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = ReferralKey {
            activated_at: 1_800_000_000_123,
            user_id: UserId::generate(),
        };
        assert!(encode(&key).len() <= MAX_CURSOR_LEN);
        assert_eq!(decode(&encode(&key)), Some(key));
        assert_eq!(decode("not a cursor"), None);
        assert_eq!(decode(&B64.encode(b"{\"x\":1}")), None);
        let crafted =
            |t: i64, u: &str| B64.encode(serde_json::json!({ "t": t, "u": u }).to_string());
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(decode(&crafted(0, &id)), None);
        assert_eq!(decode(&crafted(5, "")), None);
        assert_eq!(decode(&crafted(5, &"a".repeat(3_000))), None);
        assert_eq!(decode(&crafted(5, &id.to_uppercase())), None);
        assert!(decode(&crafted(5, &id)).is_some());
    }
}
