//! The official runner against the template: `signal_owned`, the signals protocol's baseline
//! and `get_signals` pagination integrity over MCP, `signal_owned` over A2A, and the
//! capability-driven assessment (no storyboard named, an API key configured and given, OAuth
//! beside it), each on a fresh process on the embedded store, the runner's clock shifted and
//! its webhook receiver on, all at once. Needs node and npm (the runner is installed on first
//! use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_signal-owned");

#[test]
fn signals_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("signal_owned", 5),
        TemplateRun::mcp("signals_baseline", 4),
        TemplateRun::mcp("get_signals_pagination_integrity", 3),
        TemplateRun::a2a("signal_owned", 5),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent does not
        // serve.
        TemplateRun::assessment(30).excusing(&["security_baseline/assert_mechanism"]),
    ];
    run_template(Path::new(BIN), None, &runs);
}
