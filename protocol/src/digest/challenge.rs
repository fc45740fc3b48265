//! `WWW-Authenticate` / `Proxy-Authenticate` values: parsed by clients, written by servers.

use super::lex::{is_token, split_scheme, Params};
use super::write::Out;
use super::{Algorithm, DigestError, EscapedStr, Malformed, Qop};

/// A parsed `Digest` challenge: the value of a `WWW-Authenticate` or `Proxy-Authenticate`
/// header field (RFC 3261 §20.44, §20.27, §22.4; RFC 7616 §3.3), borrowing from the input.
///
/// Parsing checks the syntax and the parameters this module uses; it does not reject what a
/// client may simply skip: an unknown algorithm parses, and [`algorithm`](Self::algorithm)
/// reports it, so that a client can ignore this challenge and answer another one
/// (RFC 7616 §3.3, RFC 8760 §2).
#[derive(Clone, Copy, Debug)]
pub struct Challenge<'a> {
    realm: EscapedStr<'a>,
    nonce: EscapedStr<'a>,
    opaque: Option<EscapedStr<'a>>,
    domain: Option<EscapedStr<'a>>,
    algorithm: Option<&'a str>,
    qop: Option<&'a str>,
    stale: bool,
    userhash: bool,
    input: &'a [u8],
    params_at: usize,
}

/// Stores a parameter, refusing a second one (RFC 7616 §3.3, §3.4: each appears once).
pub(crate) fn once<'a>(
    slot: &mut Option<EscapedStr<'a>>,
    value: EscapedStr<'a>,
    name: &'static str,
) -> Result<(), DigestError> {
    match slot.replace(value) {
        Some(_) => Err(Malformed::Duplicate(name).into()),
        None => Ok(()),
    }
}

/// A parameter whose value must be a token even when it arrives quoted (RFC 7235 §2.1 lets
/// either form carry it). Escapes are refused: no token needs one.
pub(crate) fn token_value<'a>(value: EscapedStr<'a>, name: &'static str) -> Result<&'a str, DigestError> {
    value.as_unescaped().filter(|v| is_token(v.as_bytes())).ok_or(Malformed::InvalidValue(name).into())
}

/// The `TRUE`/`FALSE` flags (`stale`, `userhash`): anything but a case-insensitive `true` is
/// false (RFC 2617 §3.2.1, RFC 7616 §3.3).
pub(crate) fn flag(value: Option<EscapedStr<'_>>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(b"true"))
}

impl<'a> Challenge<'a> {
    /// Parses a challenge header value (without the header name and colon).
    ///
    /// Accepts linear whitespace and folded lines around the separators, tokens or
    /// quoted-strings for every parameter (RFC 7235 §2.1), any case in the scheme and
    /// parameter names; ignores unknown parameters. Requires `realm` and `nonce`
    /// (RFC 2617 §3.2.1). A scheme other than `Digest` is [`DigestError::OtherScheme`],
    /// whatever follows it.
    pub fn parse(value: &'a [u8]) -> Result<Self, DigestError> {
        let (scheme, params_at) = split_scheme(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::OtherScheme);
        }
        let (mut realm, mut nonce, mut opaque, mut domain) = (None, None, None, None);
        let (mut algorithm, mut qop, mut stale, mut userhash) = (None, None, None, None);
        for param in Params::new(value, params_at) {
            let (name, v) = param?;
            let slot = match name {
                _ if name.eq_ignore_ascii_case("realm") => (&mut realm, "realm"),
                _ if name.eq_ignore_ascii_case("nonce") => (&mut nonce, "nonce"),
                _ if name.eq_ignore_ascii_case("opaque") => (&mut opaque, "opaque"),
                _ if name.eq_ignore_ascii_case("domain") => (&mut domain, "domain"),
                _ if name.eq_ignore_ascii_case("algorithm") => (&mut algorithm, "algorithm"),
                _ if name.eq_ignore_ascii_case("qop") => (&mut qop, "qop"),
                _ if name.eq_ignore_ascii_case("stale") => (&mut stale, "stale"),
                _ if name.eq_ignore_ascii_case("userhash") => (&mut userhash, "userhash"),
                _ => continue,
            };
            once(slot.0, v, slot.1)?;
        }
        let qop = qop.map(qop_list).transpose()?;
        Ok(Self {
            realm: realm.ok_or(DigestError::MissingParam("realm"))?,
            nonce: nonce.ok_or(DigestError::MissingParam("nonce"))?,
            opaque,
            domain,
            algorithm: algorithm.map(|a| token_value(a, "algorithm")).transpose()?,
            qop,
            stale: flag(stale),
            userhash: flag(userhash),
            input: value,
            params_at,
        })
    }

    /// The protection space (RFC 7616 §3.3 `realm`), shown to users and hashed into HA1.
    pub fn realm(&self) -> EscapedStr<'a> {
        self.realm
    }

    /// The server's nonce, to hash and echo back unchanged.
    pub fn nonce(&self) -> EscapedStr<'a> {
        self.nonce
    }

    /// The `opaque` string, to echo back unchanged (RFC 7616 §3.3).
    pub fn opaque(&self) -> Option<EscapedStr<'a>> {
        self.opaque
    }

    /// The `domain` list of URIs (RFC 7616 §3.3), unparsed; SIP does not use it
    /// (RFC 3261 §22.4).
    pub fn domain(&self) -> Option<EscapedStr<'a>> {
        self.domain
    }

    /// The algorithm to answer with: [`Algorithm::Md5`] when absent (RFC 2617 §3.2.1),
    /// [`DigestError::UnsupportedAlgorithm`] when unknown or SHA-512-256.
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        self.algorithm.map_or(Ok(Algorithm::Md5), |a| Algorithm::parse(a.as_bytes()))
    }

    /// The `algorithm` token as sent, if any.
    pub fn algorithm_param(&self) -> Option<&'a str> {
        self.algorithm
    }

    /// Whether the challenge has a `qop` parameter. Without one, clients answer in the
    /// RFC 2069 form (RFC 2617 §3.2.2.1).
    pub fn has_qop(&self) -> bool {
        self.qop.is_some()
    }

    /// The tokens of the `qop` list (RFC 7616 §3.3), in order, unknown ones included.
    pub fn qop_options(&self) -> QopOptions<'a> {
        QopOptions { rest: self.qop.unwrap_or("") }
    }

    /// Whether the `qop` list offers `qop`.
    pub fn offers(&self, qop: Qop) -> bool {
        self.qop_options().any(|option| Qop::parse(option.as_bytes()) == Some(qop))
    }

    /// `stale=TRUE`: the previous nonce expired but the credentials were right, so the
    /// client retries without asking the user again (RFC 7616 §3.3).
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// `userhash=true`: the server accepts a hashed username (RFC 7616 §3.4.4).
    pub fn userhash(&self) -> bool {
        self.userhash
    }

    /// All parameters in order, unknown ones included, for extensions this type does not
    /// know. Never yields an error for a value that [`parse`](Self::parse) accepted.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.input, self.params_at)
    }
}

/// Checks the `qop` list: tokens separated by commas, whitespace allowed around them.
fn qop_list(value: EscapedStr<'_>) -> Result<&str, DigestError> {
    let invalid = DigestError::Malformed(Malformed::InvalidValue("qop"));
    let raw = value.as_unescaped().ok_or(invalid)?;
    let all_tokens = raw.split(',').all(|item| is_token(item.trim_matches([' ', '\t']).as_bytes()));
    if all_tokens {
        Ok(raw)
    } else {
        Err(invalid)
    }
}

/// The tokens of a challenge's `qop` list, made by [`Challenge::qop_options`].
#[derive(Clone, Debug)]
pub struct QopOptions<'a> {
    rest: &'a str,
}

impl<'a> Iterator for QopOptions<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while !self.rest.is_empty() {
            let (item, rest) = self.rest.split_once(',').unwrap_or((self.rest, ""));
            self.rest = rest;
            let item = item.trim_matches([' ', '\t']);
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// What a server puts in a challenge, for [`write`](Self::write).
///
/// Values are given unescaped; the writer quotes and escapes them. The nonce and opaque
/// come from the caller, who owns randomness and nonce lifetimes (RFC 7616 §3.3 and §5.4
/// describe what a good nonce holds).
#[derive(Clone, Copy, Debug)]
pub struct ChallengeParams<'a> {
    /// The protection space, e.g. the school's SIP domain.
    pub realm: &'a str,
    /// A fresh, unpredictable nonce; must not be empty.
    pub nonce: &'a str,
    /// Server state the client echoes back unchanged, if any.
    pub opaque: Option<&'a str>,
    /// The algorithm to ask for. RFC 8760 §2: to offer several, send one challenge per
    /// algorithm, the preferred one first.
    pub algorithm: Algorithm,
    /// Offer `qop="auth"`. RFC 7616 §3.3 requires it; turn it off only for RFC 2069 clients.
    pub qop_auth: bool,
    /// `stale=TRUE`: the request carried a valid response for an expired nonce.
    pub stale: bool,
}

impl<'a> ChallengeParams<'a> {
    /// A challenge for `realm` and `nonce` with the defaults: MD5 (what every SIP phone
    /// speaks), `qop="auth"`, no opaque, not stale.
    pub fn new(realm: &'a str, nonce: &'a str) -> Self {
        Self { realm, nonce, opaque: None, algorithm: Algorithm::Md5, qop_auth: true, stale: false }
    }

    /// Writes the header value into `out` and returns its length, e.g.
    /// `Digest realm="example.com", nonce="...", algorithm=MD5, qop="auth"`.
    ///
    /// Quoting follows RFC 7616 §3.3: `realm`, `nonce`, `opaque` and `qop` quoted,
    /// `algorithm` and `stale` not. Errors: [`DigestError::BufferTooSmall`] (the content of
    /// `out` is then unspecified); [`DigestError::InvalidArgument`] for an empty nonce or a
    /// control character in a value.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, DigestError> {
        if self.nonce.is_empty() {
            return Err(DigestError::InvalidArgument("nonce is empty"));
        }
        let mut out = Out::digest(out)?;
        out.quoted_param("realm", self.realm)?;
        out.quoted_param("nonce", self.nonce)?;
        if let Some(opaque) = self.opaque {
            out.quoted_param("opaque", opaque)?;
        }
        out.token_param("algorithm", self.algorithm.as_str().as_bytes())?;
        if self.qop_auth {
            out.quoted_param("qop", Qop::Auth.as_str())?;
        }
        if self.stale {
            out.token_param("stale", b"TRUE")?;
        }
        Ok(out.finish())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point
mod tests {
    use super::*;

    #[test]
    fn qop_options_split_and_trim() {
        let c = Challenge::parse(br#"Digest realm="r", nonce="n", qop=" auth , auth-int,x""#).unwrap();
        let mut options = c.qop_options();
        assert_eq!(options.next(), Some("auth"));
        assert_eq!(options.next(), Some("auth-int"));
        assert_eq!(options.next(), Some("x"));
        assert_eq!(options.next(), None);
        assert!(c.offers(Qop::Auth) && c.offers(Qop::AuthInt));
    }

    #[test]
    fn qop_must_be_a_token_list() {
        for bad in [
            &br#"Digest realm="r", nonce="n", qop="auth,,auth-int""#[..],
            br#"Digest realm="r", nonce="n", qop="""#,
            br#"Digest realm="r", nonce="n", qop="auth;x""#,
            br#"Digest realm="r", nonce="n", qop="a\uth""#,
        ] {
            assert_eq!(
                Challenge::parse(bad).err(),
                Some(DigestError::Malformed(Malformed::InvalidValue("qop"))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flags_are_true_only_for_true() {
        let c = Challenge::parse(br#"Digest realm="r", nonce="n", stale="TrUe", userhash=yes"#).unwrap();
        assert!(c.stale());
        assert!(!c.userhash());
    }
}
