//! The stores in memory: lost on restart, not shared; for tests and development.

mod accounts;
mod idempotency;
mod nonces;
mod packed;
mod proposals;
mod state;
mod tasks;

use std::collections::HashMap;

pub use accounts::MemoryAccountStore;
pub use idempotency::MemoryIdempotencyStore;
pub use nonces::MemoryNonceStore;
pub use proposals::MemoryProposalStore;
pub use state::MemoryStateStore;
pub use tasks::MemoryStore;

/// The value under `key`, made (its default) the first time: only then is the key's string
/// allocated, so a lookup of a name already seen borrows the caller's.
fn made<'m, V: Default>(map: &'m mut HashMap<Box<str>, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.into(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
