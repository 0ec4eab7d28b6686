//! Hostile input over MCP: every case gets an AdCP error with the right code and field, the
//! caller's `context` where one could be read, and never a panic or a 500. Then a property test
//! throws generated arguments at every tool the reference seller serves.

use adcp_runtime::{BODY_LIMIT, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

fn seller() -> axum::Router {
    let mut config = sales_non_guaranteed::config(true);
    // The name these requests give as `Host`.
    config.allowed_hosts = vec!["seller.test".into()];
    let server = sales_non_guaranteed::agent(config, adcp_runtime::Stores::memory())
        .into_server()
        .expect("the reference seller boots");
    router(server)
}

async fn post_raw(app: &axum::Router, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post("/mcp")
        .header("content-type", content_type)
        .header("accept", "application/json")
        .header("host", "seller.test")
        .body(Body::from(body))
        .expect("a request");
    let resp = app.clone().oneshot(req).await.expect("served");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or_else(
        |_| json!({"not_json": String::from_utf8_lossy(&bytes[..bytes.len().min(300)])}),
    );
    (status, json)
}

fn call(tool: &str, args: &Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}})
        .to_string()
        .into_bytes()
}

/// The AdCP error of a response, wherever the transport put it (a tool result or a JSON-RPC
/// error's data), with the envelope it came in.
fn adcp_error(resp: &Value) -> (&Value, &Value) {
    let envelope = if resp["result"]["isError"] == true {
        &resp["result"]["structuredContent"]
    } else {
        &resp["error"]["data"]
    };
    (&envelope["adcp_error"], envelope)
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_whole() {
    let app = seller();
    let padding = "x".repeat(BODY_LIMIT);
    let body = call(
        "get_products",
        &json!({"brief": padding, "context": {"c": 1}}),
    );
    let (status, resp) = post_raw(&app, "application/json", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (err, _) = adcp_error(&resp);
    assert_eq!(err["code"], "INVALID_REQUEST", "{resp}");
    assert_eq!(err["field"], "body");
}

#[tokio::test]
async fn malformed_and_too_deep_json_name_the_reason() {
    let app = seller();
    let (status, resp) = post_raw(
        &app,
        "application/json",
        br#"{"jsonrpc":"2.0","id":1,"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["error"]["code"], -32700);
    let (err, _) = adcp_error(&resp);
    assert_eq!(err["code"], "INVALID_REQUEST");
    assert_eq!(err["field"], "body");
    assert!(err["message"].as_str().unwrap().contains("EOF"), "{err}");

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_products","arguments":{{"ext":{{"a":{deep}}}}}}}}}"#
    );
    let (status, resp) = post_raw(&app, "application/json", body.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (err, _) = adcp_error(&resp);
    assert!(
        err["message"].as_str().unwrap().contains("recursion limit"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_content_type_is_named() {
    let app = seller();
    let body = call("get_products", &json!({"brief": "x"}));
    let (status, resp) = post_raw(&app, "text/plain", body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (err, _) = adcp_error(&resp);
    assert_eq!(err["code"], "INVALID_REQUEST");
    assert_eq!(err["field"], "Content-Type");
}

#[tokio::test]
async fn an_unknown_task_is_unsupported_and_keeps_the_context() {
    let app = seller();
    let body = call("launch_rocket", &json!({"context": {"trace": "t-1"}}));
    let (status, resp) = post_raw(&app, "application/json", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        resp["error"]["code"], -32602,
        "MCP's answer to an unknown tool"
    );
    let (err, envelope) = adcp_error(&resp);
    assert_eq!(err["code"], "UNSUPPORTED_FEATURE");
    assert_eq!(err["field"], "params.name");
    assert_eq!(envelope["context"]["trace"], "t-1");

    // A task of the protocol that this seller does not implement.
    let body = call(
        "get_signals",
        &json!({"signal_spec": "x", "context": {"trace": "t-2"}}),
    );
    let (_, resp) = post_raw(&app, "application/json", body).await;
    let (err, envelope) = adcp_error(&resp);
    assert_eq!(err["code"], "UNSUPPORTED_FEATURE", "{resp}");
    assert_eq!(envelope["context"]["trace"], "t-2");
}

#[tokio::test]
async fn huge_strings_and_arrays_under_the_limit_are_answered() {
    let app = seller();
    let args = json!({
        "buying_mode": "brief",
        "brief": "premium video ".repeat(200_000),
        "context": {"trace": "big", "blob": (0..100_000).collect::<Vec<u32>>()},
    });
    let (status, resp) = post_raw(&app, "application/json", call("get_products", &args)).await;
    assert_eq!(status, StatusCode::OK);
    let body = &resp["result"]["structuredContent"];
    assert_eq!(
        body["context"]["trace"], "big",
        "the context comes back whole"
    );
    assert_eq!(
        body["context"]["blob"].as_array().map(Vec::len),
        Some(100_000)
    );
}

#[tokio::test]
async fn unknown_fields_where_the_schema_forbids_them_are_named() {
    let app = seller();
    let args = json!({
        "account": {"account_id": "acc_1", "shoe_size": 44},
        "media_buy_ids": ["mb_1"],
        "context": {"trace": "t-3"},
    });
    let (_, resp) = post_raw(&app, "application/json", call("get_media_buys", &args)).await;
    let (err, envelope) = adcp_error(&resp);
    assert_eq!(err["code"], "INVALID_REQUEST", "{resp}");
    assert!(
        resp.to_string().contains("shoe_size"),
        "the offending field is named: {resp}"
    );
    assert_eq!(envelope["context"]["trace"], "t-3");
}

#[tokio::test]
async fn an_impossible_reporting_date_is_refused() {
    let app = seller();
    let args = json!({"end_date": "0000-00-00", "context": {"trace": "t-4"}});
    let (_, resp) = post_raw(
        &app,
        "application/json",
        call("get_media_buy_delivery", &args),
    )
    .await;
    let (err, envelope) = adcp_error(&resp);
    assert_eq!(err["code"], "INVALID_REQUEST", "{resp}");
    assert_eq!(err["field"], "end_date");
    assert_eq!(envelope["context"]["trace"], "t-4");

    let args = json!({"start_date": "2026-05-01", "end_date": "2026-05-31"});
    let (_, resp) = post_raw(
        &app,
        "application/json",
        call("get_media_buy_delivery", &args),
    )
    .await;
    let period = &resp["result"]["structuredContent"]["reporting_period"];
    assert_eq!(period["start"], "2026-05-01T00:00:00Z", "{resp}");
    assert_eq!(period["end"], "2026-05-31T23:59:59Z");
}

/// Field names the tools read, so generated arguments get past the top level and into the
/// handlers, mixed with arbitrary ones.
const FIELDS: &[&str] = &[
    "account",
    "account_id",
    "brand",
    "domain",
    "operator",
    "sandbox",
    "packages",
    "budget",
    "product_id",
    "pricing_option_id",
    "media_buy_id",
    "media_buy_ids",
    "start_time",
    "end_time",
    "start_date",
    "end_date",
    "buying_mode",
    "brief",
    "filters",
    "pagination",
    "max_results",
    "cursor",
    "creative_ids",
    "creatives",
    "format_id",
    "status",
    "idempotency_key",
    "task_id",
    "scenario",
    "params",
    "adcp_major_version",
    "push_notification_config",
    "url",
    "ext",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        Just(json!(3)),
        "[a-z0-9_\\-:.]{0,24}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// What every answer to generated input must be: HTTP 200, a tool result that carries the
/// caller's context and, when it is an error, an upper-snake code other than the one for
/// internal trouble (the memory store cannot be unavailable).
fn judge(
    tool: &str,
    args: &Value,
    trace: u32,
    status: StatusCode,
    resp: &Value,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(status, StatusCode::OK, "{} {}: {}", tool, args, resp);
    let result = &resp["result"];
    prop_assert!(
        result.is_object(),
        "{} {}: not a tool result: {}",
        tool,
        args,
        resp
    );
    let body = &result["structuredContent"];
    prop_assert_eq!(
        &body["context"]["trace"],
        &json!(trace),
        "{} {}: {}",
        tool,
        args,
        resp
    );
    if result["isError"] == true {
        // The controller answers its own errors in its schema's shape (`success: false,
        // error`); the runtime's checks before it use the AdCP envelope.
        let code = match &body["adcp_error"]["code"] {
            Value::Null if tool == "comply_test_controller" => &body["error"],
            code => code,
        };
        let code = code.as_str().unwrap_or_default();
        let upper_snake = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
        prop_assert!(upper_snake, "{} {}: {}", tool, args, resp);
        prop_assert!(code != "SERVICE_UNAVAILABLE", "{} {}: {}", tool, args, resp);
    }
    Ok(())
}

/// Generated arguments for every tool: the answer is a tool result or an AdCP error with an
/// upper-snake code and the caller's context; never a transport failure or a 500.
#[test]
fn generated_arguments_never_break_a_tool() {
    let mut config = sales_non_guaranteed::config(true);
    // The name these requests give as `Host`.
    config.allowed_hosts = vec!["seller.test".into()];
    let server = sales_non_guaranteed::agent(config, adcp_runtime::Stores::memory())
        .into_server()
        .expect("the reference seller boots");
    let tools: Vec<&'static str> = server.tools().iter().map(|t| t.name).collect();
    let app = router(server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let strategy = (
        proptest::sample::select(tools.clone()),
        proptest::collection::btree_map(
            proptest::sample::select(FIELDS).prop_map(str::to_owned),
            json_value(),
            0..8,
        ),
        any::<u32>(),
    );
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 2_000,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let outcome = runner.run(&strategy, |(tool, fields, trace)| {
        let mut args: Map<String, Value> = fields.into_iter().collect();
        args.insert("context".into(), json!({"trace": trace}));
        let args = Value::Object(args);
        let (status, resp) = rt.block_on(post_raw(&app, "application/json", call(tool, &args)));
        judge(tool, &args, trace, status, &resp)
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Replaces or removes the value at the `pick`-th position of a pre-order walk of `v`.
fn mutate(v: &mut Value, pick: &mut usize, with: &Option<Value>) -> bool {
    let children: Vec<String> = match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => (0..a.len()).map(|i| i.to_string()).collect(),
        _ => return false,
    };
    for k in children {
        if *pick == 0 {
            match (v, with) {
                (Value::Object(m), Some(w)) => drop(m.insert(k, w.clone())),
                (Value::Object(m), None) => drop(m.remove(&k)),
                (Value::Array(a), Some(w)) => a[k.parse::<usize>().unwrap_or(0)] = w.clone(),
                (Value::Array(a), None) => drop(a.remove(k.parse::<usize>().unwrap_or(0))),
                _ => {}
            }
            return true;
        }
        *pick -= 1;
        let child = match v {
            Value::Object(m) => m.get_mut(&k),
            Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        if let Some(c) = child
            && mutate(c, pick, with)
        {
            return true;
        }
    }
    false
}

/// The storyboards' own requests, each with one value replaced by a generated one or removed:
/// near-valid input that reaches the handlers.
#[test]
fn mutated_storyboard_requests_never_break_a_tool() {
    let samples: Vec<(String, Value)> = adcp_conformance::samples()
        .into_iter()
        .filter(|s| s.request.is_object() && adcp_runtime::wire::task(&s.task).is_some())
        .map(|s| (s.task, s.request))
        .collect();
    assert!(samples.len() > 400, "the corpus is there");
    let app = seller();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let strategy = (
        proptest::sample::select(samples),
        any::<usize>(),
        proptest::option::weighted(0.8, json_value()),
        any::<u32>(),
    );
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 2_000,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let outcome = runner.run(&strategy, |((tool, mut args), pick, with, trace)| {
        let size = args.to_string().len().max(1);
        let mut at = pick % size;
        mutate(&mut args, &mut at, &with);
        if let Value::Object(m) = &mut args {
            m.insert("context".into(), json!({"trace": trace}));
        }
        let (status, resp) = rt.block_on(post_raw(&app, "application/json", call(&tool, &args)));
        judge(&tool, &args, trace, status, &resp)
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
