//! The timer values of RFC 3261 §17.1.1.1 and Table 4.

use core::time::Duration;

/// Timer base values. The defaults are the RFC's; a deployment on a known network may lower T1
/// (RFC 3261 §17.1.1.1: "T1 MAY be chosen smaller" on networks with lower round-trip times)
/// but the RFC recommends against raising T2 or T4 beyond need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// T1, the round-trip time estimate: 500 ms. Retransmission intervals start here and
    /// the transaction timeouts (B, F, H, J, L, M) are 64*T1.
    pub t1: Duration,
    /// T2, the cap on non-INVITE request and INVITE final response retransmission intervals:
    /// 4 s.
    pub t2: Duration,
    /// T4, the longest a message stays in the network: 5 s (Timers I and K).
    pub t4: Duration,
    /// Timer D over unreliable transports: 32 s ("at least 32 seconds", §17.1.1.2, so that
    /// every retransmission of the final response is caught by the Completed state).
    pub timer_d: Duration,
}

impl Config {
    /// RFC 3261's values: T1 500 ms, T2 4 s, T4 5 s, Timer D 32 s.
    pub const DEFAULT: Config = Config {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        timer_d: Duration::from_secs(32),
    };

    /// 64*T1: Timers B, F, H, J (unreliable), L and M.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
