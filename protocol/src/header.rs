//! Header names: the ones Carillon reads, recognised case-insensitively and in their compact
//! forms (RFC 3261 §7.3.3, §20), and everything else kept as it was written.

macro_rules! header_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal $(, $compact:literal)? ;)*) => {
        /// A header field name as Carillon knows it. Unknown names are [`HeaderKind::Other`];
        /// the name as written stays available in [`Header::name`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderKind {
            $( $(#[$doc])* $variant, )*
            /// Any other header, kept as it is.
            Other,
        }

        /// Every known kind, for tests that the lookup covers them all.
        #[cfg(test)]
        pub(crate) const ALL: &[HeaderKind] = &[$( HeaderKind::$variant, )*];

        impl HeaderKind {
            /// The canonical (long) name, e.g. `Call-ID`; `None` for [`HeaderKind::Other`].
            pub const fn canonical(self) -> Option<&'static str> {
                match self {
                    $( HeaderKind::$variant => Some($name), )*
                    HeaderKind::Other => None,
                }
            }

            /// Recognises a name as written, long or compact, in any letter case.
            pub fn from_name(name: &[u8]) -> HeaderKind {
                if let [c] = name {
                    return match c.to_ascii_lowercase() {
                        $( $( $compact => HeaderKind::$variant, )? )*
                        _ => HeaderKind::Other,
                    };
                }
                // Bucket by length first: one or a few comparisons per header instead of
                // one per known name (this runs for every header line of every message).
                let candidates: &[(&[u8], HeaderKind)] = match name.len() {
                    2 => &[(b"to", HeaderKind::To)],
                    3 => &[(b"via", HeaderKind::Via)],
                    4 => &[(b"from", HeaderKind::From), (b"cseq", HeaderKind::CSeq), (b"path", HeaderKind::Path), (b"date", HeaderKind::Date)],
                    5 => &[(b"allow", HeaderKind::Allow), (b"event", HeaderKind::Event), (b"route", HeaderKind::Route)],
                    6 => &[(b"accept", HeaderKind::Accept), (b"server", HeaderKind::Server)],
                    7 => &[(b"contact", HeaderKind::Contact), (b"call-id", HeaderKind::CallId), (b"expires", HeaderKind::Expires), (b"require", HeaderKind::Require), (b"subject", HeaderKind::Subject), (b"warning", HeaderKind::Warning)],
                    8 => &[(b"refer-to", HeaderKind::ReferTo), (b"identity", HeaderKind::Identity)],
                    9 => &[(b"supported", HeaderKind::Supported), (b"timestamp", HeaderKind::Timestamp)],
                    10 => &[(b"user-agent", HeaderKind::UserAgent)],
                    11 => &[(b"min-expires", HeaderKind::MinExpires), (b"referred-by", HeaderKind::ReferredBy), (b"retry-after", HeaderKind::RetryAfter), (b"unsupported", HeaderKind::Unsupported)],
                    12 => &[(b"content-type", HeaderKind::ContentType), (b"max-forwards", HeaderKind::MaxForwards), (b"allow-events", HeaderKind::AllowEvents), (b"record-route", HeaderKind::RecordRoute)],
                    13 => &[(b"authorization", HeaderKind::Authorization), (b"proxy-require", HeaderKind::ProxyRequire)],
                    14 => &[(b"content-length", HeaderKind::ContentLength)],
                    15 => &[(b"session-expires", HeaderKind::SessionExpires)],
                    16 => &[(b"www-authenticate", HeaderKind::WwwAuthenticate), (b"content-encoding", HeaderKind::ContentEncoding)],
                    18 => &[(b"proxy-authenticate", HeaderKind::ProxyAuthenticate)],
                    19 => &[(b"proxy-authorization", HeaderKind::ProxyAuthorization)],
                    _ => &[],
                };
                // The name is all token bytes (checked by the caller); against a lower-case
                // canonical name made of letters and '-', `b | 0x20` folds case exactly:
                // the only other byte it could match is a control character, never a token.
                for (lower, k) in candidates {
                    if name.iter().zip(lower.iter()).all(|(a, b)| (a | 0x20) == *b) {
                        return *k;
                    }
                }
                HeaderKind::Other
            }
        }
    };
}

header_kinds! {
    /// `Via` / `v`.
    Via = "Via", b'v';
    /// `From` / `f`.
    From = "From", b'f';
    /// `To` / `t`.
    To = "To", b't';
    /// `Call-ID` / `i`.
    CallId = "Call-ID", b'i';
    /// `CSeq`.
    CSeq = "CSeq";
    /// `Contact` / `m`.
    Contact = "Contact", b'm';
    /// `Max-Forwards`.
    MaxForwards = "Max-Forwards";
    /// `Expires`.
    Expires = "Expires";
    /// `Content-Length` / `l`.
    ContentLength = "Content-Length", b'l';
    /// `Content-Type` / `c`.
    ContentType = "Content-Type", b'c';
    /// `Content-Encoding` / `e`.
    ContentEncoding = "Content-Encoding", b'e';
    /// `Subject` / `s`.
    Subject = "Subject", b's';
    /// `Supported` / `k`.
    Supported = "Supported", b'k';
    /// `Require`.
    Require = "Require";
    /// `Proxy-Require`.
    ProxyRequire = "Proxy-Require";
    /// `Unsupported`.
    Unsupported = "Unsupported";
    /// `Allow`.
    Allow = "Allow";
    /// `Allow-Events` / `u`.
    AllowEvents = "Allow-Events", b'u';
    /// `Event` / `o`.
    Event = "Event", b'o';
    /// `Refer-To` / `r`.
    ReferTo = "Refer-To", b'r';
    /// `Referred-By` / `b`.
    ReferredBy = "Referred-By", b'b';
    /// `Session-Expires` / `x`.
    SessionExpires = "Session-Expires", b'x';
    /// `Identity` / `y`.
    Identity = "Identity", b'y';
    /// `Accept`.
    Accept = "Accept";
    /// `Route`.
    Route = "Route";
    /// `Record-Route`.
    RecordRoute = "Record-Route";
    /// `Path` (RFC 3327).
    Path = "Path";
    /// `Authorization`.
    Authorization = "Authorization";
    /// `Proxy-Authorization`.
    ProxyAuthorization = "Proxy-Authorization";
    /// `WWW-Authenticate`.
    WwwAuthenticate = "WWW-Authenticate";
    /// `Proxy-Authenticate`.
    ProxyAuthenticate = "Proxy-Authenticate";
    /// `Date`.
    Date = "Date";
    /// `Retry-After`.
    RetryAfter = "Retry-After";
    /// `Warning`.
    Warning = "Warning";
    /// `User-Agent`.
    UserAgent = "User-Agent";
    /// `Server`.
    Server = "Server";
    /// `Min-Expires`.
    MinExpires = "Min-Expires";
    /// `Timestamp`.
    Timestamp = "Timestamp";
}

impl HeaderKind {
    /// Headers that may appear only once (RFC 3261 §7.3.1 and §20: not list-valued).
    pub const fn is_single(self) -> bool {
        matches!(
            self,
            HeaderKind::From
                | HeaderKind::To
                | HeaderKind::CallId
                | HeaderKind::CSeq
                | HeaderKind::MaxForwards
                | HeaderKind::ContentLength
                | HeaderKind::ContentType
                | HeaderKind::Expires
                | HeaderKind::Date
        )
    }
}

/// One header line of a parsed message, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The recognised name.
    pub kind: HeaderKind,
    /// The name as written (e.g. `v`, `VIA`, `X-Custom`).
    pub name: &'a [u8],
    /// The value with surrounding white space removed; folded lines stay inside as they were.
    pub value: &'a [u8],
    /// Offset of the header line's first byte in the message.
    pub line_start: u32,
    /// Offset just past the header line's terminating line break (folds included).
    pub line_end: u32,
}

impl Header<'static> {
    /// An empty slot, for initialising the caller's header array.
    pub const EMPTY: Header<'static> =
        Header { kind: HeaderKind::Other, name: &[], value: &[], line_start: 0, line_end: 0 };
}

impl Default for Header<'_> {
    fn default() -> Self {
        Header::EMPTY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderKind::from_name(b"v"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"V"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"vIA"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"i"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"call-id"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"C%6Fntact"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"q"), HeaderKind::Other);
        for k in ALL {
            let name = k.canonical().unwrap();
            assert_eq!(HeaderKind::from_name(name.as_bytes()), *k, "{name}");
            let upper: [u8; 32] = core::array::from_fn(|i| name.as_bytes().get(i).map_or(0, u8::to_ascii_uppercase));
            assert_eq!(HeaderKind::from_name(&upper[..name.len()]), *k, "{name}");
        }
        for c in b"vitfmlckseourbxy" {
            assert_ne!(HeaderKind::from_name(&[*c]), HeaderKind::Other, "{}", *c as char);
        }
    }
}
