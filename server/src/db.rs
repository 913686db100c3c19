//! The one SQLite pool and its migrations.

use sqlx::SqlitePool;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot add the built-in rules to {path}: {source}")]
    Rules {
        path: String,
        source: app::db::rules::RulesError,
    },
    #[error("cannot update the events stored in {path}: {source}")]
    Fix {
        path: String,
        source: crate::ingest::store::StoreError,
    },
}

/// Process-wide SQLite settings; call once at start-up, before any connection opens.
/// Turns off SQLite's allocation statistics, which take a global mutex on every
/// allocation and are never read here.
pub fn configure_library() {
    // SAFETY: `sqlite3_config` may be called only while the library is not initialised,
    // which holds at the top of `main`; on misuse it returns SQLITE_MISUSE and changes
    // nothing, so the result is only logged.
    let rc = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0) };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite allocation statistics stay on");
    }
}

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
pub async fn connect(path: &Path) -> Result<SqlitePool, DbError> {
    let shown = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| DbError::Folder {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30))
        .statement_cache_capacity(256)
        // 8 MiB of page cache per connection, and no memory map: the operating system's
        // page cache holds the file for all of them. With 64 MiB each and a 256 MiB map,
        // 64 analysts at once took the server to 2.5 GB resident (each connection maps
        // the file for itself); so the server stays near 200 MB however busy it is.
        .pragma("cache_size", "-8192")
        // Temporary results (a scan's selection, sorts) spill to a file past the cache
        // instead of growing in memory with the selection.
        .pragma("temp_store", "file")
        // Bigger pages for a store of many ~300-byte rows: fewer B-tree splits and WAL
        // frames per event (about 8% faster imports than 4 KiB). Takes effect only when
        // the database file is created.
        .page_size(16384)
        // Pages freed by the retention go back to the file system a few at a time
        // (`PRAGMA incremental_vacuum`). Takes effect only when the database is created:
        // an older database keeps its freed pages for new events.
        .auto_vacuum(SqliteAutoVacuum::Incremental);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open {
            path: shown.clone(),
            source,
        })?;
    sqlx::migrate!("../migrations")
        .run(&pool)
        .await
        .map_err(|source| DbError::Migrate {
            path: shown.clone(),
            source,
        })?;
    app::db::rules::ensure_builtins(&pool, chrono::Utc::now().timestamp_millis())
        .await
        .map_err(|source| DbError::Rules {
            path: shown.clone(),
            source,
        })?;
    // Fixes of stored events that need their original records (each run once).
    {
        let at = path.to_path_buf();
        tokio::task::spawn_blocking(move || crate::ingest::fixes::apply(&at))
            .await
            .map_err(|e| DbError::Fix {
                path: shown.clone(),
                source: crate::ingest::store::StoreError::Thread(e.to_string()),
            })?
            .map_err(|source| DbError::Fix {
                path: shown,
                source,
            })?;
    }
    Ok(pool)
}
