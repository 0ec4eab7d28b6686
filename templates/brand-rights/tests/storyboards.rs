//! The official runner against the template: the brand protocol's baseline and
//! `brand_rights` (with its governance-denied scenario) over MCP, `brand_rights` over A2A, and
//! the capability-driven assessment (no storyboard named, an API key configured and given,
//! OAuth beside it), each on a fresh process on the embedded store, the runner's clock
//! shifted and its webhook receiver on, all at once. Needs node and npm (the runner is
//! installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_brand-rights");

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
fn brand_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("brand_baseline", 3),
        TemplateRun::mcp("brand_rights", 10).skipping(UNREACHABLE),
        TemplateRun::a2a("brand_rights", 10).skipping(UNREACHABLE),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent does not
        // serve.
        TemplateRun::assessment(30).excusing(&["security_baseline/assert_mechanism"]),
    ];
    run_template(Path::new(BIN), None, &runs);
}
