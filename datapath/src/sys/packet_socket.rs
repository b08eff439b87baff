//! `AF_PACKET` sockets: a `TPACKET_V2` receive ring, `recvmmsg` fallback,
//! `sendmmsg` transmit, virtio-net headers and VLAN tag recovery.
//!
//! Ring protocol (see the kernel's `Documentation/networking/packet_mmap.rst`):
//! the ring is `frame_nr` fixed-size frames in one shared mapping; each frame
//! starts with a `tpacket2_hdr` whose `tp_status` the kernel sets to
//! `TP_STATUS_USER` once the frame is filled.  We read it with acquire
//! ordering, use the frame, then hand it back by storing `TP_STATUS_KERNEL`
//! with release ordering.  Frames too big for a ring slot are, thanks to
//! `PACKET_COPY_THRESH`, also queued whole on the socket (`TP_STATUS_COPY`)
//! and fetched with `recvmsg`, so 64 KiB GSO frames need no 64 KiB slots.

use super::vnet::{VNET_HDR_LEN, VnetHdr};
use super::{cvt, setsockopt_int, setsockopt_raw};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

// <linux/if_packet.h>; defined here so the build does not depend on which
// of them a given libc release exports.
const SOL_PACKET: libc::c_int = 263;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_COPY_THRESH: libc::c_int = 7;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TPACKET_V2: libc::c_int = 1;
const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_COPY: u32 = 1 << 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `sizeof(struct tpacket2_hdr)`, already a multiple of TPACKET_ALIGNMENT.
const TPACKET2_HDR_SIZE: usize = 32;
// Field offsets inside struct tpacket2_hdr.
const TP_LEN: usize = 4;
const TP_SNAPLEN: usize = 8;
const TP_MAC: usize = 12;
const TP_VLAN_TCI: usize = 24;
const TP_VLAN_TPID: usize = 26;
/// Offset of `sll_pkttype` in the `sockaddr_ll` that follows the header.
const TP_SLL_PKTTYPE: usize = TPACKET2_HDR_SIZE + 10;

/// Most messages handled by one `recvmmsg`/`sendmmsg` call.
const MAX_MMSG: usize = 64;

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketReq {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// How to open a [`PacketSocket`].
#[derive(Debug, Clone)]
pub struct PacketSocketOptions {
    /// Exchange virtio-net headers with the kernel (`PACKET_VNET_HDR`).
    pub vnet_hdr: bool,
    /// Frames in the `TPACKET_V2` receive ring; 0 = no ring (`recvmmsg`).
    pub ring_frames: u32,
    /// Bytes per ring frame (multiple of 16, at least 256).  Bigger frames
    /// than fit are delivered through the copy path.
    pub ring_frame_size: u32,
    /// `SO_RCVBUF` (forced when privileged); it also bounds the copy path.
    pub rcvbuf: usize,
    /// `SO_SNDBUF`.
    pub sndbuf: usize,
    /// `PACKET_QDISC_BYPASS`: transmit straight to the driver.
    pub qdisc_bypass: bool,
}

impl Default for PacketSocketOptions {
    fn default() -> Self {
        PacketSocketOptions {
            vnet_hdr: true,
            ring_frames: 2048,
            ring_frame_size: 2048,
            rcvbuf: 8 << 20,
            sndbuf: 4 << 20,
            qdisc_bypass: true,
        }
    }
}

/// An 802.1Q/802.1ad tag the kernel took off a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100 or 0x88a8).
    pub tpid: u16,
    /// Tag control information (PCP, DEI, VID).
    pub tci: u16,
}

/// What the kernel told us about a received frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecvMeta {
    /// Bytes stored in the caller's buffer.
    pub len: usize,
    /// Length of the frame on the wire (larger than `len` if truncated).
    pub orig_len: usize,
    /// Virtio-net header, when enabled.
    pub vnet: Option<VnetHdr>,
    /// VLAN tag removed by the kernel, to be put back into the frame.
    pub vlan: Option<VlanTag>,
    /// The frame was sent by this host (loopback of our own transmit).
    pub outgoing: bool,
}

/// One filled frame of the receive ring, borrowed until released.
#[derive(Debug)]
pub struct RingFrame<'a> {
    /// The frame bytes present in the ring (`tp_snaplen` of them).
    pub data: &'a [u8],
    /// Metadata; `len == data.len()`.
    pub meta: RecvMeta,
    /// The frame did not fit in the slot: the whole frame waits on the socket
    /// queue; fetch it with [`PacketSocket::recv_one`].
    pub copied: bool,
}

/// Kernel counters of a packet socket (reading them resets them).
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketStats {
    /// Packets the socket saw.
    pub packets: u32,
    /// Packets dropped for lack of room in the ring or queue.
    pub drops: u32,
}

struct Ring {
    base: *mut u8,
    map_len: usize,
    frame_size: usize,
    frame_nr: usize,
    head: usize,
}

/// An `AF_PACKET` socket bound to one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
    vnet: bool,
    ring: Option<Ring>,
}

impl std::fmt::Debug for PacketSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("ifindex", &self.ifindex)
            .field("vnet", &self.vnet)
            .field("ring_frames", &self.ring.as_ref().map(|r| r.frame_nr))
            .finish()
    }
}

// SAFETY: the ring mapping is owned exclusively by this value (nobody else
// holds its address) and is unmapped in Drop; moving that ownership to
// another thread is sound.  No `Sync`: releasing frames needs `&mut self`.
unsafe impl Send for PacketSocket {}

impl PacketSocket {
    /// Opens a socket on interface `ifname` in the calling thread's network
    /// namespace.
    pub fn open(ifname: &str, opts: &PacketSocketOptions) -> io::Result<PacketSocket> {
        // Protocol 0: nothing is received until bind() below.
        // SAFETY: plain syscall with constant arguments.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let ifindex = super::netdev::ifindex_on(fd.as_raw_fd(), ifname)?;
        let fdr = fd.as_raw_fd();
        if opts.vnet_hdr {
            // Must precede PACKET_RX_RING (EBUSY afterwards).
            setsockopt_int(fdr, SOL_PACKET, PACKET_VNET_HDR, 1)?;
        }
        setsockopt_int(fdr, SOL_PACKET, PACKET_AUXDATA, 1)?;
        if opts.qdisc_bypass {
            setsockopt_int(fdr, SOL_PACKET, PACKET_QDISC_BYPASS, 1)?;
        }
        // Linux >= 4.20; without it our own transmissions are filtered by
        // their `PACKET_OUTGOING` type instead.
        let _ = setsockopt_int(fdr, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
        let rcv = libc::c_int::try_from(opts.rcvbuf).unwrap_or(libc::c_int::MAX);
        if setsockopt_int(fdr, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, rcv).is_err() {
            setsockopt_int(fdr, libc::SOL_SOCKET, libc::SO_RCVBUF, rcv)?;
        }
        let snd = libc::c_int::try_from(opts.sndbuf).unwrap_or(libc::c_int::MAX);
        if setsockopt_int(fdr, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, snd).is_err() {
            setsockopt_int(fdr, libc::SOL_SOCKET, libc::SO_SNDBUF, snd)?;
        }
        let mut sock = PacketSocket {
            fd,
            ifindex,
            vnet: opts.vnet_hdr,
            ring: None,
        };
        if opts.ring_frames > 0 {
            sock.setup_ring(opts.ring_frames, opts.ring_frame_size)?;
        }
        sock.bind()?;
        Ok(sock)
    }

    fn setup_ring(&mut self, frames: u32, frame_size: u32) -> io::Result<()> {
        let fdr = self.fd.as_raw_fd();
        if frame_size < 256 || frame_size % 16 != 0 || frames > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad ring geometry",
            ));
        }
        setsockopt_int(fdr, SOL_PACKET, PACKET_VERSION, TPACKET_V2)?;
        setsockopt_int(fdr, SOL_PACKET, PACKET_COPY_THRESH, 1)?;
        // Blocks of ~64 KiB holding a whole number of frames, page aligned.
        let page = 4096u32;
        let mut block = frame_size.max(65536);
        block = block.div_ceil(page) * page;
        // Make the block a multiple of the frame size and of the page size.
        while block % frame_size != 0 {
            block += page;
        }
        let per_block = block / frame_size;
        let block_nr = frames.div_ceil(per_block).max(1);
        let req = TpacketReq {
            tp_block_size: block,
            tp_block_nr: block_nr,
            tp_frame_size: frame_size,
            tp_frame_nr: block_nr * per_block,
        };
        setsockopt_raw(fdr, SOL_PACKET, PACKET_RX_RING, &req)?;
        let map_len = block as usize * block_nr as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket;
        // length and flags are what packet_mmap() expects.  The result is
        // checked for MAP_FAILED before use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fdr,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.ring = Some(Ring {
            base: base.cast(),
            map_len,
            frame_size: frame_size as usize,
            frame_nr: req.tp_frame_nr as usize,
            head: 0,
        });
        Ok(())
    }

    fn bind(&self) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = self.ifindex;
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `sll` is a live, initialised sockaddr_ll of `len` bytes.
        cvt(unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                len,
            )
        })
        .map(|_| ())
    }

    /// Interface index the socket is bound to.
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// Whether virtio-net headers are exchanged.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// Whether a receive ring is mapped.
    pub fn has_ring(&self) -> bool {
        self.ring.is_some()
    }

    /// The descriptor, for `poll`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A second descriptor for the same socket, used for transmit from other
    /// threads (`send_batch` only needs the fd).
    pub fn try_clone_sender(&self) -> io::Result<PacketSender> {
        Ok(PacketSender {
            fd: self.fd.try_clone()?,
            vnet: self.vnet,
        })
    }

    /// The next filled ring frame, if any.  Call [`release_frame`] after use.
    ///
    /// [`release_frame`]: PacketSocket::release_frame
    pub fn peek_frame(&self) -> Option<RingFrame<'_>> {
        let ring = self.ring.as_ref()?;
        let off = ring.head * ring.frame_size;
        // `off` is inside the mapping (head < frame_nr) and frames
        // start 16-byte aligned, so the status word is an aligned u32 the
        // kernel also accesses atomically.
        let status_ptr = ring.base.wrapping_add(off) as *const AtomicU32;
        // SAFETY: in-bounds, aligned status word (see above).
        let status_word = unsafe { &*status_ptr };
        let status = status_word.load(Ordering::Acquire);
        if status & TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the frame belongs to user space until we store
        // TP_STATUS_KERNEL (in release_frame, which needs `&mut self`, so no
        // borrow of this frame outlives it); it lies wholly in the mapping.
        let frame =
            unsafe { std::slice::from_raw_parts(ring.base.wrapping_add(off), ring.frame_size) };
        Some(parse_frame(frame, status, self.vnet))
    }

    /// Hands the current ring frame back to the kernel and moves on.
    pub fn release_frame(&mut self) {
        if let Some(ring) = self.ring.as_mut() {
            let off = ring.head * ring.frame_size;
            let status_ptr = ring.base.wrapping_add(off) as *const AtomicU32;
            // SAFETY: same aligned status word, inside the mapping, as in
            // peek_frame.
            let status_word = unsafe { &*status_ptr };
            status_word.store(TP_STATUS_KERNEL, Ordering::Release);
            ring.head += 1;
            if ring.head == ring.frame_nr {
                ring.head = 0;
            }
        }
    }

    /// Receives one frame from the socket queue into `buf` (the copy path of
    /// the ring, or the ring-less mode).  `Ok(None)` when nothing is queued.
    pub fn recv_one(&self, buf: &mut [u8]) -> io::Result<Option<RecvMeta>> {
        let mut metas = [RecvMeta::default(); 1];
        let mut bufs: [&mut [u8]; 1] = [buf];
        let n = self.recv_batch(&mut bufs, &mut metas)?;
        Ok((n == 1).then_some(metas[0]))
    }

    /// Receives up to `bufs.len()` (at most 64) frames with one `recvmmsg`.
    /// Returns how many were stored; `metas[i]` describes `bufs[i]`.
    pub fn recv_batch(&self, bufs: &mut [&mut [u8]], metas: &mut [RecvMeta]) -> io::Result<usize> {
        let n = bufs.len().min(metas.len()).min(MAX_MMSG);
        if n == 0 {
            return Ok(0);
        }
        let mut vhdr = [[0u8; VNET_HDR_LEN]; MAX_MMSG];
        // Control buffers: u64 for cmsghdr alignment; 64 bytes hold one
        // PACKET_AUXDATA message.
        let mut cbuf = [[0u64; 8]; MAX_MMSG];
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut names: [libc::sockaddr_ll; MAX_MMSG] = unsafe { std::mem::zeroed() };
        // SAFETY: iovec/mmsghdr are plain old data (null pointers, zero
        // lengths); every used entry is filled in below.
        let mut iovs: [[libc::iovec; 2]; MAX_MMSG] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX_MMSG] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let mut k = 0;
            if self.vnet {
                iovs[i][0] = libc::iovec {
                    iov_base: vhdr[i].as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                };
                k = 1;
            }
            iovs[i][k] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: bufs[i].len(),
            };
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_ll).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            h.msg_iov = iovs[i].as_mut_ptr();
            h.msg_iovlen = k + 1;
            h.msg_control = cbuf[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<[u64; 8]>();
        }
        // SAFETY: every mmsghdr in msgs[..n] points at live buffers owned by
        // this frame (vhdr, names, cbuf) or by the caller (bufs), with their
        // true lengths; they stay alive until the call returns.  n <= 64.
        let ret = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let got = match cvt(ret) {
            Ok(k) => k.unsigned_abs() as usize,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        for i in 0..got.min(n) {
            let total = msgs[i].msg_len as usize;
            let vlen = if self.vnet { VNET_HDR_LEN } else { 0 };
            let orig_len = total.saturating_sub(vlen);
            let mut meta = RecvMeta {
                len: orig_len.min(bufs[i].len()),
                orig_len,
                vnet: self.vnet.then(|| VnetHdr::from_bytes(&vhdr[i])),
                vlan: None,
                outgoing: names[i].sll_pkttype == PACKET_OUTGOING,
            };
            if let Some(aux) = find_auxdata(&msgs[i].msg_hdr) {
                meta.vlan = vlan_from(aux.tp_status, aux.tp_vlan_tci, aux.tp_vlan_tpid);
            }
            metas[i] = meta;
        }
        Ok(got.min(n))
    }

    /// Takes (and clears) the socket's pending error (`SO_ERROR`), e.g.
    /// `ENETDOWN` after the device went down.
    pub fn take_error(&self) -> Option<io::Error> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` is a live c_int of `len` bytes the kernel fills.
        let r = cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        });
        match r {
            Ok(_) if v != 0 => Some(io::Error::from_raw_os_error(v)),
            Ok(_) => None,
            Err(e) => Some(e),
        }
    }

    /// Reads (and resets) the kernel's receive counters.
    pub fn take_stats(&self) -> io::Result<SocketStats> {
        let mut st = TpacketStats::default();
        let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` is a live TpacketStats of `len` bytes the kernel may
        // fill; `len` is updated with the stored size.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStats).cast(),
                &mut len,
            )
        })?;
        Ok(SocketStats {
            packets: st.tp_packets,
            drops: st.tp_drops,
        })
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        if let Some(ring) = self.ring.take() {
            // SAFETY: base/map_len are exactly what mmap returned; no
            // RingFrame can be alive (they borrow self, and we have &mut).
            unsafe {
                libc::munmap(ring.base.cast(), ring.map_len);
            }
        }
    }
}

/// Decodes one ring frame's header.
fn parse_frame(frame: &[u8], status: u32, vnet: bool) -> RingFrame<'_> {
    let rd16 = |o: usize| {
        frame
            .get(o..o + 2)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let rd32 = |o: usize| {
        frame
            .get(o..o + 4)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let orig_len = rd32(TP_LEN) as usize;
    let snaplen = rd32(TP_SNAPLEN) as usize;
    let mac = rd16(TP_MAC) as usize;
    let data = frame.get(mac..mac.saturating_add(snaplen)).unwrap_or(&[]);
    let vnet_hdr = if vnet && mac >= VNET_HDR_LEN {
        frame
            .get(mac - VNET_HDR_LEN..mac)
            .and_then(|b| <&[u8; VNET_HDR_LEN]>::try_from(b).ok())
            .map(VnetHdr::from_bytes)
    } else {
        None
    };
    let pkttype = frame.get(TP_SLL_PKTTYPE).copied().unwrap_or(0);
    RingFrame {
        data,
        meta: RecvMeta {
            len: data.len(),
            orig_len,
            vnet: vnet_hdr,
            vlan: vlan_from(status, rd16(TP_VLAN_TCI), rd16(TP_VLAN_TPID)),
            outgoing: pkttype == PACKET_OUTGOING,
        },
        copied: status & TP_STATUS_COPY != 0,
    }
}

fn vlan_from(status: u32, tci: u16, tpid: u16) -> Option<VlanTag> {
    if status & TP_STATUS_VLAN_VALID == 0 && tci == 0 {
        return None;
    }
    let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 {
        tpid
    } else {
        0x8100
    };
    Some(VlanTag { tpid, tci })
}

fn find_auxdata(h: &libc::msghdr) -> Option<TpacketAuxdata> {
    // SAFETY: `h` was filled by recvmmsg; its control pointer/length describe
    // our own live control buffer, which the CMSG_* macros walk within.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(h) };
    while !cmsg.is_null() {
        // SAFETY: non-null cmsg returned by CMSG_FIRSTHDR/NXTHDR points inside
        // the control buffer at a complete cmsghdr.
        let c = unsafe { &*cmsg };
        if c.cmsg_level == SOL_PACKET
            && c.cmsg_type == PACKET_AUXDATA
            && c.cmsg_len >= std::mem::size_of::<libc::cmsghdr>() + 20
        {
            // SAFETY: `cmsg` is a complete cmsghdr inside our buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) } as *const TpacketAuxdata;
            // SAFETY: cmsg_len says the data part holds at least the 20 bytes
            // of tpacket_auxdata; read_unaligned copes with any alignment.
            let aux = unsafe { std::ptr::read_unaligned(data) };
            return Some(aux);
        }
        // SAFETY: same buffer as CMSG_FIRSTHDR; returns null at the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(h, cmsg) };
    }
    None
}

/// The transmit side of a [`PacketSocket`] (a duplicated descriptor of the
/// same socket), shareable between threads.
#[derive(Debug)]
pub struct PacketSender {
    fd: OwnedFd,
    vnet: bool,
}

impl PacketSender {
    /// Whether each frame must be preceded by a virtio-net header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// Sends up to 64 frames with one `sendmmsg`.  `hdrs[i]` is the virtio
    /// header of `frames[i]` (ignored without `PACKET_VNET_HDR`; missing
    /// entries mean "no offload").  Returns how many frames the kernel took;
    /// on a short count the next frame failed (the error is returned when the
    /// very first frame fails).
    pub fn send_batch(&self, hdrs: &[VnetHdr], frames: &[&[u8]]) -> io::Result<usize> {
        let n = frames.len().min(MAX_MMSG);
        if n == 0 {
            return Ok(0);
        }
        let mut vbytes = [[0u8; VNET_HDR_LEN]; MAX_MMSG];
        // SAFETY: iovec/mmsghdr are plain old data; used entries are filled.
        let mut iovs: [[libc::iovec; 2]; MAX_MMSG] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX_MMSG] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let mut k = 0;
            if self.vnet {
                vbytes[i] = hdrs.get(i).copied().unwrap_or_default().to_bytes();
                iovs[i][0] = libc::iovec {
                    iov_base: vbytes[i].as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                };
                k = 1;
            }
            iovs[i][k] = libc::iovec {
                // The kernel only reads through this pointer.
                iov_base: frames[i].as_ptr() as *mut libc::c_void,
                iov_len: frames[i].len(),
            };
            msgs[i].msg_hdr.msg_iov = iovs[i].as_mut_ptr();
            msgs[i].msg_hdr.msg_iovlen = k + 1;
        }
        // SAFETY: msgs[..n] point at live iovecs that point at live buffers
        // (vbytes here, frames from the caller) with their true lengths; the
        // kernel only reads them during the call.
        let ret = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        cvt(ret).map(|k| k.unsigned_abs() as usize)
    }

    /// Sends one frame.
    pub fn send_one(&self, hdr: &VnetHdr, frame: &[u8]) -> io::Result<()> {
        let n = self.send_batch(std::slice::from_ref(hdr), &[frame])?;
        if n == 1 {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WouldBlock))
        }
    }
}
