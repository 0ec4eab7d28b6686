//! The official runner against the template: `sales_broadcast_tv` (with its scenarios) over
//! MCP and A2A, and the capability-driven assessment (no storyboard named, an API key
//! configured and given, OAuth beside it), each on a fresh process on the embedded store, the
//! runner's clock shifted and its webhook receiver on, all at once. What the storyboard leaves
//! to narrative (windows, restated reports, clearance) is graded by `tests/broadcast.rs`.
//! Needs node and npm (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_sales-broadcast-tv");

#[test]
fn sales_broadcast_tv_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("sales_broadcast_tv", 46),
        TemplateRun::a2a("sales_broadcast_tv", 46),
        TemplateRun::assessment(170),
    ];
    run_template(Path::new(BIN), None, &runs);
}
