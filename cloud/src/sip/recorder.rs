//! Call records leave the SIP path: a bounded queue to one writer task that commits them in
//! batches (group commit).
//!
//! A call's record used to be written by the task that handled its BYE, holding the store's
//! (SQLite: only) write connection through the commit's fsync while every other message waited
//! for it. Now the SIP side only *submits* a record; the writer takes whatever has queued up,
//! up to `max_batch`, and stores it in one transaction: one fsync per batch, however many calls
//! ended meanwhile. While a batch commits, the next one queues; the busier the node, the bigger
//! the batches. Durability is unchanged: a record is on disk once its batch commits.
//!
//! # Capacity and what happens at the limits
//! - **Queue full** (`capacity` records waiting, the database slower than calls end): the
//!   submitting task *waits* for room (backpressure on the tasks that end calls; counted in
//!   [`WriterStats::full_waits`]). Nothing is dropped.
//! - **Database error**: the batch is retried with a growing pause (50 ms doubling to 5 s), and
//!   kept meanwhile, so the queue fills and backpressure follows.
//! - **A record the store refuses** (its site was deleted while the call was up): the batch is
//!   stored record by record; the refused one is logged at error level with its full content
//!   (`call record refused`) and counted in [`WriterStats::refused`] — never dropped silently.
//! - **Stop** ([`RecordWriter::stop`]): the queue is closed, everything queued is written, then
//!   the writer ends. A record submitted after that is written directly by its submitter. If the
//!   database stays unreachable during the stop, the writer gives up after [`STOP_RETRY`] and
//!   logs each unwritten record at error level (`call record not written`), so an operator can
//!   replay it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Clock, Redacted};
use crate::model::CallEvent;
use crate::store::{Store, StoreError};

/// How long the writer keeps retrying a batch the database refuses once it is stopping.
pub const STOP_RETRY: Duration = Duration::from_secs(10);

/// One record waiting to be written.
#[derive(Debug)]
struct Queued {
    site_id: i64,
    call: CallEvent,
}

/// Counters of a [`RecordWriter`].
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Records stored.
    pub written: AtomicU64,
    /// Transactions committed (`written / batches` is the mean batch size).
    pub batches: AtomicU64,
    /// Submissions that found the queue full and waited.
    pub full_waits: AtomicU64,
    /// Records the store refused (logged with their content).
    pub refused: AtomicU64,
    /// Records written directly by their submitter because the writer had stopped.
    pub direct: AtomicU64,
}

/// The queue and its writer task. Cheap to clone (a handle).
#[derive(Clone)]
pub struct RecordWriter {
    tx: mpsc::Sender<Queued>,
    store: Store,
    clock: Arc<dyn Clock>,
    close: Arc<watch::Sender<bool>>,
    done: watch::Receiver<bool>,
    stats: Arc<WriterStats>,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter").field("pending", &self.pending()).field("stats", &self.stats).finish()
    }
}

impl RecordWriter {
    /// Starts the writer task on `store`: at most `capacity` records queued, at most
    /// `max_batch` per transaction (both at least 1).
    pub fn start(store: Store, clock: Arc<dyn Clock>, capacity: usize, max_batch: usize) -> RecordWriter {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (close, close_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let stats = Arc::new(WriterStats::default());
        let w = RecordWriter { tx, store, clock, close: Arc::new(close), done, stats };
        tokio::spawn(w.clone().run(rx, close_rx, done_tx, max_batch.max(1)));
        w
    }

    /// Queues the record of a call of `site_id`; waits while the queue is full. Returns once
    /// the record is queued (or, after [`RecordWriter::stop`], written).
    pub async fn submit(&self, site_id: i64, call: CallEvent) {
        if let Err(e) = crate::store::check_call(&call) {
            // Our own call state produced it: a bug, logged with the content.
            tracing::error!(error = %e, site_id, record = ?call, "call record refused");
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let q = match self.tx.try_send(Queued { site_id, call }) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(q)) => {
                self.stats.full_waits.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("call-record queue full: waiting for the writer");
                match self.tx.send(q).await {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(q)) => q,
                }
            }
            Err(mpsc::error::TrySendError::Closed(q)) => q,
        };
        // The writer has stopped: write it here.
        self.stats.direct.fetch_add(1, Ordering::Relaxed);
        self.write_one(q).await;
    }

    /// Records queued and not yet taken by the writer.
    pub fn pending(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Asks the writer to stop without waiting: it writes what is queued, then ends.
    pub fn close(&self) {
        self.close.send_replace(true);
    }

    /// Stops the writer and waits until every record queued before has been written (or, with
    /// the database unreachable, logged: see the module docs).
    pub async fn stop(&self) {
        self.close();
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    async fn run(
        self,
        mut rx: mpsc::Receiver<Queued>,
        mut close: watch::Receiver<bool>,
        done: watch::Sender<bool>,
        max_batch: usize,
    ) {
        let mut closing = false;
        loop {
            let first = if closing {
                rx.recv().await
            } else {
                tokio::select! {
                    q = rx.recv() => q,
                    _ = close.wait_for(|c| *c) => {
                        // No new records; the ones queued are still received, then `None`.
                        rx.close();
                        closing = true;
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(q) => batch.push(q),
                    Err(_) => break,
                }
            }
            self.write_batch(batch).await;
        }
        let st = &self.stats;
        tracing::info!(
            written = st.written.load(Ordering::Relaxed),
            batches = st.batches.load(Ordering::Relaxed),
            full_waits = st.full_waits.load(Ordering::Relaxed),
            refused = st.refused.load(Ordering::Relaxed),
            "call-record writer stopped"
        );
        done.send_replace(true);
    }

    /// Writes a batch in one transaction, retrying database errors; a batch with a record the
    /// store refuses is written record by record.
    async fn write_batch(&self, batch: Vec<Queued>) {
        let calls: Vec<(i64, CallEvent)> = batch.into_iter().map(|q| (q.site_id, q.call)).collect();
        let mut pause = Duration::from_millis(50);
        let mut deadline = None;
        loop {
            match self.store.record_calls(&calls, self.clock.unix_now()).await {
                Ok(records) => {
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats.written.fetch_add(records.len() as u64, Ordering::Relaxed);
                    for r in &records {
                        tracing::info!(
                            site_id = r.site_id,
                            outcome = r.outcome.as_str(),
                            callee = %Redacted(&r.callee),
                            "call recorded"
                        );
                    }
                    return;
                }
                Err(StoreError::Database(e)) => {
                    if self.give_up(&mut deadline) || matches!(e, sqlx::Error::PoolClosed) {
                        for (site_id, call) in &calls {
                            tracing::error!(error = %e, site_id, record = ?call, "call record not written");
                        }
                        return;
                    }
                    tracing::error!(error = %e, records = calls.len(), "cannot store call records, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(_) => {
                    // One of them is refused: find it by storing each alone.
                    for (site_id, call) in calls {
                        self.write_one(Queued { site_id, call }).await;
                    }
                    return;
                }
            }
        }
    }

    /// Whether to stop retrying: [`STOP_RETRY`] after the stop was first seen in this retry loop.
    fn give_up(&self, deadline: &mut Option<Instant>) -> bool {
        if !*self.close.borrow() {
            return false;
        }
        let d = *deadline.get_or_insert_with(|| Instant::now() + STOP_RETRY);
        Instant::now() >= d
    }

    /// Writes one record in its own transaction, retrying database errors (see `give_up`).
    async fn write_one(&self, q: Queued) {
        let mut pause = Duration::from_millis(50);
        let mut deadline = None;
        loop {
            match self.store.record_call(q.site_id, &q.call, self.clock.unix_now()).await {
                Ok(r) => {
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats.written.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(site_id = r.site_id, outcome = r.outcome.as_str(), callee = %Redacted(&r.callee), "call recorded");
                    return;
                }
                Err(StoreError::Database(e)) => {
                    if self.give_up(&mut deadline) || matches!(e, sqlx::Error::PoolClosed) {
                        tracing::error!(error = %e, site_id = q.site_id, record = ?q.call, "call record not written");
                        return;
                    }
                    tracing::error!(error = %e, "cannot store a call record, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, site_id = q.site_id, record = ?q.call, "call record refused");
                    return;
                }
            }
        }
    }
}
