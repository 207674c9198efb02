//! The BPF side of the XDP path: the program that hands our queries to the
//! AF_XDP sockets, and the few `bpf(2)` calls that load and attach it.
//!
//! The program is a few dozen instructions, assembled here rather than
//! compiled from C, so that building healthdns needs no clang, libbpf or
//! BTF. It passes every frame to the kernel unless it is Ethernet II and
//! either IPv4 without options, not a fragment, or IPv6 with UDP as its
//! next header, with UDP to our port (and our address, when the listener
//! has one); those it redirects to the XSKMAP entry of the queue it
//! arrived on, and when that queue has no socket, passes them too.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
#[cfg(test)]
const BPF_PROG_TEST_RUN: libc::c_int = 10;
const BPF_LINK_CREATE: libc::c_int = 28;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;

/// XDP verdict: drop the frame (tests make it the redirect's fallback, to
/// see which frames reach the redirect).
#[cfg(test)]
pub(super) const XDP_DROP: u32 = 1;
/// XDP verdict: let the kernel have the frame.
pub(super) const XDP_PASS: u32 = 2;

/// One instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: src << 4 | dst,
        off,
        imm,
    }
}

// Opcodes used below (class | size or operation | source).
const LDX_W: u8 = 0x61;
const LDX_H: u8 = 0x69;
const LDX_B: u8 = 0x71;
const MOV_X: u8 = 0xbf;
const MOV_K: u8 = 0xb7;
const ADD_K: u8 = 0x07;
const AND_K: u8 = 0x57;
const JGT_X: u8 = 0x2d;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const JA: u8 = 0x05;
/// 32-bit compare: a loaded u32 against an immediate, no sign extension.
const JNE32_K: u8 = 0x56;
const LD_DW: u8 = 0x18;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const PSEUDO_MAP_FD: u8 = 1;
const HELPER_REDIRECT_MAP: i32 = 51;

/// The program: IPv4 frames to `v4` (port, and address unless
/// unspecified) and IPv6 frames to `v6` are redirected into the XSKMAP
/// `map_fd`; a frame whose queue has no socket gets `fallback`
/// (production: [`XDP_PASS`]), and every other frame passes.
pub(super) fn program(
    v4: Option<(u16, Ipv4Addr)>,
    v6: Option<(u16, Ipv6Addr)>,
    map_fd: i32,
    fallback: u32,
) -> Vec<Insn> {
    // Packet fields are loaded in network order into little-endian
    // registers: compare against the constants byte-swapped.
    let le16 = |v: u16| i32::from(u16::from_le_bytes(v.to_be_bytes()));
    let le32 = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as i32;
    let mut code = vec![
        insn(LDX_W, 2, 1, 0, 0), // r2 = ctx->data
        insn(LDX_W, 3, 1, 4, 0), // r3 = ctx->data_end
        insn(MOV_X, 4, 2, 0, 0),
        insn(ADD_K, 4, 0, 0, 42),   // r4 = data + eth + ipv4 + udp
        insn(JGT_X, 4, 3, PASS, 0), // too short for either
        insn(LDX_H, 5, 2, 12, 0),   // EtherType
    ];
    if v6.is_some() {
        code.push(insn(JEQ_K, 5, 0, V6, le16(0x86dd)));
    }
    match v4 {
        Some((port, addr)) => {
            code.extend([
                insn(JNE_K, 5, 0, PASS, le16(0x0800)),
                insn(LDX_B, 5, 2, 14, 0), // version and header length
                insn(JNE_K, 5, 0, PASS, 0x45),
                insn(LDX_B, 5, 2, 23, 0), // protocol
                insn(JNE_K, 5, 0, PASS, 17),
                insn(LDX_H, 5, 2, 20, 0), // flags and fragment offset
                insn(AND_K, 5, 0, 0, le16(0x3fff)),
                insn(JNE_K, 5, 0, PASS, 0),
                insn(LDX_H, 5, 2, 36, 0), // UDP destination port
                insn(JNE_K, 5, 0, PASS, le16(port)),
            ]);
            if !addr.is_unspecified() {
                code.push(insn(LDX_W, 5, 2, 30, 0)); // IPv4 destination
                code.push(insn(JNE32_K, 5, 0, PASS, le32(&addr.octets())));
            }
            code.push(insn(JA, 0, 0, REDIRECT, 0));
        }
        None => code.push(insn(JA, 0, 0, PASS, 0)),
    }
    if let Some((port, addr)) = v6 {
        code.extend([
            insn(LABEL, 0, 0, V6, 0),
            insn(MOV_X, 4, 2, 0, 0),
            insn(ADD_K, 4, 0, 0, 62), // r4 = data + eth + ipv6 + udp
            insn(JGT_X, 4, 3, PASS, 0),
            insn(LDX_B, 5, 2, 14, 0), // version
            insn(AND_K, 5, 0, 0, 0xf0),
            insn(JNE_K, 5, 0, PASS, 0x60),
            insn(LDX_B, 5, 2, 20, 0), // next header: UDP, no extensions
            insn(JNE_K, 5, 0, PASS, 17),
            insn(LDX_H, 5, 2, 56, 0), // UDP destination port
            insn(JNE_K, 5, 0, PASS, le16(port)),
        ]);
        if !addr.is_unspecified() {
            for (i, word) in addr.octets().chunks_exact(4).enumerate() {
                code.push(insn(LDX_W, 5, 2, 38 + 4 * i as i16, 0)); // destination
                code.push(insn(JNE32_K, 5, 0, PASS, le32(word)));
            }
        }
    }
    code.extend([
        insn(LABEL, 0, 0, REDIRECT, 0),
        insn(LDX_W, 2, 1, 16, 0), // r2 = ctx->rx_queue_index
        insn(LD_DW, 1, PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        insn(MOV_K, 3, 0, 0, fallback as i32),
        insn(CALL, 0, 0, 0, HELPER_REDIRECT_MAP),
        insn(EXIT, 0, 0, 0, 0),
        insn(LABEL, 0, 0, PASS, 0),
        insn(MOV_K, 0, 0, 0, XDP_PASS as i32),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    resolve(code)
}

/// Drops the label markers and turns jumps to labels into relative offsets.
fn resolve(marked: Vec<Insn>) -> Vec<Insn> {
    let mut at_label = std::collections::HashMap::new();
    let mut code = Vec::with_capacity(marked.len());
    for i in marked {
        if i.code == LABEL {
            at_label.insert(i.off, code.len() as i16);
        } else {
            code.push(i);
        }
    }
    for (at, i) in code.iter_mut().enumerate() {
        if matches!(i.code, JGT_X | JNE_K | JNE32_K | JEQ_K | JA)
            && let Some(&target) = at_label.get(&i.off)
        {
            i.off = target - at as i16 - 1;
        }
    }
    code
}

/// Jump targets, written as the offset until [`resolve`] replaces them.
const PASS: i16 = i16::MIN;
const V6: i16 = i16::MIN + 1;
const REDIRECT: i16 = i16::MIN + 2;
/// Not an instruction: marks where the label in `off` is.
const LABEL: u8 = 0xff;

fn bpf<T>(command: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `command`,
    // zeroed where unused; the kernel reads (and for some commands writes)
    // at most size_of::<T>() bytes of it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(result)
}

fn fd_of(result: libc::c_long) -> OwnedFd {
    // SAFETY: the call succeeded and returned a new file descriptor that
    // nothing else owns.
    unsafe { OwnedFd::from_raw_fd(result as i32) }
}

/// An XSKMAP with one entry per queue.
pub(super) fn xsk_map(queues: u32) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
    }
    let mut attr = Attr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: queues,
        map_flags: 0,
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(fd_of)
}

/// Puts the AF_XDP socket `xsk` at `queue` of `map`.
pub(super) fn set_socket(map: &OwnedFd, queue: u32, xsk: &OwnedFd) -> io::Result<()> {
    #[repr(C)]
    struct Attr {
        map_fd: u32,
        pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    let value = xsk.as_raw_fd() as u32;
    let mut attr = Attr {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: &queue as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: 0,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Loads an XDP program; a verifier refusal comes back with its log.
pub(super) fn load(code: &[Insn]) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    let mut log = vec![0u8; 16 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"healthdns_q\0");
    let mut attr = Attr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: code.len() as u32,
        insns: code.as_ptr() as u64,
        license: c"Dual MIT/GPL".as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_XDP,
    };
    bpf(BPF_PROG_LOAD, &mut attr).map(fd_of).map_err(|err| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        io::Error::new(err.kind(), format!("{err}; verifier: {}", text.trim()))
    })
}

/// Attaches `program` to interface `ifindex` (driver mode where the driver
/// has it, else generic); it stays attached while the returned link lives,
/// and is detached when it closes, even if the process dies.
pub(super) fn attach(program: &OwnedFd, ifindex: u32) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct Attr {
        prog_fd: u32,
        target_ifindex: u32,
        attach_type: u32,
        flags: u32,
    }
    let mut attr = Attr {
        prog_fd: program.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: 0,
    };
    bpf(BPF_LINK_CREATE, &mut attr).map(fd_of)
}

/// Runs `program` once on `frame` in the kernel's test harness; returns
/// its verdict.
#[cfg(test)]
pub(super) fn test_run(program: &OwnedFd, frame: &[u8]) -> io::Result<u32> {
    #[repr(C)]
    struct Attr {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
    }
    let mut attr = Attr {
        prog_fd: program.as_raw_fd() as u32,
        retval: 0,
        data_size_in: frame.len() as u32,
        data_size_out: 0,
        data_in: frame.as_ptr() as u64,
        data_out: 0,
        repeat: 1,
        duration: 0,
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program_and_forward() {
        let v4 = Some((53, Ipv4Addr::new(192, 0, 2, 53)));
        let v6 = Some((53, "2001:db8::53".parse().unwrap()));
        for (v4, v6) in [(v4, None), (None, v6), (v4, v6)] {
            let code = program(v4, v6, 3, XDP_PASS);
            let pass = code.len() - 2;
            assert_eq!(code[pass], insn(MOV_K, 0, 0, 0, XDP_PASS as i32));
            for (at, i) in code.iter().enumerate() {
                if matches!(i.code, JGT_X | JNE_K | JNE32_K | JEQ_K | JA) {
                    let to = at as i64 + 1 + i64::from(i.off);
                    assert!(i.off >= 0 && to < code.len() as i64, "jump at {at} to {to}");
                }
                assert_ne!(i.code, LABEL);
            }
        }
    }

    fn program_fd(
        v4: Option<(u16, Ipv4Addr)>,
        v6: Option<(u16, Ipv6Addr)>,
        map: &OwnedFd,
    ) -> OwnedFd {
        load(&program(v4, v6, map.as_raw_fd(), XDP_DROP)).expect("the verifier accepts it")
    }

    /// The kernel's verifier and test harness judge the program: frames to
    /// us reach the redirect (seen as the test fallback, XDP_DROP, since no
    /// socket is in the map), every other frame passes. Needs root (or
    /// CAP_BPF and CAP_NET_ADMIN): run with `--include-ignored`.
    #[test]
    #[ignore = "needs root"]
    fn the_kernel_accepts_the_program_and_it_picks_our_frames() {
        let map = xsk_map(1).unwrap_or_else(|err| {
            panic!("no XSKMAP here ({err}): this test needs root (CAP_BPF and CAP_NET_ADMIN)")
        });
        let server = Ipv4Addr::new(192, 0, 2, 53);
        let server6 = super::super::frame::tests::SERVER6;
        let code = program(
            Some((53, server)),
            Some((53, server6)),
            map.as_raw_fd(),
            XDP_DROP,
        );
        let program = load(&code).expect("the verifier accepts the program");
        let frame = super::super::frame::tests::frame(b"a query");
        assert_eq!(test_run(&program, &frame).unwrap(), XDP_DROP, "ours");
        // The verdict on `frame` with byte `at` set to `byte`.
        let changed = |frame: &[u8], at: usize, byte: u8| {
            let mut f = frame.to_vec();
            f[at] = byte;
            test_run(&program, &f).unwrap()
        };
        let other = |at, byte| changed(&frame, at, byte);
        assert_eq!(other(37, 54), XDP_PASS, "port 54");
        assert_eq!(other(33, 54), XDP_PASS, "address 192.0.2.54");
        assert_eq!(other(12, 0x86), XDP_PASS, "not IPv4");
        assert_eq!(other(14, 0x46), XDP_PASS, "IP options");
        assert_eq!(other(23, 6), XDP_PASS, "TCP");
        assert_eq!(other(20, 0x20), XDP_PASS, "a fragment");
        assert_eq!(test_run(&program, &frame[..41]).unwrap(), XDP_PASS, "short");
        // IPv6: ours, and then what is not.
        let frame6 = super::super::frame::tests::frame6(b"a query");
        assert_eq!(
            test_run(&program, &frame6).unwrap(),
            XDP_DROP,
            "ours over IPv6"
        );
        let other6 = |at, byte| changed(&frame6, at, byte);
        assert_eq!(other6(57, 54), XDP_PASS, "IPv6 port 54");
        assert_eq!(other6(53, 0x54), XDP_PASS, "another IPv6 address");
        assert_eq!(other6(20, 0), XDP_PASS, "an extension header");
        assert_eq!(
            test_run(&program, &frame6[..61]).unwrap(),
            XDP_PASS,
            "short"
        );
        // Any address when the listener has none; no IPv6 when none listens.
        let any = program_fd(Some((53, Ipv4Addr::UNSPECIFIED)), None, &map);
        assert_eq!(test_run(&any, &frame).unwrap(), XDP_DROP);
        assert_eq!(test_run(&any, &frame6).unwrap(), XDP_PASS);
        let only6 = program_fd(None, Some((53, Ipv6Addr::UNSPECIFIED)), &map);
        assert_eq!(test_run(&only6, &frame).unwrap(), XDP_PASS);
        assert_eq!(test_run(&only6, &frame6).unwrap(), XDP_DROP);
    }
}
