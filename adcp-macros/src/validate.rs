//! Every cross-item rule, one `check_*` per invariant. Nothing stops at the first problem: all
//! are reported, each at the token it concerns.
//!
//! The result, [`ValidPlatform`], is all the expansion reads: every type, name and span it
//! emits is captured here, from the model and the attribute's arguments.

use std::collections::HashMap;

use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use proc_macro2::Span;
use quote::format_ident;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, PathArguments, ReturnType, Type};

use crate::attr::PlatformArgs;
use crate::catalog::{self, TaskInfo, did_you_mean, with_suggestion};
use crate::errors::Errors;
use crate::model::{Operation, Platform, Target};

pub(crate) enum OpKind {
    Task {
        info: &'static TaskInfo,
        hybrid: bool,
    },
    Scenario,
    /// A durable job with its output type (`req_ty` is its input) and the associated constant
    /// that names it (`Self::REVIEW_MEDIA_BUY`).
    Job {
        output: Box<Type>,
        constant: Ident,
    },
}

pub(crate) struct ValidOp {
    pub(crate) method: Ident,
    pub(crate) wire: String,
    pub(crate) kind: OpKind,
    /// The argument after `&Ctx`, as the adopter wrote it (its span is where a type mismatch is
    /// reported).
    pub(crate) req_ty: Type,
    pub(crate) vis: syn::Visibility,
    pub(crate) cfgs: Vec<syn::Attribute>,
}

/// The recipe union: its name, visibility and one variant per declared recipe.
pub(crate) struct ValidRecipes {
    pub(crate) union: Ident,
    pub(crate) vis: syn::Visibility,
    pub(crate) recipes: Vec<ValidRecipe>,
}

pub(crate) struct ValidRecipe {
    /// The `recipe_kind` on the wire (`gam`).
    pub(crate) kind: String,
    /// Its variant in the union (`Gam`).
    pub(crate) variant: Ident,
    pub(crate) ty: syn::Path,
}

pub(crate) struct ValidPlatform {
    /// The path generated code names the runtime by (`crate = ..`, default `::adcp_runtime`).
    pub(crate) krate: syn::Path,
    pub(crate) self_ty: Type,
    pub(crate) name: String,
    pub(crate) ops: Vec<ValidOp>,
    pub(crate) specialisms: Vec<String>,
    pub(crate) accounts: Ident,
    /// `None` when no recipes are declared (or their declaration is wrong).
    pub(crate) recipes: Option<ValidRecipes>,
}

/// Checks everything, reporting each problem to `errors`. The result holds what did validate
/// (only the operations whose signatures are right; no recipes if their declaration is wrong),
/// which is the whole platform when `errors` stays empty.
pub(crate) fn check(p: Platform, args: &PlatformArgs, errors: &Errors) -> ValidPlatform {
    let mut ops = Vec::new();
    let mut bad_signature = false;
    for op in &p.ops {
        match check_operation(op, errors) {
            Some(v) => ops.push(v),
            // The usage note shows the task and scenario shapes; a job's mistakes stand alone.
            None => bad_signature |= matches!(op.target, Target::Task(_) | Target::Scenario),
        }
    }
    if bad_signature {
        errors.push(
            p.header_span,
            "expected handler signatures: `async fn <task>(&self, ctx: &Ctx, req: <Task>Request) -> \
             AdcpResult<<answer>>` and `async fn <scenario>(&self, ctx: &Ctx, params: ScenarioParams) -> \
             AdcpResult<ControllerReply>`",
        );
    }
    check_duplicates(&p.ops, errors);
    let specialisms = check_specialisms(args, &p.ops, errors);
    let accounts = check_accounts(args, errors);
    let recipes = check_recipes(args, &p.name, errors);
    ValidPlatform {
        krate: args.krate.clone(),
        self_ty: p.self_ty,
        name: p.name,
        ops,
        specialisms,
        accounts,
        recipes,
    }
}

/// The last path segment of a type, and the type behind a reference.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        Type::Reference(r) => last_segment(&r.elem),
        Type::Paren(p) => last_segment(&p.elem),
        Type::Group(g) => last_segment(&g.elem),
        _ => None,
    }
}

fn last_name(ty: &Type) -> String {
    last_segment(ty)
        .map(|s| s.ident.to_string())
        .unwrap_or_else(|| quote::quote!(#ty).to_string())
}

/// The `T` of `AdcpResult<T>` or `Result<T, E>`.
fn ok_type(ret: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = ret else {
        return None;
    };
    let seg = last_segment(ty)?;
    if seg.ident != "AdcpResult" && seg.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `Hybrid<T>` -> (span of `Hybrid`, `T`).
fn hybrid_inner(ty: &Type) -> Option<(Span, &Type)> {
    let seg = last_segment(ty)?;
    if seg.ident != "Hybrid" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some((seg.ident.span(), t)),
        _ => None,
    })
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one kind of operation expects of its method: the one signature check
/// ([`check_signature`]) reads it for tasks, controller scenarios and jobs alike.
struct Shape {
    /// How messages name the operation: `` `get_products` `` or ``job `review` ``.
    subject: String,
    /// The argument after `&Ctx`.
    input: Input,
    /// What the `AdcpResult` may carry.
    answers: Answers,
    /// Why a `Hybrid<..>` answer is refused, when it is.
    no_handoff: Option<String>,
}

enum Input {
    /// A wire type, by its name (and another name it may go by).
    Named(&'static str, Option<&'static str>),
    /// Any type, by value: a job's input is stored.
    Stored,
}

enum Answers {
    /// One of these types (the first is the one to suggest).
    OneOf(Vec<&'static str>),
    /// Any type (a job's output; the task handing off to it fixes which), described for the
    /// "must return" message.
    Any(&'static str),
}

impl Shape {
    fn of(op: &Operation) -> Option<Shape> {
        let name = &op.wire;
        Some(match op.target {
            Target::Task(info) => Shape {
                subject: format!("`{name}`"),
                input: Input::Named(info.request_type, None),
                answers: Answers::OneOf(info.answers.to_vec()),
                no_handoff: (!info.has_async).then(|| {
                    format!(
                        "`{name}` cannot hand off: its schema has no async arms (submitted, working, \
                         input-required); return `{}` directly",
                        info.response_type
                    )
                }),
            },
            Target::Scenario => Shape {
                subject: format!("`{name}`"),
                input: Input::Named("ScenarioParams", Some("ComplyTestControllerRequestParams")),
                answers: Answers::OneOf(vec!["ControllerReply"]),
                no_handoff: Some(format!("controller scenario `{name}` cannot hand off")),
            },
            Target::Job => Shape {
                subject: format!("job `{name}`"),
                input: Input::Stored,
                answers: Answers::Any("`AdcpResult<..>` of its task's answer"),
                no_handoff: Some(format!("job `{name}` cannot hand off again")),
            },
            Target::Runtime(_) | Target::Unknown => return None,
        })
    }
}

/// A signature that has the shape its kind expects.
struct Checked {
    /// The argument after `&Ctx`.
    input: Type,
    /// What the `AdcpResult` carries, inside `Hybrid<..>` when `hybrid`.
    answer: Type,
    hybrid: bool,
}

/// The one signature check: receiver, `async`, arity, context, input and answer, each reported
/// at its token, against what `shape` expects.
fn check_signature(sig: &syn::Signature, shape: &Shape, errors: &Errors) -> Option<Checked> {
    let subject = &shape.subject;
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format!("{subject} must be an `async fn`"),
        );
        ok = false;
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(r)) => {
            errors.push_spanned(
                r,
                format!("{subject} must take `&self`: handlers run concurrently"),
            );
            ok = false;
        }
        _ => {
            errors.push(sig.ident.span(), format!("{subject} must take `&self`"));
            ok = false;
        }
    }
    let typed = typed_args(sig);
    if typed.len() != 2 {
        let input = match shape.input {
            Input::Named(name, _) => format!("a `{name}`"),
            Input::Stored => "its input".to_owned(),
        };
        errors.push(
            sig.paren_token.span.join(),
            format!(
                "{subject} takes `&self`, a `&Ctx` and {input}; found {} argument(s) after `self`",
                typed.len()
            ),
        );
        return None;
    }
    let ctx = &*typed[0].ty;
    if !(matches!(ctx, Type::Reference(_)) && last_name(ctx) == "Ctx") {
        errors.push_spanned(
            ctx,
            format!("the first argument of {subject} must be `&Ctx`"),
        );
        ok = false;
    }
    let input = &*typed[1].ty;
    match shape.input {
        Input::Named(expected, also) => {
            let found = last_name(input);
            if found != expected && Some(found.as_str()) != also {
                errors.push_spanned(
                    input,
                    format!("{subject} takes `{expected}`, not `{found}`"),
                );
                ok = false;
            }
        }
        Input::Stored => {
            if matches!(input, Type::Reference(_)) {
                errors.push_spanned(
                    input,
                    format!("{subject} takes its input by value: it is stored"),
                );
                ok = false;
            }
        }
    }
    let Some(answer) = ok_type(&sig.output) else {
        let span = match &sig.output {
            ReturnType::Default => sig.paren_token.span.close(),
            ReturnType::Type(_, ty) => ty.span(),
        };
        let expected = match &shape.answers {
            Answers::OneOf(answers) => format!("`AdcpResult<{}>`", answers[0]),
            Answers::Any(hint) => (*hint).to_owned(),
        };
        errors.push(span, format!("{subject} must return {expected}"));
        return None;
    };
    let (hybrid, inner) = match hybrid_inner(answer) {
        Some((span, inner)) => (Some(span), inner),
        None => (None, answer),
    };
    if let Answers::OneOf(answers) = &shape.answers {
        let inner_name = last_name(inner);
        if !answers.contains(&inner_name.as_str()) {
            let expected = if answers.len() == 1 {
                format!("`{}`", answers[0])
            } else {
                format!("one of {}", list(answers))
            };
            errors.push_spanned(
                inner,
                format!("{subject} answers with {expected}, not `{inner_name}`"),
            );
            ok = false;
        }
    }
    if let (Some(span), Some(why)) = (hybrid, &shape.no_handoff) {
        errors.push(span, why);
        ok = false;
    }
    ok.then(|| Checked {
        input: input.clone(),
        answer: inner.clone(),
        hybrid: hybrid.is_some(),
    })
}

/// An operation whose name says what it implements: its signature checked, its kind decided.
fn check_operation(op: &Operation, errors: &Errors) -> Option<ValidOp> {
    let name = &op.wire;
    let shape = match op.target {
        Target::Unknown => {
            let candidates = catalog::TASKS
                .iter()
                .map(|t| t.name)
                .chain(catalog::SCENARIOS.iter().copied())
                .chain(catalog::RUNTIME_TASKS.iter().map(|t| t.name));
            let message = format!(
                "`{name}` is not an AdCP task or controller scenario; rename it, or mark a helper method \
                 `#[adcp(skip)]`"
            );
            errors.push(
                op.wire_span,
                with_suggestion(message, did_you_mean(name, candidates)),
            );
            return None;
        }
        Target::Runtime(why) => {
            errors.push(
                op.wire_span,
                format!("`{name}` is served by the runtime: {why}"),
            );
            return None;
        }
        _ => Shape::of(op)?,
    };
    let checked = check_signature(&op.sig, &shape, errors)?;
    let kind = match op.target {
        Target::Task(info) => OpKind::Task {
            info,
            hybrid: checked.hybrid,
        },
        Target::Scenario => OpKind::Scenario,
        _ => OpKind::Job {
            output: Box::new(checked.answer),
            constant: format_ident!("{}", op.method.to_string().to_shouty_snake_case()),
        },
    };
    Some(ValidOp {
        method: op.method.clone(),
        wire: op.wire.clone(),
        kind,
        req_ty: checked.input,
        vis: op.vis.clone(),
        cfgs: op.cfgs.clone(),
    })
}

/// The typed arguments of a method, after `self`.
fn typed_args(sig: &syn::Signature) -> Vec<&syn::PatType> {
    sig.inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn check_duplicates(ops: &[Operation], errors: &Errors) {
    let mut seen: HashMap<&str, &Operation> = HashMap::new();
    for op in ops {
        if matches!(
            op.target,
            Target::Unknown | Target::Runtime(_) | Target::Job
        ) {
            continue;
        }
        if let Some(first) = seen.get(op.wire.as_str()) {
            errors.push(
                op.wire_span,
                format!(
                    "task `{}` is implemented twice (also by `{}`); each AdCP task may be implemented once",
                    op.wire, first.method
                ),
            );
        } else {
            seen.insert(&op.wire, op);
        }
    }
}

fn check_specialisms(args: &PlatformArgs, ops: &[Operation], errors: &Errors) -> Vec<String> {
    let implemented: Vec<&str> = ops
        .iter()
        .filter(|o| matches!(o.target, Target::Task(_)))
        .map(|o| o.wire.as_str())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for ident in &args.specialisms {
        let id = ident.to_string();
        let Some(spec) = catalog::specialism(&id) else {
            let message = format!("unknown specialism `{id}`");
            errors.push(
                ident.span(),
                with_suggestion(
                    message,
                    did_you_mean(&id, catalog::SPECIALISMS.iter().map(|s| s.id)),
                ),
            );
            continue;
        };
        if out.contains(&id) {
            errors.push(ident.span(), format!("specialism `{id}` is claimed twice"));
            continue;
        }
        let missing: Vec<&str> = spec
            .required
            .iter()
            .copied()
            .filter(|t| !implemented.contains(t) && !catalog::runtime_serves(t))
            .collect();
        if !missing.is_empty() {
            let hints: Vec<String> = missing
                .iter()
                .filter_map(|m| catalog::task(m))
                .map(|t| {
                    format!(
                        "`async fn {}(&self, ctx: &Ctx, req: {}) -> AdcpResult<{}>`",
                        t.name, t.request_type, t.response_type
                    )
                })
                .collect();
            errors.push(
                ident.span(),
                format!(
                    "specialism `{id}` ({} protocol) requires {}, which {} not implemented\nnote: add {}",
                    spec.protocol,
                    list(&missing),
                    if missing.len() == 1 { "is" } else { "are" },
                    hints.join(" and ")
                ),
            );
        }
        // The runtime keeps a governance-aware seller's agents, so its checks can find them.
        if id == "governance_aware_seller"
            && let Some(own) = ops.iter().find(|o| o.wire == "sync_governance")
        {
            errors.push(
                own.wire_span,
                "the runtime serves `sync_governance` for a `governance_aware_seller` (it keeps \
                 the agents it asks before spend is confirmed): remove this method, and read \
                 the agents with `ctx.governance()`",
            );
        }
        out.push(id);
    }
    out
}

fn check_accounts(args: &PlatformArgs, errors: &Errors) -> Ident {
    const MODES: &[(&str, &str)] = &[
        ("explicit", "Explicit"),
        ("from_auth", "FromAuth"),
        ("singleton", "Singleton"),
    ];
    let Some(mode) = &args.accounts else {
        return Ident::new("Explicit", Span::call_site());
    };
    let given = mode.to_string();
    match MODES.iter().find(|(m, _)| *m == given) {
        Some((_, variant)) => Ident::new(variant, mode.span()),
        None => {
            let message = format!(
                "unknown account resolution mode `{given}`; expected `explicit`, `from_auth` or `singleton`"
            );
            errors.push(
                mode.span(),
                with_suggestion(message, did_you_mean(&given, MODES.iter().map(|(m, _)| *m))),
            );
            Ident::new("Explicit", Span::call_site())
        }
    }
}

fn check_recipes(args: &PlatformArgs, platform: &str, errors: &Errors) -> Option<ValidRecipes> {
    let mut ok = true;
    let mut seen: Vec<String> = Vec::new();
    for (kind, _) in &args.recipes {
        let k = kind.to_string();
        if seen.contains(&k) {
            errors.push(kind.span(), format!("recipe kind `{k}` is declared twice"));
            ok = false;
        }
        seen.push(k);
    }
    if args.recipes.is_empty() {
        if let Some((_, name)) = &args.recipe_union {
            errors.push(
                name.span(),
                "`recipe_union` names a union but no `recipes(..)` are declared",
            );
        }
        return None;
    }
    let (vis, union) = match &args.recipe_union {
        Some((vis, name)) => (vis.clone(), name.clone()),
        None => (
            syn::parse_quote!(pub(crate)),
            format_ident!("{platform}Recipe"),
        ),
    };
    let recipes = args
        .recipes
        .iter()
        .map(|(kind, ty)| ValidRecipe {
            kind: kind.to_string(),
            variant: format_ident!("{}", kind.to_string().to_upper_camel_case()),
            ty: ty.clone(),
        })
        .collect();
    ok.then_some(ValidRecipes {
        union,
        vis,
        recipes,
    })
}
