//! Several cloud nodes on one database: node leases, the registry of which node holds an
//! extension's bindings (`presence`), and which node holds a box's control link.
//!
//! A node's rows count only while its lease (`nodes.lease_until`) is in the future: a node
//! that dies stops renewing it, and within one lease the others stop routing to it. Nothing
//! here is written by a single-node deployment.

use super::{col, Result, Store};

/// Another node that holds live bindings of an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePresence {
    /// The node's id.
    pub node_id: String,
    /// Its SIP address, as it published it (`IP:port`, TCP).
    pub sip_addr: String,
}

impl Store {
    /// Starts or renews `node_id`'s lease until `lease_until`, with its SIP address.
    pub async fn node_heartbeat(&self, node_id: &str, sip_addr: &str, lease_until: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (node_id, sip_addr, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (node_id) DO UPDATE SET sip_addr = excluded.sip_addr, lease_until = excluded.lease_until",
        )
        .bind(node_id)
        .bind(sip_addr)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets everything `node_id` published (its presence rows and box attachments); with
    /// `lease` also its lease (a graceful stop). Called at start too: a restarted node holds
    /// no binding yet.
    pub async fn node_forget(&self, node_id: &str, lease: bool) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM presence WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM box_attachments WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
        if lease {
            sqlx::query("DELETE FROM nodes WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `node_id` holds bindings of `username` until `expires_at`.
    pub async fn presence_set(&self, username: &str, node_id: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO presence (username, node_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username, node_id) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(username)
        .bind(node_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes several registry rows of `node_id` in one transaction: `Some(expires_at)` sets a
    /// user's row, `None` removes it.
    pub async fn presence_publish(&self, node_id: &str, rows: &[(String, Option<i64>)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (username, expires_at) in rows {
            match expires_at {
                Some(exp) => {
                    sqlx::query(
                        "INSERT INTO presence (username, node_id, expires_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (username, node_id) DO UPDATE SET expires_at = excluded.expires_at",
                    )
                    .bind(username.clone())
                    .bind(node_id)
                    .bind(*exp)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM presence WHERE username = $1 AND node_id = $2")
                        .bind(username.clone())
                        .bind(node_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `node_id` holds no binding of `username` any more.
    pub async fn presence_clear(&self, username: &str, node_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM presence WHERE username = $1 AND node_id = $2")
            .bind(username)
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The nodes other than `except` that hold live bindings of `username` at `now`, under a
    /// live lease, by node id.
    pub async fn presence_lookup(&self, username: &str, except: &str, now: i64) -> Result<Vec<NodePresence>> {
        let rows = sqlx::query(
            "SELECT n.node_id, n.sip_addr FROM presence p JOIN nodes n ON n.node_id = p.node_id \
             WHERE p.username = $1 AND p.node_id <> $2 AND p.expires_at > $3 AND n.lease_until > $3 \
             ORDER BY n.node_id",
        )
        .bind(username)
        .bind(except)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(NodePresence { node_id: col(r, "node_id")?, sip_addr: col(r, "sip_addr")? })).collect()
    }

    /// Deletes presence rows expired at `now` (readers ignore them anyway).
    pub async fn presence_sweep(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM presence WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(r.rows_affected())
    }

    /// Records that `node_id`'s box link holds `box_id`'s control connection.
    pub async fn box_attach(&self, box_id: i64, node_id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO box_attachments (box_id, node_id, attached_at) VALUES ($1, $2, $3) \
             ON CONFLICT (box_id) DO UPDATE SET node_id = excluded.node_id, attached_at = excluded.attached_at",
        )
        .bind(box_id)
        .bind(node_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes `box_id`'s attachment if it is still `node_id`'s (a newer one on another node
    /// stays).
    pub async fn box_detach(&self, box_id: i64, node_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM box_attachments WHERE box_id = $1 AND node_id = $2")
            .bind(box_id)
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The node that holds `box_id`'s control connection at `now` (under a live lease).
    pub async fn box_node(&self, box_id: i64, now: i64) -> Result<Option<NodePresence>> {
        let row = sqlx::query(
            "SELECT n.node_id, n.sip_addr FROM box_attachments b JOIN nodes n ON n.node_id = b.node_id \
             WHERE b.box_id = $1 AND n.lease_until > $2",
        )
        .bind(box_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(NodePresence { node_id: col(&r, "node_id")?, sip_addr: col(&r, "sip_addr")? })).transpose()
    }
}
