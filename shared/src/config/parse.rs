//! Reading one setting's text: a number in its range, a boolean, a secret, a list of regions, a
//! delay; and the error a missing or bad one is.
use std::fmt;

use crate::domain::phone::{Region, parse_region};
use crate::secret::{MIN_SECRET_BYTES, Secret};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub(super) fn secret(
    value: Option<String>,
    name: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match value {
        Some(v) if v.len() < MIN_SECRET_BYTES => Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
        }),
        v => Ok(v.map(Secret::new)),
    }
}

pub(super) fn number<T>(
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

pub(super) fn boolean(value: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
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
pub(super) fn regions(value: Option<String>) -> Result<Option<Vec<Region>>, ConfigError> {
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
pub(super) fn delay_range(value: Option<String>) -> Result<(u64, u64), ConfigError> {
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
