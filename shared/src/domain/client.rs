//! The caller, as far as limits go: its network address as API Gateway saw it, grouped the way
//! addresses are handed out, and an opaque tag of it for what we store.
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The address a limit is counted against: an IPv4 address, or the /64 prefix of an IPv6 one
/// (one home or phone usually gets a whole /64, so counting single IPv6 addresses would give
/// one client 2^64 budgets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientAddress(String);

/// What requests without a usable source address share: never the case behind API Gateway,
/// which always sets `requestContext.http.sourceIp`.
const UNKNOWN: &str = "unknown";

impl ClientAddress {
    pub fn from_source_ip(source_ip: Option<&str>) -> Self {
        let Some(ip) = source_ip.and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return Self(UNKNOWN.to_owned());
        };
        match ip {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(format!("{}/64", Ipv6Addr::from(prefix)))
                }
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientAddress").field(&self.0).finish()
    }
}

/// A keyed hash of a [`ClientAddress`] (see `CodeHasher::client_tag`): what the limit counters and
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
        assert_eq!(address("not an ip"), UNKNOWN);
    }
}
