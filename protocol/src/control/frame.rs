//! Framing of control messages on a byte stream.
//!
//! A frame is built in three steps:
//!
//! 1. the message, serialized with postcard (at most [`MAX_MESSAGE_LEN`] bytes);
//! 2. followed by the CRC-32 (ISO-HDLC, the CRC of Ethernet and zip) of those bytes, little
//!    endian;
//! 3. all of it COBS-encoded (Consistent Overhead Byte Stuffing: no `0x00` inside), then one
//!    `0x00` delimiter.
//!
//! COBS makes every `0x00` on the stream a frame boundary, so a receiver that meets a corrupt
//! frame (bad CRC, undecodable message, a frame too long) reports it and picks up again at the
//! next frame. Empty frames (two delimiters in a row) are ignored; a sender may send a lone
//! `0x00` to make sure the receiver starts clean.
//!
//! ```
//! use carillon_protocol::control::{encode_frame, FrameDecoder, Ping, BoxMessage, MAX_FRAME_LEN};
//!
//! let mut wire = [0u8; MAX_FRAME_LEN];
//! let n = encode_frame(&BoxMessage::Ping(Ping { nonce: 7 }), &mut wire).unwrap();
//!
//! let mut decoder: FrameDecoder = FrameDecoder::new();
//! let mut input = &wire[..n];
//! // Feed whatever the socket gave; drain until `None` (more bytes needed).
//! while let Some(result) = decoder.decode::<BoxMessage>(&mut input) {
//!     assert_eq!(result, Ok(BoxMessage::Ping(Ping { nonce: 7 })));
//! }
//! ```

use core::fmt;

use crc::{Crc, CRC_32_ISO_HDLC};
use serde::{de::DeserializeOwned, Serialize};

/// Longest postcard encoding of a control message, in bytes. Every message at full capacity
/// fits (the largest, a chunk of extensions, is about 1.7 KiB; a test checks each).
pub const MAX_MESSAGE_LEN: usize = 2048;
/// Bytes of the CRC-32 that follows the message.
pub const CRC_LEN: usize = 4;
/// Buffer a [`FrameDecoder`] needs for the largest message (message and CRC, decoded).
pub const DECODE_BUFFER_LEN: usize = MAX_MESSAGE_LEN + CRC_LEN;
/// Longest frame on the wire, delimiter included: a buffer this long always suffices for
/// [`encode_frame`].
pub const MAX_FRAME_LEN: usize = max_frame_len(MAX_MESSAGE_LEN);

/// Longest frame on the wire for a message of `message_len` bytes: COBS adds one byte, plus one
/// for every 254 bytes, and the delimiter one more.
pub const fn max_frame_len(message_len: usize) -> usize {
    let n = message_len + CRC_LEN;
    n + n / 254 + 2
}

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Why a message could not be framed. Nothing was sent; the buffer contents are unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The caller's buffer is too small for this frame ([`MAX_FRAME_LEN`] always suffices).
    BufferTooSmall,
    /// The message encodes to more than [`MAX_MESSAGE_LEN`] bytes (our bug: capacities are
    /// chosen so that this does not happen).
    MessageTooLarge,
    /// The value cannot be represented by postcard (our bug).
    Unserializable,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "buffer too small for the frame",
            Self::MessageTooLarge => "message larger than the control protocol allows",
            Self::Unserializable => "message cannot be serialized",
        })
    }
}

impl core::error::Error for EncodeError {}

/// Why a received frame was refused. Only that frame is lost: the decoder continues with the
/// next one. The peer is at fault (or the link corrupted bytes); count it, and close the
/// connection if it keeps happening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is longer than the decoder's buffer; the rest of it is skipped. Reported as
    /// soon as the buffer overflows, before the frame's end has arrived.
    Oversize,
    /// The COBS encoding is broken (a block runs past the delimiter).
    BadEncoding,
    /// The frame is shorter than its CRC.
    TooShort,
    /// The CRC does not match the contents.
    BadCrc,
    /// The CRC matches but the contents are not a valid message of the expected type (unknown
    /// variant, a value over its capacity, invalid UTF-8 or hex, trailing bytes).
    Malformed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Oversize => "control frame longer than the receive buffer",
            Self::BadEncoding => "control frame has a broken COBS encoding",
            Self::TooShort => "control frame shorter than its CRC",
            Self::BadCrc => "control frame CRC mismatch",
            Self::Malformed => "control frame does not hold a valid message",
        })
    }
}

impl core::error::Error for FrameError {}

/// Serializes `msg` into one frame at the start of `buf`; returns the frame's length, delimiter
/// included.
///
/// The message is serialized into the back of `buf` and COBS-encoded forward in place, so no
/// second buffer is needed.
pub fn encode_frame<T: Serialize + ?Sized>(msg: &T, buf: &mut [u8]) -> Result<usize, EncodeError> {
    // In-place COBS writes at most 1 + i/254 bytes ahead of input byte i; starting the input
    // this far in keeps every write behind the read position.
    let start = 1 + buf.len() / 254;
    let room = buf.len().saturating_sub(start + CRC_LEN);
    let window_len = room.min(MAX_MESSAGE_LEN);
    let window = buf.get_mut(start..start + window_len).ok_or(EncodeError::BufferTooSmall)?;
    let n = match postcard::to_slice(msg, window) {
        Ok(written) => written.len(),
        Err(postcard::Error::SerializeBufferFull) if window_len == MAX_MESSAGE_LEN => {
            return Err(EncodeError::MessageTooLarge)
        }
        Err(postcard::Error::SerializeBufferFull) => return Err(EncodeError::BufferTooSmall),
        Err(_) => return Err(EncodeError::Unserializable),
    };
    let crc = CRC32.checksum(buf.get(start..start + n).ok_or(EncodeError::BufferTooSmall)?);
    buf.get_mut(start + n..start + n + CRC_LEN).ok_or(EncodeError::BufferTooSmall)?.copy_from_slice(&crc.to_le_bytes());
    let len = cobs_encode_in_place(buf, start, n + CRC_LEN).ok_or(EncodeError::BufferTooSmall)?;
    *buf.get_mut(len).ok_or(EncodeError::BufferTooSmall)? = 0;
    Ok(len + 1)
}

/// COBS-encodes `buf[start..start + len]` into `buf[..]`; returns the encoded length. Needs
/// `start >= 1 + len / 254` (see [`encode_frame`]); `None` if `buf` is too short.
fn cobs_encode_in_place(buf: &mut [u8], start: usize, len: usize) -> Option<usize> {
    let mut code_pos = 0;
    let mut out = 1;
    let mut code: u8 = 1;
    for i in 0..len {
        let byte = *buf.get(start + i)?;
        if byte == 0 {
            *buf.get_mut(code_pos)? = code;
            code_pos = out;
            out += 1;
            code = 1;
        } else {
            *buf.get_mut(out)? = byte;
            out += 1;
            code += 1;
            if code == 0xFF {
                *buf.get_mut(code_pos)? = code;
                code_pos = out;
                out += 1;
                code = 1;
            }
        }
    }
    *buf.get_mut(code_pos)? = code;
    Some(out)
}

/// Reassembles frames from a byte stream delivered in arbitrary chunks and decodes them.
///
/// `N` is the largest decoded frame (message and CRC) it accepts; the default takes every
/// control message. Memory is `N` bytes plus a few; a frame of any length costs no more (its
/// excess is skipped). Decoding is streaming: each byte is COBS-decoded as it arrives.
///
/// Feed each chunk with [`decode`](Self::decode) (or [`next_frame`](Self::next_frame)) until it
/// returns `None`, which means the chunk is used up and the decoder waits for more.
#[derive(Debug, Clone)]
pub struct FrameDecoder<const N: usize = DECODE_BUFFER_LEN> {
    buf: [u8; N],
    len: usize,
    /// Data bytes still to come in the current COBS block; 0: the next byte is a code byte.
    block_left: u8,
    /// The current block ended before 254 bytes, so a zero precedes the next block's data.
    zero_pending: bool,
    /// At least one byte of the current frame has arrived.
    started: bool,
    /// The current frame was refused; skip to its delimiter.
    discarding: bool,
}

impl<const N: usize> Default for FrameDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameDecoder<N> {
    /// A decoder waiting for the start of a frame.
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0, block_left: 0, zero_pending: false, started: false, discarding: false }
    }

    /// Forgets a partial frame (e.g. when a new connection starts).
    pub fn reset(&mut self) {
        self.len = 0;
        self.block_left = 0;
        self.zero_pending = false;
        self.started = false;
        self.discarding = false;
    }

    /// Whether part of a frame is buffered.
    pub fn is_mid_frame(&self) -> bool {
        self.started
    }

    /// Consumes bytes from `input` up to the end of the next complete frame and decodes it as
    /// a `T`. Returns `None` once `input` is used up without completing a frame; `input` is
    /// advanced past what was consumed.
    pub fn decode<T: DeserializeOwned>(&mut self, input: &mut &[u8]) -> Option<Result<T, FrameError>> {
        Some(self.next_frame(input)?.and_then(|bytes| match postcard::take_from_bytes::<T>(bytes) {
            Ok((msg, [])) => Ok(msg),
            Ok(_) | Err(_) => Err(FrameError::Malformed),
        }))
    }

    /// Like [`decode`](Self::decode), but yields the CRC-checked postcard bytes of the next
    /// frame instead of decoding them.
    pub fn next_frame(&mut self, input: &mut &[u8]) -> Option<Result<&[u8], FrameError>> {
        let mut consumed = 0;
        let mut outcome = None;
        for &byte in input.iter() {
            consumed += 1;
            outcome = self.push(byte);
            if outcome.is_some() {
                break;
            }
        }
        *input = input.get(consumed..).unwrap_or(&[]);
        match outcome? {
            Err(e) => Some(Err(e)),
            Ok(len) => Some(self.check(len)),
        }
    }

    fn check(&self, len: usize) -> Result<&[u8], FrameError> {
        let frame = self.buf.get(..len).ok_or(FrameError::Oversize)?;
        let body_len = len.checked_sub(CRC_LEN).ok_or(FrameError::TooShort)?;
        let (body, crc) = frame.split_at(body_len);
        let mut expected = [0u8; CRC_LEN];
        expected.copy_from_slice(crc);
        if CRC32.checksum(body) == u32::from_le_bytes(expected) {
            Ok(body)
        } else {
            Err(FrameError::BadCrc)
        }
    }

    /// Takes one byte; `Some` when it completes (or refuses) a frame: `Ok(len)` means the
    /// decoded frame is `buf[..len]`.
    fn push(&mut self, byte: u8) -> Option<Result<usize, FrameError>> {
        if byte == 0 {
            let outcome = if self.discarding || !self.started {
                None
            } else if self.block_left != 0 {
                Some(Err(FrameError::BadEncoding))
            } else {
                Some(Ok(self.len))
            };
            self.reset();
            return outcome;
        }
        if self.discarding {
            return None;
        }
        self.started = true;
        let stored = if self.block_left == 0 {
            // A code byte: the previous block's implicit zero (if any), then `byte - 1` data
            // bytes follow.
            let stored = !self.zero_pending || self.store(0);
            self.block_left = byte - 1;
            self.zero_pending = byte != 0xFF;
            stored
        } else {
            self.block_left -= 1;
            self.store(byte)
        };
        if stored {
            None
        } else {
            self.discarding = true;
            Some(Err(FrameError::Oversize))
        }
    }

    fn store(&mut self, byte: u8) -> bool {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Reference COBS encoder, out of place.
    fn naive_cobs(data: &[u8], out: &mut [u8]) -> usize {
        let mut n = 0;
        for block in data.split(|&b| b == 0) {
            let mut chunks = block.chunks(254).peekable();
            if chunks.peek().is_none() {
                out[n] = 1;
                n += 1;
            }
            while let Some(chunk) = chunks.next() {
                out[n] = chunk.len() as u8 + 1;
                out[n + 1..n + 1 + chunk.len()].copy_from_slice(chunk);
                n += 1 + chunk.len();
                if chunk.len() == 254 && chunks.peek().is_none() {
                    out[n] = 1;
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn in_place_cobs_matches_reference_and_decodes() {
        let mut seed = 0x1234_5678u32;
        for len in (0..600).chain([1000, 2000, 2052]) {
            for zero_rate in [0u32, 3, 50] {
                let data: [u8; 2100] = core::array::from_fn(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    if seed % 100 < zero_rate {
                        0
                    } else {
                        (seed >> 8) as u8 | 1
                    }
                });
                let data = &data[..len];
                let mut reference = [0u8; 2200];
                let ref_len = naive_cobs(data, &mut reference);
                let mut buf = [0u8; 2200];
                let start = 1 + buf.len() / 254;
                buf[start..start + len].copy_from_slice(data);
                let enc_len = cobs_encode_in_place(&mut buf, start, len).unwrap();
                assert_eq!(&buf[..enc_len], &reference[..ref_len], "len {len}");
                assert!(enc_len <= len + len / 254 + 1);

                let mut dec: FrameDecoder<2100> = FrameDecoder::new();
                let mut out = None;
                for &b in buf[..enc_len].iter().chain([0u8].iter()) {
                    if let Some(r) = dec.push(b) {
                        out = Some(r);
                    }
                }
                if len == 0 {
                    // Encodes to [0x01]: an empty payload, still a frame.
                    assert_eq!(out, Some(Ok(0)));
                } else {
                    assert_eq!(out, Some(Ok(len)));
                    assert_eq!(&dec.buf[..len], data);
                }
            }
        }
    }
}
