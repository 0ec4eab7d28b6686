//! Adopter state as stored: JSON documents per (scope, collection, id), each with a version
//! for compare-and-set.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BoxFuture, StoreError};

/// A document's status change, recorded in the same transaction as the write that made it:
/// the audit trail of a resource, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The document's collection (the resource type: `media_buys`).
    pub resource: String,
    /// The document's id.
    pub id: String,
    /// Its status before (`None`: it did not exist).
    pub from: Option<String>,
    /// Its status after.
    pub to: String,
    /// What caused it (`update_media_buy`, `controller`, `review`, ...).
    pub cause: String,
    /// When (unix milliseconds).
    pub at: i64,
    /// The document's version the write made.
    pub version: i64,
    /// Its place in the resource's trail (1, 2, ...), given by the store: what orders the
    /// changes of one resource, across replicas and clocks, and after the document was deleted
    /// and made again. 0 before it is recorded.
    pub seq: i64,
}

/// A stored document and its version (for compare-and-set).
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    /// The document.
    pub value: Value,
    /// Incremented on every write.
    pub version: i64,
}

/// A status change with the data scope of its document.
pub type ScopedChange = (String, StatusChange);

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
    /// [`compare_and_set`](StateStore::compare_and_set), recording `change` (with the version
    /// written and its `seq`) in the same transaction, or neither; returns the `seq` given
    /// (`None`: another writer changed the document first). The default cannot: it refuses,
    /// so a store without an audit trail is never mistaken for one (a store of one's own must
    /// implement it for the `*_recorded` writes).
    fn compare_and_set_recorded<'a>(
        &'a self,
        _scope: &'a str,
        _collection: &'a str,
        _id: &'a str,
        _expected: Option<i64>,
        _value: &'a Value,
        _change: &'a StatusChange,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        Box::pin(async {
            Err(StoreError::Database(
                "this state store records no status changes".into(),
            ))
        })
    }
    /// The status changes of a document, oldest first (none by default).
    fn status_history<'a>(
        &'a self,
        _scope: &'a str,
        _collection: &'a str,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StatusChange>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// The status changes recorded at `from` (ms) or later and before `until`, of every
    /// scope, oldest first, at most `limit`, each with its scope: what the change poller
    /// hands to in-process subscribers when no relay told them (`None` by default: a store
    /// that one process owns has no one else's changes to catch up on).
    fn changes_between<'a>(
        &'a self,
        _from: i64,
        _until: i64,
        _limit: u32,
    ) -> BoxFuture<'a, Result<Option<Vec<ScopedChange>>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
    /// Deletes a document.
    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}
