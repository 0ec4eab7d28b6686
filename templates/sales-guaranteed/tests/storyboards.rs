//! The official runner against the template wrapping the official mock ad server (`adcp
//! mock-server sales-guaranteed`, started by the test): `sales_guaranteed` (with its scenarios)
//! over MCP and over A2A, and the capability-driven assessment (no storyboard named, an API key
//! configured and given, OAuth beside it), each on a fresh process on the embedded store, the
//! runner's clock shifted and its webhook receiver on, all at once. The ad server must have been
//! used, not bypassed: its traffic counters show orders, IO approvals, line items and delivery.
//! Needs node and npm (the runner is installed on first use).
#![allow(clippy::print_stdout)]

use std::path::Path;

use adcp_conformance::harness::{
    AuthorizationServer, Process, counts, failed_steps, report, run_assessment, run_storyboard,
    runner, temp_dir,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sales-guaranteed");
const KEY: &str = "compliance-runner-key-0123456789";

enum Run {
    Storyboard { a2a: bool },
    Assessment,
}

#[test]
fn sales_guaranteed_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("sales-guaranteed")
        .expect("the mock upstream starts");
    let issuer = AuthorizationServer::start();
    let runs = [
        Run::Storyboard { a2a: false },
        Run::Storyboard { a2a: true },
        Run::Assessment,
    ];
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                let (upstream, issuer) = (&upstream, &issuer);
                scope.spawn(move || {
                    let data = temp_dir("sales-guaranteed");
                    let data = data.to_string_lossy();
                    let key = format!("runner={KEY}");
                    let mut args = vec![
                        "--data-dir",
                        data.as_ref(),
                        "--allow-private-webhooks",
                        "--upstream-url",
                        upstream.url.as_str(),
                        "--upstream-key",
                        upstream.key.as_str(),
                    ];
                    if matches!(run, Run::Assessment) {
                        args.extend(["--api-key", key.as_str()]);
                        args.extend(["--oauth-issuer", issuer.issuer.as_str()]);
                    }
                    let process = Process::spawn(Path::new(BIN), &args);
                    let result = match run {
                        Run::Storyboard { a2a: false } => {
                            run_storyboard(&process.mcp, "sales_guaranteed", &[])
                        }
                        Run::Storyboard { a2a: true } => {
                            let base = process.mcp.trim_end_matches("/mcp").to_owned();
                            run_storyboard(&base, "sales_guaranteed", &["--protocol", "a2a"])
                        }
                        Run::Assessment => run_assessment(&process.mcp, &["--auth", KEY]),
                    };
                    (result, process.log())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the run finished"))
            .collect::<Vec<_>>()
    });
    let mut failed = Vec::new();
    for (run, (result, log)) in runs.iter().zip(&results) {
        let c = counts(result);
        let (name, min) = match run {
            Run::Storyboard { a2a: false } => ("sales_guaranteed (mcp)", 44),
            Run::Storyboard { a2a: true } => ("sales_guaranteed (a2a)", 44),
            Run::Assessment => ("capability-driven", 150),
        };
        println!(
            "{name}: {} passed, {} failed, {} skipped",
            c.passed, c.failed, c.skipped
        );
        let skip = matches!(run, Run::Assessment).then_some("security_transport");
        let failures: Vec<String> = failed_steps(result, skip)
            .into_iter()
            .map(|(step, why)| format!("{step}: {why}"))
            .collect();
        let skipped_storyboard = matches!(run, Run::Storyboard { .. }) && c.skipped > 0;
        if !failures.is_empty() || skipped_storyboard || c.passed < min {
            failed.push(format!(
                "{name}:\n{}\n{}\n{log}",
                failures.join("\n"),
                report(result)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));

    // The ad server did the booking: orders opened, their IOs followed to signature, line
    // items made, delivery read.
    let traffic: Value = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let url = format!("{}/_debug/traffic", upstream.url);
            let response = adcp_runtime::test_util::http_client()
                .get(url)
                .send()
                .await?;
            response.text().await
        })
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .expect("the mock's traffic counters");
    for route in [
        "POST /v1/orders",
        "GET /v1/tasks/{id}",
        "GET /v1/orders/{id}",
        "POST /v1/orders/{id}/lineitems",
        "GET /v1/orders/{id}/delivery",
        "GET /v1/products",
    ] {
        assert!(
            traffic["traffic"][route].as_u64().unwrap_or(0) > 0,
            "{route} never called: {traffic}"
        );
    }
}
