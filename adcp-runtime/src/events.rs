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

impl Event {
    /// The event of a recorded status change of a document in `scope` (its `seq` in the
    /// resource's trail): `data` carries `from`, `cause`, `version`, `seq` and `at`.
    pub(crate) fn of_change(scope: &str, c: &crate::store::StatusChange, seq: i64) -> Self {
        let mut event = Event::new(c.resource.clone(), c.id.clone(), scope, c.to.clone());
        event.data = serde_json::json!({
            "from": c.from, "cause": c.cause, "version": c.version, "seq": seq, "at": c.at,
        });
        event
    }

    /// The event that wakes the webhook dispatchers (on every replica) for a delivery just
    /// queued, rather than their waiting for the poll.
    pub(crate) fn webhook_queued(delivery_id: &str, scope: &str) -> Self {
        Event::new("webhook", delivery_id, scope, "pending")
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

    /// The tenant whose bus this is (empty on a single-tenant server).
    pub fn tenant(&self) -> &str {
        &self.tenant
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

    /// Delivers a change the poller read from the store (one no relay brought) to this
    /// process's subscribers.
    pub(crate) fn deliver_polled(&self, mut event: Event) {
        event.tenant = self.tenant.to_string();
        let _ = self.local.send(event);
    }

    /// Receives every event published from now on, by any replica.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// The PostgreSQL relay: `NOTIFY adcp_events, '<event json>'`, sent one after another from one
/// task (so each replica hears a publisher's events in the order published), and a listener
/// that hands other replicas' events to the local bus. An event too large for a notification
/// is kept in `adcp_event_payloads` and the notification carries its reference.
#[cfg(feature = "postgres")]
pub(crate) mod pg {
    use std::sync::{Arc, Mutex, PoisonError, Weak};
    use std::time::Duration;

    use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
    use tokio::sync::mpsc;

    use super::{Bus, Event, Relay};

    /// The channel every replica listens on.
    pub(crate) const CHANNEL: &str = "adcp_events";

    /// Largest NOTIFY payload PostgreSQL accepts is 8000 bytes.
    const MAX_PAYLOAD: usize = 7900;

    /// How long a large event's payload is kept for listeners to read.
    const KEEP: Duration = Duration::from_secs(600);

    /// A notification naming a kept payload, with what a listener filters on before reading it.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Reference {
        #[serde(rename = "ref")]
        id: String,
        origin: String,
        tenant: String,
    }

    /// Events waiting to be sent; when PostgreSQL is slow or down, newer ones are dropped (and
    /// counted in the log) rather than kept without bound.
    const QUEUE: usize = 4096;

    /// An event's JSON, and the reference it is sent by if it is too large.
    type Queued = (String, Reference);

    struct PgRelay {
        queue: mpsc::Sender<Queued>,
        /// The sending task, when it could not be started with the relay (no runtime then).
        pending: Mutex<Option<(PgPool, mpsc::Receiver<Queued>)>>,
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
        let (queue, rx) = mpsc::channel(QUEUE);
        let pool = pool(url)?;
        let pending = match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(send(pool, rx));
                None
            }
            Err(_) => Some((pool, rx)),
        };
        Some(Arc::new(PgRelay {
            queue,
            pending: Mutex::new(pending),
        }))
    }

    /// The database's clock in unix milliseconds: one clock for every replica's payloads.
    const DB_NOW: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

    /// Sends the queued events in order until the relay is dropped; sweeps kept payloads.
    async fn send(pool: PgPool, mut rx: mpsc::Receiver<Queued>) {
        let keep = i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX);
        let mut sweep = tokio::time::interval(KEEP / 10);
        loop {
            let (mut payload, reference) = tokio::select! {
                next = rx.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
                _ = sweep.tick() => {
                    let sql = format!("DELETE FROM adcp_event_payloads WHERE created_at < {DB_NOW} - $1");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(keep).execute(&pool).await;
                    continue;
                }
            };
            if payload.len() > MAX_PAYLOAD {
                let sql = format!(
                    "INSERT INTO adcp_event_payloads (id, body, created_at) VALUES ($1, $2, {DB_NOW})"
                );
                let kept = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&reference.id)
                    .bind(&payload)
                    .execute(&pool)
                    .await;
                if let Err(e) = kept {
                    tracing::warn!(error = %e, "keeping a large event");
                    continue;
                }
                payload = serde_json::to_string(&reference).unwrap_or_default();
            }
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "relaying an event");
            }
        }
    }

    impl Relay for PgRelay {
        fn relay(&self, event: &Event) {
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((pool, rx)) = pending.take() {
                    h.spawn(send(pool, rx));
                }
            }
            let payload = serde_json::to_string(event).unwrap_or_default();
            let reference = Reference {
                id: uuid::Uuid::new_v4().simple().to_string(),
                origin: event.origin.clone(),
                tenant: event.tenant.clone(),
            };
            if let Err(e) = self.queue.try_send((payload, reference)) {
                tracing::warn!(error = %e, resource = %event.resource, id = %event.id, "an event was not relayed to the other replicas");
            }
        }
    }

    /// An event from a notification: inline, or read from the kept payloads (unless it is
    /// this bus's own or another tenant's, which it would not deliver anyway).
    async fn event(pool: &PgPool, bus: &Bus, payload: &str) -> Option<Event> {
        let text = match serde_json::from_str::<Reference>(payload) {
            Ok(r) if r.origin == bus.origin() || r.tenant != bus.tenant() => return None,
            Ok(r) => {
                let row: Result<(String,), _> =
                    sqlx::query_as("SELECT body FROM adcp_event_payloads WHERE id = $1")
                        .bind(&r.id)
                        .fetch_one(pool)
                        .await;
                match row {
                    Ok((body,)) => body,
                    Err(e) => {
                        tracing::warn!(error = %e, "a large event's payload is gone");
                        return None;
                    }
                }
            }
            Err(_) => payload.to_owned(),
        };
        serde_json::from_str::<Event>(&text)
            .map_err(|e| tracing::warn!(error = %e, "an event that does not decode"))
            .ok()
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
                        Ok(Ok(n)) => {
                            if let Some(e) = event(&pool, &bus, n.payload()).await {
                                bus.deliver_remote(e);
                            }
                        }
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
