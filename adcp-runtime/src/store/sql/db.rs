//! How a statement runs, the same for both databases, so that each of the store's statements is
//! written once: on PostgreSQL through sqlx's `Any` pool; on SQLite in process, through
//! rusqlite, on the calling thread.
//!
//! Why not sqlx for SQLite as well: sqlx runs each SQLite connection on a worker thread of its
//! own, hands it every statement and takes the rows back, two thread wake-ups per statement. A
//! booking runs about a dozen statements on the one writer connection, so on a loaded machine
//! those hand-offs, not SQLite, bounded the writer (about 0.1 ms a statement: some 900 bookings a
//! second). SQLite's own work for one of these statements is microseconds (pages in memory, a
//! WAL append, no fsync: the group commit syncs), short enough to run on a tokio worker between
//! two awaits. Writers queue for the writer connection on an async mutex, and the writes queued
//! together share one commit (see [`lite::Lite`]); readers take one of a few reader connections
//! (WAL lets them read beside the writer) for the statement only.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};

use super::backend;
use crate::store::StoreError;

/// A statement's text: a literal, or assembled at run time from literals and numbered
/// placeholders only (never from values).
pub(crate) struct Sql(Cow<'static, str>);

impl From<&'static str> for Sql {
    fn from(s: &'static str) -> Self {
        Sql(Cow::Borrowed(s))
    }
}

impl Sql {
    /// A statement assembled at run time (see [`Sql`]).
    pub(crate) fn built(s: String) -> Self {
        Sql(Cow::Owned(s))
    }

    fn sqlx(&self) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(self.0.to_string())
    }
}

/// A statement's parameter, `$1`, `$2`, .. in the order given. A null keeps its type: PostgreSQL
/// needs it.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}

/// A statement's parameters: `args![a, b, ..]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::store::sql::db::Arg::from($a)),*]
    };
}
pub(crate) use args;

/// A row read.
pub(crate) enum Row {
    Any(AnyRow),
    #[cfg(feature = "sqlite")]
    Lite(lite::LiteRow),
}

/// A column type the store reads: text, integers, and either as nullable.
pub(crate) trait Column:
    Sized + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>
{
    #[cfg(feature = "sqlite")]
    fn from_cell(cell: &lite::Cell) -> Option<Self>;
}

impl Column for String {
    #[cfg(feature = "sqlite")]
    fn from_cell(cell: &lite::Cell) -> Option<Self> {
        match cell {
            lite::Cell::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Column for i64 {
    #[cfg(feature = "sqlite")]
    fn from_cell(cell: &lite::Cell) -> Option<Self> {
        match cell {
            lite::Cell::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T> {
    #[cfg(feature = "sqlite")]
    fn from_cell(cell: &lite::Cell) -> Option<Self> {
        match cell {
            lite::Cell::Null => Some(None),
            cell => T::from_cell(cell).map(Some),
        }
    }
}

impl Row {
    /// The column named `column`.
    pub(crate) fn get<T: Column>(&self, column: &str) -> Result<T, StoreError> {
        match self {
            Row::Any(row) => row.try_get(column).map_err(backend),
            #[cfg(feature = "sqlite")]
            Row::Lite(row) => row.get(column),
        }
    }
}

/// Where statements run.
#[derive(Clone)]
pub(crate) enum Db {
    /// PostgreSQL: one pool for reads and writes.
    Any(AnyPool),
    /// SQLite, in process.
    #[cfg(feature = "sqlite")]
    Lite(Arc<lite::Lite>),
}

impl Db {
    /// A read.
    pub(crate) async fn fetch(
        &self,
        sql: impl Into<Sql>,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into();
        match self {
            Db::Any(pool) => any_rows(pool, &sql, args).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(lite) => lite.read(|c| lite::rows(c, &sql.0, &args)).await,
        }
    }

    /// A write in a transaction of its own; how many rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: impl Into<Sql>,
        args: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        let sql = sql.into();
        match self {
            Db::Any(pool) => any_execute(pool, &sql, args).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(lite) => lite.write(|c| lite::execute(c, &sql.0, &args)).await,
        }
    }

    /// A write that returns rows (`RETURNING`), in a transaction of its own.
    pub(crate) async fn returning(
        &self,
        sql: impl Into<Sql>,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into();
        match self {
            Db::Any(pool) => any_rows(pool, &sql, args).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(lite) => lite.write(|c| lite::rows(c, &sql.0, &args)).await,
        }
    }

    /// A transaction: rolled back unless [`Tx::commit`] is called.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        match self {
            Db::Any(pool) => Ok(Tx::Any(pool.begin().await.map_err(backend)?)),
            #[cfg(feature = "sqlite")]
            Db::Lite(lite) => Ok(Tx::Lite(lite.begin().await?)),
        }
    }
}

/// An open write transaction.
pub(crate) enum Tx {
    Any(sqlx::Transaction<'static, sqlx::Any>),
    #[cfg(feature = "sqlite")]
    Lite(lite::LiteTx),
}

impl Tx {
    /// A write; how many rows it changed.
    pub(crate) async fn execute(
        &mut self,
        sql: impl Into<Sql>,
        args: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        let sql = sql.into();
        match self {
            Tx::Any(tx) => any_execute(&mut **tx, &sql, args).await,
            #[cfg(feature = "sqlite")]
            Tx::Lite(tx) => lite::execute(tx.connection()?, &sql.0, &args),
        }
    }

    /// A read inside the transaction.
    pub(crate) async fn fetch(
        &mut self,
        sql: impl Into<Sql>,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into();
        match self {
            Tx::Any(tx) => any_rows(&mut **tx, &sql, args).await,
            #[cfg(feature = "sqlite")]
            Tx::Lite(tx) => lite::rows(tx.connection()?, &sql.0, &args),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Any(tx) => tx.commit().await.map_err(backend),
            #[cfg(feature = "sqlite")]
            Tx::Lite(tx) => tx.commit().await,
        }
    }
}

/// A statement's rows, through sqlx (a pool or a transaction's connection).
async fn any_rows<'e>(
    on: impl sqlx::Executor<'e, Database = sqlx::Any>,
    sql: &Sql,
    args: Vec<Arg>,
) -> Result<Vec<Row>, StoreError> {
    Ok(bound(sqlx::query(sql.sqlx()), args)
        .fetch_all(on)
        .await
        .map_err(backend)?
        .into_iter()
        .map(Row::Any)
        .collect())
}

/// A write through sqlx; how many rows it changed.
async fn any_execute<'e>(
    on: impl sqlx::Executor<'e, Database = sqlx::Any>,
    sql: &Sql,
    args: Vec<Arg>,
) -> Result<u64, StoreError> {
    Ok(bound(sqlx::query(sql.sqlx()), args)
        .execute(on)
        .await
        .map_err(backend)?
        .rows_affected())
}

fn bound(
    mut query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    for a in args {
        query = match a {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
        };
    }
    query
}

#[cfg(feature = "sqlite")]
pub(crate) mod lite {
    //! SQLite through rusqlite: one writer connection, a few readers.

    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::time::Duration;

    use rusqlite::types::ValueRef;
    use rusqlite::{Connection, Statement};
    use tokio::sync::OwnedMutexGuard;

    use super::Arg;
    use crate::store::StoreError;

    fn failed(e: rusqlite::Error) -> StoreError {
        StoreError::Database(Box::new(e))
    }

    /// A value read.
    #[derive(Debug)]
    pub(crate) enum Cell {
        Null,
        Int(i64),
        Text(String),
        /// A real or a blob, which no column of the store holds.
        Other(&'static str),
    }

    impl Cell {
        fn kind(&self) -> &'static str {
            match self {
                Cell::Null => "null",
                Cell::Int(_) => "an integer",
                Cell::Text(_) => "text",
                Cell::Other(kind) => kind,
            }
        }
    }

    /// A row read: its statement's column names, shared, and its values.
    pub(crate) struct LiteRow {
        columns: Arc<[String]>,
        cells: Vec<Cell>,
    }

    impl LiteRow {
        pub(super) fn get<T: super::Column>(&self, column: &str) -> Result<T, StoreError> {
            let cell = self
                .columns
                .iter()
                .position(|c| c == column)
                .and_then(|i| self.cells.get(i))
                .ok_or_else(|| StoreError::Database(format!("no column `{column}`").into()))?;
            T::from_cell(cell).ok_or_else(|| StoreError::Corrupt {
                what: "column",
                source: format!("`{column}` holds {}", cell.kind()).into(),
            })
        }
    }

    /// Writes joined into one transaction at most (see [`Lite`]).
    const MAX_BATCH: usize = 64;

    /// How long a write waits for another to commit its batch before it commits the batch
    /// itself: a backstop, for a batch whose next writer was cancelled while it queued.
    const BACKSTOP: Duration = Duration::from_millis(5);

    /// The page cache of the writer connection, in KiB (SQLite's default is 2,000).
    const WRITER_CACHE_KIB: u32 = 1024;

    /// The page cache of each reader connection, in KiB.
    const READER_CACHE_KIB: u32 = 512;

    /// The database's connections.
    ///
    /// Writes are batched: a write (a statement, or a transaction as a savepoint) joins the
    /// transaction open on the writer connection, and whoever leaves the writer with no write
    /// queued behind it (or the batch full) commits it. So under load sixteen bookings' writes
    /// are one commit: their pages written to the WAL once, one set of locks taken, one cache
    /// invalidation for the readers, instead of one of each per statement. A write returns
    /// only once its batch is committed, so a caller reads its own writes on any connection;
    /// a write that fails undoes only itself (a statement's own rollback, or its savepoint's),
    /// and when SQLite rolls the whole transaction back (an I/O error, a full disk) every
    /// write of the batch fails. With no write queued, a write commits at once, as before.
    pub(crate) struct Lite {
        writer: Arc<tokio::sync::Mutex<Writer>>,
        /// Writes waiting for the writer.
        queued: AtomicUsize,
        /// Batches committed.
        batches: AtomicU64,
        /// Writes are batched (not in memory, where reads go to the writer and could see a
        /// batch before it is committed).
        batching: bool,
        /// None for a database in memory, where each connection would be a database of its
        /// own: the writer reads as well.
        readers: Vec<Mutex<Connection>>,
        next: AtomicUsize,
        /// The checkpoint's own connection (none in memory).
        checkpointer: Option<Mutex<Connection>>,
        /// A checkpoint beside the writer has run: the next batch first checkpoints what was
        /// committed meanwhile, so that it starts the WAL again (see [`Lite::join`]).
        restart: AtomicBool,
    }

    /// The writer connection and the batch open on it.
    struct Writer {
        conn: Connection,
        /// The open transaction's batch and how many writes joined it (none: no transaction).
        open: Option<(Arc<Batch>, usize)>,
    }

    /// How a batch ended, for its writes to learn.
    #[derive(Default)]
    struct Batch {
        ended: OnceLock<Result<(), String>>,
        notify: tokio::sync::Notify,
    }

    impl Batch {
        fn end(&self, result: Result<(), String>) {
            let _ = self.ended.set(result);
            self.notify.notify_waiters();
        }
    }

    /// Counts a write waiting for the writer, until it has it (or is cancelled).
    struct Queued<'a>(&'a AtomicUsize);

    impl Drop for Queued<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// How each connection is set up: the WAL is synced by the group commit before anyone is
    /// answered, and checkpointed beside the writer, the writer copying only what was
    /// committed while that ran (see [`GroupCommit`](crate::store::commit::GroupCommit) and
    /// `Lite::join`); a statement waits for a lock (a WAL recovery) rather than fail.
    ///
    /// When the writer starts the WAL again, it truncates the file to
    /// [`CHECKPOINT_AFTER`](crate::store::commit::CHECKPOINT_AFTER) bytes, so the group commit
    /// sees the file grow past that size again only once as much has been written since.
    fn prepare(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
            crate::store::commit::CHECKPOINT_AFTER
        ))?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(())
    }

    impl Lite {
        fn new(writer: Connection, readers: Vec<Mutex<Connection>>) -> Lite {
            Lite {
                writer: Arc::new(tokio::sync::Mutex::new(Writer {
                    conn: writer,
                    open: None,
                })),
                queued: AtomicUsize::new(0),
                batches: AtomicU64::new(0),
                batching: !readers.is_empty(),
                readers,
                next: AtomicUsize::new(0),
                checkpointer: None,
                restart: AtomicBool::new(false),
            }
        }

        /// The database file at `path` (its schema made already), with `readers` readers.
        ///
        /// Page caches, rather than SQLite's 2 MiB for each of six connections: the writer's
        /// [`WRITER_CACHE_KIB`] holds the pages writes go to (ids made in order put them at the
        /// right edge of each index, a few dozen pages); a reader's cache is dropped whenever
        /// the writer commits, so under writes it holds little for long ([`READER_CACHE_KIB`]);
        /// the checkpointer copies frames, not through its cache.
        pub(crate) fn open(path: &Path, readers: usize) -> Result<Lite, StoreError> {
            let open = |cache_kib: u32| -> rusqlite::Result<Connection> {
                let conn = Connection::open(path)?;
                prepare(&conn)?;
                conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))?;
                Ok(conn)
            };
            let writer = open(WRITER_CACHE_KIB).map_err(failed)?;
            let readers = (0..readers)
                .map(|_| open(READER_CACHE_KIB).map(Mutex::new))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(failed)?;
            Ok(Lite {
                checkpointer: Some(Mutex::new(open(64).map_err(failed)?)),
                ..Lite::new(writer, readers)
            })
        }

        /// A database in memory, its schema made by running `migrations` in order.
        pub(crate) fn in_memory(migrations: &[&str]) -> Result<Lite, StoreError> {
            let conn = Connection::open_in_memory().map_err(failed)?;
            prepare(&conn).map_err(failed)?;
            for sql in migrations {
                conn.execute_batch(sql)
                    .map_err(|e| StoreError::Migration(Box::new(e)))?;
            }
            Ok(Lite::new(conn, Vec::new()))
        }

        /// A passive checkpoint (it neither waits for nor blocks the writer or the readers),
        /// run on a blocking thread by the group commit.
        pub(crate) fn checkpoint(&self) -> std::io::Result<()> {
            let Some(conn) = &self.checkpointer else {
                return Ok(());
            };
            if self.restart.load(Ordering::SeqCst) {
                // The writer's own checkpoint is due: one now would hold the checkpoint lock
                // while the writer's runs, and the WAL would not start again.
                return Ok(());
            }
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(std::io::Error::other)?;
            self.restart.store(true, Ordering::SeqCst);
            Ok(())
        }

        /// Runs `f` for a read: on the writer when it is free and holds no batch, whose page
        /// cache is warm (SQLite drops a connection's cache whenever another connection has
        /// written, so a reader beside a busy writer reads every page again from the file);
        /// else on a reader, the first free one or the next in turn. A read holds its
        /// connection for one statement, never across an await.
        pub(super) async fn read<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, StoreError>,
        ) -> Result<T, StoreError> {
            if let Ok(w) = self.writer.try_lock()
                && w.open.is_none()
            {
                return f(&w.conn);
            }
            let n = self.readers.len();
            if n == 0 {
                return f(&self.writer.lock().await.conn);
            }
            let first = self.next.fetch_add(1, Ordering::Relaxed) % n;
            for k in 0..n {
                if let Ok(conn) = self.readers[(first + k) % n].try_lock() {
                    return f(&conn);
                }
            }
            let conn = self.readers[first]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        }

        /// A write of one statement, in the open batch; returns once the batch is committed.
        pub(super) async fn write<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, StoreError>,
        ) -> Result<T, StoreError> {
            let w = self.join().await?;
            let r = f(&w.conn);
            let batch = self.leave(w);
            let r = r?;
            self.wait(&batch).await?;
            Ok(r)
        }

        /// A write transaction, as a savepoint in the open batch.
        pub(super) async fn begin(self: &Arc<Self>) -> Result<LiteTx, StoreError> {
            let w = self.join().await?;
            if let Err(e) = control(&w.conn, "SAVEPOINT tx") {
                self.leave(w);
                return Err(e);
            }
            Ok(LiteTx {
                lite: self.clone(),
                writer: Some(w),
            })
        }

        /// The writer, with a transaction open on it: the open batch's, or a new one.
        ///
        /// SQLite writes the WAL from its beginning again only when a write transaction starts
        /// with every frame of it checkpointed; under a steady stream of batches the checkpoint
        /// beside the writer never catches up, and the WAL would grow for as long as the load
        /// lasts (and every checkpoint sort a larger index). So after that checkpoint, the next
        /// batch first checkpoints on the writer the few frames committed while it ran: with
        /// no write under way it copies them all, and the batch starts the WAL again.
        async fn join(&self) -> Result<OwnedMutexGuard<Writer>, StoreError> {
            self.queued.fetch_add(1, Ordering::SeqCst);
            let queued = Queued(&self.queued);
            let mut w = self.writer.clone().lock_owned().await;
            drop(queued);
            if w.open.is_none() {
                if self.restart.swap(false, Ordering::SeqCst)
                    && let Err(e) = w
                        .conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    // Not a loss: the frames stay in the WAL, and the next checkpoint retries.
                    tracing::warn!(error = %e, "a checkpoint on the store's writer failed");
                }
                control(&w.conn, "BEGIN IMMEDIATE")?;
                w.open = Some((Arc::default(), 0));
            }
            Ok(w)
        }

        /// A write on `w` is over (done or undone) and leaves the writer: the batch is
        /// committed now when no write waits to join it (or it is full), else by a later
        /// writer. The batch, for the write to wait on.
        fn leave(&self, mut w: OwnedMutexGuard<Writer>) -> Arc<Batch> {
            let Some((batch, n)) = w.open.as_mut() else {
                // Not reached: a write joins an open transaction. Ended, for no one to wait.
                let batch = Arc::new(Batch::default());
                batch.end(Ok(()));
                return batch;
            };
            *n += 1;
            let full = *n >= MAX_BATCH;
            let batch = batch.clone();
            if w.conn.is_autocommit() {
                // SQLite rolled the transaction back (an I/O error, a full disk, no memory):
                // every write of the batch is lost.
                w.open = None;
                batch.end(Err("the transaction was rolled back".into()));
            } else if !self.batching || full || self.queued.load(Ordering::SeqCst) == 0 {
                self.commit(&mut w);
            }
            batch
        }

        /// Batches committed so far.
        #[cfg(test)]
        pub(super) fn batches(&self) -> u64 {
            self.batches.load(Ordering::Relaxed)
        }

        /// `f` on a reader connection (not the writer).
        #[cfg(test)]
        pub(super) fn read_on_a_reader<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, StoreError>,
        ) -> Result<T, StoreError> {
            f(&self.readers[0]
                .lock()
                .unwrap_or_else(PoisonError::into_inner))
        }

        /// Commits the open batch, and tells its writes.
        fn commit(&self, w: &mut Writer) {
            let Some((batch, _)) = w.open.take() else {
                return;
            };
            let r = control(&w.conn, "COMMIT").map_err(|e| e.to_string());
            if r.is_err() && !w.conn.is_autocommit() {
                let _ = control(&w.conn, "ROLLBACK");
            }
            self.batches.fetch_add(1, Ordering::Relaxed);
            batch.end(r);
        }

        /// Returns once `batch` is committed (an error if it was not).
        async fn wait(&self, batch: &Arc<Batch>) -> Result<(), StoreError> {
            loop {
                let notified = batch.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(r) = batch.ended.get() {
                    return r.clone().map_err(|e| StoreError::Database(e.into()));
                }
                if tokio::time::timeout(BACKSTOP, notified).await.is_err() {
                    let mut w = self.writer.lock().await;
                    if w.open.as_ref().is_some_and(|(b, _)| Arc::ptr_eq(b, batch)) {
                        self.commit(&mut w);
                    }
                }
            }
        }
    }

    /// A write transaction (a savepoint of the writer's batch), which holds the writer until
    /// it ends.
    pub(crate) struct LiteTx {
        lite: Arc<Lite>,
        /// Until it ends.
        writer: Option<OwnedMutexGuard<Writer>>,
    }

    impl LiteTx {
        pub(super) fn connection(&self) -> Result<&Connection, StoreError> {
            match &self.writer {
                Some(w) => Ok(&w.conn),
                None => Err(StoreError::Database("the transaction has ended".into())),
            }
        }

        /// Returns once the transaction's batch is committed.
        pub(super) async fn commit(mut self) -> Result<(), StoreError> {
            let Some(w) = self.writer.take() else {
                return Err(StoreError::Database("the transaction has ended".into()));
            };
            let released = control(&w.conn, "RELEASE tx");
            if released.is_err() {
                undo(&w.conn);
            }
            let batch = self.lite.leave(w);
            released?;
            self.lite.wait(&batch).await
        }
    }

    impl Drop for LiteTx {
        fn drop(&mut self) {
            if let Some(w) = self.writer.take() {
                // Ended without a commit (an early return, an error): undone.
                undo(&w.conn);
                self.lite.leave(w);
            }
        }
    }

    /// Undoes a transaction's savepoint (the batch stays open).
    fn undo(conn: &Connection) {
        let _ = control(conn, "ROLLBACK TO tx");
        let _ = control(conn, "RELEASE tx");
    }

    /// `BEGIN`, `COMMIT` or `ROLLBACK`, prepared once.
    fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.raw_execute())
            .map(drop)
            .map_err(failed)
    }

    /// Binds `args` by their placeholders' numbers (`$3` is `args[2]`).
    fn bind(stmt: &mut Statement<'_>, args: &[Arg]) -> Result<(), StoreError> {
        for i in 1..=stmt.parameter_count() {
            let n = stmt
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(i);
            let arg = args.get(n - 1).ok_or_else(|| {
                StoreError::Database(format!("no value for parameter ${n}").into())
            })?;
            match arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i, v),
                Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_deref()),
            }
            .map_err(failed)?;
        }
        Ok(())
    }

    pub(super) fn execute(conn: &Connection, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
        bind(&mut stmt, args)?;
        let n = stmt.raw_execute().map_err(failed)?;
        Ok(n as u64)
    }

    pub(super) fn rows(
        conn: &Connection,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<super::Row>, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
        bind(&mut stmt, args)?;
        let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
        let width = columns.len();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(match row.get_ref(i).map_err(failed)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(_) => Cell::Other("a real"),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t)
                            .map_err(crate::store::corrupt("text column"))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(_) => Cell::Other("a blob"),
                });
            }
            out.push(super::Row::Lite(LiteRow {
                columns: columns.clone(),
                cells,
            }));
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::sync::Arc;

    use super::lite::Lite;
    use super::{Arg, Db};

    /// A database file with a table `t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`.
    fn database(tag: &str) -> (std::path::PathBuf, Arc<Lite>) {
        let dir = std::env::temp_dir().join(format!("adcp-lite-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("adcp.db");
        let conn = rusqlite::Connection::open(&path).expect("a database");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .expect("a table");
        (dir, Arc::new(Lite::open(&path, 2).expect("opened")))
    }

    fn rows(conn: &rusqlite::Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT id FROM t ORDER BY id")
            .expect("a query");
        let ids = stmt.query_map([], |r| r.get(0)).expect("rows");
        ids.collect::<Result<_, _>>().expect("ids")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_share_commits_and_a_failed_one_undoes_only_itself() {
        let (dir, lite) = database("batch");
        let db = Db::Lite(lite.clone());
        let mut tasks = Vec::new();
        for i in 0..256_i64 {
            let (db, lite) = (db.clone(), lite.clone());
            tasks.push(tokio::spawn(async move {
                let insert = "INSERT INTO t (id, v) VALUES ($1, $2)";
                match i % 4 {
                    // A transaction of two rows, committed.
                    0 => {
                        let mut tx = db.begin().await?;
                        tx.execute(insert, vec![Arg::from(i), Arg::from("a")])
                            .await?;
                        tx.execute(insert, vec![Arg::from(i + 1000), Arg::from("b")])
                            .await?;
                        tx.commit().await?;
                    }
                    // A transaction that fails half-way (a NULL into NOT NULL): neither row.
                    1 => {
                        let mut tx = db.begin().await?;
                        tx.execute(insert, vec![Arg::from(i), Arg::from("a")])
                            .await?;
                        let null = vec![Arg::from(i + 1000), Arg::Text(None)];
                        assert!(tx.execute(insert, null).await.is_err());
                        drop(tx);
                        return Ok(true);
                    }
                    // A statement that fails: nothing.
                    2 => {
                        let null = vec![Arg::from(i), Arg::Text(None)];
                        assert!(db.execute(insert, null).await.is_err());
                        return Ok(true);
                    }
                    // A statement, committed.
                    _ => {
                        db.execute(insert, vec![Arg::from(i), Arg::from("c")])
                            .await?;
                    }
                }
                // Returned: committed, so another connection reads it.
                let seen = lite
                    .read_on_a_reader(|c| Ok(rows(c).contains(&i)))
                    .expect("a read");
                Ok::<_, crate::store::StoreError>(seen)
            }));
        }
        for t in tasks {
            let seen = t.await.expect("joined").expect("written");
            assert!(seen, "a write that returned is committed");
        }
        let expected: Vec<i64> = (0..256)
            .filter(|i| i % 4 == 0 || i % 4 == 3)
            .chain((0..256).filter(|i| i % 4 == 0).map(|i| i + 1000))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = lite.read_on_a_reader(|c| Ok(rows(c))).expect("a read");
        assert_eq!(found, expected);
        // 256 writes, queued on four threads: fewer commits than writes.
        let batches = lite.batches();
        assert!(
            (1..256).contains(&batches),
            "{batches} commits for 256 writes"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_wal_starts_again_under_writes_that_never_pause() {
        use crate::store::commit::CHECKPOINT_AFTER;
        let (dir, lite) = database("restart");
        let db = Db::Lite(lite.clone());
        let wal = dir.join("adcp.db-wal");
        let len = |wal: &std::path::Path| std::fs::metadata(wal).map_or(0, |m| m.len());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The group commit's part: a checkpoint beside the writer whenever the WAL is long.
        let checkpoints = tokio::spawn({
            let (lite, done, wal) = (lite.clone(), done.clone(), wal.clone());
            async move {
                let (mut runs, mut longest) = (0, 0);
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    longest = longest.max(len(&wal));
                    if len(&wal) > CHECKPOINT_AFTER {
                        let lite = lite.clone();
                        tokio::task::spawn_blocking(move || lite.checkpoint())
                            .await
                            .expect("joined")
                            .expect("a checkpoint");
                        runs += 1;
                    } else {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                (runs, longest)
            }
        });
        // Eight writers, one row of 2 KB after another: about 24 MB of pages in all, with a
        // write always waiting for the writer.
        let writers = (0..8_i64).map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..1500_i64 {
                    let v = format!("{:02048}", w * 10_000 + i);
                    db.execute(
                        "INSERT INTO t (id, v) VALUES ($1, $2)",
                        vec![Arg::from(w * 10_000 + i), Arg::from(v.as_str())],
                    )
                    .await?;
                }
                Ok::<_, crate::store::StoreError>(())
            })
        });
        for w in writers.collect::<Vec<_>>() {
            w.await.expect("joined").expect("written");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let (runs, longest) = checkpoints.await.expect("joined");
        assert!(runs >= 2, "{runs} checkpoints");
        // Bounded by what is written between a checkpoint's start and the batch after it (a
        // few MiB here, where rows are written faster than a debug build checkpoints them),
        // not by everything written through the WAL (over 200 MiB when it never starts again).
        assert!(
            longest < 10 * CHECKPOINT_AFTER,
            "the WAL reached {longest} bytes after {runs} checkpoints"
        );
        let count = lite
            .read_on_a_reader(|c| Ok(rows(c).len()))
            .expect("a read");
        assert_eq!(count, 8 * 1500);
        let _ = std::fs::remove_dir_all(dir);
    }
}
