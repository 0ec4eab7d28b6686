//! Property lists and collection lists: the brand-safety data a buy is targeted and validated
//! against. A buyer keeps its lists here (create, get, list, update, delete); sellers fetch
//! them with the token handed out at creation (a runtime grant: `get_<kind>_list` of that
//! list, on the owner's account, and nothing else); delivery is validated against a property
//! list.
//!
//! Both kinds share one shape: a list has a name, a description, its sources
//! (`base_properties` / `base_collections`), filters and a brand, and is kept per account.
//! A list is resolved from its direct identifiers: properties by identifier (`domain`,
//! `app_id`, ...), collections by distribution id (`imdb_id`, `eidr_id`, ...) against the
//! agent's program registry. Sources that name a publisher's tags or ids need that
//! publisher's `adagents.json`, which this agent does not fetch: their properties are "not
//! covered", not guessed.

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Duration};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, Page, codes};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How long a resolved list may be cached.
const CACHE_HOURS: i64 = 24;

/// A kind of list: property or collection.
#[derive(Clone, Copy)]
pub(crate) struct Kind {
    /// `property` or `collection`.
    name: &'static str,
    /// The list's sources field.
    sources: &'static str,
    /// Its id prefix.
    prefix: &'static str,
    /// The task a fetch token is good for.
    get: &'static str,
    store: Collection<Kept>,
}

pub(crate) const PROPERTY: Kind = Kind {
    name: "property",
    sources: "base_properties",
    prefix: "pl",
    get: "get_property_list",
    store: Collection::new("property_lists"),
};

pub(crate) const COLLECTION: Kind = Kind {
    name: "collection",
    sources: "base_collections",
    prefix: "cl",
    get: "get_collection_list",
    store: Collection::new("collection_lists"),
};

/// A list as kept: its wire form.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Kept {
    list: Map<String, Value>,
}

/// The programs this agent knows by distribution id: `(type, value, name, kind, genres)`.
const PROGRAMS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "imdb_id",
        "tt0903747",
        "Breaking Bad",
        "series",
        &["drama", "crime"],
    ),
    ("imdb_id", "tt0386676", "The Office", "series", &["comedy"]),
    (
        "imdb_id",
        "tt2861424",
        "Rick and Morty",
        "series",
        &["animation", "comedy"],
    ),
    (
        "imdb_id",
        "tt0944947",
        "Game of Thrones",
        "series",
        &["drama", "fantasy"],
    ),
    (
        "imdb_id",
        "tt5491994",
        "Planet Earth II",
        "series",
        &["documentary", "nature"],
    ),
];

impl Kind {
    fn not_found(self) -> AdcpError {
        AdcpError::not_found(
            codes::REFERENCE_NOT_FOUND,
            "list_id",
            &format!("{} list", self.name),
        )
    }

    async fn get_kept(self, ctx: &Ctx, id: &str) -> AdcpResult<Kept> {
        ctx.state()
            .get(self.store, id)
            .await?
            .ok_or_else(|| self.not_found())
    }

    /// Creates a list; answers it with its fetch token, shown this once.
    pub(crate) async fn create<Req: Serialize, Resp: DeserializeOwned>(
        self,
        ctx: &Ctx,
        req: &Req,
    ) -> AdcpResult<Resp> {
        let req = object(req);
        let id = ctx.new_id(self.prefix);
        let now = time::rfc3339(ctx.now());
        let mut list = Map::new();
        list.insert("list_id".into(), json!(id));
        for k in ["name", "description", self.sources, "filters", "brand"] {
            if let Some(v) = req.get(k) {
                list.insert(k.into(), v.clone());
            }
        }
        list.insert("created_at".into(), json!(now));
        list.insert("updated_at".into(), json!(now));
        list.insert("cache_duration_hours".into(), json!(CACHE_HOURS));
        let kept = Kept { list: list.clone() };
        ctx.state().put(self.store, &id, &kept).await?;
        // Sellers fetch the list with it: this list, by its owner's account, read only.
        let token = ctx.grant(self.get, "list_id", &id).await?;
        answer(json!({"list": list, "auth_token": token}), "a created list")
    }

    /// Changes what the request names; answers the list.
    pub(crate) async fn update<Req: Serialize, Resp: DeserializeOwned>(
        self,
        ctx: &Ctx,
        req: &Req,
    ) -> AdcpResult<Resp> {
        let req = object(req);
        let id = req["list_id"].as_str().unwrap_or_default().to_owned();
        let now = time::rfc3339(ctx.now());
        let sources = self.sources;
        let list = ctx
            .state()
            .modify(
                self.store,
                &id,
                || self.not_found(),
                |k| {
                    for key in [
                        "name",
                        "description",
                        sources,
                        "filters",
                        "brand",
                        "webhook_url",
                    ] {
                        if let Some(v) = req.get(key) {
                            k.list.insert(key.into(), v.clone());
                        }
                    }
                    k.list.insert("updated_at".into(), json!(now));
                    Ok(k.list.clone())
                },
            )
            .await?;
        answer(json!({"list": list}), "an updated list")
    }

    pub(crate) async fn delete<Resp: DeserializeOwned>(
        self,
        ctx: &Ctx,
        id: &str,
    ) -> AdcpResult<Resp> {
        self.get_kept(ctx, id).await?;
        ctx.state().delete(self.store, id).await?;
        ctx.revoke_grants(self.get, id).await?;
        answer(json!({"deleted": true, "list_id": id}), "a deleted list")
    }

    /// The account's lists whose name contains `name_contains`, a page at a time.
    pub(crate) async fn list<Req: Serialize, Resp: DeserializeOwned>(
        self,
        ctx: &Ctx,
        req: &Req,
    ) -> AdcpResult<Resp> {
        let req = object(req);
        let needle = req
            .get("name_contains")
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        let mut lists: Vec<Kept> = ctx.state().list(self.store).await?;
        lists.retain(|k| {
            needle.as_ref().is_none_or(|n| {
                k.list["name"]
                    .as_str()
                    .is_some_and(|name| name.to_lowercase().contains(n))
            })
        });
        lists.sort_by(|a, b| a.list["list_id"].as_str().cmp(&b.list["list_id"].as_str()));
        let paging = req
            .get("pagination")
            .map(|p| answer(p.clone(), "pagination"))
            .transpose()?;
        let all: Vec<Map<String, Value>> = lists.into_iter().map(|k| k.list).collect();
        let (page, pagination) = Page::take(paging.as_ref(), all)?;
        answer(
            json!({"lists": page, "pagination": pagination}),
            "a page of lists",
        )
    }

    /// A list, resolved unless `resolve: false`.
    pub(crate) async fn get<Req: Serialize, Resp: DeserializeOwned>(
        self,
        ctx: &Ctx,
        req: &Req,
    ) -> AdcpResult<Resp> {
        let req = object(req);
        let id = req["list_id"].as_str().unwrap_or_default();
        let kept = self.get_kept(ctx, id).await?;
        let now = ctx.now();
        let mut out = json!({"list": kept.list});
        if req.get("resolve") != Some(&json!(false)) {
            out["resolved_at"] = json!(time::rfc3339(now));
            out["cache_valid_until"] = json!(time::rfc3339(now + Duration::hours(CACHE_HOURS)));
            let sources = kept.list.get(self.sources);
            if self.name == "property" {
                out["identifiers"] = json!(property_identifiers(sources));
            } else {
                out["collections"] = json!(programs(sources));
            }
        }
        answer(out, "a list")
    }
}

/// The direct identifiers of a property list's sources.
fn property_identifiers(sources: Option<&Value>) -> Vec<Value> {
    sources
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["selection_type"] == "identifiers")
        .filter_map(|s| s["identifiers"].as_array())
        .flatten()
        .cloned()
        .collect()
}

/// The programs of a collection list's sources this agent knows.
fn programs(sources: Option<&Value>) -> Vec<Value> {
    let ids: Vec<&Value> = sources
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["selection_type"] == "distribution_ids")
        .filter_map(|s| s["identifiers"].as_array())
        .flatten()
        .collect();
    PROGRAMS
        .iter()
        .filter(|(t, v, ..)| ids.iter().any(|i| i["type"] == *t && i["value"] == *v))
        .map(|(t, v, name, kind, genres)| {
            json!({"name": name, "kind": kind, "genre": genres,
                   "distribution_ids": [{"type": t, "value": v}]})
        })
        .collect()
}

/// Validates delivery records against a property list: a record on an identifier of the list
/// is compliant; one on another identifier is not, unless the list also has sources this
/// agent cannot resolve (then it is not covered).
pub(crate) async fn validate<Req: Serialize, Resp: DeserializeOwned>(
    ctx: &Ctx,
    req: &Req,
) -> AdcpResult<Resp> {
    let req = object(req);
    let id = req["list_id"].as_str().unwrap_or_default();
    let kept = PROPERTY.get_kept(ctx, id).await?;
    let sources = kept.list.get(PROPERTY.sources);
    let listed = property_identifiers(sources);
    let unresolved = sources
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s["selection_type"] != "identifiers"));
    let same = |a: &Value, b: &Value| {
        a["type"] == b["type"]
            && a["value"]
                .as_str()
                .zip(b["value"].as_str())
                .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
    };
    let include_compliant = req.get("include_compliant") == Some(&json!(true));
    let mut counts: Map<String, Value> = Map::new();
    let mut add = |k: &str, n: i64| {
        let v = counts.get(k).and_then(Value::as_i64).unwrap_or_default() + n;
        counts.insert(k.into(), json!(v));
    };
    let mut results = Vec::new();
    for r in req["records"].as_array().into_iter().flatten() {
        let impressions = r["impressions"].as_i64().unwrap_or_default();
        let status = if listed.iter().any(|l| same(l, &r["identifier"])) {
            "compliant"
        } else if unresolved {
            "not_covered"
        } else {
            "non_compliant"
        };
        add("total_records", 1);
        add("total_impressions", impressions);
        add(&format!("{status}_records"), 1);
        add(&format!("{status}_impressions"), impressions);
        if status != "compliant" || include_compliant {
            let mut res = json!({"identifier": r["identifier"], "status": status, "impressions": impressions});
            if let Some(rid) = r.get("record_id") {
                res["record_id"] = rid.clone();
            }
            results.push(res);
        }
    }
    for s in ["compliant", "non_compliant", "not_covered", "unidentified"] {
        add(&format!("{s}_records"), 0);
        add(&format!("{s}_impressions"), 0);
    }
    add("total_records", 0);
    add("total_impressions", 0);
    let compliant = counts["non_compliant_records"] == json!(0);
    answer(
        json!({"list_id": id, "compliant": compliant, "summary": counts, "results": results,
               "validated_at": time::rfc3339(ctx.now()), "list_resolved_at": kept.list["updated_at"]}),
        "a validation",
    )
}
