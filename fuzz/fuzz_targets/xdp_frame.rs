//! The XDP framing, IPv4 and IPv6: any frame is taken or left, never a
//! panic; a frame taken gives a DNS message inside it, and its reply goes
//! back to the sender with valid headers.
//!
//! `cargo +nightly fuzz run xdp_frame corpus/xdp_frame seeds/xdp_frame`: the
//! seed, a query frame for www.example.com, gets it past the header checks
//! at once.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use healthdns::server::xdp::frame::{PAYLOAD_AT, PAYLOAD_AT6, query, query6, reply, reply6};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(message) = query6(data, 53, Ipv6Addr::UNSPECIFIED) {
        assert!(message.start == PAYLOAD_AT6 && message.end <= data.len());
        let mut frame = data.to_vec();
        let len = message.len();
        assert_eq!(reply6(&mut frame, len), PAYLOAD_AT6 + len);
        assert_eq!(frame[22..38], data[38..54], "addresses swapped");
        let client_port = u16::from_be_bytes([frame[56], frame[57]]);
        assert_eq!(query6(&frame, client_port, Ipv6Addr::UNSPECIFIED), Some(PAYLOAD_AT6..PAYLOAD_AT6 + len));
        return;
    }
    let Some(message) = query(data, 53, Ipv4Addr::UNSPECIFIED) else {
        return;
    };
    assert!(message.start == PAYLOAD_AT && message.end <= data.len());
    let mut frame = data.to_vec();
    let len = message.len();
    assert_eq!(reply(&mut frame, len), PAYLOAD_AT + len);
    // Addresses and ports swapped; the header sums to all ones.
    assert_eq!(frame[26..30], data[30..34]);
    assert_eq!(frame[34..36], data[36..38]);
    let sum: u32 = frame[14..34]
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    assert_eq!((folded & 0xffff) + (folded >> 16), 0xffff);
    // The reply's lengths describe it.
    assert_eq!(usize::from(u16::from_be_bytes([frame[16], frame[17]])), 28 + len);
    assert_eq!(query(&frame, u16::from_be_bytes([frame[36], frame[37]]), Ipv4Addr::UNSPECIFIED), Some(PAYLOAD_AT..PAYLOAD_AT + len));
});
