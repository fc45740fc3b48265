//! The control link between a box and the cloud: messages and their framing.
//!
//! The box opens one TLS connection to the cloud and keeps it; the control link runs on it as a
//! stream of frames (see [`encode_frame`] and [`FrameDecoder`]). Messages are postcard-encoded,
//! typed by direction: [`BoxMessage`] from box to cloud, [`CloudMessage`] from cloud to box.
//! Every string and list has a fixed capacity (the constants of this module), so a message
//! has a bounded size in memory and on the wire ([`MAX_MESSAGE_LEN`]) and a box needs no heap.
//!
//! # A session
//!
//! ```text
//! box                                         cloud
//!  Hello{version}                       ──▶
//!                                       ◀──   Hello{version}        (both: Hello::negotiate)
//!  Enroll{token, firmware}              ──▶                          (first time only)
//!                                       ◀──   Enrolled{box_id, credential} | EnrollRejected
//!  Authenticate{box_id, credential, ..} ──▶                          (every later connection)
//!                                       ◀──   Authenticated{records_stored_up_to} | AuthRejected
//!  Status{mode, ..}                     ──▶
//!                                       ◀──   ConfigBegin, ConfigExtensions*, ConfigRingGroups*, ConfigEnd
//!  ConfigApplied{version} | ConfigRejected ─▶
//!  Bindings{batch_id, ..}               ──▶   (after an outage)
//!                                       ◀──   BindingsAck{batch_id}
//!  CallRecords{first_seq..=last_seq}    ──▶
//!                                       ◀──   CallRecordsAck{up_to_seq}
//!  Ping / Pong                          ◀─▶   (either side, any time after Hello)
//! ```
//!
//! # Exactly-once call records
//!
//! Each box numbers its call records 1, 2, 3… ([`CallRecord::seq`]). The cloud stores a record
//! under (box id, seq), ignoring one it already has, and acknowledges the highest sequence
//! number up to which it holds every record ([`CallRecordsAck`]). The box forgets records only
//! up to an ack and sends the rest again after a reconnect: a batch sent twice, or cut by a
//! broken link, leaves exactly one copy of each record in the cloud.
//!
//! # Compatibility
//!
//! Postcard encodes by position, not by name. Variants and fields are append-only, and any
//! change of a message's shape bumps [`PROTOCOL_VERSION`]; [`Hello::negotiate`] picks the
//! version both sides speak.

// Remote input must never panic: no indexing that can fail, no unwrap.
#![warn(clippy::indexing_slicing, clippy::panic, clippy::expect_used)]

mod config;
mod frame;
mod message;
mod text;

pub use config::ConfigTransfer;
pub use frame::{
    encode_frame, max_frame_len, EncodeError, FrameDecoder, FrameError, CRC_LEN, DECODE_BUFFER_LEN, MAX_FRAME_LEN,
    MAX_MESSAGE_LEN,
};
pub use message::*;
pub use text::*;
