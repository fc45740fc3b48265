//! SIP digest authentication (RFC 3261 §22, RFC 7616 as updated for SIP by RFC 8760):
//! MD5 and SHA-256, their `-sess` variants, `qop=auth` and the RFC 2069 form without qop.
//!
//! Everything works on borrowed bytes and caller buffers: parsing borrows from the header
//! value, digests live in a fixed-size [`Hex`], writers fill a `&mut [u8]`. Nothing here
//! allocates, panics on input, keeps state or draws random numbers: nonces and cnonces are
//! arguments, and which nonces are valid is the caller's bookkeeping.
//!
//! # Server (registrar, proxy)
//! 1. No credentials: answer 401 (407 from a proxy) with a challenge written by
//!    [`ChallengeParams::write`], with a fresh nonce.
//! 2. Credentials: [`Credentials::parse`] the header value, look the user's [`StoredHa1`] up
//!    by [`Credentials::username`], call [`verify`], then check the nonce is one you issued
//!    and still fresh (if not, challenge again with `stale: true`).
//! 3. Any [`DigestError`] maps to the response to send with [`DigestError::status`].
//!
//! # Client
//! [`Challenge::parse`] the `WWW-Authenticate` / `Proxy-Authenticate` value, then
//! [`CredentialsParams::write`] the `Authorization` / `Proxy-Authorization` value with a
//! fresh cnonce and the next nonce count.
//!
//! ```
//! use carillon_protocol::digest::{
//!     verify, Algorithm, Challenge, ChallengeParams, Credentials, CredentialsParams, Secret,
//!     StoredHa1,
//! };
//!
//! // Server: challenge (the nonce would come from the caller's random source).
//! let mut www = [0u8; 256];
//! let mut params = ChallengeParams::new("school.example.org", "c2VydmVyIG5vbmNl");
//! params.algorithm = Algorithm::Sha256;
//! let len = params.write(&mut www)?;
//!
//! // Phone: answer.
//! let challenge = Challenge::parse(&www[..len])?;
//! let mut auth = [0u8; 512];
//! let len = CredentialsParams {
//!     username: "101",
//!     secret: Secret::Password(b"hunter2"),
//!     method: "REGISTER",
//!     uri: "sip:school.example.org",
//!     cnonce: "0a4f113b",
//!     nc: 1,
//! }
//! .write(&challenge, &mut auth)?;
//!
//! // Server: verify against what it stored for user 101.
//! let stored = StoredHa1::from_password(Algorithm::Sha256, b"101", b"school.example.org", b"hunter2");
//! let credentials = Credentials::parse(&auth[..len])?;
//! assert_eq!(credentials.username().raw(), "101");
//! verify(&credentials, b"REGISTER", &stored, b"school.example.org")?;
//! # Ok::<(), carillon_protocol::digest::DigestError>(())
//! ```

mod algorithm;
mod challenge;
mod credentials;
mod error;
mod hash;
mod lex;
mod verify;
mod write;

pub use algorithm::{Algorithm, Qop};
pub use challenge::{Challenge, ChallengeParams, QopOptions};
pub use credentials::{Credentials, CredentialsParams, Secret};
pub use error::{DigestError, Fault, Malformed};
pub use hash::{ha1, ha1_sess, ha2, response, response_without_qop, userhash, Hex, StoredHa1};
pub use lex::{Chunks, EscapedStr, Params};
pub use verify::verify;
