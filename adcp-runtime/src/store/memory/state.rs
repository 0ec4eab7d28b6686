//! Adopter state in memory.
//!
//! Kept small, since a seller on this store holds every document for as long as it runs: the
//! documents are nested by scope, then collection, then id, so a document's key costs one string
//! (its id) and a lookup borrows the caller's strings; a document is its JSON text, packed
//! against the first of its collection (see [`Packer`]); and its status trail sits in the same
//! entry, the status and cause words shared.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::made;
use super::packed::{Packed, Packer};
use crate::store::state::{StateStore, StatusChange, Versioned};
use crate::store::{BoxFuture, StoreError};

/// State in memory.
#[derive(Default)]
pub struct MemoryStateStore {
    docs: Mutex<Docs>,
}

/// Everything, under one lock (so a write and its status change are one).
#[derive(Default)]
struct Docs {
    /// Scope, then collection.
    scopes: HashMap<Box<str>, HashMap<Box<str>, Collection>>,
    /// The status and cause words of the trails, each held once.
    words: Words,
}

/// The documents of one collection of a scope, by id (in order: `list` answers by id), and
/// their dictionary.
#[derive(Default)]
struct Collection {
    packer: Packer,
    ids: BTreeMap<Box<str>, Entry>,
}

/// One id of a collection: its document (none once deleted) and its status trail (kept after a
/// delete, so the `seq` of a document made again goes on from it).
struct Entry {
    doc: Option<Kept>,
    trail: Box<[Change]>,
}

/// A document as kept: its JSON text (packed), a fraction of the size of the parsed tree (every
/// object of a `Value` a map of separately allocated keys and values), parsed again when read.
struct Kept {
    text: Packed,
    version: i64,
}

/// A status change as kept: the resource and id are the entry's own, `seq` its place in the
/// trail (1, 2, ..).
struct Change {
    from: Option<Arc<str>>,
    to: Arc<str>,
    cause: Arc<str>,
    at: i64,
    version: i64,
}

/// Interned words: a trail's statuses and causes come from a small vocabulary (the resource's
/// statuses, the tasks and the runtime's own causes), so each is allocated once.
#[derive(Default)]
struct Words(HashSet<Arc<str>>);

impl Words {
    fn get(&mut self, word: &str) -> Arc<str> {
        if let Some(w) = self.0.get(word) {
            return w.clone();
        }
        let w: Arc<str> = Arc::from(word);
        self.0.insert(w.clone());
        w
    }
}

fn parse(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(crate::store::corrupt("document"))
}

impl Collection {
    fn read(&self, doc: &Kept) -> Result<Value, StoreError> {
        parse(&self.packer.unpack(&doc.text)?)
    }
}

impl Docs {
    fn collection(&self, scope: &str, collection: &str) -> Option<&Collection> {
        self.scopes.get(scope)?.get(collection)
    }

    fn entry(&self, scope: &str, collection: &str, id: &str) -> Option<&Entry> {
        self.collection(scope, collection)?.ids.get(id)
    }

    fn collection_mut(&mut self, scope: &str, collection: &str) -> &mut Collection {
        made(made(&mut self.scopes, scope), collection)
    }

    fn cas(
        &mut self,
        (scope, collection, id): (&str, &str, &str),
        expected: Option<i64>,
        text: String,
        change: Option<&StatusChange>,
    ) -> Option<i64> {
        let entry = self.entry(scope, collection, id);
        let current = entry.and_then(|e| e.doc.as_ref()).map(|d| d.version);
        if current != expected {
            return None;
        }
        let version = current.unwrap_or(0) + 1;
        let change = change.map(|c| Change {
            from: c.from.as_deref().map(|w| self.words.get(w)),
            to: self.words.get(&c.to),
            cause: self.words.get(&c.cause),
            at: c.at,
            version,
        });
        let Collection { packer, ids } = self.collection_mut(scope, collection);
        let doc = Kept {
            text: packer.pack(text),
            version,
        };
        let entry = match ids.get_mut(id) {
            Some(e) => e,
            None => ids.entry(id.into()).or_insert(Entry {
                doc: None,
                trail: Box::default(),
            }),
        };
        entry.doc = Some(doc);
        let Some(change) = change else {
            return Some(0);
        };
        let mut trail = std::mem::take(&mut entry.trail).into_vec();
        trail.push(change);
        entry.trail = trail.into_boxed_slice();
        Some(i64::try_from(entry.trail.len()).unwrap_or(i64::MAX))
    }
}

impl MemoryStateStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Docs> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateStore for MemoryStateStore {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        let docs = self.lock();
        let c = docs.collection(scope, collection);
        let r = match c.and_then(|c| Some((c, c.ids.get(id)?.doc.as_ref()?))) {
            Some((c, d)) => c.read(d).map(|value| {
                Some(Versioned {
                    value,
                    version: d.version,
                })
            }),
            None => Ok(None),
        };
        drop(docs);
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
        let text = value.to_string();
        let ok = self
            .lock()
            .cas((scope, collection, id), expected, text, None)
            .is_some();
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
        let text = value.to_string();
        let seq = self
            .lock()
            .cas((scope, collection, id), expected, text, Some(change));
        Box::pin(async move { Ok(seq) })
    }

    fn status_history<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StatusChange>, StoreError>> {
        let docs = self.lock();
        let trail = docs
            .entry(scope, collection, id)
            .map_or(&[][..], |e| &e.trail);
        let r = (1..)
            .zip(trail)
            .map(|(seq, c)| StatusChange {
                resource: collection.to_owned(),
                id: id.to_owned(),
                from: c.from.as_deref().map(str::to_owned),
                to: c.to.to_string(),
                cause: c.cause.to_string(),
                at: c.at,
                version: c.version,
                seq,
            })
            .collect();
        Box::pin(async move { Ok(r) })
    }

    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>> {
        let docs = self.lock();
        let r = match docs.collection(scope, collection) {
            Some(c) => c
                .ids
                .iter()
                .filter_map(|(id, e)| Some((id, e.doc.as_ref()?)))
                .map(|(id, d)| Ok((id.to_string(), c.read(d)?)))
                .collect(),
            None => Ok(Vec::new()),
        };
        drop(docs);
        Box::pin(async move { r })
    }

    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut docs = self.lock();
        if let Some(collections) = docs.scopes.get_mut(scope) {
            if let Some(Collection { ids, .. }) = collections.get_mut(collection) {
                if let Some(e) = ids.get_mut(id) {
                    e.doc = None;
                    if e.trail.is_empty() {
                        ids.remove(id);
                    }
                }
                if ids.is_empty() {
                    collections.remove(collection);
                }
            }
            if collections.is_empty() {
                docs.scopes.remove(scope);
            }
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(to: &str) -> StatusChange {
        StatusChange {
            resource: "media_buys".into(),
            id: "mb_1".into(),
            from: None,
            to: to.into(),
            cause: "create_media_buy".into(),
            at: 1,
            version: 0,
            seq: 0,
        }
    }

    #[tokio::test]
    async fn scopes_collections_and_trails_stay_apart() {
        let s = MemoryStateStore::default();
        let v = json!({"status": "active"});
        assert_eq!(
            s.compare_and_set_recorded("a", "media_buys", "mb_1", None, &v, &change("active"))
                .await
                .unwrap(),
            Some(1)
        );
        assert!(
            s.compare_and_set("b", "media_buys", "mb_1", None, &v)
                .await
                .unwrap()
        );
        assert!(
            s.compare_and_set("a", "other", "mb_1", None, &v)
                .await
                .unwrap()
        );
        assert!(
            !s.compare_and_set("a", "media_buys", "mb_1", None, &v)
                .await
                .unwrap()
        );
        assert_eq!(s.list("a", "media_buys").await.unwrap().len(), 1);
        assert!(
            s.status_history("b", "media_buys", "mb_1")
                .await
                .unwrap()
                .is_empty()
        );

        // Deleted and made again: the trail goes on.
        s.delete("a", "media_buys", "mb_1").await.unwrap();
        assert!(s.get("a", "media_buys", "mb_1").await.unwrap().is_none());
        assert!(s.list("a", "media_buys").await.unwrap().is_empty());
        let again = s
            .compare_and_set_recorded("a", "media_buys", "mb_1", None, &v, &change("paused"))
            .await
            .unwrap();
        assert_eq!(again, Some(2));
        let trail = s.status_history("a", "media_buys", "mb_1").await.unwrap();
        assert_eq!(
            trail
                .iter()
                .map(|c| (c.seq, c.version, c.to.as_str()))
                .collect::<Vec<_>>(),
            [(1, 1, "active"), (2, 1, "paused")]
        );
        assert_eq!(trail[0].resource, "media_buys");
        assert_eq!(trail[0].id, "mb_1");

        // A document with no trail is gone with its delete, and so are emptied maps.
        s.delete("b", "media_buys", "mb_1").await.unwrap();
        assert!(!s.lock().scopes.contains_key("b"));
    }
}
