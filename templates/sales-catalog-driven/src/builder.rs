//! Dynamic creatives built from the account's catalogues: the manifest names the catalogue the
//! ad draws its items from, and its click and impression URLs carry macros (`{SKU}`, `{GTIN}`,
//! `{ITEM_ID}`, `{MEDIA_BUY_ID}`, ...) filled when an item is shown. A catalogue value is
//! data, never markup or URL syntax: each is percent-encoded (RFC 3986, UTF-8) into the one
//! macro it fills, in a single pass, so `00013&cmd=drop` cannot add a parameter and
//! `vacancy-{DEVICE_ID}-42` is not expanded again.

use adcp_runtime::formats::escape;
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::{BuildCreativeRequest, BuildCreativeSuccess, decode};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, codes};
use sales_non_guaranteed::KeptCatalog;
use serde_json::{Map, Value, json};

/// Where the network's click redirector and impression counter are.
const CLICKS: &str = "https://click.local-eats-network.example/c?sku={SKU}&mb={MEDIA_BUY_ID}";
const IMPRESSIONS: &str = "https://track.local-eats-network.example/i?sku={SKU}&mb={MEDIA_BUY_ID}";

/// The network's catalogue-driven formats: (id, name, description, how many items it shows).
const FORMATS: &[(&str, &str, &str, usize)] = &[
    (
        "display_300x250_catalog",
        "Dynamic medium rectangle",
        "A 300x250 ad showing one catalogue item: its image, title and price",
        1,
    ),
    (
        "display_320x50_catalog",
        "Dynamic mobile banner",
        "A 320x50 banner showing one catalogue item's title and price",
        1,
    ),
    (
        "native_catalog_carousel",
        "Catalogue carousel",
        "A native carousel of 3 to 10 catalogue items",
        10,
    ),
];

/// The formats (AdCP format objects; the seller sets their agent), each taking the catalogue
/// and optional click and impression URLs (with macros).
pub(crate) fn formats() -> Vec<Value> {
    FORMATS
        .iter()
        .map(|(id, name, description, _)| {
            json!({
                "format_id": {"id": id}, "name": name, "description": description,
                "assets": [
                    {"item_type": "individual", "asset_id": "catalog", "asset_type": "catalog",
                     "asset_role": "catalog", "required": true},
                    {"item_type": "individual", "asset_id": "click_url", "asset_type": "url",
                     "asset_role": "clickthrough", "required": false},
                    {"item_type": "individual", "asset_id": "impression_tracker", "asset_type": "url",
                     "asset_role": "impression_tracker", "required": false},
                ],
            })
        })
        .collect()
}

/// Percent-encodes `s` for a URL component: every byte but RFC 3986's unreserved ones.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fills the `{NAME}` macros of `template` known to `values` (each percent-encoded), in one
/// pass: what a value brings is never read as a macro; unknown macros stay as they are.
fn fill(template: &str, values: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                let name = &after[..close];
                match values.get(name) {
                    Some(Value::String(v)) => out.push_str(&encode(v)),
                    Some(v) if !v.is_null() => out.push_str(&encode(&v.to_string())),
                    _ => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The catalogue to build from, and whether the request gave it inline: the manifest's
/// catalogue asset (by `catalog_id`, one of the account's; or its items given inline), else the
/// catalogue the message names, else the account's last synced.
fn chosen(
    req: &BuildCreativeRequest,
    catalogs: &[KeptCatalog],
    now: &str,
) -> AdcpResult<(KeptCatalog, bool)> {
    let id_of = |k: &KeptCatalog| k.catalog.catalog_id.clone().unwrap_or_default();
    let asset = req.creative_manifest.as_ref().and_then(|m| {
        m.assets
            .extra
            .iter()
            .find(|(_, a)| a["asset_type"] == "catalog")
    });
    if let Some((key, a)) = asset {
        if let Some(id) = a["catalog_id"].as_str() {
            return catalogs
                .iter()
                .find(|k| id_of(k) == id)
                .map(|k| (k.clone(), false))
                .ok_or_else(|| {
                    AdcpError::not_found(
                        codes::REFERENCE_NOT_FOUND,
                        format!("creative_manifest.assets.{key}.catalog_id"),
                        "catalogue",
                    )
                    .with_suggestion("sync the catalogue with sync_catalogs first")
                });
        }
        if a.get("items").is_some() {
            let catalog = decode(a.clone()).map_err(|e| {
                AdcpError::invalid_request(
                    format!("creative_manifest.assets.{key}.{}", e.path),
                    e.message,
                )
            })?;
            let kept = KeptCatalog {
                catalog,
                platform_id: String::new(),
                synced: now.to_owned(),
            };
            return Ok((kept, true));
        }
    }
    let message = req.message.as_deref().unwrap_or_default();
    catalogs
        .iter()
        .filter(|k| !id_of(k).is_empty() && message.contains(&id_of(k)))
        .max_by_key(|k| id_of(k).len())
        .or_else(|| catalogs.iter().max_by(|a, b| a.synced.cmp(&b.synced)))
        .map(|k| (k.clone(), false))
        .ok_or_else(|| {
            AdcpError::new(
                codes::REFERENCE_NOT_FOUND,
                "there is no catalogue of this account to build from",
            )
            .with_field("creative_manifest")
            .with_suggestion(
                "sync the catalogue with sync_catalogs first, or give its items inline",
            )
        })
}

/// A URL asset of the request's manifest (`click_url`, `impression_tracker`, ...), by id.
fn given_url<'a>(req: &'a BuildCreativeRequest, ids: &[&str]) -> Option<&'a str> {
    let assets = &req.creative_manifest.as_ref()?.assets.extra;
    ids.iter()
        .filter_map(|id| assets.get(*id))
        .find_map(|a| a["url"].as_str())
}

/// The values an item fills macros with.
fn item_values(
    k: &KeptCatalog,
    item: &Map<String, Value>,
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let mut values = extra.clone();
    let id = item
        .get("item_id")
        .or_else(|| item.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let sku = k
        .content_id(item)
        .or_else(|| item.get("sku"))
        .cloned()
        .unwrap_or_else(|| id.clone());
    values.insert("ITEM_ID".into(), id);
    values.insert("SKU".into(), sku);
    if let Some(g) = item.get("gtin") {
        values.insert("GTIN".into(), g.clone());
    }
    values
}

/// One item as the ad shows it.
fn render_item(item: &Map<String, Value>, click: &str, impression: &str) -> String {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    let title = escape(text("title"));
    let image = item
        .get("image_url")
        .and_then(Value::as_str)
        .map(|u| format!("<img src=\"{}\" alt=\"{title}\">", escape(u)))
        .unwrap_or_default();
    let price = item
        .get("price")
        .and_then(|p| Some((p["amount"].as_f64()?, p["currency"].as_str()?)))
        .map(|(a, c)| format!("<span class=\"price\">{} {a:.2}</span>", escape(c)))
        .unwrap_or_default();
    format!(
        "<a class=\"item\" href=\"{}\">{image}<span class=\"title\">{title}</span>{price}</a>\
         <img class=\"imp\" src=\"{}\" width=\"1\" height=\"1\" alt=\"\">",
        escape(click),
        escape(impression)
    )
}

pub(crate) async fn build(
    ctx: &Ctx,
    req: BuildCreativeRequest,
) -> AdcpResult<BuildCreativeSuccess> {
    if req.target_format_ids.is_some() {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "this seller builds one format per request",
        )
        .with_field("target_format_ids")
        .with_suggestion("ask for each format with `target_format_id`"));
    }
    let target = req
        .target_format_id
        .as_ref()
        .or(req.creative_manifest.as_ref().map(|m| &m.format_id))
        .ok_or_else(|| {
            AdcpError::invalid_request("target_format_id", "name the format to build")
        })?;
    let Some(&(format, _, _, shown)) = FORMATS.iter().find(|f| f.0 == target.id) else {
        let known: Vec<&str> = FORMATS.iter().map(|f| f.0).collect();
        return Err(AdcpError::invalid_request(
            "target_format_id",
            format!(
                "this seller builds {} from a catalogue, not `{}`",
                known.join(", "),
                target.id
            ),
        ));
    };
    let catalogs = sales_non_guaranteed::catalogs(ctx).await?;
    let (catalog, inline) = chosen(&req, &catalogs, &time::rfc3339(ctx.now()))?;
    let catalog = &catalog;
    let click = given_url(&req, &["click_url", "clickthrough"]).unwrap_or(CLICKS);
    let impression =
        given_url(&req, &["impression_tracker", "impression_pixel"]).unwrap_or(IMPRESSIONS);
    let mut catalog_asset =
        serde_json::to_value(&catalog.catalog).map_err(|e| AdcpError::internal(e.to_string()))?;
    if let Some(m) = catalog_asset.as_object_mut() {
        // The manifest names a synced catalogue, whose items stay with the seller; one given
        // inline travels with the manifest.
        if !inline {
            m.remove("items");
        }
        m.insert("asset_type".into(), json!("catalog"));
    }
    let manifest = json!({
        "format_id": {"agent_url": ctx.agent_url(), "id": format},
        "assets": {
            "catalog": catalog_asset,
            "click_url": {"asset_type": "url", "url": click},
            "impression_tracker": {"asset_type": "url", "url": impression},
        },
    });
    let mut out = json!({"creative_manifest": manifest});
    if req.include_preview == Some(true) {
        let limit = req
            .item_limit
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(3)
            .clamp(1, shown.max(3));
        let extra: Map<String, Value> = req
            .macro_values
            .as_ref()
            .and_then(|m| serde_json::to_value(m).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let body: String = catalog
            .items()
            .iter()
            .take(limit)
            .map(|item| {
                let values = item_values(catalog, item, &extra);
                render_item(item, &fill(click, &values), &fill(impression, &values))
            })
            .collect();
        let page = format!("<div class=\"ad\" data-format=\"{format}\">{body}</div>");
        let expires = time::rfc3339(ctx.now() + Duration::hours(24));
        out["preview"] = json!({
            "previews": [{
                "preview_id": ctx.new_id("pv"),
                "renders": [{"render_id": "primary", "output_format": "html",
                             "preview_html": page, "role": "primary"}],
                "input": {"name": "Catalogue items"},
            }],
            "expires_at": expires,
        });
    }
    decode(out)
        .map_err(|e| AdcpError::internal(format!("a built creative: {}: {}", e.path, e.message)))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{encode, fill};

    fn values(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn catalogue_values_fill_macros_as_data() {
        let t = "https://track.example/imp?sku={SKU}&mb={MEDIA_BUY_ID}";
        let v = values(json!({"SKU": "00013&cmd=drop"}));
        assert_eq!(
            fill(t, &v),
            "https://track.example/imp?sku=00013%26cmd%3Ddrop&mb={MEDIA_BUY_ID}"
        );
        let v = values(json!({"SKU": "vacancy-{DEVICE_ID}-42", "DEVICE_ID": "x"}));
        assert_eq!(fill("?s={SKU}", &v), "?s=vacancy-%7BDEVICE_ID%7D-42");
        let v = values(json!({"SKU": "café-amsterdam"}));
        assert_eq!(fill("?s={SKU}", &v), "?s=caf%C3%A9-amsterdam");
        // Braces that are not macros are kept.
        assert_eq!(fill("{a}{", &Map::new()), "{a}{");
        assert_eq!(encode("a b/~"), "a%20b%2F~");
    }
}
