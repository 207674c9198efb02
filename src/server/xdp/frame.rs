//! Ethernet/IP/UDP framing for the XDP path: which frames carry a query
//! for us, and turning a query frame into its reply in place.
//!
//! Only the plain case is taken: Ethernet II; IPv4 without options and not
//! a fragment, or IPv6 with UDP right after its header; UDP to our port.
//! The BPF program lets everything else through to the kernel, where the
//! UDP socket on the same address answers it, so the checks here repeat
//! the program's and never have to be complete.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Ethernet header: destination, source, EtherType.
pub const ETH_LEN: usize = 14;
/// IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// UDP header.
pub const UDP_LEN: usize = 8;
/// Where the DNS message starts in an IPv4 frame we take.
pub const PAYLOAD_AT: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// IPv6 header.
pub const IPV6_LEN: usize = 40;
/// Where the DNS message starts in an IPv6 frame we take.
pub const PAYLOAD_AT6: usize = ETH_LEN + IPV6_LEN + UDP_LEN;

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const PROTO_UDP: u8 = 17;
/// TTL of replies, as Linux's default.
const TTL: u8 = 64;

/// The DNS message of a query frame to `port` (and to `addr`, unless it is
/// unspecified): its byte range in the frame.
pub fn query(frame: &[u8], port: u16, addr: Ipv4Addr) -> Option<std::ops::Range<usize>> {
    let headers = frame.get(..PAYLOAD_AT)?;
    let ip = &headers[ETH_LEN..ETH_LEN + IPV4_LEN];
    let udp = &headers[ETH_LEN + IPV4_LEN..];
    let plain = headers[12..14] == ETHERTYPE_IPV4
        && ip[0] == 0x45
        && ip[9] == PROTO_UDP
        // Neither "more fragments" nor an offset: a whole datagram.
        && u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff == 0;
    let to_us = u16::from_be_bytes([udp[2], udp[3]]) == port
        && (addr.is_unspecified() || ip[16..20] == addr.octets());
    if !plain || !to_us {
        return None;
    }
    // The IP length rules: Ethernet may pad a short frame.
    let ip_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let end = ETH_LEN + ip_len;
    if ip_len < IPV4_LEN + UDP_LEN || end > frame.len() || udp_len != ip_len - IPV4_LEN {
        return None;
    }
    Some(PAYLOAD_AT..end)
}

/// Rewrites the headers of the query frame `frame` into those of its
/// reply, whose DNS message of `payload_len` bytes is already at
/// [`PAYLOAD_AT`]: addresses and ports swapped, lengths and the IPv4
/// checksum set. Returns the reply frame's length.
///
/// The UDP checksum is left zero, which IPv4 allows (RFC 768) and every
/// resolver accepts; Knot's XDP mode does the same.
pub fn reply(frame: &mut [u8], payload_len: usize) -> usize {
    let (eth, rest) = frame.split_at_mut(ETH_LEN);
    swap(eth, 0, 6, 6);
    let (ip, rest) = rest.split_at_mut(IPV4_LEN);
    let ip_len = (IPV4_LEN + UDP_LEN + payload_len) as u16;
    ip[1] = 0; // DSCP/ECN
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..8].fill(0); // identification, flags, fragment offset
    ip[8] = TTL;
    swap(ip, 12, 16, 4);
    ip[10..12].fill(0);
    let checksum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let udp = &mut rest[..UDP_LEN];
    swap(udp, 0, 2, 2);
    udp[4..6].copy_from_slice(&((UDP_LEN + payload_len) as u16).to_be_bytes());
    udp[6..8].fill(0);
    PAYLOAD_AT + payload_len
}

/// What follows the headers of `frame` if it is a UDP datagram over IPv4
/// or IPv6 without options, unchecked: enough to read a query's question
/// ahead of answering it ([`query`] and [`query6`] check the rest).
pub fn payload(frame: &[u8]) -> &[u8] {
    let at = if is_ipv6(frame) {
        PAYLOAD_AT6
    } else {
        PAYLOAD_AT
    };
    frame.get(at..).unwrap_or_default()
}

/// True when `frame` is an IPv6 frame (the EtherType alone).
pub fn is_ipv6(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&ETHERTYPE_IPV6[..])
}

/// The source address of an IPv4 or IPv6 frame, unchecked but for its
/// length: asked of frames [`query`] or [`query6`] took.
pub fn source(frame: &[u8]) -> Option<std::net::IpAddr> {
    if is_ipv6(frame) {
        let bytes: [u8; 16] = frame.get(ETH_LEN + 8..ETH_LEN + 24)?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes).into())
    } else {
        let bytes: [u8; 4] = frame.get(ETH_LEN + 12..ETH_LEN + 16)?.try_into().ok()?;
        Some(std::net::Ipv4Addr::from(bytes).into())
    }
}

/// [`query`] for IPv6: UDP right after the fixed header (no extension
/// headers), to `port` (and `addr` unless unspecified).
pub fn query6(frame: &[u8], port: u16, addr: Ipv6Addr) -> Option<std::ops::Range<usize>> {
    let headers = frame.get(..PAYLOAD_AT6)?;
    let ip = &headers[ETH_LEN..ETH_LEN + IPV6_LEN];
    let udp = &headers[ETH_LEN + IPV6_LEN..];
    let plain = headers[12..14] == ETHERTYPE_IPV6 && ip[0] >> 4 == 6 && ip[6] == PROTO_UDP;
    let to_us = u16::from_be_bytes([udp[2], udp[3]]) == port
        && (addr.is_unspecified() || ip[24..40] == addr.octets());
    if !plain || !to_us {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let end = ETH_LEN + IPV6_LEN + payload_len;
    if payload_len < UDP_LEN || end > frame.len() || udp_len != payload_len {
        return None;
    }
    Some(PAYLOAD_AT6..end)
}

/// [`reply`] for IPv6. IPv6 requires the UDP checksum (RFC 8200 §8.1), so
/// it is computed over the pseudo-header, the UDP header and the message.
pub fn reply6(frame: &mut [u8], payload_len: usize) -> usize {
    let (eth, rest) = frame.split_at_mut(ETH_LEN);
    swap(eth, 0, 6, 6);
    let (ip, rest) = rest.split_at_mut(IPV6_LEN);
    let udp_len = (UDP_LEN + payload_len) as u16;
    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]); // version; no class, no flow label
    ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
    ip[6] = PROTO_UDP;
    ip[7] = TTL;
    swap(ip, 8, 24, 16);
    let udp = &mut rest[..UDP_LEN + payload_len];
    swap(udp, 0, 2, 2);
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].fill(0);
    let mut sum = sum16(&ip[8..40], 0);
    sum += u32::from(udp_len) + u32::from(PROTO_UDP);
    let checksum = !fold(sum16(udp, sum));
    // Zero means "no checksum", which IPv6 forbids: send all ones.
    let checksum = if checksum == 0 { 0xffff } else { checksum };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    PAYLOAD_AT6 + payload_len
}

/// Swaps the `len` bytes at `a` with those at `b`.
fn swap(bytes: &mut [u8], a: usize, b: usize, len: usize) {
    for i in 0..len {
        bytes.swap(a + i, b + i);
    }
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with
/// zero) to `sum`, unfolded.
fn sum16(bytes: &[u8], mut sum: u32) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for pair in &mut words {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds a one's-complement sum into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The RFC 791 header checksum of `header` (its checksum field zero).
fn ipv4_checksum(header: &[u8]) -> u16 {
    !fold(sum16(header, 0))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A query frame from 192.0.2.7:40000 (MAC 02:…:07) to 192.0.2.53:53
    /// (MAC 02:…:53) carrying `payload`.
    pub(in crate::server::xdp) fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 0x53, 2, 0, 0, 0, 0, 7, 0x08, 0x00];
        let ip_len = (IPV4_LEN + UDP_LEN + payload.len()) as u16;
        f.extend([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 63, PROTO_UDP, 0, 0]);
        f[ETH_LEN + 2..ETH_LEN + 4].copy_from_slice(&ip_len.to_be_bytes());
        f.extend([192, 0, 2, 7, 192, 0, 2, 53]);
        let checksum = ipv4_checksum(&f[ETH_LEN..]);
        f[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&checksum.to_be_bytes());
        f.extend(40000u16.to_be_bytes());
        f.extend(53u16.to_be_bytes());
        f.extend(((UDP_LEN + payload.len()) as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(payload);
        f
    }

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

    #[test]
    fn a_plain_query_frame_is_ours() {
        let f = frame(b"dns!");
        assert_eq!(query(&f, 53, SERVER), Some(PAYLOAD_AT..PAYLOAD_AT + 4));
        assert_eq!(
            query(&f, 53, Ipv4Addr::UNSPECIFIED),
            Some(PAYLOAD_AT..PAYLOAD_AT + 4)
        );
        // Ethernet padding after the datagram is not part of it.
        let mut padded = f.clone();
        padded.extend([0; 16]);
        assert_eq!(query(&padded, 53, SERVER), Some(PAYLOAD_AT..PAYLOAD_AT + 4));
    }

    #[test]
    fn other_frames_are_left_to_the_kernel() {
        let f = frame(b"dns!");
        assert_eq!(query(&f, 5353, SERVER), None, "another port");
        assert_eq!(
            query(&f, 53, Ipv4Addr::new(192, 0, 2, 54)),
            None,
            "another address"
        );
        let changed = |at: usize, byte: u8| {
            let mut g = f.clone();
            g[at] = byte;
            query(&g, 53, SERVER)
        };
        assert_eq!(changed(12, 0x86), None, "not IPv4");
        assert_eq!(changed(ETH_LEN, 0x46), None, "IP options");
        assert_eq!(changed(ETH_LEN + 9, 6), None, "TCP");
        assert_eq!(changed(ETH_LEN + 6, 0x20), None, "more fragments");
        assert_eq!(changed(ETH_LEN + 7, 1), None, "a fragment offset");
        assert_eq!(changed(ETH_LEN + 3, 200), None, "IP length past the frame");
        assert_eq!(
            changed(ETH_LEN + IPV4_LEN + 5, 99),
            None,
            "UDP length disagrees"
        );
        assert_eq!(query(&f[..PAYLOAD_AT - 1], 53, SERVER), None, "cut short");
    }

    #[test]
    fn the_reply_goes_back_where_the_query_came_from() {
        let mut f = frame(b"query");
        f.resize(PAYLOAD_AT + 11, 0);
        f[PAYLOAD_AT..].copy_from_slice(b"the answer!");
        let len = reply(&mut f, 11);
        assert_eq!(len, PAYLOAD_AT + 11);
        let expected = {
            let mut e = vec![2, 0, 0, 0, 0, 7, 2, 0, 0, 0, 0, 0x53, 0x08, 0x00];
            e.extend([0x45, 0, 0, 39, 0, 0, 0, 0, TTL, PROTO_UDP, 0, 0]);
            e.extend([192, 0, 2, 53, 192, 0, 2, 7]);
            let checksum = ipv4_checksum(&e[ETH_LEN..]);
            e[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&checksum.to_be_bytes());
            e.extend(53u16.to_be_bytes());
            e.extend(40000u16.to_be_bytes());
            e.extend([0, 19, 0, 0]);
            e.extend(b"the answer!");
            e
        };
        assert_eq!(f, expected);
        // A receiver's check of the header sums to all ones.
        assert_eq!(ipv4_checksum(&f[ETH_LEN..ETH_LEN + IPV4_LEN]), 0);
    }

    /// [`frame`] over IPv6: from 2001:db8::7 port 40000 to 2001:db8::53
    /// port 53.
    pub(in crate::server::xdp) fn frame6(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 0x53, 2, 0, 0, 0, 0, 7, 0x86, 0xdd];
        f.extend([0x60, 0, 0, 0]);
        f.extend(((UDP_LEN + payload.len()) as u16).to_be_bytes());
        f.extend([PROTO_UDP, 63]);
        f.extend(CLIENT6.octets());
        f.extend(SERVER6.octets());
        f.extend(40000u16.to_be_bytes());
        f.extend(53u16.to_be_bytes());
        f.extend(((UDP_LEN + payload.len()) as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(payload);
        f
    }

    const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
    pub(in crate::server::xdp) const SERVER6: Ipv6Addr =
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);

    #[test]
    fn ipv6_query_frames_are_ours_and_others_are_not() {
        let f = frame6(b"dns!");
        assert!(is_ipv6(&f) && !is_ipv6(&frame(b"dns!")));
        assert_eq!(query6(&f, 53, SERVER6), Some(PAYLOAD_AT6..PAYLOAD_AT6 + 4));
        assert_eq!(
            query6(&f, 53, Ipv6Addr::UNSPECIFIED),
            Some(PAYLOAD_AT6..PAYLOAD_AT6 + 4)
        );
        assert_eq!(query6(&f, 54, SERVER6), None, "another port");
        assert_eq!(query6(&f, 53, CLIENT6), None, "another address");
        let changed = |at: usize, byte: u8| {
            let mut g = f.clone();
            g[at] = byte;
            query6(&g, 53, SERVER6)
        };
        assert_eq!(changed(ETH_LEN + 6, 0), None, "an extension header first");
        assert_eq!(changed(ETH_LEN, 0x40), None, "not version 6");
        assert_eq!(
            changed(ETH_LEN + 5, 200),
            None,
            "payload length past the frame"
        );
        assert_eq!(
            changed(ETH_LEN + IPV6_LEN + 5, 99),
            None,
            "UDP length disagrees"
        );
    }

    #[test]
    fn an_ipv6_reply_carries_a_checksum_that_verifies() {
        for answer in [&b"the answer!"[..], b"even"] {
            let mut f = frame6(b"query");
            f.resize(PAYLOAD_AT6 + answer.len(), 0);
            f[PAYLOAD_AT6..].copy_from_slice(answer);
            let len = reply6(&mut f, answer.len());
            assert_eq!(len, f.len());
            assert_eq!(f[..12], [2, 0, 0, 0, 0, 7, 2, 0, 0, 0, 0, 0x53]);
            assert_eq!(f[ETH_LEN + 8..ETH_LEN + 24], SERVER6.octets());
            assert_eq!(f[ETH_LEN + 24..ETH_LEN + 40], CLIENT6.octets());
            assert_eq!(f[ETH_LEN + 40..ETH_LEN + 44], [0, 53, 0x9c, 0x40]);
            assert_eq!(query6(&f, 40000, CLIENT6), Some(PAYLOAD_AT6..len));
            // A receiver sums pseudo-header, header and data to all ones.
            let udp = &f[ETH_LEN + IPV6_LEN..];
            let mut sum = sum16(&f[ETH_LEN + 8..ETH_LEN + 40], 0);
            sum += udp.len() as u32 + u32::from(PROTO_UDP);
            assert_eq!(fold(sum16(udp, sum)), 0xffff, "{answer:?}");
        }
    }

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            ipv4_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }
}
