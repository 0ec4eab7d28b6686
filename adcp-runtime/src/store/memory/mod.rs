//! The stores in memory: lost on restart, not shared; for tests and development.

mod accounts;
mod idempotency;
mod nonces;
mod packed;
mod proposals;
mod state;
mod tasks;

pub use accounts::MemoryAccountStore;
pub use idempotency::MemoryIdempotencyStore;
pub use nonces::MemoryNonceStore;
pub use proposals::MemoryProposalStore;
pub use state::MemoryStateStore;
pub use tasks::MemoryStore;
