//! Corrupt, oversized and garbage frames give a clear error for that frame, never a panic, and
//! the next good frame still decodes. Capacities reached on either side are errors.
#![allow(clippy::unwrap_used, missing_docs)]

mod control_support;

use carillon_protocol::control::*;
use control_support::*;

fn good() -> CloudMessage {
    CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: 77 })
}

/// Feeds `bad` then a good frame; returns what `bad` produced and checks the good one survived.
fn then_good(decoder: &mut FrameDecoder, bad: &[u8]) -> Vec<Result<CloudMessage, FrameError>> {
    let mut stream = bad.to_vec();
    stream.extend(frame(&good()));
    let mut got = decode_all(decoder, &[&stream]);
    assert_eq!(got.pop(), Some(Ok(good())), "the frame after {bad:?} must decode");
    got
}

#[test]
fn bad_crc_is_reported_and_the_next_frame_decodes() {
    let mut wire = frame(&good());
    let n = wire.len();
    wire[n - 3] ^= 0x40; // inside the CRC, keeps COBS valid
    let mut decoder = FrameDecoder::new();
    assert_eq!(then_good(&mut decoder, &wire), vec![Err(FrameError::BadCrc)]);
}

#[test]
fn any_single_byte_corruption_is_caught() {
    let original = frame(&cloud_messages()[10]);
    let mut decoder = FrameDecoder::new();
    for i in 0..original.len() - 1 {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut wire = original.clone();
            wire[i] ^= flip;
            let got = then_good(&mut decoder, &wire);
            assert!(!got.is_empty(), "corruption at {i} went unnoticed");
            assert!(got.iter().all(|r| r.is_err()), "corruption at {i} decoded: {got:?}");
        }
    }
}

#[test]
fn valid_crc_but_not_a_message_is_malformed() {
    let mut decoder = FrameDecoder::new();
    let cases: Vec<Vec<u8>> = vec![
        vec![200],                                                                  // no such variant
        vec![10],                                                                   // variant without its field
        vec![10, 0x80],                                                             // varint cut short
        vec![10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], // varint too long
        vec![10, 5, 5],                                                             // trailing bytes
        vec![0, 1],                                                                 // Hello cut short
        vec![],                                                                     // nothing at all
    ];
    for body in cases {
        assert_eq!(then_good(&mut decoder, &frame_raw(&body)), vec![Err(FrameError::Malformed)], "{body:?}");
    }
    // A message of the other direction is not a valid message of this one.
    let from_box = frame(&BoxMessage::CallRecords(batch(1, 2)));
    assert_eq!(then_good(&mut decoder, &from_box), vec![Err(FrameError::Malformed)]);
}

#[test]
fn values_over_capacity_are_refused_on_decode() {
    let mut decoder = FrameDecoder::new();
    let decode_box = |decoder: &mut FrameDecoder, body: &[u8]| decode_all::<BoxMessage>(decoder, &[&frame_raw(body)]);
    // Nine records where a batch holds eight.
    let n = CALL_RECORDS_PER_BATCH as u64 + 1;
    let mut body = vec![6];
    body.extend(pc(&1u64));
    body.extend(pc(&n));
    body.extend(pc(&(n as usize)));
    for seq in 1..=n {
        body.extend(pc(&record(seq)));
    }
    assert_eq!(decode_box(&mut decoder, &body), vec![Err(FrameError::Malformed)]);
    // The same with eight records is fine: the construction above is right.
    let mut body = vec![6];
    body.extend(pc(&1u64));
    body.extend(pc(&(n - 1)));
    body.extend(pc(&(n as usize - 1)));
    for seq in 1..n {
        body.extend(pc(&record(seq)));
    }
    assert_eq!(decode_box(&mut decoder, &body), vec![Ok(BoxMessage::CallRecords(batch(1, n - 1)))]);

    // A token one byte longer than its capacity.
    let mut body = vec![1];
    body.extend(pc("t".repeat(MAX_TOKEN_LEN + 1).as_str()));
    body.extend(pc(&FIRMWARE));
    assert_eq!(decode_box(&mut decoder, &body), vec![Err(FrameError::Malformed)]);

    // An HA1 that is not hex, in an otherwise valid extension chunk.
    let chunk = |md5: &str| {
        let mut body = vec![6];
        body.extend(pc(&12u32));
        body.extend(pc(&0u16));
        body.extend(pc(&1usize));
        body.extend(pc("101"));
        body.extend(pc("101"));
        body.extend(pc("realm"));
        body.extend(pc(md5));
        body.extend(pc("0".repeat(64).as_str()));
        body.extend(pc("Name"));
        frame_raw(&body)
    };
    assert_eq!(then_good(&mut decoder, &chunk(&"z".repeat(32))), vec![Err(FrameError::Malformed)]);
    assert_eq!(then_good(&mut decoder, &chunk(&"a".repeat(31))), vec![Err(FrameError::Malformed)]);
    let fine = then_good(&mut decoder, &chunk(&"a".repeat(32)));
    assert!(matches!(fine[..], [Ok(CloudMessage::ConfigExtensions(_))]), "{fine:?}");
}

#[test]
fn oversize_frames_are_skipped() {
    // A decoder sized for small messages meets the largest one.
    let mut small: FrameDecoder<64> = FrameDecoder::new();
    let mut stream = frame(&cloud_messages()[11]);
    stream.extend(frame(&good()));
    let mut input = &stream[..];
    assert_eq!(small.decode::<CloudMessage>(&mut input), Some(Err(FrameError::Oversize)));
    assert!(!input.is_empty(), "reported as soon as the buffer overflows");
    assert_eq!(small.decode::<CloudMessage>(&mut input), Some(Ok(good())));
    assert_eq!(small.decode::<CloudMessage>(&mut input), None);

    // The default decoder meets 100 000 non-zero bytes: one error, then recovery.
    let mut decoder = FrameDecoder::new();
    let junk = vec![0x5A; 100_000];
    assert_eq!(then_good(&mut decoder, &[junk.as_slice(), &[0]].concat()), vec![Err(FrameError::Oversize)]);
}

#[test]
fn broken_cobs_and_short_frames() {
    let mut decoder = FrameDecoder::new();
    // Code byte promises 9 data bytes, the delimiter comes after 3.
    assert_eq!(then_good(&mut decoder, &[10, 1, 2, 3, 0]), vec![Err(FrameError::BadEncoding)]);
    // Fewer bytes than a CRC.
    for body in [&[1u8][..], &[2, 7], &[4, 7, 7, 7]] {
        let mut wire = body.to_vec();
        wire.push(0);
        assert_eq!(then_good(&mut decoder, &wire), vec![Err(FrameError::TooShort)], "{body:?}");
    }
}

#[test]
fn random_garbage_never_panics_and_never_hides_the_next_frame() {
    let mut decoder = FrameDecoder::new();
    let mut seed = 0xDEAD_BEEFu32;
    for round in 0..50 {
        let garbage: Vec<u8> = (0..(round * 397) % 5000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                if seed % 40 == 0 {
                    0
                } else {
                    seed as u8
                }
            })
            .collect();
        let mut bad = garbage.clone();
        bad.push(0); // the sender's resync delimiter
        let got = then_good(&mut decoder, &bad);
        assert!(got.iter().all(|r| r.is_err()), "garbage decoded as a message: {got:?}");
    }
}

#[test]
fn encoding_into_a_small_buffer_is_an_error() {
    let msg = cloud_messages()[11].clone();
    let needed = frame(&msg).len();
    for len in 0..needed {
        let mut buf = vec![0u8; len];
        assert_eq!(encode_frame(&msg, &mut buf), Err(EncodeError::BufferTooSmall), "buffer of {len}");
    }
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    assert_eq!(encode_frame(&msg, &mut buf), Ok(needed));
    for small in [&good(), &CloudMessage::Ping(Ping { nonce: 1 })] {
        let needed = frame(small).len();
        let mut buf = vec![0u8; needed];
        assert_eq!(encode_frame(small, &mut buf), Ok(needed), "an exact buffer suffices");
    }
}

#[test]
fn a_message_over_the_protocol_limit_is_refused() {
    let mut buf = vec![0u8; 3 * MAX_FRAME_LEN];
    let huge = [7u8; MAX_MESSAGE_LEN];
    assert_eq!(encode_frame(&huge[..], &mut buf), Err(EncodeError::MessageTooLarge));
    assert!(encode_frame(&huge[..MAX_MESSAGE_LEN - 3], &mut buf).is_ok());
}

#[test]
fn capacities_refuse_on_build() {
    let mut b = batch(1, CALL_RECORDS_PER_BATCH as u64);
    assert_eq!(b.push(record(CALL_RECORDS_PER_BATCH as u64 + 1)), Err(BatchError::Full));
    assert_eq!(b.records.len(), CALL_RECORDS_PER_BATCH);
    let mut bindings: heapless::Vec<Binding, BINDINGS_PER_BATCH> = vec_of(binding(0));
    assert!(bindings.push(binding(1)).is_err());
    assert_eq!(bounded::<MAX_NUMBER_LEN>(&"1".repeat(33)), Err(TooLong { len: 33, capacity: 32 }));
}
