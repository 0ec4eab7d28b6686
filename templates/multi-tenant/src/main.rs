//! Many sellers in one process: `cargo run -p multi-tenant -- --tenants FILE`.

use std::path::{Path, PathBuf};

use adcp_runtime::store::tenants::TenantSpec;
use adcp_runtime::{TenantContext, TenantRegistry, TenantServer};
use clap::Parser;
use serde::Deserialize;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves the tenants of a file, each a seller of its own, routed by host and by path prefix.
/// Compliance testing is on unless `--compliance-testing false`.
#[derive(Parser)]
#[command(name = "multi-tenant", version)]
struct Cli {
    /// The tenants to serve (TOML: `[[tenants]]` tables; see tenants.example.toml).
    #[arg(long, env = "ADCP_TENANTS")]
    tenants: PathBuf,
    /// Serves the tenant admin API at `/_adcp/tenants` to this bearer token.
    #[arg(long, env = "ADCP_ADMIN_TOKEN")]
    admin_token: Option<String>,
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

/// What a `sales-non-guaranteed` tenant's `settings` hold.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SellerSettings {
    /// The agent's name.
    name: Option<String>,
    /// Its products (fields over the seller's baseline); the default catalogue otherwise.
    products: Option<Vec<serde_json::Value>>,
}

/// The tenants file: `[[tenants]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    tenants: Vec<TenantSpec>,
}

/// The tenants of the file at `path`. A tenant without `public_url` is reached at `base`
/// followed by its path prefix.
fn read(path: &Path, base: &str) -> Result<Vec<TenantSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: TenantsFile =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file
        .tenants
        .into_iter()
        .map(|mut t| {
            if t.public_url.is_empty() {
                let prefix = t.path_prefix.as_deref().unwrap_or("");
                t.public_url = format!("{base}{prefix}");
            }
            t
        })
        .collect())
}

/// Builds one `sales-non-guaranteed` tenant: the reference seller on the tenant's stores.
async fn seller(
    cx: TenantContext,
    compliance_testing: bool,
    allow_private_webhooks: bool,
) -> Result<TenantServer, String> {
    let settings: SellerSettings = match cx.spec.settings {
        serde_json::Value::Null => SellerSettings::default(),
        ref v => serde_json::from_value(v.clone()).map_err(|e| format!("settings: {e}"))?,
    };
    let base = sales_non_guaranteed::config(compliance_testing);
    // The seller's own settings over what the registry set (URL, keys).
    let config = adcp_runtime::Config {
        name: settings.name.unwrap_or(base.name),
        description: base.description,
        capabilities: base.capabilities,
        compliance_testing,
        allow_private_webhooks,
        ..cx.config
    };
    let mut seller = sales_non_guaranteed::Seller::new(compliance_testing);
    if let Some(products) = settings.products {
        seller = seller.with_products(products)?;
    }
    let products = seller.catalog("http://127.0.0.1/mcp").to_vec();
    let planner = seller.planner();
    let server = adcp_runtime::serve(seller)
        .proposals(planner)
        .config(config)
        .stores(cx.stores)
        .catalog(products)
        .into_server()
        .map_err(|e| e.to_string())?;
    Ok(server.into())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.adcp.init_logging() {
        // No log yet: clap's way of reporting a bad flag.
        clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n")).exit();
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(cli.adcp.bind).await?;
    let base = match &cli.adcp.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let specs = read(&cli.tenants, &base)?;
    let stores = cli.adcp.stores().await?;
    let testing = cli.adcp.compliance_testing.unwrap_or(true);
    let private = cli.adcp.allow_private_webhooks;
    let mut registry = TenantRegistry::builder(stores)
        .platform("sales-non-guaranteed", move |cx| {
            seller(cx, testing, private)
        });
    if testing || cli.adcp.allow_private_webhooks {
        registry = registry.allow_private_jwks();
    }
    if let Some(token) = &cli.admin_token {
        registry = registry.admin_token(token);
    }
    let registry = registry.build().await?;
    for spec in specs {
        let id = spec.id.clone();
        let status = match registry.status(&id) {
            Some(s) if s.spec == spec => registry.recheck(&id).await?,
            Some(_) => registry.update(spec).await?,
            None => registry.register(spec).await?,
        };
        if status.served {
            let url = format!("{}/mcp", status.spec.public_url);
            tracing::info!(tenant = %id, url = %url, "MCP (streamable HTTP)");
        } else {
            let why = status.health.last_error.as_deref().unwrap_or("-");
            tracing::warn!(tenant = %id, error = why, "tenant not served yet");
        }
    }
    registry.serve(listener, None).await?;
    Ok(())
}
