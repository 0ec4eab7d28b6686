//! A creative-template agent: a creative studio's templates offered as formats, previewed and
//! built over the studio's API (the SDK's `creative-template` mock, in tests: Celtra-shaped,
//! workspace per advertiser, asynchronous renders).
//!
//! - `list_creative_formats`: each template of the advertiser's workspace is a format that
//!   declares its assets (the template's slots) and renders; plus `video_30s`, a hosted video
//!   this agent wraps in VAST itself (`vast_30s`).
//! - `preview_creative`: a render in preview mode, looked at until it is done.
//! - `build_creative`: a render in build mode per target format; the tag it produces is the
//!   built creative. A render still running after a few looks is handed off: the task follows
//!   it to the end (a durable job), and the buyer gets the creative from `tasks_get` or its
//!   webhook.
//! - `sync_creatives` / `list_creatives`: the advertiser's source creatives, kept per account,
//!   which builds may name by id.
//!
//! Accounts, tasks, idempotency, validation and the envelope are the runtime's.

mod studio;

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, ControllerCode, ControllerReply, Ctx, Hybrid, Page,
    ScenarioParams, Serve, Stores, TaskHandoff, codes, decisioning_platform,
};
use adcp_runtime::{formats, lifecycle};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use studio::{Render, Studio, Template};

/// The source creatives of an account, by id.
const LIBRARY: Collection<Kept> = Collection::new("template_library");
/// Formats the compliance controller seeds for an account, by id.
const SEEDED_FORMATS: Collection<Value> = Collection::new("seeded_formats");

/// The longest hosted video this agent wraps in VAST.
const VAST_MAX_SECONDS: i64 = 30;

/// A source creative, as kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    creative_id: String,
    name: String,
    format_id: String,
    assets: Map<String, Value>,
    status: CreativeStatus,
    created: String,
    updated: String,
}

/// What a build handed off waits for: each target's render, or its finished manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingBuild {
    workspace: String,
    multi: bool,
    targets: Vec<PendingTarget>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingTarget {
    format_id: Value,
    output_kind: String,
    render: Option<Render>,
    manifest: Option<Value>,
}

/// The agent: the studio, and the advertiser whose workspace serves calls naming none.
pub struct TemplateStudio {
    studio: Studio,
    default_advertiser: String,
}

impl TemplateStudio {
    /// The studio at `url` with its key; `default_advertiser` (a domain) for calls that name no
    /// account.
    pub fn new(url: &str, key: &str, default_advertiser: &str) -> Self {
        TemplateStudio {
            studio: Studio::new(url, key),
            default_advertiser: default_advertiser.to_owned(),
        }
    }

    /// Looks at a render at most `n` times within a call before handing the build off (3 by
    /// default; 0 hands every build off).
    pub fn polls(mut self, n: usize) -> Self {
        self.studio.polls = n;
        self
    }

    /// The workspace of the account's advertiser; the default advertiser's for a call naming
    /// no account with a brand.
    async fn workspace(&self, ctx: &Ctx, named: Option<&Value>) -> AdcpResult<String> {
        let brand = ctx
            .account()
            .brand
            .as_ref()
            .map(|b| b.domain.clone())
            .or_else(|| named.and_then(|a| a["brand"]["domain"].as_str().map(str::to_owned)));
        let advertiser = brand.unwrap_or_else(|| self.default_advertiser.clone());
        self.studio.workspace(&advertiser).await?.ok_or_else(|| {
            AdcpError::new(
                codes::ACCOUNT_SETUP_REQUIRED,
                format!("{advertiser} has no workspace in the studio yet"),
            )
            .with_field("account")
        })
    }
}

/// The AdCP asset id of a template slot (the studio's `click_through` is the click URL).
fn asset_id(slot: &str) -> &str {
    if slot == "click_through" {
        "click_url"
    } else {
        slot
    }
}

/// The format id of a template: its channel and size or longest duration.
fn format_of(t: &Template) -> String {
    match (t.channel.as_str(), t.dimensions, t.duration_seconds) {
        ("display", Some(d), _) => format!("display_{}x{}", d.width, d.height),
        (c, _, Some(s)) => format!("{c}_{}s", s.max),
        (c, _, _) => format!("{c}_{}", t.template_id),
    }
}

/// A template slot as a format asset: images at least the slot's size (larger ones are
/// scaled), text within its length. A call-to-action has the template's default, so it is
/// not required.
fn asset_of(s: &studio::Slot) -> Value {
    let c = s.constraints.clone().unwrap_or_default();
    let (kind, requirements) = match s.asset_type.as_str() {
        "image" => (
            "image",
            json!({"min_width": c["width"], "min_height": c["height"], "formats": ["jpg", "png", "webp"]}),
        ),
        "text" => ("text", json!({"max_length": c["max_chars"]})),
        "click_url" => ("url", json!({})),
        "video" => (
            "video",
            json!({"max_duration_ms": c["duration_max_seconds"].as_i64().map(|s| s * 1000)}),
        ),
        other => (other, json!({})),
    };
    let mut a = json!({"item_type": "individual", "asset_id": asset_id(&s.slot_id),
                       "asset_type": kind, "required": s.required && s.slot_id != "cta"});
    if let Value::Object(mut r) = requirements {
        r.retain(|_, v| !v.is_null());
        if !r.is_empty() {
            a["requirements"] = Value::Object(r);
        }
    }
    a
}

/// The format a template offers, at this agent.
fn format(agent_url: &str, t: &Template) -> Value {
    let dims = match t.dimensions {
        Some(d) => json!({"width": d.width, "height": d.height}),
        None if t.channel == "video" => json!({"aspect_ratio": "16:9"}),
        None => json!({"responsive": {"width": true, "height": true}}),
    };
    json!({"format_id": {"agent_url": agent_url, "id": format_of(t)}, "name": t.name,
           "description": t.description, "renders": [{"role": "primary", "dimensions": dims}],
           "assets": t.slots.iter().map(asset_of).collect::<Vec<_>>()})
}

/// The hosted-video formats this agent serves itself: `video_30s` in, `vast_30s` out.
fn own_formats(agent_url: &str) -> Vec<Value> {
    let video = json!({"item_type": "individual", "asset_id": "video", "asset_type": "video",
                       "required": true, "requirements": {"max_duration_ms": VAST_MAX_SECONDS * 1000}});
    let click = json!({"item_type": "individual", "asset_id": "click_url", "asset_type": "url",
                       "required": false});
    let vast = json!({"item_type": "individual", "asset_id": "vast", "asset_type": "vast",
                      "required": true, "requirements": {"vast_version": "4.2"}});
    vec![
        json!({"format_id": {"agent_url": agent_url, "id": "video_30s"}, "name": "Hosted video, up to 30 s",
               "description": "A hosted video file, wrapped in VAST by this agent",
               "renders": [{"role": "primary", "dimensions": {"aspect_ratio": "16:9"}}],
               "assets": [video, click],
               "output_format_ids": [{"agent_url": agent_url, "id": "vast_30s"}]}),
        json!({"format_id": {"agent_url": agent_url, "id": "vast_30s"}, "name": "VAST 4.2 video tag, up to 30 s",
               "description": "A VAST tag for a hosted video",
               "renders": [{"role": "primary", "dimensions": {"aspect_ratio": "16:9"}}],
               "assets": [vast],
               "input_format_ids": [{"agent_url": agent_url, "id": "video_30s"}]}),
    ]
}

/// A format's type: its id's first word (`display_300x250`, `video_15s`, `vast_30s`).
fn kind_of(f: &Value) -> &str {
    let id = f["format_id"]["id"].as_str().unwrap_or_default();
    id.split('_').next().unwrap_or_default()
}

/// The template inputs of a manifest's assets, checked against the template's slots: each
/// required slot given (a call to action falls back to the template's own), images at least
/// the slot's size, text within its length.
fn inputs(t: &Template, assets: &Map<String, Value>, preview: bool) -> AdcpResult<Vec<Value>> {
    let mut out = Vec::new();
    for s in &t.slots {
        let id = asset_id(&s.slot_id);
        let field = format!("creative_manifest.assets.{id}");
        let placeholder;
        let a = match assets.get(id) {
            Some(a) => a,
            // A preview shows the layout with a placeholder for missing text; a build needs
            // it.
            None if preview && s.asset_type == "text" => {
                placeholder = json!({"asset_type": "text", "content": format!("[{id}]")});
                &placeholder
            }
            None => {
                if s.required && s.slot_id != "cta" {
                    return Err(AdcpError::validation(
                        field,
                        format!("{} needs its {id}", t.name),
                    ));
                }
                continue;
            }
        };
        let c = s.constraints.clone().unwrap_or_default();
        if s.asset_type == "image" {
            for k in ["width", "height"] {
                if let (Some(have), Some(need)) = (a[k].as_i64(), c[k].as_i64())
                    && have < need
                {
                    return Err(AdcpError::validation(
                        format!("{field}.{k}"),
                        format!(
                            "the image is {have} wide or high; {} needs at least {need}",
                            t.name
                        ),
                    ));
                }
            }
        }
        if let (Some(text), Some(max)) = (a["content"].as_str(), c["max_chars"].as_u64())
            && text.chars().count() as u64 > max
        {
            return Err(AdcpError::validation(
                field,
                format!("{} takes at most {max} characters", t.name),
            ));
        }
        let mut input = json!({"slot_id": s.slot_id, "asset_type": s.asset_type});
        for k in ["url", "content", "width", "height"] {
            if let Some(v) = a.get(k) {
                input[if k == "content" { "value" } else { k }] = v.clone();
            }
        }
        out.push(input);
    }
    Ok(out)
}

/// The built creative from a finished render: the template's tag.
fn manifest_of(format_id: &Value, output_kind: &str, output: &Value) -> Value {
    let tag = match output_kind {
        "html_tag" => json!({"tag": {"asset_type": "html", "content": output["tag_html"]}}),
        "javascript_tag" => {
            json!({"tag": {"asset_type": "javascript", "content": output["tag_javascript"]}})
        }
        "vast_xml" => {
            json!({"vast": {"asset_type": "vast", "delivery_type": "inline", "content": output["vast_xml"]}})
        }
        _ => json!({"audio": {"asset_type": "audio", "url": output["audio_url"]}}),
    };
    json!({"format_id": format_id, "assets": tag})
}

/// A VAST 4.2 inline tag for a hosted video, built here.
fn vast_for(format_id: &Value, id: &str, assets: &Map<String, Value>) -> AdcpResult<Value> {
    let Some(url) = assets.get("video").and_then(|v| v["url"].as_str()) else {
        return Err(AdcpError::validation(
            "creative_manifest.assets.video",
            "a VAST tag wraps a hosted video: give its url",
        ));
    };
    let ms = assets["video"]["duration_ms"]
        .as_i64()
        .unwrap_or(VAST_MAX_SECONDS * 1000);
    if ms > VAST_MAX_SECONDS * 1000 {
        return Err(AdcpError::validation(
            "creative_manifest.assets.video.duration_ms",
            format!("the tag is for videos up to {VAST_MAX_SECONDS} s"),
        ));
    }
    let click = assets.get("click_url").and_then(|c| c["url"].as_str());
    let xml = formats::vast_inline(id, url, ms, click);
    Ok(json!({"format_id": format_id,
              "assets": {"vast": {"asset_type": "vast", "delivery_type": "inline", "content": xml}}}))
}

/// A preview of a finished render.
fn preview_of(render: &Render, output_format: &str, t: Option<&Template>) -> Value {
    let out = render.output.clone().unwrap_or_default();
    let mut r =
        json!({"render_id": render.render_id, "output_format": output_format, "role": "primary"});
    if output_format != "html" {
        r["preview_url"] = out["preview_url"].clone();
    }
    if output_format != "url" {
        let html = out["tag_html"]
            .as_str()
            .or(out["tag_javascript"].as_str())
            .map(|t| format!("<script>{t}</script>"))
            .unwrap_or_default();
        r["preview_html"] = json!(html);
    }
    if let Some(d) = t.and_then(|t| t.dimensions) {
        r["dimensions"] = json!({"width": d.width, "height": d.height});
    }
    json!({"preview_id": render.render_id, "renders": [r], "input": {"name": "default"}})
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs creative studio".into(),
        description:
            "A creative studio's templates as formats, previewed and built (adcp-rs template)"
                .into(),
        compliance_testing,
        capabilities: json!({"creative": {"supports_transformation": true}}),
        ..Config::default()
    }
}

/// The agent on `config`, `stores` and `studio`.
pub fn agent(config: Config, stores: Stores, studio: TemplateStudio) -> Serve<TemplateStudio> {
    adcp_runtime::serve(studio).config(config).stores(stores)
}

impl TemplateStudio {
    async fn template_for(&self, workspace: &str, id: &str) -> AdcpResult<Option<Template>> {
        Ok(self
            .studio
            .templates(workspace)
            .await?
            .into_iter()
            .find(|t| format_of(t) == id))
    }
}

#[decisioning_platform(specialisms(creative_template), accounts = explicit)]
impl TemplateStudio {
    /// The workspace's templates as formats, with this agent's own, and those seeded for the
    /// account; filtered and a page at a time.
    pub async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        // A compliance fixture sandbox lists only what was seeded for it.
        let mut all: Vec<Value> = Vec::new();
        if !ctx.fixtures_only() {
            let workspace = self.workspace(ctx, req.extra.get("account")).await?;
            all.extend(
                self.studio
                    .templates(&workspace)
                    .await?
                    .iter()
                    .map(|t| format(ctx.agent_url(), t)),
            );
            all.extend(own_formats(ctx.agent_url()));
        }
        all.extend(ctx.state().list(SEEDED_FORMATS).await?);
        all.retain(|f| formats::matches(&req, f, kind_of(f)));
        let (page, pagination) = Page::take(req.pagination.as_ref(), all)?;
        answer(
            json!({"formats": page, "pagination": pagination}),
            "formats",
        )
    }

    /// A preview of a manifest on its format's template.
    pub async fn preview_creative(
        &self,
        ctx: &Ctx,
        req: PreviewCreativeRequest,
    ) -> AdcpResult<PreviewCreativeResponse> {
        let req = object(&req);
        if req.get("request_type").and_then(Value::as_str) != Some("single") {
            return Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                "this studio previews one manifest at a time",
            )
            .with_field("request_type"));
        }
        let Some(manifest) = req.get("creative_manifest") else {
            return Err(AdcpError::invalid_request(
                "creative_manifest",
                "give the manifest to preview",
            ));
        };
        let id = manifest["format_id"]["id"].as_str().unwrap_or_default();
        let assets = manifest["assets"].as_object().cloned().unwrap_or_default();
        let workspace = self.workspace(ctx, req.get("account")).await?;
        let Some(t) = self.template_for(&workspace, id).await? else {
            return Err(AdcpError::validation(
                "creative_manifest.format_id",
                format!("the studio has no template for `{id}`"),
            ));
        };
        let inputs = inputs(&t, &assets, true)?;
        let key = ctx.new_id("preview");
        let started = self
            .studio
            .start(&workspace, &t.template_id, &inputs, "preview", &key)
            .await?;
        let render = self.studio.settle(&workspace, started).await?;
        if render.status != "complete" {
            return Err(AdcpError::new(
                codes::SERVICE_UNAVAILABLE,
                "the studio is still rendering the preview; ask again shortly",
            ));
        }
        let output = req
            .get("output_format")
            .and_then(Value::as_str)
            .unwrap_or("url");
        answer(
            json!({"response_type": "single", "previews": [preview_of(&render, output, Some(&t))],
                   "expires_at": time::rfc3339(ctx.now() + Duration::DAY)}),
            "a preview",
        )
    }

    /// Builds the creative for each target format: a render per template (a VAST tag of a
    /// hosted video here), from the manifest given or the creative named. A render still
    /// running is handed off, and the task follows it.
    pub async fn build_creative(
        &self,
        ctx: &Ctx,
        req: BuildCreativeRequest,
    ) -> AdcpResult<Hybrid<BuildCreativeResponse>> {
        let req = object(&req);
        let mut assets = req
            .get("creative_manifest")
            .and_then(|m| m["assets"].as_object())
            .cloned();
        if assets.is_none()
            && let Some(id) = req.get("creative_id").and_then(Value::as_str)
        {
            let kept: Kept = ctx.state().get(LIBRARY, id).await?.ok_or_else(|| {
                AdcpError::not_found(codes::CREATIVE_NOT_FOUND, "creative_id", "creative")
            })?;
            assets = Some(kept.assets);
        }
        let Some(assets) = assets else {
            return Err(AdcpError::invalid_request(
                "creative_manifest",
                "a template builds from assets: give a manifest or a creative of the library",
            ));
        };
        let (multi, targets): (bool, Vec<Value>) =
            match (req.get("target_format_ids"), req.get("target_format_id")) {
                (Some(Value::Array(ids)), _) if !ids.is_empty() => (true, ids.clone()),
                (_, Some(id)) => (false, vec![id.clone()]),
                _ => {
                    return Err(AdcpError::invalid_request(
                        "target_format_id",
                        "name the format to build",
                    ));
                }
            };
        let workspace = self.workspace(ctx, req.get("account")).await?;
        let templates = self.studio.templates(&workspace).await?;
        let key = ctx.idempotency_key().unwrap_or_default().to_owned();
        let mut pending = PendingBuild {
            workspace: workspace.clone(),
            multi,
            targets: Vec::with_capacity(targets.len()),
        };
        for (i, target) in targets.iter().enumerate() {
            let id = target["id"].as_str().unwrap_or_default();
            let format_id = json!({"agent_url": ctx.agent_url(), "id": id});
            if id == "vast_30s" {
                pending.targets.push(PendingTarget {
                    format_id: format_id.clone(),
                    output_kind: "vast_xml".into(),
                    render: None,
                    manifest: Some(vast_for(&format_id, &key, &assets)?),
                });
                continue;
            }
            let Some(t) = templates.iter().find(|t| format_of(t) == id) else {
                let field = if multi {
                    format!("target_format_ids[{i}]")
                } else {
                    "target_format_id".into()
                };
                return Err(AdcpError::validation(
                    field,
                    format!("the studio has no template for `{id}`"),
                ));
            };
            let inputs = inputs(t, &assets, false)?;
            let started = self
                .studio
                .start(
                    &workspace,
                    &t.template_id,
                    &inputs,
                    "build",
                    &format!("{key}.{i}"),
                )
                .await?;
            let render = self.studio.settle(&workspace, started).await?;
            if render.status == "failed" {
                return Err(AdcpError::new(
                    codes::SERVICE_UNAVAILABLE,
                    format!("the studio could not render `{id}`; try again"),
                ));
            }
            let manifest = (render.status == "complete").then(|| {
                manifest_of(
                    &format_id,
                    &t.output_kind,
                    &render.output.clone().unwrap_or_default(),
                )
            });
            pending.targets.push(PendingTarget {
                format_id,
                output_kind: t.output_kind.clone(),
                render: Some(render),
                manifest,
            });
        }
        if pending.targets.iter().any(|t| t.manifest.is_none()) {
            return Ok(Hybrid::Later(
                TaskHandoff::job(Self::FINISH_BUILD, pending)
                    .message("the studio is rendering; the creative follows when it is done"),
            ));
        }
        Ok(Hybrid::Now(finish(&pending)?))
    }

    /// Follows a handed-off build's renders to the end (a durable job: it resumes after a
    /// restart), then answers the built creatives.
    #[adcp(job)]
    pub async fn finish_build(
        &self,
        _ctx: &Ctx,
        mut pending: PendingBuild,
    ) -> AdcpResult<BuildCreativeResponse> {
        for _ in 0..120 {
            let mut waiting = false;
            for t in &mut pending.targets {
                if t.manifest.is_some() {
                    continue;
                }
                let Some(r) = &t.render else { continue };
                let r = self.studio.look(&pending.workspace, &r.render_id).await?;
                match r.status.as_str() {
                    "complete" => {
                        t.manifest = Some(manifest_of(
                            &t.format_id,
                            &t.output_kind,
                            &r.output.clone().unwrap_or_default(),
                        ));
                    }
                    "failed" => {
                        return Err(AdcpError::new(
                            codes::SERVICE_UNAVAILABLE,
                            "the studio could not finish the render",
                        ));
                    }
                    _ => waiting = true,
                }
                t.render = Some(r);
            }
            if !waiting {
                return finish(&pending);
            }
            tokio::time::sleep(studio::FOLLOW_EVERY).await;
        }
        Err(AdcpError::new(
            codes::SERVICE_UNAVAILABLE,
            "the studio did not finish the render in ten minutes",
        ))
    }

    /// Keeps the advertiser's source creatives (per item: a format this studio does not take is
    /// that creative's failure, not the call's).
    pub async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        let req = object(&req);
        let named = req.get("account").cloned();
        let workspace = self.workspace(ctx, named.as_ref()).await?;
        let mut known: Vec<String> = self
            .studio
            .templates(&workspace)
            .await?
            .iter()
            .map(format_of)
            .collect();
        known.extend(["video_30s".to_owned(), "vast_30s".to_owned()]);
        let now = time::rfc3339(ctx.now());
        let mut out = Vec::new();
        for c in req
            .get("creatives")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = c["creative_id"].as_str().unwrap_or_default().to_owned();
            let format = c["format_id"]["id"].as_str().unwrap_or_default().to_owned();
            let seeded = ctx.state().get(SEEDED_FORMATS, &format).await?.is_some();
            if !known.contains(&format) && !seeded {
                out.push(json!({"creative_id": id, "action": "failed",
                    "errors": [{"code": "VALIDATION_ERROR", "field": "format_id",
                                "message": format!("the studio does not take format `{format}`")}]}));
                continue;
            }
            let assets = c["assets"].as_object().cloned().unwrap_or_default();
            let name = c["name"].as_str().unwrap_or(&id).to_owned();
            let before: Option<Kept> = ctx.state().get(LIBRARY, &id).await?;
            let action = match &before {
                None => "created",
                Some(k) if k.assets == assets && k.name == name && k.format_id == format => {
                    "unchanged"
                }
                Some(_) => "updated",
            };
            let kept = Kept {
                creative_id: id.clone(),
                name,
                format_id: format,
                assets,
                status: before
                    .as_ref()
                    .map_or(CreativeStatus::Approved, |k| k.status),
                created: before
                    .as_ref()
                    .map_or_else(|| now.clone(), |k| k.created.clone()),
                updated: now.clone(),
            };
            ctx.state().put(LIBRARY, &id, &kept).await?;
            out.push(json!({"creative_id": id, "action": action, "status": kept.status}));
        }
        answer(json!({"creatives": out}), "synced creatives")
    }

    /// The account's source creatives, filtered by format and status, a page at a time.
    pub async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        let req = object(&req);
        let filters = req.get("filters").cloned().unwrap_or_default();
        let mut all: Vec<Kept> = ctx.state().list(LIBRARY).await?;
        all.retain(|k| {
            filters["format_ids"]
                .as_array()
                .is_none_or(|ids| ids.iter().any(|i| i["id"] == k.format_id.as_str()))
                && filters["statuses"]
                    .as_array()
                    .is_none_or(|s| s.iter().any(|s| *s == k.status.to_string()))
                && filters["creative_ids"]
                    .as_array()
                    .is_none_or(|s| s.iter().any(|s| s == k.creative_id.as_str()))
        });
        all.sort_by(|a, b| (&a.created, &a.creative_id).cmp(&(&b.created, &b.creative_id)));
        let total = all.len();
        let paging = req
            .get("pagination")
            .map(|p| answer(p.clone(), "pagination"))
            .transpose()?;
        let (page, pagination) = Page::take(paging.as_ref(), all)?;
        let returned = page.len();
        let creatives: Vec<Value> = page
            .into_iter()
            .map(|k| {
                json!({"creative_id": k.creative_id, "name": k.name,
                       "format_id": {"agent_url": ctx.agent_url(), "id": k.format_id},
                       "status": k.status, "created_date": k.created, "updated_date": k.updated,
                       "assets": k.assets})
            })
            .collect();
        answer(
            json!({"creatives": creatives, "pagination": pagination,
                   "query_summary": {"total_matching": total, "returned": returned}}),
            "creatives",
        )
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    /// Controller: a creative in the account's library, as its fixture gives it.
    async fn seed_creative(&self, ctx: &Ctx, mut p: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = p.creative_id.clone().unwrap_or_default();
        let f = p.fixture.take().unwrap_or_default();
        let status = match f.get("status") {
            None => CreativeStatus::Approved,
            Some(s) => s.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                ControllerCode::InvalidParams.error("`fixture.status` is not a creative status")
            })?,
        };
        let now = time::rfc3339(ctx.now());
        let kept = Kept {
            creative_id: id.clone(),
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_owned(),
            format_id: f
                .get("format_id")
                .and_then(|x| x["id"].as_str())
                .unwrap_or("display_300x250")
                .to_owned(),
            assets: f
                .get("assets")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            status,
            created: now.clone(),
            updated: now,
        };
        ctx.state().put(LIBRARY, &id, &kept).await?;
        Ok(ControllerReply::Seeded)
    }

    /// Controller: a format for the account, as its fixture gives it.
    async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        mut p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.format_id.clone().unwrap_or_default();
        let f = p.fixture.take().unwrap_or_default();
        let format = json!({"format_id": {"agent_url": ctx.agent_url(), "id": id},
                            "name": f.get("name").and_then(Value::as_str).unwrap_or(&id),
                            "renders": [{"role": "primary", "dimensions": {"responsive": {"width": true, "height": true}}}]});
        ctx.state().put(SEEDED_FORMATS, &id, &format).await?;
        Ok(ControllerReply::Seeded)
    }

    /// Controller: moves a library creative along the review states.
    async fn force_creative_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.creative_id.clone().unwrap_or_default();
        ctx.state()
            .force(
                LIBRARY,
                &id,
                &lifecycle::CREATIVE,
                p.status.as_deref(),
                |k| &mut k.status,
                |k| k.updated = time::rfc3339(time::now()),
            )
            .await
    }
}

/// The answer of a build whose renders are all done.
fn finish(p: &PendingBuild) -> AdcpResult<BuildCreativeResponse> {
    let manifests: Vec<Value> = p
        .targets
        .iter()
        .filter_map(|t| t.manifest.clone())
        .collect();
    if p.multi {
        answer(json!({"creative_manifests": manifests}), "built creatives")
    } else {
        answer(
            json!({"creative_manifest": manifests.into_iter().next()}),
            "a built creative",
        )
    }
}
