//! What each server runs off the request path (see [`Server::start`]): the webhook
//! dispatcher, the delivery-report loop, the status-change poller, the lease keeper that
//! renews this replica's hold on the work it runs and adopts the work of replicas that died,
//! the idempotency vacuum, and on PostgreSQL the event listener.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::error::{AdcpError, codes};
use crate::platform::DecisioningPlatform;
use crate::server::{Inner, Server};
use crate::webhooks::Dispatcher;

impl<P: DecisioningPlatform> Server<P> {
    /// Starts the server's background work (once; later calls do nothing): the webhook
    /// dispatcher, the lease keeper (which also picks up work orphaned by a dead replica, at
    /// once), the idempotency vacuum and, on PostgreSQL, the event listener. Transports call
    /// it; so does the first call served.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let c = &self.inner.config;
        let dispatcher = Arc::new(
            Dispatcher::new(
                self.inner.outbox.clone(),
                self.webhook_policy(),
                self.inner.services.tasks.replica().to_owned(),
                c.webhook_retry,
            )
            .signing_key(c.webhook_signing_key.clone())
            .transport(c.webhook_transport.clone()),
        );
        let alive = Arc::downgrade(&self.inner.alive);
        #[cfg(feature = "postgres")]
        if let Some(url) = &self.inner.postgres_url {
            crate::events::pg::listen(url, self.events().clone(), alive.clone());
        }
        tokio::spawn(dispatcher.run(self.events().subscribe(), alive.clone()));
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(poll_changes(
            self.inner.services.state.clone(),
            self.events().clone(),
            self.events().subscribe(),
            alive,
        ));
        tokio::spawn(crate::reports::run(
            weak.clone(),
            self.events().subscribe(),
            c.reporting_poll,
        ));
        tokio::spawn(keep_leases(weak.clone(), c.task_lease));
        tokio::spawn(vacuum(weak, c.replay_ttl));
    }
}

/// Renews this replica's leases and adopts orphaned work: a job runs again here; in-process
/// work of a dead replica is lost, so its task fails (transiently: the buyer may resubmit).
async fn keep_leases<P: DecisioningPlatform>(weak: Weak<Inner<P>>, lease: Duration) {
    let period = (lease / 3).max(Duration::from_millis(100));
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let server = Server { inner };
        if let Err(e) = server.inner.services.tasks.renew().await {
            tracing::warn!(error = %e, "renewing task leases");
        }
        match server.inner.services.tasks.adopt_orphans().await {
            Ok(adopted) => {
                for t in adopted {
                    if t.job.is_some() {
                        tracing::info!(task_id = %t.task_id, "resuming the job of an orphaned task");
                        server.run_job(t);
                    } else {
                        tracing::warn!(task_id = %t.task_id, "an orphaned task's work was lost with its replica");
                        let e = AdcpError::new(
                            codes::SERVICE_UNAVAILABLE,
                            "the agent restarted while this task ran; submit the request again with a new idempotency_key",
                        )
                        .with_recovery(crate::Recovery::Transient);
                        let _ = server
                            .inner
                            .services
                            .tasks
                            .finish_work(&t.task_id, Err(e))
                            .await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for orphaned tasks"),
        }
        drop(server);
        tokio::time::sleep(period).await;
    }
}

/// Forgets idempotency keys (and finished deliveries) after twice the replay window, hourly.
async fn vacuum<P: DecisioningPlatform>(weak: Weak<Inner<P>>, ttl: Duration) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        inner.limiter.sweep();
        let before = time::OffsetDateTime::now_utc() - ttl.saturating_mul(2);
        match inner.idempotency.vacuum(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "idempotency vacuum"),
            Err(e) => tracing::warn!(error = %e, "idempotency vacuum"),
        }
        drop(inner);
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// How long after a change is recorded the poller first looks for it: the writer's own
/// publish and the PostgreSQL relay get there first.
const CHANGE_GRACE: i64 = 2_000;
/// How far back each poll reads again, for a transaction that committed after a later one.
const CHANGE_LOOKBACK: i64 = 30_000;

/// The change poller (on SQL stores): every status change recorded in the store reaches this
/// replica's subscribers, once, even when no relay told them (SQLite shared by processes, a
/// PostgreSQL listener that lost its connection). Changes the bus brought are remembered
/// and not delivered again; what the poll finds that the bus did not is delivered late,
/// in the order recorded.
async fn poll_changes(
    state: Arc<dyn crate::store::StateStore>,
    bus: crate::events::Bus,
    mut heard: tokio::sync::broadcast::Receiver<crate::events::Event>,
    alive: Weak<()>,
) {
    use std::collections::HashMap;
    let key = |scope: &str, resource: &str, id: &str, seq: i64| {
        format!("{scope}\u{1f}{resource}\u{1f}{id}\u{1f}{seq}")
    };
    let now = || crate::time::millis(crate::time::now_ms());
    let mut cursor = now() - CHANGE_GRACE;
    let mut seen: HashMap<String, i64> = HashMap::new();
    while alive.strong_count() > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        loop {
            match heard.try_recv() {
                Ok(e) => {
                    if let Some(seq) = e.data.get("seq").and_then(serde_json::Value::as_i64) {
                        seen.insert(key(&e.scope, &e.resource, &e.id, seq), now());
                    }
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "the change poller fell behind the bus");
                }
                Err(_) => break,
            }
        }
        let until = now() - CHANGE_GRACE;
        let changes = match state
            .changes_between(cursor - CHANGE_LOOKBACK, until, 1000)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "polling status changes");
                continue;
            }
        };
        let full = changes.len() == 1000;
        for (scope, c) in changes {
            let k = key(&scope, &c.resource, &c.id, c.seq);
            if seen.contains_key(&k) {
                continue;
            }
            seen.insert(k, now());
            if full {
                cursor = cursor.max(c.at);
            }
            let mut event = crate::events::Event::of_change(&scope, &c, c.seq);
            event.data["polled"] = serde_json::json!(true);
            event.origin = "store".into();
            bus.deliver_polled(event);
        }
        if !full {
            cursor = cursor.max(until);
        }
        let horizon = now() - 2 * CHANGE_LOOKBACK - CHANGE_GRACE;
        seen.retain(|_, at| *at >= horizon);
    }
}
