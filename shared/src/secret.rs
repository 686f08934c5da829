//! A secret value (a key, a shared header) that never prints.
use std::fmt;

/// Every secret must be at least this long: 256 bits for HS256 and the code HMAC, and as much
/// for the edge's header.
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}
