//! The official runner against the template wrapping the official mock ad server (`adcp
//! mock-server creative-ad-server`, started by the test): `creative_ad_server` and the creative
//! protocol's baseline (`creative_lifecycle`) over MCP, `creative_ad_server` over A2A,
//! `deterministic_testing`, and the capability-driven assessment (no storyboard named, an API
//! key configured and given, OAuth beside it), each on a fresh process on the embedded store,
//! the runner's clock shifted and its webhook receiver on, all at once. The ad server must
//! have hosted and rendered. Needs node and npm (the runner is installed on first
//! use).

use std::path::Path;

use adcp_conformance::harness::{
    NOT_A_CREATIVE_AGENTS, TemplateRun, assert_mock_called, run_template_with, runner,
};

const BIN: &str = env!("CARGO_BIN_EXE_creative-ad-server");

#[test]
fn ad_server_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("creative-ad-server")
        .expect("the mock ad server starts");
    let runs = [
        TemplateRun::mcp("creative_ad_server", 7),
        TemplateRun::mcp("creative_lifecycle", 7),
        TemplateRun::a2a("creative_ad_server", 7),
        TemplateRun::mcp("deterministic_testing", 5).skipping(NOT_A_CREATIVE_AGENTS),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent serves.
        TemplateRun::assessment(30),
    ];
    let args = ["--default-advertiser", "acmeoutdoor.example"];
    run_template_with(Path::new(BIN), Some(&upstream), &args, &runs);
    // Delivery is not among them: the storyboard builds its tag under one account and asks for
    // the buy's delivery under another, which sees no tag of it (tests/ad_server.rs reads it).
    assert_mock_called(
        &upstream,
        &[
            "GET /v1/formats",
            "GET /v1/creatives",
            "POST /v1/creatives",
            "POST /v1/creatives/{id}/render",
        ],
    );
}
