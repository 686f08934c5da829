//! `InviteCode`: six upper-case letters or digits.
use std::fmt;

use rand::Rng;

pub const INVITE_CODE_LEN: usize = 6;
pub const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Longest input, in characters, counting the whitespace that trimming forgives: a pasted code
/// may carry some, an unbounded amount is no code.
pub const MAX_INPUT_LEN: usize = 32;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InviteCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an invite code is 6 letters or digits")]
pub struct InvalidInviteCode;

impl InviteCode {
    /// Accepts what a person pastes: surrounding spaces and lower case are forgiven.
    pub fn parse(input: &str) -> Result<Self, InvalidInviteCode> {
        if input.chars().count() > MAX_INPUT_LEN {
            return Err(InvalidInviteCode);
        }
        let code = input.trim().to_ascii_uppercase();
        if code.len() == INVITE_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Self(code))
        } else {
            Err(InvalidInviteCode)
        }
    }

    /// 36^6 ≈ 2.2 billion codes from the thread's CSPRNG; the store rejects a collision and the
    /// caller draws again.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self(
            (0..INVITE_CODE_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    pub(crate) fn from_trusted(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_trimmed_and_upper_cased() {
        assert_eq!(InviteCode::parse("  a1b2c3 ").unwrap().as_str(), "A1B2C3");
    }

    #[test]
    fn anything_but_six_letters_or_digits_is_rejected() {
        for bad in [
            "",
            "A1B2C",
            "A1B2C3D",
            "A1B2C!",
            "A1 2C3",
            "ÄÖÜ123",
            "A1B2C٣",
        ] {
            assert_eq!(InviteCode::parse(bad), Err(InvalidInviteCode), "{bad}");
        }
        let padded = format!("{:<width$}", "a1b2c3", width = MAX_INPUT_LEN);
        assert_eq!(InviteCode::parse(&padded).unwrap().as_str(), "A1B2C3");
        assert_eq!(
            InviteCode::parse(&format!("{padded} ")),
            Err(InvalidInviteCode)
        );
    }

    #[test]
    fn generated_codes_are_valid_and_vary() {
        let codes: std::collections::HashSet<String> = (0..1_000)
            .map(|_| InviteCode::generate().as_str().to_owned())
            .collect();
        assert_eq!(codes.len(), 1_000);
        assert!(codes.iter().all(|c| InviteCode::parse(c).is_ok()));
        let letters = codes
            .iter()
            .flat_map(|c| c.chars())
            .filter(char::is_ascii_alphabetic)
            .count();
        let share = letters as f64 / 6_000.0;
        assert!(
            (0.6..0.85).contains(&share),
            "letters are {share} of characters, expected ~26/36"
        );
    }
}
