//! Adopter state in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::store::state::{StateStore, StatusChange, Versioned};
use crate::store::{BoxFuture, StoreError};

/// State in memory.
#[derive(Default)]
pub struct MemoryStateStore {
    docs: Mutex<Docs>,
}

type Key = (String, String, String);

/// A document as kept: its JSON text, a fraction of the size of the parsed tree (every object
/// of a `Value` a map of separately allocated keys and values), parsed again when read.
struct Kept {
    text: Box<str>,
    version: i64,
}

impl Kept {
    fn versioned(&self) -> Result<Versioned, StoreError> {
        Ok(Versioned {
            value: parse(&self.text)?,
            version: self.version,
        })
    }
}

fn parse(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(crate::store::corrupt("document"))
}

/// The documents and their status changes, under one lock (so a write and its change are one).
#[derive(Default)]
struct Docs {
    current: BTreeMap<Key, Kept>,
    changes: BTreeMap<Key, Vec<StatusChange>>,
}

impl std::ops::Deref for Docs {
    type Target = BTreeMap<Key, Kept>;
    fn deref(&self) -> &Self::Target {
        &self.current
    }
}

impl std::ops::DerefMut for Docs {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.current
    }
}

impl MemoryStateStore {
    fn cas(
        &self,
        key: Key,
        expected: Option<i64>,
        value: &Value,
        change: Option<&StatusChange>,
    ) -> Option<i64> {
        let mut docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        let current = docs.get(&key).map(|v| v.version);
        if current != expected {
            return None;
        }
        let version = current.unwrap_or(0) + 1;
        let mut seq = 0;
        if let Some(c) = change {
            let trail = docs.changes.entry(key.clone()).or_default();
            seq = i64::try_from(trail.len()).unwrap_or(i64::MAX - 1) + 1;
            trail.push(StatusChange {
                version,
                seq,
                ..c.clone()
            });
        }
        docs.insert(
            key,
            Kept {
                text: value.to_string().into_boxed_str(),
                version,
            },
        );
        Some(seq)
    }
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
            .map(Kept::versioned)
            .transpose();
        Box::pin(async move { r })
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
        let ok = self.cas(key, expected, value, None).is_some();
        Box::pin(async move { Ok(ok) })
    }

    fn compare_and_set_recorded<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
        change: &'a StatusChange,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        let key = (scope.to_owned(), collection.to_owned(), id.to_owned());
        let ok = self.cas(key, expected, value, Some(change));
        Box::pin(async move { Ok(ok) })
    }

    fn status_history<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StatusChange>, StoreError>> {
        let key = (scope.to_owned(), collection.to_owned(), id.to_owned());
        let docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        let r = docs.changes.get(&key).cloned().unwrap_or_default();
        Box::pin(async move { Ok(r) })
    }

    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>> {
        // The collection's documents are one range of the map: from (scope, collection, "") to
        // the first key past them.
        let from = (scope.to_owned(), collection.to_owned(), String::new());
        let r = self
            .docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .range(from..)
            .take_while(|((s, c, _), _)| s == scope && c == collection)
            .map(|((_, _, id), v)| Ok((id.clone(), parse(&v.text)?)))
            .collect();
        Box::pin(async move { r })
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
