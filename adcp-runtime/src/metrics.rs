//! Prometheus metrics at `/metrics`: calls by task and outcome, their latency, idempotent
//! replays, and the depth of the task registry and the webhook outbox. Counters are atomics
//! kept per task, made once for every AdCP task, so recording a call takes no lock unless it
//! failed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct TaskMetrics {
    ok: AtomicU64,
    /// Failed calls by AdCP error code.
    errors: Mutex<BTreeMap<String, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A server's counters.
pub(crate) struct Metrics {
    tasks: HashMap<&'static str, TaskMetrics>,
    /// Calls naming no AdCP task.
    unknown: TaskMetrics,
    replays: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            tasks: adcp_wire::catalog::TASKS
                .iter()
                .map(|t| (t.name, TaskMetrics::default()))
                .collect(),
            unknown: TaskMetrics::default(),
            replays: AtomicU64::new(0),
        }
    }
}

/// What the scrape reads from the stores at that moment (`None`: the store does not say).
pub(crate) struct Depths {
    pub(crate) open_tasks: Option<u64>,
    pub(crate) pending_deliveries: Option<u64>,
}

impl Metrics {
    /// One call of `task`: its AdCP error code if it failed, and how long it took.
    pub(crate) fn record(&self, task: &str, error: Option<&str>, took: Duration) {
        let m = self.tasks.get(task).unwrap_or(&self.unknown);
        match error {
            None => {
                m.ok.fetch_add(1, Relaxed);
            }
            Some(code) => {
                let mut errors = m
                    .errors
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Codes are the spec's (or an adopter's few): a small set, allocated once each.
                match errors.get_mut(code) {
                    Some(n) => *n += 1,
                    None => {
                        errors.insert(code.to_owned(), 1);
                    }
                }
            }
        }
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            m.buckets[i].fetch_add(1, Relaxed);
        }
        m.count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        m.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// An idempotent replay answered from the store.
    pub(crate) fn replay(&self) {
        self.replays.fetch_add(1, Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub(crate) fn render(&self, tenant: &str, depths: &Depths) -> String {
        let mut out = String::with_capacity(4096);
        let t = if tenant.is_empty() {
            String::new()
        } else {
            format!("tenant=\"{}\",", escape(tenant))
        };
        let mut tasks: Vec<(&str, &TaskMetrics)> = self
            .tasks
            .iter()
            .map(|(n, m)| (*n, m))
            .filter(|(_, m)| m.count.load(Relaxed) > 0)
            .collect();
        tasks.sort_by_key(|(n, _)| *n);
        if self.unknown.count.load(Relaxed) > 0 {
            tasks.push(("unknown", &self.unknown));
        }
        out.push_str("# HELP adcp_calls_total AdCP calls by task and outcome (`ok` or the AdCP error code).\n");
        out.push_str("# TYPE adcp_calls_total counter\n");
        for (name, m) in &tasks {
            let ok = m.ok.load(Relaxed);
            if ok > 0 {
                let _ = writeln!(
                    out,
                    "adcp_calls_total{{{t}task=\"{name}\",code=\"ok\"}} {ok}"
                );
            }
            let errors = m
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (code, n) in errors.iter() {
                let code = escape(code);
                let _ = writeln!(
                    out,
                    "adcp_calls_total{{{t}task=\"{name}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP adcp_call_duration_seconds Time to answer an AdCP call.\n");
        out.push_str("# TYPE adcp_call_duration_seconds histogram\n");
        for (name, m) in &tasks {
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(&m.buckets) {
                cumulative += n.load(Relaxed);
                let _ = writeln!(
                    out,
                    "adcp_call_duration_seconds_bucket{{{t}task=\"{name}\",le=\"{b}\"}} {cumulative}"
                );
            }
            // A call recorded while this scrape read the buckets: `+Inf` never below them.
            let count = m.count.load(Relaxed).max(cumulative);
            let sum = m.sum_nanos.load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "adcp_call_duration_seconds_bucket{{{t}task=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "adcp_call_duration_seconds_sum{{{t}task=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "adcp_call_duration_seconds_count{{{t}task=\"{name}\"}} {count}"
            );
        }
        let labels = t.trim_end_matches(',');
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: Option<u64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if let Some(v) = v {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        };
        gauge(
            &mut out,
            "adcp_idempotent_replays_total",
            "Mutating calls answered from an earlier call with the same idempotency_key.",
            "counter",
            Some(self.replays.load(Relaxed)),
        );
        gauge(
            &mut out,
            "adcp_tasks_open",
            "Tasks submitted, working or waiting for input.",
            "gauge",
            depths.open_tasks,
        );
        gauge(
            &mut out,
            "adcp_webhook_outbox_pending",
            "Webhook deliveries waiting in the outbox.",
            "gauge",
            depths.pending_deliveries,
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_task_and_code_with_their_latency() {
        let m = Metrics::default();
        m.record("get_products", None, Duration::from_micros(700));
        m.record(
            "get_products",
            Some("INVALID_REQUEST"),
            Duration::from_millis(3),
        );
        m.record(
            "no such task",
            Some("UNSUPPORTED_FEATURE"),
            Duration::from_millis(1),
        );
        m.replay();
        let depths = Depths {
            open_tasks: Some(2),
            pending_deliveries: None,
        };
        let text = m.render("t1", &depths);
        for line in [
            "adcp_calls_total{tenant=\"t1\",task=\"get_products\",code=\"ok\"} 1",
            "adcp_calls_total{tenant=\"t1\",task=\"get_products\",code=\"INVALID_REQUEST\"} 1",
            "adcp_calls_total{tenant=\"t1\",task=\"unknown\",code=\"UNSUPPORTED_FEATURE\"} 1",
            "adcp_call_duration_seconds_bucket{tenant=\"t1\",task=\"get_products\",le=\"0.001\"} 1",
            "adcp_call_duration_seconds_bucket{tenant=\"t1\",task=\"get_products\",le=\"0.005\"} 2",
            "adcp_call_duration_seconds_count{tenant=\"t1\",task=\"get_products\"} 2",
            "adcp_idempotent_replays_total{tenant=\"t1\"} 1",
            "adcp_tasks_open{tenant=\"t1\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("adcp_webhook_outbox_pending{"));
        assert!(
            !text.contains("create_media_buy"),
            "tasks never called are left out"
        );
    }
}
