//! The SIP transaction timers (RFC 3261 §17, Table 4; RFC 6026 §8.11 for L and M) as an enum
//! over a fixed table per transaction: each timer is one slot holding its deadline, and the
//! earliest deadline is the one that fires next (the shape of quinn-proto's `timer.rs`).
//!
//! A transaction never has more than [`Timer::COUNT`] deadlines, so the table costs a fixed
//! amount of memory and arming a timer cannot fail.

use crate::time::Instant;

/// One of the RFC 3261 transaction timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: request retransmission over unreliable transports; starts at T1 and
    /// doubles without cap (§17.1.1.2).
    A,
    /// INVITE client: transaction timeout, 64*T1 (§17.1.1.2).
    B,
    /// INVITE client: wait for response retransmissions in Completed; at least 32 s over
    /// unreliable transports, zero over reliable ones (§17.1.1.2).
    D,
    /// Non-INVITE client: request retransmission over unreliable transports; starts at T1,
    /// doubles up to T2, and is T2 in Proceeding (§17.1.2.2).
    E,
    /// Non-INVITE client: transaction timeout, 64*T1 (§17.1.2.2).
    F,
    /// INVITE server: final response retransmission over unreliable transports; starts at
    /// T1, doubles up to T2 (§17.2.1).
    G,
    /// INVITE server: wait for the ACK, 64*T1 (§17.2.1).
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed; T4 over unreliable transports,
    /// zero over reliable ones (§17.2.1).
    I,
    /// Non-INVITE server: absorb request retransmissions in Completed; 64*T1 over unreliable
    /// transports, zero over reliable ones (§17.2.2).
    J,
    /// Non-INVITE client: absorb response retransmissions in Completed; T4 over unreliable
    /// transports, zero over reliable ones (§17.1.2.2).
    K,
    /// INVITE server in Accepted: absorb INVITE retransmissions and let the TU send 2xx
    /// retransmissions, 64*T1 (RFC 6026 §8.7).
    L,
    /// INVITE client in Accepted: pass 2xx retransmissions and forked 2xx to the TU, 64*T1
    /// (RFC 6026 §8.4).
    M,
}

impl Timer {
    /// How many timers there are: the size of a transaction's timer table.
    pub const COUNT: usize = 12;

    /// Every timer, in table order.
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    /// The timer's slot in the table.
    const fn index(self) -> usize {
        self as usize
    }
}

/// A transaction's deadlines, one per [`Timer`]; `None` is "not armed".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// No timer armed.
    pub(crate) const EMPTY: TimerTable = TimerTable { deadlines: [None; Timer::COUNT] };

    /// Arms (or re-arms) `timer` for `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(d) = self.deadlines.get_mut(timer.index()) {
            *d = Some(at);
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(d) = self.deadlines.get_mut(timer.index()) {
            *d = None;
        }
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines.get(timer.index()).copied().flatten()
    }

    /// Disarms every timer (the transaction terminated).
    pub(crate) fn clear(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    /// The earliest armed deadline and its timer.
    pub(crate) fn next(&self) -> Option<(Timer, Instant)> {
        Timer::ALL.iter().filter_map(|&t| self.get(t).map(|at| (t, at))).min_by_key(|&(_, at)| at)
    }

    /// The earliest timer due at `now`, disarmed so that it fires once.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<Timer> {
        let (t, at) = self.next()?;
        if at > now {
            return None;
        }
        self.stop(t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_wins_and_fires_once() {
        let mut t = TimerTable::EMPTY;
        t.set(Timer::B, Instant::from_millis(32_000));
        t.set(Timer::A, Instant::from_millis(500));
        assert_eq!(t.next(), Some((Timer::A, Instant::from_millis(500))));
        assert_eq!(t.expire(Instant::from_millis(499)), None);
        assert_eq!(t.expire(Instant::from_millis(500)), Some(Timer::A));
        assert_eq!(t.expire(Instant::from_millis(500)), None);
        assert_eq!(t.next(), Some((Timer::B, Instant::from_millis(32_000))));
        t.clear();
        assert_eq!(t.next(), None);
        for (i, timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(timer.index(), i);
        }
    }
}
