//! Emits the retry loop.
//!
//! Input:
//!
//! ```text
//! #[retry(attempts = 5, on = [Connect, RateLimited => (wait = fixed(60))])]
//! async fn complete(&self, prompt: String) -> Result<String, ApiError> { BODY }
//! ```
//!
//! Output (sketch; every local is `__retry_*` at `Span::mixed_site()`):
//!
//! ```text
//! async fn complete(&self, prompt: String) -> Result<String, ApiError> {
//!     let mut call = Call::<TokioClock>::new({ const SETTINGS: Settings = ..; &SETTINGS });
//!     loop {
//!         let (outcome, timed_out) = {
//!             let __retry_self = self;                  // `&mut self`: `&mut *self`
//!             let prompt = CloneArg::clone_arg(&prompt); // by value: cloned per attempt
//!             // A body with `return`, `?` or a macro that may hide them:
//!             let attempt = attempt::<Result<String, ApiError>, _>(async move BODY');
//!             (attempt.await, false)                     // or with_timeout(..)
//!             // Any other body is the attempt itself:
//!             // let ret: Result<String, ApiError> = BODY'; (ret, false)
//!         };
//!         let delay = match IsResult::into_result(outcome) {
//!             Ok(v) => return Ok(v),                     // or the `when_ok` check
//!             Err(e) => {
//!                 let class = (&Probe(&e)).probe_class(timed_out);   // Classify if E has it
//!                 let next = if NEVER { call.failed(f, None, ..) }
//!                     else if CONNECT.matches(class) { call.failed(f, Some(top limits), before_sleep) }
//!                     else if RATE_LIMITED.matches(class) { call.failed(f, Some(override limits), ..) }
//!                     else { call.failed(f, None, ..) };
//!                 match next { Some(d) => d, None => { call.give_up(f, on_giveup); return Err(e) } }
//!             }
//!         };
//!         sleep(delay).await;
//!     }
//! }
//! ```
//!
//! `BODY'` is the body with `self` renamed to `__retry_self`, so that each
//! attempt gets its own receiver.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReceiverKind, ReturnType, Type};

use crate::args::{Args, ClassSpec, Hook, RetryAfterSpec, RuleSpec, SetPart, WaitSpec};
use crate::duration::Dur;
use crate::errors::Errors;

const NOT_A_FUNCTION: &str =
    "`#[retry]` goes on a function with a body (`fn` or `async fn`) that returns `Result`";

pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = Args::parse(args, &mut errors);
    let func = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(func)) => func,
        other => {
            let span = other.as_ref().map_or_else(|_| Span::call_site(), item_span);
            errors.at(span, NOT_A_FUNCTION);
            let compile_errors = errors.finish();
            return quote!(#compile_errors #item);
        }
    };
    check_function(&func, &parsed, &mut errors);
    if let Some(compile_errors) = errors.finish() {
        // Keep the function so the IDE goes on working inside it.
        return quote!(#compile_errors #func);
    }
    Expansion::new(parsed, func).emit()
}

fn item_span(item: &syn::Item) -> Span {
    let mut tokens = item
        .to_token_stream()
        .into_iter()
        .filter(|tt| !matches!(tt, TokenTree::Punct(p) if p.as_char() == '#'));
    tokens
        .find(|tt| !matches!(tt, TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket))
        .map_or_else(Span::call_site, |tt| tt.span())
}

fn check_function(func: &ItemFn, args: &Args, errors: &mut Errors) {
    let sig = &func.sig;
    if let ReturnType::Default = sig.output {
        errors.at(
            sig.ident.span(),
            format!(
                "`#[retry]` needs a function that returns `Result`: `{}` returns nothing, so it cannot fail",
                sig.ident
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.at(constness.span(), "`#[retry]` cannot go on a `const fn`");
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "`#[retry]` cannot go on a variadic function");
    }
    if let (Some((_, key)), None) = (&args.timeout, &sig.asyncness) {
        errors.at(
            *key,
            "`timeout` needs an `async fn`: a plain `fn` cannot be interrupted; use `deadline`, or make the function async",
        );
    }
}

struct Expansion {
    args: Args,
    func: ItemFn,
    krate: TokenStream,
}

fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

impl Expansion {
    fn new(args: Args, func: ItemFn) -> Self {
        let krate = match &args.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::retry_runtime),
        };
        Expansion { args, func, krate }
    }

    fn emit(mut self) -> TokenStream {
        let krate = self.krate.clone();
        let rebinds = self.rebind_arguments();
        let is_async = self.func.sig.asyncness.is_some();
        let ret_ty = match &self.func.sig.output {
            ReturnType::Type(_, ty) => (**ty).clone(),
            ReturnType::Default => unreachable!("checked"),
        };
        let body = rename_self(self.func.block.to_token_stream());
        // A return type with `impl Trait` cannot annotate a local; it then goes unannotated.
        let annotated = !contains_impl(&ret_ty.to_token_stream());
        let ret = local("__retry_ret");
        let ret_ann = if annotated {
            quote!(: #ret_ty)
        } else {
            quote!()
        };
        let fn_ret = if annotated {
            quote!(-> #ret_ty)
        } else {
            quote!()
        };

        let call = local("__retry_call");
        let outcome = local("__retry_outcome");
        let timed_out = local("__retry_timed_out");
        let attempt = local("__retry_attempt");
        let types = local("__retry_types");
        let delay = local("__retry_delay");
        let value = local("__retry_value");
        let error = local("__retry_error");
        let failure = local("__retry_failure");
        let next = local("__retry_next");

        let settings = self.settings();
        let run_attempt = if is_async && self.args.timeout.is_none() && !ends_early(&body) {
            // Nothing in the body can leave it early, so it is the attempt
            // itself: no inner future, as in a hand-written loop.
            quote! {
                let #ret #ret_ann = #body;
                (#ret, false)
            }
        } else if is_async {
            // The async block's output is tied to the return type through a
            // bound rather than a trailing annotation, so a body that always
            // returns early leaves no unreachable code behind.
            let future = if annotated {
                quote!(#krate::__private::attempt::<#ret_ty, _>(async move #body))
            } else {
                quote!(async move #body)
            };
            let awaited = match &self.args.timeout {
                Some((limit, key)) => {
                    let limit = limit.tokens();
                    let at_key = respan(&krate, *key);
                    // Spanned at the key so that a missing `From<Elapsed>` is reported there.
                    let expired = quote_spanned! {*key=>
                        {
                            // A closure (not the fn item) keeps the error to one report.
                            #[allow(clippy::redundant_closure)]
                            let expired = || #at_key::__private::timed_out();
                            expired
                        }
                    };
                    quote!(#krate::__private::with_timeout(const { #limit }, #attempt, #expired).await)
                }
                None => quote!((#attempt.await, false)),
            };
            quote! {
                let #attempt = #future;
                #awaited
            }
        } else {
            quote! {
                ((move || #fn_ret #body)(), false)
            }
        };
        let clock = if is_async {
            quote!(TokioClock)
        } else {
            quote!(StdClock)
        };
        let sleep = if is_async {
            quote!(#krate::__private::sleep(#delay).await;)
        } else {
            quote!(#krate::__private::sleep_blocking(#delay);)
        };

        let top = self.top_limits();
        let before_sleep = self.hook(&self.args.before_sleep, &types);
        let on_giveup = self.hook(&self.args.on_giveup, &types);
        let on_ok = match &self.args.when_ok {
            None => {
                quote!(return #krate::__private::IsResult::from_result(::core::result::Result::Ok(#value));)
            }
            Some(reject) => quote! {
                if !#krate::__private::reject_ok(&#value, #reject) {
                    return #krate::__private::IsResult::from_result(::core::result::Result::Ok(#value));
                }
                let #failure = #krate::__private::rejected(&#types);
                match #call.failed(#failure, ::core::option::Option::Some(#top), #before_sleep) {
                    ::core::option::Option::Some(#delay) => #delay,
                    ::core::option::Option::None => {
                        #call.give_up(#failure, #on_giveup);
                        return #krate::__private::IsResult::from_result(::core::result::Result::Ok(#value));
                    }
                }
            },
        };
        let decide = self.decide(&error, &failure, &call, &top, &before_sleep);
        let checks = self.classify_checks(&error);

        // A return type that is not a `Result` is reported at the return type.
        let into_result = quote_spanned!(ret_ty.span()=> #krate::__private::IsResult::into_result);
        let assert_result = if annotated {
            quote_spanned!(ret_ty.span()=> #krate::__private::assert_result::<#ret_ty>();)
        } else {
            quote!()
        };
        let block = quote! {
            {
                #assert_result
                #[allow(unused_imports)]
                use #krate::__private::{Classified as _, Unclassified as _};
                #[allow(unused_mut)]
                let mut #call = #krate::__private::Call::<#krate::__private::#clock>::new({
                    const SETTINGS: #krate::__private::Settings = #settings;
                    &SETTINGS
                });
                loop {
                    let (#outcome, #timed_out) = {
                        #(#rebinds)*
                        #run_attempt
                    };
                    let #types = #krate::__private::Types::of(&#outcome);
                    let #delay = match #into_result(#outcome) {
                        ::core::result::Result::Ok(#value) => { #on_ok }
                        ::core::result::Result::Err(#error) => {
                            #checks
                            let #failure = #krate::__private::Failure {
                                error: ::core::option::Option::Some(&#error),
                                class: (&#krate::__private::Probe(&#error)).probe_class(#timed_out),
                                retry_after: (&#krate::__private::Probe(&#error)).probe_retry_after(),
                            };
                            let #next = #decide;
                            match #next {
                                ::core::option::Option::Some(#delay) => #delay,
                                ::core::option::Option::None => {
                                    #call.give_up(#failure, #on_giveup);
                                    return #krate::__private::IsResult::from_result(::core::result::Result::Err(#error));
                                }
                            }
                        }
                    };
                    #sleep
                }
            }
        };
        let ItemFn {
            attrs, vis, sig, ..
        } = &self.func;
        quote! {
            #(#attrs)* #vis #sig #block
        }
    }

    fn settings(&self) -> TokenStream {
        let krate = &self.krate;
        let name = match &self.args.name {
            Some(name) => name.to_token_stream(),
            None => {
                let ident = self.func.sig.ident.to_string();
                let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_string();
                quote!(::core::concat!(::core::module_path!(), "::", #ident))
            }
        };
        let mut settings = quote!(#krate::__private::Settings::new(#name));
        if let Some(deadline) = &self.args.deadline {
            let d = deadline.tokens();
            settings = quote!(#settings.deadline(#d));
        }
        if let Some((timeout, _)) = &self.args.timeout {
            let d = timeout.tokens();
            settings = quote!(#settings.timeout(#d));
        }
        if self.args.before_sleep.is_some() || self.args.on_giveup.is_some() {
            settings = quote!(#settings.hooks());
        }
        match &self.args.retry_after {
            Some(RetryAfterSpec::Ignore) => {
                settings = quote!(#settings.retry_after(#krate::__private::RetryAfter::Ignore));
            }
            Some(RetryAfterSpec::Honor(Some(max))) => {
                let max = max.tokens();
                settings = quote!(#settings.retry_after(#krate::__private::RetryAfter::Honor { max: #max }));
            }
            Some(RetryAfterSpec::Honor(None)) | None => {}
        }
        settings
    }

    fn limits(&self, attempts: Option<u32>, wait: Option<&WaitSpec>) -> TokenStream {
        let krate = &self.krate;
        let attempts = attempts.or(self.args.attempts).unwrap_or(3);
        let default = WaitSpec::Exponential {
            initial: None,
            factor: None,
            min: None,
            max: None,
            jitter: None,
        };
        let wait = wait.or(self.args.wait.as_ref()).unwrap_or(&default);
        let (wait, constant) = self.wait(wait);
        let wait = if constant {
            quote!(&const { #wait })
        } else {
            quote!(&(#wait))
        };
        quote!(#krate::__private::Limits { attempts: #attempts, wait: #wait })
    }

    fn top_limits(&self) -> TokenStream {
        self.limits(None, None)
    }

    /// A wait's value and whether it is a constant expression.
    fn wait(&self, spec: &WaitSpec) -> (TokenStream, bool) {
        let w = {
            let krate = &self.krate;
            quote!(#krate::__private::wait)
        };
        let opt = |name: &str, d: &Option<Dur>| -> TokenStream {
            match d {
                Some(d) => {
                    let method = format_ident!("{}", name);
                    let d = d.tokens();
                    quote!(.#method(#d))
                }
                None => quote!(),
            }
        };
        match spec {
            WaitSpec::None => (quote!(#w::NoWait), true),
            WaitSpec::Fixed(d) => {
                let d = d.tokens();
                (quote!(#w::Fixed(#d)), true)
            }
            WaitSpec::Random(min, max) => {
                let (min, max) = (min.tokens(), max.tokens());
                (quote!(#w::Random::new(#min, #max)), true)
            }
            WaitSpec::Linear { initial, step, max } => {
                let (i, s, m) = (opt("initial", initial), opt("step", step), opt("max", max));
                (quote!(#w::Linear::new() #i #s #m), true)
            }
            WaitSpec::Exponential {
                initial,
                factor,
                min,
                max,
                jitter,
            } => {
                let (i, lo, hi) = (opt("initial", initial), opt("min", min), opt("max", max));
                let f = factor.map(|f| quote!(.factor(#f))).unwrap_or_default();
                let j = jitter
                    .as_ref()
                    .map(|j| {
                        let kind = match j.to_string().as_str() {
                            "none" => quote!(None),
                            "equal" => quote!(Equal),
                            "decorrelated" => quote!(Decorrelated),
                            _ => quote!(Full),
                        };
                        quote!(.jitter(#w::Jitter::#kind))
                    })
                    .unwrap_or_default();
                (quote!(#w::Exponential::new() #i #f #lo #hi #j), true)
            }
            WaitSpec::Sum(a, b) => {
                let (a, ca) = self.wait(a);
                let (b, cb) = self.wait(b);
                (quote!(#w::Sum::new(#a, #b)), ca && cb)
            }
            WaitSpec::Expr(expr) => {
                let krate = &self.krate;
                (
                    quote_spanned!(expr.span()=> #krate::__private::as_wait(#expr)),
                    false,
                )
            }
        }
    }

    fn hook(&self, hook: &Option<Hook>, types: &Ident) -> TokenStream {
        let krate = &self.krate;
        match hook {
            None => quote!(#krate::__private::no_hook),
            Some(Hook::Log(span)) => {
                let log = quote_spanned!(*span=> #krate::hooks::log);
                quote!(#krate::__private::hook(&#types, #log))
            }
            Some(Hook::Expr(expr)) => quote!(#krate::__private::hook(&#types, #expr)),
        }
    }

    fn class_matches(&self, class: &ClassSpec, error: &Ident, failure: &Ident) -> TokenStream {
        let krate = &self.krate;
        match class {
            ClassSpec::Any => quote!(true),
            ClassSpec::Set(parts, _) => {
                let set = class_set(krate, parts);
                quote!(const { #set }.matches(#failure.class))
            }
            ClassSpec::Predicate(expr) => quote!(#krate::__private::predicate(&#error, #expr)),
        }
    }

    fn decide(
        &self,
        error: &Ident,
        failure: &Ident,
        call: &Ident,
        top: &TokenStream,
        before_sleep: &TokenStream,
    ) -> TokenStream {
        let krate = &self.krate;
        let verdict = quote!(#krate::__private::Probe(&#error))
            .into_iter()
            .collect::<TokenStream>();
        let give_up = quote! {
            #call.failed(#failure, ::core::option::Option::None::<#krate::__private::Limits<'_, #krate::__private::wait::NoWait>>, #krate::__private::no_hook)
        };
        let retry_top =
            quote!(#call.failed(#failure, ::core::option::Option::Some(#top), #before_sleep));
        // Order: `never`, then the server's `x-should-retry: false`, then the
        // rules of `on` (first match), then `x-should-retry: true`.
        let mut chain = TokenStream::new();
        if let Some(never) = &self.args.never {
            let conds: Vec<_> = never
                .iter()
                .map(|c| self.class_matches(c, error, failure))
                .collect();
            chain.extend(quote!(if #(#conds)||* { #give_up } else));
        }
        chain.extend(quote! {
            if (&#verdict).probe_should_retry() == ::core::option::Option::Some(false) { #give_up } else
        });
        match &self.args.on {
            None => chain.extend(quote! {
                if (&#verdict).probe_default(#failure.class) { #retry_top } else
            }),
            Some(rules) => {
                for RuleSpec {
                    class: c,
                    attempts,
                    wait,
                } in rules
                {
                    let cond = self.class_matches(c, error, failure);
                    let limits = self.limits(*attempts, wait.as_ref());
                    chain.extend(quote! {
                        if #cond {
                            #call.failed(#failure, ::core::option::Option::Some(#limits), #before_sleep)
                        } else
                    });
                }
            }
        }
        chain.extend(quote! {
            if (&#verdict).probe_should_retry() == ::core::option::Option::Some(true) { #retry_top } else { #give_up }
        });
        chain
    }

    /// `needs_classify(&error)` at each class token, so a missing `Classify`
    /// is reported there.
    fn classify_checks(&self, error: &Ident) -> TokenStream {
        let krate = &self.krate;
        let rules = self.args.on.iter().flatten().map(|r| &r.class);
        let never = self.args.never.iter().flatten();
        rules
            .chain(never)
            .filter_map(|c| match c {
                ClassSpec::Set(_, span) => {
                    // Every token of the check carries the class's span, so the
                    // compiler reports a missing `Classify` at the class.
                    let probe = Ident::new("__retry_classify_probe", *span);
                    let at_class = respan(krate, *span);
                    Some(quote_spanned! {*span=>
                        let #probe = &#error;
                        #at_class::__private::needs_classify(#probe);
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Per-attempt bindings of the arguments; rewrites the signature's
    /// patterns so that the outer bindings are plain names.
    fn rebind_arguments(&mut self) -> Vec<TokenStream> {
        let krate = self.krate.clone();
        let mut rebinds = Vec::new();
        for (index, arg) in self.func.sig.inputs.iter_mut().enumerate() {
            match arg {
                FnArg::Receiver(receiver) => {
                    let this = Ident::new("__retry_self", receiver.self_token.span());
                    let self_token = &receiver.self_token;
                    let mutability = receiver.mutability.take();
                    let by_ref = match &receiver.kind {
                        ReceiverKind::Reference(_, _, m) => Some(m.is_some()),
                        ReceiverKind::Typed(_, ty) => reference(ty),
                        _ => None,
                    };
                    rebinds.push(match by_ref {
                        Some(false) => quote!(let #mutability #this = #self_token;),
                        Some(true) => quote!(let #mutability #this = &mut *#self_token;),
                        None => quote_spanned!(self_token.span()=> let #mutability #this = #krate::__private::CloneArg::clone_arg(&#self_token);),
                    });
                }
                FnArg::Typed(typed) => {
                    let by_ref = reference(&typed.ty);
                    let ty_span = typed.ty.span();
                    let (outer, pattern): (TokenStream, TokenStream) = match &mut *typed.pat {
                        Pat::Wild(_) => continue,
                        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                            let mutability = ident.mutability.take();
                            let name = &ident.ident;
                            (quote!(#name), quote!(#mutability #name))
                        }
                        other => {
                            let name =
                                format_ident!("__retry_arg{}", index, span = Span::mixed_site());
                            let pattern = other.to_token_stream();
                            *other = Pat::Verbatim(name.to_token_stream());
                            (quote!(#name), pattern)
                        }
                    };
                    rebinds.push(match by_ref {
                        Some(false) => quote!(let #pattern = #outer;),
                        Some(true) => quote!(let #pattern = &mut *#outer;),
                        None => quote_spanned!(ty_span=> let #pattern = #krate::__private::CloneArg::clone_arg(&#outer);),
                    });
                }
            }
        }
        rebinds
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `Some(is_mut)` for a reference type.
fn reference(ty: &Type) -> Option<bool> {
    match ty {
        Type::Reference(r) => Some(r.mutability.is_some()),
        Type::Group(g) => reference(&g.elem),
        Type::Paren(p) => reference(&p.elem),
        _ => None,
    }
}

fn class_set(krate: &TokenStream, parts: &[SetPart]) -> TokenStream {
    let set = quote!(#krate::__private::ClassSet);
    let mut out: Option<TokenStream> = None;
    for part in parts {
        let piece = match part {
            SetPart::Named(name) => {
                let name = Ident::new(name, Span::call_site());
                quote!(#set::#name)
            }
            SetPart::Statuses(low, high) => quote!(#set::status_range(#low, #high)),
        };
        out = Some(match out {
            Some(acc) => quote!(#acc.union(#piece)),
            None => piece,
        });
    }
    out.unwrap_or_else(|| quote!(#set::EMPTY))
}

/// Macros known not to expand to `return` or `?`.
const PLAIN_MACROS: &[&str] = &[
    "format",
    "format_args",
    "vec",
    "println",
    "print",
    "eprintln",
    "eprint",
    "write",
    "writeln",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "matches",
    "concat",
    "stringify",
    "dbg",
    "line",
    "file",
    "column",
    "module_path",
    "cfg",
    "env",
    "include_str",
    "include_bytes",
];

/// Whether the body may leave before its end (`return`, `?`, or a macro that
/// may hide them) or diverge (`loop`, `panic!`, `exit`): then each attempt
/// needs its own future (or closure), so that leaving ends the attempt, not
/// the function, and no code after the body is unreachable.
fn ends_early(tokens: &TokenStream) -> bool {
    let mut previous: Option<TokenTree> = None;
    for tt in tokens.clone() {
        let early = match &tt {
            TokenTree::Ident(i) => i == "return" || i == "loop" || i == "exit" || i == "abort",
            TokenTree::Punct(p) if p.as_char() == '?' => true,
            TokenTree::Punct(p) if p.as_char() == '!' => match &previous {
                Some(TokenTree::Ident(name)) => !PLAIN_MACROS.contains(&name.to_string().as_str()),
                _ => false,
            },
            TokenTree::Group(g) => ends_early(&g.stream()),
            _ => false,
        };
        if early {
            return true;
        }
        previous = Some(tt);
    }
    false
}

fn contains_impl(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => contains_impl(&g.stream()),
        _ => false,
    })
}

/// Renames `self` to `__retry_self` in the body, except in `self::` paths and
/// inside nested items (`fn name`, `impl`, `trait`, `mod`), where `self` is theirs.
fn rename_self(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    let mut skip_item = false;
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(ident) if ident == "impl" || ident == "trait" || ident == "mod" => {
                skip_item = true;
                out.push(TokenTree::Ident(ident));
            }
            TokenTree::Ident(ident)
                if ident == "fn" && matches!(iter.peek(), Some(TokenTree::Ident(_))) =>
            {
                skip_item = true;
                out.push(TokenTree::Ident(ident));
            }
            TokenTree::Group(group) if skip_item => {
                if group.delimiter() == Delimiter::Brace {
                    skip_item = false;
                }
                out.push(TokenTree::Group(group));
            }
            TokenTree::Punct(p) if skip_item && p.as_char() == ';' => {
                skip_item = false;
                out.push(TokenTree::Punct(p));
            }
            TokenTree::Ident(ident) if !skip_item && ident == "self" => {
                let path = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                if path {
                    out.push(TokenTree::Ident(ident));
                } else {
                    out.push(TokenTree::Ident(Ident::new("__retry_self", ident.span())));
                }
            }
            TokenTree::Group(group) if !skip_item => {
                let mut renamed = Group::new(group.delimiter(), rename_self(group.stream()));
                renamed.set_span(group.span());
                out.push(TokenTree::Group(renamed));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}
