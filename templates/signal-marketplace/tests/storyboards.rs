//! The official runner against the template wrapping the official mock marketplace (`adcp
//! mock-server signal-marketplace`, started by the test): `signal_marketplace` (with its
//! governance-denied scenario), the signals baseline and `get_signals` pagination integrity
//! over MCP, `signal_marketplace` over A2A, and the capability-driven assessment (no
//! storyboard named, an API key configured and given, OAuth beside it), each on a fresh
//! process on the embedded store, the runner's clock shifted and its webhook receiver on, all
//! at once. The marketplace must have been used, not bypassed. Needs node and npm (the runner
//! is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, assert_mock_called, run_template, runner};

const BIN: &str = env!("CARGO_BIN_EXE_signal-marketplace");

/// `sync_governance` registers `$context.governance_agent_url`, which the 6.11 CLI cannot
/// set (adcontextprotocol/adcp#3913); the seller tasks the governance baseline also sends to
/// the one agent under test are another role's.
const UNREACHABLE: &[&str] = &[
    "sync_governance",
    "get_products",
    "create_media_buy",
    "get_media_buy_delivery",
];

#[test]
fn marketplace_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("signal-marketplace")
        .expect("the mock marketplace starts");
    let runs = [
        TemplateRun::mcp("signal_marketplace", 10).skipping(UNREACHABLE),
        TemplateRun::mcp("signals_baseline", 4),
        TemplateRun::mcp("get_signals_pagination_integrity", 3),
        TemplateRun::a2a("signal_marketplace", 10).skipping(UNREACHABLE),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent does not
        // serve.
        TemplateRun::assessment(30).excusing(&["security_baseline/assert_mechanism"]),
    ];
    run_template(Path::new(BIN), Some(&upstream), &runs);
    assert_mock_called(
        &upstream,
        &[
            "GET /_lookup/operator",
            "GET /v2/cohorts",
            "GET /v2/destinations",
            "POST /v2/activations",
            "GET /v2/activations/{id}",
        ],
    );
}
