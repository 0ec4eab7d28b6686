//! The official runner against the template wrapping the official mock brand-agent platform
//! (`adcp mock-server sponsored-intelligence`, started by the test): `si_baseline` over MCP,
//! `deterministic_testing`, and the capability-driven assessment (no storyboard
//! named, an API key configured and given, OAuth beside it), each on a fresh process on the
//! embedded store, the runner's clock shifted and its webhook receiver on, all at once. Then
//! `deterministic_testing`'s session phase on its own (see below). The platform must have been
//! used, not bypassed. Needs node and npm (the runner is installed on first use).

use std::path::Path;

use adcp_conformance::harness::{
    Process, TemplateRun, assert_mock_called, failed_steps, run_template_with, runner, temp_dir,
};

const BIN: &str = env!("CARGO_BIN_EXE_sponsored-intelligence");

/// The media-buy and creative tasks `deterministic_testing` exercises, which an SI agent does
/// not serve.
const NOT_AN_SI_AGENTS: &[&str] = &[
    "create_media_buy",
    "get_media_buys",
    "get_media_buy_delivery",
    "sync_creatives",
];

/// `deterministic_testing` keeping only the phases that apply to an SI agent (capabilities,
/// the controller, accounts and the session): in the full storyboard the media-buy phase's
/// missing tasks skip every later phase, the session's included, so the runner never reaches
/// it for an agent that sells nothing. The phases are the storyboard's own, unchanged.
fn session_phases() -> std::path::PathBuf {
    let source = runner()
        .package_dir()
        .join("compliance/cache/3.0.6/universal/deterministic-testing.yaml");
    let text = std::fs::read_to_string(&source).expect("the storyboard");
    let (head, phases) = text.split_once("\nphases:\n").expect("its phases");
    let keep = [
        "capability_discovery",
        "controller_validation",
        "deterministic_account",
        "deterministic_session",
    ];
    let mut out = format!("{head}\nphases:\n");
    let mut keeping = false;
    for line in phases.lines() {
        if let Some(id) = line.strip_prefix("  - id: ") {
            keeping = keep.contains(&id.trim());
        }
        if keeping {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = temp_dir("si-storyboard").join("deterministic-session.yaml");
    std::fs::write(&path, out).expect("written");
    path
}

#[test]
fn si_storyboards_the_session_phase_and_the_capability_driven_assessment() {
    let upstream = runner()
        .mock_server("sponsored-intelligence")
        .expect("the mock platform starts");
    let brands = ["--brand", "novamotors.example,acmeoutdoor.example"];
    let runs = [
        TemplateRun::mcp("si_baseline", 5),
        // Not over A2A: the 6.11 client unwraps any `response` member of an A2A result as if
        // it were an envelope, and every SI answer has one (the brand's reply), so the runner
        // grades the reply instead of the answer. `tests/sessions.rs` covers A2A.
        TemplateRun::mcp("deterministic_testing", 11).skipping(NOT_AN_SI_AGENTS),
        // The runner proves authentication by calling the test kit's probe task, and the 6.11
        // CLI passes no test kit: the probe is `list_creatives`, which this agent does not
        // serve.
        TemplateRun::assessment(20).excusing(&["security_baseline/assert_mechanism"]),
    ];
    run_template_with(Path::new(BIN), Some(&upstream), &brands, &runs);

    // The session phase: a session initiated, then forced to time out by the controller.
    let data = temp_dir("si-session");
    let data = data.to_string_lossy();
    let agent = Process::spawn(
        Path::new(BIN),
        &[
            "--data-dir",
            data.as_ref(),
            "--upstream-url",
            upstream.url.as_str(),
            "--upstream-key",
            upstream.key.as_str(),
            brands[0],
            brands[1],
        ],
    );
    let file = session_phases();
    let file = file.to_string_lossy();
    let result = runner()
        .run(&agent.mcp, None, &["--file", file.as_ref()], true)
        .expect("the runner runs");
    println!(
        "deterministic_testing, its SI agent's phases: {} passed, {} failed, {} skipped",
        result["passed_count"], result["failed_count"], result["skipped_count"]
    );
    let passed: Vec<&str> = result["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().into_iter().flatten())
        .filter(|s| s["passed"] == true)
        .filter_map(|s| s["step_id"].as_str())
        .collect();
    for step in ["initiate_session", "force_session_terminated"] {
        assert!(passed.contains(&step), "{step}: {result}");
    }
    // `verify_terminated_session` asks both for `success: false` and for the task to
    // succeed, which the 6.11 runner cannot grade: the agent answers SESSION_TERMINATED.
    let failed = failed_steps(&result, None);
    assert!(
        failed
            .iter()
            .all(|(s, _)| s.ends_with("/verify_terminated_session")),
        "{failed:?}\n{}",
        agent.log()
    );
    assert_eq!(result["failed_count"], 1, "{result}");

    assert_mock_called(
        &upstream,
        &[
            "GET /_lookup/brand",
            "GET /v1/brands/{brand}/offerings/{id}",
            "POST /v1/brands/{brand}/conversations",
            "POST /v1/brands/{brand}/conversations/{id}/turns",
            "POST /v1/brands/{brand}/conversations/{id}/close",
        ],
    );
}
