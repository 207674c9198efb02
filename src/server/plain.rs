//! Plain C data shared with the kernel: the structs the server hands to
//! `recvmmsg`, `sendmmsg` and `getsockopt`, for which every bit pattern is a
//! valid value. Only types that promise it (an `unsafe impl`) can be made
//! zeroed or filled by the kernel, so neither needs an `unsafe` block at the
//! call.

/// A type for which every bit pattern, all-zero included, is a valid value:
/// integers, and `repr(C)` structs and arrays of them and of raw pointers.
///
/// # Safety
///
/// Implement it only for such types: [`zeroed`] and
/// [`super::sockopt::get`] rely on it.
pub(super) unsafe trait Plain: Copy {}

// SAFETY: integers.
unsafe impl Plain for libc::c_int {}
// SAFETY: integers and byte arrays.
unsafe impl Plain for libc::sockaddr_storage {}
// SAFETY: a raw pointer and an integer.
unsafe impl Plain for libc::iovec {}
// SAFETY: integers and raw pointers (`msghdr`) and an integer.
unsafe impl Plain for libc::mmsghdr {}
// SAFETY: integers (four `xdp_ring_offset`s of four `u64`s).
unsafe impl Plain for libc::xdp_mmap_offsets {}
// SAFETY: integers.
unsafe impl Plain for libc::xdp_statistics {}
// SAFETY: an array of plain values is plain.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// The all-zero value of `T`.
pub(super) fn zeroed<T: Plain>() -> T {
    // SAFETY: every bit pattern is a valid `T`, as `Plain` promises.
    unsafe { std::mem::zeroed() }
}
