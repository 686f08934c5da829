//! `PhoneNumber`: a valid phone number, always held in E.164 form.
use std::fmt;

use rlibphonenumber::{ParseError, PhoneNumberFormat, PhoneNumberType};

use super::phone_metadata;

/// An ISO 3166 region (`RU`), as libphonenumber's metadata knows it.
pub use rlibphonenumber::Region;

/// A phone number that libphonenumber accepts as valid, normalised to E.164 (`+79991234567`),
/// so that every spelling of one number is one user.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid phone number")]
pub struct InvalidPhone;

/// Longest input, in characters and counting surrounding whitespace; E.164 has at most 15 digits,
/// so 32 characters leave room for spaces, dashes and brackets and nothing else.
pub const MAX_INPUT_LEN: usize = 32;

/// The only characters a number may be spelled with once surrounding whitespace is trimmed:
/// ASCII digits, `+`, brackets, dashes, dots and spaces. libphonenumber would also read letters
/// (vanity numbers), extensions and other scripts' digits; none of them belongs in a login.
pub const INPUT_CHARS: &str = "0123456789+()-. ";

impl PhoneNumber {
    /// Parses what a person would type. Numbers without a `+` are read in `default_region`.
    pub fn parse(input: &str, default_region: Region) -> Result<Self, InvalidPhone> {
        Ok(Self::parse_with_facts(input, default_region)?.0)
    }

    /// [`PhoneNumber::parse`], with what the number's metadata says about where it is and what
    /// kind of line it is: what send-code needs to decide whether to send to it.
    pub fn parse_with_facts(
        input: &str,
        default_region: Region,
    ) -> Result<(Self, PhoneFacts), InvalidPhone> {
        let input = spelled_as_a_number(input)?;
        // The rules of the number's own calling code; all of them only when the spelling hides
        // the code (see `phone_metadata`).
        let mut util = phone_metadata::first_choice(input, default_region).ok_or(InvalidPhone)?;
        let parsed = match util.parse(input, Some(default_region)) {
            Err(ParseError::InvalidCountryCode) => {
                util = phone_metadata::full();
                util.parse(input, Some(default_region))
            }
            parsed => parsed,
        }
        .map_err(|_| InvalidPhone)?;
        if !util.is_valid_number(&parsed) {
            return Err(InvalidPhone);
        }
        let line = match util.get_number_type(&parsed) {
            PhoneNumberType::Mobile => LineKind::Mobile,
            // Where the numbering plan cannot tell (the US and Canada among others).
            PhoneNumberType::FixedLineOrMobile => LineKind::MaybeMobile,
            _ => LineKind::NotMobile,
        };
        let facts = PhoneFacts {
            region: util.get_region_for_number(&parsed),
            line,
        };
        Ok((
            Self(util.format(&parsed, PhoneNumberFormat::E164).into_owned()),
            facts,
        ))
    }

    /// Builds the rules of `default_region`'s calling code and parses its example mobile number
    /// once, which compiles the regular expressions such a parse uses (the library compiles each
    /// on first use). Called during init by the functions that parse numbers, so that the first
    /// request's number, most often of that region, finds them ready: the same CPU, spent before
    /// the first request instead of in it (docs/performance.md).
    pub fn prepare(default_region: Region) {
        let Some(util) = phone_metadata::first_choice("0", default_region) else {
            return;
        };
        if let Ok(example) =
            util.get_example_number_for_type_and_region(default_region, PhoneNumberType::Mobile)
        {
            let _ = Self::parse(
                &util.format(&example, PhoneNumberFormat::E164),
                default_region,
            );
        }
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

/// The input trimmed, if it is short enough and has only [`INPUT_CHARS`].
fn spelled_as_a_number(input: &str) -> Result<&str, InvalidPhone> {
    if input.chars().count() > MAX_INPUT_LEN {
        return Err(InvalidPhone);
    }
    let input = input.trim();
    if input.is_empty() || !input.chars().all(|c| INPUT_CHARS.contains(c)) {
        return Err(InvalidPhone);
    }
    Ok(input)
}

/// `Debug` masks, so a stray `{:?}` in a log line cannot leak a number.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.masked()).finish()
    }
}

/// What a number's metadata says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneFacts {
    /// The ISO 3166 region the number belongs to, where its country code has one.
    pub region: Option<Region>,
    pub line: LineKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Mobile,
    /// The numbering plan does not separate mobile and fixed lines.
    MaybeMobile,
    /// Fixed line, toll-free, premium, VoIP, pager and the rest: premium and VoIP numbers are
    /// what SMS pumping sends to.
    NotMobile,
}

/// Which numbers codes are sent to (`SMS_ALLOWED_REGIONS`, `SMS_MOBILE_ONLY`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmsReach {
    /// `None`: every region (`*`).
    pub regions: Option<Vec<Region>>,
    pub mobile_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("codes are not sent to this country")]
    Region,
    #[error("codes are sent to mobile numbers only")]
    NotMobile,
}

impl SmsReach {
    pub fn check(&self, facts: &PhoneFacts) -> Result<(), Unreachable> {
        if let Some(regions) = &self.regions
            && !facts.region.is_some_and(|r| regions.contains(&r))
        {
            return Err(Unreachable::Region);
        }
        if self.mobile_only && facts.line == LineKind::NotMobile {
            return Err(Unreachable::NotMobile);
        }
        Ok(())
    }
}

/// The regions libphonenumber's metadata has rules for. `Region` accepts any two letters and the
/// library's own list needs its whole metadata loaded (milliseconds a cold start would pay for a
/// settings check), so the list is here; a test keeps it equal to the library's.
const SUPPORTED_REGIONS: &str = "\
    AC AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
    BT BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG \
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT \
    HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF \
    NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
    SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TA TC TD TG TH TJ TK TL TM TN TO TR TT TV TW \
    TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// Parses a region code such as `RU` for [`PhoneNumber::parse`]: one the metadata knows.
pub fn parse_region(code: &str) -> Option<Region> {
    let code = code.trim().to_ascii_uppercase();
    let known = code.len() == 2
        && SUPPORTED_REGIONS
            .split_ascii_whitespace()
            .any(|r| r == code);
    known.then(|| code.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparing_a_region_builds_its_calling_codes_rules_before_any_number_is_parsed() {
        // nextest runs every test in a process of its own, so no other test has built them.
        assert!(!phone_metadata::is_built(7));
        PhoneNumber::prepare(russia());
        assert!(phone_metadata::is_built(7));
        assert!(!phone_metadata::is_built(1));
    }

    fn ru(input: &str) -> Result<PhoneNumber, InvalidPhone> {
        PhoneNumber::parse(input, russia())
    }

    fn region(code: &str) -> Region {
        parse_region(code).unwrap()
    }

    fn russia() -> Region {
        region("RU")
    }

    /// What `parse_with_facts` gave when it parsed with the library's own util, which builds
    /// every region's rules: the reference the per-calling-code parsing must match.
    fn with_all_rules(input: &str, default_region: Region) -> Option<(String, PhoneFacts)> {
        use rlibphonenumber::PhoneNumber as Parsed;
        let input = spelled_as_a_number(input).ok()?;
        let parsed = Parsed::parse(input, Some(default_region)).ok()?;
        if !parsed.is_valid() {
            return None;
        }
        let line = match parsed.get_type() {
            PhoneNumberType::Mobile => LineKind::Mobile,
            PhoneNumberType::FixedLineOrMobile => LineKind::MaybeMobile,
            _ => LineKind::NotMobile,
        };
        let facts = PhoneFacts {
            region: parsed.get_region_code(),
            line,
        };
        Some((
            parsed.format_as(PhoneNumberFormat::E164).into_owned(),
            facts,
        ))
    }

    #[test]
    fn parsing_one_calling_code_at_a_time_matches_the_library_for_every_regions_numbers() {
        let util = &rlibphonenumber::PHONE_NUMBER_UTIL;
        let types = [
            PhoneNumberType::Mobile,
            PhoneNumberType::FixedLine,
            PhoneNumberType::TollFree,
            PhoneNumberType::PremiumRate,
            PhoneNumberType::VoIP,
        ];
        let mut checked = 0;
        for home in util.get_supported_regions() {
            for kind in types {
                let Ok(number) = util.get_example_number_for_type_and_region(home, kind) else {
                    continue;
                };
                let e164 = util.format(&number, PhoneNumberFormat::E164).into_owned();
                let digits = &e164[1..];
                let spellings = [
                    e164.clone(),
                    util.format(&number, PhoneNumberFormat::International)
                        .into_owned(),
                    util.format(&number, PhoneNumberFormat::National)
                        .into_owned(),
                    // Dialled abroad from Russia (8 10) and from most of the world (00).
                    format!("8 10 {digits}"),
                    format!("00 {digits}"),
                    digits.to_owned(),
                    // One digit short and one too many.
                    e164[..e164.len() - 1].to_owned(),
                    format!("{e164}0"),
                ];
                for input in &spellings {
                    for default_region in [russia(), region("US"), home] {
                        let ours = PhoneNumber::parse_with_facts(input, default_region)
                            .ok()
                            .map(|(n, facts)| (n.as_str().to_owned(), facts));
                        assert_eq!(
                            ours,
                            with_all_rules(input, default_region),
                            "{input:?} read in {default_region}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000, "only {checked} spellings checked");
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
    fn surrounding_whitespace_counts_towards_the_length_and_is_trimmed() {
        let padded = format!("\u{3000}{}\t", "+79991234567");
        assert_eq!(ru(&padded).unwrap().as_str(), "+79991234567");
        let at_limit = format!("{:<width$}", "+79991234567", width = MAX_INPUT_LEN);
        assert!(ru(&at_limit).is_ok());
        assert_eq!(ru(&format!("{at_limit} ")), Err(InvalidPhone));
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
            "+7 999 CALL-NOW",
            "+7 999 123 45 67 ext. 89",
            "+７ ９９９ １２３ ４５ ６７",
            "\u{a0}+79991234567                       ",
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
    fn facts_tell_the_region_and_whether_the_line_is_mobile() {
        let facts = |input: &str| PhoneNumber::parse_with_facts(input, russia()).unwrap().1;
        assert_eq!(
            facts("8 999 123-45-67"),
            PhoneFacts {
                region: Some(russia()),
                line: LineKind::Mobile
            }
        );
        // A Moscow landline.
        assert_eq!(facts("+7 495 123-45-67").line, LineKind::NotMobile);
        let us = facts("+1 650 253 0000");
        assert_eq!(us.region, Some(region("US")));
        assert_eq!(us.line, LineKind::MaybeMobile);
        assert_eq!(facts("+44 7400 123456").region, Some(region("GB")));
        assert_eq!(facts("+44 7400 123456").line, LineKind::Mobile);
    }

    #[test]
    fn the_reach_refuses_other_regions_and_with_mobile_only_landlines() {
        let facts = |input: &str| PhoneNumber::parse_with_facts(input, russia()).unwrap().1;
        let everywhere = SmsReach::default();
        assert_eq!(everywhere.check(&facts("+7 495 123-45-67")), Ok(()));
        let ru_mobile = SmsReach {
            regions: Some(vec![russia(), region("KZ")]),
            mobile_only: true,
        };
        assert_eq!(ru_mobile.check(&facts("+7 999 123-45-67")), Ok(()));
        assert_eq!(
            ru_mobile.check(&facts("+44 7400 123456")),
            Err(Unreachable::Region)
        );
        assert_eq!(
            ru_mobile.check(&facts("+7 495 123-45-67")),
            Err(Unreachable::NotMobile)
        );
        let us = SmsReach {
            regions: Some(vec![region("US")]),
            mobile_only: true,
        };
        assert_eq!(us.check(&facts("+1 650 253 0000")), Ok(()));
    }

    #[test]
    fn the_supported_regions_are_the_ones_the_metadata_has() {
        let mut library: Vec<String> = rlibphonenumber::PHONE_NUMBER_UTIL
            .get_supported_regions()
            .map(|r| r.to_string())
            .collect();
        library.sort();
        let ours: Vec<&str> = SUPPORTED_REGIONS.split_ascii_whitespace().collect();
        assert_eq!(ours, library);
    }

    #[test]
    fn region_codes_parse_case_insensitively() {
        assert_eq!(parse_region("ru"), Some(russia()));
        assert_eq!(parse_region("XX"), None);
    }
}
