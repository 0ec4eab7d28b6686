//! The official runner against the template: `creative_generative` over MCP and A2A,
//! `creative_generative/seller` (a seller generating at buy time, with the scenarios it
//! requires), the creative protocol's `creative_lifecycle`, `creative_sales_agent`, and the
//! capability-driven assessment (no storyboard named, an API key configured and given, OAuth
//! beside it), each on a fresh process on the embedded store, the runner's clock shifted and
//! its webhook receiver on, all at once. The one step the 6.11 runner never grades
//! (`expect_substitution_safe`) is graded by `tests/generation.rs`. Needs node and npm (the
//! runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_creative-generative");

#[test]
fn generative_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("creative_generative", 10),
        TemplateRun::a2a("creative_generative", 10),
        TemplateRun::mcp("creative_generative/seller", 26),
        TemplateRun::mcp("creative_lifecycle", 7),
        TemplateRun::mcp("creative_sales_agent", 4),
        TemplateRun::assessment(150),
    ];
    run_template(Path::new(BIN), None, &runs);
}
