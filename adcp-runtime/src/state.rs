//! Adopter state: JSON documents per (account scope, collection, id), in the same store as the
//! runtime's tasks and idempotency records, so a platform's media buys, creatives and accounts
//! survive a restart and are shared by replicas. `update` is a read-modify-write that retries
//! when another writer got there first.

use std::collections::BTreeMap;
use std::marker::PhantomData;
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

/// A collection of documents of one type: declare one as a constant and name it on every
/// access, so a collection is always read as the type it was written with.
///
/// ```
/// use adcp_runtime::state::Collection;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct MediaBuy;
/// const MEDIA_BUYS: Collection<MediaBuy> = Collection::new("media_buys");
/// ```
pub struct Collection<T> {
    name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Collection<T> {
    /// The collection `name`.
    pub const fn new(name: &'static str) -> Self {
        Collection {
            name,
            _type: PhantomData,
        }
    }

    /// Its name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Collection<T> {}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Collection").field(&self.name).finish()
    }
}

/// Typed access to one account's documents in a [`StateStore`]: [`Ctx::state`] gives the
/// request's account's, [`Server::state`] any scope's.
///
/// [`Ctx::state`]: crate::Ctx::state
/// [`Server::state`]: crate::Server::state
pub struct State<'s> {
    store: &'s dyn StateStore,
    scope: &'s str,
}

impl<'s> State<'s> {
    /// Typed access to the documents of `scope` in `store`.
    pub fn new(store: &'s dyn StateStore, scope: &'s str) -> Self {
        State { store, scope }
    }

    /// The scope these documents belong to.
    pub fn scope(&self) -> &str {
        self.scope
    }

    /// A document.
    pub async fn get<T: DeserializeOwned>(
        &self,
        collection: Collection<T>,
        id: &str,
    ) -> AdcpResult<Option<T>> {
        match self
            .store
            .get(self.scope, collection.name, id)
            .await
            .map_err(|e| store_error(&e))?
        {
            Some(v) => decode(v.value).map(Some),
            None => Ok(None),
        }
    }

    /// Every document of a collection, by id.
    pub async fn list<T: DeserializeOwned>(&self, collection: Collection<T>) -> AdcpResult<Vec<T>> {
        let rows = self
            .store
            .list(self.scope, collection.name)
            .await
            .map_err(|e| store_error(&e))?;
        rows.into_iter().map(|(_, v)| decode(v)).collect()
    }

    /// Writes a document, whatever was there.
    pub async fn put<T: Serialize + DeserializeOwned>(
        &self,
        collection: Collection<T>,
        id: &str,
        value: &T,
    ) -> AdcpResult<()> {
        let value = serde_json::to_value(value).map_err(|e| AdcpError::internal(e.to_string()))?;
        for _ in 0..CAS_ATTEMPTS {
            let expected = self
                .store
                .get(self.scope, collection.name, id)
                .await
                .map_err(|e| store_error(&e))?
                .map(|v| v.version);
            if self
                .store
                .compare_and_set(self.scope, collection.name, id, expected, &value)
                .await
                .map_err(|e| store_error(&e))?
            {
                return Ok(());
            }
        }
        Err(kept_changing())
    }

    /// Reads the document's slot (`None`: there is none), lets `f` change it, and writes it
    /// back unless another writer changed it meanwhile, in which case `f` runs again on the
    /// new value; so `f` must only change its argument. A slot left `None` writes nothing;
    /// an error from `f` writes nothing. Returns what `f` returned.
    pub async fn entry<T, R>(
        &self,
        collection: Collection<T>,
        id: &str,
        mut f: impl FnMut(&mut Option<T>) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        for _ in 0..CAS_ATTEMPTS {
            let current = self
                .store
                .get(self.scope, collection.name, id)
                .await
                .map_err(|e| store_error(&e))?;
            let (mut slot, expected) = match current {
                Some(v) => (Some(decode::<T>(v.value)?), Some(v.version)),
                None => (None, None),
            };
            let r = f(&mut slot)?;
            let Some(doc) = &slot else {
                // Nothing to write (a document is removed with `delete`).
                return Ok(r);
            };
            let value =
                serde_json::to_value(doc).map_err(|e| AdcpError::internal(e.to_string()))?;
            if self
                .store
                .compare_and_set(self.scope, collection.name, id, expected, &value)
                .await
                .map_err(|e| store_error(&e))?
            {
                return Ok(r);
            }
        }
        Err(kept_changing())
    }

    /// Changes a document that starts as `T::default()` when there is none (a counter, a
    /// set): [`State::entry`] with a default.
    pub async fn update<T, R>(
        &self,
        collection: Collection<T>,
        id: &str,
        mut f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        self.entry(
            collection,
            id,
            |slot| f(slot.get_or_insert_with(T::default)),
        )
        .await
    }

    /// Changes an existing document; when there is none, nothing is written and the answer
    /// is `missing()` (the resource's not-found error).
    pub async fn modify<T, R>(
        &self,
        collection: Collection<T>,
        id: &str,
        missing: impl Fn() -> AdcpError,
        mut f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        self.entry(collection, id, |slot| match slot {
            Some(doc) => f(doc),
            None => Err(missing()),
        })
        .await
    }

    /// A `force_*_status` controller scenario on a document: moves the status `status` picks
    /// out of it to `to` (a wire value of the lifecycle's status enum) if `lifecycle` allows,
    /// with the controller's answers: `INVALID_PARAMS` for a status that is not one,
    /// `NOT_FOUND` for no such document, `INVALID_TRANSITION` (with the current state) for a
    /// move the lifecycle forbids. `touch` records the change on the document (its
    /// `updated_at`, revision).
    pub async fn force<T, S>(
        &self,
        collection: Collection<T>,
        id: &str,
        lifecycle: &crate::lifecycle::Lifecycle<S>,
        to: Option<&str>,
        status: fn(&mut T) -> &mut S,
        touch: fn(&mut T),
    ) -> AdcpResult<crate::platform::ControllerReply>
    where
        T: Serialize + DeserializeOwned,
        S: Copy + PartialEq + std::fmt::Display + std::str::FromStr,
    {
        use crate::platform::ControllerCode;
        let to: S = to.and_then(|t| t.parse().ok()).ok_or_else(|| {
            ControllerCode::InvalidParams
                .error(format!("`status` is not a {} status", lifecycle.resource))
        })?;
        let missing = || {
            ControllerCode::NotFound
                .error(format!("no such {} in this sandbox", lifecycle.resource))
        };
        self.modify(collection, id, missing, |doc| {
            let moved = lifecycle.force(status(doc), to)?;
            touch(doc);
            Ok(moved)
        })
        .await
    }

    /// Deletes a document.
    pub async fn delete<T>(&self, collection: Collection<T>, id: &str) -> AdcpResult<()> {
        self.store
            .delete(self.scope, collection.name, id)
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

    const COUNTERS: Collection<u64> = Collection::new("counters");

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_are_not_lost() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
        let mut joins = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            joins.push(tokio::spawn(async move {
                State::new(store.as_ref(), "s")
                    .update(COUNTERS, "c", |n: &mut u64| {
                        *n += 1;
                        Ok(())
                    })
                    .await
            }));
        }
        for j in joins {
            j.await.unwrap().unwrap();
        }
        let n = State::new(store.as_ref(), "s")
            .get(COUNTERS, "c")
            .await
            .unwrap();
        assert_eq!(n, Some(50));
    }
}
