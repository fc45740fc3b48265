//! What every scenario uses: its own directory, the figures it reports, and the phone
//! actions with their checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use carillon_hil_tests::binaries::Binaries;
use carillon_hil_tests::rig::{tail, Rig};
use carillon_hil_tests::sipp::{self, Endpoint, Run};
use serde_json::Value;

/// Fails the scenario with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// One scenario's run.
pub struct Ctx {
    pub bins: Binaries,
    dir: PathBuf,
    pub figures: Vec<(String, String)>,
}

impl Ctx {
    pub fn new(bins: &Binaries, base: &Path) -> Ctx {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        Ctx { bins: bins.clone(), dir, figures: Vec::new() }
    }

    /// A fresh rig in this scenario's directory.
    pub fn rig(&mut self) -> Result<Rig, String> {
        let t = Instant::now();
        let rig = Rig::start(&self.bins, &self.dir)?;
        self.figure("rig up (namespaces, cloud, 2 boxes enrolled and online)", ms(t.elapsed()));
        Ok(rig)
    }

    pub fn figure(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        println!("rig:   {what}: {value}");
        self.figures.push((what.to_owned(), value));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn discard_files(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        "<1 ms".into()
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn why(run: &Run) -> String {
    match run.code {
        Some(c) => format!("SIPp exited {c}: {}", run.errors.trim()),
        None => "SIPp did not finish in time".into(),
    }
}

/// `ep` registers at `server`; the registration time.
pub fn register(rig: &Rig, ep: &Endpoint, server: SocketAddr) -> Result<Duration, String> {
    let r = sipp::register(ep, server, &rig.dir);
    ensure!(r.ok(), "{} could not register at {server}: {}", ep.number, why(&r));
    r.rtd.ok_or_else(|| format!("{}: no registration time measured", ep.number))
}

/// `from` calls `dialled` through `server`; `to` answers. Both sides must complete the
/// scenario (INVITE .. 200, ACK, BYE .. 200); the set-up time (INVITE to 200).
pub fn call(rig: &Rig, from: &Endpoint, server: SocketAddr, dialled: &str, to: &Endpoint) -> Result<Duration, String> {
    let uas = sipp::answer(to, &rig.dir)?;
    let r = sipp::call(from, server, dialled, 300, &rig.dir);
    let a = uas.finish(Duration::from_secs(10));
    ensure!(r.ok(), "{} calling {dialled}: {}", from.number, why(&r));
    ensure!(a.ok(), "{} answering the call from {}: {}", to.number, from.number, why(&a));
    r.rtd.ok_or_else(|| format!("{} calling {dialled}: no set-up time measured", from.number))
}

/// `from` dials `dialled` and is refused with 503.
pub fn refused(rig: &Rig, from: &Endpoint, server: SocketAddr, dialled: &str) -> Result<(), String> {
    let r = sipp::call_refused_503(from, server, dialled, &rig.dir);
    ensure!(r.ok(), "{} dialling {dialled} expected 503: {}", from.number, why(&r));
    Ok(())
}

/// Waits (bounded) until the log of school `i`'s box shows `needle` `count` times.
pub fn box_log(rig: &Rig, i: usize, needle: &str, count: usize, limit: Duration) -> Result<Duration, String> {
    let p = rig.schools[i].box_proc();
    p.wait_log(needle, count, limit).map_err(|e| format!("{e}\n{}", tail(&p.log_text())))
}

/// The records of a site whose `field` equals `value`.
pub fn records_where<'a>(records: &'a [Value], field: &str, value: &Value) -> Vec<&'a Value> {
    records.iter().filter(|r| r.get(field) == Some(value)).collect()
}

/// Waits (bounded) until `f` holds for the site's records; the records then.
pub fn wait_records(
    rig: &Rig,
    site_id: i64,
    what: &str,
    limit: Duration,
    f: impl Fn(&[Value]) -> bool,
) -> Result<Vec<Value>, String> {
    let deadline = Instant::now() + limit;
    loop {
        let recs = rig.records(site_id)?;
        if f(&recs) {
            return Ok(recs);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {limit:?}; records: {}", Value::from(recs)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How soon after the WAN's return the cloud must reach every phone of the school again.
pub const REACH_WITHIN: Duration = Duration::from_secs(5);

/// From the restore on, the central office (`office`, registered at the cloud) calls each of
/// `phones` of school `school` until the call connects (each try bounded: a call the cloud
/// cannot deliver yet is abandoned and tried again), for at most 30 s. For each phone: its
/// number, when it was reached after `restored`, and how many tries it took.
pub fn reach_every_phone(
    rig: &Rig,
    school: usize,
    office: &Endpoint,
    phones: &[&Endpoint],
    restored: Instant,
) -> Result<Vec<(String, Duration, u32)>, String> {
    let code = rig.schools[school].code;
    let mut reached = Vec::new();
    for p in phones {
        let dialled = format!("8{code}{}", p.number);
        let uas = sipp::answer(p, &rig.dir)?;
        let mut tries = 0;
        let at = loop {
            tries += 1;
            let t = Instant::now();
            let r = sipp::call_start(office, carillon_hil_tests::rig::cloud_sip(), &dialled, 200, &rig.dir)
                .finish(Duration::from_millis(1500));
            if r.ok() {
                break t + r.rtd.unwrap_or_default();
            }
            ensure!(
                restored.elapsed() < Duration::from_secs(30),
                "the central office could not reach {} within 30 s of the restore",
                p.number
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let answered = uas.finish(Duration::from_secs(5));
        ensure!(answered.ok(), "{} answering the central office: SIPp exited {:?}", p.number, answered.code);
        reached.push((p.number.clone(), at.duration_since(restored), tries));
    }
    Ok(reached)
}

/// The figure for [`reach_every_phone`]'s result, and its worst time.
pub fn reach_figure(reached: &[(String, Duration, u32)]) -> (String, Duration) {
    let worst = reached.iter().map(|r| r.1).max().unwrap_or_default();
    let fig = reached.iter().map(|(n, d, t)| format!("{n} {} ms ({t} tries)", d.as_millis())).collect::<Vec<_>>();
    (fig.join(", "), worst)
}

/// A short figure for several set-up times.
pub fn setup_figure(times: &[(&str, Duration)]) -> String {
    times.iter().map(|(k, d)| format!("{k} {}", d.as_millis())).collect::<Vec<_>>().join(", ") + " ms"
}
