//! The same messages parsed both ways: by Carillon (then converted to rsip types) and by rsip
//! itself. On clean messages all three agree; where rsip's own parser is wrong, the inputs are
//! listed in `protocol/RSIP.md` and pinned here so the list stays true.
#![cfg(feature = "rsip")]

use carillon_protocol::{parse, validate, Framing, Header, ParseConfig, Status};
use rsip::headers::ToTypedHeader;
use rsip::prelude::{HasHeaders, HeadersExt};

/// The fields a proxy reads, as plain strings, from rsip types.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    call_id: String,
    cseq: (u32, String),
    from_tag: Option<String>,
    to_uri: String,
    via_branch: Option<String>,
    body_len: usize,
    header_count: usize,
}

fn rsip_fields(m: &rsip::SipMessage) -> Result<Fields, String> {
    let e = |e: rsip::Error| e.to_string();
    let (via, from, to, call_id, cseq, headers, body) = match m {
        rsip::SipMessage::Request(r) => {
            (r.via_header(), r.from_header(), r.to_header(), r.call_id_header(), r.cseq_header(), r.headers(), &r.body)
        }
        rsip::SipMessage::Response(r) => {
            (r.via_header(), r.from_header(), r.to_header(), r.call_id_header(), r.cseq_header(), r.headers(), &r.body)
        }
    };
    let cseq = cseq.map_err(e)?.typed().map_err(e)?;
    Ok(Fields {
        call_id: call_id.map_err(e)?.to_string().trim_start_matches("Call-ID: ").to_string(),
        cseq: (cseq.seq, cseq.method.to_string()),
        from_tag: from.map_err(e)?.typed().map_err(e)?.tag().map(|t| t.to_string()),
        to_uri: to.map_err(e)?.typed().map_err(e)?.uri.to_string(),
        via_branch: via.map_err(e)?.typed().map_err(e)?.branch().map(|b| b.to_string()),
        body_len: body.len(),
        header_count: headers.iter().count(),
    })
}

/// Our own reading of the same fields.
fn our_fields(bytes: &[u8]) -> Option<(Fields, rsip::SipMessage)> {
    let mut headers = [Header::EMPTY; 128];
    let Ok(Status::Complete(m)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        return None;
    };
    validate(&m).ok()?;
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let cseq = m.cseq()?.ok()?;
    let fields = Fields {
        call_id: s(m.call_id()?),
        cseq: (cseq.seq, cseq.method.as_str().to_string()),
        from_tag: m.from()?.ok()?.tag().map(s),
        to_uri: s(m.to()?.ok()?.uri.raw),
        via_branch: m.top_via()?.ok()?.branch().map(s),
        body_len: m.body.len(),
        header_count: m.headers.len(),
    };
    let converted = rsip::SipMessage::try_from(&m).ok()?;
    Some((fields, converted))
}

const CLEAN: [(&str, &[u8]); 3] = [
    ("invite", include_bytes!("data/invite.sip")),
    ("register", include_bytes!("data/register.sip")),
    ("ok200", include_bytes!("data/ok200.sip")),
];

#[test]
fn clean_messages_agree_three_ways() {
    for (name, bytes) in CLEAN {
        let (ours, converted) = our_fields(bytes).expect(name);
        let via_conversion = rsip_fields(&converted).expect(name);
        let direct = rsip_fields(&rsip::SipMessage::try_from(bytes).expect(name)).expect(name);
        assert_eq!(ours, via_conversion, "{name}: ours vs converted");
        assert_eq!(ours, direct, "{name}: ours vs rsip");
    }
}

fn torture(name: &str) -> Option<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sip-torture");
    std::fs::read(dir.join(name)).ok()
}

/// Every valid torture message that rsip can represent converts, and rsip's typed parsers
/// read the converted message the way we read the original.
#[test]
fn converted_torture_messages_read_the_same() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sip-torture");
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.tsv")) else { return };
    let mut converted_ok = 0;
    let mut mismatches = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[4] != "valid" {
            continue;
        }
        let bytes = std::fs::read(dir.join(cols[0])).expect("read");
        let Some((ours, converted)) = our_fields(&bytes) else { continue };
        match rsip_fields(&converted) {
            Ok(f) if f == ours => converted_ok += 1,
            Ok(f) => mismatches.push(format!("{}: ours {ours:?} rsip-typed {f:?}", cols[0])),
            Err(e) => mismatches.push(format!("{}: rsip typed parse of converted message: {e}", cols[0])),
        }
    }
    eprintln!("{converted_ok} converted and read alike; differences:\n{}", mismatches.join("\n"));
    assert!(converted_ok >= 20, "only {converted_ok} torture messages converted cleanly");
}

/// The inputs where rsip's own parser is wrong, as RSIP.md lists them.
#[test]
fn rsip_known_faults() {
    let direct = |b: &[u8]| rsip::SipMessage::try_from(b);
    // 1. Compact header forms are not recognised: `v:` / `i:` stay "Other", so rsip finds no Via
    //    or Call-ID; our conversion maps them to the long forms.
    let compact = b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
    let r = direct(compact).expect("rsip parses it");
    assert!(rsip_fields(&r).is_err(), "rsip unexpectedly understands compact forms");
    let (ours, conv) = our_fields(compact).expect("ours");
    assert_eq!(rsip_fields(&conv).expect("converted"), ours);

    // 2. The body is "everything after CRLFCRLF", whatever Content-Length says (RFC 4475
    //    §3.1.1.8 dblreq: 450 trailing octets become the body).
    let mut extra = CLEAN[1].1.to_vec();
    extra.extend_from_slice(b"INVITE sip:junk SIP/2.0\r\n\r\n");
    let r = direct(&extra).expect("rsip parses it");
    let f = rsip_fields(&r).expect("fields");
    assert!(f.body_len > 0, "rsip now honours Content-Length");
    assert_eq!(our_fields(&extra).expect("ours").0.body_len, 0);

    // 3. A Contact with an RFC 5626 +sip.instance="<urn:uuid:...>" parameter is refused by
    //    rsip's typed Contact.
    let inst = b"REGISTER sip:s SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@s>;tag=1\r\nTo: <sip:101@s>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: <sip:101@10.0.0.1>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\nContent-Length: 0\r\n\r\n";
    let r = direct(inst).expect("rsip parses the message");
    let rsip::SipMessage::Request(req) = r else { panic!() };
    assert!(req.contact_header().and_then(|c| c.typed()).is_err(), "rsip now reads +sip.instance");
    let mut h = [Header::EMPTY; 16];
    let Ok(Status::Complete(m)) = parse(inst, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else { panic!() };
    assert_eq!(m.contacts().filter(|c| c.is_ok()).count(), 1);

    // 4. Folded header lines are not unfolded (RFC 4475 §3.1.1.1 wsinv is refused outright).
    if let Some(wsinv) = torture("rfc4475-3.1.1.1-wsinv.sip") {
        let r = direct(&wsinv);
        assert!(r.is_err() || rsip_fields(r.as_ref().expect("ok")).is_err(), "rsip now reads wsinv");
        assert!(our_fields(&wsinv).is_some());
    }

    // 5. Extension methods cannot be represented (RFC 4475 §3.1.1.2 intmeth).
    if let Some(intmeth) = torture("rfc4475-3.1.1.2-intmeth.sip") {
        let r = direct(&intmeth);
        assert!(r.is_err(), "rsip now parses extension methods");
    }

    // 6. Invalid messages are accepted: Content-Length larger than the body (clerr), negative
    //    (ncl), and a CSeq method that differs from the request's (mismatch01).
    for (f, why) in [
        ("rfc4475-3.1.2.2-clerr.sip", "Content-Length larger than the body"),
        ("rfc4475-3.1.2.3-ncl.sip", "negative Content-Length"),
        ("rfc4475-3.1.2.17-mismatch01.sip", "CSeq method mismatch"),
    ] {
        if let Some(b) = torture(f) {
            assert!(direct(&b).is_ok(), "rsip now rejects {f} ({why})");
            assert!(our_fields(&b).is_none(), "we must reject {f} ({why})");
        }
    }
}
