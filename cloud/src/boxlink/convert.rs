//! Conversions between the control link's wire types and the store's.

use carillon_protocol::control::{BoxCredential, CallOutcome, CallRecord, EnrollmentToken, Mode, CREDENTIAL_LEN};

use crate::model::{BoxCallRecord, CallEvent, Direction, Outcome};

/// Prefix of the store's box credentials (`secrets::new_token("cx_")`).
const CREDENTIAL_PREFIX: &str = "cx_";
/// Prefix of the store's enrollment tokens (`secrets::new_token("ce_")`).
const TOKEN_PREFIX: &str = "ce_";

/// The store's credential text (`cx_` + 64 hex digits) as the 32 bytes the box keeps.
pub(crate) fn credential_to_wire(text: &str) -> Option<BoxCredential> {
    let hex = text.strip_prefix(CREDENTIAL_PREFIX)?;
    if hex.len() != CREDENTIAL_LEN * 2 {
        return None;
    }
    let mut out = [0u8; CREDENTIAL_LEN];
    for (slot, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(s, 16).ok()?;
    }
    Some(BoxCredential(out))
}

/// The 32 bytes a box presents as the store's credential text.
pub(crate) fn credential_from_wire(c: &BoxCredential) -> String {
    let mut s = String::with_capacity(CREDENTIAL_PREFIX.len() + CREDENTIAL_LEN * 2);
    s.push_str(CREDENTIAL_PREFIX);
    for b in c.0 {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The enrollment token as the store issued it. The API shows `ce_` + 64 hex digits (67
/// bytes), one more than the wire's 64-byte token field holds, so a box sends the 64 digits
/// and the prefix is put back here; a token sent whole (with `ce_`) is taken as it is.
pub(crate) fn token_from_wire(t: &EnrollmentToken) -> String {
    let t = t.0.as_str().trim();
    if t.starts_with(TOKEN_PREFIX) {
        t.to_owned()
    } else {
        format!("{TOKEN_PREFIX}{t}")
    }
}

/// The stored name of a box mode.
pub(crate) fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Online => "online",
        Mode::Survival => "survival",
        Mode::Recovering => "recovering",
        _ => "unknown",
    }
}

/// The user part of an address of record (`sip:user@host`, `<sips:user@host;...>`).
pub(crate) fn aor_user(aor: &str) -> Option<&str> {
    let a = aor.trim().trim_start_matches('<');
    let rest = a.strip_prefix("sip:").or_else(|| a.strip_prefix("sips:"))?;
    let user = rest.split('@').next()?;
    if rest.contains('@') && !user.is_empty() {
        Some(user)
    } else {
        None
    }
}

/// A contact URI without the angle brackets a box may have kept from the Contact header.
pub(crate) fn bare_uri(uri: &str) -> &str {
    let u = uri.trim();
    u.strip_prefix('<').and_then(|x| x.split('>').next()).unwrap_or(u)
}

/// Why a record cannot be taken from the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// The record names another box.
    OtherBox,
    /// A number does not fit the store's 64-bit integers.
    OutOfRange,
}

/// A journalled call as the store ingests it. Times are whole seconds (the store's unit);
/// box calls are calls its phones placed. An emergency call handed to the fallback trunk is
/// `answered` when it was, else `failed`; a call the box refused is `failed`.
pub(crate) fn record_from_wire(box_id: i64, r: &CallRecord) -> Result<BoxCallRecord, RecordError> {
    if i64::try_from(r.box_id.0).ok() != Some(box_id) {
        return Err(RecordError::OtherBox);
    }
    let secs = |t: u64| i64::try_from(t).map_err(|_| RecordError::OutOfRange);
    let outcome = match r.outcome {
        CallOutcome::Answered => Outcome::Answered,
        CallOutcome::Busy => Outcome::Busy,
        CallOutcome::NoAnswer => Outcome::NoAnswer,
        CallOutcome::EmergencyToFallback if r.answer.is_some() => Outcome::Answered,
        _ => Outcome::Failed,
    };
    let answered_at = match (outcome, r.answer) {
        (Outcome::Answered, Some(a)) => Some(secs(a.secs)?),
        _ => None,
    };
    Ok(BoxCallRecord {
        seq: secs(r.seq)?,
        call: CallEvent {
            caller: r.caller.as_str().to_owned(),
            callee: r.callee.as_str().to_owned(),
            direction: Direction::Outbound,
            started_at: secs(r.start.secs)?,
            answered_at,
            ended_at: secs(r.end.secs)?,
            outcome,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_and_bad_ones_are_refused() {
        let text = format!("cx_{}", "0f".repeat(32));
        let wire = credential_to_wire(&text).expect("store format");
        assert_eq!(wire.0, [0x0f; 32]);
        assert_eq!(credential_from_wire(&wire), text);
        assert!(credential_to_wire("cx_0f").is_none());
        assert!(credential_to_wire(&format!("cb_{}", "0f".repeat(32))).is_none());
        assert!(credential_to_wire(&format!("cx_{}", "zz".repeat(32))).is_none());
    }

    #[test]
    fn aor_users_and_uris() {
        assert_eq!(aor_user("sip:1234-201@carillon"), Some("1234-201"));
        assert_eq!(aor_user("<sips:1234-201@carillon;x=y>"), Some("1234-201"));
        assert_eq!(aor_user("sip:carillon"), None);
        assert_eq!(aor_user("tel:+3221234567"), None);
        assert_eq!(bare_uri("<sip:201@10.0.0.5:5060>"), "sip:201@10.0.0.5:5060");
        assert_eq!(bare_uri("sip:201@10.0.0.5"), "sip:201@10.0.0.5");
    }
}
