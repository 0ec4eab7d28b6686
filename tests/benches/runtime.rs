//! Micro-benchmarks of the request path, in process (no sockets):
//!
//! - `decode_validate/*`: a request checked against its bundled schema and decoded into its
//!   wire type, as the runtime does before adopter code runs;
//! - `idempotency_hash/*`: the RFC 8785 canonical form of a request and its sha256, as every
//!   mutating call with an idempotency key pays;
//! - `dispatch/*`: `Server::call` on the reference seller with in-memory stores (validation,
//!   account resolution, the handler, the envelope), and the same call through the axum router
//!   as an MCP `tools/call` (JSON-RPC framing and the response bytes on top).
//!
//! `cargo bench -p adcp-conformance --bench runtime`

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use adcp_runtime::__private::{request_hash, schemas};
use adcp_runtime::wire::{CreateMediaBuyRequest, GetProductsRequest, decode};
use adcp_runtime::{Call, Stores};
use axum::body::Body;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;

fn get_products() -> Value {
    json!({
        "buying_mode": "brief",
        "brief": "Display and video for an outdoor running-shoe launch",
        "account": {"account_id": "acc_bench"},
    })
}

fn create_media_buy(key: &str) -> Value {
    json!({
        "idempotency_key": key,
        "account": {"account_id": "acc_bench"},
        "brand": {"domain": "acme-outdoor.example"},
        "start_time": "2027-03-01T00:00:00Z",
        "end_time": "2027-03-31T00:00:00Z",
        "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": 5000, "bid_price": 3.0}],
    })
}

fn decode_validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_validate");
    decode_one::<GetProductsRequest>(&mut g, "get_products", &get_products());
    let cmb = create_media_buy("bench-key-0000000000000001");
    decode_one::<CreateMediaBuyRequest>(&mut g, "create_media_buy", &cmb);
    g.finish();
}

/// One task's request checked against its schema and decoded into `T`.
fn decode_one<T: DeserializeOwned>(g: &mut BenchmarkGroup<'_, WallTime>, task: &str, v: &Value) {
    let schemas = schemas();
    let schema = format!("media-buy/{}-request.json", task.replace('_', "-"));
    // Compile the validator outside the measurement (the server does it once too).
    assert!(schemas.validate(&schema, v).is_ok(), "{schema}");
    g.bench_function(task, |b| {
        b.iter(|| {
            let v = black_box(v);
            let ok = schemas.validate(&schema, v).is_ok();
            let req: T = decode(v.clone()).expect("decodes");
            (ok, req)
        });
    });
}

fn idempotency_hash(c: &mut Criterion) {
    let cmb = create_media_buy("bench-key-0000000000000001");
    c.bench_function("idempotency_hash/create_media_buy", |b| {
        b.iter(|| request_hash(black_box(&cmb)).expect("hashes"));
    });
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let server = rt.block_on(async {
        sales_non_guaranteed::agent(sales_non_guaranteed::config(false), Stores::memory())
            .into_server()
            .expect("the reference seller boots")
    });
    let router = adcp_runtime::router(server.clone());
    let gp = get_products();
    let replay = create_media_buy("bench-replay-000000000000001");
    let first = rt.block_on(server.call(Call::new("create_media_buy", replay.clone())));
    assert!(!first.is_error, "{}", first.body);
    let rpc = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_products", "arguments": gp},
    })
    .to_string();

    let mut g = c.benchmark_group("dispatch");
    for (name, tool, args) in [
        ("call/get_products", "get_products", &gp),
        ("call/create_media_buy_replay", "create_media_buy", &replay),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let reply = server.call(Call::new(tool, black_box(args.clone()))).await;
                assert!(!reply.is_error);
                reply
            });
        });
    }
    g.bench_function("mcp/get_products", |b| {
        b.to_async(&rt).iter(|| async {
            let req = axum::http::Request::post("/mcp")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(Body::from(rpc.clone()))
                .expect("a request");
            let resp = router.clone().oneshot(req).await.expect("an answer");
            assert!(resp.status().is_success());
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("a body")
        });
    });
    g.finish();
}

criterion_group!(benches, decode_validate, idempotency_hash, dispatch);
criterion_main!(benches);
