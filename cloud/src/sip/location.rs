//! The location service: where each extension's phones can be reached now.
//!
//! In memory only, on purpose: bindings live minutes, every phone refreshes its own, and
//! after an outage the boxes hand theirs back at once (see [`Location::import`]), so a
//! restarted node is whole again within one refresh interval without a write per REGISTER.
//! With several nodes each keeps its own (the flows are its sockets); the shared database only
//! says which node holds an extension's bindings (the `presence` registry, see `cluster`).
//!
//! A binding keeps the `Path` of its REGISTER (RFC 3327): a phone registered through its
//! school's box is reached through that box — the request gets the Path as its Route set and
//! goes out over the flow the REGISTER came in on (the box's own connection), never to the
//! phone's LAN address directly.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::transport::Flow;

/// One registered contact of an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI, as registered.
    pub contact: String,
    /// The Path URIs of the REGISTER, top first (each as written, e.g. `<sip:box;lr>`).
    pub path: Vec<String>,
    /// The flow the REGISTER arrived on: the way back to the phone or its box.
    pub flow: Flow,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// Call-ID of the REGISTER that made it (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// Its CSeq.
    pub cseq: u32,
}

/// A binding as a box hands it back after an outage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandedBinding {
    /// The extension's SIP username.
    pub username: String,
    /// The phone's Contact URI.
    pub contact: String,
    /// The Path the box adds (its own URI), top first.
    pub path: Vec<String>,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

/// Why a binding could not be stored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// The extension already has the most bindings allowed.
    #[error("too many contacts for this extension")]
    TooManyForUser,
    /// The table is full.
    #[error("location table full")]
    Full,
}

/// The bindings of every extension, by SIP username.
#[derive(Debug)]
pub struct Location {
    map: Mutex<Table>,
    max_total: usize,
    max_per_user: usize,
}

/// The map and the number of bindings it holds (expired ones included until swept), kept
/// together under one lock so that a REGISTER costs O(its user's bindings), not O(all).
#[derive(Debug, Default)]
struct Table {
    users: HashMap<String, Vec<Binding>>,
    total: usize,
}

impl Location {
    /// An empty table with its limits.
    pub fn new(max_total: usize, max_per_user: usize) -> Location {
        Location { map: Mutex::new(Table::default()), max_total, max_per_user }
    }

    fn map(&self) -> MutexGuard<'_, Table> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live bindings of `user` at `now`.
    pub fn lookup(&self, user: &str, now: i64) -> Vec<Binding> {
        self.map()
            .users
            .get(user)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Number of bindings held (the expired ones until the next sweep).
    pub fn len(&self) -> usize {
        self.map().total
    }

    /// Whether there is no binding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one REGISTER's changes for `user` atomically: `remove_all` (`Contact: *`), then
    /// each `(binding, expires)` — 0 removes that contact. A binding from the same Call-ID with
    /// a CSeq not higher than the stored one is ignored (an old, reordered REGISTER).
    pub fn update(
        &self,
        user: &str,
        remove_all: bool,
        changes: Vec<(Binding, u32)>,
        now: i64,
    ) -> Result<Vec<Binding>, LocationError> {
        let mut table = self.map();
        let Table { users, total } = &mut *table;
        let list = users.entry(user.to_owned()).or_default();
        let before = list.len();
        list.retain(|b| b.expires_at > now);
        // Expired ones of this user are gone, whatever follows.
        *total -= before - list.len();
        let before = list.len();
        let mut next = if remove_all { Vec::new() } else { list.clone() };
        for (b, expires) in changes {
            let pos = next.iter().position(|o| o.contact == b.contact);
            if let Some(i) = pos {
                let old = next.get(i);
                if old.is_some_and(|o| o.call_id == b.call_id && o.cseq >= b.cseq) {
                    continue;
                }
                next.remove(i);
            }
            if expires > 0 {
                next.push(b);
            }
        }
        let refuse = if next.len() > self.max_per_user {
            Some(LocationError::TooManyForUser)
        } else if *total - before + next.len() > self.max_total && next.len() > before {
            Some(LocationError::Full)
        } else {
            None
        };
        if let Some(e) = refuse {
            if list.is_empty() {
                users.remove(user);
            }
            return Err(e);
        }
        *total = *total - before + next.len();
        *list = next.clone();
        if list.is_empty() {
            users.remove(user);
        }
        Ok(next)
    }

    /// Puts the bindings a box hands back after an outage into the table, reached through
    /// `flow` (the box's connection). Expired ones are skipped; the others replace any binding
    /// of the same contact. Returns how many were stored.
    pub fn import(&self, flow: Flow, bindings: &[HandedBinding], now: i64) -> usize {
        let mut stored = 0;
        for h in bindings {
            if h.expires_at <= now {
                continue;
            }
            let b = Binding {
                contact: h.contact.clone(),
                path: h.path.clone(),
                flow,
                expires_at: h.expires_at,
                call_id: String::new(),
                cseq: 0,
            };
            let secs = u32::try_from(h.expires_at - now).unwrap_or(u32::MAX);
            if self.update(&h.username, false, vec![(b, secs)], now).is_ok() {
                stored += 1;
            }
        }
        stored
    }

    /// Drops expired bindings.
    pub fn sweep(&self, now: i64) {
        let mut table = self.map();
        let Table { users, total } = &mut *table;
        users.retain(|_, v| {
            let before = v.len();
            v.retain(|b| b.expires_at > now);
            *total -= before - v.len();
            !v.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(contact: &str, call_id: &str, cseq: u32, expires_at: i64) -> Binding {
        Binding {
            contact: contact.into(),
            path: vec![],
            flow: Flow::udp(std::net::SocketAddr::from(([127, 0, 0, 1], 5060))),
            expires_at,
            call_id: call_id.into(),
            cseq,
        }
    }

    #[test]
    fn update_remove_reorder_limits() {
        let l = Location::new(3, 2);
        l.update("u", false, vec![(b("sip:a", "c", 1, 100), 100)], 0).expect("ok");
        // An older CSeq of the same Call-ID changes nothing.
        l.update("u", false, vec![(b("sip:a", "c", 0, 50), 0)], 0).expect("ok");
        assert_eq!(l.lookup("u", 0).len(), 1);
        l.update("u", false, vec![(b("sip:b", "d", 1, 100), 100)], 0).expect("ok");
        assert_eq!(l.update("u", false, vec![(b("sip:c", "e", 1, 100), 100)], 0), Err(LocationError::TooManyForUser));
        l.update("v", false, vec![(b("sip:x", "f", 1, 100), 100)], 0).expect("ok");
        assert_eq!(l.update("w", false, vec![(b("sip:y", "g", 1, 100), 100)], 0), Err(LocationError::Full));
        l.update("u", true, vec![], 0).expect("ok");
        assert!(l.lookup("u", 0).is_empty());
        assert!(l.lookup("v", 100).is_empty(), "expired at 100");
    }

    #[test]
    fn the_count_follows_every_change() {
        let l = Location::new(100, 5);
        assert_eq!(l.len(), 0);
        l.update("u", false, vec![(b("sip:a", "c", 1, 100), 100), (b("sip:b", "c", 1, 50), 50)], 0).expect("ok");
        l.update("v", false, vec![(b("sip:x", "d", 1, 100), 100)], 0).expect("ok");
        assert_eq!(l.len(), 3);
        // A refresh replaces, a 0 removes, a refused update changes nothing.
        l.update("u", false, vec![(b("sip:a", "c", 2, 200), 200)], 0).expect("ok");
        assert_eq!(l.len(), 3);
        l.update("u", false, vec![(b("sip:b", "c", 3, 0), 0)], 0).expect("ok");
        assert_eq!(l.len(), 2);
        let many: Vec<_> = (0..6).map(|i| (b(&format!("sip:{i}"), "e", 1, 100), 100)).collect();
        assert_eq!(l.update("w", false, many, 0), Err(LocationError::TooManyForUser));
        assert_eq!(l.len(), 2);
        // Expired bindings leave the count when their user registers again, or at the sweep.
        l.update("v", false, vec![(b("sip:y", "f", 1, 300), 300)], 150).expect("ok");
        assert_eq!(l.len(), 2, "v's expired sip:x replaced by sip:y");
        l.sweep(250);
        assert_eq!(l.len(), 1, "u's sip:a expired at 200");
        l.update("v", true, vec![], 250).expect("ok");
        assert!(l.is_empty());
    }
}
