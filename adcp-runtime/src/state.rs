//! Adopter state: JSON documents per (account scope, collection, id), in the same store as the
//! runtime's tasks and idempotency records, so a platform's media buys, creatives and accounts
//! survive a restart and are shared by replicas. `update` is a read-modify-write that retries
//! when another writer got there first.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AdcpError, AdcpResult};
use crate::platform::BoxFuture;
use crate::tasks::StoreError;

/// A stored document and its version (for compare-and-set).
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    /// The document.
    pub value: Value,
    /// Incremented on every write.
    pub version: i64,
}

/// Where adopter state lives.
pub trait StateStore: Send + Sync + 'static {
    /// A document.
    fn get<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>>;
    /// Writes a document if its version is still `expected` (`None`: if it does not exist).
    /// `Ok(false)` when another writer changed it first.
    fn compare_and_set<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Every document of a collection, by id.
    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>>;
    /// Deletes a document.
    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

fn store_error(e: &StoreError) -> AdcpError {
    tracing::error!(error = %e, "state store");
    AdcpError::internal("the state store is unavailable")
}

/// How often a read-modify-write is retried before giving up.
const CAS_ATTEMPTS: usize = 64;

fn kept_changing() -> AdcpError {
    AdcpError::new(
        crate::codes::CONFLICT,
        "the document kept changing; try again",
    )
    .with_recovery(crate::Recovery::Transient)
}

fn decode<T: DeserializeOwned>(v: Value) -> AdcpResult<T> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "a stored document does not decode");
        AdcpError::internal("stored state does not decode")
    })
}

/// Typed access to a [`StateStore`].
pub struct State<'s> {
    store: &'s dyn StateStore,
}

impl<'s> State<'s> {
    /// Typed access to `store`.
    pub fn new(store: &'s dyn StateStore) -> Self {
        State { store }
    }

    /// A document, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
    ) -> AdcpResult<Option<T>> {
        match self
            .store
            .get(scope, collection, id)
            .await
            .map_err(|e| store_error(&e))?
        {
            Some(v) => decode(v.value).map(Some),
            None => Ok(None),
        }
    }

    /// Every document of a collection, decoded.
    pub async fn list<T: DeserializeOwned>(
        &self,
        scope: &str,
        collection: &str,
    ) -> AdcpResult<Vec<T>> {
        let rows = self
            .store
            .list(scope, collection)
            .await
            .map_err(|e| store_error(&e))?;
        rows.into_iter().map(|(_, v)| decode(v)).collect()
    }

    /// Reads a document (or `T::default()`), lets `f` change it, and writes it back unless
    /// another writer changed it meanwhile, in which case `f` runs again on the new value. So `f`
    /// must only change its argument. Returns what `f` returned; an error from `f` writes nothing.
    pub async fn update<T, R>(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
        f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        self.rewrite(scope, collection, id, || Some(T::default()), f)
            .await?
            .ok_or_else(kept_changing)
    }

    /// Writes a document, whatever was there.
    pub async fn put<T: Serialize>(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
        value: &T,
    ) -> AdcpResult<()> {
        let value = serde_json::to_value(value).map_err(|e| AdcpError::internal(e.to_string()))?;
        let replace = |doc: &mut Value| {
            doc.clone_from(&value);
            Ok(())
        };
        self.rewrite(scope, collection, id, || Some(Value::Null), replace)
            .await
            .map(drop)
    }

    /// Changes an existing document like [`State::update`]; `Ok(None)` (and nothing written)
    /// when there is none.
    pub async fn modify<T, R>(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
        f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<Option<R>>
    where
        T: Serialize + DeserializeOwned,
    {
        self.rewrite(scope, collection, id, || None, f).await
    }

    /// The compare-and-set loop behind `update`, `put` and `modify`: `missing` gives the
    /// document to start from when there is none (`None`: leave it absent).
    async fn rewrite<T, R>(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
        missing: impl Fn() -> Option<T>,
        mut f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<Option<R>>
    where
        T: Serialize + DeserializeOwned,
    {
        for _ in 0..CAS_ATTEMPTS {
            let current = self
                .store
                .get(scope, collection, id)
                .await
                .map_err(|e| store_error(&e))?;
            let (mut doc, expected) = match current {
                Some(v) => (decode::<T>(v.value)?, Some(v.version)),
                None => match missing() {
                    Some(doc) => (doc, None),
                    None => return Ok(None),
                },
            };
            let r = f(&mut doc)?;
            let value =
                serde_json::to_value(&doc).map_err(|e| AdcpError::internal(e.to_string()))?;
            if self
                .store
                .compare_and_set(scope, collection, id, expected, &value)
                .await
                .map_err(|e| store_error(&e))?
            {
                return Ok(Some(r));
            }
        }
        Err(kept_changing())
    }

    /// Deletes a document.
    pub async fn delete(&self, scope: &str, collection: &str, id: &str) -> AdcpResult<()> {
        self.store
            .delete(scope, collection, id)
            .await
            .map_err(|e| store_error(&e))
    }
}

/// State in memory.
#[derive(Default)]
pub struct MemoryStateStore {
    docs: Mutex<BTreeMap<(String, String, String), Versioned>>,
}

impl StateStore for MemoryStateStore {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        let key = (scope.to_owned(), collection.to_owned(), id.to_owned());
        let r = self
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        Box::pin(async move { Ok(r) })
    }

    fn compare_and_set<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = (scope.to_owned(), collection.to_owned(), id.to_owned());
        let mut docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        let current = docs.get(&key).map(|v| v.version);
        let ok = current == expected;
        if ok {
            docs.insert(
                key,
                Versioned {
                    value: value.clone(),
                    version: current.unwrap_or(0) + 1,
                },
            );
        }
        Box::pin(async move { Ok(ok) })
    }

    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>> {
        let r = self
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|((s, c, _), _)| s == scope && c == collection)
            .map(|((_, _, id), v)| (id.clone(), v.value.clone()))
            .collect();
        Box::pin(async move { Ok(r) })
    }

    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = (scope.to_owned(), collection.to_owned(), id.to_owned());
        self.docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_are_not_lost() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
        let mut joins = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            joins.push(tokio::spawn(async move {
                State::new(store.as_ref())
                    .update("s", "counters", "c", |n: &mut u64| {
                        *n += 1;
                        Ok(())
                    })
                    .await
            }));
        }
        for j in joins {
            j.await.unwrap().unwrap();
        }
        let n: Option<u64> = State::new(store.as_ref())
            .get("s", "counters", "c")
            .await
            .unwrap();
        assert_eq!(n, Some(50));
    }
}
