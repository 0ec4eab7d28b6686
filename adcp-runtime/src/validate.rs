//! Validation against the unmodified AdCP schemas.
//!
//! The wire types carry shape; this carries the rest: patterns, formats, bounds, `minItems`,
//! `if`/`then`, `oneOf` exclusivity, `dependencies`. Every schema file is embedded in
//! `adcp-wire` (`SCHEMA_FILES`); a validator is compiled per schema on first use and kept.
//! Problems are reported with the dotted path of the offending field (`packages[0].budget`),
//! the property itself for missing and forbidden properties, and a message that never repeats
//! the offending value (input may be hostile, and may be huge).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use adcp_wire::TaskSpec;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Retrieve, Uri, ValidationError, Validator};
use serde_json::{Value, json};

use crate::error::AdcpError;

/// One reason a value does not satisfy its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Dotted path of the offending field (`packages[0].budget`); empty for the value itself.
    pub path: String,
    /// What is wrong, without repeating the value.
    pub message: String,
    /// The JSON Schema keyword that failed (`required`, `additionalProperties`, `enum`, ...).
    pub keyword: String,
}

/// A validator compiled on first use, or why it does not compile.
type Compiled = OnceLock<Result<Arc<Validator>, String>>;

/// Compiled validators for every embedded schema, built lazily.
pub struct Schemas {
    files: HashMap<&'static str, (&'static str, Compiled)>,
    version_prefix: String,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("files", &self.files.len())
            .finish()
    }
}

/// The process-wide set over `adcp_wire::SCHEMA_FILES`.
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas::new(adcp_wire::SCHEMA_FILES))
}

/// Serves schema files to the validator by their `$id` path (`/schemas/<release>/core/x.json`).
struct Files(HashMap<&'static str, &'static str>);

impl Retrieve for Files {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri.path().as_str();
        let rel = path
            .strip_prefix("/schemas/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, rel)| rel)
            .ok_or_else(|| format!("not an AdCP schema: {uri}"))?;
        let text = self
            .0
            .get(rel)
            .ok_or_else(|| format!("no schema file {rel}"))?;
        Ok(serde_json::from_str(text)?)
    }
}

impl Schemas {
    /// A set over the given `(path, text)` files.
    pub fn new(files: &'static [(&'static str, &'static str)]) -> Self {
        let version_prefix = files
            .iter()
            .find_map(|(_, text)| {
                let v: Value = serde_json::from_str(text).ok()?;
                let id = v.get("$id")?.as_str()?.strip_prefix("/schemas/")?;
                Some(format!("/schemas/{}/", id.split('/').next()?))
            })
            .unwrap_or_else(|| "/schemas/".into());
        Schemas {
            files: files
                .iter()
                .map(|(p, t)| (*p, (*t, OnceLock::new())))
                .collect(),
            version_prefix,
        }
    }

    /// The validator for a schema file, compiled on first use.
    pub fn validator(&self, schema: &str) -> Result<Arc<Validator>, String> {
        let (text, cell) = self
            .files
            .get(schema)
            .ok_or_else(|| format!("no schema `{schema}`"))?;
        cell.get_or_init(|| {
            let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            let files = Files(self.files.iter().map(|(p, (t, _))| (*p, *t)).collect());
            jsonschema::options()
                .with_retriever(files)
                .with_base_uri(format!("json-schema://{}{schema}", self.version_prefix))
                .should_validate_formats(true)
                .build(&doc)
                .map(Arc::new)
                .map_err(|e| format!("schema `{schema}` does not compile: {e}"))
        })
        .clone()
    }

    /// Compiles every validator now (boot), reporting the ones that fail.
    pub fn warm<'a>(&self, schemas: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        schemas
            .into_iter()
            .filter_map(|s| self.validator(s).err())
            .collect()
    }

    /// Validates `instance` against `schema`; every issue, most specific first.
    pub fn validate(&self, schema: &str, instance: &Value) -> Result<(), Vec<Issue>> {
        let validator = self.validator(schema).map_err(|message| {
            vec![Issue {
                path: String::new(),
                message,
                keyword: "$schema".into(),
            }]
        })?;
        let issues: Vec<Issue> = validator.iter_errors(instance).map(|e| issue(&e)).collect();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

/// `/packages/0/budget` -> `packages[0].budget`.
pub(crate) fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// The most specific issue for one validation error. For a failed `oneOf`/`anyOf`, the branch
/// with the fewest errors is taken to be the one meant, and its first error is reported.
fn issue(e: &ValidationError<'_>) -> Issue {
    let path = dotted(e.instance_path().as_str());
    let keyword = e
        .schema_path()
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    match e.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            Issue {
                path: join(&path, name),
                message: format!("`{name}` is required"),
                keyword,
            }
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let first = unexpected.first().cloned().unwrap_or_default();
            let list: Vec<String> = unexpected.iter().map(|u| format!("`{u}`")).collect();
            Issue {
                path: join(&path, &first),
                message: format!("unknown field {} is not allowed here", list.join(", ")),
                keyword,
            }
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            let best = context
                .iter()
                .filter(|branch| !branch.is_empty())
                .min_by_key(|branch| branch.len());
            match best.and_then(|b| b.first()) {
                Some(inner) => {
                    let mut i = issue(inner);
                    if i.path.is_empty() {
                        i.path = path;
                    }
                    i
                }
                None => Issue {
                    path,
                    message: "matches none of the allowed shapes".into(),
                    keyword,
                },
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => Issue {
            path,
            message: "matches more than one of the allowed shapes".into(),
            keyword,
        },
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            Issue {
                path,
                message: format!("must be one of {}", list.join(", ")),
                keyword,
            }
        }
        ValidationErrorKind::Constant { expected_value } => Issue {
            path,
            message: format!("must be {expected_value}"),
            keyword,
        },
        ValidationErrorKind::FalseSchema => Issue {
            path,
            message: "is not allowed".into(),
            keyword,
        },
        _ => Issue {
            path,
            message: e.masked().to_string(),
            keyword,
        },
    }
}

/// Validates a request against its task's schema, as an `INVALID_REQUEST` naming the field,
/// but for the issues `excused` lets pass.
pub(crate) fn validate_request_except(
    spec: &TaskSpec,
    args: &Value,
    excused: impl Fn(&Issue) -> bool,
) -> Result<(), AdcpError> {
    schemas()
        .validate(spec.request_schema, args)
        .or_else(|issues| {
            let left: Vec<Issue> = issues.into_iter().filter(|i| !excused(i)).collect();
            if left.is_empty() { Ok(()) } else { Err(left) }
        })
        .map_err(|issues| {
            let first = &issues[0];
            let details: Vec<Value> = issues
                .iter()
                .take(20)
                .map(|i| json!({"field": i.path, "message": i.message}))
                .collect();
            let message = if first.path.is_empty() {
                first.message.clone()
            } else {
                format!("{}: {}", first.path, first.message)
            };
            AdcpError::invalid_request(first.path.clone(), message)
                .with_details(json!({"issues": details}))
        })
}

pub(crate) fn check_response(task: &str, body: &Value) {
    let Some(spec) = adcp_wire::task(task) else {
        return;
    };
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("completed");
    let schema = match status {
        "completed" | "failed" => spec.response_schema,
        other => match spec.async_arms.iter().find(|a| a.status == other) {
            Some(a) => a.schema,
            None => spec.response_schema,
        },
    };
    if let Err(issues) = schemas().validate(schema, body) {
        for i in issues.iter().take(5) {
            tracing::warn!(task, field = %i.path, "response does not match {schema}: {}", i.message);
        }
    }
}
