//! The official runner against the template wrapping the official mock ad server (`adcp
//! mock-server sales-guaranteed`, started by the test): `sales_guaranteed` (with its scenarios)
//! over MCP and over A2A, and the capability-driven assessment (no storyboard named, an API key
//! configured and given, OAuth beside it), each on a fresh process on the embedded store, the
//! runner's clock shifted and its webhook receiver on, all at once. The ad server must have been
//! used, not bypassed: its traffic counters show orders, IO approvals, line items and delivery.
//! Needs node and npm (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, assert_mock_called, run_template, runner};

const BIN: &str = env!("CARGO_BIN_EXE_sales-guaranteed");

#[test]
fn sales_guaranteed_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("sales-guaranteed")
        .expect("the mock upstream starts");
    let runs = [
        TemplateRun::mcp("sales_guaranteed", 44),
        TemplateRun::a2a("sales_guaranteed", 44),
        TemplateRun::assessment(150),
    ];
    run_template(Path::new(BIN), Some(&upstream), &runs);

    // The ad server did the booking: orders opened, their IOs followed to signature, line
    // items made, delivery read.
    assert_mock_called(
        &upstream,
        &[
            "POST /v1/orders",
            "GET /v1/tasks/{id}",
            "GET /v1/orders/{id}",
            "POST /v1/orders/{id}/lineitems",
            "GET /v1/orders/{id}/delivery",
            "GET /v1/products",
        ],
    );
}
