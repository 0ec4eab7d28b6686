//! The platform an adopter wraps: its ad server, DMP or creative platform, over HTTP with JSON.
//! [`Upstream`] is the client templates use for it, so that failures reach the buyer as AdCP
//! errors: an unreachable, overloaded or failing upstream is `SERVICE_UNAVAILABLE`, retryable;
//! any other refusal (a credential, a redirect, a request it rejects, a 404 on
//! [`Call::send`]) is logged and answered as the seller's fault, never the buyer's, with
//! nothing of the upstream's answer in it.
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

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AdcpError, AdcpResult, Recovery, codes};

/// An upstream platform's HTTP API: a base URL and an optional bearer key (never shown by
/// `Debug`).
#[derive(Clone)]
pub struct Upstream {
    base: String,
    key: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
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
            key: None,
            client,
        }
    }

    /// Sends `Authorization: Bearer <key>` on every call.
    pub fn bearer(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
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
        let unavailable = |why: String| {
            tracing::warn!(call = %what, error = %why, "upstream");
            AdcpError::new(
                codes::SERVICE_UNAVAILABLE,
                "the upstream platform is unavailable; retry later",
            )
            .with_recovery(Recovery::Transient)
        };
        let u = self.upstream;
        let mut url = url::Url::parse(&format!("{}{}", u.base, self.path))
            .map_err(|e| AdcpError::internal(format!("upstream URL: {e}")))?;
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let mut req = u.client.request(self.method.clone(), url);
        if let Some(k) = &u.key {
            req = req.bearer_auth(k);
        }
        for (n, v) in &self.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        if let Some(body) = self.body {
            let body = body.map_err(|e| AdcpError::internal(format!("upstream request: {e}")))?;
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| unavailable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unavailable(e.to_string()))?;
        let message = || {
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| format!("the upstream platform answered {status}"))
        };
        match status.as_u16() {
            200..=299 => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| unavailable(format!("undecodable answer: {e}"))),
            404 => Ok(None),
            429 | 500..=599 => Err(unavailable(message())),
            // A refused credential, a redirect, a request the upstream rejects: the seller's
            // configuration or code, never the buyer's fault.
            _ => {
                tracing::error!(call = %what, %status, message = %message(), "the upstream refused the call");
                Err(AdcpError::internal(
                    "the seller cannot reach its upstream platform",
                ))
            }
        }
    }
}
