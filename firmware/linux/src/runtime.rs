//! The run loop: one task owns the [`Gateway`] and does what its module docs ask — hand in
//! what arrives (a LAN datagram, a phone's TCP connection opening, its bytes, its close,
//! uplink bytes or its loss, a control message), call
//! `handle_timeout` at the deadline of `poll_timeout`, and after every `handle_*` drain
//! `poll_transmit` then `poll_event` (the drain rule). Sockets live in other tasks
//! ([`crate::links`]) or are sent to without waiting (the LAN socket), so the loop never blocks
//! on the network. Output that cannot be sent at once is dropped and counted: SIP
//! retransmissions and the core's batch resends recover it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use carillon_firmware::gateway::{Event, Gateway, Settings, Timing, Transmit};
use carillon_protocol::control::{BoxId, BoxMessage, CloudMessage};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, Identity};
use crate::lan_tcp::{run_listener, LanConnEvent};
use crate::links::{run_control, run_uplink, ControlEvent, ControlSetup, UplinkCmd, UplinkEvent};
use crate::redact::Redacted;
use crate::state::{FileConfigStore, FileStorage, StateDir, StateError, JOURNAL_SECTOR, JOURNAL_SECTORS};
use crate::time::{wall_now, Clock};
use crate::tls::Connector;

/// The gateway as the Linux runtime instantiates it.
pub type BoxGateway = Gateway<FileStorage, FileConfigStore>;

/// Largest UDP datagram read from the LAN (bigger ones are truncated and refused by the core).
const LAN_DATAGRAM: usize = 65_535;
/// Messages queued towards each link task.
const LINK_QUEUE: usize = 256;
/// How long shutdown waits for the link tasks to close their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the box could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The state directory is unusable.
    #[error("state directory: {0}")]
    State(#[from] StateError),
    /// The journal could not be opened.
    #[error("journal: {0}")]
    Journal(String),
    /// The TLS settings are unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The LAN socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No identity: neither enrolled nor a token.
    #[error(
        "bad configuration: no identity (set identity.box_id and identity.credential, or identity.enrollment_token)"
    )]
    NoIdentity,
}

/// The box's identity at start: the state directory's (written at enrollment) wins over the
/// configuration file's.
pub fn resolve_identity(config: &Config, state: &StateDir) -> Result<Identity, RunError> {
    match state.load_identity()? {
        Some(id) => Ok(id),
        None => config.identity().ok_or(RunError::NoIdentity),
    }
}

fn settings(config: &Config, lan: SocketAddr, box_id: u64) -> Result<Settings, RunError> {
    let host = heapless::String::try_from(config.identity.host.as_str())
        .map_err(|_| RunError::Config(crate::config::ConfigError::Invalid("identity.host too long".into())))?;
    Ok(Settings {
        box_id: BoxId(box_id),
        host,
        lan_addr: lan,
        // Stands for the flow in the transaction layer; never sent to.
        uplink_peer: config.cloud.sip,
        timing: Timing::detect_within(config.detect_within()),
        seed: rand::random(),
    })
}

fn boot(
    config: &Config,
    state: &StateDir,
    lan: SocketAddr,
    box_id: u64,
    now: carillon_protocol::Instant,
) -> Result<Box<BoxGateway>, RunError> {
    let journal = FileStorage::open(&state.journal_path(), JOURNAL_SECTOR, JOURNAL_SECTORS)?;
    let store = FileConfigStore::new(state.config_path());
    let gw = Gateway::new(settings(config, lan, box_id)?, journal, store, now)
        .map_err(|e| RunError::Journal(format!("{e:?}")))?;
    Ok(Box::new(gw))
}

/// Runs the box until `shutdown` completes, then closes the links in order. The gateway is
/// large (see [`Gateway`]): run this on a thread with a stack of several MiB.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<(), RunError> {
    let state = StateDir::open(&config.state_dir)?;
    let identity = resolve_identity(&config, &state)?;
    let connector = Connector::new(&config.tls_mode()?).map_err(RunError::Tls)?;
    let lan = UdpSocket::bind(config.lan.listen)
        .await
        .map_err(|source| RunError::Bind { addr: config.lan.listen, source })?;
    let lan_addr = lan.local_addr().map_err(|source| RunError::Bind { addr: config.lan.listen, source })?;
    // Phones on TCP use the same address and port (RFC 3261 §18.2.1).
    let lan_tcp = TcpListener::bind(lan_addr).await.map_err(|source| RunError::Bind { addr: lan_addr, source })?;
    let clock = Clock::start();
    let box_id = match &identity {
        Identity::Enrolled { box_id, .. } => *box_id,
        // Not enrolled: the core runs as box 0 (it has no configuration, so it records no
        // calls) and is restarted with the real id once enrollment succeeds.
        Identity::Token(_) => 0,
    };
    let mut gw = boot(&config, &state, lan_addr, box_id, clock.now())?;
    gw.set_wall_clock(clock.now(), wall_now());
    let (version_tx, version_rx) = watch::channel(gw.site().map(|s| s.version));
    tracing::info!(
        lan = %lan_addr,
        cloud = %config.cloud.sip,
        box_id,
        config_version = ?gw.site().map(|s| s.version),
        journal_unacked = gw.journal().unacked(),
        "carillon-box started (survival until the cloud answers)"
    );

    let (up_ev_tx, mut up_ev) = mpsc::channel(LINK_QUEUE);
    let (up_cmd, up_cmd_rx) = mpsc::channel(LINK_QUEUE);
    let uplink = tokio::spawn(run_uplink(connector.clone(), config.cloud.sip, up_ev_tx, up_cmd_rx));
    let (ctl_ev_tx, mut ctl_ev) = mpsc::channel(LINK_QUEUE);
    let (ctl_cmd, ctl_cmd_rx) = mpsc::channel(LINK_QUEUE);
    let control = tokio::spawn(run_control(
        ControlSetup {
            connector,
            addr: config.cloud.control,
            identity,
            state: state.clone(),
            config_version: version_rx,
        },
        ctl_ev_tx,
        ctl_cmd_rx,
    ));

    let (lan_ev_tx, mut lan_ev) = mpsc::channel(LINK_QUEUE);
    let lan_listener = tokio::spawn(run_listener(lan_tcp, lan_ev_tx));

    let mut links =
        Links { uplink_up: false, control_up: false, up_cmd, ctl_cmd, version: version_tx, lan_conns: HashMap::new() };
    let mut buf = vec![0u8; LAN_DATAGRAM];
    tokio::pin!(shutdown);
    drain(&mut gw, &clock, &lan, &mut links);
    loop {
        let deadline = gw.poll_timeout().map(|t| clock.deadline(t));
        let sleep = tokio::time::sleep_until(
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
        );
        tokio::select! {
            _ = &mut shutdown => break,
            r = lan.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let bytes = buf.get(..n).unwrap_or(&[]);
                    tracing::trace!(from = %Redacted(from), len = n, "LAN datagram");
                    gw.handle_lan_datagram(clock.now(), from, bytes);
                }
                // ICMP errors of earlier sends surface here on Linux: nothing to do.
                Err(e) => tracing::debug!(error = %e, "LAN receive error"),
            },
            Some(ev) = lan_ev.recv() => match ev {
                LanConnEvent::Opened { peer, tx } => {
                    if gw.handle_lan_stream_opened(clock.now(), peer).is_ok() {
                        links.lan_conns.insert(peer, tx);
                    } else {
                        // Dropping `tx` closes the connection.
                        tracing::warn!(peer = %Redacted(peer), "LAN TCP connection refused: connection table full");
                    }
                }
                LanConnEvent::Bytes { peer, bytes } => {
                    tracing::trace!(from = %Redacted(peer), len = bytes.len(), "LAN stream bytes");
                    gw.handle_lan_stream_bytes(clock.now(), peer, &bytes);
                }
                LanConnEvent::Closed { peer } => {
                    links.lan_conns.remove(&peer);
                    gw.handle_lan_stream_closed(clock.now(), peer);
                }
            },
            Some(ev) = up_ev.recv() => match ev {
                UplinkEvent::Up => links.uplink_up = true,
                UplinkEvent::Bytes(b) => gw.handle_uplink_bytes(clock.now(), &b),
                UplinkEvent::Down => {
                    links.uplink_up = false;
                    gw.handle_uplink_closed(clock.now());
                }
            },
            Some(ev) = ctl_ev.recv() => match ev {
                ControlEvent::Message(m) => {
                    if matches!(*m, CloudMessage::Authenticated(_)) {
                        links.control_up = true;
                    }
                    gw.handle_control(clock.now(), *m);
                }
                ControlEvent::Down => links.control_up = false,
                ControlEvent::Enrolled { box_id } => {
                    // Restart the core with its identity; it has nothing to lose yet (no
                    // configuration, hence no bindings or records).
                    let (journal, store) = (*gw).into_storage();
                    drop((journal, store));
                    gw = boot(&config, &state, lan_addr, box_id, clock.now())?;
                    gw.set_wall_clock(clock.now(), wall_now());
                }
            },
            _ = sleep => {
                let now = clock.now();
                gw.set_wall_clock(now, wall_now());
                gw.handle_timeout(now);
            }
        }
        drain(&mut gw, &clock, &lan, &mut links);
    }

    tracing::info!(mode = ?gw.mode(), "shutting down: closing the links");
    // Dropping the command senders ends the link tasks: the control link says Goodbye, both
    // close their TLS sessions. Journal and configuration are already on disk.
    lan_listener.abort();
    drop(links);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = uplink.await;
        let _ = control.await;
    })
    .await;
    drop(gw);
    tracing::info!("stopped");
    Ok(())
}

/// The loop's handles on the link tasks.
struct Links {
    uplink_up: bool,
    control_up: bool,
    up_cmd: mpsc::Sender<UplinkCmd>,
    ctl_cmd: mpsc::Sender<BoxMessage>,
    version: watch::Sender<Option<u32>>,
    /// The phones' TCP connections the core holds, by the phone's end.
    lan_conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

/// The drain rule: every transmit, then every event.
fn drain(gw: &mut BoxGateway, clock: &Clock, lan: &UdpSocket, links: &mut Links) {
    let now = clock.now();
    while let Some(t) = gw.poll_transmit(now) {
        match t {
            Transmit::Lan { to, bytes } => {
                if let Err(e) = lan.try_send_to(bytes, to) {
                    tracing::debug!(to = %Redacted(to), error = %e, "LAN send failed; SIP retransmission will recover");
                }
            }
            Transmit::LanStream { to, bytes } => match links.lan_conns.get(&to) {
                Some(tx) => {
                    if tx.try_send(bytes.to_vec()).is_err() {
                        tracing::debug!(to = %Redacted(to), "LAN connection queue full; message dropped");
                    }
                }
                None => tracing::debug!(to = %Redacted(to), "LAN connection gone; message dropped"),
            },
            Transmit::Uplink { bytes } => {
                if links.uplink_up && links.up_cmd.try_send(UplinkCmd::Send(bytes.to_vec())).is_err() {
                    tracing::debug!("uplink queue full; message dropped");
                }
            }
            Transmit::Control(m) => {
                if links.control_up && links.ctl_cmd.try_send(m).is_err() {
                    tracing::debug!("control queue full; message dropped");
                }
            }
        }
    }
    while let Some(e) = gw.poll_event() {
        match e {
            Event::ModeChanged { from, to, cause, .. } => tracing::info!(?from, ?to, ?cause, "mode changed"),
            Event::ConfigApplied { version } => {
                tracing::info!(version, "configuration applied and stored");
                links.version.send_replace(Some(version));
            }
            Event::ConfigRejected { version, reason } => tracing::warn!(version, ?reason, "configuration refused"),
            Event::JournalAppended { seq } => tracing::info!(seq, "call record journaled"),
            Event::JournalDropped => tracing::error!("call record dropped: journal full or storage failed"),
            Event::LanStreamBroken { peer } => {
                tracing::warn!(peer = %Redacted(peer), "LAN TCP connection broke SIP framing; closing it");
                links.lan_conns.remove(&peer);
            }
            Event::LanStreamEvicted { peer } => {
                tracing::info!(peer = %Redacted(peer), "silent LAN TCP connection closed to make room");
                links.lan_conns.remove(&peer);
            }
            Event::UplinkStreamError => {
                tracing::warn!("uplink stream broke its framing; reconnecting");
                let _ = links.up_cmd.try_send(UplinkCmd::Reconnect);
            }
            other => tracing::debug!(event = ?other, "gateway event"),
        }
    }
}
