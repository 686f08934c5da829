//! libphonenumber's rules, built one calling code at a time.
//!
//! `rlibphonenumber` builds its rules for all 254 regions the first time a number is parsed: about
//! 8 ms of CPU here (3 ms decoding the metadata, the rest building its tables), which at 128 MB is
//! over 100 ms added to the first answer after every cold start. A number only ever needs the
//! regions of its own calling code (RU and KZ for +7). So this module finds each region's entry
//! in the metadata without decoding it (a walk over the protobuf's field headers, with `prost`'s
//! own primitives), and builds a `PhoneNumberUtil` for a calling code the first time a number
//! with that code is parsed: about 0.1 ms.
//!
//! The metadata is the library's own file, copied here because the crate does not export it
//! (`phone-metadata.bin`, from `rlibphonenumber/src/generated/metadata/metadata.bin`). The tests
//! check that parsing through here gives exactly what the library's own util gives, for every
//! region's example numbers in every spelling; if a new library version brings new metadata,
//! they fail until the copy is refreshed.
use std::sync::{LazyLock, OnceLock};

use prost::Message;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use rlibphonenumber::{PhoneMetadata, PhoneMetadataCollection, PhoneNumberUtil, Region};

static METADATA: &[u8] = include_bytes!("phone-metadata.bin");

// Field numbers in libphonenumber's `phonemetadata.proto`.
const COLLECTION_METADATA: u32 = 1;
const METADATA_ID: u32 = 9;
const METADATA_COUNTRY_CODE: u32 = 10;

/// The regions of one calling code, as undecoded metadata entries, and their util once built.
/// The util is boxed: unboxed it is about 1.5 KB, so the 215 codes would be a third of a
/// megabyte of memory to fault in, grow and sort on the first number, for the one util used.
struct CallingCode {
    code: i32,
    entries: Vec<&'static [u8]>,
    util: OnceLock<Box<PhoneNumberUtil>>,
}

struct Index {
    /// Sorted by code.
    codes: Vec<CallingCode>,
    /// Each entry's id (a region such as `RU`, or `001` for non-geographic numbers) and code.
    regions: Vec<(&'static str, i32)>,
}

// Malformed metadata (not the library's file) leaves the index empty, and every number then goes
// to the full util; the tests fail on it.
static INDEX: LazyLock<Index> = LazyLock::new(|| {
    index(METADATA).unwrap_or(Index {
        codes: Vec::new(),
        regions: Vec::new(),
    })
});

/// Every region at once: what a number is parsed with when its calling code could not be told
/// in advance (a national spelling that dials abroad, such as `8 10 44 …` from Russia).
static FULL: LazyLock<PhoneNumberUtil> = LazyLock::new(|| {
    let collection = PhoneMetadataCollection::decode(METADATA).unwrap_or_default();
    util(collection.metadata)
});

fn util(metadata: Vec<PhoneMetadata>) -> PhoneNumberUtil {
    PhoneNumberUtil::new_for_metadata(PhoneMetadataCollection { metadata }).unwrap_or_else(|_| {
        // Only an entry whose id is not a region fails; the library's metadata has none (the
        // tests parse every region's numbers). An empty collection cannot fail.
        PhoneNumberUtil::new_for_metadata(PhoneMetadataCollection::default())
            .unwrap_or_else(|_| unreachable!("an empty collection has no bad id"))
    })
}

/// Splits the collection into its entries and reads each one's id and calling code.
fn index(mut buf: &'static [u8]) -> Option<Index> {
    let mut codes: Vec<CallingCode> = Vec::new();
    let mut regions = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).ok()?;
        if tag != COLLECTION_METADATA || wire_type != WireType::LengthDelimited {
            skip_field(wire_type, tag, &mut buf, DecodeContext::default()).ok()?;
            continue;
        }
        let entry = length_delimited(&mut buf)?;
        let (id, code) = id_and_code(entry)?;
        regions.push((id, code));
        match codes.iter_mut().find(|c| c.code == code) {
            Some(known) => known.entries.push(entry),
            None => codes.push(CallingCode {
                code,
                entries: vec![entry],
                util: OnceLock::new(),
            }),
        }
    }
    codes.sort_by_key(|c| c.code);
    Some(Index { codes, regions })
}

/// A length-delimited field's bytes, its header already read.
fn length_delimited(buf: &mut &'static [u8]) -> Option<&'static [u8]> {
    let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
    let (bytes, rest) = buf.split_at_checked(len)?;
    *buf = rest;
    Some(bytes)
}

fn id_and_code(mut entry: &'static [u8]) -> Option<(&'static str, i32)> {
    let (mut id, mut code) = ("", 0);
    while !entry.is_empty() {
        let (tag, wire_type) = decode_key(&mut entry).ok()?;
        match (tag, wire_type) {
            (METADATA_ID, WireType::LengthDelimited) => {
                id = std::str::from_utf8(length_delimited(&mut entry)?).ok()?;
            }
            (METADATA_COUNTRY_CODE, WireType::Varint) => {
                // int32 on the wire: the low 32 bits, as protobuf defines it.
                code = decode_varint(&mut entry).ok()? as i32;
            }
            _ => skip_field(wire_type, tag, &mut entry, DecodeContext::default()).ok()?,
        }
    }
    Some((id, code))
}

fn for_code(code: i32) -> Option<&'static PhoneNumberUtil> {
    let index = &*INDEX;
    let i = index.codes.binary_search_by_key(&code, |c| c.code).ok()?;
    let calling_code = &index.codes[i];
    Some(calling_code.util.get_or_init(|| {
        let metadata = calling_code
            .entries
            .iter()
            .filter_map(|entry| PhoneMetadata::decode(*entry).ok())
            .collect();
        Box::new(util(metadata))
    }))
}

/// Whether the rules of calling code `code` have been built.
#[cfg(test)]
pub(crate) fn is_built(code: i32) -> bool {
    let index = &*INDEX;
    index
        .codes
        .binary_search_by_key(&code, |c| c.code)
        .is_ok_and(|i| index.codes[i].util.get().is_some())
}

/// The calling code a `+` number starts with: calling codes are prefix-free, so at most one of
/// its first one, two or three digits is a known code.
fn leading_code(digits: &str) -> Option<i32> {
    (1..=3.min(digits.len()))
        .filter_map(|n| digits.get(..n)?.parse::<i32>().ok())
        .find(|code| INDEX.codes.binary_search_by_key(code, |c| c.code).is_ok())
}

/// The util to parse `input` with first: the one of the calling code written after its `+`, or
/// for a national spelling the one of `default_region`'s code. `None` when a `+` number's code is
/// unknown (no util could parse it).
pub(crate) fn first_choice(
    input: &str,
    default_region: Region,
) -> Option<&'static PhoneNumberUtil> {
    // libphonenumber reads a number from its first digit or plus sign.
    let start = input.trim_start_matches(|c: char| !(c == '+' || c.is_ascii_digit()));
    match start.strip_prefix('+') {
        Some(rest) => {
            let digits: String = rest.chars().filter(char::is_ascii_digit).take(3).collect();
            for_code(leading_code(&digits)?)
        }
        None => {
            let region = default_region.to_string();
            let code = INDEX
                .regions
                .iter()
                .find(|(id, _)| *id == region)
                .map(|(_, code)| *code)?;
            for_code(code)
        }
    }
}

/// Every region's rules: the fallback when the first choice could not read the calling code.
pub(crate) fn full() -> &'static PhoneNumberUtil {
    &FULL
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_every_entry_of_the_metadata() {
        let decoded = PhoneMetadataCollection::decode(METADATA).unwrap_or_default();
        assert!(decoded.metadata.len() > 200);
        let indexed: Vec<(String, i32)> = INDEX
            .regions
            .iter()
            .map(|(id, code)| ((*id).to_owned(), *code))
            .collect();
        let expected: Vec<(String, i32)> = decoded
            .metadata
            .iter()
            .map(|m| (m.id.clone(), m.country_code.unwrap_or(0)))
            .collect();
        assert_eq!(indexed, expected);
    }

    #[test]
    fn a_plus_number_picks_the_util_of_its_calling_code() {
        let ru: Region = "RU".parse().unwrap();
        let kz = first_choice("+7 727 000 00 00", ru).map(|u| u.get_supported_regions().count());
        assert_eq!(kz, Some(2), "+7 is Russia and Kazakhstan");
        let uk = first_choice("(+44) 20 7946 0018", ru).map(|u| {
            u.get_supported_regions()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
        });
        assert!(uk.is_some_and(|regions| regions.contains(&"GB".to_owned())));
        assert!(first_choice("+999 123", ru).is_none());
    }
}
