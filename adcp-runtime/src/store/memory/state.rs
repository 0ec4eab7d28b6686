//! Adopter state in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::store::state::{StateStore, Versioned};
use crate::store::{BoxFuture, StoreError};

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
