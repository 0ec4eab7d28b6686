//! Grants: narrow bearer credentials an account hands to a third party, so it can make one
//! call on one of the account's resources (a seller fetching a buyer's property list with the
//! `auth_token` the list was created with).
//!
//! A platform issues one with [`Ctx::grant`](crate::Ctx::grant): the task, and the request
//! field naming the resource with its value. The token is random (256 bits), shown once; the
//! store keeps only its SHA-256, with the issuing principal and account. A request presenting
//! it (`Authorization: Bearer <token>`) is served as the issuer's call on the issuer's
//! account, but only for that task with that field naming that resource; any other request
//! with it is `PERMISSION_DENIED`, the same answer whatever it names, so a grant reveals
//! nothing else. [`Ctx::granted`](crate::Ctx::granted) tells a platform a call came with one.
//! A grant lives as long as the platform keeps it: [`Ctx::revoke_grants`] ends those of a
//! resource (its deletion).
//!
//! [`Ctx::revoke_grants`]: crate::Ctx::revoke_grants

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{AdcpError, AdcpResult, codes};
use crate::state::{Collection, State};
use crate::store::Principal;

/// Grants, by the SHA-256 (hex) of their token, in the agent's shared scope.
const GRANTS: Collection<Kept> = Collection::new("runtime_grants");

/// A grant as kept: its key too, to revoke it by what it covers.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    key: String,
    grant: Grant,
}

/// The prefix of grant tokens (so a leaked one is recognisable).
const PREFIX: &str = "adcp_grant_";

/// What a grant lets its bearer do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The principal that issued it: the call is served as theirs.
    pub principal: String,
    /// The account it acts for.
    pub account_id: String,
    /// The one task it covers (`get_property_list`).
    pub task: String,
    /// The request field naming the resource (`list_id`).
    pub field: String,
    /// The resource.
    pub value: String,
}

impl Grant {
    /// Whether the grant covers a call of `task` with `args`.
    pub fn covers(&self, task: &str, args: &Map<String, Value>) -> bool {
        task == self.task && args.get(&self.field).and_then(Value::as_str) == Some(&self.value)
    }

    /// The issuing principal.
    pub fn issuer(&self) -> Principal {
        Principal {
            id: self.principal.clone(),
        }
    }
}

fn key(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Keeps `grant` and answers its token.
pub(crate) async fn issue(state: &State<'_>, grant: &Grant) -> AdcpResult<String> {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&uuid::Uuid::new_v4().into_bytes());
    bytes[16..].copy_from_slice(&uuid::Uuid::new_v4().into_bytes());
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let key = key(&token);
    let kept = Kept {
        key: key.clone(),
        grant: grant.clone(),
    };
    state.put(GRANTS, &key, &kept).await?;
    Ok(token)
}

/// The grant a bearer token is, if it is one.
pub(crate) async fn find(state: &State<'_>, token: &str) -> Option<Grant> {
    if !token.starts_with(PREFIX) {
        return None;
    }
    match state.get(GRANTS, &key(token)).await {
        Ok(k) => k.map(|k| k.grant),
        Err(e) => {
            tracing::warn!(error = %e.message(), "grants could not be read; the token is refused");
            None
        }
    }
}

/// Ends every grant of the account's on `task` naming `value`.
pub(crate) async fn revoke(
    state: &State<'_>,
    account_id: &str,
    task: &str,
    value: &str,
) -> AdcpResult<usize> {
    let mut n = 0;
    for k in state.list(GRANTS).await? {
        let g = &k.grant;
        if g.account_id == account_id && g.task == task && g.value == value {
            state.delete(GRANTS, &k.key).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The refusal of a call a grant does not cover.
pub(crate) fn not_covered() -> AdcpError {
    AdcpError::new(
        codes::PERMISSION_DENIED,
        "this credential covers one call on one resource, and not this one",
    )
}
