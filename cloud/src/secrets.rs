//! Secrets: generation of tokens and SIP passwords, and the only forms in which they are stored.
//!
//! API tokens, box enrollment tokens and box credentials are 256-bit random values, so a plain
//! SHA-256 of them is enough to store (no dictionary to attack, and the hash doubles as the lookup
//! key). SIP passwords are kept only as the digest HA1 values a registrar needs (RFC 2617 §3.2.2.2
//! with MD5, RFC 7616 §3.4.2 with SHA-256), never in clear.

use carillon_protocol::digest::{self, Algorithm};
use rand::distr::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Lower-case hex of bytes.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A fresh 256-bit random token, hex encoded, with a short prefix that says what it is for
/// (`cb_` body API token, `ce_` box enrollment token, `cx_` box credential).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!("{prefix}{}", hex(&bytes))
}

/// A fresh SIP password: 20 alphanumeric characters (about 119 bits), easy to type on a phone.
pub fn new_sip_password() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect()
}

/// SHA-256 of a token, hex: the stored and looked-up form of every token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Digest HA1 = MD5(username:realm:password), hex (RFC 2617 §3.2.2.2) — computed by the wire
/// crate, so registrar (cloud), box and stored values cannot drift apart.
pub fn ha1_md5(username: &str, realm: &str, password: &str) -> String {
    ha1(Algorithm::Md5, username, realm, password)
}

/// Digest HA1 = SHA-256(username:realm:password), hex (RFC 7616 §3.4.2).
pub fn ha1_sha256(username: &str, realm: &str, password: &str) -> String {
    ha1(Algorithm::Sha256, username, realm, password)
}

fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    digest::ha1(alg, username.as_bytes(), realm.as_bytes(), password.as_bytes()).as_str().to_owned()
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_md5_matches_rfc2617_example() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / "Circle Of Life".
        assert_eq!(ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn ha1_sha256_matches_rfc7616_example() {
        // The inputs of RFC 7616 §3.9.1; value checked against an independent SHA-256.
        assert_eq!(
            ha1_sha256("Mufasa", "http-auth@example.org", "Circle of Life"),
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
    }

    #[test]
    fn tokens_are_fresh_and_prefixed() {
        let a = new_token("cb_");
        let b = new_token("cb_");
        assert_ne!(a, b);
        assert!(a.starts_with("cb_"));
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(new_sip_password().len(), 20);
        assert!(constant_time_eq(&token_hash(&a), &token_hash(&a)));
        assert!(!constant_time_eq(&token_hash(&a), &token_hash(&b)));
    }
}
