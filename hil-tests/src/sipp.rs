//! SIPp as the rig's phones and carrier: one process per call or registration, inside the
//! phone's namespace, bound to the phone's own address (`-i IP -bind_local`), with the
//! scenarios of `hil-tests/sipp/`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns;
use crate::process::{udp_bound, wait_for, Proc};

/// Whether `sipp` runs here.
pub fn available() -> bool {
    Command::new("sipp").arg("-v").output().is_ok()
}

/// A scenario file of this crate.
pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sipp").join(name)
}

/// A SIP endpoint of the rig: a phone (or the carrier) with its own address in a namespace.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Extension number (or a label for the carrier).
    pub number: String,
    /// SIP digest username.
    pub username: String,
    /// SIP password.
    pub password: String,
    /// Its namespace.
    pub ns: String,
    /// Its address (SIP on port 5060 there).
    pub ip: Ipv4Addr,
}

impl Endpoint {
    /// Its SIP address.
    pub fn sip(&self) -> SocketAddr {
        SocketAddr::from((self.ip, 5060))
    }
}

/// What one SIPp run ended with.
#[derive(Clone, Debug)]
pub struct Run {
    /// Exit code (0: the scenario completed; `None`: killed at its time limit).
    pub code: Option<i32>,
    /// The first response time SIPp measured (INVITE to 200 for calls), if any.
    pub rtd: Option<Duration>,
    /// SIPp's error log, for messages.
    pub errors: String,
}

impl Run {
    /// Whether the scenario completed.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// One SIPp process.
#[derive(Debug)]
pub struct Sipp {
    proc: Proc,
    dir: PathBuf,
    ip: Ipv4Addr,
}

impl Sipp {
    /// `sipp [remote] -sf scenario -i IP -bind_local -p 5060 -m 1 ... extra` in `ep`'s
    /// namespace; `dir` receives its files.
    pub fn start(ep: &Endpoint, file: &str, remote: Option<SocketAddr>, extra: &[&str], dir: &Path) -> Sipp {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = dir.join(format!("sipp-{n:04}-{}-{}", ep.number, file.trim_end_matches(".xml")));
        let _ = std::fs::create_dir_all(&dir);
        let mut cmd = netns::command(&ep.ns, "sipp");
        if let Some(r) = remote {
            cmd.arg(r.to_string());
        }
        let mp = 20_000 + u32::from(ep.ip.octets()[3]) * 8;
        cmd.arg("-sf")
            .arg(scenario(file))
            .args(["-i", &ep.ip.to_string(), "-bind_local", "-p", "5060", "-mp", &mp.to_string(), "-m", "1"])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err", "-error_file"])
            .arg(dir.join("errors.log"))
            .args(["-trace_rtt", "-rtt_freq", "1", "-trace_msg", "-message_file"])
            .arg(dir.join("messages.log"))
            .args(["-set", "user", &ep.number])
            .args(extra)
            .current_dir(&dir);
        let log = dir.join("sipp.log");
        let proc = match Proc::spawn(&format!("sipp {} {file}", ep.number), cmd, &log) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        Sipp { proc, dir, ip: ep.ip }
    }

    /// Waits (at most `limit`) until it listens on its address: the first request sent to it
    /// is not lost to an unbound port.
    pub fn listening(&self, limit: Duration) -> Result<(), String> {
        let (pid, ip) = (self.proc.pid(), self.ip);
        wait_for(&format!("{} listening", self.proc.name), limit, || udp_bound(pid, ip, 5060).then_some(()))
    }

    /// Waits at most `limit` for the end.
    pub fn finish(mut self, limit: Duration) -> Run {
        let code = self.proc.wait(limit);
        let errors = std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
        let errors = if errors.len() > 2000 { errors[errors.len() - 2000..].to_owned() } else { errors };
        Run { code, rtd: first_rtd(&self.dir), errors }
    }
}

/// The first response time in SIPp's `*_rtt.csv` (`date_ms;response_time_ms;rtd_name`).
fn first_rtd(dir: &Path) -> Option<Duration> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with("_rtt.csv") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).ok()?;
        for line in text.lines().skip(1) {
            if let Some(ms) = line.split(';').nth(1).and_then(|v| v.trim().parse::<f64>().ok()) {
                return Some(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    None
}

/// `ep` registers at `server` (digest), Expires 3600.
pub fn register(ep: &Endpoint, server: SocketAddr, dir: &Path) -> Run {
    let args = ["-s", &ep.username, "-au", &ep.username, "-ap", &ep.password];
    Sipp::start(ep, "register.xml", Some(server), &args, dir).finish(Duration::from_secs(20))
}

/// `caller` calls `dialled` through `server` (answering a 407 with its credentials if one
/// comes), holds the call `hold_ms`, hangs up.
pub fn call_start(caller: &Endpoint, server: SocketAddr, dialled: &str, hold_ms: u32, dir: &Path) -> Sipp {
    let hold = hold_ms.to_string();
    let args = ["-s", dialled, "-au", &caller.username, "-ap", &caller.password, "-d", &hold];
    Sipp::start(caller, "call.xml", Some(server), &args, dir)
}

/// A call placed and waited for (see [`call_start`]).
pub fn call(caller: &Endpoint, server: SocketAddr, dialled: &str, hold_ms: u32, dir: &Path) -> Run {
    call_start(caller, server, dialled, hold_ms, dir)
        .finish(Duration::from_secs(30) + Duration::from_millis(hold_ms.into()))
}

/// `caller` dials `dialled` and expects it refused with 503, then ACKs.
pub fn call_refused_503(caller: &Endpoint, server: SocketAddr, dialled: &str, dir: &Path) -> Run {
    let args = ["-s", dialled, "-au", &caller.username, "-ap", &caller.password];
    Sipp::start(caller, "call_refused.xml", Some(server), &args, dir).finish(Duration::from_secs(30))
}

/// An answering phone (180, 200, waits for ACK and BYE), ready when this returns.
pub fn answer(ep: &Endpoint, dir: &Path) -> Result<Sipp, String> {
    let s = Sipp::start(ep, "answer.xml", None, &[], dir);
    s.listening(Duration::from_secs(5))?;
    Ok(s)
}

/// A phone that rings (180) and expects the call to be CANCELled (another phone of a ring
/// group answered).
pub fn ring_until_cancelled(ep: &Endpoint, dir: &Path) -> Result<Sipp, String> {
    let s = Sipp::start(ep, "ring_cancelled.xml", None, &[], dir);
    s.listening(Duration::from_secs(5))?;
    Ok(s)
}
