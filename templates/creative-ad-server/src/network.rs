//! The ad server's HTTP API (the SDK's `creative-ad-server` mock, in tests): a network per
//! publisher, found by domain; a creative library per network; tags rendered from a creative
//! with macros filled from the serving context; delivery per creative and day.

use std::collections::HashMap;
use std::sync::Mutex;

use adcp_runtime::AdcpResult;
use adcp_runtime::upstream::{Refusal, Upstream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A format of the network's catalogue.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ServerFormat {
    pub(crate) format_id: String,
    pub(crate) name: String,
    pub(crate) channel: String,
    #[serde(default)]
    pub(crate) width: Option<i64>,
    #[serde(default)]
    pub(crate) height: Option<i64>,
    #[serde(default)]
    pub(crate) duration_seconds: Option<i64>,
    #[serde(default)]
    pub(crate) accepted_mimes: Vec<String>,
}

impl ServerFormat {
    /// Whether the format's tag is VAST (video and CTV).
    pub(crate) fn is_video(&self) -> bool {
        matches!(self.channel.as_str(), "video" | "ctv")
    }
}

/// A creative of the library, as the ad server keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ServerCreative {
    pub(crate) creative_id: String,
    pub(crate) advertiser_id: String,
    pub(crate) format_id: String,
    pub(crate) name: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) click_url: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// A rendered tag.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Tag {
    pub(crate) tag_html: String,
    pub(crate) tag_url: String,
    pub(crate) preview_url: String,
}

/// A creative's delivery over a period.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Delivery {
    pub(crate) totals: Totals,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct Totals {
    pub(crate) impressions: u64,
    pub(crate) clicks: u64,
}

/// The ad server, and the networks it knows publishers by.
pub(crate) struct Network {
    upstream: Upstream,
    networks: Mutex<HashMap<String, Option<String>>>,
}

impl Network {
    pub(crate) fn new(url: &str, key: &str) -> Self {
        Network {
            upstream: Upstream::new(url).bearer(key),
            networks: Mutex::default(),
        }
    }

    /// The network of a publisher (by its domain), if it has one; asked once.
    pub(crate) async fn lookup(&self, domain: &str) -> AdcpResult<Option<String>> {
        let cached = self
            .networks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(domain)
            .cloned();
        if let Some(n) = cached {
            return Ok(n);
        }
        let found: Option<Value> = self
            .upstream
            .get("/_lookup/network")
            .query("adcp_publisher", domain)
            .send_opt()
            .await?;
        let n = found.and_then(|f| f["network_code"].as_str().map(str::to_owned));
        self.networks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_owned(), n.clone());
        Ok(n)
    }

    pub(crate) async fn formats(&self, network: &str) -> AdcpResult<Vec<ServerFormat>> {
        #[derive(Deserialize)]
        struct Listed {
            formats: Vec<ServerFormat>,
        }
        let listed: Listed = self
            .upstream
            .get("/v1/formats")
            .header("X-Network-Code", network)
            .send()
            .await?;
        Ok(listed.formats)
    }

    /// The network's whole library, oldest first. Pages are as large as the server gives: its
    /// cursor skips rows created in the same instant as a page's last.
    pub(crate) async fn creatives(&self, network: &str) -> AdcpResult<Vec<ServerCreative>> {
        #[derive(Deserialize)]
        struct Listed {
            creatives: Vec<ServerCreative>,
            #[serde(default)]
            next_cursor: Option<String>,
        }
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut call = self
                .upstream
                .get("/v1/creatives")
                .header("X-Network-Code", network)
                .query("limit", "200");
            if let Some(c) = &cursor {
                call = call.query("cursor", c);
            }
            let page: Listed = call.send().await?;
            all.extend(page.creatives);
            match page.next_cursor {
                Some(c) if all.len() < 10_000 => cursor = Some(c),
                _ => return Ok(all),
            }
        }
    }

    /// One creative of the network's library.
    pub(crate) async fn creative(
        &self,
        network: &str,
        id: &str,
    ) -> AdcpResult<Option<ServerCreative>> {
        self.upstream
            .get(&format!("/v1/creatives/{id}"))
            .header("X-Network-Code", network)
            .send_opt()
            .await
    }

    /// Adds a creative to the library for `advertiser`, once per `key` of that advertiser's
    /// (a retry with the same key and body is the same creative).
    pub(crate) async fn upload(
        &self,
        network: &str,
        advertiser: &str,
        name: &str,
        format: &str,
        click_url: Option<&str>,
        key: &str,
    ) -> AdcpResult<Result<ServerCreative, Refusal>> {
        let mut body = json!({"name": name, "advertiser_id": advertiser, "format_id": format,
                              "client_request_id": format!("{advertiser}.{key}")});
        if let Some(c) = click_url {
            body["click_url"] = json!(c);
        }
        self.upstream
            .post("/v1/creatives", &body)
            .header("X-Network-Code", network)
            .try_send()
            .await
    }

    /// Changes a creative's name, click URL or serving status.
    pub(crate) async fn update(&self, network: &str, id: &str, change: &Value) -> AdcpResult<()> {
        let _: Value = self
            .upstream
            .patch(&format!("/v1/creatives/{id}"), change)
            .header("X-Network-Code", network)
            .send()
            .await?;
        Ok(())
    }

    /// The creative's tag, its macros filled from `context` (click URL, asset URL, cache
    /// buster, and the media buy and package it serves in).
    pub(crate) async fn render(&self, network: &str, id: &str, context: &Value) -> AdcpResult<Tag> {
        self.upstream
            .post(
                &format!("/v1/creatives/{id}/render"),
                &json!({"context": context}),
            )
            .header("X-Network-Code", network)
            .send()
            .await
    }

    /// The creative's delivery between `start` and `end` (RFC 3339).
    pub(crate) async fn delivery(
        &self,
        network: &str,
        id: &str,
        start: &str,
        end: &str,
    ) -> AdcpResult<Delivery> {
        self.upstream
            .get(&format!("/v1/creatives/{id}/delivery"))
            .header("X-Network-Code", network)
            .query("start", start)
            .query("end", end)
            .send()
            .await
    }
}
