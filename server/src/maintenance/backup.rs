//! `cairn backup PATH`: a consistent copy of the database and its key file, taken while
//! `cairn serve`, syncs and imports go on.
//!
//! The copy is SQLite's `VACUUM INTO`, run in one read transaction: it is the database
//! as of one commit (every import and sync writes a file or page per transaction, so
//! events, summaries, search index and ledger agree in it), written compactly, and it
//! holds no write lock, so writers carry on beside it (the write-ahead log only grows
//! until the copy ends). The copy is written beside PATH under a temporary name, synced
//! to disk, then renamed: a PATH that exists is always a whole backup.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no database at {0}")]
    NoDatabase(String),
    #[error("{0} exists already; a backup never overwrites a file (choose a new name, e.g. with the date in it)")]
    Exists(String),
    #[error("cannot copy the database {db} into {to}: {source}")]
    Copy {
        db: String,
        to: String,
        source: rusqlite::Error,
    },
    #[error("the copy at {path} does not read back: {source}")]
    ReadBack {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// What a backup wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub path: PathBuf,
    /// Size of the database copy.
    pub bytes: u64,
    /// Events in the copy.
    pub events: i64,
    /// Where the key that opens the sources' and destinations' secrets went (none when
    /// the database has no key file yet: nothing is sealed in it).
    pub key_file: Option<PathBuf>,
    pub seconds: f64,
}

/// The key file that goes with a database copy at `path`: `PATH.key`, where `cairn`
/// looks for it when the copy is opened as `--db PATH`.
pub fn key_file_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

/// Copies the database at `db` (and its key file) to `to`. Blocking: run it off the
/// async runtime.
pub fn backup(db: &Path, to: &Path) -> Result<Backup, BackupError> {
    let started = Instant::now();
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.display().to_string()));
    }
    let key_to = key_file_of(to);
    for target in [to, key_to.as_path()] {
        if target.exists() {
            return Err(BackupError::Exists(target.display().to_string()));
        }
    }
    let dir = match to.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io("cannot create the folder", &dir))?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cairn-backup.db".into());
    let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
    // A partial copy left by a crash of this same process id is stale.
    let _ = std::fs::remove_file(&partial);

    let result = copy_into(db, &partial).and_then(|events| {
        // The copy holds every event: readable by its owner only, whatever the umask.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
                .map_err(io("cannot make private", &partial))?;
        }
        let file = std::fs::File::open(&partial).map_err(io("cannot open the copy", &partial))?;
        file.sync_all().map_err(io("cannot sync the copy", &partial))?;
        let bytes = file
            .metadata()
            .map_err(io("cannot read the size of", &partial))?
            .len();
        Ok((events, bytes))
    });
    let (events, bytes) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };

    // The key file first: a database copy is never found without its key.
    let key_from = crate::sync::secrets::key_path(db);
    let key_file = match std::fs::read_to_string(&key_from) {
        Ok(text) => {
            crate::sync::secrets::write_private(&key_to, &text)
                .map_err(io("cannot write the key file", &key_to))?;
            Some(key_to)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(io("cannot read the key file", &key_from)(e));
        }
    };
    if let Err(e) = std::fs::rename(&partial, to) {
        let _ = std::fs::remove_file(&partial);
        if let Some(k) = &key_file {
            let _ = std::fs::remove_file(k);
        }
        return Err(io("cannot move the copy to", to)(e));
    }
    // The rename is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Backup {
        path: to.to_path_buf(),
        bytes,
        events,
        key_file,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `VACUUM INTO` the new file, then the copy's event count, read from the copy itself.
fn copy_into(db: &Path, partial: &Path) -> Result<i64, BackupError> {
    let copy_err = |source| BackupError::Copy {
        db: db.display().to_string(),
        to: partial.display().to_string(),
        source,
    };
    // Read-write without create: a database in write-ahead-log mode is read through
    // its shared memory, which a read-only opener may not be able to set up.
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(copy_err)?;
    conn.busy_timeout(Duration::from_secs(60)).map_err(copy_err)?;
    let target = partial.to_string_lossy().into_owned();
    conn.execute("VACUUM INTO ?1", [&target]).map_err(copy_err)?;
    drop(conn);

    let read_back = |source| BackupError::ReadBack {
        path: partial.display().to_string(),
        source,
    };
    let copy = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(read_back)?;
    copy.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .map_err(read_back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_and_needs_a_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("a.db");
        assert!(matches!(backup(&db, &dir.path().join("b.db")), Err(BackupError::NoDatabase(_))));
        let conn = Connection::open(&db).expect("open");
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE events (id INTEGER PRIMARY KEY); INSERT INTO events DEFAULT VALUES;")
            .expect("schema");
        let to = dir.path().join("copies/b.db");
        let made = backup(&db, &to).expect("backup");
        assert_eq!(made.events, 1);
        assert!(made.bytes > 0);
        assert_eq!(made.key_file, None, "no key file beside the database: none copied");
        assert!(matches!(backup(&db, &to), Err(BackupError::Exists(_))));
        assert!(matches!(backup(&db, &db), Err(BackupError::Exists(_))));
        // No partial file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("copies"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("b.db")]);
    }

    #[test]
    fn the_key_file_goes_with_the_copy_and_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("a.db");
        Connection::open(&db)
            .expect("open")
            .execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY);")
            .expect("schema");
        let sealed = crate::sync::secrets::SecretBox::for_db(&db).expect("key").seal("secret");
        let to = dir.path().join("b.db");
        let made = backup(&db, &to).expect("backup");
        let key = made.key_file.expect("key copied");
        assert_eq!(key, dir.path().join("b.db.key"));
        for copy in [&key, &to] {
            let mode = std::fs::metadata(copy).expect("the copy").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by its owner only", copy.display());
        }
        let again = crate::sync::secrets::SecretBox::for_db(&to).expect("the copy's key");
        assert_eq!(again.open(&sealed).expect("opens"), "secret");
    }
}
