//! Binding UDP and TCP on one address, port 0 included.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::sockopt;

/// One listen address: its UDP worker sockets and its TCP listener, all on
/// the same port.
#[derive(Debug)]
pub struct Listener {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// UDP sockets sharing the port through SO_REUSEPORT, one per worker.
    pub udp: Vec<UdpSocket>,
    /// The TCP listener.
    pub tcp: TcpListener,
}

/// Tries this many ports when asked for port 0 and TCP finds the UDP port taken.
const PORT_ZERO_ATTEMPTS: usize = 20;

/// Binds `workers` UDP sockets and one TCP listener on `addr`. With port 0,
/// picks a port free for both.
pub fn bind(addr: SocketAddr, workers: usize) -> io::Result<Listener> {
    let attempts = if addr.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    let mut last_error = None;
    for _ in 0..attempts {
        match bind_once(addr, workers.max(1)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.expect("at least one attempt"))
}

fn bind_once(addr: SocketAddr, workers: usize) -> io::Result<Listener> {
    let first = udp_socket(addr)?;
    let addr = first.local_addr()?;
    let mut udp = vec![first];
    for _ in 1..workers {
        udp.push(udp_socket(addr)?);
    }
    let tcp = tcp_listener(addr)?;
    Ok(Listener { addr, udp, tcp })
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    omit_path_mtu(&socket, addr.is_ipv6())?;
    enlarge_receive_buffer(&socket);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Receive buffer asked for per UDP socket (the kernel doubles it for its
/// bookkeeping).
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// Room for a burst: at a busy worker's rate the kernel's default buffer
/// fills within a brief loss of the CPU, so a worker descheduled that long
/// drops queries (`ss -uam` shows them under dnsperf).
/// With CAP_NET_ADMIN `SO_RCVBUFFORCE` sets [`RECEIVE_BUFFER`] past
/// `net.core.rmem_max`, as NSD's `so-rcvbuf` does; without it `SO_RCVBUF`
/// gets as much as rmem_max allows. Neither failing is a reason not to serve.
fn enlarge_receive_buffer(socket: &Socket) {
    let forced = sockopt::set(
        socket,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &RECEIVE_BUFFER,
    );
    if let Err(err) =
        forced.or_else(|_| sockopt::set(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, &RECEIVE_BUFFER))
    {
        tracing::debug!(%err, "UDP receive buffer left at the default");
    }
}

/// Answers go out without DF and ignore path-MTU news (`IP_PMTUDISC_OMIT`),
/// as gdnsd and NSD send them: a forged ICMP "fragmentation needed"
/// cannot then lower the MTU our answers are cut to, the lever of
/// fragmentation attacks on resolvers, and no route MTU is kept per peer.
fn omit_path_mtu(socket: &Socket, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        let omit = libc::IPV6_PMTUDISC_OMIT;
        sockopt::set(socket, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, &omit)
    } else {
        let omit = libc::IP_PMTUDISC_OMIT;
        sockopt::set(socket, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, &omit)
    }
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_gives_one_port_for_udp_and_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        assert_ne!(listener.addr.port(), 0);
        assert_eq!(listener.udp.len(), 2);
        for socket in &listener.udp {
            assert_eq!(socket.local_addr().unwrap(), listener.addr);
        }
        assert_eq!(listener.tcp.local_addr().unwrap(), listener.addr);
    }

    fn int_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let len = sockopt::get(socket, level, name, &mut value).unwrap();
        assert_eq!(len, std::mem::size_of::<libc::c_int>());
        value
    }

    #[test]
    fn udp_sockets_get_more_than_the_default_receive_buffer() {
        let read = |path: &str| -> libc::c_int {
            std::fs::read_to_string(path)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (default, max) = (
            read("/proc/sys/net/core/rmem_default"),
            read("/proc/sys/net/core/rmem_max"),
        );
        let listener = bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let got = int_option(&listener.udp[0], libc::SOL_SOCKET, libc::SO_RCVBUF);
        // Doubled by the kernel: the full size when forced (CAP_NET_ADMIN),
        // else rmem_max; either way above what a socket gets untouched.
        assert!(got >= 2 * RECEIVE_BUFFER.min(max), "{got}");
        assert!(got > default, "{got} <= rmem_default {default}");
    }

    #[test]
    fn udp_sockets_ignore_path_mtu() {
        let v4 = bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        assert_eq!(
            int_option(&v4.udp[0], libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
            libc::IP_PMTUDISC_OMIT
        );
        // ::1 may be missing where IPv6 is off; then there is nothing to check.
        if let Ok(v6) = bind("[::1]:0".parse().unwrap(), 1) {
            assert_eq!(
                int_option(&v6.udp[0], libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
                libc::IPV6_PMTUDISC_OMIT
            );
        }
    }
}
