//! `[rate-limit]`: response rate limiting (RRL) on UDP, as Knot's and
//! NSD's.
//!
//! ```toml
//! [rate-limit]
//! responses-per-second = 20     # per network, response class and name
//! slip = 2                      # every 2nd limited response goes out truncated
//! ipv4-prefix-length = 24       # one network: a /24 …
//! ipv6-prefix-length = 56       # … or a /56
//! exempt = ["192.0.2.0/24"]     # networks never limited
//! table-size = 1048576          # flows tracked at once
//! ```

use std::net::IpAddr;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// Every 2nd limited response goes out truncated when `slip` is not set.
pub(crate) const DEFAULT_SLIP: u32 = 2;
/// The largest `slip`, as Knot's.
pub(crate) const MAX_SLIP: u32 = 100;
/// The largest rate: a flow's budget is kept in 16 bits.
pub(crate) const MAX_RESPONSES_PER_SECOND: u32 = u16::MAX as u32;
/// Flows tracked at once when `table-size` is not set: 8 MiB of buckets.
pub(crate) const DEFAULT_TABLE_SIZE: u32 = 1 << 20;
/// The most flows tracked: 256 MiB of buckets.
pub(crate) const MAX_TABLE_SIZE: u32 = 1 << 25;

/// `[rate-limit]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RateLimitSection {
    /// Responses per second per flow; 0 turns limiting off.
    pub responses_per_second: Spanned<i64>,
    /// Every Nth limited response goes out truncated; 0 drops them all.
    pub slip: Option<Spanned<i64>>,
    /// The IPv4 network a source is counted in.
    pub ipv4_prefix_length: Option<Spanned<i64>>,
    /// The IPv6 network a source is counted in.
    pub ipv6_prefix_length: Option<Spanned<i64>>,
    /// Networks never limited.
    pub exempt: Option<Vec<Spanned<String>>>,
    /// Buckets, rounded up to a power of two.
    pub table_size: Option<Spanned<i64>>,
}

/// The validated `[rate-limit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Responses per second per flow (network, class, name); above 0.
    pub responses_per_second: u32,
    /// Every `slip`th limited response goes out truncated (TC) so that a
    /// real client retries over TCP; 0 drops them all, 1 truncates all.
    pub slip: u32,
    /// Prefix length of the IPv4 network a source counts in.
    pub ipv4_prefix_length: u8,
    /// Prefix length of the IPv6 network a source counts in.
    pub ipv6_prefix_length: u8,
    /// Networks whose responses are never limited.
    pub exempt: Vec<Network>,
    /// Buckets in the table of flows: a power of two.
    pub table_size: u32,
}

/// An address and a prefix length: `192.0.2.0/24`, `2001:db8::/32`, or
/// one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Its address, bits past the prefix cleared.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_length: u8,
}

impl Network {
    /// Reads `ADDR` or `ADDR/LEN`.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, length) = match text.split_once('/') {
            Some((addr, length)) => (addr, Some(length)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address or network such as 192.0.2.0/24"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_length = match length {
            None => max,
            Some(length) => match length.trim().parse::<u8>() {
                Ok(length) if length <= max => length,
                _ => return Err(format!("{text:?}: the prefix length is 0 to {max}")),
            },
        };
        Ok(Network::new(addr, prefix_length))
    }

    /// The network of `prefix_length` bits (at most the address's) that
    /// `addr` is in.
    pub fn new(addr: IpAddr, prefix_length: u8) -> Network {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_length = prefix_length.min(max);
        Network {
            addr: mask(addr, prefix_length),
            prefix_length,
        }
    }

    /// True when `addr` is in this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && mask(addr, self.prefix_length) == self.addr
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_length)
    }
}

/// `addr` with the bits past `prefix_length` cleared.
fn mask(addr: IpAddr, prefix_length: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(prefix_length))
                .unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(prefix_length))
                .unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

/// Checks `[rate-limit]`; every problem goes to `fail` with its span. None
/// when limiting is off or a value is wrong.
pub(crate) fn validate(
    section: &RateLimitSection,
    fail: &mut impl FnMut(Option<Range<usize>>, String),
) -> Option<RateLimitConfig> {
    let mut ok = true;
    let mut number = |value: &Spanned<i64>, key: &str, range: Range<i64>, what: &str| {
        let n = *value.get_ref();
        if range.contains(&n) {
            Some(n)
        } else {
            ok = false;
            fail(
                Some(value.span()),
                format!("{key} = {n}: {what} ({} to {})", range.start, range.end - 1),
            );
            None
        }
    };
    let rate = number(
        &section.responses_per_second,
        "responses-per-second",
        0..i64::from(MAX_RESPONSES_PER_SECOND) + 1,
        "responses a second per network, class and name; 0 turns limiting off",
    );
    let slip = section.slip.as_ref().and_then(|slip| {
        number(
            slip,
            "slip",
            0..i64::from(MAX_SLIP) + 1,
            "every Nth limited response goes out truncated; 0 drops them all",
        )
    });
    let ipv4 = section
        .ipv4_prefix_length
        .as_ref()
        .and_then(|length| number(length, "ipv4-prefix-length", 0..33, "an IPv4 prefix length"));
    let ipv6 = section.ipv6_prefix_length.as_ref().and_then(|length| {
        number(
            length,
            "ipv6-prefix-length",
            0..129,
            "an IPv6 prefix length",
        )
    });
    let table_size = section.table_size.as_ref().and_then(|size| {
        number(
            size,
            "table-size",
            1..i64::from(MAX_TABLE_SIZE) + 1,
            "flows tracked at once",
        )
    });
    let mut exempt = Vec::new();
    for network in section.exempt.iter().flatten() {
        match Network::parse(network.get_ref()) {
            Ok(network) => exempt.push(network),
            Err(message) => {
                ok = false;
                fail(Some(network.span()), format!("exempt: {message}"));
            }
        }
    }
    let rate = rate.filter(|&rate| ok && rate > 0)?;
    Some(RateLimitConfig {
        responses_per_second: rate as u32,
        slip: slip.map_or(DEFAULT_SLIP, |slip| slip as u32),
        ipv4_prefix_length: ipv4.map_or(24, |length| length as u8),
        ipv6_prefix_length: ipv6.map_or(56, |length| length as u8),
        exempt,
        table_size: table_size
            .map_or(DEFAULT_TABLE_SIZE, |size| size as u32)
            .next_power_of_two(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;
    use crate::config::tests::assert_errors;

    #[test]
    fn reads_every_key_and_defaults_the_rest() {
        let config = parse(
            Path::new("t.toml"),
            "[rate-limit]\nresponses-per-second = 50\nslip = 3\nipv4-prefix-length = 32\n\
             ipv6-prefix-length = 64\nexempt = [\"192.0.2.0/24\", \"2001:db8::1\"]\n\
             table-size = 1000\n",
        )
        .unwrap();
        assert_eq!(
            config.rate_limit,
            Some(RateLimitConfig {
                responses_per_second: 50,
                slip: 3,
                ipv4_prefix_length: 32,
                ipv6_prefix_length: 64,
                exempt: vec![
                    Network::parse("192.0.2.0/24").unwrap(),
                    Network::parse("2001:db8::1/128").unwrap(),
                ],
                table_size: 1024,
            })
        );
        let defaults = parse(
            Path::new("t.toml"),
            "[rate-limit]\nresponses-per-second = 5\n",
        )
        .unwrap()
        .rate_limit
        .unwrap();
        assert_eq!(
            (
                defaults.slip,
                defaults.ipv4_prefix_length,
                defaults.ipv6_prefix_length,
                defaults.table_size
            ),
            (2, 24, 56, 1 << 20)
        );
    }

    #[test]
    fn off_without_the_section_or_at_zero() {
        let none = parse(Path::new("t.toml"), "").unwrap();
        assert_eq!(none.rate_limit, None);
        let zero = parse(
            Path::new("t.toml"),
            "[rate-limit]\nresponses-per-second = 0\n",
        )
        .unwrap();
        assert_eq!(zero.rate_limit, None);
    }

    #[test]
    fn every_wrong_value_is_an_error_at_its_place() {
        assert_errors(
            "[rate-limit]\nresponses-per-second = -1\nslip = 101\nipv4-prefix-length = 33\n\
             ipv6-prefix-length = 129\nexempt = [\"10.0.0.0/33\", \"nowhere\"]\ntable-size = 0\n",
            &[
                "t.toml:2:24: responses-per-second = -1",
                "t.toml:3:8: slip = 101",
                "t.toml:4:22: ipv4-prefix-length = 33",
                "t.toml:5:22: ipv6-prefix-length = 129",
                "t.toml:6:11: exempt: \"10.0.0.0/33\": the prefix length is 0 to 32",
                "t.toml:6:26: exempt: \"nowhere\" is not an address or network",
                "t.toml:7:14: table-size = 0",
            ],
        );
    }

    #[test]
    fn networks_hold_the_addresses_under_their_prefix() {
        let net = Network::parse("192.0.2.77/24").unwrap();
        assert_eq!(net.addr, "192.0.2.0".parse::<IpAddr>().unwrap());
        assert!(net.contains("192.0.2.1".parse().unwrap()));
        assert!(!net.contains("192.0.3.1".parse().unwrap()));
        assert!(!net.contains("::ffff:192.0.2.1".parse().unwrap()));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6 = Network::parse("2001:db8:1::/48").unwrap();
        assert!(v6.contains("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:2::1".parse().unwrap()));
    }
}
