//! How the resolver reaches the DNS.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::anchor::TrustAnchorSet;

/// An upstream recursive resolver, `ADDR` or `ADDR:PORT` (`[v6]:PORT` for IPv6 with a port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream(pub SocketAddr);

#[derive(Debug, thiserror::Error)]
#[error("invalid resolver address {0:?}: expected IP, IP:PORT or [IPv6]:PORT")]
pub struct BadUpstream(pub String);

impl FromStr for Upstream {
    type Err = BadUpstream;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Self(sa));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(SocketAddr::new(ip, 53)))
            .map_err(|_| BadUpstream(s.to_string()))
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Everything a [`crate::Resolver`] is built from.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Upstream recursive resolvers; empty means the system's (`/etc/resolv.conf`).
    pub upstreams: Vec<Upstream>,
    /// How long to wait for one answer from one upstream.
    pub timeout: Duration,
    /// How many times a query is sent in all (at least 1).
    pub attempts: u8,
    /// Upper bound for one whole lookup, DNSSEC validation included. Whatever the DNS does, a
    /// lookup returns within this time.
    pub deadline: Duration,
    /// Where validation starts.
    pub anchors: TrustAnchorSet,
    /// Cache size in RRsets; shared by all lookups through one resolver.
    pub cache_size: u64,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            timeout: Duration::from_secs(3),
            attempts: 2,
            deadline: Duration::from_secs(20),
            anchors: TrustAnchorSet::iana_root(),
            cache_size: 8_192,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            "127.0.0.1".parse::<Upstream>().unwrap().0,
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!("127.0.0.1:5353".parse::<Upstream>().unwrap().0.port(), 5353);
        assert_eq!(
            "::1".parse::<Upstream>().unwrap().0,
            "[::1]:53".parse().unwrap()
        );
        assert_eq!("[::1]:5300".parse::<Upstream>().unwrap().0.port(), 5300);
        assert!("resolver.example".parse::<Upstream>().is_err());
        assert!("1.2.3.4:99999".parse::<Upstream>().is_err());
    }
}
