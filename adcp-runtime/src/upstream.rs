//! The platform an adopter wraps: its ad server, DMP or creative platform, over HTTP with JSON.
//! [`Upstream`] is the client templates use for it, so that failures reach the buyer as AdCP
//! errors: an unreachable, overloaded or failing upstream is `SERVICE_UNAVAILABLE`, retryable;
//! any other refusal (a credential, a redirect, a request it rejects, a 404 on
//! [`Call::send`]) is logged and answered as the seller's fault, never the buyer's, with
//! nothing of the upstream's answer in it. Where the upstream's refusal of one item is the
//! buyer's business (a malformed identifier in an upload), [`Call::try_send`] hands it to the
//! template as a [`Refusal`] to report on that item.
//!
//! The credential is a bearer key ([`Upstream::bearer`]) or an OAuth 2.0 client
//! ([`Upstream::client_credentials`]): its access token is fetched when first needed, kept
//! until shortly before it expires, and fetched again once if the upstream answers 401.
//!
//! ```no_run
//! # async fn f() -> adcp_runtime::AdcpResult<()> {
//! use adcp_runtime::upstream::Upstream;
//!
//! let upstream = Upstream::new("http://127.0.0.1:4100").bearer("key");
//! let products: serde_json::Value = upstream
//!     .get("/v1/products")
//!     .header("X-Network-Code", "net_1")
//!     .query("budget", &50_000)
//!     .send()
//!     .await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AdcpError, AdcpResult, Recovery, codes};

/// An upstream platform's HTTP API: a base URL and its credential (never shown by `Debug`).
#[derive(Clone)]
pub struct Upstream {
    base: String,
    credential: Credential,
    client: reqwest::Client,
}

#[derive(Clone)]
enum Credential {
    None,
    Bearer(String),
    Client(Arc<OAuthClient>),
}

/// An OAuth 2.0 client (`client_credentials` grant) and its current access token.
struct OAuthClient {
    token_path: String,
    client_id: String,
    client_secret: String,
    auth: ClientAuth,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

/// How an OAuth client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// The id and secret in the form body (`client_secret_post`), which some platforms
    /// require (the SDK's mocks do).
    #[default]
    Body,
    /// HTTP Basic (`client_secret_basic`), which every authorization server must support.
    Basic,
}

/// How long before its stated expiry a token is no longer used.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credential = match &self.credential {
            Credential::None => "none",
            Credential::Bearer(_) => "bearer <redacted>",
            Credential::Client(_) => "oauth client <redacted>",
        };
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("credential", &credential)
            .finish()
    }
}

impl Upstream {
    /// The upstream at `base_url` (`http://host:port`, no trailing path needed).
    pub fn new(base_url: impl Into<String>) -> Self {
        crate::tls::install_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("adcp-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Upstream {
            base: base_url.into().trim_end_matches('/').to_owned(),
            credential: Credential::None,
            client,
        }
    }

    /// Sends `Authorization: Bearer <key>` on every call.
    pub fn bearer(mut self, key: impl Into<String>) -> Self {
        self.credential = Credential::Bearer(key.into());
        self
    }

    /// Authenticates as an OAuth 2.0 client: an access token from `token_path` (a
    /// `client_credentials` grant, RFC 6749 §4.4; a path of the upstream, or the URL of an
    /// authorization server elsewhere), sent as a bearer token, kept until shortly before it
    /// expires and fetched again once when the upstream answers 401. The client's id and
    /// secret go in the form body unless [`Upstream::client_auth`] says otherwise.
    pub fn client_credentials(
        mut self,
        token_path: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credential = Credential::Client(Arc::new(OAuthClient {
            token_path: token_path.to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth: ClientAuth::default(),
            token: tokio::sync::Mutex::new(None),
        }));
        self
    }

    /// How the OAuth client of [`Upstream::client_credentials`] authenticates to its token
    /// endpoint (nothing without one).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        if let Credential::Client(c) = &self.credential {
            self.credential = Credential::Client(Arc::new(OAuthClient {
                token_path: c.token_path.clone(),
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.clone(),
                auth,
                token: tokio::sync::Mutex::new(None),
            }));
        }
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// A `GET` of `path`.
    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(reqwest::Method::GET, path)
    }

    /// A `POST` of `path` with `body` as JSON.
    pub fn post(&self, path: &str, body: &impl Serialize) -> Call<'_> {
        let mut call = self.call(reqwest::Method::POST, path);
        call.body = Some(serde_json::to_value(body).map_err(|e| e.to_string()));
        call
    }

    /// A `PATCH` of `path` with `body` as JSON.
    pub fn patch(&self, path: &str, body: &impl Serialize) -> Call<'_> {
        let mut call = self.call(reqwest::Method::PATCH, path);
        call.body = Some(serde_json::to_value(body).map_err(|e| e.to_string()));
        call
    }

    fn call(&self, method: reqwest::Method, path: &str) -> Call<'_> {
        Call {
            upstream: self,
            method,
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// The OAuth client's access token: the kept one, or a new one when none is kept, it
    /// expired, or it is `refused` (the token the upstream just answered 401 to; calls refused
    /// at once wait for one new token rather than each fetching its own).
    async fn access_token(
        &self,
        client: &OAuthClient,
        refused: Option<&str>,
    ) -> AdcpResult<String> {
        let mut kept = client.token.lock().await;
        if let Some((token, until)) = kept.as_ref()
            && Instant::now() < *until
            && refused != Some(token.as_str())
        {
            return Ok(token.clone());
        }
        let what = format!("POST {}", client.token_path);
        let url = if client.token_path.starts_with("https://")
            || client.token_path.starts_with("http://")
        {
            client.token_path.clone()
        } else {
            format!("{}{}", self.base, client.token_path)
        };
        let req = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded");
        // Built before the call: the form's serializer must not live across an await.
        let (req, body) = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            let req = match client.auth {
                ClientAuth::Body => {
                    form.append_pair("client_id", &client.client_id)
                        .append_pair("client_secret", &client.client_secret);
                    req
                }
                ClientAuth::Basic => {
                    // Each part form-encoded first (RFC 6749 §2.3.1).
                    let enc = |s: &str| {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    };
                    req.basic_auth(enc(&client.client_id), Some(enc(&client.client_secret)))
                }
            };
            (req, form.finish())
        };
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(&what, &e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unavailable(&what, &e.to_string()))?;
        if matches!(status.as_u16(), 408 | 429) || status.is_server_error() {
            return Err(unavailable(&what, &format!("answered {status}")));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
            expires_in: Option<u64>,
        }
        let token = status
            .is_success()
            .then(|| serde_json::from_slice::<Token>(&bytes).ok())
            .flatten()
            .ok_or_else(|| {
                tracing::error!(call = %what, %status, message = %upstream_message(&bytes, status),
                    "the upstream refused the seller's OAuth client");
                AdcpError::internal("the seller cannot reach its upstream platform")
            })?;
        // A short-lived token is kept for half its life rather than not at all.
        let stated = Duration::from_secs(token.expires_in.unwrap_or(300));
        let life = stated.saturating_sub(TOKEN_MARGIN.min(stated / 2));
        *kept = Some((token.access_token.clone(), Instant::now() + life));
        Ok(token.access_token)
    }
}

fn unavailable(what: &str, why: &str) -> AdcpError {
    tracing::warn!(call = %what, error = %why, "upstream");
    AdcpError::new(
        codes::SERVICE_UNAVAILABLE,
        "the upstream platform is unavailable; retry later",
    )
    .with_recovery(Recovery::Transient)
}

fn upstream_message(bytes: &[u8], status: reqwest::StatusCode) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| format!("the upstream platform answered {status}"))
}

fn cannot_reach(what: &str, status: reqwest::StatusCode, bytes: &[u8]) -> AdcpError {
    tracing::error!(call = %what, %status, message = %upstream_message(bytes, status),
        "the upstream refused the call");
    AdcpError::internal("the seller cannot reach its upstream platform")
}

/// The upstream's refusal of a request (a 4xx answer other than a refused credential), for a
/// template to report on the item it concerns: [`Call::try_send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (400, 404, 409, 422, ...).
    pub status: u16,
    /// The upstream's error code (its answer's `code` or `error`), empty when it gave none.
    pub code: String,
    /// The upstream's message, or a description of the status.
    pub message: String,
}

/// One call to the upstream, built then sent.
#[must_use = "a call does nothing until sent"]
pub struct Call<'a> {
    upstream: &'a Upstream,
    method: reqwest::Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Result<Value, String>>,
}

impl Call<'_> {
    /// Adds a query parameter.
    pub fn query<V: std::fmt::Display + ?Sized>(mut self, name: &str, value: &V) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sends the call and decodes a 2xx answer; any other answer is an error (see the module),
    /// a 404 included (use [`send_opt`](Call::send_opt) where absence is an answer).
    pub async fn send<T: DeserializeOwned>(self) -> AdcpResult<T> {
        let what = format!("{} {}", self.method, self.path);
        match self.send_opt().await? {
            Some(v) => Ok(v),
            None => {
                tracing::error!(call = %what, "the upstream answered 404");
                Err(AdcpError::internal(
                    "the seller cannot reach its upstream platform",
                ))
            }
        }
    }

    /// As [`send`](Call::send), with a 404 answered as `None`.
    pub async fn send_opt<T: DeserializeOwned>(self) -> AdcpResult<Option<T>> {
        let what = format!("{} {}", self.method, self.path);
        match self.try_send().await? {
            Ok(v) => Ok(Some(v)),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => {
                tracing::error!(call = %what, status = r.status, code = %r.code,
                    message = %r.message, "the upstream refused the call");
                Err(AdcpError::internal(
                    "the seller cannot reach its upstream platform",
                ))
            }
        }
    }

    /// Sends the call: a 2xx answer decoded, or the upstream's [`Refusal`] of the request (a
    /// 4xx other than 401 and 403) for the template to report. An unreachable, overloaded or
    /// failing upstream, a refused credential and a redirect are errors as for
    /// [`send`](Call::send).
    pub async fn try_send<T: DeserializeOwned>(self) -> AdcpResult<Result<T, Refusal>> {
        let what = format!("{} {}", self.method, self.path);
        let (status, bytes) = self.exchange(&what).await?;
        match status.as_u16() {
            200..=299 => serde_json::from_slice(&bytes)
                .map(Ok)
                .map_err(|e| unavailable(&what, &format!("undecodable answer: {e}"))),
            408 | 429 | 500..=599 => Err(unavailable(&what, &upstream_message(&bytes, status))),
            401 | 403 => Err(cannot_reach(&what, status, &bytes)),
            400..=499 => {
                let v = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
                let code = ["code", "error"]
                    .iter()
                    .find_map(|k| v.get(k).and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_owned();
                Ok(Err(Refusal {
                    status: status.as_u16(),
                    code,
                    message: upstream_message(&bytes, status),
                }))
            }
            // A redirect or an informational answer: the seller's configuration.
            _ => Err(cannot_reach(&what, status, &bytes)),
        }
    }

    /// Sends the request (again with a new access token when an OAuth client's is refused)
    /// and reads the answer.
    async fn exchange(self, what: &str) -> AdcpResult<(reqwest::StatusCode, Vec<u8>)> {
        let u = self.upstream;
        let mut url = url::Url::parse(&format!("{}{}", u.base, self.path))
            .map_err(|e| AdcpError::internal(format!("upstream URL: {e}")))?;
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let body = match self.body {
            Some(b) => Some(
                b.map_err(|e| AdcpError::internal(format!("upstream request: {e}")))?
                    .to_string(),
            ),
            None => None,
        };
        let mut refused: Option<String> = None;
        loop {
            let mut req = u.client.request(self.method.clone(), url.clone());
            let mut sent = None;
            match &u.credential {
                Credential::None => {}
                Credential::Bearer(k) => req = req.bearer_auth(k),
                Credential::Client(c) => {
                    let token = u.access_token(c, refused.as_deref()).await?;
                    req = req.bearer_auth(&token);
                    sent = Some(token);
                }
            }
            for (n, v) in &self.headers {
                req = req.header(n.as_str(), v.as_str());
            }
            if let Some(body) = &body {
                req = req
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| unavailable(what, &e.to_string()))?;
            let status = resp.status();
            if status.as_u16() == 401 && refused.is_none() && sent.is_some() {
                refused = sent;
                continue;
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| unavailable(what, &e.to_string()))?;
            return Ok((status, bytes.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{Value, json};

    use super::Upstream;

    /// A platform with an OAuth token endpoint (client `c` / `s`) whose current token is the
    /// last one issued, and a resource refusing a request as its callers would.
    #[derive(Clone, Default)]
    struct Platform {
        issued: Arc<AtomicUsize>,
        current: Arc<Mutex<String>>,
    }

    /// Takes the client in the body or as HTTP Basic (`c:s`), not both.
    async fn token(
        State(p): State<Platform>,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, Json<Value>) {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
        let in_body = has("client_id", "c") && has("client_secret", "s");
        let basic =
            headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic Yzpz");
        if !(has("grant_type", "client_credentials") && (in_body != basic)) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": "invalid_client"})),
            );
        }
        let n = p.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let t = format!("tok{n}");
        *p.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = t.clone();
        (
            StatusCode::OK,
            Json(json!({"access_token": t, "expires_in": 3600})),
        )
    }

    async fn thing(State(p): State<Platform>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
        let current = p
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
        if sent != Some(&format!("Bearer {current}")) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"code": "unauthorized"})),
            );
        }
        (StatusCode::OK, Json(json!({"ok": current})))
    }

    async fn refuse() -> (StatusCode, Json<Value>) {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "invalid_hash_format", "message": "2 members are not hashes"})),
        )
    }

    #[tokio::test]
    async fn an_oauth_client_keeps_its_token_and_fetches_another_when_refused() {
        let p = Platform::default();
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/thing", get(thing))
            .route("/refuse", post(refuse))
            .with_state(p.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let api =
            Upstream::new(format!("http://{addr}")).client_credentials("/oauth/token", "c", "s");

        let first: Value = api.get("/thing").send().await.expect("served");
        let again: Value = api.get("/thing").send().await.expect("served");
        assert_eq!(
            (first["ok"].clone(), again["ok"].clone()),
            (json!("tok1"), json!("tok1"))
        );
        assert_eq!(p.issued.load(Ordering::SeqCst), 1, "the token is kept");

        // The platform revokes it (another client took a new one): the next call is refused
        // once, then made again with a new token.
        *p.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = "revoked".into();
        let after: Value = api.get("/thing").send().await.expect("served");
        assert_eq!(after["ok"], "tok2");

        // Calls refused at once share one new token: none is left holding a token the
        // platform has already replaced.
        *p.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = "revoked".into();
        let (a, b, c, d) = tokio::join!(
            api.get("/thing").send::<Value>(),
            api.get("/thing").send::<Value>(),
            api.get("/thing").send::<Value>(),
            api.get("/thing").send::<Value>(),
        );
        for r in [a, b, c, d] {
            assert_eq!(r.expect("served")["ok"], "tok3");
        }
        assert_eq!(
            p.issued.load(Ordering::SeqCst),
            3,
            "one new token for the four"
        );

        // The same client as HTTP Basic, at the token endpoint's full URL.
        let basic = Upstream::new(format!("http://{addr}"))
            .client_credentials(&format!("http://{addr}/oauth/token"), "c", "s")
            .client_auth(super::ClientAuth::Basic);
        let by_basic: Value = basic.get("/thing").send().await.expect("served");
        assert_eq!(by_basic["ok"], "tok4");

        // A refusal of the request is the template's to report, with the platform's code.
        let refused = api
            .post("/refuse", &json!({}))
            .try_send::<Value>()
            .await
            .expect("not a transport failure")
            .expect_err("refused");
        assert_eq!(
            (refused.status, refused.code.as_str()),
            (400, "invalid_hash_format")
        );

        // A wrong client secret is the seller's configuration, never the buyer's fault, and
        // never shown.
        let wrong = Upstream::new(format!("http://{addr}")).client_credentials(
            "/oauth/token",
            "c",
            "wrong-secret",
        );
        let e = wrong
            .get("/thing")
            .send::<Value>()
            .await
            .expect_err("refused");
        assert_eq!(e.code(), "SERVICE_UNAVAILABLE");
        assert!(!e.message().contains("wrong-secret"));
        assert!(!format!("{wrong:?}").contains("wrong-secret"));
    }
}
