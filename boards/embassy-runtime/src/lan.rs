//! The run loop on embassy-net: one task owns the [`Gateway`], waits for a SIP datagram from
//! the school LAN or for the core's next deadline, hands it in, and drains the core after
//! every `handle_*` call — [`Gateway::poll_transmit`] until `None`, then
//! [`Gateway::poll_event`] — as the core's module docs ask.
//!
//! With [`Links`] (a box with an identity in flash) the same loop also waits on the uplink
//! and the control link ([`crate::links`]) and writes the core's output for the cloud to them.
//! Without, what the core sends to the cloud is dropped and counted in [`LanStats`], and the
//! box stays in survival — registrar and proxy of the school's phones from its stored
//! configuration.

use core::net::{IpAddr, SocketAddr};

use carillon_firmware::journal::Storage;
use carillon_firmware::mcu::gateway::{ConfigStore, Event, Gateway, Transmit, MAX_SIP_LEN};
use core::future::pending;
use embassy_futures::join::join;
use embassy_futures::select::{select4, Either4};
use embassy_net::udp::{PacketMetadata, RecvError, UdpSocket};
use embassy_net::{IpAddress, IpEndpoint, Stack};

use embassy_time::{Duration, Timer};

use crate::links::{Inbound, LinkRunners, Links};
use crate::time::{now, to_embassy};

/// Largest SIP datagram taken from the LAN: the core's longest message ([`MAX_SIP_LEN`], 2 KiB
/// in the microcontroller profile); a longer one is truncated by the socket and dropped
/// (counted), as the core would refuse it anyway.
pub const LAN_DATAGRAM: usize = MAX_SIP_LEN;
/// Datagrams the socket buffers in each direction.
pub const LAN_PACKETS: usize = 8;
/// The longest the loop sleeps when the core has no deadline.
const IDLE: Duration = Duration::from_secs(60);

/// The socket buffers of the LAN loop (keep them in a `static`: about 18 KiB).
pub struct LanBuffers {
    rx_meta: [PacketMetadata; LAN_PACKETS],
    tx_meta: [PacketMetadata; LAN_PACKETS],
    rx: [u8; LAN_DATAGRAM * 4],
    tx: [u8; LAN_DATAGRAM * 4],
    datagram: [u8; LAN_DATAGRAM],
}

impl LanBuffers {
    /// Empty buffers.
    pub const fn new() -> Self {
        LanBuffers {
            rx_meta: [PacketMetadata::EMPTY; LAN_PACKETS],
            tx_meta: [PacketMetadata::EMPTY; LAN_PACKETS],
            rx: [0; LAN_DATAGRAM * 4],
            tx: [0; LAN_DATAGRAM * 4],
            datagram: [0; LAN_DATAGRAM],
        }
    }
}

impl Default for LanBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What the loop counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LanStats {
    /// Datagrams handed to the core.
    pub datagrams_in: u64,
    /// Datagrams sent to phones.
    pub datagrams_out: u64,
    /// Datagrams over [`LAN_DATAGRAM`], dropped.
    pub truncated: u64,
    /// Datagrams the socket could not send (no route, buffer error).
    pub send_failed: u64,
    /// Messages for the cloud dropped: no links (no identity), or the link down or full.
    pub uplink_dropped: u64,
    /// Other output this runtime has no transport for, dropped.
    pub other_dropped: u64,
}

/// What woke the loop.
enum Wake {
    Datagram(Result<(usize, embassy_net::udp::UdpMetadata), RecvError>),
    Uplink(Inbound),
    Control(Inbound),
    Timer,
}

/// Runs the gateway on `stack`'s UDP `port` forever, with its links to the cloud if `links`
/// (both sides, from [`crate::links::links`]).
pub async fn run<J: Storage, C: ConfigStore>(
    stack: Stack<'_>,
    gateway: &mut Gateway<J, C>,
    port: u16,
    bufs: &mut LanBuffers,
    links: Option<(&mut Links<'_>, &mut LinkRunners<'_>)>,
) -> ! {
    match links {
        Some((ends, runners)) => {
            let _ = join(run_loop(stack, gateway, port, bufs, Some(ends)), runners.run()).await;
        }
        None => run_loop(stack, gateway, port, bufs, None).await,
    }
    loop {
        Timer::after(IDLE).await;
    }
}

async fn run_loop<J: Storage, C: ConfigStore>(
    stack: Stack<'_>,
    gateway: &mut Gateway<J, C>,
    port: u16,
    bufs: &mut LanBuffers,
    mut links: Option<&mut Links<'_>>,
) -> ! {
    let LanBuffers { rx_meta, tx_meta, rx, tx, datagram } = bufs;
    let mut socket = UdpSocket::new(stack, rx_meta, rx, tx_meta, tx);
    if let Err(e) = socket.bind(port) {
        // Only a second bind of the port fails; nothing can run without it.
        log::error!("cannot bind UDP port {port}: {e:?}");
        loop {
            Timer::after(IDLE).await;
        }
    }
    log::info!("SIP on UDP port {port}, mode {:?}", gateway.mode());
    let mut stats = LanStats::default();
    loop {
        let deadline = gateway.poll_timeout().map(to_embassy);
        let timer = async {
            match deadline {
                Some(at) => Timer::at(at).await,
                None => Timer::after(IDLE).await,
            }
        };
        let wake = match links.as_deref_mut() {
            Some(l) => match select4(socket.recv_from(datagram), l.uplink.next(), l.control.next(), timer).await {
                Either4::First(r) => Wake::Datagram(r),
                Either4::Second(e) => Wake::Uplink(e),
                Either4::Third(e) => Wake::Control(e),
                Either4::Fourth(()) => Wake::Timer,
            },
            None => match select4(socket.recv_from(datagram), pending::<()>(), pending::<()>(), timer).await {
                Either4::First(r) => Wake::Datagram(r),
                _ => Wake::Timer,
            },
        };
        match wake {
            Wake::Datagram(Ok((n, meta))) => {
                let Some(from) = to_socket_addr(meta.endpoint) else { continue };
                stats.datagrams_in += 1;
                gateway.handle_lan_datagram(now(), from, datagram.get(..n).unwrap_or(&[]));
            }
            Wake::Datagram(Err(RecvError::Truncated)) => {
                stats.truncated += 1;
                log::warn!("LAN datagram over {LAN_DATAGRAM} bytes dropped");
                continue;
            }
            Wake::Timer => {
                if deadline.is_some() {
                    gateway.handle_timeout(now());
                }
            }
            Wake::Uplink(ev) => {
                let Some(l) = links.as_deref_mut() else { continue };
                match ev {
                    Inbound::Bytes(b) => gateway.handle_uplink_bytes(now(), &b),
                    Inbound::Down => {
                        l.uplink_state(false);
                        gateway.handle_uplink_closed(now());
                    }
                    Inbound::Up => l.uplink_state(true),
                }
            }
            Wake::Control(ev) => {
                let Some(l) = links.as_deref_mut() else { continue };
                match ev {
                    Inbound::Up => l.control_up(),
                    Inbound::Down => l.control_down(),
                    Inbound::Bytes(b) => {
                        let version = gateway.site().map(|s| s.version);
                        l.control_bytes(&b, version, |m| gateway.handle_control(now(), m));
                    }
                }
            }
        }
        drain(gateway, &socket, &mut stats, links.as_deref_mut()).await;
    }
}

/// The drain rule: every transmit, in order, then every event.
async fn drain<J: Storage, C: ConfigStore>(
    gateway: &mut Gateway<J, C>,
    socket: &UdpSocket<'_>,
    stats: &mut LanStats,
    mut links: Option<&mut Links<'_>>,
) {
    while let Some(t) = gateway.poll_transmit(now()) {
        match t {
            Transmit::Lan { to, bytes } => match socket.send_to(bytes, to_endpoint(to)).await {
                Ok(()) => stats.datagrams_out += 1,
                Err(e) => {
                    stats.send_failed += 1;
                    log::warn!("LAN send failed: {e:?}");
                }
            },
            Transmit::Uplink { bytes } => {
                if !links.as_deref_mut().is_some_and(|l| l.send_uplink(bytes)) {
                    stats.uplink_dropped += 1;
                }
            }
            Transmit::Control(m) => {
                if !links.as_deref_mut().is_some_and(|l| l.send_control(&m)) {
                    stats.uplink_dropped += 1;
                }
            }
            // Output of a kind this runtime has no transport for (SIP over TCP from phones:
            // the board listens on UDP only): dropped and counted.
            #[allow(unreachable_patterns)]
            _ => stats.other_dropped += 1,
        }
    }
    while let Some(e) = gateway.poll_event() {
        if matches!(e, Event::UplinkStreamError) {
            if let Some(l) = links.as_deref_mut() {
                log::warn!("uplink stream broke its framing; reconnecting");
                l.uplink.reset();
            }
        }
        log_event(&e);
    }
}

fn log_event(e: &Event) {
    match e {
        Event::ModeChanged { from, to, cause, .. } => log::info!("mode {from:?} -> {to:?} ({cause:?})"),
        other => log::info!("{other:?}"),
    }
}

fn to_socket_addr(ep: IpEndpoint) -> Option<SocketAddr> {
    match ep.addr {
        IpAddress::Ipv4(a) => Some(SocketAddr::new(IpAddr::V4(a), ep.port)),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn to_endpoint(a: SocketAddr) -> IpEndpoint {
    match a.ip() {
        IpAddr::V4(v4) => IpEndpoint::new(IpAddress::Ipv4(v4), a.port()),
        // The LAN side is IPv4 only (the stack is built without IPv6): such an address can
        // only be the unspecified one, which smoltcp refuses with an error, counted.
        IpAddr::V6(_) => IpEndpoint::new(IpAddress::Ipv4(core::net::Ipv4Addr::UNSPECIFIED), a.port()),
    }
}
