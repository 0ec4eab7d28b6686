//! One conformance suite over every store backend: memory, SQLite and PostgreSQL (from
//! `DATABASE_URL`; `.ci/run` starts a throwaway server and sets `ADCP_REQUIRE_PG=1`, so in CI the
//! PostgreSQL cases run rather than skip). Every case uses fresh ids and scopes, so the cases
//! share one PostgreSQL database without seeing each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adcp_conformance::harness::{postgres_url, temp_dir};
use adcp_runtime::Account;
use adcp_runtime::Stores;
use adcp_runtime::store::{ClaimState, IdemKey};
use adcp_runtime::store::{Delivery, DeliveryState};
use adcp_runtime::store::{
    JobSpec, Owner, StoreError, TaskCursor, TaskQuery, TaskRecord, TaskStatus,
};
use adcp_runtime::time::now_ms;
use adcp_runtime::{Collection, State};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn fresh(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4().simple())
}

fn task(scope: &str) -> TaskRecord {
    let now = now_ms();
    TaskRecord {
        task_id: fresh("task"),
        task_type: "create_media_buy".into(),
        protocol: "media-buy".into(),
        scope: scope.into(),
        status: TaskStatus::Submitted,
        message: Some("queued for review".into()),
        created_at: now,
        updated_at: now,
        result: None,
        error: None,
        push: Some(
            json!({"url": "https://buyer.example/hook", "authentication": {"schemes": ["Bearer"], "credentials": "t0ken-with-32-characters-or-more"}}),
        ),
        a2a_push: None,
        context: Some(json!({"trace": "é ✓ \"quoted\""})),
        job: Some(JobSpec {
            name: "review_media_buy".into(),
            input: json!({"media_buy_id": "mb_1", "budget": 2_000_000.5}),
            account: Account {
                sandbox: true,
                ..Account::new("acc_1", "buyer")
            },
            scope: scope.into(),
            principal: None,
            agent_url: "http://127.0.0.1/mcp".into(),
            idempotency_key: Some("key-1".into()),
        }),
        owner: None,
        revision: 0,
        principal: Some("buyer".into()),
    }
}

/// Runs `case` on every backend available.
async fn on_every_backend<F, Fut>(case: F)
where
    F: Fn(Stores) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(Stores::memory()).await;
    let dir = temp_dir("stores");
    case(Stores::sqlite(&dir).await.expect("SQLite opens")).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(url) = postgres_url() {
        case(Stores::open(&url).await.expect("PostgreSQL opens")).await;
    }
}

#[tokio::test]
async fn tasks_round_trip_and_are_scoped() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let scope = fresh("scope");
        let first = task(&scope);
        s.tasks.insert(&first, None, &[]).await.unwrap();
        assert_eq!(
            s.tasks.get(&first.task_id).await.unwrap().as_ref(),
            Some(&first),
            "{backend}: a task reads back as written"
        );
        assert!(
            matches!(
                s.tasks.insert(&first, None, &[]).await,
                Err(StoreError::Exists(_))
            ),
            "{backend}: a task id is inserted once"
        );
        let mut second = task(&scope);
        second.created_at = first.created_at + Duration::from_millis(5);
        s.tasks.insert(&second, None, &[]).await.unwrap();
        s.tasks
            .insert(&task(&fresh("other")), None, &[])
            .await
            .unwrap();
        let listed: Vec<String> = s
            .tasks
            .list(Owner::Scope(&scope))
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        assert_eq!(
            listed,
            [second.task_id.clone(), first.task_id.clone()],
            "{backend}: a scope lists its own tasks, newest first"
        );
        assert!(s.tasks.get("no-such-task").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn tasks_are_paged_newest_first_after_a_cursor() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let scope = fresh("scope");
        // Seven tasks, two of them created in the same millisecond (the id breaks the tie),
        // every third one completed; and one of another scope.
        let base = now_ms();
        let mut made = Vec::new();
        for i in 0..7u64 {
            let mut t = task(&scope);
            t.created_at = base + Duration::from_millis(if i == 6 { 50 } else { 10 * i });
            if i % 3 == 0 {
                t.status = TaskStatus::Completed;
            }
            s.tasks.insert(&t, None, &[]).await.unwrap();
            made.push(t);
        }
        s.tasks
            .insert(&task(&fresh("other")), None, &[])
            .await
            .unwrap();
        made.sort_by(|a, b| TaskCursor::of(b).cmp(&TaskCursor::of(a)));
        let newest_first: Vec<&str> = made.iter().map(|t| t.task_id.as_str()).collect();

        let mut query = TaskQuery {
            by: Owner::Scope(&scope),
            statuses: &[],
            task_types: &[],
            task_ids: &[],
            after: None,
        };
        let mut paged = Vec::new();
        loop {
            let page = s.tasks.page(&query, 3).await.unwrap();
            assert!(page.len() <= 3, "{backend}");
            let Some(last) = page.last() else { break };
            query.after = Some(TaskCursor::of(last));
            paged.extend(page.iter().map(|t| t.task_id.clone()));
        }
        assert_eq!(
            paged, newest_first,
            "{backend}: every task once, newest first"
        );
        assert_eq!(s.tasks.count(&query, 100).await.unwrap(), 7, "{backend}");
        assert_eq!(
            s.tasks.count(&query, 4).await.unwrap(),
            4,
            "{backend}: counted to the cap"
        );

        let completed = ["completed".to_owned()];
        let done = TaskQuery {
            statuses: &completed,
            after: None,
            ..query.clone()
        };
        let page: Vec<String> = s
            .tasks
            .page(&done, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        let expected: Vec<String> = made
            .iter()
            .filter(|t| t.status == TaskStatus::Completed)
            .map(|t| t.task_id.clone())
            .collect();
        assert_eq!(page, expected, "{backend}: filtered in the store");
        assert_eq!(s.tasks.count(&done, 100).await.unwrap(), 3, "{backend}");
        let by_id = [made[2].task_id.clone(), "no-such-task".to_owned()];
        let one = TaskQuery {
            task_ids: &by_id,
            after: None,
            ..query.clone()
        };
        let page = s.tasks.page(&one, 10).await.unwrap();
        assert_eq!(page.len(), 1, "{backend}");
        assert_eq!(page[0], made[2], "{backend}: a page holds whole records");
    })
    .await;
}

#[tokio::test]
async fn task_updates_compare_revisions() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let t = task(&fresh("scope"));
        s.tasks.insert(&t, None, &[]).await.unwrap();
        let mut done = t.clone();
        done.status = TaskStatus::Completed;
        done.result = Some(json!({"media_buy_id": "mb_1", "status": "active"}));
        done.revision = 1;
        done.updated_at = now_ms();
        assert!(s.tasks.update(&done, 0, &[]).await.unwrap(), "{backend}");
        let mut stale = t.clone();
        stale.status = TaskStatus::Failed;
        stale.revision = 1;
        assert!(
            !s.tasks.update(&stale, 0, &[]).await.unwrap(),
            "{backend}: a write from an old revision is refused"
        );
        assert_eq!(
            s.tasks.get(&t.task_id).await.unwrap(),
            Some(done),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn leases_expire_and_one_replica_adopts() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let now = now_ms();
        let mut held = task(&fresh("scope"));
        held.owner = Some(fresh("replica-a"));
        s.tasks
            .insert(&held, Some(now + Duration::from_secs(60)), &[])
            .await
            .unwrap();
        let mut lapsed = task(&fresh("scope"));
        let a = fresh("replica-a");
        lapsed.owner = Some(a.clone());
        s.tasks
            .insert(&lapsed, Some(now - Duration::from_secs(1)), &[])
            .await
            .unwrap();

        let orphans: Vec<String> = s
            .tasks
            .orphans(now, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.task_id)
            .collect();
        assert!(orphans.contains(&lapsed.task_id), "{backend}");
        assert!(!orphans.contains(&held.task_id), "{backend}");

        // Two replicas race for the orphan: one wins.
        let until = now + Duration::from_secs(30);
        let (b, c) = (fresh("replica-b"), fresh("replica-c"));
        let (won_b, won_c) = tokio::join!(
            s.tasks.adopt(&lapsed.task_id, lapsed.revision, &b, until),
            s.tasks.adopt(&lapsed.task_id, lapsed.revision, &c, until),
        );
        assert!(
            won_b.unwrap() ^ won_c.unwrap(),
            "{backend}: exactly one adopter"
        );
        let adopted = s.tasks.get(&lapsed.task_id).await.unwrap().unwrap();
        assert!(adopted.owner == Some(b.clone()) || adopted.owner == Some(c.clone()));
        assert!(
            adopted.revision > lapsed.revision,
            "{backend}: adoption fences the old owner"
        );
        assert!(
            !s.tasks
                .orphans(now, 1000)
                .await
                .unwrap()
                .iter()
                .any(|t| t.task_id == lapsed.task_id)
        );

        // The old owner's renewal no longer covers it; the new owner's does.
        assert_eq!(s.tasks.renew(&a, until).await.unwrap(), 0, "{backend}");
        let owner = adopted.owner.clone().unwrap();
        assert_eq!(s.tasks.renew(&owner, until).await.unwrap(), 1, "{backend}");
    })
    .await;
}

fn delivery(task_id: &str, url: &str) -> Delivery {
    Delivery::new(
        url,
        json!({"task_id": task_id, "status": "completed"}),
        None,
        Some(task_id),
    )
}

#[tokio::test]
async fn the_outbox_is_written_with_the_change_and_claimed_once() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let t = task(&fresh("scope"));
        // A URL no other case uses, so claims from other cases on a shared database are told
        // apart.
        let url = format!("https://{}.example/hook", fresh("buyer"));
        let d = delivery(&t.task_id, &url);
        s.tasks
            .insert(&t, None, std::slice::from_ref(&d))
            .await
            .unwrap();
        let stored = s.outbox.for_task(&t.task_id).await.unwrap();
        assert_eq!(
            stored,
            std::slice::from_ref(&d),
            "{backend}: written with the task"
        );

        let now = now_ms();
        let lease = now + Duration::from_secs(30);
        let (a, b) = (fresh("replica-a"), fresh("replica-b"));
        let mine = |v: Vec<Delivery>| v.into_iter().filter(|d| d.url == url).collect::<Vec<_>>();
        let claimed = mine(s.outbox.claim_due(&a, now, lease, 1000).await.unwrap());
        assert_eq!(claimed.len(), 1, "{backend}");
        assert_eq!(claimed[0].body, d.body, "{backend}: the exact body is kept");
        assert!(
            mine(s.outbox.claim_due(&b, now, lease, 1000).await.unwrap()).is_empty(),
            "{backend}: a claimed delivery is not claimed twice"
        );

        // A failed attempt, retried later: recorded by the owner only.
        let mut retry = claimed[0].clone();
        retry.attempts = 1;
        retry.last_error = Some("503 Service Unavailable".into());
        retry.next_attempt_at = now + Duration::from_secs(2);
        s.outbox.record(&retry, &b).await.unwrap();
        assert_eq!(
            s.outbox.for_task(&t.task_id).await.unwrap()[0].attempts,
            0,
            "{backend}: a non-owner's record is ignored"
        );
        s.outbox.record(&retry, &a).await.unwrap();
        let after = s.outbox.for_task(&t.task_id).await.unwrap();
        assert_eq!(after[0].attempts, 1, "{backend}");
        assert_eq!(after[0].idempotency_key, d.idempotency_key, "{backend}");
        assert!(
            mine(s.outbox.claim_due(&b, now, lease, 1000).await.unwrap()).is_empty(),
            "{backend}: not due before next_attempt_at"
        );
        let later = now + Duration::from_secs(3);
        let again = mine(
            s.outbox
                .claim_due(&b, later, later + Duration::from_secs(30), 1000)
                .await
                .unwrap(),
        );
        assert_eq!(again.len(), 1, "{backend}: due again after the backoff");
        let mut delivered = again[0].clone();
        delivered.state = DeliveryState::Delivered;
        delivered.attempts = 2;
        s.outbox.record(&delivered, &b).await.unwrap();
        let far = now + Duration::from_secs(3600);
        assert!(mine(s.outbox.claim_due(&a, far, far, 1000).await.unwrap()).is_empty());
        assert_eq!(
            s.outbox.for_task(&t.task_id).await.unwrap()[0].state,
            DeliveryState::Delivered
        );
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_delivery_claim_lapses() {
    on_every_backend(|s| async move {
        let url = format!("https://{}.example/hook", fresh("buyer"));
        let d = delivery(&fresh("task"), &url);
        s.outbox.enqueue(std::slice::from_ref(&d)).await.unwrap();
        let now = now_ms();
        let mine = |v: Vec<Delivery>| v.into_iter().filter(|d| d.url == url).count();
        let crashed = fresh("replica-a");
        let lease = now + Duration::from_secs(5);
        assert_eq!(
            mine(
                s.outbox
                    .claim_due(&crashed, now, lease, 1000)
                    .await
                    .unwrap()
            ),
            1
        );
        let after = lease + Duration::from_millis(1);
        let heir = fresh("replica-b");
        assert_eq!(
            mine(s.outbox.claim_due(&heir, after, after, 1000).await.unwrap()),
            1,
            "{}: a crashed replica's claim lapses with its lease",
            s.description()
        );
    })
    .await;
}

fn key(tag: &str) -> IdemKey {
    IdemKey {
        key: fresh(tag),
        scope: fresh("scope"),
        task: "create_media_buy".into(),
    }
}

fn long_ago() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

#[tokio::test]
async fn idempotency_records_replay_conflict_and_expire() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let store = &s.idempotency;
        let k = key("k");
        let response = json!({"media_buy_id": "mb_1", "packages": [{"package_id": "p1"}]});
        assert!(matches!(
            store.claim(&k, "h1", long_ago()).await.unwrap(),
            ClaimState::Claimed
        ));
        store.complete(&k, "h1", Some(&response)).await.unwrap();
        match store.claim(&k, "h1", long_ago()).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v, response, "{backend}"),
            _ => panic!("{backend}: the same body replays"),
        }
        assert!(
            matches!(
                store.claim(&k, "h2", long_ago()).await.unwrap(),
                ClaimState::Conflict
            ),
            "{backend}: another body conflicts"
        );
        let other_scope = IdemKey {
            scope: fresh("scope"),
            ..k.clone()
        };
        assert!(
            matches!(
                store.claim(&other_scope, "h2", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: keys are per account"
        );
        let future = now_ms() + Duration::from_secs(60);
        assert!(
            matches!(
                store.claim(&k, "h1", future).await.unwrap(),
                ClaimState::Expired
            ),
            "{backend}: past the replay window the key answers expired, it does not run again"
        );

        let big = key("big");
        assert!(matches!(
            store.claim(&big, "h", long_ago()).await.unwrap(),
            ClaimState::Claimed
        ));
        store.complete(&big, "h", None).await.unwrap();
        assert!(
            matches!(
                store.claim(&big, "h", long_ago()).await.unwrap(),
                ClaimState::Expired
            ),
            "{backend}: a response too large to keep is not run again"
        );

        let failed = key("failed");
        assert!(matches!(
            store.claim(&failed, "h", long_ago()).await.unwrap(),
            ClaimState::Claimed
        ));
        store.release(&failed).await.unwrap();
        assert!(
            matches!(
                store.claim(&failed, "h", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: an error is not kept, the retry runs"
        );

        assert!(
            store.vacuum(future).await.unwrap() >= 2,
            "{backend}: vacuum forgets old records"
        );
        assert!(
            matches!(
                store.claim(&k, "h2", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: a vacuumed key is new again"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_claims_run_once() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let k = key("burst");
        let runs = Arc::new(AtomicUsize::new(0));
        let response = json!({"media_buy_id": "mb_burst"});
        let mut joins = Vec::new();
        for _ in 0..32 {
            let (store, k, runs, response) = (
                s.idempotency.clone(),
                k.clone(),
                runs.clone(),
                response.clone(),
            );
            joins.push(tokio::spawn(async move {
                match store.claim(&k, "h", long_ago()).await.unwrap() {
                    ClaimState::Claimed => {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        store.complete(&k, "h", Some(&response)).await.unwrap();
                        response
                    }
                    ClaimState::Stored(v) => v,
                    _ => Value::Null,
                }
            }));
        }
        for j in joins {
            assert_eq!(
                j.await.unwrap(),
                response,
                "{backend}: every caller gets the response"
            );
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "{backend}: the work ran once"
        );
    })
    .await;
}

const COUNTERS: Collection<u64> = Collection::new("counters");
const BUYS: Collection<Value> = Collection::new("buys");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_updates_are_not_lost() {
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let scope = fresh("scope");
        let mut joins = Vec::new();
        for _ in 0..16 {
            let (store, scope) = (s.state.clone(), scope.clone());
            joins.push(tokio::spawn(async move {
                State::new(store.as_ref(), &scope)
                    .update(COUNTERS, "buys", |n| {
                        *n += 1;
                        Ok(())
                    })
                    .await
                    .unwrap();
            }));
        }
        for j in joins {
            j.await.unwrap();
        }
        let state = State::new(s.state.as_ref(), &scope);
        assert_eq!(
            state.get(COUNTERS, "buys").await.unwrap(),
            Some(16),
            "{backend}"
        );
        state.put(BUYS, "b", &json!({"id": "b"})).await.unwrap();
        state.put(BUYS, "a", &json!({"id": "a"})).await.unwrap();
        let other = fresh("scope");
        State::new(s.state.as_ref(), &other)
            .put(BUYS, "c", &json!({"id": "c"}))
            .await
            .unwrap();
        let listed = state.list(BUYS).await.unwrap();
        assert_eq!(
            listed,
            [json!({"id": "a"}), json!({"id": "b"})],
            "{backend}: by id, scoped"
        );
        let missing = || adcp_runtime::AdcpError::new("NOT_FOUND", "no such buy");
        assert_eq!(
            state
                .modify(BUYS, "missing", missing, |v| Ok(v.clone()))
                .await
                .unwrap_err()
                .code(),
            "NOT_FOUND",
            "{backend}: modify leaves absent documents absent"
        );
        assert_eq!(state.get(BUYS, "missing").await.unwrap(), None);
        state.delete(BUYS, "a").await.unwrap();
        assert_eq!(state.get(BUYS, "a").await.unwrap(), None);
        assert!(
            !s.state
                .compare_and_set(&scope, "buys", "b", None, &json!({}))
                .await
                .unwrap(),
            "{backend}: create-if-absent refuses an existing document"
        );
    })
    .await;
}

#[tokio::test]
async fn a_database_is_migrated_once_and_reopens() {
    let dir = temp_dir("reopen");
    let scope = fresh("scope");
    let t = task(&scope);
    {
        let s = Stores::sqlite(&dir).await.unwrap();
        s.tasks.insert(&t, None, &[]).await.unwrap();
    }
    let s = Stores::sqlite(&dir).await.unwrap();
    assert_eq!(s.tasks.get(&t.task_id).await.unwrap(), Some(t));
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(url) = postgres_url() {
        // Several replicas start at once: migrations serialize.
        let opens = (0..4).map(|_| {
            let url = url.clone();
            async move { Stores::open(&url).await.map(drop) }
        });
        for s in futures_join(opens).await {
            s.expect("concurrent opens all succeed");
        }
    }
}

/// A store written by the first schema (before versioned migrations) opens: its tasks read
/// back, and the columns later versions added are empty.
#[tokio::test]
async fn a_store_of_the_first_schema_is_upgraded() {
    use sqlx::Executor;
    let dir = temp_dir("v1");
    let url = format!("sqlite://{}?mode=rwc", dir.join("adcp.db").display());
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let v1 = include_str!("../adcp-runtime/migrations/0001_initial.sql");
        pool.execute(v1).await.unwrap();
        pool.execute(
            "INSERT INTO adcp_tasks (task_id, scope, task_type, protocol, status, created_at, \
             updated_at, revision) VALUES ('task_v1', 'sandbox', 'create_media_buy', \
             'media-buy', 'completed', 1, 2, 3)",
        )
        .await
        .unwrap();
        // A durable job the first release persisted, mid-run on a replica that died.
        pool.execute(
            r#"INSERT INTO adcp_tasks (task_id, scope, task_type, protocol, status, created_at,
               updated_at, job, owner, lease_until, revision) VALUES ('task_v1_job', 'sandbox',
               'create_media_buy', 'media-buy', 'submitted', 1, 2,
               '{"name":"review_media_buy","input":{},"account":{"account_id":"acc_1","brand":null,
                 "operator":null,"sandbox":true,"scope":"sandbox"},"principal":null,
                 "agent_url":"http://127.0.0.1/mcp","idempotency_key":null}',
               'replica-gone', 1, 1)"#,
        )
        .await
        .unwrap();
        pool.close().await;
    }
    let s = Stores::sqlite(&dir).await.expect("the old store opens");
    let t = s.tasks.get("task_v1").await.unwrap().expect("the old task");
    assert_eq!((t.scope.as_str(), t.revision), ("sandbox", 3));
    assert_eq!(t.principal, None);
    // Its job cannot be read by this build: the task is still an orphan to sweep (it then
    // fails as lost work), and does not stop the sweep.
    let orphans = s.tasks.orphans(now_ms(), 10).await.unwrap();
    let old = orphans
        .iter()
        .find(|t| t.task_id == "task_v1_job")
        .expect("swept");
    assert_eq!(old.job, None);
    // Reopening applies nothing twice.
    drop(s);
    Stores::sqlite(&dir).await.expect("reopens");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The account roster: an account answers only to its owner, by id or by natural key; only
/// declared accounts are listed, oldest first; an upsert replaces.
#[tokio::test]
async fn accounts_answer_only_to_their_owner() {
    use adcp_runtime::store::{NaturalKey, Reference};
    use adcp_runtime::wire::BrandRef;
    on_every_backend(|s| async move {
        let backend = s.description().to_owned();
        let (owner, other) = (fresh("owner"), fresh("other"));
        let mut a = Account::new(fresh("acc"), owner.clone());
        a.brand = Some(BrandRef::new("acme.com"));
        a.operator = Some("agency.com".into());
        a.declared = true;
        s.accounts.upsert(&a).await.unwrap();
        let mut hidden = Account::new(fresh("acc"), owner.clone());
        hidden.sandbox = true;
        s.accounts.upsert(&hidden).await.unwrap();
        let key = NaturalKey {
            domain: "acme.com".into(),
            brand_id: None,
            operator: "agency.com".into(),
            sandbox: false,
        };
        let by_id = Reference::Id(a.id.clone());
        let by_key = Reference::Key(key.clone());
        assert_eq!(
            s.accounts.resolve(&owner, &by_id).await.unwrap().as_ref(),
            Some(&a),
            "{backend}"
        );
        assert_eq!(
            s.accounts.resolve(&owner, &by_key).await.unwrap().as_ref(),
            Some(&a),
            "{backend}"
        );
        assert_eq!(
            s.accounts.resolve(&other, &by_id).await.unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            s.accounts.resolve(&other, &by_key).await.unwrap(),
            None,
            "{backend}"
        );
        let sandbox_key = Reference::Key(NaturalKey {
            sandbox: true,
            ..key
        });
        assert_eq!(
            s.accounts.resolve(&owner, &sandbox_key).await.unwrap(),
            None,
            "{backend}"
        );
        let listed: Vec<String> = s
            .accounts
            .list(&owner)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(
            listed,
            [a.id.clone()],
            "{backend}: only declared accounts are listed"
        );
        assert!(
            s.accounts.list(&other).await.unwrap().is_empty(),
            "{backend}"
        );
        a.status = adcp_runtime::wire::AccountStatus::Suspended;
        s.accounts.upsert(&a).await.unwrap();
        let got = s.accounts.resolve(&owner, &by_id).await.unwrap().unwrap();
        assert_eq!(
            got.status,
            adcp_runtime::wire::AccountStatus::Suspended,
            "{backend}"
        );
        // Another principal cannot take an account over by writing its id.
        let mut theft = a.clone();
        theft.owner.clone_from(&other);
        assert!(
            matches!(s.accounts.upsert(&theft).await, Err(StoreError::Exists(_))),
            "{backend}: another owner's account is not replaced"
        );
        assert_eq!(
            s.accounts.resolve(&other, &by_id).await.unwrap(),
            None,
            "{backend}"
        );
        assert!(
            s.accounts.resolve(&owner, &by_id).await.unwrap().is_some(),
            "{backend}"
        );
    })
    .await;
}

async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("joins"));
    }
    out
}

/// PostgreSQL over TLS (rustls): `sslmode=require` refuses a connection that is not
/// encrypted, so a store that opens and round-trips a task spoke TLS. CI's cluster offers it
/// with a self-signed certificate (`.ci/pg`), which `require` does not verify;
/// `verify-full` checks it against the web PKI roots.
#[tokio::test]
async fn postgres_is_reached_over_tls_when_the_url_requires_it() {
    let Some(url) = postgres_url() else {
        return;
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let s = Stores::open(&format!("{url}{sep}sslmode=require"))
        .await
        .expect("PostgreSQL opens over TLS");
    let t = task(&fresh("tls"));
    s.tasks.insert(&t, None, &[]).await.unwrap();
    assert_eq!(s.tasks.get(&t.task_id).await.unwrap(), Some(t));
}
