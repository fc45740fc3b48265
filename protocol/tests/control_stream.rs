//! A byte stream of several frames decodes to the same messages however it is cut into chunks.
#![allow(clippy::unwrap_used, missing_docs)]

mod control_support;

use carillon_protocol::control::*;
use control_support::*;

/// A few frames of different sizes: small, one over 254 bytes (several COBS blocks), and the
/// largest message there is.
fn stream() -> (Vec<CloudMessage>, Vec<u8>) {
    let all = cloud_messages();
    let msgs: Vec<CloudMessage> = vec![
        all[0].clone(),
        CloudMessage::Ping(Ping { nonce: 0 }),
        all[10].clone(),
        all[11].clone(),
        CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: 0 }),
        all[16].clone(),
    ];
    let bytes = msgs.iter().flat_map(frame).collect();
    (msgs, bytes)
}

fn ok(msgs: &[CloudMessage]) -> Vec<Result<CloudMessage, FrameError>> {
    msgs.iter().cloned().map(Ok).collect()
}

#[test]
fn one_chunk_with_several_frames() {
    let (msgs, bytes) = stream();
    assert!(bytes.len() > 2000);
    let mut decoder = FrameDecoder::new();
    assert_eq!(decode_all(&mut decoder, &[&bytes]), ok(&msgs));
    assert!(!decoder.is_mid_frame());
}

#[test]
fn split_at_every_byte_position() {
    let (msgs, bytes) = stream();
    let mut decoder = FrameDecoder::new();
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode_all(&mut decoder, &[a, b]), ok(&msgs), "cut at {cut}");
        assert!(!decoder.is_mid_frame());
    }
}

#[test]
fn byte_by_byte_and_random_chunks() {
    let (msgs, bytes) = stream();
    let mut decoder = FrameDecoder::new();
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_all(&mut decoder, &singles), ok(&msgs));

    let mut seed = 0x9E37_79B9u32;
    for _ in 0..200 {
        let mut chunks = vec![];
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed as usize % 700).min(rest.len());
            let (a, b) = rest.split_at(n);
            chunks.push(a);
            rest = b;
        }
        assert_eq!(decode_all(&mut decoder, &chunks), ok(&msgs));
    }
}

#[test]
fn decode_stops_at_each_frame_and_leaves_the_rest() {
    let (msgs, bytes) = stream();
    let mut decoder: FrameDecoder = FrameDecoder::new();
    let mut input = &bytes[..];
    let first = decoder.decode::<CloudMessage>(&mut input).unwrap();
    assert_eq!(first, Ok(msgs[0].clone()));
    assert_eq!(input.len(), bytes.len() - frame(&msgs[0]).len());
}

#[test]
fn empty_frames_and_leading_delimiters_are_ignored() {
    let (msgs, bytes) = stream();
    let mut padded = vec![0, 0, 0];
    for m in &msgs {
        padded.extend(frame(m));
        padded.push(0);
    }
    let mut decoder = FrameDecoder::new();
    assert_eq!(decode_all(&mut decoder, &[&padded]), ok(&msgs));
    assert_eq!(decode_all(&mut decoder, &[&bytes]), ok(&msgs));
}

#[test]
fn reset_drops_a_partial_frame() {
    let (msgs, bytes) = stream();
    let mut decoder = FrameDecoder::new();
    let half = frame(&msgs[3]);
    assert!(decode_all::<CloudMessage>(&mut decoder, &[&half[..half.len() / 2]]).is_empty());
    assert!(decoder.is_mid_frame());
    decoder.reset();
    assert_eq!(decode_all(&mut decoder, &[&bytes]), ok(&msgs));
}

#[test]
fn box_messages_stream_too() {
    let msgs = box_messages();
    let bytes: Vec<u8> = msgs.iter().flat_map(frame).collect();
    let mut decoder = FrameDecoder::new();
    for cut in (0..=bytes.len()).step_by(7) {
        let (a, b) = bytes.split_at(cut);
        let got: Vec<Result<BoxMessage, _>> = decode_all(&mut decoder, &[a, b]);
        assert_eq!(got, msgs.iter().cloned().map(Ok).collect::<Vec<_>>(), "cut at {cut}");
    }
}
