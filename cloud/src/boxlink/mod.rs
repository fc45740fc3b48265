//! The box link: the cloud's end of the control connection every school's box keeps open.
//!
//! # Wire sequence
//! The box connects (TLS; plain TCP only when [`BoxLinkConfig::plain_tcp`] says so, for tests)
//! and speaks control frames ([`carillon_protocol::control`]: postcard + CRC-32 + COBS):
//!
//! ```text
//! box                                        cloud
//!  Hello                               ──▶
//!                                      ◀──   Hello                  (or Hello + Goodbye{UnsupportedVersion})
//!  Enroll{token}                       ──▶                          (once in a box's life)
//!                                      ◀──   Enrolled{box_id, credential} | EnrollRejected + close
//!  Authenticate{box_id, credential}    ──▶
//!                                      ◀──   Authenticated{records_stored_up_to} | AuthRejected + close
//!                                      ◀──   ConfigBegin, ConfigExtensions*, ConfigRingGroups*, ConfigEnd
//!  ConfigApplied | ConfigRejected      ──▶   (recorded in the box's status)
//!  Status / Bindings / CallRecords     ──▶   Status recorded; BindingsAck; CallRecordsAck{up_to_seq}
//!                                      ◀──   the configuration again whenever the site's version moves
//!  Ping / Pong                         ◀─▶   the cloud pings a box silent for `ping_interval_secs`
//! ```
//!
//! Anything else before authentication, a frame that does not decode, or a message out of
//! place gets `Goodbye{ProtocolViolation}` and the connection is closed; other boxes are not
//! affected. A second connection of the same box replaces the first (`Goodbye{Replaced}`).
//!
//! # Limits and their answers
//! - frames: the protocol's decoder (at most [`carillon_protocol::control::DECODE_BUFFER_LEN`]
//!   bytes decoded); a longer frame is a protocol violation;
//! - connections: at most [`BoxLinkConfig::max_connections`]; the next one gets
//!   `Goodbye{Shutdown}` at once and is closed (the box retries with its back-off);
//! - `handshake_timeout_secs` to reach authentication; `idle_timeout_secs` without any frame
//!   closes the connection (the cloud's Pings keep a live box talking).
//!
//! # Config changes
//! Every directory write bumps its site's `config_version` in the store (same transaction).
//! One poller per node reads every site's version each `config_poll_ms` (one query) and
//! publishes the map on a `tokio::sync::watch`; a session whose site's version moved sends the
//! new configuration. Polling the database rather than a broadcast from the store's write paths
//! also sees changes made by another node on the same PostgreSQL.
//!
//! # Reaching a box's phones
//! The box's SIP traffic is its own TCP/TLS connection to the SIP server, not this link. When
//! a box hands bindings back, the session finds the box's SIP flow: a live SIP stream
//! connection from the same IP address as this control connection, not claimed by another
//! box. Exactly one candidate: it is claimed for this box (keyed by box id, for the life of the
//! control connection) and the bindings go into the location service through it, with the
//! Path `<sip:box-ID@ADDR;transport=..;lr>`. None within `sip_flow_wait_ms`, or several (boxes
//! behind one NAT address): the batch is not acknowledged and the box sends it again later
//! (its phones are reached anyway after their next REGISTER through the box).

mod convert;
mod push;
mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use carillon_protocol::control::{encode_frame, CloudMessage, Goodbye, GoodbyeReason, MAX_FRAME_LEN};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::sip::{Clock, Flow, SipHandle};
use crate::store::Store;

pub use push::{config_messages, BuildError};

/// TLS certificate and key of the box link (PEM files, as for the SIP server).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxLinkTls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The box link's settings (`[box_link]` in the cloud's TOML file).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxLinkConfig {
    /// Listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// TLS certificate and key; required unless `plain_tcp`.
    pub tls: Option<BoxLinkTls>,
    /// Accept plain TCP instead of TLS. For tests only: credentials travel in clear.
    pub plain_tcp: bool,
    /// Most box connections at once.
    pub max_connections: usize,
    /// Seconds from accept to a completed Hello and Enroll/Authenticate (TLS handshake included).
    pub handshake_timeout_secs: u64,
    /// A box silent this long gets a Ping.
    pub ping_interval_secs: u64,
    /// A box silent this long is disconnected.
    pub idle_timeout_secs: u64,
    /// How often the sites' configuration versions are read.
    pub config_poll_ms: u64,
    /// How long a binding batch waits for the box's SIP connection to appear.
    pub sip_flow_wait_ms: u64,
    /// Longest lifetime granted to a binding handed back (as the registrar's `max_expires`).
    pub max_binding_secs: u32,
}

impl Default for BoxLinkConfig {
    fn default() -> Self {
        BoxLinkConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5070)),
            tls: None,
            plain_tcp: false,
            max_connections: 5_000,
            handshake_timeout_secs: 10,
            ping_interval_secs: 30,
            idle_timeout_secs: 90,
            config_poll_ms: 1_000,
            sip_flow_wait_ms: 5_000,
            max_binding_secs: 7_200,
        }
    }
}

/// Why the box link could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoxLinkError {
    /// The listen address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("box link TLS: {0}")]
    Tls(String),
    /// A setting is wrong.
    #[error("bad box link configuration: {0}")]
    Config(String),
}

/// The session of a connected box, as other sessions see it.
#[derive(Debug)]
struct Attached {
    /// Connection id of the session.
    conn: u64,
    /// Tells the session it was replaced by a newer connection of the same box.
    replace: Option<oneshot::Sender<()>>,
    /// The box's SIP flow, once found.
    sip_flow: Option<Flow>,
}

/// What every session of a node shares.
struct Shared {
    store: Store,
    sip: Option<SipHandle>,
    cfg: BoxLinkConfig,
    clock: Arc<dyn Clock>,
    versions: watch::Receiver<Arc<HashMap<i64, i64>>>,
    shutdown: watch::Receiver<bool>,
    attached: Mutex<HashMap<i64, Attached>>,
    next_conn: AtomicU64,
    /// One permit per connection within `max_connections`.
    permits: Arc<Semaphore>,
}

impl Shared {
    fn attached(&self) -> MutexGuard<'_, HashMap<i64, Attached>> {
        self.attached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running box link of one node. Dropping it does not stop it; call
/// [`BoxLink::shutdown`].
pub struct BoxLink {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for BoxLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxLink").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl BoxLink {
    /// Binds the listener and starts serving boxes. `sip` is the node's SIP server, through
    /// which handed-back bindings are reached (without it, binding batches are not
    /// acknowledged).
    pub async fn start(
        store: Store,
        sip: Option<SipHandle>,
        cfg: BoxLinkConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<BoxLink, BoxLinkError> {
        let acceptor = match (&cfg.tls, cfg.plain_tcp) {
            (Some(t), false) => Some(crate::sip::transport::tls_acceptor(&t.cert, &t.key).map_err(BoxLinkError::Tls)?),
            (None, true) => None,
            (Some(_), true) => return Err(BoxLinkError::Config("set either tls or plain_tcp, not both".into())),
            (None, false) => return Err(BoxLinkError::Config("tls is required (plain_tcp only for tests)".into())),
        };
        if cfg.max_connections == 0 || cfg.idle_timeout_secs == 0 || cfg.ping_interval_secs == 0 {
            return Err(BoxLinkError::Config("max_connections and timeouts must be positive".into()));
        }
        if cfg.ping_interval_secs >= cfg.idle_timeout_secs {
            return Err(BoxLinkError::Config("ping_interval_secs must be below idle_timeout_secs".into()));
        }
        let listener =
            TcpListener::bind(cfg.listen).await.map_err(|source| BoxLinkError::Bind { addr: cfg.listen, source })?;
        let addr = listener.local_addr().map_err(|source| BoxLinkError::Bind { addr: cfg.listen, source })?;
        let initial = store.site_config_versions().await.unwrap_or_default();
        let (versions_tx, versions) = watch::channel(Arc::new(initial.into_iter().collect::<HashMap<_, _>>()));
        let (stop, shutdown) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(cfg.max_connections));
        let shared = Arc::new(Shared {
            store,
            sip,
            cfg,
            clock,
            versions,
            shutdown,
            attached: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            permits,
        });
        let tasks = vec![
            tokio::spawn(poll_versions(shared.clone(), versions_tx)),
            tokio::spawn(accept(shared.clone(), listener, acceptor)),
        ];
        tracing::info!(%addr, tls = shared.cfg.tls.is_some(), "box link listening");
        Ok(BoxLink { shared, addr, stop, tasks })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ids of the boxes authenticated on this node now.
    pub fn connected_boxes(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.shared.attached().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Connections holding a place within `max_connections` now (authenticated or not yet;
    /// connections refused over the limit are not counted).
    pub fn open_connections(&self) -> usize {
        self.shared.cfg.max_connections.saturating_sub(self.shared.permits.available_permits())
    }

    /// The SIP flow found for a connected box's phones, if one was.
    pub fn box_sip_flow(&self, box_id: i64) -> Option<Flow> {
        self.shared.attached().get(&box_id).and_then(|a| a.sip_flow)
    }

    /// Stops accepting; every session says `Goodbye{Shutdown}`, marks its box offline and
    /// closes. Waits for that, up to 5 s.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.shared.attached().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads every site's configuration version each `config_poll_ms` and publishes changes.
async fn poll_versions(shared: Arc<Shared>, tx: watch::Sender<Arc<HashMap<i64, i64>>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(shared.cfg.config_poll_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match shared.store.site_config_versions().await {
            Ok(v) => {
                let map: HashMap<i64, i64> = v.into_iter().collect();
                tx.send_if_modified(|cur| {
                    if **cur == map {
                        false
                    } else {
                        *cur = Arc::new(map);
                        true
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read configuration versions"),
        }
    }
}

/// Accepts box connections for ever, within the connection limit.
async fn accept(shared: Arc<Shared>, listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    let permits = shared.permits.clone();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let permit = permits.clone().try_acquire_owned().ok();
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let handshake = Duration::from_secs(shared.cfg.handshake_timeout_secs);
            match tls {
                Some(acceptor) => match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => serve(shared, s, peer, permit).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "box link TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "box link TLS handshake timed out"),
                },
                None => serve::<TcpStream>(shared, stream, peer, permit).await,
            }
        });
    }
}

/// Runs one connection: a session within the limit, else the limit's answer.
async fn serve<S>(
    shared: Arc<Shared>,
    mut stream: S,
    peer: SocketAddr,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Some(_permit) = permit else {
        tracing::warn!(%peer, max = shared.cfg.max_connections, "box link connection limit reached");
        let mut buf = [0u8; MAX_FRAME_LEN];
        if let Ok(n) = encode_frame(&CloudMessage::Goodbye(Goodbye { reason: GoodbyeReason::Shutdown }), &mut buf) {
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(buf.get(..n).unwrap_or(&[]))).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
        return;
    };
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    session::run(shared, stream, peer, conn).await;
}
