//! The proposal ledger on memory, SQLite and PostgreSQL: draft -> committed -> consumed with
//! guarded transitions; of 32 concurrent consumers of one committed proposal exactly one wins;
//! expiry at its boundary; a retried consumer is told it already holds the proposal; tenants
//! and accounts never see each other's proposals.

use std::sync::Arc;

use adcp_conformance::harness::{postgres_url, temp_dir};
use adcp_runtime::Stores;
use adcp_runtime::store::proposals::{Commit, Consume, DRAFTS_KEPT, ProposalRecord, ProposalState};
use adcp_runtime::store::{ProposalStore, StoreError};
use serde_json::json;

fn id() -> String {
    format!("prop_{}", uuid::Uuid::new_v4().simple())
}

async fn ledger(stores: &Stores) {
    let p = stores.proposals.clone();
    // Unique per run: a PostgreSQL database outlives the test.
    let scope = &format!("acct:{}", id());
    let buy = &format!("mb_{}", id());
    let pid = id();
    let t0 = 1_800_000_000_000_i64;
    // Drafts are overwritten across refine turns, and keep their first creation time.
    p.save_draft(&ProposalRecord::draft(&pid, scope, json!({"turn": 1}), t0))
        .await
        .expect("a draft");
    p.save_draft(&ProposalRecord::draft(
        &pid,
        scope,
        json!({"turn": 2}),
        t0 + 5,
    ))
    .await
    .expect("the draft revised");
    let r = p.get(scope, &pid).await.expect("read").expect("stored");
    assert_eq!(
        (r.state, &r.proposal, r.created_at, r.updated_at),
        (ProposalState::Draft, &json!({"turn": 2}), t0, t0 + 5)
    );
    // Another account does not see it.
    assert_eq!(
        p.get(&format!("{scope}-other"), &pid).await.expect("read"),
        None
    );
    // A draft cannot be consumed.
    assert!(matches!(
        p.consume(scope, &pid, "claim-1", t0)
            .await
            .expect("consume"),
        Consume::NotCommitted(_)
    ));

    // Finalize: committed with its hold; a second finalize is told it was already.
    let expires = t0 + 60_000;
    let c = p
        .commit(scope, &pid, &json!({"turn": "final"}), expires, t0 + 10)
        .await
        .expect("commit");
    assert!(
        matches!(&c, Commit::Committed(r) if r.expires_at == Some(expires) && r.proposal == json!({"turn": "final"})),
        "{c:?}"
    );
    assert!(matches!(
        p.commit(scope, &pid, &json!({}), expires, t0)
            .await
            .expect("commit"),
        Commit::Already(_)
    ));
    assert!(matches!(
        p.commit("acct:b", &pid, &json!({}), expires, t0)
            .await
            .expect("commit"),
        Commit::NotFound
    ));
    // A committed proposal is not overwritten by a late refine.
    let late = p
        .save_draft(&ProposalRecord::draft(
            &pid,
            scope,
            json!({"late": true}),
            t0 + 20,
        ))
        .await;
    assert!(matches!(late, Err(StoreError::Exists(_))), "{late:?}");

    // Expiry at the boundary: expired at `expires_at`, live a millisecond before.
    assert!(matches!(
        p.consume(scope, &pid, "claim-1", expires)
            .await
            .expect("consume"),
        Consume::Expired(_)
    ));
    assert!(matches!(
        p.consume("acct:b", &pid, "claim-1", t0)
            .await
            .expect("consume"),
        Consume::NotFound
    ));
    let won = p
        .consume(scope, &pid, "claim-1", expires - 1)
        .await
        .expect("consume");
    assert!(
        matches!(&won, Consume::Consumed(r) if r.consumed_by.as_deref() == Some("claim-1")),
        "{won:?}"
    );
    // The same claim again (a retried create): told it holds it; another claim: taken.
    assert!(matches!(
        p.consume(scope, &pid, "claim-1", t0)
            .await
            .expect("consume"),
        Consume::Again(_)
    ));
    assert!(matches!(
        p.consume(scope, &pid, "claim-2", t0)
            .await
            .expect("consume"),
        Consume::Taken
    ));

    // A failed create gives it back; only its own claim can.
    assert!(!p.release(scope, &pid, "claim-2").await.expect("release"));
    assert!(p.release(scope, &pid, "claim-1").await.expect("release"));
    assert!(matches!(
        p.consume(scope, &pid, "claim-2", t0)
            .await
            .expect("consume"),
        Consume::Consumed(_)
    ));
    // Booked: attached to its buy, found by it, and no longer given back.
    assert!(!p.attach(scope, &pid, "claim-1", buy).await.expect("attach"));
    assert!(p.attach(scope, &pid, "claim-2", buy).await.expect("attach"));
    let by_buy = p
        .by_media_buy(scope, buy)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        (by_buy.proposal_id.as_str(), by_buy.state),
        (pid.as_str(), ProposalState::Consumed)
    );
    assert_eq!(p.by_media_buy("acct:b", buy).await.expect("read"), None);
    assert!(!p.release(scope, &pid, "claim-2").await.expect("release"));

    // Another tenant's ledger has none of it, even for the same scope and id.
    let other = stores.for_tenant(&format!("t{}", uuid::Uuid::new_v4().simple()));
    assert_eq!(other.proposals.get(scope, &pid).await.expect("read"), None);
    assert!(matches!(
        other
            .proposals
            .consume(scope, &pid, "claim-2", t0)
            .await
            .expect("consume"),
        Consume::NotFound
    ));
}

/// 32 creates racing for one committed proposal: exactly one consumes it.
async fn race(stores: &Stores) {
    let p: Arc<dyn ProposalStore> = stores.proposals.clone();
    let (scope, pid) = ("acct:race", id());
    let now = 1_800_000_000_000_i64;
    p.save_draft(&ProposalRecord::draft(&pid, scope, json!({}), now))
        .await
        .expect("a draft");
    p.commit(scope, &pid, &json!({}), now + 60_000, now)
        .await
        .expect("commit");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (p, pid) = (p.clone(), pid.clone());
            tokio::spawn(async move { p.consume(scope, &pid, &format!("claim-{i}"), now).await })
        })
        .collect();
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("joined").expect("consume") {
            Consume::Consumed(_) => won.push(i),
            Consume::Taken => {}
            other => panic!("claim-{i}: {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "winners: {won:?}");
    let r = p.get(scope, &pid).await.expect("read").expect("stored");
    assert_eq!(r.consumed_by, Some(format!("claim-{}", won[0])));
}

/// A scope keeps its newest drafts: discovery after discovery does not grow the ledger without
/// end. The oldest drafts go; a committed proposal made before them, and other scopes, stay.
async fn bounded(stores: &Stores) {
    let p = stores.proposals.clone();
    let (scope, other) = (&format!("acct:{}", id()), &format!("acct:{}", id()));
    let t0 = 1_800_000_000_000_i64;
    let kept = id();
    p.save_draft(&ProposalRecord::draft(&kept, scope, json!({}), t0))
        .await
        .expect("a draft");
    p.commit(scope, &kept, &json!({}), t0 + 3_600_000, t0)
        .await
        .expect("commit");
    let elsewhere = id();
    p.save_draft(&ProposalRecord::draft(&elsewhere, other, json!({}), t0))
        .await
        .expect("another scope's draft");
    // Twice the bound, one per millisecond, and a round of prunes' worth more.
    let made: Vec<String> = (0..2 * DRAFTS_KEPT + 64).map(|_| id()).collect();
    for (i, d) in made.iter().enumerate() {
        let at = t0 + 1 + i as i64;
        p.save_draft(&ProposalRecord::draft(d, scope, json!({"n": i}), at))
            .await
            .expect("a draft");
    }
    let mut present = Vec::new();
    for d in &made {
        present.push(p.get(scope, d).await.expect("read").is_some());
    }
    let held = present.iter().filter(|x| **x).count();
    assert!(
        (DRAFTS_KEPT..=DRAFTS_KEPT + 64).contains(&held),
        "{held} drafts held of {}",
        made.len()
    );
    assert!(!present[0], "the oldest draft is gone");
    assert!(
        present[made.len() - DRAFTS_KEPT..].iter().all(|x| *x),
        "the newest are all kept"
    );
    let first_kept = present.iter().position(|x| *x).expect("some kept");
    assert!(
        present[first_kept..].iter().all(|x| *x),
        "what is kept is the newest run"
    );
    let c = p
        .get(scope, &kept)
        .await
        .expect("read")
        .expect("committed kept");
    assert_eq!(c.state, ProposalState::Committed);
    assert!(p.get(other, &elsewhere).await.expect("read").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_memory() {
    let stores = Stores::memory();
    ledger(&stores).await;
    race(&stores).await;
    bounded(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite() {
    let stores = Stores::sqlite(temp_dir("proposals")).await.expect("SQLite");
    ledger(&stores).await;
    race(&stores).await;
    bounded(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres() {
    let Some(url) = postgres_url() else { return };
    let stores = Stores::open(&url).await.expect("PostgreSQL");
    ledger(&stores).await;
    race(&stores).await;
    bounded(&stores).await;
    // Two replicas: one ledger.
    let other = Stores::open(&url).await.expect("PostgreSQL");
    let (scope, pid, now) = ("acct:replicas", id(), 1_800_000_000_000_i64);
    stores
        .proposals
        .save_draft(&ProposalRecord::draft(&pid, scope, json!({}), now))
        .await
        .expect("a draft");
    stores
        .proposals
        .commit(scope, &pid, &json!({}), now + 1000, now)
        .await
        .expect("commit");
    assert!(matches!(
        other
            .proposals
            .consume(scope, &pid, "b", now)
            .await
            .expect("consume"),
        Consume::Consumed(_)
    ));
    assert!(matches!(
        stores
            .proposals
            .consume(scope, &pid, "a", now)
            .await
            .expect("consume"),
        Consume::Taken
    ));
}
