//! The box's identity in its flash: who it is to the cloud and where the cloud is.
//!
//! Written once at installation by a host tool (the boot test's writer today; a `carillon`
//! command later) into the identity partition, read at boot. The board never writes it.
//!
//! ```text
//! blob = magic "CIDN" | format: u8 (1) | flags: u8 | 0 | 0
//!      | box_id: u64 LE | credential: [u8; 32]
//!      | sip: ipv4 [4] | sip port: u16 LE | control: ipv4 [4] | control port: u16 LE
//!      | host len: u8 | host: [u8; 63] | server-name len: u8 | server name: [u8; 63]
//!      | cert len: u16 LE | cert (DER, len bytes)
//!      | crc32 (ISO-HDLC) of everything before: u32 LE
//! flags: bit 0 = the links use TLS (the certificate pinned), clear = plain TCP (tests only)
//! ```
//!
//! A blob that fails any check (magic, format, lengths, CRC, a host name that is not UTF-8) is
//! refused with the reason, and the board serves the school in survival without an uplink.

use core::net::{Ipv4Addr, SocketAddrV4};

use carillon_protocol::control::{BoxCredential, BoxId, CREDENTIAL_LEN};
use crc::{Crc, CRC_32_ISO_HDLC};

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Magic of an identity blob.
pub const IDENTITY_MAGIC: [u8; 4] = *b"CIDN";
/// The blob format this code reads and writes.
pub const IDENTITY_FORMAT: u8 = 1;
/// Longest host name (the box's name in its Via and Path) and TLS server name.
pub const MAX_NAME_LEN: usize = 63;
/// Largest pinned certificate (DER).
pub const MAX_CERT_LEN: usize = 2048;
/// Bytes before the certificate.
const FIXED_LEN: usize = 8 + 8 + CREDENTIAL_LEN + 12 + 2 * (1 + MAX_NAME_LEN) + 2;
/// Largest blob: what an identity partition must hold.
pub const MAX_IDENTITY_LEN: usize = FIXED_LEN + MAX_CERT_LEN + 4;

const FLAG_TLS: u8 = 1;

/// The box's identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The id the cloud assigned at enrollment.
    pub box_id: BoxId,
    /// The long-term credential the cloud issued at enrollment.
    pub credential: BoxCredential,
    /// The cloud's SIP stream port (the uplink).
    pub sip: SocketAddrV4,
    /// The cloud's box-link port (the control link).
    pub control: SocketAddrV4,
    /// The box's host name (in its Via and Path headers).
    pub host: heapless::String<MAX_NAME_LEN>,
    /// The name the cloud's certificate is for (TLS server name).
    pub server_name: heapless::String<MAX_NAME_LEN>,
    /// Whether the links use TLS.
    pub tls: bool,
    /// The cloud's certificate (DER), pinned; empty for plain TCP.
    pub cert: heapless::Vec<u8, MAX_CERT_LEN>,
}

impl core::fmt::Debug for Identity {
    // The credential is a secret: never in a log.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("box_id", &self.box_id)
            .field("sip", &self.sip)
            .field("control", &self.control)
            .field("host", &self.host)
            .field("server_name", &self.server_name)
            .field("tls", &self.tls)
            .field("cert_len", &self.cert.len())
            .finish_non_exhaustive()
    }
}

/// Why a blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// No blob (erased flash or another magic).
    Missing,
    /// A format this code does not read.
    Format(u8),
    /// Shorter than its lengths say, or a length over its limit.
    Length,
    /// The CRC does not match.
    Crc,
    /// A name is not UTF-8.
    Name,
}

fn put(out: &mut [u8], at: &mut usize, bytes: &[u8]) -> Option<()> {
    out.get_mut(*at..*at + bytes.len())?.copy_from_slice(bytes);
    *at += bytes.len();
    Some(())
}

fn put_name(out: &mut [u8], at: &mut usize, name: &str) -> Option<()> {
    let mut field = [0u8; 1 + MAX_NAME_LEN];
    let (len, rest) = field.split_first_mut()?;
    *len = u8::try_from(name.len()).ok()?;
    rest.get_mut(..name.len())?.copy_from_slice(name.as_bytes());
    put(out, at, &field)
}

impl Identity {
    /// Writes the blob into `out`; its length, or `None` if `out` is too small.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut at = 0;
        put(out, &mut at, &IDENTITY_MAGIC)?;
        put(out, &mut at, &[IDENTITY_FORMAT, if self.tls { FLAG_TLS } else { 0 }, 0, 0])?;
        put(out, &mut at, &self.box_id.0.to_le_bytes())?;
        put(out, &mut at, &self.credential.0)?;
        for a in [self.sip, self.control] {
            put(out, &mut at, &a.ip().octets())?;
            put(out, &mut at, &a.port().to_le_bytes())?;
        }
        put_name(out, &mut at, &self.host)?;
        put_name(out, &mut at, &self.server_name)?;
        put(out, &mut at, &u16::try_from(self.cert.len()).ok()?.to_le_bytes())?;
        put(out, &mut at, &self.cert)?;
        let crc = CRC32.checksum(out.get(..at)?);
        put(out, &mut at, &crc.to_le_bytes())?;
        Some(at)
    }

    /// Reads a blob from the start of `bytes` (what follows it is ignored).
    pub fn decode(bytes: &[u8]) -> Result<Identity, IdentityError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != IDENTITY_MAGIC {
            return Err(IdentityError::Missing);
        }
        let head = r.take(4)?;
        let (format, flags) = (head.first().copied().unwrap_or(0), head.get(1).copied().unwrap_or(0));
        if format != IDENTITY_FORMAT {
            return Err(IdentityError::Format(format));
        }
        let box_id = BoxId(u64::from_le_bytes(r.array()?));
        let credential = BoxCredential(r.array()?);
        let sip = r.addr()?;
        let control = r.addr()?;
        let host = r.name()?;
        let server_name = r.name()?;
        let cert_len = usize::from(u16::from_le_bytes(r.array()?));
        if cert_len > MAX_CERT_LEN {
            return Err(IdentityError::Length);
        }
        let cert = heapless::Vec::from_slice(r.take(cert_len)?).map_err(|_| IdentityError::Length)?;
        let covered = r.at;
        let crc = u32::from_le_bytes(r.array()?);
        if CRC32.checksum(bytes.get(..covered).ok_or(IdentityError::Length)?) != crc {
            return Err(IdentityError::Crc);
        }
        Ok(Identity { box_id, credential, sip, control, host, server_name, tls: flags & FLAG_TLS != 0, cert })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IdentityError> {
        let s = self.bytes.get(self.at..self.at + n).ok_or(IdentityError::Length)?;
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IdentityError> {
        self.take(N)?.try_into().map_err(|_| IdentityError::Length)
    }

    fn addr(&mut self) -> Result<SocketAddrV4, IdentityError> {
        let ip: [u8; 4] = self.array()?;
        let port = u16::from_le_bytes(self.array()?);
        Ok(SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }

    fn name(&mut self) -> Result<heapless::String<MAX_NAME_LEN>, IdentityError> {
        let field: [u8; 1 + MAX_NAME_LEN] = self.array()?;
        let (len, rest) = field.split_first().ok_or(IdentityError::Length)?;
        let s = rest.get(..usize::from(*len)).ok_or(IdentityError::Length)?;
        let s = core::str::from_utf8(s).map_err(|_| IdentityError::Name)?;
        heapless::String::try_from(s).map_err(|_| IdentityError::Length)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use std::format;

    use super::*;

    fn sample() -> Identity {
        Identity {
            box_id: BoxId(42),
            credential: BoxCredential([7; CREDENTIAL_LEN]),
            sip: "10.0.2.2:5061".parse().unwrap(),
            control: "10.0.2.2:5070".parse().unwrap(),
            host: heapless::String::try_from("box42.school.example").unwrap(),
            server_name: heapless::String::try_from("cloud.test").unwrap(),
            tls: true,
            cert: heapless::Vec::from_slice(&[0x30, 0x82, 1, 2, 3]).unwrap(),
        }
    }

    #[test]
    fn a_blob_reads_back_as_written() {
        let mut buf = [0xFFu8; MAX_IDENTITY_LEN + 16];
        let n = sample().encode(&mut buf).unwrap();
        assert_eq!(n, FIXED_LEN + 5 + 4);
        assert_eq!(Identity::decode(&buf).unwrap(), sample());
    }

    #[test]
    fn erased_flash_is_missing_and_a_flipped_bit_fails_the_crc() {
        assert_eq!(Identity::decode(&[0xFF; 64]), Err(IdentityError::Missing));
        let mut buf = [0u8; MAX_IDENTITY_LEN];
        let n = sample().encode(&mut buf).unwrap();
        for i in [9, 20, 60, n - 6] {
            let mut bad = buf;
            bad[i] ^= 0x10;
            assert_eq!(Identity::decode(&bad), Err(IdentityError::Crc), "bit flipped at {i}");
        }
        assert_eq!(Identity::decode(&buf[..n - 1]), Err(IdentityError::Length), "truncated");
        let mut other = buf;
        other[4] = 2;
        assert_eq!(Identity::decode(&other), Err(IdentityError::Format(2)));
    }

    #[test]
    fn a_buffer_too_small_is_refused() {
        let mut buf = [0u8; 40];
        assert_eq!(sample().encode(&mut buf), None);
    }

    #[test]
    fn the_credential_never_shows_in_debug() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("credential"), "{text}");
    }
}
