//! Creatives: the platform's native formats (feed posts, stories, vertical video, image
//! carousels) and dynamic product ads rendered from a synced catalogue. The seller's creative
//! library (the reference seller's: formats, assignments to packages) registers each new or
//! changed creative with the platform, which reviews it: [`Garden`] is its
//! [`CreativePlatform`].

use adcp_runtime::wire::{CreativeAsset, CreativeStatus};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, codes};
use sales_non_guaranteed::{BoxFuture, CreativePlatform, KeptCatalog, Registered};
use serde_json::{Value, json};

use crate::garden::Garden;

/// A format of the platform: the AdCP id, the platform's, and the media it carries.
struct SocialFormat {
    id: &'static str,
    platform: &'static str,
    media: Media,
}

#[derive(Clone, Copy, PartialEq)]
enum Media {
    Image,
    Video,
    /// Rendered from the account's product catalogue.
    Catalogue,
}

const PLATFORM_FORMATS: &[SocialFormat] = &[
    SocialFormat {
        id: "native_feed",
        platform: "native_feed",
        media: Media::Image,
    },
    SocialFormat {
        id: "carousel_image",
        platform: "carousel_image",
        media: Media::Image,
    },
    SocialFormat {
        id: "story_video",
        platform: "story_video",
        media: Media::Video,
    },
    SocialFormat {
        id: "vertical_video",
        platform: "vertical_video",
        media: Media::Video,
    },
];

/// The platform's format for a creative's `format_id`: one of its own, or its image carousel
/// for a product carousel (`product_carousel_3_to_10` and the like).
fn format(id: &str) -> Option<SocialFormat> {
    if id.starts_with("product_carousel") {
        return Some(SocialFormat {
            id: "product_carousel",
            platform: "carousel_image",
            media: Media::Catalogue,
        });
    }
    PLATFORM_FORMATS
        .iter()
        .find(|f| f.id == id)
        .map(|f| SocialFormat {
            id: f.id,
            platform: f.platform,
            media: f.media,
        })
}

/// The first asset of `types` among the creative's, preferring the keys in `keys` order.
fn asset<'a>(c: &'a CreativeAsset, types: &[&str], keys: &[&str]) -> Option<&'a Value> {
    let assets = &c.assets.extra;
    let typed = |v: &&Value| {
        v.get("asset_type")
            .and_then(Value::as_str)
            .is_some_and(|t| types.contains(&t))
    };
    keys.iter()
        .filter_map(|k| assets.get(*k))
        .find(typed)
        .or_else(|| assets.values().find(typed))
}

fn text<'a>(c: &'a CreativeAsset, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| c.assets.extra.get(*k))
        .filter(|v| v.get("asset_type").and_then(Value::as_str) == Some("text"))
        .find_map(|v| v.get("content").and_then(Value::as_str))
}

fn url(v: &Value) -> Option<&str> {
    v.get("url").and_then(Value::as_str)
}

/// The platform's creative for `c`: its copy, media and landing page (errors name fields of
/// the creative). The landing page is the
/// creative's click URL, else the advertiser's site (its brand domain).
fn platform_creative(
    ctx: &Ctx,
    c: &CreativeAsset,
    format: &SocialFormat,
    catalogues: &[KeptCatalog],
) -> AdcpResult<Value> {
    let media = match format.media {
        Media::Image => asset(c, &["image"], &["image", "main_image"]).and_then(url),
        Media::Video => asset(c, &["video"], &["video"]).and_then(url),
        Media::Catalogue => catalogues
            .iter()
            .flat_map(|k| k.items())
            .find_map(|i| {
                ["image_url", "image_link", "image"]
                    .iter()
                    .find_map(|k| i.get(*k))
            })
            .and_then(Value::as_str),
    };
    let Some(media) = media else {
        return Err(match format.media {
            Media::Catalogue => AdcpError::new(
                codes::VALIDATION_ERROR,
                "a product carousel is rendered from the account's catalogue, which has no \
                 item with an image",
            )
            .with_field("format_id")
            .with_suggestion("sync a product catalogue whose items have `image_url` first"),
            Media::Image => AdcpError::validation(
                "assets",
                format!("format `{}` needs an image asset with a `url`", format.id),
            ),
            Media::Video => AdcpError::validation(
                "assets",
                format!("format `{}` needs a video asset with a `url`", format.id),
            ),
        });
    };
    let landing = asset(
        c,
        &["url"],
        &["click_url", "landing_page_url", "clickthrough"],
    )
    .and_then(url)
    .map(str::to_owned)
    .or_else(|| {
        ctx.account()
            .brand
            .as_ref()
            .map(|b| format!("https://{}/", b.domain))
    })
    .ok_or_else(|| {
        AdcpError::validation(
            "assets",
            "the creative needs a `click_url` asset (where the ad leads)",
        )
    })?;
    let copy = text(c, &["primary_text", "body", "headline", "description"]).unwrap_or(&c.name);
    let mut body = json!({
        "name": c.name,
        "format_id": format.platform,
        "primary_text": copy,
        "landing_page_url": landing,
        "media_url": media,
    });
    if let Some(cta) = text(c, &["cta", "call_to_action", "cta_label"]) {
        body["cta_label"] = json!(cta);
    }
    Ok(body)
}

fn platform_status(s: Option<&str>) -> CreativeStatus {
    match s {
        Some("approved" | "active") => CreativeStatus::Approved,
        Some("rejected") => CreativeStatus::Rejected,
        _ => CreativeStatus::PendingReview,
    }
}

/// The formats (AdCP format objects; the seller sets their agent): what each takes, keyed by
/// `asset_id` in a creative's manifest.
pub(crate) fn formats() -> Vec<Value> {
    let image = json!({"item_type": "individual", "asset_id": "image", "asset_type": "image",
        "asset_role": "creative", "required": true,
        "requirements": {"min_width": 600, "formats": ["jpg", "png", "webp"], "max_file_size_kb": 30720}});
    let video = json!({"item_type": "individual", "asset_id": "video", "asset_type": "video",
        "asset_role": "creative", "required": true,
        "requirements": {"min_duration_ms": 5000, "max_duration_ms": 60000, "containers": ["mp4"]}});
    let copy = |id: &str, required: bool| {
        json!({"item_type": "individual", "asset_id": id,
        "asset_type": "text", "asset_role": "copy", "required": required})
    };
    let click = json!({"item_type": "individual", "asset_id": "click_url", "asset_type": "url",
        "asset_role": "clickthrough", "required": false});
    let format = |id: &str, name: &str, description: &str, assets: Vec<&Value>| {
        json!({
            "format_id": {"id": id}, "name": name, "description": description, "assets": assets,
        })
    };
    vec![
        format(
            "native_feed",
            "Native feed post",
            "An image post in the feed: the image, its \
            headline and text, and where a tap leads (the advertiser's site by default)",
            vec![
                &image,
                &copy("headline", false),
                &copy("primary_text", false),
                &copy("cta", false),
                &click,
            ],
        ),
        format(
            "carousel_image",
            "Image carousel",
            "Swipeable images in the feed",
            vec![
                &image,
                &copy("headline", false),
                &copy("primary_text", false),
                &click,
            ],
        ),
        format(
            "story_video",
            "Story video",
            "Full-screen vertical video between stories",
            vec![&video, &copy("primary_text", false), &click],
        ),
        format(
            "vertical_video",
            "Vertical video",
            "Vertical video in the video feed",
            vec![&video, &copy("primary_text", false), &click],
        ),
        format(
            "product_carousel_3_to_10",
            "Dynamic product carousel",
            "3 to 10 products of the account's synced catalogue, rendered by the platform; the \
             creative gives where a tap leads and an impression tracker",
            vec![
                &click,
                &json!({"item_type": "individual", "asset_id": "impression_pixel",
                "asset_type": "url", "asset_role": "impression_tracker", "required": false}),
            ],
        ),
    ]
}

impl CreativePlatform for Garden {
    fn register<'a>(
        &'a self,
        ctx: &'a Ctx,
        c: &'a CreativeAsset,
    ) -> BoxFuture<'a, AdcpResult<Registered>> {
        Box::pin(async move {
            // The seller took only formats it lists; another one of them (a compliance
            // fixture's display or video format) runs as a feed post or a story.
            let format = format(&c.format_id.id).unwrap_or_else(|| {
                let video = asset(c, &["video"], &[]).is_some();
                SocialFormat {
                    id: "feed",
                    platform: if video { "story_video" } else { "native_feed" },
                    media: if video { Media::Video } else { Media::Image },
                }
            });
            // Only a product carousel draws on the account's catalogues.
            let catalogues: Vec<KeptCatalog> = if format.media == Media::Catalogue {
                sales_non_guaranteed::catalogs(ctx).await?
            } else {
                Vec::new()
            };
            let body = platform_creative(ctx, c, &format, &catalogues)?;
            match self.advertiser(ctx).await? {
                Some(adv) => {
                    // The platform cannot change a creative: a changed one is a new version.
                    let made = self
                        .make(
                            ctx,
                            &adv.advertiser_id,
                            "creative",
                            &c.creative_id,
                            body,
                            "creative_id",
                        )
                        .await?;
                    Ok(Registered {
                        platform_id: made.id("creative_id")?,
                        status: platform_status(made.status()),
                    })
                }
                None => Ok(Registered {
                    platform_id: ctx.new_id("cr"),
                    status: CreativeStatus::PendingReview,
                }),
            }
        })
    }
}
