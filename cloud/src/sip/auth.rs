//! Digest authentication of phones (RFC 3261 §22, RFC 7616): stateless nonces and the check of
//! `Authorization` / `Proxy-Authorization` against the store's HA1.
//!
//! A nonce is `<unix seconds, hex>.<HMAC-SHA256(server secret, seconds ":" realm), 32 hex>`:
//! the server keeps no nonce table, any node with the same secret accepts it, and a nonce
//! whose MAC checks but whose age is over the lifetime is *stale* — the client's password was
//! right, so it is challenged again with `stale=true` and retries without asking its user
//! (RFC 7616 §3.3). Not tracked: the nonce count (a replay inside the lifetime of a captured
//! REGISTER or INVITE is accepted; TLS is the answer to eavesdroppers).

use carillon_protocol::digest::{verify, Algorithm, ChallengeParams, Credentials, DigestError, StoredHa1};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::SipCredential;
use crate::store::{Store, StoreError};

/// Why a request is not authenticated; each maps once to the status to answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials for our realm: challenge.
    #[error("no credentials")]
    Missing,
    /// The response was right but the nonce is too old: challenge with `stale=true`.
    #[error("stale nonce")]
    Stale,
    /// The nonce is not one of ours: challenge afresh.
    #[error("unknown nonce")]
    BadNonce,
    /// The digest header is wrong (400) or the response does not match (403).
    #[error("{0}")]
    Digest(DigestError),
    /// No extension has this username (403, like a wrong password: do not tell which).
    #[error("unknown user")]
    UnknownUser,
    /// The store failed (500).
    #[error("store: {0}")]
    Store(StoreError),
}

impl AuthError {
    /// Whether the answer is a (new) challenge rather than a refusal.
    pub fn challenge(&self) -> bool {
        match self {
            AuthError::Missing | AuthError::Stale | AuthError::BadNonce => true,
            AuthError::Digest(d) => d.status() == 401,
            _ => false,
        }
    }

    /// The status and reason to answer when [`AuthError::challenge`] is false.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            AuthError::Digest(d) => (d.status(), d.reason()),
            AuthError::UnknownUser => (403, "Forbidden"),
            AuthError::Store(_) => (500, "Server Internal Error"),
            _ => (401, "Unauthorized"),
        }
    }
}

/// Issues and checks nonces, verifies credentials.
#[derive(Clone)]
pub struct Authenticator {
    secret: Vec<u8>,
    realm: String,
    lifetime_secs: i64,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("realm", &self.realm).finish_non_exhaustive()
    }
}

impl Authenticator {
    /// `secret` keys the nonce MACs (share it between nodes); `algorithms` are offered in
    /// order, one challenge each (RFC 8760 §2).
    pub fn new(secret: &[u8], realm: &str, lifetime_secs: i64, algorithms: Vec<Algorithm>) -> Authenticator {
        Authenticator { secret: secret.to_vec(), realm: realm.to_owned(), lifetime_secs, algorithms }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, ts: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else { return String::new() };
        mac.update(ts.as_bytes());
        mac.update(b":");
        mac.update(self.realm.as_bytes());
        mac.finalize().into_bytes().iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh nonce for `now` (unix seconds).
    pub fn nonce(&self, now: i64) -> String {
        let ts = format!("{now:x}");
        let mac = self.mac(&ts);
        format!("{ts}.{mac}")
    }

    /// `Ok(true)` fresh, `Ok(false)` stale, `Err` not ours.
    fn check_nonce(&self, nonce: &str, now: i64) -> Result<bool, ()> {
        let (ts, mac) = nonce.split_once('.').ok_or(())?;
        if !crate::secrets::constant_time_eq(mac, &self.mac(ts)) {
            return Err(());
        }
        let issued = i64::from_str_radix(ts, 16).map_err(|_| ())?;
        Ok(now >= issued - 5 && now - issued <= self.lifetime_secs)
    }

    /// The challenge header values (`WWW-Authenticate` or `Proxy-Authenticate`), one per
    /// algorithm.
    pub fn challenges(&self, now: i64, stale: bool) -> Vec<Vec<u8>> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .filter_map(|a| {
                let mut p = ChallengeParams::new(&self.realm, &nonce);
                p.algorithm = *a;
                p.stale = stale;
                let mut out = vec![0u8; 512];
                let n = p.write(&mut out).ok()?;
                out.truncate(n);
                Some(out)
            })
            .collect()
    }

    /// Checks the credentials for our realm among `values` (the request's Authorization or
    /// Proxy-Authorization values) and returns the extension's credential record.
    pub async fn check(
        &self,
        store: &Store,
        values: &[Vec<u8>],
        method: &str,
        now: i64,
    ) -> Result<SipCredential, AuthError> {
        // A request may carry credentials for several realms (RFC 3261 §22.3): use ours.
        let mut ours = None;
        for v in values {
            match Credentials::parse(v) {
                Ok(c) if c.realm().eq_unescaped(self.realm.as_bytes()) => {
                    ours = Some(c);
                    break;
                }
                Ok(_) | Err(DigestError::OtherScheme) => {}
                Err(e) => return Err(AuthError::Digest(e)),
            }
        }
        let creds = ours.ok_or(AuthError::Missing)?;
        let mut ubuf = [0u8; 256];
        let username = creds.username().unescape_into(&mut ubuf).map_err(AuthError::Digest)?.to_owned();
        let mut nbuf = [0u8; 256];
        let nonce = creds.nonce().unescape_into(&mut nbuf).map_err(AuthError::Digest)?.to_owned();
        let fresh = self.check_nonce(&nonce, now).map_err(|()| AuthError::BadNonce)?;
        let cred = match store.sip_credential(&username).await {
            Ok(c) => c,
            Err(StoreError::NotFound(_)) => return Err(AuthError::UnknownUser),
            Err(e) => return Err(AuthError::Store(e)),
        };
        let algorithm = creds.algorithm().map_err(AuthError::Digest)?;
        let hex = match algorithm.base() {
            Algorithm::Sha256 => &cred.ha1_sha256,
            _ => &cred.ha1_md5,
        };
        let stored = StoredHa1::from_hex(algorithm.base(), hex.as_bytes()).map_err(AuthError::Digest)?;
        verify(&creds, method.as_bytes(), &stored, self.realm.as_bytes()).map_err(AuthError::Digest)?;
        if !fresh {
            return Err(AuthError::Stale);
        }
        Ok(cred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_then_stale_and_forgeries_fail() {
        let a = Authenticator::new(b"k", "r", 300, vec![Algorithm::Md5]);
        let n = a.nonce(1000);
        assert_eq!(a.check_nonce(&n, 1000), Ok(true));
        assert_eq!(a.check_nonce(&n, 1301), Ok(false));
        let b = Authenticator::new(b"other", "r", 300, vec![Algorithm::Md5]);
        assert_eq!(b.check_nonce(&n, 1000), Err(()));
        assert_eq!(a.check_nonce("3e8.00", 1000), Err(()));
        assert_eq!(a.check_nonce("garbage", 1000), Err(()));
    }
}
