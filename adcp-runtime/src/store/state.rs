//! Adopter state as stored: JSON documents per (scope, collection, id), each with a version
//! for compare-and-set.

use serde_json::Value;

use super::{BoxFuture, StoreError};

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
