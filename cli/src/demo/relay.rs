//! The lab's WAN: a TCP relay between the box and one cloud port, which can be cut and restored.
//!
//! The box connects to the relay instead of the cloud; each accepted connection is joined to a
//! new connection to the cloud and bytes are copied both ways untouched (TLS passes through: the
//! box still checks the cloud's pinned certificate, with the same server name). [`Relay::cut`]
//! closes every live connection and closes each new one as soon as it is accepted, which is
//! what a box sees when its internet link goes away and its connections are reset;
//! [`Relay::restore`] lets new connections through again.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the relay tries to reach the cloud for one accepted connection.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// A cuttable TCP relay on 127.0.0.1 towards one upstream address.
pub struct Relay {
    addr: SocketAddr,
    /// `true`: the link is up.
    up: Arc<watch::Sender<bool>>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Binds a port picked by the OS on 127.0.0.1 and relays to `upstream`.
    pub async fn start(name: &'static str, upstream: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        let accept = tokio::spawn(accept_loop(name, listener, upstream, up.clone()));
        Ok(Relay { addr, up, accept })
    }

    /// Where the box connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts the link: live connections are closed now, new ones are closed at accept.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Restores the link: new connections reach the cloud again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        // Closes the live connections too.
        self.up.send_replace(false);
    }
}

async fn accept_loop(name: &'static str, listener: TcpListener, upstream: SocketAddr, up: Arc<watch::Sender<bool>>) {
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                tracing::warn!(relay = name, error = %e, "relay accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !*up.borrow() {
            tracing::info!(relay = name, %peer, "WAN cut: connection closed at accept");
            drop(conn);
            continue;
        }
        let link = up.subscribe();
        tokio::spawn(relay_one(name, conn, upstream, link));
    }
}

async fn relay_one(name: &'static str, mut from_box: TcpStream, upstream: SocketAddr, mut up: watch::Receiver<bool>) {
    let mut to_cloud = match tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(relay = name, %upstream, error = %e, "relay cannot reach the cloud");
            return;
        }
        Err(_) => {
            tracing::warn!(relay = name, %upstream, "relay: the cloud did not accept within {CONNECT_WITHIN:?}");
            return;
        }
    };
    let _ = from_box.set_nodelay(true);
    let _ = to_cloud.set_nodelay(true);
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut from_box, &mut to_cloud) => {
            if let Err(e) = r {
                tracing::debug!(relay = name, error = %e, "relayed connection ended");
            }
        }
        _ = up.wait_for(|up| !*up) => {
            tracing::info!(relay = name, "WAN cut: live connection closed");
        }
    }
    // Dropping both streams closes them.
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn echoes(s: &mut TcpStream) -> bool {
        if s.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await, Ok(Ok(_)))
            && &buf == b"ping"
    }

    #[tokio::test]
    async fn a_cut_closes_live_and_new_connections_and_a_restore_lets_them_through() {
        let relay = Relay::start("test", echo_server().await).await.unwrap();
        let mut live = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(echoes(&mut live).await, "bytes pass while the link is up");

        relay.cut();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), live.read(&mut buf)).await.unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "the live connection is closed by the cut: {read:?}");
        let mut during = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(!echoes(&mut during).await, "a connection made during the cut gets nothing through");

        relay.restore();
        let mut after = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(echoes(&mut after).await, "bytes pass again after the restore");
    }
}
