//! Webhooks: what a task's status change owes the buyer, and the dispatcher that delivers it.
//!
//! A change's deliveries are built here from the task ([`deliveries`]) and written to the
//! outbox together with the change (see `tasks.rs`), each with its body serialised once and a
//! fresh `idempotency_key` that every retry repeats byte for byte. The [`Dispatcher`] claims due
//! deliveries (a lease, so one replica sends each), posts them through the SSRF-guarded client,
//! and records the outcome: delivered on 2xx; retried with capped exponential backoff on 408,
//! 429, 5xx and network failures; failed on any other status, on a refused destination, or
//! after the last attempt. Pending deliveries survive a restart.
//!
//! Two shapes: a buyer's AdCP `push_notification_config` gets the MCP webhook payload
//! (`core/mcp-webhook-payload.json`), whatever transport the call came over; an A2A
//! `pushNotificationConfig` on the message gets the A2A `Task`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::envelope::{A2aTask, Artifact};
use crate::ssrf::{self, Policy};
use crate::store::{Delivery, DeliveryState, Outbox, PushAuth, TaskRecord, TaskStatus};
use crate::time::{now_ms, rfc3339};

impl PushAuth {
    /// From an AdCP `push_notification_config.authentication` (`{schemes, credentials}`).
    pub(crate) fn from_adcp(auth: &Value) -> Option<PushAuth> {
        let credentials = auth.get("credentials")?.as_str()?.to_owned();
        let schemes: Vec<&str> = auth
            .get("schemes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case("HMAC-SHA256"))
        {
            Some(PushAuth::HmacSha256 {
                secret: credentials,
            })
        } else if schemes.iter().any(|s| s.eq_ignore_ascii_case("Bearer")) {
            Some(PushAuth::Bearer { token: credentials })
        } else {
            None
        }
    }

    /// The headers for one attempt of `body`.
    fn headers(&self, body: &[u8], now: OffsetDateTime) -> Vec<(&'static str, String)> {
        match self {
            PushAuth::HmacSha256 { secret } => {
                let ts = now.unix_timestamp().to_string();
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                    return Vec::new();
                };
                mac.update(ts.as_bytes());
                mac.update(b".");
                mac.update(body);
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                vec![
                    ("x-adcp-signature", format!("sha256={hex}")),
                    ("x-adcp-timestamp", ts),
                ]
            }
            PushAuth::Bearer { token } => vec![("authorization", format!("Bearer {token}"))],
            PushAuth::A2aToken { token } => vec![("x-a2a-notification-token", token.clone())],
        }
    }
}

impl Delivery {
    /// A pending delivery of `payload` (to which its `idempotency_key` is added) to `url`.
    pub fn new(url: &str, payload: Value, auth: Option<PushAuth>, task_id: Option<&str>) -> Self {
        let key = format!("whk_{}", uuid::Uuid::new_v4().simple());
        Delivery::keyed(url, payload, auth, task_id, key)
    }

    /// [`Delivery::new`] under a chosen `idempotency_key` (the delivery's id is random).
    pub(crate) fn keyed(
        url: &str,
        mut payload: Value,
        auth: Option<PushAuth>,
        task_id: Option<&str>,
        key: String,
    ) -> Self {
        if let Value::Object(m) = &mut payload {
            m.insert("idempotency_key".into(), json!(key));
        }
        let now = now_ms();
        Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            task_id: task_id.map(str::to_owned),
            scope: String::new(),
            url: url.to_owned(),
            body: payload.to_string(),
            auth,
            idempotency_key: key,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
        }
    }
}

fn object_with_url(v: Option<&Value>) -> Option<(&Map<String, Value>, &str)> {
    let m = v?.as_object()?;
    let url = m.get("url")?.as_str()?;
    Some((m, url))
}

/// The deliveries a task's current state owes: one per registered channel.
pub(crate) fn deliveries(t: &TaskRecord) -> Vec<Delivery> {
    let mut out = Vec::new();
    if let Some((cfg, url)) = object_with_url(t.push.as_ref()) {
        let auth = cfg.get("authentication").and_then(PushAuth::from_adcp);
        out.push(Delivery::new(
            url,
            mcp_payload(t, cfg),
            auth,
            Some(&t.task_id),
        ));
    }
    if let Some((cfg, url)) = object_with_url(t.a2a_push.as_ref()) {
        let auth = cfg
            .get("token")
            .and_then(Value::as_str)
            .map(|token| PushAuth::A2aToken {
                token: token.to_owned(),
            })
            .or_else(|| cfg.get("authentication").and_then(PushAuth::from_adcp));
        out.push(Delivery::new(url, a2a_task(t), auth, Some(&t.task_id)));
    }
    for d in &mut out {
        d.scope.clone_from(&t.scope);
    }
    out
}

/// The task's response (completed) or error response (failed), for a payload.
fn outcome(t: &TaskRecord) -> Option<Value> {
    match t.status {
        TaskStatus::Completed => t.result.clone(),
        TaskStatus::Failed => t
            .error
            .as_ref()
            .map(|e| json!({"errors": [e], "adcp_error": e})),
        _ => None,
    }
}

/// `core/mcp-webhook-payload.json` (without its `idempotency_key`, added per delivery).
fn mcp_payload(t: &TaskRecord, cfg: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    if let Some(op) = cfg.get("operation_id") {
        m.insert("operation_id".into(), op.clone());
    }
    m.insert("task_id".into(), json!(t.task_id));
    m.insert("task_type".into(), json!(t.task_type));
    m.insert("protocol".into(), json!(t.protocol));
    m.insert("status".into(), json!(t.status.as_str()));
    m.insert("timestamp".into(), json!(rfc3339(t.updated_at)));
    if let Some(msg) = &t.message {
        m.insert("message".into(), json!(msg));
    }
    if let Some(c) = &t.context {
        m.insert("context".into(), c.clone());
    }
    if let Some(r) = outcome(t) {
        m.insert("result".into(), r);
    }
    Value::Object(m)
}

/// The A2A `contextId` of a task: that of the A2A call that made it, else its own id.
pub(crate) fn a2a_context(t: &TaskRecord) -> &str {
    t.a2a_push
        .as_ref()
        .and_then(|p| p.get("contextId"))
        .and_then(Value::as_str)
        .unwrap_or(&t.task_id)
}

/// An AdCP task as an A2A `Task` whose `id` is the AdCP `task_id` (its push notifications and
/// `tasks/get` by that id): results as an artifact once final, the status message otherwise.
pub(crate) fn a2a_task(t: &TaskRecord) -> Value {
    let mut task = A2aTask::new(
        t.task_id.clone(),
        a2a_context(t),
        t.status.as_str(),
        rfc3339(t.updated_at),
    );
    task.metadata = Some(json!({"adcp_task_id": t.task_id, "task_type": t.task_type}));
    if let Some(a) = outcome_artifact(t) {
        task.artifacts.push(a);
    } else {
        if let Some(msg) = &t.message {
            task.status_parts.push(json!({"kind": "text", "text": msg}));
        }
        task.status_parts.push(
            json!({"kind": "data", "data": {"task_id": t.task_id, "status": t.status.as_str()}}),
        );
    }
    task.into_value()
}

/// A final task's outcome as an A2A artifact: `result` (completed) or `error` (failed).
pub(crate) fn outcome_artifact(t: &TaskRecord) -> Option<Artifact> {
    let data = outcome(t)?;
    let name = if t.status == TaskStatus::Failed {
        "error"
    } else {
        "result"
    };
    Some(Artifact {
        name,
        data,
        adcp_task_id: Some(t.task_id.clone()),
    })
}

/// Retry timing.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Delay after the first failure; doubles each time.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 10,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// The delay before attempt `attempts + 1`, with ±20% jitter.
    fn delay(self, attempts: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
            .min(self.cap);
        let jitter = 0.8 + 0.4 * f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 255.0;
        exp.mul_f64(jitter)
    }
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Delivered,
    /// Retry, after the receiver's `Retry-After` when it gave one.
    Retry(String, Option<Duration>),
    GiveUp(String),
}

/// The longest `Retry-After` honoured: a receiver asking for longer is retried then.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` header: delta-seconds or an HTTP date (RFC 9110), capped.
fn retry_after(v: &str, now: OffsetDateTime) -> Option<Duration> {
    let v = v.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at =
                OffsetDateTime::parse(v, &::time::format_description::well_known::Rfc2822).ok()?;
            Duration::try_from(at - now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Delivers the outbox.
pub(crate) struct Dispatcher {
    outbox: Arc<dyn Outbox>,
    transport: Transport,
    policy: Policy,
    owner: String,
    retry: Retry,
    in_flight: Arc<Semaphore>,
    signing_key: Option<Arc<crate::signing::SigningKey>>,
}

/// How long a replica holds a delivery it is sending.
const CLAIM: Duration = Duration::from_secs(30);
/// How often the outbox is polled when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(500);

impl Dispatcher {
    pub(crate) fn new(
        outbox: Arc<dyn Outbox>,
        policy: Policy,
        owner: String,
        retry: Retry,
    ) -> Self {
        Dispatcher {
            outbox,
            transport: Transport(Arc::new(Guarded(ssrf::client(policy)))),
            policy,
            owner,
            retry,
            in_flight: Arc::new(Semaphore::new(16)),
            signing_key: None,
        }
    }

    /// Posts through `transport` instead of the SSRF-guarded client.
    pub(crate) fn transport(mut self, transport: Option<Transport>) -> Self {
        if let Some(t) = transport {
            self.transport = t;
        }
        self
    }

    /// Signs deliveries that carry no buyer-chosen authentication with `key` (RFC 9421,
    /// webhook profile; a fresh nonce on every attempt).
    pub(crate) fn signing_key(mut self, key: Option<Arc<crate::signing::SigningKey>>) -> Self {
        self.signing_key = key;
        self
    }

    /// Sends what is due; returns how many deliveries it started.
    pub(crate) async fn tick(self: &Arc<Self>) -> usize {
        let now = now_ms();
        let free = u32::try_from(self.in_flight.available_permits()).unwrap_or(0);
        if free == 0 {
            return 0;
        }
        let due = match self
            .outbox
            .claim_due(&self.owner, now, now + CLAIM, free)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading the webhook outbox");
                return 0;
            }
        };
        let n = due.len();
        for d in due {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.deliver(d).await;
                drop(permit);
            });
        }
        n
    }

    /// Runs while `alive` can be upgraded, woken by bus events (a change on any replica) and by
    /// the poll interval.
    pub(crate) async fn run(
        self: Arc<Self>,
        mut wake: tokio::sync::broadcast::Receiver<crate::events::Event>,
        alive: std::sync::Weak<()>,
    ) {
        while alive.strong_count() > 0 {
            self.tick().await;
            tokio::select! {
                r = wake.recv() => {
                    if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn deliver(&self, mut d: Delivery) {
        let outcome = self.attempt(&d).await;
        d.attempts += 1;
        match outcome {
            Attempt::Delivered => {
                d.state = DeliveryState::Delivered;
                d.last_error = None;
                tracing::debug!(url = %d.url, task_id = ?d.task_id, attempts = d.attempts, "webhook delivered");
            }
            Attempt::Retry(why, after) if d.attempts < self.retry.max_attempts => {
                // A receiver's `Retry-After: 0` is not a licence to spin: at least the base.
                let wait =
                    after.map_or_else(|| self.retry.delay(d.attempts), |a| a.max(self.retry.base));
                d.next_attempt_at = now_ms() + wait;
                tracing::info!(url = %d.url, attempts = d.attempts, error = %why, "webhook will be retried");
                d.last_error = Some(why);
            }
            Attempt::Retry(why, _) | Attempt::GiveUp(why) => {
                d.state = DeliveryState::Failed;
                tracing::warn!(url = %d.url, attempts = d.attempts, error = %why, "webhook not delivered");
                d.last_error = Some(why);
            }
        }
        if let Err(e) = self.outbox.record(&d, &self.owner).await {
            tracing::warn!(error = %e, "recording a webhook attempt");
        }
    }

    async fn attempt(&self, d: &Delivery) -> Attempt {
        if let Err(refused) = self.policy.check_url(&d.url) {
            return Attempt::GiveUp(refused.to_string());
        }
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(auth) = &d.auth {
            for (name, value) in auth.headers(d.body.as_bytes(), OffsetDateTime::now_utc()) {
                headers.push((name.to_owned(), value));
            }
        } else if let Some(key) = &self.signing_key {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let profile = crate::signing::Profile::Webhook;
            match crate::signing::sign(
                key,
                profile,
                "POST",
                &d.url,
                "application/json",
                d.body.as_bytes(),
                now,
            ) {
                Ok(signed) => {
                    headers.extend(signed.into_iter().map(|(n, v)| (n.to_owned(), v)));
                }
                Err(e) => return Attempt::GiveUp(e.to_string()),
            }
        }
        let request = WebhookRequest {
            url: d.url.clone(),
            headers,
            body: d.body.clone(),
        };
        match self.transport.0.post(&request).await {
            Ok(resp) => {
                let status = resp.status;
                if (200..300).contains(&status) {
                    Attempt::Delivered
                } else if status >= 500 || status == 429 || status == 408 {
                    // 429 and 503 may say when to come back (RFC 9110 §10.2.3).
                    let after = matches!(status, 429 | 503)
                        .then(|| {
                            resp.retry_after
                                .as_deref()
                                .and_then(|v| retry_after(v, OffsetDateTime::now_utc()))
                        })
                        .flatten();
                    Attempt::Retry(format!("HTTP {status}"), after)
                } else {
                    Attempt::GiveUp(format!("HTTP {status}"))
                }
            }
            Err(WebhookSendError::Refused(why)) => Attempt::GiveUp(why),
            Err(WebhookSendError::Failed(why)) => Attempt::Retry(why, None),
        }
    }
}

/// One webhook POST, as the dispatcher makes it: the exact body every signature covers, and
/// its headers (content type, the buyer's legacy authentication or the RFC 9421 signature).
#[derive(Clone, Debug)]
pub struct WebhookRequest {
    /// Where to.
    pub url: String,
    /// The headers to send, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: String,
}

/// What the receiver answered.
#[derive(Clone, Debug)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its `Retry-After` header, if any (honoured on 429 and 503).
    pub retry_after: Option<String>,
}

/// Why a webhook was not answered.
#[derive(Clone, Debug)]
pub enum WebhookSendError {
    /// The destination is refused (an egress policy): not retried.
    Refused(String),
    /// A network failure: retried with backoff.
    Failed(String),
}

/// How webhooks leave the agent. The default posts through the runtime's SSRF-guarded client
/// (every resolved address checked); an operator whose egress must go through its own proxy
/// or policy engine supplies one ([`crate::Config::webhook_transport`]). The outbox, the
/// retries, the signing and the URL checks stay the runtime's.
pub trait WebhookTransport: Send + Sync + 'static {
    /// Posts `request`; answers the receiver's status.
    fn post<'a>(
        &'a self,
        request: &'a WebhookRequest,
    ) -> crate::store::BoxFuture<'a, Result<WebhookResponse, WebhookSendError>>;
}

/// A [`WebhookTransport`] as a server's settings hold it.
#[derive(Clone)]
pub struct Transport(Arc<dyn WebhookTransport>);

impl Transport {
    /// Wraps `transport`.
    pub fn new(transport: impl WebhookTransport) -> Self {
        Transport(Arc::new(transport))
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport(..)")
    }
}

/// The default transport: the SSRF-guarded client.
struct Guarded(reqwest::Client);

impl WebhookTransport for Guarded {
    fn post<'a>(
        &'a self,
        request: &'a WebhookRequest,
    ) -> crate::store::BoxFuture<'a, Result<WebhookResponse, WebhookSendError>> {
        Box::pin(async move {
            let mut req = self.0.post(&request.url).body(request.body.clone());
            for (name, value) in &request.headers {
                req = req.header(name, value);
            }
            match req.send().await {
                Ok(resp) => Ok(WebhookResponse {
                    status: resp.status().as_u16(),
                    retry_after: resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                }),
                // The guard's refusal (no public address for the name) is final; a network
                // failure is retried.
                Err(e) if refusal(&e).is_some() => Err(WebhookSendError::Refused(error_chain(&e))),
                Err(e) => Err(WebhookSendError::Failed(error_chain(&e))),
            }
        })
    }
}

/// The SSRF guard's refusal somewhere in an error's chain of sources.
fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a ssrf::Refused> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if let Some(r) = err.downcast_ref::<ssrf::Refused>() {
            return Some(r);
        }
        at = err.source();
    }
    None
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> TaskRecord {
        let now = now_ms();
        TaskRecord {
            task_id: "task_1".into(),
            task_type: "create_media_buy".into(),
            protocol: "media-buy".into(),
            scope: "s".into(),
            status,
            message: Some("reviewed".into()),
            created_at: now,
            updated_at: now,
            result: Some(json!({"media_buy_id": "mb_1", "packages": []})),
            error: None,
            push: Some(
                json!({"url": "https://buyer.example/h", "operation_id": "op_1",
                              "authentication": {"schemes": ["HMAC-SHA256"], "credentials": "s3cret-s3cret-s3cret-s3cret-s3cret"}}),
            ),
            a2a_push: Some(
                json!({"url": "https://buyer.example/a2a", "token": "tok", "contextId": "ctx_9"}),
            ),
            context: Some(json!({"correlation_id": "c1"})),
            job: None,
            owner: None,
            revision: 2,
            principal: None,
        }
    }

    #[test]
    fn a_completed_task_owes_one_delivery_per_channel() {
        let d = deliveries(&task(TaskStatus::Completed));
        assert_eq!(d.len(), 2);
        let mcp: Value = serde_json::from_str(&d[0].body).unwrap();
        assert_eq!(mcp["idempotency_key"], d[0].idempotency_key);
        assert_eq!(mcp["operation_id"], "op_1");
        assert_eq!(mcp["status"], "completed");
        assert_eq!(mcp["result"]["media_buy_id"], "mb_1");
        assert_eq!(mcp["context"]["correlation_id"], "c1");
        assert!(matches!(d[0].auth, Some(PushAuth::HmacSha256 { .. })));
        let issues = crate::validate::schemas().validate("core/mcp-webhook-payload.json", &mcp);
        assert!(issues.is_ok(), "{issues:?}");
        let a2a: Value = serde_json::from_str(&d[1].body).unwrap();
        assert_eq!(a2a["id"], "task_1");
        assert_eq!(a2a["contextId"], "ctx_9");
        assert_eq!(a2a["status"]["state"], "completed");
        assert_eq!(
            a2a["artifacts"][0]["parts"][0]["data"]["media_buy_id"],
            "mb_1"
        );
        assert_eq!(
            d[1].auth,
            Some(PushAuth::A2aToken {
                token: "tok".into()
            })
        );
        assert_ne!(d[0].idempotency_key, d[1].idempotency_key);
    }

    #[test]
    fn hmac_signs_timestamp_dot_body() {
        let auth = PushAuth::HmacSha256 {
            secret: "key".into(),
        };
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let h = auth.headers(b"{}", at);
        assert_eq!(h[1], ("x-adcp-timestamp", "1700000000".to_owned()));
        // HMAC-SHA256("key", "1700000000.{}"), computed independently (Python's hmac module).
        assert_eq!(
            h[0],
            (
                "x-adcp-signature",
                "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
                    .to_owned()
            )
        );
    }

    /// The guard applies to what a name resolves to, not only to literal addresses, and refuses
    /// before connecting: a receiver on loopback, named `localhost`, sees no connection.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_without_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let outbox: Arc<dyn Outbox> = Arc::new(crate::store::MemoryStore::default());
        let d = Delivery::new(
            &format!("https://localhost:{port}/hook"),
            json!({"status": "completed"}),
            None,
            Some("task_ssrf"),
        );
        outbox.enqueue(std::slice::from_ref(&d)).await.unwrap();
        let dispatcher = Arc::new(Dispatcher::new(
            outbox.clone(),
            Policy {
                allow_private: false,
            },
            "replica".into(),
            Retry::default(),
        ));
        assert_eq!(dispatcher.tick().await, 1);
        let mut recorded = d.clone();
        for _ in 0..200 {
            recorded = outbox.for_task("task_ssrf").await.unwrap().remove(0);
            if recorded.attempts > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.abort();
        assert_eq!(
            recorded.state,
            DeliveryState::Failed,
            "refused for good, not retried"
        );
        let why = recorded.last_error.unwrap_or_default();
        assert!(why.contains("no public address"), "{why}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_capped() {
        let now = ::time::macros::datetime!(2026-12-02 08:00:00 UTC);
        let with = |v: &str| retry_after(v, now);
        assert_eq!(with("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            with("Wed, 02 Dec 2026 08:05:00 GMT"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(with("Wed, 02 Dec 2026 07:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("soon"), None);
    }

    #[tokio::test]
    async fn a_503_with_retry_after_is_retried_when_the_receiver_asked() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "600")],
                )
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let outbox: Arc<dyn Outbox> = Arc::new(crate::store::MemoryStore::default());
        let d = Delivery::new(
            &url,
            json!({"status": "completed"}),
            None,
            Some("task_busy"),
        );
        outbox.enqueue(std::slice::from_ref(&d)).await.unwrap();
        let fast = Retry {
            max_attempts: 5,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
        };
        let policy = Policy {
            allow_private: true,
        };
        let dispatcher = Arc::new(Dispatcher::new(
            outbox.clone(),
            policy,
            "replica".into(),
            fast,
        ));
        let before = now_ms();
        assert_eq!(dispatcher.tick().await, 1);
        let mut recorded = d.clone();
        for _ in 0..300 {
            recorded = outbox.for_task("task_busy").await.unwrap().remove(0);
            if recorded.attempts > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.abort();
        assert_eq!(recorded.state, DeliveryState::Pending);
        assert_eq!(recorded.attempts, 1);
        // Not the 1 ms backoff: the ten minutes the receiver asked for.
        assert!(
            recorded.next_attempt_at >= before + Duration::from_secs(600),
            "{recorded:?}"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = Retry::default();
        let d1 = r.delay(1).as_secs_f64();
        assert!((0.8..=1.2).contains(&d1), "{d1}");
        let d3 = r.delay(3).as_secs_f64();
        assert!((3.2..=4.8).contains(&d3), "{d3}");
        assert!(r.delay(30) <= Duration::from_secs(72));
    }
}
