//! TAP devices through `/dev/net/tun`: `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`,
//! a 10-byte virtio-net header (`TUNSETVNETHDRSZ`, the same layout the packet
//! socket uses) and `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)` so
//! the host stack hands us checksum-partial and TSO frames instead of doing
//! the work itself.

use super::vnet::{VNET_HDR_LEN, VnetHdr};
use super::{cvt, cvt_size, ifreq_for};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// _IOW('T', n, int) from <linux/if_tun.h>.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_TSO_ECN: libc::c_uint = 0x08;

/// How to open a [`Tap`].
#[derive(Debug, Clone)]
pub struct TapOptions {
    /// Keep the device after the descriptor closes (`TUNSETPERSIST`).
    pub persistent: bool,
    /// Exchange virtio-net headers (`IFF_VNET_HDR`).
    pub vnet_hdr: bool,
    /// Ask for checksum and TSO offload (`TUNSETOFFLOAD`); needs `vnet_hdr`.
    pub offload: bool,
}

impl Default for TapOptions {
    fn default() -> Self {
        TapOptions {
            persistent: false,
            vnet_hdr: true,
            offload: true,
        }
    }
}

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
    vnet: bool,
}

impl Tap {
    /// Creates (or attaches to an existing persistent) TAP device `name` in
    /// the calling thread's network namespace.
    pub fn open(name: &str, opts: &TapOptions) -> io::Result<Tap> {
        let path = c"/dev/net/tun";
        // SAFETY: `path` is a NUL-terminated constant; flags are constants.
        let raw = cvt(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `raw` was just returned by open() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut ifr = ifreq_for(name)?;
        let mut flags = IFF_TAP | IFF_NO_PI;
        if opts.vnet_hdr {
            flags |= IFF_VNET_HDR;
        }
        ifr.ifr_ifru.ifru_flags = flags;
        // SAFETY: TUNSETIFF reads (and writes back the final name into) the
        // live ifreq we pass.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut ifr as *mut libc::ifreq) })?;
        let actual: Vec<u8> = ifr
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        let tap = Tap {
            fd,
            name: String::from_utf8_lossy(&actual).into_owned(),
            vnet: opts.vnet_hdr,
        };
        if opts.vnet_hdr {
            let sz: libc::c_int = VNET_HDR_LEN as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer.
            cvt(unsafe {
                libc::ioctl(
                    tap.fd.as_raw_fd(),
                    TUNSETVNETHDRSZ as _,
                    &sz as *const libc::c_int,
                )
            })?;
            let off = if opts.offload {
                TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN
            } else {
                0
            };
            // SAFETY: TUNSETOFFLOAD takes its argument by value.
            cvt(unsafe {
                libc::ioctl(tap.fd.as_raw_fd(), TUNSETOFFLOAD as _, off as libc::c_ulong)
            })?;
        }
        tap.set_persistent(opts.persistent)?;
        Ok(tap)
    }

    /// Makes the device outlive (or not) its descriptors.
    pub fn set_persistent(&self, on: bool) -> io::Result<()> {
        // SAFETY: TUNSETPERSIST takes its argument by value.
        cvt(unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                TUNSETPERSIST as _,
                libc::c_ulong::from(on),
            )
        })
        .map(|_| ())
    }

    /// The device name the kernel assigned.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether frames carry a virtio-net header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// The descriptor, for `poll`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Another descriptor for the same queue (for a transmit handle).
    pub fn try_clone(&self) -> io::Result<Tap> {
        Ok(Tap {
            fd: self.fd.try_clone()?,
            name: self.name.clone(),
            vnet: self.vnet,
        })
    }

    /// Reads one frame into `buf`.  `Ok(None)` when none is waiting.  The
    /// returned length may exceed `buf.len()` when the frame was truncated.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<VnetHdr>)>> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let mut iov = [
            libc::iovec {
                iov_base: hdr.as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
        ];
        let (iov_ptr, cnt) = if self.vnet {
            (iov.as_mut_ptr(), 2)
        } else {
            (iov[1..].as_mut_ptr(), 1)
        };
        // SAFETY: the iovecs point at `hdr` and the caller's `buf`, both live
        // and writable for their stated lengths during the call.
        let ret = unsafe { libc::readv(self.fd.as_raw_fd(), iov_ptr, cnt) };
        match cvt_size(ret) {
            Ok(n) => {
                if self.vnet {
                    if n < VNET_HDR_LEN {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "short tap read"));
                    }
                    Ok(Some((n - VNET_HDR_LEN, Some(VnetHdr::from_bytes(&hdr)))))
                } else {
                    Ok(Some((n, None)))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one frame (with its virtio-net header when enabled).
    pub fn send(&self, hdr: &VnetHdr, frame: &[u8]) -> io::Result<()> {
        let mut hb = hdr.to_bytes();
        let iov = [
            libc::iovec {
                iov_base: hb.as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                // The kernel only reads through this pointer.
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        let (iov_ptr, cnt) = if self.vnet {
            (iov.as_ptr(), 2)
        } else {
            (iov[1..].as_ptr(), 1)
        };
        // SAFETY: the iovecs point at live buffers of their stated lengths,
        // only read by the kernel during the call.
        let ret = unsafe { libc::writev(self.fd.as_raw_fd(), iov_ptr, cnt) };
        cvt_size(ret).map(|_| ())
    }
}
