//! The records the store keeps and the API shows: tenants, sites, the directory (extensions,
//! ring groups, DIDs), boxes, call records and statements.
//!
//! Times are UTC Unix seconds; money is integer micro-units of the currency. Secrets never
//! appear here except in the `Issued*`/`Created*` types that hand a fresh one out once.

use serde::{Deserialize, Serialize};

use crate::rating::DestinationClass;

/// An organising body (a school board): the tenant that owns schools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Store id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
}

/// An API token of an organising body, as listed (without the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyToken {
    /// Store id (used to revoke it).
    pub id: i64,
    /// The body it acts for.
    pub body_id: i64,
    /// What the operator called it.
    pub label: String,
    /// Creation time.
    pub created_at: i64,
}

/// A body token just issued: the only time the secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedBodyToken {
    /// The token's record.
    #[serde(flatten)]
    pub meta: BodyToken,
    /// The bearer token; only its SHA-256 is stored.
    pub token: String,
}

/// What kind of site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// A school.
    School,
    /// The central office of the network.
    CentralOffice,
}

impl SiteKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::School => "school",
            SiteKind::CentralOffice => "central_office",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<SiteKind> {
        match s {
            "school" => Some(SiteKind::School),
            "central_office" => Some(SiteKind::CentralOffice),
            _ => None,
        }
    }
}

/// A site: a school or the central office, owned by an organising body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Store id.
    pub id: i64,
    /// Owning organising body.
    pub body_id: i64,
    /// Name.
    pub name: String,
    /// 4-digit site code, unique in the network (dialled after the on-net prefix).
    pub code: String,
    /// School or central office.
    pub kind: SiteKind,
    /// Creation time.
    pub created_at: i64,
}

/// A new site.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    /// Owning body; a body token may leave it out (its own body).
    #[serde(default)]
    pub body_id: Option<i64>,
    /// Name.
    pub name: String,
    /// 4-digit site code.
    pub code: String,
    /// School (default) or central office.
    #[serde(default = "default_kind")]
    pub kind: SiteKind,
}

fn default_kind() -> SiteKind {
    SiteKind::School
}

/// Changes to a site; absent fields are kept.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    /// New name.
    pub name: Option<String>,
    /// New site code.
    pub code: Option<String>,
    /// New kind.
    pub kind: Option<SiteKind>,
}

/// A phone's extension with its SIP account. The credential is not part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Store id.
    pub id: i64,
    /// Site.
    pub site_id: i64,
    /// Number dialled inside the site.
    pub number: String,
    /// SIP digest username, unique in the deployment's realm.
    pub sip_username: String,
    /// Display name.
    pub display_name: String,
    /// Creation time.
    pub created_at: i64,
}

/// A new extension.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewExtension {
    /// Number inside the site.
    pub number: String,
    /// SIP username; defaults to `<site code>-<number>`.
    #[serde(default)]
    pub sip_username: Option<String>,
    /// Display name.
    pub display_name: String,
}

/// Changes to an extension; the SIP username is fixed (the stored HA1 depends on it).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPatch {
    /// New number.
    pub number: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
}

/// An extension with its SIP password: returned once, at creation or reset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedExtension {
    /// The extension.
    #[serde(flatten)]
    pub extension: Extension,
    /// The SIP password in clear; only its HA1 values are stored.
    pub sip_password: String,
}

/// What a registrar needs to check a digest response for a username.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipCredential {
    /// The extension.
    pub extension: Extension,
    /// The realm the HA1 values were computed for.
    pub realm: String,
    /// MD5(username:realm:password), hex.
    pub ha1_md5: String,
    /// SHA-256(username:realm:password), hex.
    pub ha1_sha256: String,
}

/// A ring group: a number that rings several extensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingGroup {
    /// Store id.
    pub id: i64,
    /// Site.
    pub site_id: i64,
    /// Number inside the site.
    pub number: String,
    /// Name.
    pub name: String,
    /// Seconds to ring before giving up.
    pub timeout_secs: i64,
    /// Member extension ids, in ring order.
    pub members: Vec<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// A new ring group.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewRingGroup {
    /// Number inside the site.
    pub number: String,
    /// Name.
    pub name: String,
    /// Seconds to ring (1..=600), default 30.
    #[serde(default = "default_timeout")]
    pub timeout_secs: i64,
    /// Member extension ids of the same site, in ring order.
    #[serde(default)]
    pub members: Vec<i64>,
}

fn default_timeout() -> i64 {
    30
}

/// Changes to a ring group; absent fields are kept.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RingGroupPatch {
    /// New number.
    pub number: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New timeout.
    pub timeout_secs: Option<i64>,
    /// New member list (replaces the old one).
    pub members: Option<Vec<i64>>,
}

/// Where a DID rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum DidTarget {
    /// One extension.
    Extension(i64),
    /// A ring group.
    RingGroup(i64),
}

/// A public number (E.164, `+` and digits) routed into a site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Did {
    /// Store id.
    pub id: i64,
    /// The public number, `+` and 6 to 15 digits.
    pub number: String,
    /// Site.
    pub site_id: i64,
    /// Extension or ring group of that site.
    pub target: DidTarget,
    /// Creation time.
    pub created_at: i64,
}

/// A new DID.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewDid {
    /// The public number.
    pub number: String,
    /// Site.
    pub site_id: i64,
    /// Extension or ring group of that site.
    pub target: DidTarget,
}

/// A school's box and its last known status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxInfo {
    /// Box id (also the box's identity on the control link).
    pub id: i64,
    /// Site.
    pub site_id: i64,
    /// Name.
    pub name: String,
    /// Whether the box has a long-term credential.
    pub enrolled: bool,
    /// When it last enrolled.
    pub enrolled_at: Option<i64>,
    /// Expiry of the pending enrollment token, if one is pending.
    pub enrollment_expires_at: Option<i64>,
    /// Whether its control link is up.
    pub online: bool,
    /// Last time the box was heard from.
    pub last_seen_at: Option<i64>,
    /// Total seconds the box has spent in survival mode.
    pub survival_secs: i64,
    /// Firmware version last reported.
    pub firmware_version: Option<String>,
    /// Every call record with a box sequence up to this one is stored.
    pub acked_seq: i64,
    /// The mode the box last reported (`online`, `survival`, `recovering`).
    pub mode: Option<String>,
    /// The configuration version the box last applied.
    pub config_applied_version: Option<i64>,
    /// Why the last configuration pushed was not applied (`version N: reason`), until one is.
    pub config_rejection: Option<String>,
    /// Creation time.
    pub created_at: i64,
}

/// A new box.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewBox {
    /// Name.
    pub name: String,
    /// Lifetime of the enrollment token in seconds (default: the deployment's setting).
    #[serde(default)]
    pub enrollment_ttl_secs: Option<i64>,
}

/// A box with a fresh one-time enrollment token: the only time the token is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedEnrollment {
    /// The box.
    #[serde(rename = "box")]
    pub box_info: BoxInfo,
    /// The one-time token; only its SHA-256 is stored.
    pub enrollment_token: String,
    /// When the token stops working.
    pub expires_at: i64,
}

/// What a box reports about itself on the control link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxStatusReport {
    /// Whether the control link is up.
    pub online: bool,
    /// Firmware version, if the box said.
    pub firmware_version: Option<String>,
    /// Seconds spent in survival since the last report, added to the total.
    pub survival_secs_add: i64,
}

/// What a box reports on its control link about its state; its counters run since its boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxLinkReport {
    /// `online`, `survival` or `recovering`.
    pub mode: String,
    /// Seconds since the box booted.
    pub uptime_secs: i64,
    /// Seconds spent in survival since the box booted.
    pub survival_secs: i64,
    /// Firmware version.
    pub firmware_version: String,
}

/// A school's fallback trunk as it is set (`PUT /v1/sites/{id}/fallback-trunk`): a local SIP
/// trunk (e.g. an analogue gateway on the school's LAN) that its box sends emergency calls to
/// while in survival.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackTrunkSpec {
    /// IP address of the trunk (the box resolves no names in survival).
    pub host: String,
    /// Its SIP port (UDP).
    #[serde(default = "default_sip_port")]
    pub port: u16,
    /// Digest username, if the trunk challenges (then `password` too).
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password; stored for the box, never shown again.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_sip_port() -> u16 {
    5060
}

impl std::fmt::Debug for FallbackTrunkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackTrunkSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A school's fallback trunk as the API shows it: never the password.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct FallbackTrunk {
    /// The site.
    pub site_id: i64,
    /// IP address of the trunk.
    pub host: String,
    /// Its SIP port.
    pub port: u16,
    /// Digest username, if any.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Last change, UTC Unix seconds.
    pub updated_at: i64,
}

/// A site's configuration as a box gets it: the directory at one `config_version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteConfig {
    /// The site's configuration version (bumped by every directory change).
    pub version: i64,
    /// Site code.
    pub site_code: String,
    /// Extensions by number, with their digest HA1 values.
    pub extensions: Vec<SiteConfigExtension>,
    /// Ring groups by number.
    pub ring_groups: Vec<SiteConfigRingGroup>,
    /// The school's fallback trunk, password included, if it has one.
    pub fallback_trunk: Option<FallbackTrunkSpec>,
}

/// An extension in a [`SiteConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteConfigExtension {
    /// Extension number.
    pub number: String,
    /// SIP digest username.
    pub sip_username: String,
    /// Display name.
    pub display_name: String,
    /// MD5 HA1, hex.
    pub ha1_md5: String,
    /// SHA-256 HA1, hex.
    pub ha1_sha256: String,
}

/// A ring group in a [`SiteConfig`], members as extension numbers in ringing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteConfigRingGroup {
    /// Group number.
    pub number: String,
    /// Member extension numbers.
    pub members: Vec<String>,
    /// Ring timeout.
    pub timeout_secs: i64,
}

/// Which way a call went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Placed by a phone of the site.
    #[default]
    Outbound,
    /// From the public network to a DID.
    Inbound,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered (billed).
    Answered,
    /// Rang out.
    NoAnswer,
    /// Callee busy.
    Busy,
    /// Caller hung up before an answer.
    Cancelled,
    /// Failed: unknown number, unreachable, network error.
    Failed,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Answered, Outcome::NoAnswer, Outcome::Busy, Outcome::Cancelled, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A call as seen by whoever handled it (the cloud, or a box in survival), before rating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Calling party (extension, or public number for inbound calls).
    pub caller: String,
    /// Called party as dialled (or the DID for inbound calls).
    pub callee: String,
    /// Which way.
    #[serde(default)]
    pub direction: Direction,
    /// When the call was placed.
    pub started_at: i64,
    /// When it was answered, if it was.
    pub answered_at: Option<i64>,
    /// When it ended.
    pub ended_at: i64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A call record uploaded by a box: its journal sequence number (1, 2, 3, ... per box) and the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxCallRecord {
    /// Journal sequence number, from 1, contiguous per box.
    pub seq: i64,
    /// The call.
    #[serde(flatten)]
    pub call: CallEvent,
}

/// A stored, rated call record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Store id.
    pub id: i64,
    /// Site billed for the call.
    pub site_id: i64,
    /// Box that uploaded it, if it came from a box.
    pub box_id: Option<i64>,
    /// Its sequence number in that box's journal.
    pub box_seq: Option<i64>,
    /// Calling party.
    pub caller: String,
    /// Called party.
    pub callee: String,
    /// Destination class the call was rated in.
    pub class: DestinationClass,
    /// When placed.
    pub started_at: i64,
    /// When answered.
    pub answered_at: Option<i64>,
    /// When ended.
    pub ended_at: i64,
    /// Connected seconds (end - answer), 0 if unanswered.
    pub duration_secs: i64,
    /// Billed seconds after the tariff's minimum and increment.
    pub billed_secs: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// Cost in micro-units, fixed at ingestion.
    pub cost_micros: i64,
}

/// Which call records to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this site.
    pub site_id: Option<i64>,
    /// Only sites of this body.
    pub body_id: Option<i64>,
    /// Started at or after.
    pub from: Option<i64>,
    /// Started before.
    pub to: Option<i64>,
    /// Only this class.
    pub class: Option<DestinationClass>,
}

/// Where the previous page ended: records are ordered by (started_at, id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCursor {
    /// started_at of the last record returned.
    pub started_at: i64,
    /// id of the last record returned.
    pub id: i64,
}

impl RecordCursor {
    /// The opaque form handed to API clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.started_at, self.id)
    }

    /// Reads the opaque form back.
    pub fn decode(s: &str) -> Option<RecordCursor> {
        let (a, b) = s.split_once('_')?;
        Some(RecordCursor { started_at: a.parse().ok()?, id: b.parse().ok()? })
    }
}

/// A page of call records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPage {
    /// The records, by start time.
    pub records: Vec<CallRecord>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One destination class on a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// The class.
    pub class: DestinationClass,
    /// Number of calls.
    pub calls: i64,
    /// Billed seconds.
    pub billed_secs: i64,
    /// Cost in micro-units.
    pub cost_micros: i64,
}

/// A site's share of a body's statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSubtotal {
    /// Site.
    pub site_id: i64,
    /// Site code.
    pub code: String,
    /// Site name.
    pub name: String,
    /// Cost in micro-units.
    pub total_micros: i64,
}

/// A monthly statement (UTC calendar month) for a site or an organising body: usage only, no
/// fixed fee, so a month without calls totals 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// `YYYY-MM`.
    pub month: String,
    /// The site, for a site statement.
    pub site_id: Option<i64>,
    /// The body: the site's owner, or the body of a body statement.
    pub body_id: i64,
    /// One line per destination class, every class present.
    pub lines: Vec<StatementLine>,
    /// Per-site subtotals (body statements only; every site of the body present).
    pub sites: Vec<SiteSubtotal>,
    /// Sum of the lines, in micro-units.
    pub total_micros: i64,
}
