//! Pages and assets this agent hosts: a platform that renders a creative itself (rather than
//! through an upstream that serves it) hands the HTML to
//! [`Ctx::host_preview`](crate::Ctx::host_preview) and answers the URL it gets,
//! `<agent>/previews/<id>`, as a render's `preview_url`; an image it generated (SVG) goes to
//! [`Ctx::host_asset`](crate::Ctx::host_asset), at `<agent>/assets/<id>`.
//!
//! The id is random (122 bits): the URL is the capability, served without credentials as
//! browsers and buyers' tools open it. Bodies are kept in the agent's shared store until they
//! expire (a read after that is 404; an expired one is dropped when read). They are served
//! sandboxed: `Content-Security-Policy: sandbox` with no scripts, frames or connections, images
//! and media from anywhere, inline styles, and `nosniff`.

use serde::{Deserialize, Serialize};

use crate::error::AdcpResult;
use crate::state::{Collection, State};

/// Hosted pages and assets, by id, in the agent's shared scope.
const PREVIEWS: Collection<Hosted> = Collection::new("runtime_previews");

/// The path previews are served under.
pub(crate) const PATH: &str = "/previews";

/// The path assets are served under.
pub(crate) const ASSETS: &str = "/assets";

/// The types an asset may be served as (text a platform renders itself).
pub(crate) const ASSET_TYPES: &[&str] = &["image/svg+xml", "text/plain", "text/vtt"];

/// The policy a hosted body is served with.
pub(crate) const POLICY: &str = "sandbox; default-src 'none'; img-src * data:; media-src *; \
                                 style-src 'unsafe-inline'; font-src *";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hosted {
    body: String,
    content_type: String,
    /// Unix seconds.
    expires: i64,
}

/// Keeps `body` (served as `content_type`) until `expires` (unix seconds) under `id`.
pub(crate) async fn host(
    state: &State<'_>,
    id: &str,
    body: String,
    content_type: &str,
    expires: i64,
) -> AdcpResult<()> {
    let hosted = Hosted {
        body,
        content_type: content_type.to_owned(),
        expires,
    };
    state.put(PREVIEWS, id, &hosted).await
}

/// What is hosted under `id`, still live at `now` (unix seconds): its type and body.
pub(crate) async fn page(state: &State<'_>, id: &str, now: i64) -> Option<(String, String)> {
    let hosted = state.get(PREVIEWS, id).await.ok()??;
    if hosted.expires <= now {
        if let Err(e) = state.delete(PREVIEWS, id).await {
            tracing::debug!(error = %e.message(), "an expired page was not dropped");
        }
        return None;
    }
    Some((hosted.content_type, hosted.body))
}
