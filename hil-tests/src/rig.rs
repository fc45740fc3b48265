//! One rig: the namespaces, the cloud, two schools with their boxes, the carrier and the
//! central office, seeded through the admin API as an operator would.
//!
//! ```text
//!  lan-a (phones 198.18.10.x) --[box-a: lan 198.18.10.1 | wan 198.19.1.1]--+
//!                                                                          [wan router]-- cloud (198.18.0.1 carillon-cloud,
//!  lan-b (phones 198.18.20.x) --[box-b: lan 198.18.20.1 | wan 198.19.2.1]--+               198.18.0.2 carrier, 198.18.0.3-4 office phones)
//! ```
//!
//! The WAN of a school is cut by setting the router's side of its link down (the box sees its
//! carrier go, nothing answers any more, as when the school's line fails) and restored by
//! setting it up. Every address lives only inside the rig's namespaces (198.18.0.0/15, the
//! range set aside for network tests); nothing is routed to or from the host.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::Api;
use crate::binaries::Binaries;
use crate::netns::{self, Namespaces};
use crate::process::{wait_for, Proc};
use crate::sipp::Endpoint;

/// The cloud's address (SIP UDP/TCP 5060, TLS 5061, box link 5070, admin API 8080).
pub const CLOUD_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The carrier's address (its SIP trunk, UDP 5060).
pub const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The box's uplink supervision target: survival within this long of the WAN failing.
pub const DETECT_WITHIN: Duration = Duration::from_millis(3000);
/// The DID of school A's secretariat ring group.
pub const SECRETARIAT_DID: &str = "+3225550100";
/// Tariff of calls on the network (per second, minimum, increment): an answered call costs
/// 60 s x 10 micro-units whatever its length, so a rated record is recognisable.
pub const ON_NET_TARIFF: (i64, i64, i64) = (10, 60, 60);
/// Tariff of national fixed calls.
pub const NATIONAL_TARIFF: (i64, i64, i64) = (250, 60, 60);
const CERT_NAME: &str = "cloud.rig.carillon";
const OPERATOR_TOKEN: &str = "op_rig_0123456789abcdef0123456789";

/// A school: its site, its box, its LAN and phones.
#[derive(Debug)]
pub struct School {
    /// "a" or "b".
    pub tag: &'static str,
    /// Site code.
    pub code: &'static str,
    /// Site id in the cloud.
    pub site_id: i64,
    /// Box id in the cloud.
    pub box_id: i64,
    /// The box's namespace.
    pub box_ns: String,
    /// The phones' namespace.
    pub lan_ns: String,
    /// The WAN router's interface towards this school (set down to cut the WAN).
    pub wan_if: String,
    /// The box's SIP address on the LAN.
    pub box_sip: SocketAddr,
    /// The phones (extension, credentials, address).
    pub phones: Vec<Endpoint>,
    /// Extension ids by number.
    pub extension_ids: Vec<(String, i64)>,
    /// The box's configuration file.
    pub box_toml: PathBuf,
    /// The running box (None while stopped).
    pub box_proc: Option<Proc>,
    /// How many times the box was started (log file per start).
    pub starts: u32,
}

impl School {
    /// The phone with extension `number`.
    pub fn phone(&self, number: &str) -> &Endpoint {
        match self.phones.iter().find(|p| p.number == number) {
            Some(p) => p,
            None => panic!("school {} has no phone {number}", self.tag),
        }
    }

    /// The running box.
    pub fn box_proc(&self) -> &Proc {
        match &self.box_proc {
            Some(p) => p,
            None => panic!("box {} is not running", self.tag),
        }
    }
}

/// The whole rig. Field order is drop order: processes first, namespaces last.
#[derive(Debug)]
pub struct Rig {
    /// The schools, A then B.
    pub schools: Vec<School>,
    /// `carillon-cloud`.
    pub cloud: Proc,
    /// Its admin API.
    pub api: Api,
    /// Central office phones (registered directly at the cloud).
    pub office: Vec<Endpoint>,
    /// The carrier.
    pub carrier: Endpoint,
    /// The cloud's namespace.
    pub cloud_ns: String,
    /// The WAN router's namespace.
    pub wan_ns: String,
    /// Files of this run (configs, logs, SIPp traces).
    pub dir: PathBuf,
    bins: Binaries,
    /// Deleted last (a guard).
    _ns: Namespaces,
}

/// The cloud's SIP address (UDP) for phones and the carrier.
pub fn cloud_sip() -> SocketAddr {
    SocketAddr::from((CLOUD_IP, 5060))
}

struct SchoolPlan {
    tag: &'static str,
    code: &'static str,
    name: &'static str,
    lan: [u8; 3],
    wan: [u8; 3],
    numbers: &'static [&'static str],
}

const SCHOOLS: [SchoolPlan; 2] = [
    SchoolPlan {
        tag: "a",
        code: "1234",
        name: "Primary School A",
        lan: [198, 18, 10],
        wan: [198, 19, 1],
        numbers: &["201", "202", "203", "204", "205"],
    },
    SchoolPlan {
        tag: "b",
        code: "5678",
        name: "Secondary School B",
        lan: [198, 18, 20],
        wan: [198, 19, 2],
        numbers: &["401", "402"],
    },
];

impl Rig {
    /// Builds the namespaces, starts the cloud, seeds the directory through the admin API,
    /// enrolls and starts both boxes, and waits until both are online with their
    /// configuration applied.
    pub fn start(bins: &Binaries, base_dir: &Path) -> Result<Rig, String> {
        let mut ns = Namespaces::new();
        let dir = base_dir.join(format!("rig-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cloud_ns = ns.add("cloud")?;
        let wan_ns = ns.add("wan")?;
        ns.link(&wan_ns, "cloud", "198.18.0.254/24", &cloud_ns, "wan", "198.18.0.1/24")?;
        for extra in ["198.18.0.2/24", "198.18.0.3/24", "198.18.0.4/24"] {
            netns::ip(&["-n", &cloud_ns, "addr", "add", extra, "dev", "wan"])?;
        }
        netns::ip(&["-n", &cloud_ns, "route", "add", "default", "via", "198.18.0.254"])?;
        netns::sh_in(&wan_ns, "echo 1 > /proc/sys/net/ipv4/ip_forward")?;
        let mut plans = Vec::new();
        for p in &SCHOOLS {
            let box_ns = ns.add(&format!("box{}", p.tag))?;
            let lan_ns = ns.add(&format!("lan{}", p.tag))?;
            let wan_if = format!("box{}", p.tag);
            let [w0, w1, w2] = p.wan;
            let [l0, l1, l2] = p.lan;
            ns.link(
                &wan_ns,
                &wan_if,
                &format!("{w0}.{w1}.{w2}.254/24"),
                &box_ns,
                "wan",
                &format!("{w0}.{w1}.{w2}.1/24"),
            )?;
            netns::ip(&["-n", &box_ns, "route", "add", "default", "via", &format!("{w0}.{w1}.{w2}.254")])?;
            // The phones' addresses: .11 for the first extension, and so on; .66 is a stranger.
            ns.link(&box_ns, "lan", &format!("{l0}.{l1}.{l2}.1/24"), &lan_ns, "box", "")?;
            for i in 0..p.numbers.len() {
                netns::ip(&["-n", &lan_ns, "addr", "add", &format!("{l0}.{l1}.{l2}.{}/24", 11 + i), "dev", "box"])?;
            }
            netns::ip(&["-n", &lan_ns, "addr", "add", &format!("{l0}.{l1}.{l2}.66/24"), "dev", "box"])?;
            netns::ip(&["-n", &lan_ns, "route", "add", "default", "via", &format!("{l0}.{l1}.{l2}.1")])?;
            plans.push((box_ns, lan_ns, wan_if));
        }

        // The cloud: certificate, configuration, process.
        let generated = rcgen::generate_simple_self_signed(vec![CERT_NAME.to_owned(), CLOUD_IP.to_string()])
            .map_err(|e| format!("certificate: {e}"))?;
        let (cert, key) = (dir.join("cloud.pem"), dir.join("cloud.key"));
        write(&cert, &generated.cert.pem())?;
        write(&key, &generated.key_pair.serialize_pem())?;
        let cloud_toml = format!(
            "listen = \"{CLOUD_IP}:8080\"\n\
             database = \"{db}\"\n\
             operator_token = \"{OPERATOR_TOKEN}\"\n\
             realm = \"carillon\"\n\n\
             [sip]\n\
             udp = \"{CLOUD_IP}:5060\"\n\
             host = \"{CLOUD_IP}\"\n\
             tls = {{ listen = \"{CLOUD_IP}:5061\", cert = \"{cert}\", key = \"{key}\" }}\n\
             ring_timeout_secs = 20\n\n\
             [sip.trunk]\n\
             address = \"{CARRIER_IP}:5060\"\n\
             domain = \"carrier.rig\"\n\n\
             [box_link]\n\
             listen = \"{CLOUD_IP}:5070\"\n\
             tls = {{ cert = \"{cert}\", key = \"{key}\" }}\n\
             config_poll_ms = 250\n",
            db = dir.join("cloud.db").display(),
            cert = cert.display(),
            key = key.display(),
        );
        let cloud_cfg = dir.join("cloud.toml");
        write(&cloud_cfg, &cloud_toml)?;
        let mut cmd = netns::command(&cloud_ns, &bins.carillon_cloud.to_string_lossy());
        cmd.arg("--config").arg(&cloud_cfg).env("RUST_LOG", "info");
        let cloud = Proc::spawn("carillon-cloud", cmd, &dir.join("cloud.log"))?;
        let api = Api { ns: cloud_ns.clone(), addr: SocketAddr::from((CLOUD_IP, 8080)), token: OPERATOR_TOKEN.into() };
        wait_for("the cloud's admin API", Duration::from_secs(20), || api.get("/healthz").ok())
            .map_err(|e| format!("{e}\n{}", cloud.log_text()))?;

        // The directory, as an operator enters it.
        let body = api.post("/v1/bodies", &json!({ "name": "Rig School Board" }))?;
        let body_id = id(&body)?;
        for (class, (price, min, inc)) in [("on_net", ON_NET_TARIFF), ("national_fixed", NATIONAL_TARIFF)] {
            api.put(
                &format!("/v1/tariffs/{class}"),
                &json!({ "price_micros_per_sec": price, "min_secs": min, "increment_secs": inc }),
            )?;
        }
        let office_site = api.post(
            "/v1/sites",
            &json!({ "body_id": body_id, "name": "Central Office", "code": "9000", "kind": "central_office" }),
        )?;
        let mut office = Vec::new();
        for (n, ip) in [("901", Ipv4Addr::new(198, 18, 0, 3)), ("902", Ipv4Addr::new(198, 18, 0, 4))] {
            let (_, username, password) = extension(&api, id(&office_site)?, n, Some(n))?;
            office.push(Endpoint { number: n.into(), username, password, ns: cloud_ns.clone(), ip });
        }
        let mut schools = Vec::new();
        for (p, (box_ns, lan_ns, wan_if)) in SCHOOLS.iter().zip(plans) {
            let site = api
                .post("/v1/sites", &json!({ "body_id": body_id, "name": p.name, "code": p.code, "kind": "school" }))?;
            let site_id = id(&site)?;
            let [l0, l1, l2] = p.lan;
            let mut phones = Vec::new();
            let mut extension_ids = Vec::new();
            for (i, n) in p.numbers.iter().enumerate() {
                // The schools' phones have the cloud's default usernames (`<site code>-<number>`).
                let (ext_id, username, password) = extension(&api, site_id, n, None)?;
                let ip = Ipv4Addr::new(l0, l1, l2, u8::try_from(11 + i).unwrap_or(11));
                phones.push(Endpoint { number: (*n).into(), username, password, ns: lan_ns.clone(), ip });
                extension_ids.push(((*n).to_owned(), ext_id));
            }
            if p.tag == "a" {
                // The secretariat: 201 and 202 ring together; the school's DID reaches it.
                let members: Vec<i64> = extension_ids.iter().take(2).map(|(_, i)| *i).collect();
                let group = api.post(
                    &format!("/v1/sites/{site_id}/ring-groups"),
                    &json!({ "number": "300", "name": "Secretariat", "timeout_secs": 20, "members": members }),
                )?;
                api.post(
                    "/v1/dids",
                    &json!({ "number": SECRETARIAT_DID, "site_id": site_id,
                             "target": { "kind": "ring_group", "id": id(&group)? } }),
                )?;
            }
            let issued =
                api.post(&format!("/v1/sites/{site_id}/boxes"), &json!({ "name": format!("Box {}", p.tag) }))?;
            let box_id = issued.pointer("/box/id").and_then(Value::as_i64).ok_or("no box id")?;
            let token = issued.get("enrollment_token").and_then(Value::as_str).ok_or("no enrollment token")?;
            // The box's SIP host is a name nobody on the LAN can resolve (as at a school): the
            // cloud routes back over the box's flow, and the phones get the box's LAN address
            // in the Record-Route they send their ACK and BYE to.
            let box_lan = Ipv4Addr::new(l0, l1, l2, 1);
            let box_host = format!("box-{}.school.example", p.tag);
            let state = dir.join(format!("box-{}", p.tag));
            let box_toml = dir.join(format!("box-{}.toml", p.tag));
            write(
                &box_toml,
                &format!(
                    "state_dir = \"{state}\"\n\
                     log_level = \"info\"\n\n\
                     [identity]\n\
                     host = \"{box_host}\"\n\
                     enrollment_token = \"{token}\"\n\n\
                     [lan]\n\
                     listen = \"{box_lan}:5060\"\n\n\
                     [cloud]\n\
                     sip = \"{CLOUD_IP}:5061\"\n\
                     control = \"{CLOUD_IP}:5070\"\n\
                     server_name = \"{CERT_NAME}\"\n\
                     detect_within_ms = {detect}\n\n\
                     [tls]\n\
                     pinned_cert = \"{cert}\"\n",
                    state = state.display(),
                    detect = DETECT_WITHIN.as_millis(),
                    cert = cert.display(),
                ),
            )?;
            schools.push(School {
                tag: p.tag,
                code: p.code,
                site_id,
                box_id,
                box_ns,
                lan_ns,
                wan_if,
                box_sip: SocketAddr::from((box_lan, 5060)),
                phones,
                extension_ids,
                box_toml,
                box_proc: None,
                starts: 0,
            });
        }
        let carrier = Endpoint {
            number: "carrier".into(),
            username: "carrier".into(),
            password: String::new(),
            ns: cloud_ns.clone(),
            ip: CARRIER_IP,
        };
        let mut rig = Rig { schools, cloud, api, office, carrier, cloud_ns, wan_ns, dir, bins: bins.clone(), _ns: ns };
        for i in 0..rig.schools.len() {
            rig.start_box(i)?;
        }
        for i in 0..rig.schools.len() {
            rig.wait_online(i, Duration::from_secs(30))?;
        }
        Ok(rig)
    }

    /// School A.
    pub fn a(&self) -> &School {
        &self.schools[0]
    }

    /// School B.
    pub fn b(&self) -> &School {
        &self.schools[1]
    }

    /// Starts school `i`'s box (again, on the same state directory).
    pub fn start_box(&mut self, i: usize) -> Result<(), String> {
        let bin = self.bins.carillon_box.to_string_lossy().into_owned();
        let s = &mut self.schools[i];
        let mut cmd = netns::command(&s.box_ns, &bin);
        cmd.arg("--config").arg(&s.box_toml).env_remove("RUST_LOG");
        let log = self.dir.join(format!("box-{}-{}.log", s.tag, s.starts));
        s.starts += 1;
        s.box_proc = Some(Proc::spawn(&format!("carillon-box {}", s.tag), cmd, &log)?);
        Ok(())
    }

    /// The box as the cloud shows it (`GET /v1/boxes/{id}`).
    pub fn box_info(&self, i: usize) -> Result<Value, String> {
        self.api.get(&format!("/v1/boxes/{}", self.schools[i].box_id))
    }

    /// Waits until the cloud shows school `i`'s box connected, in mode `online`, with a
    /// configuration applied; the time it took.
    pub fn wait_online(&self, i: usize, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let mut last = Value::Null;
        let r = wait_for(&format!("box {} online", self.schools[i].tag), limit, || {
            let info = self.box_info(i).ok()?;
            let ok = info.get("online") == Some(&Value::Bool(true))
                && info.get("mode").and_then(Value::as_str) == Some("online")
                && info.get("config_applied_version").is_some_and(|v| !v.is_null());
            last = info;
            ok.then_some(())
        });
        match r {
            Ok(()) => Ok(start.elapsed()),
            Err(e) => {
                Err(format!("{e}; last status {last}; box log:\n{}", tail(&self.schools[i].box_proc().log_text())))
            }
        }
    }

    /// Cuts school `i`'s WAN: the router's side of its link goes down.
    pub fn cut_wan(&self, i: usize) -> Result<Instant, String> {
        netns::ip(&["-n", &self.wan_ns, "link", "set", &self.schools[i].wan_if, "down"])?;
        Ok(Instant::now())
    }

    /// Restores school `i`'s WAN.
    pub fn restore_wan(&self, i: usize) -> Result<Instant, String> {
        netns::ip(&["-n", &self.wan_ns, "link", "set", &self.schools[i].wan_if, "up"])?;
        Ok(Instant::now())
    }

    /// Call records of a site, oldest first (every page).
    pub fn records(&self, site_id: i64) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let path = match &cursor {
                Some(c) => format!("/v1/call-records?site_id={site_id}&limit=500&cursor={c}"),
                None => format!("/v1/call-records?site_id={site_id}&limit=500"),
            };
            let page = self.api.get(&path)?;
            if let Some(r) = page.get("records").and_then(Value::as_array) {
                out.extend(r.iter().cloned());
            }
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// A file path in this run's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn id(v: &Value) -> Result<i64, String> {
    v.get("id").and_then(Value::as_i64).ok_or_else(|| format!("no id in {v}"))
}

/// Creates extension `number` of a site with SIP username `username`, or the cloud's default
/// (`<site code>-<number>`) when `None`: its id, username and password.
fn extension(api: &Api, site_id: i64, number: &str, username: Option<&str>) -> Result<(i64, String, String), String> {
    let e = api.post(
        &format!("/v1/sites/{site_id}/extensions"),
        &json!({ "number": number, "sip_username": username, "display_name": format!("Phone {number}") }),
    )?;
    let password = e.get("sip_password").and_then(Value::as_str).ok_or("no sip_password")?.to_owned();
    let username = e.get("sip_username").and_then(Value::as_str).ok_or("no sip_username")?.to_owned();
    Ok((id(&e)?, username, password))
}

/// The last part of a log, for messages.
pub fn tail(s: &str) -> &str {
    let mut cut = s.len().saturating_sub(3000);
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    s.get(cut..).unwrap_or(s)
}
