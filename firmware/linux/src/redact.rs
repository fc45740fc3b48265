//! Personal data in logs is a type (STYLE.md habit 11): phone numbers, SIP URIs and LAN
//! addresses are logged through [`Redacted`], which prints a short tag instead of the value
//! (the same value always gives the same tag, so a log can still be followed) unless the
//! operator turned `log_personal_data` on.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW: AtomicBool = AtomicBool::new(false);

/// Whether [`Redacted`] prints values in clear (set once at start from the configuration).
pub fn show_personal_data(show: bool) {
    SHOW.store(show, Ordering::Relaxed);
}

/// A value that identifies a person (a number, a URI, a phone's address): shown as
/// `‹#1a2b3c›`, a 24-bit FNV-1a tag of its text, unless personal data logging is on.
#[derive(Clone, Copy)]
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if SHOW.load(Ordering::Relaxed) {
            return self.0.fmt(f);
        }
        let text = self.0.to_string();
        let mut h: u32 = 0x811c_9dc5;
        for b in text.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        write!(f, "‹#{:06x}›", h & 0x00ff_ffff)
    }
}

impl<T: fmt::Display> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hidden_but_stable() {
        let a = Redacted("127.0.0.1:5062").to_string();
        assert!(!a.contains("127"), "{a}");
        assert_eq!(a, Redacted("127.0.0.1:5062").to_string());
        assert_ne!(a, Redacted("127.0.0.1:5063").to_string());
        assert!(!format!("{:?}", Redacted("0123456789")).contains("0123"));
    }
}
