//! Content standards: the rules a brand's creatives and the content beside them must meet.
//! A buyer keeps its standards here (create, get, list, update), calibrates sample content
//! against them before a campaign (`calibrate_content`), and validates what was delivered
//! after (`validate_content_delivery`).
//!
//! A policy is natural language. This template judges the two kinds of policy a rule can
//! decide, and says plainly which it did not judge:
//! - **Prohibitions** of a known topic (violence, gambling, alcohol, tobacco, adult content,
//!   drugs, hate, profanity, stock photography): the policy names the topic, and the artifact
//!   fails when its words (text, captions, alt text, transcripts, URLs, ids) name it. This is
//!   a keyword classifier, as brand-safety blocklists are.
//! - **Alt text**: every image of the artifact carries alt text.
//!
//! Any other policy (a colour tolerance, a resolution the artifact does not state) is
//! reported `unevaluated`, and lowers the verdict's confidence; it does not fail the artifact.
//! An adopter with a model or a vendor replaces [`judge`]. The buyer's calibration exemplars
//! are honoured: an artifact the standards list as failing fails.
//!
//! A policy is enforced at its `enforcement` (`must` fails the artifact, `should` and `may`
//! warn) from its `effective_date` (before it, a violation only warns) until its
//! `sunset_date` (after it, it is not evaluated), on its channels and jurisdictions.
//! Standards are kept per account, and judged as they are now: an update applies to the
//! next calibration at once.

use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Date};
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, Page, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The account's standards, by id.
const STANDARDS: Collection<Kept> = Collection::new("content_standards");

/// Standards as kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    /// The configuration in its wire form.
    standards: Map<String, Value>,
    /// The calibration exemplars as given: artifacts, and pages by URL.
    exemplars: Option<Value>,
    /// 1 at creation, one more for each update.
    version: i64,
    created_at: String,
}

fn not_found() -> AdcpError {
    AdcpError::not_found(
        codes::REFERENCE_NOT_FOUND,
        "standards_id",
        "content standards",
    )
}

async fn kept(ctx: &Ctx, id: &str) -> AdcpResult<Kept> {
    ctx.state().get(STANDARDS, id).await?.ok_or_else(not_found)
}

/// The policies of a create or an update, checked and with the defaults an inline policy
/// may leave out filled in.
fn policies(req: &Map<String, Value>) -> AdcpResult<Option<Vec<Value>>> {
    if let Some(ids) = req.get("registry_policy_ids").and_then(Value::as_array)
        && !ids.is_empty()
    {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "this agent keeps no policy registry: give the policies inline",
        )
        .with_field("registry_policy_ids"));
    }
    let Some(given) = req.get("policies") else {
        return Ok(None);
    };
    let given: Vec<PolicyEntry> = answer(given.clone(), "policies")?;
    let mut out = Vec::with_capacity(given.len());
    for (i, p) in given.iter().enumerate() {
        let field = format!("policies[{i}].policy_id");
        if p.policy_id.is_empty() || p.policy_id.contains([':', '/']) {
            return Err(AdcpError::validation(
                field,
                "an inline policy's id is flat: no colons or slashes",
            ));
        }
        if given[..i].iter().any(|q| q.policy_id == p.policy_id) {
            return Err(AdcpError::validation(
                field,
                format!("policy {} is given twice", p.policy_id),
            ));
        }
        for (k, d) in [
            ("effective_date", &p.effective_date),
            ("sunset_date", &p.sunset_date),
        ] {
            if let Some(d) = d {
                time::day(&format!("policies[{i}].{k}"), d)?;
            }
        }
        let mut v = object(p);
        v.entry("source").or_insert(json!("inline"));
        v.entry("version").or_insert(json!("1.0.0"));
        v.entry("name").or_insert(json!(p.policy_id));
        v.entry("category").or_insert(json!("standard"));
        out.push(Value::Object(v));
    }
    Ok(Some(out))
}

/// The exemplars as the wire's standards carry them: artifacts only (a page given by URL is
/// kept, and matched by its URL).
fn wire_exemplars(given: &Value) -> Value {
    let artifacts = |k: &str| -> Vec<Value> {
        given[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] != "url")
            .cloned()
            .collect()
    };
    json!({"pass": artifacts("pass"), "fail": artifacts("fail")})
}

/// Sets the scope's fields of a create or an update on the standards.
fn apply_scope(standards: &mut Map<String, Value>, scope: Option<&Value>) {
    let Some(scope) = scope.and_then(Value::as_object) else {
        return;
    };
    for k in ["countries_all", "channels_any", "languages_any"] {
        if let Some(v) = scope.get(k) {
            standards.insert(k.into(), v.clone());
        }
    }
    if let Some(d) = scope.get("description") {
        standards.insert("name".into(), d.clone());
    }
}

/// Creates standards; answers their id.
pub(crate) async fn create(
    ctx: &Ctx,
    req: &CreateContentStandardsRequest,
) -> AdcpResult<CreateContentStandardsResponse> {
    let req = object(req);
    let Some(policies) = policies(&req)? else {
        return Err(AdcpError::validation(
            "policies",
            "standards need at least one policy",
        ));
    };
    let id = ctx.new_id("cs");
    let mut standards = Map::new();
    standards.insert("standards_id".into(), json!(id));
    apply_scope(&mut standards, req.get("scope"));
    standards
        .entry("name")
        .or_insert_with(|| json!(format!("Content standards {id}")));
    standards.insert("policies".into(), json!(policies));
    let exemplars = req.get("calibration_exemplars").cloned();
    if let Some(e) = &exemplars {
        standards.insert("calibration_exemplars".into(), wire_exemplars(e));
    }
    let kept = Kept {
        standards,
        exemplars,
        version: 1,
        created_at: time::rfc3339(ctx.now()),
    };
    ctx.state().put(STANDARDS, &id, &kept).await?;
    answer(json!({"standards_id": id}), "created standards")
}

/// Replaces what the request gives (scope fields, policies, exemplars): a new version.
pub(crate) async fn update(
    ctx: &Ctx,
    req: &UpdateContentStandardsRequest,
) -> AdcpResult<UpdateContentStandardsResponse> {
    let id = req.standards_id.clone();
    let req = object(req);
    let policies = policies(&req)?;
    ctx.state()
        .modify(STANDARDS, &id, not_found, |k| {
            apply_scope(&mut k.standards, req.get("scope"));
            if let Some(p) = &policies {
                k.standards.insert("policies".into(), json!(p));
            }
            if let Some(e) = req.get("calibration_exemplars") {
                k.standards
                    .insert("calibration_exemplars".into(), wire_exemplars(e));
                k.exemplars = Some(e.clone());
            }
            k.version += 1;
            Ok(())
        })
        .await?;
    answer(
        json!({"success": true, "standards_id": id}),
        "updated standards",
    )
}

/// The standards, as they are now.
pub(crate) async fn get(
    ctx: &Ctx,
    req: &GetContentStandardsRequest,
) -> AdcpResult<GetContentStandardsResponse> {
    let k = kept(ctx, &req.standards_id).await?;
    answer(Value::Object(k.standards), "standards")
}

/// Whether `standards[key]` (absent: everything) shares a value with `wanted` (absent: no
/// filter).
fn overlaps(standards: &Map<String, Value>, key: &str, wanted: Option<&Value>) -> bool {
    let (Some(wanted), Some(have)) = (
        wanted.and_then(Value::as_array),
        standards.get(key).and_then(Value::as_array),
    ) else {
        return true;
    };
    wanted.iter().any(|w| have.contains(w))
}

/// The account's standards that apply on the channels, languages and countries asked for,
/// oldest first, a page at a time.
pub(crate) async fn list(
    ctx: &Ctx,
    req: &ListContentStandardsRequest,
) -> AdcpResult<ListContentStandardsResponse> {
    let req = object(req);
    let mut all: Vec<Kept> = ctx.state().list(STANDARDS).await?;
    all.retain(|k| {
        overlaps(&k.standards, "channels_any", req.get("channels"))
            && overlaps(&k.standards, "languages_any", req.get("languages"))
            && overlaps(&k.standards, "countries_all", req.get("countries"))
    });
    all.sort_by(|a, b| {
        (&a.created_at, a.standards["standards_id"].as_str())
            .cmp(&(&b.created_at, b.standards["standards_id"].as_str()))
    });
    let paging = req
        .get("pagination")
        .map(|p| answer(p.clone(), "pagination"))
        .transpose()?;
    let all: Vec<Map<String, Value>> = all.into_iter().map(|k| k.standards).collect();
    let (page, pagination) = Page::take(paging.as_ref(), all)?;
    answer(
        json!({"standards": page, "pagination": pagination}),
        "a page of standards",
    )
}

/// Judges one artifact against the standards as they are now.
pub(crate) async fn calibrate(
    ctx: &Ctx,
    req: &CalibrateContentRequest,
) -> AdcpResult<CalibrateContentResponse> {
    let k = kept(ctx, &req.standards_id).await?;
    let artifact =
        serde_json::to_value(&req.artifact).map_err(|e| AdcpError::internal(e.to_string()))?;
    let j = judge(&k, &artifact, &Delivery::default(), ctx.now().date());
    let mut explanation = j.explanation();
    explanation.push_str(&format!(
        " Judged against version {} of {}.",
        k.version, req.standards_id
    ));
    answer(
        json!({"verdict": j.verdict(), "confidence": j.confidence(), "explanation": explanation,
               "features": j.features}),
        "a calibration",
    )
}

/// Judges each delivery record: a verdict per record, with its failed, warned and
/// unevaluated features.
pub(crate) async fn validate(
    ctx: &Ctx,
    req: &ValidateContentDeliveryRequest,
) -> AdcpResult<ValidateContentDeliveryResponse> {
    let k = kept(ctx, &req.standards_id).await?;
    let today = ctx.now().date();
    let include_passed = req.include_passed.unwrap_or(true);
    let (mut passed, mut failed) = (0, 0);
    let mut results = Vec::new();
    for r in &req.records {
        let artifact =
            serde_json::to_value(&r.artifact).map_err(|e| AdcpError::internal(e.to_string()))?;
        let at = Delivery {
            channel: r.channel.as_deref(),
            country: r.country.as_deref(),
        };
        let mut j = judge(&k, &artifact, &at, today);
        if let Some(ids) = &req.feature_ids {
            j.features
                .retain(|f| ids.iter().any(|i| f["feature_id"] == i.as_str()));
        }
        let verdict = j.verdict();
        if verdict == "pass" {
            passed += 1;
        } else {
            failed += 1;
        }
        if verdict == "fail" || include_passed {
            j.features.retain(|f| f["status"] != "passed");
            results.push(
                json!({"record_id": r.record_id, "verdict": verdict, "features": j.features}),
            );
        }
    }
    answer(
        json!({"summary": {"total_records": req.records.len(), "passed_records": passed,
                           "failed_records": failed},
               "results": results}),
        "a validation",
    )
}

// --- the judge ---------------------------------------------------------------------------

/// Where a record was delivered, when it says.
#[derive(Default)]
struct Delivery<'a> {
    channel: Option<&'a str>,
    country: Option<&'a str>,
}

/// A topic a policy can prohibit: the words in a policy that name it, and the words in an
/// artifact that show it.
struct Topic {
    names: &'static [&'static str],
    shows: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        names: &["violent", "violence", "gore", "weapons"],
        shows: &[
            "violent", "violence", "gore", "gory", "bloody", "weapon", "weapons", "gun", "guns",
            "shooting", "killing",
        ],
    },
    Topic {
        names: &["gambling", "betting", "casino", "casinos"],
        shows: &[
            "gambling",
            "gamble",
            "casino",
            "casinos",
            "betting",
            "poker",
            "sportsbook",
        ],
    },
    Topic {
        names: &["alcohol", "alcoholic"],
        shows: &[
            "alcohol",
            "alcoholic",
            "beer",
            "wine",
            "liquor",
            "vodka",
            "whisky",
            "whiskey",
        ],
    },
    Topic {
        names: &["tobacco", "smoking", "vaping"],
        shows: &[
            "tobacco",
            "cigarette",
            "cigarettes",
            "cigar",
            "smoking",
            "vape",
            "vaping",
        ],
    },
    Topic {
        names: &["adult", "sexual", "nudity", "explicit"],
        shows: &[
            "sexual",
            "nudity",
            "nude",
            "explicit",
            "porn",
            "pornographic",
        ],
    },
    Topic {
        names: &["drugs", "drug", "narcotics"],
        shows: &[
            "drug",
            "drugs",
            "narcotic",
            "narcotics",
            "cannabis",
            "marijuana",
        ],
    },
    Topic {
        names: &["hate", "hateful", "extremism", "extremist"],
        shows: &["hate", "hateful", "slur", "slurs", "racist", "extremist"],
    },
    Topic {
        names: &["profanity", "profane", "obscenity"],
        shows: &["profanity", "profane", "obscene", "obscenity"],
    },
    Topic {
        names: &[
            "stock photography",
            "stock photo",
            "stock photos",
            "stock images",
            "stock imagery",
        ],
        shows: &[
            "stock photography",
            "stock photo",
            "stock photos",
            "stock image",
            "stock images",
            "stock imagery",
        ],
    },
];

/// Lower-case words, split at anything not a letter or digit.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The first phrase of `phrases` found as whole words in `text`.
fn find<'p>(text: &[String], phrases: &[&'p str]) -> Option<&'p str> {
    phrases.iter().copied().find(|p| {
        let p: Vec<&str> = p.split(' ').collect();
        text.windows(p.len())
            .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
    })
}

/// Every string of the artifact (ids, URLs, text, alt text, captions, transcripts), as
/// words; credentials for secured assets are left out.
fn artifact_words(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(words(s)),
        Value::Array(a) => a.iter().for_each(|x| artifact_words(x, out)),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "access")
            .for_each(|(_, x)| artifact_words(x, out)),
        _ => {}
    }
}

/// The verdicts of the policies.
struct Judgement {
    features: Vec<Value>,
}

impl Judgement {
    fn count(&self, status: &str) -> usize {
        self.features
            .iter()
            .filter(|f| f["status"] == status)
            .count()
    }

    fn verdict(&self) -> &'static str {
        if self.count("failed") > 0 {
            "fail"
        } else {
            "pass"
        }
    }

    /// The share of the features that were judged.
    fn confidence(&self) -> f64 {
        if self.features.is_empty() {
            return 1.0;
        }
        1.0 - self.count("unevaluated") as f64 / self.features.len() as f64
    }

    fn explanation(&self) -> String {
        let named = |status: &str| -> Vec<String> {
            self.features
                .iter()
                .filter(|f| f["status"] == status)
                .map(|f| {
                    format!(
                        "{} ({})",
                        f["policy_id"].as_str().unwrap_or("exemplar"),
                        f["explanation"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        };
        let mut out = match named("failed") {
            f if f.is_empty() => format!(
                "Meets the standards: {} of {} applicable policies judged.",
                self.features.len() - self.count("unevaluated"),
                self.features.len()
            ),
            f => format!("Fails {}.", f.join("; ")),
        };
        let warned = named("warning");
        if !warned.is_empty() {
            out.push_str(&format!(" Warns on {}.", warned.join("; ")));
        }
        let unjudged: Vec<&str> = self
            .features
            .iter()
            .filter(|f| f["status"] == "unevaluated")
            .filter_map(|f| f["policy_id"].as_str())
            .collect();
        if !unjudged.is_empty() {
            out.push_str(&format!(
                " Not judged here, for review: {}.",
                unjudged.join(", ")
            ));
        }
        out
    }
}

/// Whether `exemplar` is `artifact`: the same property, artifact and variant, or a page at
/// the artifact's URL.
fn same_artifact(exemplar: &Value, artifact: &Value) -> bool {
    if exemplar["type"] == "url" {
        return artifact["url"].is_string() && exemplar["value"] == artifact["url"];
    }
    ["property_rid", "artifact_id", "variant_id"]
        .iter()
        .all(|k| exemplar[*k] == artifact[*k])
}

/// Whether a policy applies where the content was delivered.
fn applies(p: &PolicyEntry, at: &Delivery<'_>) -> bool {
    let on_channel = match (&p.channels, at.channel) {
        (Some(chs), Some(c)) if !chs.is_empty() => chs.iter().any(|ch| {
            serde_json::to_value(ch)
                .ok()
                .as_ref()
                .and_then(Value::as_str)
                == Some(c)
        }),
        _ => true,
    };
    let in_country = match (&p.jurisdictions, at.country) {
        (Some(js), Some(c)) if !js.is_empty() => js.iter().any(|j| {
            j.eq_ignore_ascii_case(c)
                || p.region_aliases
                    .as_ref()
                    .and_then(|a| a.get(j))
                    .is_some_and(|members| members.iter().any(|m| m.eq_ignore_ascii_case(c)))
        }),
        _ => true,
    };
    on_channel && in_country
}

/// Judges the artifact against each policy in force where it was delivered, and against
/// the standards' exemplars.
fn judge(k: &Kept, artifact: &Value, at: &Delivery<'_>, today: Date) -> Judgement {
    let mut features = Vec::new();
    if let Some(ex) = &k.exemplars {
        for (label, status) in [("fail", "failed"), ("pass", "passed")] {
            if ex[label]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| same_artifact(e, artifact)))
            {
                features.push(json!({"feature_id": "calibration_exemplar", "status": status,
                    "explanation": format!("the standards give this artifact as a {label} exemplar"),
                    "confidence": 1.0}));
            }
        }
    }
    let channels_any = k.standards.get("channels_any").and_then(Value::as_array);
    if let (Some(chs), Some(c)) = (channels_any, at.channel)
        && !chs.iter().any(|x| x == c)
    {
        // Delivered on a channel these standards do not cover.
        return Judgement { features };
    }
    let mut text = Vec::new();
    artifact_words(artifact, &mut text);
    let policies: Vec<PolicyEntry> = k
        .standards
        .get("policies")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default();
    let day = |d: &Option<String>| d.as_deref().and_then(|d| time::day("date", d).ok());
    for p in policies.iter().filter(|p| applies(p, at)) {
        if day(&p.sunset_date).is_some_and(|s| s <= today) {
            continue;
        }
        let in_force = day(&p.effective_date).is_none_or(|e| e <= today);
        let feature = p
            .policy_categories
            .as_ref()
            .and_then(|c| c.first().cloned())
            .unwrap_or_else(|| "brand_suitability".into());
        let (status, explanation) = match rule(p) {
            Rule::AltText => match images_without_alt_text(artifact) {
                (0, n) => ("passed", format!("all {n} images carry alt text")),
                (missing, n) => (
                    violation(p, in_force),
                    format!("{missing} of {n} images carry no alt text"),
                ),
            },
            Rule::Prohibits(topics) => match topics.iter().find_map(|t| find(&text, t.shows)) {
                Some(shown) => (
                    violation(p, in_force),
                    format!("the content shows \"{shown}\", which the policy prohibits"),
                ),
                None => (
                    "passed",
                    "the content shows nothing the policy prohibits".into(),
                ),
            },
            Rule::Unjudged => (
                "unevaluated",
                "this agent has no rule to judge the policy: it needs a reviewer or a model".into(),
            ),
        };
        let mut f = json!({"feature_id": feature, "status": status, "policy_id": p.policy_id,
                           "explanation": explanation});
        if status != "unevaluated" {
            f["confidence"] = json!(1.0);
        }
        features.push(f);
    }
    Judgement { features }
}

/// How a violation of `p` counts: it fails the artifact if the policy is a `must` in force,
/// else it warns.
fn violation(p: &PolicyEntry, in_force: bool) -> &'static str {
    if in_force && p.enforcement == PolicyEnforcement::Must {
        "failed"
    } else {
        "warning"
    }
}

/// What a policy asks, as far as this agent can judge it.
enum Rule {
    AltText,
    Prohibits(Vec<&'static Topic>),
    Unjudged,
}

fn rule(p: &PolicyEntry) -> Rule {
    let mut text = words(&p.policy_id);
    for s in [Some(&p.policy), p.name.as_ref(), p.description.as_ref()]
        .into_iter()
        .flatten()
    {
        text.extend(words(s));
    }
    if find(&text, &["alt text", "alt"]).is_some() {
        return Rule::AltText;
    }
    let topics: Vec<&Topic> = TOPICS
        .iter()
        .filter(|t| find(&text, t.names).is_some())
        .collect();
    if topics.is_empty() {
        Rule::Unjudged
    } else {
        Rule::Prohibits(topics)
    }
}

/// `(images without alt text, images)`.
fn images_without_alt_text(artifact: &Value) -> (usize, usize) {
    let images: Vec<&Value> = artifact["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == "image")
        .collect();
    let missing = images
        .iter()
        .filter(|i| i["alt_text"].as_str().is_none_or(|t| t.trim().is_empty()))
        .count();
    (missing, images.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, enforcement: &str, text: &str) -> PolicyEntry {
        serde_json::from_value(json!({"policy_id": id, "enforcement": enforcement, "policy": text}))
            .unwrap()
    }

    fn kept(policies: &[PolicyEntry]) -> Kept {
        Kept {
            standards: json!({"standards_id": "cs_1", "policies": policies})
                .as_object()
                .unwrap()
                .clone(),
            exemplars: None,
            version: 1,
            created_at: String::new(),
        }
    }

    fn image(url: &str, alt: Option<&str>) -> Value {
        let mut a = json!({"property_rid": "p", "artifact_id": "a",
                           "assets": [{"type": "image", "url": url}]});
        if let Some(alt) = alt {
            a["assets"][0]["alt_text"] = json!(alt);
        }
        a
    }

    fn today() -> Date {
        time::day("d", "2027-01-01").unwrap()
    }

    #[test]
    fn a_must_prohibition_fails_content_showing_its_topic_in_whole_words() {
        let k = kept(&[policy(
            "no_violent_imagery",
            "must",
            "No violent or controversial imagery",
        )]);
        let bad = image("https://cdn.example/violent-hunting-scene.png", None);
        let j = judge(&k, &bad, &Delivery::default(), today());
        assert_eq!(j.verdict(), "fail");
        assert_eq!(j.features[0]["policy_id"], "no_violent_imagery");
        assert!(
            j.explanation().contains("\"violent\""),
            "{}",
            j.explanation()
        );
        // "nonviolent" is not "violent".
        let fine = image("https://cdn.example/nonviolent-protest.png", None);
        assert_eq!(
            judge(&k, &fine, &Delivery::default(), today()).verdict(),
            "pass"
        );
    }

    #[test]
    fn a_should_warns_and_an_unjudged_policy_is_unevaluated_not_failed() {
        let k = kept(&[
            policy("alt", "should", "All images must have alt text"),
            policy(
                "colors",
                "must",
                "Brand colors must match palette within 5% tolerance",
            ),
        ]);
        let j = judge(
            &k,
            &image("https://x.example/a.png", None),
            &Delivery::default(),
            today(),
        );
        assert_eq!(j.verdict(), "pass");
        assert_eq!(j.features[0]["status"], "warning");
        assert_eq!(j.features[1]["status"], "unevaluated");
        assert!((j.confidence() - 0.5).abs() < 1e-9);
        let with_alt = image("https://x.example/a.png", Some("A hiker on a trail"));
        let j = judge(&k, &with_alt, &Delivery::default(), today());
        assert_eq!(j.features[0]["status"], "passed");
    }

    #[test]
    fn dates_channels_and_jurisdictions_bound_a_policy() {
        let mut future = policy("no_gambling", "must", "No gambling");
        future.effective_date = Some("2027-06-01".into());
        let mut over = policy("no_alcohol", "must", "No alcohol");
        over.sunset_date = Some("2026-12-31".into());
        let mut uk = policy("no_tobacco", "must", "No tobacco");
        uk.jurisdictions = Some(vec!["EU".into()]);
        uk.region_aliases = Some([("EU".to_owned(), vec!["DE".to_owned()])].into());
        let k = kept(&[future, over, uk]);
        let a = json!({"property_rid": "p", "artifact_id": "casino-beer-cigarette", "assets": []});
        let j = judge(
            &k,
            &a,
            &Delivery {
                channel: None,
                country: Some("US"),
            },
            today(),
        );
        assert_eq!(j.verdict(), "pass");
        assert_eq!(
            j.features.len(),
            1,
            "sunset and out-of-jurisdiction policies are skipped"
        );
        assert_eq!(
            j.features[0]["status"], "warning",
            "not yet in force: it warns"
        );
        let j = judge(
            &k,
            &a,
            &Delivery {
                channel: None,
                country: Some("DE"),
            },
            today(),
        );
        assert_eq!(j.verdict(), "fail");
    }

    #[test]
    fn a_failing_exemplar_fails_the_artifact_it_names() {
        let mut k = kept(&[policy("colors", "must", "Match the palette")]);
        k.exemplars =
            Some(json!({"fail": [{"property_rid": "p", "artifact_id": "a", "assets": []}]}));
        let j = judge(
            &k,
            &image("https://x.example/a.png", None),
            &Delivery::default(),
            today(),
        );
        assert_eq!(j.verdict(), "fail");
        assert_eq!(j.features[0]["feature_id"], "calibration_exemplar");
    }
}
