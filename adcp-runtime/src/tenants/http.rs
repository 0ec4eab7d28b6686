//! The tenants' HTTP front: routing, the health gate, and the admin API.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::ServiceExt;

use crate::error::{AdcpError, codes};
use crate::store::BoxFuture;
use crate::store::tenants::TenantSpec;

use super::{TenantError, TenantRegistry};

impl TenantRegistry {
    /// Serves every tenant on `listener` until `shutdown` resolves (SIGINT or SIGTERM when
    /// `None`), finishing the requests in flight.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: Option<BoxFuture<'static, ()>>,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let tenants = self.list();
        tracing::info!(listen = %addr, tenants = tenants.len(), stores = self.inner.stores.description(), "serving AdCP tenants");
        for t in &tenants {
            tracing::info!(
                tenant = %t.id,
                url = %t.spec.public_url,
                hosts = ?t.spec.hosts,
                path_prefix = t.spec.path_prefix.as_deref().unwrap_or("-"),
                verification = ?t.health.verification,
                enabled = t.health.enabled,
                "tenant"
            );
        }
        if self.inner.admin.is_some() {
            tracing::info!(url = %format!("http://{addr}/_adcp/tenants"), "tenant admin API (bearer token)");
        }
        let signal = shutdown.unwrap_or_else(|| Box::pin(crate::serve::shutdown_signal()));
        let app = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
    }

    /// The HTTP front of every tenant: routes by host and path prefix, gates on health, and
    /// serves the admin API when an admin token is set.
    pub fn router(&self) -> Router {
        Router::new().fallback(front).with_state(self.clone())
    }
}

/// An AdCP error answered by the front, before any tenant's server.
pub(super) fn refuse(status: StatusCode, e: &AdcpError) -> Response {
    (status, Json(crate::envelope::error(e))).into_response()
}

async fn front(State(registry): State<TenantRegistry>, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if registry.inner.admin.is_some() && path.starts_with("/_adcp/") {
        return admin(&registry, req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned());
    let view = registry.view();
    let Some((record, prefix)) = view.route(host.as_deref(), &path) else {
        let e = AdcpError::new(
            codes::REFERENCE_NOT_FOUND,
            "no tenant is served at this host or path",
        )
        .with_field("tenant");
        return refuse(StatusCode::NOT_FOUND, &e);
    };
    if !record.health.serves() {
        let (why, retry) = if record.health.enabled {
            ("its keys have not been validated yet", 10)
        } else {
            ("it is disabled by its operator", 60)
        };
        let e = AdcpError::internal(format!("this tenant is not served: {why}"))
            .with_field("tenant")
            .with_retry_after(retry);
        let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, &e);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return r;
    }
    let prefix = prefix.map(str::to_owned);
    let server = match registry
        .mount(record, view.fingerprint(&record.spec.id))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(tenant = %record.spec.id, error = %e, "building the tenant's platform");
            let e = AdcpError::internal("this tenant cannot be served right now")
                .with_field("tenant")
                .with_retry_after(10);
            let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, &e);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(10));
            return r;
        }
    };
    if let Some(prefix) = prefix {
        let rest = &path[prefix.len()..];
        let rest = if rest.is_empty() { "/" } else { rest };
        let target = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        match target.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                let e = AdcpError::invalid_request("path", "not a valid request target");
                return refuse(StatusCode::BAD_REQUEST, &e);
            }
        }
        req.extensions_mut().insert(crate::http::PathPrefix(prefix));
    }
    match server.0.router().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The admin API: `GET /_adcp/tenants`, `GET|PUT|DELETE /_adcp/tenants/{id}`,
/// `POST /_adcp/tenants/{id}/recheck|enable|disable`, bearer-authenticated.
async fn admin(registry: &TenantRegistry, req: Request) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
    let authorised = match (token, registry.inner.admin) {
        (Some(t), Some(expected)) => bool::from(t.ct_eq(&expected)),
        _ => false,
    };
    if !authorised {
        let e = AdcpError::new(codes::AUTH_REQUIRED, "the admin API needs its bearer token")
            .with_field("Authorization");
        let mut r = refuse(StatusCode::UNAUTHORIZED, &e);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"adcp-admin\""),
        );
        return r;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path
        .strip_prefix("/_adcp/tenants")
        .unwrap_or("-")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = parts.method.as_str();
    let outcome = match (method, segments.as_slice()) {
        ("GET", []) if path == "/_adcp/tenants" => {
            return Json(json!({"tenants": registry.list()})).into_response();
        }
        ("GET", [id]) => registry
            .status(id)
            .ok_or_else(|| TenantError::NotFound((*id).to_owned())),
        ("PUT", [id]) => {
            let spec = match read_spec(body, id).await {
                Ok(s) => s,
                Err(e) => return admin_error(&e),
            };
            if registry.status(id).is_some() {
                registry.update(spec).await
            } else {
                registry.register(spec).await
            }
        }
        ("DELETE", [id]) => match registry.unregister(id).await {
            Ok(()) => return StatusCode::NO_CONTENT.into_response(),
            Err(e) => Err(e),
        },
        ("POST", [id, "recheck"]) => registry.recheck(id).await,
        ("POST", [id, "enable"]) => registry.set_enabled(id, true).await,
        ("POST", [id, "disable"]) => registry.set_enabled(id, false).await,
        _ => {
            let e = AdcpError::new(codes::REFERENCE_NOT_FOUND, "no such admin operation")
                .with_field("path");
            return refuse(StatusCode::NOT_FOUND, &e);
        }
    };
    match outcome {
        Ok(status) => Json(status).into_response(),
        Err(e) => admin_error(&e),
    }
}

async fn read_spec(body: Body, id: &str) -> Result<TenantSpec, TenantError> {
    let bytes = axum::body::to_bytes(body, crate::http::BODY_LIMIT)
        .await
        .map_err(|e| TenantError::Invalid {
            field: "body",
            message: e.to_string(),
        })?;
    let spec: TenantSpec = serde_json::from_slice(&bytes).map_err(|e| TenantError::Invalid {
        field: "body",
        message: format!("not a tenant spec: {e}"),
    })?;
    if spec.id != id {
        return Err(TenantError::Invalid {
            field: "id",
            message: format!("the body's id `{}` is not the path's `{id}`", spec.id),
        });
    }
    Ok(spec)
}

fn admin_error(e: &TenantError) -> Response {
    let (status, code, field) = match e {
        TenantError::Invalid { field, .. } => {
            (StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, *field)
        }
        TenantError::Conflict { field, .. } => (StatusCode::CONFLICT, codes::CONFLICT, *field),
        TenantError::NotFound(_) => (StatusCode::NOT_FOUND, codes::REFERENCE_NOT_FOUND, "id"),
        TenantError::ForeignEvent(_) => (StatusCode::FORBIDDEN, codes::PERMISSION_DENIED, "scope"),
        TenantError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVICE_UNAVAILABLE,
            "store",
        ),
    };
    refuse(
        status,
        &AdcpError::new(code, e.to_string()).with_field(field),
    )
}
