//! Ethernet/IPv4/UDP framing for the XDP path: which frames carry a query
//! for us, and turning a query frame into its reply in place.
//!
//! Only the plain case is taken: Ethernet II, IPv4 without options, not a
//! fragment, UDP to our port. The BPF program lets everything else through
//! to the kernel, where the UDP socket on the same address answers it, so
//! the checks here repeat the program's and never have to be complete.

use std::net::Ipv4Addr;

/// Ethernet header: destination, source, EtherType.
pub const ETH_LEN: usize = 14;
/// IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// UDP header.
pub const UDP_LEN: usize = 8;
/// Where the DNS message starts in a frame we take.
pub const PAYLOAD_AT: usize = ETH_LEN + IPV4_LEN + UDP_LEN;

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
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
    let mut source = [0u8; 6];
    source.copy_from_slice(&eth[6..12]);
    eth.copy_within(0..6, 6);
    eth[..6].copy_from_slice(&source);

    let (ip, rest) = rest.split_at_mut(IPV4_LEN);
    let ip_len = (IPV4_LEN + UDP_LEN + payload_len) as u16;
    ip[1] = 0; // DSCP/ECN
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..8].fill(0); // identification, flags, fragment offset
    ip[8] = TTL;
    let mut client = [0u8; 4];
    client.copy_from_slice(&ip[12..16]);
    ip.copy_within(16..20, 12);
    ip[16..20].copy_from_slice(&client);
    ip[10..12].fill(0);
    let checksum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());

    let udp = &mut rest[..UDP_LEN];
    let mut client_port = [0u8; 2];
    client_port.copy_from_slice(&udp[0..2]);
    udp.copy_within(2..4, 0);
    udp[2..4].copy_from_slice(&client_port);
    udp[4..6].copy_from_slice(&((UDP_LEN + payload_len) as u16).to_be_bytes());
    udp[6..8].fill(0);
    PAYLOAD_AT + payload_len
}

/// The RFC 791 header checksum of `header` (its checksum field zero).
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
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

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            ipv4_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }
}
