//! Every cross-item rule, one `check_*` per invariant. Nothing stops at the first problem: all
//! are reported, each at the token it concerns.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Type};

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
    /// A durable job with its output type (`req_ty` is its input).
    Job {
        output: Box<Type>,
    },
}

pub(crate) struct ValidOp {
    pub(crate) method: syn::Ident,
    pub(crate) wire: String,
    pub(crate) kind: OpKind,
    pub(crate) req_ty: Type,
    pub(crate) vis: syn::Visibility,
    pub(crate) cfgs: Vec<syn::Attribute>,
}

pub(crate) struct ValidPlatform {
    pub(crate) self_ty: Type,
    pub(crate) name: String,
    pub(crate) ops: Vec<ValidOp>,
    pub(crate) specialisms: Vec<String>,
    pub(crate) accounts: syn::Ident,
}

pub(crate) fn check(p: Platform, args: &PlatformArgs, errors: &Errors) -> Option<ValidPlatform> {
    let mut ops = Vec::new();
    let mut bad_signature = false;
    for op in &p.ops {
        if matches!(op.target, Target::Job) {
            if let Some(v) = check_job(op, errors) {
                ops.push(v);
            }
            continue;
        }
        match check_operation(op, errors) {
            Some(v) => ops.push(v),
            None => bad_signature |= !matches!(op.target, Target::Unknown | Target::Runtime(_)),
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
    check_recipes(args, errors);
    Some(ValidPlatform {
        self_ty: p.self_ty,
        name: p.name,
        ops,
        specialisms,
        accounts,
    })
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

fn check_operation(op: &Operation, errors: &Errors) -> Option<ValidOp> {
    let name = &op.wire;
    let (req_name, answers): (&str, Vec<&str>) = match op.target {
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
        Target::Task(t) => (t.request_type, t.answers.to_vec()),
        Target::Scenario => ("ScenarioParams", vec!["ControllerReply"]),
        Target::Job => return None,
    };
    let sig = &op.sig;
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.push(sig.fn_token.span, format!("`{name}` must be an `async fn`"));
        ok = false;
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(r)) => {
            errors.push_spanned(
                r,
                format!("`{name}` must take `&self`: handlers run concurrently"),
            );
            ok = false;
        }
        _ => {
            errors.push(sig.ident.span(), format!("`{name}` must take `&self`"));
            ok = false;
        }
    }
    let typed = typed_args(sig);
    if typed.len() != 2 {
        errors.push(
            sig.paren_token.span.join(),
            format!("`{name}` takes `&self`, a `&Ctx` and a `{req_name}`; found {} argument(s) after `self`", typed.len()),
        );
        return None;
    }
    ok &= check_ctx(&typed[0].ty, &format!("`{name}`"), errors);
    let req_ty = &*typed[1].ty;
    let found = last_name(req_ty);
    let req_ok = found == req_name
        || (req_name == "ScenarioParams" && found == "ComplyTestControllerRequestParams");
    if !req_ok {
        errors.push_spanned(
            req_ty,
            format!("`{name}` takes `{req_name}`, not `{found}`"),
        );
        ok = false;
    }
    let Some(answer) = ok_type(&sig.output) else {
        let span = match &sig.output {
            ReturnType::Default => sig.paren_token.span.close(),
            ReturnType::Type(_, ty) => ty.span(),
        };
        errors.push(
            span,
            format!("`{name}` must return `AdcpResult<{}>`", answers[0]),
        );
        return None;
    };
    let (hybrid, inner) = match hybrid_inner(answer) {
        Some((span, inner)) => (Some(span), inner),
        None => (None, answer),
    };
    let inner_name = last_name(inner);
    if !answers.contains(&inner_name.as_str()) {
        let expected = if answers.len() == 1 {
            format!("`{}`", answers[0])
        } else {
            format!("one of {}", list(&answers))
        };
        errors.push_spanned(
            inner,
            format!("`{name}` answers with {expected}, not `{inner_name}`"),
        );
        ok = false;
    }
    let kind = match op.target {
        Target::Task(info) => {
            if let Some(span) = hybrid
                && !info.has_async
            {
                errors.push(
                    span,
                    format!(
                        "`{name}` cannot hand off: its schema has no async arms (submitted, working, \
                         input-required); return `{}` directly",
                        info.response_type
                    ),
                );
                ok = false;
            }
            OpKind::Task {
                info,
                hybrid: hybrid.is_some(),
            }
        }
        _ => {
            if let Some(span) = hybrid {
                errors.push(
                    span,
                    format!("controller scenario `{name}` cannot hand off"),
                );
                ok = false;
            }
            OpKind::Scenario
        }
    };
    ok.then(|| ValidOp {
        method: op.method.clone(),
        wire: op.wire.clone(),
        kind,
        req_ty: req_ty.clone(),
        vis: op.vis.clone(),
        cfgs: op.cfgs.clone(),
    })
}

/// `#[adcp(job)] async fn <job>(&self, ctx: &Ctx, input: I) -> AdcpResult<O>`: any `I` that
/// serde can store, any `O` (the task handing off to it fixes which).
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

/// Whether `ty` is `&Ctx`; reports it otherwise, as the first argument of `subject`.
fn check_ctx(ty: &Type, subject: &str, errors: &Errors) -> bool {
    let ok = matches!(ty, Type::Reference(_)) && last_name(ty) == "Ctx";
    if !ok {
        errors.push_spanned(
            ty,
            format!("the first argument of {subject} must be `&Ctx`"),
        );
    }
    ok
}

fn check_job(op: &Operation, errors: &Errors) -> Option<ValidOp> {
    let name = &op.wire;
    let sig = &op.sig;
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format!("job `{name}` must be an `async fn`"),
        );
        ok = false;
    }
    if !matches!(sig.inputs.first(), Some(FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)))
    {
        errors.push(sig.ident.span(), format!("job `{name}` must take `&self`"));
        ok = false;
    }
    let typed = typed_args(sig);
    if typed.len() != 2 {
        errors.push(
            sig.paren_token.span.join(),
            format!(
                "job `{name}` takes `&self`, a `&Ctx` and its input; found {} argument(s) after `self`",
                typed.len()
            ),
        );
        return None;
    }
    ok &= check_ctx(&typed[0].ty, &format!("job `{name}`"), errors);
    let input = &*typed[1].ty;
    if matches!(input, Type::Reference(_)) {
        errors.push_spanned(
            input,
            format!("job `{name}` takes its input by value: it is stored"),
        );
        ok = false;
    }
    let Some(output) = ok_type(&sig.output) else {
        let span = match &sig.output {
            ReturnType::Default => sig.paren_token.span.close(),
            ReturnType::Type(_, ty) => ty.span(),
        };
        errors.push(
            span,
            format!("job `{name}` must return `AdcpResult<..>` of its task's answer"),
        );
        return None;
    };
    if let Some((span, _)) = hybrid_inner(output) {
        errors.push(span, format!("job `{name}` cannot hand off again"));
        ok = false;
    }
    ok.then(|| ValidOp {
        method: op.method.clone(),
        wire: op.wire.clone(),
        kind: OpKind::Job {
            output: Box::new(output.clone()),
        },
        req_ty: input.clone(),
        vis: op.vis.clone(),
        cfgs: op.cfgs.clone(),
    })
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
            .entry_points
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
        out.push(id);
    }
    out
}

fn check_accounts(args: &PlatformArgs, errors: &Errors) -> syn::Ident {
    const MODES: &[(&str, &str)] = &[
        ("explicit", "Explicit"),
        ("from_auth", "FromAuth"),
        ("singleton", "Singleton"),
    ];
    let Some(mode) = &args.accounts else {
        return syn::Ident::new("Explicit", Span::call_site());
    };
    let given = mode.to_string();
    match MODES.iter().find(|(m, _)| *m == given) {
        Some((_, variant)) => syn::Ident::new(variant, mode.span()),
        None => {
            let message = format!(
                "unknown account resolution mode `{given}`; expected `explicit`, `from_auth` or `singleton`"
            );
            errors.push(
                mode.span(),
                with_suggestion(message, did_you_mean(&given, MODES.iter().map(|(m, _)| *m))),
            );
            syn::Ident::new("Explicit", Span::call_site())
        }
    }
}

fn check_recipes(args: &PlatformArgs, errors: &Errors) {
    let mut seen: Vec<String> = Vec::new();
    for (kind, _) in &args.recipes {
        let k = kind.to_string();
        if seen.contains(&k) {
            errors.push(kind.span(), format!("recipe kind `{k}` is declared twice"));
        }
        seen.push(k);
    }
    if args.recipes.is_empty()
        && let Some((_, name)) = &args.recipe_union
    {
        errors.push(
            name.span(),
            "`recipe_union` names a union but no `recipes(..)` are declared",
        );
    }
}
