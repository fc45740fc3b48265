//! `carillon sip-check`: one verdict per message.

use carillon_protocol::{
    parse, proxy_checks, validate, Framing, Header, HeaderKind, ParseConfig, ParseError, StartLine, Status,
};

/// The option tags the box implements (RFC 3261 §16.3 step 5 compares Proxy-Require to these).
const SUPPORTED: &[&str] = &["path", "outbound", "timer", "100rel", "replaces"];

/// The outcome for one message.
pub enum Verdict {
    /// Well-formed: a description of what it is, and notes on what the box would do.
    Valid(String),
    /// Rejected: the reason, the status a server answers (or "dropped" for responses).
    Invalid(String),
}

impl Verdict {
    /// The output line for `file`.
    pub fn line(&self, file: &str) -> String {
        match self {
            Verdict::Valid(what) => format!("{file}\tvalid\t{what}"),
            Verdict::Invalid(why) => format!("{file}\tinvalid\t{why}"),
        }
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn rejected(err: ParseError, is_request: Option<bool>) -> Verdict {
    let action = match is_request {
        Some(false) => "response dropped".to_string(),
        _ => format!("answer {} {}", err.status(), err.standard_reason()),
    };
    Verdict::Invalid(format!("{}; {action}", err.detail()))
}

/// Checks one message as a single UDP datagram from a phone.
pub fn verdict(bytes: &[u8]) -> Verdict {
    let mut headers = [Header::EMPTY; 128];
    let looks_like_response = bytes.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    let msg = match parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) {
        Ok(Status::Complete(m)) => m,
        Ok(Status::Partial) => return Verdict::Invalid("empty message (keep-alive); nothing to answer".into()),
        Err(e) => return rejected(e, Some(!looks_like_response)),
    };
    if let Err(e) = validate(&msg) {
        return rejected(e, Some(msg.is_request()));
    }
    let mut what = match msg.start {
        StartLine::Request { method, uri } => format!("{method} request for {}", show(uri)),
        StartLine::Response { code, reason } => {
            let method = msg.cseq().and_then(Result::ok).map(|c| c.method.as_str()).unwrap_or("?");
            format!("{code} {} response to {method}", show(reason))
        }
    };
    let vias = msg.vias().count();
    what.push_str(&format!(", {} header lines, {vias} Via, body {} bytes", msg.headers.len(), msg.body.len()));
    if let Some(ct) = msg.value(HeaderKind::ContentType) {
        what.push_str(&format!(" ({})", show(ct)));
    }
    if msg.len < bytes.len() {
        what.push_str(&format!("; {} trailing bytes after Content-Length ignored", bytes.len() - msg.len));
    }
    if msg.is_request() {
        if let Some(refusal) = proxy_checks(&msg, SUPPORTED) {
            what.push_str(&format!("; the box as proxy answers {} {}", refusal.status(), refusal.reason()));
        }
        if let Some(Ok(v)) = msg.top_via() {
            if !v.has_rfc3261_branch() {
                what.push_str("; RFC 2543 branch (transaction matched the pre-3261 way)");
            }
        }
    }
    Verdict::Valid(what)
}
