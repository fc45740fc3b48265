//! The box's settings: one TOML file (`carillon-box --config FILE`).
//!
//! ```toml
//! state_dir = "/var/lib/carillon-box"     # journal, configuration image, identity
//! log_level = "info"                      # a tracing filter; RUST_LOG wins when set
//! log_personal_data = false               # true prints numbers and addresses in clear (lab only)
//!
//! [identity]
//! host = "box7.school.example"            # the box's SIP host as the cloud knows it (Via, Path, Record-Route)
//! # Either an enrolled identity (it may also live in <state_dir>/identity.toml, written at enrollment):
//! box_id = 7
//! credential = "64 hex digits"
//! # or, for the first start, the one-time token the operator created for this school:
//! enrollment_token = "…"
//!
//! [lan]
//! listen = "0.0.0.0:5060"                 # SIP from the phones (UDP)
//!
//! [cloud]
//! sip = "203.0.113.10:5061"               # the SIP flow (TLS)
//! control = "203.0.113.10:5070"           # the control link (TLS, postcard frames)
//! server_name = "cloud.carillon.example"  # name checked in the cloud's certificate (and SNI)
//! detect_within_ms = 5000                 # uplink judged down within this long (default 5 s)
//!
//! [tls]
//! ca_file = "/etc/carillon-box/ca.pem"    # trust anchors for the cloud's certificate, or
//! pinned_cert = "/etc/carillon-box/cloud.pem"  # exactly this certificate (PEM), or
//! insecure_plain_tcp = true               # no TLS at all: tests only
//! ```
//!
//! Unknown keys are errors, so a typo is not silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the configuration cannot be used. The binary prints it and exits with status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("bad configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is missing, out of range or contradicts another.
    #[error("bad configuration: {0}")]
    Invalid(String),
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory of the persistent state (created if missing).
    pub state_dir: PathBuf,
    /// A tracing filter (`info`, `carillon_box=debug`, …).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Print phone numbers and addresses in clear in logs (never in production).
    #[serde(default)]
    pub log_personal_data: bool,
    /// Who the box is.
    pub identity: IdentityConfig,
    /// The school LAN side.
    pub lan: LanConfig,
    /// The cloud side.
    pub cloud: CloudConfig,
    /// How the cloud's certificate is checked.
    #[serde(default)]
    pub tls: TlsConfig,
}

/// `[identity]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The box's SIP host name (at most 64 bytes).
    pub host: String,
    /// The box id the cloud assigned at enrollment.
    pub box_id: Option<u64>,
    /// The credential the cloud issued at enrollment (64 hex digits).
    pub credential: Option<String>,
    /// A one-time enrollment token, used when no identity is known yet.
    pub enrollment_token: Option<String>,
}

/// `[lan]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanConfig {
    /// UDP address the phones send SIP to.
    pub listen: SocketAddr,
}

/// `[cloud]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// The cloud's SIP-over-TLS address.
    pub sip: SocketAddr,
    /// The cloud's control-link address.
    pub control: SocketAddr,
    /// The name the cloud's certificate is checked against.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Target time to judge a dead uplink down, in milliseconds.
    #[serde(default = "default_detect_ms")]
    pub detect_within_ms: u64,
}

/// `[tls]`: exactly one of the three.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of trust anchors.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the one certificate the cloud must present.
    pub pinned_cert: Option<PathBuf>,
    /// Plain TCP, no TLS (tests only).
    #[serde(default)]
    pub insecure_plain_tcp: bool,
}

/// How the cloud is authenticated, once the configuration is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Certificates chained to these anchors, for `server_name`.
    Ca {
        /// The PEM file.
        ca_file: PathBuf,
        /// The name checked.
        server_name: String,
    },
    /// Exactly this certificate.
    Pinned {
        /// The PEM file.
        cert: PathBuf,
        /// The name sent as SNI.
        server_name: String,
    },
    /// No TLS (tests only).
    Plain,
}

/// Who the box is at start.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// Enrolled: id and credential.
    Enrolled {
        /// The box id.
        box_id: u64,
        /// The credential.
        credential: [u8; carillon_protocol::control::CREDENTIAL_LEN],
    },
    /// Not yet: the token to enroll with.
    Token(String),
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Enrolled { box_id, .. } => write!(f, "Enrolled(box {box_id})"),
            Identity::Token(_) => f.write_str("Token(..)"),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

fn default_detect_ms() -> u64 {
    5000
}

impl Config {
    /// Reads and checks a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml(&text)
    }

    /// Parses and checks TOML text.
    ///
    /// The enrollment token may be pasted as the admin API shows it (`ce_` + 64 hex digits);
    /// the control link carries the 64 digits and the cloud puts the prefix back.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.identity.host.is_empty() || self.identity.host.len() > carillon_firmware::gateway::MAX_HOST_LEN {
            return bad("identity.host must be 1 to 64 bytes");
        }
        if self.identity.host.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-')) {
            return bad("identity.host must be a host name (letters, digits, '.', '-')");
        }
        match (&self.identity.box_id, &self.identity.credential) {
            (Some(_), None) | (None, Some(_)) => return bad("identity.box_id and identity.credential go together"),
            (Some(_), Some(c)) if parse_credential(c).is_none() => {
                return bad("identity.credential must be 64 hex digits")
            }
            _ => {}
        }
        if let Some(t) = &self.identity.enrollment_token {
            let t = wire_token(t);
            if t.is_empty() || t.len() > carillon_protocol::control::MAX_TOKEN_LEN {
                return bad("identity.enrollment_token must be the token the cloud showed (ce_ and 64 hex digits)");
            }
        }
        if !(500..=600_000).contains(&self.cloud.detect_within_ms) {
            return bad("cloud.detect_within_ms must be between 500 and 600000");
        }
        self.tls_mode()?;
        Ok(())
    }

    /// The identity written in the file, if any (the state directory's wins; see
    /// [`crate::state::StateDir::load_identity`]).
    pub fn identity(&self) -> Option<Identity> {
        match (&self.identity.box_id, &self.identity.credential, &self.identity.enrollment_token) {
            (Some(id), Some(c), _) => {
                parse_credential(c).map(|credential| Identity::Enrolled { box_id: *id, credential })
            }
            (_, _, Some(t)) => Some(Identity::Token(wire_token(t).to_owned())),
            _ => None,
        }
    }

    /// How the cloud's certificate is checked.
    pub fn tls_mode(&self) -> Result<TlsMode, ConfigError> {
        let t = &self.tls;
        let chosen =
            usize::from(t.ca_file.is_some()) + usize::from(t.pinned_cert.is_some()) + usize::from(t.insecure_plain_tcp);
        if chosen != 1 {
            return Err(ConfigError::Invalid(
                "[tls] needs exactly one of ca_file, pinned_cert, insecure_plain_tcp = true".into(),
            ));
        }
        let name = || self.cloud.server_name.clone();
        if let Some(ca) = &t.ca_file {
            let server_name =
                name().ok_or_else(|| ConfigError::Invalid("tls.ca_file needs cloud.server_name".into()))?;
            return Ok(TlsMode::Ca { ca_file: ca.clone(), server_name });
        }
        if let Some(cert) = &t.pinned_cert {
            return Ok(TlsMode::Pinned {
                cert: cert.clone(),
                server_name: name().unwrap_or_else(|| "carillon-cloud".into()),
            });
        }
        Ok(TlsMode::Plain)
    }

    /// The uplink supervision target.
    pub fn detect_within(&self) -> Duration {
        Duration::from_millis(self.cloud.detect_within_ms)
    }
}

/// 64 hex digits into a credential.
pub fn parse_credential(hex: &str) -> Option<[u8; carillon_protocol::control::CREDENTIAL_LEN]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * carillon_protocol::control::CREDENTIAL_LEN {
        return None;
    }
    let mut out = [0u8; carillon_protocol::control::CREDENTIAL_LEN];
    for (o, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// A credential as 64 lowercase hex digits.
pub fn credential_hex(c: &[u8]) -> String {
    c.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "/tmp/x"
[identity]
host = "box7.school.example"
enrollment_token = "tok"
[lan]
listen = "127.0.0.1:5060"
[cloud]
sip = "127.0.0.1:5061"
control = "127.0.0.1:5070"
[tls]
insecure_plain_tcp = true
"#;

    #[test]
    fn a_good_file_parses_with_defaults() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.log_level, "info");
        assert_eq!(c.tls_mode().unwrap(), TlsMode::Plain);
        assert_eq!(c.identity(), Some(Identity::Token("tok".into())));
        assert_eq!(c.detect_within(), Duration::from_secs(5));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("insecure_plain_tcp = true", ""), "exactly one of"),
            (GOOD.replace("insecure_plain_tcp = true", "ca_file = \"/x.pem\""), "needs cloud.server_name"),
            (GOOD.replace("box7.school.example", "box 7"), "host name"),
            (GOOD.replace("enrollment_token = \"tok\"", "box_id = 3"), "go together"),
            (GOOD.replace("enrollment_token = \"tok\"", "box_id = 3\ncredential = \"zz\""), "64 hex digits"),
            (GOOD.replace("127.0.0.1:5060", "not-an-address"), "invalid socket address"),
            (GOOD.replace("[lan]", "[lan]\nlisten_typo = 1"), "unknown field"),
        ];
        for (text, want) in cases {
            let e = Config::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn credentials_round_trip_through_hex() {
        let c = [0xabu8; 32];
        assert_eq!(parse_credential(&credential_hex(&c)), Some(c));
        assert_eq!(parse_credential("ab"), None);
    }
}

/// The enrollment token as the control link carries it: without the `ce_` prefix that the
/// cloud's admin API shows (the cloud restores it on receipt).
fn wire_token(t: &str) -> &str {
    t.trim().strip_prefix("ce_").unwrap_or(t.trim())
}

#[cfg(test)]
mod token_tests {
    use super::wire_token;

    #[test]
    fn the_token_is_accepted_as_the_admin_api_shows_it() {
        let digits = "0123456789abcdef".repeat(4);
        assert_eq!(wire_token(&format!("ce_{digits}")), digits);
        assert_eq!(wire_token(&format!(" ce_{digits}\n")), digits);
        assert_eq!(wire_token(&digits), digits);
    }
}
