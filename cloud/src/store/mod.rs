//! The store: every record of the cloud, in SQLite (embedded, the default) or PostgreSQL.
//!
//! # One code path for two databases
//! The store talks to both through sqlx's `Any` driver with portable SQL: `$1`-style parameters
//! (which SQLite accepts too), `INSERT ... ON CONFLICT DO NOTHING`, `RETURNING`, 64-bit integers
//! for ids, times (UTC Unix seconds) and money (micro-units), and no type that only one of them
//! has (no timestamps, booleans, arrays or `NUMERIC`: sums are cast back to `BIGINT`). What does
//! differ, the DDL, lives in two migration folders kept column for column in step:
//! `migrations/sqlite` and `migrations/postgres`. The URL's scheme picks the folder.
//!
//! SQLite writes go through one pooled connection: it has a single writer anyway, and one
//! connection rules out `SQLITE_BUSY` on lock upgrades inside transactions. A file database runs
//! in WAL mode with `synchronous = FULL` (every commit is on disk before it returns: nothing
//! accepted is lost, even on power loss), and the reads on the SIP path (credentials, numbers,
//! DIDs) go through a second pool of read-only connections, which in WAL mode never wait for the
//! writer nor its fsync. `sqlite::memory:` is one database per connection, so there the readers
//! are the writer. PostgreSQL gets one pool for both and is what several cloud nodes share.
//!
//! # Time
//! Nothing here reads a clock: every method that stamps or expires something takes `now`.

mod boxes;
mod directory;
mod nodes;
mod records;
mod tenancy;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::rating::NumberingPlan;

pub use directory::SiteNumber;
pub use nodes::NodePresence;
pub(crate) use records::check_call;
pub use records::Month;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Why a store operation failed, sorted by who is to blame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The caller asked for something that does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well formed but clashes with what is stored (a taken number, an item
    /// still in use).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (a bad site code, an empty name...).
    #[error("{0}")]
    Invalid(String),
    /// A token or credential is unknown, used up or expired.
    #[error("invalid, used or expired token")]
    BadToken,
    /// The database failed (our side).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A migration failed (our side).
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (our side).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database URL is not one the store can use.
    #[error("unsupported database url (expected sqlite:... or postgres://...)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            match db.kind() {
                ErrorKind::UniqueViolation => return StoreError::Conflict("already exists".into()),
                ErrorKind::ForeignKeyViolation => {
                    return StoreError::Conflict("still in use, or refers to something missing".into())
                }
                ErrorKind::CheckViolation => return StoreError::Invalid("invalid value".into()),
                _ => {}
            }
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// Replaces the generic message of a [`StoreError::Conflict`] with a precise one.
    pub(crate) fn conflict_as(self, msg: impl Into<String>) -> StoreError {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(msg.into()),
            other => other,
        }
    }
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database the store is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (a file, or memory in tests).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Per-deployment settings the store needs.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// SIP digest realm the HA1 values are computed for. Changing it invalidates every stored
    /// credential (each extension's password must then be reset).
    pub realm: String,
    /// Dial plan used to validate internal numbers and to rate calls.
    pub plan: NumberingPlan,
    /// Pool size on PostgreSQL (SQLite always uses one connection).
    pub max_connections: u32,
    /// Largest call-record batch a box may upload at once.
    pub max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { realm: "carillon".into(), plan: NumberingPlan::default(), max_connections: 10, max_batch: 1000 }
    }
}

/// The cloud's storage. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Read-only queries: a pool of read-only connections on a SQLite file, else `pool`.
    read: AnyPool,
    backend: Backend,
    opts: Arc<StoreOptions>,
}

impl Store {
    /// Connects to `url` (`sqlite:path?mode=rwc`, `sqlite::memory:`, `postgres://...`) and
    /// brings the schema up to date.
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let connect_opts: AnyConnectOptions = url.parse()?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let pool_opts = match backend {
            // One connection that never expires: see the module docs.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if !in_memory {
                            // WAL is a property of the file (it stays on); synchronous is per
                            // connection. FULL: the WAL is fsynced at every commit. See the
                            // README, "Call records: group commit".
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        }
                        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10)),
        };
        let pool = pool_opts.connect_with(connect_opts).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let read = if backend == Backend::Sqlite && !in_memory {
            // Opened after the migrations: the file and its WAL exist.
            let ro: AnyConnectOptions = read_only_url(url).parse()?;
            // One reader is opened now, so that the first request does not pay for it.
            AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(ro)
                .await?
        } else {
            pool.clone()
        };
        Ok(Store { pool, read, backend, opts: Arc::new(opts) })
    }

    /// The pool for read-only queries (see the module docs).
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Which database this store is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The deployment settings.
    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.read.close().await;
        self.pool.close().await;
    }
}

/// Read-only connections on a SQLite file (WAL lets them read while the writer commits).
const SQLITE_READERS: u32 = 4;

/// `url` with `mode=ro` instead of whatever mode it asked.
fn read_only_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("mode=")).collect();
    params.push("mode=ro");
    format!("{base}?{}", params.join("&"))
}

/// Reads a column, mapping a decode failure to [`StoreError::Corrupt`].
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// Checks a human-readable name: 1 to 200 characters, not only spaces, no control characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("{what} must be 1 to 200 characters without control characters")));
    }
    Ok(())
}
