//! The official runner against the template wrapping the official mock studio (`adcp
//! mock-server creative-template`, started by the test): `creative_template` and the creative
//! protocol's baseline (`creative_lifecycle`) over MCP, `creative_template` over A2A, and the
//! capability-driven assessment (no storyboard named, an API key configured and given, OAuth
//! beside it), each on a fresh process on the embedded store, the runner's clock shifted and
//! its webhook receiver on, all at once. The studio must have rendered. Needs node and npm
//! (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{
    NOT_A_CREATIVE_AGENTS, TemplateRun, assert_mock_called, run_template_with, runner,
};

const BIN: &str = env!("CARGO_BIN_EXE_creative-template");

#[test]
fn creative_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("creative-template")
        .expect("the mock studio starts");
    let runs = [
        TemplateRun::mcp("creative_template", 6),
        TemplateRun::mcp("creative_lifecycle", 7),
        TemplateRun::a2a("creative_template", 6),
        TemplateRun::mcp("deterministic_testing", 5).skipping(NOT_A_CREATIVE_AGENTS),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent serves.
        TemplateRun::assessment(30),
    ];
    let args = ["--default-advertiser", "acmeoutdoor.example"];
    run_template_with(Path::new(BIN), Some(&upstream), &args, &runs);
    assert_mock_called(
        &upstream,
        &[
            "GET /_lookup/workspace",
            "GET /v3/workspaces/{ws}/templates",
            "POST /v3/workspaces/{ws}/renders",
            "GET /v3/workspaces/{ws}/renders/{id}",
        ],
    );
}
