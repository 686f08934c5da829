//! Typed configuration, read once per cold start from environment variables.

use crate::domain::limits::{DAILY_BUDGET_HOURS, DEFAULT_BUDGET_SHARDS, RANGE_FACTOR};
use crate::domain::otp::MAX_PHONE_MARKS;
use crate::domain::phone::{Region, parse_region};
use crate::domain::{ClientLimits, OtpPolicy, SmsReach};
pub use crate::secret::{MIN_SECRET_BYTES, Secret};

mod parse;

pub use parse::ConfigError;
use parse::{boolean, delay_range, number, regions, secret};

/// The edge's shared secret, if the API sits behind one (`EDGE_SECRET`); `http::origin` admits
/// requests by it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edge {
    secret: Option<Secret>,
}

impl Edge {
    pub fn new(secret: Option<Secret>) -> Self {
        Self { secret }
    }

    pub fn enabled(&self) -> bool {
        self.secret.is_some()
    }

    pub(crate) fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }
}

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

/// A separate key for code hashes, so the token key is never used for two purposes.
pub fn derive_otp_secret(jwt_secret: &Secret) -> Secret {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(jwt_secret.expose()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(b"referral-api/otp-hash/v1");
    Secret::new(mac.finalize().into_bytes().to_vec())
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
