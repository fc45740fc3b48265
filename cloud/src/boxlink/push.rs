//! A site's configuration as control messages: `ConfigBegin`, `ConfigExtensions` chunks,
//! `ConfigRingGroups` chunks, `ConfigEnd` (the order [`ConfigTransfer`] checks on the box).
//!
//! [`ConfigTransfer`]: carillon_protocol::control::ConfigTransfer

use carillon_protocol::control::{
    bounded, CloudMessage, ConfigBegin, ConfigEnd, ConfigExtensions, ConfigRingGroups, DialPlan, Extension,
    FallbackTrunk, HexDigest, Password, RingGroup, TrunkCredentials, EXTENSIONS_PER_CHUNK, MAX_DISPLAY_NAME_LEN,
    MAX_EMERGENCY_NUMBERS, MAX_SITE_EXTENSIONS, MAX_SITE_RING_GROUPS, RING_GROUPS_PER_CHUNK,
};

use crate::model::SiteConfig;
use crate::rating::NumberingPlan;

/// Emergency numbers every box knows without being told (see [`ConfigBegin`]).
const BUILT_IN_EMERGENCY: [&str; 3] = ["112", "101", "100"];

/// Extension length announced when a site has no numbers yet.
const DEFAULT_EXTENSION_LEN: u8 = 3;

/// Why a site's configuration cannot be sent to its box. Our side (or the operator's data):
/// the box keeps the configuration it has; the reason is shown in the box's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration cannot be sent: {0}")]
pub struct BuildError(pub String);

fn too_long(what: &str) -> impl Fn(carillon_protocol::control::TooLong) -> BuildError + '_ {
    move |e| BuildError(format!("{what}: {e}"))
}

/// The longest prefix of `s` that fits `max` bytes on a character boundary (display names
/// only: they are shown, never matched).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Builds the messages that carry `cfg` to a box, in sending order.
pub fn config_messages(cfg: &SiteConfig, plan: &NumberingPlan, realm: &str) -> Result<Vec<CloudMessage>, BuildError> {
    let version =
        u32::try_from(cfg.version).map_err(|_| BuildError(format!("version {} out of range", cfg.version)))?;
    if cfg.extensions.len() > usize::from(MAX_SITE_EXTENSIONS) {
        return Err(BuildError(format!("more than {MAX_SITE_EXTENSIONS} extensions")));
    }
    if cfg.ring_groups.len() > usize::from(MAX_SITE_RING_GROUPS) {
        return Err(BuildError(format!("more than {MAX_SITE_RING_GROUPS} ring groups")));
    }
    let extension_len = cfg
        .extensions
        .iter()
        .map(|e| e.number.len())
        .chain(cfg.ring_groups.iter().map(|g| g.number.len()))
        .max()
        .map_or(DEFAULT_EXTENSION_LEN, |n| u8::try_from(n).unwrap_or(u8::MAX));
    let mut emergency_numbers = heapless::Vec::new();
    for n in plan.emergency.iter().filter(|n| !BUILT_IN_EMERGENCY.contains(&n.as_str())) {
        let n = bounded(n).map_err(too_long("emergency number"))?;
        emergency_numbers
            .push(n)
            .map_err(|_| BuildError(format!("more than {MAX_EMERGENCY_NUMBERS} extra emergency numbers")))?;
    }
    let realm = bounded(realm).map_err(too_long("realm"))?;
    let fallback_trunk = match &cfg.fallback_trunk {
        Some(t) => Some(FallbackTrunk {
            host: bounded(&t.host).map_err(too_long("fallback trunk host"))?,
            port: t.port,
            credentials: match (&t.username, &t.password) {
                (Some(u), Some(p)) => Some(TrunkCredentials {
                    username: bounded(u).map_err(too_long("fallback trunk username"))?,
                    password: Password::new(p).map_err(too_long("fallback trunk password"))?,
                }),
                _ => None,
            },
        }),
        None => None,
    };
    let begin = ConfigBegin {
        version,
        site_code: bounded(&cfg.site_code).map_err(too_long("site code"))?,
        dial_plan: DialPlan {
            extension_len,
            on_net_prefix: bounded(&plan.on_net_prefix).map_err(too_long("on-net prefix"))?,
            outside_line_prefix: bounded(&plan.national_prefix).map_err(too_long("national prefix"))?,
        },
        emergency_numbers,
        fallback_trunk,
        // Both fit: checked against the u16 maxima above.
        extension_count: u16::try_from(cfg.extensions.len()).unwrap_or(u16::MAX),
        ring_group_count: u16::try_from(cfg.ring_groups.len()).unwrap_or(u16::MAX),
    };
    let mut out = vec![CloudMessage::ConfigBegin(begin)];
    for (chunk_no, chunk) in cfg.extensions.chunks(EXTENSIONS_PER_CHUNK).enumerate() {
        let mut extensions = heapless::Vec::new();
        for e in chunk {
            let ext = Extension {
                number: bounded(&e.number).map_err(too_long("extension number"))?,
                username: bounded(&e.sip_username).map_err(too_long("SIP username"))?,
                realm: realm.clone(),
                ha1_md5: HexDigest::from_hex(&e.ha1_md5).map_err(|err| BuildError(format!("stored MD5 HA1: {err}")))?,
                ha1_sha256: HexDigest::from_hex(&e.ha1_sha256)
                    .map_err(|err| BuildError(format!("stored SHA-256 HA1: {err}")))?,
                display_name: bounded(truncate(&e.display_name, MAX_DISPLAY_NAME_LEN))
                    .map_err(too_long("display name"))?,
            };
            // `chunk` has at most EXTENSIONS_PER_CHUNK items, the capacity.
            let _ = extensions.push(ext);
        }
        let first_index = u16::try_from(chunk_no * EXTENSIONS_PER_CHUNK).unwrap_or(u16::MAX);
        out.push(CloudMessage::ConfigExtensions(ConfigExtensions { version, first_index, extensions }));
    }
    for (chunk_no, chunk) in cfg.ring_groups.chunks(RING_GROUPS_PER_CHUNK).enumerate() {
        let mut ring_groups = heapless::Vec::new();
        for g in chunk {
            let mut members = heapless::Vec::new();
            for m in &g.members {
                members
                    .push(bounded(m).map_err(too_long("ring group member"))?)
                    .map_err(|_| BuildError(format!("ring group {} has too many members", g.number)))?;
            }
            let group = RingGroup {
                number: bounded(&g.number).map_err(too_long("ring group number"))?,
                members,
                ring_timeout_secs: u16::try_from(g.timeout_secs).unwrap_or(u16::MAX),
            };
            let _ = ring_groups.push(group);
        }
        let first_index = u16::try_from(chunk_no * RING_GROUPS_PER_CHUNK).unwrap_or(u16::MAX);
        out.push(CloudMessage::ConfigRingGroups(ConfigRingGroups { version, first_index, ring_groups }));
    }
    out.push(CloudMessage::ConfigEnd(ConfigEnd { version }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SiteConfigExtension, SiteConfigRingGroup};
    use carillon_protocol::control::ConfigTransfer;

    fn site(n_ext: usize, n_rg: usize) -> SiteConfig {
        SiteConfig {
            version: 7,
            site_code: "1234".into(),
            extensions: (0..n_ext)
                .map(|i| SiteConfigExtension {
                    number: format!("{}", 100 + i),
                    sip_username: format!("1234-{}", 100 + i),
                    display_name: "é".repeat(40),
                    ha1_md5: "A".repeat(32),
                    ha1_sha256: "b".repeat(64),
                })
                .collect(),
            ring_groups: (0..n_rg)
                .map(|i| SiteConfigRingGroup {
                    number: format!("{}", 900 + i),
                    members: vec!["100".into()],
                    timeout_secs: 20,
                })
                .collect(),
            fallback_trunk: None,
        }
    }

    #[test]
    fn the_fallback_trunk_is_carried_with_its_credentials() {
        let mut s = site(1, 0);
        let msgs = config_messages(&s, &NumberingPlan::default(), "carillon").expect("builds");
        let CloudMessage::ConfigBegin(b) = &msgs[0] else { panic!("begin first") };
        assert_eq!(b.fallback_trunk, None);
        s.fallback_trunk = Some(crate::model::FallbackTrunkSpec {
            host: "192.168.1.20".into(),
            port: 5062,
            username: Some("school".into()),
            password: Some("s3cret".into()),
        });
        let msgs = config_messages(&s, &NumberingPlan::default(), "carillon").expect("builds");
        let CloudMessage::ConfigBegin(b) = &msgs[0] else { panic!("begin first") };
        let t = b.fallback_trunk.as_ref().expect("carried");
        assert_eq!((t.host.as_str(), t.port), ("192.168.1.20", 5062));
        let c = t.credentials.as_ref().expect("credentials");
        assert_eq!((c.username.as_str(), c.password.0.as_str()), ("school", "s3cret"));
    }

    #[test]
    fn chunks_pass_the_boxes_transfer_check() {
        let msgs = config_messages(&site(13, 5), &NumberingPlan::default(), "carillon").expect("builds");
        // Begin, 3 extension chunks (6+6+1), 2 ring-group chunks (4+1), End.
        assert_eq!(msgs.len(), 7);
        let mut t = ConfigTransfer::new();
        let mut applied = None;
        for m in &msgs {
            match m {
                CloudMessage::ConfigBegin(b) => {
                    assert_eq!(b.dial_plan.extension_len, 3);
                    assert!(b.emergency_numbers.is_empty(), "the default plan has only built-ins");
                    t.begin(b, Some(6)).expect("newer");
                }
                CloudMessage::ConfigExtensions(e) => {
                    assert!(e.extensions.iter().all(|x| x.display_name.len() <= MAX_DISPLAY_NAME_LEN));
                    assert_eq!(e.extensions[0].ha1_md5.as_str(), "a".repeat(32));
                    t.extensions(e).expect("in order");
                }
                CloudMessage::ConfigRingGroups(g) => t.ring_groups(g).expect("in order"),
                CloudMessage::ConfigEnd(e) => applied = Some(t.end(e).expect("complete")),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(applied, Some(7));
    }

    #[test]
    fn what_cannot_be_carried_is_refused_not_cut() {
        let mut s = site(1, 0);
        s.extensions[0].sip_username = "u".repeat(40);
        assert!(config_messages(&s, &NumberingPlan::default(), "carillon").is_err());
        assert!(config_messages(&site(257, 0), &NumberingPlan::default(), "carillon").is_err());
        let mut s = site(1, 1);
        s.ring_groups[0].members = vec!["100".into(); 17];
        assert!(config_messages(&s, &NumberingPlan::default(), "carillon").is_err());
        let plan = NumberingPlan { emergency: vec!["112".into(), "116000".into()], ..NumberingPlan::default() };
        let msgs = config_messages(&site(0, 0), &plan, "carillon").expect("builds");
        let CloudMessage::ConfigBegin(b) = &msgs[0] else { panic!("begin first") };
        assert_eq!(b.emergency_numbers.iter().map(|n| n.as_str()).collect::<Vec<_>>(), vec!["116000"]);
        assert_eq!(msgs.len(), 2, "begin and end only");
    }
}
