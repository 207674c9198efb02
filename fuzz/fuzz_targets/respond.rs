//! The wire path: any datagram is answered or dropped, never a panic, and an
//! answer is a well-formed message with the query's ID.
#![no_main]

use std::sync::OnceLock;

use healthdns::answer::{Table, Transport, build, respond};
use libfuzzer_sys::fuzz_target;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/example.com.zone");
        build(&[healthdns::zone::load(&path, None).expect("example zone").zone], &Default::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = vec![0u8; 65535];
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(len) = respond(table(), data, transport, &mut out) {
            assert!(len >= 12);
            assert_eq!(out[..2], data[..2], "the ID is echoed");
            if transport == Transport::Udp {
                assert!(len <= 1232, "UDP answers stay within the payload we offer");
            }
        }
    }
});
