//! The carrier trunk: where public and emergency calls go, how the carrier's digest challenges
//! are answered, and the optional registration to the carrier.
//!
//! Known deviation: the INVITE retried with credentials keeps the caller's CSeq (new branch)
//! instead of incrementing it (RFC 3261 §22.2), because a proxy that renumbers must map CSeq
//! for the rest of the dialog; carriers that insist on a higher CSeq need that mapping.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carillon_protocol::digest::{Challenge, CredentialsParams, Secret};
use carillon_protocol::{parse, Framing, Header, HeaderKind, ParseConfig, Status};
use serde::Deserialize;

use super::build;
use super::server::Core;
use super::transport::Flow;
use super::txn::{ClientEvent, ClientTxn};

/// The carrier's SIP trunk (`[sip.trunk]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// The carrier's SIP address (UDP). Requests from this IP are treated as the carrier's.
    pub address: SocketAddr,
    /// Domain written in the Request-URI, From and To of what we send; default the address.
    #[serde(default)]
    pub domain: Option<String>,
    /// Digest username for the carrier's challenges.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password for the carrier's challenges.
    #[serde(default)]
    pub password: Option<String>,
    /// Register to the carrier (with `username`).
    #[serde(default)]
    pub register: bool,
    /// Registration length asked of the carrier.
    #[serde(default = "default_register_expires")]
    pub register_expires: u32,
}

fn default_register_expires() -> u32 {
    600
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("address", &self.address)
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}

impl TrunkConfig {
    /// The domain of our URIs towards the carrier.
    pub fn domain(&self) -> String {
        self.domain.clone().unwrap_or_else(|| self.address.to_string())
    }

    /// The flow to the carrier.
    pub fn flow(&self) -> Flow {
        Flow::udp(self.address)
    }

    /// Whether a request from `flow` comes from the carrier.
    pub fn is_carrier(&self, flow: &Flow) -> bool {
        flow.remote.ip() == self.address.ip() && (flow.remote.port() == self.address.port() || self.address.port() == 0)
    }

    /// The credentials header answering the challenge in a 401/407 `resp` to a request of
    /// `method` to `uri`: `(header name, value)`. `None` when we have no credentials or the
    /// challenge cannot be answered.
    pub(crate) fn answer(
        &self,
        resp: &carillon_protocol::Message<'_, '_>,
        method: &str,
        uri: &str,
    ) -> Option<(&'static str, String)> {
        let (user, password) = (self.username.as_deref()?, self.password.as_deref()?);
        let (kind, name) = match resp.status_code()? {
            407 => (HeaderKind::ProxyAuthenticate, "Proxy-Authorization"),
            401 => (HeaderKind::WwwAuthenticate, "Authorization"),
            _ => return None,
        };
        let challenge = resp.headers_of(kind).find_map(|h| Challenge::parse(h.value).ok())?;
        let cnonce = build::tag();
        let mut out = vec![0u8; 1024];
        let n = CredentialsParams {
            username: user,
            secret: Secret::Password(password.as_bytes()),
            method,
            uri,
            cnonce: &cnonce,
            nc: 1,
        }
        .write(&challenge, &mut out)
        .ok()?;
        out.truncate(n);
        Some((name, String::from_utf8(out).ok()?))
    }
}

impl Core {
    /// The registration loop to the carrier, when configured.
    pub(crate) fn trunk_register_task(
        self: &Arc<Self>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let trunk = self.cfg.trunk.clone().filter(|t| t.register && t.username.is_some())?;
        let core = self.clone();
        Some(async move {
            let call_id = format!("{}@carillon", build::tag());
            let from_tag = build::tag();
            let mut cseq = 1u32;
            loop {
                let ok = core.register_once(&trunk, &call_id, &from_tag, &mut cseq).await;
                core.trunk_registered.store(ok, Ordering::Relaxed);
                let wait = if ok { u64::from(trunk.register_expires / 2).max(5) } else { 30 };
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        })
    }

    async fn register_once(&self, trunk: &TrunkConfig, call_id: &str, from_tag: &str, cseq: &mut u32) -> bool {
        let domain = trunk.domain();
        let user = trunk.username.clone().unwrap_or_default();
        let uri = format!("sip:{domain}");
        let mut auth: Option<(&'static str, String)> = None;
        for _ in 0..2 {
            let branch = build::branch();
            let mut req = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:{user}@{domain}>;tag={from_tag}\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{}>\r\nExpires: {}\r\n",
                self.ports.udp, self.ports.udp, trunk.register_expires
            );
            *cseq = cseq.wrapping_add(1);
            if let Some((n, v)) = &auth {
                req.push_str(&format!("{n}: {v}\r\n"));
            }
            req.push_str("Content-Length: 0\r\n\r\n");
            let Some(mut t) =
                ClientTxn::start(&self.txns, &self.transports, trunk.flow(), &branch, "REGISTER", req.into_bytes())
                    .await
            else {
                return false;
            };
            let resp = loop {
                match t.next().await {
                    ClientEvent::Timeout => return false,
                    ClientEvent::Response(r) if r.code >= 200 => break r,
                    ClientEvent::Response(_) => {}
                }
            };
            if (200..300).contains(&resp.code) {
                tracing::info!("registered to the carrier trunk");
                return true;
            }
            let mut headers = [Header::EMPTY; 64];
            let Ok(Status::Complete(m)) = parse(&resp.bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT)
            else {
                return false;
            };
            match trunk.answer(&m, "REGISTER", &uri) {
                Some(a) if auth.is_none() => auth = Some(a),
                _ => {
                    tracing::warn!(code = resp.code, "the carrier refused our registration");
                    return false;
                }
            }
        }
        false
    }
}
