//! The status-change bus, server-scoped: handlers publish what changed (a media buy went
//! active, a task completed), subscribers react (webhooks, streams, caches). In one process it
//! is a broadcast channel; on PostgreSQL every replica also receives every other replica's
//! events, through `LISTEN`/`NOTIFY`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// Something that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What kind of thing changed (`task`, `media_buy`, `creative`, ...).
    pub resource: String,
    /// Its id.
    pub id: String,
    /// The account scope it belongs to.
    pub scope: String,
    /// Its status after the change.
    pub status: String,
    /// Anything else worth telling.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// The replica that published it.
    #[serde(default)]
    pub origin: String,
    /// The tenant whose bus published it (empty on a single-tenant server).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
}

impl Event {
    /// A change of `resource` `id` in account scope `scope` to `status`, with no data.
    pub fn new(
        resource: impl Into<String>,
        id: impl Into<String>,
        scope: impl Into<String>,
        status: impl Into<String>,
    ) -> Self {
        Event {
            resource: resource.into(),
            id: id.into(),
            scope: scope.into(),
            status: status.into(),
            data: Value::Null,
            origin: String::new(),
            tenant: String::new(),
        }
    }
}

/// Where published events go beyond this process.
pub(crate) trait Relay: Send + Sync + 'static {
    /// Sends an event to the other replicas.
    fn relay(&self, event: &Event);
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Event>,
    relay: Option<Arc<dyn Relay>>,
    origin: Arc<str>,
    tenant: Arc<str>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("origin", &self.origin)
            .field("relayed", &self.relay.is_some())
            .finish()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(None)
    }
}

impl Bus {
    pub(crate) fn new(relay: Option<Arc<dyn Relay>>) -> Self {
        Bus::of_tenant(relay, "")
    }

    /// The bus of one tenant: it stamps what it publishes with the tenant and hears only that
    /// tenant's events from other replicas.
    pub(crate) fn of_tenant(relay: Option<Arc<dyn Relay>>, tenant: &str) -> Self {
        let (local, _) = broadcast::channel(4096);
        Bus {
            local,
            relay,
            origin: uuid::Uuid::new_v4().to_string().into(),
            tenant: tenant.into(),
        }
    }

    /// This replica's identity on the bus.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Publishes an event to this process's subscribers and, through the relay, to every other
    /// replica's.
    pub fn publish(&self, mut event: Event) {
        event.origin = self.origin.to_string();
        event.tenant = self.tenant.to_string();
        if let Some(r) = &self.relay {
            r.relay(&event);
        }
        let _ = self.local.send(event);
    }

    /// Delivers an event received from another replica to this process's subscribers.
    #[cfg(feature = "postgres")]
    pub(crate) fn deliver_remote(&self, event: Event) {
        if event.origin != *self.origin && event.tenant == *self.tenant {
            let _ = self.local.send(event);
        }
    }

    /// Receives every event published from now on, by any replica.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// The PostgreSQL relay: `NOTIFY adcp_events, '<event json>'`, and a listener that hands
/// other replicas' events to the local bus.
#[cfg(feature = "postgres")]
pub(crate) mod pg {
    use std::sync::{Arc, Weak};
    use std::time::Duration;

    use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

    use super::{Bus, Event, Relay};

    /// The channel every replica listens on.
    pub(crate) const CHANNEL: &str = "adcp_events";

    /// Largest NOTIFY payload PostgreSQL accepts is 8000 bytes; larger events lose `data`.
    const MAX_PAYLOAD: usize = 7900;

    struct PgRelay {
        pool: PgPool,
    }

    fn pool(url: &str) -> Option<PgPool> {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(url)
            .map_err(|e| tracing::warn!(error = %e, "event relay: bad database URL"))
            .ok()
    }

    /// The relay for the database at `url`.
    pub(crate) fn relay(url: &str) -> Option<Arc<dyn Relay>> {
        Some(Arc::new(PgRelay { pool: pool(url)? }))
    }

    impl Relay for PgRelay {
        fn relay(&self, event: &Event) {
            let mut payload = serde_json::to_string(event).unwrap_or_default();
            if payload.len() > MAX_PAYLOAD {
                let mut slim = event.clone();
                slim.data = serde_json::Value::Null;
                payload = serde_json::to_string(&slim).unwrap_or_default();
            }
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "relaying an event");
                }
            });
        }
    }

    /// Hands other replicas' events to `bus` while `alive` can be upgraded, reconnecting on
    /// failure.
    pub(crate) fn listen(url: &str, bus: Bus, alive: Weak<()>) {
        let Some(pool) = pool(url) else { return };
        tokio::spawn(async move {
            while alive.strong_count() > 0 {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener cannot connect; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                while alive.strong_count() > 0 {
                    match tokio::time::timeout(Duration::from_secs(1), listener.recv()).await {
                        Err(_) => {} // look at `alive` again
                        Ok(Ok(n)) => match serde_json::from_str::<Event>(n.payload()) {
                            Ok(e) => bus.deliver_remote(e),
                            Err(e) => tracing::warn!(error = %e, "an event that does not decode"),
                        },
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "event listener lost its connection");
                            break;
                        }
                    }
                }
            }
        });
    }
}
