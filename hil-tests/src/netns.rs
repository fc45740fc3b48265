//! Network namespaces and veth pairs, made with `ip` (iproute2) and torn down by a guard.
//!
//! Every namespace of a run is named `crl<PID>-<n>-<role>`: the PID of the process that made
//! it (so two runs side by side never collide, and leftovers of a dead run can be recognised
//! and removed without touching anyone else's) and a counter per rig of that process.

use std::fs::File;
use std::io;
use std::process::{Command, Stdio};

/// Every namespace of this crate starts with this.
pub const PREFIX: &str = "crl";

/// Runs `ip ARGS`; the error carries the command and what `ip` printed.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs `sh -c SCRIPT` inside namespace `ns` (for a sysctl written through /proc).
pub fn sh_in(ns: &str, script: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run sh in {ns}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("in {ns}: {script}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Why the rig cannot run here, if it cannot: not root, no `ip`, or namespaces refused.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root: network namespaces need root (CI runs as root)".into());
    }
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("cannot make a network namespace ({e})"));
    }
    let veth = ip(&["-n", &probe, "link", "add", "name", "a", "type", "veth", "peer", "name", "b"]);
    let _ = ip(&["netns", "del", &probe]);
    veth.err().map(|e| format!("cannot make a veth pair ({e})"))
}

/// Names of the namespaces that exist now.
fn list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).stdin(Stdio::null()).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Removes the namespaces a dead run of this crate left behind: names with [`PREFIX`] whose
/// PID is no longer alive, with the processes still running in them. Namespaces of live
/// processes (another run beside this one) and every other name are left alone. Returns how
/// many were removed.
pub fn remove_leftovers() -> usize {
    let mut removed = 0;
    for name in list() {
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // What the dead run started inside its own namespaces (a cloud, a box, a SIPp) is
        // ended by PID; nothing outside them is touched.
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).stdin(Stdio::null()).output() {
            for p in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(p) = p.parse::<i32>() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        if ip(&["netns", "del", &name]).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The namespaces of one rig; dropping it deletes them (their processes must be gone first:
/// the rig's process guards are dropped before this one).
#[derive(Debug)]
pub struct Namespaces {
    base: String,
    made: Vec<String>,
}

impl Namespaces {
    /// A new set, `crl<PID>-<n>`; nothing is made yet.
    pub fn new() -> Namespaces {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Namespaces { base: format!("{PREFIX}{}-{n}", std::process::id()), made: Vec::new() }
    }

    /// Makes namespace `<base>-<role>` with its loopback up, and returns its name.
    pub fn add(&mut self, role: &str) -> Result<String, String> {
        let name = format!("{}-{role}", self.base);
        ip(&["netns", "add", &name])?;
        self.made.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// A veth pair: `a_if` in `a`, `b_if` in `b`, both up, with the given addresses (CIDR).
    pub fn link(&self, a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) -> Result<(), String> {
        ip(&["-n", a, "link", "add", "name", a_if, "type", "veth", "peer", "name", b_if, "netns", b])?;
        for (ns, dev, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
            if !addr.is_empty() {
                ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            }
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::new()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in self.made.drain(..).rev() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// Runs `f` on a thread that has entered namespace `ns`: sockets it creates live in `ns`, and
/// stay there when handed back to another thread.
pub fn within<T: Send + 'static>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path)?;
    let handle = std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        f()
    });
    handle.join().unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
}

/// `ip netns exec NS PROGRAM`: the child's PID is the program's (`ip` execs it).
pub fn command(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}
