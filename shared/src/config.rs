//! Typed configuration, read once per cold start from environment variables.
use std::fmt;

use crate::domain::limits::{DAILY_BUDGET_HOURS, DEFAULT_BUDGET_SHARDS, RANGE_FACTOR};
use crate::domain::otp::MAX_PHONE_MARKS;
use crate::domain::phone::{Region, parse_region};
use crate::domain::{ClientLimits, OtpPolicy, SmsReach};
use crate::http::origin::Edge;
pub use crate::secret::Secret;

/// The ranges of the settings the OpenAPI document states as bounds of the fields they fill.
pub const OTP_DIGITS_RANGE: std::ops::RangeInclusive<u8> = 4..=8;
pub const OTP_TTL_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 1..=86_400;
pub const OTP_RESEND_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 0..=3_600;
pub const OTP_MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
pub const TOKEN_TTL_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 60..=31_536_000;
/// How old a token may be to delete its account: a recent login, at most a day.
pub const DELETE_MAX_TOKEN_AGE_SECONDS_RANGE: std::ops::RangeInclusive<i64> = 1..=86_400;

/// The SMS budget's range: no item grows with it (it is split into shards), so the ceiling is only
/// a guard against a typo; 10 million an hour is about 2,800 sends a second.
pub const SMS_BUDGET_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000_000;

/// The daily budget's range: a day of the largest hourly budget at most.
pub const SMS_DAILY_BUDGET_RANGE: std::ops::RangeInclusive<u32> = 1..=240_000_000;

/// `SMS_BUDGET_SHARDS`' range (and it may not pass the budget): past 1,000 shards a send would
/// still write one item, but a budget that small per shard would be refused early more often.
pub const SMS_BUDGET_SHARDS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000;

/// The largest per-range limit: the per-address ceiling (1,000,000) times [`RANGE_FACTOR`], so
/// the default of any per-address limit fits.
pub const IP_RANGE_LIMIT_MAX: u32 = 5_000_000;

/// Every secret must be at least this long: 256 bits for HS256 and the code HMAC, and as much
/// for the edge's header.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub uniques: String,
    pub otp: String,
}

impl TableNames {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.into())
        };
        Self {
            users: get("USERS_TABLE", "referral-users"),
            uniques: get("UNIQUES_TABLE", "referral-uniques"),
            otp: get("OTP_TABLE", "referral-otp"),
        }
    }

    /// The table name for a `template.yaml` logical id.
    pub fn for_resource(&self, logical_id: &str) -> Option<&str> {
        match logical_id {
            "UsersTable" => Some(&self.users),
            "UniquesTable" => Some(&self.uniques),
            "OtpTable" => Some(&self.otp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the token signing keys are.
    pub token_keys: TokenKeys,
    /// `OTP_SECRET`, the key for hashing login codes; unset, it derives from the token keys'
    /// secret ([`derive_otp_secret`]).
    pub otp_secret: Option<Secret>,
    /// Where Secrets Manager is, if not AWS's (moto in the tests).
    pub secrets_manager_endpoint: Option<String>,
    /// The edge in front of the API, if any (`EDGE_SECRET`).
    pub edge: Edge,
    pub token_ttl_seconds: i64,
    /// Deleting the account takes a token issued at most this long ago (a recent login).
    pub delete_max_token_age_seconds: i64,
    pub tables: TableNames,
    pub dynamodb_endpoint: Option<String>,
    pub default_region: Region,
    pub otp: OtpPolicy,
    /// Simulated SMS delivery time, inclusive range in milliseconds.
    pub sms_delay_ms: (u64, u64),
    /// Demo mode: codes appear in responses and logs.
    pub expose_codes: bool,
    pub sms: SmsSettings,
    /// Which numbers codes are sent to.
    pub reach: SmsReach,
    /// Per source address across phones, and the service-wide SMS budget.
    pub limits: ClientLimits,
    /// The optional CAPTCHA on send-code.
    pub captcha: CaptchaSettings,
}

/// The token signing keys: `JWT_SECRET` itself (this machine, tests), or the Secrets Manager
/// secret `JWT_SECRET_ARN` names, read at init (deployed stacks: see `crate::keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKeys {
    Local(Secret),
    SecretsManager { secret_id: String },
}

/// Which CAPTCHA send-code asks for (`CAPTCHA_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptchaProvider {
    /// No CAPTCHA: `captcha_token` is not asked for (the default).
    #[default]
    None,
    /// Cloudflare Turnstile.
    Turnstile,
    /// hCaptcha.
    Hcaptcha,
}

impl CaptchaProvider {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Turnstile => "turnstile",
            Self::Hcaptcha => "hcaptcha",
        }
    }

    /// The provider's documented siteverify endpoint.
    pub fn verify_url(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            Self::Hcaptcha => "https://api.hcaptcha.com/siteverify",
        }
    }
}

/// `CAPTCHA_PROVIDER`, `CAPTCHA_SECRET`, `CAPTCHA_SITE_KEY`, `CAPTCHA_VERIFY_URL`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptchaSettings {
    pub provider: CaptchaProvider,
    /// The secret siteverify takes; required with a provider.
    pub secret: Option<Secret>,
    /// The public key the page's widget shows; the web function needs it to show one.
    pub site_key: Option<String>,
    /// Where tokens are checked: the provider's siteverify unless overridden (tests).
    pub verify_url: String,
}

/// How login codes reach the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsSender {
    /// Simulated: a delay (`SMS_DELAY_MS`) and a log line with the masked phone.
    Log,
    /// Amazon SNS `Publish` to the phone number, as a transactional SMS.
    Sns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    pub sender: SmsSender,
    /// `AWS.SNS.SMS.SenderID`: 1-11 letters and digits, at least one letter.
    pub sender_id: Option<String>,
    /// `AWS.MM.SMS.OriginationNumber`, E.164.
    pub origination_number: Option<String>,
    /// The message; `{code}` and `{minutes}` are filled in.
    pub template: String,
    pub sns_endpoint: Option<String>,
}

/// The default message (the default region is RU): "Login code: {code}. Valid for {minutes}
/// min. Do not tell it to anyone."
pub const DEFAULT_SMS_TEMPLATE: &str =
    "Код для входа: {code}. Действует {minutes} мин. Никому его не сообщайте.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let token_keys = match (
            get("JWT_SECRET_ARN"),
            secret(get("JWT_SECRET"), "JWT_SECRET")?,
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET_ARN",
                    reason: "set it or JWT_SECRET, not both".into(),
                });
            }
            (Some(arn), None) => TokenKeys::SecretsManager {
                secret_id: arn.trim().to_owned(),
            },
            (None, Some(key)) => TokenKeys::Local(key),
            (None, None) => return Err(ConfigError::Missing("JWT_SECRET")),
        };
        let otp_secret = secret(get("OTP_SECRET"), "OTP_SECRET")?;
        let edge = Edge::new(secret(get("EDGE_SECRET"), "EDGE_SECRET")?);
        let region_text = get("DEFAULT_REGION").unwrap_or_else(|| "RU".into());
        let default_region = parse_region(&region_text).ok_or_else(|| ConfigError::Invalid {
            name: "DEFAULT_REGION",
            reason: format!("{region_text:?} is not an ISO 3166 region code"),
        })?;
        let defaults = OtpPolicy::default();
        let otp = OtpPolicy {
            digits: number(
                get("OTP_DIGITS"),
                "OTP_DIGITS",
                defaults.digits,
                OTP_DIGITS_RANGE,
            )?,
            ttl_seconds: number(
                get("OTP_TTL_SECONDS"),
                "OTP_TTL_SECONDS",
                defaults.ttl_seconds,
                OTP_TTL_SECONDS_RANGE,
            )?,
            max_attempts: number(
                get("OTP_MAX_ATTEMPTS"),
                "OTP_MAX_ATTEMPTS",
                defaults.max_attempts,
                OTP_MAX_ATTEMPTS_RANGE,
            )?,
            // At most an hour: the per-phone record keeps an hour of sends.
            resend_seconds: number(
                get("OTP_RESEND_SECONDS"),
                "OTP_RESEND_SECONDS",
                defaults.resend_seconds,
                OTP_RESEND_SECONDS_RANGE,
            )?,
            max_sends_per_hour: number(
                get("OTP_MAX_SENDS_PER_HOUR"),
                "OTP_MAX_SENDS_PER_HOUR",
                defaults.max_sends_per_hour,
                1..=100,
            )?,
            phone_max_sends_per_hour: number(
                get("OTP_PHONE_MAX_SENDS_PER_HOUR"),
                "OTP_PHONE_MAX_SENDS_PER_HOUR",
                defaults.phone_max_sends_per_hour,
                1..=100,
            )?,
            max_failures_per_day: number(
                get("OTP_MAX_FAILURES_PER_DAY"),
                "OTP_MAX_FAILURES_PER_DAY",
                defaults.max_failures_per_day,
                1..=1_000,
            )?,
            phone_max_failures_per_day: number(
                get("OTP_PHONE_MAX_FAILURES_PER_DAY"),
                "OTP_PHONE_MAX_FAILURES_PER_DAY",
                defaults.phone_max_failures_per_day,
                1..=MAX_PHONE_MARKS,
            )?,
        };
        // The phone's otp item keeps a mark for each send of the last hour and each wrong code
        // of the last day: this bounds the item (docs/data-model.md).
        let marks = otp.phone_max_sends_per_hour + otp.phone_max_failures_per_day;
        if marks > MAX_PHONE_MARKS {
            return Err(ConfigError::Invalid {
                name: "OTP_PHONE_MAX_FAILURES_PER_DAY",
                reason: format!(
                    "together with OTP_PHONE_MAX_SENDS_PER_HOUR ({}) it must be at most \
                     {MAX_PHONE_MARKS}: the phone's record keeps one mark for each ({marks} asked)",
                    otp.phone_max_sends_per_hour
                ),
            });
        }
        // The promise of the threat model: at most 1% a day of guessing into one account.
        if otp.daily_guess_odds() > 0.01 {
            return Err(ConfigError::Invalid {
                name: "OTP_PHONE_MAX_FAILURES_PER_DAY",
                reason: format!(
                    "{} wrong codes a day would give guessers more than 1% of {} codes",
                    otp.phone_max_failures_per_day,
                    10u64.pow(u32::from(otp.digits))
                ),
            });
        }
        let limit_defaults = ClientLimits::default();
        let limits = ClientLimits {
            sends_per_hour: number(
                get("IP_MAX_SENDS_PER_HOUR"),
                "IP_MAX_SENDS_PER_HOUR",
                limit_defaults.sends_per_hour,
                1..=1_000_000,
            )?,
            failures_per_hour: number(
                get("IP_MAX_FAILURES_PER_HOUR"),
                "IP_MAX_FAILURES_PER_HOUR",
                limit_defaults.failures_per_hour,
                1..=1_000_000,
            )?,
            // Set from the per-address limits below.
            range_sends_per_hour: 0,
            range_failures_per_hour: 0,
            sms_budget_per_hour: number(
                get("SMS_BUDGET_PER_HOUR"),
                "SMS_BUDGET_PER_HOUR",
                limit_defaults.sms_budget_per_hour,
                SMS_BUDGET_RANGE,
            )?,
            // Set from the hourly budget below.
            sms_budget_per_day: 0,
            sms_budget_returning_percent: number(
                get("SMS_BUDGET_RETURNING_PERCENT"),
                "SMS_BUDGET_RETURNING_PERCENT",
                limit_defaults.sms_budget_returning_percent,
                0..=100,
            )?,
            sms_budget_shards: limit_defaults.sms_budget_shards,
            sms_budget_tries: limit_defaults.sms_budget_tries,
        };
        let limits = ClientLimits {
            sms_budget_shards: budget_shards(get("SMS_BUDGET_SHARDS"), limits.sms_budget_per_hour)?,
            sms_budget_per_day: number(
                get("SMS_BUDGET_PER_DAY"),
                "SMS_BUDGET_PER_DAY",
                limits.sms_budget_per_hour * DAILY_BUDGET_HOURS,
                SMS_DAILY_BUDGET_RANGE,
            )?,
            range_sends_per_hour: range_limit(
                get("IP_RANGE_MAX_SENDS_PER_HOUR"),
                "IP_RANGE_MAX_SENDS_PER_HOUR",
                (limits.sends_per_hour, "IP_MAX_SENDS_PER_HOUR"),
            )?,
            range_failures_per_hour: range_limit(
                get("IP_RANGE_MAX_FAILURES_PER_HOUR"),
                "IP_RANGE_MAX_FAILURES_PER_HOUR",
                (limits.failures_per_hour, "IP_MAX_FAILURES_PER_HOUR"),
            )?,
            ..limits
        };
        let reach = SmsReach {
            regions: regions(get("SMS_ALLOWED_REGIONS"))?,
            mobile_only: boolean(get("SMS_MOBILE_ONLY"), "SMS_MOBILE_ONLY")?,
        };
        let expose_codes = boolean(get("EXPOSE_CODES"), "EXPOSE_CODES")?;
        let captcha = captcha_settings(get)?;
        let sms = sms_settings(get)?;
        // Real SMS with the code also in the response would let anyone who knows a number log in
        // as its owner.
        if expose_codes && sms.sender == SmsSender::Sns {
            return Err(ConfigError::Invalid {
                name: "EXPOSE_CODES",
                reason: "must be false when SMS_SENDER=sns: real codes are never shown".into(),
            });
        }
        Ok(Self {
            token_keys,
            otp_secret,
            secrets_manager_endpoint: get("SECRETS_MANAGER_ENDPOINT"),
            edge,
            token_ttl_seconds: number(
                get("TOKEN_TTL_SECONDS"),
                "TOKEN_TTL_SECONDS",
                86_400,
                TOKEN_TTL_SECONDS_RANGE,
            )?,
            delete_max_token_age_seconds: number(
                get("DELETE_MAX_TOKEN_AGE_SECONDS"),
                "DELETE_MAX_TOKEN_AGE_SECONDS",
                300,
                DELETE_MAX_TOKEN_AGE_SECONDS_RANGE,
            )?,
            tables: TableNames::from_lookup(&lookup),
            dynamodb_endpoint: get("DYNAMODB_ENDPOINT"),
            default_region,
            otp,
            sms_delay_ms: delay_range(get("SMS_DELAY_MS"))?,
            expose_codes,
            sms,
            reach,
            limits,
            captcha,
        })
    }
}

/// The CAPTCHA settings, for the web function, which shows the widget and states the field in
/// the OpenAPI document but needs no secret.
pub fn captcha_from_env() -> Result<CaptchaSettings, ConfigError> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let provider = captcha_provider(get("CAPTCHA_PROVIDER"))?;
    Ok(CaptchaSettings {
        provider,
        site_key: site_key(get("CAPTCHA_SITE_KEY"))?,
        ..CaptchaSettings::default()
    })
}

fn captcha_provider(value: Option<String>) -> Result<CaptchaProvider, ConfigError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("none") => Ok(CaptchaProvider::None),
        Some("turnstile") => Ok(CaptchaProvider::Turnstile),
        Some("hcaptcha") => Ok(CaptchaProvider::Hcaptcha),
        Some(other) => Err(ConfigError::Invalid {
            name: "CAPTCHA_PROVIDER",
            reason: format!("{other:?} is not none, turnstile or hcaptcha"),
        }),
    }
}

/// A site key goes into the page's HTML: only the characters providers use (Turnstile's
/// `0x4AAA...`, hCaptcha's UUIDs), so it can never break out of its attribute.
fn site_key(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(key) = value.map(|v| v.trim().to_owned()) else {
        return Ok(None);
    };
    let ok = (1..=100).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(Some(key))
    } else {
        Err(ConfigError::Invalid {
            name: "CAPTCHA_SITE_KEY",
            reason: "must be 1-100 letters, digits, `-` or `_`".into(),
        })
    }
}

fn captcha_settings(get: impl Fn(&str) -> Option<String>) -> Result<CaptchaSettings, ConfigError> {
    let provider = captcha_provider(get("CAPTCHA_PROVIDER"))?;
    if provider == CaptchaProvider::None {
        return Ok(CaptchaSettings::default());
    }
    let secret = get("CAPTCHA_SECRET")
        .map(|v| Secret::new(v.trim()))
        .ok_or(ConfigError::Missing("CAPTCHA_SECRET"))?;
    let verify_url = get("CAPTCHA_VERIFY_URL")
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| provider.verify_url().to_owned());
    // The secret travels to this URL: TLS, but for a server on this machine (the tests').
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| verify_url.starts_with(prefix));
    let https = verify_url.starts_with("https://") && verify_url.len() > "https://".len();
    if !(https || local) || verify_url.chars().any(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            name: "CAPTCHA_VERIFY_URL",
            reason: "must be an https:// URL (or http:// to this machine)".into(),
        });
    }
    Ok(CaptchaSettings {
        provider,
        secret: Some(secret),
        site_key: site_key(get("CAPTCHA_SITE_KEY"))?,
        verify_url,
    })
}

/// The edge in front of the API (`EDGE_SECRET`), for the web function, which needs no other
/// secret.
pub fn edge_from_env() -> Result<Edge, ConfigError> {
    let value = std::env::var("EDGE_SECRET")
        .ok()
        .filter(|v| !v.trim().is_empty());
    Ok(Edge::new(secret(value, "EDGE_SECRET")?))
}

/// Whether the API runs in demo mode, for the web function, which needs no other setting.
pub fn expose_codes_from_env() -> Result<bool, ConfigError> {
    boolean(
        std::env::var("EXPOSE_CODES")
            .ok()
            .filter(|v| !v.trim().is_empty()),
        "EXPOSE_CODES",
    )
}

/// The login code's length, for the web function: the OpenAPI document it serves states it.
pub fn otp_digits_from_env() -> Result<u8, ConfigError> {
    number(
        std::env::var("OTP_DIGITS")
            .ok()
            .filter(|v| !v.trim().is_empty()),
        "OTP_DIGITS",
        OtpPolicy::default().digits,
        OTP_DIGITS_RANGE,
    )
}

fn sms_settings(get: impl Fn(&str) -> Option<String>) -> Result<SmsSettings, ConfigError> {
    let invalid = |name: &'static str, reason: &str| ConfigError::Invalid {
        name,
        reason: reason.to_owned(),
    };
    let sender = match get("SMS_SENDER")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("log") => SmsSender::Log,
        Some("sns") => SmsSender::Sns,
        Some(_) => return Err(invalid("SMS_SENDER", "must be `log` or `sns`")),
    };
    let sender_id = get("SMS_SENDER_ID").map(|v| v.trim().to_owned());
    if let Some(id) = &sender_id {
        let ok = (1..=11).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric())
            && id.bytes().any(|b| b.is_ascii_alphabetic());
        if !ok {
            return Err(invalid(
                "SMS_SENDER_ID",
                "must be 1-11 letters and digits with at least one letter",
            ));
        }
    }
    let origination_number = get("SMS_ORIGINATION_NUMBER").map(|v| v.trim().to_owned());
    if let Some(number) = &origination_number {
        let digits = number.strip_prefix('+').unwrap_or_default();
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(invalid(
                "SMS_ORIGINATION_NUMBER",
                "must be a phone number in E.164 (+ and 7-15 digits)",
            ));
        }
    }
    let template = get("SMS_TEMPLATE").unwrap_or_else(|| DEFAULT_SMS_TEMPLATE.to_owned());
    if !template.contains("{code}") {
        return Err(invalid("SMS_TEMPLATE", "must contain {code}"));
    }
    Ok(SmsSettings {
        sender,
        sender_id,
        origination_number,
        template,
        sns_endpoint: get("SNS_ENDPOINT"),
    })
}

fn secret(value: Option<String>, name: &'static str) -> Result<Option<Secret>, ConfigError> {
    match value {
        Some(v) if v.len() < MIN_SECRET_BYTES => Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
        }),
        v => Ok(v.map(Secret::new)),
    }
}

/// A separate key for code hashes, so the token key is never used for two purposes.
pub fn derive_otp_secret(jwt_secret: &Secret) -> Secret {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(jwt_secret.expose()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(b"referral-api/otp-hash/v1");
    Secret::new(mac.finalize().into_bytes().to_vec())
}

fn number<T>(
    value: Option<String>,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = value else {
        return Ok(default);
    };
    let invalid = || ConfigError::Invalid {
        name,
        reason: format!(
            "{text:?} is not a number from {} to {}",
            range.start(),
            range.end()
        ),
    };
    let n: T = text.trim().parse().map_err(|_| invalid())?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(invalid())
    }
}

/// `SMS_BUDGET_SHARDS`: unset, the default or the budget if that is smaller; set, it must leave
/// every shard room for at least one send.
fn budget_shards(value: Option<String>, budget: u32) -> Result<u32, ConfigError> {
    let Some(text) = value else {
        return Ok(DEFAULT_BUDGET_SHARDS.min(budget));
    };
    let shards = number(
        Some(text),
        "SMS_BUDGET_SHARDS",
        DEFAULT_BUDGET_SHARDS,
        SMS_BUDGET_SHARDS_RANGE,
    )?;
    if shards > budget {
        return Err(ConfigError::Invalid {
            name: "SMS_BUDGET_SHARDS",
            reason: format!(
                "{shards} shards for an SMS_BUDGET_PER_HOUR of {budget}: each shard must hold \
                 at least one send"
            ),
        });
    }
    Ok(shards)
}

/// A per-range limit: unset, [`RANGE_FACTOR`] times the per-address one; set, from that one (a
/// range is at least one address) to [`IP_RANGE_LIMIT_MAX`].
fn range_limit(
    value: Option<String>,
    name: &'static str,
    (per_address, address_name): (u32, &'static str),
) -> Result<u32, ConfigError> {
    let default = per_address
        .saturating_mul(RANGE_FACTOR)
        .min(IP_RANGE_LIMIT_MAX);
    let limit = number(value, name, default, 1..=IP_RANGE_LIMIT_MAX)?;
    if limit < per_address {
        return Err(ConfigError::Invalid {
            name,
            reason: format!(
                "{limit} is below {address_name} ({per_address}): a range holds at least one \
                 address"
            ),
        });
    }
    Ok(limit)
}

fn boolean(value: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match value
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("{other:?} is not true or false"),
        }),
    }
}

/// `*` (or nothing): every region; otherwise ISO 3166 codes separated by commas.
fn regions(value: Option<String>) -> Result<Option<Vec<Region>>, ConfigError> {
    let Some(text) = value.filter(|v| v.trim() != "*") else {
        return Ok(None);
    };
    let ids = text
        .split(',')
        .map(|code| {
            parse_region(code).ok_or_else(|| ConfigError::Invalid {
                name: "SMS_ALLOWED_REGIONS",
                reason: format!(
                    "{:?} is not an ISO 3166 region code (or `*` for all)",
                    code.trim()
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ids))
}

/// `1000-2000` (a range) or `0` (a fixed delay).
fn delay_range(value: Option<String>) -> Result<(u64, u64), ConfigError> {
    let Some(text) = value else {
        return Ok((1_000, 2_000));
    };
    let invalid = || ConfigError::Invalid {
        name: "SMS_DELAY_MS",
        reason: format!("{text:?} is not `MS` or `MIN-MAX` (milliseconds, at most 30000)"),
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok().filter(|n| *n <= 30_000);
    let (lo, hi) = match text.split_once('-') {
        Some((lo, hi)) => (
            parse(lo).ok_or_else(invalid)?,
            parse(hi).ok_or_else(invalid)?,
        ),
        None => {
            let n = parse(&text).ok_or_else(invalid)?;
            (n, n)
        }
    };
    if lo <= hi {
        Ok((lo, hi))
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
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
}
