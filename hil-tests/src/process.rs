//! Child processes of the rig (the binaries, SIPp, baresip), ended by their PID when their
//! guard drops, and their logs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A running child; dropping the guard kills it (SIGKILL, by PID) if it still runs.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// What it is, for messages.
    pub name: String,
    /// Where its stderr (and stdout) go.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout + stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc, String> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc { child, name: name.to_owned(), log: log.to_owned() })
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit code if it has ended (-1 for a signal).
    pub fn exited(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Waits at most `limit` for the exit; on timeout kills it and returns `None`.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.exited() {
                return Some(c);
            }
            if Instant::now() >= deadline {
                self.kill9();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL by PID, and reap.
    pub fn kill9(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// SIGTERM by PID, then the exit code within `limit` (SIGKILL after it: `None`).
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        if let Some(c) = self.exited() {
            return Some(c);
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        self.wait(limit)
    }

    /// Waits (at most `limit`) until the log holds `needle` at least `count` times; the time
    /// it took. Polls every 10 ms, so figures are good to about that.
    pub fn wait_log(&self, needle: &str, count: usize, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            let text = self.log_text();
            if text.matches(needle).count() >= count {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= limit {
                return Err(format!("{}: no {count}x {needle:?} in its log within {limit:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits (at most `limit`, polling every 20 ms) until `f` gives `Some`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` has bound UDP `ip:port` (read from `/proc/PID/net/udp`, which shows
/// the process's own namespace): looking, not binding, so nothing is taken from under it.
pub fn udp_bound(pid: u32, ip: std::net::Ipv4Addr, port: u16) -> bool {
    let o = ip.octets();
    let local = format!("{:02X}{:02X}{:02X}{:02X}:{port:04X}", o[3], o[2], o[1], o[0]);
    let any = format!("00000000:{port:04X}");
    std::fs::read_to_string(format!("/proc/{pid}/net/udp"))
        .map(|t| t.lines().skip(1).any(|l| l.split_whitespace().nth(1).is_some_and(|a| a == local || a == any)))
        .unwrap_or(false)
}
