//! Recursive types: a reference that closes a cycle of direct containment is boxed.

use super::Lowerer;
use crate::ir::{Kind, Ty, TypeId};

impl Lowerer<'_> {
    /// Boxes every reference that closes a cycle of direct containment.
    pub(super) fn break_cycles(&mut self) {
        let n = self.model.types.len();
        let mut edges: Vec<Vec<TypeId>> = vec![Vec::new(); n];
        for (id, t) in self.model.types.iter().enumerate() {
            for ty in direct_tys(&t.kind) {
                ty.direct_named(&mut edges[id]);
            }
        }
        let scc = tarjan(&edges);
        for id in 0..n {
            let comp = scc[id];
            let needs_box = |target: TypeId| scc[target] == comp;
            match &mut self.model.types[id].kind {
                Kind::Struct(s) => {
                    for f in &mut s.fields {
                        box_in(&mut f.ty, &needs_box);
                    }
                }
                Kind::Union(u) => {
                    for v in &mut u.variants {
                        box_in(&mut v.ty, &needs_box);
                    }
                }
                _ => {}
            }
        }
    }
}

fn direct_tys(kind: &Kind) -> Vec<&Ty> {
    match kind {
        Kind::Struct(s) => s.fields.iter().map(|f| &f.ty).collect(),
        Kind::Union(u) => u.variants.iter().map(|v| &v.ty).collect(),
        Kind::Alias(t) => vec![t],
        _ => Vec::new(),
    }
}

fn box_in(ty: &mut Ty, needs_box: &impl Fn(TypeId) -> bool) {
    match ty {
        Ty::Named(id) if needs_box(*id) => {
            *ty = Ty::Boxed(Box::new(ty.clone()));
        }
        Ty::Nullable(inner) => box_in(inner, needs_box),
        _ => {}
    }
}

/// Strongly connected components (Tarjan), as a component number per node.
fn tarjan(edges: &[Vec<usize>]) -> Vec<usize> {
    struct State<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        comp: Vec<usize>,
        next: usize,
        comps: usize,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                s.comp[w] = s.comps;
                if w == v {
                    break;
                }
            }
            s.comps += 1;
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        comp: vec![0; n],
        next: 0,
        comps: 0,
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    // A node alone in its component is only cyclic if it points at itself.
    let mut comp = s.comp;
    for (v, targets) in edges.iter().enumerate() {
        let alone = !edges
            .iter()
            .enumerate()
            .any(|(u, _)| u != v && comp[u] == comp[v]);
        if alone && !targets.contains(&v) {
            comp[v] = usize::MAX - v;
        }
    }
    comp
}
