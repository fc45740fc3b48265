//! Digest authentication from the outside: RFC test vectors, writer -> parser -> verify round
//! trips, the failures a registrar must tell apart, and hostile header values.
#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

use carillon_protocol::digest::{
    ha1, ha1_sess, ha2, response, response_without_qop, userhash, verify, Algorithm, Challenge, ChallengeParams,
    Credentials, CredentialsParams, DigestError, Fault, Malformed, Qop, Secret, StoredHa1,
};

const ALGORITHMS: [Algorithm; 4] = [Algorithm::Md5, Algorithm::Md5Sess, Algorithm::Sha256, Algorithm::Sha256Sess];

fn write_challenge(params: &ChallengeParams<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let len = params.write(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn answer(challenge: &[u8], params: &CredentialsParams<'_>) -> Result<Vec<u8>, DigestError> {
    let challenge = Challenge::parse(challenge)?;
    let mut buf = vec![0u8; 1024];
    let len = params.write(&challenge, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn phone<'a>(password: &'a [u8]) -> CredentialsParams<'a> {
    CredentialsParams {
        username: "101",
        secret: Secret::Password(password),
        method: "REGISTER",
        uri: "sip:school.example.org",
        cnonce: "0a4f113b",
        nc: 1,
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 2617 §3.5

const RFC2617_CHALLENGE: &[u8] = b"Digest\r\n                 realm=\"testrealm@host.com\",\r\n                 qop=\"auth,auth-int\",\r\n                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

const RFC2617_CREDENTIALS: &[u8] = b"Digest username=\"Mufasa\",\r\n                 realm=\"testrealm@host.com\",\r\n                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n                 uri=\"/dir/index.html\",\r\n                 qop=auth,\r\n                 nc=00000001,\r\n                 cnonce=\"0a4f113b\",\r\n                 response=\"6629fae49393a05397450978507c4ef1\",\r\n                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

#[test]
fn rfc2617_example_response() {
    let ha1 = ha1(Algorithm::Md5, b"Mufasa", b"testrealm@host.com", b"Circle Of Life");
    let got = response(
        Algorithm::Md5,
        &ha1,
        b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
        1,
        b"0a4f113b",
        b"GET",
        b"/dir/index.html",
    );
    assert_eq!(got.as_str(), "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc2617_example_challenge_parses_with_folded_lines() {
    let c = Challenge::parse(RFC2617_CHALLENGE).unwrap();
    assert_eq!(c.realm().raw(), "testrealm@host.com");
    assert_eq!(c.nonce().raw(), "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    assert_eq!(c.opaque().map(|o| o.raw()), Some("5ccc069c403ebaf9f0171e9517f40e41"));
    assert_eq!(c.algorithm(), Ok(Algorithm::Md5), "absent algorithm means MD5");
    assert!(c.offers(Qop::Auth) && c.offers(Qop::AuthInt));
    assert!(!c.stale());
}

#[test]
fn rfc2617_example_credentials_verify() {
    let c = Credentials::parse(RFC2617_CREDENTIALS).unwrap();
    assert_eq!(c.username().raw(), "Mufasa");
    assert_eq!(c.uri().raw(), "/dir/index.html");
    assert_eq!(c.qop(), Ok(Some(Qop::Auth)));
    assert_eq!(c.nc(), Some(1));
    assert_eq!(c.cnonce().map(|v| v.raw()), Some("0a4f113b"));
    let stored = StoredHa1::from_password(Algorithm::Md5, b"Mufasa", b"testrealm@host.com", b"Circle Of Life");
    assert_eq!(verify(&c, b"GET", &stored, b"testrealm@host.com"), Ok(()));
    // The same credentials do not authorize another method.
    assert_eq!(verify(&c, b"POST", &stored, b"testrealm@host.com"), Err(DigestError::BadResponse));
}

#[test]
fn rfc2617_example_writer_produces_the_same_response() {
    let params = CredentialsParams {
        username: "Mufasa",
        secret: Secret::Password(b"Circle Of Life"),
        method: "GET",
        uri: "/dir/index.html",
        cnonce: "0a4f113b",
        nc: 1,
    };
    let written = answer(RFC2617_CHALLENGE, &params).unwrap();
    let c = Credentials::parse(&written).unwrap();
    assert_eq!(c.response(), "6629fae49393a05397450978507c4ef1");
    assert_eq!(c.opaque().map(|o| o.raw()), Some("5ccc069c403ebaf9f0171e9517f40e41"));
}

// ---------------------------------------------------------------------------------------------
// RFC 7616 §3.9.1

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_SHA256: &str = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";
const RFC7616_MD5: &str = "8ca523f5e9506fed4657c9700eebdbec";

fn rfc7616_challenge(algorithm: &str) -> String {
    format!(
        "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    \
         algorithm={algorithm},\r\n    nonce=\"{RFC7616_NONCE}\",\r\n    opaque=\"{RFC7616_OPAQUE}\""
    )
}

fn rfc7616_credentials(algorithm: &str, response: &str) -> String {
    format!(
        "Digest username=\"Mufasa\",\r\n    realm=\"http-auth@example.org\",\r\n    \
         uri=\"/dir/index.html\",\r\n    algorithm={algorithm},\r\n    nonce=\"{RFC7616_NONCE}\",\r\n    \
         nc=00000001,\r\n    cnonce=\"{RFC7616_CNONCE}\",\r\n    qop=auth,\r\n    \
         response=\"{response}\",\r\n    opaque=\"{RFC7616_OPAQUE}\""
    )
}

fn rfc7616_response(algorithm: Algorithm) -> String {
    let ha1 = ha1(algorithm, b"Mufasa", b"http-auth@example.org", b"Circle of Life");
    let nonce = RFC7616_NONCE.as_bytes();
    let cnonce = RFC7616_CNONCE.as_bytes();
    response(algorithm, &ha1, nonce, 1, cnonce, b"GET", b"/dir/index.html").to_string()
}

#[test]
fn rfc7616_sha256_example_response() {
    assert_eq!(rfc7616_response(Algorithm::Sha256), RFC7616_SHA256);
}

#[test]
fn rfc7616_md5_example_response() {
    assert_eq!(rfc7616_response(Algorithm::Md5), RFC7616_MD5);
}

#[test]
fn rfc7616_examples_verify() {
    for (alg, name, expected) in [(Algorithm::Sha256, "SHA-256", RFC7616_SHA256), (Algorithm::Md5, "MD5", RFC7616_MD5)]
    {
        let header = rfc7616_credentials(name, expected);
        let c = Credentials::parse(header.as_bytes()).unwrap();
        assert_eq!(c.algorithm(), Ok(alg));
        let stored = StoredHa1::from_password(alg, b"Mufasa", b"http-auth@example.org", b"Circle of Life");
        assert_eq!(verify(&c, b"GET", &stored, b"http-auth@example.org"), Ok(()), "{name}");
        let wrong = StoredHa1::from_password(alg, b"Mufasa", b"http-auth@example.org", b"Circle Of Life");
        assert_eq!(verify(&c, b"GET", &wrong, b"http-auth@example.org"), Err(DigestError::BadResponse));
    }
}

#[test]
fn rfc7616_sha256_writer_output_is_exact() {
    let challenge = rfc7616_challenge("SHA-256");
    let params = CredentialsParams {
        username: "Mufasa",
        secret: Secret::Password(b"Circle of Life"),
        method: "GET",
        uri: "/dir/index.html",
        cnonce: RFC7616_CNONCE,
        nc: 1,
    };
    let written = answer(challenge.as_bytes(), &params).unwrap();
    let expected = format!(
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", nonce=\"{RFC7616_NONCE}\", \
         uri=\"/dir/index.html\", response=\"{RFC7616_SHA256}\", algorithm=SHA-256, \
         cnonce=\"{RFC7616_CNONCE}\", opaque=\"{RFC7616_OPAQUE}\", qop=auth, nc=00000001"
    );
    assert_eq!(String::from_utf8(written).unwrap(), expected);
}

#[test]
fn writer_with_a_precomputed_ha1_matches_the_password() {
    let challenge = rfc7616_challenge("SHA-256");
    let stored = StoredHa1::from_password(Algorithm::Sha256, b"Mufasa", b"http-auth@example.org", b"Circle of Life");
    let base = CredentialsParams {
        username: "Mufasa",
        secret: Secret::Password(b"Circle of Life"),
        method: "GET",
        uri: "/dir/index.html",
        cnonce: RFC7616_CNONCE,
        nc: 1,
    };
    let from_password = answer(challenge.as_bytes(), &base).unwrap();
    let from_ha1 = answer(challenge.as_bytes(), &CredentialsParams { secret: Secret::Ha1(&stored), ..base }).unwrap();
    assert_eq!(from_password, from_ha1);
    // An MD5 HA1 cannot answer a SHA-256 challenge.
    let md5 = StoredHa1::from_password(Algorithm::Md5, b"Mufasa", b"http-auth@example.org", b"Circle of Life");
    let err = answer(challenge.as_bytes(), &CredentialsParams { secret: Secret::Ha1(&md5), ..base }).unwrap_err();
    assert!(matches!(err, DigestError::InvalidArgument(_)));
    assert_eq!(err.fault(), Fault::Local);
}

// ---------------------------------------------------------------------------------------------
// Building blocks agree with each other

#[test]
fn sess_response_is_the_plain_response_over_the_session_ha1() {
    let base = ha1(Algorithm::Sha256, b"u", b"r", b"p");
    let session = ha1_sess(Algorithm::Sha256, &base, b"n", b"c");
    let via_sess = response(Algorithm::Sha256Sess, &base, b"n", 7, b"c", b"INVITE", b"sip:x");
    let by_hand = response(Algorithm::Sha256, &session, b"n", 7, b"c", b"INVITE", b"sip:x");
    assert_eq!(via_sess, by_hand);
    assert_ne!(via_sess, response(Algorithm::Sha256, &base, b"n", 7, b"c", b"INVITE", b"sip:x"));
}

/// Independent oracles: the hash crates called directly on the RFC's concatenations.
fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn response_without_qop_is_rfc2069() {
    // RFC 2617 §3.2.2.1: H(HA1 ":" nonce ":" HA2).
    let base = ha1(Algorithm::Md5, b"u", b"r", b"p");
    assert_eq!(base.as_str(), md5_hex(b"u:r:p"));
    let a2 = md5_hex(b"REGISTER:sip:r");
    assert_eq!(ha2(Algorithm::Md5, b"REGISTER", b"sip:r").as_str(), a2);
    let expected = md5_hex(format!("{base}:n:{a2}").as_bytes());
    let got = response_without_qop(Algorithm::Md5, &base, b"n", b"REGISTER", b"sip:r").unwrap();
    assert_eq!(got.as_str(), expected);
}

#[test]
fn sha256_sess_matches_the_rfc_formulas() {
    // RFC 7616 §3.4.2 and §3.4.1, spelled out with the hash crate.
    let base = ha1(Algorithm::Sha256Sess, b"u", b"r", b"p");
    assert_eq!(base.as_str(), sha256_hex(b"u:r:p"));
    let session = sha256_hex(format!("{base}:n:c").as_bytes());
    assert_eq!(ha1_sess(Algorithm::Sha256Sess, &base, b"n", b"c").as_str(), session);
    let a2 = sha256_hex(b"INVITE:sip:x");
    let expected = sha256_hex(format!("{session}:n:0000000a:c:auth:{a2}").as_bytes());
    let got = response(Algorithm::Sha256Sess, &base, b"n", 10, b"c", b"INVITE", b"sip:x");
    assert_eq!(got.as_str(), expected);
}

#[test]
fn digests_have_the_algorithms_lengths() {
    for alg in ALGORITHMS {
        let h = ha1(alg, b"u", b"r", b"p");
        assert_eq!(h.len(), alg.hex_len());
        assert!(h.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(userhash(alg, b"u", b"r").len(), alg.hex_len());
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips: server challenge -> client credentials -> server verify

#[test]
fn round_trip_every_algorithm_with_qop() {
    for alg in ALGORITHMS {
        let challenge = write_challenge(&ChallengeParams {
            algorithm: alg,
            opaque: Some("o/1"),
            ..ChallengeParams::new("school.example.org", "bm9uY2U=")
        });
        let c = Challenge::parse(&challenge).unwrap();
        assert_eq!(c.algorithm(), Ok(alg));
        assert_eq!(c.realm().raw(), "school.example.org");
        assert_eq!(c.nonce().raw(), "bm9uY2U=");
        assert_eq!(c.opaque().map(|o| o.raw()), Some("o/1"));

        let header = answer(&challenge, &phone(b"s3cret")).unwrap();
        let creds = Credentials::parse(&header).unwrap();
        assert_eq!(creds.algorithm(), Ok(alg));
        assert_eq!(creds.qop(), Ok(Some(Qop::Auth)));
        assert_eq!(creds.nc_param(), Some("00000001"));
        assert_eq!(creds.response().len(), alg.hex_len());
        let stored = StoredHa1::from_password(alg, b"101", b"school.example.org", b"s3cret");
        assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Ok(()), "{alg}");
    }
}

#[test]
fn round_trip_without_qop_for_rfc2069_phones() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let challenge = write_challenge(&ChallengeParams {
            algorithm: alg,
            qop_auth: false,
            ..ChallengeParams::new("school.example.org", "abc")
        });
        assert!(!Challenge::parse(&challenge).unwrap().has_qop());
        let header = answer(&challenge, &phone(b"s3cret")).unwrap();
        let creds = Credentials::parse(&header).unwrap();
        assert_eq!(creds.qop(), Ok(None));
        assert_eq!(creds.cnonce(), None, "RFC 2617 §3.2.2: no cnonce without qop");
        assert_eq!(creds.nc(), None);
        let stored = StoredHa1::from_password(alg, b"101", b"school.example.org", b"s3cret");
        assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Ok(()));
    }
}

#[test]
fn sess_without_qop_is_refused_on_both_sides() {
    let challenge = write_challenge(&ChallengeParams {
        algorithm: Algorithm::Md5Sess,
        qop_auth: false,
        ..ChallengeParams::new("r", "n")
    });
    assert_eq!(answer(&challenge, &phone(b"p")), Err(DigestError::UnsupportedQop));

    let header = br#"Digest username="101", realm="r", nonce="n", uri="sip:r", algorithm=MD5-sess, response="00000000000000000000000000000000""#;
    let creds = Credentials::parse(header).unwrap();
    let stored = StoredHa1::from_password(Algorithm::Md5, b"101", b"r", b"p");
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"r"), Err(DigestError::UnsupportedQop));
}

#[test]
fn escaped_values_round_trip_and_hash_unescaped() {
    let realm = r#"École "Nord" \ annexe"#;
    let challenge = write_challenge(&ChallengeParams::new(realm, r#"n"o\nce"#));
    let c = Challenge::parse(&challenge).unwrap();
    assert_eq!(c.realm().raw(), r#"École \"Nord\" \\ annexe"#);
    assert!(c.realm().eq_unescaped(realm.as_bytes()));
    let mut buf = [0u8; 64];
    assert_eq!(c.nonce().unescape_into(&mut buf), Ok(r#"n"o\nce"#));

    let params = CredentialsParams { username: r#"a"b"#, ..phone(b"pw") };
    let header = answer(&challenge, &params).unwrap();
    let creds = Credentials::parse(&header).unwrap();
    assert!(creds.username().eq_unescaped(br#"a"b"#));
    // The stored HA1 is over the unescaped realm, as RFC 7616 §3.4.2 unq() says.
    let stored = StoredHa1::from_password(Algorithm::Md5, br#"a"b"#, realm.as_bytes(), b"pw");
    assert_eq!(verify(&creds, b"REGISTER", &stored, realm.as_bytes()), Ok(()));
    // Comparing the escaped form instead would be a wrong realm.
    assert_eq!(
        verify(&creds, b"REGISTER", &stored, r#"École \"Nord\" \\ annexe"#.as_bytes()),
        Err(DigestError::WrongRealm)
    );
}

#[test]
fn stale_challenge_round_trips() {
    let challenge = write_challenge(&ChallengeParams { stale: true, ..ChallengeParams::new("r", "n2") });
    assert!(Challenge::parse(&challenge).unwrap().stale());
    let fresh = write_challenge(&ChallengeParams::new("r", "n2"));
    assert!(!Challenge::parse(&fresh).unwrap().stale());
}

#[test]
fn challenge_writer_output_is_exact() {
    let out = write_challenge(&ChallengeParams {
        algorithm: Algorithm::Sha256,
        opaque: Some("op"),
        stale: true,
        ..ChallengeParams::new("atlanta.example.com", "ea9c8e88df84f1cec4341ae6cbe5a359")
    });
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Digest realm=\"atlanta.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", \
         opaque=\"op\", algorithm=SHA-256, qop=\"auth\", stale=TRUE"
    );
}

// ---------------------------------------------------------------------------------------------
// What verify tells apart

fn registered() -> (Vec<u8>, StoredHa1) {
    let challenge = write_challenge(&ChallengeParams::new("school.example.org", "n1"));
    let header = answer(&challenge, &phone(b"right")).unwrap();
    let stored = StoredHa1::from_password(Algorithm::Md5, b"101", b"school.example.org", b"right");
    (header, stored)
}

#[test]
fn wrong_password_is_a_bad_response_answered_403() {
    let challenge = write_challenge(&ChallengeParams::new("school.example.org", "n1"));
    let header = answer(&challenge, &phone(b"wrong")).unwrap();
    let creds = Credentials::parse(&header).unwrap();
    let (_, stored) = registered();
    let err = verify(&creds, b"REGISTER", &stored, b"school.example.org").unwrap_err();
    assert_eq!(err, DigestError::BadResponse);
    assert_eq!((err.status(), err.fault()), (403, Fault::Peer));
}

#[test]
fn wrong_realm_is_refused_before_the_response_is_checked() {
    let (header, stored) = registered();
    let creds = Credentials::parse(&header).unwrap();
    let err = verify(&creds, b"REGISTER", &stored, b"other.example.org").unwrap_err();
    assert_eq!(err, DigestError::WrongRealm);
    assert_eq!(err.status(), 401);
    // Realms compare exactly.
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"SCHOOL.example.org"), Err(DigestError::WrongRealm));
}

#[test]
fn a_replayed_response_fails_for_another_method_or_uri() {
    let (header, stored) = registered();
    let creds = Credentials::parse(&header).unwrap();
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Ok(()));
    assert_eq!(verify(&creds, b"INVITE", &stored, b"school.example.org"), Err(DigestError::BadResponse));
    let text = String::from_utf8(header).unwrap();
    let other_uri = text.replace("sip:school.example.org", "sip:evil.example.org");
    let creds = Credentials::parse(other_uri.as_bytes()).unwrap();
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Err(DigestError::BadResponse));
    let other_nc = text.replace("nc=00000001", "nc=00000002");
    let creds = Credentials::parse(other_nc.as_bytes()).unwrap();
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Err(DigestError::BadResponse));
}

#[test]
fn stored_ha1_of_another_algorithm_is_unsupported() {
    let (header, _) = registered();
    let creds = Credentials::parse(&header).unwrap();
    let sha = StoredHa1::from_password(Algorithm::Sha256, b"101", b"school.example.org", b"right");
    let err = verify(&creds, b"REGISTER", &sha, b"school.example.org").unwrap_err();
    assert_eq!((err, err.status()), (DigestError::UnsupportedAlgorithm, 401));
}

#[test]
fn stored_ha1_from_hex_verifies_like_the_password() {
    let (header, stored) = registered();
    let creds = Credentials::parse(&header).unwrap();
    let upper = stored.hex().as_str().to_ascii_uppercase();
    let synced = StoredHa1::from_hex(Algorithm::Md5, upper.as_bytes()).unwrap();
    assert_eq!(verify(&creds, b"REGISTER", &synced, b"school.example.org"), Ok(()));
    assert!(StoredHa1::from_hex(Algorithm::Md5, b"not hex").is_err());
}

#[test]
fn auth_int_and_unknown_qop_are_unsupported() {
    for qop in ["auth-int", "auth-conf"] {
        let header = format!(
            "Digest username=\"101\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", qop={qop}, nc=00000001, \
             cnonce=\"c\", response=\"00000000000000000000000000000000\""
        );
        let creds = Credentials::parse(header.as_bytes()).unwrap();
        let stored = StoredHa1::from_password(Algorithm::Md5, b"101", b"r", b"p");
        let err = verify(&creds, b"REGISTER", &stored, b"r").unwrap_err();
        assert_eq!((err, err.status()), (DigestError::UnsupportedQop, 401), "{qop}");
    }
}

#[test]
fn a_challenge_offering_only_auth_int_cannot_be_answered() {
    let challenge = br#"Digest realm="r", nonce="n", qop="auth-int""#;
    assert_eq!(answer(challenge, &phone(b"p")), Err(DigestError::UnsupportedQop));
}

#[test]
fn sha512_256_is_reported_unsupported_not_malformed() {
    let challenge = br#"Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256"#;
    let c = Challenge::parse(challenge).unwrap();
    assert_eq!(c.algorithm(), Err(DigestError::UnsupportedAlgorithm));
    assert_eq!(c.algorithm_param(), Some("SHA-512-256"));
    assert_eq!(answer(challenge, &phone(b"p")), Err(DigestError::UnsupportedAlgorithm));
}

#[test]
fn uppercase_response_digits_are_accepted() {
    let (header, stored) = registered();
    let text = String::from_utf8(header).unwrap();
    let creds = Credentials::parse(text.as_bytes()).unwrap();
    let upper = text.replace(creds.response(), &creds.response().to_ascii_uppercase());
    assert_ne!(upper, text, "the response must contain hex letters for this test to mean something");
    let creds = Credentials::parse(upper.as_bytes()).unwrap();
    assert_eq!(verify(&creds, b"REGISTER", &stored, b"school.example.org"), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Lenient where the grammar is

#[test]
fn lexical_variants_all_parse_the_same() {
    let variants: [&[u8]; 6] = [
        br#"Digest realm="r",nonce="n",algorithm=SHA-256,qop="auth""#,
        b"  digest   realm = \"r\" ,\tnonce\t=\t\"n\" , algorithm = sha-256 , qop = auth ",
        b"DIGEST\r\n realm=\"r\"\r\n\t,\r\n nonce=\r\n \"n\", ALGORITHM=\"SHA-256\", QOP=\"auth\"",
        br#"Digest unknown="x, y=z", realm="r", nonce="n", extension=token, algorithm=SHA-256, qop="auth""#,
        br#"Digest realm=r, nonce=n, algorithm=SHA-256, qop=auth, domain="sip:a sip:b""#,
        br#"Digest qop="auth", algorithm=SHA-256, nonce="n", realm="r""#,
    ];
    for v in variants {
        let c = Challenge::parse(v).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(v)));
        assert_eq!(c.realm().raw(), "r");
        assert_eq!(c.nonce().raw(), "n");
        assert_eq!(c.algorithm(), Ok(Algorithm::Sha256));
        assert!(c.offers(Qop::Auth));
    }
}

#[test]
fn unknown_parameters_stay_visible() {
    let c = Challenge::parse(br#"Digest realm="r", x-school="42", nonce="n""#).unwrap();
    let unknown: Vec<_> = c.params().map(Result::unwrap).filter(|(name, _)| *name == "x-school").collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].1.raw(), "42");
}

// ---------------------------------------------------------------------------------------------
// Other schemes

#[test]
fn rfc4475_regaut01_unknown_scheme_is_other_scheme() {
    let value = b"NoOneKnowsThisScheme opaque-data=here";
    assert_eq!(Credentials::parse(value).unwrap_err(), DigestError::OtherScheme);
    assert_eq!(Challenge::parse(value).unwrap_err(), DigestError::OtherScheme);
    assert_eq!(DigestError::OtherScheme.status(), 401);
}

#[test]
fn basic_is_other_scheme() {
    assert_eq!(Credentials::parse(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap_err(), DigestError::OtherScheme);
    assert_eq!(Challenge::parse(br#"Basic realm="r""#).unwrap_err(), DigestError::OtherScheme);
    assert_eq!(Credentials::parse(b"Basic").unwrap_err(), DigestError::OtherScheme);
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs: clear errors, never a panic, never our fault

fn malformed(m: Malformed) -> DigestError {
    DigestError::Malformed(m)
}

#[test]
fn empty_and_blank_values() {
    for v in [&b""[..], b" ", b"\t\t", b"\r\n "] {
        assert_eq!(Challenge::parse(v).unwrap_err(), malformed(Malformed::Empty), "{v:?}");
        assert_eq!(Credentials::parse(v).unwrap_err(), malformed(Malformed::Empty), "{v:?}");
    }
    assert_eq!(Challenge::parse(b"Digest").unwrap_err(), DigestError::MissingParam("realm"));
    assert_eq!(Credentials::parse(b"Digest   ").unwrap_err(), DigestError::MissingParam("username"));
}

#[test]
fn only_commas() {
    assert_eq!(Challenge::parse(b",,,").unwrap_err(), malformed(Malformed::Scheme));
    assert_eq!(Challenge::parse(b"Digest ,,,").unwrap_err(), malformed(Malformed::ParamName));
    assert_eq!(Credentials::parse(b"Digest ,").unwrap_err(), malformed(Malformed::ParamName));
    assert_eq!(Challenge::parse(br#"Digest realm="r",, nonce="n""#).unwrap_err(), malformed(Malformed::ParamName));
    assert_eq!(Challenge::parse(br#"Digest realm="r", nonce="n","#).unwrap_err(), malformed(Malformed::ParamName));
}

#[test]
fn unterminated_quotes() {
    for v in [
        &br#"Digest realm="r"#[..],
        br#"Digest realm="r", nonce="n"#,
        br#"Digest realm=""#,
        br#"Digest realm="r\"#,
        br#"Digest realm="r\""#,
    ] {
        assert_eq!(Challenge::parse(v).unwrap_err(), malformed(Malformed::UnterminatedQuote), "{v:?}");
    }
}

#[test]
fn non_utf8_and_control_bytes() {
    assert_eq!(Challenge::parse(b"Digest realm=\"\xff\xfe\", nonce=\"n\"").unwrap_err(), malformed(Malformed::NotUtf8));
    assert_eq!(Challenge::parse(b"Digest realm=\xff, nonce=\"n\"").unwrap_err(), malformed(Malformed::Value));
    assert_eq!(Challenge::parse(b"\xffDigest realm=\"r\"").unwrap_err(), malformed(Malformed::Scheme));
    assert_eq!(Challenge::parse(b"Digest\xff realm=\"r\"").unwrap_err(), malformed(Malformed::Scheme));
    assert_eq!(Challenge::parse(b"Digest re\xe9lm=\"r\"").unwrap_err(), malformed(Malformed::Equals));
    assert_eq!(
        Challenge::parse(b"Digest realm=\"a\x00b\", nonce=\"n\"").unwrap_err(),
        malformed(Malformed::ControlCharacter)
    );
    assert_eq!(
        Challenge::parse(b"Digest realm=\"a\rb\", nonce=\"n\"").unwrap_err(),
        malformed(Malformed::LineBreakInQuotes)
    );
    assert_eq!(
        Challenge::parse(b"Digest realm=\"a\\\xc3\xa9\", nonce=\"n\"").unwrap_err(),
        malformed(Malformed::Escape)
    );
}

#[test]
fn missing_required_fields() {
    let full = [
        ("username", r#"username="u""#),
        ("realm", r#"realm="r""#),
        ("nonce", r#"nonce="n""#),
        ("uri", r#"uri="sip:r""#),
        ("response", r#"response="00000000000000000000000000000000""#),
        ("cnonce", r#"cnonce="c""#),
        ("nc", "nc=00000001"),
    ];
    for (missing, _) in full {
        let rest: Vec<&str> = full.iter().filter(|(n, _)| *n != missing).map(|(_, p)| *p).collect();
        let header = format!("Digest {}, qop=auth", rest.join(", "));
        assert_eq!(Credentials::parse(header.as_bytes()).unwrap_err(), DigestError::MissingParam(missing), "{header}");
    }
    assert_eq!(Challenge::parse(br#"Digest realm="r""#).unwrap_err(), DigestError::MissingParam("nonce"));
    assert_eq!(Challenge::parse(br#"Digest nonce="n""#).unwrap_err(), DigestError::MissingParam("realm"));
    assert_eq!(DigestError::MissingParam("nonce").status(), 400);
}

#[test]
fn duplicates_and_bad_values() {
    let cases: [(&[u8], DigestError); 6] = [
        (br#"Digest realm="r", nonce="n", Realm="s""#, malformed(Malformed::Duplicate("realm"))),
        (
            br#"Digest realm="r", nonce="n", algorithm=MD5, algorithm=SHA-256"#,
            malformed(Malformed::Duplicate("algorithm")),
        ),
        (br#"Digest realm="r", nonce="n", algorithm="MD 5""#, malformed(Malformed::InvalidValue("algorithm"))),
        (br#"Digest realm="r", nonce="n", qop="auth auth-int""#, malformed(Malformed::InvalidValue("qop"))),
        (br#"Digest realm="r", nonce="n" opaque="o""#, malformed(Malformed::Separator)),
        (br#"Digest realm="r", nonce="n", Basic realm="x""#, malformed(Malformed::Equals)),
    ];
    for (v, expected) in cases {
        let err = Challenge::parse(v).unwrap_err();
        assert_eq!(err, expected, "{:?}", String::from_utf8_lossy(v));
        assert_eq!(err.status(), 400);
    }
    let creds_cases: [(&str, &'static str); 4] = [
        ("nc=1", "nc"),
        ("nc=0000000x", "nc"),
        ("response=\"6629fae49393a05397450978507c4ef\"", "response"),
        ("response=\"zz29fae49393a05397450978507c4ef1\"", "response"),
    ];
    for (bad, name) in creds_cases {
        let mut params =
            vec![r#"username="u""#, r#"realm="r""#, r#"nonce="n""#, r#"uri="sip:r""#, "qop=auth", r#"cnonce="c""#];
        if name != "nc" {
            params.push("nc=00000001");
        }
        if name != "response" {
            params.push(r#"response="00000000000000000000000000000000""#);
        }
        params.push(bad);
        let header = format!("Digest {}", params.join(", "));
        assert_eq!(
            Credentials::parse(header.as_bytes()).unwrap_err(),
            malformed(Malformed::InvalidValue(name)),
            "{header}"
        );
    }
}

#[test]
fn huge_values_parse_without_trouble() {
    let nonce = "x".repeat(1 << 20);
    let header = format!(r#"Digest realm="r", nonce="{nonce}""#);
    let c = Challenge::parse(header.as_bytes()).unwrap();
    assert_eq!(c.nonce().raw().len(), 1 << 20);
    // Answering it needs a buffer that big: a small one is a clear error, not a panic.
    let mut small = [0u8; 4096];
    assert_eq!(phone(b"p").write(&c, &mut small), Err(DigestError::BufferTooSmall));

    let many = format!("Digest {}realm=\"r\", nonce=\"n\"", "x=y, ".repeat(100_000));
    assert!(Challenge::parse(many.as_bytes()).is_ok());

    let commas = ",".repeat(1 << 20);
    assert_eq!(Challenge::parse(commas.as_bytes()).unwrap_err(), malformed(Malformed::Scheme));
    let unterminated = format!("Digest realm=\"{}", "\\\"".repeat(1 << 18));
    assert_eq!(Challenge::parse(unterminated.as_bytes()).unwrap_err(), malformed(Malformed::UnterminatedQuote));
    let spaces = format!("Digest{}", " ".repeat(1 << 20));
    assert_eq!(Challenge::parse(spaces.as_bytes()).unwrap_err(), DigestError::MissingParam("realm"));
}

#[test]
fn writers_fail_cleanly_on_every_short_buffer() {
    let params = ChallengeParams { opaque: Some("o"), stale: true, ..ChallengeParams::new("r", "n") };
    let full = write_challenge(&params);
    for size in 0..full.len() {
        let mut buf = vec![0u8; size];
        assert_eq!(params.write(&mut buf), Err(DigestError::BufferTooSmall), "size {size}");
    }
    let mut exact = vec![0u8; full.len()];
    assert_eq!(params.write(&mut exact), Ok(full.len()));

    let challenge = Challenge::parse(&full).unwrap();
    let written = answer(&full, &phone(b"p")).unwrap();
    for size in 0..written.len() {
        let mut buf = vec![0u8; size];
        assert_eq!(phone(b"p").write(&challenge, &mut buf), Err(DigestError::BufferTooSmall), "size {size}");
    }
    assert_eq!(DigestError::BufferTooSmall.fault(), Fault::Local);
}

#[test]
fn writers_refuse_header_injection() {
    let injected = ChallengeParams::new("r\r\nVia: SIP/2.0/UDP evil", "n");
    let err = injected.write(&mut [0u8; 256]).unwrap_err();
    assert!(matches!(err, DigestError::InvalidArgument(_)));
    assert_eq!((err.status(), err.fault()), (500, Fault::Local));

    let challenge = write_challenge(&ChallengeParams::new("r", "n"));
    for params in [
        CredentialsParams { username: "101\n", ..phone(b"p") },
        CredentialsParams { uri: "sip:r\r\n", ..phone(b"p") },
        CredentialsParams { cnonce: "c\0", ..phone(b"p") },
        CredentialsParams { cnonce: "", ..phone(b"p") },
    ] {
        assert!(matches!(answer(&challenge, &params), Err(DigestError::InvalidArgument(_))), "{params:?}");
    }
    assert!(matches!(ChallengeParams::new("r", "").write(&mut [0u8; 256]), Err(DigestError::InvalidArgument(_))));
}

/// Every truncation and a set of single-byte substitutions of valid headers: parsing never
/// panics and never blames us, and a mutated header verifies only if the mutation changed
/// nothing that is hashed.
#[test]
fn mutations_never_panic_nor_verify_falsely() {
    let (registered_header, stored) = registered();
    let originals: [Vec<u8>; 3] =
        [RFC2617_CREDENTIALS.to_vec(), rfc7616_credentials("SHA-256", RFC7616_SHA256).into_bytes(), registered_header];
    let replacements = [0u8, b'"', b'\\', b',', b'=', b' ', b'\r', b'\n', b'\t', 0x80, 0xff, b'a', b'A', b'0'];
    let mut verified_mutants = 0;
    for original in &originals {
        let reference = Credentials::parse(original).unwrap();
        let mut mutants: Vec<Vec<u8>> = (0..original.len()).map(|n| original[..n].to_vec()).collect();
        for i in 0..original.len() {
            for &b in &replacements {
                let mut m = original.clone();
                m[i] = b;
                mutants.push(m);
            }
        }
        for m in &mutants {
            if let Err(e) = Challenge::parse(m) {
                assert_eq!(e.fault(), Fault::Peer, "{e:?} for {:?}", String::from_utf8_lossy(m));
            }
            match Credentials::parse(m) {
                Err(e) => assert_eq!(e.fault(), Fault::Peer, "{e:?}"),
                Ok(c) => {
                    let realm = reference.realm().raw().as_bytes();
                    let stored = if original == &originals[2] {
                        stored
                    } else if original == &originals[0] {
                        StoredHa1::from_password(Algorithm::Md5, b"Mufasa", realm, b"Circle Of Life")
                    } else {
                        StoredHa1::from_password(Algorithm::Sha256, b"Mufasa", realm, b"Circle of Life")
                    };
                    let method: &[u8] = if original == &originals[2] { b"REGISTER" } else { b"GET" };
                    if verify(&c, method, &stored, realm).is_ok() {
                        verified_mutants += 1;
                        assert_eq!(c.nonce(), reference.nonce());
                        assert_eq!(c.uri(), reference.uri());
                        assert_eq!(c.cnonce(), reference.cnonce());
                        assert_eq!(c.nc_param(), reference.nc_param());
                        assert!(c.response().eq_ignore_ascii_case(reference.response()));
                        assert_eq!(c.algorithm(), reference.algorithm());
                    }
                }
            }
        }
    }
    // Whitespace and case substitutions keep some mutants valid: the check above ran.
    assert!(verified_mutants > 0);
}
