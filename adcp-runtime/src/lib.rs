#![doc = include_str!("../../README.md")]

// The modules, in layers: each imports only from those below it (checked by
// `tests/module_graph.rs`). Most are private; what adopters use is re-exported below, and
// `pub mod` is kept for the namespaces adopters call into.
//
// Leaves: errors, time, pagination, scenario types, validation, TLS, the event bus.
mod error;
mod events;
pub mod formats;
pub mod governance;
mod grants;
mod hosts;
pub mod json;
mod media;
mod page;
mod previews;
mod scenario;
pub mod time;
mod tls;
pub mod upstream;
mod validate;
// Storage: the traits, their records and the backends.
pub mod store;
// The adopter model and the runtime's registries.
pub mod accounts;
mod auth;
mod capabilities;
mod config;
mod controller;
mod ctx;
mod envelope;
mod idempotency;
mod jwt;
pub mod lifecycle;
mod limits;
mod metrics;
mod platform;
pub mod proposals;
pub mod signing;
mod ssrf;
mod state;
mod tasks;
mod tenants;
mod webhooks;
// The server: its state, the pipeline, hand-offs, background work.
mod background;
mod boot;
mod handoff;
mod own_governance;
mod pipeline;
mod reporting;
mod reports;
mod server;
// Transports and starting.
mod a2a;
#[cfg(feature = "cli")]
pub mod cli;
mod http;
mod jsonrpc;
mod mcp;
mod serve;
#[cfg(feature = "test-util")]
pub mod test_util;

#[doc(hidden)]
pub mod __private;

/// Derives an AdCP decisioning platform from an impl block.
///
/// Each `async fn` named after an AdCP task becomes that task's handler; each named after a
/// `comply_test_controller` scenario (`seed_product`, `force_media_buy_status`, ...) becomes
/// that scenario. The attribute emits the dispatch table (a static of function pointers), the
/// platform's capabilities and its [`DecisioningPlatform`] impl, and re-emits the impl block
/// unchanged apart from its `#[adcp(..)]` helper attributes.
///
/// ```text
/// async fn <task>(&self, ctx: &Ctx, req: <Task>Request) -> AdcpResult<<answer>>
/// async fn <task>(&self, ctx: &Ctx, req: <Task>Request) -> AdcpResult<Hybrid<<answer>>>   // async-arm tasks
/// async fn <scenario>(&self, ctx: &Ctx, params: ScenarioParams) -> AdcpResult<ControllerReply>
/// ```
///
/// `<answer>` is the task's response type or any arm of it (`CreateMediaBuySuccess`).
///
/// | Argument | Meaning | Default |
/// |---|---|---|
/// | `specialisms(a, b)` | Specialisms claimed (manifest ids: `sales_non_guaranteed`). Each one's required tasks must be implemented: its entry points, and what its storyboards exercise that a reference framework requires too (`SpecialismSpec::required_tools`); the optional ones left out are logged at start-up. `get_adcp_capabilities` lists the claimed specialisms' protocols and the implemented tasks'. | none |
/// | `accounts = explicit \| from_auth \| singleton` | How a request's account is found: from its `account`, from the authenticated principal, or one for all. | `explicit` |
/// | `recipes(kind = Type, ..)` | Recipe types (each implementing [`Recipe`], serde and schemars): derives one union tagged `recipe_kind`. | none |
/// | `recipe_union = [vis] Name` | Visibility and name of that union. | `pub(crate) <Type>Recipe` |
/// | `crate = path` | Path to this crate, when re-exported under another name. | `::adcp_runtime` |
///
/// Helper attributes on methods: `#[adcp(task = "get_products")]` names the task a method with
/// another name implements; `#[adcp(skip)]` leaves an operation-shaped method alone. Other
/// methods (helpers) are left alone.
///
/// Rejected at compile time, each at its own token, all in one compilation, with a suggestion
/// where a name is close to a known one: an unknown specialism; a claimed specialism without its
/// required tasks (named); a wrong request or response type; a task implemented twice; an
/// unknown task or scenario name; a hand-off (`Hybrid`) from a task whose schema has no async
/// arms; a wrong receiver, arity, context type or a non-`async` handler; a task the runtime
/// serves itself (`get_adcp_capabilities`, `tasks_get`, `tasks_list`); duplicate recipe kinds.
///
/// # Limitations
///
/// - One impl block per platform: the compile-time checks need every task of the platform, and
///   an attribute sees one item. Delegate from that block to split a large platform.
/// - `Hybrid<..>` must be written as such in the return type (not through an alias): the macro
///   reads the return type to choose the reply path. A mismatch is still a type error.
/// - A `#[cfg]`-gated task is counted by the specialism check whatever the configuration.
/// - Generic impl blocks and trait impl blocks are not supported.
pub use accounts::{AccountMode, Accounts};
pub use adcp_macros::decisioning_platform;
/// Derives [`ProposalManager`] from a proposal manager's own impl block, with its
/// capabilities declared in the attribute and checked against the block's methods at compile
/// time (a declared capability without its method, or a method whose capability is not
/// declared, does not compile).
///
/// ```text
/// async fn get_products(&self, ctx: &Ctx, req: &GetProductsRequest) -> AdcpResult<GetProductsResponse>        // brief, wholesale: required
/// async fn refine(&self, ctx: &Ctx, req: &GetProductsRequest, drafts: &[ProposalRecord]) -> AdcpResult<GetProductsResponse>  // with `refine`
/// async fn finalize(&self, ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal>                     // with `finalize`
/// async fn finalize(&self, ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Hybrid<Proposal>>             //   or a hand-off
/// async fn product(&self, ctx: &Ctx, product_id: &str) -> AdcpResult<Option<Product>>                     // optional
/// fn packages(&self, proposal: &Proposal, total_budget: &CreateMediaBuyRequestTotalBudget) -> AdcpResult<Vec<PackageRequest>>  // optional
/// ```
///
/// | Argument | Meaning | Default |
/// |---|---|---|
/// | `refine` | It answers `buying_mode: "refine"` (with `refine`); without it such requests are `UNSUPPORTED_FEATURE`. | off |
/// | `finalize` | Its proposals are drafts until finalized (with `finalize`); without it they are ready to buy as answered. | off |
/// | `hold = <Duration>` | How long committed terms are held when the manager sets no `expires_at`. | 24 h |
/// | `grace = <Duration>` | How long after `expires_at` an acceptance is still taken (clock skew). | 5 s |
/// | `crate = path` | Path to this crate. | `::adcp_runtime` |
///
/// ```
/// use adcp_runtime::store::ProposalRecord;
/// use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse, Proposal};
/// use adcp_runtime::{AdcpResult, Ctx, proposal_manager};
///
/// struct Planner;
///
/// #[proposal_manager(refine, finalize, hold = std::time::Duration::from_secs(3600))]
/// impl Planner {
///     async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
///         Ok(GetProductsResponse::new(Vec::new()))
///     }
///     async fn refine(&self, _ctx: &Ctx, _req: &GetProductsRequest, _drafts: &[ProposalRecord]) -> AdcpResult<GetProductsResponse> {
///         Ok(GetProductsResponse::new(Vec::new()))
///     }
///     async fn finalize(&self, _ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> {
///         draft.decode()
///     }
/// }
/// ```
pub use adcp_macros::proposal_manager;
pub use adcp_wire as wire;
pub use auth::{ApiKeyError, Auth, Caller, TokenVerifier};
pub use boot::{BootError, Problem, ServeError};
pub use config::{Call, Config, MAJOR_VERSION, Reply};
pub use ctx::{Ctx, CtxBuilder, SHARED_SCOPE};
pub use error::{AdcpError, AdcpResult, Recovery, codes};
pub use events::{Bus, Event};
pub use grants::Grant;
pub use http::{BODY_LIMIT, router};
pub use idempotency::{DEFAULT_RETENTION, MAX_RESPONSE_BYTES};
pub use jwt::JwtVerifier;
pub use limits::RateLimit;
pub use page::{DEFAULT_PAGE, MAX_PAGE, Page};
pub use platform::{
    BoxFuture, CapabilityOverlap, ControllerCode, ControllerReply, DecisioningPlatform,
    HandoffStatus, Hybrid, Job, Recipe, RecipeUnion, ScenarioParams, TaskHandoff,
};
pub use proposals::{ProposalCapabilities, ProposalManager};
pub use reporting::Restated;
pub use schemars;
pub use serde;
pub use serde_json;
pub use serve::{Running, Serve, serve};
pub use server::Server;
pub use state::{Collection, State};
pub use store::tenants::TenantSpec;
pub use store::{Account, AccountStore, Principal, StoreError, Stores, TaskStatus};
pub use tasks::{DEFAULT_LEASE, NewTask, TaskRegistry};
pub use tenants::{
    TenantContext, TenantError, TenantRegistry, TenantRegistryBuilder, TenantServer, TenantStatus,
};
pub use time::Clock;
pub use webhooks::{
    Retry, Transport, WebhookRequest, WebhookResponse, WebhookSendError, WebhookTransport,
};

/// The guides' Rust examples compile and run as doctests, so a renamed path breaks the build
/// rather than the reader.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../docs/protocol.md")]
    struct Protocol;
    #[doc = include_str!("../../docs/operations.md")]
    struct Operations;
    #[doc = include_str!("../../docs/testing.md")]
    struct Testing;
    #[doc = include_str!("../../docs/wire-types.md")]
    struct WireTypes;
}
