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
//! two awaits. Writers queue for the writer connection on an async mutex; readers take one of a
//! few reader connections (WAL lets them read beside the writer) for the statement only.

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
            Db::Lite(lite) => lite::execute(&*lite.writer().await, &sql.0, &args),
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
            Db::Lite(lite) => lite::rows(&*lite.writer().await, &sql.0, &args),
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
            Tx::Lite(tx) => lite::execute(tx.connection(), &sql.0, &args),
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
            Tx::Lite(tx) => lite::rows(tx.connection(), &sql.0, &args),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Any(tx) => tx.commit().await.map_err(backend),
            #[cfg(feature = "sqlite")]
            Tx::Lite(tx) => tx.commit(),
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    use rusqlite::types::ValueRef;
    use rusqlite::{Connection, Statement};

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

    /// The database's connections.
    pub(crate) struct Lite {
        writer: Arc<tokio::sync::Mutex<Connection>>,
        /// None for a database in memory, where each connection would be a database of its
        /// own: the writer reads as well.
        readers: Vec<Mutex<Connection>>,
        next: AtomicUsize,
        /// The checkpoint's own connection (none in memory).
        checkpointer: Option<Mutex<Connection>>,
    }

    /// How each connection is set up: the WAL is synced by the group commit before anyone is
    /// answered, and checkpointed beside the writer rather than by it (see
    /// [`GroupCommit`](crate::store::commit::GroupCommit)); a statement waits for a lock (a WAL
    /// recovery) rather than fail.
    fn prepare(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(())
    }

    impl Lite {
        /// The database file at `path` (its schema made already), with `readers` readers.
        pub(crate) fn open(path: &Path, readers: usize) -> Result<Lite, StoreError> {
            let open = || -> rusqlite::Result<Connection> {
                let conn = Connection::open(path)?;
                prepare(&conn)?;
                Ok(conn)
            };
            let writer = open().map_err(failed)?;
            let readers = (0..readers)
                .map(|_| open().map(Mutex::new))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(failed)?;
            Ok(Lite {
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers,
                next: AtomicUsize::new(0),
                checkpointer: Some(Mutex::new(open().map_err(failed)?)),
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
            Ok(Lite {
                writer: Arc::new(tokio::sync::Mutex::new(conn)),
                readers: Vec::new(),
                next: AtomicUsize::new(0),
                checkpointer: None,
            })
        }

        /// A passive checkpoint (it neither waits for nor blocks the writer or the readers),
        /// run on a blocking thread by the group commit.
        pub(crate) fn checkpoint(&self) -> std::io::Result<()> {
            let Some(conn) = &self.checkpointer else {
                return Ok(());
            };
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(std::io::Error::other)
        }

        /// The writer, for one statement.
        pub(super) async fn writer(&self) -> tokio::sync::MutexGuard<'_, Connection> {
            self.writer.lock().await
        }

        /// Runs `f` for a read: on the writer when it is free, whose page cache is warm (SQLite
        /// drops a connection's cache whenever another connection has written, so a reader
        /// beside a busy writer reads every page again from the file); else on a reader, the
        /// first free one or the next in turn. A read holds its connection for one statement,
        /// never across an await.
        pub(super) async fn read<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, StoreError>,
        ) -> Result<T, StoreError> {
            if let Ok(conn) = self.writer.try_lock() {
                return f(&conn);
            }
            let n = self.readers.len();
            if n == 0 {
                return f(&*self.writer.lock().await);
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

        pub(super) async fn begin(&self) -> Result<LiteTx, StoreError> {
            let conn = self.writer.clone().lock_owned().await;
            control(&conn, "BEGIN IMMEDIATE")?;
            Ok(LiteTx { conn, open: true })
        }
    }

    /// A write transaction on the writer, which it holds until it ends.
    pub(crate) struct LiteTx {
        conn: tokio::sync::OwnedMutexGuard<Connection>,
        open: bool,
    }

    impl LiteTx {
        pub(super) fn connection(&self) -> &Connection {
            &self.conn
        }

        pub(super) fn commit(mut self) -> Result<(), StoreError> {
            self.open = false;
            control(&self.conn, "COMMIT")
        }
    }

    impl Drop for LiteTx {
        fn drop(&mut self) {
            if self.open {
                // Ended without a commit (an early return, an error): undone.
                let _ = control(&self.conn, "ROLLBACK");
            }
        }
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
