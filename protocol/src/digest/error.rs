//! What can go wrong with digest authentication, who is to blame, and the SIP status it maps to.

use core::fmt;

/// Who caused a [`DigestError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The peer sent a header we cannot use: answer it (see [`DigestError::status`]).
    Peer,
    /// Our own misuse: an output buffer too small, an argument that cannot be written.
    Local,
}

/// Why a header value failed to parse (RFC 3261 §25.1 grammar, RFC 7235 §2.1 auth-params).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The value is empty or only whitespace: there is no auth-scheme.
    Empty,
    /// The value does not start with an auth-scheme token followed by whitespace.
    Scheme,
    /// A parameter name (token) was expected: an empty list element or a trailing comma.
    ParamName,
    /// A parameter name is not followed by `=`.
    Equals,
    /// A `=` is followed by neither a token nor a quoted-string.
    Value,
    /// A quoted-string has no closing `"`.
    UnterminatedQuote,
    /// CR or LF inside a quoted-string. Folding inside quotes is legal LWS but no user agent
    /// sends it, and unfolding would change what is hashed, so it is refused.
    LineBreakInQuotes,
    /// A control character (other than tab) inside a quoted-string (RFC 3261 §25.1 `qdtext`).
    ControlCharacter,
    /// A backslash followed by a byte that cannot be escaped (RFC 3261 §25.1 `quoted-pair`
    /// allows only ASCII other than CR and LF).
    Escape,
    /// A quoted-string is not valid UTF-8 (RFC 3261 §25.1 `UTF8-NONASCII`).
    NotUtf8,
    /// Something other than `,` or the end follows a parameter value. In SIP a header value
    /// holds exactly one challenge or credentials (RFC 3261 §20.7, §20.44).
    Separator,
    /// A parameter that RFC 7616 §3.3/§3.4 allows once appears twice; carries its name.
    Duplicate(&'static str),
    /// A known parameter has a value that breaks its grammar; carries its name
    /// (`nc` is not 8 hex digits, `response` is not 32 or 64 hex digits, `qop` is not a list
    /// of tokens, `algorithm` is not a token).
    InvalidValue(&'static str),
}

/// Everything digest authentication can reject.
///
/// Parse errors and the verification outcomes are the peer's fault; [`BufferTooSmall`] and
/// [`InvalidArgument`] are ours. [`status`](Self::status) maps each to the SIP response a
/// server sends once; the module never tracks nonces, so "stale or unknown nonce" is the
/// caller's decision and has no variant here.
///
/// [`BufferTooSmall`]: DigestError::BufferTooSmall
/// [`InvalidArgument`]: DigestError::InvalidArgument
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The header value does not parse (peer's fault, 400).
    Malformed(Malformed),
    /// A parameter required by RFC 7616 §3.3/§3.4 (or by `qop`, RFC 2617 §3.2.2) is absent;
    /// carries its name (peer's fault, 400).
    MissingParam(&'static str),
    /// The auth-scheme is not `Digest`, e.g. the `NoOneKnowsThisScheme` of RFC 4475's
    /// `regaut01` or `Basic`, which RFC 3261 §22.1 forbids (peer's fault, 401:
    /// challenge again with Digest).
    OtherScheme,
    /// The algorithm is unknown, unsupported (SHA-512-256) or not the one the stored HA1 was
    /// made with (peer's fault, 401: challenge again with what we support).
    UnsupportedAlgorithm,
    /// The qop is `auth-int` or unknown, or a `-sess` algorithm comes without `qop=auth`
    /// (peer's fault, 401).
    UnsupportedQop,
    /// The credentials are for another realm than ours (RFC 3261 §22.1; peer's fault, 401).
    WrongRealm,
    /// The `response` does not match: wrong password or tampered request (peer's fault, 403).
    BadResponse,
    /// The caller's output buffer is too small for the header value (our fault).
    BufferTooSmall,
    /// The caller passed a value that cannot be used; says which (our fault).
    InvalidArgument(&'static str),
}

impl DigestError {
    /// Who is to blame.
    pub const fn fault(&self) -> Fault {
        match self {
            Self::BufferTooSmall | Self::InvalidArgument(_) => Fault::Local,
            _ => Fault::Peer,
        }
    }

    /// The SIP status code a server answers with (RFC 3261 §21, §22.2, §22.3).
    ///
    /// 400 for a header that does not parse; 401 where a fresh challenge lets the client try
    /// again (a proxy sends 407 instead, RFC 3261 §22.3); 403 for a wrong `response` (a server
    /// MAY instead re-challenge with 401 and a new nonce); 500 for our own misuse.
    pub const fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::MissingParam(_) => 400,
            Self::OtherScheme | Self::UnsupportedAlgorithm | Self::UnsupportedQop | Self::WrongRealm => 401,
            Self::BadResponse => 403,
            Self::BufferTooSmall | Self::InvalidArgument(_) => 500,
        }
    }

    /// A short reason phrase to send with [`status`](Self::status); reveals nothing about the
    /// stored secret.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed Digest Header",
            Self::MissingParam(_) => "Missing Digest Parameter",
            Self::OtherScheme => "Digest Authentication Required",
            Self::UnsupportedAlgorithm => "Unsupported Digest Algorithm",
            Self::UnsupportedQop => "Unsupported Digest Qop",
            Self::WrongRealm => "Wrong Realm",
            Self::BadResponse => "Forbidden",
            Self::BufferTooSmall | Self::InvalidArgument(_) => "Server Internal Error",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty header value"),
            Self::Scheme => f.write_str("expected an auth-scheme followed by whitespace"),
            Self::ParamName => f.write_str("expected a parameter name"),
            Self::Equals => f.write_str("expected '=' after a parameter name"),
            Self::Value => f.write_str("expected a token or a quoted-string"),
            Self::UnterminatedQuote => f.write_str("unterminated quoted-string"),
            Self::LineBreakInQuotes => f.write_str("line break inside a quoted-string"),
            Self::ControlCharacter => f.write_str("control character inside a quoted-string"),
            Self::Escape => f.write_str("invalid backslash escape"),
            Self::NotUtf8 => f.write_str("quoted-string is not UTF-8"),
            Self::Separator => f.write_str("expected ',' between parameters"),
            Self::Duplicate(name) => write!(f, "parameter '{name}' appears twice"),
            Self::InvalidValue(name) => write!(f, "invalid value for parameter '{name}'"),
        }
    }
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed digest header: {m}"),
            Self::MissingParam(name) => write!(f, "missing digest parameter '{name}'"),
            Self::OtherScheme => f.write_str("auth-scheme is not Digest"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported digest algorithm"),
            Self::UnsupportedQop => f.write_str("unsupported digest qop"),
            Self::WrongRealm => f.write_str("credentials are for another realm"),
            Self::BadResponse => f.write_str("digest response does not match"),
            Self::BufferTooSmall => f.write_str("output buffer too small"),
            Self::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl core::error::Error for DigestError {}

impl From<Malformed> for DigestError {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}
