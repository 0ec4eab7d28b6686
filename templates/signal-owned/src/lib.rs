//! A signals agent for first-party segments: a publisher sells audiences built from its own
//! readers (`signal-owned`). A buyer finds them by brief (`signal_spec`, matched word by word
//! on a segment's name, description and topics, best match first), by id, or by filters
//! (price, coverage, provider, catalogue type), a page at a time, each showing where the
//! buyer's account already has it live. It activates one on the platforms and agents it
//! names (`activate_signal`): each destination gets an activation key, the same key every
//! time it is activated again, and `action: deactivate` takes it down.
//!
//! Activations are kept per account in the store. Accounts, tasks, idempotency, validation
//! and the envelope are the runtime's.

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, Ctx, Page, Serve, Stores, codes,
    decisioning_platform,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The domain the publisher's data is sold as.
const PROVIDER: &str = "trailhead-media.example";

/// The account's live deployments of each segment, by segment id.
const ACTIVATIONS: Collection<Vec<Live>> = Collection::new("activations");

/// A segment live on one destination for an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Live {
    /// The destination as the buyer named it.
    destination: Destination,
    /// Its activation key there.
    key: String,
}

/// A segment: the fields of its signal (`id`, `name`, `description`, `coverage`,
/// `value_type`, `range`, `categories`, `pricing_options`) and the topics a brief finds it by.
struct Segment {
    id: String,
    topics: Vec<String>,
    fields: serde_json::Value,
}

/// The publisher's segments: `(id, name, description, topics, coverage %, CPM in USD)`.
const SEGMENTS: &[(&str, &str, &str, &str, f64, f64)] = &[
    (
        "outdoor_enthusiasts",
        "Outdoor enthusiasts",
        "Readers of hiking, camping and climbing coverage at least weekly over the last 90 days",
        "outdoor hiking camping climbing adventure audience",
        12.0,
        1.5,
    ),
    (
        "trail_runners",
        "Trail runners",
        "Readers of trail running gear reviews and race reports",
        "running trail fitness sports gear audience",
        3.5,
        2.25,
    ),
    (
        "ski_season_planners",
        "Ski season planners",
        "Readers comparing resorts, passes and ski gear since September",
        "ski snow winter travel resort audience",
        4.0,
        2.0,
    ),
    (
        "new_parents",
        "New parents",
        "Readers of family camping and kid-friendly trail guides",
        "family parents kids camping audience",
        6.0,
        1.75,
    ),
    (
        "gear_buyers_in_market",
        "Gear buyers in market",
        "Readers who clicked through to a retailer from a gear review in the last 30 days",
        "gear shopping purchase intent retail audience",
        2.0,
        3.5,
    ),
    (
        "weekend_travelers",
        "Weekend travelers",
        "Readers of weekend trip itineraries and lodging guides",
        "travel weekend lodging trips audience",
        8.0,
        1.25,
    ),
    (
        "electric_vehicle_curious",
        "EV curious outdoor readers",
        "Readers of road-trip and charging-route coverage for electric vehicles",
        "ev electric vehicle automotive road trip audience",
        1.5,
        3.0,
    ),
];

/// What the compliance storyboards activate by id (their test kit's retailer CDP, Prism):
/// listed under compliance testing only.
fn fixtures() -> Vec<Segment> {
    let seg = |id: &str, topics: &str, fields: serde_json::Value| Segment {
        id: id.to_owned(),
        topics: topics.split(' ').map(str::to_owned).collect(),
        fields,
    };
    vec![
        seg(
            "prism_high_ltv",
            "high value customers ltv loyalty purchase electronics audience",
            json!({"name": "High LTV Customers",
            "description": "Loyalty members in the top decile of lifetime value, with purchase history", "value_type": "binary", "coverage": 12.0,
            "pricing_options": [{"pricing_option_id": "po_prism_flat_monthly", "model": "flat_fee", "amount": 5000.0, "period": "monthly", "currency": "USD"}]}),
        ),
        seg(
            "prism_cart_abandoner",
            "cart abandoners purchase intent behavior electronics audience",
            json!({"name": "Cart Abandoners",
            "description": "Shoppers who left items in the cart in the last 14 days", "value_type": "binary", "coverage": 18.0,
            "pricing_options": [{"pricing_option_id": "po_prism_abandoner_cpm", "model": "cpm", "cpm": 8.0, "currency": "USD"}]}),
        ),
        seg(
            "prism_engagement_score",
            "engagement score loyalty behavior audience",
            json!({"name": "Engagement Score",
            "description": "How engaged a loyalty member is, from 0 to 100", "value_type": "numeric", "range": {"min": 0, "max": 100}, "coverage": 65.0,
            "pricing_options": [{"pricing_option_id": "po_prism_engagement_cpm", "model": "cpm", "cpm": 2.5, "currency": "USD"}]}),
        ),
        seg(
            "prism_churn_risk",
            "churn risk loyalty retention behavior audience",
            json!({"name": "Churn Risk",
            "description": "A loyalty member's risk of lapsing", "value_type": "categorical", "categories": ["low_risk", "medium_risk", "high_risk", "churned"], "coverage": 70.0,
            "pricing_options": [{"pricing_option_id": "po_prism_churn_pom", "model": "percent_of_media", "percent": 12.0, "max_cpm": 3.0, "currency": "USD"}]}),
        ),
    ]
}

/// The agent's segments: the publisher's, and with `test_fixtures` the storyboards'.
fn catalogue(test_fixtures: bool) -> Vec<Segment> {
    let mut out: Vec<Segment> = SEGMENTS
        .iter()
        .map(|(id, name, description, topics, coverage, cpm)| Segment {
            id: (*id).to_owned(),
            topics: topics.split(' ').map(str::to_owned).collect(),
            fields: json!({"name": name, "description": description, "value_type": "binary", "coverage": coverage,
                           "pricing_options": [{"pricing_option_id": "cpm_standard", "model": "cpm", "cpm": cpm, "currency": "USD"}]}),
        })
        .collect();
    if test_fixtures {
        out.extend(fixtures());
    }
    out
}

impl Segment {
    fn coverage(&self) -> f64 {
        self.fields["coverage"].as_f64().unwrap_or_default()
    }

    /// Its lowest CPM (a flat fee or share of media has none).
    fn cpm(&self) -> Option<f64> {
        self.fields["pricing_options"]
            .as_array()?
            .iter()
            .filter_map(|p| p["cpm"].as_f64().or_else(|| p["max_cpm"].as_f64()))
            .reduce(f64::min)
    }

    fn priced_by(&self, option: &str) -> bool {
        self.fields["pricing_options"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["pricing_option_id"] == option))
    }

    /// As the wire shows it, for this agent at `agent_url`.
    fn signal(&self, agent_url: &str) -> AdcpResult<Signal> {
        let f = &self.fields;
        let mut v = json!({
            "signal_id": {"source": "agent", "agent_url": agent_url, "id": self.id},
            "signal_agent_segment_id": self.id,
            "name": f["name"],
            "description": f["description"],
            "value_type": f["value_type"],
            "signal_type": "owned",
            "data_provider": PROVIDER,
            "coverage_percentage": f["coverage"],
            "deployments": [],
            "pricing_options": f["pricing_options"],
        });
        for k in ["range", "categories"] {
            if let Some(x) = f.get(k) {
                v[k] = x.clone();
            }
        }
        decode(v).map_err(|e| AdcpError::internal(format!("segment `{}`: {}", self.id, e.message)))
    }

    /// How well it matches the brief's words (0: not at all).
    fn score(&self, words: &[String]) -> usize {
        let text = format!(
            "{} {} {} {}",
            self.id,
            self.fields["name"].as_str().unwrap_or_default(),
            self.fields["description"].as_str().unwrap_or_default(),
            self.topics.join(" ")
        )
        .to_lowercase();
        words.iter().filter(|w| text.contains(w.as_str())).count()
    }

    /// Whether it passes the request's filters.
    fn passes(&self, f: &SignalFilters) -> bool {
        f.catalog_types
            .as_ref()
            .is_none_or(|t| t.contains(&SignalCatalogType::Owned))
            && f.data_providers
                .as_ref()
                .is_none_or(|p| p.iter().any(|p| p.eq_ignore_ascii_case(PROVIDER)))
            && f.max_cpm.is_none_or(|m| self.cpm().is_some_and(|c| c <= m))
            && f.min_coverage_percentage
                .is_none_or(|m| self.coverage() >= m)
    }
}

use GetSignalsResponseSignalsItem as Signal;

/// The agent.
pub struct Audiences {
    segments: Vec<Segment>,
}

impl Audiences {
    /// The agent; `test_fixtures` adds the segments the compliance storyboards activate.
    pub fn new(test_fixtures: bool) -> Self {
        Audiences {
            segments: catalogue(test_fixtures),
        }
    }
}

/// Whether two destinations are the same place (platform or agent, and account).
fn same(a: &Destination, b: &Destination) -> bool {
    match (a, b) {
        (Destination::Platform(x), Destination::Platform(y)) => {
            x.platform.eq_ignore_ascii_case(&y.platform) && x.account == y.account
        }
        (Destination::Agent(x), Destination::Agent(y)) => {
            x.agent_url == y.agent_url && x.account == y.account
        }
        _ => false,
    }
}

/// A deployment of a segment on `d`: live with its key, or not live.
fn deployment(d: &Destination, key: Option<&str>) -> Deployment {
    let key = key.map(|k| ActivationKey::SegmentId(ActivationKeySegmentId::new(k)));
    let live = key.is_some();
    match d {
        Destination::Platform(p) => {
            let mut out = DeploymentPlatform::new(live, p.platform.clone());
            out.account.clone_from(&p.account);
            out.activation_key = key;
            Deployment::Platform(out)
        }
        Destination::Agent(a) => {
            let mut out = DeploymentAgent::new(a.agent_url.clone(), live);
            out.account.clone_from(&a.account);
            out.activation_key = key;
            Deployment::Agent(out)
        }
    }
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs first-party signals agent".into(),
        description: "A publisher's first-party audience segments (adcp-rs template)".into(),
        compliance_testing,
        ..Config::default()
    }
}

/// The agent on `config` and `stores`.
pub fn agent(config: Config, stores: Stores) -> Serve<Audiences> {
    adcp_runtime::serve(Audiences::new(config.compliance_testing))
        .config(config)
        .stores(stores)
}

#[decisioning_platform(specialisms(signal_owned), accounts = explicit)]
impl Audiences {
    /// Segments by brief, id or filters, best match first, each with its deployments on the
    /// destinations the request names (else where the account has it live).
    pub async fn get_signals(
        &self,
        ctx: &Ctx,
        req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        let words: Vec<String> = req
            .signal_spec
            .as_deref()
            .unwrap_or_default()
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_owned)
            .collect();
        let ids: Option<Vec<&str>> = req.signal_ids.as_ref().map(|ids| {
            ids.iter()
                .map(|i| match i {
                    SignalId::Agent(a) => a.id.as_str(),
                    SignalId::Catalog(c) => c.id.as_str(),
                })
                .collect()
        });
        let mut found: Vec<(usize, &Segment)> = self
            .segments
            .iter()
            .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.id.as_str())))
            .filter(|s| req.filters.as_ref().is_none_or(|f| s.passes(f)))
            .map(|s| (s.score(&words), s))
            .filter(|(n, _)| words.is_empty() || *n > 0)
            .collect();
        // Best match first, then the widest reach.
        found.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.coverage().total_cmp(&a.1.coverage()))
        });
        let specs: Vec<&Segment> = found.into_iter().map(|(_, s)| s).collect();
        // `max_results` is the page size when the request's pagination names none.
        let mut paging = req.pagination.clone();
        if let Some(m) = req.max_results
            && paging.as_ref().is_none_or(|p| p.max_results.is_none())
        {
            let mut p = paging.unwrap_or_default();
            p.max_results = Some(m);
            paging = Some(p);
        }
        let (page, pagination) = Page::of(paging.as_ref(), &specs)?;
        let mut signals = Vec::with_capacity(page.len());
        for s in page {
            let mut out = s.signal(ctx.agent_url())?;
            let live = ctx
                .state()
                .get(ACTIVATIONS, &s.id)
                .await?
                .unwrap_or_default();
            out.deployments = match &req.destinations {
                Some(asked) => asked
                    .iter()
                    .map(|d| {
                        let key = live.iter().find(|l| same(&l.destination, d));
                        deployment(d, key.map(|l| l.key.as_str()))
                    })
                    .collect(),
                None => live
                    .iter()
                    .map(|l| deployment(&l.destination, Some(&l.key)))
                    .collect(),
            };
            signals.push(out);
        }
        let mut resp = GetSignalsResponse::new(signals);
        resp.pagination = Some(pagination);
        Ok(resp)
    }

    /// Puts a segment live on each destination named (a destination activated before keeps
    /// its key), or takes it down (`action: deactivate`).
    pub async fn activate_signal(
        &self,
        ctx: &Ctx,
        req: ActivateSignalRequest,
    ) -> AdcpResult<ActivateSignalSuccess> {
        let id = req.signal_agent_segment_id.clone();
        let Some(segment) = self.segments.iter().find(|s| s.id == id) else {
            return Err(AdcpError::not_found(
                codes::SIGNAL_NOT_FOUND,
                "signal_agent_segment_id",
                "signal",
            ));
        };
        if let Some(po) = &req.pricing_option_id
            && !segment.priced_by(po)
        {
            return Err(AdcpError::invalid_request(
                "pricing_option_id",
                format!("segment `{id}` has no pricing option `{po}`"),
            ));
        }
        if req.destinations.is_empty() {
            return Err(AdcpError::invalid_request(
                "destinations",
                "name where the segment goes live",
            ));
        }
        let off = req.action == Some(ActivateSignalRequestAction::Deactivate);
        let fresh: Vec<String> = req.destinations.iter().map(|_| ctx.new_id("seg")).collect();
        let deployments = ctx
            .state()
            .entry(ACTIVATIONS, &id, |slot| {
                let live = slot.get_or_insert_with(Vec::new);
                let mut out = Vec::with_capacity(req.destinations.len());
                for (d, new_key) in req.destinations.iter().zip(&fresh) {
                    let at = live.iter().position(|l| same(&l.destination, d));
                    match (off, at) {
                        (true, Some(i)) => {
                            live.remove(i);
                            out.push(deployment(d, None));
                        }
                        (true, None) => out.push(deployment(d, None)),
                        (false, Some(i)) => out.push(deployment(d, Some(&live[i].key))),
                        (false, None) => {
                            live.push(Live {
                                destination: d.clone(),
                                key: new_key.clone(),
                            });
                            out.push(deployment(d, Some(new_key)));
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(ActivateSignalSuccess::new(deployments))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_segment_is_a_valid_signal() {
        for s in super::catalogue(true) {
            let signal = s.signal("https://signals.example/mcp");
            assert!(signal.is_ok(), "{}: {:?}", s.id, signal.err());
        }
    }
}
