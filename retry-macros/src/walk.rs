//! Walks over the few parts of syn's tree the attribute looks into: a
//! body's statements and expressions (for stray loop exits) and a type's
//! parts (for lifetimes and `impl Trait`).
//!
//! Written by hand rather than with syn's `visit` and `visit-mut` features:
//! each visitor implementation compiles a walk of syn's whole tree (some
//! three hundred functions), which was a third of this crate's build time.
//! The walks are not generic, so each is compiled once.

use syn::{
    Block, Expr, GenericArgument, Label, Lifetime, NamedArg, Pat, Path, PathArguments, ReturnType,
    Stmt, Type, TypeParamBound, punctuated::Punctuated,
};

/// What a walk over a type does at each part.
pub trait TypeWalk {
    /// Called on every type before its parts; `false` skips the parts.
    fn ty(&mut self, ty: &mut Type) -> bool;
    /// Called on every lifetime named in the type (`&'a T`, `Foo<'a>`,
    /// `impl Trait + 'a`, `use<'a>`).
    fn lifetime(&mut self, _: &Lifetime) {}
    /// Entering (`true`) or leaving the parts of a function pointer type
    /// (`fn(&T) -> &U`) or of `Fn(&T) -> &U`: their elided lifetimes are
    /// higher-ranked, their own (a named one is the enclosing item's).
    fn higher_ranked(&mut self, _entering: bool) {}
}

/// Walks `ty` and its parts, outermost first. Expressions (array lengths,
/// const arguments), macros and higher-ranked binders (`for<'a>`) are not
/// entered.
/// The type inside invisible groups (a `$t:ty` of `macro_rules!`) and
/// parentheses.
pub fn ungrouped(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => ungrouped(&g.elem),
        Type::Paren(p) => ungrouped(&p.elem),
        other => other,
    }
}

pub fn walk_type(ty: &mut Type, walk: &mut dyn TypeWalk) {
    if !walk.ty(ty) {
        return;
    }
    match ty {
        Type::Array(t) => walk_type(&mut t.elem, walk),
        Type::Group(t) => walk_type(&mut t.elem, walk),
        Type::Paren(t) => walk_type(&mut t.elem, walk),
        Type::Ptr(t) => walk_type(&mut t.elem, walk),
        Type::Slice(t) => walk_type(&mut t.elem, walk),
        Type::Reference(t) => {
            if let Some(l) = &t.lifetime {
                walk.lifetime(l);
            }
            walk_type(&mut t.elem, walk);
        }
        Type::Tuple(t) => t.elems.iter_mut().for_each(|e| walk_type(e, walk)),
        Type::Path(t) => {
            if let Some(q) = &mut t.qself {
                walk_type(&mut q.ty, walk);
            }
            walk_path(&mut t.path, walk);
        }
        Type::ImplTrait(t) => walk_bounds(&mut t.bounds, walk),
        Type::TraitObject(t) => walk_bounds(&mut t.bounds, walk),
        Type::FnPtr(t) => walk_signature(&mut t.inputs, &mut t.output, walk),
        _ => {}
    }
}

/// The inputs and output of `fn(..) -> ..` or `Fn(..) -> ..`.
fn walk_signature(
    inputs: &mut Punctuated<NamedArg, syn::Token![,]>,
    output: &mut ReturnType,
    walk: &mut dyn TypeWalk,
) {
    walk.higher_ranked(true);
    for input in inputs {
        walk_type(&mut input.ty, walk);
    }
    if let ReturnType::Type(_, ty) = output {
        walk_type(ty, walk);
    }
    walk.higher_ranked(false);
}

fn walk_path(path: &mut Path, walk: &mut dyn TypeWalk) {
    for segment in &mut path.segments {
        match &mut segment.arguments {
            PathArguments::AngleBracketed(args) => walk_arguments(&mut args.args, walk),
            PathArguments::Parenthesized(args) => {
                walk_signature(&mut args.inputs, &mut args.output, walk);
            }
            PathArguments::None => {}
        }
    }
}

fn walk_arguments(args: &mut Punctuated<GenericArgument, syn::Token![,]>, walk: &mut dyn TypeWalk) {
    for arg in args {
        match arg {
            GenericArgument::Lifetime(l) => walk.lifetime(l),
            GenericArgument::Type(t) => walk_type(t, walk),
            GenericArgument::AssocType(a) => {
                if let Some(g) = &mut a.generics {
                    walk_arguments(&mut g.args, walk);
                }
                walk_type(&mut a.ty, walk);
            }
            GenericArgument::Constraint(c) => {
                if let Some(g) = &mut c.generics {
                    walk_arguments(&mut g.args, walk);
                }
                walk_bounds(&mut c.bounds, walk);
            }
            _ => {}
        }
    }
}

fn walk_bounds(bounds: &mut Punctuated<TypeParamBound, syn::Token![+]>, walk: &mut dyn TypeWalk) {
    for bound in bounds {
        match bound {
            TypeParamBound::Trait(t) => walk_path(&mut t.path, walk),
            TypeParamBound::Lifetime(l) => walk.lifetime(l),
            TypeParamBound::PreciseCapture(p) => {
                for param in &p.params {
                    if let syn::CapturedParam::Lifetime(l) = param {
                        walk.lifetime(l);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a `break` or `continue` in `block` leaves every loop and labeled
/// block of it. Closures, async blocks, nested items and macros are not
/// entered: they are their own context (an exit in them cannot reach an
/// enclosing loop), and a macro's arguments are not syntax yet.
pub fn exits(block: &Block) -> bool {
    let mut exits = Exits::default();
    exits.block(block);
    exits.found
}

#[derive(Default)]
struct Exits {
    /// Loops around the current point, and the labels in scope.
    loops: usize,
    labels: Vec<String>,
    found: bool,
}

impl Exits {
    fn leaves(&self, label: Option<&Lifetime>) -> bool {
        match label {
            Some(l) => !self.labels.contains(&l.ident.to_string()),
            None => self.loops == 0,
        }
    }

    /// Walks a loop's or a labeled block's body (and a `while` loop's
    /// condition, where its label is in scope but an unlabeled `break` is
    /// an error).
    fn inside(&mut self, label: Option<&Label>, is_loop: bool, cond: Option<&Expr>, body: &Block) {
        let labels = self.labels.len();
        if let Some(l) = label {
            self.labels.push(l.name.ident.to_string());
        }
        self.exprs(cond);
        self.loops += usize::from(is_loop);
        self.block(body);
        self.loops -= usize::from(is_loop);
        self.labels.truncate(labels);
    }

    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            match stmt {
                Stmt::Local(local) => {
                    if let Some(init) = &local.init {
                        self.expr(&init.expr);
                        if let Some((_, diverge)) = &init.diverge {
                            self.expr(diverge);
                        }
                    }
                }
                Stmt::Expr(e, _) => self.expr(e),
                _ => {}
            }
        }
    }

    fn exprs<'a>(&mut self, exprs: impl IntoIterator<Item = &'a Expr>) {
        exprs.into_iter().for_each(|e| self.expr(e));
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Break(e) => {
                self.found |= self.leaves(e.label.as_ref());
                self.exprs(e.expr.as_deref());
            }
            Expr::Continue(e) => self.found |= self.leaves(e.label.as_ref()),
            Expr::Loop(e) => self.inside(e.label.as_ref(), true, None, &e.body),
            Expr::While(e) => self.inside(e.label.as_ref(), true, Some(&e.cond), &e.body),
            Expr::ForLoop(e) => {
                // The iterator is evaluated before the loop: its label is
                // not in scope there.
                self.expr(&e.expr);
                self.inside(e.label.as_ref(), true, None, &e.body);
            }
            Expr::Block(e) => self.inside(e.label.as_ref(), false, None, &e.block),
            Expr::Const(e) => self.block(&e.block),
            Expr::TryBlock(e) => self.block(&e.block),
            Expr::Unsafe(e) => self.block(&e.block),
            Expr::If(e) => {
                self.expr(&e.cond);
                self.block(&e.then_branch);
                self.exprs(e.else_branch.as_ref().map(|(_, e)| &**e));
            }
            Expr::Match(e) => {
                self.expr(&e.expr);
                for arm in &e.arms {
                    self.pat(&arm.pat);
                    self.expr(&arm.body);
                }
            }
            Expr::Array(e) => self.exprs(&e.elems),
            Expr::Tuple(e) => self.exprs(&e.elems),
            Expr::Call(e) => {
                self.expr(&e.func);
                self.exprs(&e.args);
            }
            Expr::MethodCall(e) => {
                self.expr(&e.receiver);
                self.exprs(&e.args);
            }
            Expr::Struct(e) => {
                self.exprs(e.fields.iter().map(|f| &f.expr));
                self.exprs(e.rest.as_deref());
            }
            Expr::Assign(e) => self.exprs([&*e.left, &*e.right]),
            Expr::Binary(e) => self.exprs([&*e.left, &*e.right]),
            Expr::Index(e) => self.exprs([&*e.expr, &*e.index]),
            Expr::Repeat(e) => self.exprs([&*e.expr, &*e.len]),
            Expr::Range(e) => self.exprs(e.start.iter().chain(&e.end).map(|e| &**e)),
            Expr::Return(e) => self.exprs(e.expr.as_deref()),
            Expr::Yield(e) => self.exprs(e.expr.as_deref()),
            Expr::Await(e) => self.expr(&e.base),
            Expr::Field(e) => self.expr(&e.base),
            Expr::Cast(e) => self.expr(&e.expr),
            Expr::Group(e) => self.expr(&e.expr),
            Expr::Let(e) => self.expr(&e.expr),
            Expr::Paren(e) => self.expr(&e.expr),
            Expr::RawAddr(e) => self.expr(&e.expr),
            Expr::Reference(e) => self.expr(&e.expr),
            Expr::Try(e) => self.expr(&e.expr),
            Expr::Unary(e) => self.expr(&e.expr),
            // Their own context: an exit in them is the compiler's to report
            // and cannot reach an enclosing loop.
            Expr::Closure(_) | Expr::Async(_) | Expr::Macro(_) => {}
            // `_`, literals, paths, verbatim tokens.
            _ => {}
        }
    }

    /// A match arm's pattern: only its guard (`Some(x) if x > 0`) holds
    /// expressions that run.
    fn pat(&mut self, pat: &Pat) {
        match pat {
            Pat::Guard(p) => {
                self.pat(&p.pat);
                self.expr(&p.guard);
            }
            Pat::Or(p) => p.cases.iter().for_each(|c| self.pat(c)),
            Pat::Paren(p) => self.pat(&p.pat),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stray `break` is found in every place an expression runs.
    #[test]
    fn a_stray_exit_is_found_in_every_expression_position() {
        for body in [
            "{ let Some(x) = y else { break }; }",
            "{ let x = f(break); }",
            "{ match x { Some(y) if break => 1, _ => 2 } }",
            "{ match x { A | B if { continue } => 1, _ => 2 } }",
            "{ match break {} }",
            "{ [break] }",
            "{ (1, break) }",
            "{ f(1, break) }",
            "{ (break)(1) }",
            "{ x.m(break) }",
            "{ (break).m() }",
            "{ S { a: break, ..Default::default() } }",
            "{ S { ..break } }",
            "{ a = break }",
            "{ 1 + break }",
            "{ x[break] }",
            "{ [0; break] }",
            "{ (break).. }",
            "{ ..break }",
            "{ return break }",
            "{ break.await }",
            "{ (break).f }",
            "{ break as u8 }",
            "{ if let 1 = break {} }",
            "{ if x {} else { break } }",
            "{ if x {} else if y { continue } }",
            "{ &raw const *break }",
            "{ &break }",
            "{ break? }",
            "{ !break }",
            "{ unsafe { break } }",
            "{ const { break } }",
            "{ while break {} }",
            "{ 'a: { break 'b; } }",
            "{ 'a: loop { 'b: { break 'a; } } break 'b; }",
            "{ loop {} break }",
            "{ 'a: loop {} break 'a }",
            "{ yield break }",
            "{ try { break } }",
            "{ while let Some(x) = break {} }",
            "{ 'a: for x in { break 'a } {} }",
        ] {
            let block: Block = syn::parse_str(body).unwrap();
            assert!(exits(&block), "{body}");
        }
    }

    #[test]
    fn exits_inside_their_own_context_are_not_stray() {
        for body in [
            "{ 'a: loop { 'b: { break 'a; } } }",
            "{ let f = |x| if x { break } else { 1 }; }",
            "{ let f = async { continue }; }",
            "{ let f = async move || { break }; }",
            "{ struct S; impl S { fn f() { break } } }",
            "{ loop { let Some(x) = y else { break }; } }",
            "{ while let Some(x) = it.next() { if x { continue } } }",
            "{ m!(break); }",
            "{ x = y; }",
            "{ break_it(x); }",
            "{ 'a: while break 'a {} }",
            "{ 'a: while let Some(x) = { if y { break 'a } else { z } } { continue 'a } }",
        ] {
            let block: Block = syn::parse_str(body).unwrap();
            assert!(!exits(&block), "{body}");
        }
    }

    #[derive(Default)]
    struct Seen {
        types: usize,
        lifetimes: Vec<String>,
    }

    impl TypeWalk for Seen {
        fn ty(&mut self, _: &mut Type) -> bool {
            self.types += 1;
            true
        }
        fn lifetime(&mut self, l: &Lifetime) {
            self.lifetimes.push(l.ident.to_string());
        }
        fn higher_ranked(&mut self, entering: bool) {
            self.lifetimes.push(if entering { "(" } else { ")" }.into());
        }
    }

    fn seen(ty: &str) -> (usize, Vec<String>) {
        let mut ty: Type = syn::parse_str(ty).unwrap();
        let mut seen = Seen::default();
        walk_type(&mut ty, &mut seen);
        (seen.types, seen.lifetimes)
    }

    #[test]
    fn a_type_walk_reaches_every_part_but_higher_ranked_ones() {
        assert_eq!(seen("&'a mut [(u8, *const T); 4]"), (6, vec!["a".into()]));
        assert_eq!(
            seen("<Vec<&'a T> as Tr<'b>>::Out<'c, X = &'d U, Y: Bound<'e> + 'f>"),
            (
                6,
                vec!["a", "b", "c", "d", "e", "f"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        assert_eq!(
            seen("impl Future<Output = Box<dyn Tr + 'a>> + use<'b, T> + 'c"),
            (
                3,
                vec!["a", "b", "c"].into_iter().map(String::from).collect()
            )
        );
        // Function pointers and `Fn(..)` sugar: entered, marked.
        assert_eq!(
            seen("(fn(&'a u8) -> &'a u8, Box<dyn Fn(&'b u8)>)"),
            (
                10,
                vec!["(", "a", "a", ")", "(", "b", ")"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
    }
}
