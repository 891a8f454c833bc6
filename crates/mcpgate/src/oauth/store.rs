//! The state store: one small key-value interface with TTLs, two implementations.
//!
//! - **Embedded** (default): a [redb] file under the data dir; a single replica keeps logins
//!   across restarts with nothing else to run. redb locks the file, so two processes cannot
//!   share it (use Redis for replicas).
//! - **Redis** (`MCP_STORE_URL=redis://…`): shared by every replica; TTLs are Redis TTLs.
//!
//! Values are opaque bytes (JSON records from `oauth/mod.rs`); secrets inside them are
//! encrypted or hashed before they get here. `take` is atomic (one-time codes and states),
//! `put_new` is set-if-absent (cross-replica locks).

use redb::{
    ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// key → (expires at, unix ms; value)
const KV: TableDefinition<'_, &str, (u64, &[u8])> = TableDefinition::new("kv");

/// A store failure (the message names the backend, never a value).
#[derive(Debug, thiserror::Error)]
#[error("state store ({backend}): {message}")]
pub struct StoreError {
    backend: &'static str,
    message: String,
}

impl StoreError {
    fn embedded(e: impl std::fmt::Display) -> Self {
        Self {
            backend: "embedded",
            message: e.to_string(),
        }
    }
    fn redis(e: &redis::RedisError) -> Self {
        Self {
            backend: "redis",
            // The URL (with a possible password) is never part of a RedisError's text.
            message: e.to_string(),
        }
    }
}

/// The store.
#[derive(Clone)]
pub enum Store {
    /// A redb file.
    Embedded(Arc<redb::Database>),
    /// A Redis server (connection manager reconnects by itself).
    Redis(redis::aio::ConnectionManager, String),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded(_) => f.write_str("Store::Embedded"),
            Self::Redis(..) => f.write_str("Store::Redis"),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

impl Store {
    /// Opens (or creates) `<dir>/mcpgate-state.redb`.
    pub fn embedded(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::embedded(format!("cannot create MCP_DATA_DIR {}: {e}", dir.display()))
        })?;
        let path = dir.join("mcpgate-state.redb");
        private_file(&path).map_err(|e| {
            StoreError::embedded(format!("cannot make {} private: {e}", path.display()))
        })?;
        let db = redb::Database::create(&path).map_err(|e| {
            let hint = match &e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    "is another mcpgate using it? use MCP_STORE_URL=redis://… for several replicas"
                }
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if io.kind() != std::io::ErrorKind::InvalidData =>
                {
                    "cannot read or write it"
                }
                _ => {
                    "the file is corrupted or not an mcpgate state file; it is left as it is: move it away to start with an empty store (every sign-in is lost)"
                }
            };
            StoreError::embedded(format!("cannot open {} ({hint}): {e}", path.display()))
        })?;
        let txn = db.begin_write().map_err(StoreError::embedded)?;
        txn.open_table(KV).map_err(StoreError::embedded)?;
        txn.commit().map_err(StoreError::embedded)?;
        Ok(Self::Embedded(Arc::new(db)))
    }

    /// Connects to Redis; `prefix` namespaces every key (e.g. `mcpgate:`).
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::redis(&e))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            redis::aio::ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError {
            backend: "redis",
            message: "no connection within 10 s".into(),
        })?
        .map_err(|e| StoreError::redis(&e))?;
        Ok(Self::Redis(conn, prefix.to_owned()))
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        match self {
            Self::Embedded(db) => {
                let (db, key, value) = (db.clone(), key.to_owned(), value.to_vec());
                blocking(move || {
                    let txn = db.begin_write()?;
                    {
                        let mut t = txn.open_table(KV)?;
                        t.insert(key.as_str(), (now_ms() + ttl_ms(ttl), value.as_slice()))?;
                    }
                    txn.commit()?;
                    Ok(())
                })
                .await
            }
            Self::Redis(conn, prefix) => {
                let mut c = conn.clone();
                redis::cmd("SET")
                    .arg(format!("{prefix}{key}"))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms(ttl))
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| StoreError::redis(&e))
            }
        }
    }

    /// Stores `value` only if `key` is absent (or expired); true when it was stored.
    pub async fn put_new(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Embedded(db) => {
                let (db, key, value) = (db.clone(), key.to_owned(), value.to_vec());
                blocking(move || {
                    let txn = db.begin_write()?;
                    let stored = {
                        let mut t = txn.open_table(KV)?;
                        let live = t.get(key.as_str())?.is_some_and(|v| v.value().0 > now_ms());
                        if !live {
                            t.insert(key.as_str(), (now_ms() + ttl_ms(ttl), value.as_slice()))?;
                        }
                        !live
                    };
                    txn.commit()?;
                    Ok(stored)
                })
                .await
            }
            Self::Redis(conn, prefix) => {
                let mut c = conn.clone();
                let r: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}{key}"))
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms(ttl))
                    .query_async(&mut c)
                    .await
                    .map_err(|e| StoreError::redis(&e))?;
                Ok(r.is_some())
            }
        }
    }

    /// The live value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Embedded(db) => {
                // A read transaction is a memory-mapped lookup: no need for a blocking thread.
                let txn = db.begin_read().map_err(StoreError::embedded)?;
                let t = txn.open_table(KV).map_err(StoreError::embedded)?;
                let v = t.get(key).map_err(StoreError::embedded)?;
                Ok(v.and_then(|v| {
                    let (exp, bytes) = v.value();
                    (exp > now_ms()).then(|| bytes.to_vec())
                }))
            }
            Self::Redis(conn, prefix) => {
                let mut c = conn.clone();
                redis::cmd("GET")
                    .arg(format!("{prefix}{key}"))
                    .query_async(&mut c)
                    .await
                    .map_err(|e| StoreError::redis(&e))
            }
        }
    }

    /// Removes `key` and returns its live value, atomically: of two concurrent callers only
    /// one gets it.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Embedded(db) => {
                let (db, key) = (db.clone(), key.to_owned());
                blocking(move || {
                    let txn = db.begin_write()?;
                    let v = {
                        let mut t = txn.open_table(KV)?;
                        let removed = t.remove(key.as_str())?;
                        removed.and_then(|v| {
                            let (exp, bytes) = v.value();
                            (exp > now_ms()).then(|| bytes.to_vec())
                        })
                    };
                    txn.commit()?;
                    Ok(v)
                })
                .await
            }
            Self::Redis(conn, prefix) => {
                let mut c = conn.clone();
                redis::cmd("GETDEL")
                    .arg(format!("{prefix}{key}"))
                    .query_async(&mut c)
                    .await
                    .map_err(|e| StoreError::redis(&e))
            }
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.take(key).await.map(drop)
    }

    /// Whether every replica sees this store (Redis), rather than one process (embedded).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Redis(..))
    }

    /// Counts one more hit in the fixed window that `key` starts (Redis only; the embedded
    /// store answers `(0, 0)`, leaving limits to the process). Returns the count and the time
    /// until the window ends.
    pub async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<(u64, Duration), StoreError> {
        let Self::Redis(conn, prefix) = self else {
            return Ok((0, Duration::ZERO));
        };
        let mut c = conn.clone();
        let k = format!("{prefix}{key}");
        let (n, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&k)
            .arg(0)
            .arg("PX")
            .arg(ttl_ms(window))
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&k)
            .cmd("PTTL")
            .arg(&k)
            .query_async(&mut c)
            .await
            .map_err(|e| StoreError::redis(&e))?;
        Ok((n, Duration::from_millis(ttl.max(0) as u64)))
    }

    /// Whether the store answers (for `/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Embedded(db) => db.begin_read().map(drop).map_err(StoreError::embedded),
            Self::Redis(conn, _) => {
                let mut c = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .map(drop)
                    .map_err(|e| StoreError::redis(&e))
            }
        }
    }

    /// Drops expired entries of the embedded store (Redis expires keys itself); returns how
    /// many went.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let Self::Embedded(db) = self else {
            return Ok(0);
        };
        let db = db.clone();
        blocking(move || {
            let now = now_ms();
            let txn = db.begin_write()?;
            let n = {
                let mut t = txn.open_table(KV)?;
                let before = t.len()?;
                t.retain(|_, (exp, _)| exp > now)?;
                before.saturating_sub(t.len()?) as usize
            };
            txn.commit()?;
            Ok(n)
        })
        .await
    }
}

/// Creates `path` readable by its owner only (0600), or narrows an existing file to that:
/// the store holds sealed upstream tokens and token hashes.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Runs a redb write on the blocking pool (commits fsync).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, redb::Error> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::embedded)?
        .map_err(StoreError::embedded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)]
mod tests {
    use super::*;

    async fn exercise(store: &Store, ns: &str) {
        let k = |s: &str| format!("{ns}:{s}");
        store
            .put(&k("a"), b"1", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            store.get(&k("a")).await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert!(
            !store
                .put_new(&k("a"), b"2", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert_eq!(
            store.take(&k("a")).await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(store.take(&k("a")).await.unwrap(), None, "take is one-time");
        assert!(
            store
                .put_new(&k("a"), b"3", Duration::from_millis(30))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(store.get(&k("a")).await.unwrap(), None, "expired");
        assert!(
            store
                .put_new(&k("a"), b"4", Duration::from_secs(60))
                .await
                .unwrap(),
            "expired entries do not block put_new"
        );
        store.delete(&k("a")).await.unwrap();
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn embedded_store_semantics_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::embedded(dir.path()).unwrap();
            exercise(&s, "t").await;
            s.put("keep", b"v", Duration::from_secs(60)).await.unwrap();
            s.put("gone", b"v", Duration::from_millis(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(s.purge_expired().await.unwrap(), 1);
        }
        let s = Store::embedded(dir.path()).unwrap();
        assert_eq!(
            s.get("keep").await.unwrap().as_deref(),
            Some(&b"v"[..]),
            "survives a reopen"
        );
    }

    #[tokio::test]
    async fn redis_store_semantics() {
        let url =
            std::env::var("MCPGATE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let Ok(s) = Store::redis(&url, "mcpgate-unit:").await else {
            assert!(
                std::env::var("MCPGATE_REQUIRE_INTEROP").is_err(),
                "Redis is required in CI"
            );
            return;
        };
        let ns = uuid::Uuid::new_v4().to_string();
        exercise(&s, &ns).await;
        let key = format!("{ns}:rl");
        let w = Duration::from_secs(60);
        assert_eq!(s.count_in_window(&key, w).await.unwrap().0, 1);
        let (n, reset) = s.count_in_window(&key, w).await.unwrap();
        assert_eq!(n, 2);
        assert!(reset > Duration::from_secs(50) && reset <= w, "{reset:?}");
        s.delete(&key).await.unwrap();
    }
}
