//! The box's binding table (RFC 3261 §10.3): which phone is reachable at which contact, learnt
//! from every 200 OK the cloud sent to a REGISTER while online, and written by the box's own
//! registrar in survival. Bounded; what happens when it is full is defined per caller (online:
//! the binding closest to expiry is evicted and counted; survival: 503 with Retry-After).

use core::net::SocketAddr;
use core::time::Duration;

use carillon_protocol::control::{CallId, ExtensionNumber, Uri};
use carillon_protocol::Instant;

/// Bindings the box keeps: one or two phones per extension of a mid-size school.
pub const MAX_BINDINGS: usize = super::profile::MAX_BINDINGS;

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingEntry {
    /// The extension (user part of the address of record, the REGISTER's `To`).
    pub aor: ExtensionNumber,
    /// The Contact URI as the phone wrote it.
    pub contact: Uri,
    /// Where the phone's REGISTER came from: requests for it go there (RFC 3581 symmetric
    /// routing; the Contact may name an address the phone cannot be reached at).
    pub source: SocketAddr,
    /// When the binding expires.
    pub expires: Instant,
    /// `Call-ID` of the REGISTER.
    pub call_id: CallId,
    /// `CSeq` number of the REGISTER.
    pub cseq: u32,
    /// Still to be handed to the cloud (set for every live binding when the uplink returns).
    pub(crate) hand_back: bool,
    /// In the batch that is waiting for its `BindingsAck`.
    pub(crate) in_flight: bool,
}

/// What an insertion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// A new row, or a refresh of the same contact.
    Stored,
    /// Stored after evicting the binding closest to expiry.
    Evicted,
    /// The table is full and eviction was not allowed.
    Full,
}

/// The bounded table.
pub(crate) struct Bindings {
    rows: heapless::Vec<BindingEntry, MAX_BINDINGS>,
}

impl Bindings {
    pub(crate) const fn new() -> Self {
        Bindings { rows: heapless::Vec::new() }
    }

    /// Drops expired rows (RFC 3261 §10.3 step 7: an expired binding is removed).
    pub(crate) fn expire(&mut self, now: Instant) {
        self.rows.retain(|b| b.expires > now);
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &BindingEntry> {
        self.rows.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut BindingEntry> {
        self.rows.iter_mut()
    }

    /// Live contacts of an extension.
    pub(crate) fn of<'s>(&'s self, aor: &'s [u8], now: Instant) -> impl Iterator<Item = &'s BindingEntry> + 's {
        self.rows.iter().filter(move |b| b.aor.as_bytes() == aor && b.expires > now)
    }

    /// The live binding whose contact is `contact` (to route a request from the cloud).
    pub(crate) fn by_contact(&self, contact: &[u8], now: Instant) -> Option<&BindingEntry> {
        self.rows.iter().find(|b| b.contact.as_bytes() == contact && b.expires > now)
    }

    /// Removes the contact (`Expires: 0`), or all of the extension's contacts with `None`
    /// (`Contact: *`, RFC 3261 §10.3 step 6).
    pub(crate) fn remove(&mut self, aor: &[u8], contact: Option<&[u8]>) {
        self.rows.retain(|b| !(b.aor.as_bytes() == aor && contact.is_none_or(|c| b.contact.as_bytes() == c)));
    }

    /// Adds or refreshes (same extension and contact) a binding.
    pub(crate) fn upsert(&mut self, entry: BindingEntry, now: Instant, may_evict: bool) -> Inserted {
        self.expire(now);
        if let Some(row) = self.rows.iter_mut().find(|b| b.aor == entry.aor && b.contact == entry.contact) {
            *row = entry;
            return Inserted::Stored;
        }
        match self.rows.push(entry) {
            Ok(()) => Inserted::Stored,
            Err(entry) if may_evict => {
                let soonest = self.rows.iter().enumerate().min_by_key(|(_, b)| b.expires).map(|(i, _)| i);
                match soonest.and_then(|i| self.rows.get_mut(i)) {
                    Some(row) => {
                        *row = entry;
                        Inserted::Evicted
                    }
                    None => Inserted::Full,
                }
            }
            Err(_) => Inserted::Full,
        }
    }

    /// Seconds left of a binding at `now`, rounded down.
    pub(crate) fn remaining(b: &BindingEntry, now: Instant) -> u32 {
        let left: Duration = b.expires - now;
        u32::try_from(left.as_secs()).unwrap_or(u32::MAX)
    }
}
