//! Unit tests of `config`: every setting read, defaulted and refused as documented.
use std::collections::HashMap;

use super::*;
use crate::domain::limits::BUDGET_TRIES;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Config::from_lookup(|name| env.get(name).cloned())
}

#[test]
fn a_missing_jwt_secret_refuses_to_start() {
    assert_eq!(config(&[]).unwrap_err(), ConfigError::Missing("JWT_SECRET"));
}

#[test]
fn a_short_jwt_secret_refuses_to_start() {
    let err = config(&[("JWT_SECRET", "short")]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                name: "JWT_SECRET",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_secret_arn_replaces_jwt_secret_but_not_both_at_once() {
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf";
    let c = config(&[("JWT_SECRET_ARN", arn)]).unwrap();
    assert_eq!(
        c.token_keys,
        TokenKeys::SecretsManager {
            secret_id: arn.into()
        }
    );
    let err = config(&[("JWT_SECRET_ARN", arn), ("JWT_SECRET", SECRET)]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                name: "JWT_SECRET_ARN",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_edge_secret_turns_the_origin_check_on_and_must_be_long() {
    let c = config(&[("JWT_SECRET", SECRET), ("EDGE_SECRET", SECRET)]).unwrap();
    assert!(c.edge.enabled());
    let err = config(&[("JWT_SECRET", SECRET), ("EDGE_SECRET", "short")]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                name: "EDGE_SECRET",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn defaults_follow_the_contract() {
    let c = config(&[("JWT_SECRET", SECRET)]).unwrap();
    assert_eq!(c.otp, OtpPolicy::default());
    assert_eq!(c.token_ttl_seconds, 86_400);
    assert_eq!(c.delete_max_token_age_seconds, 300);
    assert_eq!(c.default_region, parse_region("RU").unwrap());
    assert_eq!(c.sms_delay_ms, (1_000, 2_000));
    assert!(!c.expose_codes);
    assert_eq!(c.reach, SmsReach::default());
    assert_eq!(c.limits, ClientLimits::default());
    assert_eq!(c.tables.users, "referral-users");
    assert_eq!(c.token_keys, TokenKeys::Local(Secret::new(SECRET)));
    assert_eq!(c.otp_secret, None);
    assert_ne!(
        derive_otp_secret(&Secret::new(SECRET)).expose(),
        SECRET.as_bytes()
    );
    assert!(!c.edge.enabled());
}

#[test]
fn every_setting_can_be_overridden() {
    let c = config(&[
        ("JWT_SECRET", SECRET),
        ("OTP_SECRET", "fedcba9876543210fedcba9876543210"),
        ("OTP_DIGITS", "6"),
        ("OTP_TTL_SECONDS", "30"),
        ("OTP_MAX_ATTEMPTS", "3"),
        ("OTP_RESEND_SECONDS", "0"),
        ("OTP_MAX_SENDS_PER_HOUR", "50"),
        ("OTP_MAX_FAILURES_PER_DAY", "20"),
        ("OTP_PHONE_MAX_SENDS_PER_HOUR", "60"),
        ("OTP_PHONE_MAX_FAILURES_PER_DAY", "140"),
        ("IP_MAX_SENDS_PER_HOUR", "3"),
        ("IP_MAX_FAILURES_PER_HOUR", "4"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "7"),
        ("IP_RANGE_MAX_FAILURES_PER_HOUR", "9"),
        ("SMS_BUDGET_PER_HOUR", "50"),
        ("SMS_BUDGET_PER_DAY", "300"),
        ("SMS_BUDGET_RETURNING_PERCENT", "20"),
        ("SMS_BUDGET_SHARDS", "7"),
        ("SMS_ALLOWED_REGIONS", "ru, kz"),
        ("SMS_MOBILE_ONLY", "true"),
        ("TOKEN_TTL_SECONDS", "600"),
        ("DEFAULT_REGION", "us"),
        ("SMS_DELAY_MS", "0"),
        ("EXPOSE_CODES", "true"),
        ("USERS_TABLE", "u"),
        ("UNIQUES_TABLE", "q"),
        ("OTP_TABLE", "o"),
        ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
    ])
    .unwrap();
    assert_eq!(
        c.otp,
        OtpPolicy {
            digits: 6,
            ttl_seconds: 30,
            max_attempts: 3,
            resend_seconds: 0,
            max_sends_per_hour: 50,
            phone_max_sends_per_hour: 60,
            max_failures_per_day: 20,
            phone_max_failures_per_day: 140,
        }
    );
    assert_eq!(
        c.limits,
        ClientLimits {
            sends_per_hour: 3,
            failures_per_hour: 4,
            range_sends_per_hour: 7,
            range_failures_per_hour: 9,
            sms_budget_per_hour: 50,
            sms_budget_per_day: 300,
            sms_budget_returning_percent: 20,
            sms_budget_shards: 7,
            sms_budget_tries: BUDGET_TRIES,
        }
    );
    assert_eq!(
        c.reach,
        SmsReach {
            regions: Some(vec![
                parse_region("RU").unwrap(),
                parse_region("KZ").unwrap()
            ]),
            mobile_only: true
        }
    );
    assert_eq!(
        c.otp_secret,
        Some(Secret::new("fedcba9876543210fedcba9876543210"))
    );
    assert_eq!(c.token_ttl_seconds, 600);
    assert_eq!(c.default_region, parse_region("US").unwrap());
    assert_eq!(c.sms_delay_ms, (0, 0));
    assert!(c.expose_codes);
    assert_eq!(
        c.tables,
        TableNames {
            users: "u".into(),
            uniques: "q".into(),
            otp: "o".into()
        }
    );
    assert_eq!(
        c.dynamodb_endpoint.as_deref(),
        Some("http://127.0.0.1:8000")
    );
}

#[test]
fn nonsense_values_are_refused_by_name() {
    for (name, value) in [
        ("OTP_DIGITS", "3"),
        ("OTP_TTL_SECONDS", "soon"),
        ("SMS_DELAY_MS", "2000-1000"),
        ("SMS_DELAY_MS", "-5"),
        ("EXPOSE_CODES", "maybe"),
        ("DEFAULT_REGION", "Mars"),
        ("OTP_RESEND_SECONDS", "3601"),
        ("IP_MAX_SENDS_PER_HOUR", "0"),
        ("SMS_BUDGET_PER_HOUR", "lots"),
        ("SMS_ALLOWED_REGIONS", "RU,Narnia"),
        ("SMS_MOBILE_ONLY", "sometimes"),
        ("OTP_PHONE_MAX_FAILURES_PER_DAY", "101"),
        ("SMS_BUDGET_PER_HOUR", "10000001"),
        ("SMS_BUDGET_SHARDS", "0"),
        ("SMS_BUDGET_SHARDS", "1001"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "9"),
        ("SMS_BUDGET_PER_DAY", "0"),
        ("SMS_BUDGET_PER_DAY", "240000001"),
        ("SMS_BUDGET_RETURNING_PERCENT", "101"),
        ("SMS_BUDGET_RETURNING_PERCENT", "half"),
        ("IP_RANGE_MAX_FAILURES_PER_HOUR", "5000001"),
    ] {
        let err = config(&[("JWT_SECRET", SECRET), (name, value)]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
            "{name}={value}: {err:?}"
        );
    }
}

#[test]
fn sms_settings_default_to_the_simulated_sender_and_can_name_sns() {
    let c = config(&[("JWT_SECRET", SECRET)]).unwrap();
    assert_eq!(c.sms.sender, SmsSender::Log);
    assert_eq!(c.sms.template, DEFAULT_SMS_TEMPLATE);
    let c = config(&[
        ("JWT_SECRET", SECRET),
        ("SMS_SENDER", "sns"),
        ("SMS_SENDER_ID", "Referral"),
        ("SMS_ORIGINATION_NUMBER", "+12065550100"),
        ("SMS_TEMPLATE", "Your code: {code}"),
        ("SNS_ENDPOINT", "http://127.0.0.1:5000"),
    ])
    .unwrap();
    assert_eq!(
        c.sms,
        SmsSettings {
            sender: SmsSender::Sns,
            sender_id: Some("Referral".into()),
            origination_number: Some("+12065550100".into()),
            template: "Your code: {code}".into(),
            sns_endpoint: Some("http://127.0.0.1:5000".into()),
        }
    );
}

#[test]
fn real_sms_with_codes_in_responses_refuses_to_start() {
    let err = config(&[
        ("JWT_SECRET", SECRET),
        ("SMS_SENDER", "sns"),
        ("EXPOSE_CODES", "true"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                name: "EXPOSE_CODES",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_sms_settings_are_refused_by_name() {
    for (name, value) in [
        ("SMS_SENDER", "pigeon"),
        ("SMS_SENDER_ID", "TooLongSenderId"),
        ("SMS_SENDER_ID", "123456"),
        ("SMS_SENDER_ID", "Bad-Id"),
        ("SMS_ORIGINATION_NUMBER", "12065550100"),
        ("SMS_ORIGINATION_NUMBER", "+1206"),
        ("SMS_TEMPLATE", "no code here"),
    ] {
        let err = config(&[("JWT_SECRET", SECRET), (name, value)]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
            "{name}={value}: {err:?}"
        );
    }
}

#[test]
fn six_digit_codes_allow_a_higher_phone_ceiling_up_to_what_the_phones_record_holds() {
    let c = config(&[
        ("JWT_SECRET", SECRET),
        ("OTP_DIGITS", "6"),
        ("OTP_PHONE_MAX_FAILURES_PER_DAY", "190"),
    ])
    .unwrap();
    assert_eq!(c.otp.phone_max_failures_per_day, 190);
    // Within the odds, but past the record's marks together with the phone's sends.
    for (sends, failures) in [("10", "191"), ("100", "101"), ("1", "200")] {
        let err = config(&[
            ("JWT_SECRET", SECRET),
            ("OTP_DIGITS", "6"),
            ("OTP_PHONE_MAX_SENDS_PER_HOUR", sends),
            ("OTP_PHONE_MAX_FAILURES_PER_DAY", failures),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { name: "OTP_PHONE_MAX_FAILURES_PER_DAY", reason }
                if reason.contains("OTP_PHONE_MAX_SENDS_PER_HOUR")),
            "{sends}+{failures}: {err:?}"
        );
    }
}

#[test]
fn budget_shards_default_to_at_most_the_budget_and_may_not_be_set_past_it() {
    let shards = |pairs: &[(&str, &str)]| {
        let mut all = vec![("JWT_SECRET", SECRET)];
        all.extend_from_slice(pairs);
        config(&all).map(|c| c.limits.sms_budget_shards)
    };
    assert_eq!(shards(&[]), Ok(DEFAULT_BUDGET_SHARDS));
    assert_eq!(shards(&[("SMS_BUDGET_PER_HOUR", "3")]), Ok(3));
    assert_eq!(
        shards(&[("SMS_BUDGET_PER_HOUR", "3"), ("SMS_BUDGET_SHARDS", "3")]),
        Ok(3)
    );
    let err = shards(&[("SMS_BUDGET_PER_HOUR", "3"), ("SMS_BUDGET_SHARDS", "4")]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { name: "SMS_BUDGET_SHARDS", reason }
            if reason.contains("SMS_BUDGET_PER_HOUR")),
        "{err:?}"
    );
}

#[test]
fn range_limits_default_to_five_times_the_address_ones_and_may_not_go_below_them() {
    let limits = |pairs: &[(&str, &str)]| {
        let mut all = vec![("JWT_SECRET", SECRET)];
        all.extend_from_slice(pairs);
        config(&all).map(|c| {
            (
                c.limits.range_sends_per_hour,
                c.limits.range_failures_per_hour,
            )
        })
    };
    assert_eq!(limits(&[]), Ok((50, 100)));
    assert_eq!(
        limits(&[
            ("IP_MAX_SENDS_PER_HOUR", "100"),
            ("IP_MAX_FAILURES_PER_HOUR", "3")
        ]),
        Ok((500, 15))
    );
    // The largest per-address limits still have a default that fits.
    assert_eq!(
        limits(&[("IP_MAX_SENDS_PER_HOUR", "1000000")]),
        Ok((5_000_000, 100))
    );
    assert_eq!(
        limits(&[("IP_RANGE_MAX_SENDS_PER_HOUR", "10")]),
        Ok((10, 100))
    );
    let err = limits(&[
        ("IP_MAX_FAILURES_PER_HOUR", "30"),
        ("IP_RANGE_MAX_FAILURES_PER_HOUR", "29"),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { name: "IP_RANGE_MAX_FAILURES_PER_HOUR", reason }
            if reason.contains("IP_MAX_FAILURES_PER_HOUR")),
        "{err:?}"
    );
}

#[test]
fn the_daily_budget_defaults_to_a_third_of_a_day_at_the_hourly_rate() {
    let day = |pairs: &[(&str, &str)]| {
        let mut all = vec![("JWT_SECRET", SECRET)];
        all.extend_from_slice(pairs);
        config(&all).map(|c| c.limits.sms_budget_per_day)
    };
    assert_eq!(day(&[]), Ok(8_000));
    assert_eq!(day(&[("SMS_BUDGET_PER_HOUR", "30")]), Ok(240));
    // The largest hourly budget's default still fits.
    assert_eq!(day(&[("SMS_BUDGET_PER_HOUR", "10000000")]), Ok(80_000_000));
    assert_eq!(day(&[("SMS_BUDGET_PER_DAY", "17")]), Ok(17));
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let c = config(&[
        ("JWT_SECRET", SECRET),
        ("CAPTCHA_PROVIDER", "turnstile"),
        ("CAPTCHA_SECRET", "0x4AAAAAAA-captcha-secret"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("captcha-secret"),
        "{shown}"
    );
}

#[test]
fn the_captcha_is_off_by_default_and_a_provider_needs_its_secret() {
    let off = config(&[("JWT_SECRET", SECRET), ("CAPTCHA_SECRET", "ignored")]).unwrap();
    assert_eq!(off.captcha, CaptchaSettings::default());
    assert_eq!(off.captcha.provider, CaptchaProvider::None);
    assert_eq!(
        config(&[("JWT_SECRET", SECRET), ("CAPTCHA_PROVIDER", "hcaptcha")]).unwrap_err(),
        ConfigError::Missing("CAPTCHA_SECRET")
    );
    let on = config(&[
        ("JWT_SECRET", SECRET),
        ("CAPTCHA_PROVIDER", "Turnstile"),
        ("CAPTCHA_SECRET", "s"),
        ("CAPTCHA_SITE_KEY", "1x00000000000000000000AA"),
    ])
    .unwrap();
    assert_eq!(on.captcha.provider, CaptchaProvider::Turnstile);
    assert_eq!(
        on.captcha.verify_url,
        "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    );
    assert_eq!(
        on.captcha.site_key.as_deref(),
        Some("1x00000000000000000000AA")
    );
    let h = config(&[
        ("JWT_SECRET", SECRET),
        ("CAPTCHA_PROVIDER", "hcaptcha"),
        ("CAPTCHA_SECRET", "s"),
        ("CAPTCHA_VERIFY_URL", "http://127.0.0.1:4567/siteverify"),
    ])
    .unwrap();
    assert_eq!(h.captcha.verify_url, "http://127.0.0.1:4567/siteverify");
}

#[test]
fn bad_captcha_settings_are_refused_by_name() {
    let with = |pairs: &[(&str, &str)]| {
        let mut all = vec![
            ("JWT_SECRET", SECRET),
            ("CAPTCHA_PROVIDER", "turnstile"),
            ("CAPTCHA_SECRET", "s"),
        ];
        all.extend_from_slice(pairs);
        config(&all).unwrap_err()
    };
    for (name, value) in [
        ("CAPTCHA_PROVIDER", "recaptcha"),
        ("CAPTCHA_SITE_KEY", "\"><script>"),
        ("CAPTCHA_SITE_KEY", &"k".repeat(101)),
        (
            "CAPTCHA_VERIFY_URL",
            "http://challenges.cloudflare.com/siteverify",
        ),
        ("CAPTCHA_VERIFY_URL", "ftp://127.0.0.1/x"),
        ("CAPTCHA_VERIFY_URL", "https://"),
    ] {
        let err = with(&[(name, value)]);
        assert!(
            matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
            "{name}={value}: {err:?}"
        );
    }
}
