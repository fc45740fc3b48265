//! `Authorization` / `Proxy-Authorization` values: written by clients, parsed by servers.

use core::fmt;

use super::challenge::{flag, once, token_value};
use super::hash::{h, nc_hex, response_auth, response_no_qop, Piece};
use super::lex::{split_scheme, Params};
use super::write::Out;
use super::{Algorithm, Challenge, DigestError, EscapedStr, Malformed, Qop, StoredHa1};

/// Parsed `Digest` credentials: the value of an `Authorization` or `Proxy-Authorization`
/// header field (RFC 3261 §20.7, §20.28, §22.4; RFC 7616 §3.4), borrowing from the input.
///
/// Parsing checks the syntax, the required parameters and the grammar of `response`, `nc`,
/// `qop` and `algorithm`. Whether the algorithm and qop are ones we can verify is left to
/// [`verify`](super::verify), so that the answer can be a fresh challenge rather than a 400.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    username: EscapedStr<'a>,
    realm: EscapedStr<'a>,
    nonce: EscapedStr<'a>,
    uri: EscapedStr<'a>,
    response: &'a str,
    algorithm: Option<&'a str>,
    cnonce: Option<EscapedStr<'a>>,
    opaque: Option<EscapedStr<'a>>,
    qop: Option<&'a str>,
    nc: Option<(&'a str, u32)>,
    userhash: bool,
    input: &'a [u8],
    params_at: usize,
}

impl<'a> Credentials<'a> {
    /// Parses a credentials header value (without the header name and colon).
    ///
    /// Same lexical rules as [`Challenge::parse`]. Requires `username`, `realm`, `nonce`,
    /// `uri` and `response` (RFC 2617 §3.2.2), and `cnonce` and `nc` when `qop` is present
    /// (RFC 7616 §3.4). `response` must be 32 or 64 hex digits, `nc` exactly 8
    /// (RFC 7616 §3.4, RFC 3261 §25.1 `nonce-count`). The extended `username*` form
    /// (RFC 7616 §3.4.4) is not supported: it is ignored, so `username` is still required.
    pub fn parse(value: &'a [u8]) -> Result<Self, DigestError> {
        let (scheme, params_at) = split_scheme(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::OtherScheme);
        }
        let (mut username, mut realm, mut nonce, mut uri) = (None, None, None, None);
        let (mut response, mut algorithm, mut cnonce, mut opaque) = (None, None, None, None);
        let (mut qop, mut nc, mut userhash) = (None, None, None);
        for param in Params::new(value, params_at) {
            let (name, v) = param?;
            let slot = match name {
                _ if name.eq_ignore_ascii_case("username") => (&mut username, "username"),
                _ if name.eq_ignore_ascii_case("realm") => (&mut realm, "realm"),
                _ if name.eq_ignore_ascii_case("nonce") => (&mut nonce, "nonce"),
                _ if name.eq_ignore_ascii_case("uri") => (&mut uri, "uri"),
                _ if name.eq_ignore_ascii_case("response") => (&mut response, "response"),
                _ if name.eq_ignore_ascii_case("algorithm") => (&mut algorithm, "algorithm"),
                _ if name.eq_ignore_ascii_case("cnonce") => (&mut cnonce, "cnonce"),
                _ if name.eq_ignore_ascii_case("opaque") => (&mut opaque, "opaque"),
                _ if name.eq_ignore_ascii_case("qop") => (&mut qop, "qop"),
                _ if name.eq_ignore_ascii_case("nc") => (&mut nc, "nc"),
                _ if name.eq_ignore_ascii_case("userhash") => (&mut userhash, "userhash"),
                _ => continue,
            };
            once(slot.0, v, slot.1)?;
        }
        let username = username.ok_or(DigestError::MissingParam("username"))?;
        let realm = realm.ok_or(DigestError::MissingParam("realm"))?;
        let nonce = nonce.ok_or(DigestError::MissingParam("nonce"))?;
        let uri = uri.ok_or(DigestError::MissingParam("uri"))?;
        let response = response.ok_or(DigestError::MissingParam("response"))?;
        if qop.is_some() {
            // RFC 2617 §3.2.2: cnonce and nc MUST be sent with qop.
            cnonce.ok_or(DigestError::MissingParam("cnonce"))?;
            nc.ok_or(DigestError::MissingParam("nc"))?;
        }
        Ok(Self {
            username,
            realm,
            nonce,
            uri,
            response: hex_digest(response)?,
            algorithm: algorithm.map(|a| token_value(a, "algorithm")).transpose()?,
            cnonce,
            opaque,
            qop: qop.map(|q| token_value(q, "qop")).transpose()?,
            nc: nc.map(nonce_count).transpose()?,
            userhash: flag(userhash),
            input: value,
            params_at,
        })
    }

    /// The user name, or with [`userhash`](Self::userhash) its hash (RFC 7616 §3.4.4).
    pub fn username(&self) -> EscapedStr<'a> {
        self.username
    }

    /// The realm the client answered for.
    pub fn realm(&self) -> EscapedStr<'a> {
        self.realm
    }

    /// The nonce the client answered: the caller checks that it issued it, that it has not
    /// expired, and answers `stale=TRUE` if it has (RFC 7616 §3.3).
    pub fn nonce(&self) -> EscapedStr<'a> {
        self.nonce
    }

    /// The `uri` hashed into the response. RFC 3261 §22.4 and RFC 2617 §3.2.2.5: the
    /// server checks that it names the same resource as the Request-URI; that comparison
    /// belongs to the SIP layer, which knows URI equivalence.
    pub fn uri(&self) -> EscapedStr<'a> {
        self.uri
    }

    /// The response: 32 or 64 hex digits.
    pub fn response(&self) -> &'a str {
        self.response
    }

    /// The algorithm answered with: [`Algorithm::Md5`] when absent, an error when unknown.
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        self.algorithm.map_or(Ok(Algorithm::Md5), |a| Algorithm::parse(a.as_bytes()))
    }

    /// The `algorithm` token as sent, if any.
    pub fn algorithm_param(&self) -> Option<&'a str> {
        self.algorithm
    }

    /// The client nonce; present whenever `qop` is.
    pub fn cnonce(&self) -> Option<EscapedStr<'a>> {
        self.cnonce
    }

    /// The `opaque` echoed from the challenge; checking it is the caller's business.
    pub fn opaque(&self) -> Option<EscapedStr<'a>> {
        self.opaque
    }

    /// The qop answered with: `None` for the RFC 2069 form, an error for an unknown token.
    pub fn qop(&self) -> Result<Option<Qop>, DigestError> {
        self.qop.map(|q| Qop::parse(q.as_bytes()).ok_or(DigestError::UnsupportedQop)).transpose()
    }

    /// The `qop` token as sent, if any.
    pub fn qop_param(&self) -> Option<&'a str> {
        self.qop
    }

    /// The nonce count (RFC 7616 §3.4); present whenever `qop` is. Checking that it grows
    /// for each nonce is the caller's business.
    pub fn nc(&self) -> Option<u32> {
        self.nc.map(|(_, n)| n)
    }

    /// The nonce count's 8 hex digits as sent; these, not a reformatting, are hashed.
    pub fn nc_param(&self) -> Option<&'a str> {
        self.nc.map(|(raw, _)| raw)
    }

    /// `userhash=true`: [`username`](Self::username) is `H(username ":" realm)`
    /// (RFC 7616 §3.4.4; see [`userhash`](super::userhash)).
    pub fn userhash(&self) -> bool {
        self.userhash
    }

    /// All parameters in order, unknown ones included.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.input, self.params_at)
    }
}

/// `response` is hex digits: 32 for MD5, 64 for SHA-256 (RFC 7616 §3.4.1, RFC 3261 §25.1
/// `request-digest`).
fn hex_digest(value: EscapedStr<'_>) -> Result<&str, DigestError> {
    value
        .as_unescaped()
        .filter(|v| matches!(v.len(), 32 | 64) && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(Malformed::InvalidValue("response").into())
}

/// `nc` is exactly 8 hex digits (RFC 7616 §3.4, RFC 3261 §25.1 `nc-value = 8LHEX`);
/// uppercase is tolerated.
fn nonce_count(value: EscapedStr<'_>) -> Result<(&str, u32), DigestError> {
    value
        .as_unescaped()
        .filter(|v| v.len() == 8)
        .and_then(|v| Some((v, u32::from_str_radix(v, 16).ok()?)))
        .filter(|(v, _)| v.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(Malformed::InvalidValue("nc").into())
}

/// The client's secret: the password, or the HA1 computed from it.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// The password, hashed with the challenge's realm and algorithm.
    Password(&'a [u8]),
    /// A precomputed HA1; its algorithm must match the challenge's.
    Ha1(&'a StoredHa1),
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(..)"),
            Self::Ha1(ha1) => f.debug_tuple("Ha1").field(ha1).finish(),
        }
    }
}

/// What a client answers a challenge with, for [`write`](Self::write).
///
/// Values are given unescaped; the writer quotes and escapes them. The cnonce comes from the
/// caller, who owns randomness, and so does the nonce count, which the caller increments for
/// each request with the same nonce (RFC 7616 §3.4).
#[derive(Clone, Copy, Debug)]
pub struct CredentialsParams<'a> {
    /// The user name (in SIP usually the extension or the From user part).
    pub username: &'a str,
    /// The password or its HA1.
    pub secret: Secret<'a>,
    /// The request's method, e.g. `REGISTER` (RFC 3261 §22.4).
    pub method: &'a str,
    /// The Request-URI, e.g. `sip:school.example.org` (RFC 3261 §22.4).
    pub uri: &'a str,
    /// A fresh client nonce; used when the challenge offers `qop=auth`, and then must not be
    /// empty.
    pub cnonce: &'a str,
    /// The nonce count, written as 8 hex digits; starts at 1 for each nonce.
    pub nc: u32,
}

impl CredentialsParams<'_> {
    /// Answers `challenge`: computes the response and writes the whole header value into
    /// `out`, returning its length, e.g.
    /// `Digest username="101", realm="...", nonce="...", uri="sip:...", response="...",
    /// algorithm=MD5, cnonce="...", qop=auth, nc=00000001`.
    ///
    /// Uses `qop=auth` when the challenge offers it and the RFC 2069 form when it has no
    /// `qop`. Quoting follows RFC 7616 §3.4: `algorithm`, `qop` and `nc` unquoted; realm,
    /// nonce and opaque are echoed exactly as received.
    ///
    /// Errors: [`DigestError::UnsupportedAlgorithm`] and [`DigestError::UnsupportedQop`] when
    /// the challenge asks for what this module cannot compute (only `auth-int`, or `-sess`
    /// without qop); [`DigestError::InvalidArgument`] for an HA1 of another algorithm, an
    /// empty cnonce or a control character in a value; [`DigestError::BufferTooSmall`]
    /// (the content of `out` is then unspecified).
    pub fn write(&self, challenge: &Challenge<'_>, out: &mut [u8]) -> Result<usize, DigestError> {
        let algorithm = challenge.algorithm()?;
        let qop_auth = match (challenge.has_qop(), challenge.offers(Qop::Auth)) {
            (false, _) => false,
            (true, true) => true,
            (true, false) => return Err(DigestError::UnsupportedQop),
        };
        if qop_auth && self.cnonce.is_empty() {
            return Err(DigestError::InvalidArgument("cnonce is empty"));
        }
        let ha1 = match self.secret {
            Secret::Password(password) => {
                let username = self.username.as_bytes();
                h(algorithm, &[username.into(), challenge.realm().into(), password.into()])
            }
            Secret::Ha1(stored) if stored.algorithm() == algorithm.base() => *stored.hex(),
            Secret::Ha1(_) => return Err(DigestError::InvalidArgument("HA1 is for another algorithm")),
        };
        let nc = nc_hex(self.nc);
        let (method, uri) = (Piece::Bytes(self.method.as_bytes()), Piece::Bytes(self.uri.as_bytes()));
        let cnonce = Piece::Bytes(self.cnonce.as_bytes());
        let response = if qop_auth {
            response_auth(algorithm, &ha1, challenge.nonce().into(), Piece::Bytes(&nc), cnonce, method, uri)
        } else {
            response_no_qop(algorithm, &ha1, challenge.nonce().into(), method, uri)?
        };

        let mut out = Out::digest(out)?;
        out.quoted_param("username", self.username)?;
        out.escaped_param("realm", challenge.realm())?;
        out.escaped_param("nonce", challenge.nonce())?;
        out.quoted_param("uri", self.uri)?;
        out.quoted_param("response", response.as_str())?;
        out.token_param("algorithm", algorithm.as_str().as_bytes())?;
        if qop_auth {
            out.quoted_param("cnonce", self.cnonce)?;
        }
        if let Some(opaque) = challenge.opaque() {
            out.escaped_param("opaque", opaque)?;
        }
        if qop_auth {
            out.token_param("qop", Qop::Auth.as_str().as_bytes())?;
            out.token_param("nc", &nc)?;
        }
        Ok(out.finish())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point
mod tests {
    use super::*;

    const BASE: &str =
        r#"Digest username="u", realm="r", nonce="n", uri="sip:r", response="0123456789abcdef0123456789ABCDEF""#;

    #[test]
    fn minimal_rfc2069_credentials() {
        let c = Credentials::parse(BASE.as_bytes()).unwrap();
        assert_eq!(c.username().raw(), "u");
        assert_eq!(c.response(), "0123456789abcdef0123456789ABCDEF");
        assert_eq!(c.algorithm(), Ok(Algorithm::Md5));
        assert_eq!(c.qop(), Ok(None));
        assert_eq!(c.nc(), None);
        assert_eq!(c.params().count(), 5);
    }

    #[test]
    fn nonce_count_grammar() {
        fn parse(nc: &str) -> Result<(&str, u32), DigestError> {
            nonce_count(Params::new(nc.as_bytes(), 0).next().unwrap().unwrap().1)
        }
        assert_eq!(parse("nc=00000001"), Ok(("00000001", 1)));
        assert_eq!(parse("nc=\"0000000A\""), Ok(("0000000A", 10)));
        assert_eq!(parse("nc=ffffffff"), Ok(("ffffffff", u32::MAX)));
        for bad in ["nc=1", "nc=000000001", "nc=+0000001", "nc=0000000g", "nc=\"0000\\0001\""] {
            assert_eq!(parse(bad), Err(Malformed::InvalidValue("nc").into()), "{bad}");
        }
    }

    #[test]
    fn response_grammar() {
        fn parse(r: &str) -> Result<&str, DigestError> {
            hex_digest(Params::new(r.as_bytes(), 0).next().unwrap().unwrap().1)
        }
        assert!(parse("response=6629fae49393a05397450978507c4ef1").is_ok());
        for bad in
            ["response=6629fae49393a05397450978507c4ef", "response=6629fae49393a05397450978507c4efz", "response=\"\""]
        {
            assert_eq!(parse(bad), Err(Malformed::InvalidValue("response").into()), "{bad}");
        }
    }
}
