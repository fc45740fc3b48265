//! The SIP transports: one UDP socket, a TCP listener and an optional TLS listener, and the
//! table of live stream connections ("flows").
//!
//! A [`Flow`] names where a message came from and how to answer it: the transport, the peer's
//! address and, on TCP/TLS, the connection. Responses and requests to a peer reached through a
//! connection it opened (a school's box behind NAT) go back over that same connection
//! (RFC 5626's flow reuse, RFC 3261 §18.2.2). Streams are framed by Content-Length
//! (RFC 3261 §18.3) with the protocol crate's three-way parser; a double CRLF keep-alive gets a
//! CRLF back (RFC 5626 §3.5.1).
//!
//! Limits, each with a defined answer: messages over `max_message_len` (513 when the start of
//! the message can be parsed, else the connection is closed); more than `max_connections`
//! connections (the extra connection's first request gets 503 with Retry-After, then it is
//! closed); idle connections close after `idle_timeout`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// The transport a flow uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// TCP stream.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The Via / `transport=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// Where a message came from, and the way back to that peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Transport.
    pub transport: Transport,
    /// The peer's address (source of what we received).
    pub remote: SocketAddr,
    /// The connection id on TCP/TLS; 0 on UDP.
    pub conn: u64,
}

impl Flow {
    /// A UDP flow to `remote`.
    pub fn udp(remote: SocketAddr) -> Flow {
        Flow { transport: Transport::Udp, remote, conn: 0 }
    }

    /// The flow token written into our Record-Route URIs: transport letter, connection id,
    /// and the address in hex (URI-parameter safe, IPv6 included).
    pub(crate) fn token(&self) -> String {
        let letter = match self.transport {
            Transport::Udp => 'u',
            Transport::Tcp => 't',
            Transport::Tls => 's',
        };
        let hex: String = self.remote.to_string().bytes().map(|b| format!("{b:02x}")).collect();
        format!("{letter}{}x{hex}", self.conn)
    }

    /// Reads a [`Flow::token`] back.
    pub(crate) fn from_token(t: &[u8]) -> Option<Flow> {
        let (&letter, rest) = t.split_first()?;
        let transport = match letter {
            b'u' => Transport::Udp,
            b't' => Transport::Tcp,
            b's' => Transport::Tls,
            _ => return None,
        };
        let x = rest.iter().position(|&b| b == b'x')?;
        let conn: u64 = std::str::from_utf8(rest.get(..x)?).ok()?.parse().ok()?;
        let hex = rest.get(x + 1..)?;
        if hex.len() % 2 != 0 || hex.len() > 120 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            hex.chunks(2).map(|c| std::str::from_utf8(c).ok().and_then(|s| u8::from_str_radix(s, 16).ok())).collect();
        let remote: SocketAddr = String::from_utf8(bytes?).ok()?.parse().ok()?;
        Some(Flow { transport, remote, conn })
    }

    /// Whether `other` is the same way to the same peer (same connection on streams).
    pub(crate) fn same_as(&self, other: &Flow) -> bool {
        self.transport == other.transport
            && self.remote == other.remote
            && (self.transport == Transport::Udp || self.conn == other.conn)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Udp => write!(f, "udp:{}", self.remote),
            t => write!(f, "{}#{}:{}", t.as_str().to_ascii_lowercase(), self.conn, self.remote),
        }
    }
}

/// One message as received: its flow and its bytes (exactly one message).
#[derive(Debug)]
pub struct Inbound {
    /// Where it came from.
    pub flow: Flow,
    /// The message.
    pub bytes: Vec<u8>,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection of the flow is closed and cannot be opened again from here.
    #[error("flow {0} is closed")]
    FlowClosed(Flow),
    /// The socket refused the datagram or the connection failed.
    #[error("send failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Transport limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest message accepted or sent.
    pub max_message_len: usize,
    /// Most TCP+TLS connections at once.
    pub max_connections: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Seconds announced in Retry-After when a limit is hit.
    pub retry_after_secs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: 65_535,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(600),
            retry_after_secs: 30,
        }
    }
}

/// Live connections by id: their flow and their writer's queue.
type ConnTable = HashMap<u64, (Flow, mpsc::Sender<Vec<u8>>)>;

/// Handler the transports pass every framed message to.
pub(crate) type Sink = Arc<dyn Fn(Inbound) + Send + Sync>;

/// The sockets and the live connections.
pub struct Transports {
    udp: Arc<UdpSocket>,
    conns: Mutex<ConnTable>,
    next_conn: AtomicU64,
    open: AtomicUsize,
    limits: Limits,
    /// Where messages on connections we open ourselves go (set once by the server).
    sink: std::sync::OnceLock<Sink>,
    /// Told of every TCP/TLS connection that closed (the server orphans its calls).
    on_closed: std::sync::OnceLock<Arc<dyn Fn(Flow) + Send + Sync>>,
}

impl fmt::Debug for Transports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transports").field("udp", &self.udp.local_addr().ok()).finish_non_exhaustive()
    }
}

impl Transports {
    pub(crate) fn new(udp: UdpSocket, limits: Limits) -> Arc<Transports> {
        Arc::new(Transports {
            udp: Arc::new(udp),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            limits,
            sink: std::sync::OnceLock::new(),
            on_closed: std::sync::OnceLock::new(),
        })
    }

    pub(crate) fn set_sink(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Who is told when a TCP/TLS connection closes.
    pub(crate) fn set_on_closed(&self, f: Arc<dyn Fn(Flow) + Send + Sync>) {
        let _ = self.on_closed.set(f);
    }

    /// The transport limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Number of open TCP/TLS connections.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, ConnTable> {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every live TCP/TLS flow (peers' connections and ours), oldest first.
    pub(crate) fn stream_flows(&self) -> Vec<Flow> {
        let mut flows: Vec<Flow> = self.conns().values().map(|(f, _)| *f).collect();
        flows.sort_by_key(|f| f.conn);
        flows
    }

    /// A live stream flow to `remote` over `transport`, if one is open.
    pub(crate) fn stream_to(&self, transport: Transport, remote: SocketAddr) -> Option<Flow> {
        self.conns().values().map(|(f, _)| *f).find(|f| f.transport == transport && f.remote == remote)
    }

    /// Sends one message on a flow. A closed TCP flow is opened again to the same address
    /// (a TLS flow cannot be: the peer must reconnect).
    pub async fn send(self: &Arc<Self>, flow: &Flow, bytes: Vec<u8>) -> Result<(), SendError> {
        match flow.transport {
            Transport::Udp => {
                self.udp.send_to(&bytes, flow.remote).await?;
                Ok(())
            }
            Transport::Tcp | Transport::Tls => {
                let tx = {
                    let conns = self.conns();
                    conns
                        .get(&flow.conn)
                        .map(|(_, tx)| tx.clone())
                        .or_else(|| conns.values().find(|(f, _)| f.same_as(flow)).map(|(_, tx)| tx.clone()))
                };
                let tx = match tx {
                    Some(tx) => tx,
                    None if flow.transport == Transport::Tcp => self.connect_tcp(flow.remote).await?,
                    None => return Err(SendError::FlowClosed(*flow)),
                };
                tx.send(bytes).await.map_err(|_| SendError::FlowClosed(*flow))
            }
        }
    }

    /// An open TCP flow to `remote`: the live one, else a new connection (bounded by 5 s).
    /// Its connection id is known before anything is sent (for Record-Route flow tokens).
    pub(crate) async fn tcp_flow(self: &Arc<Self>, remote: SocketAddr) -> Result<Flow, SendError> {
        if let Some(f) = self.stream_to(Transport::Tcp, remote) {
            return Ok(f);
        }
        let (flow, _) = self.open_tcp(remote).await?;
        Ok(flow)
    }

    async fn connect_tcp(self: &Arc<Self>, remote: SocketAddr) -> Result<mpsc::Sender<Vec<u8>>, SendError> {
        Ok(self.open_tcp(remote).await?.1)
    }

    async fn open_tcp(self: &Arc<Self>, remote: SocketAddr) -> Result<(Flow, mpsc::Sender<Vec<u8>>), SendError> {
        if self.open.load(Ordering::Relaxed) >= self.limits.max_connections {
            return Err(SendError::Io(std::io::Error::other("connection table full")));
        }
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
        let sink = self.sink.get().cloned();
        Ok(self.clone().adopt(stream, Transport::Tcp, remote, sink, false))
    }

    /// Registers a connection and spawns its reader and writer; returns its flow and sender.
    fn adopt<S>(
        self: Arc<Self>,
        stream: S,
        transport: Transport,
        remote: SocketAddr,
        sink: Option<Sink>,
        overloaded: bool,
    ) -> (Flow, mpsc::Sender<Vec<u8>>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let flow = Flow { transport, remote, conn };
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let (mut rd, mut wr) = tokio::io::split(stream);
        if !overloaded {
            self.open.fetch_add(1, Ordering::Relaxed);
            self.conns().insert(conn, (flow, tx.clone()));
        }
        let writer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let me = self.clone();
        let reply = tx.clone();
        tokio::spawn(async move {
            let r = me.read_loop(&mut rd, flow, sink, &reply, overloaded).await;
            tracing::debug!(%flow, ?r, "connection closed");
            if !overloaded {
                // Told before the connection leaves the table: whoever sees it gone knows its
                // calls are orphaned.
                if let Some(f) = me.on_closed.get() {
                    f(flow);
                }
                me.conns().remove(&conn);
                me.open.fetch_sub(1, Ordering::Relaxed);
            }
            drop(reply);
            // The writer ends when every sender (ours and clones handed out) is gone; do not
            // leave it waiting on a clone held by a transaction.
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer.abort();
        });
        (flow, tx)
    }

    /// Reads and frames messages until the peer closes, a framing error, or the idle timeout.
    async fn read_loop<R: AsyncRead + Unpin>(
        &self,
        rd: &mut R,
        flow: Flow,
        sink: Option<Sink>,
        reply: &mpsc::Sender<Vec<u8>>,
        overloaded: bool,
    ) -> Result<(), &'static str> {
        let cfg = ParseConfig { max_message_len: self.limits.max_message_len, ..ParseConfig::DEFAULT };
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let idle = if overloaded { Duration::from_secs(2) } else { self.limits.idle_timeout };
        loop {
            // Frame every complete message in the buffer.
            loop {
                if buf.starts_with(b"\r\n\r\n") {
                    // RFC 5626 §3.5.1 keep-alive ping: answer with a single CRLF pong.
                    buf.drain(..4);
                    let _ = reply.send(b"\r\n".to_vec()).await;
                    continue;
                }
                let mut headers = [Header::EMPTY; 96];
                match parse(&buf, &mut headers, Framing::Stream, &cfg) {
                    Ok(Status::Partial) => break,
                    Ok(Status::Complete(msg)) => {
                        let used = msg.len;
                        let start = used - msg.bytes.len();
                        let bytes = buf.get(start..used).unwrap_or(&[]).to_vec();
                        buf.drain(..used);
                        if overloaded {
                            let resp = overload_response(&bytes, self.limits.retry_after_secs);
                            if let Some(r) = resp {
                                let _ = reply.send(r).await;
                            }
                            return Err("connection limit reached");
                        }
                        if let Some(sink) = &sink {
                            sink(Inbound { flow, bytes });
                        }
                    }
                    Err(e @ carillon_protocol::ParseError::BadHeaderLine(_)) => {
                        // A malformed header line: the message's end is still known once the
                        // line is left out; it goes on as it came, to be answered 400.
                        match super::salvage::without_bad_lines(&buf, Framing::Stream, &cfg) {
                            Some(Status::Complete((_, used))) => {
                                let bytes: Vec<u8> = buf.drain(..used).collect();
                                if let Some(sink) = &sink {
                                    sink(Inbound { flow, bytes });
                                }
                            }
                            Some(Status::Partial) => break,
                            None => {
                                tracing::debug!(%flow, error = %e, "unframeable stream input");
                                return Err("framing error");
                            }
                        }
                    }
                    Err(e) => {
                        // The framing is lost: nothing after this point can be trusted.
                        tracing::debug!(%flow, error = %e, "unframeable stream input");
                        return Err("framing error");
                    }
                }
            }
            let n = match tokio::time::timeout(idle, rd.read(&mut chunk)).await {
                Err(_) => return Err("idle"),
                Ok(Err(_)) => return Err("read error"),
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            if buf.len() > self.limits.max_message_len.saturating_mul(2) {
                return Err("buffer limit");
            }
        }
    }
}

/// 503 with Retry-After for a request that arrives over a connection beyond the limit.
pub(crate) fn overload_response(bytes: &[u8], retry_after: u32) -> Option<Vec<u8>> {
    let mut headers = [Header::EMPTY; 96];
    let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        return None;
    };
    if !msg.is_request() || msg.method() == Some(carillon_protocol::Method::Ack) {
        return None;
    }
    let mut out = vec![0u8; bytes.len() + 512];
    let ra = retry_after.to_string();
    let n = carillon_protocol::write::write_response(
        &msg,
        503,
        "Service Unavailable",
        None,
        &[("Retry-After", ra.as_bytes())],
        b"",
        &mut out,
    )
    .ok()?;
    out.truncate(n);
    Some(out)
}

/// Receives datagrams for ever, handing each to `sink`.
pub(crate) async fn run_udp(t: Arc<Transports>, sink: Sink) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match t.udp.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = buf.get(..n).unwrap_or(&[]);
                if bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
                    continue; // keep-alive
                }
                sink(Inbound { flow: Flow::udp(from), bytes: bytes.to_vec() });
            }
            Err(e) => {
                // ICMP errors surface here on some systems; they concern one earlier send.
                tracing::debug!(error = %e, "udp receive error");
            }
        }
    }
}

/// Accepts TCP connections for ever.
pub(crate) async fn run_tcp(t: Arc<Transports>, listener: TcpListener, sink: Sink) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let over = t.open.load(Ordering::Relaxed) >= t.limits.max_connections;
        if over {
            tracing::warn!(%remote, "connection limit reached");
        }
        let _ = t.clone().adopt(stream, Transport::Tcp, remote, Some(sink.clone()), over);
    }
}

/// Accepts TLS connections for ever; the handshake is bounded by 10 s.
pub(crate) async fn run_tls(
    t: Arc<Transports>,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    sink: Sink,
) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (t, acceptor, sink) = (t.clone(), acceptor.clone(), sink.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let over = t.open.load(Ordering::Relaxed) >= t.limits.max_connections;
            let _ = t.adopt(tls, Transport::Tls, remote, Some(sink), over);
        });
    }
}

/// Loads a PEM certificate chain and private key into a TLS acceptor.
pub fn tls_acceptor(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| format!("cannot read {}: {e}", cert_pem.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert_pem.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert_pem.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| format!("bad key in {}: {e}", key_pem.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_tokens_round_trip() {
        for f in [
            Flow::udp("127.0.0.1:5070".parse().unwrap_or_else(|_| unreachable!())),
            Flow {
                transport: Transport::Tls,
                remote: "[::1]:5061".parse().unwrap_or_else(|_| unreachable!()),
                conn: 42,
            },
        ] {
            assert_eq!(Flow::from_token(f.token().as_bytes()), Some(f));
        }
        assert_eq!(Flow::from_token(b"zz"), None);
        assert_eq!(Flow::from_token(b"u0x3"), None);
    }
}
