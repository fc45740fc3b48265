//! INTERIM transaction handling — to be replaced by `carillon_protocol::transaction`.
//!
//! The protocol crate is getting a sans-IO RFC 3261 transaction layer. Until it lands, this
//! module does the little the switch needs, behind the small interface the rest of `sip`
//! uses (and the only one that will change when we switch):
//!
//! - server side, [`Transactions::server_begin`] / [`Transactions::server_reply`]: a request
//!   is matched by (top Via branch, sent-by, method; ACK matches its INVITE, RFC 3261
//!   §17.2.3); a retransmission gets the last response again or is absorbed, and an ACK for a
//!   non-2xx final response is absorbed (§17.2.1). Entries linger 32 s after their final
//!   response (Timer J / H) — except a non-INVITE transaction on TCP/TLS, which ends with its
//!   final response (Timer J is 0 on a reliable transport, §17.2.2), and a challenge the
//!   registrar answers statelessly (§8.2.7, see [`Transactions::server_forget`]). A full
//!   table is first swept of expired entries; still full, the request gets 503;
//! - client side, [`ClientTxn`]: a forwarded request whose responses come back to its owner
//!   by branch; over UDP it is retransmitted (Timers A / E, doubling up to T2, §17.1.1.2,
//!   §17.1.2.2); with no final response after 64·T1 it times out (Timers B / F).
//!
//! Not here (the real layer will have them): Timer D/K wait states, the RFC 6026 "Accepted"
//! state (2xx retransmissions are forwarded by Via instead, see `proxy`), and TCP-specific
//! timer values beyond skipping retransmissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::transport::{Flow, Transport, Transports};

/// RFC 3261 T1 (RTT estimate).
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2 (largest non-INVITE retransmit interval).
pub const T2: Duration = Duration::from_secs(4);
/// Timers B and F: 64·T1.
pub const TIMEOUT: Duration = Duration::from_secs(32);
/// How long a finished server transaction absorbs retransmissions (Timers H/J).
const LINGER: Duration = Duration::from_secs(32);

/// Server transaction key (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub branch: String,
    pub sent_by: String,
    /// The method, ACK counted as INVITE.
    pub method: String,
}

/// What a new request is, seen from the server transactions.
#[derive(Debug)]
pub(crate) enum Begin {
    /// A new transaction: handle it.
    New,
    /// A retransmission: send this again (or nothing yet, absorb it).
    Retransmission(Option<Vec<u8>>),
    /// An ACK of a non-2xx final response we sent: absorbed (hop-by-hop).
    AckAbsorbed,
    /// The table is full: answer 503.
    Full,
}

struct ServerEntry {
    /// Came over TCP/TLS: a non-INVITE transaction ends at its final response.
    reliable: bool,
    last: Option<Vec<u8>>,
    final_code: Option<u16>,
    expires: Instant,
    /// For an INVITE: where a matching CANCEL is delivered.
    cancel: Option<mpsc::Sender<()>>,
    cancelled: bool,
}

/// A response delivered to a client transaction's owner.
#[derive(Debug)]
pub(crate) struct Response {
    /// The response bytes.
    pub bytes: Vec<u8>,
    /// The status code.
    pub code: u16,
}

/// The transaction tables.
pub(crate) struct Transactions {
    server: Mutex<HashMap<ServerKey, ServerEntry>>,
    client: Mutex<HashMap<String, mpsc::Sender<Response>>>,
    max: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transactions {
    pub(crate) fn new(max: usize) -> Arc<Transactions> {
        Arc::new(Transactions { server: Mutex::new(HashMap::new()), client: Mutex::new(HashMap::new()), max })
    }

    /// Classifies an incoming request (`reliable`: it came over TCP or TLS).
    pub(crate) fn server_begin(&self, key: &ServerKey, is_ack: bool, reliable: bool) -> Begin {
        let mut t = lock(&self.server);
        if let Some(e) = t.get(key) {
            if is_ack {
                return match e.final_code {
                    Some(c) if c >= 300 => Begin::AckAbsorbed,
                    _ => Begin::New,
                };
            }
            return Begin::Retransmission(e.last.clone());
        }
        if is_ack {
            return Begin::New;
        }
        if t.len() >= self.max {
            // The periodic sweep may be behind: count only the live ones.
            let now = Instant::now();
            t.retain(|_, e| e.expires > now);
            if t.len() >= self.max {
                return Begin::Full;
            }
        }
        let expires = Instant::now() + TIMEOUT + LINGER;
        t.insert(
            key.clone(),
            ServerEntry { reliable, last: None, final_code: None, expires, cancel: None, cancelled: false },
        );
        Begin::New
    }

    /// Records the response sent for a transaction (resent to retransmissions).
    pub(crate) fn server_reply(&self, key: &ServerKey, code: u16, bytes: &[u8]) {
        let mut t = lock(&self.server);
        if code >= 200 && key.method != "INVITE" && t.get(key).is_some_and(|e| e.reliable) {
            // Timer J = 0 on TCP/TLS: the transport does not retransmit (RFC 3261 §17.2.2).
            t.remove(key);
            return;
        }
        if let Some(e) = t.get_mut(key) {
            e.last = Some(bytes.to_vec());
            if code >= 200 {
                e.final_code = Some(code);
                e.expires = Instant::now() + LINGER;
                e.cancel = None;
            }
        }
    }

    /// Ends a transaction without keeping its answer: the request was answered statelessly
    /// (RFC 3261 §8.2.7, the registrar's digest challenges — a retransmission just gets a
    /// fresh challenge), so it holds no table entry for 32 s.
    pub(crate) fn server_forget(&self, key: &ServerKey) {
        lock(&self.server).remove(key);
    }

    /// The INVITE transaction `key` will get CANCELs through `tx`. Returns false if it was
    /// already cancelled.
    pub(crate) fn server_on_cancel(&self, key: &ServerKey, tx: mpsc::Sender<()>) -> bool {
        let mut t = lock(&self.server);
        match t.get_mut(key) {
            Some(e) if e.cancelled => false,
            Some(e) => {
                e.cancel = Some(tx);
                true
            }
            None => true,
        }
    }

    /// A CANCEL for the INVITE `key`: true if that INVITE is pending (it is then cancelled).
    pub(crate) fn server_cancel(&self, key: &ServerKey) -> bool {
        let mut t = lock(&self.server);
        match t.get_mut(key) {
            Some(e) if e.final_code.is_none() => {
                e.cancelled = true;
                if let Some(tx) = &e.cancel {
                    let _ = tx.try_send(());
                }
                true
            }
            _ => false,
        }
    }

    /// Delivers a response to the client transaction `branch`+`method`; false if none.
    pub(crate) fn client_deliver(&self, branch: &[u8], method: &str, r: Response) -> bool {
        let key = client_key(branch, method);
        let tx = lock(&self.client).get(&key).cloned();
        match tx {
            Some(tx) => tx.try_send(r).is_ok(),
            None => false,
        }
    }

    /// Drops finished entries.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        lock(&self.server).retain(|_, e| e.expires > now);
        lock(&self.client).retain(|_, tx| !tx.is_closed());
    }

    /// Server and client transactions held.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (lock(&self.server).len(), lock(&self.client).len())
    }
}

fn client_key(branch: &[u8], method: &str) -> String {
    format!("{} {method}", String::from_utf8_lossy(branch))
}

/// A request we sent and whose responses we wait for.
pub(crate) struct ClientTxn {
    key: String,
    table: Arc<Transactions>,
    rx: mpsc::Receiver<Response>,
    transports: Arc<Transports>,
    flow: Flow,
    request: Vec<u8>,
    invite: bool,
    deadline: Instant,
    next_retransmit: Option<Instant>,
    interval: Duration,
    done: bool,
}

/// What a client transaction yields.
#[derive(Debug)]
pub(crate) enum ClientEvent {
    /// A response (provisional or final).
    Response(Response),
    /// Timer B/F fired, or the request could not be sent.
    Timeout,
}

impl ClientTxn {
    /// Sends `request` on `flow` and registers for its responses by `branch`.
    pub(crate) async fn start(
        table: &Arc<Transactions>,
        transports: &Arc<Transports>,
        flow: Flow,
        branch: &str,
        method: &str,
        request: Vec<u8>,
    ) -> Option<ClientTxn> {
        let key = client_key(branch.as_bytes(), method);
        let (tx, rx) = mpsc::channel(16);
        {
            let mut c = lock(&table.client);
            if c.len() >= table.max {
                return None;
            }
            c.insert(key.clone(), tx);
        }
        let invite = method == "INVITE";
        let udp = flow.transport == Transport::Udp;
        let mut t = ClientTxn {
            key,
            table: table.clone(),
            rx,
            transports: transports.clone(),
            flow,
            request,
            invite,
            deadline: Instant::now() + TIMEOUT,
            next_retransmit: udp.then(|| Instant::now() + T1),
            interval: T1,
            done: false,
        };
        if let Err(e) = transports.send(&flow, t.request.clone()).await {
            tracing::debug!(%flow, error = %e, "cannot send request");
            t.done = true;
        }
        Some(t)
    }

    /// The next response, or a timeout. After a final response, further calls time out at
    /// once (the transaction is over).
    pub(crate) async fn next(&mut self) -> ClientEvent {
        loop {
            if self.done {
                return ClientEvent::Timeout;
            }
            let wake = self.next_retransmit.map_or(self.deadline, |r| r.min(self.deadline));
            tokio::select! {
                r = self.rx.recv() => {
                    let Some(r) = r else { return ClientEvent::Timeout };
                    if r.code >= 200 {
                        self.done = true;
                        lock(&self.table.client).remove(&self.key);
                    } else {
                        // A provisional response stops retransmission (INVITE: Timer A;
                        // non-INVITE: E goes to T2 — simplified to stop, the peer has it).
                        self.next_retransmit = None;
                    }
                    return ClientEvent::Response(r);
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        self.done = true;
                        return ClientEvent::Timeout;
                    }
                    self.interval = if self.invite { self.interval * 2 } else { (self.interval * 2).min(T2) };
                    self.next_retransmit = Some(now + self.interval);
                    let _ = self.transports.send(&self.flow, self.request.clone()).await;
                }
            }
        }
    }

    /// Shortens the wait for a final response (a CANCELled INVITE waits at most 64·T1 for 487,
    /// RFC 3261 §9.1, which is the default already; ring timeouts use this to stop earlier).
    pub(crate) fn set_deadline(&mut self, d: Instant) {
        self.deadline = d;
    }
}

impl Drop for ClientTxn {
    fn drop(&mut self) {
        lock(&self.table.client).remove(&self.key);
    }
}
