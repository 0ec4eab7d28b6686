//! The official `sales_non_guaranteed` storyboard against both tenants of the example file, at
//! the same time, on one `multi-tenant` process on the embedded store: each tenant passes as
//! a seller of its own. Needs node and npm (the runner is installed on first use).
#![allow(clippy::print_stdout)]

use std::path::Path;

use adcp_conformance::harness::{Process, counts, report, root, run_storyboard, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_multi-tenant");

#[test]
fn sales_non_guaranteed_on_both_tenants_at_once() {
    let data = temp_dir("multi-tenant");
    let tenants = root().join("templates/multi-tenant/tenants.example.toml");
    let (data, tenants) = (data.to_string_lossy(), tenants.to_string_lossy());
    let args = [
        "--tenants",
        tenants.as_ref(),
        "--data-dir",
        data.as_ref(),
        "--allow-private-webhooks",
    ];
    let process = Process::spawn(Path::new(BIN), &args);
    // The first tenant's MCP endpoint is announced; the other is beside it.
    let acme = process.mcp.clone();
    assert!(acme.ends_with("/acme/mcp"), "{acme}");
    let globex = acme.replace("/acme/mcp", "/globex/mcp");
    let results = std::thread::scope(|s| {
        let runs: Vec<_> = [&acme, &globex]
            .into_iter()
            .map(|url| s.spawn(move || run_storyboard(url, "sales_non_guaranteed", &[])))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("the runner finished"))
            .collect::<Vec<_>>()
    });
    for (url, result) in [&acme, &globex].into_iter().zip(&results) {
        let c = counts(result);
        println!(
            "sales_non_guaranteed at {url}: {} passed, {} failed, {} skipped",
            c.passed, c.failed, c.skipped
        );
        assert_eq!(c.failed, 0, "{url}:\n{}\n{}", report(result), process.log());
        assert!(
            c.passed >= 37,
            "{url}: only {} passed\n{}",
            c.passed,
            report(result)
        );
        assert_eq!(c.skipped, 0, "{url}:\n{}", report(result));
    }
}
