//! Who is calling, and through where: the production edge (CloudFront with AWS WAF) adds a secret
//! `x-origin-verify` header to every request it forwards. With `EDGE_SECRET` set, a request
//! without it came straight to the API Gateway URL and is refused before any other work; one with
//! it is counted against the viewer's address as CloudFront reports it (`CloudFront-Viewer-
//! Address`), since API Gateway's `sourceIp` is then one of CloudFront's own servers.
use std::net::{IpAddr, SocketAddr};

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use subtle::ConstantTimeEq;

use crate::config::Edge;
use crate::domain::ClientAddress;
use crate::error::{Error, Result};

/// The header CloudFront adds as an origin custom header.
pub const ORIGIN_VERIFY: &str = "x-origin-verify";

/// The header CloudFront adds when the origin request policy forwards it: the viewer's address
/// and source port (`198.51.100.10:46532`; IPv6 without brackets, `2001:db8::1:46532`).
pub const VIEWER_ADDRESS: &str = "cloudfront-viewer-address";

/// What the edge's secret admits (the setting itself is [`Edge`], in `config`).
impl Edge {
    /// Admits a request and says whose address its limits count: without an edge, API Gateway's
    /// `sourceIp`; with one, the viewer's, and `DirectAccessRefused` for a request that does not
    /// carry the secret. The comparison takes the same time wherever the first wrong byte is.
    pub fn admit(&self, req: &Request) -> Result<ClientAddress> {
        let Some(secret) = self.secret() else {
            return Ok(source_address(req));
        };
        let presented = req
            .headers()
            .get(ORIGIN_VERIFY)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(presented.ct_eq(secret.expose())) {
            return Err(Error::DirectAccessRefused);
        }
        // CloudFront sets the header on every request it forwards when the origin request policy
        // names it; without it (a policy that lost it) the limits still count CloudFront's
        // address rather than nobody's.
        let viewer = req
            .headers()
            .get(VIEWER_ADDRESS)
            .and_then(|v| v.to_str().ok())
            .and_then(viewer_ip);
        match viewer {
            Some(ip) => Ok(ClientAddress::from_source_ip(Some(&ip.to_string()))),
            None => Ok(source_address(req)),
        }
    }
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
fn source_address(req: &Request) -> ClientAddress {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        _ => None,
    };
    ClientAddress::from_source_ip(source_ip)
}

/// The address of a `CloudFront-Viewer-Address` value: `ip:port` (CloudFront's form, IPv6 too,
/// without brackets), `[ipv6]:port`, or a bare address.
pub fn viewer_ip(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if let Ok(socket) = value.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // The port comes last, so an address that would also parse whole with its port (an IPv6
    // ending in a group of digits) is read the way CloudFront writes it: address, then port.
    if let Some((host, port)) = value.rsplit_once(':')
        && port.parse::<u16>().is_ok()
        && let Ok(ip) = host.parse::<IpAddr>()
    {
        return Some(ip);
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_addresses_are_read_in_every_form_cloudfront_and_proxies_write() {
        let cases = [
            ("198.51.100.10:46532", "198.51.100.10"),
            (
                "2001:db8:85a3::8a2e:370:7334:46532",
                "2001:db8:85a3::8a2e:370:7334",
            ),
            ("[2001:db8::1]:443", "2001:db8::1"),
            (" 203.0.113.9:1 ", "203.0.113.9"),
            ("203.0.113.9", "203.0.113.9"),
            ("2001:db8::1:4653", "2001:db8::1"),
        ];
        for (value, ip) in cases {
            assert_eq!(viewer_ip(value), ip.parse().ok(), "{value}");
        }
    }

    #[test]
    fn values_that_are_no_address_give_none() {
        for value in ["", "nope", "198.51.100.10:port", "300.1.1.1:80", "[::1"] {
            assert_eq!(viewer_ip(value), None, "{value}");
        }
    }
}
