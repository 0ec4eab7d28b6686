//! The creative studio's HTTP API (the SDK's `creative-template` mock, in tests): workspaces
//! per advertiser, templates with slots, and renders that go queued, running, complete.

use std::collections::HashMap;
use std::sync::Mutex;

use adcp_runtime::upstream::Upstream;
use adcp_runtime::{AdcpError, AdcpResult, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How many times a render is looked at within a call before the work is handed off.
pub(crate) const POLLS: usize = 3;

/// How long a handed-off build waits between looks at its renders.
pub(crate) const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A studio template.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Template {
    pub(crate) template_id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) channel: String,
    #[serde(default)]
    pub(crate) dimensions: Option<Size>,
    #[serde(default)]
    pub(crate) duration_seconds: Option<Span>,
    pub(crate) output_kind: String,
    pub(crate) slots: Vec<Slot>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) struct Size {
    pub(crate) width: i64,
    pub(crate) height: i64,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) struct Span {
    pub(crate) max: i64,
}

/// An input a template takes.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Slot {
    pub(crate) slot_id: String,
    pub(crate) asset_type: String,
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) constraints: Option<Value>,
}

/// A render, as the studio reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Render {
    pub(crate) render_id: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) output: Option<Value>,
}

/// The studio, and the workspaces it knows advertisers by.
pub(crate) struct Studio {
    upstream: Upstream,
    workspaces: Mutex<HashMap<String, Option<String>>>,
    /// Looks at a render within a call.
    pub(crate) polls: usize,
}

impl Studio {
    pub(crate) fn new(url: &str, key: &str) -> Self {
        Studio {
            upstream: Upstream::new(url).bearer(key),
            workspaces: Mutex::default(),
            polls: POLLS,
        }
    }

    /// The workspace of an advertiser (by its domain), if it has one.
    pub(crate) async fn workspace(&self, advertiser: &str) -> AdcpResult<Option<String>> {
        let cached = self
            .workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(advertiser)
            .cloned();
        if let Some(w) = cached {
            return Ok(w);
        }
        let found: Option<Value> = self
            .upstream
            .get("/_lookup/workspace")
            .query("adcp_advertiser", advertiser)
            .send_opt()
            .await?;
        let w = found.and_then(|f| f["workspace_id"].as_str().map(str::to_owned));
        self.workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(advertiser.to_owned(), w.clone());
        Ok(w)
    }

    pub(crate) async fn templates(&self, workspace: &str) -> AdcpResult<Vec<Template>> {
        #[derive(Deserialize)]
        struct Listed {
            templates: Vec<Template>,
        }
        let listed: Listed = self
            .upstream
            .get(&format!("/v3/workspaces/{workspace}/templates"))
            .send()
            .await?;
        Ok(listed.templates)
    }

    /// Starts a render (`mode`: `preview` or `build`), once per `key`.
    pub(crate) async fn start(
        &self,
        workspace: &str,
        template: &str,
        inputs: &[Value],
        mode: &str,
        key: &str,
    ) -> AdcpResult<Render> {
        let started = self
            .upstream
            .post(
                &format!("/v3/workspaces/{workspace}/renders"),
                &json!({"template_id": template, "inputs": inputs, "mode": mode,
                        "client_request_id": key}),
            )
            .try_send::<Render>()
            .await?;
        started.map_err(|r| {
            AdcpError::new(
                codes::CONFLICT,
                format!("the studio refused the render: {}", r.message),
            )
            .with_field("idempotency_key")
        })
    }

    /// The render now.
    pub(crate) async fn look(&self, workspace: &str, render: &str) -> AdcpResult<Render> {
        self.upstream
            .get(&format!("/v3/workspaces/{workspace}/renders/{render}"))
            .send()
            .await
    }

    /// Looks at a render until it is done, a few times.
    pub(crate) async fn settle(&self, workspace: &str, mut r: Render) -> AdcpResult<Render> {
        for _ in 0..self.polls {
            if matches!(r.status.as_str(), "complete" | "failed") {
                break;
            }
            r = self.look(workspace, &r.render_id).await?;
        }
        Ok(r)
    }
}
