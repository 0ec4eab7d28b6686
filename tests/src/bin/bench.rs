//! The side-by-side benchmark: the reference seller, the same seller on the official Python
//! (`adcp==9.2.0`, `adcp.decisioning`) and TypeScript (`@adcp/sdk@6.11.0`,
//! `createAdcpServerFromPlatform`) frameworks, and a bare axum JSON echo as the floor, each its
//! own process on loopback, under the same bounded load.
//!
//! ```text
//! cargo run --release -p adcp-conformance --bin bench -- [--seconds 5] [--only rust,python,...]
//! cargo run --release -p adcp-conformance --bin bench -- --curves   # the growth curves alone
//! ```
//!
//! For each system: cold start (spawn to the first successful `get_products`), then at
//! concurrency 1 and 16 for `--seconds` each (after a one-second warm-up): `get_products` as an
//! MCP `tools/call`, `create_media_buy` with a fresh idempotency key per request, and the same
//! `create_media_buy` replayed under one key; for the reference seller `get_products` and the
//! fresh-key create also as A2A `message/send`; then the process tree's peak RSS. Every
//! response is checked (an error answer counts as an error, not as throughput). Writes a
//! Markdown report to stdout and `target/bench/report.md`, and the figures to
//! `target/bench/results.json`.
//!
//! `rust-pg2` is the reference seller as two replicas on one throwaway PostgreSQL (`.ci/pg`),
//! the load's connections spread over both (see `bench/pg.rs`). `curves` (or `--curves`)
//! measures latency at concurrency 1 as the catalogue, the stored buys and an account's tasks
//! grow (see `bench/curves.rs`).
//!
//! The peers are installed on first use: Python into `.tools/bench/py` (a venv, pip), the
//! TypeScript SDK into `.tools/adcp-sdk` (npm, shared with the compliance tests). Their sellers
//! are `tests/bench/peers/`.

// A command-line report: printing is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

// The binary's root is this file, so its modules' paths are spelled out.
#[path = "bench/curves.rs"]
mod curves;
#[path = "bench/pg.rs"]
mod pg;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adcp_conformance::harness;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "adcp-rs against the Python and TypeScript frameworks"
)]
struct Cli {
    /// Seconds of measured load per scenario and concurrency (after a 1 s warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Systems to run (comma-separated): rust, rust-sqlite, rust-pg2, python, typescript,
    /// floor; and `curves`, the growth curves (not in the default: they take ~15 minutes).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rust,rust-sqlite,rust-pg2,python,typescript,floor"
    )]
    only: Vec<String>,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    concurrency: Vec<usize>,
    /// Run the growth curves alone (`--only curves`).
    #[arg(long)]
    curves: bool,
    /// Growth curves: seconds measured per size, at concurrency 1 (after a 1 s warm-up).
    #[arg(long, default_value_t = 3.0)]
    curve_seconds: f64,
    /// Growth curves: catalogue sizes (products) `get_products` is measured at.
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000")]
    catalog_sizes: Vec<u64>,
    /// Growth curves: media buys stored (half the measured account's, half spread over a
    /// hundred others) when `create_media_buy` and `get_media_buys` are measured.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    buy_counts: Vec<u64>,
    /// Growth curves: the measured account's tasks when `tasks_list` is measured.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    task_counts: Vec<u64>,
    /// Internal: serve the bare axum JSON echo on this address and nothing else.
    #[arg(long, hide = true)]
    echo_server: Option<SocketAddr>,
}

/// What is measured.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    GetProducts,
    /// `get_products` as an A2A `message/send` (the reference seller only).
    GetProductsA2a,
    CreateFresh,
    /// The fresh-key create as an A2A `message/send` (the reference seller only).
    CreateFreshA2a,
    CreateReplay,
}

impl Scenario {
    /// In the report's order: each A2A row after its MCP one.
    const ALL: [Scenario; 5] = [
        Scenario::GetProducts,
        Scenario::GetProductsA2a,
        Scenario::CreateFresh,
        Scenario::CreateFreshA2a,
        Scenario::CreateReplay,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::GetProducts => "get_products",
            Scenario::GetProductsA2a => "get_products (A2A)",
            Scenario::CreateFresh => "create_media_buy (fresh key)",
            Scenario::CreateFreshA2a => "create_media_buy (fresh key, A2A)",
            Scenario::CreateReplay => "create_media_buy (replay)",
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Scenario::GetProductsA2a | Scenario::CreateFreshA2a => Protocol::A2a,
            _ => Protocol::Mcp,
        }
    }

    /// Whether a system of `kind` is measured at it: the floor echoes a `get_products` body
    /// only; the peers' sellers (`tests/bench/peers/`) serve MCP alone (their frameworks' A2A
    /// takes more than the benchmark's seller scripts wire up), so their A2A rows are n/a.
    fn runs_on(self, kind: Kind) -> bool {
        match kind {
            Kind::Ours => true,
            Kind::Peer => self.protocol() == Protocol::Mcp,
            Kind::Echo => self == Scenario::GetProducts,
        }
    }

    /// What a run of it sends a system of `kind`, and how each answer is judged.
    fn traffic(self, kind: Kind) -> Traffic {
        let protocol = self.protocol();
        let get_products =
            move |n| call(protocol, "get_products", &get_products_args(kind, None), n);
        if kind == Kind::Echo {
            // The floor sends back what it is sent: any JSON-RPC message is its answer.
            return Traffic::new(protocol, get_products, |b| message(b).is_some());
        }
        match self {
            Scenario::GetProducts | Scenario::GetProductsA2a => {
                Traffic::new(protocol, get_products, |b| products(b) > 0)
            }
            Scenario::CreateFresh | Scenario::CreateFreshA2a | Scenario::CreateReplay => {
                let replay = self == Scenario::CreateReplay;
                let body =
                    move |n| call(protocol, "create_media_buy", &create_args(kind, replay), n);
                Traffic::new(protocol, body, booked)
            }
        }
    }
}

/// The transport a call goes over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// MCP `tools/call` at `/mcp`.
    Mcp,
    /// A2A `message/send` at `/a2a`, one DataPart naming the skill.
    A2a,
}

impl Protocol {
    fn path(self) -> &'static str {
        match self {
            Protocol::Mcp => "/mcp",
            Protocol::A2a => "/a2a",
        }
    }
}

/// What a run sends and how each answer is judged: one load generator for the scenarios, both
/// transports and the growth curves' calls.
#[derive(Clone)]
struct Traffic {
    path: &'static str,
    /// The body of the `n`th request of a run.
    body: Arc<dyn Fn(u64) -> Bytes + Send + Sync>,
    /// Whether an answer is a success (checked in full, on every response).
    ok: Check,
}

/// Judges an answer's body.
type Check = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

impl Traffic {
    fn new(
        protocol: Protocol,
        body: impl Fn(u64) -> Bytes + Send + Sync + 'static,
        ok: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Self {
        Traffic {
            path: protocol.path(),
            body: Arc::new(body),
            ok: Arc::new(ok),
        }
    }
}

/// One measured run.
#[derive(Clone, Default, serde::Serialize)]
struct Stats {
    requests: u64,
    /// Successful answers, warm-up included (every fresh-key create books a buy).
    #[serde(skip)]
    succeeded: u64,
    errors: u64,
    seconds: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A system's figures.
#[derive(Default, serde::Serialize)]
struct Figures {
    cold_start_ms: f64,
    /// Of every process of the system (both replicas of `rust-pg2`), summed.
    peak_rss_mb: f64,
    /// Resident growth over the fresh-key creates, per buy booked (what the store keeps of a
    /// buy, and of its idempotency record, in memory).
    growth_per_buy_bytes: Option<f64>,
    runs: BTreeMap<String, Stats>,
    /// A peer's seller: its A2A rows are reported n/a rather than left out.
    #[serde(skip)]
    peer: bool,
}

/// How a system is told where to listen, and what it serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The reference seller: `--bind ADDR`.
    Ours,
    /// A peer's seller: `PORT CATALOG_JSON`.
    Peer,
    /// The floor: `--echo-server ADDR`; only `get_products` (it echoes, it sells nothing).
    Echo,
}

struct System {
    /// Its `--only` name, and its log's.
    slug: &'static str,
    name: &'static str,
    kind: Kind,
    /// Its processes: one, or replicas sharing a database, between which the load's
    /// connections are spread.
    commands: Vec<Command>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Some(addr) = cli.echo_server {
        return rt.block_on(echo_server(addr));
    }
    match rt.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The floor: axum parsing the JSON body and writing it back, nothing else.
async fn echo_server(addr: SocketAddr) -> ExitCode {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move { axum::Json(v) }),
    );
    let Ok(listener) = tokio::net::TcpListener::bind(addr).await else {
        return ExitCode::FAILURE;
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// `results.json`: each system's figures under its name (as before the curves), and the
/// growth curves when they ran.
#[derive(serde::Serialize)]
struct Results<'a> {
    #[serde(flatten)]
    systems: &'a BTreeMap<&'static str, Figures>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    curves: &'a [curves::Curve],
}

async fn run(cli: &Cli) -> Result<(), String> {
    let root = harness::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let seller = build_seller(&root)?;
    // `--curves` runs the curves alone.
    let wanted = |s: &str| !cli.curves && cli.only.iter().any(|o| o == s);
    let curves_wanted = cli.curves || cli.only.iter().any(|o| o == "curves");

    let mut results: BTreeMap<&'static str, Figures> = BTreeMap::new();
    let catalog = out.join("catalog.json");
    let mut systems = vec![];
    // The reference seller runs first: its catalogue is what the peers serve.
    if wanted("rust") || wanted("python") || wanted("typescript") {
        let mut c = Command::new(&seller);
        c.arg("--memory");
        systems.push(System {
            slug: "rust",
            name: "adcp-rs",
            kind: Kind::Ours,
            commands: vec![c],
        });
    }
    if wanted("rust-sqlite") {
        let dir = out.join("sqlite-data");
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = Command::new(&seller);
        c.arg("--data-dir").arg(&dir);
        systems.push(System {
            slug: "rust-sqlite",
            name: "adcp-rs (SQLite)",
            kind: Kind::Ours,
            commands: vec![c],
        });
    }
    // Stopped (and its directory removed) when dropped: after the systems, or on the first
    // error, whichever comes first.
    let mut postgres = None;
    if wanted("rust-pg2") {
        let pg = pg::Postgres::start(&root, &out)?;
        let replicas = (0..2)
            .map(|_| {
                let mut c = Command::new(&seller);
                c.arg("--database-url").arg(&pg.url);
                c
            })
            .collect();
        systems.push(System {
            slug: "rust-pg2",
            name: "adcp-rs (PostgreSQL, 2 replicas)",
            kind: Kind::Ours,
            commands: replicas,
        });
        postgres = Some(pg);
    }
    if wanted("python") {
        let mut c = Command::new(install_python(&root)?);
        c.arg(root.join("tests/bench/peers/python_seller.py"));
        systems.push(System {
            slug: "python",
            name: "Python adcp 9.2.0",
            kind: Kind::Peer,
            commands: vec![c],
        });
    }
    if wanted("typescript") {
        let modules = harness::runner()
            .script()
            .ancestors()
            .nth(4)
            .ok_or("the runner's node_modules")?
            .to_path_buf();
        let mut c = Command::new("node");
        c.env("NODE_PATH", modules)
            .env("NODE_ENV", "production")
            .arg(root.join("tests/bench/peers/ts_seller.cjs"));
        systems.push(System {
            slug: "typescript",
            name: "TypeScript @adcp/sdk 6.11.0",
            kind: Kind::Peer,
            commands: vec![c],
        });
    }
    if wanted("floor") {
        systems.push(System {
            slug: "floor",
            name: "axum JSON echo (floor)",
            kind: Kind::Echo,
            commands: vec![Command::new(
                std::env::current_exe().map_err(|e| e.to_string())?,
            )],
        });
    }
    for mut system in systems {
        let (figures, first) = measure(cli, &mut system, &out, &catalog).await?;
        if system.kind == Kind::Ours {
            write_catalog(&first, &catalog)?;
        }
        if wanted(system.slug) {
            results.insert(system.name, figures);
        }
    }
    drop(postgres);
    // The systems' figures are reported even when the curves fail.
    let (curves, failed) = if curves_wanted {
        match curves::run(cli, &seller, &out).await {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        }
    } else {
        (Vec::new(), None)
    };
    let report = report(cli, &results, &curves);
    println!("{report}");
    std::fs::write(out.join("report.md"), &report).map_err(|e| e.to_string())?;
    let all = Results {
        systems: &results,
        curves: &curves,
    };
    let json = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.json"), json).map_err(|e| e.to_string())?;
    match failed {
        Some(e) => Err(format!("growth curves: {e}")),
        None => Ok(()),
    }
}

/// Builds the reference seller in release (the benchmark measures what ships).
fn build_seller(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "sales-non-guaranteed",
            "--bin",
            "reference-seller",
        ])
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("building the reference seller failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release/reference-seller"))
}

/// A venv with `adcp==9.2.0` under `.tools/bench/py`; its python.
fn install_python(root: &Path) -> Result<PathBuf, String> {
    const PACKAGE: &str = "adcp==9.2.0";
    let venv = root.join(".tools/bench/py");
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import adcp, adcp.decisioning; assert adcp.__version__ == '9.2.0'",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("bench: installing {PACKAGE} into {}", venv.display());
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", PACKAGE])
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("installing {PACKAGE} failed"));
        }
    }
    Ok(python)
}

/// Writes the products of the reference seller's `get_products` answer for the peers.
fn write_catalog(answer: &[u8], path: &Path) -> Result<(), String> {
    let products = payload(answer)
        .and_then(|v| v.get("products").cloned())
        .ok_or("the reference seller answered get_products without products")?;
    std::fs::write(path, products.to_string()).map_err(|e| e.to_string())
}

/// Starts a system, measures it, stops it: its figures and its first `get_products` answer.
async fn measure(
    cli: &Cli,
    system: &mut System,
    out: &Path,
    catalog: &Path,
) -> Result<(Figures, Bytes), String> {
    let started = Instant::now();
    let replicas = system.commands.len();
    let mut processes = Vec::with_capacity(replicas);
    for (i, command) in system.commands.iter_mut().enumerate() {
        let log = if replicas == 1 {
            out.join(format!("{}.log", system.slug))
        } else {
            out.join(format!("{}-{}.log", system.slug, i + 1))
        };
        processes.push(spawn(command, system.kind, catalog, log, system.name)?);
    }
    // Cold start: until every process serves (replicas start together).
    let probe = Scenario::GetProducts.traffic(system.kind);
    let mut cold = Duration::ZERO;
    let mut first = None;
    for p in &processes {
        let (took, answer) = cold_start(p.port, &probe, started).await.map_err(|e| {
            format!(
                "{} did not serve get_products: {e} (log: {})",
                system.name,
                p.log.display()
            )
        })?;
        cold = cold.max(took);
        first.get_or_insert(answer);
    }
    let first = first.ok_or_else(|| format!("{} has no process", system.name))?;
    let ports: Vec<u16> = processes.iter().map(|p| p.port).collect();
    let rss = |which: &str| -> u64 { processes.iter().map(|p| p.rss_kb(which)).sum() };
    let mut figures = Figures {
        cold_start_ms: cold.as_secs_f64() * 1e3,
        peer: system.kind == Kind::Peer,
        ..Figures::default()
    };
    for scenario in Scenario::ALL {
        if !scenario.runs_on(system.kind) {
            continue;
        }
        let traffic = scenario.traffic(system.kind);
        let before = rss("VmRSS:");
        let mut booked = 0;
        for &c in &cli.concurrency {
            let stats = load(&ports, &traffic, c, cli.seconds).await;
            eprintln!(
                "bench: {:<28} {:<34} c={c:<3} {:>9.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  rss {:.1} MB",
                system.name,
                scenario.label(),
                stats.rps,
                stats.p50_ms,
                stats.p99_ms,
                stats.errors,
                rss("VmRSS:") as f64 / 1024.0
            );
            if scenario == Scenario::CreateFresh {
                booked += stats.succeeded;
            }
            figures.runs.insert(key(scenario, c), stats);
        }
        if booked > 0 {
            let grown = rss("VmRSS:").saturating_sub(before) as f64 * 1024.0;
            figures.growth_per_buy_bytes = Some(grown / booked as f64);
        }
    }
    figures.peak_rss_mb = rss("VmHWM:") as f64 / 1024.0;
    drop(processes);
    Ok((figures, first))
}

fn key(scenario: Scenario, c: usize) -> String {
    format!("{} c={c}", scenario.label())
}

/// A child process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One process of a system, listening on `port`.
struct Process {
    child: Running,
    port: u16,
    log: PathBuf,
}

impl Process {
    /// [`rss_kb`] of its process tree.
    fn rss_kb(&self, which: &str) -> u64 {
        rss_kb(self.child.0.id(), which)
    }
}

/// Starts one process of a system on a free loopback port, its output to `log`.
fn spawn(
    command: &mut Command,
    kind: Kind,
    catalog: &Path,
    log: PathBuf,
    name: &str,
) -> Result<Process, String> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    match kind {
        Kind::Ours => command.args(["--bind", &addr]),
        Kind::Peer => command.arg(port.to_string()).arg(catalog),
        Kind::Echo => command.arg("--echo-server").arg(&addr),
    };
    eprintln!("bench: starting {name} on {addr}");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let child = command
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .env("ADCP_LOG", "warn")
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(Process {
        child: Running(child),
        port,
        log,
    })
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Polls with `probe` (a `get_products`) until one succeeds: the time since `started`, and
/// the answer.
async fn cold_start(
    port: u16,
    probe: &Traffic,
    started: Instant,
) -> Result<(Duration, Bytes), String> {
    let deadline = started + Duration::from_secs(300);
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match Conn::open(port).await {
            Ok(mut conn) => match conn.post(probe.path, (probe.body)(0)).await {
                Ok(body) if (probe.ok)(&body) => {
                    return Ok((started.elapsed(), body));
                }
                Ok(body) => last = lossy(&body),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(last)
}

/// The start of an answer, for an error message.
fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// A resident-set figure of `/proc/<pid>/status` (`VmHWM:` peak, `VmRSS:` now) summed over
/// `pid` and its descendants, in KiB.
fn rss_kb(pid: u32, which: &str) -> u64 {
    let field = |pid: u32, name: &str| -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        total += field(p, which).unwrap_or(0);
        let Ok(entries) = std::fs::read_dir("/proc") else {
            continue;
        };
        for e in entries.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if field(child, "PPid:") == Some(u64::from(p)) {
                stack.push(child);
            }
        }
    }
    total
}

/// The JSON-RPC request calling `task` with `args` (`n` is its id): an MCP `tools/call`, or an
/// A2A `message/send` whose one DataPart names the skill.
fn call(protocol: Protocol, task: &str, args: &Value, n: u64) -> Bytes {
    let body = match protocol {
        Protocol::Mcp => json!({
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": task, "arguments": args},
        }),
        Protocol::A2a => json!({
            "jsonrpc": "2.0",
            "id": n,
            "method": "message/send",
            "params": {"message": {
                "kind": "message",
                "role": "user",
                "messageId": format!("bench-{n}"),
                "parts": [{"kind": "data", "data": {"skill": task, "input": args}}],
            }},
        }),
    };
    Bytes::from(body.to_string())
}

/// The account a request names.
fn account(kind: Kind) -> Value {
    // The reference seller resolves a buyer's account by its natural key (an account id it
    // did not issue is a compliance fixture account, which sells only what was seeded); the
    // peers' sellers take any account id.
    if kind == Kind::Ours {
        json!({"brand": {"domain": "acme-outdoor.example"}, "operator": "acme-outdoor.example"})
    } else {
        json!({"account_id": "acc_bench"})
    }
}

/// `get_products`' arguments: a brief, and a page of `max_results` when given (the default
/// page otherwise).
fn get_products_args(kind: Kind, max_results: Option<u64>) -> Value {
    let mut args = json!({
        "buying_mode": "brief",
        "brief": "Display and video for an outdoor running-shoe launch",
        "account": account(kind),
    });
    if let Some(m) = max_results {
        args["pagination"] = json!({"max_results": m});
    }
    args
}

/// Numbers fresh idempotency keys: one counter for the whole run, so that a key is never sent
/// twice (a run's request numbers start again at 1, and a replayed key would answer from the
/// idempotency store instead of booking).
static FRESH_KEYS: AtomicU64 = AtomicU64::new(0);

/// `create_media_buy`'s arguments: under a fresh idempotency key, or the one replayed key.
fn create_args(kind: Kind, replay: bool) -> Value {
    let key = if replay {
        format!("bench-replay-{:x}-0000000000000000", std::process::id())
    } else {
        let n = FRESH_KEYS.fetch_add(1, Ordering::Relaxed);
        format!("bench-fresh-{:x}-{n:016}", std::process::id())
    };
    json!({
        "idempotency_key": key,
        "account": account(kind),
        "brand": {"domain": "acme-outdoor.example"},
        "start_time": "2027-03-01T00:00:00Z",
        "end_time": "2027-03-31T00:00:00Z",
        "packages": [{
            "product_id": "test-product",
            "pricing_option_id": "default",
            "budget": 5000,
            "bid_price": 3.0,
        }],
    })
}

/// The JSON-RPC message of an answer, plain JSON or one server-sent event.
fn message(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    let json = if text.trim_start().starts_with('{') {
        text
    } else {
        text.lines().find_map(|l| l.strip_prefix("data:"))?.trim()
    };
    serde_json::from_str(json).ok()
}

/// The AdCP response of a call that succeeded: MCP's `result.structuredContent`, or the data
/// of an A2A task's `result` artifact (a task `completed` with an `error` artifact is an AdCP
/// error, one with `submitted` a hand-off; neither is a success here).
fn payload(body: &[u8]) -> Option<Value> {
    let mut m = message(body)?;
    let result = m.get_mut("result")?;
    let content = if result.get("kind").and_then(Value::as_str) == Some("task") {
        if result.pointer("/status/state").and_then(Value::as_str) != Some("completed") {
            return None;
        }
        let artifact = result.get_mut("artifacts")?.get_mut(0)?;
        if artifact.get("name").and_then(Value::as_str) != Some("result") {
            return None;
        }
        artifact.pointer_mut("/parts/0/data")?.take()
    } else {
        if result.get("isError") == Some(&Value::Bool(true)) {
            return None;
        }
        result.get_mut("structuredContent")?.take()
    };
    (content.get("adcp_error").is_none() && content.get("errors").is_none()).then_some(content)
}

/// How many items of `field` a successful answer lists (0 for an error answer).
fn listed(body: &[u8], field: &str) -> usize {
    payload(body)
        .and_then(|v| v.get(field)?.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn products(body: &[u8]) -> usize {
    listed(body, "products")
}

/// Whether a create's answer booked (or replayed) a buy.
fn booked(body: &[u8]) -> bool {
    payload(body).is_some_and(|v| v.get("media_buy_id").is_some())
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Conn {
    async fn open(port: u16) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(Conn {
            sender,
            authority: format!("127.0.0.1:{port}"),
        })
    }

    async fn post(
        &mut self,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
        self.sender.ready().await?;
        let req = hyper::Request::post(path)
            .header("host", &self.authority)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Full::new(body))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {status}").into());
        }
        Ok(body)
    }
}

/// `concurrency` connections, each sending one request after another: a 1 s warm-up, then
/// `seconds` measured. The connections are spread over `ports` in turn (replicas of one
/// system: half each of two).
async fn load(ports: &[u16], traffic: &Traffic, concurrency: usize, seconds: f64) -> Stats {
    if ports.is_empty() {
        return Stats::default();
    }
    let counter = Arc::new(AtomicU64::new(1));
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            let counter = counter.clone();
            let traffic = traffic.clone();
            let port = ports[i % ports.len()];
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut ok = 0u64;
                let mut conn = None;
                while Instant::now() < end {
                    if conn.is_none() {
                        match Conn::open(port).await {
                            Ok(c) => conn = Some(c),
                            Err(_) => {
                                errors += 1;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let Some(c) = conn.as_mut() else { continue };
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let body = (traffic.body)(n);
                    let sent = Instant::now();
                    let answer = c.post(traffic.path, body).await;
                    let took = sent.elapsed();
                    let measured = sent >= start && Instant::now() <= end;
                    match answer {
                        Ok(body) if (traffic.ok)(&body) => {
                            ok += 1;
                            if measured {
                                latencies.push(took);
                            }
                        }
                        Ok(_) => errors += u64::from(measured),
                        Err(_) => {
                            errors += u64::from(measured);
                            conn = None;
                        }
                    }
                }
                (latencies, errors, ok)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut ok) = (0, 0);
    for w in workers {
        if let Ok((l, e, o)) = w.await {
            latencies.extend(l);
            errors += e;
            ok += o;
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    Stats {
        requests: latencies.len() as u64,
        succeeded: ok,
        errors,
        seconds,
        rps: latencies.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn report(
    cli: &Cli,
    results: &BTreeMap<&'static str, Figures>,
    curves: &[curves::Curve],
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    if !results.is_empty() {
        let _ = writeln!(
            s,
            "Loopback, {cpus} CPUs, {} s measured per row after a 1 s warm-up; load generator in the same machine.\n",
            cli.seconds
        );
        systems_report(&mut s, cli, results);
    }
    if !curves.is_empty() {
        curves::report(&mut s, cli, cpus, curves);
    }
    s
}

fn systems_report(s: &mut String, cli: &Cli, results: &BTreeMap<&'static str, Figures>) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "| system | cold start | peak RSS | RSS growth per buy booked |\n|---|---:|---:|---:|"
    );
    for (name, f) in results {
        let growth = f
            .growth_per_buy_bytes
            .map_or_else(String::new, |b| format!("{b:.0} bytes"));
        let _ = writeln!(
            s,
            "| {name} | {:.0} ms | {:.1} MB | {growth} |",
            f.cold_start_ms, f.peak_rss_mb
        );
    }
    let _ = writeln!(
        s,
        "\n| scenario | system | req/s | p50 ms | p99 ms | errors |\n|---|---|---:|---:|---:|---:|"
    );
    for scenario in Scenario::ALL {
        for &c in &cli.concurrency {
            for (name, f) in results {
                if let Some(st) = f.runs.get(&key(scenario, c)) {
                    let _ = writeln!(
                        s,
                        "| {} c={c} | {name} | {:.0} | {:.2} | {:.2} | {} |",
                        scenario.label(),
                        st.rps,
                        st.p50_ms,
                        st.p99_ms,
                        st.errors
                    );
                } else if f.peer && !scenario.runs_on(Kind::Peer) {
                    let _ = writeln!(
                        s,
                        "| {} c={c} | {name} | n/a | n/a | n/a | |",
                        scenario.label()
                    );
                }
            }
        }
    }
    if let Some(ours) = results.get("adcp-rs") {
        let _ = writeln!(
            s,
            "\n| ratio (adcp-rs / other), req/s | other | ratio |\n|---|---|---:|"
        );
        for scenario in Scenario::ALL {
            for &c in &cli.concurrency {
                let k = key(scenario, c);
                let Some(mine) = ours.runs.get(&k) else {
                    continue;
                };
                for (name, f) in results.iter().filter(|(n, _)| **n != "adcp-rs") {
                    if let Some(theirs) = f.runs.get(&k).filter(|t| t.rps > 0.0) {
                        let _ = writeln!(s, "| {k} | {name} | {:.2}x |", mine.rps / theirs.rps);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_event_stream_answers() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"products":[{}]}}}"#;
        assert_eq!(products(ok), 1);
        let sse = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"structuredContent\":{\"media_buy_id\":\"mb_1\"}}}\n\n";
        assert!(booked(sse));
        let error = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{"media_buy_id":"x"}}}"#;
        assert!(!booked(error));
        let adcp_error = br#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"adcp_error":{"code":"X"},"media_buy_id":"x"}}}"#;
        assert!(!booked(adcp_error));
    }

    #[test]
    fn reads_a2a_tasks() {
        let task = |state: &str, artifact: &str, data: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"kind":"task","id":"t","contextId":"c","status":{{"state":"{state}"}},"artifacts":[{{"artifactId":"a","name":"{artifact}","parts":[{{"kind":"data","data":{data}}}]}}]}}}}"#
            )
        };
        let ok = task("completed", "result", r#"{"media_buy_id":"mb_1"}"#);
        assert!(booked(ok.as_bytes()));
        let products_ok = task("completed", "result", r#"{"products":[{},{}]}"#);
        assert_eq!(products(products_ok.as_bytes()), 2);
        let error = task("completed", "error", r#"{"adcp_error":{"code":"X"}}"#);
        assert!(!booked(error.as_bytes()));
        let submitted = task(
            "completed",
            "submitted",
            r#"{"status":"submitted","media_buy_id":"x"}"#,
        );
        assert!(!booked(submitted.as_bytes()));
        let failed = task("failed", "result", r#"{"media_buy_id":"x"}"#);
        assert!(!booked(failed.as_bytes()));
    }

    #[test]
    fn fresh_keys_differ_and_replays_repeat() {
        let fresh = Scenario::CreateFresh.traffic(Kind::Ours);
        // The same request number in two runs still gets a key of its own.
        assert_ne!((fresh.body)(1), (fresh.body)(1));
        let replay = Scenario::CreateReplay.traffic(Kind::Ours);
        let a: Value = serde_json::from_slice(&(replay.body)(1)).unwrap();
        let b: Value = serde_json::from_slice(&(replay.body)(2)).unwrap();
        assert_eq!(a["params"], b["params"]);
        let key = a["params"]["arguments"]["idempotency_key"]
            .as_str()
            .unwrap();
        assert!(key.len() >= 16);
    }

    #[test]
    fn a2a_requests_name_the_skill() {
        let traffic = Scenario::CreateFreshA2a.traffic(Kind::Ours);
        assert_eq!(traffic.path, "/a2a");
        let m: Value = serde_json::from_slice(&(traffic.body)(3)).unwrap();
        assert_eq!(m["method"], "message/send");
        let data = &m["params"]["message"]["parts"][0]["data"];
        assert_eq!(data["skill"], "create_media_buy");
        assert!(data["input"]["idempotency_key"].is_string());
        assert!(!Scenario::GetProductsA2a.runs_on(Kind::Peer));
        assert!(Scenario::GetProductsA2a.runs_on(Kind::Ours));
    }
}
