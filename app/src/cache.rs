//! What the pages read, answered once per view and state of the store: analysts who open
//! the same link (an alert's, a colleague's) share one computation. An entry is keyed by
//! what was asked (the canonical query, the minute it resolves against) and holds for
//! as long as nothing has been committed to the database since: the store's state is
//! SQLite's `data_version`, read on a connection that only ever reads it, so a commit by
//! anyone (this server's sync, an import in another process, a setting changed) makes
//! every entry stale. Concurrent requests for the same entry wait for the one that
//! computes it. Results are the same for every role; what differs by user is set by the
//! caller after the cache.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Entries kept, the oldest dropped first (a page's data is 10 KB to 1 MB).
const ENTRIES: usize = 64;

type Value = Arc<dyn Any + Send + Sync>;
type Cell = Arc<tokio::sync::OnceCell<Value>>;

#[derive(Default)]
struct Entries {
    map: HashMap<String, (i64, Cell)>,
    order: VecDeque<String>,
}

struct Inner {
    /// The connection `PRAGMA data_version` is read on (it never writes: every commit
    /// changes the value it sees).
    version: tokio::sync::Mutex<Option<sqlx::SqliteConnection>>,
    options: sqlx::sqlite::SqliteConnectOptions,
    entries: Mutex<Entries>,
}

/// The cache of page data (in the request context, see `provide_contexts`).
#[derive(Clone)]
pub struct PageCache(Arc<Inner>);

impl PageCache {
    /// A cache over the database `pool` reads.
    pub fn new(pool: &sqlx::SqlitePool) -> PageCache {
        PageCache(Arc::new(Inner {
            version: tokio::sync::Mutex::new(None),
            options: pool.connect_options().as_ref().clone(),
            entries: Mutex::new(Entries::default()),
        }))
    }

    /// The state of the store: changes whenever anything is committed.
    async fn version(&self) -> Result<i64, sqlx::Error> {
        use sqlx::ConnectOptions;
        let mut conn = self.0.version.lock().await;
        if conn.is_none() {
            *conn = Some(self.0.options.connect().await?);
        }
        let Some(c) = conn.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut *c).await {
            Ok(v) => Ok(v),
            Err(e) => {
                // A broken connection is opened again next time.
                *conn = None;
                Err(e)
            }
        }
    }

    /// The entry `key` of the store's present state, computing it with `compute` when
    /// there is none. Errors are not kept; when the store's state cannot be read, the
    /// value is computed without the cache.
    pub async fn get<T, E, F, Fut>(&self, key: String, compute: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Clone,
        Fut: Future<Output = Result<T, E>>,
    {
        let version = match self.version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the page cache cannot read the store's state");
                return compute().await;
            }
        };
        let key = format!("{:?}\n{key}", std::any::TypeId::of::<T>());
        let cell = {
            let mut entries = self.0.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.map.get(&key) {
                Some((v, cell)) if *v == version => cell.clone(),
                _ => {
                    let cell: Cell = Arc::default();
                    if entries.map.insert(key.clone(), (version, cell.clone())).is_none() {
                        entries.order.push_back(key);
                    }
                    while entries.order.len() > ENTRIES {
                        if let Some(old) = entries.order.pop_front() {
                            entries.map.remove(&old);
                        }
                    }
                    cell
                }
            }
        };
        let init = compute.clone();
        let value = cell
            .get_or_try_init(|| async { init().await.map(|t| Arc::new(t) as Value) })
            .await?;
        match value.downcast_ref::<T>() {
            Some(t) => Ok(t.clone()),
            // Keys carry the type, so this cannot happen; computing again is right anyway.
            None => compute().await,
        }
    }
}

/// The page cache from the request context, if there is one.
pub fn from_context() -> Option<PageCache> {
    leptos::prelude::use_context::<PageCache>()
}

/// The key of a view: what it is of (`scope`: a principal, a resource, or nothing), its
/// canonical query, and the minute its range resolves against.
pub fn view_key(scope: &str, query: &crate::query::EventQuery, now_ms: i64) -> String {
    format!("{scope}\n{}\n{}", query.to_query(), now_ms.div_euclid(60_000))
}

/// `compute`, through the request's page cache when it has one.
pub async fn cached<T, E, F, Fut>(key: String, compute: F) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Clone,
    Fut: Future<Output = Result<T, E>>,
{
    match from_context() {
        Some(cache) => cache.get(key, compute).await,
        None => compute().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn an_entry_is_computed_once_until_the_store_changes() {
        let dir = std::env::temp_dir().join(format!("cairn-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("c.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS t (x INTEGER)").execute(&pool).await.unwrap();
        let cache = PageCache::new(&pool);
        let runs = Arc::new(AtomicUsize::new(0));
        let ask = |key: &'static str| {
            let (cache, runs) = (cache.clone(), runs.clone());
            async move {
                cache
                    .get(key.to_owned(), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, sqlx::Error>(key.len())
                    })
                    .await
                    .unwrap()
            }
        };
        // Eight at once: one computation.
        let all = futures::future::join_all((0..8).map(|_| ask("a"))).await;
        assert_eq!(all, vec![1; 8]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(ask("bb").await, 2);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A commit anywhere makes the entries stale.
        sqlx::query("INSERT INTO t VALUES (1)").execute(&pool).await.unwrap();
        ask("a").await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        ask("a").await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        // An error is not kept.
        let failed: Result<usize, &str> = cache.get("c".into(), || async { Err("no") }).await;
        assert!(failed.is_err());
        let ok: Result<usize, &str> = cache.get("c".into(), || async { Ok(3) }).await;
        assert_eq!(ok, Ok(3));
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
