//! Header names: the ones Carillon reads, recognised case-insensitively and in their compact
//! forms (RFC 3261 §7.3.3, §20), and everything else kept as it was written.

use crate::lex::eq_ic;

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
                $( if eq_ic(name, $name.as_bytes()) { return HeaderKind::$variant; } )*
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
        for c in b"vitfmlckseourbxy" {
            assert_ne!(HeaderKind::from_name(&[*c]), HeaderKind::Other, "{}", *c as char);
        }
    }
}
