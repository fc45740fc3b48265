//! Several nodes on one PostgreSQL: the node's lease, the registry it publishes, and the mark
//! on the requests it forwards to another node.
//!
//! # Registry
//! Each node keeps its own location service in memory (the flows are its own sockets). What it
//! publishes in the shared database is *which* node holds bindings of an extension:
//! `presence(username, node_id, expires_at)`, written when a REGISTER changes the extension's
//! bindings on this node (removed when none is left) and when a box hands bindings back here.
//! A REGISTER does not wait for that write: it marks its user, and one writer task
//! ([`Core::presence_writer`]) publishes every marked user's current state in one transaction
//! (off the SIP path, like call records; the marks are a set, so bounded by the users). A
//! box's hand-back is published before its `BindingsAck` (the box may rely on it).
//! A phone behind a box registers through the box's flow, so its row names the node that
//! holds that flow. Rows count only while their node's lease (`nodes.lease_until`, renewed by
//! [`Core::heartbeat`] every third of `node_lease_secs`) is live.
//!
//! # Inter-node requests
//! A node that routes a call to an extension with no binding of its own but a live presence
//! row elsewhere forwards the INVITE over TCP to that node's published SIP address, with the
//! Request-URI `sip:USERNAME@ADDR;transport=tcp` and the header
//! `X-Carillon-Node: NODE;mac=HEX`, where HEX is HMAC-SHA256 (key: the shared `nonce_secret`)
//! over the sender's node id and the Call-ID, cut to 128 bits. The receiving node takes a
//! request as inter-node only when all hold: it came over TCP or TLS (no spoofed UDP source),
//! from an IP listed in `peer_nodes`, with a mark whose MAC checks and whose node is not
//! itself. It then skips digest authentication (the first node checked the caller), rings
//! only its own bindings of USERNAME (never forwards again: no loops), and writes no call
//! record: the record is written once, by the node that took the call from the caller (the
//! phone's or the carrier's side). Every forwarded request loses any `X-Carillon-Node`
//! header it came with; a marked request that fails a check is treated like any other (a
//! phone's INVITE gets its 407).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::location::Binding;
use super::server::Core;
use super::transport::{Flow, Transport};
use super::{SipConfig, StartError};

/// The header that marks inter-node requests.
pub(crate) const NODE_HEADER: &str = "X-Carillon-Node";

/// This node's part in a multi-node deployment.
pub(crate) struct Cluster {
    /// This node's id.
    pub node_id: String,
    /// The SIP address published for the other nodes.
    pub sip_addr: SocketAddr,
    /// The peer nodes' IP addresses.
    pub peers: Vec<IpAddr>,
    /// Lease length, seconds.
    pub lease_secs: i64,
    secret: Vec<u8>,
}

impl Cluster {
    /// The cluster settings of `cfg`, or `None` for a single node. `tcp` is the bound TCP
    /// address (the default published address).
    pub(crate) fn from_config(cfg: &SipConfig, tcp: SocketAddr) -> Result<Option<Cluster>, StartError> {
        let Some(node_id) = &cfg.node_id else { return Ok(None) };
        if node_id.is_empty()
            || node_id.len() > 64
            || !node_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StartError::Config("node_id must be 1 to 64 letters, digits, '-' or '_'".into()));
        }
        let Some(secret) = &cfg.nonce_secret else {
            return Err(StartError::Config("node_id needs nonce_secret (the same on every node)".into()));
        };
        let sip_addr = cfg.node_sip_addr.unwrap_or(tcp);
        if sip_addr.ip().is_unspecified() {
            return Err(StartError::Config("node_sip_addr must be an address the other nodes can reach".into()));
        }
        if cfg.node_lease_secs < 3 {
            return Err(StartError::Config("node_lease_secs must be at least 3".into()));
        }
        Ok(Some(Cluster {
            node_id: node_id.clone(),
            sip_addr,
            peers: cfg.peer_nodes.clone(),
            lease_secs: i64::from(cfg.node_lease_secs),
            secret: secret.as_bytes().to_vec(),
        }))
    }

    fn mac(&self, node_id: &[u8], call_id: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(b"carillon-node\0");
        mac.update(node_id);
        mac.update(b"\0");
        mac.update(call_id);
        Some(mac)
    }

    /// The `X-Carillon-Node` value of a request of `call_id` that this node forwards.
    pub(crate) fn mark(&self, call_id: &[u8]) -> String {
        let tag = self.mac(self.node_id.as_bytes(), call_id).map(|m| m.finalize().into_bytes()).unwrap_or_default();
        let hex: String = tag.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{};mac={hex}", self.node_id)
    }

    /// The sending node's id if a request with mark `value` on `flow` is trusted inter-node
    /// traffic (see the module docs), else `None`.
    pub(crate) fn verify(&self, flow: &Flow, value: &[u8], call_id: &[u8]) -> Option<String> {
        if flow.transport == Transport::Udp || !self.peers.contains(&flow.remote.ip().to_canonical()) {
            return None;
        }
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.split(';').map(str::trim);
        let node = parts.next()?;
        if node.is_empty() || node == self.node_id {
            return None;
        }
        let hex = parts.find_map(|p| p.strip_prefix("mac="))?;
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let tag: Option<Vec<u8>> =
            (0..16).map(|i| hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        self.mac(node.as_bytes(), call_id)?.verify_truncated_left(&tag?).ok()?;
        Some(node.to_owned())
    }
}

impl Core {
    /// Publishes in the registry whether this node holds bindings of `user` (after they
    /// changed). A failure is logged: the local binding stands, and the next refresh writes
    /// the row again.
    pub(crate) async fn publish(&self, user: &str, bindings: &[Binding]) {
        let Some(c) = &self.cluster else { return };
        let r = match bindings.iter().map(|b| b.expires_at).max() {
            Some(exp) => self.store.presence_set(user, &c.node_id, exp).await,
            None => self.store.presence_clear(user, &c.node_id).await,
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, user = %super::Redacted(user), "cannot publish presence");
        }
    }

    /// Marks `user`'s registry row for the presence writer (multi-node mode; nothing otherwise).
    pub(crate) fn publish_soon(&self, user: &str) {
        if self.cluster.is_none() {
            return;
        }
        let mut dirty = self.presence_dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if dirty.insert(user.to_owned()) && dirty.len() == 1 {
            self.presence_wake.notify_one();
        }
    }

    /// Publishes the marked users' rows, their state read from the location service when
    /// written (so the latest state wins), all in one transaction; a failed write is retried
    /// a second later. A task of the server in multi-node mode.
    pub(crate) async fn presence_writer(self: Arc<Self>) {
        let Some(c) = &self.cluster else { return };
        loop {
            self.presence_wake.notified().await;
            let users: Vec<String> = {
                let mut dirty = self.presence_dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                dirty.drain().collect()
            };
            if users.is_empty() {
                continue;
            }
            let now = self.clock.unix_now();
            let rows: Vec<(String, Option<i64>)> = users
                .into_iter()
                .map(|u| {
                    let exp = self.location.lookup(&u, now).iter().map(|b| b.expires_at).max();
                    (u, exp)
                })
                .collect();
            if let Err(e) = self.store.presence_publish(&c.node_id, &rows).await {
                tracing::warn!(error = %e, users = rows.len(), "cannot publish presence, retrying");
                {
                    let mut dirty = self.presence_dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    dirty.extend(rows.into_iter().map(|(u, _)| u));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.presence_wake.notify_one();
            }
        }
    }

    /// Renews this node's lease (at once, then every third of the lease).
    pub(crate) async fn renew_lease(&self) {
        let Some(c) = &self.cluster else { return };
        let until = self.clock.unix_now().saturating_add(c.lease_secs);
        if let Err(e) = self.store.node_heartbeat(&c.node_id, &c.sip_addr.to_string(), until).await {
            tracing::warn!(error = %e, node = %c.node_id, "cannot renew node lease");
        }
    }

    /// Renews the lease for ever (a task of the server).
    pub(crate) async fn heartbeat(self: Arc<Self>) {
        let Some(every) =
            self.cluster.as_ref().map(|c| Duration::from_secs(u64::try_from(c.lease_secs / 3).unwrap_or(1).max(1)))
        else {
            return;
        };
        loop {
            tokio::time::sleep(every).await;
            self.renew_lease().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(id: &str) -> Cluster {
        Cluster {
            node_id: id.into(),
            sip_addr: SocketAddr::from(([127, 0, 0, 1], 5060)),
            peers: vec![IpAddr::from([127, 0, 0, 1])],
            lease_secs: 30,
            secret: b"shared".to_vec(),
        }
    }

    #[test]
    fn marks_verify_only_from_peers_over_streams_with_the_right_mac() {
        let (n1, n2) = (cluster("n1"), cluster("n2"));
        let tcp = Flow { transport: Transport::Tcp, remote: SocketAddr::from(([127, 0, 0, 1], 40000)), conn: 3 };
        let mark = n1.mark(b"call-1");
        assert_eq!(n2.verify(&tcp, mark.as_bytes(), b"call-1").as_deref(), Some("n1"));
        assert_eq!(n2.verify(&tcp, mark.as_bytes(), b"call-2"), None, "another call");
        assert_eq!(n2.verify(&Flow::udp(tcp.remote), mark.as_bytes(), b"call-1"), None, "UDP");
        let far = Flow { remote: SocketAddr::from(([10, 0, 0, 9], 40000)), ..tcp };
        assert_eq!(n2.verify(&far, mark.as_bytes(), b"call-1"), None, "not a peer");
        assert_eq!(n1.verify(&tcp, mark.as_bytes(), b"call-1"), None, "itself");
        assert_eq!(n2.verify(&tcp, b"n1;mac=00", b"call-1"), None);
        assert_eq!(n2.verify(&tcp, b"n1", b"call-1"), None);
        let forged = mark.replace("n1;", "n3;");
        assert_eq!(n2.verify(&tcp, forged.as_bytes(), b"call-1"), None);
    }
}
