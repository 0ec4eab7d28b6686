//! The official compliance runner (`@adcp/sdk@6.11.0`, AdCP 3.0.6) against the reference
//! seller: each storyboard on a fresh seller, the runner's clock at 2026-04-01, gated on
//! `summary.steps_failed == 0` (the exit code is 0 for "partial" too). Needs node and npm; the
//! runner is installed into `.tools/adcp-sdk` on first use.
#![allow(clippy::print_stdout)]

use adcp_conformance::harness::{
    AuthorizationServer, Seller, Store, counts, failed_steps, report, run_assessment,
    run_storyboard,
};

fn check(storyboard: &str, a2a: bool, min_passed: u64, max_skipped: Option<u64>) {
    let seller = Seller::start();
    let result = if a2a {
        run_storyboard(&seller.base_url(), storyboard, &["--protocol", "a2a"])
    } else {
        run_storyboard(&seller.mcp_url(), storyboard, &[])
    };
    gate(storyboard, a2a, &result, min_passed, max_skipped);
}

fn gate(
    storyboard: &str,
    a2a: bool,
    result: &adcp_runtime::serde_json::Value,
    min_passed: u64,
    max_skipped: Option<u64>,
) {
    let c = counts(result);
    let transport = if a2a { "a2a" } else { "mcp" };
    println!(
        "{storyboard} ({transport}): {} passed, {} failed, {} skipped",
        c.passed, c.failed, c.skipped
    );
    print!("{}", report(result));
    assert_eq!(
        c.failed,
        0,
        "{storyboard} ({transport}) has failing steps:\n{}",
        report(result)
    );
    assert!(
        c.passed >= min_passed,
        "{storyboard} ({transport}): only {} steps passed",
        c.passed
    );
    if let Some(max) = max_skipped {
        assert!(
            c.skipped <= max,
            "{storyboard} ({transport}): {} steps skipped:\n{}",
            c.skipped,
            report(result)
        );
    }
}

#[test]
fn sales_non_guaranteed_mcp() {
    check("sales_non_guaranteed", false, 37, Some(0));
}

#[test]
fn sales_non_guaranteed_a2a() {
    check("sales_non_guaranteed", true, 37, Some(0));
}

#[test]
fn sales_proposal_mode_mcp() {
    check("sales_proposal_mode", false, 8, Some(0));
}

#[test]
fn sales_proposal_mode_a2a() {
    check("sales_proposal_mode", true, 8, Some(0));
}

#[test]
fn proposal_finalize_mcp() {
    check("media_buy_seller/proposal_finalize", false, 5, Some(0));
}

#[test]
fn proposal_finalize_a2a() {
    check("media_buy_seller/proposal_finalize", true, 5, Some(0));
}

#[test]
fn refine_products_mcp() {
    check("media_buy_seller/refine_products", false, 3, Some(0));
}

#[test]
fn refine_products_a2a() {
    check("media_buy_seller/refine_products", true, 3, Some(0));
}

#[test]
fn media_buy_seller() {
    check("media_buy_seller", false, 59, None);
}

#[test]
fn media_buy_state_machine() {
    check("media_buy_state_machine", false, 9, None);
}

#[test]
fn error_compliance() {
    check("error_compliance", false, 9, None);
}

#[test]
fn schema_validation() {
    check("schema_validation", false, 8, None);
}

#[test]
fn capability_discovery() {
    check("capability_discovery", false, 2, None);
}

#[test]
fn v3_envelope_integrity() {
    check("v3_envelope_integrity", false, 1, None);
}

#[test]
fn deterministic_testing() {
    check("deterministic_testing", false, 22, None);
}

#[test]
fn get_media_buys_pagination_integrity() {
    check("get_media_buys_pagination_integrity", false, 5, None);
}

#[test]
fn pagination_integrity_creative_formats() {
    check("pagination_integrity_creative_formats", false, 5, None);
}

#[test]
fn idempotency() {
    check("idempotency", false, 8, Some(0));
}

/// The signature phase is skipped: the runner has no RFC 9421 webhook-signing key to verify
/// with until signed webhooks land.
#[test]
fn webhook_emission() {
    check("webhook_emission", false, 6, Some(1));
}

#[test]
fn create_media_buy_async() {
    check("media_buy_seller/create_media_buy_async", false, 4, Some(0));
}

/// API keys and OAuth (the built-in JWT verifier, with a stand-in authorization server that
/// issues nothing), as a seller that takes both configures them.
fn both_auth(
    key: &'static str,
    issuer: &AuthorizationServer,
) -> impl FnOnce(&mut adcp_runtime::Config) + Send + 'static {
    use adcp_runtime::{Auth, JwtVerifier};
    let oauth_issuer = issuer.issuer.clone();
    move |c| {
        let auth = Auth::new()
            .key("runner", key)
            .expect("a long enough key")
            .oauth(
                oauth_issuer.clone(),
                std::sync::Arc::new(JwtVerifier::new(oauth_issuer)),
            );
        c.auth = Some(auth);
    }
}

/// Steps of the capability-driven run that no seller following the spec can pass with this
/// runner, and why. Both `create_media_buy_denied` steps expect `GOVERNANCE_DENIED` from a
/// governance agent the runner never registers: their `sync_governance` step sends
/// `$context.governance_agent_url`, which nothing in a full run sets (the runner has no way to
/// give it; adcontextprotocol/adcp#3913), so it is skipped, and their creates name no
/// `plan_id`, which `check_governance` requires. tests/governance.rs shows the same flows
/// with a governance agent that exists: the denial, the recovery and the conditions.
const RUNNER_CANNOT_GRADE: &[&str] = &[
    "media_buy_seller/governance_denied/create_media_buy_denied",
    "media_buy_seller/governance_denied_recovery/create_media_buy_denied",
];

/// The capability-driven assessment (no storyboard named, the way a buyer's compliance check
/// runs it: every storyboard the seller's capabilities select, one after another on one
/// seller), with an API key configured and given to the runner: no failed step outside the
/// `security_transport` track (`signed_requests` posts unsigned and unconfigured vectors at an
/// agent that does not require signatures; tests/signing.rs grades signing with the grader)
/// but the [`RUNNER_CANNOT_GRADE`] ones, which are printed.
#[test]
fn capability_driven_assessment() {
    const KEY: &str = "compliance-runner-key-0123456789";
    let issuer = AuthorizationServer::start();
    let seller = Seller::start_with(Store::Sqlite, both_auth(KEY, &issuer));
    let result = run_assessment(&seller.mcp_url(), &["--auth", KEY]);
    // The whole result, for a look at what the runner observed and warned of.
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("capability-driven.json");
    if let Err(e) = std::fs::write(&kept, result.to_string()) {
        println!("{}: {e}", kept.display());
    }
    let c = counts(&result);
    println!(
        "capability-driven: {} passed, {} failed, {} skipped",
        c.passed, c.failed, c.skipped
    );
    let failures: Vec<String> = failed_steps(&result, Some("security_transport"))
        .into_iter()
        .filter(|(step, why)| {
            let excused = RUNNER_CANNOT_GRADE.contains(&step.as_str());
            if excused {
                println!("not graded (RUNNER_CANNOT_GRADE): {step}: {why}");
            }
            !excused
        })
        .map(|(step, why)| format!("{step}: {why}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed steps outside security_transport:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let executed = result["storyboards_executed"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(executed >= 30, "only {executed} storyboards ran");
    assert!(c.passed >= 180, "only {} steps passed", c.passed);
}

/// Authentication: API keys, and OAuth through the built-in JWT verifier with a stand-in
/// authorization server (the CLI loads no test kit, so the OAuth phase is the one it can grade:
/// the runner's random token is refused).
#[test]
fn security_baseline() {
    const KEY: &str = "compliance-runner-key-0123456789";
    let issuer = AuthorizationServer::start();
    let seller = Seller::start_with(Store::Sqlite, both_auth(KEY, &issuer));
    let result = run_storyboard(&seller.mcp_url(), "security_baseline", &["--auth", KEY]);
    gate("security_baseline", false, &result, 4, None);
}
