//! The client transaction state machines: INVITE (RFC 3261 §17.1.1, Figure 5, with RFC 6026's
//! Accepted state) and non-INVITE (§17.1.2, Figure 6).

use core::time::Duration;

use super::config::Config;
use super::slot::{Slot, EV_RESPONSE, TX_ACK, TX_REQUEST};
use super::timer::Timer;
use super::types::{Kind, State};
use super::Instant;

/// What a response does to a client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnResponse {
    /// The TU sees it (and the state may change).
    Deliver,
    /// A retransmission of the final response: absorbed.
    Absorb,
    /// A retransmission of a non-2xx final response to an INVITE: absorbed, the ACK is sent
    /// again (§17.1.1.2: "Any retransmissions of the final response that are received while in
    /// the Completed state MUST cause the ACK to be re-passed to the transport layer").
    ResendAck,
}

impl<const MSG: usize> Slot<MSG> {
    /// Starts a client transaction whose request is stored: queue it, arm the timers.
    pub(crate) fn start_client(&mut self, now: Instant, cfg: &Config) {
        self.tx |= TX_REQUEST;
        if self.kind == Kind::InviteClient {
            // §17.1.1.2: Timer A only over unreliable transports; Timer B always.
            self.arm_retransmit(Timer::A, now, cfg);
            self.timers.set(Timer::B, now + cfg.timeout());
        } else {
            // §17.1.2.2: Timer E only over unreliable transports; Timer F always.
            self.arm_retransmit(Timer::E, now, cfg);
            self.timers.set(Timer::F, now + cfg.timeout());
        }
    }

    /// What a response with `code` would do, without doing it (so that a response too large
    /// to store changes nothing).
    pub(crate) fn plan_response(&self, code: u16) -> OnResponse {
        match (self.kind, self.state, code) {
            (Kind::InviteClient, Some(State::Calling | State::Proceeding), _) => OnResponse::Deliver,
            (Kind::InviteClient, Some(State::Completed), 300..) => OnResponse::ResendAck,
            // RFC 6026 §8.4: in Accepted, every 2xx (retransmission or fork) goes to the TU.
            (Kind::InviteClient, Some(State::Accepted), 200..=299) => OnResponse::Deliver,
            (Kind::NonInviteClient, Some(State::Trying | State::Proceeding), _) => OnResponse::Deliver,
            _ => OnResponse::Absorb,
        }
    }

    /// A response was stored: report it and move on (Figures 5 and 6).
    pub(crate) fn deliver(&mut self, now: Instant, cfg: &Config, code: u16) {
        self.code = code;
        self.ev |= EV_RESPONSE;
        match (self.kind, code) {
            (Kind::InviteClient, 100..=199) => {
                // §17.1.1.2: no more retransmissions in Proceeding; the TU (a proxy's Timer
                // C) decides how long to wait for a final response.
                self.state = Some(State::Proceeding);
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
            }
            (Kind::InviteClient, 200..=299) => {
                if self.state != Some(State::Accepted) {
                    self.state = Some(State::Accepted);
                    self.timers.stop(Timer::A);
                    self.timers.stop(Timer::B);
                    self.timers.set(Timer::M, now + cfg.timeout());
                }
            }
            (Kind::InviteClient, _) => {
                // §17.1.1.2: a non-2xx final response is acknowledged by the transaction
                // itself, and Timer D keeps it around for retransmissions of the response.
                self.state = Some(State::Completed);
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.tx |= TX_ACK;
                self.arm_wait(Timer::D, now, cfg.timer_d);
            }
            (_, 100..=199) => {
                self.state = Some(State::Proceeding);
            }
            (_, _) => {
                self.state = Some(State::Completed);
                self.timers.stop(Timer::E);
                self.timers.stop(Timer::F);
                self.arm_wait(Timer::K, now, cfg.t4);
            }
        }
    }

    /// A client timer expired.
    pub(crate) fn client_timer(&mut self, now: Instant, cfg: &Config, timer: Timer) {
        match (timer, self.state) {
            (Timer::A, Some(State::Calling)) => {
                // §17.1.1.2: retransmit and double the interval, without cap (INVITE
                // retransmissions stop at Timer B anyway).
                self.tx |= TX_REQUEST;
                self.interval = self.interval.saturating_mul(2);
                self.timers.set(Timer::A, now + self.interval);
            }
            (Timer::E, Some(State::Trying)) => {
                // §17.1.2.2: "the next timer E [...] will have a value of MIN(4*T1, T2)",
                // i.e. doubling up to T2.
                self.tx |= TX_REQUEST;
                self.interval = cap(self.interval.saturating_mul(2), cfg.t2);
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::E, Some(State::Proceeding)) => {
                // §17.1.2.2: in Proceeding, Timer E is reset to T2.
                self.tx |= TX_REQUEST;
                self.interval = cfg.t2;
                self.timers.set(Timer::E, now + self.interval);
            }
            (Timer::B, Some(State::Calling)) | (Timer::F, Some(State::Trying | State::Proceeding)) => {
                self.time_out(timer);
            }
            (Timer::D | Timer::K | Timer::M, _) => self.terminate(),
            _ => {}
        }
    }
}

/// `min(d, max)`.
pub(crate) fn cap(d: Duration, max: Duration) -> Duration {
    if d > max {
        max
    } else {
        d
    }
}
