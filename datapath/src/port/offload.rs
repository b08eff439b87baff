//! Software fallbacks for virtio-net offloads.
//!
//! Frames read from a vnet-capable port may carry a *partial* L4 checksum
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum field only holds the
//! pseudo-header sum, the rest is left to "hardware") and may be GSO
//! super-frames of up to 64 KiB (`gso_type` TCPv4/TCPv6/UDP_L4 with
//! `gso_size` bytes of payload per segment).  A port that passes the header
//! on (AF_PACKET with `PACKET_VNET_HDR`, TAP with `IFF_VNET_HDR`) lets the
//! kernel finish the job.  For any other port (the in-memory port, a socket
//! without vnet support) the frame is finished here: [`complete_checksum`]
//! fills in a partial checksum, [`segment`] cuts a GSO frame into wire-size
//! frames with correct IP lengths/ids, TCP sequence numbers and flags, and
//! full checksums.
//!
//! Everything works on plain byte slices and returns [`OffloadError`] on a
//! frame that does not parse; nothing here panics on malformed input.

use crate::sys::VnetHdr;

/// Why a frame could not be finished in software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// The checksum start/offset point outside the frame.
    #[error("checksum offsets outside the frame")]
    BadChecksumOffsets,
    /// The frame's headers could not be parsed far enough.
    #[error("malformed headers in GSO frame")]
    Malformed,
    /// The GSO type is not supported in software.
    #[error("unsupported GSO type {0:#x}")]
    UnsupportedGso(u8),
    /// `gso_size` is zero.
    #[error("GSO frame with zero segment size")]
    ZeroSegmentSize,
}

/// Adds `data` as big-endian 16-bit words to a ones'-complement accumulator.
pub fn csum_add(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Sum 32-bit halves to keep carries in the upper bits.
        acc += w >> 32;
        acc += w & 0xffff_ffff;
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds an accumulator to 16 bits (not complemented).
pub fn csum_fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Fills in a partial checksum: sums the frame from `csum_start` to the end
/// (the field at `csum_start + csum_offset` already holds the pseudo-header
/// sum) and stores the complement, `0` written as `0xffff` like the kernel.
pub fn complete_checksum(
    frame: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
) -> Result<(), OffloadError> {
    let field = csum_start
        .checked_add(csum_offset)
        .filter(|&f| f.checked_add(2).is_some_and(|e| e <= frame.len()))
        .ok_or(OffloadError::BadChecksumOffsets)?;
    let covered = frame
        .get(csum_start..)
        .ok_or(OffloadError::BadChecksumOffsets)?;
    let mut c = !csum_fold(csum_add(0, covered));
    if c == 0 {
        c = 0xffff;
    }
    frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Layer offsets of a TCP/UDP frame.
#[derive(Debug, Clone, Copy)]
struct Layout {
    l3: usize,
    l4: usize,
    /// End of the L4 header (start of payload).
    payload: usize,
    ipv4: bool,
}

fn be16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(o)?,
        *b.get(o + 1)?,
        *b.get(o + 2)?,
        *b.get(o + 3)?,
    ]))
}

/// Walks Ethernet, VLAN tags, IPv4/IPv6 (with extension headers) up to an L4
/// header of protocol `want` (6 TCP, 17 UDP).
fn layout(frame: &[u8], want: u8) -> Option<Layout> {
    let mut off = 12;
    let mut ethertype = be16(frame, off)?;
    let mut tags = 0;
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        tags += 1;
        if tags > 4 {
            return None;
        }
        off += 4;
        ethertype = be16(frame, off)?;
    }
    let l3 = off + 2;
    let (l4, proto, ipv4) = match ethertype {
        0x0800 => {
            let vihl = *frame.get(l3)?;
            if vihl >> 4 != 4 {
                return None;
            }
            let ihl = usize::from(vihl & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            (l3 + ihl, *frame.get(l3 + 9)?, true)
        }
        0x86dd => {
            if *frame.get(l3)? >> 4 != 6 {
                return None;
            }
            let mut next = *frame.get(l3 + 6)?;
            let mut p = l3 + 40;
            // Hop-by-hop, routing, destination options: bounded walk.
            for _ in 0..8 {
                if !matches!(next, 0 | 43 | 60) {
                    break;
                }
                let len = (usize::from(*frame.get(p + 1)?) + 1) * 8;
                next = *frame.get(p)?;
                p += len;
            }
            (p, next, false)
        }
        _ => return None,
    };
    if proto != want {
        return None;
    }
    let payload = if want == 6 {
        let doff = usize::from(*frame.get(l4 + 12)? >> 4) * 4;
        if doff < 20 {
            return None;
        }
        l4 + doff
    } else {
        l4 + 8
    };
    if payload > frame.len() {
        return None;
    }
    Some(Layout {
        l3,
        l4,
        payload,
        ipv4,
    })
}

/// Pseudo-header sum for an L4 segment of `l4_len` bytes.
fn pseudo_sum(frame: &[u8], lay: &Layout, proto: u8, l4_len: usize) -> u64 {
    let mut acc = 0;
    if lay.ipv4 {
        acc = csum_add(acc, frame.get(lay.l3 + 12..lay.l3 + 20).unwrap_or(&[]));
        acc += u64::from(proto);
        acc += l4_len as u64;
    } else {
        acc = csum_add(acc, frame.get(lay.l3 + 8..lay.l3 + 40).unwrap_or(&[]));
        acc += u64::from(proto);
        acc += l4_len as u64;
    }
    acc
}

/// Cuts the GSO frame `frame` (described by `hdr`) into wire-size frames.
/// Each segment is built in `scratch` and handed to `emit`.  Returns the
/// number of segments.  A frame without GSO but with a partial checksum is
/// emitted once with the checksum completed.
pub fn segment(
    frame: &[u8],
    hdr: &VnetHdr,
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    let gso = hdr.gso_type & !VnetHdr::GSO_ECN;
    let proto = match gso {
        VnetHdr::GSO_NONE => {
            scratch.clear();
            scratch.extend_from_slice(frame);
            if hdr.flags & VnetHdr::F_NEEDS_CSUM != 0 {
                complete_checksum(
                    scratch,
                    usize::from(hdr.csum_start),
                    usize::from(hdr.csum_offset),
                )?;
            }
            emit(scratch);
            return Ok(1);
        }
        VnetHdr::GSO_TCPV4 | VnetHdr::GSO_TCPV6 => 6u8,
        VnetHdr::GSO_UDP_L4 => 17u8,
        other => return Err(OffloadError::UnsupportedGso(other)),
    };
    let mss = usize::from(hdr.gso_size);
    if mss == 0 {
        return Err(OffloadError::ZeroSegmentSize);
    }
    let lay = layout(frame, proto).ok_or(OffloadError::Malformed)?;
    let headers = frame.get(..lay.payload).ok_or(OffloadError::Malformed)?;
    let payload = frame.get(lay.payload..).ok_or(OffloadError::Malformed)?;
    let ip_id = if lay.ipv4 {
        be16(frame, lay.l3 + 4).ok_or(OffloadError::Malformed)?
    } else {
        0
    };
    let seq0 = if proto == 6 {
        be32(frame, lay.l4 + 4).ok_or(OffloadError::Malformed)?
    } else {
        0
    };
    let l4_hdr_len = lay.payload - lay.l4;
    let n_segs = payload.len().div_ceil(mss).max(1);
    let mut offset = 0usize;
    for i in 0..n_segs {
        let chunk = payload
            .get(offset..(offset + mss).min(payload.len()))
            .unwrap_or(&[]);
        scratch.clear();
        scratch.extend_from_slice(headers);
        scratch.extend_from_slice(chunk);
        let l4_len = l4_hdr_len + chunk.len();
        // IP lengths (and IPv4 id + header checksum).
        if lay.ipv4 {
            let ihl = lay.l4 - lay.l3;
            let tot = u16::try_from(ihl + l4_len).map_err(|_| OffloadError::Malformed)?;
            scratch[lay.l3 + 2..lay.l3 + 4].copy_from_slice(&tot.to_be_bytes());
            let id = ip_id.wrapping_add(i as u16);
            scratch[lay.l3 + 4..lay.l3 + 6].copy_from_slice(&id.to_be_bytes());
            scratch[lay.l3 + 10..lay.l3 + 12].copy_from_slice(&[0, 0]);
            let c = !csum_fold(csum_add(0, &scratch[lay.l3..lay.l4]));
            scratch[lay.l3 + 10..lay.l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let plen = u16::try_from(lay.l4 - lay.l3 - 40 + l4_len)
                .map_err(|_| OffloadError::Malformed)?;
            scratch[lay.l3 + 4..lay.l3 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        let csum_field = if proto == 6 {
            let seq = seq0.wrapping_add(offset as u32);
            scratch[lay.l4 + 4..lay.l4 + 8].copy_from_slice(&seq.to_be_bytes());
            let mut flags = scratch[lay.l4 + 13];
            if i + 1 != n_segs {
                flags &= !(0x01 | 0x08); // FIN, PSH only on the last segment
            }
            if i != 0 {
                flags &= !0x80; // CWR only on the first
            }
            scratch[lay.l4 + 13] = flags;
            lay.l4 + 16
        } else {
            let ulen = u16::try_from(l4_len).map_err(|_| OffloadError::Malformed)?;
            scratch[lay.l4 + 4..lay.l4 + 6].copy_from_slice(&ulen.to_be_bytes());
            lay.l4 + 6
        };
        scratch[csum_field..csum_field + 2].copy_from_slice(&[0, 0]);
        let acc = pseudo_sum(scratch, &lay, proto, l4_len);
        let mut c = !csum_fold(csum_add(acc, &scratch[lay.l4..]));
        if c == 0 && proto == 17 {
            c = 0xffff;
        }
        scratch[csum_field..csum_field + 2].copy_from_slice(&c.to_be_bytes());
        emit(scratch);
        offset += chunk.len();
    }
    Ok(n_segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + TCP frame with `payload`, checksums left as the
    /// kernel leaves them for CHECKSUM_PARTIAL (pseudo-header sum in the TCP
    /// field, IP header checksum valid).
    fn tcp4_partial(payload: &[u8], flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = 14;
        f[ip] = 0x45;
        let tot = (20 + 20 + payload.len()) as u16;
        f[ip + 2..ip + 4].copy_from_slice(&tot.to_be_bytes());
        f[ip + 4..ip + 6].copy_from_slice(&0x1234u16.to_be_bytes());
        f[ip + 8] = 64;
        f[ip + 9] = 6;
        f[ip + 12..ip + 16].copy_from_slice(&[10, 0, 0, 1]);
        f[ip + 16..ip + 20].copy_from_slice(&[10, 0, 0, 2]);
        let c = !csum_fold(csum_add(0, &f[ip..ip + 20]));
        f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        let t = 34;
        f[t..t + 2].copy_from_slice(&1000u16.to_be_bytes());
        f[t + 2..t + 4].copy_from_slice(&2000u16.to_be_bytes());
        f[t + 4..t + 8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        f[t + 12] = 5 << 4;
        f[t + 13] = flags;
        f.extend_from_slice(payload);
        let mut acc = csum_add(0, &f[ip + 12..ip + 20]);
        acc += 6 + (20 + payload.len()) as u64;
        let pseudo = csum_fold(acc);
        f[t + 16..t + 18].copy_from_slice(&pseudo.to_be_bytes());
        f
    }

    /// Verifies the TCP checksum of a finished IPv4 frame.
    fn tcp4_valid(f: &[u8]) -> bool {
        let ip = 14;
        let tot = usize::from(u16::from_be_bytes([f[ip + 2], f[ip + 3]]));
        let l4 = &f[34..ip + tot];
        let mut acc = csum_add(0, &f[ip + 12..ip + 20]);
        acc += 6 + l4.len() as u64;
        csum_fold(csum_add(acc, l4)) == 0xffff && csum_fold(csum_add(0, &f[ip..ip + 20])) == 0xffff
    }

    #[test]
    fn completes_partial_tcp_checksum() {
        let mut f = tcp4_partial(b"hello, world!", 0x18);
        assert!(!tcp4_valid(&f));
        complete_checksum(&mut f, 34, 16).unwrap();
        assert!(tcp4_valid(&f));
    }

    #[test]
    fn rejects_checksum_offsets_outside_frame() {
        let mut f = vec![0u8; 40];
        assert_eq!(
            complete_checksum(&mut f, 30, 16),
            Err(OffloadError::BadChecksumOffsets)
        );
        assert_eq!(
            complete_checksum(&mut f, usize::MAX, 16),
            Err(OffloadError::BadChecksumOffsets)
        );
    }

    #[test]
    fn segments_tcp4_gso_frame() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let f = tcp4_partial(&payload, 0x19); // FIN|PSH|ACK... plus ACK bit below
        let hdr = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut segs = Vec::new();
        let mut scratch = Vec::new();
        let n = segment(&f, &hdr, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        assert_eq!(n, 3);
        let mut rebuilt = Vec::new();
        let mut expect_seq = 0xffff_fff0u32;
        for (i, s) in segs.iter().enumerate() {
            assert!(tcp4_valid(s), "segment {i} checksum");
            let seq = u32::from_be_bytes([s[38], s[39], s[40], s[41]]);
            assert_eq!(seq, expect_seq);
            let id = u16::from_be_bytes([s[18], s[19]]);
            assert_eq!(id, 0x1234 + i as u16);
            let flags = s[47];
            if i < 2 {
                assert_eq!(flags & 0x09, 0, "no FIN/PSH before the last segment");
            } else {
                assert_eq!(flags & 0x09, 0x09);
            }
            rebuilt.extend_from_slice(&s[54..]);
            expect_seq = expect_seq.wrapping_add((s.len() - 54) as u32);
        }
        assert_eq!(rebuilt, payload);
        assert_eq!(segs[0].len(), 54 + 1448);
        assert_eq!(segs[2].len(), 54 + 3000 - 2 * 1448);
    }

    #[test]
    fn malformed_gso_frames_are_errors() {
        let hdr = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut scratch = Vec::new();
        for len in 0..54 {
            let f = tcp4_partial(b"", 0x10);
            let r = segment(&f[..len], &hdr, &mut scratch, |_| {});
            assert!(r.is_err(), "truncated at {len}");
        }
        let f = tcp4_partial(b"abc", 0x10);
        let zero = VnetHdr { gso_size: 0, ..hdr };
        assert_eq!(
            segment(&f, &zero, &mut scratch, |_| {}),
            Err(OffloadError::ZeroSegmentSize)
        );
        let ufo = VnetHdr {
            gso_type: VnetHdr::GSO_UDP,
            ..hdr
        };
        assert_eq!(
            segment(&f, &ufo, &mut scratch, |_| {}),
            Err(OffloadError::UnsupportedGso(3))
        );
    }
}
