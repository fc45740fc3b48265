//! The cloud's SIP side: a tokio SIP server on UDP, TCP and TLS — registrar with digest
//! authentication against the store's HA1, location service honouring `Path`, stateful proxy
//! with the numbering plan, ring groups, the carrier trunk, and a call record for every call.
//!
//! # Run loop
//! [`SipServer::start`] binds the sockets and spawns: one UDP receiver, one TCP and one TLS
//! acceptor (a reader and a writer task per connection), and a sweeper. Every framed message
//! goes through one pipeline (`server`): parse → [`carillon_protocol::validate()`] (a bad
//! request gets the error's status and reason) → proxy checks (483 / 416 / 420) → transaction
//! match (retransmissions absorbed) → REGISTER to the registrar, INVITE to routing, in-dialog
//! requests along their Record-Route, responses to the transaction that waits for them.
//!
//! # Time
//! Wall-clock time (nonces, binding expiry, call records) comes from an injectable [`Clock`];
//! protocol timers use tokio's monotonic clock.
//!
//! # Interim transaction layer
//! Retransmission absorption and Timer B/F live in `txn`, a small module marked interim:
//! it is the one interface to swap for `carillon_protocol::transaction` when it lands.

mod auth;
mod build;
mod cluster;
pub mod location;
mod proxy;
pub mod recorder;
mod salvage;
mod server;
pub mod transport;
mod trunk;
mod txn;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::store::Store;

pub use auth::{AuthError, Authenticator};
pub use location::{Binding, HandedBinding, Location, LocationError};
pub use recorder::{RecordWriter, WriterStats};
pub use transport::{Flow, Limits, Transport};
pub use trunk::TrunkConfig;

/// Wall-clock time for the SIP side, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// Now, UTC Unix seconds.
    fn unix_now(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A phone number or user part for logs: the first three characters and the length, so that
/// info-level logs carry no full number (STYLE habit 11).
#[derive(Clone, Copy, Debug)]
pub struct Redacted<'a>(pub &'a str);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head: String = self.0.chars().take(3).collect();
        if self.0.chars().count() <= 3 {
            write!(f, "{head}")
        } else {
            write!(f, "{head}…({})", self.0.chars().count())
        }
    }
}

/// TLS listener settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The SIP server's settings (`[sip]` in the cloud's TOML file).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// UDP listen address (port 0 picks a free one).
    pub udp: SocketAddr,
    /// TCP listen address; `None` listens on the UDP socket's bound address (same IP and port).
    pub tcp: Option<SocketAddr>,
    /// TLS listener, if configured.
    pub tls: Option<TlsConfig>,
    /// Host written in our Via and Record-Route; default the UDP listen IP.
    pub host: Option<String>,
    /// Key of the nonce MACs (shared by nodes); random per start when absent.
    pub nonce_secret: Option<String>,
    /// Seconds a nonce stays fresh.
    pub nonce_lifetime_secs: i64,
    /// Digest algorithms offered, in order of preference (`MD5`, `SHA-256`).
    pub digest_algorithms: Vec<String>,
    /// Shortest registration accepted (423 below).
    pub min_expires: u32,
    /// Longest registration granted (longer ones are cut down).
    pub max_expires: u32,
    /// Registration length when the phone asks none.
    pub default_expires: u32,
    /// Seconds an extension rings before 480 (ring groups have their own).
    pub ring_timeout_secs: u64,
    /// Largest SIP message.
    pub max_message_len: usize,
    /// Most TCP+TLS connections.
    pub max_connections: usize,
    /// Most transactions of each side (server, client) at once. A server transaction over
    /// UDP is held 32 s after its answer (RFC 3261 Timer J/H) with that answer (about 1 KB), so
    /// the default holds 6,000 UDP requests/s sustained in about 200 MB at most; TCP/TLS
    /// non-INVITE requests and the registrar's challenges hold none after their answer.
    pub max_transactions: usize,
    /// Most calls being set up or up at once.
    pub max_calls: usize,
    /// Most bindings in the location service.
    pub max_bindings: usize,
    /// Most bindings per extension.
    pub max_bindings_per_user: usize,
    /// Retry-After seconds on 503.
    pub retry_after_secs: u32,
    /// Most call records waiting for the writer; when full, the tasks ending calls wait.
    pub record_queue: usize,
    /// Most call records committed in one transaction.
    pub record_batch: usize,
    /// The carrier trunk.
    pub trunk: Option<TrunkConfig>,
    /// This node's id when several nodes share one PostgreSQL (letters, digits, `-`, `_`;
    /// at most 64). `None` (the default): a single node, no registry is written.
    pub node_id: Option<String>,
    /// Where the other nodes reach this node's SIP server (TCP); default the TCP listen
    /// address. Must be reachable by them (not `0.0.0.0`).
    pub node_sip_addr: Option<SocketAddr>,
    /// IP addresses of the peer nodes: a request marked as inter-node traffic is trusted only
    /// when it comes from one of them, over TCP or TLS, with a valid mark (see `cluster`).
    pub peer_nodes: Vec<std::net::IpAddr>,
    /// Seconds a node's lease lasts without renewal; renewed every third of it. Another
    /// node's registrations count only under its live lease.
    pub node_lease_secs: u32,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            udp: SocketAddr::from(([127, 0, 0, 1], 5060)),
            tcp: None,
            tls: None,
            host: None,
            nonce_secret: None,
            nonce_lifetime_secs: 300,
            digest_algorithms: vec!["MD5".into()],
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            ring_timeout_secs: 30,
            max_message_len: 65_535,
            max_connections: 10_000,
            max_transactions: 200_000,
            max_calls: 5_000,
            max_bindings: 100_000,
            max_bindings_per_user: 10,
            retry_after_secs: 30,
            record_queue: 10_000,
            record_batch: 500,
            trunk: None,
            node_id: None,
            node_sip_addr: None,
            peer_nodes: Vec::new(),
            node_lease_secs: 30,
        }
    }
}

/// Why the SIP server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A setting is wrong.
    #[error("bad SIP configuration: {0}")]
    Config(String),
}

/// A running SIP server. Dropping it does not stop it; call [`SipServer::shutdown`].
#[derive(Debug)]
pub struct SipServer {
    core: Arc<server::Core>,
    tasks: Vec<JoinHandle<()>>,
    udp: SocketAddr,
    tcp: SocketAddr,
    tls: Option<SocketAddr>,
}

/// What other components of a node (the box link) may do with its running SIP server.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct SipHandle {
    core: Arc<server::Core>,
}

impl SipHandle {
    /// See [`SipServer::import_bindings`].
    pub fn import_bindings(&self, flow: Flow, bindings: &[HandedBinding]) -> usize {
        self.core.import_bindings(flow, bindings)
    }

    /// Like [`SipHandle::import_bindings`], and returns once the registry says this node holds
    /// them (multi-node mode), so that other nodes can route to them.
    pub async fn import_and_publish(&self, flow: Flow, bindings: &[HandedBinding]) -> usize {
        self.core.import_and_publish(flow, bindings).await
    }

    /// This node's id in a multi-node deployment (`None`: single node).
    pub fn node_id(&self) -> Option<&str> {
        self.core.cluster.as_ref().map(|c| c.node_id.as_str())
    }

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// The live TCP/TLS flows, oldest first: where a box's SIP connection is looked for.
    pub fn stream_flows(&self) -> Vec<Flow> {
        self.core.transports.stream_flows()
    }

    /// The location service.
    pub fn location(&self) -> &Location {
        self.core.location()
    }

    /// Wall-clock now, as the SIP server sees it (its [`Clock`]).
    pub fn unix_now(&self) -> i64 {
        self.core.clock.unix_now()
    }
}

impl SipServer {
    /// Binds the listeners and starts serving.
    pub async fn start(store: Store, config: SipConfig, clock: Arc<dyn Clock>) -> Result<SipServer, StartError> {
        let algorithms = config
            .digest_algorithms
            .iter()
            .map(|a| {
                carillon_protocol::digest::Algorithm::parse(a.as_bytes())
                    .map_err(|_| StartError::Config(format!("unknown digest algorithm {a}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err(StartError::Config("digest_algorithms must not be empty".into()));
        }
        if config.record_queue == 0 || config.record_batch == 0 {
            return Err(StartError::Config("record_queue and record_batch must be at least 1".into()));
        }
        if config.min_expires > config.max_expires {
            return Err(StartError::Config("min_expires is above max_expires".into()));
        }
        let udp = UdpSocket::bind(config.udp).await.map_err(|source| StartError::Bind { addr: config.udp, source })?;
        let udp_addr = udp.local_addr().map_err(|source| StartError::Bind { addr: config.udp, source })?;
        let tcp_want = config.tcp.unwrap_or(udp_addr);
        let tcp = TcpListener::bind(tcp_want).await.map_err(|source| StartError::Bind { addr: tcp_want, source })?;
        let tcp_addr = tcp.local_addr().map_err(|source| StartError::Bind { addr: tcp_want, source })?;
        let tls = match &config.tls {
            Some(t) => {
                let acceptor = transport::tls_acceptor(&t.cert, &t.key).map_err(StartError::Tls)?;
                let l =
                    TcpListener::bind(t.listen).await.map_err(|source| StartError::Bind { addr: t.listen, source })?;
                let a = l.local_addr().map_err(|source| StartError::Bind { addr: t.listen, source })?;
                Some((l, acceptor, a))
            }
            None => None,
        };
        let limits = Limits {
            max_message_len: config.max_message_len,
            max_connections: config.max_connections,
            retry_after_secs: config.retry_after_secs,
            ..Limits::default()
        };
        let transports = transport::Transports::new(udp, limits);
        let secret = match &config.nonce_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                use rand::Rng;
                rand::rng().random::<[u8; 32]>().to_vec()
            }
        };
        let tls_addr = tls.as_ref().map(|t| t.2);
        let ports = server::Ports { udp: udp_addr, tcp: tcp_addr, tls: tls_addr };
        let realm = store.options().realm.clone();
        let auth = Authenticator::new(&secret, &realm, config.nonce_lifetime_secs, algorithms);
        let cluster = cluster::Cluster::from_config(&config, tcp_addr)?;
        let core = server::Core::new(store, config, clock, transports.clone(), auth, ports, cluster);
        if let Some(c) = &core.cluster {
            // A (re)started node holds no binding and no box yet.
            if let Err(e) = core.store.node_forget(&c.node_id, false).await {
                tracing::warn!(error = %e, node = %c.node_id, "cannot clear this node's old registry rows");
            }
            core.renew_lease().await;
            tracing::info!(node = %c.node_id, sip = %c.sip_addr, "joined the node registry");
        }
        let sink: transport::Sink = {
            let core = core.clone();
            Arc::new(move |inb| {
                let core = core.clone();
                tokio::spawn(async move { core.handle(inb).await });
            })
        };
        transports.set_sink(sink.clone());
        let closed = Arc::downgrade(&core);
        transports.set_on_closed(Arc::new(move |flow| {
            if let Some(core) = closed.upgrade() {
                core.flow_closed(flow);
            }
        }));
        let mut tasks = vec![
            tokio::spawn(transport::run_udp(transports.clone(), sink.clone())),
            tokio::spawn(transport::run_tcp(transports.clone(), tcp, sink.clone())),
            tokio::spawn(core.clone().sweeper()),
            tokio::spawn(core.clone().heartbeat()),
        ];
        if let Some((l, acceptor, _)) = tls {
            tasks.push(tokio::spawn(transport::run_tls(transports.clone(), l, acceptor, sink)));
        }
        if core.cluster.is_some() {
            tasks.push(tokio::spawn(core.clone().presence_writer()));
        }
        if let Some(t) = core.trunk_register_task() {
            tasks.push(tokio::spawn(t));
        }
        tracing::info!(udp = %udp_addr, tcp = %tcp_addr, tls = ?tls_addr, "SIP server listening");
        Ok(SipServer { core, tasks, udp: udp_addr, tcp: tcp_addr, tls: tls_addr })
    }

    /// The UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// The TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// The TLS address, if TLS is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// The location service (bindings by SIP username).
    pub fn location(&self) -> &Location {
        self.core.location()
    }

    /// Puts the bindings a box hands back after an outage into the location service, reached
    /// through the box's `flow`; returns how many were stored. (Called by the box link.) In
    /// multi-node mode the registry is written in the background.
    pub fn import_bindings(&self, flow: Flow, bindings: &[HandedBinding]) -> usize {
        self.core.import_bindings(flow, bindings)
    }

    /// A handle for other components of the node (the box link) that outlives no task: it
    /// stops working with the server.
    pub fn handle(&self) -> SipHandle {
        SipHandle { core: self.core.clone() }
    }

    /// Whether the carrier trunk registration is currently accepted (false when none is
    /// configured).
    pub fn trunk_registered(&self) -> bool {
        self.core.trunk_registered()
    }

    /// Server and client transactions held now.
    pub fn transactions(&self) -> (usize, usize) {
        self.core.txns.counts()
    }

    /// Calls being set up or up.
    pub fn active_calls(&self) -> usize {
        self.core.active_calls()
    }

    /// This node's id in a multi-node deployment (`None`: single node).
    pub fn node_id(&self) -> Option<&str> {
        self.core.cluster.as_ref().map(|c| c.node_id.as_str())
    }

    /// The SIP address this node publishes to the others (multi-node mode).
    pub fn node_sip_addr(&self) -> Option<SocketAddr> {
        self.core.cluster.as_ref().map(|c| c.sip_addr)
    }

    /// Leaves the node registry before a graceful stop: this node's lease, presence rows and
    /// box attachments are deleted, so the other nodes stop routing here at once (a node that
    /// dies instead is skipped once its lease runs out).
    pub async fn leave(&self) {
        if let Some(c) = &self.core.cluster {
            if let Err(e) = self.core.store.node_forget(&c.node_id, true).await {
                tracing::warn!(error = %e, node = %c.node_id, "cannot leave the node registry");
            }
        }
    }

    /// The call-record writer (its queue and counters).
    pub fn record_writer(&self) -> &RecordWriter {
        &self.core.recorder
    }

    /// Stops every task of the server (listeners, connections end with their tasks) without
    /// waiting; the call-record writer still writes what is queued in the background. Prefer
    /// [`SipServer::stop`], which waits for that.
    pub fn shutdown(self) {
        for t in self.tasks {
            t.abort();
        }
        self.core.recorder.close();
    }

    /// Graceful stop: the listeners and the sweeper end, answered calls still up are recorded
    /// as ended now, and every queued call record is written before this returns.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.core.end_all_dialogs().await;
        self.core.recorder.stop().await;
    }
}
