//! `PhoneNumber`: a valid phone number, always held in E.164 form.
use std::fmt;

use phonenumber::{Mode, country};

/// A phone number that libphonenumber accepts as valid, normalised to E.164 (`+79991234567`),
/// so that every spelling of one number is one user.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid phone number")]
pub struct InvalidPhone;

/// Longest input we hand to the parser; E.164 has at most 15 digits, so 32 characters leave room
/// for spaces, dashes and brackets and nothing else.
const MAX_INPUT_LEN: usize = 32;

impl PhoneNumber {
    /// Parses what a person would type. Numbers without a `+` are read in `default_region`.
    pub fn parse(input: &str, default_region: country::Id) -> Result<Self, InvalidPhone> {
        let input = input.trim();
        if input.is_empty() || input.len() > MAX_INPUT_LEN {
            return Err(InvalidPhone);
        }
        let parsed = phonenumber::parse(Some(default_region), input).map_err(|_| InvalidPhone)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(InvalidPhone);
        }
        Ok(Self(parsed.format().mode(Mode::E164).to_string()))
    }

    /// Rebuilds a number this service stored itself (already E.164); not for client input.
    pub(crate) fn from_trusted(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form for logs: the leading `+` and country digits and the last two digits survive.
    pub fn masked(&self) -> String {
        let digits = self.0.len().saturating_sub(1);
        let keep_start = 2.min(digits);
        let keep_end = 2.min(digits.saturating_sub(keep_start));
        let hidden = digits - keep_start - keep_end;
        format!(
            "{}{}{}",
            &self.0[..1 + keep_start],
            "*".repeat(hidden),
            &self.0[self.0.len() - keep_end..]
        )
    }
}

/// `Debug` masks, so a stray `{:?}` in a log line cannot leak a number.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.masked()).finish()
    }
}

/// Parses a region code such as `RU` for [`PhoneNumber::parse`].
pub fn parse_region(code: &str) -> Option<country::Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ru(input: &str) -> Result<PhoneNumber, InvalidPhone> {
        PhoneNumber::parse(input, country::Id::RU)
    }

    #[test]
    fn every_common_spelling_of_a_russian_number_is_the_same_e164() {
        for input in [
            "8 (999) 123-45-67",
            "+7 999 123 45 67",
            "79991234567",
            "+79991234567",
            " 8-999-123-45-67 ",
        ] {
            assert_eq!(ru(input).unwrap().as_str(), "+79991234567", "{input}");
        }
    }

    #[test]
    fn numbers_with_a_plus_keep_their_own_country() {
        assert_eq!(ru("+1 650 253 0000").unwrap().as_str(), "+16502530000");
        assert_eq!(ru("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn invalid_or_absurd_input_is_rejected() {
        for input in [
            "",
            "   ",
            "123",
            "hello",
            "+7 000 000 00 00",
            "8 (999) 123-45-67-89-01-23-45-67-89",
            "+99999999999999999999",
        ] {
            assert_eq!(ru(input), Err(InvalidPhone), "{input}");
        }
    }

    #[test]
    fn masked_keeps_only_the_country_prefix_and_the_last_two_digits() {
        let phone = ru("+79991234567").unwrap();
        assert_eq!(phone.masked(), "+79*******67");
        assert!(!format!("{phone:?}").contains("1234567"));
    }

    #[test]
    fn region_codes_parse_case_insensitively() {
        assert_eq!(parse_region("ru"), Some(country::Id::RU));
        assert_eq!(parse_region("XX"), None);
    }
}
