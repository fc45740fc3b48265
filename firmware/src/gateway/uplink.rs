//! Uplink health: the RFC 5626 §4.4.1 CRLF keepalive on the stream to the cloud, and the
//! judgement "up" or "down" that drives the box's mode.
//!
//! The box (the flow's client) sends a double CRLF ("ping") every
//! [`Timing::keepalive_interval`]; the cloud answers a single CRLF ("pong", RFC 5626 §3.5.1).
//! Any byte from the cloud counts as an answer, since it proves the flow carries traffic. With
//! no answer [`Timing::pong_timeout`] after a ping, the uplink is judged down. The worst case
//! from the last byte received to the judgement is one interval plus one timeout, which
//! [`Timing::detect_within`] keeps under the target.

use core::time::Duration;

use carillon_protocol::Instant;

/// The timing of uplink supervision and of the per-transaction fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time between two pings (RFC 5626 §4.4.1 leaves the value to the client; the box needs
    /// a short one to notice an outage quickly).
    pub keepalive_interval: Duration,
    /// How long a ping waits for an answer before the uplink is judged down.
    pub pong_timeout: Duration,
    /// How long a request forwarded to the cloud waits for its first response (a 100 Trying
    /// for an INVITE, RFC 3261 §16.7 step 5; any response otherwise) before the box judges the
    /// uplink down and serves the request itself. Far shorter than Timer B/F (32 s), which
    /// would leave a caller hanging.
    pub answer_timeout: Duration,
}

impl Timing {
    /// The defaults: the uplink judged down within 5 s, a request served locally after 1 s
    /// without an answer from the cloud.
    pub const DEFAULT: Timing = Timing::detect_within(Duration::from_secs(5));

    /// Timing that judges a dead uplink down within `target` of its last sign of life:
    /// interval and timeout of 2/5 of the target each (worst case 4/5 of the target, leaving
    /// room for the runtime's timer latency), and an answer timeout of 1/5 of it, at least
    /// 500 ms (a cloud across a WAN needs a few round trips).
    pub const fn detect_within(target: Duration) -> Timing {
        let part = target.as_micros() as u64 / 5;
        let answer = if part < 500_000 { 500_000 } else { part };
        Timing {
            keepalive_interval: Duration::from_micros(part * 2),
            pong_timeout: Duration::from_micros(part * 2),
            answer_timeout: Duration::from_micros(answer),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::DEFAULT
    }
}

/// What the keepalive supervisor wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Send a ping now.
    Ping,
    /// The ping went unanswered: the uplink is down.
    Dead,
}

/// The keepalive state: when the next ping is due and whether one is unanswered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keepalive {
    timing: Timing,
    next_ping: Instant,
    /// Deadline of the unanswered ping, if one is outstanding.
    deadline: Option<Instant>,
    /// When the cloud was last heard from.
    pub(crate) last_heard: Option<Instant>,
}

impl Keepalive {
    pub(crate) fn new(timing: Timing, now: Instant) -> Self {
        // The first ping goes out at once: at boot the box does not know the uplink is up.
        Keepalive { timing, next_ping: now, deadline: None, last_heard: None }
    }

    /// Something arrived from the cloud: the outstanding ping is answered.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = Some(now);
        self.deadline = None;
    }

    /// The uplink was judged down: probe again at once and then at the same pace, so that its
    /// return is noticed within one interval.
    pub(crate) fn reset(&mut self, now: Instant) {
        self.deadline = None;
        self.next_ping = now;
    }

    pub(crate) fn poll_timeout(&self) -> Instant {
        match self.deadline {
            Some(d) => d.min(self.next_ping),
            None => self.next_ping,
        }
    }

    /// Runs the timers; at most one action per call (call again until `None`).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<KeepaliveAction> {
        if let Some(d) = self.deadline {
            if now >= d {
                self.deadline = None;
                return Some(KeepaliveAction::Dead);
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.timing.keepalive_interval;
            if self.deadline.is_none() {
                self.deadline = Some(now + self.timing.pong_timeout);
            }
            return Some(KeepaliveAction::Ping);
        }
        None
    }
}
