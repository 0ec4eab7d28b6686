//! The default catalogue: products and the creative formats they take.

use std::collections::HashMap;

use adcp_runtime::AdcpResult;
use adcp_runtime::wire::{Format, FormatId, Product, decode};
use serde_json::{Value, json};

/// Where this seller's inventory lives.
pub(crate) const PUBLISHER_DOMAIN: &str = "outdoor-network.example";

/// A format this seller accepts.
pub(crate) struct FormatSpec {
    pub(crate) id: &'static str,
    name: &'static str,
    /// Width and height in pixels, for display formats.
    size: Option<(i64, i64)>,
    /// Length in seconds, for video formats.
    seconds: Option<u32>,
}

const fn display(id: &'static str, name: &'static str, w: i64, h: i64) -> FormatSpec {
    FormatSpec {
        id,
        name,
        size: Some((w, h)),
        seconds: None,
    }
}

const fn video(id: &'static str, name: &'static str, seconds: u32) -> FormatSpec {
    FormatSpec {
        id,
        name,
        size: None,
        seconds: Some(seconds),
    }
}

/// The formats this seller accepts.
pub(crate) const FORMATS: &[FormatSpec] = &[
    display("display_300x250", "Medium rectangle 300x250", 300, 250),
    display("display_728x90", "Leaderboard 728x90", 728, 90),
    display("display_320x50", "Mobile banner 320x50", 320, 50),
    video("video_15s", "Instream video 15s", 15),
    video("video_30s", "Instream video 30s", 30),
];

pub(crate) fn format_id(agent_url: &str, id: &str) -> FormatId {
    FormatId::new(agent_url.to_owned(), id.to_owned())
}

impl FormatSpec {
    /// The assets a creative of this format carries, keyed in its manifest by `asset_id`: the
    /// image or video itself (required), and where a click leads (optional).
    pub(crate) fn assets(&self) -> Value {
        let main = match (self.size, self.seconds) {
            (Some((w, h)), _) => json!({
                "item_type": "individual", "asset_id": "image", "asset_type": "image",
                "asset_role": "creative", "required": true,
                "requirements": {"min_width": w, "max_width": w, "min_height": h,
                                 "max_height": h, "formats": ["jpg", "png", "gif", "webp"],
                                 "max_file_size_kb": 200},
            }),
            (_, Some(s)) => json!({
                "item_type": "individual", "asset_id": "video", "asset_type": "video",
                "asset_role": "creative", "required": true,
                "requirements": {"min_duration_ms": s * 1000, "max_duration_ms": s * 1000,
                                 "containers": ["mp4", "webm"]},
            }),
            _ => Value::Null,
        };
        let click = json!({
            "item_type": "individual", "asset_id": "click_url", "asset_type": "url",
            "asset_role": "clickthrough", "required": false,
        });
        json!([main, click])
    }
}

/// Default formats the runner's unseeded fixture products use (`test-product`,
/// `outdoor_ctv_q2`), listed under compliance testing by a seller with formats of its own.
const FIXTURE_FORMATS: [&str; 2] = ["display_300x250", "video_30s"];

/// A seller's own format: `spec` with `agent_url` set on its `format_id` (given as `{"id":
/// ...}` or as the id alone), and on the `input_format_ids` and `output_format_ids` that name
/// none.
pub(crate) fn custom_format(agent_url: &str, spec: &Value) -> Result<Format, String> {
    let mut f = spec.clone();
    let id = match &spec["format_id"] {
        Value::String(id) => id.clone(),
        v => v["id"].as_str().unwrap_or_default().to_owned(),
    };
    f["format_id"] = serde_json::to_value(format_id(agent_url, &id)).map_err(|e| e.to_string())?;
    for k in ["input_format_ids", "output_format_ids"] {
        for other in f[k].as_array_mut().into_iter().flatten() {
            if other.get("agent_url").is_none() {
                other["agent_url"] = serde_json::Value::String(agent_url.to_owned());
            }
        }
    }
    decode(f).map_err(|e| format!("{}: {}", e.path, e.message))
}

/// The ids of the formats: `custom` ones (with the fixtures' under `test_fixtures`), else the
/// default ones.
pub(crate) fn format_ids(
    custom: Option<&[Value]>,
    test_fixtures: bool,
) -> impl Iterator<Item = String> + '_ {
    let defaults: Vec<String> = match custom {
        None => FORMATS.iter().map(|f| f.id.to_owned()).collect(),
        Some(_) if test_fixtures => FIXTURE_FORMATS.iter().map(|f| (*f).to_owned()).collect(),
        Some(_) => Vec::new(),
    };
    let own = custom.into_iter().flatten().map(|f| match &f["format_id"] {
        Value::String(id) => id.clone(),
        v => v["id"].as_str().unwrap_or_default().to_owned(),
    });
    own.chain(defaults)
}

/// The formats, with `agent_url` set to this agent, each declaring its assets: the seller's
/// own (with the fixtures' under `test_fixtures`), else the default ones.
pub(crate) fn formats(
    agent_url: &str,
    custom: Option<&[Value]>,
    test_fixtures: bool,
) -> Vec<Format> {
    let mut out: Vec<Format> = custom
        .into_iter()
        .flatten()
        .filter_map(|spec| {
            custom_format(agent_url, spec)
                .map_err(|e| tracing::error!(error = %e, "a seller's format"))
                .ok()
        })
        .collect();
    if custom.is_some() && !test_fixtures {
        return out;
    }
    let own: Vec<String> = out.iter().map(|f| f.format_id.id.clone()).collect();
    let wanted = |id: &str| {
        !own.iter().any(|o| o == id) && (custom.is_none() || FIXTURE_FORMATS.contains(&id))
    };
    out.extend(
        default_formats(agent_url)
            .into_iter()
            .filter(|f| wanted(&f.format_id.id)),
    );
    out
}

/// The default formats, with `agent_url` set to this agent, each declaring its assets.
fn default_formats(agent_url: &str) -> Vec<Format> {
    FORMATS
        .iter()
        .filter_map(|spec| {
            let description = match (spec.size, spec.seconds) {
                (Some((w, h)), _) => format!("Static or animated image, {w}x{h} pixels"),
                (_, Some(s)) => format!("VAST video, {s} seconds"),
                _ => String::new(),
            };
            let f = json!({
                "format_id": format_id(agent_url, spec.id),
                "name": spec.name,
                "description": description,
                "assets": spec.assets(),
            });
            decode(f)
                .map_err(|e| tracing::error!(format = spec.id, error = %e, "a catalogue format"))
                .ok()
        })
        .collect()
}

/// A product from the baseline every product of this seller shares and the fields given.
pub(crate) fn product(agent_url: &str, fields: &Value) -> AdcpResult<Product> {
    let mut p = json!({
        "product_id": "",
        "name": "",
        "description": "Run-of-network inventory on the outdoor lifestyle network",
        "publisher_properties": [{"publisher_domain": PUBLISHER_DOMAIN, "selection_type": "all"}],
        "channels": ["display"],
        "format_ids": [{"agent_url": agent_url, "id": "display_300x250"}],
        "delivery_type": "non_guaranteed",
        "pricing_options": [{"pricing_option_id": "cpm_auction", "pricing_model": "cpm", "currency": "USD", "floor_price": 5.0}],
        "reporting_capabilities": {
            "available_reporting_frequencies": ["hourly", "daily"],
            "expected_delay_minutes": 60,
            "timezone": "UTC",
            "supports_webhooks": true,
            "available_metrics": ["impressions", "spend", "clicks", "ctr"],
            "date_range_support": "date_range",
        },
    });
    overlay(&mut p, fields);
    if p["name"] == "" {
        p["name"] = p["product_id"].clone();
    }
    // Format ids given without an agent are this agent's formats.
    if let Some(ids) = p["format_ids"].as_array_mut() {
        for f in ids {
            if f.get("agent_url").is_none() {
                f["agent_url"] = json!(agent_url);
            }
        }
    }
    // Channels outside the 3.0 enum (fixtures use `video`) become the closest one.
    if let Some(chs) = p["channels"].as_array_mut() {
        for c in chs {
            if c == "video" {
                *c = json!("olv");
            }
        }
    }
    decode(p).map_err(|e| {
        adcp_runtime::AdcpError::invalid_request(format!("fixture.{}", e.path), e.message)
    })
}

/// Shallow overlay of `fields` onto `base` (top-level keys replace).
pub(crate) fn overlay(base: &mut Value, fields: &Value) {
    if let (Value::Object(b), Value::Object(f)) = (base, fields) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
}

/// The catalogue of `specs` (fields over the baseline); with `test_fixtures` (compliance
/// testing), also the products the storyboards buy without seeding them: `test-product`, and
/// the CTV product `outdoor_ctv_q2` of `media_buy_seller/governance_conditions`.
pub(crate) fn products(agent_url: &str, test_fixtures: bool, specs: &[Value]) -> Vec<Product> {
    let tests = [
        json!({"product_id": "test-product", "name": "Test product (run of network display)",
               "pricing_options": [
                   {"pricing_option_id": "default", "pricing_model": "cpm", "currency": "USD", "floor_price": 2.0},
                   {"pricing_option_id": "test-pricing", "pricing_model": "cpm", "currency": "USD", "floor_price": 2.0}]}),
        json!({"product_id": "outdoor_ctv_q2", "name": "Outdoor lifestyle CTV, Q2",
               "channels": ["ctv"], "format_ids": [{"id": "video_30s"}],
               "pricing_options": [
                   {"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 5.0}]}),
    ];
    let tests: &[Value] = if test_fixtures { &tests } else { &[] };
    tests
        .iter()
        .chain(specs)
        .filter_map(|s| product(agent_url, s).ok())
        .collect()
}

/// The default catalogue of one agent URL: its products, each id once (of two specs with one id
/// the first is sold), with where each id is, so that a page or a product is found without a
/// walk of the whole catalogue.
pub struct Catalogue {
    products: Vec<Product>,
    at: HashMap<String, usize>,
}

impl Catalogue {
    pub(crate) fn new(all: Vec<Product>) -> Catalogue {
        let mut at = HashMap::with_capacity(all.len());
        let mut products = Vec::with_capacity(all.len());
        for p in all {
            if !at.contains_key(&p.product_id) {
                at.insert(p.product_id.clone(), products.len());
                products.push(p);
            }
        }
        Catalogue { products, at }
    }

    /// The product of an id.
    pub fn get(&self, product_id: &str) -> Option<&Product> {
        self.at.get(product_id).map(|&i| &self.products[i])
    }

    /// Whether it sells a product of this id.
    pub fn contains(&self, product_id: &str) -> bool {
        self.at.contains_key(product_id)
    }
}

impl std::ops::Deref for Catalogue {
    type Target = [Product];

    fn deref(&self) -> &[Product] {
        &self.products
    }
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::new(Vec::new())
    }
}

/// The default products' specs.
pub(crate) fn default_specs() -> Vec<Value> {
    vec![
        json!({"product_id": "outdoor_display_ron", "name": "Outdoor lifestyle display, run of network",
               "format_ids": [{"id": "display_300x250"}, {"id": "display_728x90"}, {"id": "display_320x50"}],
               "pricing_options": [{"pricing_option_id": "cpm_auction", "pricing_model": "cpm", "currency": "USD", "floor_price": 4.0}]}),
        json!({"product_id": "outdoor_video_instream", "name": "Outdoor lifestyle instream video",
               "channels": ["olv"], "format_ids": [{"id": "video_15s"}, {"id": "video_30s"}],
               "pricing_options": [{"pricing_option_id": "cpm_auction", "pricing_model": "cpm", "currency": "USD", "floor_price": 12.0}]}),
    ]
}
