//! A site's directory: extensions (with their SIP credentials), ring groups and DIDs.
//!
//! Extension and ring-group numbers share one namespace per site; the store checks it in the
//! same transaction as the write, and the dial plan decides which numbers are allowed.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::tenancy::site_in;
use super::{check_name, col, Result, Store, StoreError};
use crate::model::{
    CreatedExtension, Did, DidTarget, Extension, ExtensionPatch, FallbackTrunk, FallbackTrunkSpec, NewDid,
    NewExtension, NewRingGroup, RingGroup, RingGroupPatch, SipCredential,
};
use crate::secrets;

const EXT_COLS: &str = "id, site_id, number, sip_username, display_name, created_at";
const RG_COLS: &str = "id, site_id, number, name, timeout_secs, created_at";
const DID_COLS: &str = "id, number, site_id, extension_id, ring_group_id, created_at";

fn extension_from_row(row: &AnyRow) -> Result<Extension> {
    Ok(Extension {
        id: col(row, "id")?,
        site_id: col(row, "site_id")?,
        number: col(row, "number")?,
        sip_username: col(row, "sip_username")?,
        display_name: col(row, "display_name")?,
        created_at: col(row, "created_at")?,
    })
}

fn did_from_row(row: &AnyRow) -> Result<Did> {
    let ext: Option<i64> = col(row, "extension_id")?;
    let rg: Option<i64> = col(row, "ring_group_id")?;
    let target = match (ext, rg) {
        (Some(e), None) => DidTarget::Extension(e),
        (None, Some(g)) => DidTarget::RingGroup(g),
        _ => return Err(StoreError::Corrupt("did target".into())),
    };
    Ok(Did {
        id: col(row, "id")?,
        number: col(row, "number")?,
        site_id: col(row, "site_id")?,
        target,
        created_at: col(row, "created_at")?,
    })
}

fn check_sip_username(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(StoreError::Invalid(
            "sip_username must be 1 to 64 characters of letters, digits, '.', '_' or '-'".into(),
        ));
    }
    Ok(())
}

fn check_timeout(secs: i64) -> Result<()> {
    if !(1..=600).contains(&secs) {
        return Err(StoreError::Invalid("timeout_secs must be 1 to 600".into()));
    }
    Ok(())
}

fn check_did_number(number: &str) -> Result<()> {
    let digits = number.strip_prefix('+').unwrap_or("");
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Invalid("DID number must be '+' and 6 to 15 digits (E.164)".into()));
    }
    Ok(())
}

/// Fails if `number` is already used in the site by an extension or a ring group other than
/// the one being changed.
async fn check_number_free(
    conn: &mut AnyConnection,
    site_id: i64,
    number: &str,
    except_ext: i64,
    except_rg: i64,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM extensions WHERE site_id = $1 AND number = $2 AND id <> $3) \
              + (SELECT COUNT(*) FROM ring_groups WHERE site_id = $1 AND number = $2 AND id <> $4) AS n",
    )
    .bind(site_id)
    .bind(number.to_owned())
    .bind(except_ext)
    .bind(except_rg)
    .fetch_one(&mut *conn)
    .await?;
    let n: i64 = col(&row, "n")?;
    if n > 0 {
        return Err(StoreError::Conflict(format!("number {number} is already used in this site")));
    }
    Ok(())
}

async fn extension_in(conn: &mut AnyConnection, id: i64) -> Result<Extension> {
    let row = sqlx::query(&format!("SELECT {EXT_COLS} FROM extensions WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("extension"))?;
    extension_from_row(&row)
}

async fn ring_group_in(conn: &mut AnyConnection, id: i64) -> Result<RingGroup> {
    let row = sqlx::query(&format!("SELECT {RG_COLS} FROM ring_groups WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("ring group"))?;
    let members = sqlx::query("SELECT extension_id FROM ring_group_members WHERE ring_group_id = $1 ORDER BY position")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| col(r, "extension_id"))
        .collect::<Result<Vec<i64>>>()?;
    Ok(RingGroup {
        id: col(&row, "id")?,
        site_id: col(&row, "site_id")?,
        number: col(&row, "number")?,
        name: col(&row, "name")?,
        timeout_secs: col(&row, "timeout_secs")?,
        members,
        created_at: col(&row, "created_at")?,
    })
}

/// Replaces a ring group's members, checking each is a distinct extension of `site_id`.
async fn set_members(conn: &mut AnyConnection, rg: i64, site_id: i64, members: &[i64]) -> Result<()> {
    for (i, m) in members.iter().enumerate() {
        if members[..i].contains(m) {
            return Err(StoreError::Invalid(format!("extension {m} is listed twice")));
        }
        let ext = extension_in(conn, *m).await;
        match ext {
            Ok(e) if e.site_id == site_id => {}
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(StoreError::Invalid(format!("extension {m} is not in this site")))
            }
            Err(e) => return Err(e),
        }
    }
    sqlx::query("DELETE FROM ring_group_members WHERE ring_group_id = $1").bind(rg).execute(&mut *conn).await?;
    for (pos, m) in (0_i64..).zip(members) {
        sqlx::query("INSERT INTO ring_group_members (ring_group_id, extension_id, position) VALUES ($1, $2, $3)")
            .bind(rg)
            .bind(*m)
            .bind(pos)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Checks that a DID target is an extension or ring group of `site_id`.
async fn check_target(conn: &mut AnyConnection, site_id: i64, target: DidTarget) -> Result<()> {
    let owner = match target {
        DidTarget::Extension(id) => extension_in(conn, id).await.map(|e| e.site_id),
        DidTarget::RingGroup(id) => ring_group_in(conn, id).await.map(|g| g.site_id),
    };
    match owner {
        Ok(s) if s == site_id => Ok(()),
        Ok(_) | Err(StoreError::NotFound(_)) => {
            Err(StoreError::Invalid("the DID target is not in the DID's site".into()))
        }
        Err(e) => Err(e),
    }
}

/// Marks a change of a site's directory: its boxes get the new configuration (the box link
/// watches `sites.config_version`). Called in the transaction of every directory write.
pub(crate) async fn bump_config_version(conn: &mut AnyConnection, site_id: i64) -> Result<()> {
    sqlx::query("UPDATE sites SET config_version = config_version + 1 WHERE id = $1")
        .bind(site_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn split_target(target: DidTarget) -> (Option<i64>, Option<i64>) {
    match target {
        DidTarget::Extension(e) => (Some(e), None),
        DidTarget::RingGroup(g) => (None, Some(g)),
    }
}

impl Store {
    /// Creates an extension with a fresh SIP password, returned here only: the store keeps the
    /// HA1 values for the deployment's realm.
    pub async fn create_extension(&self, site_id: i64, new: &NewExtension, now: i64) -> Result<CreatedExtension> {
        check_name("display_name", &new.display_name)?;
        self.opts.plan.check_internal_number(&new.number).map_err(StoreError::Invalid)?;
        let mut tx = self.pool.begin().await?;
        let site = site_in(&mut tx, site_id).await?;
        let username = new.sip_username.clone().unwrap_or_else(|| format!("{}-{}", site.code, new.number));
        check_sip_username(&username)?;
        check_number_free(&mut tx, site_id, &new.number, 0, 0).await?;
        let password = secrets::new_sip_password();
        let realm = &self.opts.realm;
        let row = sqlx::query(&format!(
            "INSERT INTO extensions (site_id, number, sip_username, display_name, ha1_md5, ha1_sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {EXT_COLS}"
        ))
        .bind(site_id)
        .bind(new.number.clone())
        .bind(username.clone())
        .bind(new.display_name.trim().to_owned())
        .bind(secrets::ha1_md5(&username, realm, &password))
        .bind(secrets::ha1_sha256(&username, realm, &password))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as(format!("sip_username {username} is taken")))?;
        let extension = extension_from_row(&row)?;
        bump_config_version(&mut tx, site_id).await?;
        tx.commit().await?;
        Ok(CreatedExtension { extension, sip_password: password })
    }

    /// One extension.
    pub async fn get_extension(&self, id: i64) -> Result<Extension> {
        let mut conn = self.reader().acquire().await?;
        extension_in(&mut conn, id).await
    }

    /// The extensions of a site, by number.
    pub async fn list_extensions(&self, site_id: i64) -> Result<Vec<Extension>> {
        let rows = sqlx::query(&format!("SELECT {EXT_COLS} FROM extensions WHERE site_id = $1 ORDER BY number"))
            .bind(site_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(extension_from_row).collect()
    }

    /// Changes an extension's number or display name.
    pub async fn update_extension(&self, id: i64, patch: &ExtensionPatch) -> Result<Extension> {
        let mut tx = self.pool.begin().await?;
        let mut ext = extension_in(&mut tx, id).await?;
        if let Some(number) = &patch.number {
            self.opts.plan.check_internal_number(number).map_err(StoreError::Invalid)?;
            check_number_free(&mut tx, ext.site_id, number, id, 0).await?;
            ext.number = number.clone();
        }
        if let Some(name) = &patch.display_name {
            check_name("display_name", name)?;
            ext.display_name = name.trim().to_owned();
        }
        sqlx::query("UPDATE extensions SET number = $1, display_name = $2 WHERE id = $3")
            .bind(ext.number.clone())
            .bind(ext.display_name.clone())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("number already used in this site"))?;
        bump_config_version(&mut tx, ext.site_id).await?;
        tx.commit().await?;
        Ok(ext)
    }

    /// Gives an extension a new SIP password, returned here only.
    pub async fn reset_extension_password(&self, id: i64) -> Result<CreatedExtension> {
        let mut tx = self.pool.begin().await?;
        let extension = extension_in(&mut tx, id).await?;
        let password = secrets::new_sip_password();
        let realm = &self.opts.realm;
        sqlx::query("UPDATE extensions SET ha1_md5 = $1, ha1_sha256 = $2 WHERE id = $3")
            .bind(secrets::ha1_md5(&extension.sip_username, realm, &password))
            .bind(secrets::ha1_sha256(&extension.sip_username, realm, &password))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        bump_config_version(&mut tx, extension.site_id).await?;
        tx.commit().await?;
        Ok(CreatedExtension { extension, sip_password: password })
    }

    /// Deletes an extension (it leaves its ring groups). Refused while a DID points at it.
    pub async fn delete_extension(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let extension = extension_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM extensions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("a DID still points at this extension"))?;
        bump_config_version(&mut tx, extension.site_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a registrar needs to check a digest response from `username`.
    pub async fn sip_credential(&self, username: &str) -> Result<SipCredential> {
        let row =
            sqlx::query(&format!("SELECT {EXT_COLS}, ha1_md5, ha1_sha256 FROM extensions WHERE sip_username = $1"))
                .bind(username.to_owned())
                .fetch_optional(self.reader())
                .await?
                .ok_or(StoreError::NotFound("extension"))?;
        Ok(SipCredential {
            extension: extension_from_row(&row)?,
            realm: self.opts.realm.clone(),
            ha1_md5: col(&row, "ha1_md5")?,
            ha1_sha256: col(&row, "ha1_sha256")?,
        })
    }

    /// Creates a ring group of extensions of the same site.
    pub async fn create_ring_group(&self, site_id: i64, new: &NewRingGroup, now: i64) -> Result<RingGroup> {
        check_name("name", &new.name)?;
        check_timeout(new.timeout_secs)?;
        self.opts.plan.check_internal_number(&new.number).map_err(StoreError::Invalid)?;
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, site_id).await?;
        check_number_free(&mut tx, site_id, &new.number, 0, 0).await?;
        let row = sqlx::query(
            "INSERT INTO ring_groups (site_id, number, name, timeout_secs, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(site_id)
        .bind(new.number.clone())
        .bind(new.name.trim().to_owned())
        .bind(new.timeout_secs)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as("number already used in this site"))?;
        let id: i64 = col(&row, "id")?;
        set_members(&mut tx, id, site_id, &new.members).await?;
        let group = ring_group_in(&mut tx, id).await?;
        bump_config_version(&mut tx, site_id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// One ring group with its members.
    pub async fn get_ring_group(&self, id: i64) -> Result<RingGroup> {
        let mut conn = self.reader().acquire().await?;
        ring_group_in(&mut conn, id).await
    }

    /// The ring groups of a site, by number.
    pub async fn list_ring_groups(&self, site_id: i64) -> Result<Vec<RingGroup>> {
        let mut conn = self.reader().acquire().await?;
        let ids = sqlx::query("SELECT id FROM ring_groups WHERE site_id = $1 ORDER BY number")
            .bind(site_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| col(r, "id"))
            .collect::<Result<Vec<i64>>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(ring_group_in(&mut conn, id).await?);
        }
        Ok(out)
    }

    /// Changes a ring group.
    pub async fn update_ring_group(&self, id: i64, patch: &RingGroupPatch) -> Result<RingGroup> {
        let mut tx = self.pool.begin().await?;
        let mut group = ring_group_in(&mut tx, id).await?;
        if let Some(number) = &patch.number {
            self.opts.plan.check_internal_number(number).map_err(StoreError::Invalid)?;
            check_number_free(&mut tx, group.site_id, number, 0, id).await?;
            group.number = number.clone();
        }
        if let Some(name) = &patch.name {
            check_name("name", name)?;
            group.name = name.trim().to_owned();
        }
        if let Some(t) = patch.timeout_secs {
            check_timeout(t)?;
            group.timeout_secs = t;
        }
        sqlx::query("UPDATE ring_groups SET number = $1, name = $2, timeout_secs = $3 WHERE id = $4")
            .bind(group.number.clone())
            .bind(group.name.clone())
            .bind(group.timeout_secs)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("number already used in this site"))?;
        if let Some(members) = &patch.members {
            set_members(&mut tx, id, group.site_id, members).await?;
        }
        let group = ring_group_in(&mut tx, id).await?;
        bump_config_version(&mut tx, group.site_id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Deletes a ring group. Refused while a DID points at it.
    pub async fn delete_ring_group(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let group = ring_group_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM ring_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from(e).conflict_as("a DID still points at this ring group"))?;
        bump_config_version(&mut tx, group.site_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Routes a public number to an extension or ring group of a site.
    pub async fn create_did(&self, new: &NewDid, now: i64) -> Result<Did> {
        check_did_number(&new.number)?;
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, new.site_id).await?;
        check_target(&mut tx, new.site_id, new.target).await?;
        let (ext, rg) = split_target(new.target);
        let row = sqlx::query(&format!(
            "INSERT INTO dids (number, site_id, extension_id, ring_group_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {DID_COLS}"
        ))
        .bind(new.number.clone())
        .bind(new.site_id)
        .bind(ext)
        .bind(rg)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).conflict_as(format!("DID {} exists", new.number)))?;
        let did = did_from_row(&row)?;
        bump_config_version(&mut tx, did.site_id).await?;
        tx.commit().await?;
        Ok(did)
    }

    /// One DID.
    pub async fn get_did(&self, id: i64) -> Result<Did> {
        let mut conn = self.reader().acquire().await?;
        self.get_did_in(&mut conn, id).await
    }

    async fn get_did_in(&self, conn: &mut AnyConnection, id: i64) -> Result<Did> {
        let row = sqlx::query(&format!("SELECT {DID_COLS} FROM dids WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound("DID"))?;
        did_from_row(&row)
    }

    /// The DID for a public number (how inbound calls are routed).
    pub async fn did_by_number(&self, number: &str) -> Result<Did> {
        let row = sqlx::query(&format!("SELECT {DID_COLS} FROM dids WHERE number = $1"))
            .bind(number.to_owned())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("DID"))?;
        did_from_row(&row)
    }

    /// DIDs by number: all, of one site, or of the sites of one body.
    pub async fn list_dids(&self, site_id: Option<i64>, body_id: Option<i64>) -> Result<Vec<Did>> {
        let rows = sqlx::query(&format!(
            "SELECT {DID_COLS} FROM dids \
             WHERE ($1 = 0 OR site_id = $1) \
               AND ($2 = 0 OR site_id IN (SELECT id FROM sites WHERE body_id = $2)) \
             ORDER BY number"
        ))
        .bind(site_id.unwrap_or(0))
        .bind(body_id.unwrap_or(0))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(did_from_row).collect()
    }

    /// Points a DID at another extension or ring group of its site.
    pub async fn retarget_did(&self, id: i64, target: DidTarget) -> Result<Did> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT {DID_COLS} FROM dids WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("DID"))?;
        let mut did = did_from_row(&row)?;
        check_target(&mut tx, did.site_id, target).await?;
        let (ext, rg) = split_target(target);
        sqlx::query("UPDATE dids SET extension_id = $1, ring_group_id = $2 WHERE id = $3")
            .bind(ext)
            .bind(rg)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        bump_config_version(&mut tx, did.site_id).await?;
        tx.commit().await?;
        did.target = target;
        Ok(did)
    }

    /// Removes a DID.
    pub async fn delete_did(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let did = self.get_did_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM dids WHERE id = $1").bind(id).execute(&mut *tx).await?;
        bump_config_version(&mut tx, did.site_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What an internal number of a site reaches (how the switch routes a dialled extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteNumber {
    /// One extension.
    Extension(Extension),
    /// A ring group.
    RingGroup(RingGroup),
}

impl Store {
    /// The extension or ring group that `number` names inside a site, if any.
    pub async fn number_in_site(&self, site_id: i64, number: &str) -> Result<Option<SiteNumber>> {
        let mut conn = self.reader().acquire().await?;
        let ext = sqlx::query(&format!("SELECT {EXT_COLS} FROM extensions WHERE site_id = $1 AND number = $2"))
            .bind(site_id)
            .bind(number.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = ext {
            return Ok(Some(SiteNumber::Extension(extension_from_row(&row)?)));
        }
        let rg = sqlx::query("SELECT id FROM ring_groups WHERE site_id = $1 AND number = $2")
            .bind(site_id)
            .bind(number.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
        match rg {
            Some(row) => Ok(Some(SiteNumber::RingGroup(ring_group_in(&mut conn, col(&row, "id")?).await?))),
            None => Ok(None),
        }
    }

    /// A site's public number for caller id on the public network: the lowest of its DIDs
    /// that rings a ring group (the main number), else its lowest DID.
    pub async fn site_public_number(&self, site_id: i64) -> Result<Option<String>> {
        let dids = self.list_dids(Some(site_id), None).await?;
        let main = dids.iter().find(|d| matches!(d.target, DidTarget::RingGroup(_))).or(dids.first());
        Ok(main.map(|d| d.number.clone()))
    }
}

/// A site's fallback trunk (spec with the password, and the API's view), if it has one.
pub(crate) async fn fallback_trunk_in(
    conn: &mut AnyConnection,
    site_id: i64,
) -> Result<Option<(FallbackTrunkSpec, FallbackTrunk)>> {
    let row = sqlx::query("SELECT host, port, username, password, updated_at FROM fallback_trunks WHERE site_id = $1")
        .bind(site_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let port: i64 = col(&row, "port")?;
    let port = u16::try_from(port).map_err(|_| StoreError::Corrupt(format!("fallback trunk port {port}")))?;
    let spec = FallbackTrunkSpec {
        host: col(&row, "host")?,
        port,
        username: col(&row, "username")?,
        password: col(&row, "password")?,
    };
    let view = FallbackTrunk {
        site_id,
        host: spec.host.clone(),
        port,
        username: spec.username.clone(),
        has_password: spec.password.is_some(),
        updated_at: col(&row, "updated_at")?,
    };
    Ok(Some((spec, view)))
}

/// Checks a fallback trunk against what the box can use and the control link can carry.
fn check_fallback_trunk(t: &FallbackTrunkSpec) -> Result<()> {
    use carillon_protocol::control::{MAX_HOST_LEN, MAX_PASSWORD_LEN, MAX_USERNAME_LEN};
    if t.host.len() > MAX_HOST_LEN || t.host.parse::<std::net::IpAddr>().is_err() {
        return Err(StoreError::Invalid("host must be an IP address (the box resolves no names in survival)".into()));
    }
    if t.port == 0 {
        return Err(StoreError::Invalid("port must be 1 to 65535".into()));
    }
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    match (&t.username, &t.password) {
        (None, None) => Ok(()),
        (Some(u), Some(p)) => {
            if u.len() > MAX_USERNAME_LEN || !printable(u) {
                return Err(StoreError::Invalid(format!(
                    "username must be 1 to {MAX_USERNAME_LEN} printable ASCII characters"
                )));
            }
            if p.len() > MAX_PASSWORD_LEN || !printable(p) {
                return Err(StoreError::Invalid(format!(
                    "password must be 1 to {MAX_PASSWORD_LEN} printable ASCII characters"
                )));
            }
            Ok(())
        }
        _ => Err(StoreError::Invalid("username and password go together".into())),
    }
}

impl Store {
    /// Sets (or replaces) a site's fallback trunk; its boxes get it with their next
    /// configuration push (the site's configuration version is bumped).
    pub async fn set_fallback_trunk(&self, site_id: i64, t: &FallbackTrunkSpec, now: i64) -> Result<FallbackTrunk> {
        check_fallback_trunk(t)?;
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, site_id).await?;
        sqlx::query(
            "INSERT INTO fallback_trunks (site_id, host, port, username, password, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (site_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                 username = excluded.username, password = excluded.password, updated_at = excluded.updated_at",
        )
        .bind(site_id)
        .bind(t.host.clone())
        .bind(i64::from(t.port))
        .bind(t.username.clone())
        .bind(t.password.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        bump_config_version(&mut tx, site_id).await?;
        let view = fallback_trunk_in(&mut tx, site_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("fallback trunk not found after its write".into()))?
            .1;
        tx.commit().await?;
        Ok(view)
    }

    /// A site's fallback trunk (without its password).
    pub async fn get_fallback_trunk(&self, site_id: i64) -> Result<FallbackTrunk> {
        let mut conn = self.reader().acquire().await?;
        site_in(&mut conn, site_id).await?;
        fallback_trunk_in(&mut conn, site_id).await?.map(|t| t.1).ok_or(StoreError::NotFound("fallback trunk"))
    }

    /// Removes a site's fallback trunk (its boxes are told at the next push).
    pub async fn delete_fallback_trunk(&self, site_id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        site_in(&mut tx, site_id).await?;
        let done =
            sqlx::query("DELETE FROM fallback_trunks WHERE site_id = $1").bind(site_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("fallback trunk"));
        }
        bump_config_version(&mut tx, site_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
