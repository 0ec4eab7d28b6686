//! Previews of a creative on this seller: the manifest given, rendered here as the seller
//! serves it (a post with a headline, a banner, a video) and hosted by the runtime
//! (`Ctx::host_preview`) when the buyer wants a URL. Every text and URL from the manifest is
//! escaped into the page; only http(s) URLs are used; the page is served sandboxed. And VAST
//! tags for hosted video, for a seller that serves video.

use adcp_runtime::formats::escape;
use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::{
    BuildCreativeRequest, BuildCreativeSuccess, PreviewCreativeRequest, PreviewCreativeResponse,
};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, codes};
use serde_json::{Map, Value, json};

/// How long a preview stays up.
const KEPT: Duration = Duration::DAY;

/// An asset's URL, when it is http(s).
fn url<'a>(assets: &'a Map<String, Value>, id: &str) -> Option<&'a str> {
    assets
        .get(id)
        .and_then(|a| a["url"].as_str())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn text<'a>(assets: &'a Map<String, Value>, id: &str) -> Option<&'a str> {
    assets.get(id).and_then(|a| a["content"].as_str())
}

/// The page of a manifest: a video, a post (with a headline), or a banner.
fn page(format: &str, assets: &Map<String, Value>) -> AdcpResult<String> {
    let click = url(assets, "click_url").map(escape);
    let link = |inner: String| match &click {
        Some(c) => format!("<a href=\"{c}\" target=\"_blank\" rel=\"noopener\">{inner}</a>"),
        None => inner,
    };
    let size = |id: &str| {
        let a = &assets[id];
        match (a["width"].as_i64(), a["height"].as_i64()) {
            (Some(w), Some(h)) => format!(" width=\"{w}\" height=\"{h}\""),
            _ => String::new(),
        }
    };
    let body = if let Some(v) = url(assets, "video") {
        link(format!(
            "<video src=\"{}\"{} controls muted playsinline></video>",
            escape(v),
            size("video")
        ))
    } else if let Some(h) = text(assets, "headline") {
        let img = url(assets, "image")
            .map(|i| format!("<img src=\"{}\" alt=\"\" style=\"width:100%\">", escape(i)))
            .unwrap_or_default();
        let line = text(assets, "body")
            .map(|b| format!("<p>{}</p>", escape(b)))
            .unwrap_or_default();
        format!(
            "<article style=\"max-width:480px;font-family:sans-serif\">{img}<h3>{}</h3>{line}{}\
             <small>Sponsored</small></article>",
            link(escape(h)),
            link("Learn more".into())
        )
    } else if let Some(i) = url(assets, "image") {
        link(format!(
            "<img src=\"{}\" alt=\"\"{}>",
            escape(i),
            size("image")
        ))
    } else {
        return Err(AdcpError::validation(
            "creative_manifest.assets",
            format!("a `{format}` preview needs its image, headline or video"),
        ));
    };
    Ok(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{body}</body></html>",
        escape(format)
    ))
}

/// `preview_creative` for one manifest of a format this seller takes.
pub(crate) async fn preview(
    ctx: &Ctx,
    sells: impl Fn(&str) -> bool,
    req: &PreviewCreativeRequest,
) -> AdcpResult<PreviewCreativeResponse> {
    let req = object(req);
    if req.get("request_type").and_then(Value::as_str) != Some("single") {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "this seller previews one manifest at a time",
        )
        .with_field("request_type"));
    }
    let Some(manifest) = req.get("creative_manifest") else {
        return Err(AdcpError::invalid_request(
            "creative_manifest",
            "give the manifest to preview",
        ));
    };
    let format = req
        .get("format_id")
        .unwrap_or(&manifest["format_id"])
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !sells(&format) {
        return Err(AdcpError::validation(
            "creative_manifest.format_id",
            format!("this seller does not take format `{format}`"),
        ));
    }
    let assets = manifest["assets"].as_object().cloned().unwrap_or_default();
    if assets.contains_key("catalog") {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "a catalogue creative is previewed with its items: build_creative with include_preview",
        )
        .with_field("creative_manifest.assets.catalog"));
    }
    let html = page(&format, &assets)?;
    let output = req
        .get("output_format")
        .and_then(Value::as_str)
        .unwrap_or("url")
        .to_owned();
    let mut render = json!({"render_id": "primary", "output_format": output, "role": "primary"});
    if output != "html" {
        render["preview_url"] = json!(ctx.host_preview(html.clone(), KEPT).await?);
    }
    if output != "url" {
        render["preview_html"] = json!(html);
    }
    let names: Vec<Value> = req
        .get("inputs")
        .and_then(Value::as_array)
        .map(|i| i.iter().map(|x| x["name"].clone()).collect())
        .unwrap_or_else(|| vec![json!("default")]);
    let previews: Vec<Value> = names
        .into_iter()
        .map(|name| {
            json!({"preview_id": ctx.new_id("pv"), "renders": [render.clone()], "input": {"name": name}})
        })
        .collect();
    answer(
        json!({"response_type": "single", "previews": previews,
               "expires_at": time::rfc3339(ctx.now() + KEPT)}),
        "a preview",
    )
}

/// The VAST tag format a hosted video builds to.
pub(crate) const VAST: &str = "vast_30s";

/// The longest video the network serves.
const VIDEO_MAX_MS: i64 = 30_000;

/// A VAST tag for a hosted video: the manifest's, or that of the library creative named (when
/// the network serves video: its compliance fixtures do).
pub(crate) async fn vast(
    ctx: &Ctx,
    req: &BuildCreativeRequest,
) -> AdcpResult<BuildCreativeSuccess> {
    let mut assets = req
        .creative_manifest
        .as_ref()
        .map(|m| adcp_runtime::json::object(&m.assets))
        .unwrap_or_default();
    let id = req
        .creative_id
        .clone()
        .unwrap_or_else(|| ctx.new_id("vast"));
    if !assets.contains_key("video")
        && let Some(cid) = &req.creative_id
    {
        let kept = crate::library_creative(ctx, cid).await?.ok_or_else(|| {
            AdcpError::not_found(codes::CREATIVE_NOT_FOUND, "creative_id", "creative")
        })?;
        let synced = kept.asset.as_ref().map(adcp_runtime::json::object);
        if let Some(a) = synced.as_ref().and_then(|s| s["assets"].as_object()) {
            assets = a.clone();
        }
    }
    let video = &assets.get("video").cloned().unwrap_or_default();
    let Some(url) = video["url"].as_str() else {
        return Err(AdcpError::validation(
            "creative_manifest.assets.video",
            "a VAST tag wraps a hosted video: give it, or name a library creative with one",
        ));
    };
    let ms = video["duration_ms"].as_i64().unwrap_or(VIDEO_MAX_MS);
    if ms > VIDEO_MAX_MS {
        return Err(AdcpError::validation(
            "creative_manifest.assets.video.duration_ms",
            format!("the network serves videos up to {} s", VIDEO_MAX_MS / 1000),
        ));
    }
    let click = assets.get("click_url").and_then(|c| c["url"].as_str());
    let xml = adcp_runtime::formats::vast_inline(&id, url, ms, click);
    adcp_runtime::wire::decode(json!({"creative_manifest": {
        "format_id": {"agent_url": ctx.agent_url(), "id": VAST},
        "assets": {"vast": {"asset_type": "vast", "delivery_type": "inline", "content": xml}}}}))
    .map_err(|e| AdcpError::internal(format!("a VAST tag: {}: {}", e.path, e.message)))
}
