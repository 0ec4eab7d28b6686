//! A seller that generates its buyers' creatives: from a brief, a message, the assets the
//! buyer already has, or an item of the buyer's catalogue, it composes finished banners
//! (`build_creative`) in one format or several, drafts or production, previewed on request;
//! and it sells media like the reference seller, whose buying, catalogues, creative library,
//! previews and compliance controller it composes (`seller_platform!`).
//!
//! - Formats (`list_creative_formats`): the generative formats (`display_300x250_generative`,
//!   `display_728x90_generative`, `display_320x50_generative`) declare what they take (a
//!   brief, a catalogue, a headline, a call to action, a click URL) and what they give
//!   (`output_format_ids`), beside the seller's own.
//! - Generation (`src/studio.rs`): the copy from the buyer's words, never invented; the banner
//!   an SVG in the brand's palette, hosted by the runtime (`Ctx::host_asset`). The part an
//!   adopter replaces with a model.
//!
//! Accounts, tasks, idempotency, validation, hosting and the envelope are the runtime's.

mod studio;

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpError, AdcpResult, Config, Ctx, Serve, Stores, decisioning_platform};
use sales_non_guaranteed::Seller;
use serde_json::{Value, json};

/// How long generated banners and previews stay hosted.
const KEPT: Duration = Duration::days(90);

/// The generative formats: (id, size, what it outputs).
const GENERATIVE: &[(&str, i64, i64)] = &[
    ("display_300x250_generative", 300, 250),
    ("display_728x90_generative", 728, 90),
    ("display_320x50_generative", 320, 50),
];

/// The seller.
pub struct GenerativeSeller {
    seller: Seller,
}

fn output_id(w: i64, h: i64) -> String {
    format!("display_{w}x{h}")
}

/// The generative formats and the finished ones they produce (the seller sets their agent).
fn formats() -> Vec<Value> {
    let mut all = Vec::new();
    for (id, w, h) in GENERATIVE {
        let optional = |asset_id: &str, kind: &str| json!({"item_type": "individual", "asset_id": asset_id, "asset_type": kind, "required": false});
        all.push(json!({
            "format_id": {"id": id}, "name": format!("Generated banner {w}x{h}"),
            "description": "A banner generated from a brief, a message or a catalogue item",
            "renders": [{"role": "primary", "dimensions": {"width": w, "height": h}}],
            "assets": [optional("brief", "brief"), optional("catalog", "catalog"),
                       optional("headline", "text"), optional("cta", "text"),
                       optional("click_url", "url")],
            "output_format_ids": [{"id": output_id(*w, *h)}],
        }));
        all.push(json!({
            "format_id": {"id": output_id(*w, *h)}, "name": format!("Banner {w}x{h}"),
            "renders": [{"role": "primary", "dimensions": {"width": w, "height": h}}],
            "assets": [
                {"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true,
                 "requirements": {"min_width": w, "max_width": w, "min_height": h, "max_height": h}},
                optional("click_url", "url")],
        }));
    }
    // Generation also writes sponsored posts: a headline, a line and a picture.
    all.push(sales_non_guaranteed::native_post());
    all
}

/// The seller's products: display in the banner sizes it generates, and sponsored posts.
fn products() -> Vec<Value> {
    let sizes: Vec<Value> = GENERATIVE
        .iter()
        .map(|(_, w, h)| json!({"id": output_id(*w, *h)}))
        .collect();
    vec![
        json!({"product_id": "display_generated", "name": "Display, creative generated",
               "description": "Run-of-network display; send a brief and the banners are generated in every size",
               "channels": ["display"], "format_ids": sizes,
               "pricing_options": [{"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 5.0}]}),
        json!({"product_id": "native_posts_generated", "name": "Sponsored posts, creative generated",
               "description": "Sponsored posts in the network's feeds, written from the advertiser's brief or catalogue",
               "channels": ["display"], "format_ids": [{"id": "native_post"}],
               "pricing_options": [{"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 7.0}]}),
    ]
}

impl GenerativeSeller {
    /// The seller; `test_fixtures` adds the products the compliance storyboards buy unseeded.
    pub fn new(test_fixtures: bool) -> Self {
        let seller = Seller::new(test_fixtures)
            .with_products(products())
            .and_then(|s| s.with_formats(formats()))
            // The specs are this file's: a test proves they are valid.
            .unwrap_or_else(|_| Seller::new(test_fixtures));
        GenerativeSeller { seller }
    }

    /// One finished creative for `target` (a generative format or the one it outputs).
    async fn generate(
        &self,
        ctx: &Ctx,
        target: &FormatId,
        at: &str,
        copy: &studio::Copy,
        brand: Option<&str>,
    ) -> AdcpResult<Value> {
        let Some(&(_, w, h)) = GENERATIVE
            .iter()
            .find(|(id, w, h)| *id == target.id || output_id(*w, *h) == target.id)
        else {
            let known: Vec<&str> = GENERATIVE.iter().map(|g| g.0).collect();
            return Err(AdcpError::validation(
                at,
                format!(
                    "this seller generates {}, not `{}`",
                    known.join(", "),
                    target.id
                ),
            ));
        };
        let svg = studio::banner(copy, w, h, brand);
        let image = ctx.host_asset(svg, "image/svg+xml", KEPT).await?;
        let mut assets = json!({
            "image": {"asset_type": "image", "url": image, "width": w, "height": h, "format": "svg"},
            "headline": {"asset_type": "text", "content": copy.headline},
            "cta": {"asset_type": "text", "content": copy.cta},
        });
        if let Some(l) = &copy.line {
            assets["body"] = json!({"asset_type": "text", "content": l});
        }
        if let Some(c) = &copy.click {
            assets["click_url"] = json!({"asset_type": "url", "url": c});
        }
        Ok(
            json!({"format_id": {"agent_url": ctx.agent_url(), "id": output_id(w, h)},
                  "assets": assets}),
        )
    }
}

/// The seller's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs generative seller".into(),
        description:
            "Display media with creatives generated from the buyer's brief (adcp-rs template)"
                .into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["cpm"]},
            "creative": {"supports_generation": true},
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`.
pub fn agent(config: Config, stores: Stores) -> Serve<GenerativeSeller> {
    let platform = GenerativeSeller::new(config.compliance_testing);
    let planner = platform.seller.planner();
    adcp_runtime::serve(platform)
        .proposals(planner)
        .config(config)
        .stores(stores)
}

// The platform: generation here; media buying, catalogues, the creative library, previews and
// the compliance controller are the reference seller's.
sales_non_guaranteed::seller_platform! {
    #[decisioning_platform(specialisms(creative_generative, sales_non_guaranteed), accounts = explicit)]
    impl GenerativeSeller {
        /// Generates the creative the request asks for: from its manifest's assets, its brief,
        /// the catalogue item its message names, or its message; one manifest per target
        /// format (`target_format_ids` answers `creative_manifests`).
        async fn build_creative(
            &self,
            ctx: &Ctx,
            req: BuildCreativeRequest,
        ) -> AdcpResult<BuildCreativeResponse> {
            if let Some(vast) = self.seller.vast_tag(ctx, &req).await {
                return vast.map(BuildCreativeResponse::Success);
            }
            let manifest = req
                .creative_manifest
                .as_ref()
                .map(|m| object(&m.assets))
                .unwrap_or_default();
            let message = req.message.clone().unwrap_or_default();
            let brand = req
                .brand
                .as_ref()
                .map(|b| b.domain.clone())
                .or_else(|| ctx.account().brand.as_ref().map(|b| b.domain.clone()));
            let catalogs = sales_non_guaranteed::catalogs(ctx).await?;
            let item = studio::named_item(&message, catalogs.iter().flat_map(|c| c.items()));
            let Some(copy) = studio::copy(&message, &manifest, item, brand.as_deref()) else {
                return Err(AdcpError::invalid_request(
                    "message",
                    "say what the creative is for (\"a banner for ...\"), quote its headline, or give a brief or a headline asset",
                ));
            };
            let (multi, targets) = match (&req.target_format_ids, &req.target_format_id) {
                (Some(ids), _) if !ids.is_empty() => (true, ids.clone()),
                (_, Some(id)) => (false, vec![id.clone()]),
                _ => {
                    return Err(AdcpError::invalid_request(
                        "target_format_id",
                        "name the format to generate",
                    ));
                }
            };
            let mut manifests = Vec::with_capacity(targets.len());
            for (i, t) in targets.iter().enumerate() {
                let at = if multi {
                    format!("target_format_ids[{i}]")
                } else {
                    "target_format_id".into()
                };
                manifests.push(self.generate(ctx, t, &at, &copy, brand.as_deref()).await?);
            }
            let mut out = if multi {
                json!({"creative_manifests": manifests})
            } else {
                json!({"creative_manifest": manifests[0]})
            };
            if req.include_preview == Some(true) {
                out["preview"] = preview(ctx, &manifests).await?;
            }
            answer(out, "a generated creative")
        }
    }
    delegate seller: media_buying, sync_catalogs, preview_creative, controller
}

/// A preview of the generated creatives: a page showing each, hosted.
async fn preview(ctx: &Ctx, manifests: &[Value]) -> AdcpResult<Value> {
    let mut previews = Vec::new();
    for m in manifests {
        let a = &m["assets"]["image"];
        let img = format!(
            "<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"\">",
            a["url"].as_str().unwrap_or_default().replace('"', "%22"),
            a["width"],
            a["height"]
        );
        let page = format!("<!doctype html><html><body>{img}</body></html>");
        let url = ctx.host_preview(page, KEPT).await?;
        previews.push(json!({"preview_id": ctx.new_id("pv"), "format_id": m["format_id"],
            "renders": [{"render_id": "primary", "output_format": "url", "preview_url": url, "role": "primary",
                         "dimensions": {"width": a["width"], "height": a["height"]}}],
            "input": {"name": m["format_id"]["id"]}}));
    }
    Ok(json!({"previews": previews, "expires_at": time::rfc3339(ctx.now() + KEPT)}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_formats_are_valid() {
        let seller = sales_non_guaranteed::Seller::new(false)
            .with_products(super::products())
            .and_then(|s| s.with_formats(super::formats()));
        assert!(seller.is_ok(), "{:?}", seller.err());
    }
}
