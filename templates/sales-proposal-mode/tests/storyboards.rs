//! The proposal storyboards against the template wrapping the official mock ad server
//! (`adcp mock-server sales-non-guaranteed`, started by the test), each storyboard on a fresh
//! process on the embedded store, over MCP and A2A, all at once. Needs node and npm (the runner
//! is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{TemplateRun, run_template, runner};

const BIN: &str = env!("CARGO_BIN_EXE_sales-proposal-mode");

const STORYBOARDS: &[(&str, u64)] = &[
    ("sales_proposal_mode", 43),
    ("media_buy_seller/proposal_finalize", 5),
    ("media_buy_seller/refine_products", 3),
];

#[test]
fn proposal_storyboards_over_mcp_and_a2a() {
    let upstream = runner()
        .mock_server("sales-non-guaranteed")
        .expect("the mock upstream starts");
    let runs: Vec<TemplateRun> = STORYBOARDS
        .iter()
        .flat_map(|&(s, n)| [TemplateRun::mcp(s, n), TemplateRun::a2a(s, n)])
        .collect();
    run_template(Path::new(BIN), Some(&upstream), &runs);
}
