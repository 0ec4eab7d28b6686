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
//! reused, so a frame checkpointed before the fsync is durable too. SQLite's automatic
//! checkpoint is off (it would make one commit in a thousand pages copy the whole WAL and fsync
//! twice, holding every writer behind it): after an fsync finds the WAL past
//! [`CHECKPOINT_AFTER`] bytes, a checkpoint runs on a blocking thread of its own, beside the
//! writer. When it has run, the writer's next batch first copies the few frames committed
//! meanwhile, so that the WAL is wholly checkpointed and the batch writes it from its beginning
//! again (under writes that never pause, the checkpoint beside would never catch up, and the
//! WAL would grow for as long as they last). The WAL file is opened
//! afresh for each fsync: SQLite may delete and recreate it (the store holds its writer
//! connection open so that it does not, but a stale descriptor would sync nothing).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The WAL's size past which a checkpoint is started (SQLite's own default is 1,000 pages).
pub(crate) const CHECKPOINT_AFTER: u64 = 4 << 20;

/// Copies the WAL's frames into the database file (a passive checkpoint, on its own
/// connection: it neither waits for nor blocks the writer).
pub(crate) type Checkpoint = Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// The commits of one SQLite database and how many of them are known to be on disk.
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
    /// The checkpoint, when the store makes its own (see the module's documentation).
    checkpoint: Option<Checkpoint>,
    /// A checkpoint is running.
    checkpointing: Arc<AtomicBool>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("wal", &self.wal)
            .field("started", &self.started)
            .field("written", &self.written)
            .field("synced", &self.synced)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
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
            checkpoint: None,
            checkpointing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same, checkpointing with `checkpoint` when the WAL grows past [`CHECKPOINT_AFTER`].
    pub(crate) fn with_checkpoint(mut self, checkpoint: Checkpoint) -> Self {
        self.checkpoint = Some(checkpoint);
        self
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
            Ok(file) => {
                file.sync_data()?;
                Ok(file.metadata()?.len())
            }
            // No WAL: it was checkpointed into the database file and removed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::File::open(&database)?.sync_data()?;
                Ok(0)
            }
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        let wal_bytes = match synced {
            Ok(bytes) => bytes,
            Err(e) => {
                self.failed.store(true, Ordering::SeqCst);
                return Err(e);
            }
        };
        self.synced.fetch_max(upto, Ordering::SeqCst);
        if wal_bytes > CHECKPOINT_AFTER {
            self.start_checkpoint();
        }
        Ok(())
    }

    /// Starts a checkpoint on a blocking thread unless one is running; nobody waits for it.
    fn start_checkpoint(&self) {
        let Some(checkpoint) = self.checkpoint.clone() else {
            return;
        };
        if self.checkpointing.swap(true, Ordering::SeqCst) {
            return;
        }
        let running = self.checkpointing.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = checkpoint() {
                // Not a loss: the frames stay in the WAL, synced, and the next one retries.
                tracing::warn!(error = %e, "a checkpoint of the store failed");
            }
            running.store(false, Ordering::SeqCst);
        });
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

    /// Polls `done` for up to five seconds.
    async fn eventually(done: impl Fn() -> bool) -> bool {
        for _ in 0..500 {
            if done() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_long_wal_is_checkpointed_beside_the_writer_once_at_a_time() {
        let dir = scratch("checkpoint");
        let wal = dir.join("adcp.db-wal");
        std::fs::write(&wal, vec![0u8; 1024]).expect("a short WAL");
        let runs = Arc::new(AtomicU64::new(0));
        // The checkpoint runs until the test lets it end.
        let gate = Arc::new(AtomicBool::new(false));
        let (counted, held) = (runs.clone(), gate.clone());
        let commits = GroupCommit::new(dir.join("adcp.db")).with_checkpoint(Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            while !held.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(())
        }));
        let write = || async {
            commits.starting();
            commits.wrote();
            commits.durable().await.expect("synced");
        };
        write().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0, "a short WAL is left alone");

        std::fs::write(&wal, vec![0u8; CHECKPOINT_AFTER as usize + 1]).expect("a long WAL");
        write().await;
        assert!(eventually(|| runs.load(Ordering::SeqCst) == 1).await);
        // Answers do not wait for it, and no second one starts while it runs.
        write().await;
        write().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one checkpoint at a time");
        gate.store(true, Ordering::SeqCst);
        assert!(eventually(|| !commits.checkpointing.load(Ordering::SeqCst)).await);
        write().await;
        assert!(eventually(|| runs.load(Ordering::SeqCst) == 2).await);
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
