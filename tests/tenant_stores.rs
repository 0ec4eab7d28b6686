//! Tenants over every store backend: memory, SQLite and PostgreSQL (from `DATABASE_URL`; required
//! when `ADCP_REQUIRE_PG=1`, as in `stores.rs`). Two tenants' stores of one backend hold the same
//! ids, keys and documents without seeing each other's; and a store of the version-2 schema is
//! upgraded with its rows kept as the tenant `""`'s.

use std::sync::Arc;
use std::time::Duration;

use adcp_conformance::harness::{postgres_url, temp_dir};
use adcp_runtime::Account;
use adcp_runtime::Stores;
use adcp_runtime::store::{
    AccountStore, ClaimState, Delivery, IdemKey, JobSpec, MemoryAccountStore, NaturalKey, Owner,
    Recorded, Reference, StoreError, TaskRecord, TaskStatus,
};
use adcp_runtime::time::now_ms;
use adcp_runtime::wire::BrandRef;
use serde_json::json;
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
        push: None,
        a2a_push: None,
        context: None,
        job: Some(JobSpec {
            name: "review_media_buy".into(),
            input: json!({"media_buy_id": "mb_1"}),
            account: Account::new("acc_1", "buyer"),
            scope: scope.into(),
            principal: None,
            agent_url: "http://127.0.0.1/mcp".into(),
            idempotency_key: None,
        }),
        owner: None,
        revision: 0,
        principal: Some(fresh("principal")),
    }
}

fn long_ago() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

/// Runs `case` on every backend available: the stores as opened, and two tenants' stores of
/// them.
async fn on_every_backend<F, Fut>(case: F)
where
    F: Fn(Stores, Stores, Stores) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let tenants = |s: Stores| (s.for_tenant("acme"), s.for_tenant("globex"), s);
    let (a, b, root) = tenants(Stores::memory());
    case(root, a, b).await;
    let dir = temp_dir("tenant-stores");
    let (a, b, root) = tenants(Stores::sqlite(&dir).await.expect("SQLite opens"));
    case(root, a, b).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(url) = postgres_url() {
        let (a, b, root) = tenants(Stores::open(&url).await.expect("PostgreSQL opens"));
        case(root, a, b).await;
    }
}

#[tokio::test]
async fn a_tenants_stores_say_whose_they_are() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        assert_eq!(root.tenant(), "", "{backend}");
        assert_eq!(a.tenant(), "acme", "{backend}");
        assert_eq!(b.tenant(), "globex", "{backend}");
        assert_eq!(a.description(), format!("{backend} (tenant acme)"));
        assert_eq!(
            b.for_tenant("acme").description(),
            a.description(),
            "{backend}: a tenant's stores make another's of the same backend"
        );
        assert_eq!(a.for_tenant("").description(), backend);
        assert_eq!(a.for_tenant("").tenant(), "");
        assert!(format!("{a:?}").contains("acme"), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn memory_tenants_are_made_once() {
    let root = Stores::memory();
    let a = root.for_tenant("acme");
    let again = root.for_tenant("acme");
    let from_b = root.for_tenant("globex").for_tenant("acme");
    for other in [&again, &from_b] {
        assert!(Arc::ptr_eq(&a.tasks, &other.tasks));
        assert!(Arc::ptr_eq(&a.outbox, &other.outbox));
        assert!(Arc::ptr_eq(&a.idempotency, &other.idempotency));
        assert!(Arc::ptr_eq(&a.state, &other.state));
        assert!(Arc::ptr_eq(&a.nonces, &other.nonces));
        assert!(Arc::ptr_eq(&a.accounts, &other.accounts));
    }
    let b = root.for_tenant("globex");
    assert!(!Arc::ptr_eq(&a.tasks, &b.tasks));
    assert!(!Arc::ptr_eq(&a.state, &b.state));
    assert!(!Arc::ptr_eq(&a.tasks, &root.tasks));
    // The tenant "" is the stores themselves, from wherever it is asked for.
    for same in [root.for_tenant(""), a.for_tenant("")] {
        assert!(Arc::ptr_eq(&same.tasks, &root.tasks));
        assert!(Arc::ptr_eq(&same.idempotency, &root.idempotency));
        assert!(Arc::ptr_eq(&same.accounts, &root.accounts));
    }
}

#[tokio::test]
async fn an_adopters_account_store_is_every_tenants() {
    let adopters: Arc<dyn AccountStore> = Arc::new(MemoryAccountStore::default());
    let dir = temp_dir("tenant-adopter");
    let sqlite = Stores::sqlite(&dir).await.expect("SQLite opens");
    for stores in [Stores::memory(), sqlite] {
        let stores = stores.with_accounts(adopters.clone());
        let a = stores.for_tenant("acme");
        assert!(Arc::ptr_eq(&a.accounts, &adopters), "{}", a.description());
        let b = a.for_tenant("globex");
        assert!(Arc::ptr_eq(&b.accounts, &adopters), "{}", b.description());
        assert!(Arc::ptr_eq(&b.for_tenant("").accounts, &adopters));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn accounts_are_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let id = fresh("acc");
        let (owner_a, owner_b) = (fresh("owner-a"), fresh("owner-b"));
        let mut acme = Account::new(id.clone(), owner_a.clone());
        acme.name = "Acme".into();
        acme.declared = true;
        let mut globex = Account::new(id.clone(), owner_b.clone());
        globex.name = "Globex".into();
        globex.declared = true;
        a.accounts.upsert(&acme).await.unwrap();
        b.accounts
            .upsert(&globex)
            .await
            .expect("another tenant's account id is not taken");
        let by_id = Reference::Id(id.clone());
        assert_eq!(
            a.accounts.resolve(&owner_a, &by_id).await.unwrap(),
            Some(acme.clone()),
            "{backend}"
        );
        assert_eq!(
            b.accounts.resolve(&owner_b, &by_id).await.unwrap(),
            Some(globex.clone()),
            "{backend}"
        );
        assert_eq!(a.accounts.resolve(&owner_b, &by_id).await.unwrap(), None);
        assert_eq!(b.accounts.resolve(&owner_a, &by_id).await.unwrap(), None);
        assert_eq!(
            root.accounts.resolve(&owner_a, &by_id).await.unwrap(),
            None,
            "{backend}: the tenant \"\" is a tenant too"
        );
        let ids = |v: Vec<Account>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(
            ids(a.accounts.list(&owner_a).await.unwrap()),
            std::slice::from_ref(&id)
        );
        assert!(a.accounts.list(&owner_b).await.unwrap().is_empty());
        assert_eq!(
            ids(b.accounts.list(&owner_b).await.unwrap()),
            std::slice::from_ref(&id)
        );
        assert!(b.accounts.list(&owner_a).await.unwrap().is_empty());

        // One owner, one natural key, in both tenants: each its own account.
        let owner = fresh("owner");
        let key = NaturalKey {
            domain: format!("{}.example", fresh("brand")),
            brand_id: None,
            operator: "agency.example".into(),
            sandbox: false,
        };
        let keyed = |tenant: &str| {
            let mut acc = Account::new(fresh("acc"), owner.clone());
            acc.name = tenant.into();
            acc.brand = Some(BrandRef::new(key.domain.clone()));
            acc.operator = Some(key.operator.clone());
            acc
        };
        let (in_a, in_b) = (keyed("acme"), keyed("globex"));
        a.accounts.upsert(&in_a).await.unwrap();
        b.accounts.upsert(&in_b).await.unwrap();
        let by_key = Reference::Key(key.clone());
        assert_eq!(
            a.accounts.resolve(&owner, &by_key).await.unwrap(),
            Some(in_a),
            "{backend}"
        );
        assert_eq!(
            b.accounts.resolve(&owner, &by_key).await.unwrap(),
            Some(in_b),
            "{backend}"
        );
        // Within a tenant an account still answers to its owner only.
        let mut theft = acme.clone();
        theft.owner.clone_from(&owner_b);
        assert!(
            matches!(a.accounts.upsert(&theft).await, Err(StoreError::Exists(_))),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_are_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let k = IdemKey {
            key: fresh("key"),
            scope: fresh("scope"),
            task: "create_media_buy".into(),
        };
        assert!(
            matches!(
                a.idempotency.claim(&k, "h", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}"
        );
        // Not `Busy` after waiting on acme's running request: globex's key is its own.
        let started = std::time::Instant::now();
        assert!(
            matches!(
                b.idempotency.claim(&k, "h", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: the same key in another tenant is a fresh claim"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{backend}");
        let (ra, rb) = (
            json!({"media_buy_id": "mb_acme"}),
            json!({"media_buy_id": "mb_globex"}),
        );
        a.idempotency.complete(&k, "h", Some(&ra)).await.unwrap();
        b.idempotency.complete(&k, "h", Some(&rb)).await.unwrap();
        match a.idempotency.claim(&k, "h", long_ago()).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v, ra, "{backend}"),
            _ => panic!("{backend}: acme replays its response"),
        }
        match b.idempotency.claim(&k, "h", long_ago()).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v, rb, "{backend}"),
            _ => panic!("{backend}: globex replays its response"),
        }
        assert!(
            matches!(
                root.idempotency
                    .claim(&k, "other", long_ago())
                    .await
                    .unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: no conflict with another tenant's body"
        );
        // Releasing or vacuuming in one tenant leaves the other's record.
        a.idempotency.release(&k).await.unwrap();
        root.idempotency.release(&k).await.unwrap();
        a.idempotency
            .vacuum(now_ms() + Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            matches!(
                a.idempotency.claim(&k, "h", long_ago()).await.unwrap(),
                ClaimState::Claimed
            ),
            "{backend}: acme's vacuumed key is new again"
        );
        match b.idempotency.claim(&k, "h", long_ago()).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v, rb, "{backend}: globex's is kept"),
            _ => panic!("{backend}: globex's record outlives acme's vacuum"),
        }
    })
    .await;
}

#[tokio::test]
async fn state_is_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let (scope, id) = (fresh("scope"), fresh("buy"));
        let (va, vb) = (json!({"name": "acme"}), json!({"name": "globex"}));
        assert!(
            a.state
                .compare_and_set(&scope, "buys", &id, None, &va)
                .await
                .unwrap()
        );
        assert!(
            b.state
                .compare_and_set(&scope, "buys", &id, None, &vb)
                .await
                .unwrap(),
            "{backend}: the same document id in another tenant is absent"
        );
        assert_eq!(
            a.state
                .get(&scope, "buys", &id)
                .await
                .unwrap()
                .unwrap()
                .value,
            va
        );
        let got_b = b.state.get(&scope, "buys", &id).await.unwrap().unwrap();
        assert_eq!(got_b.value, vb, "{backend}");
        assert_eq!(root.state.get(&scope, "buys", &id).await.unwrap(), None);
        assert_eq!(
            a.state.list(&scope, "buys").await.unwrap(),
            [(id.clone(), va.clone())]
        );
        assert_eq!(
            b.state.list(&scope, "buys").await.unwrap(),
            [(id.clone(), vb.clone())]
        );
        // A write at globex's version does not touch acme's document.
        let vb2 = json!({"name": "globex", "v": 2});
        assert!(
            b.state
                .compare_and_set(&scope, "buys", &id, Some(got_b.version), &vb2)
                .await
                .unwrap()
        );
        assert_eq!(
            a.state
                .get(&scope, "buys", &id)
                .await
                .unwrap()
                .unwrap()
                .value,
            va
        );
        a.state.delete(&scope, "buys", &id).await.unwrap();
        assert_eq!(a.state.get(&scope, "buys", &id).await.unwrap(), None);
        assert_eq!(
            b.state
                .get(&scope, "buys", &id)
                .await
                .unwrap()
                .unwrap()
                .value,
            vb2,
            "{backend}: deleting acme's leaves globex's"
        );
    })
    .await;
}

#[tokio::test]
async fn tasks_are_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let now = now_ms();
        let scope = fresh("scope");
        let mut t = task(&scope);
        let replica = fresh("replica");
        t.owner = Some(replica.clone());
        // Its lease lapsed: an orphan, of acme's.
        a.tasks
            .insert(&t, Some(now - Duration::from_secs(1)), &[])
            .await
            .unwrap();
        assert_eq!(a.tasks.get(&t.task_id).await.unwrap().as_ref(), Some(&t));
        assert_eq!(
            b.tasks.get(&t.task_id).await.unwrap(),
            None,
            "{backend}: another tenant's task id is not found"
        );
        assert_eq!(root.tasks.get(&t.task_id).await.unwrap(), None);
        let ids = |v: Vec<TaskRecord>| v.into_iter().map(|t| t.task_id).collect::<Vec<_>>();
        assert_eq!(
            ids(a.tasks.list(Owner::Scope(&scope)).await.unwrap()),
            [t.task_id.clone()]
        );
        assert!(b.tasks.list(Owner::Scope(&scope)).await.unwrap().is_empty());
        let principal = t.principal.clone().unwrap();
        assert!(
            b.tasks
                .list(Owner::Principal(&principal))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            ids(a.tasks.orphans(now, 10_000).await.unwrap()).contains(&t.task_id),
            "{backend}"
        );
        assert!(
            !ids(b.tasks.orphans(now, 10_000).await.unwrap()).contains(&t.task_id),
            "{backend}: another tenant's orphans are not swept"
        );
        assert!(!ids(root.tasks.orphans(now, 10_000).await.unwrap()).contains(&t.task_id));
        // Nor adopted, renewed or updated from another tenant.
        let until = now + Duration::from_secs(30);
        assert!(
            !b.tasks
                .adopt(&t.task_id, t.revision, &fresh("thief"), until)
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(b.tasks.renew(&replica, until).await.unwrap(), 0);
        let mut done = t.clone();
        done.status = TaskStatus::Completed;
        done.revision = 1;
        assert!(
            matches!(
                b.tasks.update(&done, 0, &[]).await,
                Err(StoreError::NotFound(_))
            ),
            "{backend}"
        );
        assert_eq!(a.tasks.get(&t.task_id).await.unwrap().as_ref(), Some(&t));
        assert_eq!(a.tasks.renew(&replica, until).await.unwrap(), 1);
        assert!(a.tasks.update(&done, 0, &[]).await.unwrap(), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let url = format!("https://{}.example/hook", fresh("buyer"));
        let task_id = fresh("task");
        let d = Delivery::new(
            &url,
            json!({"task_id": task_id}),
            None,
            Some(task_id.as_str()),
        );
        a.outbox.enqueue(std::slice::from_ref(&d)).await.unwrap();
        let now = now_ms();
        let lease = now + Duration::from_secs(30);
        let mine = |v: Vec<Delivery>| v.into_iter().filter(|d| d.url == url).collect::<Vec<_>>();
        assert!(b.outbox.for_task(&task_id).await.unwrap().is_empty());
        assert!(
            mine(
                b.outbox
                    .claim_due(&fresh("replica"), now, lease, 10_000)
                    .await
                    .unwrap()
            )
            .is_empty(),
            "{backend}: another tenant's delivery is not claimable"
        );
        assert!(
            mine(
                root.outbox
                    .claim_due(&fresh("replica"), now, lease, 10_000)
                    .await
                    .unwrap()
            )
            .is_empty()
        );
        let owner = fresh("replica");
        let claimed = mine(
            a.outbox
                .claim_due(&owner, now, lease, 10_000)
                .await
                .unwrap(),
        );
        assert_eq!(claimed.len(), 1, "{backend}");
        // An outcome recorded through another tenant's stores is ignored.
        let mut failed = claimed[0].clone();
        failed.attempts = 7;
        b.outbox.record(&failed, &owner).await.unwrap();
        assert_eq!(a.outbox.for_task(&task_id).await.unwrap()[0].attempts, 0);
        a.outbox.record(&failed, &owner).await.unwrap();
        assert_eq!(a.outbox.for_task(&task_id).await.unwrap()[0].attempts, 7);
    })
    .await;
}

#[tokio::test]
async fn nonces_are_per_tenant() {
    on_every_backend(|root, a, b| async move {
        let backend = root.description().to_owned();
        let (keyid, nonce) = (fresh("key"), fresh("nonce"));
        let now = now_ms().unix_timestamp();
        let until = now + 300;
        assert_eq!(
            a.nonces
                .record(&keyid, &nonce, until, now, 10)
                .await
                .unwrap(),
            Recorded::Fresh
        );
        assert_eq!(
            b.nonces
                .record(&keyid, &nonce, until, now, 10)
                .await
                .unwrap(),
            Recorded::Fresh,
            "{backend}: another tenant's nonce is no replay"
        );
        assert_eq!(
            a.nonces
                .record(&keyid, &nonce, until, now, 10)
                .await
                .unwrap(),
            Recorded::Seen,
            "{backend}"
        );
        assert_eq!(
            b.nonces
                .record(&keyid, &nonce, until, now, 10)
                .await
                .unwrap(),
            Recorded::Seen,
            "{backend}"
        );
        // The cap counts a tenant's nonces only.
        assert!(a.nonces.full(&keyid, now, 1).await.unwrap());
        assert!(
            !root.nonces.full(&keyid, now, 1).await.unwrap(),
            "{backend}"
        );
        assert_eq!(
            root.nonces
                .record(&keyid, &fresh("nonce"), until, now, 1)
                .await
                .unwrap(),
            Recorded::Fresh,
            "{backend}"
        );
    })
    .await;
}

/// The version-2 schema exactly as that release migrated it (recorded in `_sqlx_migrations`).
fn version_two() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let v1 = include_str!("../adcp-runtime/migrations/0001_initial.sql");
    let v2 = include_str!("../adcp-runtime/migrations/0002_accounts.sql");
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            v1.into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "accounts".into(),
            MigrationType::Simple,
            v2.into_sql_str(),
            false,
        ),
    ])
}

/// One row in every table of the version-2 schema.
async fn write_version_two_rows(pool: &sqlx::AnyPool) {
    let account =
        serde_json::to_string(&Account::new("acc_v2", "buyer_v2")).expect("an account encodes");
    for sql in [
        "INSERT INTO adcp_tasks (task_id, scope, task_type, protocol, status, created_at, \
         updated_at, revision, principal, owner, lease_until) VALUES ('task_v2', 'scope_v2', \
         'create_media_buy', 'media-buy', 'working', 1, 2, 3, 'buyer_v2', 'replica-gone', 1)"
            .to_owned(),
        "INSERT INTO adcp_outbox (id, task_id, url, body, idempotency_key, state, attempts, \
         next_attempt_at, created_at, scope) VALUES ('dlv_v2', 'task_v2', \
         'https://v2.example/hook', '{}', 'idem_v2', 'pending', 0, 1, 1, 'scope_v2')"
            .to_owned(),
        "INSERT INTO adcp_idempotency (scope, task, key, hash, state, response, created_at) \
         VALUES ('scope_v2', 'create_media_buy', 'key_v2', 'h', 'stored', '{\"v\":2}', 1)"
            .to_owned(),
        "INSERT INTO adcp_state (scope, collection, id, value, version) \
         VALUES ('scope_v2', 'buys', 'buy_v2', '{\"v\":2}', 4)"
            .to_owned(),
        "INSERT INTO adcp_nonces (keyid, nonce, expires_at) \
         VALUES ('key_v2', 'nonce_v2', 9999999999)"
            .to_owned(),
        format!(
            "INSERT INTO adcp_accounts (account_id, owner, natural_key, declared, body, \
             created_at, updated_at) VALUES ('acc_v2', 'buyer_v2', NULL, 1, '{account}', 1, 1)"
        ),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .expect("a version-2 row is written");
    }
}

/// The rows `write_version_two_rows` wrote are the tenant `""`'s, and no other tenant's.
async fn assert_version_two_rows(s: &Stores) {
    let backend = s.description().to_owned();
    let t = s
        .tasks
        .get("task_v2")
        .await
        .expect("the store answers")
        .expect("the old task");
    assert_eq!((t.scope.as_str(), t.revision), ("scope_v2", 3), "{backend}");
    assert_eq!(
        s.tasks
            .list(Owner::Principal("buyer_v2"))
            .await
            .expect("the store answers")
            .len(),
        1
    );
    assert!(
        s.tasks
            .orphans(now_ms(), 10_000)
            .await
            .expect("the store answers")
            .iter()
            .any(|t| t.task_id == "task_v2"),
        "{backend}: the old orphan is still swept"
    );
    let deliveries = s
        .outbox
        .for_task("task_v2")
        .await
        .expect("the store answers");
    assert_eq!(deliveries.len(), 1, "{backend}");
    assert_eq!(deliveries[0].scope, "scope_v2");
    let k = IdemKey {
        key: "key_v2".into(),
        scope: "scope_v2".into(),
        task: "create_media_buy".into(),
    };
    match s
        .idempotency
        .claim(&k, "h", long_ago())
        .await
        .expect("the store answers")
    {
        ClaimState::Stored(v) => assert_eq!(v, json!({"v": 2}), "{backend}"),
        _ => panic!("{backend}: the old response replays"),
    }
    let doc = s
        .state
        .get("scope_v2", "buys", "buy_v2")
        .await
        .expect("the store answers");
    assert_eq!(
        doc.map(|d| (d.value, d.version)),
        Some((json!({"v": 2}), 4))
    );
    let now = now_ms().unix_timestamp();
    assert_eq!(
        s.nonces
            .record("key_v2", "nonce_v2", now + 60, now, 10)
            .await
            .expect("the store answers"),
        Recorded::Seen,
        "{backend}: the old nonce is still a replay"
    );
    let acc = s
        .accounts
        .resolve("buyer_v2", &Reference::Id("acc_v2".into()))
        .await
        .expect("the store answers");
    assert_eq!(acc.map(|a| a.id).as_deref(), Some("acc_v2"), "{backend}");

    let other = s.for_tenant("acme");
    assert_eq!(
        other.tasks.get("task_v2").await.expect("the store answers"),
        None,
        "{backend}"
    );
    assert!(
        other
            .outbox
            .for_task("task_v2")
            .await
            .expect("the store answers")
            .is_empty()
    );
    assert!(matches!(
        other
            .idempotency
            .claim(&k, "h", long_ago())
            .await
            .expect("the store answers"),
        ClaimState::Claimed
    ));
    other
        .idempotency
        .release(&k)
        .await
        .expect("the store answers");
    assert_eq!(
        other
            .state
            .get("scope_v2", "buys", "buy_v2")
            .await
            .expect("the store answers"),
        None
    );
    assert_eq!(
        other
            .accounts
            .resolve("buyer_v2", &Reference::Id("acc_v2".into()))
            .await
            .expect("the store answers"),
        None
    );
}

async fn schema_version(url: &str) -> (String, i64) {
    use sqlx::Row;
    let pool = sqlx::AnyPool::connect(url)
        .await
        .expect("the schema is readable");
    let version: String = sqlx::query("SELECT value FROM adcp_meta WHERE name = 'schema_version'")
        .fetch_one(&pool)
        .await
        .expect("the schema is readable")
        .try_get("value")
        .expect("the schema is readable");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("the schema is readable");
    pool.close().await;
    (version, applied)
}

/// A SQLite store of the version-2 schema opens: its rows become the tenant `""`'s, another
/// tenant sees none of them, and reopening applies nothing twice and keeps every tenant's rows.
#[tokio::test]
async fn a_version_two_sqlite_store_is_upgraded() {
    let dir = temp_dir("tenant-v2");
    let url = format!("sqlite://{}?mode=rwc", dir.join("adcp.db").display());
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        version_two()
            .run(&pool)
            .await
            .expect("the version-2 schema");
        write_version_two_rows(&pool).await;
        pool.close().await;
    }
    let s = Stores::sqlite(&dir)
        .await
        .expect("the version-2 store opens");
    assert_version_two_rows(&s).await;
    let t = task(&fresh("scope"));
    s.for_tenant("acme")
        .tasks
        .insert(&t, None, &[])
        .await
        .unwrap();
    drop(s);
    assert_eq!(schema_version(&url).await, ("10".to_owned(), 10));
    for _ in 0..2 {
        let s = Stores::sqlite(&dir).await.expect("reopens");
        assert_version_two_rows(&s).await;
        assert_eq!(
            s.for_tenant("acme").tasks.get(&t.task_id).await.unwrap(),
            Some(t.clone()),
            "a tenant's rows persist"
        );
        assert_eq!(s.tasks.get(&t.task_id).await.unwrap(), None);
    }
    assert_eq!(schema_version(&url).await, ("10".to_owned(), 10));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same upgrade on PostgreSQL, in a database of its own.
#[tokio::test]
async fn a_version_two_postgres_store_is_upgraded() {
    let Some(url) = postgres_url() else {
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    let db = format!("adcp_v2_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
    {
        // A role that may not create databases: the upgrade is covered on SQLite.
        eprintln!("cannot create a database ({e}): the PostgreSQL upgrade case is skipped");
        return;
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url.as_str(), String::new()),
    };
    let (server, _) = base
        .rsplit_once('/')
        .expect("a database URL names its database");
    let db_url = format!("{server}/{db}{query}");
    {
        let pool = sqlx::AnyPool::connect(&db_url).await.unwrap();
        version_two()
            .run(&pool)
            .await
            .expect("the version-2 schema");
        write_version_two_rows(&pool).await;
        pool.close().await;
    }
    {
        let s = Stores::open(&db_url)
            .await
            .expect("the version-2 store opens");
        assert_version_two_rows(&s).await;
    }
    let reopened = Stores::open(&db_url).await.expect("reopens");
    assert_version_two_rows(&reopened).await;
    drop(reopened);
    assert_eq!(schema_version(&db_url).await, ("10".to_owned(), 10));
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
    admin.close().await;
}
