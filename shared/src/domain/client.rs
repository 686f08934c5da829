//! The caller, as far as limits go: its network address as API Gateway saw it, grouped the way
//! addresses are handed out, and an opaque tag of it for what we store.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The address a limit is counted against: an IPv4 address, or the /64 prefix of an IPv6 one
/// (one home or phone usually gets a whole /64, so counting single IPv6 addresses would give
/// one client 2^64 budgets); and the range it belongs to, an IPv4 /24 or an IPv6 /48, where a
/// provider hands out neighbouring addresses to one customer, one data centre or one NAT pool,
/// so that a crowd of addresses from one place is also held together.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientAddress {
    address: String,
    range: String,
    ip: Option<IpAddr>,
}

/// What requests without a usable source address share: never the case behind API Gateway,
/// which always sets `requestContext.http.sourceIp`.
const UNKNOWN: &str = "unknown";

impl ClientAddress {
    pub fn from_source_ip(source_ip: Option<&str>) -> Self {
        let Some(ip) = source_ip.and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return Self {
                address: UNKNOWN.to_owned(),
                range: UNKNOWN.to_owned(),
                ip: None,
            };
        };
        let (address, range) = match ip {
            IpAddr::V4(v4) => ipv4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ipv4(v4),
                None => (prefix(v6, 64), prefix(v6, 48)),
            },
        };
        Self {
            address,
            range,
            ip: Some(ip),
        }
    }

    /// The address as limits count it: `203.0.113.7`, `2001:db8:1:2::/64`.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// Its range: `203.0.113.0/24`, `2001:db8:1::/48`.
    pub fn range(&self) -> &str {
        &self.range
    }

    /// The source address itself, as API Gateway reported it.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }
}

/// An IPv4 address and its /24.
fn ipv4(v4: Ipv4Addr) -> (String, String) {
    let [a, b, c, _] = v4.octets();
    (v4.to_string(), format!("{a}.{b}.{c}.0/24"))
}

/// The first `bits` of an IPv6 address, as a network: `2001:db8:1::/48`.
fn prefix(v6: Ipv6Addr, bits: u32) -> String {
    let kept = u128::from(v6) & !(u128::MAX >> bits);
    format!("{}/{bits}", Ipv6Addr::from(kept))
}

impl fmt::Debug for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientAddress").field(&self.address).finish()
    }
}

/// A keyed hash of a [`ClientAddress`] (see [`ClientTag::of`]): what the limit counters and
/// the per-phone records hold instead of the address, so no table stores IP addresses, and what
/// logs show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientTag(String);

impl ClientTag {
    /// Tags are 16 URL-safe base64 characters (96 bits): collisions between the clients that
    /// touch one phone or one hour's counters are out of reach.
    pub(crate) fn from_trusted(tag: String) -> Self {
        Self(tag)
    }

    /// The stored stand-in for a client address: keyed, so a table dump does not give back the
    /// addresses (IPv4 has few enough to try them all), and short, as every send and wrong code
    /// on a phone keeps one.
    pub fn of(key: &[u8], address: &ClientAddress) -> Self {
        Self::keyed(key, b"client:", address.as_str())
    }

    fn keyed(key: &[u8], label: &[u8], text: &str) -> Self {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(label);
        mac.update(text.as_bytes());
        let bytes = mac.finalize().into_bytes();
        Self::from_trusted(B64.encode(&bytes[..12]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A caller as the limits see it: the tag of its address and the tag of its address's range
/// (see `CodeHasher::caller`). Every per-address counter has a per-range twin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    pub client: ClientTag,
    pub range: ClientTag,
}

impl Caller {
    /// The tags of the address and of its range under `key`. The range is tagged under its own
    /// label, so a range's tag never equals an address's.
    pub fn of(key: &[u8], address: &ClientAddress) -> Self {
        Self {
            client: ClientTag::of(key, address),
            range: ClientTag::keyed(key, b"range:", address.range()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str) -> String {
        ClientAddress::from_source_ip(Some(ip)).as_str().to_owned()
    }

    #[test]
    fn an_ipv4_address_is_its_own_client() {
        assert_eq!(address("203.0.113.7"), "203.0.113.7");
        assert_ne!(address("203.0.113.7"), address("203.0.113.8"));
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_client() {
        let a = address("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, address("2001:db8:1:2::1"));
        assert_ne!(a, address("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_one() {
        assert_eq!(address("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn a_missing_or_garbled_source_is_one_shared_client() {
        assert_eq!(ClientAddress::from_source_ip(None).as_str(), UNKNOWN);
        assert_eq!(ClientAddress::from_source_ip(None).range(), UNKNOWN);
        assert_eq!(address("not an ip"), UNKNOWN);
    }

    fn range(ip: &str) -> String {
        ClientAddress::from_source_ip(Some(ip)).range().to_owned()
    }

    #[test]
    fn ipv4_addresses_share_their_slash_24_and_ipv6_ones_their_slash_48() {
        assert_eq!(range("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(range("203.0.113.7"), range("203.0.113.250"));
        assert_ne!(range("203.0.113.7"), range("203.0.114.7"));
        assert_eq!(range("::ffff:203.0.113.7"), "203.0.113.0/24");
        assert_eq!(range("2001:db8:1:2::1"), "2001:db8:1::/48");
        assert_eq!(range("2001:db8:1:ffff:aaaa::1"), range("2001:db8:1::9"));
        assert_ne!(range("2001:db8:1::1"), range("2001:db8:2::1"));
        // Different /64s, one /48: two clients in one range.
        assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
    }

    #[test]
    fn the_source_ip_itself_is_kept_for_whoever_needs_it_whole() {
        let ipv6 = ClientAddress::from_source_ip(Some("2001:db8:1:2::7"));
        assert_eq!(ipv6.ip(), Some("2001:db8:1:2::7".parse().unwrap()));
        assert_eq!(ClientAddress::from_source_ip(Some("nope")).ip(), None);
    }

    #[test]
    fn client_tags_are_keyed_short_and_stable() {
        let address = ClientAddress::from_source_ip(Some("203.0.113.7"));
        let a = b"a".repeat(32);
        let tag = ClientTag::of(&a, &address);
        assert_eq!(tag, ClientTag::of(&a, &address));
        assert_eq!(tag.as_str().len(), 16);
        assert!(!tag.as_str().contains("203"));
        assert_ne!(tag, ClientTag::of(&b"b".repeat(32), &address));
        let other = ClientAddress::from_source_ip(Some("203.0.113.8"));
        assert_ne!(tag, ClientTag::of(&a, &other));
        // Neighbours share their range's tag, which is no address's tag.
        let (mine, theirs) = (Caller::of(&a, &address), Caller::of(&a, &other));
        assert_eq!(mine.client, tag);
        assert_eq!(mine.range, theirs.range);
        assert_ne!(mine.range, mine.client);
        assert_eq!(mine.range.as_str().len(), 16);
        let far = ClientAddress::from_source_ip(Some("203.0.114.8"));
        assert_ne!(Caller::of(&a, &far).range, mine.range);
    }
}
