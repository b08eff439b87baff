//! Byte-level primitives shared by every OpenFlow decoder and encoder.
//!
//! [`Reader`] is a bounds-checked cursor over untrusted bytes.  Each reader
//! carries the [`OfpError`] to report if the input ends early, so a truncated
//! match answers `OFPBMC_BAD_LEN`, a truncated action `OFPBAC_BAD_LEN`, and so
//! on, without every call site spelling it out.  Length-prefixed items are
//! read through [`Reader::sub`], which hands out a reader limited to exactly
//! that item: an item can never read past its own declared length.
//!
//! Encoders write into a [`BytesMut`] and fix lengths afterwards with
//! [`patch_u16`]/[`patch_u32`]; [`pad_to`] owns the "pad to a multiple of 8"
//! rule used by matches, actions, instructions and properties.

use bytes::{BufMut, BytesMut};

use super::error::OfpError;

/// A bounds-checked cursor over untrusted input.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    short: OfpError,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` that reports `short` when input runs out.
    pub fn new(buf: &'a [u8], short: OfpError) -> Self {
        Self { buf, pos: 0, short }
    }

    /// The error this reader reports when input runs out.
    pub fn short_error(&self) -> OfpError {
        self.short
    }

    /// The same reader, reporting `short` from now on.
    pub fn with_short(mut self, short: OfpError) -> Self {
        self.short = short;
        self
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], OfpError> {
        if n > self.remaining() {
            return Err(self.short);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes every remaining byte.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], OfpError> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Skips `n` bytes (padding); their value is ignored.
    pub fn skip(&mut self, n: usize) -> Result<(), OfpError> {
        self.bytes(n).map(|_| ())
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, OfpError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, OfpError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, OfpError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, OfpError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Peeks a big-endian `u16` at `offset` bytes ahead, without consuming.
    pub fn peek_u16(&self, offset: usize) -> Result<u16, OfpError> {
        let at = self.pos.checked_add(offset).ok_or(self.short)?;
        match self.buf.get(at..at + 2) {
            Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
            None => Err(self.short),
        }
    }

    /// Peeks a big-endian `u32` at `offset` bytes ahead, without consuming.
    pub fn peek_u32(&self, offset: usize) -> Result<u32, OfpError> {
        let at = self.pos.checked_add(offset).ok_or(self.short)?;
        match self.buf.get(at..at + 4) {
            Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            None => Err(self.short),
        }
    }

    /// Splits off the next `len` bytes as a reader of their own, with the
    /// same short-input error.  Fails with this reader's error when fewer
    /// than `len` bytes remain.
    pub fn sub(&mut self, len: usize) -> Result<Reader<'a>, OfpError> {
        let short = self.short;
        Ok(Reader::new(self.bytes(len)?, short))
    }

    /// Like [`Reader::sub`], with a different short-input error for the
    /// sub-reader (and for this reader if `len` is too large).
    pub fn sub_with(&mut self, len: usize, short: OfpError) -> Result<Reader<'a>, OfpError> {
        if len > self.remaining() {
            return Err(short);
        }
        Ok(Reader::new(self.bytes(len)?, short))
    }

    /// Fails with this reader's error unless every byte was consumed.
    pub fn expect_end(&self) -> Result<(), OfpError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.short)
        }
    }
}

/// Writes `w.len() - start` as a big-endian `u16` at `start + field`.
///
/// Used to back-patch the length of a structure once its body is written.
/// Lengths above `u16::MAX` are the caller's bug; they are saturated so the
/// peer sees an invalid length rather than a silently wrapped one.
pub fn patch_u16(w: &mut BytesMut, start: usize, field: usize) {
    let len = u16::try_from(w.len() - start).unwrap_or(u16::MAX);
    w[start + field..start + field + 2].copy_from_slice(&len.to_be_bytes());
}

/// Writes `w.len() - start` as a big-endian `u32` at `start + field`.
pub fn patch_u32(w: &mut BytesMut, start: usize, field: usize) {
    let len = u32::try_from(w.len() - start).unwrap_or(u32::MAX);
    w[start + field..start + field + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends zero bytes until `w.len() - start` is a multiple of `align`.
pub fn pad_to(w: &mut BytesMut, start: usize, align: usize) {
    let len = w.len() - start;
    let pad = (align - len % align) % align;
    w.put_bytes(0, pad);
}

/// Number of padding bytes that bring `len` to a multiple of `align`.
pub const fn padding(len: usize, align: usize) -> usize {
    (align - len % align) % align
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::error::bad_match;

    #[test]
    fn reader_reports_its_own_short_error() {
        let e = OfpError::bad_match(bad_match::BAD_LEN, "match");
        let mut r = Reader::new(&[1, 2, 3], e);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u16().unwrap_err(), e);
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.is_empty());
    }

    #[test]
    fn sub_reader_is_bounded() {
        let e = OfpError::bad_len("x");
        let mut r = Reader::new(&[0, 0, 0, 1, 9, 9], e);
        let mut s = r.sub(4).unwrap();
        assert_eq!(s.u32().unwrap(), 1);
        assert!(s.u8().is_err());
        assert_eq!(r.remaining(), 2);
        assert!(r.sub(3).is_err());
    }

    #[test]
    fn patch_and_pad() {
        let mut w = BytesMut::new();
        w.put_u16(0xabcd);
        w.put_u16(0);
        w.put_u8(7);
        pad_to(&mut w, 0, 8);
        patch_u16(&mut w, 0, 2);
        assert_eq!(&w[..], &[0xab, 0xcd, 0, 8, 7, 0, 0, 0]);
    }
}
