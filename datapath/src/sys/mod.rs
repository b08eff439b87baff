//! The datapath's only window onto the kernel: every `unsafe` block of the
//! crate lives in this module and its children, each with a `// SAFETY:`
//! comment saying why the call is sound.
//!
//! What is here, and why each piece exists:
//!
//! * [`PacketSocket`]: an `AF_PACKET` socket bound to one interface, with a
//!   `TPACKET_V2` receive ring (one `poll` wakes us for a whole batch, frames
//!   are read straight from shared memory), virtio-net headers
//!   (`PACKET_VNET_HDR`, so checksum-offloaded and TSO/GSO frames from veth
//!   hosts keep their metadata), `PACKET_AUXDATA`/`tp_vlan_tci` for VLAN tags
//!   the kernel stripped, `PACKET_QDISC_BYPASS`, `PACKET_IGNORE_OUTGOING`,
//!   `sendmmsg` for batched transmit and `recvmmsg` as the ring-less
//!   fallback.
//! * [`Tap`]: `/dev/net/tun` in TAP mode with `IFF_NO_PI | IFF_VNET_HDR`,
//!   `TUNSETVNETHDRSZ` (10 bytes, the same header the packet socket uses) and
//!   `TUNSETOFFLOAD`.
//! * [`netdev`] ioctls: ifindex, MTU, flags (up/down), MAC address, carrier.
//! * [`EventFd`], [`poll_fds`], [`setns_by_name`], termination signal helpers.
//!
//! Everything exposed is a safe wrapper; callers never see raw pointers.
#![allow(unsafe_code)]

mod packet_socket;
mod tun;
mod vnet;

pub mod netdev;

pub use packet_socket::{
    PacketSender, PacketSocket, PacketSocketOptions, RecvMeta, RingFrame, SocketStats, VlanTag,
};
pub use tun::{Tap, TapOptions};
pub use vnet::{VNET_HDR_LEN, VnetHdr};

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Turns a `-1` return of a libc call into the thread's `errno`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for calls that return `ssize_t`.
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret.unsigned_abs())
    }
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &value)
}

/// Sets a socket option whose value is a plain-old-data struct `T`.
pub(crate) fn setsockopt_raw<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the
    // call; the kernel copies them and keeps no reference.
    let ret = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) };
    cvt(ret).map(|_| ())
}

/// A Linux `eventfd`: a counter other threads bump to wake a `poll`.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A non-blocking, close-on-exec eventfd starting at zero.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall with constant flags; no pointers involved.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by eventfd() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making the fd readable.
    pub fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local u64 to our own fd.
        let ret = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        match cvt_size(ret) {
            Ok(_) => Ok(()),
            // Counter saturated: the fd is readable anyway.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resets the counter to zero; returns whether it was non-zero.
    pub fn drain(&self) -> bool {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live local u64 from our own fd.
        let ret = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        ret == 8 && v > 0
    }

    /// The descriptor, for [`poll_fds`].
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `fds` is readable (or `timeout` passes); returns how
/// many are ready.  `EINTR` counts as zero ready.  `ready` receives, for each
/// fd, whether it is readable (or in error).
pub fn poll_fds(fds: &[RawFd], ready: &mut [bool], timeout: Duration) -> io::Result<usize> {
    const MAX: usize = 256;
    let n = fds.len().min(MAX).min(ready.len());
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX];
    for (p, &fd) in pfds.iter_mut().zip(fds.iter()).take(n) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // `n` fits: it is at most MAX.
    let nfds = n as libc::nfds_t;
    // SAFETY: `pfds` is a live array of at least `n` initialised pollfd
    // structs that the kernel may write `revents` into during the call.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), nfds, ms) };
    match cvt(ret) {
        Ok(k) => {
            for (r, p) in ready.iter_mut().zip(pfds.iter()).take(n) {
                *r = p.revents != 0;
            }
            Ok(k.unsigned_abs() as usize)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            ready.iter_mut().for_each(|r| *r = false);
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Moves the *calling thread* into the network namespace `name` (as created
/// by `ip netns add`, i.e. `/var/run/netns/<name>`).  Sockets and TAP devices
/// the thread opens afterwards belong to that namespace, and keep belonging
/// to it whichever thread later uses them.  Run it on a dedicated thread.
pub fn setns_by_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad netns name",
        ));
    }
    let file = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    // SAFETY: `file` is an open namespace fd for the duration of the call;
    // setns only affects the calling thread's namespace membership.
    cvt(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }).map(|_| ())
}

/// Caps the number of glibc malloc arenas at `n` (`M_ARENA_MAX`), unless
/// the environment already sets `MALLOC_ARENA_MAX`.  A daemon whose
/// threads take turns allocating and freeing large structures (flow
/// tables built on one runtime thread, freed on another) otherwise keeps
/// freed memory spread over many arenas.  Call before starting threads.
/// Returns whether the limit was applied (always false off glibc).
pub fn limit_malloc_arenas(n: i32) -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts allocator parameters; it takes two
        // integers and touches no memory of ours.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = n;
        false
    }
}

/// Blocks `SIGINT` and `SIGTERM` in the calling thread (and so in every
/// thread it spawns afterwards), so [`wait_termination_signal`] can collect
/// them synchronously.  Call it first thing in `main`.
pub fn block_termination_signals() -> io::Result<()> {
    let set = term_sigset()?;
    // SAFETY: `set` is an initialised sigset_t; the old mask is not requested.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// Waits for `SIGINT` or `SIGTERM` (blocked beforehand with
/// [`block_termination_signals`]) and returns its number.
pub fn wait_termination_signal() -> io::Result<i32> {
    let set = term_sigset()?;
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` is initialised and `sig` is a live out-parameter.
        let ret = unsafe { libc::sigwait(&set, &mut sig) };
        match ret {
            0 => return Ok(sig),
            libc::EINTR => continue,
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

fn term_sigset() -> io::Result<libc::sigset_t> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set it is given.
    cvt(unsafe { libc::sigemptyset(set.as_mut_ptr()) })?;
    // SAFETY: initialised by sigemptyset above.
    let mut set = unsafe { set.assume_init() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are constants.
    cvt(unsafe { libc::sigaddset(&mut set, libc::SIGINT) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::sigaddset(&mut set, libc::SIGTERM) })?;
    Ok(set)
}

/// Converts an interface name into a NUL-terminated C string of at most
/// `IFNAMSIZ - 1` bytes.
pub(crate) fn ifname_cstring(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// Fills the `ifr_name` field of an `ifreq`.
pub(crate) fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let c = ifname_cstring(name)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(c.as_bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}
