//! The official runner against the template wrapping the official mock platform (`adcp
//! mock-server sales-social`, started by the test): `sales_social` and `audience_sync` over
//! MCP, `sales_social` over A2A, and the capability-driven assessment (no storyboard named, an
//! API key configured and given, OAuth beside it), each on a fresh process on the embedded
//! store, the runner's clock shifted and its webhook receiver on, all at once. The platform
//! must have been used, not bypassed: its traffic counters show the OAuth token, audiences,
//! catalogues, creatives and pixels. Needs node and npm (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, assert_mock_called, run_template_with, runner};

const BIN: &str = env!("CARGO_BIN_EXE_sales-social");

#[test]
fn sales_social_and_audience_sync_storyboards_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("sales-social")
        .expect("the mock platform starts");
    let runs = [
        TemplateRun::mcp("sales_social", 10),
        TemplateRun::mcp("audience_sync", 5),
        TemplateRun::a2a("sales_social", 10),
        TemplateRun::assessment(150),
    ];
    // The mock is a test platform, and the runner acts for every brand it names.
    let args = ["--upstream-sandbox", "--advertiser-grant", "*=*"];
    run_template_with(Path::new(BIN), Some(&upstream), &args, &runs);

    // The platform did the work: the OAuth client's token, audiences made and uploaded to,
    // catalogues, creatives and pixels made.
    assert_mock_called(
        &upstream,
        &[
            "POST /oauth/token",
            "GET /_lookup/advertiser",
            "POST /v1.3/advertiser/{id}/custom_audience/create",
            "POST /v1.3/advertiser/{id}/custom_audience/upload",
            "POST /v1.3/advertiser/{id}/catalog/create",
            "POST /v1.3/advertiser/{id}/catalog/upload",
            "POST /v1.3/advertiser/{id}/creative/create",
            "POST /v1.3/advertiser/{id}/pixel/create",
            "GET /v1.3/advertiser/{id}/info",
        ],
    );
}
