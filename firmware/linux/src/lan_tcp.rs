//! The LAN TCP listener: phones that use SIP over TCP connect to the box's LAN address (the
//! same port as UDP). Each connection is a task that hands its bytes to the run loop and writes
//! what the loop sends it; the core frames the stream and decides (see the core's `lan`
//! module). The loop holds one bounded sender per connection; dropping it closes the
//! connection (the core refused it, or its framing broke).
//!
//! Bounds: at most [`MAX_CONNECTION_TASKS`] connection tasks at once (the accept loop waits for
//! one to end beyond that: the core holds [`MAX_LAN_STREAMS`] and refuses the others at once,
//! so tasks end quickly), [`CONN_QUEUE`] messages queued towards each connection (beyond it a
//! message is dropped and logged: the transaction times out as for a lost datagram).

use std::net::SocketAddr;
use std::sync::Arc;

use carillon_firmware::gateway::MAX_LAN_STREAMS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::redact::Redacted;

/// Connection tasks alive at once: the core's table plus room for refusals in progress.
pub const MAX_CONNECTION_TASKS: usize = MAX_LAN_STREAMS + 8;
/// Messages queued towards one connection.
pub const CONN_QUEUE: usize = 64;
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 4096;

/// What a connection task tells the run loop.
#[derive(Debug)]
pub enum LanConnEvent {
    /// A phone connected; what the loop sends on `tx` is written to it.
    Opened {
        /// The phone's end.
        peer: SocketAddr,
        /// The connection's outbound queue.
        tx: mpsc::Sender<Vec<u8>>,
    },
    /// Bytes from the phone.
    Bytes {
        /// The phone's end.
        peer: SocketAddr,
        /// What was read.
        bytes: Vec<u8>,
    },
    /// The connection closed (by the phone, an error, or the loop dropping its sender).
    Closed {
        /// The phone's end.
        peer: SocketAddr,
    },
}

/// Accepts connections until the event receiver is gone.
pub async fn run_listener(listener: TcpListener, events: mpsc::Sender<LanConnEvent>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTION_TASKS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "LAN TCP accept failed");
                continue;
            }
        };
        if events.is_closed() {
            return;
        }
        let events = events.clone();
        tokio::spawn(async move {
            serve(stream, peer, events).await;
            drop(permit);
        });
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<LanConnEvent>) {
    let _ = stream.set_nodelay(true);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CONN_QUEUE);
    if events.send(LanConnEvent::Opened { peer, tx }).await.is_err() {
        return;
    }
    tracing::debug!(peer = %Redacted(peer), "LAN TCP connection");
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or(&[]).to_vec();
                    if events.send(LanConnEvent::Bytes { peer, bytes }).await.is_err() {
                        break;
                    }
                }
            },
            m = rx.recv() => match m {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                // The loop dropped the connection: close it.
                None => break,
            },
        }
    }
    let _ = writer.shutdown().await;
    let _ = events.send(LanConnEvent::Closed { peer }).await;
    tracing::debug!(peer = %Redacted(peer), "LAN TCP connection closed");
}
