//! baresip as a softphone of a school: it registers through the box, answers every call by
//! itself (`answermode=auto`) and places calls when told. It is driven over its `ctrl_tcp`
//! module (netstring-framed JSON commands and events) from a socket made in the phone's
//! namespace. Audio: a tone from a WAV file out, received audio to a file (no sound card).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns;
use crate::process::{udp_bound, wait_for, Proc};
use crate::sipp::Endpoint;

const CTRL_PORT: u16 = 4444;

/// Whether `baresip` is installed.
pub fn available() -> bool {
    Command::new("baresip").arg("-h").output().is_ok()
}

/// A running baresip.
#[derive(Debug)]
pub struct Baresip {
    ctrl: TcpStream,
    events: Arc<Mutex<Vec<Value>>>,
    /// The phone it is.
    pub ep: Endpoint,
    // Last: the process outlives the control socket's reader.
    proc: Proc,
}

impl Baresip {
    /// Starts baresip as `ep`, registering at `proxy` (the box's LAN address).
    pub fn start(ep: &Endpoint, proxy: SocketAddr, dir: &Path) -> Result<Baresip, String> {
        let dir = dir.join(format!("baresip-{}", ep.number));
        std::fs::create_dir_all(&dir).map_err(|e| format!("baresip dir: {e}"))?;
        let tone = dir.join("tone.wav");
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{ip}:5060\n\
             call_local_timeout\t120\n\
             call_max_calls\t\t4\n\
             audio_player\t\taufile,{rx}\n\
             audio_source\t\taufile,{tone}\n\
             audio_alert\t\taufile,{alert}\n\
             dns_server\t\t{dns}:53\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t{ip}:{CTRL_PORT}\n",
            ip = ep.ip,
            rx = dir.join("received.wav").display(),
            tone = tone.display(),
            alert = dir.join("alert.wav").display(),
            dns = proxy.ip(),
        );
        std::fs::write(&tone, tone_wav(Duration::from_secs(60))).map_err(|e| format!("baresip tone: {e}"))?;
        std::fs::write(dir.join("config"), config).map_err(|e| format!("baresip config: {e}"))?;
        // Without sipnat=outbound baresip 1.0 sends an empty `Supported:` header in its
        // INVITE, which RFC 3261 §25.1 allows and the box accepts.
        let account = format!(
            "<sip:{user}@carillon;transport=udp>;auth_user={user};auth_pass={pw};\
             outbound=\"sip:{proxy};transport=udp\";regint=3600;answermode=auto;audio_codecs=PCMU\n",
            user = ep.username,
            pw = ep.password,
        );
        std::fs::write(dir.join("accounts"), account).map_err(|e| format!("baresip accounts: {e}"))?;
        let mut cmd = netns::command(&ep.ns, "baresip");
        // -s: the SIP trace goes to its log, which a failed run keeps.
        cmd.arg("-s").arg("-f").arg(&dir);
        let proc = Proc::spawn(&format!("baresip {}", ep.number), cmd, &dir.join("baresip.log"))?;
        let (pid, ip) = (proc.pid(), ep.ip);
        // ctrl_tcp listens on TCP; its SIP socket (UDP) is bound at the same time.
        wait_for(&format!("baresip {} up", ep.number), Duration::from_secs(10), || {
            udp_bound(pid, ip, 5060).then_some(())
        })?;
        let addr = SocketAddr::from((ep.ip, CTRL_PORT));
        let ctrl = wait_for(&format!("baresip {} control port", ep.number), Duration::from_secs(10), || {
            netns::within(&ep.ns, move || TcpStream::connect_timeout(&addr, Duration::from_secs(1))).ok()
        })?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let reader = ctrl.try_clone().map_err(|e| format!("baresip control socket: {e}"))?;
        let ev = events.clone();
        std::thread::spawn(move || read_events(reader, &ev));
        Ok(Baresip { ctrl, events, ep: ep.clone(), proc })
    }

    /// Waits (at most `limit`) until baresip says its account is registered (`200 OK` to its
    /// REGISTER, in its own log: the event may come before the control socket is connected).
    pub fn wait_registered(&self, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let prefix = format!("{}@carillon: {{", self.ep.username);
        wait_for(&format!("baresip {} registered", self.ep.number), limit, || {
            self.proc.log_text().lines().any(|l| l.starts_with(&prefix) && l.contains("} 200 OK")).then_some(())
        })
        .map_err(|e| format!("{e}; log: {}", tail(&self.proc.log_text())))?;
        Ok(start.elapsed())
    }

    /// Sends a command (`dial`, `hangup`, ...).
    pub fn command(&mut self, command: &str, params: &str) -> Result<(), String> {
        let json = serde_json::json!({ "command": command, "params": params, "token": command }).to_string();
        let frame = format!("{}:{json},", json.len());
        self.ctrl.write_all(frame.as_bytes()).map_err(|e| format!("baresip {}: {e}", self.ep.number))
    }

    /// Waits (at most `limit`) for the `n`-th event of `kind` (`REGISTER_OK`,
    /// `CALL_ESTABLISHED`, `CALL_CLOSED`, ...) since start; the time waited.
    pub fn wait_event(&self, kind: &str, n: usize, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        wait_for(&format!("baresip {} event {kind} #{n}", self.ep.number), limit, || {
            let count = self.count(kind);
            (count >= n).then_some(())
        })
        .map_err(|e| format!("{e}; events: {:?}; log: {}", self.kinds(), tail(&self.proc.log_text())))?;
        Ok(start.elapsed())
    }

    /// How many events of `kind` came.
    pub fn count(&self, kind: &str) -> usize {
        let ev = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ev.iter().filter(|e| e.get("type").and_then(Value::as_str) == Some(kind)).count()
    }

    fn kinds(&self) -> Vec<String> {
        let ev = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ev.iter().filter_map(|e| e.get("type").and_then(Value::as_str).map(str::to_owned)).collect()
    }
}

/// A WAV file (8 kHz, mono, 16-bit PCM) of a 440 Hz tone: what the softphone says.
fn tone_wav(length: Duration) -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples = u32::try_from(length.as_secs()).unwrap_or(60) * RATE;
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&RATE.to_le_bytes());
    w.extend_from_slice(&(RATE * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = f64::from(i) / f64::from(RATE);
        let v = (t * 440.0 * std::f64::consts::TAU).sin() * 8000.0;
        w.extend_from_slice(&(v as i16).to_le_bytes());
    }
    w
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(1500);
    s.get(cut..).unwrap_or(s)
}

/// Netstrings (`LEN:JSON,`) from the control socket; events are kept, responses dropped.
fn read_events(mut s: TcpStream, events: &Mutex<Vec<Value>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
        }
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Some(len) =
                std::str::from_utf8(buf.get(..colon).unwrap_or(&[])).ok().and_then(|l| l.parse::<usize>().ok())
            else {
                return;
            };
            let end = colon + 1 + len;
            if buf.len() < end + 1 {
                break;
            }
            if let Ok(v) = serde_json::from_slice::<Value>(buf.get(colon + 1..end).unwrap_or(&[])) {
                if v.get("event").and_then(Value::as_bool) == Some(true) {
                    events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v);
                }
            }
            buf.drain(..=end);
        }
    }
}
