//! A creative-ad-server agent: an ad server's creative library, offered over AdCP (the SDK's
//! `creative-ad-server` mock, in tests: Innovid/CM360-shaped, a network per publisher).
//!
//! - `list_creative_formats`: the network's formats, each declaring the assets a creative in
//!   it is made of (an image of the slot's size, a video of its length, a click-through).
//! - `sync_creatives` / `list_creatives`: the library. A creative synced here is uploaded to
//!   the ad server and kept under the buyer's id, with its assets, its review status and its
//!   pricing; creatives already in the network's library are listed too.
//! - `build_creative`: the serving tag of a library creative for a media buy and package (the
//!   ad server fills its macros: click-through, asset, cache buster, the buy and package), as
//!   HTML or VAST. Each tag built for a buy is recorded.
//! - `preview_creative`: the tag of a library creative, rendered with the manifest's click
//!   and assets, as the ad server serves it.
//! - `get_creative_delivery`: the ad server's delivery of the creatives trafficked in the
//!   buys asked about (or the creatives named).
//! - `report_usage`: billing records against each creative's pricing option, checked.
//!
//! Accounts, tasks, idempotency, validation and the envelope are the runtime's.

mod network;

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, ControllerCode, ControllerReply, Ctx, Page,
    ScenarioParams, Serve, Stores, codes, decisioning_platform, formats, lifecycle,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use network::{Network, ServerCreative, ServerFormat};

/// The library as this agent knows it: creatives by the buyer's id.
const LIBRARY: Collection<Hosted> = Collection::new("ad_server_library");
/// Tags built for media buys, by `media_buy/package/creative`.
const TAGS: Collection<Trafficked> = Collection::new("ad_server_tags");
/// Usage accepted by `report_usage`.
const USAGE: Collection<Value> = Collection::new("ad_server_usage");
/// Formats the compliance controller seeds for an account, by id.
const SEEDED_FORMATS: Collection<Value> = Collection::new("seeded_formats");

/// The serving fee per thousand impressions, by the format's channel, when a creative's
/// pricing was not agreed otherwise.
const RATE_CARD: &[(&str, f64)] = &[("display", 0.10), ("video", 0.50), ("ctv", 0.75)];
const RATE_OTHER: f64 = 0.25;
const CURRENCY: &str = "USD";

/// A library creative.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hosted {
    creative_id: String,
    name: String,
    format_id: String,
    assets: Map<String, Value>,
    status: CreativeStatus,
    /// Its id at the ad server; none for a format the server does not have (a seeded one).
    server_id: Option<String>,
    /// Vendor pricing options (`core/vendor-pricing-option.json`).
    pricing: Vec<Value>,
    created: String,
    updated: String,
}

/// A tag built for a media buy.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Trafficked {
    media_buy_id: String,
    package_id: Option<String>,
    creative_id: String,
    server_id: String,
    built: String,
}

/// A creative of a delivery report: the buys it was trafficked in (asked about), and since
/// when.
struct Row {
    creative_id: String,
    server_id: Option<String>,
    buys: Vec<String>,
    since: Option<String>,
}

/// The agent: the ad server, and the advertiser whose network serves sandbox accounts.
pub struct AdServer {
    network: Network,
    default_advertiser: String,
}

impl AdServer {
    /// The ad server at `url` with its key; `default_advertiser` (a domain) for sandbox accounts
    /// whose brand has no network.
    pub fn new(url: &str, key: &str, default_advertiser: &str) -> Self {
        AdServer {
            network: Network::new(url, key),
            default_advertiser: default_advertiser.to_owned(),
        }
    }

    /// Where the account's creatives live at the ad server: its brand's network, else (a
    /// sandbox, or an account without a brand) the default advertiser's.
    async fn home(&self, ctx: &Ctx) -> AdcpResult<Home> {
        let account = ctx.account();
        // Uploads are filed under the account, so one buyer's never show in another's library.
        let advertiser = format!("{UPLOADED}{}", account.id);
        let brand = account.brand.as_ref().map(|b| b.domain.clone());
        if let Some(b) = &brand
            && let Some(network) = self.network.lookup(b).await?
        {
            return Ok(Home {
                network,
                advertiser,
                brand_library: true,
            });
        }
        if (brand.is_none() || ctx.sandbox())
            && let Some(network) = self.network.lookup(&self.default_advertiser).await?
        {
            return Ok(Home {
                network,
                advertiser,
                brand_library: false,
            });
        }
        Err(AdcpError::new(
            codes::ACCOUNT_SETUP_REQUIRED,
            format!(
                "{} has no network at the ad server yet",
                brand.as_deref().unwrap_or(&self.default_advertiser)
            ),
        )
        .with_field("account"))
    }

    /// A library creative: one kept here, else one of the brand's own library at the ad
    /// server (not uploaded through this agent), by its server id.
    async fn find(&self, ctx: &Ctx, id: &str) -> AdcpResult<Option<Hosted>> {
        if let Some(h) = ctx.state().get(LIBRARY, id).await? {
            return Ok(Some(h));
        }
        if ctx.fixtures_only() {
            return Ok(None);
        }
        let home = self.home(ctx).await?;
        if !home.brand_library {
            return Ok(None);
        }
        let Some(c) = self.network.creative(&home.network, id).await? else {
            return Ok(None);
        };
        if c.advertiser_id.starts_with(UPLOADED) {
            return Ok(None);
        }
        let formats = self.network.formats(&home.network).await?;
        Ok(Some(imported(&c, &formats)))
    }
}

/// The advertiser id prefix of creatives this agent uploads (then the account's id).
const UPLOADED: &str = "adcp-";

/// Where an account's creatives live at the ad server.
struct Home {
    network: String,
    /// The advertiser id its uploads are filed under.
    advertiser: String,
    /// Whether the network is the account's brand's own, whose library the account sees; a
    /// sandbox or brandless account borrowing the default network sees only its uploads.
    brand_library: bool,
}

/// A creative of the network's library that was not synced here.
fn imported(c: &ServerCreative, formats: &[ServerFormat]) -> Hosted {
    let mut assets = Map::new();
    if let Some(u) = &c.click_url {
        assets.insert("click_url".into(), json!({"asset_type": "url", "url": u}));
    }
    Hosted {
        creative_id: c.creative_id.clone(),
        name: c.name.clone(),
        format_id: c.format_id.clone(),
        assets,
        status: from_server(&c.status),
        server_id: Some(c.creative_id.clone()),
        pricing: formats
            .iter()
            .find(|f| f.format_id == c.format_id)
            .map(rate_card)
            .unwrap_or_default(),
        created: c.created_at.clone(),
        updated: c.updated_at.clone(),
    }
}

/// The ad server's serving status as a review status: a paused creative awaits review.
fn from_server(status: &str) -> CreativeStatus {
    match status {
        "paused" => CreativeStatus::PendingReview,
        "archived" => CreativeStatus::Archived,
        "rejected" => CreativeStatus::Rejected,
        _ => CreativeStatus::Approved,
    }
}

/// A review status as the ad server's serving status: only an approved creative serves.
fn to_server(status: CreativeStatus) -> &'static str {
    match status {
        CreativeStatus::Approved => "active",
        CreativeStatus::Archived => "archived",
        CreativeStatus::Rejected => "rejected",
        _ => "paused",
    }
}

/// The serving fee of a format, as the pricing option a creative in it starts with.
fn rate_card(f: &ServerFormat) -> Vec<Value> {
    let cpm = RATE_CARD
        .iter()
        .find(|(c, _)| *c == f.channel)
        .map_or(RATE_OTHER, |(_, r)| *r);
    vec![
        json!({"pricing_option_id": format!("po_{}_cpm", f.format_id), "model": "cpm",
                "cpm": cpm, "currency": CURRENCY}),
    ]
}

/// The asset a format's creative is made of: an image of the slot's size, or a video.
fn main_asset(f: &ServerFormat) -> &'static str {
    if f.is_video() { "video" } else { "image" }
}

/// A network format as an AdCP format declaring its assets.
fn format(agent_url: &str, f: &ServerFormat) -> Value {
    let mime = |m: &String| m.split('/').nth(1).map(|s| s.replace("jpeg", "jpg"));
    let (main, dims) = if f.is_video() {
        let mut r = json!({"formats": ["mp4"]});
        if let Some(s) = f.duration_seconds {
            r["max_duration_ms"] = json!(s * 1000);
        }
        (
            json!({"item_type": "individual", "asset_id": "video", "asset_type": "video",
                   "required": true, "requirements": r}),
            json!({"width": 1920, "height": 1080}),
        )
    } else {
        let kinds: Vec<String> = f
            .accepted_mimes
            .iter()
            .filter(|m| m.starts_with("image/"))
            .filter_map(mime)
            .collect();
        let mut r = json!({"formats": kinds});
        let dims = match (f.width, f.height) {
            (Some(w), Some(h)) => {
                for (k, v) in [("width", w), ("height", h)] {
                    r[format!("min_{k}")] = json!(v);
                    r[format!("max_{k}")] = json!(v);
                }
                json!({"width": w, "height": h})
            }
            _ => json!({"responsive": {"width": true, "height": true}}),
        };
        (
            json!({"item_type": "individual", "asset_id": "image", "asset_type": "image",
                   "required": true, "requirements": r}),
            dims,
        )
    };
    let click = json!({"item_type": "individual", "asset_id": "click_url", "asset_type": "url",
                       "required": false});
    json!({"format_id": {"agent_url": agent_url, "id": f.format_id}, "name": f.name,
           "renders": [{"role": "primary", "dimensions": dims}],
           "assets": [main, click], "pricing_options": rate_card(f)})
}

/// A format's type for the `type` filter.
fn kind(f: &ServerFormat) -> &str {
    if f.is_video() { "video" } else { "display" }
}

/// Checks a creative's assets against its format: the main asset given, an image of the
/// slot's size. `at` is the creative's path in the request.
fn check_assets(f: &ServerFormat, assets: &Map<String, Value>, at: &str) -> Result<(), Value> {
    let main = main_asset(f);
    let Some(a) = assets.get(main) else {
        return Err(
            json!({"code": codes::VALIDATION_ERROR, "field": format!("{at}.assets.{main}"),
                          "message": format!("{} creatives are made of a{} {main}", f.format_id,
                                             if main == "image" { "n" } else { "" })}),
        );
    };
    if a["url"].as_str().is_none_or(str::is_empty) {
        return Err(
            json!({"code": codes::VALIDATION_ERROR, "field": format!("{at}.assets.{main}.url"),
                          "message": "the ad server hosts the asset from its url"}),
        );
    }
    for (k, want) in [("width", f.width), ("height", f.height)] {
        if main == "image"
            && let (Some(have), Some(want)) = (a[k].as_i64(), want)
            && have != want
        {
            return Err(
                json!({"code": codes::VALIDATION_ERROR, "field": format!("{at}.assets.image.{k}"),
                       "message": format!("{} takes an image {want} {}, not {have}", f.format_id,
                                          if k == "width" { "wide" } else { "high" })}),
            );
        }
    }
    Ok(())
}

/// The serving context of a tag: the click-through and the asset from the creative's assets,
/// the buyer's macro values, and where it serves.
fn serving_context(assets: &Map<String, Value>, extra: &[(&str, Option<&str>)]) -> Value {
    let mut c = json!({});
    if let Some(u) = assets.get("click_url").and_then(|a| a["url"].as_str()) {
        c["click_url"] = json!(u);
    }
    if let Some(u) = ["image", "video"]
        .iter()
        .find_map(|k| assets.get(*k).and_then(|a| a["url"].as_str()))
    {
        c["asset_url"] = json!(u);
    }
    for (k, v) in extra {
        if let Some(v) = v {
            c[*k] = json!(v);
        }
    }
    c
}

/// A tag as the built creative's assets: VAST for video, HTML otherwise.
fn tag_assets(video: bool, tag: &network::Tag) -> Value {
    if video {
        json!({"vast": {"asset_type": "vast", "delivery_type": "inline", "content": tag.tag_html}})
    } else {
        json!({"tag": {"asset_type": "html", "content": tag.tag_html}})
    }
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs creative ad server".into(),
        description:
            "An ad server's creative library, serving tags and delivery (adcp-rs template)".into(),
        compliance_testing,
        capabilities: json!({"creative": {"has_creative_library": true}}),
        ..Config::default()
    }
}

/// The agent on `config`, `stores` and `server`.
pub fn agent(config: Config, stores: Stores, server: AdServer) -> Serve<AdServer> {
    adcp_runtime::serve(server).config(config).stores(stores)
}

/// A date (`YYYY-MM-DD`) as the start or end of its day.
fn day(d: &str, end: bool) -> String {
    if d.contains('T') {
        d.to_owned()
    } else if end {
        format!("{d}T23:59:59Z")
    } else {
        format!("{d}T00:00:00Z")
    }
}

#[decisioning_platform(specialisms(creative_ad_server), accounts = explicit)]
impl AdServer {
    /// The network's formats, with those seeded for the account; filtered and a page at a
    /// time.
    pub async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        let mut all: Vec<Value> = Vec::new();
        // A compliance fixture sandbox lists only what was seeded for it.
        if !ctx.fixtures_only() {
            let network = self.home(ctx).await?.network;
            for f in self.network.formats(&network).await? {
                let v = format(ctx.agent_url(), &f);
                if formats::matches(&req, &v, kind(&f)) {
                    all.push(v);
                }
            }
        }
        for f in ctx.state().list(SEEDED_FORMATS).await? {
            if formats::matches(&req, &f, "display") {
                all.push(f);
            }
        }
        let (page, pagination) = Page::take(req.pagination.as_ref(), all)?;
        answer(
            json!({"formats": page, "pagination": pagination}),
            "formats",
        )
    }

    /// Uploads each creative to the ad server (or updates it), and keeps it under the buyer's
    /// id. A creative in a format the network does not have, or missing its asset, fails alone.
    pub async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        let req = object(&req);
        let dry = req.get("dry_run").and_then(Value::as_bool) == Some(true);
        let Home {
            network,
            advertiser,
            ..
        } = self.home(ctx).await?;
        let formats = self.network.formats(&network).await?;
        let key = ctx.idempotency_key().unwrap_or_default().to_owned();
        let now = time::rfc3339(ctx.now());
        let items = req.get("creatives").and_then(Value::as_array);
        let mut out = Vec::new();
        let mut synced = Vec::new();
        for (i, c) in items.into_iter().flatten().enumerate() {
            let at = format!("creatives[{i}]");
            let id = c["creative_id"].as_str().unwrap_or_default().to_owned();
            let fid = c["format_id"]["id"].as_str().unwrap_or_default();
            let assets = c["assets"].as_object().cloned().unwrap_or_default();
            let name = c["name"].as_str().unwrap_or(&id).to_owned();
            let failed = |e: Value| json!({"creative_id": id, "action": "failed", "errors": [e]});
            let Some(f) = formats.iter().find(|f| f.format_id == fid) else {
                out.push(failed(json!({"code": codes::VALIDATION_ERROR,
                    "field": format!("{at}.format_id"),
                    "message": format!("the ad server has no format `{fid}`")})));
                continue;
            };
            if let Err(e) = check_assets(f, &assets, &at) {
                out.push(failed(e));
                continue;
            }
            let click = assets
                .get("click_url")
                .and_then(|a| a["url"].as_str())
                .map(str::to_owned);
            let before = ctx.state().get(LIBRARY, &id).await?;
            let action = match &before {
                None => "created",
                Some(h) if h.assets == assets && h.name == name && h.format_id == fid => {
                    "unchanged"
                }
                Some(_) => "updated",
            };
            synced.push(id.clone());
            if dry {
                out.push(json!({"creative_id": id, "action": action}));
                continue;
            }
            let server_id = match before.as_ref().and_then(|h| h.server_id.clone()) {
                Some(s) if before.as_ref().is_some_and(|h| h.format_id == fid) => {
                    if action == "updated" {
                        let mut change = json!({"name": name});
                        if let Some(u) = &click {
                            change["click_url"] = json!(u);
                        }
                        self.network.update(&network, &s, &change).await?;
                    }
                    s
                }
                _ => {
                    let up = self
                        .network
                        .upload(
                            &network,
                            &advertiser,
                            &name,
                            fid,
                            click.as_deref(),
                            &format!("{key}.{i}"),
                        )
                        .await?;
                    match up {
                        Ok(s) => s.creative_id,
                        Err(r) => {
                            out.push(failed(json!({"code": codes::VALIDATION_ERROR,
                                "field": at, "message": format!("the ad server refused it: {}", r.message)})));
                            continue;
                        }
                    }
                }
            };
            let hosted = Hosted {
                creative_id: id.clone(),
                name,
                format_id: fid.to_owned(),
                assets,
                status: before
                    .as_ref()
                    .map_or(CreativeStatus::Approved, |h| h.status),
                server_id: Some(server_id.clone()),
                pricing: before
                    .as_ref()
                    .map_or_else(|| rate_card(f), |h| h.pricing.clone()),
                created: before
                    .as_ref()
                    .map_or_else(|| now.clone(), |h| h.created.clone()),
                updated: now.clone(),
            };
            ctx.state().put(LIBRARY, &id, &hosted).await?;
            out.push(
                json!({"creative_id": id, "action": action, "status": hosted.status,
                            "platform_id": server_id}),
            );
        }
        // An ad server traffics tags per media buy (`build_creative`); it assigns nothing to a
        // seller's packages.
        if let Some(assignments) = req.get("assignments").and_then(Value::as_array) {
            for a in assignments {
                let (Some(cid), Some(pkg)) = (a["creative_id"].as_str(), a["package_id"].as_str())
                else {
                    continue;
                };
                if let Some(item) = out.iter_mut().find(|o| o["creative_id"] == cid) {
                    item["assignment_errors"][pkg] = json!(
                        "an ad server does not assign creatives to packages: build the tag for the media buy (build_creative) and traffic it at the seller"
                    );
                }
            }
        }
        if req.get("delete_missing").and_then(Value::as_bool) == Some(true) {
            for mut h in ctx.state().list(LIBRARY).await? {
                if synced.contains(&h.creative_id) || h.status == CreativeStatus::Archived {
                    continue;
                }
                if !lifecycle::CREATIVE.allows(h.status, CreativeStatus::Archived) {
                    continue;
                }
                if !dry {
                    h.status = CreativeStatus::Archived;
                    h.updated = now.clone();
                    if let Some(s) = &h.server_id {
                        self.network
                            .update(&network, s, &json!({"status": "archived"}))
                            .await?;
                    }
                    ctx.state().put(LIBRARY, &h.creative_id, &h).await?;
                }
                out.push(json!({"creative_id": h.creative_id, "action": "deleted"}));
            }
        }
        answer(
            json!({"creatives": out, "dry_run": dry}),
            "synced creatives",
        )
    }

    /// The library: creatives kept here and (outside a fixture sandbox) the network's own,
    /// filtered by format, status and id, a page at a time, with pricing when asked.
    pub async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        let req = object(&req);
        let mut all: Vec<Hosted> = ctx.state().list(LIBRARY).await?;
        let home = match ctx.fixtures_only() {
            true => None,
            false => Some(self.home(ctx).await?),
        };
        if let Some(home) = home.filter(|h| h.brand_library) {
            let formats = self.network.formats(&home.network).await?;
            let theirs = self.network.creatives(&home.network).await?;
            for c in theirs
                .iter()
                .filter(|c| !c.advertiser_id.starts_with(UPLOADED))
            {
                all.push(imported(c, &formats));
            }
        }
        let f = req.get("filters").cloned().unwrap_or_default();
        let any = |k: &str, v: &str| f[k].as_array().is_none_or(|a| a.iter().any(|x| x == v));
        all.retain(|h| {
            f["format_ids"]
                .as_array()
                .is_none_or(|ids| ids.iter().any(|i| i["id"] == h.format_id.as_str()))
                && any("statuses", &h.status.to_string())
                && any("creative_ids", &h.creative_id)
        });
        all.sort_by(|a, b| (&a.created, &a.creative_id).cmp(&(&b.created, &b.creative_id)));
        let total = all.len();
        let paging = req
            .get("pagination")
            .map(|p| answer(p.clone(), "pagination"))
            .transpose()?;
        let (page, pagination) = Page::take(paging.as_ref(), all)?;
        let returned = page.len();
        let pricing = req.get("include_pricing").and_then(Value::as_bool) == Some(true);
        let creatives: Vec<Value> = page
            .into_iter()
            .map(|h| {
                let mut c = json!({"creative_id": h.creative_id, "name": h.name,
                       "format_id": {"agent_url": ctx.agent_url(), "id": h.format_id},
                       "status": h.status, "created_date": h.created, "updated_date": h.updated,
                       "assets": h.assets});
                if pricing {
                    c["pricing_options"] = json!(h.pricing);
                }
                c
            })
            .collect();
        answer(
            json!({"creatives": creatives, "pagination": pagination,
                   "query_summary": {"total_matching": total, "returned": returned}}),
            "creatives",
        )
    }

    /// The serving tag of a library creative, for the media buy and package named: the ad
    /// server fills its macros. Recorded for delivery reporting.
    pub async fn build_creative(
        &self,
        ctx: &Ctx,
        req: BuildCreativeRequest,
    ) -> AdcpResult<BuildCreativeResponse> {
        let id = req.creative_id.clone().or_else(|| {
            // A manifest names its library creative among its other fields.
            let m = req.creative_manifest.as_ref().map(object)?;
            m.get("creative_id")?.as_str().map(str::to_owned)
        });
        let Some(id) = id else {
            return Err(AdcpError::invalid_request(
                "creative_id",
                "an ad server serves creatives of its library: sync the creative, then build its tag by creative_id",
            ));
        };
        let Some(hosted) = self.find(ctx, &id).await? else {
            return Err(AdcpError::not_found(
                codes::CREATIVE_NOT_FOUND,
                "creative_id",
                "creative",
            ));
        };
        let Some(server_id) = hosted.server_id.clone() else {
            return Err(AdcpError::validation(
                "creative_id",
                format!(
                    "`{id}` is in a format the ad server does not serve ({})",
                    hosted.format_id
                ),
            ));
        };
        if hosted.status != CreativeStatus::Approved {
            return Err(AdcpError::new(
                codes::INVALID_STATE,
                format!("`{id}` is {}: only approved creatives serve", hosted.status),
            )
            .with_field("creative_id"));
        }
        let network = self.home(ctx).await?.network;
        let formats = self.network.formats(&network).await?;
        let own = formats.iter().find(|f| f.format_id == hosted.format_id);
        let video = own.is_some_and(ServerFormat::is_video);
        let (multi, targets) = match (&req.target_format_ids, &req.target_format_id) {
            (Some(ids), _) if !ids.is_empty() => (true, ids.clone()),
            (_, Some(id)) => (false, vec![id.clone()]),
            _ => {
                return Err(AdcpError::invalid_request(
                    "target_format_id",
                    "name the format of the tag",
                ));
            }
        };
        // A tag is the creative's own format; a video's VAST serves under any video format.
        for (i, t) in targets.iter().enumerate() {
            let ok = t.id == hosted.format_id
                || (video && formats.iter().any(|f| f.format_id == t.id && f.is_video()));
            if !ok {
                let field = if multi {
                    format!("target_format_ids[{i}]")
                } else {
                    "target_format_id".into()
                };
                return Err(AdcpError::validation(
                    field,
                    format!(
                        "`{id}` is a {} creative: its tag is not a `{}`",
                        hosted.format_id, t.id
                    ),
                ));
            }
        }
        // The manifest given overrides the library's click-through and assets for this tag.
        let mut assets = hosted.assets.clone();
        if let Some(m) = &req.creative_manifest {
            let given = object(&m.assets);
            assets.extend(given);
        }
        let macros = req.macro_values.as_ref().map(object).unwrap_or_default();
        let mut context = serving_context(
            &assets,
            &[
                ("media_buy_id", req.media_buy_id.as_deref()),
                ("package_id", req.package_id.as_deref()),
                ("cb", Some(&req.idempotency_key)),
            ],
        );
        for (k, v) in macros {
            context[k.to_lowercase()] = v;
        }
        let tag = self.network.render(&network, &server_id, &context).await?;
        if let Some(mb) = &req.media_buy_id {
            let package = req.package_id.clone();
            let key = format!("{mb}/{}/{id}", package.as_deref().unwrap_or("-"));
            let t = Trafficked {
                media_buy_id: mb.clone(),
                package_id: package,
                creative_id: id.clone(),
                server_id,
                built: time::rfc3339(ctx.now()),
            };
            ctx.state().put(TAGS, &key, &t).await?;
        }
        let manifests: Vec<Value> = targets
            .iter()
            .map(|t| {
                json!({"format_id": {"agent_url": ctx.agent_url(), "id": t.id},
                            "assets": tag_assets(video, &tag)})
            })
            .collect();
        let mut out = if multi {
            json!({"creative_manifests": manifests})
        } else {
            json!({"creative_manifest": manifests[0]})
        };
        if let Some(p) = hosted.pricing.first() {
            out["pricing_option_id"] = p["pricing_option_id"].clone();
            out["vendor_cost"] = json!(0);
            out["currency"] = p["currency"].clone();
        }
        if req.include_preview == Some(true) {
            out["preview"] = json!({"previews": [{"preview_id": format!("{id}-tag"),
                "renders": [{"render_id": format!("{id}-tag"), "output_format": "url",
                             "preview_url": tag.tag_url, "role": "primary"}],
                "input": {"name": "default"}}],
                "expires_at": time::rfc3339(ctx.now() + Duration::DAY)});
        }
        answer(out, "a built tag")
    }

    /// A library creative's tag as the ad server serves it, with the manifest's click-through
    /// and assets.
    pub async fn preview_creative(
        &self,
        ctx: &Ctx,
        req: PreviewCreativeRequest,
    ) -> AdcpResult<PreviewCreativeResponse> {
        let req = object(&req);
        if req.get("request_type").and_then(Value::as_str) != Some("single") {
            return Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                "this ad server previews one creative at a time",
            )
            .with_field("request_type"));
        }
        let manifest = req.get("creative_manifest").cloned().unwrap_or_default();
        let Some(id) = manifest["creative_id"].as_str() else {
            return Err(AdcpError::invalid_request(
                "creative_manifest.creative_id",
                "an ad server previews creatives of its library: name one",
            ));
        };
        let hosted = self.find(ctx, id).await?;
        let Some(server_id) = hosted.as_ref().and_then(|h| h.server_id.clone()) else {
            return Err(AdcpError::not_found(
                codes::CREATIVE_NOT_FOUND,
                "creative_manifest.creative_id",
                "creative",
            ));
        };
        let network = self.home(ctx).await?.network;
        let mut assets = hosted.map(|h| h.assets).unwrap_or_default();
        if let Some(given) = manifest["assets"].as_object() {
            assets.extend(given.clone());
        }
        let context = serving_context(&assets, &[("cb", Some("preview"))]);
        let tag = self.network.render(&network, &server_id, &context).await?;
        let output = req
            .get("output_format")
            .and_then(Value::as_str)
            .unwrap_or("url");
        let mut render = json!({"render_id": format!("{id}-preview"), "output_format": output,
                                "role": "primary"});
        if output != "html" {
            render["preview_url"] = json!(tag.preview_url);
        }
        if output != "url" {
            render["preview_html"] = json!(tag.tag_html);
        }
        answer(
            json!({"response_type": "single",
                   "previews": [{"preview_id": format!("{id}-preview"), "renders": [render],
                                 "input": {"name": "default"}}],
                   "expires_at": time::rfc3339(ctx.now() + Duration::DAY)}),
            "a preview",
        )
    }

    /// The ad server's delivery of the creatives trafficked in the buys asked about, or of the
    /// creatives named, over the dates asked (else since the first tag was built).
    pub async fn get_creative_delivery(
        &self,
        ctx: &Ctx,
        req: GetCreativeDeliveryRequest,
    ) -> AdcpResult<GetCreativeDeliveryResponse> {
        let buys = req.media_buy_ids.clone().unwrap_or_default();
        let named = req.creative_ids.clone().unwrap_or_default();
        let mut tags: Vec<Trafficked> = ctx.state().list(TAGS).await?;
        tags.retain(|t| {
            (buys.is_empty() || buys.contains(&t.media_buy_id))
                && (named.is_empty() || named.contains(&t.creative_id))
        });
        // The creatives to report: those trafficked, and those named (trafficked or not).
        let mut rows: Vec<Row> = Vec::new();
        for t in &tags {
            match rows.iter_mut().find(|r| r.creative_id == t.creative_id) {
                Some(r) => {
                    if !r.buys.contains(&t.media_buy_id) {
                        r.buys.push(t.media_buy_id.clone());
                    }
                    r.since = r.since.take().min(Some(t.built.clone()));
                }
                None => rows.push(Row {
                    creative_id: t.creative_id.clone(),
                    server_id: Some(t.server_id.clone()),
                    buys: vec![t.media_buy_id.clone()],
                    since: Some(t.built.clone()),
                }),
            }
        }
        if buys.is_empty() {
            for id in &named {
                if !rows.iter().any(|r| &r.creative_id == id)
                    && let Some(h) = self.find(ctx, id).await?
                {
                    rows.push(Row {
                        creative_id: id.clone(),
                        server_id: h.server_id,
                        buys: Vec::new(),
                        since: None,
                    });
                }
            }
        }
        rows.sort_by(|a, b| a.creative_id.cmp(&b.creative_id));
        let now = time::rfc3339(ctx.now());
        let start = req.start_date.as_deref().map_or_else(
            || {
                tags.iter()
                    .map(|t| t.built.clone())
                    .min()
                    .unwrap_or_else(|| now.clone())
            },
            |d| day(d, false),
        );
        let end = req
            .end_date
            .as_deref()
            .map_or_else(|| now.clone(), |d| day(d, true));
        if end < start {
            return Err(AdcpError::validation(
                "end_date",
                "the period ends before it starts",
            ));
        }
        let offset: usize = req
            .pagination
            .as_ref()
            .and_then(|p| p.cursor.as_deref())
            .map(|c| {
                c.parse().map_err(|_| {
                    AdcpError::invalid_request("pagination.cursor", "not a cursor of this agent")
                })
            })
            .transpose()?
            .unwrap_or(0);
        let limit = req
            .pagination
            .as_ref()
            .and_then(|p| p.max_results)
            .map_or(rows.len().max(1), |m| m.clamp(1, 100) as usize);
        let total = rows.len();
        let network = if rows.is_empty() {
            None
        } else {
            Some(self.home(ctx).await?.network)
        };
        let mut creatives = Vec::new();
        for r in rows.into_iter().skip(offset).take(limit) {
            let mut c = json!({"creative_id": r.creative_id, "variants": []});
            if r.buys.len() == 1 {
                c["media_buy_id"] = json!(r.buys[0]);
            }
            // A tag delivers from when it was built.
            let from = r
                .since
                .filter(|s| *s > start)
                .unwrap_or_else(|| start.clone());
            if let (Some(s), Some(n)) = (r.server_id, &network) {
                let t = if from <= end {
                    self.network.delivery(n, &s, &from, &end).await?.totals
                } else {
                    network::Totals::default()
                };
                let ctr = if t.impressions > 0 {
                    t.clicks as f64 / t.impressions as f64
                } else {
                    0.0
                };
                let metrics = json!({"impressions": t.impressions, "clicks": t.clicks, "ctr": ctr});
                c["totals"] = metrics.clone();
                let mut variant = metrics;
                variant["variant_id"] = json!(s);
                c["variants"] = json!([variant]);
            }
            creatives.push(c);
        }
        let mut out = json!({"currency": CURRENCY, "reporting_period": {"start": start, "end": end},
                             "creatives": creatives});
        if buys.len() == 1 {
            out["media_buy_id"] = json!(buys[0]);
        }
        if req.pagination.is_some() {
            out["pagination"] = json!({"limit": limit, "offset": offset,
                                       "has_more": offset + limit < total, "total": total});
        }
        answer(out, "creative delivery")
    }

    /// Billing records: each item checked against its creative's pricing (the option named,
    /// its currency, and the cost its impressions come to); the rest accepted and kept.
    pub async fn report_usage(
        &self,
        ctx: &Ctx,
        req: ReportUsageRequest,
    ) -> AdcpResult<ReportUsageResponse> {
        let mut accepted = 0;
        let mut errors = Vec::new();
        for (i, u) in req.usage.iter().enumerate() {
            let at = |f: &str| format!("usage[{i}].{f}");
            let refuse = |code: &str, field: String, message: String| json!({"code": code, "field": field, "message": message});
            let Some(cid) = &u.creative_id else {
                errors.push(refuse(
                    codes::INVALID_REQUEST,
                    at("creative_id"),
                    "this ad server bills serving per creative: name it".into(),
                ));
                continue;
            };
            let Some(h) = self.find(ctx, cid).await? else {
                errors.push(refuse(
                    codes::CREATIVE_NOT_FOUND,
                    at("creative_id"),
                    format!("no creative `{cid}` in this account's library"),
                ));
                continue;
            };
            let option = match &u.pricing_option_id {
                Some(p) => h
                    .pricing
                    .iter()
                    .find(|o| o["pricing_option_id"] == p.as_str()),
                None => h.pricing.first(),
            };
            let Some(option) = option else {
                errors.push(refuse(
                    codes::VALIDATION_ERROR,
                    at("pricing_option_id"),
                    format!("`{cid}` has no such pricing option"),
                ));
                continue;
            };
            if option["currency"] != u.currency.as_str() {
                errors.push(refuse(
                    codes::VALIDATION_ERROR,
                    at("currency"),
                    format!("`{cid}` is priced in {}", option["currency"]),
                ));
                continue;
            }
            if let (Some(cpm), Some(imps)) = (option["cpm"].as_f64(), u.impressions) {
                let due = cpm * imps as f64 / 1000.0;
                if (u.vendor_cost - due).abs() > (due * 0.01).max(0.01) {
                    errors.push(refuse(
                        codes::VALIDATION_ERROR,
                        at("vendor_cost"),
                        format!("{imps} impressions at {cpm} CPM come to {due:.2}"),
                    ));
                    continue;
                }
            }
            let mut kept = object(u);
            kept.insert(
                "reporting_period".into(),
                json!(object(&req.reporting_period)),
            );
            kept.insert("received".into(), json!(time::rfc3339(ctx.now())));
            ctx.state()
                .put(USAGE, &ctx.new_id("usage"), &Value::Object(kept))
                .await?;
            accepted += 1;
        }
        let mut out = json!({"accepted": accepted});
        if !errors.is_empty() {
            out["errors"] = json!(errors);
        }
        answer(out, "usage")
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    /// Controller: a creative in the library, as its fixture gives it; uploaded to the ad
    /// server when its format is the network's.
    async fn seed_creative(&self, ctx: &Ctx, mut p: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = p.creative_id.clone().unwrap_or_default();
        let f = p.fixture.take().unwrap_or_default();
        let bad = |m: &str| ControllerCode::InvalidParams.error(m.to_owned());
        let status = match f.get("status") {
            None => CreativeStatus::Approved,
            Some(s) => s
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("`fixture.status` is not a creative status"))?,
        };
        let fid = f
            .get("format_id")
            .and_then(|x| x["id"].as_str().or(x.as_str()))
            .unwrap_or("display_300x250")
            .to_owned();
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&id)
            .to_owned();
        let assets = f
            .get("assets")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Home {
            network,
            advertiser,
            ..
        } = self.home(ctx).await?;
        let formats = self.network.formats(&network).await?;
        let own = formats.iter().find(|x| x.format_id == fid);
        let mut pricing = Vec::new();
        for (i, o) in f
            .get("pricing_options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            pricing.push(vendor_option(o).ok_or_else(|| {
                bad(&format!(
                    "`fixture.pricing_options[{i}]` is not a pricing option"
                ))
            })?);
        }
        if pricing.is_empty() {
            pricing = own.map(rate_card).unwrap_or_default();
        }
        let server_id = match own {
            Some(_) => {
                let click = assets.get("click_url").and_then(|a| a["url"].as_str());
                let up = self
                    .network
                    .upload(
                        &network,
                        &advertiser,
                        &name,
                        &fid,
                        click,
                        &format!("seed.{id}"),
                    )
                    .await?
                    .map_err(|r| bad(&format!("the ad server refused it: {}", r.message)))?;
                if status != CreativeStatus::Approved {
                    let change = json!({"status": to_server(status)});
                    self.network
                        .update(&network, &up.creative_id, &change)
                        .await?;
                }
                Some(up.creative_id)
            }
            None => None,
        };
        let now = time::rfc3339(ctx.now());
        let hosted = Hosted {
            creative_id: id.clone(),
            name,
            format_id: fid,
            assets,
            status,
            server_id,
            pricing,
            created: now.clone(),
            updated: now,
        };
        ctx.state().put(LIBRARY, &id, &hosted).await?;
        Ok(ControllerReply::Seeded)
    }

    /// Controller: a format for the account, as its fixture gives it (not the ad server's).
    async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        mut p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.format_id.clone().unwrap_or_default();
        let fixture = p.fixture.take().unwrap_or_default();
        let name = fixture.get("name").and_then(Value::as_str).unwrap_or(&id);
        let seeded = json!({"format_id": {"agent_url": ctx.agent_url(), "id": id}, "name": name,
            "renders": [{"role": "primary", "dimensions": {"responsive": {"width": true, "height": true}}}],
            "assets": [{"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true}]});
        ctx.state().put(SEEDED_FORMATS, &id, &seeded).await?;
        Ok(ControllerReply::Seeded)
    }

    /// Controller: moves a library creative along the review states; the ad server serves it
    /// only while approved.
    async fn force_creative_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.creative_id.clone().unwrap_or_default();
        let reply = ctx
            .state()
            .force(
                LIBRARY,
                &id,
                &lifecycle::CREATIVE,
                p.status.as_deref(),
                |h| &mut h.status,
                |h| h.updated = time::rfc3339(time::now()),
            )
            .await?;
        if let Some(h) = ctx.state().get(LIBRARY, &id).await?
            && let Some(s) = &h.server_id
        {
            let network = self.home(ctx).await?.network;
            let change = json!({"status": to_server(h.status)});
            self.network.update(&network, s, &change).await?;
        }
        Ok(reply)
    }
}

/// A fixture's pricing option as a vendor pricing option: already one, or a media-buy style
/// `{pricing_model: "cpm", rate}`.
fn vendor_option(o: &Value) -> Option<Value> {
    let id = o["pricing_option_id"].as_str()?;
    if o["model"].is_string() {
        return Some(o.clone());
    }
    let currency = o["currency"].as_str().unwrap_or(CURRENCY);
    match o["pricing_model"].as_str()? {
        "cpm" => Some(json!({"pricing_option_id": id, "model": "cpm",
                             "cpm": o["rate"].as_f64()?, "currency": currency})),
        "flat_fee" | "flat_rate" => Some(json!({"pricing_option_id": id, "model": "flat_fee",
                                                "amount": o["rate"].as_f64()?, "period": "monthly",
                                                "currency": currency})),
        _ => None,
    }
}
