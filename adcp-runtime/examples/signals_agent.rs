//! A signals agent with first-party segments (`signal-owned`): `get_signals` searches a small
//! catalogue a page at a time, `activate_signal` deploys a segment to the platforms the request
//! names and remembers the activation per account.
//!
//! Run with:
//!
//! ```text
//! cargo run -p adcp-runtime --features cli --example signals_agent -- --memory
//! ```
//!
//! Check with the official runner (another terminal):
//!
//! ```text
//! npx -y @adcp/sdk@6.11.0 storyboard run http://127.0.0.1:3000/mcp signals_baseline --allow-http
//! ```

use adcp_runtime::Collection;
use adcp_runtime::Page;
use adcp_runtime::wire::{
    ActivateSignalRequest, ActivateSignalSuccess, ActivationKey, ActivationKeySegmentId,
    Deployment, DeploymentAgent, DeploymentPlatform, Destination, GetSignalsRequest,
    GetSignalsResponse, GetSignalsResponseSignalsItem as Signal, decode,
};
use adcp_runtime::{AdcpError, AdcpResult, Config, Ctx, codes, decisioning_platform};
use clap::Parser;
use serde_json::json;

/// The deployments of each activated segment, per account.
const ACTIVATIONS: Collection<Vec<Deployment>> = Collection::new("activations");

struct Segments {
    catalogue: Vec<Signal>,
}

impl Segments {
    fn new() -> Self {
        let segment = |id: &str, name: &str, coverage: f64| {
            json!({
                "signal_id": {"source": "agent", "agent_url": "https://signals.example", "id": id},
                "signal_agent_segment_id": id,
                "name": name,
                "description": format!("{name}, from our first-party data"),
                "signal_type": "owned",
                "data_provider": "signals.example",
                "coverage_percentage": coverage,
                "deployments": [],
                "pricing_options": [{"pricing_option_id": "cpm_std", "model": "cpm", "cpm": 1.5, "currency": "USD"}],
            })
        };
        let catalogue = [
            segment("outdoor_enthusiasts", "Outdoor enthusiasts", 12.0),
            segment("trail_runners", "Trail runners", 3.5),
            segment("new_parents", "New parents", 6.0),
        ]
        .into_iter()
        .map(|s| decode(s).expect("the catalogue is valid"))
        .collect();
        Segments { catalogue }
    }
}

#[decisioning_platform(specialisms(signal_owned))]
impl Segments {
    async fn get_signals(
        &self,
        _ctx: &Ctx,
        req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        let spec = req
            .signal_spec
            .as_deref()
            .unwrap_or_default()
            .to_lowercase();
        let matching: Vec<&Signal> = self
            .catalogue
            .iter()
            .filter(|s| {
                spec.is_empty()
                    || spec
                        .split_whitespace()
                        .any(|w| s.name.to_lowercase().contains(w))
            })
            .collect();
        let (page, pagination) = Page::of(req.pagination.as_ref(), &matching)?;
        let mut resp =
            GetSignalsResponse::new(page.iter().map(|s| (*s).clone()).collect::<Vec<_>>());
        resp.pagination = Some(pagination);
        Ok(resp)
    }

    async fn activate_signal(
        &self,
        ctx: &Ctx,
        req: ActivateSignalRequest,
    ) -> AdcpResult<ActivateSignalSuccess> {
        if !self
            .catalogue
            .iter()
            .any(|s| s.signal_agent_segment_id == req.signal_agent_segment_id)
        {
            return Err(AdcpError::new(codes::SIGNAL_NOT_FOUND, "no such signal")
                .with_field("signal_agent_segment_id"));
        }
        // Each destination the buyer names gets a live deployment with an activation key.
        let key = || {
            Some(ActivationKey::SegmentId(ActivationKeySegmentId::new(
                ctx.new_id("seg"),
            )))
        };
        let deployments: Vec<Deployment> = req
            .destinations
            .iter()
            .map(|d| match d {
                Destination::Platform(p) => {
                    let mut live = DeploymentPlatform::new(true, p.platform.clone());
                    live.account.clone_from(&p.account);
                    live.activation_key = key();
                    Deployment::Platform(live)
                }
                Destination::Agent(a) => {
                    let mut live = DeploymentAgent::new(a.agent_url.clone(), true);
                    live.account.clone_from(&a.account);
                    live.activation_key = key();
                    Deployment::Agent(live)
                }
            })
            .collect();
        ctx.state()
            .put(ACTIVATIONS, &req.signal_agent_segment_id, &deployments)
            .await?;
        Ok(ActivateSignalSuccess::new(deployments))
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
        name: "example signals agent".into(),
        ..Config::default()
    })?;
    adcp_runtime::serve(Segments::new())
        .config(config)
        .stores(cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
