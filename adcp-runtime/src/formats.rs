//! `list_creative_formats` filters, over formats written as JSON (`core/format.json`): what
//! every creative agent applies to its catalogue before paging it.
//!
//! ```
//! use adcp_runtime::formats;
//! use adcp_runtime::wire::ListCreativeFormatsRequest;
//! use serde_json::json;
//!
//! let banner = json!({"format_id": {"agent_url": "https://a.example/mcp", "id": "display_728x90"},
//!     "name": "Leaderboard", "renders": [{"role": "primary", "dimensions": {"width": 728, "height": 90}}],
//!     "assets": [{"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true}]});
//! let mut req = ListCreativeFormatsRequest::default();
//! req.max_width = Some(728);
//! req.extra.insert("type".into(), json!("display"));
//! assert!(formats::matches(&req, &banner, "display"));
//! req.max_width = Some(300);
//! assert!(!formats::matches(&req, &banner, "display"));
//! ```

use adcp_wire::ListCreativeFormatsRequest;
use serde_json::Value;

/// Whether `format` passes the request's filters. `kind` is the format's type as the platform
/// files it (`display`, `video`, `audio`, `native`, ...), which the 3.0 format does not carry:
/// the creative protocol's `type` filter (kept among the request's other fields) matches it,
/// with a VAST tag (`vast`) counted as video.
///
/// Sizes are read from the first render's `dimensions`: a bound on a format without that size
/// (a responsive one) excludes it. `format_ids` match on `id` alone, since buyers' examples
/// name other agents' URLs; `asset_types` on any declared asset (groups included);
/// `name_search` case-insensitively on the name; `is_responsive` on the render.
pub fn matches(req: &ListCreativeFormatsRequest, format: &Value, kind: &str) -> bool {
    let id = format["format_id"]["id"].as_str().unwrap_or_default();
    let dims = &format["renders"][0]["dimensions"];
    let fits = |bound: Option<i64>, k: &str, max: bool| {
        bound.is_none_or(|b| {
            dims[k]
                .as_f64()
                .is_some_and(|v| if max { v <= b as f64 } else { v >= b as f64 })
        })
    };
    let declares = |t: &str| {
        format["assets"].as_array().is_some_and(|a| {
            a.iter().any(|x| {
                x["asset_type"] == t
                    || x["assets"]
                        .as_array()
                        .is_some_and(|g| g.iter().any(|y| y["asset_type"] == t))
            })
        })
    };
    let responsive = !dims["responsive"].is_null();
    req.extra
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == kind || (t == "video" && kind == "vast"))
        && fits(req.max_width, "width", true)
        && fits(req.max_height, "height", true)
        && fits(req.min_width, "width", false)
        && fits(req.min_height, "height", false)
        && req.is_responsive.is_none_or(|r| r == responsive)
        && req
            .format_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|i| i.id == id))
        && req.asset_types.as_ref().is_none_or(|types| {
            types.iter().any(|t| {
                serde_json::to_value(t)
                    .ok()
                    .and_then(|t| t.as_str().map(declares))
                    .unwrap_or(false)
            })
        })
        && req.name_search.as_ref().is_none_or(|q| {
            format["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().contains(&q.to_lowercase()))
        })
}

/// `s` as HTML or XML text, safe in element content and in quoted attributes (`&`, `<`, `>`,
/// `"` and `'` escaped): what an agent rendering a creative itself puts a buyer's words
/// through.
///
/// ```
/// assert_eq!(adcp_runtime::formats::escape("<b>\"Tom\" & Jerry's</b>"),
///            "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&#39;s&lt;/b&gt;");
/// ```
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A VAST 4.2 inline tag for a hosted video: one linear creative of `duration_ms` playing
/// `video_url` (progressive MP4), with `click_url` as its click-through. Values are escaped
/// (the ad id as XML text, URLs in CDATA with any `]]>` split), so the caller's strings cannot
/// change the document's structure.
///
/// ```
/// let xml = adcp_runtime::formats::vast_inline("hero", "https://cdn.example/a.mp4", 15_000, Some("https://a.example"));
/// assert!(xml.starts_with("<VAST version=\"4.2\">") && xml.contains("<Duration>00:00:15</Duration>"));
/// ```
pub fn vast_inline(
    ad_id: &str,
    video_url: &str,
    duration_ms: i64,
    click_url: Option<&str>,
) -> String {
    let cdata = |s: &str| format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"));
    let secs = duration_ms.max(0) / 1000;
    let duration = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let click = click_url
        .map(|c| {
            format!(
                "<VideoClicks><ClickThrough>{}</ClickThrough></VideoClicks>",
                cdata(c)
            )
        })
        .unwrap_or_default();
    let id = escape(ad_id);
    format!(
        "<VAST version=\"4.2\"><Ad id=\"{id}\"><InLine><AdSystem>adcp-rs</AdSystem><AdTitle>{id}</AdTitle>\
         <Creatives><Creative><Linear><Duration>{duration}</Duration>{click}<MediaFiles>\
         <MediaFile delivery=\"progressive\" type=\"video/mp4\" width=\"1920\" height=\"1080\">{}</MediaFile>\
         </MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>",
        cdata(video_url)
    )
}
