//! One AF_XDP socket: its UMEM (the frames packets live in) and its four
//! rings, shared with the kernel through `mmap`.
//!
//! A frame makes one round: the fill ring lends it to the kernel, the RX
//! ring hands it back holding a query, the reply is written over the query
//! in the same frame and goes out on the TX ring, and the completion ring
//! returns it once sent, to be lent again. Nothing is copied in user space
//! but the query's DNS message, and nothing is allocated after start-up.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::server::plain::zeroed;
use crate::server::sockopt::{self, check};

/// Bytes per frame. A reply is at most 42 bytes of headers and one UDP
/// answer (see [`crate::wire::MAX_UDP_PAYLOAD`]); copy mode keeps 256 bytes
/// of headroom in front of the packet.
pub(super) const FRAME_SIZE: u32 = 2048;
/// Frames per socket: 8 MiB of UMEM.
const FRAMES: u32 = 4096;
/// Entries of the RX and TX rings; the fill and completion rings hold every
/// frame, so giving one back never finds them full.
const RING: u32 = 2048;
/// Replies sent per kick: what one copy-mode `sendto` transmits.
const KICK_AT: u32 = 32;

/// An anonymous mapping, unmapped on drop.
struct Mapping {
    at: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize, fd: Option<(&OwnedFd, u64)>) -> io::Result<Mapping> {
        let (flags, fd, offset) = match fd {
            Some((fd, offset)) => (libc::MAP_SHARED, fd.as_raw_fd(), offset as libc::off_t),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choosing;
        // nothing else refers to that memory.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let at = NonNull::new(at.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping { at, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing points into it any more:
        // the rings and frames that did are dropped with it.
        unsafe { libc::munmap(self.at.as_ptr().cast(), self.len) };
    }
}

/// A single-producer single-consumer ring shared with the kernel; `T` is a
/// frame address (`u64`, fill and completion) or a descriptor (RX, TX).
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    size: u32,
    /// Our side's index, published on `submit`/`release`.
    head: u32,
    /// Free entries last seen (producer side): the kernel's consumer index
    /// is re-read only when they run out, since reading it pulls in a cache
    /// line the kernel writes from another CPU.
    free: u32,
    /// Entries the kernel has published and we have not released, as of
    /// the last `ready` (consumer side): the only ones `peek` may read and
    /// `release` give back, since the kernel writes the others.
    published: u32,
    _map: Mapping,
}

impl<T: Copy> Ring<T> {
    fn map(
        fd: &OwnedFd,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<Ring<T>> {
        let len = offsets.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mapping::new(len, Some((fd, pgoff)))?;
        Ok(Ring::over(map, offsets, size))
    }

    /// The ring laid out in `map` at `offsets`, of `size` entries (a power
    /// of two); the offsets and the entries must lie within the mapping.
    fn over(map: Mapping, offsets: &libc::xdp_ring_offset, size: u32) -> Ring<T> {
        assert!(size.is_power_of_two(), "a ring of {size} entries");
        let end = offsets.desc as usize + size as usize * std::mem::size_of::<T>();
        let words = [offsets.producer, offsets.consumer, offsets.flags];
        assert!(
            end <= map.len && words.iter().all(|&w| w as usize + 4 <= map.len),
            "ring offsets outside the mapping"
        );
        // SAFETY: within the mapping, as just checked.
        let at = |offset: u64| unsafe { map.at.add(offset as usize) };
        Ring {
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            flags: at(offsets.flags).cast(),
            entries: at(offsets.desc).cast(),
            size,
            head: 0,
            free: 0,
            published: 0,
            _map: map,
        }
    }

    fn index(&self, which: NonNull<AtomicU32>, order: Ordering) -> u32 {
        // SAFETY: the index word is in the mapping, aligned, and only ever
        // accessed atomically, by us and by the kernel.
        unsafe { which.as_ref() }.load(order)
    }

    fn entry(&self, i: u32) -> *mut T {
        // SAFETY: `i & (size - 1)` is within the ring (size is a power of two).
        unsafe { self.entries.as_ptr().add((i & (self.size - 1)) as usize) }
    }

    fn needs_wakeup(&self) -> bool {
        self.index(self.flags, Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// The side of a ring we fill (fill, TX).
impl<T: Copy> Ring<T> {
    fn room(&self) -> u32 {
        self.size
            - self
                .head
                .wrapping_sub(self.index(self.consumer, Ordering::Acquire))
    }

    /// Queues `value`; false when the ring is full.
    fn push(&mut self, value: T) -> bool {
        if self.free == 0 {
            self.free = self.room();
            if self.free == 0 {
                return false;
            }
        }
        // SAFETY: the slot is ours until `submit` publishes it.
        unsafe { self.entry(self.head).write(value) };
        self.head = self.head.wrapping_add(1);
        self.free -= 1;
        true
    }

    /// Hands every pushed entry to the kernel.
    fn submit(&self) {
        // SAFETY: as in `index`.
        unsafe { self.producer.as_ref() }.store(self.head, Ordering::Release);
    }
}

/// The side of a ring the kernel fills (RX, completion).
impl<T: Copy> Ring<T> {
    /// How many entries are ready, at most `max`.
    fn ready(&mut self, max: u32) -> u32 {
        let published = self
            .index(self.producer, Ordering::Acquire)
            .wrapping_sub(self.head);
        // A ring never holds more than its size, whatever the index says.
        self.published = published.min(self.size);
        self.published.min(max)
    }

    /// Ready entry `k`: below what `ready` said, or it panics, since the
    /// kernel may be writing any other entry.
    fn peek(&self, k: u32) -> T {
        assert!(k < self.published, "ring entry {k} is not ready");
        // SAFETY: the kernel published this slot (just checked) and will
        // not touch it before `release`.
        unsafe { self.entry(self.head.wrapping_add(k)).read() }
    }

    /// Gives the first `n` ready entries back to the kernel: no more than
    /// `ready` said, or it panics, since the kernel would take entries it
    /// has not written as ours.
    fn release(&mut self, n: u32) {
        assert!(n <= self.published, "{n} ring entries are not ready");
        self.published -= n;
        self.head = self.head.wrapping_add(n);
        // SAFETY: as in `index`.
        unsafe { self.consumer.as_ref() }.store(self.head, Ordering::Release);
    }
}

/// An AF_XDP socket bound to one queue of one interface, with its UMEM.
pub(super) struct Socket {
    fd: OwnedFd,
    umem: Mapping,
    fill: Ring<u64>,
    completion: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    /// TX entries submitted and not yet kicked.
    unsent: u32,
}

// SAFETY: the raw pointers point into mappings the socket owns; one thread
// at a time uses a socket (each worker owns its own).
unsafe impl Send for Socket {}

fn set<T>(fd: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    sockopt::set(fd, libc::SOL_XDP, option, value)
}

impl Socket {
    /// Opens a socket on queue `queue` of interface `ifindex` (zero-copy
    /// where the driver offers it, else copy mode) and lends the kernel
    /// every frame.
    pub(super) fn open(ifindex: u32, queue: u32) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        check(fd)?;
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let umem = Mapping::new((FRAMES * FRAME_SIZE) as usize, None)?;
        let registration = libc::xdp_umem_reg {
            addr: umem.at.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        set(&fd, libc::XDP_UMEM_REG, &registration)?;
        set(&fd, libc::XDP_UMEM_FILL_RING, &FRAMES)?;
        set(&fd, libc::XDP_UMEM_COMPLETION_RING, &FRAMES)?;
        set(&fd, libc::XDP_RX_RING, &RING)?;
        set(&fd, libc::XDP_TX_RING, &RING)?;
        let mut offsets: libc::xdp_mmap_offsets = zeroed();
        let len = sockopt::get(&fd, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS, &mut offsets)?;
        if len != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::other(
                "kernel too old: no ring flags (AF_XDP needs Linux 5.4)",
            ));
        }
        let rx = Ring::map(&fd, &offsets.rx, RING, libc::XDP_PGOFF_RX_RING as u64)?;
        let tx = Ring::map(&fd, &offsets.tx, RING, libc::XDP_PGOFF_TX_RING as u64)?;
        let mut fill = Ring::map(&fd, &offsets.fr, FRAMES, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let completion = Ring::map(
            &fd,
            &offsets.cr,
            FRAMES,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        for frame in 0..FRAMES {
            fill.push(u64::from(frame * FRAME_SIZE));
        }
        fill.submit();
        let address = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: a sockaddr_xdp of the size given.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        })?;
        Ok(Socket {
            fd,
            umem,
            fill,
            completion,
            rx,
            tx,
            unsent: 0,
        })
    }

    /// The socket, for the XSKMAP.
    pub(super) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Frames the kernel has sent go back to the fill ring.
    pub(super) fn recycle(&mut self) {
        let done = self.completion.ready(FRAMES);
        for k in 0..done {
            let addr = self.completion.peek(k);
            self.fill.push(addr);
        }
        if done > 0 {
            self.completion.release(done);
            self.fill.submit();
        }
    }

    /// Received frames ready, at most `max`.
    pub(super) fn received(&mut self, max: u32) -> u32 {
        self.rx.ready(max)
    }

    /// Received frame `k` (below what [`Socket::received`] said, or it
    /// panics): its UMEM address, its length, and the bytes from its start
    /// to the end of its frame.
    pub(super) fn frame(&mut self, k: u32) -> (u64, usize, &mut [u8]) {
        let (addr, start, end, len) = self.bounds(k);
        // SAFETY: the kernel owns no frame it has put on the RX ring until
        // it is lent again (`bounds` reads only a descriptor it put there),
        // and `start..end` is within one frame of the UMEM.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(self.umem.at.as_ptr().add(start), end - start)
        };
        (addr, len, bytes)
    }

    /// The received bytes of frame `k` (below what [`Socket::received`]
    /// said, or it panics), to read ahead of answering it.
    pub(super) fn peek_frame(&self, k: u32) -> &[u8] {
        let (_, start, _, len) = self.bounds(k);
        // SAFETY: as in `frame`; shared, as `&self` lends no frame mutably.
        unsafe { std::slice::from_raw_parts(self.umem.at.as_ptr().add(start), len) }
    }

    /// Frame `k`'s UMEM address, where its bytes start and its frame ends,
    /// and its length; panics when `k` is not a received frame.
    fn bounds(&self, k: u32) -> (u64, usize, usize, usize) {
        let desc = self.rx.peek(k);
        let start = desc.addr as usize;
        // The kernel validates descriptors; clamped all the same.
        let start = start.min(self.umem.len);
        let end = ((start / FRAME_SIZE as usize + 1) * FRAME_SIZE as usize).min(self.umem.len);
        let len = (desc.len as usize).min(end - start);
        (desc.addr, start, end, len)
    }

    /// Asks the CPU to start loading the first bytes of received frame `k`
    /// (below what [`Socket::received`] said, or it panics): the kernel
    /// wrote them on the CPU that received the packet, and the miss costs
    /// more than the query's answer.
    pub(super) fn prefetch(&self, k: u32) {
        let addr = self.rx.peek(k).addr as usize;
        #[cfg(target_arch = "x86_64")]
        if addr < self.umem.len {
            // SAFETY: a prefetch of an address inside our own mapping; it
            // reads nothing into the program and cannot fault.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(self.umem.at.as_ptr().add(addr).cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = addr;
    }

    /// Sends `len` bytes of the frame at `addr`; when TX is full the frame
    /// goes back to the kernel unsent.
    pub(super) fn send(&mut self, addr: u64, len: usize) {
        let desc = libc::xdp_desc {
            addr,
            len: len as u32,
            options: 0,
        };
        if self.tx.push(desc) {
            self.unsent += 1;
        } else {
            self.fill.push(addr);
        }
    }

    /// Gives a frame back to the kernel unanswered.
    pub(super) fn drop_frame(&mut self, addr: u64) {
        self.fill.push(addr);
    }

    /// Ends a batch: the first `n` received frames are released and what
    /// was queued is published; the kernel is woken to send once a kick's
    /// worth (32 frames) waits. [`Socket::flush`] sends the rest.
    pub(super) fn finish(&mut self, n: u32) {
        self.rx.release(n);
        self.fill.submit();
        self.tx.submit();
        if self.unsent >= KICK_AT {
            self.kick();
        }
    }

    /// Sends whatever replies wait: called when no query does.
    pub(super) fn flush(&mut self) {
        if self.unsent > 0 {
            self.kick();
        }
    }

    /// Wakes the kernel to send the TX ring. In copy mode each `sendto`
    /// sends at most 32 frames and then says EAGAIN, so it is repeated
    /// until the ring is empty: a ring left to fill would turn away
    /// replies, and starve the fill ring of frames for queries.
    fn kick(&mut self) {
        self.unsent = 0;
        for _ in 0..RING / 16 {
            if !self.tx.needs_wakeup() || self.tx.room() == RING {
                return;
            }
            // SAFETY: a zero-length send on our own socket: "transmit the
            // TX ring" (copy mode transmits in this call). The raw system
            // call, not libc's sendto: that one is a thread cancellation
            // point and brackets the call with cancel-state updates, which
            // show in the XDP path's profile at one kick per batch.
            let sent = unsafe {
                libc::syscall(
                    libc::SYS_sendto,
                    self.fd.as_raw_fd(),
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                    libc::MSG_DONTWAIT,
                    std::ptr::null::<libc::sockaddr>(),
                    0 as libc::socklen_t,
                )
            };
            if sent >= 0 {
                continue;
            }
            match io::Error::last_os_error().raw_os_error() {
                // More to send (EAGAIN), or the driver is busy (EBUSY,
                // ENOBUFS): go on, and if the ring still holds frames at
                // the end, the next batch kicks again.
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS) => {}
                _ => return,
            }
        }
        self.unsent = RING - self.tx.room();
    }

    /// The kernel's drop counters for this socket.
    pub(super) fn statistics(&self) -> Option<libc::xdp_statistics> {
        let mut stats: libc::xdp_statistics = zeroed();
        sockopt::get(&self.fd, libc::SOL_XDP, libc::XDP_STATISTICS, &mut stats)
            .ok()
            .map(|_| stats)
    }

    /// Waits up to `timeout_ms` for frames; sends waiting replies first.
    pub(super) fn wait(&mut self, timeout_ms: i32) {
        self.flush();
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, ours.
        unsafe { libc::poll(&mut poll, 1, timeout_ms) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of 8 `u64`s over an anonymous mapping, with the kernel's
    /// side played by the test: it publishes `n` entries holding 10, 11, ….
    fn ring_with(n: u32) -> Ring<u64> {
        let offsets = libc::xdp_ring_offset {
            producer: 0,
            consumer: 64,
            desc: 192,
            flags: 128,
        };
        let map = Mapping::new(4096, None).unwrap();
        let ring: Ring<u64> = Ring::over(map, &offsets, 8);
        for k in 0..n {
            // SAFETY: entries of the ring's own mapping, before publishing.
            unsafe { ring.entry(k).write(u64::from(10 + k)) };
        }
        // SAFETY: as in `Ring::index`.
        unsafe { ring.producer.as_ref() }.store(n, Ordering::Release);
        ring
    }

    #[test]
    fn ready_entries_can_be_read_and_released() {
        let mut ring = ring_with(3);
        assert_eq!(ring.ready(2), 2);
        assert_eq!((ring.peek(0), ring.peek(2)), (10, 12), "all 3 published");
        ring.release(2);
        assert_eq!(ring.peek(0), 12);
        ring.release(1);
        assert_eq!(ring.ready(8), 0);
    }

    #[test]
    #[should_panic(expected = "ring entry 3 is not ready")]
    fn an_entry_past_the_published_ones_is_not_read() {
        let mut ring = ring_with(3);
        ring.ready(8);
        ring.peek(3);
    }

    #[test]
    #[should_panic(expected = "ring entry 0 is not ready")]
    fn an_entry_is_not_read_before_ready_says_so() {
        ring_with(3).peek(0);
    }

    #[test]
    #[should_panic(expected = "4 ring entries are not ready")]
    fn no_more_entries_are_released_than_were_published() {
        let mut ring = ring_with(3);
        ring.ready(8);
        ring.release(4);
    }
}
