//! `carillon lab --demo`: a scripted tour of the lab with simulated phones.
//!
//! The box reaches the cloud through two [`relay::Relay`]s (SIP over TLS and the control link),
//! which stand for the school's internet link. The tour, step by step, prints what happened and
//! its measured figure, reading the cloud's own state (the SIP server's location service, the
//! store's box row, call records and statement):
//!
//! 1. phones 202 and 203 register through the box; the cloud holds their bindings (with the
//!    box's Path) and shows the box online;
//! 2. 202 calls 203 online (INVITE, 407, INVITE with credentials, 180/200, ACK, BYE);
//! 3. the WAN is cut; the cloud sees the box go;
//! 4. about 1 s after the cut 202 calls 203 again: the box, in survival, connects it;
//! 5. the WAN is restored: the time until the box is online again and until the cloud holds the
//!    phones' bindings on the box's new connection (handed back, no phone registered again),
//!    then 203 calls 202 through the cloud;
//! 6. the outage's call record reaches the cloud once, rated;
//! 7. the school's statement for the month.
//!
//! Then a summary table and `tour complete`; a step that fails ends the tour with
//! `tour FAILED` and the lab exits 1.

pub mod phone;
pub mod relay;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use carillon_cloud::model::{CallRecord, RecordFilter};
use carillon_cloud::sip::SipServer;
use carillon_cloud::{Month, Store};

use phone::{Account, Phone};

/// How long a phone's registrations last: longer than the tour, so that none refreshes and the
/// bindings the cloud holds after the restore can only come from the box.
const REGISTER_FOR_SECS: u32 = 3600;
/// How long the online call stays up.
const ONLINE_CALL_FOR: Duration = Duration::from_secs(2);
/// How long the survival call stays up.
const SURVIVAL_CALL_FOR: Duration = Duration::from_secs(1);
/// When, after the cut, the survival call is placed.
const CALL_AFTER_CUT: Duration = Duration::from_secs(1);
/// Bounds of the waits for the cloud's state.
const CLOUD_SEES_WITHIN: Duration = Duration::from_secs(10);
const RECOVER_WITHIN: Duration = Duration::from_secs(30);
const RECORDS_WITHIN: Duration = Duration::from_secs(20);
/// How often the cloud's state is polled while waiting.
const POLL: Duration = Duration::from_millis(20);

/// What the tour is given.
pub struct Tour<'a> {
    /// The cloud's store.
    pub store: &'a Store,
    /// The cloud's SIP server.
    pub sip: &'a SipServer,
    /// The demo box.
    pub box_id: i64,
    /// The box's LAN address (the phones' SIP server).
    pub lan: SocketAddr,
    /// The relay in front of the cloud's SIP-over-TLS port.
    pub sip_relay: &'a relay::Relay,
    /// The relay in front of the cloud's control-link port.
    pub control_relay: &'a relay::Relay,
    /// The phones' accounts (202 and 203).
    pub caller: Account,
    /// The called phone's account.
    pub callee: Account,
}

/// One line of the summary.
struct Step {
    name: &'static str,
    figure: String,
}

/// Why the tour stopped.
pub type Failure = String;

fn say(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// `YYYY-MM` of a Unix time (UTC), from H. Hinnant's civil-from-days.
fn month_of(unix: i64) -> Option<Month> {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Month::parse(&format!("{y:04}-{m:02}"))
}

/// Money in micro-units as currency units with six decimals.
fn money(micros: i64) -> String {
    format!("{}.{:06}", micros / 1_000_000, (micros % 1_000_000).abs())
}

impl Tour<'_> {
    /// Runs the tour; prints every step as it goes and the summary at the end.
    pub async fn run(self) -> Result<(), Failure> {
        say("\ncarillon lab --demo: the tour (simulated phones 202 and 203; 201 is left for your softphone)\n");
        let mut steps = Vec::new();
        let result = self.steps(&mut steps).await;
        let mut table = format!("\n{:<50} result  figure\n", "step");
        for s in &steps {
            let _ = writeln!(table, "{:<50} ok      {}", s.name, s.figure);
        }
        if let Err(e) = &result {
            let _ = writeln!(table, "{:<50} FAILED  {e}", "(next step)");
        }
        say(&table);
        match result {
            Ok(()) => {
                say("tour complete");
                Ok(())
            }
            Err(e) => {
                say(&format!("tour FAILED: {e}"));
                Err(e)
            }
        }
    }

    async fn steps(&self, steps: &mut Vec<Step>) -> Result<(), Failure> {
        let tour_start = unix_now();
        let info = self.store.get_box(self.box_id).await.map_err(|e| format!("cannot read the box: {e}"))?;
        let site_id = info.site_id;
        let caller = Phone::start(self.caller.clone(), self.lan).await.map_err(|e| format!("phone socket: {e}"))?;
        let callee = Phone::start(self.callee.clone(), self.lan).await.map_err(|e| format!("phone socket: {e}"))?;

        // 1. Registration through the box.
        let mut figures = Vec::new();
        for p in [&caller, &callee] {
            let t = Instant::now();
            let code = p.register(REGISTER_FOR_SECS).await.map_err(|e| format!("{} REGISTER: {e}", p.number()))?;
            if code != 200 {
                return Err(format!("{} REGISTER through the box: {code}, not 200", p.number()));
            }
            figures.push(format!("{} {} ms", p.number(), ms(t.elapsed())));
        }
        let mut flows_before = Vec::new();
        for p in [&caller, &callee] {
            let b = self
                .wait_cloud(&format!("the cloud's binding of {}", p.username()), CLOUD_SEES_WITHIN, || {
                    let b = self.sip.location().lookup(p.username(), unix_now());
                    std::future::ready(b.into_iter().find(|b| !b.path.is_empty()))
                })
                .await?
                .1;
            say(&format!(
                "       cloud location: {} -> {} via Path {} (box flow {:?} #{})",
                p.username(),
                b.contact,
                b.path.join(","),
                b.flow.transport,
                b.flow.conn
            ));
            flows_before.push(b.flow.conn);
        }
        let info = self.store.get_box(self.box_id).await.map_err(|e| format!("cannot read the box: {e}"))?;
        say(&format!("       cloud's box {}: {}", self.box_id, box_status(&info)));
        if !(info.online && info.mode.as_deref() == Some("online")) {
            return Err(format!("the cloud shows the box {}", box_status(&info)));
        }
        self.ok(steps, "phones register through the box", figures.join(", "));

        // 2. A call inside the school, online.
        let online_call = self.call(&caller, &callee, ONLINE_CALL_FOR).await?;
        self.ok(steps, "call 202 -> 203 online (through the cloud)", online_call);

        // 3. The WAN is cut.
        let registers_before = caller.registers_sent() + callee.registers_sent();
        let cut = Instant::now();
        let cut_unix = unix_now();
        self.sip_relay.cut();
        self.control_relay.cut();
        let (gone, info) = self
            .wait_cloud("the cloud to see the box go", CLOUD_SEES_WITHIN, || async {
                self.store.get_box(self.box_id).await.ok().filter(|i| !i.online)
            })
            .await?;
        self.ok(steps, "WAN cut: the cloud sees the box go", format!("{} ms ({})", ms(gone), box_status(&info)));

        // 4. A call inside the school 1 s after the cut: the box connects it, in survival.
        tokio::time::sleep_until((cut + CALL_AFTER_CUT).into()).await;
        let placed = cut.elapsed();
        let survival_call = self.call(&caller, &callee, SURVIVAL_CALL_FOR).await?;
        self.ok(
            steps,
            "call 202 -> 203 in survival (box alone)",
            format!("placed {} ms after the cut; {survival_call}", ms(placed)),
        );

        // 5. The WAN is restored.
        let restored = Instant::now();
        self.sip_relay.restore();
        self.control_relay.restore();
        let mut online_at = None;
        let mut reach_at = None;
        let deadline = restored + RECOVER_WITHIN;
        while online_at.is_none() || reach_at.is_none() {
            if online_at.is_none() {
                if let Ok(i) = self.store.get_box(self.box_id).await {
                    if i.online && i.mode.as_deref() == Some("online") {
                        online_at = Some(restored.elapsed());
                    }
                }
            }
            if reach_at.is_none() {
                let now = unix_now();
                let handed = [&caller, &callee].iter().all(|p| {
                    self.sip.location().lookup(p.username(), now).iter().any(|b| !flows_before.contains(&b.flow.conn))
                });
                if handed {
                    reach_at = Some(restored.elapsed());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "within {RECOVER_WITHIN:?} of the restore: box online again: {}, bindings handed back: {}",
                    online_at.map_or("no".into(), |d| format!("after {} ms", ms(d))),
                    reach_at.map_or("no".into(), |d| format!("after {} ms", ms(d)))
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        let (online_at, reach_at) = (online_at.unwrap_or_default(), reach_at.unwrap_or_default());
        let registers_after = caller.registers_sent() + callee.registers_sent();
        if registers_after != registers_before {
            return Err(format!("phones registered again during the outage ({registers_before} -> {registers_after})"));
        }
        self.ok(steps, "WAN restored: box online again", format!("{} ms", ms(online_at)));
        self.ok(
            steps,
            "WAN restored: cloud reaches the phones again",
            format!("{} ms (bindings handed back by the box, no phone registered again)", ms(reach_at)),
        );
        let back_call = self.call(&callee, &caller, SURVIVAL_CALL_FOR).await?;
        self.ok(steps, "call 203 -> 202 online again (through the cloud)", back_call);

        // 6. The outage's call record, once, rated.
        let from_box = |recs: &[CallRecord]| -> Vec<CallRecord> {
            recs.iter().filter(|r| r.box_id == Some(self.box_id) && r.started_at >= cut_unix - 1).cloned().collect()
        };
        let since_restore = restored.elapsed();
        let (took, first) = self
            .wait_cloud("the outage's call record in the cloud", RECORDS_WITHIN, || async {
                let recs = self.records(site_id, tour_start).await.ok()?;
                let mine = from_box(&recs);
                (!mine.is_empty()).then_some(mine)
            })
            .await?;
        // Everything the box journaled is acknowledged once its acked sequence reaches the
        // highest record seen; only then is the count final.
        let top = first.iter().filter_map(|r| r.box_seq).max().unwrap_or(0);
        self.wait_cloud("the box's journal acknowledged", RECORDS_WITHIN, || async {
            self.store.get_box(self.box_id).await.ok().filter(|i| i.acked_seq >= top)
        })
        .await?;
        let recs = self.records(site_id, tour_start).await?;
        let outage = from_box(&recs);
        let [rec] = outage.as_slice() else {
            return Err(format!("{} call records from the box's journal for the outage, not exactly 1", outage.len()));
        };
        if rec.answered_at.is_none() {
            return Err(format!("the outage's call record says {}, not answered", rec.outcome.as_str()));
        }
        self.ok(
            steps,
            "outage call record in the cloud, once, rated",
            format!(
                "{} ms after the restore; box seq {}: {} -> {}, {}, {} s, class {}, cost {}",
                ms(since_restore + took),
                rec.box_seq.unwrap_or(0),
                rec.caller,
                rec.callee,
                rec.outcome.as_str(),
                rec.duration_secs,
                rec.class.as_str(),
                money(rec.cost_micros)
            ),
        );

        // 7. The bill.
        let online_records = self
            .wait_cloud("the online calls' records", RECORDS_WITHIN, || async {
                let recs = self.records(site_id, tour_start).await.ok()?;
                let n = recs.iter().filter(|r| r.box_id.is_none()).count();
                (n >= 2).then_some(n)
            })
            .await?
            .1;
        let month = month_of(unix_now()).ok_or("cannot name this month")?;
        let asked = Instant::now();
        let st = self.store.site_statement(site_id, month).await.map_err(|e| format!("the statement: {e}"))?;
        let took = asked.elapsed();
        let on_net = st.lines.iter().find(|l| l.class.as_str() == "on_net").map_or(0, |l| l.calls);
        let tour_calls = i64::try_from(online_records + 1).unwrap_or(i64::MAX);
        if on_net < tour_calls {
            return Err(format!("the statement counts {on_net} on-net calls, fewer than this tour's {tour_calls}"));
        }
        let code = self.store.get_site(site_id).await.map(|s| s.code).unwrap_or_else(|_| site_id.to_string());
        say(&format!("       statement of school {code} for {}:", st.month));
        for l in st.lines.iter().filter(|l| l.calls > 0) {
            say(&format!(
                "         {:<16} {:>4} calls {:>6} s billed  {}",
                l.class.as_str(),
                l.calls,
                l.billed_secs,
                money(l.cost_micros)
            ));
        }
        say(&format!("         total {}", money(st.total_micros)));
        self.ok(
            steps,
            "the school's monthly statement",
            format!(
                "{}: {on_net} on-net calls (this tour {tour_calls}), total {}; computed in {} ms",
                st.month,
                money(st.total_micros),
                ms(took)
            ),
        );
        Ok(())
    }

    fn ok(&self, steps: &mut Vec<Step>, name: &'static str, figure: String) {
        say(&format!("  ok   {name}: {figure}"));
        steps.push(Step { name, figure });
    }

    /// `a` calls `b`, the call stays up `hold`, `a` hangs up; the figure.
    async fn call(&self, a: &Phone, b: &Phone, hold: Duration) -> Result<String, Failure> {
        let (answered, byes) = (b.calls_answered(), b.byes_received());
        let call = a.call(b.number()).await.map_err(|e| format!("{} calling {}: {e}", a.number(), b.number()))?;
        if b.calls_answered() <= answered {
            return Err(format!("{} got a 200 but {} did not answer", a.number(), b.number()));
        }
        tokio::time::sleep(hold).await;
        let bye = a.hang_up(&call).await.map_err(|e| format!("{} hanging up: {e}", a.number()))?;
        if bye != 200 {
            return Err(format!("BYE answered {bye}, not 200"));
        }
        if b.byes_received() <= byes {
            return Err(format!("{} got no BYE", b.number()));
        }
        Ok(format!(
            "set up in {} ms (responses {:?}{}), up {} s, BYE 200",
            ms(call.setup),
            call.statuses,
            if call.ringing { ", 180 Ringing" } else { "" },
            hold.as_secs()
        ))
    }

    async fn records(&self, site_id: i64, from: i64) -> Result<Vec<CallRecord>, Failure> {
        let filter = RecordFilter { site_id: Some(site_id), from: Some(from - 1), ..RecordFilter::default() };
        let page = self.store.list_records(&filter, None, 1000).await.map_err(|e| format!("call records: {e}"))?;
        Ok(page.records)
    }

    /// Polls `probe` until it gives something, at most `within`; the time it took and what it gave.
    async fn wait_cloud<T, F, Fut>(&self, what: &str, within: Duration, mut probe: F) -> Result<(Duration, T), Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = probe().await {
                return Ok((start.elapsed(), v));
            }
            if start.elapsed() >= within {
                return Err(format!("waited {within:?} for {what}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn box_status(i: &carillon_cloud::model::BoxInfo) -> String {
    let seen = i.last_seen_at.map_or("never".into(), |t| format!("{} s ago", (unix_now() - t).max(0)));
    format!(
        "mode {}, {}, last seen {seen}",
        i.mode.as_deref().unwrap_or("none"),
        if i.online { "connected" } else { "not connected" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_of_a_unix_time() {
        assert_eq!(month_of(0).map(|m| m.to_string()).as_deref(), Some("1970-01"));
        // 2026-12-04 10:00 UTC and 2024-02-29 23:59:59 UTC.
        assert_eq!(month_of(1_796_378_400).map(|m| m.to_string()).as_deref(), Some("2026-12"));
        assert_eq!(month_of(1_709_251_199).map(|m| m.to_string()).as_deref(), Some("2024-02"));
        assert_eq!(money(1_500_000), "1.500000");
        assert_eq!(money(600), "0.000600");
    }
}
