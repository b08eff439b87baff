//! Internet checksum helpers: full computation and incremental update
//! (RFC 1624), in both flavours a forwarded packet can carry.
//!
//! A *full* checksum field holds the ones'-complement of the sum; the
//! update is `HC' = ~(~HC + ~m + m')`.  A *checksum-partial* packet (virtio
//! `NEEDS_CSUM`, Linux `CHECKSUM_PARTIAL`) holds in its L4 checksum field
//! only the non-complemented pseudo-header sum, which the transmitter
//! completes; for it the update is `S' = S + ~m + m'`, and only changes to
//! pseudo-header fields (addresses) may be applied, since the transmitter
//! sums the L4 header itself.

/// Adds `data` as big-endian 16-bit words (odd tail padded with zero).
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [b] = it.remainder() {
        acc = acc.wrapping_add(u32::from(*b) << 8);
    }
    acc
}

/// Folds a 32-bit accumulator to 16 bits (not complemented).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data` (complemented, ready to store).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// Updates a checksum field after the bytes `old` became `new` (equal,
/// even lengths, 16-bit aligned relative to the checksummed area).
/// `partial` selects the pseudo-header-sum flavour.
pub fn adjust(check: u16, old: &[u8], new: &[u8], partial: bool) -> u16 {
    let mut acc = u32::from(if partial { check } else { !check });
    let mut it_o = old.chunks_exact(2);
    for c in &mut it_o {
        acc += u32::from(!u16::from_be_bytes([c[0], c[1]]));
    }
    let mut it_n = new.chunks_exact(2);
    for c in &mut it_n {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    let r = fold(acc);
    if partial { r } else { !r }
}

/// [`adjust`] for one 16-bit word.
pub fn adjust16(check: u16, old: u16, new: u16, partial: bool) -> u16 {
    adjust(check, &old.to_be_bytes(), &new.to_be_bytes(), partial)
}

/// [`adjust`] for one 32-bit word.
pub fn adjust32(check: u16, old: u32, new: u32, partial: bool) -> u16 {
    adjust(check, &old.to_be_bytes(), &new.to_be_bytes(), partial)
}

const fn crc32c_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC32c (Castagnoli) of `data`, as SCTP uses it.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_equals_recomputed() {
        let mut hdr = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let old = [hdr[12], hdr[13], hdr[14], hdr[15]];
        hdr[12..16].copy_from_slice(&[192, 168, 7, 9]);
        let c2 = adjust(c, &old, &[192, 168, 7, 9], false);
        hdr[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(c2, checksum(&hdr));
    }

    #[test]
    fn partial_tracks_pseudo_sum() {
        let s = fold(sum(0, &[10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20]));
        let s2 = adjust32(s, 0x0a00_0001, 0x0b00_0001, true);
        assert_eq!(s2, fold(sum(0, &[11, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20])));
    }

    #[test]
    fn crc32c_known_vector() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }
}
