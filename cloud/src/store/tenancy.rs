//! Tenants: organising bodies, their API tokens, and their sites.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::{check_name, col, Result, Store, StoreError};
use crate::model::{Body, BodyToken, IssuedBodyToken, NewSite, Site, SiteKind, SitePatch};
use crate::secrets;

fn body_from_row(row: &AnyRow) -> Result<Body> {
    Ok(Body { id: col(row, "id")?, name: col(row, "name")?, created_at: col(row, "created_at")? })
}

fn token_from_row(row: &AnyRow) -> Result<BodyToken> {
    Ok(BodyToken {
        id: col(row, "id")?,
        body_id: col(row, "body_id")?,
        label: col(row, "label")?,
        created_at: col(row, "created_at")?,
    })
}

const SITE_COLS: &str = "id, body_id, name, code, kind, created_at";

pub(crate) fn site_from_row(row: &AnyRow) -> Result<Site> {
    let kind: String = col(row, "kind")?;
    Ok(Site {
        id: col(row, "id")?,
        body_id: col(row, "body_id")?,
        name: col(row, "name")?,
        code: col(row, "code")?,
        kind: SiteKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("site kind {kind}")))?,
        created_at: col(row, "created_at")?,
    })
}

fn check_site_code(code: &str, len: usize) -> Result<()> {
    if code.len() != len || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Invalid(format!("site code must be exactly {len} digits")));
    }
    Ok(())
}

/// Loads a site inside a connection or transaction.
pub(crate) async fn site_in(conn: &mut AnyConnection, id: i64) -> Result<Site> {
    let row = sqlx::query(&format!("SELECT {SITE_COLS} FROM sites WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("site"))?;
    site_from_row(&row)
}

impl Store {
    /// Creates an organising body.
    pub async fn create_body(&self, name: &str, now: i64) -> Result<Body> {
        check_name("name", name)?;
        let row = sqlx::query(
            "INSERT INTO organising_bodies (name, created_at) VALUES ($1, $2) \
             RETURNING id, name, created_at",
        )
        .bind(name.trim().to_owned())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("an organising body with this name exists"))?;
        body_from_row(&row)
    }

    /// One organising body.
    pub async fn get_body(&self, id: i64) -> Result<Body> {
        let row = sqlx::query("SELECT id, name, created_at FROM organising_bodies WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("organising body"))?;
        body_from_row(&row)
    }

    /// Every organising body, by id.
    pub async fn list_bodies(&self) -> Result<Vec<Body>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM organising_bodies ORDER BY id")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(body_from_row).collect()
    }

    /// Renames an organising body.
    pub async fn rename_body(&self, id: i64, name: &str) -> Result<Body> {
        check_name("name", name)?;
        let row = sqlx::query("UPDATE organising_bodies SET name = $1 WHERE id = $2 RETURNING id, name, created_at")
            .bind(name.trim().to_owned())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("an organising body with this name exists"))?
            .ok_or(StoreError::NotFound("organising body"))?;
        body_from_row(&row)
    }

    /// Deletes an organising body that has no sites left (its tokens go with it).
    pub async fn delete_body(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM organising_bodies WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("the organising body still has sites"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("organising body"));
        }
        Ok(())
    }

    /// Issues an API token for a body. The token is returned here only; the store keeps its hash.
    pub async fn issue_body_token(&self, body_id: i64, label: &str, now: i64) -> Result<IssuedBodyToken> {
        check_name("label", label)?;
        self.get_body(body_id).await?;
        let token = secrets::new_token("cb_");
        let row = sqlx::query(
            "INSERT INTO body_tokens (body_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, body_id, label, created_at",
        )
        .bind(body_id)
        .bind(label.trim().to_owned())
        .bind(secrets::token_hash(&token))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(IssuedBodyToken { meta: token_from_row(&row)?, token })
    }

    /// The tokens of a body (without secrets).
    pub async fn list_body_tokens(&self, body_id: i64) -> Result<Vec<BodyToken>> {
        self.get_body(body_id).await?;
        let rows = sqlx::query("SELECT id, body_id, label, created_at FROM body_tokens WHERE body_id = $1 ORDER BY id")
            .bind(body_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes one token of a body.
    pub async fn revoke_body_token(&self, body_id: i64, token_id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM body_tokens WHERE id = $1 AND body_id = $2")
            .bind(token_id)
            .bind(body_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }

    /// The body a bearer token acts for, if it is a live body token.
    pub async fn body_for_token(&self, token: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT body_id FROM body_tokens WHERE token_hash = $1")
            .bind(secrets::token_hash(token))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| col(&r, "body_id")).transpose()
    }

    /// Creates a site under `body_id` (which must exist).
    pub async fn create_site(&self, body_id: i64, new: &NewSite, now: i64) -> Result<Site> {
        check_name("name", &new.name)?;
        check_site_code(&new.code, self.opts.plan.site_code_len)?;
        self.get_body(body_id).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO sites (body_id, name, code, kind, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {SITE_COLS}"
        ))
        .bind(body_id)
        .bind(new.name.trim().to_owned())
        .bind(new.code.clone())
        .bind(new.kind.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from(e).conflict_as(format!("site code {} is taken", new.code)))?;
        site_from_row(&row)
    }

    /// One site.
    pub async fn get_site(&self, id: i64) -> Result<Site> {
        let mut conn = self.reader().acquire().await?;
        site_in(&mut conn, id).await
    }

    /// The site with a site code (how on-net numbers are routed).
    pub async fn site_by_code(&self, code: &str) -> Result<Site> {
        let row = sqlx::query(&format!("SELECT {SITE_COLS} FROM sites WHERE code = $1"))
            .bind(code.to_owned())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("site"))?;
        site_from_row(&row)
    }

    /// Sites by id, all or those of one body.
    pub async fn list_sites(&self, body_id: Option<i64>) -> Result<Vec<Site>> {
        let rows = match body_id {
            Some(b) => {
                sqlx::query(&format!("SELECT {SITE_COLS} FROM sites WHERE body_id = $1 ORDER BY id"))
                    .bind(b)
                    .fetch_all(self.reader())
                    .await?
            }
            None => sqlx::query(&format!("SELECT {SITE_COLS} FROM sites ORDER BY id")).fetch_all(self.reader()).await?,
        };
        rows.iter().map(site_from_row).collect()
    }

    /// Changes a site's name, code or kind.
    pub async fn update_site(&self, id: i64, patch: &SitePatch) -> Result<Site> {
        let mut tx = self.pool.begin().await?;
        let mut site = site_in(&mut tx, id).await?;
        if let Some(name) = &patch.name {
            check_name("name", name)?;
            site.name = name.trim().to_owned();
        }
        if let Some(code) = &patch.code {
            check_site_code(code, self.opts.plan.site_code_len)?;
            site.code = code.clone();
        }
        if let Some(kind) = patch.kind {
            site.kind = kind;
        }
        sqlx::query("UPDATE sites SET name = $1, code = $2, kind = $3 WHERE id = $4")
            .bind(site.name.clone())
            .bind(site.code.clone())
            .bind(site.kind.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as(format!("site code {} is taken", site.code)))?;
        // The site code is part of the boxes' configuration.
        super::directory::bump_config_version(&mut tx, id).await?;
        tx.commit().await?;
        Ok(site)
    }

    /// Deletes a site with its directory. Refused (conflict) while it has boxes or call records:
    /// records are never lost.
    pub async fn delete_site(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("the site still has boxes or call records"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("site"));
        }
        Ok(())
    }
}
