//! Call records, tariffs, rating at ingestion, and monthly statements.

use std::collections::HashMap;
use std::fmt;

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::tenancy::site_in;
use super::{col, Result, Store, StoreError};
use crate::model::{
    CallEvent, CallRecord, Direction, Outcome, RecordCursor, RecordFilter, RecordPage, SiteSubtotal, Statement,
    StatementLine,
};
use crate::rating::{DestinationClass, NumberingPlan, Tariff};

const REC_COLS: &str = "id, site_id, box_id, box_seq, caller, callee, class, started_at, answered_at, \
    ended_at, duration_secs, billed_secs, outcome, cost_micros";

/// A calendar month in UTC, the period of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Month {
    year: i64,
    month: i64,
}

impl Month {
    /// Parses `YYYY-MM` (years 1970 to 9999).
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        ((1970..=9999).contains(&year) && (1..=12).contains(&month)).then_some(Month { year, month })
    }

    /// First second of the month and first second of the next, as UTC Unix seconds.
    pub fn bounds(self) -> (i64, i64) {
        let (ny, nm) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        (days_from_civil(self.year, self.month, 1) * 86_400, days_from_civil(ny, nm, 1) * 86_400)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn record_from_row(row: &AnyRow) -> Result<CallRecord> {
    let class: String = col(row, "class")?;
    let outcome: String = col(row, "outcome")?;
    Ok(CallRecord {
        id: col(row, "id")?,
        site_id: col(row, "site_id")?,
        box_id: col(row, "box_id")?,
        box_seq: col(row, "box_seq")?,
        caller: col(row, "caller")?,
        callee: col(row, "callee")?,
        class: DestinationClass::parse(&class).ok_or_else(|| StoreError::Corrupt(format!("class {class}")))?,
        started_at: col(row, "started_at")?,
        answered_at: col(row, "answered_at")?,
        ended_at: col(row, "ended_at")?,
        duration_secs: col(row, "duration_secs")?,
        billed_secs: col(row, "billed_secs")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| StoreError::Corrupt(format!("outcome {outcome}")))?,
        cost_micros: col(row, "cost_micros")?,
    })
}

fn check_party(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Invalid(format!("{what} must be 1 to 64 printable ASCII characters")));
    }
    Ok(())
}

/// Checks a call's parties and times: start <= answer <= end, answered iff outcome answered.
pub(crate) fn check_call(call: &CallEvent) -> Result<()> {
    check_party("caller", &call.caller)?;
    check_party("callee", &call.callee)?;
    if call.started_at < 0 || call.ended_at < call.started_at {
        return Err(StoreError::Invalid("ended_at must not be before started_at".into()));
    }
    match (call.answered_at, call.outcome) {
        (Some(a), Outcome::Answered) if a >= call.started_at && a <= call.ended_at => Ok(()),
        (Some(_), Outcome::Answered) => {
            Err(StoreError::Invalid("answered_at must lie between started_at and ended_at".into()))
        }
        (None, Outcome::Answered) => Err(StoreError::Invalid("an answered call needs answered_at".into())),
        (Some(_), _) => Err(StoreError::Invalid("only an answered call has answered_at".into())),
        (None, _) => Ok(()),
    }
}

fn tariff_from_row(row: &AnyRow) -> Result<Tariff> {
    let class: String = col(row, "class")?;
    Ok(Tariff {
        class: DestinationClass::parse(&class).ok_or_else(|| StoreError::Corrupt(format!("class {class}")))?,
        price_micros_per_sec: col(row, "price_micros_per_sec")?,
        min_secs: col(row, "min_secs")?,
        increment_secs: col(row, "increment_secs")?,
    })
}

/// The tariff table; a class missing from it is free.
pub(crate) async fn load_tariffs(conn: &mut AnyConnection) -> Result<HashMap<DestinationClass, Tariff>> {
    let rows = sqlx::query("SELECT class, price_micros_per_sec, min_secs, increment_secs FROM tariffs")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| tariff_from_row(r).map(|t| (t.class, t))).collect()
}

/// Rates and inserts one call; a record whose (box, seq) is already stored is left as it is.
pub(crate) async fn insert_record(
    conn: &mut AnyConnection,
    plan: &NumberingPlan,
    tariffs: &HashMap<DestinationClass, Tariff>,
    site_id: i64,
    from_box: Option<(i64, i64)>,
    call: &CallEvent,
    now: i64,
) -> Result<Option<CallRecord>> {
    let class = match call.direction {
        Direction::Inbound => DestinationClass::Inbound,
        Direction::Outbound => plan.classify(&call.callee),
    };
    let tariff = tariffs.get(&class).copied().unwrap_or_else(|| Tariff::free(class));
    let duration = call.answered_at.map_or(0, |a| call.ended_at - a);
    let (billed, cost) = tariff.rate(call.answered_at.is_some(), duration);
    let row = sqlx::query(&format!(
        "INSERT INTO call_records (site_id, box_id, box_seq, caller, callee, class, started_at, answered_at, \
             ended_at, duration_secs, billed_secs, outcome, cost_micros, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (box_id, box_seq) DO NOTHING RETURNING {REC_COLS}"
    ))
    .bind(site_id)
    .bind(from_box.map(|b| b.0))
    .bind(from_box.map(|b| b.1))
    .bind(call.caller.clone())
    .bind(call.callee.clone())
    .bind(class.as_str())
    .bind(call.started_at)
    .bind(call.answered_at)
    .bind(call.ended_at)
    .bind(duration)
    .bind(billed)
    .bind(call.outcome.as_str())
    .bind(cost)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(record_from_row).transpose()
}

impl Store {
    /// The tariff of every class.
    pub async fn list_tariffs(&self) -> Result<Vec<Tariff>> {
        let mut conn = self.pool.acquire().await?;
        let table = load_tariffs(&mut conn).await?;
        Ok(DestinationClass::ALL.iter().map(|c| table.get(c).copied().unwrap_or_else(|| Tariff::free(*c))).collect())
    }

    /// Sets the tariff of a class. Applies to calls stored from now on; stored records keep the
    /// cost they were rated at.
    pub async fn set_tariff(&self, tariff: &Tariff) -> Result<Tariff> {
        if tariff.price_micros_per_sec < 0 || tariff.min_secs < 0 || !(1..=3600).contains(&tariff.increment_secs) {
            return Err(StoreError::Invalid(
                "price and minimum must not be negative; increment must be 1 to 3600 s".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO tariffs (class, price_micros_per_sec, min_secs, increment_secs) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (class) DO UPDATE SET price_micros_per_sec = excluded.price_micros_per_sec, \
                 min_secs = excluded.min_secs, increment_secs = excluded.increment_secs",
        )
        .bind(tariff.class.as_str())
        .bind(tariff.price_micros_per_sec)
        .bind(tariff.min_secs)
        .bind(tariff.increment_secs)
        .execute(&self.pool)
        .await?;
        Ok(*tariff)
    }

    /// Stores and rates a call the cloud handled itself (not uploaded by a box).
    pub async fn record_call(&self, site_id: i64, call: &CallEvent, now: i64) -> Result<CallRecord> {
        check_call(call)?;
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, site_id).await?;
        let tariffs = load_tariffs(&mut tx).await?;
        let rec = insert_record(&mut tx, &self.opts.plan, &tariffs, site_id, None, call, now)
            .await?
            .ok_or_else(|| StoreError::Corrupt("insert of a cloud call record returned nothing".into()))?;
        tx.commit().await?;
        Ok(rec)
    }

    /// Stores and rates a batch of calls the cloud handled, in one transaction: all of them or,
    /// on any error, none (group commit: one fsync for the batch). The records come back in
    /// the order of `calls`.
    pub async fn record_calls(&self, calls: &[(i64, CallEvent)], now: i64) -> Result<Vec<CallRecord>> {
        for (_, call) in calls {
            check_call(call)?;
        }
        let mut tx = self.pool.begin().await?;
        let tariffs = load_tariffs(&mut tx).await?;
        let mut out = Vec::with_capacity(calls.len());
        for (site_id, call) in calls {
            site_in(&mut tx, *site_id).await?;
            let rec = insert_record(&mut tx, &self.opts.plan, &tariffs, *site_id, None, call, now)
                .await?
                .ok_or_else(|| StoreError::Corrupt("insert of a cloud call record returned nothing".into()))?;
            out.push(rec);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One call record.
    pub async fn get_record(&self, id: i64) -> Result<CallRecord> {
        let row = sqlx::query(&format!("SELECT {REC_COLS} FROM call_records WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("call record"))?;
        record_from_row(&row)
    }

    /// A page of call records by (start time, id), after `cursor`, at most `limit` (1..=1000).
    pub async fn list_records(
        &self,
        filter: &RecordFilter,
        cursor: Option<RecordCursor>,
        limit: i64,
    ) -> Result<RecordPage> {
        if !(1..=1000).contains(&limit) {
            return Err(StoreError::Invalid("limit must be 1 to 1000".into()));
        }
        // Unused filters are bound as values that disable their clause, so one SQL text serves
        // every combination on both databases.
        let (after_start, after_id) = cursor.map_or((i64::MIN, i64::MIN), |c| (c.started_at, c.id));
        let rows = sqlx::query(&format!(
            "SELECT {REC_COLS} FROM call_records \
             WHERE ($1 = 0 OR site_id = $1) \
               AND ($2 = 0 OR site_id IN (SELECT id FROM sites WHERE body_id = $2)) \
               AND started_at >= $3 AND started_at < $4 \
               AND ($5 = '' OR class = $5) \
               AND (started_at > $6 OR (started_at = $6 AND id > $7)) \
             ORDER BY started_at, id LIMIT $8"
        ))
        .bind(filter.site_id.unwrap_or(0))
        .bind(filter.body_id.unwrap_or(0))
        .bind(filter.from.unwrap_or(i64::MIN))
        .bind(filter.to.unwrap_or(i64::MAX))
        .bind(filter.class.map_or("", DestinationClass::as_str))
        .bind(after_start)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        let mut records = rows.iter().map(record_from_row).collect::<Result<Vec<_>>>()?;
        let more = records.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = match records.last() {
            Some(last) if more => Some(RecordCursor { started_at: last.started_at, id: last.id }.encode()),
            _ => None,
        };
        Ok(RecordPage { records, next_cursor })
    }

    /// Sums per class of the calls that started in `month` at sites matching the clause.
    async fn sum_lines(&self, site_id: i64, body_id: i64, month: Month) -> Result<(Vec<StatementLine>, i64)> {
        let (from, to) = month.bounds();
        let rows = sqlx::query(
            "SELECT class, COUNT(*) AS calls, CAST(COALESCE(SUM(billed_secs), 0) AS BIGINT) AS secs, \
                    CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost \
             FROM call_records \
             WHERE ($1 = 0 OR site_id = $1) \
               AND ($2 = 0 OR site_id IN (SELECT id FROM sites WHERE body_id = $2)) \
               AND started_at >= $3 AND started_at < $4 \
             GROUP BY class",
        )
        .bind(site_id)
        .bind(body_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        let mut sums: HashMap<String, (i64, i64, i64)> = HashMap::new();
        for r in &rows {
            sums.insert(col(r, "class")?, (col(r, "calls")?, col(r, "secs")?, col(r, "cost")?));
        }
        let lines: Vec<StatementLine> = DestinationClass::ALL
            .iter()
            .map(|c| {
                let (calls, billed_secs, cost_micros) = sums.get(c.as_str()).copied().unwrap_or((0, 0, 0));
                StatementLine { class: *c, calls, billed_secs, cost_micros }
            })
            .collect();
        let total = lines.iter().map(|l| l.cost_micros).fold(0_i64, i64::saturating_add);
        Ok((lines, total))
    }

    /// The statement of one site for one month (every class listed; 0 when there were no calls).
    pub async fn site_statement(&self, site_id: i64, month: Month) -> Result<Statement> {
        let site = self.get_site(site_id).await?;
        let (lines, total_micros) = self.sum_lines(site_id, 0, month).await?;
        Ok(Statement {
            month: month.to_string(),
            site_id: Some(site_id),
            body_id: site.body_id,
            lines,
            sites: Vec::new(),
            total_micros,
        })
    }

    /// The statement of an organising body for one month: per-class sums over its sites and a
    /// subtotal per site.
    pub async fn body_statement(&self, body_id: i64, month: Month) -> Result<Statement> {
        self.get_body(body_id).await?;
        let (lines, total_micros) = self.sum_lines(0, body_id, month).await?;
        let (from, to) = month.bounds();
        let rows = sqlx::query(
            "SELECT s.id AS id, s.code AS code, s.name AS name, \
                    CAST(COALESCE(SUM(r.cost_micros), 0) AS BIGINT) AS total \
             FROM sites s LEFT JOIN call_records r \
               ON r.site_id = s.id AND r.started_at >= $2 AND r.started_at < $3 \
             WHERE s.body_id = $1 GROUP BY s.id, s.code, s.name ORDER BY s.code",
        )
        .bind(body_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let sites = rows
            .iter()
            .map(|r| {
                Ok(SiteSubtotal {
                    site_id: col(r, "id")?,
                    code: col(r, "code")?,
                    name: col(r, "name")?,
                    total_micros: col(r, "total")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Statement { month: month.to_string(), site_id: None, body_id, lines, sites, total_micros })
    }
}
