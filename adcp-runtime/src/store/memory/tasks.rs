//! Tasks and the webhook outbox in memory: one lock over both, so a change and its deliveries
//! land together. Lost on restart; for tests and single-process development.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;

use crate::store::{
    BoxFuture, Delivery, DeliveryState, Outbox, Owner, StoreError, TaskRecord, TaskStore,
};

struct Leased<T> {
    value: T,
    owner: Option<String>,
    until: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, Leased<TaskRecord>>,
    outbox: Vec<Leased<Delivery>>,
}

/// Tasks and deliveries in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn push<'d>(
    outbox: &mut Vec<Leased<Delivery>>,
    deliveries: impl IntoIterator<Item = &'d Delivery>,
) {
    outbox.extend(deliveries.into_iter().map(|d| Leased {
        value: d.clone(),
        owner: None,
        until: None,
    }));
}

impl TaskStore for MemoryStore {
    fn open_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        let n = self
            .lock()
            .tasks
            .values()
            .filter(|t| !t.value.status.is_final())
            .count();
        Box::pin(async move { Ok(Some(n as u64)) })
    }

    fn insert<'a>(
        &'a self,
        task: &'a TaskRecord,
        lease_until: Option<OffsetDateTime>,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut g = self.lock();
        let r = if g.tasks.contains_key(&task.task_id) {
            Err(StoreError::Exists(task.task_id.clone()))
        } else {
            g.tasks.insert(
                task.task_id.clone(),
                Leased {
                    value: task.clone(),
                    owner: task.owner.clone(),
                    until: lease_until,
                },
            );
            push(&mut g.outbox, deliveries);
            Ok(())
        };
        Box::pin(async move { r })
    }

    fn update<'a>(
        &'a self,
        task: &'a TaskRecord,
        expected: i64,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut g = self.lock();
        let r = match g.tasks.get_mut(&task.task_id) {
            None => Err(StoreError::NotFound(task.task_id.clone())),
            Some(slot) if slot.value.revision != expected => Ok(false),
            Some(slot) => {
                slot.value = task.clone();
                if task.owner.is_none() {
                    slot.owner = None;
                    slot.until = None;
                }
                push(&mut g.outbox, deliveries);
                Ok(true)
            }
        };
        Box::pin(async move { r })
    }

    fn get<'a>(
        &'a self,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, StoreError>> {
        let r = self.lock().tasks.get(task_id).map(|t| t.value.clone());
        Box::pin(async move { Ok(r) })
    }

    fn list<'a>(&'a self, by: Owner<'a>) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>> {
        let mut r: Vec<TaskRecord> = self
            .lock()
            .tasks
            .values()
            .filter(|t| by.owns(&t.value))
            .map(|t| t.value.clone())
            .collect();
        r.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.task_id.cmp(&a.task_id))
        });
        Box::pin(async move { Ok(r) })
    }

    fn renew<'a>(
        &'a self,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut n = 0;
        for t in self.lock().tasks.values_mut() {
            if t.owner.as_deref() == Some(owner) && !t.value.status.is_final() {
                t.until = Some(until);
                n += 1;
            }
        }
        Box::pin(async move { Ok(n) })
    }

    fn orphans(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        let r = self
            .lock()
            .tasks
            .values()
            .filter(|t| {
                t.owner.is_some() && !t.value.status.is_final() && t.until.is_none_or(|u| u < now)
            })
            .take(limit as usize)
            .map(|t| t.value.clone())
            .collect();
        Box::pin(async move { Ok(r) })
    }

    fn adopt<'a>(
        &'a self,
        task_id: &'a str,
        expected: i64,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut g = self.lock();
        let r = match g.tasks.get_mut(task_id) {
            Some(t) if t.value.revision == expected => {
                t.value.revision += 1;
                t.value.owner = Some(owner.to_owned());
                t.owner = Some(owner.to_owned());
                t.until = Some(until);
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(r) })
    }
}

impl Outbox for MemoryStore {
    fn pending_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        let n = self
            .lock()
            .outbox
            .iter()
            .filter(|d| d.value.state == crate::store::DeliveryState::Pending)
            .count();
        Box::pin(async move { Ok(Some(n as u64)) })
    }

    fn enqueue<'a>(&'a self, deliveries: &'a [Delivery]) -> BoxFuture<'a, Result<(), StoreError>> {
        // An id already queued keeps its delivery (deliveries of task changes have fresh ids).
        let mut me = self.lock();
        let fresh: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| !me.outbox.iter().any(|o| o.value.id == d.id))
            .collect();
        push(&mut me.outbox, fresh);
        Box::pin(async { Ok(()) })
    }

    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>> {
        let mut out = Vec::new();
        for d in &mut self.lock().outbox {
            if out.len() >= limit as usize {
                break;
            }
            let free = d.owner.is_none() || d.until.is_none_or(|u| u < now);
            if d.value.state == DeliveryState::Pending && d.value.next_attempt_at <= now && free {
                d.owner = Some(owner.to_owned());
                d.until = Some(until);
                out.push(d.value.clone());
            }
        }
        Box::pin(async move { Ok(out) })
    }

    fn record<'a>(
        &'a self,
        delivery: &'a Delivery,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut g = self.lock();
        if let Some(d) = g
            .outbox
            .iter_mut()
            .find(|d| d.value.id == delivery.id && d.owner.as_deref() == Some(owner))
        {
            d.value = delivery.clone();
            d.owner = None;
            d.until = None;
        }
        // Finished deliveries are kept only for the task's lifetime in memory; bound the list.
        const KEEP: usize = 10_000;
        if g.outbox.len() > KEEP {
            let excess = g.outbox.len() - KEEP;
            let mut dropped = 0;
            g.outbox.retain(|d| {
                let drop = dropped < excess && d.value.state != DeliveryState::Pending;
                dropped += usize::from(drop);
                !drop
            });
        }
        Box::pin(async { Ok(()) })
    }

    fn for_task<'a>(
        &'a self,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>> {
        let r = self
            .lock()
            .outbox
            .iter()
            .filter(|d| d.value.task_id.as_deref() == Some(task_id))
            .map(|d| d.value.clone())
            .collect();
        Box::pin(async move { Ok(r) })
    }
}
