//! Group commit for the embedded SQLite store: many writers' commits made durable by one fsync.
//!
//! SQLite in WAL mode appends a commit to the `-wal` file; with `synchronous = FULL` it then
//! fsyncs that file, once per transaction, and that fsync is what bounds a busy store. Here the
//! writer commits with `synchronous = NORMAL` (appended, not yet synced) and tells
//! [`GroupCommit::wrote`]; whoever must not answer before its writes are on disk (the request
//! pipeline, before it replies; the webhook sender, before it sends) awaits
//! [`GroupCommit::durable`]. One caller at a time fsyncs the WAL, covering every commit made
//! before its fsync began; the callers queued behind it find themselves covered and return
//! without a second fsync. So a caller is answered only after its commit is synced, as with
//! `FULL`, and sixteen concurrent commits cost one fsync rather than sixteen.
//!
//! A checkpoint moves committed frames into the database file and syncs it before the WAL is
//! reused, so a frame checkpointed before the fsync is durable too. The WAL file is opened
//! afresh for each fsync: SQLite may delete and recreate it (the store holds its writer
//! connection open so that it does not, but a stale descriptor would sync nothing).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The commits of one SQLite database and how many of them are known to be on disk.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    /// The database's `-wal` file.
    wal: PathBuf,
    /// The database file (synced instead when there is no WAL: everything was checkpointed).
    database: PathBuf,
    /// Writes begun (counted before each is sent to the writer).
    started: AtomicU64,
    /// Writes ended (counted after each returns, committed or not).
    written: AtomicU64,
    /// Of those, how many an fsync has covered.
    synced: AtomicU64,
    /// An fsync failed: the kernel may have dropped the pages it could not write, so a later
    /// fsync's success would prove nothing. Every later wait fails.
    failed: AtomicBool,
    /// Woken whenever a write ends.
    ended: tokio::sync::Notify,
    /// Held by the caller whose fsync is running; the others wait here.
    leader: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// The group commit of the database file `database`, as SQLite names it (its WAL is
    /// `<database>-wal`).
    pub(crate) fn new(database: impl Into<PathBuf>) -> Self {
        let database = database.into();
        let mut wal = database.clone().into_os_string();
        wal.push("-wal");
        GroupCommit {
            wal: wal.into(),
            database,
            started: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            ended: tokio::sync::Notify::new(),
            leader: tokio::sync::Mutex::new(()),
        }
    }

    /// A write is about to be sent to the writer.
    pub(crate) fn starting(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// A write returned: it is in the WAL, perhaps not yet on disk.
    pub(crate) fn wrote(&self) {
        self.written.fetch_add(1, Ordering::SeqCst);
        self.ended.notify_waiters();
    }

    /// Returns once every write begun before the call has ended and is on disk: at once when
    /// an fsync already covered them, otherwise after the fsync that does (this caller's or
    /// one it waited behind).
    ///
    /// Writes are counted from when they begin, not when they return, because another
    /// connection may read a commit before its writer has counted it: a call that read it
    /// waits here for it too, and so never answers with what a power cut could take back.
    pub(crate) async fn durable(&self) -> std::io::Result<()> {
        self.check()?;
        let target = self.started.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _leader = self.leader.lock().await;
        self.check()?;
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(()); // the fsync this caller waited behind covered it
        }
        // The writes begun before the call end first (they are queued on the one writer).
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.written.load(Ordering::SeqCst) >= target {
                break;
            }
            ended.await;
        }
        // Every write ended now is in the WAL before the fsync starts.
        let upto = self.written.load(Ordering::SeqCst);
        let (wal, database) = (self.wal.clone(), self.database.clone());
        let synced = tokio::task::spawn_blocking(move || match std::fs::File::open(&wal) {
            Ok(file) => file.sync_data(),
            // No WAL: it was checkpointed into the database file and removed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::File::open(&database)?.sync_data()
            }
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        if let Err(e) = synced {
            self.failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        self.synced.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    fn check(&self) -> std::io::Result<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(std::io::Error::other(
                "an earlier fsync of the store's log failed; restart the server",
            ));
        }
        Ok(())
    }

    /// Syncs the directory holding the database, so that its WAL file's entry is on disk too
    /// (once, after the WAL is made).
    pub(crate) fn sync_directory(&self) -> std::io::Result<()> {
        match self.wal.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
            _ => std::fs::File::open(".")?.sync_all(),
        }
    }
}

/// Waits on the group commit when there is one (SQLite); a store without one (memory,
/// PostgreSQL) has nothing to wait for.
pub(crate) async fn durable(commits: Option<&GroupCommit>) -> std::io::Result<()> {
    match commits {
        Some(commits) => commits.durable().await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("adcp-commit-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        dir
    }

    #[tokio::test]
    async fn nothing_written_needs_no_fsync_and_without_a_wal_the_database_is_synced() {
        let dir = scratch("nowal");
        let commits = GroupCommit::new(dir.join("adcp.db"));
        commits.durable().await.expect("no write, nothing to sync");
        commits.starting();
        commits.wrote();
        // No WAL, and no database either: that is an error, not a silent success.
        assert!(commits.durable().await.is_err());
        assert!(
            commits.durable().await.is_err(),
            "a failed fsync fails every later wait"
        );

        let commits = GroupCommit::new(dir.join("adcp.db"));
        std::fs::write(dir.join("adcp.db"), b"pages").expect("a database");
        commits.starting();
        commits.wrote();
        commits
            .durable()
            .await
            .expect("the database file is synced");
        assert_eq!(commits.synced.load(Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_wait_covers_writes_begun_before_it_and_callers_share_fsyncs() {
        let dir = scratch("group");
        std::fs::write(dir.join("adcp.db-wal"), b"frames").expect("a WAL");
        let commits = std::sync::Arc::new(GroupCommit::new(dir.join("adcp.db")));
        // A write begun but not ended: a wait started now returns only after it ends.
        commits.starting();
        let waiting = tokio::spawn({
            let commits = commits.clone();
            async move { commits.durable().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits for the write in flight");
        commits.wrote();
        waiting.await.expect("no panic").expect("synced");
        assert_eq!(commits.synced.load(Ordering::SeqCst), 1);

        let callers = (0..64).map(|_| {
            let commits = commits.clone();
            tokio::spawn(async move {
                commits.starting();
                commits.wrote();
                let mine = commits.started.load(Ordering::SeqCst);
                commits.durable().await.expect("synced");
                assert!(commits.synced.load(Ordering::SeqCst) >= mine);
            })
        });
        for c in callers.collect::<Vec<_>>() {
            c.await.expect("no panic");
        }
        assert_eq!(commits.synced.load(Ordering::SeqCst), 65);
        commits.sync_directory().expect("the directory syncs");
        let _ = std::fs::remove_dir_all(dir);
    }
}
