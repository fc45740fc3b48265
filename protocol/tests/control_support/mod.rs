//! Sample control messages for the `control_*` tests: typical ones, and ones with every string
//! and list at full capacity and every integer at its widest encoding.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use carillon_protocol::control::*;
use heapless::{String, Vec};

/// A string of exactly `N` bytes.
pub fn full<const N: usize>(c: char) -> String<N> {
    let mut s = String::new();
    while s.push(c).is_ok() {}
    s
}

pub fn vec_of<T: Clone, const N: usize>(item: T) -> Vec<T, N> {
    let mut v = Vec::new();
    while v.push(item.clone()).is_ok() {}
    v
}

pub fn s<const N: usize>(text: &str) -> String<N> {
    bounded(text).unwrap()
}

pub const FIRMWARE: FirmwareVersion = FirmwareVersion { major: 0, minor: 3, patch: 1 };
pub const FIRMWARE_MAX: FirmwareVersion = FirmwareVersion { major: u16::MAX, minor: u16::MAX, patch: u16::MAX };

pub fn credential() -> BoxCredential {
    BoxCredential(core::array::from_fn(|i| i as u8 * 7 + 1))
}

pub fn extension(n: u16) -> Extension {
    let number = format!("{}", 100 + n);
    Extension {
        number: s(&number),
        username: s(&number),
        realm: s("school-0042.carillon.example"),
        ha1_md5: Ha1Md5::from_hex("939e7578ed9e3c518a452acee763bce9").unwrap(),
        ha1_sha256: Ha1Sha256::from_hex("7b0fd2c5b7e1a4bd8a3f3e3b3f0b3e2b9b0c3e5a1a4a2b6c7d8e9f0a1b2c3d4e").unwrap(),
        display_name: s("Secrétariat"),
    }
}

pub fn extension_max() -> Extension {
    Extension {
        number: full('9'),
        username: full('u'),
        realm: full('r'),
        ha1_md5: Ha1Md5::from_hex(&"f".repeat(HA1_MD5_HEX_LEN)).unwrap(),
        ha1_sha256: Ha1Sha256::from_hex(&"e".repeat(HA1_SHA256_HEX_LEN)).unwrap(),
        display_name: full('é'),
    }
}

pub fn ring_group_max() -> RingGroup {
    RingGroup { number: full('7'), members: vec_of(full('1')), ring_timeout_secs: u16::MAX }
}

pub fn config_begin() -> ConfigBegin {
    ConfigBegin {
        version: 12,
        site_code: s("0042"),
        dial_plan: DialPlan { extension_len: 3, on_net_prefix: s("8"), outside_line_prefix: s("0") },
        emergency_numbers: Vec::from_slice(&[s("112"), s("118")]).unwrap(),
        fallback_trunk: Some(FallbackTrunk { host: s("192.0.2.10"), port: 5060, credentials: None }),
        extension_count: 3,
        ring_group_count: 1,
    }
}

pub fn config_begin_max() -> ConfigBegin {
    ConfigBegin {
        version: u32::MAX,
        site_code: full('0'),
        dial_plan: DialPlan { extension_len: u8::MAX, on_net_prefix: full('8'), outside_line_prefix: full('0') },
        emergency_numbers: vec_of(full('1')),
        fallback_trunk: Some(FallbackTrunk {
            host: full('h'),
            port: u16::MAX,
            credentials: Some(TrunkCredentials { username: full('u'), password: Password(full('p')) }),
        }),
        extension_count: u16::MAX,
        ring_group_count: u16::MAX,
    }
}

pub fn binding(n: u32) -> Binding {
    Binding {
        aor: s("sip:101@school-0042.carillon.example"),
        contact: s("sip:101@192.168.1.23:5060;transport=udp"),
        expires_secs: 3600 - n,
        call_id: s("a84b4c76e66710@pc33.example"),
        cseq: 314 + n,
    }
}

pub fn binding_max() -> Binding {
    Binding { aor: full('a'), contact: full('c'), expires_secs: u32::MAX, call_id: full('i'), cseq: u32::MAX }
}

pub fn record(seq: u64) -> CallRecord {
    CallRecord {
        box_id: BoxId(42),
        seq,
        caller: s("101"),
        callee: s("102"),
        start: UnixTime { secs: 1_767_261_600 + seq * 60, millis: 250 },
        answer: Some(UnixTime { secs: 1_767_261_605 + seq * 60, millis: 0 }),
        end: UnixTime { secs: 1_767_261_640 + seq * 60, millis: 999 },
        outcome: CallOutcome::Answered,
        duration_ms: 35_999,
        mode: Mode::Survival,
    }
}

pub fn record_max(seq: u64) -> CallRecord {
    let t = UnixTime { secs: u64::MAX, millis: u16::MAX };
    CallRecord {
        box_id: BoxId(u64::MAX),
        seq,
        caller: full('1'),
        callee: full('2'),
        start: t,
        answer: Some(t),
        end: t,
        outcome: CallOutcome::Failed { status: u16::MAX },
        duration_ms: u64::MAX,
        mode: Mode::Recovering,
    }
}

pub fn batch(first: u64, count: u64) -> CallRecordBatch {
    let mut b = CallRecordBatch::new();
    for seq in first..first + count {
        b.push(record(seq)).unwrap();
    }
    b
}

pub fn status() -> StatusReport {
    StatusReport {
        mode: Mode::Survival,
        survival_secs: 93,
        uptime_secs: 86_400,
        firmware: FIRMWARE,
        config_version: Some(12),
        counters: Counters { registered_phones: 31, calls_survival: 4, uplink_losses: 1, ..Counters::default() },
    }
}

pub fn status_max() -> StatusReport {
    StatusReport {
        mode: Mode::Recovering,
        survival_secs: u64::MAX,
        uptime_secs: u64::MAX,
        firmware: FIRMWARE_MAX,
        config_version: Some(u32::MAX),
        counters: Counters {
            registered_phones: u32::MAX,
            calls_online: u64::MAX,
            calls_survival: u64::MAX,
            uplink_losses: u32::MAX,
            journal_pending: u64::MAX,
            journal_full_drops: u64::MAX,
            sip_rejected: u64::MAX,
            control_frames_rejected: u64::MAX,
        },
    }
}

/// Every box → cloud message type, typical and at full capacity.
pub fn box_messages() -> std::vec::Vec<BoxMessage> {
    let mut max_batch = CallRecordBatch::new();
    for seq in u64::MAX - CALL_RECORDS_PER_BATCH as u64 + 1..=u64::MAX {
        max_batch.push(record_max(seq)).unwrap();
    }
    vec![
        BoxMessage::Hello(Hello::current()),
        BoxMessage::Hello(Hello { protocol_version: u16::MAX, min_protocol_version: u16::MAX }),
        BoxMessage::Enroll(EnrollRequest {
            token: EnrollmentToken::new("K7Q2-9MXD-44TA").unwrap(),
            firmware: FIRMWARE,
        }),
        BoxMessage::Enroll(EnrollRequest { token: EnrollmentToken(full('t')), firmware: FIRMWARE_MAX }),
        BoxMessage::Authenticate(Authenticate {
            box_id: BoxId(42),
            credential: credential(),
            firmware: FIRMWARE,
            config_version: None,
        }),
        BoxMessage::Authenticate(Authenticate {
            box_id: BoxId(u64::MAX),
            credential: BoxCredential([0xFF; CREDENTIAL_LEN]),
            firmware: FIRMWARE_MAX,
            config_version: Some(u32::MAX),
        }),
        BoxMessage::ConfigApplied(ConfigApplied { version: 12 }),
        BoxMessage::ConfigRejected(ConfigRejected { version: u32::MAX, reason: ConfigRejectReason::StorageFailed }),
        BoxMessage::ConfigRejected(ConfigRejected { version: 13, reason: ConfigRejectReason::TooManyExtensions }),
        BoxMessage::Bindings(BindingBatch {
            batch_id: 1,
            bindings: Vec::from_slice(&[binding(0), binding(1)]).unwrap(),
        }),
        BoxMessage::Bindings(BindingBatch { batch_id: u32::MAX, bindings: vec_of(binding_max()) }),
        BoxMessage::CallRecords(batch(1, 3)),
        BoxMessage::CallRecords(max_batch),
        BoxMessage::Status(status()),
        BoxMessage::Status(status_max()),
        BoxMessage::Ping(Ping { nonce: 7 }),
        BoxMessage::Pong(Pong { nonce: u32::MAX }),
        BoxMessage::Goodbye(Goodbye { reason: GoodbyeReason::Shutdown }),
        BoxMessage::Goodbye(Goodbye { reason: GoodbyeReason::Replaced }),
    ]
}

/// Every cloud → box message type, typical and at full capacity.
pub fn cloud_messages() -> std::vec::Vec<CloudMessage> {
    vec![
        CloudMessage::Hello(Hello::current()),
        CloudMessage::Enrolled(Enrolled { box_id: BoxId(42), credential: credential() }),
        CloudMessage::Enrolled(Enrolled { box_id: BoxId(u64::MAX), credential: BoxCredential([0xFF; CREDENTIAL_LEN]) }),
        CloudMessage::EnrollRejected(EnrollRejectReason::TokenAlreadyUsed),
        CloudMessage::EnrollRejected(EnrollRejectReason::SiteDisabled),
        CloudMessage::Authenticated(Authenticated { records_stored_up_to: 0 }),
        CloudMessage::Authenticated(Authenticated { records_stored_up_to: u64::MAX }),
        CloudMessage::AuthRejected(AuthRejectReason::BadCredential),
        CloudMessage::ConfigBegin(config_begin()),
        CloudMessage::ConfigBegin(config_begin_max()),
        CloudMessage::ConfigExtensions(ConfigExtensions {
            version: 12,
            first_index: 0,
            extensions: Vec::from_slice(&[extension(1), extension(2), extension(3)]).unwrap(),
        }),
        CloudMessage::ConfigExtensions(ConfigExtensions {
            version: u32::MAX,
            first_index: u16::MAX,
            extensions: vec_of(extension_max()),
        }),
        CloudMessage::ConfigRingGroups(ConfigRingGroups {
            version: 12,
            first_index: 0,
            ring_groups: Vec::from_slice(&[RingGroup {
                number: s("200"),
                members: Vec::from_slice(&[s("101"), s("102")]).unwrap(),
                ring_timeout_secs: 30,
            }])
            .unwrap(),
        }),
        CloudMessage::ConfigRingGroups(ConfigRingGroups {
            version: u32::MAX,
            first_index: u16::MAX,
            ring_groups: vec_of(ring_group_max()),
        }),
        CloudMessage::ConfigEnd(ConfigEnd { version: 12 }),
        CloudMessage::BindingsAck(BindingsAck { batch_id: u32::MAX }),
        CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: 3 }),
        CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: u64::MAX }),
        CloudMessage::Ping(Ping { nonce: u32::MAX }),
        CloudMessage::Pong(Pong { nonce: 7 }),
        CloudMessage::Goodbye(Goodbye { reason: GoodbyeReason::UnsupportedVersion }),
    ]
}

/// Frames `msg` into a fresh buffer.
pub fn frame<T: serde::Serialize>(msg: &T) -> std::vec::Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode_frame(msg, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Frames arbitrary bytes as the body of a frame, with a correct CRC: for hostile tests.
pub fn frame_raw(body: &[u8]) -> std::vec::Vec<u8> {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(body);
    let mut data = body.to_vec();
    data.extend_from_slice(&crc.to_le_bytes());
    cobs(&data)
}

/// Reference COBS encoding with the delimiter.
pub fn cobs(data: &[u8]) -> std::vec::Vec<u8> {
    let mut out = vec![];
    let mut block = vec![];
    for &b in data {
        if b == 0 {
            out.push(block.len() as u8 + 1);
            out.append(&mut block);
        } else {
            block.push(b);
            if block.len() == 254 {
                out.push(255);
                out.append(&mut block);
            }
        }
    }
    out.push(block.len() as u8 + 1);
    out.append(&mut block);
    out.push(0);
    out
}

/// Postcard bytes of one value, for assembling hostile frames.
pub fn pc<T: serde::Serialize + ?Sized>(value: &T) -> std::vec::Vec<u8> {
    let mut buf = [0u8; 4096];
    postcard::to_slice(value, &mut buf).unwrap().to_vec()
}

/// Decodes every frame of `stream` fed in the given chunks.
pub fn decode_all<T: serde::de::DeserializeOwned>(
    decoder: &mut FrameDecoder,
    chunks: &[&[u8]],
) -> std::vec::Vec<Result<T, FrameError>> {
    let mut out = vec![];
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(r) = decoder.decode::<T>(&mut input) {
            out.push(r);
        }
        assert!(input.is_empty());
    }
    out
}
