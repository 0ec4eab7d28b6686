//! The delivery-report loop: what [`crate::reporting`] keeps, sent (see its documentation).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::accounts::Resolved;
use crate::ctx::CtxBuilder;
use crate::error::{AdcpError, AdcpResult};
use crate::platform::{DecisioningPlatform, Outcome};
use crate::reporting::{
    Frequency, Restated, Restatement, SUBSCRIPTIONS, Subscription, Window, due_now, flight, key,
    last_boundary, millis_of, next_due,
};
use crate::server::Server;
use crate::store::{Delivery, PushAuth};
use crate::time::{from_millis, millis, rfc3339};

impl<P: DecisioningPlatform> Server<P> {
    /// Where the reporting subscriptions are kept.
    fn subscriptions(&self) -> crate::state::State<'_> {
        crate::reporting::store(self.inner.services.state.as_ref())
    }

    /// Records (create) or changes (update: a new webhook, a new flight) the reporting
    /// subscription of the buy a call completed. Best effort after the answer is made: a
    /// failure is logged, not the buyer's.
    pub(crate) async fn subscribe_reporting(
        &self,
        resolved: &Resolved,
        call: &crate::Call,
        body: &Value,
        windows: &[Window],
    ) {
        let agent_url = self.agent_url(call);
        let Value::Object(args) = &call.args else {
            return;
        };
        let hook = args.get("reporting_webhook");
        // A create handed off waits for its task's buy (see `activate`).
        let task_id = body
            .get("media_buy_id")
            .is_none()
            .then(|| body.get("task_id").and_then(Value::as_str))
            .flatten();
        let pending = task_id.map(|t| format!("task:{t}"));
        let Some(buy) = body
            .get("media_buy_id")
            .or_else(|| args.get("media_buy_id"))
            .and_then(Value::as_str)
            .or(pending.as_deref())
        else {
            return;
        };
        let now = self.inner.config.clock.now();
        let (start, end) = flight(args, now);
        let services = &self.inner.services;
        // A canceled buy's final report goes now.
        if args.get("canceled") == Some(&Value::Bool(true)) {
            due_now(
                services.state.as_ref(),
                services.tasks.bus(),
                &resolved.scope,
                buy,
            )
            .await;
        }
        if hook.is_none() && start.is_none() && end.is_none() {
            return;
        }
        let parsed = hook.and_then(|h| {
            let url = h.get("url")?.as_str()?.to_owned();
            let frequency = Frequency::parse(h.get("reporting_frequency")?.as_str()?)?;
            let auth = h.get("authentication").and_then(PushAuth::from_adcp);
            let token = h.get("token").and_then(Value::as_str).map(str::to_owned);
            let metrics = h
                .get("requested_metrics")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                });
            Some((url, frequency, auth, token, metrics))
        });
        let written = self
            .subscriptions()
            .entry(SUBSCRIPTIONS, &key(&resolved.scope, buy), |slot| {
                match (slot.as_mut(), &parsed) {
                    (Some(s), _) if s.closed => {}
                    (Some(s), hook) => {
                        if let Some((url, frequency, auth, token, metrics)) = hook.clone() {
                            (s.url, s.frequency, s.auth, s.token, s.metrics) =
                                (url, frequency, auth, token, metrics);
                        }
                        s.start = start.unwrap_or(s.start);
                        s.end = end.unwrap_or(s.end);
                        if !windows.is_empty() {
                            s.windows = windows.to_vec();
                        }
                        // A report made due now stays due.
                        if s.next_due != 0 {
                            s.next_due = next_due(s);
                        }
                    }
                    (None, Some((url, frequency, auth, token, metrics))) => {
                        let start = start.unwrap_or_else(|| millis(now));
                        let mut s = Subscription {
                            id: uuid::Uuid::new_v4().simple().to_string(),
                            scope: resolved.scope.clone(),
                            media_buy_id: if task_id.is_some() {
                                String::new()
                            } else {
                                buy.to_owned()
                            },
                            account: resolved.account.clone(),
                            principal: call.principal.clone(),
                            agent_url: agent_url.clone(),
                            url: url.clone(),
                            auth: auth.clone(),
                            token: token.clone(),
                            frequency: *frequency,
                            metrics: metrics.clone(),
                            start,
                            end: end.unwrap_or(i64::MAX),
                            reported_to: start.max(millis(now)),
                            next_due: 0,
                            sequence: 0,
                            currency: None,
                            restatements: Vec::new(),
                            windows: windows.to_vec(),
                            settling: false,
                            closed: false,
                            task_id: task_id.map(str::to_owned),
                        };
                        s.next_due = next_due(&s);
                        *slot = Some(s);
                    }
                    (None, _) => {}
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(media_buy_id = buy, error = %e, "recording a reporting webhook");
        }
    }

    /// Gives a handed-off create's subscription its buy once the task completed, or drops it
    /// when the task ended otherwise; while the task runs, leaves it waiting.
    async fn activate(&self, pending: &Subscription) -> AdcpResult<()> {
        let Some(task_id) = &pending.task_id else {
            return Ok(());
        };
        let owner = crate::store::Owner::Scope(&pending.scope);
        let task = self.inner.services.tasks.get(owner, task_id).await?;
        let pending_key = key(&pending.scope, &format!("task:{task_id}"));
        let buy = match &task {
            Some(t) if !t.status.is_final() => return Ok(()),
            Some(t) if t.status == crate::store::TaskStatus::Completed => t
                .result
                .as_ref()
                .and_then(|r| r.get("media_buy_id"))
                .and_then(Value::as_str),
            _ => None,
        };
        if let Some(buy) = buy {
            let mut s = pending.clone();
            s.media_buy_id = buy.to_owned();
            s.task_id = None;
            self.subscriptions()
                .entry(SUBSCRIPTIONS, &key(&s.scope, buy), |slot| {
                    if slot.is_none() {
                        *slot = Some(s.clone());
                    }
                    Ok(())
                })
                .await?;
        }
        self.subscriptions()
            .delete(SUBSCRIPTIONS, &pending_key)
            .await
    }

    /// Sends every report that is due; returns how many it queued.
    pub(crate) async fn report_due(&self) -> usize {
        let now = self.inner.config.clock.now();
        let subs = match self.subscriptions().list(SUBSCRIPTIONS).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading reporting subscriptions");
                return 0;
            }
        };
        let mut sent = 0;
        for s in subs {
            if s.task_id.is_some() {
                if let Err(e) = self.activate(&s).await {
                    tracing::warn!(error = %e, "reading the task of a reporting webhook");
                }
                continue;
            }
            let restating = s.restatements.iter().any(|r| r.due <= millis(now));
            // A settling flight's final report waits for its last window.
            let settled = !s.settling || s.restatements.is_empty();
            if s.closed || !(restating || (s.next_due <= millis(now) && settled)) {
                continue;
            }
            match self.report(s, now).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "sending a delivery report"),
            }
        }
        sent
    }

    /// Builds, queues and records one report of `s`.
    async fn report(&self, s: Subscription, now: OffsetDateTime) -> AdcpResult<bool> {
        let now_ms = millis(now);
        let restating = s.restatements.iter().find(|r| r.due <= now_ms).cloned();
        let (start, end) = match &restating {
            Some(r) => (r.start, r.end),
            // The final report of a flight whose windows are all in: the whole flight.
            None if s.settling => (s.start, s.end),
            // Made due now: up to now. On schedule: up to the last boundary passed (one report
            // for every period missed while no replica ran).
            None if s.next_due == 0 => (s.reported_to, millis(now).min(s.end).max(s.reported_to)),
            None => (s.reported_to, last_boundary(&s, millis(now))),
        };
        let delivery = self.delivery_of(&s, start, end).await;
        // The flight is over: reported to its end, or the buy ended.
        let mut over = restating.is_none() && (s.settling || end >= s.end);
        // The period again in each wider window still to come (not for the final report).
        let mut queued = Vec::new();
        // Whether the period's windows will report it again (queued now or before).
        let mut windowed = false;
        let mut final_ = false;
        // The period stays open, reported again with the next.
        let hold;
        let (kind, mut result) = match (&delivery, &restating) {
            (Ok(body), _) => {
                let status = delivery_entry(body, &s.media_buy_id)
                    .and_then(|d| d.get("status"))
                    .and_then(Value::as_str);
                over |= restating.is_none()
                    && matches!(status, Some("completed" | "canceled" | "rejected"));
                if restating.is_none() && !s.settling {
                    queued =
                        crate::reporting::window_updates(&s.windows, (s.start, s.end), end, now_ms);
                    windowed = !queued.is_empty();
                    // A day already queued in a window (an earlier period of it) is not again.
                    queued.retain(|q| {
                        !s.restatements
                            .iter()
                            .any(|r| (r.start, r.end, &r.window) == (q.start, q.end, &q.window))
                    });
                }
                let pending = s.restatements.len() - usize::from(restating.is_some());
                // The platform has no data for the period yet: reported `delayed`, and kept
                // open unless a window will report it again.
                let late = restating.is_none() && status == Some("reporting_delayed");
                hold = late && !windowed;
                over &= !hold;
                final_ = over && !late && pending + queued.len() == 0;
                let kind = match (&restating, final_) {
                    (Some(r), _) if r.kind == Restated::Adjusted => "adjusted",
                    (Some(_), _) => "window_update",
                    (None, true) => "final",
                    (None, false) if late => "delayed",
                    (None, false) => "scheduled",
                };
                (kind, report_body(body, s.metrics.as_deref()))
            }
            (Err(e), _) if e.code() == "MEDIA_BUY_NOT_FOUND" => {
                // The buy is gone (or no longer the account's): nothing more to report.
                tracing::info!(media_buy_id = %s.media_buy_id, "the buy of a reporting webhook is gone");
                self.advance(&s, |s| s.closed = true).await?;
                return Ok(false);
            }
            (Err(e), Some(r)) => {
                // A restatement waits for its data: tried again in an hour, and meanwhile out of
                // the way of the reports due after it.
                tracing::info!(media_buy_id = %s.media_buy_id, error = %e, "restated delivery data not available yet");
                let later = now_ms + millis_of(Duration::HOUR);
                self.advance(&s, |t| {
                    if let Some(x) = t.restatements.iter_mut().find(|x| *x == r) {
                        x.due = later;
                    }
                    t.restatements.sort_by_key(|x| x.due);
                })
                .await?;
                return Ok(false);
            }
            (Err(e), None) => {
                tracing::info!(media_buy_id = %s.media_buy_id, error = %e, "delivery data not available; reporting it delayed");
                over = false;
                hold = true;
                let mut r = Map::new();
                r.insert(
                    "currency".into(),
                    json!(s.currency.as_deref().unwrap_or("XXX")),
                );
                r.insert("media_buy_deliveries".into(), json!([]));
                r.insert("partial_data".into(), json!(true));
                ("delayed", r)
            }
        };
        let sequence = s.sequence + 1;
        let settling = s.settling || (over && !final_);
        // What is left to report again once this report is sent.
        let mut left: Vec<Restatement> = s.restatements.clone();
        if let Some(i) = restating
            .as_ref()
            .and_then(|r| left.iter().position(|x| x == r))
        {
            left.remove(i);
        }
        let queued_now = queued.clone();
        left.extend(queued);
        left.sort_by_key(|r| r.due);
        // When the next scheduled report is due, and when the buyer can expect the next one.
        let (next, expected) = if final_ {
            (None, None)
        } else if hold {
            // Every frequency's period is an hour or more: look again in an hour.
            let hour = now_ms + millis_of(Duration::HOUR);
            (Some(hour), Some(hour))
        } else if settling {
            // Nothing scheduled: the windows left, then the final report at once.
            let first = left.first().map(|r| r.due.max(now_ms));
            (
                Some(if left.is_empty() { 0 } else { i64::MAX }),
                first.or(Some(now_ms)),
            )
        } else {
            let mut after = s.clone();
            after.reported_to = if restating.is_some() {
                s.reported_to
            } else {
                end
            };
            let due = next_due(&after);
            let first = left.first().map_or(due, |r| r.due.max(now_ms).min(due));
            (Some(due), Some(first))
        };
        if let Some(Restatement {
            window: Some(window),
            supersedes: Some(before),
            ..
        }) = &restating
        {
            supersede(&mut result, window, before);
        }
        result.insert("notification_type".into(), json!(kind));
        result.insert("sequence_number".into(), json!(sequence));
        result.insert(
            "reporting_period".into(),
            json!({"start": rfc3339(from_millis(start)), "end": rfc3339(from_millis(end))}),
        );
        if let Some(n) = expected {
            result.insert("next_expected_at".into(), json!(rfc3339(from_millis(n))));
        }
        let currency = result
            .get("currency")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut envelope = json!({
            "task_id": format!("rpt_{}_{sequence}", s.id),
            "task_type": "media_buy_delivery",
            "protocol": "media-buy",
            "status": "completed",
            "timestamp": rfc3339(now),
            "message": format!("{} delivery report {sequence} for media buy {}", kind, s.media_buy_id),
            "result": result,
        });
        if let Some(t) = &s.token {
            envelope["token"] = json!(t);
        }
        let digest = Sha256::digest(format!("{}|{}|{sequence}", s.id, s.scope));
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let mut d = Delivery::keyed(&s.url, envelope, s.auth.clone(), None, format!("whk_{hex}"));
        d.id = format!("rpt_{hex}");
        d.scope.clone_from(&s.scope);
        self.inner
            .outbox
            .enqueue(std::slice::from_ref(&d))
            .await
            .map_err(|e| AdcpError::internal(format!("queueing a delivery report: {e}")))?;
        self.advance(&s, |t| {
            t.sequence = sequence;
            if let Some(c) = &currency {
                t.currency = Some(c.clone());
            }
            if restating.is_none() && !hold {
                t.reported_to = t.reported_to.max(end);
                // A buy that ended early: its final report covers what ran.
                if over && end < t.end {
                    t.end = end;
                }
            }
            // What changed since `s` was read (a restatement queued, a report made due now by
            // a cancel or the controller) is kept: this report's changes apply to the current.
            if let Some(i) = restating
                .as_ref()
                .and_then(|r| t.restatements.iter().position(|x| x == r))
            {
                t.restatements.remove(i);
            }
            t.restatements.extend(queued_now.iter().cloned());
            t.restatements.sort_by_key(|r| r.due);
            let made_due = t.next_due == 0 && s.next_due != 0;
            t.settling = settling;
            t.closed = final_ && t.restatements.is_empty();
            t.next_due = match next {
                _ if made_due && !t.closed => 0,
                // A settled flight with a restatement that arrived meanwhile waits for it.
                Some(0) if !t.restatements.is_empty() => i64::MAX,
                n => n.unwrap_or(i64::MAX),
            };
        })
        .await?;
        self.events()
            .publish(crate::events::Event::webhook_queued(&d.id, &s.scope));
        Ok(true)
    }

    /// Moves `s` on with `f`, unless another replica already sent its next report.
    async fn advance(&self, s: &Subscription, f: impl Fn(&mut Subscription)) -> AdcpResult<()> {
        self.subscriptions()
            .entry(SUBSCRIPTIONS, &key(&s.scope, &s.media_buy_id), |slot| {
                if let Some(t) = slot.as_mut()
                    && t.sequence == s.sequence
                    && t.id == s.id
                {
                    f(t);
                }
                Ok(())
            })
            .await
    }

    /// The platform's delivery data for `s`'s buy over a period.
    async fn delivery_of(&self, s: &Subscription, start: i64, end: i64) -> AdcpResult<Value> {
        let d = P::descriptor();
        let (Some(h), Some(task)) = (
            d.handler("get_media_buy_delivery"),
            adcp_wire::task("get_media_buy_delivery"),
        ) else {
            return Err(AdcpError::internal("the platform does not report delivery"));
        };
        let day = |t: i64| from_millis(t).date().to_string();
        // A period ending at midnight ends with the day before.
        let args = json!({
            "media_buy_ids": [s.media_buy_id],
            "start_date": day(start),
            "end_date": day(end.saturating_sub(1).max(start)),
        });
        let ctx = CtxBuilder::new(task)
            .principal(s.principal.clone())
            .resolved(Resolved {
                account: s.account.clone(),
                scope: s.scope.clone(),
            })
            .agent_url(s.agent_url.clone())
            .services(self.inner.services.clone())
            .build();
        match (h.call)(&self.inner.platform, ctx, args).await? {
            Outcome::Done(body) => {
                if delivery_entry(&body, &s.media_buy_id).is_some() {
                    Ok(body)
                } else {
                    Err(AdcpError::new(
                        "MEDIA_BUY_NOT_FOUND",
                        "the buy is not in its delivery",
                    ))
                }
            }
            Outcome::Handoff(_) => Err(AdcpError::new(
                crate::error::codes::SERVICE_UNAVAILABLE,
                "delivery data is being prepared",
            )),
        }
    }
}

/// Marks the packages a window update reports in `window` as superseding `before`, where the
/// platform did not say.
fn supersede(result: &mut Map<String, Value>, window: &str, before: &str) {
    let Some(Value::Array(deliveries)) = result.get_mut("media_buy_deliveries") else {
        return;
    };
    let packages = deliveries
        .iter_mut()
        .filter_map(|d| d.get_mut("by_package").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(Value::as_object_mut);
    for p in packages {
        if p.get("measurement_window").and_then(Value::as_str) == Some(window) {
            p.entry("supersedes_window")
                .or_insert_with(|| json!(before));
        }
    }
}

/// The entry of `media_buy_id` in a delivery answer.
fn delivery_entry<'a>(body: &'a Value, media_buy_id: &str) -> Option<&'a Value> {
    body.get("media_buy_deliveries")?
        .as_array()?
        .iter()
        .find(|d| d.get("media_buy_id").and_then(Value::as_str) == Some(media_buy_id))
}

/// The metrics a report always carries, whatever was requested.
const ALWAYS: &[&str] = &["impressions", "spend"];

/// The standard metric names (`enums/available-metric.json`).
fn standard_metrics() -> &'static [String] {
    static METRICS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    METRICS.get_or_init(|| {
        adcp_wire::SCHEMA_FILES
            .iter()
            .find(|(path, _)| path.ends_with("enums/available-metric.json"))
            .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
            .and_then(|v| v.get("enum").cloned())
            .and_then(|e| serde_json::from_value(e).ok())
            .unwrap_or_default()
    })
}

/// The webhook form of a delivery answer: the fields only API answers carry dropped, and the
/// standard metrics the buyer did not ask for left out (`impressions` and `spend` stay).
fn report_body(body: &Value, requested: Option<&[String]>) -> Map<String, Value> {
    let mut r = body.as_object().cloned().unwrap_or_default();
    for k in [
        "aggregated_totals",
        "context",
        "status",
        "task_id",
        "adcp_error",
    ] {
        r.remove(k);
    }
    let unavailable = r
        .get("media_buy_deliveries")
        .and_then(Value::as_array)
        .map_or(0, |a| {
            a.iter()
                .filter(|d| {
                    matches!(
                        d.get("status").and_then(Value::as_str),
                        Some("reporting_delayed" | "failed")
                    )
                })
                .count()
        });
    if unavailable > 0 {
        r.insert("partial_data".into(), json!(true));
        r.insert("unavailable_count".into(), json!(unavailable));
    } else {
        r.insert("partial_data".into(), json!(false));
    }
    if let Some(requested) = requested
        && let Some(Value::Array(deliveries)) = r.get_mut("media_buy_deliveries")
    {
        let drop = |m: &mut Value| {
            if let Value::Object(m) = m {
                m.retain(|k, _| {
                    ALWAYS.contains(&k.as_str())
                        || requested.iter().any(|r| r == k)
                        || !standard_metrics().iter().any(|s| s == k)
                });
            }
        };
        for d in deliveries {
            if let Some(t) = d.get_mut("totals") {
                drop(t);
            }
            if let Some(Value::Array(ps)) = d.get_mut("by_package") {
                ps.iter_mut().for_each(drop);
            }
        }
    }
    r
}

/// Runs the report loop while `alive` can be upgraded: woken by the bus (a report made due
/// on any replica) and by `poll`.
pub(crate) async fn run<P: DecisioningPlatform>(
    weak: std::sync::Weak<crate::server::Inner<P>>,
    mut wake: tokio::sync::broadcast::Receiver<crate::events::Event>,
    poll: std::time::Duration,
) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let server = Server { inner };
        // A report sent may leave the subscription more to send (a second restatement).
        while server.report_due().await > 0 {}
        drop(server);
        let deadline = tokio::time::sleep(poll);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = wake.recv() => match r {
                    Ok(e) if e.resource == "reporting" && e.status == "due" => break,
                    // A handed-off create may have its buy now.
                    Ok(e) if e.resource == "task" && e.status == "completed" => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                () = &mut deadline => break,
            }
        }
    }
}
