//! Adopter state: JSON documents per (account scope, collection, id), in the same store as the
//! runtime's tasks and idempotency records, so a platform's media buys, creatives and accounts
//! survive a restart and are shared by replicas. `update` is a read-modify-write that retries
//! when another writer got there first.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AdcpError, AdcpResult};
use crate::store::{StateStore, StatusChange, StoreError};

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
/// use adcp_runtime::Collection;
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

/// Typed access to one account's documents in a [`StateStore`]; every change is a
/// compare-and-set, retried when another writer (another replica) got there first.
///
/// ```
/// use adcp_runtime::{AdcpError, Collection, State};
/// use adcp_runtime::store::MemoryStateStore;
///
/// const COUNTERS: Collection<u64> = Collection::new("counters");
///
/// # tokio_test_block(async {
/// let store = MemoryStateStore::default();
/// let state = State::new(&store, "acct:acc_1");
/// state.update(COUNTERS, "buys", |n| Ok(*n += 1)).await?;
/// assert_eq!(state.get(COUNTERS, "buys").await?, Some(1));
/// let none = || AdcpError::new("NOT_FOUND", "no such counter");
/// assert!(state.modify(COUNTERS, "other", none, |n| Ok(*n += 1)).await.is_err());
/// # Ok::<_, AdcpError>(()) });
/// # fn tokio_test_block<F: std::future::Future<Output = Result<(), AdcpError>>>(f: F) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap()
/// # }
/// ```
///
/// Typed access to one account's documents in a [`StateStore`]: [`Ctx::state`] gives the
/// request's account's, [`Server::state`] any scope's.
///
/// [`Ctx::state`]: crate::Ctx::state
/// [`Server::state`]: crate::Server::state
///
/// A compliance runner's fixture sandbox (a scope [`crate::accounts`] makes for an account id
/// the runner provisioned) reads through to the sandbox's seeds: a document it has not written
/// is the seeded one, and the first change copies it in. Every other scope is on its own.
pub struct State<'s> {
    store: &'s dyn StateStore,
    scope: &'s str,
    bus: Option<&'s crate::events::Bus>,
    /// Where documents this scope has not written are read from (its seeds).
    under: Option<String>,
    /// Where every write is copied too (the controller's seeds, for fixture sandboxes).
    mirror: Option<String>,
}

impl<'s> State<'s> {
    /// Typed access to the documents of `scope` in `store`.
    pub fn new(store: &'s dyn StateStore, scope: &'s str) -> Self {
        State {
            store,
            scope,
            bus: None,
            under: crate::accounts::seeds_under(scope),
            mirror: None,
        }
    }

    /// Every write is also copied to `scope` (a sandbox's seeds), after it commits.
    pub(crate) fn mirroring(mut self, scope: Option<String>) -> Self {
        self.mirror = scope;
        self
    }

    /// The stored document of this scope, else the one it reads through to.
    async fn read(&self, collection: &str, id: &str) -> AdcpResult<(Option<Value>, Option<i64>)> {
        let own = self
            .store
            .get(self.scope, collection, id)
            .await
            .map_err(|e| store_error(&e))?;
        if let Some(v) = own {
            return Ok((Some(v.value), Some(v.version)));
        }
        let Some(under) = &self.under else {
            return Ok((None, None));
        };
        let seeded = self
            .store
            .get(under, collection, id)
            .await
            .map_err(|e| store_error(&e))?;
        Ok((seeded.map(|v| v.value), None))
    }

    /// Copies a committed write to the mirror scope, if any (best effort: the mirror is a
    /// test sandbox's seeds, and a lost copy only hides a fixture from fixture sandboxes).
    async fn mirror(&self, collection: &str, id: &str, value: Option<&Value>) {
        let Some(mirror) = &self.mirror else { return };
        let written = match value {
            Some(value) => {
                let mut ok = false;
                for _ in 0..CAS_ATTEMPTS {
                    let expected = match self.store.get(mirror, collection, id).await {
                        Ok(v) => v.map(|v| v.version),
                        Err(e) => {
                            tracing::warn!(error = %e, "copying a seed");
                            return;
                        }
                    };
                    match self
                        .store
                        .compare_and_set(mirror, collection, id, expected, value)
                        .await
                    {
                        Ok(true) => {
                            ok = true;
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "copying a seed");
                            return;
                        }
                    }
                }
                ok
            }
            None => self.store.delete(mirror, collection, id).await.is_ok(),
        };
        if !written {
            tracing::warn!(
                collection,
                id,
                "a seed was not copied to the fixture sandboxes"
            );
        }
    }

    /// Status changes recorded through these documents are also published on `bus`, once
    /// their write has committed.
    pub fn publishing(mut self, bus: &'s crate::events::Bus) -> Self {
        self.bus = Some(bus);
        self
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
        match self.read(collection.name, id).await?.0 {
            Some(v) => decode(v).map(Some),
            None => Ok(None),
        }
    }

    /// Every document of a collection, by id.
    pub async fn list<T: DeserializeOwned>(&self, collection: Collection<T>) -> AdcpResult<Vec<T>> {
        let mut rows = self
            .store
            .list(self.scope, collection.name)
            .await
            .map_err(|e| store_error(&e))?;
        if let Some(under) = &self.under {
            let seeded = self
                .store
                .list(under, collection.name)
                .await
                .map_err(|e| store_error(&e))?;
            let own: std::collections::HashSet<String> =
                rows.iter().map(|(id, _)| id.clone()).collect();
            rows.extend(seeded.into_iter().filter(|(id, _)| !own.contains(id)));
            rows.sort_by(|a, b| a.0.cmp(&b.0));
        }
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
                self.mirror(collection.name, id, Some(&value)).await;
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
        f: impl FnMut(&mut Option<T>) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        self.write(collection, id, None::<(fn(&T) -> String, &str)>, f)
            .await
    }

    /// [`State::entry`] for a document with a status (`status` reads it as its wire value):
    /// when `f` changes it, or makes the document, the change (from, to, `cause`, now) is
    /// recorded in the same transaction as the write, kept as the resource's audit trail
    /// ([`State::history`]), and published on the bus once committed (an [`Event`] of
    /// resource `collection` whose data carries `from`, `cause`, the document `version` and
    /// the change's `seq`). Concurrent writers may publish out of order: a subscriber orders
    /// by `seq` and reads the trail on a gap.
    ///
    /// [`Event`]: crate::Event
    pub async fn entry_recorded<T, R>(
        &self,
        collection: Collection<T>,
        id: &str,
        status: impl Fn(&T) -> String,
        cause: &str,
        f: impl FnMut(&mut Option<T>) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        self.write(collection, id, Some((status, cause)), f).await
    }

    /// The read-change-write loop of [`State::entry`], recording the status change when
    /// `recorded` gives the status reader and the cause.
    async fn write<T, R, S: Fn(&T) -> String>(
        &self,
        collection: Collection<T>,
        id: &str,
        recorded: Option<(S, &str)>,
        mut f: impl FnMut(&mut Option<T>) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        for _ in 0..CAS_ATTEMPTS {
            // A fixture sandbox's first change of a seeded document copies it in.
            let (current, expected) = self.read(collection.name, id).await?;
            let mut slot = current.map(decode::<T>).transpose()?;
            let from = recorded
                .as_ref()
                .and_then(|(status, _)| slot.as_ref().map(status));
            let r = f(&mut slot)?;
            let Some(doc) = &slot else {
                // Nothing to write (a document is removed with `delete`).
                return Ok(r);
            };
            let value =
                serde_json::to_value(doc).map_err(|e| AdcpError::internal(e.to_string()))?;
            let change = recorded.as_ref().and_then(|(status, cause)| {
                let to = status(doc);
                (from.as_ref() != Some(&to)).then(|| StatusChange {
                    resource: collection.name.to_owned(),
                    id: id.to_owned(),
                    from: from.clone(),
                    to,
                    cause: (*cause).to_owned(),
                    at: crate::time::millis(crate::time::now_ms()),
                    version: expected.unwrap_or(0) + 1,
                    seq: 0,
                })
            });
            let written = match &change {
                Some(c) => self
                    .store
                    .compare_and_set_recorded(self.scope, collection.name, id, expected, &value, c)
                    .await
                    .map(|seq| seq.map(Some)),
                None => self
                    .store
                    .compare_and_set(self.scope, collection.name, id, expected, &value)
                    .await
                    .map(|ok| ok.then_some(None)),
            }
            .map_err(|e| store_error(&e))?;
            if let Some(seq) = written {
                if let (Some(c), Some(seq), Some(bus)) = (change, seq, self.bus) {
                    bus.publish(crate::events::Event::of_change(self.scope, &c, seq));
                }
                self.mirror(collection.name, id, Some(&value)).await;
                return Ok(r);
            }
        }
        Err(kept_changing())
    }

    /// [`State::modify`] with the status change recorded: see [`State::entry_recorded`].
    pub async fn modify_recorded<T, R>(
        &self,
        collection: Collection<T>,
        id: &str,
        status: impl Fn(&T) -> String,
        cause: &str,
        missing: impl Fn() -> AdcpError,
        mut f: impl FnMut(&mut T) -> AdcpResult<R>,
    ) -> AdcpResult<R>
    where
        T: Serialize + DeserializeOwned,
    {
        self.entry_recorded(collection, id, status, cause, |slot| match slot {
            Some(doc) => f(doc),
            None => Err(missing()),
        })
        .await
    }

    /// Writes a new or replaced document with its status change recorded: see
    /// [`State::entry_recorded`].
    pub async fn put_recorded<T>(
        &self,
        collection: Collection<T>,
        id: &str,
        status: impl Fn(&T) -> String,
        cause: &str,
        value: &T,
    ) -> AdcpResult<()>
    where
        T: Serialize + DeserializeOwned + Clone,
    {
        self.entry_recorded(collection, id, status, cause, |slot| {
            *slot = Some(value.clone());
            Ok(())
        })
        .await
    }

    /// A document's status changes, oldest first: its audit trail.
    pub async fn history<T>(
        &self,
        collection: Collection<T>,
        id: &str,
    ) -> AdcpResult<Vec<StatusChange>> {
        self.store
            .status_history(self.scope, collection.name, id)
            .await
            .map_err(|e| store_error(&e))
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
    ) -> AdcpResult<crate::scenario::ControllerReply>
    where
        T: Serialize + DeserializeOwned,
        S: Copy + PartialEq + std::fmt::Display + std::str::FromStr,
    {
        use crate::scenario::ControllerCode;
        let to: S = to.and_then(|t| t.parse().ok()).ok_or_else(|| {
            ControllerCode::InvalidParams
                .error(format!("`status` is not a {} status", lifecycle.resource))
        })?;
        let missing = || {
            ControllerCode::NotFound
                .error(format!("no such {} in this sandbox", lifecycle.resource))
        };
        // The controller's moves are in the audit trail too, under its own cause (`status`
        // reaches through a `&mut`: it is read on a copy).
        let read = |doc: &T| -> String {
            let copy = serde_json::to_value(doc).ok();
            let mut copy: Option<T> = copy.and_then(|v| serde_json::from_value(v).ok());
            match copy.as_mut() {
                Some(d) => status(d).to_string(),
                // It was decoded from JSON a moment ago, so it round-trips.
                None => "unknown".to_owned(),
            }
        };
        self.modify_recorded(
            collection,
            id,
            read,
            "comply_test_controller",
            missing,
            |doc| {
                let moved = lifecycle.force(status(doc), to)?;
                touch(doc);
                Ok(moved)
            },
        )
        .await
    }

    /// Deletes a document.
    pub async fn delete<T>(&self, collection: Collection<T>, id: &str) -> AdcpResult<()> {
        self.store
            .delete(self.scope, collection.name, id)
            .await
            .map_err(|e| store_error(&e))?;
        self.mirror(collection.name, id, None).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStateStore;
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
