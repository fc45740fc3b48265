//! The messages of the control link, in both directions.
//!
//! Postcard encodes an enum variant by its index and a struct by its fields in order, with no
//! names: **never reorder or remove a variant or a field**. A new message is a new variant at
//! the end of its enum, and any change of shape bumps [`PROTOCOL_VERSION`]. The golden byte
//! vectors in `protocol/tests/control_roundtrip.rs` fail when an encoding moves.

use core::fmt;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use super::text::{
    BoxCredential, CallId, DisplayName, EnrollmentToken, ExtensionNumber, Ha1Md5, Ha1Sha256, Host, Number, Password,
    Prefix, Realm, SiteCode, Uri, Username,
};

/// Version of the control protocol that this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Oldest peer version this crate can still talk to.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// Extensions a school may have in one configuration. A box reserves its tables for this many;
/// the cloud refuses to configure more for one site.
pub const MAX_SITE_EXTENSIONS: u16 = 256;
/// Ring groups a school may have in one configuration.
pub const MAX_SITE_RING_GROUPS: u16 = 32;
/// Members of one ring group (parallel forking to more phones than this is not useful).
pub const MAX_RING_GROUP_MEMBERS: usize = 16;
/// Emergency numbers of a site besides the built-in 112, 101 and 100.
pub const MAX_EMERGENCY_NUMBERS: usize = 8;
/// Extensions carried by one [`ConfigExtensions`] message (bounded so a message fits
/// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN)).
pub const EXTENSIONS_PER_CHUNK: usize = 6;
/// Ring groups carried by one [`ConfigRingGroups`] message.
pub const RING_GROUPS_PER_CHUNK: usize = 4;
/// Registrations carried by one [`BindingBatch`].
pub const BINDINGS_PER_BATCH: usize = 4;
/// Call records carried by one [`CallRecordBatch`].
pub const CALL_RECORDS_PER_BATCH: usize = 8;

// --- Session --------------------------------------------------------------------------------

/// The first message on a new connection, in each direction: the versions its sender speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The newest version the sender speaks.
    pub protocol_version: u16,
    /// The oldest version the sender still speaks.
    pub min_protocol_version: u16,
}

/// The peers have no protocol version in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionMismatch {
    /// Our range, oldest to newest.
    pub ours: (u16, u16),
    /// The peer's range, oldest to newest.
    pub theirs: (u16, u16),
}

impl fmt::Display for VersionMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no common control-protocol version: we speak {}..={}, the peer {}..={}",
            self.ours.0, self.ours.1, self.theirs.0, self.theirs.1
        )
    }
}

impl Hello {
    /// The `Hello` of this crate's version.
    pub const fn current() -> Self {
        Self { protocol_version: PROTOCOL_VERSION, min_protocol_version: MIN_PROTOCOL_VERSION }
    }

    /// The version both sides use: the newest that both speak. On `Err` the sender of `self`
    /// says [`Goodbye`] with [`GoodbyeReason::UnsupportedVersion`] and closes.
    pub fn negotiate(&self, peer: &Hello) -> Result<u16, VersionMismatch> {
        let version = self.protocol_version.min(peer.protocol_version);
        if version >= self.min_protocol_version && version >= peer.min_protocol_version {
            Ok(version)
        } else {
            Err(VersionMismatch {
                ours: (self.min_protocol_version, self.protocol_version),
                theirs: (peer.min_protocol_version, peer.protocol_version),
            })
        }
    }
}

/// A box's firmware version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
    /// Patch version.
    pub patch: u16,
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A box's identity, assigned by the cloud at enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BoxId(pub u64);

/// Keepalive request; the peer answers [`Pong`] with the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Chosen by the sender, echoed in the answer.
    pub nonce: u32,
}

/// Keepalive answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce of the [`Ping`] answered.
    pub nonce: u32,
}

/// The last message before a side closes the connection on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Why the connection closes.
    pub reason: GoodbyeReason,
}

/// Why a side closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GoodbyeReason {
    /// Orderly shutdown or restart.
    Shutdown,
    /// No common protocol version (see [`Hello::negotiate`]).
    UnsupportedVersion,
    /// The peer sent a message that is not allowed at this point of the session.
    ProtocolViolation,
    /// Another connection authenticated as the same box; this older one is closed.
    Replaced,
}

// --- Enrollment and authentication ----------------------------------------------------------

/// Box → cloud, once in a box's life: the one-time token the operator created for its school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time token.
    pub token: EnrollmentToken,
    /// The box's firmware version.
    pub firmware: FirmwareVersion,
}

/// Cloud → box: enrollment accepted. The box stores both values durably before it uses them;
/// the token is spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The identity of the box from now on.
    pub box_id: BoxId,
    /// The secret the box presents in [`Authenticate`] on every later connection.
    pub credential: BoxCredential,
}

/// Why the cloud refused an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EnrollRejectReason {
    /// No such token.
    UnknownToken,
    /// The token was already used by a box.
    TokenAlreadyUsed,
    /// The token is past its expiry.
    TokenExpired,
    /// The token's school or organising body is disabled.
    SiteDisabled,
}

/// Box → cloud, first message after [`Hello`] on every connection of an enrolled box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticate {
    /// The id received at enrollment.
    pub box_id: BoxId,
    /// The credential received at enrollment.
    pub credential: BoxCredential,
    /// The box's firmware version.
    pub firmware: FirmwareVersion,
    /// The configuration version the box runs, if it has one; the cloud pushes a newer one.
    pub config_version: Option<u32>,
}

/// Cloud → box: the box is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    /// The highest call-record sequence number of this box that the cloud has stored
    /// contiguously (0: none). A box whose journal was lost continues numbering above it, so
    /// that the cloud never takes new records for duplicates.
    pub records_stored_up_to: u64,
}

/// Why the cloud refused to authenticate a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuthRejectReason {
    /// No box with this id.
    UnknownBox,
    /// The credential does not match.
    BadCredential,
    /// The operator revoked this box; it must be enrolled again.
    Revoked,
}

// --- Configuration --------------------------------------------------------------------------

/// One extension of the school, with the credentials its phone registers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension number, e.g. `101`.
    pub number: ExtensionNumber,
    /// Digest username of the phone.
    pub username: Username,
    /// Digest realm the HA1 values were computed with.
    pub realm: Realm,
    /// `MD5(username:realm:password)` (RFC 2617 / RFC 7616 `MD5`).
    pub ha1_md5: Ha1Md5,
    /// `SHA-256(username:realm:password)` (RFC 7616 `SHA-256`).
    pub ha1_sha256: Ha1Sha256,
    /// Display name shown to the called party.
    pub display_name: DisplayName,
}

/// A ring group: calling its number rings every member at once; the first answer wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingGroup {
    /// The group's number.
    pub number: ExtensionNumber,
    /// Extensions rung in parallel.
    pub members: Vec<ExtensionNumber, MAX_RING_GROUP_MEMBERS>,
    /// Seconds to ring before the call fails with no answer.
    pub ring_timeout_secs: u16,
}

/// A local SIP trunk (e.g. an analogue gateway) that emergency calls use in survival mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackTrunk {
    /// Host name or IP literal of the trunk.
    pub host: Host,
    /// SIP port of the trunk.
    pub port: u16,
    /// Digest credentials, if the trunk challenges.
    pub credentials: Option<TrunkCredentials>,
}

/// Digest credentials for a fallback trunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkCredentials {
    /// Digest username.
    pub username: Username,
    /// Password (see [`Password`]).
    pub password: Password,
}

/// The part of the numbering plan the box needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialPlan {
    /// Digits of an internal extension (e.g. 3 for `101`).
    pub extension_len: u8,
    /// Prefix of on-net calls to another site (`8` + site code + extension by default).
    pub on_net_prefix: Prefix,
    /// Prefix of calls to the public network (`0` by default).
    pub outside_line_prefix: Prefix,
}

/// Cloud → box: the start of configuration `version`. A configuration is sent as
/// `ConfigBegin`, then `ConfigExtensions` chunks, then `ConfigRingGroups` chunks (each in index
/// order, none when the count is 0), then [`ConfigEnd`]; [`ConfigTransfer`](super::ConfigTransfer)
/// checks that order. The box applies the configuration only at `ConfigEnd` and only if it is
/// complete, then answers [`ConfigApplied`] or [`ConfigRejected`]. A new `ConfigBegin` or a
/// closed connection discards a partial configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigBegin {
    /// Configuration version; the cloud increases it on every change.
    pub version: u32,
    /// The school's site code.
    pub site_code: SiteCode,
    /// The numbering plan.
    pub dial_plan: DialPlan,
    /// Emergency numbers besides the built-in 112, 101 and 100.
    pub emergency_numbers: Vec<Number, MAX_EMERGENCY_NUMBERS>,
    /// Local trunk for emergency calls in survival, if the school has one.
    pub fallback_trunk: Option<FallbackTrunk>,
    /// Extensions that follow (at most [`MAX_SITE_EXTENSIONS`]).
    pub extension_count: u16,
    /// Ring groups that follow (at most [`MAX_SITE_RING_GROUPS`]).
    pub ring_group_count: u16,
}

/// Cloud → box: extensions `first_index..first_index + extensions.len()` of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigExtensions {
    /// Configuration version of the [`ConfigBegin`] this belongs to.
    pub version: u32,
    /// Index of the first extension of this chunk.
    pub first_index: u16,
    /// The extensions.
    pub extensions: Vec<Extension, EXTENSIONS_PER_CHUNK>,
}

/// Cloud → box: ring groups `first_index..first_index + ring_groups.len()` of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRingGroups {
    /// Configuration version of the [`ConfigBegin`] this belongs to.
    pub version: u32,
    /// Index of the first ring group of this chunk.
    pub first_index: u16,
    /// The ring groups.
    pub ring_groups: Vec<RingGroup, RING_GROUPS_PER_CHUNK>,
}

/// Cloud → box: the configuration is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEnd {
    /// Configuration version of the [`ConfigBegin`] this closes.
    pub version: u32,
}

/// Box → cloud: the box applied (and persisted) this configuration version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigApplied {
    /// The version now in force on the box.
    pub version: u32,
}

/// Box → cloud: the box refused a configuration and keeps the one it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRejected {
    /// The version refused.
    pub version: u32,
    /// Why.
    pub reason: ConfigRejectReason,
}

/// Why a box refused a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConfigRejectReason {
    /// More extensions than [`MAX_SITE_EXTENSIONS`] or than the box's tables hold.
    TooManyExtensions,
    /// More ring groups than [`MAX_SITE_RING_GROUPS`] or than the box's tables hold.
    TooManyRingGroups,
    /// A chunk out of order, of another version, or beyond the announced count.
    OutOfOrder,
    /// `ConfigEnd` arrived before every announced item.
    Incomplete,
    /// Contents that make no sense (e.g. a ring-group member that is no extension).
    Invalid,
    /// The version is not newer than the one the box runs.
    Stale,
    /// The box could not persist it.
    StorageFailed,
}

// --- Bindings handed back after an outage ---------------------------------------------------

/// A registration the box accepted (or learnt) while the cloud could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Address of record (`To` of the REGISTER).
    pub aor: Uri,
    /// Contact URI of the phone.
    pub contact: Uri,
    /// Seconds until the binding expires, counted when the batch is built.
    pub expires_secs: u32,
    /// `Call-ID` of the phone's REGISTER.
    pub call_id: CallId,
    /// `CSeq` number of the phone's REGISTER.
    pub cseq: u32,
}

/// Box → cloud: a batch of bindings, sent when the uplink returns (RFC 3261 §10.3 rules apply on
/// the cloud as for a REGISTER through this box's `Path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingBatch {
    /// Chosen by the box, echoed in [`BindingsAck`].
    pub batch_id: u32,
    /// The bindings.
    pub bindings: Vec<Binding, BINDINGS_PER_BATCH>,
}

/// Cloud → box: a binding batch was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingsAck {
    /// The batch acknowledged.
    pub batch_id: u32,
}

// --- Call records ---------------------------------------------------------------------------

/// Wall-clock time as Unix seconds and milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: u64,
    /// Milliseconds within the second (0–999).
    pub millis: u16,
}

/// The mode a box is in (see DESIGN.md, "The box's modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mode {
    /// The cloud is reachable; the box forwards.
    Online,
    /// The uplink is down; the box is registrar and proxy for its school.
    Survival,
    /// The uplink is back; bindings and journal are being handed back.
    Recovering,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CallOutcome {
    /// Answered, then hung up.
    Answered,
    /// The callee was busy (486/600).
    Busy,
    /// Nobody answered before the timeout (408/480 or the ring timeout).
    NoAnswer,
    /// Failed with this SIP status.
    Failed {
        /// The final status code.
        status: u16,
    },
    /// The box refused it (unknown number, not allowed in this mode).
    Rejected,
    /// An emergency call handed to the fallback trunk.
    EmergencyToFallback,
}

/// One call (or failed attempt) that a box handled, as journaled and uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The box that handled the call.
    pub box_id: BoxId,
    /// The box's sequence number for this record: 1, 2, 3… without gaps. With `box_id` it
    /// identifies the record, so the cloud ingests each exactly once.
    pub seq: u64,
    /// Calling number.
    pub caller: Number,
    /// Called number as dialled.
    pub callee: Number,
    /// When the INVITE arrived.
    pub start: UnixTime,
    /// When the call was answered, if it was.
    pub answer: Option<UnixTime>,
    /// When the call ended.
    pub end: UnixTime,
    /// How it ended.
    pub outcome: CallOutcome,
    /// Talk time (answer to end), in milliseconds; 0 if not answered.
    pub duration_ms: u64,
    /// The mode the box was in when the call started.
    pub mode: Mode,
}

/// Why a call-record batch is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch is full ([`CALL_RECORDS_PER_BATCH`]).
    Full,
    /// A record's sequence number does not follow the previous one.
    NotContiguous {
        /// Sequence number expected.
        expected: u64,
        /// Sequence number found.
        found: u64,
    },
    /// `first_seq`/`last_seq` do not match the records.
    BoundsMismatch,
    /// The batch has no records.
    Empty,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("call-record batch is full"),
            Self::NotContiguous { expected, found } => {
                write!(f, "call record {found} does not follow {}", expected.wrapping_sub(1))
            }
            Self::BoundsMismatch => f.write_str("batch bounds do not match its records"),
            Self::Empty => f.write_str("call-record batch is empty"),
        }
    }
}

/// Box → cloud: records `first_seq..=last_seq`, contiguous.
///
/// The cloud stores them idempotently by (box id, seq) and answers [`CallRecordsAck`] with the
/// highest sequence number up to which it holds every record. Sending a batch again is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecordBatch {
    /// Sequence number of the first record.
    pub first_seq: u64,
    /// Sequence number of the last record.
    pub last_seq: u64,
    /// The records, in sequence order.
    pub records: Vec<CallRecord, CALL_RECORDS_PER_BATCH>,
}

impl CallRecordBatch {
    /// An empty batch (not valid to send until a record is pushed).
    pub const fn new() -> Self {
        Self { first_seq: 0, last_seq: 0, records: Vec::new() }
    }

    /// Adds the next record; it must follow the last one.
    pub fn push(&mut self, record: CallRecord) -> Result<(), BatchError> {
        if let Some(last) = self.records.last() {
            let expected = last.seq.wrapping_add(1);
            if record.seq != expected {
                return Err(BatchError::NotContiguous { expected, found: record.seq });
            }
        }
        let seq = record.seq;
        self.records.push(record).map_err(|_| BatchError::Full)?;
        if self.records.len() == 1 {
            self.first_seq = seq;
        }
        self.last_seq = seq;
        Ok(())
    }

    /// Checks what a receiver must check: not empty, contiguous, bounds matching the records.
    pub fn validate(&self) -> Result<(), BatchError> {
        let (Some(first), Some(last)) = (self.records.first(), self.records.last()) else {
            return Err(BatchError::Empty);
        };
        if first.seq != self.first_seq || last.seq != self.last_seq {
            return Err(BatchError::BoundsMismatch);
        }
        for pair in self.records.windows(2) {
            if let [a, b] = pair {
                let expected = a.seq.wrapping_add(1);
                if b.seq != expected {
                    return Err(BatchError::NotContiguous { expected, found: b.seq });
                }
            }
        }
        Ok(())
    }
}

impl Default for CallRecordBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Cloud → box: the cloud holds every record of this box up to and including `up_to_seq`.
/// The box may forget them; an older or repeated ack changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecordsAck {
    /// Highest contiguous sequence number stored.
    pub up_to_seq: u64,
}

// --- Status ---------------------------------------------------------------------------------

/// Counters a box reports; all count since boot and wrap never (saturating).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Phones registered right now.
    pub registered_phones: u32,
    /// Calls handled while online.
    pub calls_online: u64,
    /// Calls handled in survival.
    pub calls_survival: u64,
    /// Times the uplink was judged down.
    pub uplink_losses: u32,
    /// Call records in the journal not yet acknowledged by the cloud.
    pub journal_pending: u64,
    /// Call records lost because the journal was full.
    pub journal_full_drops: u64,
    /// SIP messages refused as malformed.
    pub sip_rejected: u64,
    /// Control-link frames refused (CRC, decoding, size).
    pub control_frames_rejected: u64,
}

/// Box → cloud: the box's state, sent after authentication, on every mode change and
/// periodically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The current mode.
    pub mode: Mode,
    /// Seconds spent in survival since boot.
    pub survival_secs: u64,
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// The box's firmware version.
    pub firmware: FirmwareVersion,
    /// The configuration version in force, if any.
    pub config_version: Option<u32>,
    /// Counters.
    pub counters: Counters,
}

// --- The two directions ---------------------------------------------------------------------

/// Everything a box sends to the cloud.
///
/// Session order: `Hello`, then `Enroll` (a new box) or `Authenticate`; after the cloud's
/// answer, any of the others. Variants are append-only (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BoxMessage {
    /// Versions spoken.
    Hello(Hello),
    /// Enrollment with a one-time token.
    Enroll(EnrollRequest),
    /// Authentication of an enrolled box.
    Authenticate(Authenticate),
    /// A configuration was applied.
    ConfigApplied(ConfigApplied),
    /// A configuration was refused.
    ConfigRejected(ConfigRejected),
    /// Bindings handed back after an outage.
    Bindings(BindingBatch),
    /// Call records from the journal.
    CallRecords(CallRecordBatch),
    /// Box status.
    Status(StatusReport),
    /// Keepalive request.
    Ping(Ping),
    /// Keepalive answer.
    Pong(Pong),
    /// Closing on purpose.
    Goodbye(Goodbye),
}

/// Everything the cloud sends to a box. Variants are append-only (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CloudMessage {
    /// Versions spoken.
    Hello(Hello),
    /// Enrollment accepted.
    Enrolled(Enrolled),
    /// Enrollment refused.
    EnrollRejected(EnrollRejectReason),
    /// Authentication accepted.
    Authenticated(Authenticated),
    /// Authentication refused; the cloud closes the connection after it.
    AuthRejected(AuthRejectReason),
    /// Start of a configuration.
    ConfigBegin(ConfigBegin),
    /// A chunk of extensions.
    ConfigExtensions(ConfigExtensions),
    /// A chunk of ring groups.
    ConfigRingGroups(ConfigRingGroups),
    /// End of a configuration.
    ConfigEnd(ConfigEnd),
    /// A binding batch was taken in.
    BindingsAck(BindingsAck),
    /// Call records stored up to a sequence number.
    CallRecordsAck(CallRecordsAck),
    /// Keepalive request.
    Ping(Ping),
    /// Keepalive answer.
    Pong(Pong),
    /// Closing on purpose.
    Goodbye(Goodbye),
}
