//! Settings of the `carillon-cloud` binary: a TOML file, then flags and environment on top.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! database = "/var/lib/carillon/cloud.db"   # a path (SQLite) or a sqlite:/postgres:// URL
//! operator_token = "..."                     # or CARILLON_OPERATOR_TOKEN
//! realm = "carillon.example"
//! enrollment_ttl_secs = 604800
//!
//! [numbering_plan]
//! mobile_prefixes = ["04"]
//! country_code = "32"
//!
//! [sip]
//! udp = "0.0.0.0:5060"                       # TCP on the same address unless `tcp` is set
//! tls = { listen = "0.0.0.0:5061", cert = "/etc/carillon/cert.pem", key = "/etc/carillon/key.pem" }
//! nonce_secret = "..."                       # same on every node
//!
//! [box_link]                                 # optional: the boxes' control link
//! listen = "0.0.0.0:5070"
//! tls = { cert = "/etc/carillon/cert.pem", key = "/etc/carillon/key.pem" }
//!
//! [sip.trunk]
//! address = "192.0.2.10:5060"
//! username = "school-network"
//! password = "..."
//! register = true
//! ```
//! `DATABASE_URL`, when set, wins over `database`.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::boxlink::BoxLinkConfig;
use crate::rating::NumberingPlan;
use crate::sip::SipConfig;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("bad configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is missing or wrong.
    #[error("bad configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the admin API listens on.
    pub listen: SocketAddr,
    /// SQLite file path, or a `sqlite:` / `postgres://` URL.
    pub database: String,
    /// The operator's bearer token (at least 16 characters).
    pub operator_token: Option<String>,
    /// SIP digest realm of the deployment.
    pub realm: String,
    /// Default lifetime of box enrollment tokens.
    pub enrollment_ttl_secs: i64,
    /// PostgreSQL pool size.
    pub max_connections: u32,
    /// Dial plan for validation and rating.
    pub numbering_plan: NumberingPlan,
    /// The SIP server (`[sip]`).
    pub sip: SipConfig,
    /// The boxes' control link (`[box_link]`); not started when absent.
    pub box_link: Option<BoxLinkConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "carillon-cloud.db".into(),
            operator_token: None,
            realm: "carillon".into(),
            enrollment_ttl_secs: 7 * 86_400,
            max_connections: 10,
            numbering_plan: NumberingPlan::default(),
            sip: SipConfig::default(),
            box_link: None,
        }
    }
}

impl Config {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Config::from_toml(&text)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// The sqlx URL of the database: URLs pass through, a path becomes a SQLite file created
    /// if missing.
    pub fn database_url(&self) -> String {
        if self.database.starts_with("sqlite:") || self.database.contains("://") {
            self.database.clone()
        } else {
            format!("sqlite://{}?mode=rwc", self.database)
        }
    }

    /// Checks what the server cannot start without; returns the operator token.
    pub fn validate(&self) -> Result<&str, ConfigError> {
        let token =
            self.operator_token.as_deref().ok_or_else(|| ConfigError::Invalid("operator_token is required".into()))?;
        if token.len() < 16 {
            return Err(ConfigError::Invalid("operator_token must be at least 16 characters".into()));
        }
        if self.realm.is_empty() {
            return Err(ConfigError::Invalid("realm must not be empty".into()));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_and_defaults() {
        let c = Config::from_toml(
            "listen = \"127.0.0.1:9000\"\ndatabase = \"/tmp/x.db\"\noperator_token = \"0123456789abcdef\"\n\
             [numbering_plan]\nmobile_prefixes = [\"06\"]\n",
        )
        .expect("valid config");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database_url(), "sqlite:///tmp/x.db?mode=rwc");
        assert_eq!(c.numbering_plan.mobile_prefixes, vec!["06".to_owned()]);
        assert_eq!(c.numbering_plan.on_net_prefix, "8");
        assert!(c.validate().is_ok());
        assert!(Config::default().validate().is_err());
        assert!(Config::from_toml("lisen = 1").is_err());
        assert!(c.box_link.is_none());
        let c =
            Config::from_toml("[box_link]\nlisten = \"0.0.0.0:5070\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }\n")
                .expect("valid box link section");
        let b = c.box_link.expect("box link configured");
        assert_eq!((b.listen.port(), b.plain_tcp, b.idle_timeout_secs), (5070, false, 90));
    }
}
