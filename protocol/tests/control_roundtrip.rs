//! Every control message survives framing and decoding unchanged, fits the size limits at full
//! capacity, and keeps its encoding (golden bytes).
#![allow(clippy::unwrap_used, missing_docs)]

mod control_support;

use std::collections::BTreeSet;

use carillon_protocol::control::*;
use control_support::*;

fn roundtrip<T>(msgs: &[T])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Clone + core::fmt::Debug,
{
    for msg in msgs {
        let wire = frame(msg);
        assert!(wire.len() <= MAX_FRAME_LEN);
        assert_eq!(wire.last(), Some(&0));
        assert!(!wire[..wire.len() - 1].contains(&0), "COBS leaves no zero inside a frame");
        let mut decoder: FrameDecoder = FrameDecoder::new();
        let got: Vec<Result<T, _>> = decode_all(&mut decoder, &[&wire]);
        assert_eq!(got, vec![Ok(msg.clone())]);
    }
}

#[test]
fn every_box_message_roundtrips() {
    let msgs = box_messages();
    // The first postcard byte is the variant index: all 11 variants are covered.
    let variants: BTreeSet<u8> = msgs.iter().map(|m| pc(m)[0]).collect();
    assert_eq!(variants, (0..11).collect());
    roundtrip(&msgs);
}

#[test]
fn every_cloud_message_roundtrips() {
    let msgs = cloud_messages();
    let variants: BTreeSet<u8> = msgs.iter().map(|m| pc(m)[0]).collect();
    assert_eq!(variants, (0..14).collect());
    roundtrip(&msgs);
}

#[test]
fn messages_at_full_capacity_fit_the_limits() {
    let sizes: Vec<usize> =
        box_messages().iter().map(|m| pc(m).len()).chain(cloud_messages().iter().map(|m| pc(m).len())).collect();
    let largest = *sizes.iter().max().unwrap();
    eprintln!("message sizes at full capacity: {sizes:?}");
    assert!(largest <= MAX_MESSAGE_LEN, "largest message is {largest} bytes");
    // The limit is not wildly larger than needed either.
    assert!(largest > MAX_MESSAGE_LEN * 3 / 4, "largest message is only {largest} bytes");
    // An encoder buffer of MAX_FRAME_LEN always suffices, and the decoder's default buffer too.
    assert_eq!(DECODE_BUFFER_LEN, MAX_MESSAGE_LEN + CRC_LEN);
}

#[test]
fn golden_bytes_pin_the_encoding() {
    // Variant index, then fields in order, integers as varints.
    assert_eq!(pc(&BoxMessage::Ping(Ping { nonce: 7 })), [8, 7]);
    assert_eq!(pc(&BoxMessage::Hello(Hello::current())), [0, 1, 1]);
    assert_eq!(pc(&CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: 300 })), [10, 0xAC, 0x02]);
    assert_eq!(pc(&CloudMessage::AuthRejected(AuthRejectReason::Revoked)), [4, 2]);
    let mut one = CallRecordBatch::new();
    one.push(CallRecord {
        box_id: BoxId(42),
        seq: 1,
        caller: s("101"),
        callee: s("112"),
        start: UnixTime { secs: 1, millis: 2 },
        answer: None,
        end: UnixTime { secs: 3, millis: 4 },
        outcome: CallOutcome::Failed { status: 503 },
        duration_ms: 0,
        mode: Mode::Survival,
    })
    .unwrap();
    assert_eq!(
        pc(&BoxMessage::CallRecords(one)),
        [
            6, 1, 1, 1, // variant, first_seq, last_seq, one record
            42, 1, 3, b'1', b'0', b'1', 3, b'1', b'1', b'2', // box id, seq, caller, callee
            1, 2, 0, 3, 4, // start, no answer, end
            3, 0xF7, 0x03, 0, 1, // Failed{503}, duration, Survival
        ]
    );
    // A whole frame: [8, 7] + CRC-32 little endian, COBS, delimiter.
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&[8, 7]).to_le_bytes();
    assert_eq!(frame(&BoxMessage::Ping(Ping { nonce: 7 })), cobs(&[8, 7, crc[0], crc[1], crc[2], crc[3]]));
}

#[test]
fn hello_negotiates_the_newest_common_version() {
    let ours = Hello { protocol_version: 3, min_protocol_version: 2 };
    assert_eq!(ours.negotiate(&Hello { protocol_version: 5, min_protocol_version: 1 }), Ok(3));
    assert_eq!(ours.negotiate(&Hello { protocol_version: 2, min_protocol_version: 1 }), Ok(2));
    let err = ours.negotiate(&Hello { protocol_version: 1, min_protocol_version: 1 }).unwrap_err();
    assert_eq!(err, VersionMismatch { ours: (2, 3), theirs: (1, 1) });
    assert!(ours.negotiate(&Hello { protocol_version: 9, min_protocol_version: 4 }).is_err());
    assert_eq!(Hello::current().negotiate(&Hello::current()), Ok(PROTOCOL_VERSION));
}

#[test]
fn call_record_batches_are_contiguous() {
    let mut b = batch(5, 3);
    assert_eq!((b.first_seq, b.last_seq), (5, 7));
    assert_eq!(b.validate(), Ok(()));
    assert_eq!(b.push(record(9)), Err(BatchError::NotContiguous { expected: 8, found: 9 }));
    assert_eq!(CallRecordBatch::new().validate(), Err(BatchError::Empty));
    let mut full = batch(1, CALL_RECORDS_PER_BATCH as u64);
    assert_eq!(full.push(record(CALL_RECORDS_PER_BATCH as u64 + 1)), Err(BatchError::Full));
    b.last_seq = 8;
    assert_eq!(b.validate(), Err(BatchError::BoundsMismatch));
    let mut gap = batch(1, 2);
    gap.records[1].seq = 4;
    gap.last_seq = 4;
    assert_eq!(gap.validate(), Err(BatchError::NotContiguous { expected: 2, found: 4 }));
}

#[test]
fn config_transfer_checks_order_and_completeness() {
    let begin = config_begin(); // version 12, 3 extensions, 1 ring group
    let ext = |first: u16, n: u16| ConfigExtensions {
        version: 12,
        first_index: first,
        extensions: (first..first + n).map(extension).collect(),
    };
    let groups = ConfigRingGroups {
        version: 12,
        first_index: 0,
        ring_groups: heapless::Vec::from_slice(&[ring_group_max()]).unwrap(),
    };

    let mut t = ConfigTransfer::new();
    t.begin(&begin, Some(11)).unwrap();
    assert_eq!(t.in_progress(), Some(12));
    t.extensions(&ext(0, 2)).unwrap();
    t.extensions(&ext(2, 1)).unwrap();
    t.ring_groups(&groups).unwrap();
    assert_eq!(t.end(&ConfigEnd { version: 12 }), Ok(12));
    assert_eq!(t.in_progress(), None);

    // Stale, oversized, gaps, overlaps, wrong version, early ring groups, missing items.
    assert_eq!(t.begin(&begin, Some(12)), Err(ConfigRejectReason::Stale));
    let mut big = config_begin();
    big.extension_count = MAX_SITE_EXTENSIONS + 1;
    assert_eq!(t.begin(&big, None), Err(ConfigRejectReason::TooManyExtensions));
    big.extension_count = 1;
    big.ring_group_count = MAX_SITE_RING_GROUPS + 1;
    assert_eq!(t.begin(&big, None), Err(ConfigRejectReason::TooManyRingGroups));

    t.begin(&begin, None).unwrap();
    assert_eq!(t.extensions(&ext(1, 1)), Err(ConfigRejectReason::OutOfOrder));
    assert_eq!(t.in_progress(), None, "an error discards the transfer");

    t.begin(&begin, None).unwrap();
    assert_eq!(t.ring_groups(&groups), Err(ConfigRejectReason::OutOfOrder));

    t.begin(&begin, None).unwrap();
    assert_eq!(t.extensions(&ext(0, 4)), Err(ConfigRejectReason::OutOfOrder));

    t.begin(&begin, None).unwrap();
    let mut other = ext(0, 1);
    other.version = 13;
    assert_eq!(t.extensions(&other), Err(ConfigRejectReason::OutOfOrder));

    t.begin(&begin, None).unwrap();
    t.extensions(&ext(0, 3)).unwrap();
    assert_eq!(t.end(&ConfigEnd { version: 12 }), Err(ConfigRejectReason::Incomplete));
    assert_eq!(t.end(&ConfigEnd { version: 12 }), Err(ConfigRejectReason::OutOfOrder));

    let mut empty = config_begin();
    empty.extension_count = 0;
    empty.ring_group_count = 0;
    t.begin(&empty, None).unwrap();
    assert_eq!(
        t.extensions(&ConfigExtensions { version: 12, first_index: 0, extensions: heapless::Vec::new() }),
        Err(ConfigRejectReason::OutOfOrder)
    );
    t.begin(&empty, None).unwrap();
    assert_eq!(t.end(&ConfigEnd { version: 12 }), Ok(12));
}

#[test]
fn bounded_text_and_digests_say_what_is_wrong() {
    assert_eq!(bounded::<4>("8123"), Ok(s("8123")));
    assert_eq!(bounded::<4>("81234"), Err(TooLong { len: 5, capacity: 4 }));
    assert!(EnrollmentToken::new(&"x".repeat(MAX_TOKEN_LEN + 1)).is_err());
    assert_eq!(Ha1Md5::from_hex("abc"), Err(HexDigestError::WrongLength { expected: 32, found: 3 }));
    assert_eq!(Ha1Md5::from_hex(&"g".repeat(32)), Err(HexDigestError::NotHex));
    assert_eq!(Ha1Md5::from_hex(&"AB".repeat(16)).unwrap().as_str(), "ab".repeat(16));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let msg = CloudMessage::Enrolled(Enrolled { box_id: BoxId(42), credential: credential() });
    let text = format!("{msg:?}");
    assert!(text.contains("BoxCredential(..)"), "{text}");
    assert!(!text.contains(&format!("{}", credential().0[5])), "{text}");
    let ext = format!("{:?}", extension(1));
    assert!(!ext.contains("939e"), "{ext}");
    let token = format!("{:?}", EnrollmentToken::new("K7Q2-9MXD").unwrap());
    assert!(!token.contains("K7Q2"), "{token}");
    assert!(credential().ct_eq(&credential()));
    assert!(!credential().ct_eq(&BoxCredential([0; CREDENTIAL_LEN])));
}
