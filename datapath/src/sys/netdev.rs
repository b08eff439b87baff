//! Interface ioctls (`SIOCGIFINDEX`, `SIOC[GS]IFMTU`, `SIOC[GS]IFFLAGS`,
//! `SIOC[GS]IFHWADDR`, `SIOCETHTOOL`/`ETHTOOL_GLINK`), issued on a throwaway
//! datagram socket, so they act in the calling thread's network namespace.

use super::{cvt, ifreq_for};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GLINK: u32 = 0x0000_000a;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl_ifreq(fd: RawFd, req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `ifr` is a live, initialised ifreq the kernel reads and may
    // write back for the SIOC*IF* requests used in this module.
    cvt(unsafe { libc::ioctl(fd, req as _, ifr as *mut libc::ifreq) }).map(|_| ())
}

/// Interface index of `name`, looked up through the socket `fd` (so in the
/// namespace that socket belongs to).
pub(crate) fn ifindex_on(fd: RawFd, name: &str) -> io::Result<i32> {
    let mut ifr = ifreq_for(name)?;
    ioctl_ifreq(fd, libc::SIOCGIFINDEX, &mut ifr)?;
    // SAFETY: SIOCGIFINDEX filled the ifindex member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex })
}

/// Interface index of `name`.
pub fn ifindex(name: &str) -> io::Result<i32> {
    let s = ctl_socket()?;
    ifindex_on(s.as_raw_fd(), name)
}

/// MTU of `name`.
pub fn mtu(name: &str) -> io::Result<u32> {
    let s = ctl_socket()?;
    let mut ifr = ifreq_for(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFMTU, &mut ifr)?;
    // SAFETY: SIOCGIFMTU filled the mtu member of the union.
    let m = unsafe { ifr.ifr_ifru.ifru_mtu };
    Ok(m.max(0).unsigned_abs())
}

/// Sets the MTU of `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let s = ctl_socket()?;
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_mtu =
        libc::c_int::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCSIFMTU, &mut ifr)
}

fn flags(fd: RawFd, name: &str) -> io::Result<libc::c_short> {
    let mut ifr = ifreq_for(name)?;
    ioctl_ifreq(fd, libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_flags })
}

/// Whether `name` is administratively up (`IFF_UP`).
pub fn is_up(name: &str) -> io::Result<bool> {
    let s = ctl_socket()?;
    Ok(flags(s.as_raw_fd(), name)? & libc::IFF_UP as libc::c_short != 0)
}

/// Brings `name` up or down.
pub fn set_up(name: &str, up: bool) -> io::Result<()> {
    let s = ctl_socket()?;
    let mut f = flags(s.as_raw_fd(), name)?;
    if up {
        f |= libc::IFF_UP as libc::c_short;
    } else {
        f &= !(libc::IFF_UP as libc::c_short);
    }
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_flags = f;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCSIFFLAGS, &mut ifr)
}

/// Ethernet address of `name`.
pub fn mac(name: &str) -> io::Result<[u8; 6]> {
    let s = ctl_socket()?;
    let mut ifr = ifreq_for(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(m)
}

/// Sets the Ethernet address of `name`.
pub fn set_mac(name: &str, addr: [u8; 6]) -> io::Result<()> {
    let s = ctl_socket()?;
    let mut ifr = ifreq_for(name)?;
    // SAFETY: sockaddr is plain old data; all-zero is valid.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in sa.sa_data.iter_mut().zip(addr.iter()) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_hwaddr = sa;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCSIFHWADDR, &mut ifr)
}

/// Whether `name` has carrier (`ETHTOOL_GLINK`; falls back to
/// `IFF_RUNNING` for drivers without ethtool support).
pub fn carrier(name: &str) -> io::Result<bool> {
    let s = ctl_socket()?;
    let mut v = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_data = (&mut v as *mut EthtoolValue).cast();
    match ioctl_ifreq(s.as_raw_fd(), SIOCETHTOOL, &mut ifr) {
        Ok(()) => Ok(v.data != 0),
        Err(_) => Ok(flags(s.as_raw_fd(), name)? & libc::IFF_RUNNING as libc::c_short != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_known() {
        // Every network namespace has `lo`, index 1, MTU >= 1500.
        assert_eq!(ifindex("lo").unwrap(), 1);
        assert!(mtu("lo").unwrap() >= 1500);
        assert_eq!(mac("lo").unwrap(), [0; 6]);
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(ifindex("").is_err());
        assert!(ifindex("this-name-is-far-too-long-for-linux").is_err());
        assert!(ifindex("rvs-no-such-if0").is_err());
    }
}
