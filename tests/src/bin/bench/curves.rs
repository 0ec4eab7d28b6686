//! Growth curves (`--curves`, or `curves` in `--only`): the latency of one call at a time as
//! what the seller serves or keeps grows. Each size gets a seller of its own, measured at
//! concurrency 1 for `--curve-seconds` after a 1 s warm-up:
//!
//! - **the catalogue** (`--catalog-sizes`): `get_products` for a page of ten, against the
//!   reference seller started with the hidden `--bench-catalog-size N` (the stock products
//!   copied under new ids), on the memory store and on SQLite. The page is ten products at every
//!   size, so that what grows is the catalogue, not the answer;
//! - **the stored buys** (`--buy-counts`): `get_media_buys` of one buy by id, then
//!   `create_media_buy` under fresh keys, with that many buys in the SQLite store: half of them
//!   the measured account's, half spread over a hundred other accounts. One buy is booked
//!   through the API (the one `get_media_buys` asks for); the others are copies of it, written
//!   under new ids through the runtime's public `StateStore` (each with its status change, in
//!   one transaction, as a create writes them) while the seller is stopped. The seeded buys
//!   have no idempotency records;
//! - **an account's tasks** (`--task-counts`): the first page of `tasks_list` for the account,
//!   with that many of its tasks written through the runtime's `TaskStore`.
//!
//! Stored buys and tasks are measured on SQLite only: the memory store lives in the seller's
//! process, where only the API can fill it (a million creates: minutes, and gigabytes).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use adcp_runtime::Stores;
use adcp_runtime::store::{StateStore, StatusChange, TaskRecord, TaskStatus, TaskStore};
use adcp_runtime::time::OffsetDateTime;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{
    Cli, Conn, Kind, Process, Protocol, Scenario, Stats, Traffic, account, call, cold_start,
    create_args, get_products_args, listed, load, lossy, payload, products, spawn,
};

/// The page `get_products` asks for along the catalogue curve.
const PAGE: u64 = 10;
/// The reference seller's collection of media buys (`templates/sales-non-guaranteed/src/store.rs`).
const MEDIA_BUYS: &str = "media_buys";
/// Other accounts the seeded buys not the measured account's are spread over.
const OTHER_ACCOUNTS: u64 = 100;
/// Writes kept in flight while seeding: the store's one writer connection is never idle.
const IN_FLIGHT: usize = 64;

/// One curve: a call's latency at each size.
#[derive(serde::Serialize)]
pub(crate) struct Curve {
    /// What is measured (`get_products`).
    call: &'static str,
    store: &'static str,
    /// What grows (`products in the catalogue`).
    grows: &'static str,
    points: Vec<Point>,
}

/// A curve's figures at one size.
#[derive(serde::Serialize)]
struct Point {
    size: u64,
    #[serde(flatten)]
    stats: Stats,
    /// Spawn to the first successful `get_products` of the seller measured at this size.
    cold_start_ms: f64,
    /// Writing the records added for this size (since the previous size), in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    seed_seconds: Option<f64>,
}

impl Curve {
    /// The p50 at the largest size over the p50 at the smallest (the target: at most 1.5).
    fn ratio(&self) -> Option<f64> {
        let (first, last) = (self.points.first()?, self.points.last()?);
        (self.points.len() > 1 && first.stats.p50_ms > 0.0)
            .then(|| last.stats.p50_ms / first.stats.p50_ms)
    }
}

/// Runs every curve.
pub(crate) async fn run(cli: &Cli, seller: &Path, out: &Path) -> Result<Vec<Curve>, String> {
    let began = Instant::now();
    let mut curves = catalogue(cli, seller, out).await?;
    curves.extend(buys(cli, seller, out).await?);
    curves.push(tasks(cli, seller, out).await?);
    eprintln!(
        "bench: growth curves took {:.0} s",
        began.elapsed().as_secs_f64()
    );
    Ok(curves)
}

/// The sizes asked for, smallest first, each once.
fn sizes(asked: &[u64]) -> Vec<u64> {
    asked
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The reference seller started with `command` (its store flags), serving: the process, its
/// cold start in ms, and its first `get_products` answer.
async fn start(
    mut command: Command,
    out: &Path,
    slug: &str,
) -> Result<(Process, f64, Bytes), String> {
    let started = Instant::now();
    let log = out.join(format!("curves-{slug}.log"));
    let p = spawn(&mut command, Kind::Ours, out, log, "the reference seller")?;
    let probe = Scenario::GetProducts.traffic(Kind::Ours);
    let (cold, first) = cold_start(p.port, &probe, started).await.map_err(|e| {
        format!(
            "the reference seller did not serve get_products: {e} (log: {})",
            p.log.display()
        )
    })?;
    Ok((p, cold.as_secs_f64() * 1e3, first))
}

/// Measures `traffic` against one process at concurrency 1, and logs it.
async fn measure(p: &Process, traffic: &Traffic, cli: &Cli, what: &str, size: u64) -> Stats {
    let stats = load(&[p.port], traffic, 1, cli.curve_seconds).await;
    eprintln!(
        "bench: curve {what:<44} size {size:>9}  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>7.1} req/s  errors {}",
        stats.p50_ms, stats.p99_ms, stats.rps, stats.errors
    );
    stats
}

/// `get_products` (a page of ten) as the catalogue grows, in memory and on SQLite.
async fn catalogue(cli: &Cli, seller: &Path, out: &Path) -> Result<Vec<Curve>, String> {
    let mut curves = Vec::new();
    for (store, memory) in [("memory", true), ("SQLite", false)] {
        let mut points = Vec::new();
        for size in sizes(&cli.catalog_sizes) {
            let dir = out.join("curves-catalogue");
            let _ = std::fs::remove_dir_all(&dir);
            let mut c = Command::new(seller);
            c.arg("--bench-catalog-size").arg(size.to_string());
            if memory {
                c.arg("--memory");
            } else {
                c.arg("--data-dir").arg(&dir);
            }
            let (p, cold_start_ms, first) = start(c, out, "catalogue").await?;
            // The seller sells as many products as asked: every one counted.
            let total =
                payload(&first).and_then(|v| v.pointer("/pagination/total_count")?.as_u64());
            if total != Some(size) {
                return Err(format!(
                    "the seller started with --bench-catalog-size {size} sells {total:?} products"
                ));
            }
            let page = usize::try_from(PAGE.min(size)).unwrap_or(0);
            let args = get_products_args(Kind::Ours, Some(PAGE));
            let traffic = Traffic::new(
                Protocol::Mcp,
                move |n| call(Protocol::Mcp, "get_products", &args, n),
                move |b| products(b) == page,
            );
            let what = format!("get_products ({store})");
            let stats = measure(&p, &traffic, cli, &what, size).await;
            points.push(Point {
                size,
                stats,
                cold_start_ms,
                seed_seconds: None,
            });
        }
        curves.push(Curve {
            call: "get_products (a page of 10)",
            store,
            grows: "products in the catalogue",
            points,
        });
    }
    Ok(curves)
}

/// Books one buy through the API on a fresh SQLite store in `dir`: its id, and the store
/// (opened once the seller has stopped) with the data scope of the measured account (the
/// scope the buy's status change was recorded under) and the change.
async fn booked_store(
    seller: &Path,
    dir: &Path,
    out: &Path,
    slug: &str,
) -> Result<(Stores, String, String, StatusChange), String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut c = Command::new(seller);
    c.arg("--data-dir").arg(dir);
    let (p, _, _) = start(c, out, slug).await?;
    let mut conn = Conn::open(p.port).await.map_err(|e| e.to_string())?;
    let body = call(
        Protocol::Mcp,
        "create_media_buy",
        &create_args(Kind::Ours, false),
        0,
    );
    let answer = conn.post("/mcp", body).await.map_err(|e| e.to_string())?;
    let id = payload(&answer)
        .and_then(|v| v.get("media_buy_id")?.as_str().map(str::to_owned))
        .ok_or_else(|| format!("the seller booked no buy: {}", lossy(&answer)))?;
    drop(conn);
    drop(p);
    let stores = Stores::sqlite(dir)
        .await
        .map_err(|e| format!("opening {}: {e}", dir.display()))?;
    // Every scope's changes: the account's scope is derived from a key kept in the store, so
    // it is read back rather than computed.
    let changes = stores
        .state
        .changes_between(0, i64::MAX, 1000)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let (scope, change) = changes
        .into_iter()
        .find(|(_, c)| c.resource == MEDIA_BUYS && c.id == id)
        .ok_or_else(|| format!("no status change recorded for the buy {id}"))?;
    Ok((stores, scope, id, change))
}

/// Waits for one write of a seeding.
fn joined(r: Option<Result<Result<(), String>, tokio::task::JoinError>>) -> Result<(), String> {
    match r {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// Writes the buys numbered `range`, copies of `doc` under ids of their own: the even ones
/// the measured account's (`scope`), the odd ones spread over [`OTHER_ACCOUNTS`] others. Each
/// with its status change, as a create records it.
async fn seed_buys(
    state: &Arc<dyn StateStore>,
    scope: &str,
    doc: &Value,
    change: &StatusChange,
    range: Range<u64>,
) -> Result<(), String> {
    let mut writes = JoinSet::new();
    for i in range {
        if writes.len() >= IN_FLIGHT {
            joined(writes.join_next().await)?;
        }
        if i > 0 && i % 100_000 == 0 {
            eprintln!("bench: seeded {i} buys");
        }
        let owner = if i % 2 == 0 {
            scope.to_owned()
        } else {
            format!("acct:bench_other_{:02}", (i / 2) % OTHER_ACCOUNTS)
        };
        let id = format!("mb_seed_{i:08}");
        let mut buy = doc.clone();
        buy["media_buy_id"] = json!(id);
        buy["owner"] = json!(owner);
        let mut change = change.clone();
        change.id.clone_from(&id);
        change.version = 1;
        change.seq = 0;
        let state = state.clone();
        writes.spawn(async move {
            match state
                .compare_and_set_recorded(&owner, MEDIA_BUYS, &id, None, &buy, &change)
                .await
            {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("the buy {id} was stored already")),
                Err(e) => Err(format!("writing the buy {id}: {e}")),
            }
        });
    }
    while !writes.is_empty() {
        joined(writes.join_next().await)?;
    }
    Ok(())
}

/// `get_media_buys` of one buy by id, then fresh-key `create_media_buy`, as the stored buys
/// grow.
async fn buys(cli: &Cli, seller: &Path, out: &Path) -> Result<Vec<Curve>, String> {
    let dir = out.join("curves-buys");
    let (stores, scope, probe, change) = booked_store(seller, &dir, out, "buys").await?;
    let doc = stores
        .state
        .get(&scope, MEDIA_BUYS, &probe)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the buy {probe} is not stored"))?
        .value;
    let args = json!({"account": account(Kind::Ours), "media_buy_ids": [probe]});
    let get = Traffic::new(
        Protocol::Mcp,
        move |n| call(Protocol::Mcp, "get_media_buys", &args, n),
        |b| listed(b, "media_buys") == 1,
    );
    let create = Scenario::CreateFresh.traffic(Kind::Ours);
    // Buys in the store (the one booked, the seeded, and those the measured creates booked),
    // and the number of the next seeded one.
    let (mut stored, mut next) = (1u64, 0u64);
    let (mut gets, mut creates) = (Vec::new(), Vec::new());
    for size in sizes(&cli.buy_counts) {
        let seeding = Instant::now();
        let more = size.saturating_sub(stored);
        seed_buys(&stores.state, &scope, &doc, &change, next..next + more).await?;
        stores.durable().await.map_err(|e| e.to_string())?;
        let seed_seconds = Some(seeding.elapsed().as_secs_f64());
        eprintln!(
            "bench: {size} buys stored ({more} written in {:.1} s)",
            seeding.elapsed().as_secs_f64()
        );
        (stored, next) = (stored + more, next + more);
        let mut c = Command::new(seller);
        c.arg("--data-dir").arg(&dir);
        let (p, cold_start_ms, _) = start(c, out, "buys").await?;
        let stats = measure(&p, &get, cli, "get_media_buys (one by id, SQLite)", stored).await;
        gets.push(Point {
            size: stored,
            stats,
            cold_start_ms,
            seed_seconds,
        });
        let stats = measure(
            &p,
            &create,
            cli,
            "create_media_buy (fresh key, SQLite)",
            stored,
        )
        .await;
        stored += stats.succeeded;
        creates.push(Point {
            size: stored - stats.succeeded,
            stats,
            cold_start_ms,
            seed_seconds: None,
        });
    }
    let grows = "media buys stored (half the account's)";
    Ok(vec![
        Curve {
            call: "get_media_buys (one buy by id)",
            store: "SQLite",
            grows,
            points: gets,
        },
        Curve {
            call: "create_media_buy (fresh key)",
            store: "SQLite",
            grows,
            points: creates,
        },
    ])
}

/// Writes the measured account's tasks numbered `range`: finished creates, a millisecond
/// apart, the later the newer.
async fn seed_tasks(
    tasks: &Arc<dyn TaskStore>,
    scope: &str,
    range: Range<u64>,
) -> Result<(), String> {
    let epoch = OffsetDateTime::now_utc() - adcp_runtime::time::Duration::days(1);
    let mut writes = JoinSet::new();
    for i in range {
        if writes.len() >= IN_FLIGHT {
            joined(writes.join_next().await)?;
        }
        if i > 0 && i % 100_000 == 0 {
            eprintln!("bench: seeded {i} tasks");
        }
        let at = epoch + adcp_runtime::time::Duration::milliseconds(i64::try_from(i).unwrap_or(0));
        let task = TaskRecord {
            task_id: format!("task_seed_{i:08}"),
            task_type: "create_media_buy".into(),
            protocol: "media-buy".into(),
            scope: scope.to_owned(),
            principal: Some("anonymous".into()),
            status: TaskStatus::Completed,
            message: None,
            created_at: at,
            updated_at: at,
            result: Some(
                json!({"media_buy_id": format!("mb_task_{i:08}"), "status": "pending_creatives"}),
            ),
            error: None,
            push: None,
            a2a_push: None,
            context: None,
            job: None,
            owner: None,
            revision: 1,
        };
        let tasks = tasks.clone();
        writes.spawn(async move {
            tasks
                .insert(&task, None, &[])
                .await
                .map_err(|e| format!("writing the task {}: {e}", task.task_id))
        });
    }
    while !writes.is_empty() {
        joined(writes.join_next().await)?;
    }
    Ok(())
}

/// The first page of `tasks_list` as the account's tasks grow.
async fn tasks(cli: &Cli, seller: &Path, out: &Path) -> Result<Curve, String> {
    let dir = out.join("curves-tasks");
    let (stores, scope, _, _) = booked_store(seller, &dir, out, "tasks").await?;
    let mut points = Vec::new();
    let mut stored = 0u64;
    for size in sizes(&cli.task_counts) {
        let seeding = Instant::now();
        seed_tasks(&stores.tasks, &scope, stored..size.max(stored)).await?;
        stores.durable().await.map_err(|e| e.to_string())?;
        let seed_seconds = Some(seeding.elapsed().as_secs_f64());
        eprintln!(
            "bench: {size} tasks stored ({} written in {:.1} s)",
            size.saturating_sub(stored),
            seeding.elapsed().as_secs_f64()
        );
        stored = stored.max(size);
        let page = usize::try_from(stored)
            .unwrap_or(usize::MAX)
            .min(adcp_runtime::DEFAULT_PAGE);
        let args = json!({"account": account(Kind::Ours)});
        let traffic = Traffic::new(
            Protocol::Mcp,
            move |n| call(Protocol::Mcp, "tasks_list", &args, n),
            move |b| listed(b, "tasks") == page,
        );
        let mut c = Command::new(seller);
        c.arg("--data-dir").arg(&dir);
        let (p, cold_start_ms, _) = start(c, out, "tasks").await?;
        let stats = measure(&p, &traffic, cli, "tasks_list (first page, SQLite)", stored).await;
        points.push(Point {
            size: stored,
            stats,
            cold_start_ms,
            seed_seconds,
        });
    }
    Ok(Curve {
        call: "tasks_list (first page)",
        store: "SQLite",
        grows: "tasks of the account",
        points,
    })
}

/// The curves' section of the report.
pub(crate) fn report(s: &mut String, cli: &Cli, cpus: usize, curves: &[Curve]) {
    let _ = writeln!(
        s,
        "\n## Growth curves\n\nConcurrency 1, {} s measured per size after a 1 s warm-up, {cpus} CPUs; a seller started afresh for each size. Seeded buys: half the measured account's, half spread over {OTHER_ACCOUNTS} other accounts; the creates measured add to the next size's count.\n",
        cli.curve_seconds
    );
    let _ = writeln!(
        s,
        "| call | store | size | p50 ms | p99 ms | req/s | errors | cold start | seeded in |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for c in curves {
        for p in &c.points {
            let seeded = p
                .seed_seconds
                .map_or_else(String::new, |t| format!("{t:.1} s"));
            let _ = writeln!(
                s,
                "| {} | {} | {} {} | {:.2} | {:.2} | {:.0} | {} | {:.0} ms | {seeded} |",
                c.call,
                c.store,
                thousands(p.size),
                c.grows,
                p.stats.p50_ms,
                p.stats.p99_ms,
                p.stats.rps,
                p.stats.errors,
                p.cold_start_ms
            );
        }
    }
    let _ = writeln!(
        s,
        "\n| call | store | sizes | p50 largest / smallest (target ≤ 1.5x) |\n|---|---|---|---:|"
    );
    for c in curves {
        let sizes: Vec<String> = c.points.iter().map(|p| thousands(p.size)).collect();
        let ratio = c
            .ratio()
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {ratio} |",
            c.call,
            c.store,
            sizes.join(" → ")
        );
    }
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
