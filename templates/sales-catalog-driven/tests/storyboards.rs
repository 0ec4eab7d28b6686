//! The official runner against the template: `sales_catalog_driven` (with its scenarios) over
//! MCP and A2A, the creative storyboards a seller taking and previewing creatives meets
//! (`creative_sales_agent`, and the creative protocol's `creative_lifecycle`), and the
//! capability-driven assessment (no storyboard named, an API key
//! configured and given, OAuth beside it), each on a fresh process on the embedded store, the
//! runner's clock shifted and its webhook receiver on, all at once. The one step the 6.11
//! runner never grades (`expect_substitution_safe`) is graded by `tests/catalogue.rs`. Needs
//! node and npm (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template};

const BIN: &str = env!("CARGO_BIN_EXE_sales-catalog-driven");

#[test]
fn sales_catalog_driven_storyboards_and_the_capability_driven_assessment() {
    let runs = [
        TemplateRun::mcp("sales_catalog_driven", 35),
        TemplateRun::a2a("sales_catalog_driven", 35),
        TemplateRun::mcp("creative_sales_agent", 4),
        TemplateRun::mcp("creative_lifecycle", 7),
        TemplateRun::assessment(150),
    ];
    run_template(Path::new(BIN), None, &runs);
}
