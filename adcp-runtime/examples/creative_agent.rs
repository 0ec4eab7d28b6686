//! A creative agent (`creative-template`): formats that declare their assets, so a buyer knows
//! what to send, and `build_creative` that checks a manifest against its format and renders
//! the HTML that serves it.
//!
//! Run with:
//!
//! ```text
//! cargo run -p adcp-runtime --features cli --example creative_agent -- --memory
//! ```
//!
//! Check with the official runner (another terminal):
//!
//! ```text
//! npx -y @adcp/sdk@6.11.0 storyboard run http://127.0.0.1:3000/mcp creative_template --allow-http
//! ```

use adcp_runtime::Page;
use adcp_runtime::wire::{
    BuildCreativeRequest, BuildCreativeSuccess, CreativeManifest, Format,
    ListCreativeFormatsRequest, ListCreativeFormatsResponse, decode,
};
use adcp_runtime::{AdcpError, AdcpResult, Config, Ctx, decisioning_platform};
use clap::Parser;
use serde_json::json;

struct Templates;

/// The formats, each naming the assets a manifest must carry (`image`, `click_url`).
fn formats(agent_url: &str) -> Vec<Format> {
    let banner = |id: &str, w: u32, h: u32| {
        json!({
            "format_id": {"agent_url": agent_url, "id": id},
            "name": format!("Banner {w}x{h}"),
            "assets": [
                {"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true,
                 "requirements": {"width": w, "height": h}},
                {"item_type": "individual", "asset_id": "click_url", "asset_type": "url", "required": true},
            ],
        })
    };
    [
        banner("banner_300x250", 300, 250),
        banner("banner_728x90", 728, 90),
    ]
    .into_iter()
    .map(|f| decode(f).expect("the formats are valid"))
    .collect()
}

#[decisioning_platform(specialisms(creative_template))]
impl Templates {
    async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        let (page, pagination) = Page::take(req.pagination.as_ref(), formats(ctx.agent_url()))?;
        let mut resp = ListCreativeFormatsResponse::new(page);
        resp.pagination = Some(pagination);
        Ok(resp)
    }

    async fn build_creative(
        &self,
        ctx: &Ctx,
        req: BuildCreativeRequest,
    ) -> AdcpResult<BuildCreativeSuccess> {
        let manifest = req.creative_manifest.ok_or_else(|| {
            AdcpError::invalid_request("creative_manifest", "send the manifest to build")
        })?;
        let target = req
            .target_format_id
            .unwrap_or_else(|| manifest.format_id.clone());
        let Some(format) = formats(ctx.agent_url())
            .into_iter()
            .find(|f| f.format_id.id == target.id)
        else {
            return Err(AdcpError::invalid_request(
                "target_format_id",
                "this agent has no such format",
            ));
        };
        // Every asset the format requires must be in the manifest, under its asset id.
        for required in ["image", "click_url"] {
            if !manifest.assets.extra.contains_key(required) {
                return Err(AdcpError::invalid_request(
                    format!("creative_manifest.assets.{required}"),
                    format!(
                        "format `{}` requires the `{required}` asset",
                        format.format_id.id
                    ),
                ));
            }
        }
        let html = format!(
            "<a href=\"{{{{CLICK_URL}}}}\"><img src=\"{{{{IMAGE}}}}\" alt=\"{}\"></a>",
            format.name
        );
        let mut built = CreativeManifest::new(manifest.assets, target);
        built.assets.extra.insert(
            "serving_html".into(),
            json!({"asset_type": "html", "content": html}),
        );
        Ok(BuildCreativeSuccess::new(built))
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(Config {
        name: "example creative agent".into(),
        ..Config::default()
    })?;
    adcp_runtime::serve(Templates)
        .config(config)
        .stores(cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
