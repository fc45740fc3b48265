//! The one conversion between tokio's clock and the core's [`Instant`] (STYLE.md habit 1):
//! microseconds since the runtime started, on tokio's monotonic clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use carillon_protocol::control::UnixTime;
use carillon_protocol::Instant;

/// The runtime's clock: an origin on tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Clock {
        Clock { origin: tokio::time::Instant::now() }
    }

    /// Now, as the core counts time.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The tokio instant of a core deadline; a deadline beyond what tokio can represent (the
    /// core's "never") becomes a day from now, after which the loop simply asks again.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        self.origin.checked_add(Duration::from_micros(at.as_micros())).map_or(far, |t| t.min(far))
    }
}

/// The wall clock, for call records.
pub fn wall_now() -> UnixTime {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    UnixTime { secs: d.as_secs(), millis: u16::try_from(d.subsec_millis()).unwrap_or(0) }
}
