//! A sponsored-intelligence agent: brands' conversational offerings, served inside a host's
//! AI assistant. A user asks the host about something; the host finds a brand's offering
//! (`si_get_offering`), opens a session with the brand (`si_initiate_session`), relays the
//! user's messages (`si_send_message`), and closes it (`si_terminate_session`), handing the
//! user to checkout when they want to buy.
//!
//! The brands' agents are on a conversational platform (the SDK's `sponsored-intelligence`
//! mock, in tests): tenancy by brand in the path, offerings with a query token, conversations
//! with turns, and a close that carries the checkout hand-off. This agent keeps each session
//! in its store, with its transcript: the session's brand and conversation, its status, and
//! every turn.
//!
//! Accounts, tasks, idempotency (a replayed message is answered as first), validation, the
//! controller's plumbing and the envelope are the runtime's.

use adcp_runtime::json::answer;
use std::collections::HashMap;
use std::sync::Mutex;

use adcp_runtime::time;
use adcp_runtime::upstream::Upstream;
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, ControllerReply, Ctx, ScenarioParams, Serve, Stores,
    codes, decisioning_platform,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The sessions of an account, by id.
const SESSIONS: Collection<Session> = Collection::new("si_sessions");

/// A session, as kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session {
    session_id: String,
    /// The brand's id on the platform, and its conversation there.
    brand_id: String,
    conversation_id: String,
    offering_id: Option<String>,
    /// `active`, `pending_handoff`, `complete` or `terminated`.
    status: String,
    /// Why it ended, when it did.
    ended_because: Option<String>,
    transcript: Vec<Turn>,
    /// The checkout hand-off the brand gave when it closed.
    handoff: Option<Value>,
    ttl_seconds: Option<i64>,
    started_at: String,
}

/// One message of the transcript.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Turn {
    /// `user` or `brand`.
    from: String,
    text: String,
    at: String,
}

/// The platform's answer to a turn.
#[derive(Clone, Debug, Deserialize)]
struct Reply {
    #[serde(default)]
    assistant_message: String,
    #[serde(default)]
    components: Vec<Value>,
    #[serde(default)]
    close_recommended: Option<Value>,
}

/// The platform's conversation.
#[derive(Clone, Debug, Deserialize)]
struct Conversation {
    conversation_id: String,
    #[serde(default)]
    turns: Vec<Reply>,
    #[serde(default)]
    session_ttl_seconds: Option<i64>,
    #[serde(default)]
    close: Option<Value>,
}

/// The agent: the platform, the brands it fronts, and where each offering is.
pub struct BrandConversations {
    upstream: Upstream,
    /// The brands' domains, in the order offerings are looked for.
    brands: Vec<String>,
    /// Domain → the platform's brand id; offering → brand id.
    ids: Mutex<HashMap<String, String>>,
}

fn not_found(field: &str) -> AdcpError {
    AdcpError::not_found(codes::SESSION_NOT_FOUND, field, "session")
}

/// The platform's components as the host renders them.
fn ui_elements(components: &[Value]) -> Vec<Value> {
    components
        .iter()
        .filter_map(|c| match c["kind"].as_str()? {
            "product_card" => Some(json!({"type": "product_card", "data": {
                "title": c["name"], "price": c["display_price"], "image_url": c["thumbnail_url"],
                "url": c["pdp_url"], "product_id": c["sku"], "availability": c["inventory_status"]}})),
            "action_button" => Some(json!({"type": "action_button",
                "data": {"label": c["label"], "action": c["action"]}})),
            _ => None,
        })
        .map(|mut e| {
            if let Some(d) = e["data"].as_object_mut() {
                d.retain(|_, v| !v.is_null());
            }
            e
        })
        .collect()
}

/// The AdCP close reasons as the platform names them.
fn close_reason(r: &SiTerminateSessionRequestReason) -> &'static str {
    match r.to_string().as_str() {
        "handoff_transaction" => "txn_ready",
        "handoff_complete" => "done",
        "user_exit" => "user_left",
        "session_timeout" => "idle_timeout",
        _ => "host_closed",
    }
}

impl BrandConversations {
    /// The platform at `url` with its key, fronting the brands of `domains`.
    pub fn new(url: &str, key: &str, domains: Vec<String>) -> Self {
        BrandConversations {
            upstream: Upstream::new(url).bearer(key),
            brands: domains,
            ids: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The platform's id for a brand domain.
    async fn brand_id(&self, domain: &str) -> AdcpResult<Option<String>> {
        if let Some(id) = self.lock().get(domain) {
            return Ok(Some(id.clone()));
        }
        let found: Option<Value> = self
            .upstream
            .get("/_lookup/brand")
            .query("adcp_brand", domain)
            .send_opt()
            .await?;
        let id = found.and_then(|f| f["brand_id"].as_str().map(str::to_owned));
        if let Some(id) = &id {
            self.lock().insert(domain.to_owned(), id.clone());
        }
        Ok(id)
    }

    /// The offering and its brand: looked for among the brands this agent fronts.
    async fn offering(
        &self,
        offering_id: &str,
        products: Option<i64>,
    ) -> AdcpResult<Option<(String, Value)>> {
        let known = self.lock().get(&format!("offering:{offering_id}")).cloned();
        let mut candidates = Vec::new();
        if let Some(b) = known {
            candidates.push(b);
        }
        for d in &self.brands {
            if let Some(id) = self.brand_id(d).await?
                && !candidates.contains(&id)
            {
                candidates.push(id);
            }
        }
        for brand in candidates {
            let mut call = self
                .upstream
                .get(&format!("/v1/brands/{brand}/offerings/{offering_id}"));
            if let Some(n) = products {
                call = call
                    .query("include_products", "true")
                    .query("product_limit", &n);
            }
            if let Ok(offering) = call.try_send::<Value>().await? {
                self.lock()
                    .insert(format!("offering:{offering_id}"), brand.clone());
                return Ok(Some((brand, offering)));
            }
        }
        Ok(None)
    }

    async fn session(&self, ctx: &Ctx, id: &str) -> AdcpResult<Session> {
        ctx.state()
            .get(SESSIONS, id)
            .await?
            .ok_or_else(|| not_found("session_id"))
    }

    fn path(s: &Session, tail: &str) -> String {
        format!(
            "/v1/brands/{}/conversations/{}{tail}",
            s.brand_id, s.conversation_id
        )
    }
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs sponsored-intelligence agent".into(),
        description: "Brands' conversational offerings inside AI assistants, with checkout hand-off (adcp-rs template)".into(),
        compliance_testing,
        ..Config::default()
    }
}

/// The agent on `config`, `stores` and `brands`.
pub fn agent(
    config: Config,
    stores: Stores,
    brands: BrandConversations,
) -> Serve<BrandConversations> {
    adcp_runtime::serve(brands).config(config).stores(stores)
}

#[decisioning_platform(accounts = explicit)]
impl BrandConversations {
    /// A brand's offering, with the products that match when asked, and the token a session
    /// opens with.
    pub async fn si_get_offering(
        &self,
        _ctx: &Ctx,
        req: SiGetOfferingRequest,
    ) -> AdcpResult<SiGetOfferingResponse> {
        let limit = (req.include_products == Some(true)).then(|| req.product_limit.unwrap_or(5));
        let Some((_, o)) = self.offering(&req.offering_id, limit).await? else {
            return answer(
                json!({"available": false, "offering_id": req.offering_id,
                       "unavailable_reason": "no brand this agent fronts has that offering"}),
                "an offering",
            );
        };
        let products: Vec<Value> = o["products"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut m = json!({"product_id": p["sku"], "name": p["name"], "price": p["display_price"],
                                   "original_price": p["list_price"], "image_url": p["thumbnail_url"],
                                   "url": p["pdp_url"], "availability_summary": p["inventory_status"]});
                if let Some(m) = m.as_object_mut() {
                    m.retain(|_, v| !v.is_null());
                }
                m
            })
            .collect();
        let mut offering = json!({"offering_id": req.offering_id, "title": o["name"],
            "summary": o["summary"], "tagline": o["tagline"], "expires_at": o["expires_at"],
            "price_hint": o["price_hint"], "image_url": o["hero_image_url"],
            "landing_url": o["landing_page_url"]});
        if let Some(m) = offering.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        let mut out = json!({"available": o["available"].as_bool().unwrap_or(true),
            "offering_id": req.offering_id, "offering": offering,
            "offering_token": o["offering_query_id"], "ttl_seconds": o["offering_query_ttl_seconds"],
            "checked_at": time::rfc3339(time::now())});
        if limit.is_some() {
            out["matching_products"] = json!(products);
            out["total_matching"] = o["total_matching"].clone();
        }
        if let Some(m) = out.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        answer(out, "an offering")
    }

    /// Opens a conversation with the offering's brand, kept as a session.
    pub async fn si_initiate_session(
        &self,
        ctx: &Ctx,
        req: SiInitiateSessionRequest,
    ) -> AdcpResult<SiInitiateSessionResponse> {
        // The offering to apply, if a brand this agent fronts has it; otherwise the session is
        // with the first brand, from the intent alone, and the answer says the offering was
        // not applied.
        let found = match &req.offering_id {
            Some(id) => self.offering(id, None).await?,
            None => None,
        };
        let (brand, applied) = match found {
            Some((brand, _)) => (brand, req.offering_id.clone()),
            None => {
                let first = self.brands.first().cloned().unwrap_or_default();
                let Some(brand) = self.brand_id(&first).await? else {
                    return Err(AdcpError::new(
                        codes::SERVICE_UNAVAILABLE,
                        "the brand platform does not know this agent's brand",
                    ));
                };
                (brand, None)
            }
        };
        let mut body = json!({"intent": req.intent, "identity": req.identity,
                              "client_request_id": req.idempotency_key});
        if let Some(o) = &applied {
            body["offering_id"] = json!(o);
            if let Some(t) = &req.offering_token {
                body["offering_query_id"] = json!(t);
            }
        }
        let started = self
            .upstream
            .post(&format!("/v1/brands/{brand}/conversations"), &body)
            .try_send::<Conversation>()
            .await?;
        let c = match started {
            Ok(c) => c,
            // A token of another offering, or one expired.
            Err(r) if r.status == 400 || r.status == 404 => {
                return Err(AdcpError::invalid_request("offering_token", r.message));
            }
            Err(r) => {
                return Err(
                    AdcpError::new(codes::CONFLICT, r.message).with_field("idempotency_key")
                );
            }
        };
        let now = time::rfc3339(ctx.now());
        let greeting = c.turns.first().cloned();
        let mut transcript = vec![Turn {
            from: "user".into(),
            text: req.intent.clone(),
            at: now.clone(),
        }];
        if let Some(g) = &greeting {
            transcript.push(Turn {
                from: "brand".into(),
                text: g.assistant_message.clone(),
                at: now.clone(),
            });
        }
        let s = Session {
            session_id: ctx.new_id("si"),
            brand_id: brand,
            conversation_id: c.conversation_id,
            offering_id: applied.clone(),
            status: "active".into(),
            ended_because: None,
            transcript,
            handoff: None,
            ttl_seconds: c.session_ttl_seconds,
            started_at: now,
        };
        ctx.state().put(SESSIONS, &s.session_id, &s).await?;
        let mut out =
            json!({"session_id": s.session_id, "session_status": "active", "status": "active"});
        if let Some(g) = greeting {
            out["response"] =
                json!({"message": g.assistant_message, "ui_elements": ui_elements(&g.components)});
        }
        if let Some(t) = s.ttl_seconds {
            out["session_ttl_seconds"] = json!(t);
        }
        if let (Some(asked), None) = (&req.offering_id, &applied) {
            out["ext"] = json!({"offering_not_applied": {"offering_id": asked,
                "reason": "no brand this agent fronts has that offering"}});
        }
        answer(out, "a session")
    }

    /// Relays the user's message (or their action on a component) to the brand; the brand's
    /// answer, and its hand-off when the user is ready to buy or done.
    pub async fn si_send_message(
        &self,
        ctx: &Ctx,
        req: SiSendMessageRequest,
    ) -> AdcpResult<SiSendMessageResponse> {
        let mut s = self.session(ctx, &req.session_id).await?;
        if matches!(s.status.as_str(), "complete" | "terminated") {
            return Err(AdcpError::new(
                "SESSION_TERMINATED",
                format!(
                    "the session ended ({})",
                    s.ended_because.as_deref().unwrap_or(&s.status)
                ),
            )
            .with_field("session_id"));
        }
        let mut body = json!({"client_request_id": req.idempotency_key});
        let said = match (&req.message, &req.action_response) {
            (Some(m), _) => {
                body["message"] = json!(m);
                m.clone()
            }
            (None, Some(a)) => {
                body["action_response"] = serde_json::to_value(a).unwrap_or_default();
                format!(
                    "[{}]",
                    body["action_response"]["action"]
                        .as_str()
                        .unwrap_or("action")
                )
            }
            (None, None) => {
                return Err(AdcpError::invalid_request(
                    "message",
                    "send a message or an action response",
                ));
            }
        };
        let answered = self
            .upstream
            .post(&Self::path(&s, "/turns"), &body)
            .try_send::<Reply>()
            .await?;
        let reply = match answered {
            Ok(r) => r,
            Err(r) if r.code == "conversation_closed" => {
                s.status = "terminated".into();
                s.ended_because
                    .get_or_insert_with(|| "closed by the brand".into());
                ctx.state().put(SESSIONS, &s.session_id, &s).await?;
                return Err(AdcpError::new(
                    "SESSION_TERMINATED",
                    "the brand closed the conversation",
                )
                .with_field("session_id"));
            }
            Err(r) if r.status == 404 => return Err(not_found("session_id")),
            Err(r) => return Err(AdcpError::invalid_request("message", r.message)),
        };
        let now = time::rfc3339(ctx.now());
        s.transcript.push(Turn {
            from: "user".into(),
            text: said,
            at: now.clone(),
        });
        s.transcript.push(Turn {
            from: "brand".into(),
            text: reply.assistant_message.clone(),
            at: now,
        });
        let handoff = match reply
            .close_recommended
            .as_ref()
            .and_then(|c| c["type"].as_str())
        {
            Some("txn_ready") => {
                let c = &reply.close_recommended.as_ref().unwrap_or(&Value::Null)["payload"];
                Some(
                    json!({"type": "transaction", "intent": {"action": c["action"].as_str().unwrap_or("purchase"),
                            "product": c["product"]},
                            "context_for_checkout": {"conversation_summary": reply.assistant_message}}),
                )
            }
            Some("done") => Some(json!({"type": "complete"})),
            _ => None,
        };
        if handoff.is_some() {
            s.status = "pending_handoff".into();
        }
        ctx.state().put(SESSIONS, &s.session_id, &s).await?;
        let mut out = json!({"session_id": s.session_id, "session_status": s.status, "status": s.status,
                             "response": {"message": reply.assistant_message,
                                          "ui_elements": ui_elements(&reply.components)}});
        if let Some(h) = handoff {
            out["handoff"] = h;
        }
        answer(out, "a reply")
    }

    /// Closes the conversation with the brand, with its checkout hand-off when the user is
    /// buying. Closing a closed session answers as the first close did.
    pub async fn si_terminate_session(
        &self,
        ctx: &Ctx,
        req: SiTerminateSessionRequest,
    ) -> AdcpResult<SiTerminateSessionResponse> {
        let mut s = self.session(ctx, &req.session_id).await?;
        if s.status != "terminated" && s.status != "complete" {
            let closed: Conversation = self
                .upstream
                .post(
                    &Self::path(&s, "/close"),
                    &json!({"reason": close_reason(&req.reason)}),
                )
                .send()
                .await?;
            s.handoff = closed
                .close
                .as_ref()
                .and_then(|c| c.get("transaction_handoff"))
                .filter(|h| !h.is_null())
                .cloned();
            s.status = if req.reason.to_string() == "handoff_complete" {
                "complete".into()
            } else {
                "terminated".into()
            };
            s.ended_because = Some(req.reason.to_string());
            ctx.state().put(SESSIONS, &s.session_id, &s).await?;
        }
        let mut out = json!({"session_id": s.session_id, "terminated": true,
                             "session_status": s.status, "status": s.status});
        if let Some(h) = &s.handoff {
            out["acp_handoff"] = h.clone();
        }
        answer(out, "a closed session")
    }

    /// Controller: ends a session as a timeout or a completion would (sandbox accounts only).
    async fn force_session_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.session_id.clone().unwrap_or_default();
        let status = p
            .status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_default();
        if !matches!(status.as_str(), "complete" | "terminated") {
            return Err(AdcpError::invalid_request(
                "params.status",
                "a session is forced to complete or terminated",
            ));
        }
        let mut s = self.session(ctx, &id).await?;
        let previous = s.status.clone();
        if matches!(previous.as_str(), "complete" | "terminated") {
            return Err(AdcpError::new(
                codes::INVALID_STATE,
                format!("the session already ended ({previous})"),
            ));
        }
        let reason = p
            .termination_reason
            .clone()
            .unwrap_or_else(|| "forced".into());
        // The brand's side closes too, as on a timeout.
        let _: Value = self
            .upstream
            .post(
                &Self::path(&s, "/close"),
                &json!({"reason": "idle_timeout"}),
            )
            .send()
            .await?;
        s.status = status.clone();
        s.ended_because = Some(reason);
        ctx.state().put(SESSIONS, &s.session_id, &s).await?;
        Ok(ControllerReply::Transition {
            previous,
            current: status,
        })
    }
}
