//! Shared helpers for the cross-crate tests: the storyboard corpus and the runner's
//! placeholder substitution.

use serde_json::Value;

/// One `sample_request` from a storyboard step.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Storyboard file, relative to `compliance/cache/3.0.6/`.
    pub file: String,
    /// `storyboard/phase/step`.
    pub id: String,
    /// The task it calls.
    pub task: String,
    /// Whether the step expects an error.
    pub expect_error: bool,
    /// The request, placeholders substituted as the runner does.
    pub request: Value,
}

/// The storyboard corpus (`tests/corpus/storyboards-3.0.6.json`).
pub fn corpus() -> Value {
    let text = include_str!("../corpus/storyboards-3.0.6.json");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Every sample request of the corpus.
pub fn samples() -> Vec<Sample> {
    let corpus = corpus();
    corpus["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Sample {
            file: s["file"].as_str().unwrap_or_default().to_owned(),
            id: format!(
                "{}/{}/{}",
                s["storyboard"].as_str().unwrap_or_default(),
                s["phase"].as_str().unwrap_or_default(),
                s["step"].as_str().unwrap_or_default()
            ),
            task: s["task"].as_str().unwrap_or_default().to_owned(),
            expect_error: s["expect_error"].as_bool().unwrap_or(false),
            request: substitute(&s["request"]),
        })
        .collect()
}

/// Every fixture of the corpus as the `comply_test_controller` seed request the runner sends.
pub fn fixtures() -> Vec<(String, Value)> {
    let corpus = corpus();
    corpus["fixtures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let id = format!(
                "{}/{}",
                f["storyboard"].as_str().unwrap_or_default(),
                f["kind"].as_str().unwrap_or_default()
            );
            (id, f["request"].clone())
        })
        .collect()
}

/// Replaces the runner's generators with values of the same kind: `$generate:uuid_v4[#alias]`
/// with a fixed UUID per alias, `{{runner.webhook_url:<step>}}` with a loopback URL. `$context`
/// references stay as they are (strings where the schema wants strings).
pub fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("$generate:uuid_v4") => {
            let alias = s.split_once('#').map_or("", |(_, a)| a);
            let n = alias
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            Value::String(format!(
                "00000000-0000-4000-8000-{:012x}",
                n & 0xffff_ffff_ffff
            ))
        }
        Value::String(s) if s.contains("{{runner.webhook_url") => {
            let step = s.split(':').nth(1).unwrap_or("step").trim_end_matches('}');
            Value::String(format!("http://127.0.0.1:9/step/{step}"))
        }
        Value::Array(a) => Value::Array(a.iter().map(substitute).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), substitute(v))).collect())
        }
        other => other.clone(),
    }
}

/// JSON equality with numbers compared by value, as JSON Schema defines it (`5` equals `5.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The first place two JSON values differ, as a dotted path.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => {
                        if let Some(d) = first_difference(v, w, &p) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{p} dropped")),
                    (None, Some(_)) => return Some(format!("{p} added")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        _ if json_eq(a, b) => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}

pub mod harness {
    //! The reference seller in-process, and the official compliance runner, over the
    //! runtime's own test kit (`adcp_runtime::test_util`).

    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;
    use std::thread::JoinHandle;

    pub use adcp_runtime::test_util::{
        Counts, Hit, McpClient, WebhookReceiver as Receiver, counts, http_client as client, report,
    };
    use adcp_runtime::test_util::{Runner, TestServer};
    use serde_json::Value;

    /// Where a test seller keeps its state.
    pub enum Store {
        /// Memory.
        Memory,
        /// A fresh SQLite database in a temporary directory (removed when the seller stops).
        Sqlite,
        /// A SQLite database in a directory the caller keeps (to restart on it).
        SqliteAt(PathBuf),
        /// A PostgreSQL URL.
        Postgres(String),
    }

    /// The reference seller, serving on a loopback port until dropped.
    pub struct Seller {
        server: Option<TestServer>,
        dir: Option<PathBuf>,
    }

    /// A fresh temporary directory.
    pub fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "adcp-rs-{tag}-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{t:x}{}", N.fetch_add(1, Ordering::SeqCst))
    }

    impl Seller {
        /// A fresh seller on the embedded default store (SQLite in a temporary directory),
        /// compliance testing on, webhooks allowed to loopback (the runner's receiver), on a
        /// free port.
        pub fn start() -> Seller {
            Seller::start_on(Store::Sqlite)
        }

        /// A fresh seller on the given store.
        pub fn start_on(store: Store) -> Seller {
            Seller::start_with(store, |_| {})
        }

        /// A fresh seller on the given store, with `configure` applied to its settings last.
        pub fn start_with(
            store: Store,
            configure: impl FnOnce(&mut adcp_runtime::Config) + Send + 'static,
        ) -> Seller {
            let dir = matches!(store, Store::Sqlite).then(|| temp_dir("seller"));
            let data = dir.clone();
            let server = TestServer::spawn(move || async move {
                let stores = match store {
                    Store::Memory => adcp_runtime::Stores::memory(),
                    Store::Sqlite => {
                        adcp_runtime::Stores::sqlite(data.expect("a directory")).await?
                    }
                    Store::SqliteAt(dir) => adcp_runtime::Stores::sqlite(dir).await?,
                    Store::Postgres(url) => adcp_runtime::Stores::open(&url).await?,
                };
                let mut config = sales_non_guaranteed::config(true);
                config.allow_private_webhooks = true;
                configure(&mut config);
                Ok(sales_non_guaranteed::agent(config, stores))
            })
            .expect("the reference seller starts");
            Seller {
                server: Some(server),
                dir,
            }
        }

        fn server(&self) -> &TestServer {
            self.server.as_ref().expect("running")
        }

        /// Where it listens.
        pub fn addr(&self) -> std::net::SocketAddr {
            self.server().addr()
        }

        /// The MCP endpoint.
        pub fn mcp_url(&self) -> String {
            self.server().mcp_url()
        }

        /// The base URL (A2A card and endpoint).
        pub fn base_url(&self) -> String {
            self.server().base_url()
        }
    }

    impl Drop for Seller {
        fn drop(&mut self) {
            drop(self.server.take());
            if let Some(d) = self.dir.take() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }

    /// The PostgreSQL the replica and store tests use: `DATABASE_URL`. `None` skips them, unless
    /// `ADCP_REQUIRE_PG=1` (set by `.ci/run`, which starts a throwaway server), which makes a
    /// missing database a failure rather than a skip.
    #[allow(
        clippy::print_stderr,
        reason = "a skipped case says so in the test output"
    )]
    pub fn postgres_url() -> Option<String> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => Some(url),
            _ if std::env::var("ADCP_REQUIRE_PG").as_deref() == Ok("1") => {
                panic!("ADCP_REQUIRE_PG=1 but DATABASE_URL names no PostgreSQL")
            }
            _ => {
                eprintln!("DATABASE_URL is not set: the PostgreSQL cases are skipped");
                None
            }
        }
    }

    /// Calls an MCP tool; returns whether the result is an error, and its structured content.
    pub async fn mcp(url: &str, tool: &str, args: &Value) -> (bool, Value) {
        let (is_error, body) = McpClient::new(url).call(tool, args.clone()).await;
        assert!(body.is_object(), "not a tool result: {body}");
        (is_error, body)
    }

    /// A seller running as its own process (for crash and replica tests), killed when dropped.
    pub struct Process {
        child: std::process::Child,
        /// Its MCP endpoint.
        pub mcp: String,
        log: std::sync::Arc<std::sync::Mutex<String>>,
    }

    impl Process {
        /// Starts `bin` with `args` plus `--bind 127.0.0.1:0`, and waits until it serves.
        pub fn spawn(bin: &Path, args: &[&str]) -> Process {
            use std::io::BufRead;
            let mut child = Command::new(bin)
                .args(args)
                .args(["--bind", "127.0.0.1:0"])
                .env("NO_COLOR", "1")
                .env("ADCP_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the seller binary starts");
            let stderr = child.stderr.take().expect("piped");
            let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let (tx, rx) = std::sync::mpsc::channel();
            let lines = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if line.contains("MCP (streamable HTTP)")
                        && let Some(url) =
                            line.split_whitespace().find_map(|w| w.strip_prefix("url="))
                    {
                        let _ = tx.send(url.to_owned());
                    }
                    let mut log = lines
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    log.push_str(&line);
                    log.push('\n');
                }
            });
            match rx.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(mcp) => Process { child, mcp, log },
                Err(_) => {
                    let _ = child.kill();
                    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
                    panic!("the seller did not start:\n{log}")
                }
            }
        }

        /// What it logged so far.
        pub fn log(&self) -> String {
            self.log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }

        /// SIGKILL: no shutdown, no flush, no goodbye.
        pub fn kill9(mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A stand-in OAuth authorization server: serves its RFC 8414 metadata (issuer, token and
    /// JWKS endpoints) on loopback from its own thread, until dropped. Returns it and its issuer.
    pub struct AuthorizationServer {
        /// Its issuer URL.
        pub issuer: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    }

    impl AuthorizationServer {
        /// Starts one.
        pub fn start() -> AuthorizationServer {
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port");
                    let issuer = format!("http://{}", listener.local_addr().expect("bound"));
                    let doc = serde_json::json!({
                        "issuer": issuer,
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks.json"),
                        "grant_types_supported": ["client_credentials"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    });
                    addr_tx.send(issuer).expect("the test waits");
                    let app = axum::Router::new()
                        .route(
                            "/.well-known/oauth-authorization-server",
                            axum::routing::get(move || {
                                let doc = doc.clone();
                                async move { axum::Json(doc) }
                            }),
                        )
                        // It issues no tokens in these tests: no key signs one.
                        .route(
                            "/jwks.json",
                            axum::routing::get(|| async {
                                axum::Json(serde_json::json!({"keys": []}))
                            }),
                        );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            });
            let issuer = addr_rx.recv().expect("the server starts");
            AuthorizationServer {
                issuer,
                stop: Some(stop),
                thread: Some(thread),
            }
        }
    }

    impl Drop for AuthorizationServer {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// One A2A JSON-RPC call (`message/send`, `tasks/get`, ...) to the agent at `base` (its
    /// `/a2a` endpoint); returns the JSON-RPC response.
    pub async fn a2a(base: &str, method: &str, params: Value) -> Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        adcp_runtime::test_util::http_client()
            .post(format!("{}/a2a", base.trim_end_matches('/')))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the agent answers")
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .expect("a JSON-RPC answer")
    }

    /// A2A `tasks/get` of `id` at `base` until the task's state is `state` or `within` passes;
    /// the last answer.
    pub async fn a2a_task_until(
        base: &str,
        id: &str,
        state: &str,
        within: std::time::Duration,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = a2a(base, "tasks/get", serde_json::json!({"id": id})).await;
            if got["result"]["status"]["state"] == state || std::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// `message/send` of one AdCP call (`skill` with `input`) in the A2A context `context_id`.
    pub async fn a2a_send(base: &str, skill: &str, input: &Value, context_id: &str) -> Value {
        let message = serde_json::json!({
            "kind": "message", "role": "user", "messageId": uuid_like(), "contextId": context_id,
            "parts": [{"kind": "data", "data": {"skill": skill, "input": input}}],
        });
        a2a(
            base,
            "message/send",
            serde_json::json!({"message": message}),
        )
        .await
    }

    /// The official buyer client (`@adcp/sdk`, `tests/client/track.cjs`) against the agent at
    /// `url` over `protocol` (`mcp`: the MCP endpoint; `a2a`: the base URL): a
    /// `create_media_buy` with `request`, then `submitted.track()` until the task is final and
    /// `waitForCompletion()`. Returns what the client saw (`status`, `task_id`, `tracked`,
    /// `final`, `completion`).
    pub fn buyer_client_track(url: &str, protocol: &str, request: &Value) -> Value {
        let modules = runner()
            .package_dir()
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let out = Command::new("node")
            .arg(root().join("tests/client/track.cjs"))
            .args([url, protocol, &request.to_string()])
            .env("NODE_PATH", modules)
            .output()
            .expect("node runs the buyer client");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the client printed no JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// The workspace root.
    pub fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The official runner (`@adcp/sdk@6.11.0`), installed into `.tools/adcp-sdk` on first use.
    pub fn runner() -> &'static Runner {
        static RUNNER: OnceLock<Result<Runner, String>> = OnceLock::new();
        match RUNNER.get_or_init(|| Runner::install(root().join(".tools/adcp-sdk"))) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// The runner's request-signing conformance vectors (`keys.json`, `positive/`, `negative/`,
    /// `canonicalization.json`), from the installed compliance cache.
    pub fn signing_vectors() -> PathBuf {
        runner()
            .package_dir()
            .join("compliance/cache/3.0.6/test-vectors/request-signing")
    }

    /// `adcp grade request-signing <url> --allow-http --json <extra>`: the grader's report.
    pub fn grade_request_signing(url: &str, extra: &[&str]) -> Value {
        let mut args = vec!["grade", "request-signing", url, "--allow-http", "--json"];
        args.extend_from_slice(extra);
        runner().json(&args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs one storyboard against `url` with the runner's clock at 2026-04-01, returning the
    /// runner's JSON result.
    pub fn run_storyboard(url: &str, storyboard: &str, extra: &[&str]) -> Value {
        run_storyboard_clocked(url, storyboard, extra, true)
    }

    /// The failed steps of a runner result, as `(storyboard/step, why)`, but those of the
    /// `skip_track` (`security_transport`).
    pub fn failed_steps(result: &Value, skip_track: Option<&str>) -> Vec<(String, String)> {
        result["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| skip_track.is_none_or(|t| f["track"] != t))
            .map(|f| {
                let step = format!(
                    "{}/{}",
                    f["storyboard_id"].as_str().unwrap_or("?"),
                    f["step_id"].as_str().unwrap_or("?")
                );
                let why = f
                    .get("validation")
                    .or(f.get("error"))
                    .unwrap_or(&f["expected"]);
                (step, why.to_string())
            })
            .collect()
    }

    /// The runner's capability-driven assessment of `url` (no storyboard named: every one the
    /// agent's capabilities select, as a buyer's compliance check runs it), its clock at
    /// 2026-04-01, with `extra` (`--auth <key>`). Returns its JSON result.
    pub fn run_assessment(url: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--timeout", "1500"];
        args.extend_from_slice(extra);
        runner()
            .run(url, None, &args, true)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One run of the official runner against a template: a storyboard (over MCP or A2A), or
    /// the capability-driven assessment.
    #[derive(Clone, Debug)]
    pub enum TemplateRun {
        /// A storyboard, gated on none failed or skipped (but what the runner never grades:
        /// [`RUNNER_NEVER_GRADES`]) and at least `min_passed` passed.
        Storyboard {
            /// Its id (`sales_social`).
            id: &'static str,
            /// Over A2A (the agent's base URL) rather than MCP.
            a2a: bool,
            /// The fewest passed steps accepted.
            min_passed: u64,
            /// Tasks the runner cannot exercise on this agent: another role's, which it does not
            /// serve (a governance agent's storyboard creating a buy), or one needing what the
            /// runner cannot give (an agent URL to register). Their skips, and the steps those
            /// skips leave unreachable after them, are accepted.
            skippable: &'static [&'static str],
        },
        /// The assessment (an API key configured and given, an OAuth issuer beside it), gated
        /// on no failed step outside the `security_transport` track and at least `min_passed`
        /// passed.
        Assessment {
            /// The fewest passed steps accepted.
            min_passed: u64,
            /// Steps (`storyboard/step`) the runner cannot grade on this kind of agent, each
            /// printed, not counted.
            excused: &'static [&'static str],
        },
    }

    impl TemplateRun {
        /// A storyboard over MCP.
        pub fn mcp(id: &'static str, min_passed: u64) -> Self {
            TemplateRun::Storyboard {
                id,
                a2a: false,
                min_passed,
                skippable: &[],
            }
        }

        /// A storyboard over A2A.
        pub fn a2a(id: &'static str, min_passed: u64) -> Self {
            TemplateRun::Storyboard {
                id,
                a2a: true,
                min_passed,
                skippable: &[],
            }
        }

        /// The capability-driven assessment.
        pub fn assessment(min_passed: u64) -> Self {
            TemplateRun::Assessment {
                min_passed,
                excused: &[],
            }
        }

        /// This storyboard run, with `tasks` the runner cannot exercise on this agent.
        #[must_use]
        pub fn skipping(mut self, tasks: &'static [&'static str]) -> Self {
            if let TemplateRun::Storyboard { skippable, .. } = &mut self {
                *skippable = tasks;
            }
            self
        }

        /// This assessment, with `steps` the runner cannot grade on this kind of agent.
        #[must_use]
        pub fn excusing(mut self, steps: &'static [&'static str]) -> Self {
            if let TemplateRun::Assessment { excused, .. } = &mut self {
                *excused = steps;
            }
            self
        }

        fn name(&self) -> String {
            match self {
                TemplateRun::Storyboard { id, a2a, .. } => {
                    format!("{id} ({})", if *a2a { "a2a" } else { "mcp" })
                }
                TemplateRun::Assessment { .. } => "capability-driven".to_owned(),
            }
        }
    }

    /// Runs each of `runs` at once against its own process of the template binary `bin` on a
    /// fresh embedded store, wrapping `upstream` (`--upstream-url`, `--upstream-key`), with
    /// private webhooks allowed (the runner's receiver), the runner's clock shifted; prints
    /// each run's counts and panics with every failed or skipped step and the process's log
    /// when a run misses its gate.
    pub fn run_template(
        bin: &Path,
        upstream: Option<&adcp_runtime::test_util::MockUpstream>,
        runs: &[TemplateRun],
    ) {
        run_template_with(bin, upstream, &[], runs);
    }

    /// [`run_template`], with the template's own `args` given to each process.
    #[allow(clippy::print_stdout)]
    pub fn run_template_with(
        bin: &Path,
        upstream: Option<&adcp_runtime::test_util::MockUpstream>,
        extra: &[&str],
        runs: &[TemplateRun],
    ) {
        const KEY: &str = "compliance-runner-key-0123456789";
        let issuer = AuthorizationServer::start();
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .iter()
                .map(|run| {
                    let issuer = &issuer;
                    scope.spawn(move || {
                        let data = temp_dir("template");
                        let data = data.to_string_lossy();
                        let key = format!("runner={KEY}");
                        let mut args =
                            vec!["--data-dir", data.as_ref(), "--allow-private-webhooks"];
                        if let Some(u) = upstream {
                            args.extend(["--upstream-url", u.url.as_str()]);
                            args.extend(["--upstream-key", u.key.as_str()]);
                        }
                        args.extend(extra);
                        if matches!(run, TemplateRun::Assessment { .. }) {
                            args.extend(["--api-key", key.as_str()]);
                            args.extend(["--oauth-issuer", issuer.issuer.as_str()]);
                        }
                        let process = Process::spawn(bin, &args);
                        let result = match run {
                            TemplateRun::Storyboard { id, a2a: false, .. } => {
                                run_storyboard(&process.mcp, id, &[])
                            }
                            TemplateRun::Storyboard { id, a2a: true, .. } => {
                                let base = process.mcp.trim_end_matches("/mcp").to_owned();
                                run_storyboard(&base, id, &["--protocol", "a2a"])
                            }
                            TemplateRun::Assessment { .. } => {
                                run_assessment(&process.mcp, &["--auth", KEY])
                            }
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
        for (run, (result, log)) in runs.iter().zip(&results) {
            let c = counts(result);
            let name = run.name();
            println!(
                "{name}: {} passed, {} failed, {} skipped",
                c.passed, c.failed, c.skipped
            );
            let (skip, min, skippable, excused) = match run {
                TemplateRun::Storyboard {
                    min_passed,
                    skippable,
                    ..
                } => (None, *min_passed, Some(*skippable), &[][..]),
                TemplateRun::Assessment {
                    min_passed,
                    excused,
                } => (Some("security_transport"), *min_passed, None, *excused),
            };
            let failures: Vec<String> = failed_steps(result, skip)
                .into_iter()
                .filter(|(step, why)| {
                    let excuse = excused.contains(&step.as_str());
                    if excuse {
                        println!("excused (named by the test, with its reason): {step}: {why}");
                    }
                    !excuse
                })
                .map(|(step, why)| format!("{step}: {why}"))
                .collect();
            let skipped = skippable.is_some_and(|n| !unexplained_skips(result, n).is_empty());
            if !failures.is_empty() || skipped || c.passed < min {
                failed.push(format!(
                    "{name}:\n{}\n{}\n{log}",
                    failures.join("\n"),
                    report(result)
                ));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    /// The skipped steps of a runner result, but those the runner never grades and those of
    /// `skippable` tasks, with the steps those skips leave unreachable (`prerequisite_failed`)
    /// after them.
    pub fn unexplained_skips(result: &Value, skippable: &[&str]) -> Vec<String> {
        let steps = || {
            result["tracks"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| t["scenarios"].as_array().into_iter().flatten())
                .flat_map(|sc| {
                    let name = sc["scenario"].as_str().unwrap_or("?");
                    sc["steps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |st| (name, st))
                })
                .filter(|(_, st)| st["skipped"].as_bool() == Some(true))
        };
        let storyboard = |scenario: &str| scenario.split('/').next().unwrap_or_default().to_owned();
        // A storyboard cut off by a skippable task's skip: its later steps are unreachable (the
        // runner's cascade), wherever the result lists them.
        let cut: std::collections::HashSet<String> = steps()
            .filter(|(_, st)| skippable.contains(&st["task"].as_str().unwrap_or_default()))
            .map(|(name, _)| storyboard(name))
            .collect();
        let mut out = Vec::new();
        for (name, st) in steps() {
            let task = st["task"].as_str().unwrap_or_default();
            let reason = st["skip_reason"].as_str().unwrap_or_default();
            if skippable.contains(&task)
                || (reason == "prerequisite_failed" && cut.contains(&storyboard(name)))
                || RUNNER_NEVER_GRADES.contains(&task)
            {
                continue;
            }
            out.push(format!(
                "{name}/{} ({task}): {reason}",
                st["step"].as_str().unwrap_or("?"),
            ));
        }
        out
    }

    /// The API key of the first buyer of [`two_buyers`].
    pub const ALICE_KEY: &str = "alice-key-0123456789abcdef";
    /// The API key of the second buyer of [`two_buyers`].
    pub const BOB_KEY: &str = "bob-key-0123456789abcdef01";

    /// The agent `make` builds from `config` with two buyers' API keys (principals `alice`
    /// and `bob`), served in-process: the server, and each buyer's MCP client.
    pub fn two_buyers<P, F>(
        mut config: adcp_runtime::Config,
        make: F,
    ) -> (TestServer, McpClient, McpClient)
    where
        P: adcp_runtime::DecisioningPlatform,
        F: FnOnce(adcp_runtime::Config) -> adcp_runtime::Serve<P> + Send + 'static,
    {
        let auth = adcp_runtime::Auth::new()
            .key("alice", ALICE_KEY)
            .and_then(|a| a.key("bob", BOB_KEY))
            .expect("keys");
        config.auth = Some(auth);
        let server = TestServer::spawn(move || async move { Ok(make(config)) }).expect("serves");
        let alice = McpClient::new(server.mcp_url()).bearer(ALICE_KEY);
        let bob = McpClient::new(server.mcp_url()).bearer(BOB_KEY);
        (server, alice, bob)
    }

    /// The media-buy and sponsored-intelligence tasks `deterministic_testing` also exercises,
    /// which a creative agent does not serve: its skips of them are expected.
    pub const NOT_A_CREATIVE_AGENTS: &[&str] = &[
        "create_media_buy",
        "get_media_buys",
        "get_media_buy_delivery",
        "si_initiate_session",
        "si_send_message",
    ];

    /// Pseudo-steps the 6.11 runner has no handler for, so that it skips them whatever the
    /// agent does (`expect_substitution_safe`, `requires_contract:
    /// substitution_observer_runner`).
    pub const RUNNER_NEVER_GRADES: &[&str] = &["expect_substitution_safe"];

    /// Asserts that the mock upstream served each of `routes` (`"POST /v1/orders"`, as its
    /// traffic counters name them) at least once: the template used it, not an imitation.
    pub fn assert_mock_called(upstream: &adcp_runtime::test_util::MockUpstream, routes: &[&str]) {
        let traffic = tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(upstream.traffic());
        for route in routes {
            assert!(
                traffic["traffic"][route].as_u64().unwrap_or(0) > 0,
                "{route} never called: {traffic}"
            );
        }
    }

    /// Runs one storyboard; `shift_clock` sets the runner's clock to 2026-04-01 (the
    /// storyboards' dates), which signed requests must not have.
    pub fn run_storyboard_clocked(
        url: &str,
        storyboard: &str,
        extra: &[&str],
        shift_clock: bool,
    ) -> Value {
        runner()
            .run(url, Some(storyboard), extra, shift_clock)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
