//! A guaranteed buy while its IO is out for signature: the seller answers `submitted`, is
//! killed (SIGKILL) before the IO is signed, and after the restart the task completes with
//! the booked buy; the ad server holds one order for it, with a line item per package (the
//! second booking found the first through the idempotency keys), and the buyer reads the
//! buy. On the embedded store, against the official mock ad server.

use std::path::Path;
use std::time::{Duration, Instant};

use adcp_conformance::harness::{Process, mcp, runner, temp_dir};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sales-guaranteed");

fn account() -> Value {
    json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example", "sandbox": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_the_io_is_out_loses_nothing() {
    let upstream = runner()
        .mock_server("sales-guaranteed")
        .expect("the mock upstream starts");
    let dir = temp_dir("sales-guaranteed-approval");
    let data = dir.to_string_lossy().into_owned();
    let args = [
        "--data-dir",
        data.as_str(),
        "--upstream-url",
        upstream.url.as_str(),
        "--upstream-key",
        upstream.key.as_str(),
    ];
    let seller = Process::spawn(Path::new(BIN), &args);

    // The ad server's guaranteed product for the account's network.
    let (is_error, products) = mcp(
        &seller.mcp,
        "get_products",
        &json!({"buying_mode": "wholesale", "account": account()}),
    )
    .await;
    assert!(!is_error, "{products}");
    let product = products["products"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["product_id"] == "acme_dooh_billboards_q2")
        .unwrap_or_else(|| panic!("the ad server's product: {products}"))
        .clone();
    assert_eq!(product["delivery_type"], "guaranteed");
    let option = &product["pricing_options"][0];
    assert_eq!(option["fixed_price"].as_f64(), Some(28.0), "{option}");

    let create = json!({
        "idempotency_key": format!("io-{}", uuid::Uuid::new_v4()),
        "account": account(), "brand": {"domain": "acmeoutdoor.example"},
        "start_time": "2031-04-01T00:00:00Z", "end_time": "2031-06-30T23:59:59Z",
        "packages": [
            {"product_id": "acme_dooh_billboards_q2", "pricing_option_id": option["pricing_option_id"], "budget": 40_000.0},
            {"product_id": "acme_dooh_billboards_q2", "pricing_option_id": option["pricing_option_id"], "budget": 20_000.0},
        ],
    });
    let (is_error, submitted) = mcp(&seller.mcp, "create_media_buy", &create).await;
    assert!(!is_error, "{submitted}");
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    assert!(submitted.get("media_buy_id").is_none(), "{submitted}");
    let task = submitted["task_id"].as_str().expect("a task").to_owned();
    seller.kill9();

    let seller = Process::spawn(Path::new(BIN), &args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (_, t) = mcp(
            &seller.mcp,
            "tasks_get",
            &json!({"account": account(), "task_id": task, "include_result": true}),
        )
        .await;
        if t["status"] == "completed" || t["status"] == "failed" {
            break t;
        }
        assert!(Instant::now() < deadline, "still {t}\n{}", seller.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(done["status"], "completed", "{done}\n{}", seller.log());
    let buy = done["result"]["media_buy_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the booked buy: {done}"))
        .to_owned();

    // The buyer reads it.
    let (_, got) = mcp(
        &seller.mcp,
        "get_media_buys",
        &json!({"account": account(), "media_buy_ids": [buy]}),
    )
    .await;
    assert_eq!(got["media_buys"][0]["media_buy_id"], buy.as_str(), "{got}");

    // One order in the ad server for it, approved, with its two line items.
    let client = adcp_runtime::test_util::http_client();
    let read = |path: String| {
        let client = client.clone();
        let (url, key) = (upstream.url.clone(), upstream.key.clone());
        async move {
            let text = client
                .get(format!("{url}{path}"))
                .header("authorization", format!("Bearer {key}"))
                .header("x-network-code", "net_acmeoutdoor")
                .send()
                .await
                .expect("the mock answers")
                .text()
                .await
                .expect("a body");
            serde_json::from_str::<Value>(&text).expect("JSON")
        }
    };
    let orders = read("/v1/orders".into()).await;
    let ours: Vec<&Value> = orders["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["name"] == format!("AdCP {buy}"))
        .collect();
    assert_eq!(ours.len(), 1, "{orders}");
    assert_eq!(ours[0]["status"], "delivering", "{orders}");
    let order = ours[0]["order_id"].as_str().expect("an order id");
    let items = read(format!("/v1/orders/{order}/lineitems")).await;
    assert_eq!(
        items["line_items"].as_array().map(Vec::len),
        Some(2),
        "{items}"
    );
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}
