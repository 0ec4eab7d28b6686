//! The throwaway PostgreSQL of the `rust-pg2` system: the repository's `.ci/pg` (a cluster of
//! its own in a directory of its own, trust auth on 127.0.0.1 only, `fsync = off`), on a free
//! port, stopped and removed when dropped, so that an error anywhere in the run stops it too.
//!
//! `fsync = off` and `synchronous_commit = off` (the script's, for tests) make PostgreSQL's
//! commits cheaper than a production cluster's: the figures are the seller's and the
//! protocol's, not the disk's, and not comparable with SQLite's synced commits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running cluster; stopped when dropped.
pub(crate) struct Postgres {
    script: PathBuf,
    dir: PathBuf,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub(crate) url: String,
}

impl Postgres {
    /// Starts a cluster in `out/pg` (its log in `out/pg.log`).
    pub(crate) fn start(root: &Path, out: &Path) -> Result<Postgres, String> {
        let script = root.join(".ci/pg");
        let dir = out.join("pg");
        let port = super::free_port()?;
        let log_path = out.join("pg.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        eprintln!(
            "bench: starting PostgreSQL in {} on port {port}",
            dir.display()
        );
        // The guard first: whatever fails below, what was started is stopped. A cluster an
        // interrupted run left behind is stopped and removed too (initdb wants an empty
        // directory).
        let mut pg = Postgres {
            script,
            dir,
            url: String::new(),
        };
        pg.stop();
        let output = Command::new(&pg.script)
            .arg("start")
            .arg(&pg.dir)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stderr(log)
            .output()
            .map_err(|e| format!("{}: {e}", pg.script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "starting PostgreSQL failed (log: {})",
                log_path.display()
            ));
        }
        pg.url = String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("DATABASE_URL="))
            .map(str::to_owned)
            .ok_or_else(|| format!("{} printed no DATABASE_URL", pg.script.display()))?;
        Ok(pg)
    }

    fn stop(&self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        eprintln!("bench: stopping PostgreSQL");
        self.stop();
    }
}
