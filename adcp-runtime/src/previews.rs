//! Previews this agent hosts: a platform that renders a creative itself (rather than through an
//! upstream that serves it) hands the HTML to [`Ctx::host_preview`](crate::Ctx::host_preview)
//! and answers the URL it gets, `<agent>/previews/<id>`, as a render's `preview_url`.
//!
//! The id is random (122 bits): the URL is the capability, served without credentials as
//! browsers and buyers' tools open it. Pages are kept in the agent's shared store until they
//! expire (a read after that is 404; an expired page is dropped when read). They are served
//! sandboxed: `Content-Security-Policy: sandbox` with no scripts, frames or connections, images
//! and media from anywhere, inline styles, and `nosniff`.

use serde::{Deserialize, Serialize};

use crate::error::AdcpResult;
use crate::state::{Collection, State};

/// Hosted previews, by id, in the agent's shared scope.
const PREVIEWS: Collection<Hosted> = Collection::new("runtime_previews");

/// The path previews are served under.
pub(crate) const PATH: &str = "/previews";

/// The policy a hosted preview is served with.
pub(crate) const POLICY: &str = "sandbox; default-src 'none'; img-src * data:; media-src *; \
                                 style-src 'unsafe-inline'; font-src *";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hosted {
    html: String,
    /// Unix seconds.
    expires: i64,
}

/// Keeps `html` until `expires` (unix seconds) and answers its id.
pub(crate) async fn host(
    state: &State<'_>,
    id: &str,
    html: String,
    expires: i64,
) -> AdcpResult<()> {
    state.put(PREVIEWS, id, &Hosted { html, expires }).await
}

/// The page of a preview still live at `now` (unix seconds).
pub(crate) async fn page(state: &State<'_>, id: &str, now: i64) -> Option<String> {
    let hosted = state.get(PREVIEWS, id).await.ok()??;
    if hosted.expires <= now {
        if let Err(e) = state.delete(PREVIEWS, id).await {
            tracing::debug!(error = %e.message(), "an expired preview was not dropped");
        }
        return None;
    }
    Some(hosted.html)
}
