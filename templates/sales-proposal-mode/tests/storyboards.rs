//! The proposal storyboards against the template wrapping the official mock ad server
//! (`adcp mock-server sales-non-guaranteed`, started by the test), each storyboard on a fresh
//! process on the embedded store, over MCP and A2A, all at once. Needs node and npm (the runner
//! is installed on first use).
#![allow(clippy::print_stdout)]

use std::path::Path;

use adcp_conformance::harness::{Process, counts, report, run_storyboard, runner, temp_dir};

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
    let runs: Vec<(&str, u64, bool)> = STORYBOARDS
        .iter()
        .flat_map(|&(s, n)| [(s, n, false), (s, n, true)])
        .collect();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(storyboard, _, a2a)| {
                let upstream = &upstream;
                scope.spawn(move || {
                    let data = temp_dir("sales-proposal-mode");
                    let data = data.to_string_lossy();
                    let args = [
                        "--data-dir",
                        data.as_ref(),
                        "--upstream-url",
                        upstream.url.as_str(),
                        "--upstream-key",
                        upstream.key.as_str(),
                    ];
                    let process = Process::spawn(Path::new(BIN), &args);
                    let result = if a2a {
                        let base = process.mcp.trim_end_matches("/mcp").to_owned();
                        run_storyboard(&base, storyboard, &["--protocol", "a2a"])
                    } else {
                        run_storyboard(&process.mcp, storyboard, &[])
                    };
                    (result, process.log())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the run finished"))
            .collect::<Vec<_>>()
    });
    let mut failed = Vec::new();
    for ((storyboard, min, a2a), (result, log)) in runs.iter().zip(&results) {
        let c = counts(result);
        let transport = if *a2a { "a2a" } else { "mcp" };
        println!(
            "{storyboard} ({transport}): {} passed, {} failed, {} skipped",
            c.passed, c.failed, c.skipped
        );
        if c.failed > 0 || c.skipped > 0 || c.passed < *min {
            failed.push(format!(
                "{storyboard} ({transport}):\n{}\n{log}",
                report(result)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
