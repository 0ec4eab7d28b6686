//! The test kit (feature `test-util`): what adcp-rs's own tests use, for adopters' tests too.
//!
//! - [`TestServer`]: an agent served on an ephemeral loopback port from its own thread and
//!   runtime (so synchronous tests, and tests that run the official runner as a child
//!   process, can use it), stopped when dropped.
//! - [`McpClient`] and [`A2aClient`]: the calls a buyer makes, with or without a key.
//! - [`WebhookReceiver`]: records deliveries and answers scripted statuses.
//! - [`signing_key`]: a webhook/request signing key and its JWKS.
//! - [`context`]: a [`Ctx`](crate::Ctx) for unit-testing one handler (task, account, principal, clock).
//! - [`Runner`]: the official compliance runner (`@adcp/sdk`), installed with npm on first
//!   use, run against a URL, its result read.
//!
//! ```no_run
//! use adcp_runtime::test_util::{McpClient, TestServer};
//!
//! # async fn t<P: adcp_runtime::DecisioningPlatform>(platform: P) {
//! let server = TestServer::spawn(move || async move { Ok(adcp_runtime::serve(platform)) }).unwrap();
//! let (is_error, caps) = McpClient::new(server.mcp_url())
//!     .call("get_adcp_capabilities", serde_json::json!({}))
//!     .await;
//! assert!(!is_error);
//! # let _ = caps;
//! # }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::boot::ServeError;
use crate::ctx::CtxBuilder;
use crate::platform::DecisioningPlatform;
use crate::serve::Serve;
use crate::signing::SigningKey;
use crate::store::{Account, Principal};

/// An agent served on `127.0.0.1:<ephemeral>` from its own thread, until dropped.
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves the agent `make` builds (in the server's own runtime, so it may open stores):
    /// its listener is replaced by an ephemeral loopback port.
    pub fn spawn<P, F, Fut>(make: F) -> Result<TestServer, ServeError>
    where
        P: DecisioningPlatform,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Serve<P>, ServeError>>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ServeError::Bind(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let started = async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .map_err(ServeError::Bind)?;
                    make().await?.listener(listener).start().await
                };
                match started.await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(running.local_addr()));
                        let _ = stopped.await;
                        let _ = running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        match ready_rx.recv() {
            Ok(Ok(addr)) => Ok(TestServer {
                addr,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ServeError::Bind(std::io::Error::other(
                "the test server's thread stopped",
            ))),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the A2A agent card's base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// The A2A endpoint.
    pub fn a2a_url(&self) -> String {
        format!("http://{}/a2a", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP client for loopback test servers: no proxy from the environment, rustls with ring.
pub fn http_client() -> reqwest::Client {
    static PROVIDER: OnceLock<()> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What an HTTP call answered.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The status.
    pub status: u16,
    /// The headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpAnswer {
    /// The body as JSON (`null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn post(url: &str, key: Option<&str>, body: &Value) -> HttpAnswer {
    let mut req = http_client()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            HttpAnswer {
                status,
                headers,
                body: r.text().await.unwrap_or_default(),
            }
        }
        Err(e) => HttpAnswer {
            status: 0,
            headers: Vec::new(),
            body: json!({"transport_error": e.to_string()}).to_string(),
        },
    }
}

/// MCP calls, as a buyer makes them (`tools/call` without a prior `initialize`).
#[derive(Clone, Debug)]
pub struct McpClient {
    url: String,
    key: Option<String>,
}

impl McpClient {
    /// A client of the MCP endpoint `url`.
    pub fn new(url: impl Into<String>) -> Self {
        McpClient {
            url: url.into(),
            key: None,
        }
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn bearer(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// A JSON-RPC message, answered as it came.
    pub async fn send(&self, message: &Value) -> HttpAnswer {
        post(&self.url, self.key.as_deref(), message).await
    }

    /// Calls a tool: whether the result is an error, and its `structuredContent` (for a
    /// JSON-RPC error, the error object).
    pub async fn call(&self, tool: &str, arguments: Value) -> (bool, Value) {
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                             "params": {"name": tool, "arguments": arguments}});
        let resp = self.send(&message).await.json();
        match resp.get("result") {
            Some(r) => (
                r["isError"].as_bool().unwrap_or(false),
                r["structuredContent"].clone(),
            ),
            None => (true, resp.get("error").cloned().unwrap_or(resp)),
        }
    }
}

/// A2A 0.3 calls: `message/send` with a DataPart `{skill, input}`.
#[derive(Clone, Debug)]
pub struct A2aClient {
    url: String,
    key: Option<String>,
}

impl A2aClient {
    /// A client of the A2A endpoint `url` (`<base>/a2a`).
    pub fn new(url: impl Into<String>) -> Self {
        A2aClient {
            url: url.into(),
            key: None,
        }
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn bearer(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// A JSON-RPC message, answered as it came.
    pub async fn send(&self, message: &Value) -> HttpAnswer {
        post(&self.url, self.key.as_deref(), message).await
    }

    /// Sends `skill` with `input`; the A2A task answered.
    pub async fn task(&self, skill: &str, input: Value) -> Value {
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {
            "message": {"kind": "message", "role": "user",
                        "messageId": format!("m-{}", uuid::Uuid::new_v4()),
                        "parts": [{"kind": "data", "data": {"skill": skill, "input": input}}]}}});
        let resp = self.send(&message).await.json();
        resp.get("result").cloned().unwrap_or(resp)
    }

    /// Sends `skill`: whether the AdCP call failed (an `error` artifact, or a failed task),
    /// and the AdCP response (the artifact's DataPart).
    pub async fn call(&self, skill: &str, input: Value) -> (bool, Value) {
        let task = self.task(skill, input).await;
        let artifact = &task["artifacts"][0];
        (
            task["status"]["state"] == "failed" || artifact["name"] == "error",
            artifact["parts"][0]["data"].clone(),
        )
    }
}

/// One request a [`WebhookReceiver`] got.
#[derive(Clone, Debug)]
pub struct Hit {
    /// Path.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
    /// The status answered.
    pub status: u16,
}

impl Hit {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A webhook receiver on loopback that records every request and answers with scripted
/// statuses (then 200). Needs a Tokio runtime; stops when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    otherwise: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// A receiver answering `script` in order, then 200.
    pub async fn start(script: Vec<u16>) -> std::io::Result<WebhookReceiver> {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let otherwise = Arc::new(AtomicU16::new(200));
        let (recorded, default) = (hits.clone(), otherwise.clone());
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let (hits, script, default) = (recorded.clone(), script.clone(), default.clone());
                async move {
                    let status = script
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop_front()
                        .unwrap_or_else(|| default.load(Ordering::SeqCst));
                    hits.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Hit {
                            path: uri.path().to_owned(),
                            headers: headers
                                .iter()
                                .map(|(n, v)| {
                                    (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect(),
                            body,
                            status,
                        });
                    axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookReceiver {
            addr,
            hits,
            otherwise,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the status answered once the script is used up.
    pub fn answer(&self, status: u16) {
        self.otherwise.store(status, Ordering::SeqCst);
    }

    /// A URL on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `n` requests answered 2xx have arrived at `path` (at most `within`), and
    /// returns every request to `path`.
    pub async fn wait_delivered(&self, path: &str, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let hits: Vec<Hit> = self.hits().into_iter().filter(|h| h.path == path).collect();
            if hits.iter().filter(|h| h.status < 300).count() >= n
                || tokio::time::Instant::now() >= deadline
            {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh ed25519 signing key `kid` and the JWKS that publishes its public half.
pub fn signing_key(kid: &str) -> (Arc<SigningKey>, Value) {
    let key = Arc::new(
        SigningKey::generate_ed25519(kid)
            .unwrap_or_else(|e| unreachable!("generating an ed25519 key: {e}")),
    );
    let jwks = crate::signing::jwks(std::slice::from_ref(&key));
    (key, jwks)
}

/// A context for unit-testing one handler of `task`: set its account, principal and clock
/// with the builder. Stores are in memory.
///
/// ```
/// use adcp_runtime::test_util::context;
/// use adcp_runtime::Account;
///
/// let ctx = context("get_products")
///     .account(Account { sandbox: true, ..Account::new("acc_1", "buyer") })
///     .now(adcp_runtime::time::parse("now", "2031-06-01T00:00:00Z").unwrap())
///     .build();
/// assert!(ctx.sandbox());
/// assert_eq!(ctx.account().id, "acc_1");
/// ```
pub fn context(task: &str) -> CtxBuilder {
    let spec = adcp_wire::task(task)
        .unwrap_or_else(|| panic!("`{task}` is not an AdCP task of this catalogue"));
    CtxBuilder::new(spec)
        .principal(Some(Principal {
            id: "test-buyer".into(),
        }))
        .account(Account::new("acc_test", "test-buyer"))
}

/// The official compliance runner release this kit runs.
pub const RUNNER: &str = "@adcp/sdk@6.11.0";

/// The official compliance runner (`npx @adcp/sdk storyboard run ...`), installed with npm into
/// a directory on first use.
#[derive(Clone, Debug)]
pub struct Runner {
    js: PathBuf,
    clock: PathBuf,
}

/// Step counts of a runner result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Steps passed.
    pub passed: u64,
    /// Steps failed.
    pub failed: u64,
    /// Steps skipped.
    pub skipped: u64,
}

const SHIFT_CLOCK: &str = include_str!("test_util/shift-clock.cjs");

impl Runner {
    /// The runner installed under `dir` (`<dir>/node_modules/@adcp/sdk`), installing it with
    /// npm when it is missing. Needs Node.js and npm.
    pub fn install(dir: impl AsRef<Path>) -> Result<Runner, String> {
        let dir = dir.as_ref();
        let js = dir.join("node_modules/@adcp/sdk/bin/adcp.js");
        let pkg = dir.join("node_modules/@adcp/sdk/package.json");
        let version = RUNNER.rsplit('@').next().unwrap_or_default();
        let installed = std::fs::read_to_string(&pkg)
            .is_ok_and(|t| t.contains(&format!("\"version\": \"{version}\"")));
        if !installed {
            let status = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(dir)
                .arg(RUNNER)
                .status()
                .map_err(|e| format!("npm is needed to install {RUNNER}: {e}"))?;
            if !status.success() {
                return Err(format!("npm install {RUNNER} failed: {status}"));
            }
        }
        let clock = dir.join("shift-clock.cjs");
        if std::fs::read_to_string(&clock).ok().as_deref() != Some(SHIFT_CLOCK) {
            std::fs::write(&clock, SHIFT_CLOCK).map_err(|e| format!("{}: {e}", clock.display()))?;
        }
        Ok(Runner { js, clock })
    }

    /// The runner's `bin/adcp.js`.
    pub fn script(&self) -> &Path {
        &self.js
    }

    /// The installed package (its compliance cache, test vectors, mock servers).
    pub fn package_dir(&self) -> PathBuf {
        self.js
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Runs the `storyboard` (an id, or `None` for the capability-driven assessment) against
    /// `url`, with `--allow-http --webhook-receiver --json` and `extra`; the runner's clock is
    /// at 2026-04-01 when `shift_clock` (the storyboards' dates). Returns its JSON result.
    pub fn run(
        &self,
        url: &str,
        storyboard: Option<&str>,
        extra: &[&str],
        shift_clock: bool,
    ) -> Result<Value, String> {
        let mut node = Command::new("node");
        if shift_clock {
            node.arg("--require").arg(&self.clock);
        }
        let out = node
            .arg(&self.js)
            .args(["storyboard", "run", url])
            .args(storyboard)
            .args(["--allow-http", "--webhook-receiver", "--json"])
            .args(extra)
            .output()
            .map_err(|e| format!("node runs the compliance runner: {e}"))?;
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "the runner printed no JSON ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Runs another `adcp` subcommand (`grade request-signing ...`, `fuzz ...`) with `args`;
    /// returns its stdout parsed as JSON.
    pub fn json(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new("node")
            .arg(&self.js)
            .args(args)
            .output()
            .map_err(|e| format!("node runs the runner: {e}"))?;
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "the runner printed no JSON ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// One of the official SDK's mock upstream platforms (`adcp mock-server <specialism>`: a fake
/// ad server, DMP or creative platform a template wraps over HTTP), on a free loopback port,
/// stopped when dropped.
pub struct MockUpstream {
    child: std::process::Child,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The credential it expects, as it announced it: a bearer key, or an OAuth client as
    /// `client_id:client_secret` (empty when it announced none).
    pub key: String,
}

impl MockUpstream {
    /// Its client, with its key.
    pub fn upstream(&self) -> crate::upstream::Upstream {
        crate::upstream::Upstream::new(&self.url).bearer(&self.key)
    }

    /// Its traffic counters (`GET /_debug/traffic`: calls by route, `{"traffic": {...}}`),
    /// which show a template used it rather than imitating it.
    pub async fn traffic(&self) -> Value {
        let url = format!("{}/_debug/traffic", self.url);
        let text = match http_client().get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => panic!("the mock's traffic counters: {e}"),
        };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the mock's traffic: {e}: {text}"))
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Runner {
    /// Starts `adcp mock-server <specialism>` (`sales-non-guaranteed`, `sales-guaranteed`,
    /// `signal-marketplace`, ...) and waits until it serves.
    pub fn mock_server(&self, specialism: &str) -> Result<MockUpstream, String> {
        use std::io::BufRead as _;
        let mut last = String::new();
        // The mock takes no port 0: a free port is picked, and picked again if it was taken.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let mut child = Command::new("node")
                .arg(&self.js)
                .args(["mock-server", specialism, "--port", &port.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("node runs the mock server: {e}"))?;
            let stdout = child.stdout.take().ok_or("piped")?;
            // Both pipes drained for the mock's whole life, so it never blocks on them.
            let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            if let Some(stderr) = child.stderr.take() {
                let errors = errors.clone();
                std::thread::spawn(move || {
                    for line in std::io::BufReader::new(stderr)
                        .lines()
                        .map_while(Result::ok)
                    {
                        if let Ok(mut e) = errors.lock() {
                            e.push_str(&line);
                            e.push('\n');
                        }
                    }
                });
            }
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut url = None;
                let mut client_id = None;
                for line in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    if let Some(id) = line.trim().strip_prefix("client_id:") {
                        client_id = Some(id.trim().to_owned());
                    }
                    if let Some(secret) = line.trim().strip_prefix("client_secret:")
                        && let Some(id) = client_id.take()
                        && let Some(u) = url.take()
                    {
                        let _ = tx.send((u, format!("{id}:{}", secret.trim())));
                    }
                    if url.is_none()
                        && let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://"))
                    {
                        url = Some(u.trim_end_matches('/').to_owned());
                    }
                    if let Some(k) = line.trim().strip_prefix("Authorization: Bearer ")
                        && let Some(u) = url.take()
                    {
                        let _ = tx.send((u, k.trim().to_owned()));
                    }
                    if line.contains("Key routes")
                        && let Some(u) = url.take()
                    {
                        let _ = tx.send((u, String::new()));
                    }
                }
            });
            match rx.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok((url, key)) => return Ok(MockUpstream { child, url, key }),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = errors.lock().map(|e| e.clone()).unwrap_or_default();
                }
            }
        }
        Err(format!("mock-server {specialism} did not start: {last}"))
    }
}

/// Step counts of a runner result (`summary`).
pub fn counts(result: &Value) -> Counts {
    let s = &result["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    Counts {
        passed: n("steps_passed"),
        failed: n("steps_failed"),
        skipped: n("steps_skipped"),
    }
}

/// Every failed or skipped step of a runner result, with its reason, one per line.
pub fn report(result: &Value) -> String {
    let mut out = String::new();
    for t in result["tracks"].as_array().into_iter().flatten() {
        for sc in t["scenarios"].as_array().into_iter().flatten() {
            for st in sc["steps"].as_array().into_iter().flatten() {
                if st["passed"].as_bool() == Some(true) {
                    continue;
                }
                let kind = if st["skipped"].as_bool() == Some(true) {
                    "skipped"
                } else {
                    "FAILED"
                };
                let why = st["skip_reason"]
                    .as_str()
                    .or(st["error"].as_str())
                    .unwrap_or("");
                out.push_str(&format!(
                    "  {kind}: {} / {} ({}): {why}\n",
                    sc["scenario"].as_str().unwrap_or(""),
                    st["step"].as_str().unwrap_or(""),
                    st["task"].as_str().unwrap_or("")
                ));
            }
        }
    }
    for f in result["failures"].as_array().into_iter().flatten() {
        out.push_str(&format!("  failure: {f}\n"));
    }
    out
}
