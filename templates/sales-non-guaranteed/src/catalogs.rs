//! The buyer's catalogues (products, offerings, stores, ...) for catalogue-driven ads: kept by
//! the seller with each item reviewed (an item without an id is rejected), and uploaded to the
//! platform that renders the ads when the seller wraps one ([`CatalogPlatform`]). The items
//! stay the seller's too, so creatives can be built from them.

use adcp_runtime::time;
use adcp_runtime::wire::{
    Catalog, CatalogAction as Action, CatalogItemStatus, SyncCatalogsRequest, SyncCatalogsSuccess,
    SyncCatalogsSuccessCatalogsItem as Item,
    SyncCatalogsSuccessCatalogsItemItemIssuesItem as Issue,
};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{CatalogPlatform, Seller};

/// A catalogue as the seller keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeptCatalog {
    /// The catalogue as the buyer last sent it (its items included).
    pub catalog: Catalog,
    /// Its id on the platform the seller wraps (the seller's own id without one).
    pub platform_id: String,
    /// When it was last synced (RFC 3339).
    pub synced: String,
}

impl KeptCatalog {
    /// Its items.
    pub fn items(&self) -> &[Map<String, Value>] {
        self.catalog.items.as_deref().unwrap_or_default()
    }

    /// An item's value under the field its `content_id_type` names (`sku`, `gtin`, ...).
    pub fn content_id<'a>(&self, item: &'a Map<String, Value>) -> Option<&'a Value> {
        content_id(&self.catalog, item)
    }
}

pub(crate) const CATALOGS: Collection<KeptCatalog> = Collection::new("catalogs");

/// `item`'s value under the field `catalog`'s `content_id_type` names.
fn content_id<'a>(catalog: &Catalog, item: &'a Map<String, Value>) -> Option<&'a Value> {
    let field = serde_json::to_value(catalog.content_id_type.as_ref()?).ok()?;
    item.get(field.as_str()?)
}

/// An item's id: `item_id`, `id`, or the field the catalogue's `content_id_type` names.
fn item_id<'a>(catalog: &Catalog, item: &'a Map<String, Value>) -> Option<&'a str> {
    ["item_id", "id"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .or_else(|| content_id(catalog, item).and_then(Value::as_str))
}

fn item(kept: &KeptCatalog, action: Action) -> Item {
    let id = kept.catalog.catalog_id.clone().unwrap_or_default();
    let mut item = Item::new(action, id);
    item.platform_id = Some(kept.platform_id.clone());
    item.item_count = Some(kept.items().len() as i64);
    item.last_synced_at = Some(kept.synced.clone());
    item
}

pub(crate) async fn sync(
    seller: &Seller,
    ctx: &Ctx,
    req: SyncCatalogsRequest,
) -> AdcpResult<SyncCatalogsSuccess> {
    let dry_run = req.dry_run == Some(true);
    let kept: Vec<KeptCatalog> = ctx.state().list(CATALOGS).await?;
    let named = |k: &KeptCatalog| {
        req.catalog_ids.as_ref().is_none_or(|ids| {
            ids.iter()
                .any(|id| k.catalog.catalog_id.as_deref() == Some(id.as_str()))
        })
    };
    let Some(wanted) = &req.catalogs else {
        // Discovery: the account's catalogues (those named by `catalog_ids`, if given).
        let items: Vec<_> = kept
            .iter()
            .filter(|k| named(k))
            .map(|k| item(k, Action::Unchanged))
            .collect();
        return Ok(SyncCatalogsSuccess::new(items));
    };
    let platform = seller.catalog_platform();
    let mut items = Vec::with_capacity(wanted.len());
    for (i, c) in wanted.iter().enumerate() {
        let field = format!("catalogs[{i}]");
        match upsert(platform, ctx, &kept, c, &field, dry_run).await {
            Ok(item) => items.push(item),
            Err(e) if crate::fails_the_call(&e) => return Err(e),
            Err(e) => {
                let id = c.catalog_id.clone().unwrap_or_default();
                let mut item = Item::new(Action::Failed, id);
                item.errors = Some(vec![e.to_wire()]);
                items.push(item);
            }
        }
    }
    if req.delete_missing == Some(true) {
        for k in kept.iter().filter(|k| {
            !wanted
                .iter()
                .any(|w| w.catalog_id.is_some() && w.catalog_id == k.catalog.catalog_id)
        }) {
            let id = k.catalog.catalog_id.clone().unwrap_or_default();
            if !dry_run {
                ctx.state().delete(CATALOGS, &id).await?;
            }
            items.push(Item::new(Action::Deleted, id));
        }
    }
    let mut resp = SyncCatalogsSuccess::new(items);
    resp.dry_run = dry_run.then_some(true);
    Ok(resp)
}

async fn upsert(
    platform: Option<&dyn CatalogPlatform>,
    ctx: &Ctx,
    kept: &[KeptCatalog],
    c: &Catalog,
    field: &str,
    dry_run: bool,
) -> AdcpResult<Item> {
    let Some(catalog_id) = c.catalog_id.clone() else {
        return Err(AdcpError::invalid_request(
            format!("{field}.catalog_id"),
            "the seller keeps catalogues by the buyer's id for them: give `catalog_id`",
        ));
    };
    if c.items.is_none() {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "this seller takes catalogue items inline; it does not fetch feeds",
        )
        .with_field(format!("{field}.items"))
        .with_suggestion("send the catalogue's `items`"));
    }
    // Items without an id are rejected; the others are approved.
    let mut issues = Vec::new();
    let mut accepted = Vec::new();
    for (n, it) in c.items.iter().flatten().enumerate() {
        match item_id(c, it) {
            Some(_) => accepted.push(it.clone()),
            None => {
                let mut issue = Issue::new(format!("#{n}"), CatalogItemStatus::Rejected);
                issue.reasons = Some(vec![
                    "the item has no id (`item_id`, `id` or the \
                                            field `content_id_type` names)"
                        .into(),
                ]);
                issues.push(issue);
            }
        }
    }
    let before = kept
        .iter()
        .find(|k| k.catalog.catalog_id.as_deref() == Some(&catalog_id));
    let mut catalog = c.clone();
    catalog.items = Some(accepted.clone());
    let action = match before {
        None => Action::Created,
        Some(b) if b.catalog == catalog => Action::Unchanged,
        Some(_) => Action::Updated,
    };
    let mut platform_id = before.map(|b| b.platform_id.clone());
    if !dry_run && action != Action::Unchanged {
        if let Some(p) = platform {
            let uploaded = p.upload(ctx, &catalog, platform_id.as_deref()).await;
            platform_id = Some(uploaded.map_err(|e| {
                if crate::fails_the_call(&e) {
                    e
                } else {
                    e.within(field)
                }
            })?);
        }
        let platform_id = platform_id.clone().unwrap_or_else(|| ctx.new_id("cat"));
        let record = KeptCatalog {
            catalog,
            platform_id,
            synced: time::rfc3339(ctx.now()),
        };
        ctx.state().put(CATALOGS, &catalog_id, &record).await?;
        let mut out = item(&record, action);
        finish(&mut out, accepted.len(), issues);
        return Ok(out);
    }
    let mut out = Item::new(action, catalog_id);
    out.platform_id = platform_id;
    out.item_count = Some(accepted.len() as i64);
    finish(&mut out, accepted.len(), issues);
    Ok(out)
}

fn finish(out: &mut Item, accepted: usize, issues: Vec<Issue>) {
    out.items_approved = Some(accepted as i64);
    out.items_rejected = Some(issues.len() as i64);
    out.item_issues = (!issues.is_empty()).then_some(issues);
}
