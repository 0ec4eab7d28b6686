//! Clearance: the station's traffic system takes a spot only with its Ad-ID and the length its
//! format sells. Each creative the buyer syncs is checked here (the reference seller's
//! [`CreativePlatform`] seam) before the library keeps it:
//!
//! - an Ad-ID that is not one (four letters, seven letters or digits, an optional `H` for HD
//!   or `D` for 3D) fails that creative, on the identifier's field;
//! - a video whose duration is not the spot's length (`:30`, `:15`, read from the format id)
//!   fails it, on the asset's `duration_ms`;
//! - a complete spot is cleared (`approved`), filed under its Ad-ID;
//! - a spot without an Ad-ID, or without its video yet, is kept `pending_review`: it airs once
//!   the agency completes it.

use adcp_runtime::wire::{CreativeAsset, CreativeIdentifierType, CreativeStatus};
use adcp_runtime::{AdcpError, AdcpResult, Ctx};
use sales_non_guaranteed::{BoxFuture, CreativePlatform, Registered};
use serde_json::Value;

/// How far a spot's running time may be from its length (frames lost in transcoding).
const TOLERANCE_MS: i64 = 500;

/// The traffic system's clearance desk.
pub(crate) struct Clearance;

impl CreativePlatform for Clearance {
    fn register<'a>(
        &'a self,
        _ctx: &'a Ctx,
        creative: &'a CreativeAsset,
    ) -> BoxFuture<'a, AdcpResult<Registered>> {
        Box::pin(async move { clear(creative) })
    }
}

/// Whether `s` is an Ad-ID: a four-letter prefix, seven letters or digits, and `H` (HD) or
/// `D` (3D) for those formats.
pub(crate) fn is_ad_id(s: &str) -> bool {
    let b = s.as_bytes();
    let body = match b.len() {
        11 => b,
        12 if matches!(b[11], b'H' | b'D') => &b[..11],
        _ => return false,
    };
    body[..4].iter().all(u8::is_ascii_uppercase)
        && body[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A spot's length in seconds, from its format id (`broadcast_spot_30s`, `broadcast_15s`).
pub(crate) fn spot_seconds(format_id: &str) -> Option<i64> {
    let digits = format_id.strip_suffix('s')?;
    let start = digits
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    digits[start..].parse().ok().filter(|s| *s > 0)
}

fn clear(creative: &CreativeAsset) -> AdcpResult<Registered> {
    let ids = creative.industry_identifiers.as_deref().unwrap_or_default();
    let ad_id = ids
        .iter()
        .position(|i| i.r#type == CreativeIdentifierType::AdId);
    if let Some(i) = ad_id
        && !is_ad_id(&ids[i].value)
    {
        return Err(AdcpError::invalid_request(
            format!("industry_identifiers[{i}].value"),
            format!(
                "`{}` is not an Ad-ID: four letters, seven letters or digits, then H for HD",
                ids[i].value
            ),
        ));
    }
    let video = creative
        .assets
        .extra
        .iter()
        .find(|(_, a)| a.get("asset_type").and_then(Value::as_str) == Some("video"));
    if let (Some(secs), Some((key, asset))) = (spot_seconds(&creative.format_id.id), video)
        && let Some(ms) = asset.get("duration_ms").and_then(Value::as_i64)
        && (ms - secs * 1000).abs() > TOLERANCE_MS
    {
        return Err(AdcpError::invalid_request(
            format!("assets.{key}.duration_ms"),
            format!(
                "a :{secs:02} spot runs {secs} seconds; this one runs {:.1}",
                ms as f64 / 1000.0
            ),
        ));
    }
    Ok(match ad_id {
        Some(i) if video.is_some() => Registered {
            platform_id: ids[i].value.clone(),
            status: CreativeStatus::Approved,
        },
        _ => Registered {
            platform_id: format!("held:{}", creative.creative_id),
            status: CreativeStatus::PendingReview,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_ids_and_spot_lengths() {
        assert!(is_ad_id("NOVA0042000H"));
        assert!(is_ad_id("ABCD1234567"));
        assert!(!is_ad_id("NOVA0042000X"));
        assert!(!is_ad_id("nova0042000H"));
        assert!(!is_ad_id("NOV00042000H"));
        assert!(!is_ad_id("NOVA004200"));
        assert!(!is_ad_id("NOVA-042000H"));
        assert_eq!(spot_seconds("broadcast_spot_30s"), Some(30));
        assert_eq!(spot_seconds("broadcast_15s"), Some(15));
        assert_eq!(spot_seconds("display_300x250"), None);
        assert_eq!(spot_seconds("video_s"), None);
    }
}
