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
