//! Connecting to the cloud: TCP, then TLS (rustls on ring) with the cloud's certificate either
//! chained to configured trust anchors or pinned (exactly one certificate accepted, its
//! signatures on the handshake still verified), or — for tests — plain TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::TlsMode;

/// A connection to the cloud, TLS or plain.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// How the box connects to the cloud; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.tls.is_some() { "Connector(tls)" } else { "Connector(plain)" })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

impl Connector {
    /// Builds the connector; the error says which file or name is wrong.
    pub fn new(mode: &TlsMode) -> Result<Connector, String> {
        let (config, name) = match mode {
            TlsMode::Plain => return Ok(Connector { tls: None }),
            TlsMode::Ca { ca_file, server_name } => {
                let mut roots = rustls::RootCertStore::empty();
                for c in read_certs(ca_file)? {
                    roots.add(c).map_err(|e| format!("unusable CA certificate in {}: {e}", ca_file.display()))?;
                }
                let config = rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                (config, server_name)
            }
            TlsMode::Pinned { cert, server_name } => {
                let mut certs = read_certs(cert)?;
                let pinned = certs.swap_remove(0);
                let verifier = Arc::new(Pinned { cert: pinned, provider: provider() });
                let config = rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth();
                (config, server_name)
            }
        };
        let name = ServerName::try_from(name.clone()).map_err(|e| format!("bad server name {name:?}: {e}"))?;
        Ok(Connector { tls: Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name)) })
    }

    /// Opens a connection to `addr`.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<Box<dyn Stream>> {
        let tcp = tokio::time::timeout(crate::links::CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TCP connect timed out"))??;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((c, name)) => Ok(Box::new(c.connect(name.clone(), tcp).await?)),
        }
    }
}

/// Accepts exactly one end-entity certificate (byte for byte), whatever its name or issuer;
/// the handshake signatures are still checked, so the peer must hold its private key.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
