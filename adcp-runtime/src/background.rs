//! What each server runs off the request path (see [`Server::start`]): the webhook
//! dispatcher, the delivery-report loop, the lease keeper that renews this replica's hold on the work it runs and adopts
//! the work of replicas that died, the idempotency vacuum, and on PostgreSQL the event
//! listener.

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
        tokio::spawn(dispatcher.run(self.events().subscribe(), alive));
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(crate::reporting::run(
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
