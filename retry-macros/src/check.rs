//! Checks that span the attribute and the function: what the signature
//! allows, and keys that need something of it.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReceiverKind, ReturnType, Type};

use crate::args::Args;
use crate::errors::Errors;
use crate::symbol::Key;
use crate::walk::{TypeWalk, ungrouped, walk_type};

pub fn function(func: &ItemFn, args: &Args, errors: &mut Errors) {
    let sig = &func.sig;
    match &sig.output {
        ReturnType::Default => errors.at(
            sig.ident.span(),
            format!(
                "`#[retry]` needs a function that returns `Result`: `{}` returns nothing, so it cannot fail",
                sig.ident
            ),
        ),
        ReturnType::Type(_, ty) => {
            if sig.asyncness.is_none() && is_boxed_future(ty) {
                errors.at(
                    ty.span(),
                    "`#[retry]` sees a function that returns a boxed future, not a `Result` \
                     (this is what `#[async_trait]` makes of an `async fn`): put `#[retry]` on a \
                     native `async fn` in the trait impl (Rust 1.75 and later), or on an inherent \
                     `async fn` that the trait method calls",
                );
            } else if sig.asyncness.is_none()
                && matches!(&**ty, Type::ImplTrait(_))
                && mentions(&ty.to_token_stream(), "Future")
            {
                errors.spanned(
                    ty,
                    "`#[retry]` sees a function that returns a future, not a `Result`: write it \
                     as an `async fn` returning the `Result` (each attempt then awaits the body \
                     anew)",
                );
            } else if let Some(span) = borrow_of_mut_argument(func, ty) {
                errors.at(
                    span,
                    "`#[retry]` cannot return a borrow of a `&mut` argument: the retry loop \
                     re-borrows it for every attempt, and the borrow checker does not let one \
                     attempt's result outlive the next borrow (a known limit, rust-lang/rust#54663); \
                     return an owned value, or retry a function that returns `Result<(), E>` and \
                     borrow after it",
                );
            }
        }
    }
    if let Some(constness) = &sig.constness {
        errors.at(constness.span(), "`#[retry]` cannot go on a `const fn`");
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "`#[retry]` cannot go on a variadic function");
    }
    if let Some(fallback) = &args.fallback {
        // The fallback gets every argument: one that may not exist cannot be
        // passed.
        for arg in &sig.inputs {
            let attrs = match arg {
                FnArg::Receiver(r) => &r.attrs,
                FnArg::Typed(t) => &t.attrs,
            };
            for attr in attrs.iter().filter(|a| a.path().is_ident("cfg")) {
                errors.spanned(
                    attr,
                    "`fallback` passes every argument on: a parameter under `#[cfg]` cannot be passed",
                );
            }
        }
        // The function itself: a retry loop that calls itself for ever.
        let segments: Vec<String> = fallback
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let own = sig.ident.to_string();
        let itself = match segments.as_slice() {
            [name] => *name == own,
            [this, name] => this == "Self" && *name == own,
            _ => false,
        };
        if itself {
            errors.spanned(
                fallback,
                format!(
                    "`{own}` cannot be its own fallback: it would call itself for ever; name another function"
                ),
            );
        }
    }
    if let Some(name) = &args.policy {
        policy(sig, name, errors);
    }
    if let (None, Some(at)) = (&args.fallback, args.key_span(Key::FallbackOn)) {
        errors.at(
            at,
            "`fallback_on` chooses which errors go to the fallback: name it too, `fallback = complete_with_claude`",
        );
    }
    if let Some(name) = &args.attempt {
        // A parameter of the same name would be hidden in the body.
        let shadowed = sig.inputs.iter().any(|arg| match arg {
            FnArg::Typed(t) => matches!(&*t.pat, syn::Pat::Ident(p) if p.ident == *name),
            FnArg::Receiver(_) => name == "self",
        });
        if shadowed {
            errors.spanned(
                name,
                format!(
                    "`attempt = {name}` would hide the parameter `{name}` in the body: choose another name"
                ),
            );
        }
    }
    if let (Some(key), None) = (args.key_span(Key::Timeout), &sig.asyncness) {
        errors.at(
            key,
            "`timeout` needs an `async fn`: a plain `fn` cannot be interrupted; use `deadline`, or make the function async",
        );
    }
}

/// `Pin<Box<dyn Future<..> + ..>>`, as `#[async_trait]` writes it.
fn is_boxed_future(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    last.ident == "Pin" && mentions(&ty.to_token_stream(), "Future")
}

fn mentions(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(&g.stream(), name),
        _ => false,
    })
}

/// Where the return type borrows from a `&mut` argument, if it does: an
/// elided lifetime taken from `&mut self` (or from the only reference
/// argument, when that is `&mut`), or a named lifetime that a `&'a mut`
/// argument carries. References inside `fn(&T)` and `Fn(&T)` types are
/// their own (higher-ranked), not borrows.
fn borrow_of_mut_argument(func: &ItemFn, ret: &Type) -> Option<Span> {
    let mut lifetimes = Lifetimes::default();
    walk_type(&mut ret.clone(), &mut lifetimes);
    let mut mut_lifetimes = Vec::new();
    let mut references = 0;
    let mut receiver_is_mut = None;
    for arg in &func.sig.inputs {
        let ty = match arg {
            FnArg::Receiver(r) => match &r.kind {
                ReceiverKind::Reference(_, lifetime, m) => {
                    receiver_is_mut = Some(m.is_some());
                    if let (Some(l), Some(_)) = (lifetime, m) {
                        mut_lifetimes.push(l.ident.to_string());
                    }
                    continue;
                }
                ReceiverKind::Typed(_, ty) => {
                    if let Type::Reference(r) = ungrouped(ty) {
                        receiver_is_mut = Some(r.mutability.is_some());
                    }
                    ty
                }
                _ => continue,
            },
            FnArg::Typed(t) => {
                if matches!(ungrouped(&t.ty), Type::Reference(_)) {
                    references += 1;
                }
                &t.ty
            }
        };
        if let Type::Reference(
            r @ syn::TypeReference {
                mutability: Some(_),
                ..
            },
        ) = ungrouped(ty)
        {
            match &r.lifetime {
                Some(l) => mut_lifetimes.push(l.ident.to_string()),
                None => mut_lifetimes.push(String::new()),
            }
        }
    }
    if let Some(span) = lifetimes.elided {
        let from_mut = match receiver_is_mut {
            Some(is_mut) => is_mut,
            None => references == 1 && mut_lifetimes.iter().any(String::is_empty),
        };
        if from_mut {
            return Some(span);
        }
    }
    lifetimes
        .named
        .into_iter()
        .find(|(name, _)| mut_lifetimes.contains(name))
        .map(|(_, span)| span)
}

/// The elided lifetimes (`&T`, `'_`) and named ones of a type.
#[derive(Default)]
struct Lifetimes {
    elided: Option<Span>,
    named: Vec<(String, Span)>,
    /// Inside `fn(..)` or `Fn(..)`, how deep.
    higher_ranked: usize,
}

impl TypeWalk for Lifetimes {
    fn ty(&mut self, ty: &mut Type) -> bool {
        match ty {
            Type::Reference(r @ syn::TypeReference { lifetime: None, .. })
                if self.higher_ranked == 0 =>
            {
                self.elided.get_or_insert(r.and_token.span);
            }
            _ => {}
        }
        true
    }
    fn lifetime(&mut self, l: &syn::Lifetime) {
        if l.ident == "_" {
            if self.higher_ranked == 0 {
                self.elided.get_or_insert(l.span());
            }
        } else if l.ident != "static" {
            self.named.push((l.ident.to_string(), l.span()));
        }
    }
    // `fn(&T) -> &U` and `Fn(&T) -> &U`: their elided lifetimes borrow
    // nothing of the caller's; a named one does.
    fn higher_ranked(&mut self, entering: bool) {
        if entering {
            self.higher_ranked += 1;
        } else {
            self.higher_ranked -= 1;
        }
    }
}

/// `policy = NAME`: the policy is a `static`, so its `Ok` and error types
/// must be nameable outside the function and `'static`.
fn policy(sig: &syn::Signature, name: &syn::Ident, errors: &mut Errors) {
    if *name == sig.ident {
        errors.spanned(
            name,
            format!("`policy = {name}` is the function's own name: choose another, `policy = {name}_policy`"),
        );
    }
    let generic = sig.generics.params.iter().find_map(|p| match p {
        syn::GenericParam::Type(t) => Some(&t.ident),
        syn::GenericParam::Const(c) => Some(&c.ident),
        syn::GenericParam::Lifetime(_) => None,
    });
    if let Some(param) = generic {
        errors.spanned(
            name,
            format!(
                "`policy` builds one `static` policy, which cannot depend on the generic parameter `{param}`: build it with `Retrying` instead"
            ),
        );
        return;
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Some(why) = unnameable(ty.to_token_stream()) {
            errors.spanned(
                name,
                format!("`policy` builds one `static` policy, whose types must be named outside the function: the return type has {why}"),
            );
        }
    }
}

/// What keeps a return type from being a `static`'s: `Self`, `impl Trait`,
/// `_`, a reference without a lifetime or a lifetime other than `'static`.
fn unnameable(tokens: TokenStream) -> Option<&'static str> {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        match tt {
            // A function type's own arguments and output may borrow
            // (`fn(&str) -> &str`, `dyn Fn(&str)`, `for<'a> fn(&'a str)`):
            // it is `'static` all the same. Skipped to the next argument.
            TokenTree::Ident(i)
                if ["fn", "Fn", "FnMut", "FnOnce", "for"].contains(&&*i.to_string()) =>
            {
                for next in tokens.by_ref() {
                    if matches!(&next, TokenTree::Punct(p) if p.as_char() == ',') {
                        break;
                    }
                }
            }
            TokenTree::Ident(i) if i == "Self" => return Some("`Self`"),
            TokenTree::Ident(i) if i == "impl" => return Some("`impl Trait`"),
            TokenTree::Ident(i) if i == "_" => return Some("`_`"),
            // `&'a T` is judged by its lifetime; `&T` borrows from an argument.
            TokenTree::Punct(p)
                if p.as_char() == '&'
                    && !matches!(tokens.peek(), Some(TokenTree::Punct(q)) if q.as_char() == '\'') =>
            {
                return Some("a reference");
            }
            TokenTree::Punct(p)
                if p.as_char() == '\''
                    && !matches!(tokens.peek(), Some(TokenTree::Ident(i)) if i == "static") =>
            {
                return Some("a lifetime");
            }
            TokenTree::Group(g) => {
                if let Some(why) = unnameable(g.stream()) {
                    return Some(why);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(item: TokenStream) -> String {
        let func: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        function(&func, &Args::default(), &mut errors);
        errors.finish().map(|t| t.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_name_is_found_inside_groups() {
        assert!(mentions(
            &quote!(Pin<Box<(dyn Future<Output = ()> + Send)>>),
            "Future"
        ));
        assert!(mentions(&quote!(Pin<Box<dyn Future>>), "Future"));
        assert!(!mentions(&quote!(Pin<Box<(dyn Stream)>>), "Future"));
    }

    #[test]
    fn borrows_of_mut_arguments() {
        let bad = [
            quote!(
                fn f(&mut self) -> Result<&str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(&mut self) -> Result<Ref<'_>, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(v: &mut Vec<u8>) -> Result<&[u8], E> {
                    todo!()
                }
            ),
            quote!(
                fn f<'a>(v: &'a mut Vec<u8>, w: &str) -> Result<&'a [u8], E> {
                    todo!()
                }
            ),
            quote!(
                fn f<'a>(&'a mut self) -> Result<&'a str, E> {
                    todo!()
                }
            ),
        ];
        for item in bad {
            assert!(
                errors(item.clone()).contains("borrow of a `&mut` argument"),
                "{item}"
            );
        }
        let fine = [
            quote!(
                fn f(&self) -> Result<&str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(&mut self) -> Result<&'static str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(&mut self) -> Result<String, E> {
                    todo!()
                }
            ),
            quote!(
                fn f<'a>(a: &'a str, b: &mut u8) -> Result<&'a str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(a: &str) -> Result<&str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(a: &mut u8, b: &mut u8) -> Result<u8, E> {
                    todo!()
                }
            ),
        ];
        for item in fine {
            assert_eq!(errors(item.clone()), "", "{item}");
        }
    }

    #[test]
    fn higher_ranked_and_typed_receivers() {
        for item in [
            quote!(
                fn f(&mut self) -> Result<Box<dyn Fn(&Req) -> Resp + Send>, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(buf: &mut Vec<u8>) -> Result<fn(&str) -> bool, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(self: &Self) -> Result<&str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(a: &str, b: &mut u8) -> Result<&str, E> {
                    todo!()
                }
            ),
        ] {
            assert_eq!(errors(item.clone()), "", "{item}");
        }
        for item in [
            quote!(
                fn f(self: &mut Self) -> Result<&str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f(v: &mut Vec<u8>) -> Result<Box<dyn Iterator<Item = &u8> + '_>, E> {
                    todo!()
                }
            ),
            // A named lifetime inside `fn(..)` is the caller's.
            quote!(
                fn f<'a>(&'a mut self) -> Result<fn() -> &'a str, E> {
                    todo!()
                }
            ),
            quote!(
                fn f<'a>(v: &'a mut Vec<u8>) -> Result<Box<dyn Fn(&u8) -> &'a u8>, E> {
                    todo!()
                }
            ),
        ] {
            assert!(
                errors(item.clone()).contains("borrow of a `&mut` argument"),
                "{item}"
            );
        }
    }

    #[test]
    fn async_trait_output() {
        let e = errors(quote! {
            fn f<'life0, 'async_trait>(&'life0 self) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u8, E>> + Send + 'async_trait>> {
                Box::pin(async move { Ok(1) })
            }
        });
        assert!(e.contains("#[async_trait]"), "{e}");
        assert!(
            errors(quote!(
                fn f() -> Pin<Box<u8>> {
                    todo!()
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn signature_mistakes() {
        assert!(
            errors(quote!(
                fn f() {}
            ))
            .contains("returns nothing")
        );
        assert!(
            errors(quote!(
                const fn f() -> Result<(), E> {
                    Ok(())
                }
            ))
            .contains("`const fn`")
        );
    }
}
