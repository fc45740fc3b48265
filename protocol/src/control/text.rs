//! Bounded text and secrets carried by control messages.
//!
//! Every string on the control link has a fixed capacity in bytes (UTF-8), so a message has a
//! fixed worst-case size in memory and on the wire. A longer value cannot be built
//! ([`bounded`] returns [`TooLong`]) and cannot be decoded (the frame is rejected as
//! [`FrameError::Malformed`](super::FrameError::Malformed)).
//!
//! Secrets (HA1 digests, tokens, credentials, trunk passwords) are newtypes whose `Debug` prints
//! only their kind, so that a logged message never leaks them.

use core::fmt;

use heapless::String;
use serde::{Deserialize, Serialize};

/// Longest dialled number, caller id or emergency number, in bytes: E.164 allows 15 digits; with
/// an outside-line prefix, `00`, a `+` or a short SIP user part, 32 leaves room.
pub const MAX_NUMBER_LEN: usize = 32;
/// Longest extension number (also ring-group numbers and members), in bytes. Schools use 3–6
/// digits.
pub const MAX_EXTENSION_LEN: usize = 16;
/// Longest site code, in bytes (the default plan uses 4 digits).
pub const MAX_SITE_CODE_LEN: usize = 8;
/// Longest dial-plan prefix (on-net or outside line), in bytes.
pub const MAX_PREFIX_LEN: usize = 4;
/// Longest SIP username (digest `username`), in bytes.
pub const MAX_USERNAME_LEN: usize = 32;
/// Longest digest realm, in bytes.
pub const MAX_REALM_LEN: usize = 64;
/// Longest display name, in bytes of UTF-8 (about 24 accented characters at worst).
pub const MAX_DISPLAY_NAME_LEN: usize = 48;
/// Longest SIP URI (address of record or contact), in bytes. Phones' contacts with `transport`
/// and a `line` parameter stay well under 100.
pub const MAX_URI_LEN: usize = 128;
/// Longest `Call-ID`, in bytes. Phones use 16–64; 96 leaves room for `random@host` forms.
pub const MAX_CALL_ID_LEN: usize = 96;
/// Longest host (DNS name or IP literal) of a fallback trunk, in bytes.
pub const MAX_HOST_LEN: usize = 64;
/// Longest fallback-trunk password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 64;
/// Longest one-time enrollment token, in bytes (typed by an installer or read from a QR code).
pub const MAX_TOKEN_LEN: usize = 64;
/// Length of a box's long-term credential, in bytes (256 random bits).
pub const CREDENTIAL_LEN: usize = 32;
/// Hex digits of an MD5 HA1 (RFC 2617, 128 bits).
pub const HA1_MD5_HEX_LEN: usize = 32;
/// Hex digits of a SHA-256 HA1 (RFC 7616, 256 bits).
pub const HA1_SHA256_HEX_LEN: usize = 64;

/// A dialled number, caller id or emergency number.
pub type Number = String<MAX_NUMBER_LEN>;
/// An extension number inside a school (also ring-group numbers).
pub type ExtensionNumber = String<MAX_EXTENSION_LEN>;
/// A school's site code.
pub type SiteCode = String<MAX_SITE_CODE_LEN>;
/// A dial-plan prefix.
pub type Prefix = String<MAX_PREFIX_LEN>;
/// A SIP digest username.
pub type Username = String<MAX_USERNAME_LEN>;
/// A SIP digest realm.
pub type Realm = String<MAX_REALM_LEN>;
/// A display name (UTF-8).
pub type DisplayName = String<MAX_DISPLAY_NAME_LEN>;
/// A SIP URI as text.
pub type Uri = String<MAX_URI_LEN>;
/// A SIP `Call-ID`.
pub type CallId = String<MAX_CALL_ID_LEN>;
/// A host name or IP literal.
pub type Host = String<MAX_HOST_LEN>;

/// A value did not fit the capacity of its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// Length of the value offered, in bytes.
    pub len: usize,
    /// Capacity of the field, in bytes.
    pub capacity: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value of {} bytes exceeds the field's capacity of {} bytes", self.len, self.capacity)
    }
}

/// Copies `s` into a bounded string, or says it is too long.
pub fn bounded<const N: usize>(s: &str) -> Result<String<N>, TooLong> {
    String::try_from(s).map_err(|_| TooLong { len: s.len(), capacity: N })
}

/// Why a hex digest was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexDigestError {
    /// The digest does not have exactly the number of hex digits its algorithm gives.
    WrongLength {
        /// Digits expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A character is not a hex digit.
    NotHex,
}

impl fmt::Display for HexDigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { expected, found } => {
                write!(f, "hex digest has {found} characters, expected {expected}")
            }
            Self::NotHex => f.write_str("hex digest contains a character that is not a hex digit"),
        }
    }
}

/// A digest as exactly `N` lowercase hex digits: an HA1 (`H(username:realm:password)`, RFC 7616
/// §3.4.2), which lets the box check digest responses without ever holding the password.
///
/// Uppercase input is accepted and stored lowercase, because RFC 7616 computes with lowercase
/// hex. `Debug` does not print the digest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String<N>", into = "String<N>")]
pub struct HexDigest<const N: usize>(String<N>);

/// An MD5 HA1 as 32 hex digits.
pub type Ha1Md5 = HexDigest<HA1_MD5_HEX_LEN>;
/// A SHA-256 HA1 as 64 hex digits.
pub type Ha1Sha256 = HexDigest<HA1_SHA256_HEX_LEN>;

impl<const N: usize> HexDigest<N> {
    /// Checks and stores a digest given as hex.
    pub fn from_hex(hex: &str) -> Result<Self, HexDigestError> {
        if hex.len() != N {
            return Err(HexDigestError::WrongLength { expected: N, found: hex.len() });
        }
        let mut out = String::new();
        for c in hex.chars() {
            if !c.is_ascii_hexdigit() {
                return Err(HexDigestError::NotHex);
            }
            // Length was checked above, so this push cannot fail; map it anyway.
            out.push(c.to_ascii_lowercase())
                .map_err(|_| HexDigestError::WrongLength { expected: N, found: hex.len() })?;
        }
        Ok(Self(out))
    }

    /// The digest as lowercase hex.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl<const N: usize> TryFrom<String<N>> for HexDigest<N> {
    type Error = HexDigestError;
    fn try_from(value: String<N>) -> Result<Self, Self::Error> {
        Self::from_hex(value.as_str())
    }
}

impl<const N: usize> From<HexDigest<N>> for String<N> {
    fn from(value: HexDigest<N>) -> Self {
        value.0
    }
}

impl<const N: usize> fmt::Debug for HexDigest<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDigest<{N}>(..)")
    }
}

/// A one-time enrollment token, created by the operator for one school and presented once by
/// its box. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentToken(pub String<MAX_TOKEN_LEN>);

impl EnrollmentToken {
    /// Builds a token from text.
    pub fn new(token: &str) -> Result<Self, TooLong> {
        bounded(token).map(Self)
    }
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrollmentToken(..)")
    }
}

/// A box's long-term credential: 256 random bits that the cloud issues at enrollment. The cloud
/// keeps only a hash of it. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxCredential(pub [u8; CREDENTIAL_LEN]);

impl BoxCredential {
    /// Compares in time independent of where the credentials differ.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl fmt::Debug for BoxCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxCredential(..)")
    }
}

/// A fallback-trunk password, needed in clear to answer the carrier's digest challenge (whose
/// realm is not known in advance). Travels only inside the TLS-protected control link. `Debug`
/// does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Password(pub String<MAX_PASSWORD_LEN>);

impl Password {
    /// Builds a password from text.
    pub fn new(password: &str) -> Result<Self, TooLong> {
        bounded(password).map(Self)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}
