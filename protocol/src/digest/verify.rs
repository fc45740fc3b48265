//! The server's check of a client's credentials.

use super::hash::{response_auth, response_no_qop, Piece};
use super::{Credentials, DigestError, Qop, StoredHa1};

/// Checks `credentials` against the user's stored HA1: what a registrar or proxy does with
/// an `Authorization` / `Proxy-Authorization` header (RFC 3261 §22.2, §22.3; RFC 7616 §3.4).
///
/// In order, and stopping at the first failure:
/// 1. the realm equals `expected_realm` (RFC 3261 §22.1), else [`DigestError::WrongRealm`];
/// 2. the algorithm is supported and `stored_ha1` was made with it (or with its base, for
///    `-sess`), else [`DigestError::UnsupportedAlgorithm`];
/// 3. the qop is `auth` or absent, and absent only without `-sess`, else
///    [`DigestError::UnsupportedQop`] (`auth-int` is never verified);
/// 4. the response recomputed from `method`, the credentials' `uri`, nonce, cnonce and nc
///    (RFC 7616 §3.4.1) equals the one sent, compared in constant time, else
///    [`DigestError::BadResponse`].
///
/// The caller has already found `stored_ha1` by [`Credentials::username`] (or by its hash,
/// see [`Credentials::userhash`]). Left to the caller, because this module keeps no state:
/// that the nonce is one it issued and has not expired (call `verify` first, then answer an
/// expired nonce with `stale=TRUE`, RFC 7616 §3.3), that `nc` grows, that `opaque` matches,
/// and that `uri` names the Request-URI (RFC 3261 §22.4).
pub fn verify(
    credentials: &Credentials<'_>,
    method: &[u8],
    stored_ha1: &StoredHa1,
    expected_realm: &[u8],
) -> Result<(), DigestError> {
    if !credentials.realm().eq_unescaped(expected_realm) {
        return Err(DigestError::WrongRealm);
    }
    let algorithm = credentials.algorithm()?;
    if algorithm.base() != stored_ha1.algorithm() {
        return Err(DigestError::UnsupportedAlgorithm);
    }
    let nonce = Piece::from(credentials.nonce());
    let (method, uri) = (Piece::Bytes(method), Piece::from(credentials.uri()));
    let expected = match credentials.qop()? {
        None => response_no_qop(algorithm, stored_ha1.hex(), nonce, method, uri)?,
        Some(Qop::Auth) => {
            // Credentials::parse guarantees both whenever qop is present.
            let nc = credentials.nc_param().ok_or(DigestError::MissingParam("nc"))?;
            let cnonce = credentials.cnonce().ok_or(DigestError::MissingParam("cnonce"))?;
            let nc = Piece::Bytes(nc.as_bytes());
            response_auth(algorithm, stored_ha1.hex(), nonce, nc, cnonce.into(), method, uri)
        }
        Some(_) => return Err(DigestError::UnsupportedQop),
    };
    if expected.ct_eq(credentials.response().as_bytes()) {
        Ok(())
    } else {
        Err(DigestError::BadResponse)
    }
}
