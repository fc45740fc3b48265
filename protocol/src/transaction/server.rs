//! The server transaction state machines: INVITE (RFC 3261 §17.2.1, Figure 7, with RFC 6026's
//! Accepted state) and non-INVITE (§17.2.2, Figure 8).
//!
//! The server transaction does not send 100 (Trying) by itself: §17.2.1 lets it skip the 100
//! when "the TU will generate a provisional or final response within 200 ms", and the proxy
//! that owns this table answers 100 at once when it takes an INVITE (§16.2), so it decides.

use super::client::cap;
use super::config::Config;
use super::error::Error;
use super::slot::{Slot, EV_REQUEST, TX_RESPONSE};
use super::timer::Timer;
use super::types::{Kind, State};
use super::Instant;

/// What an ACK matched to an INVITE server transaction amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnAck {
    /// The ACK for our non-2xx final response (or a retransmission of it): absorbed.
    Absorbed,
    /// An ACK in Accepted (RFC 6026 §8.7): the TU's.
    ToTu,
}

impl<const MSG: usize> Slot<MSG> {
    /// A request created this server transaction: tell the TU.
    pub(crate) fn start_server(&mut self) {
        self.ev |= EV_REQUEST;
    }

    /// The request came again (§17.2.1: "the most recent provisional response [...] MUST be
    /// passed to the transport layer for retransmission"; in Completed the final response;
    /// §17.2.2 likewise). In Trying there is nothing to repeat; in Accepted the INVITE is
    /// absorbed (RFC 6026 §8.7); in Confirmed too.
    pub(crate) fn on_retransmission(&mut self) {
        match self.state {
            Some(State::Proceeding) if self.code != 0 => self.tx |= TX_RESPONSE,
            Some(State::Completed) => self.tx |= TX_RESPONSE,
            _ => {}
        }
    }

    /// An ACK matched this INVITE server transaction.
    pub(crate) fn on_ack(&mut self, now: Instant, cfg: &Config) -> OnAck {
        match self.state {
            Some(State::Completed) => {
                // §17.2.1: stop retransmitting, absorb further ACKs for Timer I.
                self.state = Some(State::Confirmed);
                self.timers.stop(Timer::G);
                self.timers.stop(Timer::H);
                self.arm_wait(Timer::I, now, cfg.t4);
                OnAck::Absorbed
            }
            Some(State::Accepted) => OnAck::ToTu,
            // A retransmitted ACK in Confirmed, or an ACK before any final response (which
            // acknowledges nothing): absorbed.
            _ => OnAck::Absorbed,
        }
    }

    /// Whether the TU may send a response with `code` now.
    pub(crate) fn check_respond(&self, code: u16) -> Result<(), Error> {
        let ok = match (self.kind, self.state) {
            (Kind::InviteServer, Some(State::Proceeding)) => true,
            // RFC 6026 §8.7: in Accepted the TU passes 2xx retransmissions (and further 2xx)
            // through the transaction.
            (Kind::InviteServer, Some(State::Accepted)) => (200..=299).contains(&code),
            (Kind::NonInviteServer, Some(State::Trying | State::Proceeding)) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::WrongState)
        }
    }

    /// The TU's response (checked by [`Slot::check_respond`]) was stored: send it and move on.
    pub(crate) fn responded(&mut self, now: Instant, cfg: &Config, code: u16) {
        self.code = code;
        self.tx |= TX_RESPONSE;
        match (self.kind, code) {
            (_, 100..=199) => self.state = Some(State::Proceeding),
            (Kind::InviteServer, 200..=299) => {
                if self.state != Some(State::Accepted) {
                    // RFC 6026 §8.7 (replacing §17.2.1's "2xx terminates"): stay for Timer L
                    // so that INVITE retransmissions are absorbed, not taken as new requests.
                    self.state = Some(State::Accepted);
                    self.timers.set(Timer::L, now + cfg.timeout());
                }
            }
            (Kind::InviteServer, _) => {
                // §17.2.1: retransmit the final response with Timer G until the ACK, give up
                // at Timer H.
                self.state = Some(State::Completed);
                self.arm_retransmit(Timer::G, now, cfg);
                self.timers.set(Timer::H, now + cfg.timeout());
            }
            (_, _) => {
                // §17.2.2: absorb request retransmissions for Timer J.
                self.state = Some(State::Completed);
                self.arm_wait(Timer::J, now, cfg.timeout());
            }
        }
    }

    /// A server timer expired.
    pub(crate) fn server_timer(&mut self, now: Instant, cfg: &Config, timer: Timer) {
        match (timer, self.state) {
            (Timer::G, Some(State::Completed)) => {
                // §17.2.1: "the response is passed to the transport layer once more for
                // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds".
                self.tx |= TX_RESPONSE;
                self.interval = cap(self.interval.saturating_mul(2), cfg.t2);
                self.timers.set(Timer::G, now + self.interval);
            }
            (Timer::H, Some(State::Completed)) => self.time_out(Timer::H),
            (Timer::I | Timer::J | Timer::L, _) => self.terminate(),
            _ => {}
        }
    }
}
