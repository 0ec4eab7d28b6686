//! The stores in memory: lost on restart, not shared; for tests and development.

mod accounts;
mod idempotency;
mod nonces;
mod state;
mod tasks;

pub use accounts::MemoryAccountStore;
pub use idempotency::MemoryIdempotencyStore;
pub use nonces::MemoryNonceStore;
pub use state::MemoryStateStore;
pub use tasks::MemoryStore;
