//! A signals agent for a data marketplace: third-party segments (cohorts) from data
//! providers' catalogues, resold to agencies, over the marketplace's HTTP API (the SDK's
//! `signal-marketplace` mock, in tests).
//!
//! - Each agency is an operator of the marketplace, which shows and prices cohorts per
//!   operator: the account's operator is looked up once (`/_lookup/operator`) and named on
//!   every call (`X-Operator-Id`).
//! - A segment's `signal_id` is the provider's own catalogue entry (`source: catalog`, the
//!   provider's domain and id), which a buyer can verify against the provider's
//!   `adagents.json`; its `signal_agent_segment_id` is the marketplace's cohort.
//! - `get_signals`: by brief (ranked by the brief's words, best first, then reach), by
//!   catalogue id, by filters, a page at a time, each with its deployments.
//! - `activate_signal`: the buyer's plan decides it first (this agent is also its buyers'
//!   spend authority, the `governance` template's plans composed, asked through
//!   `Ctx::govern`), then one activation per destination. A DSP's goes live asynchronously:
//!   the marketplace is polled briefly, and a deployment not yet live says how long it should
//!   take.
//!
//! Accounts, tasks, idempotency, validation and the envelope are the runtime's.

use std::collections::HashMap;
use std::sync::Mutex;

use adcp_runtime::governance::Purchase;
use adcp_runtime::time;
use adcp_runtime::upstream::Upstream;
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, ControllerReply, Ctx, Page, ScenarioParams, Serve,
    Stores, codes, decisioning_platform,
};
use governance::Governance;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The activations of an account, by cohort.
const ACTIVATIONS: Collection<Vec<Live>> = Collection::new("marketplace_activations");

/// How many times an activation still going live is looked at before answering.
const POLLS: usize = 3;

/// How long a DSP takes to make a segment live, once the marketplace has it.
const ACTIVATION_MINUTES: f64 = 60.0;

/// A cohort as the marketplace lists it.
#[derive(Clone, Debug, Deserialize)]
struct Cohort {
    cohort_id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    member_count: i64,
    total_universe: i64,
    data_provider_domain: String,
    data_provider_id: String,
    data_provider_name: String,
    value_type: String,
    #[serde(default)]
    range: Option<Value>,
    #[serde(default)]
    categories: Option<Value>,
    pricing: Vec<Tier>,
}

/// A price the marketplace offers the operator for a cohort.
#[derive(Clone, Debug, Deserialize)]
struct Tier {
    pricing_id: String,
    model: String,
    #[serde(default)]
    cpm_amount: Option<f64>,
    currency: String,
    #[serde(default)]
    minimum_spend: Option<f64>,
}

/// A place the marketplace delivers cohorts to.
#[derive(Clone, Debug, Deserialize)]
struct Place {
    destination_id: String,
    #[serde(default)]
    platform_code: Option<String>,
    #[serde(default)]
    agent_url: Option<String>,
}

/// An activation as the marketplace reports it.
#[derive(Clone, Debug, Deserialize)]
struct Activation {
    activation_id: String,
    status: String,
    #[serde(default)]
    platform_segment_id: Option<String>,
    #[serde(default)]
    agent_activation_key: Option<Value>,
}

/// A cohort put on a destination for the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Live {
    destination: Destination,
    activation_id: String,
    /// Its key once live.
    key: Option<ActivationKey>,
    deployed_at: Option<String>,
}

/// The marketplace, and the operators it knows agencies by.
pub struct Marketplace {
    upstream: Upstream,
    operators: Mutex<HashMap<String, String>>,
    governance: Governance,
}

impl Marketplace {
    /// The marketplace at `url`, with its API key.
    pub fn new(url: &str, key: &str) -> Self {
        Marketplace {
            upstream: Upstream::new(url).bearer(key),
            operators: Mutex::default(),
            governance: Governance,
        }
    }

    /// The marketplace's operator for the account's agency.
    async fn operator(&self, ctx: &Ctx, named: Option<&AccountRef>) -> AdcpResult<String> {
        let agency = ctx.account().operator.clone().or_else(|| {
            named
                .and_then(|a| serde_json::to_value(a).ok())
                .and_then(|a| a["operator"].as_str().map(str::to_owned))
        });
        let Some(agency) = agency else {
            return Err(AdcpError::invalid_request(
                "account",
                "name the account and its operator: the marketplace shows and prices segments per agency",
            ));
        };
        if let Some(id) = self.lock().get(&agency) {
            return Ok(id.clone());
        }
        let found: Option<Value> = self
            .upstream
            .get("/_lookup/operator")
            .query("adcp_operator", &agency)
            .send_opt()
            .await?;
        let Some(id) = found.and_then(|f| f["operator_id"].as_str().map(str::to_owned)) else {
            return Err(AdcpError::new(
                codes::ACCOUNT_SETUP_REQUIRED,
                format!("{agency} has no seat on the marketplace yet"),
            )
            .with_field("account.operator"));
        };
        self.lock().insert(agency, id.clone());
        Ok(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.operators.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn cohorts(&self, operator: &str) -> AdcpResult<Vec<Cohort>> {
        #[derive(Deserialize)]
        struct Listed {
            cohorts: Vec<Cohort>,
        }
        let listed: Listed = self
            .upstream
            .get("/v2/cohorts")
            .header("X-Operator-Id", operator)
            .send()
            .await?;
        Ok(listed.cohorts)
    }

    async fn places(&self, operator: &str) -> AdcpResult<Vec<Place>> {
        #[derive(Deserialize)]
        struct Listed {
            destinations: Vec<Place>,
        }
        let listed: Listed = self
            .upstream
            .get("/v2/destinations")
            .header("X-Operator-Id", operator)
            .send()
            .await?;
        Ok(listed.destinations)
    }

    /// Looks at an activation until it is live, a few times.
    async fn settle(&self, operator: &str, mut a: Activation) -> AdcpResult<Activation> {
        for _ in 0..POLLS {
            if a.status == "active" || a.status == "failed" {
                break;
            }
            a = self
                .upstream
                .get(&format!("/v2/activations/{}", a.activation_id))
                .header("X-Operator-Id", operator)
                .send()
                .await?;
        }
        Ok(a)
    }
}

impl Cohort {
    fn coverage(&self) -> f64 {
        if self.total_universe <= 0 {
            return 0.0;
        }
        (self.member_count as f64 / self.total_universe as f64 * 1000.0).round() / 10.0
    }

    fn cpm(&self) -> Option<f64> {
        self.pricing
            .iter()
            .filter_map(|t| t.cpm_amount)
            .reduce(f64::min)
    }

    /// The brief's words it shows (in its name, description, category or provider).
    fn score(&self, words: &[String]) -> usize {
        let text = format!(
            "{} {} {} {}",
            self.name, self.description, self.category, self.data_provider_name
        )
        .to_lowercase();
        let mine: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        words.iter().filter(|w| mine.contains(&w.as_str())).count()
    }

    fn passes(&self, f: &SignalFilters) -> bool {
        f.catalog_types
            .as_ref()
            .is_none_or(|t| t.contains(&SignalCatalogType::Marketplace))
            && f.data_providers.as_ref().is_none_or(|p| {
                p.iter().any(|p| {
                    p.eq_ignore_ascii_case(&self.data_provider_name)
                        || p.eq_ignore_ascii_case(&self.data_provider_domain)
                })
            })
            && f.max_cpm.is_none_or(|m| self.cpm().is_some_and(|c| c <= m))
            && f.min_coverage_percentage
                .is_none_or(|m| self.coverage() >= m)
    }

    fn is(&self, id: &SignalId, agent_url: &str) -> bool {
        match id {
            SignalId::Catalog(c) => {
                c.data_provider_domain
                    .eq_ignore_ascii_case(&self.data_provider_domain)
                    && c.id == self.data_provider_id
            }
            SignalId::Agent(a) => a.agent_url == agent_url && a.id == self.cohort_id,
        }
    }

    fn signal(&self) -> AdcpResult<Signal> {
        let pricing: Vec<Value> = self
            .pricing
            .iter()
            .map(|t| {
                let mut p = json!({"pricing_option_id": t.pricing_id, "model": t.model,
                                   "currency": t.currency});
                if let Some(c) = t.cpm_amount {
                    p["cpm"] = json!(c);
                }
                if let Some(m) = t.minimum_spend {
                    p["min_spend"] = json!(m);
                }
                p
            })
            .collect();
        let mut v = json!({
            "signal_id": {"source": "catalog", "data_provider_domain": self.data_provider_domain,
                          "id": self.data_provider_id},
            "signal_agent_segment_id": self.cohort_id,
            "name": self.name,
            "description": self.description,
            "value_type": self.value_type,
            "signal_type": "marketplace",
            "data_provider": self.data_provider_name,
            "coverage_percentage": self.coverage(),
            "deployments": [],
            "pricing_options": pricing,
        });
        for (k, x) in [("range", &self.range), ("categories", &self.categories)] {
            if let Some(x) = x {
                v[k] = x.clone();
            }
        }
        decode(v).map_err(|e| {
            AdcpError::internal(format!(
                "cohort `{}`: {}: {}",
                self.cohort_id, e.path, e.message
            ))
        })
    }
}

use GetSignalsResponseSignalsItem as Signal;

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

/// A deployment on `d`: live with its key, going live, or not there.
fn deployment(d: &Destination, live: Option<&Live>) -> Deployment {
    let key = live.and_then(|l| l.key.clone());
    let is_live = key.is_some();
    let pending = live.is_some() && !is_live;
    let eta = pending.then_some(ACTIVATION_MINUTES);
    let at = live.and_then(|l| l.deployed_at.clone());
    match d {
        Destination::Platform(p) => {
            let mut out = DeploymentPlatform::new(is_live, p.platform.clone());
            out.account.clone_from(&p.account);
            out.activation_key = key;
            out.estimated_activation_duration_minutes = eta;
            out.deployed_at = at;
            Deployment::Platform(out)
        }
        Destination::Agent(a) => {
            let mut out = DeploymentAgent::new(a.agent_url.clone(), is_live);
            out.account.clone_from(&a.account);
            out.activation_key = key;
            out.estimated_activation_duration_minutes = eta;
            out.deployed_at = at;
            Deployment::Agent(out)
        }
    }
}

/// The key of a live activation: the DSP's segment id, or the agent's key-value.
fn key_of(a: &Activation) -> Option<ActivationKey> {
    if a.status != "active" {
        return None;
    }
    if let Some(s) = &a.platform_segment_id {
        return Some(ActivationKey::SegmentId(ActivationKeySegmentId::new(
            s.clone(),
        )));
    }
    let (k, v) = a
        .agent_activation_key
        .as_ref()?
        .as_object()?
        .iter()
        .next()?;
    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    Some(ActivationKey::KeyValue(ActivationKeyKeyValue::new(
        k.clone(),
        v,
    )))
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs signal marketplace".into(),
        description: "Third-party audience segments from data providers' catalogues, resold per agency (adcp-rs template)".into(),
        compliance_testing,
        ..Config::default()
    }
}

/// The agent on `config`, `stores` and `market`.
pub fn agent(config: Config, stores: Stores, market: Marketplace) -> Serve<Marketplace> {
    adcp_runtime::serve(market).config(config).stores(stores)
}

#[decisioning_platform(specialisms(signal_marketplace), accounts = explicit)]
impl Marketplace {
    /// Cohorts by brief (ranked), catalogue id or filters, a page at a time, each with its
    /// deployments on the destinations named (else where the account has it).
    pub async fn get_signals(
        &self,
        ctx: &Ctx,
        req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        let operator = self.operator(ctx, req.account.as_ref()).await?;
        let words: Vec<String> = req
            .signal_spec
            .as_deref()
            .unwrap_or_default()
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_owned)
            .collect();
        let mut found: Vec<(usize, Cohort)> = self
            .cohorts(&operator)
            .await?
            .into_iter()
            .filter(|c| {
                req.signal_ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|i| c.is(i, ctx.agent_url())))
            })
            .filter(|c| req.filters.as_ref().is_none_or(|f| c.passes(f)))
            .map(|c| (c.score(&words), c))
            .collect();
        // Best match first, then the widest reach: a brief ranks the catalogue, it does not
        // narrow it.
        found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.member_count.cmp(&a.1.member_count)));
        let mut paging = req.pagination.clone();
        if let Some(m) = req.max_results
            && paging.as_ref().is_none_or(|p| p.max_results.is_none())
        {
            let mut p = paging.unwrap_or_default();
            p.max_results = Some(m);
            paging = Some(p);
        }
        let (page, pagination) = Page::take(paging.as_ref(), found)?;
        let mut signals = Vec::with_capacity(page.len());
        for (_, c) in page {
            let mut out = c.signal()?;
            let live = ctx
                .state()
                .get(ACTIVATIONS, &c.cohort_id)
                .await?
                .unwrap_or_default();
            out.deployments = match &req.destinations {
                Some(asked) => asked
                    .iter()
                    .map(|d| deployment(d, live.iter().find(|l| same(&l.destination, d))))
                    .collect(),
                None => live
                    .iter()
                    .map(|l| deployment(&l.destination, Some(l)))
                    .collect(),
            };
            signals.push(out);
        }
        let mut resp = GetSignalsResponse::new(signals);
        resp.pagination = Some(pagination);
        Ok(resp)
    }

    /// Puts a cohort on each destination named, once the buyer's plan allows what it commits.
    pub async fn activate_signal(
        &self,
        ctx: &Ctx,
        req: ActivateSignalRequest,
    ) -> AdcpResult<ActivateSignalSuccess> {
        if req.action == Some(ActivateSignalRequestAction::Deactivate) {
            return Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                "the marketplace takes activations down only when they lapse: it has no deactivation",
            )
            .with_field("action"));
        }
        let operator = self.operator(ctx, req.account.as_ref()).await?;
        let id = req.signal_agent_segment_id.clone();
        // Among the cohorts the operator sees: another operator's is as unknown as one that
        // does not exist.
        let cohort = self
            .cohorts(&operator)
            .await?
            .into_iter()
            .find(|c| c.cohort_id == id);
        let Some(cohort) = cohort else {
            return Err(AdcpError::not_found(
                codes::SIGNAL_NOT_FOUND,
                "signal_agent_segment_id",
                "signal",
            ));
        };
        if req.destinations.is_empty() {
            return Err(AdcpError::invalid_request(
                "destinations",
                "name where the segment goes live",
            ));
        }
        // What it commits, for the buyer's plan: the tier's minimum spend, or one impression
        // per member at the tier's CPM, whichever is more.
        let tier = req
            .pricing_option_id
            .as_ref()
            .and_then(|p| cohort.pricing.iter().find(|t| &t.pricing_id == p))
            .or(cohort.pricing.first());
        let total = tier.and_then(|t| {
            let reach = t
                .cpm_amount
                .map(|c| c * cohort.member_count as f64 / 1000.0);
            match (reach, t.minimum_spend) {
                (Some(r), Some(m)) => Some(r.max(m)),
                (r, m) => r.or(m),
            }
        });
        let mut payload = serde_json::to_value(&req)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        payload.remove("destinations");
        let purchase = Purchase {
            purchase_type: "signal_activation".into(),
            tool: "activate_signal".into(),
            total,
            start: None,
            end: None,
            payload,
        };
        let decision = ctx.govern(&purchase).await?;
        let Some(pricing) = &req.pricing_option_id else {
            return Err(AdcpError::invalid_request(
                "pricing_option_id",
                "name the pricing option: the marketplace bills activations by it",
            ));
        };
        if !cohort.pricing.iter().any(|t| &t.pricing_id == pricing) {
            return Err(AdcpError::invalid_request(
                "pricing_option_id",
                format!("segment `{id}` has no pricing option `{pricing}`"),
            ));
        }
        let places = self.places(&operator).await?;
        let mut targets = Vec::with_capacity(req.destinations.len());
        for (i, d) in req.destinations.iter().enumerate() {
            let place = places.iter().find(|p| match d {
                Destination::Platform(x) => p
                    .platform_code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&x.platform)),
                Destination::Agent(x) => p.agent_url.as_deref() == Some(x.agent_url.as_str()),
            });
            let Some(place) = place else {
                return Err(AdcpError::invalid_request(
                    format!("destinations[{i}]"),
                    "the marketplace does not deliver there",
                ));
            };
            targets.push((d, place.destination_id.clone()));
        }
        let kept = ctx.state().get(ACTIVATIONS, &id).await?.unwrap_or_default();
        let key = ctx.idempotency_key().unwrap_or_default().to_owned();
        let mut done = Vec::with_capacity(targets.len());
        for (i, (d, destination_id)) in targets.into_iter().enumerate() {
            // A destination the cohort is already on is looked at again, not bought again.
            let started: Activation = match kept.iter().find(|l| same(&l.destination, d)) {
                Some(l) => {
                    self.upstream
                        .get(&format!("/v2/activations/{}", l.activation_id))
                        .header("X-Operator-Id", &operator)
                        .send()
                        .await?
                }
                None => {
                    self.upstream
                        .post(
                            "/v2/activations",
                            &json!({"cohort_id": id, "destination_id": destination_id,
                                    "pricing_id": pricing,
                                    "client_request_id": format!("{key}.{i}")}),
                        )
                        .header("X-Operator-Id", &operator)
                        .send()
                        .await?
                }
            };
            let a = self.settle(&operator, started).await?;
            if a.status == "failed" {
                return Err(AdcpError::new(
                    codes::SERVICE_UNAVAILABLE,
                    "the marketplace could not activate the segment there; try again later",
                )
                .with_field(format!("destinations[{i}]")));
            }
            let live_key = key_of(&a);
            done.push(Live {
                destination: d.clone(),
                activation_id: a.activation_id,
                deployed_at: live_key.as_ref().map(|_| time::rfc3339(ctx.now())),
                key: live_key,
            });
        }
        ctx.state()
            .entry(ACTIVATIONS, &id, |slot| {
                let live = slot.get_or_insert_with(Vec::new);
                for l in &done {
                    live.retain(|x| !same(&x.destination, &l.destination));
                    live.push(l.clone());
                }
                Ok(())
            })
            .await?;
        if let Some(d) = &decision {
            ctx.purchased(d, &purchase, &id).await;
        }
        let deployments: Vec<Deployment> = done
            .iter()
            .map(|l| deployment(&l.destination, Some(l)))
            .collect();
        Ok(ActivateSignalSuccess::new(deployments))
    }

    /// Keeps a buyer's plans (the governance template's).
    pub async fn sync_plans(
        &self,
        ctx: &Ctx,
        req: SyncPlansRequest,
    ) -> AdcpResult<SyncPlansResponse> {
        self.governance.sync_plans(ctx, req).await
    }

    /// Decides an activation against the buyer's plan (the runtime asks it of each one).
    pub async fn check_governance(
        &self,
        ctx: &Ctx,
        req: CheckGovernanceRequest,
    ) -> AdcpResult<CheckGovernanceResponse> {
        self.governance.check_governance(ctx, req).await
    }

    /// Records what was committed under an approval.
    pub async fn report_plan_outcome(
        &self,
        ctx: &Ctx,
        req: ReportPlanOutcomeRequest,
    ) -> AdcpResult<ReportPlanOutcomeResponse> {
        self.governance.report_plan_outcome(ctx, req).await
    }

    /// A buyer's plans, checks and outcomes.
    pub async fn get_plan_audit_logs(
        &self,
        ctx: &Ctx,
        req: GetPlanAuditLogsRequest,
    ) -> AdcpResult<GetPlanAuditLogsResponse> {
        self.governance.get_plan_audit_logs(ctx, req).await
    }

    /// Controller: seeds a plan, kept as `sync_plans` keeps one.
    async fn seed_plan(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.governance.seed_plan(ctx, p).await
    }

    /// Controller: a product a plan's check may name (the governance agent's fixture).
    async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.governance.seed_product(ctx, p).await
    }

    /// Controller: a pricing option of a seeded product.
    async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.governance.seed_pricing_option(ctx, p).await
    }

    /// Controller: a media buy under governance.
    async fn seed_media_buy(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.governance.seed_media_buy(ctx, p).await
    }
}
