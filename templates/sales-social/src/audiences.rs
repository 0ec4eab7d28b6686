//! First-party audiences: the buyer's CRM lists, uploaded to the platform as SHA-256 hashed
//! emails, phone numbers and mobile advertising ids.

use adcp_runtime::time;
use adcp_runtime::wire::{
    AudienceMember, AudienceStatus, MatchIdType, SyncAudiencesRequest,
    SyncAudiencesRequestAudiencesItem, SyncAudiencesSuccess, SyncAudiencesSuccessAudiencesItem,
    SyncAudiencesSuccessAudiencesItemAction as Action, UidType,
};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::garden::{self, Advertiser, Garden};

/// An audience as the seller keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Audience {
    /// The buyer's id.
    pub audience_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The platform's id (a local one for a sandbox account kept off the platform).
    pub platform_id: String,
    /// The advertiser it was made under (`None`: kept off the platform).
    #[serde(default)]
    pub advertiser_id: Option<String>,
    /// Its status on the wire.
    pub status: AudienceStatus,
    /// Identifiers uploaded over its life, by type (the platform reports no match counts, so
    /// none are claimed).
    #[serde(default)]
    pub uploaded: Vec<(MatchIdType, i64)>,
    /// Members uploaded over its life (a member with an email and a phone counts once; a
    /// member sent again counts again, as the platform counts it).
    #[serde(default)]
    pub members: i64,
    /// When it was last synced (RFC 3339).
    pub synced: String,
}

/// The fewest members an audience is targeted with: below it, it is `too_small`.
pub(crate) const MINIMUM_SIZE: i64 = 1000;

pub(crate) const AUDIENCES: Collection<Audience> = Collection::new("audiences");

/// The platform's identifier types, and the member fields that feed them.
const ID_TYPES: [(MatchIdType, &str); 3] = [
    (MatchIdType::HashedEmail, "hashed_email_sha256"),
    (MatchIdType::HashedPhone, "hashed_phone_sha256"),
    (MatchIdType::Maid, "mobile_advertising_id"),
];

/// The member's identifier of `kind`, if it has one the platform takes.
fn identifier(m: &AudienceMember, kind: MatchIdType) -> Option<&str> {
    match kind {
        MatchIdType::HashedEmail => m.hashed_email.as_deref(),
        MatchIdType::HashedPhone => m.hashed_phone.as_deref(),
        MatchIdType::Maid => m
            .uids
            .iter()
            .flatten()
            .find(|u| u.r#type == UidType::Maid)
            .map(|u| u.value.as_str()),
        _ => None,
    }
}

fn platform_status(s: Option<&str>) -> AudienceStatus {
    match s {
        Some("active" | "ready") => AudienceStatus::Ready,
        _ => AudienceStatus::Processing,
    }
}

impl Audience {
    fn total(&self) -> i64 {
        self.members
    }
}

/// The status of an audience the platform holds with `total` members: the platform's,
/// unless it is ready with fewer than can be targeted.
fn sized(platform: AudienceStatus, total: i64) -> AudienceStatus {
    match platform {
        AudienceStatus::Ready if total < MINIMUM_SIZE => AudienceStatus::TooSmall,
        s => s,
    }
}

fn item(a: &Audience, action: Action) -> SyncAudiencesSuccessAudiencesItem {
    let mut item = SyncAudiencesSuccessAudiencesItem::new(action, a.audience_id.clone());
    item.name = Some(a.name.clone());
    item.seller_id = Some(a.platform_id.clone());
    item.status = Some(a.status);
    item.minimum_size = Some(MINIMUM_SIZE);
    item.total_uploaded_count = Some(a.total());
    item.last_synced_at = Some(a.synced.clone());
    item
}

fn failed(audience_id: &str, e: &AdcpError) -> SyncAudiencesSuccessAudiencesItem {
    let mut item = SyncAudiencesSuccessAudiencesItem::new(Action::Failed, audience_id.to_owned());
    item.errors = Some(vec![e.to_wire()]);
    item
}

pub(crate) async fn sync(
    garden: &Garden,
    ctx: &Ctx,
    req: SyncAudiencesRequest,
) -> AdcpResult<SyncAudiencesSuccess> {
    let kept: Vec<Audience> = ctx.state().list(AUDIENCES).await?;
    let Some(wanted) = req.audiences else {
        // Discovery: the account's audiences as they are.
        let items: Vec<_> = kept.iter().map(|a| item(a, Action::Unchanged)).collect();
        return Ok(SyncAudiencesSuccess::new(items));
    };
    let advertiser = garden.advertiser(ctx).await?;
    let mut items = Vec::with_capacity(wanted.len());
    for (i, a) in wanted.iter().enumerate() {
        let field = format!("audiences[{i}]");
        let done = if a.delete == Some(true) {
            delete(ctx, &kept, &a.audience_id, &field).await
        } else {
            upsert(garden, ctx, advertiser.as_ref(), &kept, a, &field).await
        };
        items.push(match done {
            Ok(item) => item,
            // A failure about the call (the platform unavailable: the buyer retries it whole,
            // under the same key; or the account) fails it; anything else is this audience's.
            Err(e) if sales_non_guaranteed::fails_the_call(&e) => return Err(e),
            Err(e) => failed(&a.audience_id, &e),
        });
    }
    if req.delete_missing == Some(true) {
        for a in kept
            .iter()
            .filter(|k| !wanted.iter().any(|w| w.audience_id == k.audience_id))
        {
            ctx.state().delete(AUDIENCES, &a.audience_id).await?;
            items.push(SyncAudiencesSuccessAudiencesItem::new(
                Action::Deleted,
                a.audience_id.clone(),
            ));
        }
    }
    Ok(SyncAudiencesSuccess::new(items))
}

/// Deletes an audience: from the seller (the platform has no delete; an audience nobody
/// targets stops being used there).
async fn delete(
    ctx: &Ctx,
    kept: &[Audience],
    audience_id: &str,
    field: &str,
) -> AdcpResult<SyncAudiencesSuccessAudiencesItem> {
    if !kept.iter().any(|k| k.audience_id == audience_id) {
        return Err(AdcpError::not_found(
            codes::REFERENCE_NOT_FOUND,
            format!("{field}.audience_id"),
            "audience",
        ));
    }
    ctx.state().delete(AUDIENCES, audience_id).await?;
    Ok(SyncAudiencesSuccessAudiencesItem::new(
        Action::Deleted,
        audience_id.to_owned(),
    ))
}

async fn upsert(
    garden: &Garden,
    ctx: &Ctx,
    advertiser: Option<&Advertiser>,
    kept: &[Audience],
    a: &SyncAudiencesRequestAudiencesItem,
    field: &str,
) -> AdcpResult<SyncAudiencesSuccessAudiencesItem> {
    if a.remove.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "the platform cannot take members out of an audience",
        )
        .with_field(format!("{field}.remove"))
        .with_suggestion("delete the audience and sync it again with the members to keep"));
    }
    // One made under another advertiser (sandbox accounts of a caller share a compliance
    // scope) is not this one's.
    let before = kept.iter().find(|k| {
        k.audience_id == a.audience_id
            && k.advertiser_id.as_deref() == advertiser.map(|v| v.advertiser_id.as_str())
    });
    let name = a
        .name
        .clone()
        .or_else(|| before.map(|b| b.name.clone()))
        .unwrap_or_else(|| a.audience_id.clone());
    let description = a
        .description
        .clone()
        .or_else(|| before.and_then(|b| b.description.clone()));
    let mut audience = match before {
        Some(b) => b.clone(),
        None => {
            let (platform_id, status) = match advertiser {
                Some(adv) => {
                    let body = json!({
                        "name": name,
                        "description": description,
                        // Every AdCP audience type (CRM list, suppression list, lookalike
                        // seed) is a customer file to the platform.
                        "source_type": "customer_file",
                    });
                    let made = garden
                        .make(
                            ctx,
                            &adv.advertiser_id,
                            "custom_audience",
                            &a.audience_id,
                            body,
                            field,
                        )
                        .await?;
                    (made.id("audience_id")?, platform_status(made.status()))
                }
                None => (ctx.new_id("aud"), AudienceStatus::Processing),
            };
            Audience {
                audience_id: a.audience_id.clone(),
                name: name.clone(),
                description: description.clone(),
                platform_id,
                advertiser_id: advertiser.map(|v| v.advertiser_id.clone()),
                status,
                uploaded: Vec::new(),
                members: 0,
                synced: time::rfc3339(ctx.now()),
            }
        }
    };
    let renamed = before.is_some_and(|b| b.name != name || b.description != description);
    audience.name = name;
    audience.description = description;
    let members = a.add.as_deref().unwrap_or_default();
    for (kind, platform_type) in ID_TYPES {
        let ids: Vec<&str> = members.iter().filter_map(|m| identifier(m, kind)).collect();
        if ids.is_empty() {
            continue;
        }
        if let Some(adv) = advertiser {
            let up = garden
                .upload_members(
                    &adv.advertiser_id,
                    &audience.platform_id,
                    platform_type,
                    &ids,
                )
                .await?
                .map_err(|r| garden::refused(&format!("{field}.add"), &r))?;
            audience.status = platform_status(Some(&up.status));
        } else {
            audience.status = AudienceStatus::Ready;
        }
        let n = ids.len() as i64;
        match audience.uploaded.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, total)) => *total += n,
            None => audience.uploaded.push((kind, n)),
        }
    }
    // Members with no identifier the platform takes (RampID, UID2, ...) are not uploaded.
    let unusable = members
        .iter()
        .filter(|m| ID_TYPES.iter().all(|(k, _)| identifier(m, *k).is_none()))
        .count();
    let uploaded_now = (members.len() - unusable) as i64;
    audience.members += uploaded_now;
    audience.status = sized(audience.status, audience.total());
    let action = match before {
        None => Action::Created,
        Some(_) if uploaded_now > 0 || renamed => Action::Updated,
        Some(_) => Action::Unchanged,
    };
    if action != Action::Unchanged {
        audience.synced = time::rfc3339(ctx.now());
        ctx.state()
            .put(AUDIENCES, &audience.audience_id, &audience)
            .await?;
    }
    let mut out = item(&audience, action);
    out.uploaded_count = Some(uploaded_now);
    if unusable > 0 {
        let e = AdcpError::validation(
            format!("{field}.add"),
            format!(
                "{unusable} member(s) carry no identifier this platform matches on (hashed \
                 email, hashed phone or a mobile advertising id) and were not uploaded"
            ),
        );
        out.errors = Some(vec![e.to_wire()]);
    }
    Ok(out)
}
