//! The official runner against the template: the spend-authority storyboards, the governance
//! protocol's escalation baseline and the delivery monitor over MCP, one over A2A, and the
//! capability-driven assessment (no storyboard named, an API key configured and given, OAuth
//! beside it), each on a fresh process on the embedded store, the runner's clock shifted and
//! its webhook receiver on, all at once. Needs node and npm (the runner is installed on first
//! use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_governance");

/// The seller's tasks the governance storyboards also call (the runner sends every step to
/// one agent): a governance agent serves none of them.
const SELLERS: &[&str] = &[
    "get_products",
    "create_media_buy",
    "get_media_buy_delivery",
    "sync_governance",
];

#[test]
fn governance_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("governance_spend_authority", 8).skipping(SELLERS),
        TemplateRun::mcp("governance_spend_authority/denied", 3).skipping(SELLERS),
        TemplateRun::mcp("media_buy_governance_escalation", 7).skipping(SELLERS),
        TemplateRun::mcp("governance_delivery_monitor", 10).skipping(SELLERS),
        TemplateRun::a2a("governance_spend_authority", 8).skipping(SELLERS),
        TemplateRun::mcp("property_lists", 9),
        TemplateRun::mcp("collection_lists", 6),
        TemplateRun::mcp("pagination_integrity_property_lists", 6),
        TemplateRun::mcp("pagination_integrity_collection_lists", 6),
        TemplateRun::mcp("content_standards", 10),
        TemplateRun::mcp("pagination_integrity_content_standards", 6),
        TemplateRun::a2a("property_lists", 9),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent does not
        // serve.
        TemplateRun::assessment(60).excusing(&["security_baseline/assert_mechanism"]),
    ];
    run_template(Path::new(BIN), None, &runs);
}
