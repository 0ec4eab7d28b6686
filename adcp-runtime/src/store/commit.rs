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
use std::sync::atomic::{AtomicU64, Ordering};

/// The commits of one SQLite database and how many of them are known to be on disk.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    /// The database's `-wal` file.
    wal: PathBuf,
    /// Commits made (counted after each returns).
    written: AtomicU64,
    /// Of those, how many an fsync has covered.
    synced: AtomicU64,
    /// Held by the caller whose fsync is running; the others wait here.
    leader: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// The group commit of the database at `database` (its WAL is `<database>-wal`).
    pub(crate) fn new(database: impl Into<PathBuf>) -> Self {
        let mut wal = database.into().into_os_string();
        wal.push("-wal");
        GroupCommit {
            wal: wal.into(),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            leader: tokio::sync::Mutex::new(()),
        }
    }

    /// A commit returned: it is in the WAL, perhaps not yet on disk.
    pub(crate) fn wrote(&self) {
        self.written.fetch_add(1, Ordering::SeqCst);
    }

    /// Returns once every commit counted before the call is on disk: at once when an fsync
    /// already covered them, otherwise after the fsync that does (this caller's or one it
    /// waited behind).
    pub(crate) async fn durable(&self) -> std::io::Result<()> {
        let target = self.written.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _leader = self.leader.lock().await;
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(()); // the fsync this caller waited behind covered it
        }
        // Every commit counted now is in the WAL before the fsync starts.
        let upto = self.written.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || match std::fs::File::open(&wal) {
            Ok(file) => file.sync_data(),
            // No WAL: it was checkpointed into the (synced) database file and removed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)??;
        self.synced.fetch_max(upto, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_written_needs_no_fsync_and_a_missing_wal_is_durable() {
        let commits = GroupCommit::new("/nonexistent/adcp.db");
        commits.durable().await.expect("no write, nothing to sync");
        commits.wrote();
        // The WAL does not exist: everything is in the database file.
        commits.durable().await.expect("no WAL");
        assert_eq!(commits.synced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_fsyncs_and_each_is_covered() {
        let dir = std::env::temp_dir().join(format!("adcp-commit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let db = dir.join("adcp.db");
        std::fs::write(dir.join("adcp.db-wal"), b"frames").expect("a WAL");
        let commits = std::sync::Arc::new(GroupCommit::new(&db));
        let callers = (0..64).map(|_| {
            let commits = commits.clone();
            tokio::spawn(async move {
                commits.wrote();
                let mine = commits.written.load(Ordering::SeqCst);
                commits.durable().await.expect("synced");
                assert!(commits.synced.load(Ordering::SeqCst) >= mine);
            })
        });
        for c in callers.collect::<Vec<_>>() {
            c.await.expect("no panic");
        }
        assert_eq!(commits.synced.load(Ordering::SeqCst), 64);
        commits.sync_directory().expect("the directory syncs");
        let _ = std::fs::remove_dir_all(dir);
    }
}
