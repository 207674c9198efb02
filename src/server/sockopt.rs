//! Socket options by level and name, for what socket2 does not wrap:
//! `IP_MTU_DISCOVER` values, `SO_RCVBUFFORCE`, the AF_XDP options.

use std::io;
use std::os::fd::AsRawFd;

use super::plain::Plain;

/// Sets option `name` at `level` to `value` (an int or the repr(C) struct
/// the option takes).
pub(super) fn set<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the kernel reads size_of::<T>() bytes from `value`.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

/// Reads option `name` at `level` into `value`; returns how many bytes the
/// kernel wrote (fewer than `T` has from a kernel that knows a shorter
/// struct). `T` is [`Plain`], since the kernel writes its bytes.
pub(super) fn get<T: Plain>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<usize> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which
    // may hold any bytes (`Plain`).
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(len as usize)
}

/// A system call's result: negative is the error in `errno`.
pub(super) fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
