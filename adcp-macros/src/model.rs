//! The model: the adopter's impl block read into operations, `#[adcp(...)]` helper attributes
//! stripped so the block re-emits as plain Rust.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Signature};

use crate::catalog::{self, TaskInfo};
use crate::errors::Errors;
use crate::parse::{ImplBlock, Item};

/// What a method's name says it implements.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    Task(&'static TaskInfo),
    Scenario,
    /// A durable job (`#[adcp(job)]`).
    Job,
    /// A task or scenario the runtime serves itself (with the reason).
    Runtime(&'static str),
    Unknown,
}

/// A method that implements (or looks like it means to implement) a task or scenario.
pub(crate) struct Operation {
    pub(crate) method: syn::Ident,
    /// The task or scenario name.
    pub(crate) wire: String,
    /// Where the name is written (the method name, or its `#[adcp(task = "..")]`).
    pub(crate) wire_span: Span,
    pub(crate) target: Target,
    pub(crate) sig: Signature,
    pub(crate) vis: syn::Visibility,
    pub(crate) cfgs: Vec<Attribute>,
}

pub(crate) struct Platform {
    pub(crate) self_ty: syn::Type,
    pub(crate) name: String,
    pub(crate) header_span: Span,
    pub(crate) ops: Vec<Operation>,
}

enum Helper {
    Skip,
    Task(LitStr),
    Job,
}

/// Reads and strips `#[adcp(skip)]` / `#[adcp(task = "..")]` / `#[adcp(job)]`.
fn take_helper(attrs: &mut Vec<Attribute>, errors: &Errors) -> Option<Helper> {
    let mut found = None;
    attrs.retain(|a| {
        if !a.path().is_ident("adcp") {
            return true;
        }
        let r = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                found = Some(Helper::Skip);
                Ok(())
            } else if meta.path.is_ident("task") {
                found = Some(Helper::Task(meta.value()?.parse()?));
                Ok(())
            } else if meta.path.is_ident("job") {
                found = Some(Helper::Job);
                Ok(())
            } else {
                Err(meta.error(
                    "expected `#[adcp(skip)]`, `#[adcp(job)]` or `#[adcp(task = \"<task name>\")]`",
                ))
            }
        });
        if let Err(e) = r {
            errors.add(e);
        }
        false
    });
    found
}

fn target_of(name: &str) -> Target {
    if let Some(t) = catalog::runtime_only(name) {
        return Target::Runtime(t.why);
    }
    if catalog::RUNTIME_SCENARIOS.contains(&name) {
        return Target::Runtime("the runtime handles this controller scenario itself");
    }
    if let Some(t) = catalog::task(name) {
        return Target::Task(t);
    }
    if catalog::scenario(name).is_some() {
        return Target::Scenario;
    }
    Target::Unknown
}

/// A method shaped like an operation (`async fn x(&self, a, b)`), whatever its name.
fn looks_like_operation(sig: &Signature) -> bool {
    sig.asyncness.is_some()
        && sig.inputs.len() == 3
        && matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_)))
}

impl Platform {
    pub(crate) fn from_impl(block: &mut ImplBlock, errors: &Errors) -> Option<Platform> {
        let item = &block.header;
        if let Some((path, _)) = &item.trait_ {
            errors.push_spanned(
                path,
                "`#[decisioning_platform]` cannot be used on trait impl blocks",
            );
            return None;
        }
        if !item.generics.params.is_empty() {
            errors.push_spanned(
                &item.generics,
                "`#[decisioning_platform]` cannot be used on a generic impl block: the dispatch table \
                 is a static of one concrete type",
            );
            return None;
        }
        let name = match &*item.self_ty {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default(),
            other => {
                errors.push_spanned(
                    other,
                    "`#[decisioning_platform]` needs an impl block for a named type",
                );
                return None;
            }
        };
        let header_span = item
            .impl_token
            .span()
            .join(item.self_ty.span())
            .unwrap_or_else(|| item.self_ty.span());
        let mut ops = Vec::new();
        for it in &mut block.items {
            let Item::Method(f) = it else { continue };
            let helper = take_helper(&mut f.attrs, errors);
            let (wire, wire_span, job) = match helper {
                Some(Helper::Skip) => continue,
                Some(Helper::Task(lit)) => (lit.value(), lit.span(), false),
                Some(Helper::Job) => (f.sig.ident.to_string(), f.sig.ident.span(), true),
                None => (f.sig.ident.to_string(), f.sig.ident.span(), false),
            };
            let target = if job { Target::Job } else { target_of(&wire) };
            if matches!(target, Target::Unknown) && !looks_like_operation(&f.sig) {
                continue; // a helper method
            }
            ops.push(Operation {
                method: f.sig.ident.clone(),
                wire,
                wire_span,
                target,
                sig: f.sig.clone(),
                vis: f.vis.clone(),
                cfgs: f
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("cfg"))
                    .cloned()
                    .collect(),
            });
        }
        Some(Platform {
            self_ty: (*item.self_ty).clone(),
            name,
            header_span,
            ops,
        })
    }
}
