//! Previews of a creative on this network: the manifest given, rendered here as the network
//! serves it (a sponsored post, a banner, a video) and hosted by the runtime
//! (`Ctx::host_preview`) when the buyer wants a URL. Every text and URL from the manifest is
//! escaped into the page; only http(s) URLs are used; the page is served sandboxed.

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::{PreviewCreativeRequest, PreviewCreativeResponse};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, codes};
use serde_json::{Map, Value, json};

/// How long a preview stays up.
const KEPT: Duration = Duration::DAY;

/// The `native_post` format: a sponsored post in the network's feed.
pub(crate) fn native_post() -> Value {
    json!({
        "format_id": {"id": "native_post"}, "name": "Sponsored post",
        "description": "A post in the network's restaurant feed: a picture, a headline, a line of text and a link",
        "renders": [{"role": "primary", "dimensions": {"responsive": {"width": true, "height": true}}}],
        "assets": [
            {"item_type": "individual", "asset_id": "headline", "asset_type": "text", "required": true,
             "requirements": {"max_length": 90}},
            {"item_type": "individual", "asset_id": "body", "asset_type": "text", "required": false,
             "requirements": {"max_length": 250}},
            {"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true,
             "requirements": {"min_width": 600, "min_height": 314, "formats": ["jpg", "png", "webp"]}},
            {"item_type": "individual", "asset_id": "click_url", "asset_type": "url", "required": true},
        ],
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

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
