//! The side-by-side benchmark: the reference seller, the same seller on the official Python
//! (`adcp==9.2.0`, `adcp.decisioning`) and TypeScript (`@adcp/sdk@6.11.0`,
//! `createAdcpServerFromPlatform`) frameworks, and a bare axum JSON echo as the floor, each its
//! own process on loopback, under the same bounded load.
//!
//! ```text
//! cargo run --release -p adcp-conformance --bin bench -- [--seconds 5] [--only rust,python,...]
//! ```
//!
//! For each system: cold start (spawn to the first successful `get_products`), then at
//! concurrency 1 and 16 for `--seconds` each (after a one-second warm-up): `get_products` as an
//! MCP `tools/call`, `create_media_buy` with a fresh idempotency key per request, and the same
//! `create_media_buy` replayed under one key; then the process tree's peak RSS. Every response
//! is checked (an error answer counts as an error, not as throughput). Writes a Markdown report
//! to stdout and `target/bench/report.md`, and the figures to `target/bench/results.json`.
//!
//! The peers are installed on first use: Python into `.tools/bench/py` (a venv, pip), the
//! TypeScript SDK into `.tools/adcp-sdk` (npm, shared with the compliance tests). Their sellers
//! are `tests/bench/peers/`.

// A command-line report: printing is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

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
    /// Systems to run (comma-separated): rust, rust-sqlite, python, typescript, floor.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rust,rust-sqlite,python,typescript,floor"
    )]
    only: Vec<String>,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    concurrency: Vec<usize>,
    /// Internal: serve the bare axum JSON echo on this address and nothing else.
    #[arg(long, hide = true)]
    echo_server: Option<SocketAddr>,
}

/// What is measured.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    GetProducts,
    CreateFresh,
    CreateReplay,
}

impl Scenario {
    const ALL: [Scenario; 3] = [
        Scenario::GetProducts,
        Scenario::CreateFresh,
        Scenario::CreateReplay,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::GetProducts => "get_products",
            Scenario::CreateFresh => "create_media_buy (fresh key)",
            Scenario::CreateReplay => "create_media_buy (replay)",
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
    peak_rss_mb: f64,
    /// Resident growth over the fresh-key creates, per buy booked (what the store keeps of a
    /// buy, and of its idempotency record, in memory).
    growth_per_buy_bytes: Option<f64>,
    runs: BTreeMap<String, Stats>,
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
    command: Command,
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

async fn run(cli: &Cli) -> Result<(), String> {
    let root = harness::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let seller = build_seller(&root)?;
    let wanted = |s: &str| cli.only.iter().any(|o| o == s);

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
            command: c,
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
            command: c,
        });
    }
    if wanted("python") {
        let mut c = Command::new(install_python(&root)?);
        c.arg(root.join("tests/bench/peers/python_seller.py"));
        systems.push(System {
            slug: "python",
            name: "Python adcp 9.2.0",
            kind: Kind::Peer,
            command: c,
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
            command: c,
        });
    }
    if wanted("floor") {
        systems.push(System {
            slug: "floor",
            name: "axum JSON echo (floor)",
            kind: Kind::Echo,
            command: Command::new(std::env::current_exe().map_err(|e| e.to_string())?),
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
    let report = report(cli, &results);
    println!("{report}");
    std::fs::write(out.join("report.md"), &report).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.json"), json).map_err(|e| e.to_string())?;
    Ok(())
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
    let products = structured(answer)
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
    let port = free_port()?;
    let echo = system.kind == Kind::Echo;
    let log = out.join(format!("{}.log", system.slug));
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{port}");
    match system.kind {
        Kind::Ours => system.command.args(["--bind", &addr]),
        Kind::Peer => system.command.arg(port.to_string()).arg(catalog),
        Kind::Echo => system.command.arg("--echo-server").arg(&addr),
    };
    eprintln!("bench: starting {} on {addr}", system.name);
    let started = Instant::now();
    let child = system
        .command
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .env("ADCP_LOG", "warn")
        .spawn()
        .map_err(|e| format!("{}: {e}", system.name))?;
    let child = Running(child);
    let (cold, first) = cold_start(port, system.kind, started).await.map_err(|e| {
        format!(
            "{} did not serve get_products: {e} (log: {})",
            system.name,
            log.display()
        )
    })?;
    let mut figures = Figures {
        cold_start_ms: cold.as_secs_f64() * 1e3,
        ..Figures::default()
    };
    for scenario in Scenario::ALL {
        if echo && scenario != Scenario::GetProducts {
            continue;
        }
        let before = rss_kb(child.0.id(), "VmRSS:");
        let mut booked = 0;
        for &c in &cli.concurrency {
            let stats = load(port, scenario, c, cli.seconds, system.kind).await;
            eprintln!(
                "bench: {:<28} {:<30} c={c:<3} {:>9.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  rss {:.1} MB",
                system.name,
                scenario.label(),
                stats.rps,
                stats.p50_ms,
                stats.p99_ms,
                stats.errors,
                rss_kb(child.0.id(), "VmRSS:") as f64 / 1024.0
            );
            if scenario == Scenario::CreateFresh {
                booked += stats.succeeded;
            }
            figures.runs.insert(key(scenario, c), stats);
        }
        if booked > 0 {
            let grown = rss_kb(child.0.id(), "VmRSS:").saturating_sub(before) as f64 * 1024.0;
            figures.growth_per_buy_bytes = Some(grown / booked as f64);
        }
    }
    figures.peak_rss_mb = rss_kb(child.0.id(), "VmHWM:") as f64 / 1024.0;
    drop(child);
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

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Polls with `get_products` until one succeeds: the time since `started`, and the answer.
async fn cold_start(port: u16, kind: Kind, started: Instant) -> Result<(Duration, Bytes), String> {
    let echo = kind == Kind::Echo;
    let deadline = started + Duration::from_secs(300);
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match Conn::open(port).await {
            Ok(mut conn) => match conn.post(request(Scenario::GetProducts, 0, kind)).await {
                Ok(body) if succeeded(Scenario::GetProducts, echo, &body) => {
                    return Ok((started.elapsed(), body));
                }
                Ok(body) => last = String::from_utf8_lossy(&body).chars().take(300).collect(),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(last)
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

/// The JSON-RPC request of a scenario; `n` makes fresh idempotency keys.
fn request(scenario: Scenario, n: u64, kind: Kind) -> Bytes {
    // The reference seller resolves a buyer's account by its natural key (an account id it
    // did not issue is a compliance fixture account, which sells only what was seeded); the
    // peers' sellers take any account id.
    let account = if kind == Kind::Ours {
        json!({"brand": {"domain": "acme-outdoor.example"}, "operator": "acme-outdoor.example"})
    } else {
        json!({"account_id": "acc_bench"})
    };
    let (name, args) = match scenario {
        Scenario::GetProducts => (
            "get_products",
            json!({
                "buying_mode": "brief",
                "brief": "Display and video for an outdoor running-shoe launch",
                "account": account,
            }),
        ),
        Scenario::CreateFresh | Scenario::CreateReplay => {
            let key = if scenario == Scenario::CreateFresh {
                format!("bench-fresh-{:x}-{n:016}", std::process::id())
            } else {
                format!("bench-replay-{:x}-0000000000000000", std::process::id())
            };
            (
                "create_media_buy",
                json!({
                    "idempotency_key": key,
                    "account": account,
                    "brand": {"domain": "acme-outdoor.example"},
                    "start_time": "2027-03-01T00:00:00Z",
                    "end_time": "2027-03-31T00:00:00Z",
                    "packages": [{
                        "product_id": "test-product",
                        "pricing_option_id": "default",
                        "budget": 5000,
                        "bid_price": 3.0,
                    }],
                }),
            )
        }
    };
    let body = json!({
        "jsonrpc": "2.0",
        "id": n,
        "method": "tools/call",
        "params": {"name": name, "arguments": args},
    });
    Bytes::from(body.to_string())
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

/// `result.structuredContent`, when the call succeeded.
fn structured(body: &[u8]) -> Option<Value> {
    let m = message(body)?;
    let result = m.get("result")?;
    if result.get("isError") == Some(&Value::Bool(true)) {
        return None;
    }
    let content = result.get("structuredContent")?;
    (content.get("adcp_error").is_none() && content.get("errors").is_none())
        .then(|| content.clone())
}

fn products(body: &[u8]) -> usize {
    structured(body)
        .and_then(|v| v.get("products")?.as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Whether a scenario's answer is a success (checked in full, on every response).
fn succeeded(scenario: Scenario, echo: bool, body: &[u8]) -> bool {
    if echo {
        return message(body).is_some();
    }
    match scenario {
        Scenario::GetProducts => products(body) > 0,
        Scenario::CreateFresh | Scenario::CreateReplay => {
            structured(body).is_some_and(|v| v.get("media_buy_id").is_some())
        }
    }
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
        body: Bytes,
    ) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
        self.sender.ready().await?;
        let req = hyper::Request::post("/mcp")
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
/// `seconds` measured.
async fn load(
    port: u16,
    scenario: Scenario,
    concurrency: usize,
    seconds: f64,
    kind: Kind,
) -> Stats {
    let echo = kind == Kind::Echo;
    let counter = Arc::new(AtomicU64::new(1));
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let counter = counter.clone();
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
                    let sent = Instant::now();
                    let answer = c.post(request(scenario, n, kind)).await;
                    let took = sent.elapsed();
                    let measured = sent >= start && Instant::now() <= end;
                    match answer {
                        Ok(body) if succeeded(scenario, echo, &body) => {
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

fn report(cli: &Cli, results: &BTreeMap<&'static str, Figures>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(
        s,
        "Loopback, {cpus} CPUs, {} s measured per row after a 1 s warm-up; load generator in the same machine.\n",
        cli.seconds
    );
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
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_event_stream_answers() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"products":[{}]}}}"#;
        assert_eq!(products(ok), 1);
        let sse = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"structuredContent\":{\"media_buy_id\":\"mb_1\"}}}\n\n";
        assert!(succeeded(Scenario::CreateFresh, false, sse));
        let error = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"structuredContent":{"media_buy_id":"x"}}}"#;
        assert!(!succeeded(Scenario::CreateFresh, false, error));
        let adcp_error = br#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"adcp_error":{"code":"X"},"media_buy_id":"x"}}}"#;
        assert!(!succeeded(Scenario::CreateReplay, false, adcp_error));
    }

    #[test]
    fn fresh_keys_differ_and_replays_repeat() {
        assert_ne!(
            request(Scenario::CreateFresh, 1, Kind::Ours),
            request(Scenario::CreateFresh, 2, Kind::Ours)
        );
        let a: Value =
            serde_json::from_slice(&request(Scenario::CreateReplay, 1, Kind::Ours)).unwrap();
        let b: Value =
            serde_json::from_slice(&request(Scenario::CreateReplay, 2, Kind::Ours)).unwrap();
        assert_eq!(a["params"], b["params"]);
        let key = a["params"]["arguments"]["idempotency_key"]
            .as_str()
            .unwrap();
        assert!(key.len() >= 16);
    }
}
