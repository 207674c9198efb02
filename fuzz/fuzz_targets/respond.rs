//! The wire path: any datagram is answered or dropped, never a panic, and an
//! answer is a well-formed message with the query's ID. Through a worker's
//! response cache (filled by the first asking, used by the second) every
//! answer is byte for byte the one `respond` writes.
#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use healthdns::answer::{Cache, Table, Transport, build, respond};
use libfuzzer_sys::fuzz_target;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/example.com.zone");
        build(&[healthdns::zone::load(&path, None).expect("example zone").zone], &Default::default())
    })
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
}

fuzz_target!(|data: &[u8]| {
    let mut out = vec![0u8; 65535];
    let mut cached = vec![0u8; 65535];
    for transport in [Transport::Udp, Transport::Tcp] {
        let want = respond(table(), data, transport, &mut out);
        if let Some(len) = want {
            assert!(len >= 12);
            assert_eq!(out[..2], data[..2], "the ID is echoed");
            if transport == Transport::Udp {
                assert!(len <= 1232, "UDP answers stay within the payload we offer");
            }
        }
        for _ in 0..2 {
            let got = CACHE.with_borrow_mut(|cache| cache.respond(table(), data, transport, &mut cached));
            assert_eq!(got, want, "the cache answers as respond does");
            if let Some(len) = want {
                assert_eq!(cached[..len], out[..len], "the cache answers as respond does");
            }
        }
    }
});
