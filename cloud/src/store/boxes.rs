//! Boxes: creation, one-time enrollment, authentication, status, and exactly-once ingestion of
//! the call records a box journalled (in survival or otherwise).

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::records::{insert_record, load_tariffs};
use super::tenancy::site_in;
use super::{check_name, col, Result, Store, StoreError};
use crate::model::{
    BoxCallRecord, BoxInfo, BoxLinkReport, BoxStatusReport, IssuedEnrollment, NewBox, SiteConfig, SiteConfigExtension,
    SiteConfigRingGroup,
};
use crate::secrets;

const BOX_COLS: &str = "id, site_id, name, credential_hash, enrolled_at, enroll_token_hash, \
    enroll_expires_at, online, last_seen_at, survival_secs, firmware_version, acked_seq, mode, \
    config_applied_version, config_rejection, created_at";

fn box_from_row(row: &AnyRow) -> Result<BoxInfo> {
    let credential: Option<String> = col(row, "credential_hash")?;
    let pending: Option<String> = col(row, "enroll_token_hash")?;
    let online: i64 = col(row, "online")?;
    Ok(BoxInfo {
        id: col(row, "id")?,
        site_id: col(row, "site_id")?,
        name: col(row, "name")?,
        enrolled: credential.is_some(),
        enrolled_at: col(row, "enrolled_at")?,
        enrollment_expires_at: if pending.is_some() { col(row, "enroll_expires_at")? } else { None },
        online: online != 0,
        last_seen_at: col(row, "last_seen_at")?,
        survival_secs: col(row, "survival_secs")?,
        firmware_version: col(row, "firmware_version")?,
        acked_seq: col(row, "acked_seq")?,
        mode: col(row, "mode")?,
        config_applied_version: col(row, "config_applied_version")?,
        config_rejection: col(row, "config_rejection")?,
        created_at: col(row, "created_at")?,
    })
}

async fn box_in(conn: &mut AnyConnection, id: i64) -> Result<BoxInfo> {
    let row = sqlx::query(&format!("SELECT {BOX_COLS} FROM boxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("box"))?;
    box_from_row(&row)
}

fn check_ttl(ttl_secs: i64) -> Result<()> {
    if !(60..=30 * 86_400).contains(&ttl_secs) {
        return Err(StoreError::Invalid("enrollment token lifetime must be 60 s to 30 days".into()));
    }
    Ok(())
}

impl Store {
    /// Creates a box for a site with a one-time enrollment token valid for `ttl_secs`.
    pub async fn create_box(&self, site_id: i64, new: &NewBox, ttl_secs: i64, now: i64) -> Result<IssuedEnrollment> {
        check_name("name", &new.name)?;
        check_ttl(ttl_secs)?;
        let token = secrets::new_token("ce_");
        let expires_at = now.saturating_add(ttl_secs);
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, site_id).await?;
        let row = sqlx::query(
            "INSERT INTO boxes (site_id, name, enroll_token_hash, enroll_expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(site_id)
        .bind(new.name.trim().to_owned())
        .bind(secrets::token_hash(&token))
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let box_info = box_in(&mut tx, col(&row, "id")?).await?;
        tx.commit().await?;
        Ok(IssuedEnrollment { box_info, enrollment_token: token, expires_at })
    }

    /// Issues a new one-time enrollment token for a box (a replaced box, a lost token). The old
    /// token stops working; the current credential keeps working until the new token is used.
    pub async fn issue_enrollment_token(&self, box_id: i64, ttl_secs: i64, now: i64) -> Result<IssuedEnrollment> {
        check_ttl(ttl_secs)?;
        let token = secrets::new_token("ce_");
        let expires_at = now.saturating_add(ttl_secs);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE boxes SET enroll_token_hash = $1, enroll_expires_at = $2 WHERE id = $3")
            .bind(secrets::token_hash(&token))
            .bind(expires_at)
            .bind(box_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("box"));
        }
        let box_info = box_in(&mut tx, box_id).await?;
        tx.commit().await?;
        Ok(IssuedEnrollment { box_info, enrollment_token: token, expires_at })
    }

    /// A box presents its enrollment token and gets its id and long-term credential. Works once
    /// per token, before expiry: the token is consumed by the same statement that stores the
    /// credential's hash, so two concurrent uses cannot both succeed.
    pub async fn enroll_box(&self, token: &str, now: i64) -> Result<(i64, String)> {
        let credential = secrets::new_token("cx_");
        let row = sqlx::query(
            "UPDATE boxes SET enroll_token_hash = NULL, enroll_expires_at = NULL, \
                 credential_hash = $1, enrolled_at = $2 \
             WHERE enroll_token_hash = $3 AND enroll_expires_at > $2 RETURNING id",
        )
        .bind(secrets::token_hash(&credential))
        .bind(now)
        .bind(secrets::token_hash(token))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::BadToken)?;
        Ok((col(&row, "id")?, credential))
    }

    /// Checks a box's long-term credential; returns the box on success, [`StoreError::BadToken`]
    /// for an unknown box or a wrong credential (the two are not told apart).
    pub async fn authenticate_box(&self, box_id: i64, credential: &str) -> Result<BoxInfo> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(&format!("SELECT {BOX_COLS} FROM boxes WHERE id = $1"))
            .bind(box_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::BadToken)?;
        let stored: Option<String> = col(&row, "credential_hash")?;
        match stored {
            Some(h) if secrets::constant_time_eq(&h, &secrets::token_hash(credential)) => box_from_row(&row),
            _ => Err(StoreError::BadToken),
        }
    }

    /// One box with its status.
    pub async fn get_box(&self, id: i64) -> Result<BoxInfo> {
        let mut conn = self.pool.acquire().await?;
        box_in(&mut conn, id).await
    }

    /// Boxes by id: all, of one site, or of the sites of one body.
    pub async fn list_boxes(&self, site_id: Option<i64>, body_id: Option<i64>) -> Result<Vec<BoxInfo>> {
        let rows = sqlx::query(&format!(
            "SELECT {BOX_COLS} FROM boxes \
             WHERE ($1 = 0 OR site_id = $1) \
               AND ($2 = 0 OR site_id IN (SELECT id FROM sites WHERE body_id = $2)) \
             ORDER BY id"
        ))
        .bind(site_id.unwrap_or(0))
        .bind(body_id.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(box_from_row).collect()
    }

    /// Deletes a box. Refused while call records from it are stored.
    pub async fn delete_box(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM boxes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("call records from this box are stored"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("box"));
        }
        Ok(())
    }

    /// Records what a box reported about itself at `now`.
    pub async fn report_box_status(&self, box_id: i64, report: &BoxStatusReport, now: i64) -> Result<BoxInfo> {
        if report.survival_secs_add < 0 {
            return Err(StoreError::Invalid("survival_secs_add must not be negative".into()));
        }
        if let Some(v) = &report.firmware_version {
            check_name("firmware_version", v)?;
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE boxes SET online = $1, last_seen_at = $2, survival_secs = survival_secs + $3, \
                 firmware_version = COALESCE($4, firmware_version) WHERE id = $5",
        )
        .bind(i64::from(report.online))
        .bind(now)
        .bind(report.survival_secs_add)
        .bind(report.firmware_version.clone())
        .bind(box_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("box"));
        }
        let info = box_in(&mut tx, box_id).await?;
        tx.commit().await?;
        Ok(info)
    }

    /// Stores a batch of call records uploaded by a box, each exactly once, rated as it is
    /// stored, and returns the box's new high-water mark: the highest `seq` such that every
    /// record `1..=seq` is stored. The box may drop its journal up to that mark.
    ///
    /// Re-sending records already stored (a whole batch twice, or a batch whose first half got
    /// through before the link broke) stores nothing new: `UNIQUE (box_id, box_seq)` with
    /// `ON CONFLICT DO NOTHING`. A batch with an invalid record is refused whole. The batch is
    /// one transaction: it is stored completely or not at all.
    pub async fn ingest_box_records(&self, box_id: i64, batch: &[BoxCallRecord], now: i64) -> Result<i64> {
        if batch.len() > self.opts.max_batch {
            return Err(StoreError::Invalid(format!("at most {} records per batch", self.opts.max_batch)));
        }
        for r in batch {
            if r.seq < 1 {
                return Err(StoreError::Invalid(format!("record seq {} must be at least 1", r.seq)));
            }
            super::records::check_call(&r.call).map_err(|e| match e {
                StoreError::Invalid(m) => StoreError::Invalid(format!("record seq {}: {m}", r.seq)),
                other => other,
            })?;
        }
        let mut tx = self.pool.begin().await?;
        let info = box_in(&mut tx, box_id).await?;
        let tariffs = load_tariffs(&mut tx).await?;
        for r in batch {
            insert_record(&mut tx, &self.opts.plan, &tariffs, info.site_id, Some((box_id, r.seq)), &r.call, now)
                .await?;
        }
        let acked = advance_acked(&mut tx, box_id).await?;
        tx.commit().await?;
        Ok(acked)
    }
}

// ---- the box link -------------------------------------------------------------------------

impl Store {
    /// Every site's configuration version, by site id (what the box link polls).
    pub async fn site_config_versions(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT id, config_version FROM sites ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((col(r, "id")?, col(r, "config_version")?))).collect()
    }

    /// A site's configuration for its boxes. The version is read first: a change made while
    /// the rest is read bumps it again, so the next push carries that change.
    pub async fn site_config(&self, site_id: i64) -> Result<SiteConfig> {
        let mut conn = self.pool.acquire().await?;
        let site = sqlx::query("SELECT code, config_version FROM sites WHERE id = $1")
            .bind(site_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound("site"))?;
        let extensions = sqlx::query(
            "SELECT number, sip_username, display_name, ha1_md5, ha1_sha256 FROM extensions \
             WHERE site_id = $1 ORDER BY number",
        )
        .bind(site_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(SiteConfigExtension {
                number: col(r, "number")?,
                sip_username: col(r, "sip_username")?,
                display_name: col(r, "display_name")?,
                ha1_md5: col(r, "ha1_md5")?,
                ha1_sha256: col(r, "ha1_sha256")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let groups = sqlx::query("SELECT id, number, timeout_secs FROM ring_groups WHERE site_id = $1 ORDER BY number")
            .bind(site_id)
            .fetch_all(&mut *conn)
            .await?;
        let mut ring_groups = Vec::with_capacity(groups.len());
        for g in &groups {
            let id: i64 = col(g, "id")?;
            let members = sqlx::query(
                "SELECT e.number AS number FROM ring_group_members m JOIN extensions e ON e.id = m.extension_id \
                 WHERE m.ring_group_id = $1 ORDER BY m.position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| col(r, "number"))
            .collect::<Result<Vec<String>>>()?;
            ring_groups.push(SiteConfigRingGroup {
                number: col(g, "number")?,
                members,
                timeout_secs: col(g, "timeout_secs")?,
            });
        }
        let fallback_trunk = super::directory::fallback_trunk_in(&mut conn, site_id).await?.map(|(spec, _)| spec);
        Ok(SiteConfig {
            version: col(&site, "config_version")?,
            site_code: col(&site, "code")?,
            extensions,
            ring_groups,
            fallback_trunk,
        })
    }

    /// Records a status report from a box's control link at `now`: online, last seen, mode,
    /// firmware, and the survival time since the previous report. The box counts survival since
    /// its boot; the store keeps the last counters it got, so a report repeated over a new
    /// connection adds nothing, and a lower uptime (a reboot) starts counting afresh.
    pub async fn record_box_report(&self, box_id: i64, report: &BoxLinkReport, now: i64) -> Result<BoxInfo> {
        if report.uptime_secs < 0 || report.survival_secs < 0 {
            return Err(StoreError::Invalid("counters must not be negative".into()));
        }
        check_name("firmware_version", &report.firmware_version)?;
        check_name("mode", &report.mode)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT boot_uptime_secs, boot_survival_secs FROM boxes WHERE id = $1")
            .bind(box_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("box"))?;
        let (up, surv): (i64, i64) = (col(&row, "boot_uptime_secs")?, col(&row, "boot_survival_secs")?);
        let same_boot = report.uptime_secs >= up && report.survival_secs >= surv;
        let add = if same_boot { report.survival_secs - surv } else { report.survival_secs };
        sqlx::query(
            "UPDATE boxes SET online = 1, last_seen_at = $1, survival_secs = survival_secs + $2, \
                 firmware_version = $3, mode = $4, boot_uptime_secs = $5, boot_survival_secs = $6 \
             WHERE id = $7",
        )
        .bind(now)
        .bind(add)
        .bind(report.firmware_version.clone())
        .bind(report.mode.clone())
        .bind(report.uptime_secs)
        .bind(report.survival_secs)
        .bind(box_id)
        .execute(&mut *tx)
        .await?;
        let info = box_in(&mut tx, box_id).await?;
        tx.commit().await?;
        Ok(info)
    }

    /// Records what a box did with a configuration: `Ok(version)` applied (clears a previous
    /// rejection), `Err(why)` not applied (the applied version stays).
    pub async fn record_box_config(&self, box_id: i64, outcome: std::result::Result<i64, String>) -> Result<()> {
        let q = match outcome {
            Ok(v) => sqlx::query("UPDATE boxes SET config_applied_version = $1, config_rejection = NULL WHERE id = $2")
                .bind(v)
                .bind(box_id),
            Err(why) => sqlx::query("UPDATE boxes SET config_rejection = $1 WHERE id = $2").bind(why).bind(box_id),
        };
        if q.execute(&self.pool).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound("box"));
        }
        Ok(())
    }
}

/// Moves a box's `acked_seq` up over every contiguous stored sequence number.
async fn advance_acked(conn: &mut AnyConnection, box_id: i64) -> Result<i64> {
    let row = sqlx::query("SELECT acked_seq FROM boxes WHERE id = $1").bind(box_id).fetch_one(&mut *conn).await?;
    let mut acked: i64 = col(&row, "acked_seq")?;
    let seqs = sqlx::query("SELECT box_seq FROM call_records WHERE box_id = $1 AND box_seq > $2 ORDER BY box_seq")
        .bind(box_id)
        .bind(acked)
        .fetch_all(&mut *conn)
        .await?;
    let start = acked;
    for row in &seqs {
        let seq: i64 = col(row, "box_seq")?;
        if seq != acked + 1 {
            break;
        }
        acked = seq;
    }
    if acked != start {
        sqlx::query("UPDATE boxes SET acked_seq = $1 WHERE id = $2 AND acked_seq < $1")
            .bind(acked)
            .bind(box_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(acked)
}
