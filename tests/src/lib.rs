//! Shared helpers for the cross-crate tests: the storyboard corpus and the runner's
//! placeholder substitution.

use serde_json::Value;

/// One `sample_request` from a storyboard step.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Storyboard file, relative to `compliance/cache/3.0.6/`.
    pub file: String,
    /// `storyboard/phase/step`.
    pub id: String,
    /// The task it calls.
    pub task: String,
    /// Whether the step expects an error.
    pub expect_error: bool,
    /// The request, placeholders substituted as the runner does.
    pub request: Value,
}

/// The storyboard corpus (`tests/corpus/storyboards-3.0.6.json`).
pub fn corpus() -> Value {
    let text = include_str!("../corpus/storyboards-3.0.6.json");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Every sample request of the corpus.
pub fn samples() -> Vec<Sample> {
    let corpus = corpus();
    corpus["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Sample {
            file: s["file"].as_str().unwrap_or_default().to_owned(),
            id: format!(
                "{}/{}/{}",
                s["storyboard"].as_str().unwrap_or_default(),
                s["phase"].as_str().unwrap_or_default(),
                s["step"].as_str().unwrap_or_default()
            ),
            task: s["task"].as_str().unwrap_or_default().to_owned(),
            expect_error: s["expect_error"].as_bool().unwrap_or(false),
            request: substitute(&s["request"]),
        })
        .collect()
}

/// Every fixture of the corpus as the `comply_test_controller` seed request the runner sends.
pub fn fixtures() -> Vec<(String, Value)> {
    let corpus = corpus();
    corpus["fixtures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let id = format!(
                "{}/{}",
                f["storyboard"].as_str().unwrap_or_default(),
                f["kind"].as_str().unwrap_or_default()
            );
            (id, f["request"].clone())
        })
        .collect()
}

/// Replaces the runner's generators with values of the same kind: `$generate:uuid_v4[#alias]`
/// with a fixed UUID per alias, `{{runner.webhook_url:<step>}}` with a loopback URL. `$context`
/// references stay as they are (strings where the schema wants strings).
pub fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("$generate:uuid_v4") => {
            let alias = s.split_once('#').map_or("", |(_, a)| a);
            let n = alias
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            Value::String(format!(
                "00000000-0000-4000-8000-{:012x}",
                n & 0xffff_ffff_ffff
            ))
        }
        Value::String(s) if s.contains("{{runner.webhook_url") => {
            let step = s.split(':').nth(1).unwrap_or("step").trim_end_matches('}');
            Value::String(format!("http://127.0.0.1:9/step/{step}"))
        }
        Value::Array(a) => Value::Array(a.iter().map(substitute).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), substitute(v))).collect())
        }
        other => other.clone(),
    }
}

/// JSON equality with numbers compared by value, as JSON Schema defines it (`5` equals `5.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The first place two JSON values differ, as a dotted path.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => {
                        if let Some(d) = first_difference(v, w, &p) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{p} dropped")),
                    (None, Some(_)) => return Some(format!("{p} added")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        _ if json_eq(a, b) => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}
