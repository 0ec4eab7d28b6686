//! The round-trip corpus. Every `examples` entry on a schema file in `schemas/3.0`, and every
//! storyboard `sample_request` and fixture of the runner's release (AdCP 3.0.6, from
//! `@adcp/sdk@6.11.0`), decodes into its generated type and encodes back to the same JSON:
//! fields the input left out stay out and properties the schema allows but does not name are
//! kept. Requests are first checked against their schema; a request the schema rejects is not a
//! round-trip case and is counted separately.
#![allow(clippy::print_stdout)]

use adcp_conformance::{first_difference, fixtures, json_eq, samples};
use adcp_runtime::__private::schemas;
use adcp_wire::{Task, TaskVisitor, TypeVisitor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: Serialize + DeserializeOwned>(value: &Value) -> Result<(), String> {
    let decoded: T =
        adcp_wire::decode(value.clone()).map_err(|e| format!("does not decode: {e}"))?;
    let back = serde_json::to_value(&decoded).map_err(|e| format!("does not encode: {e}"))?;
    match first_difference(value, &back, "") {
        None if json_eq(value, &back) => Ok(()),
        None => Err("re-encodes differently".into()),
        Some(d) => Err(format!("re-encodes differently at {d}")),
    }
}

struct Type<'a>(&'a Value);

impl TypeVisitor for Type<'_> {
    type Output = Result<(), String>;
    fn visit<T: Serialize + DeserializeOwned + std::fmt::Debug + PartialEq + 'static>(
        self,
    ) -> Self::Output {
        round_trip::<T>(self.0)
    }
}

struct Request<'a>(&'a Value);

impl TaskVisitor for Request<'_> {
    type Output = (&'static str, Result<(), String>);
    fn visit<T: Task>(self) -> Self::Output {
        (T::spec().request_schema, round_trip::<T::Request>(self.0))
    }
}

#[derive(Default)]
struct Tally {
    checked: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, id: &str, result: Result<(), String>) {
        self.checked += 1;
        if let Err(e) = result {
            self.failures.push(format!("{id}: {e}"));
        }
    }
}

#[test]
fn schema_examples_round_trip() {
    let mut tally = Tally::default();
    let mut invalid = Vec::new();
    let mut nested = 0;
    for (file, text) in adcp_wire::SCHEMA_FILES {
        let doc: Value = serde_json::from_str(text).unwrap_or_default();
        nested += count_nested_examples(&doc, true);
        let Some(examples) = doc.get("examples").and_then(Value::as_array) else {
            continue;
        };
        for (i, example) in examples.iter().enumerate() {
            let id = format!("{file} examples[{i}]");
            // AdCP wraps most examples as `{description, data}`.
            let example = match example.as_object() {
                Some(m)
                    if m.contains_key("data")
                        && m.keys().all(|k| k == "data" || k == "description") =>
                {
                    &m["data"]
                }
                _ => example,
            };
            if let Err(issues) = schemas().validate(file, example) {
                invalid.push(format!("{id}: {} ({})", issues[0].message, issues[0].path));
                continue;
            }
            match adcp_wire::schemas::visit(file, Type(example)) {
                Some(result) => tally.record(&id, result),
                None => tally.record(&id, Err("no generated type for the file".into())),
            }
        }
    }
    println!(
        "schema examples: {} round-tripped, {} failed; {} invalid under their own schema (not round-trip cases); \
         {nested} nested examples sit at primitive positions (strings, integers) with no type of their own",
        tally.checked - tally.failures.len(),
        tally.failures.len(),
        invalid.len()
    );
    for i in &invalid {
        println!("  invalid example: {i}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        tally.checked >= 50,
        "only {} examples checked",
        tally.checked
    );
}

fn count_nested_examples(v: &Value, root: bool) -> usize {
    match v {
        Value::Object(m) => {
            let here = usize::from(!root && m.get("examples").is_some_and(Value::is_array));
            here + m
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "examples" | "enum" | "const" | "default"))
                .map(|(_, v)| count_nested_examples(v, false))
                .sum::<usize>()
        }
        Value::Array(a) => a.iter().map(|v| count_nested_examples(v, false)).sum(),
        _ => 0,
    }
}

#[test]
fn storyboard_sample_requests_round_trip() {
    let mut tally = Tally::default();
    let (mut kit_tasks, mut invalid, mut expect_error, mut rejected_errors) = (0, Vec::new(), 0, 0);
    let (mut placeholders, mut placeholders_decoded) = (0, 0);
    for sample in samples() {
        if sample.task.starts_with("$test_kit") {
            kit_tasks += 1; // the task is chosen from a test kit at run time
            continue;
        }
        let schema = adcp_wire::task(&sample.task).map(|t| t.request_schema);
        let Some(schema) = schema else {
            tally.record(&sample.id, Err(format!("unknown task `{}`", sample.task)));
            continue;
        };
        if sample.expect_error {
            // Deliberately bad requests: the types need not accept them.
            expect_error += 1;
            let typed =
                adcp_wire::tasks::visit(&sample.task, Request(&sample.request)).map(|(_, r)| r);
            if schemas().validate(schema, &sample.request).is_err() || matches!(typed, Some(Err(_)))
            {
                rejected_errors += 1;
            }
            continue;
        }
        if let Err(issues) = schemas().validate(schema, &sample.request) {
            if mentions_context(&sample.request) {
                // `$context.<name>` stands for a value an earlier step produced, here one the
                // schema needs to be an object or a URL; the runner fills it in at run time.
                placeholders += 1;
                if let Some((_, Ok(()))) =
                    adcp_wire::tasks::visit(&sample.task, Request(&sample.request))
                {
                    placeholders_decoded += 1;
                }
                continue;
            }
            invalid.push(format!(
                "{}: {} ({})",
                sample.id, issues[0].message, issues[0].path
            ));
            continue;
        }
        match adcp_wire::tasks::visit(&sample.task, Request(&sample.request)) {
            Some((_, result)) => tally.record(&sample.id, result),
            None => tally.record(&sample.id, Err("no marker type".into())),
        }
    }
    println!(
        "storyboard sample requests (AdCP 3.0.6): {} valid requests round-tripped, {} failed; \
         {} invalid under the 3.0.18 request schema; {expect_error} expect_error steps \
         ({rejected_errors} rejected by schema or type); {placeholders} are invalid only until the runner fills \
         in their `$context` placeholders ({placeholders_decoded} decode as they stand); {kit_tasks} steps whose task comes from a test kit",
        tally.checked - tally.failures.len(),
        tally.failures.len(),
        invalid.len(),
    );
    for i in &invalid {
        println!("  invalid sample: {i}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        tally.checked >= 400,
        "only {} samples checked",
        tally.checked
    );
}

fn mentions_context(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with("$context."),
        Value::Array(a) => a.iter().any(mentions_context),
        Value::Object(m) => m.values().any(mentions_context),
        _ => false,
    }
}

#[test]
fn storyboard_fixtures_round_trip_as_seed_requests() {
    let mut tally = Tally::default();
    for (id, request) in fixtures() {
        let result = schemas()
            .validate("compliance/comply-test-controller-request.json", &request)
            .map_err(|issues| {
                format!(
                    "invalid seed request: {} ({})",
                    issues[0].message, issues[0].path
                )
            })
            .and_then(|()| round_trip::<adcp_wire::ComplyTestControllerRequest>(&request));
        tally.record(&id, result);
    }
    println!(
        "storyboard fixtures as comply_test_controller seed requests: {} round-tripped, {} failed",
        tally.checked - tally.failures.len(),
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(tally.checked >= 70);
}
