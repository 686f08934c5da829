//! Unit tests of the bounds the request and response types state (`#[schema(..)]`): each is the
//! constant or pattern its validator, parser or writer uses.
use serde_json::{Value, json};

use super::*;
use crate::config::{
    OTP_MAX_ATTEMPTS_RANGE, OTP_RESEND_SECONDS_RANGE, OTP_TTL_SECONDS_RANGE,
    TOKEN_TTL_SECONDS_RANGE,
};
use crate::domain::otp::MAX_CODE_INPUT_LEN;
use crate::domain::{invite, phone};
use crate::http::{MAX_DETAIL_CHARS, cursor};

// The bounds of what the API writes, which no parser checks: the types state them, and
// `response_values_fit_their_documented_bounds` checks what the API sends against them.
/// The longest E.164 number: `+` and 15 digits.
const MAX_E164_LEN: usize = 16;
/// Longest access token: three base64url parts of a fixed header, the claims (a UUID, three
/// integers) and an HS256 signature come to under 300; `tokens_fit_the_documented_length` checks.
const MAX_TOKEN_LEN: usize = 512;
/// `2026-11-23T04:01:10.120Z`: what `clock::rfc3339` writes for any year 0-9999.
pub(super) const TIMESTAMP_LEN: usize = 24;
/// Every referral is a distinct user, every user a distinct E.164 number: at most 10^15 - 1.
const MAX_REFERRALS: i64 = 999_999_999_999_999;
const E164_PATTERN: &str = r"^\+[1-9][0-9]{1,14}$";
const UUID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]*$";
const JWT_PATTERN: &str = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$";

/// What the phone parser may accept, as a pattern: the input characters, at least one digit.
fn phone_input_pattern() -> String {
    let chars: String = phone::INPUT_CHARS
        .chars()
        .map(|c| match c {
            '-' | '(' | ')' | '.' | '+' => format!(r"\{c}"),
            c => c.to_string(),
        })
        .collect();
    // At least one digit: all-space input is empty once trimmed.
    format!("^{TRIMMED}*[{chars}]*[0-9][{chars}]*{TRIMMED}*$")
}

fn invite_input_pattern() -> String {
    format!(
        "^{TRIMMED}*[{}]{{{}}}{TRIMMED}*$",
        alphabet_class(true),
        invite::INVITE_CODE_LEN
    )
}

fn invite_code_pattern() -> String {
    format!(
        "^[{}]{{{}}}$",
        alphabet_class(false),
        invite::INVITE_CODE_LEN
    )
}

/// The invite-code alphabet as ranges, with its lower case when input is case-folded.
fn alphabet_class(with_lower: bool) -> String {
    let letters = invite::ALPHABET.iter().filter(|b| b.is_ascii_alphabetic());
    let upper: String = letters.map(|&b| char::from(b)).collect();
    let digits = invite::ALPHABET.iter().any(u8::is_ascii_digit);
    let mut class = String::new();
    if upper == "ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
        class.push_str("A-Z");
        if with_lower {
            class.push_str("a-z");
        }
    }
    if digits {
        class.push_str("0-9");
    }
    class
}

fn doc() -> Value {
    value(Settings {
        otp_digits: 4,
        demo_mode: true,
        captcha: CaptchaProvider::None,
    })
}

fn field<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
    &doc["components"]["schemas"][schema]["properties"][name]
}

/// What the types state with `#[schema(..)]` (utoipa takes only literals there), held to the
/// constants and patterns the validators and writers use: each entry was once patched into the
/// document from these very values.
#[test]
fn the_bounds_stated_on_the_types_are_the_validators_constants() {
    let doc = doc();
    let range =
        |r: &std::ops::RangeInclusive<i64>| json!({ "minimum": r.start(), "maximum": r.end() });
    let string = |max: usize, pattern: &str| json!({ "maxLength": max, "pattern": pattern });
    let phone_input = json!({
        "maxLength": phone::MAX_INPUT_LEN,
        "pattern": phone_input_pattern(),
        "format": "phone-input",
    });
    let e164 = string(MAX_E164_LEN, E164_PATTERN);
    let timestamp = json!({ "format": "date-time", "maxLength": TIMESTAMP_LEN });
    let invite_code = string(invite::INVITE_CODE_LEN, &invite_code_pattern());
    let stated = [
        ("SendCodeRequest", "phone", phone_input.clone()),
        ("VerifyCodeRequest", "phone", phone_input),
        (
            "VerifyCodeRequest",
            "code",
            json!({ "maxLength": MAX_CODE_INPUT_LEN }),
        ),
        (
            "ActivateRequest",
            "invite_code",
            string(invite::MAX_INPUT_LEN, &invite_input_pattern()),
        ),
        ("SendCodeResponse", "phone", e164.clone()),
        (
            "SendCodeResponse",
            "expires_in",
            range(&OTP_TTL_SECONDS_RANGE),
        ),
        (
            "SendCodeResponse",
            "resend_in",
            range(&OTP_RESEND_SECONDS_RANGE),
        ),
        (
            "VerifyCodeResponse",
            "access_token",
            string(MAX_TOKEN_LEN, JWT_PATTERN),
        ),
        (
            "VerifyCodeResponse",
            "expires_in",
            range(&TOKEN_TTL_SECONDS_RANGE),
        ),
        (
            "ProfileView",
            "id",
            json!({ "format": "uuid", "maxLength": 36, "pattern": UUID_PATTERN }),
        ),
        ("ProfileView", "phone", e164.clone()),
        ("ProfileView", "invite_code", invite_code.clone()),
        ("ProfileView", "activated_invite_code", invite_code),
        (
            "ProfileView",
            "referrals",
            json!({ "maxItems": crate::api::PROFILE_REFERRALS }),
        ),
        (
            "ProfileView",
            "referrals_count",
            range(&(0..=MAX_REFERRALS)),
        ),
        ("ProfileView", "created_at", timestamp.clone()),
        ("ReferralView", "phone", e164),
        ("ReferralView", "activated_at", timestamp),
        (
            "ReferralPage",
            "items",
            json!({ "maxItems": crate::api::profile::MAX_PAGE }),
        ),
        (
            "ReferralPage",
            "next_cursor",
            string(cursor::MAX_CURSOR_LEN, CURSOR_PATTERN),
        ),
        ("Problem", "type", string(64, "^/problems/[a-z_]+$")),
        ("Problem", "title", json!({ "maxLength": 64 })),
        (
            "Problem",
            "detail",
            json!({ "maxLength": MAX_DETAIL_CHARS }),
        ),
        ("Problem", "status", range(&(400..=599))),
        (
            "Problem",
            "attempts_left",
            range(&(0..=i64::from(*OTP_MAX_ATTEMPTS_RANGE.end()))),
        ),
    ];
    for (schema, name, bounds) in stated {
        for (key, value) in bounds.as_object().unwrap() {
            assert_eq!(
                &field(&doc, schema, name)[key],
                value,
                "{schema}.{name}: {key}"
            );
        }
    }
    let referrals = &doc["paths"]["/v1/profile/referrals"]["get"]["parameters"];
    let param = |name: &str| {
        referrals
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    let limit = param("limit");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], crate::api::profile::MAX_PAGE);
    assert_eq!(
        limit["description"],
        format!(
            "Page size, 1-{} (default {})",
            crate::api::profile::MAX_PAGE,
            crate::api::profile::DEFAULT_PAGE
        )
    );
    let cursor_param = param("cursor");
    assert_eq!(
        cursor_param["schema"],
        json!({
            "type": "string",
            "format": "referral-cursor",
            "maxLength": cursor::MAX_CURSOR_LEN,
            "pattern": CURSOR_PATTERN,
        })
    );
}
