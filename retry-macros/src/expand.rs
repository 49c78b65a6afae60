//! Emits the retry loop.
//!
//! Input:
//!
//! ```text
//! #[retry(attempts = 5, on = [Connect, RateLimited => (wait = fixed(60)), Default])]
//! async fn complete(&self, prompt: String) -> Result<String, ApiError> { BODY }
//! ```
//!
//! Output (sketch; every local is `__retry_*` at `Span::mixed_site()`, but
//! `__retry_self`, the renamed `self`, which is at the receiver's span; every
//! runtime item is named through `__retry_rt`, the runtime's `__private`
//! imported once at the top, as are `Ok`, `Err`, `Some` and `None`):
//!
//! ```text
//! async fn complete(&self, prompt: String) -> Result<String, ApiError> {
//!     use ::retry_runtime::__private::{self as __retry_rt, probes::*}; // the probes' traits
//!     let (mut call, mut step) = Call::<TokioClock, _, _>::start({
//!         static RECORDER: Recorder = Recorder::new(NAME);        // statistics
//!         static SETTINGS: Settings<Stats> = Settings::new(NAME)..observe(Stats(&RECORDER));
//!         settings_source!(Stats, SETTINGS)   // release: a type of its own, constant after `.await`
//!     }, false);                                        // `true`: may end for its deadline
//!     loop {
//!         let (outcome, timed_out) = {                 // the engine's steps
//!             while let Step::Sleep(delay) = step { pause(delay).await; step = call.resume(); }
//!             match step {     // only when an attempt can be refused, else `_`'s block alone
//!                 // With a breaker, or a deadline and a budget or breaker:
//!                 Step::Refused => (last.take() or E::from(CircuitOpen), false),
//!                 _ => {
//!                     let __retry_self = self;                   // `&mut self`: `&mut *self`
//!                     let prompt = CloneArg::clone_arg(&prompt); // by value: cloned per attempt
//!                     // A body with `return`, `?` or a macro that may hide them:
//!                     let attempt = attempt::<Result<String, ApiError>, _>(async move {
//!                         if false { let fake: Result<String, ApiError> = loop {}; return fake; }
//!                         BODY'
//!                     });
//!                     (attempt.await, false)         // or with_timeout(call.attempt_limit(), ..)
//!                     // Any other body is the attempt itself:
//!                     // let ret: Result<String, ApiError> = 'attempt: BODY'; (ret, false)
//!                 }
//!             }
//!         };
//!         let delay = {
//!             let result = IsResult::into_result(outcome);
//!             match result { Ok(v) => { call.succeeded(); return Ok(v) } _ => {} } // or `when_ok`
//!             let failure = match &result {
//!                 Ok(_) => Failure::rejected(),
//!                 Err(e) => (&&&Probe(e)).failure(timed_out, EXPLICIT), // as the type is classified
//!             };
//!             let top = Limits { attempts: 5, wait: &const { Exponential::new() }, wait_id: 0 };
//!             let next = call.failed(
//!                 failure,
//!                 || false,                                              // `never`
//!                 || if CONNECT.matches(failure.class) { Some(Matched::Top) }     // `on`, first match
//!                    else if RATE_LIMITED.matches(failure.class) { Some(Matched::Own(Limits::own(5, &const { Fixed(60s) }, 2))) }
//!                    else if failure.by_default { Some(Matched::Top) } else { None },
//!                 top, before_sleep, on_giveup,
//!             );
//!             match next { Some(d) => d, None => return result }
//!         };
//!         step = Step::Sleep(delay);
//!     }
//! }
//! ```
//!
//! `BODY'` is the body as written (its tokens, not parsed unless it holds a
//! `break` or `continue`; its inner attributes moved onto the function) with
//! `self` renamed to `__retry_self` (see `body.rs`).
//! The order of the decisions, the limits and the give-up logic are the
//! runtime's (`Call::failed`); the expansion only says which constant rule
//! matched.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReceiverKind, ReturnType, Type};

use crate::args::{Args, ClassSpec, Hook, RetryAfterSpec, RuleSpec, SetPart, WaitSpec};
use crate::body;
use crate::check;
use crate::duration::Dur;
use crate::errors::Errors;
use crate::walk::{TypeWalk, ungrouped, walk_type};

const NOT_A_FUNCTION: &str =
    "`#[retry]` goes on a function with a body (`fn` or `async fn`) that returns `Result`";

pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = Args::parse(args, &mut errors);
    let Some((func, body)) = function(&item, &mut errors) else {
        let compile_errors = errors.finish();
        return quote!(#compile_errors #item);
    };
    check::function(&func, &parsed, &mut errors);
    match errors.finish() {
        // Keep the function so the IDE goes on working inside it.
        Some(compile_errors) => return quote!(#compile_errors #item),
        // As written, so that the compiler reports the stray `break` as it
        // would without the attribute.
        None if has_loop_exits(&body) => return item,
        None => {}
    }
    let expansion = Expansion::new(parsed, func, body);
    let policy = expansion.policy_fn();
    let function = expansion.emit();
    quote!(#function #policy)
}

/// The function, parsed without its body, and the body as its tokens: the
/// expansion moves the body as written, so syntax is parsed only where it
/// is read (the signature; the body when it may hold a `break`). The body's
/// inner attributes (`#![allow(..)]`) become the function's own: outside
/// the function's own block they would be a compile error, and on the
/// function they mean the same.
fn function(item: &TokenStream, errors: &mut Errors) -> Option<(ItemFn, Group)> {
    let mut tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    // An item passed through `$i:item` arrives in an invisible group.
    loop {
        match tokens.as_slice() {
            [TokenTree::Group(g)] if g.delimiter() == Delimiter::None => {
                let inner = g.stream();
                tokens = inner.into_iter().collect();
            }
            _ => break,
        }
    }
    let body = tokens.last().and_then(brace_group);
    if let Some(body) = &body {
        let mut empty = Group::new(Delimiter::Brace, TokenStream::new());
        empty.set_span(body.span());
        *tokens.last_mut().expect("a last token") = TokenTree::Group(empty);
    }
    let head: TokenStream = tokens.into_iter().collect();
    let (mut func, body) = match (syn::parse2::<syn::Item>(head), body) {
        (Ok(syn::Item::Fn(func)), Some(body)) => (func, body),
        (other, _) => {
            let span = other.as_ref().map_or_else(|_| Span::call_site(), item_span);
            errors.at(span, NOT_A_FUNCTION);
            return None;
        }
    };
    let parse_inner = |input: syn::parse::ParseStream| {
        let attrs = syn::Attribute::parse_inner(input)?;
        let rest: TokenStream = input.parse()?;
        Ok((attrs, rest))
    };
    let starts_with_attribute = matches!(
        body.stream().into_iter().next(),
        Some(TokenTree::Punct(p)) if p.as_char() == '#'
    );
    match starts_with_attribute.then(|| syn::parse::Parser::parse2(parse_inner, body.stream())) {
        // Only a body that had inner attributes is made again (`set_span`
        // gives both of its braces the whole body's span).
        Some(Ok((inner, rest))) if !inner.is_empty() => {
            func.attrs.extend(inner.into_iter().map(|mut attr| {
                attr.style = syn::AttrStyle::Outer;
                attr
            }));
            let mut group = Group::new(Delimiter::Brace, rest);
            group.set_span(body.span());
            Some((func, group))
        }
        _ => Some((func, body)),
    }
}

/// The brace group a token is, or holds alone inside invisible groups (how
/// `macro_rules!` passes a `$b:block`).
fn brace_group(tt: &TokenTree) -> Option<Group> {
    match tt {
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some(g.clone()),
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            let mut inner = g.stream().into_iter();
            match (inner.next(), inner.next()) {
                (Some(only), None) => brace_group(&only),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether the body holds a `break` or `continue` that would leave a loop
/// around it ([`body::has_loop_exits`]). A body without either word is
/// not parsed; one that `syn` cannot parse is taken as having none (the
/// expansion still keeps a `break` from reaching the retry loop: the body
/// is a labeled block, a closure or an async block).
fn has_loop_exits(body: &Group) -> bool {
    fn mentions(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => i == "break" || i == "continue",
            TokenTree::Group(g) => mentions(g.stream()),
            _ => false,
        })
    }
    mentions(body.stream())
        && syn::parse2::<syn::Block>(body.to_token_stream())
            .is_ok_and(|block| body::has_loop_exits(&block))
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

struct Expansion {
    args: Args,
    /// The function, its block left empty.
    func: ItemFn,
    /// The function's body, as written (its inner attributes moved onto
    /// the function).
    body: Group,
    krate: TokenStream,
    /// `__retry_rt`: the runtime's `__private`, imported under this name at
    /// the top of the function's block (and of the policy's), so that each
    /// path the expansion names is two segments, not four.
    rt: TokenStream,
}

fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The locals of the expansion.
struct Locals {
    call: Ident,
    outcome: Ident,
    timed_out: Ident,
    result: Ident,
    failure: Ident,
    delay: Ident,
    before_sleep: Ident,
    on_giveup: Ident,
    top: Ident,
    ret: Ident,
    step: Ident,
}

impl Locals {
    fn new() -> Self {
        Locals {
            call: local("__retry_call"),
            outcome: local("__retry_outcome"),
            timed_out: local("__retry_timed_out"),
            result: local("__retry_result"),
            failure: local("__retry_failure"),
            delay: local("__retry_delay"),
            before_sleep: local("__retry_before_sleep"),
            on_giveup: local("__retry_on_giveup"),
            top: local("__retry_top"),
            ret: local("__retry_ret_type"),
            step: local("__retry_step"),
        }
    }
}

/// How a call starts ([`Expansion::start`]).
struct Start {
    /// The call and its first step.
    start: TokenStream,
    /// What keeps the last outcome across a sleep (when a breaker may refuse
    /// the next attempt).
    keep_last: TokenStream,
    /// What a refused attempt returns, when an attempt can be refused.
    refused_outcome: Option<TokenStream>,
}

/// A return type with every `impl Trait` replaced by `_`: what can be named
/// of it, so that inference fixes the attempt's type (`Result<_, E>`) before
/// the error is probed.
/// `None` when there is no `impl Trait` in it.
fn nameable(ty: &Type) -> Option<Type> {
    struct Infer(bool);
    impl TypeWalk for Infer {
        fn ty(&mut self, ty: &mut Type) -> bool {
            let Type::ImplTrait(it) = ty else {
                return true;
            };
            self.0 = true;
            *ty = Type::Infer(syn::TypeInfer {
                attrs: Vec::new(),
                underscore_token: syn::Token![_](it.impl_token.span),
            });
            false
        }
    }
    let mut ty = ty.clone();
    let mut infer = Infer(false);
    walk_type(&mut ty, &mut infer);
    infer.0.then_some(ty)
}

impl Expansion {
    fn new(args: Args, func: ItemFn, body: Group) -> Self {
        let krate = match &args.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::retry_runtime),
        };
        let rt = Ident::new("__retry_rt", Span::call_site()).to_token_stream();
        Expansion {
            args,
            func,
            body,
            krate,
            rt,
        }
    }

    fn emit(mut self) -> TokenStream {
        let krate = self.krate.clone();
        let rt = self.rt.clone();
        let l = Locals::new();
        let receiver = self.func.sig.receiver().map(|r| r.self_token.span());
        let (rebinds, passed) = self.rebind_arguments();
        let is_async = self.func.sig.asyncness.is_some();
        let ReturnType::Type(_, ret_ty) = &self.func.sig.output else {
            unreachable!("checked")
        };
        let ret_span = ret_ty.span();
        let named = nameable(ret_ty);
        let whole = named.is_none();
        let ret_ty = named.unwrap_or_else(|| (**ret_ty).clone());
        let block = self.body.to_token_stream();
        let body = match receiver {
            Some(span) => body::rename_self(block, span),
            None => block,
        };

        let run_attempt = self.attempt(&l, body, &ret_ty, is_async);
        let clock = if is_async {
            quote!(TokioClock)
        } else {
            quote!(StdClock)
        };
        let settings_ref = self.settings_ref();
        let call_ty = quote!(#rt::Call::<#rt::#clock, _, _>);
        let Start {
            start,
            keep_last,
            refused_outcome,
        } = self.start(&l, settings_ref, &call_ty);
        let fallback = self.fallback_call(&l, &passed, is_async);
        // With a fallback, giving up with an error leaves the loop (and every
        // local of the decision: the error, the failure) before it runs.
        let loop_label = syn::Lifetime::new("'__retry_call", Span::mixed_site());
        let (label, after_loop) = match &fallback {
            Some(fallback) => (quote!(#loop_label:), fallback.clone()),
            None => (quote!(), quote!()),
        };
        let decide = self.decide(&l, fallback.is_some().then_some(&loop_label));
        let Locals {
            outcome,
            timed_out,
            delay,
            call,
            step,
            ret: marker,
            ..
        } = &l;
        let pause = if is_async {
            quote!(#rt::pause(#delay).await;)
        } else {
            quote!(#rt::sleep_blocking(#delay);)
        };
        let steps = quote!(#rt::Step);
        // Only a breaker, or a deadline a fleet's hold would outlast, refuses
        // an attempt: without either, every step that is not a sleep is an
        // attempt.
        let refused = refused_outcome.map(|refused| quote!(#steps::Refused => (#refused, false),));
        // `attempt = a`: the running attempt, one key for the whole call.
        let first = local("__retry_first");
        let (first_attempt, bind_attempt) = match &self.args.attempt {
            Some(name) => (
                quote!(let #first = #rt::Attempt::first();),
                quote!(let #name = #first.numbered(#call.failures().saturating_add(1));),
            ),
            None => (quote!(), quote!()),
        };
        // The sleeps first, in a loop of their own: the step of a call's
        // start (an attempt, when nothing can hold it: known at compile
        // time) and the one after a failure (a sleep) then need no check.
        // After the sleeps the step is an attempt or (`refused`) a
        // refusal.
        let attempt = quote! {
            #(#rebinds)*
            #bind_attempt
            #run_attempt
        };
        let attempt = match refused {
            Some(refused) => quote!(match #step { #refused _ => { #attempt } }),
            None => attempt,
        };
        let attempt_or_refused = quote! {
            {
                while let #steps::Sleep(#delay) = #step {
                    #pause
                    #step = #call.resume();
                }
                #attempt
            }
        };
        // A return type that is not a `Result` is reported at the return type.
        let at_ret = respan(&krate, ret_span);
        let check_result = if whole {
            quote_spanned!(ret_span=> #at_ret::__private::check_result::<#ret_ty>();)
        } else {
            quote_spanned!(ret_span=> #at_ret::__private::check_result_of(&#marker);)
        };
        let block = quote! {
            {
                #[allow(unused_imports)]
                use #krate::__private::{self as #rt, probes::*};
                let #marker = #rt::Ret::<#ret_ty>::new();
                #check_result
                #start
                #keep_last
                #first_attempt
                #label loop {
                    let (#outcome, #timed_out) = #attempt_or_refused;
                    #[allow(unreachable_code)]
                    let #delay = #decide;
                    #step = #steps::Sleep(#delay);
                }
                #after_loop
            }
        };
        let ItemFn {
            attrs, vis, sig, ..
        } = &self.func;
        quote! {
            #(#attrs)* #vis #sig #block
        }
    }

    /// `policy = NAME`: a function beside this one that returns the same
    /// policy, built once, as a `&'static Retrying` (for the function's
    /// stream, a batch, or a closure). Same name (so the same statistics),
    /// same keys; not the `fallback` nor `attempt`, which are the body's.
    fn policy_fn(&self) -> TokenStream {
        let Some(policy) = &self.args.policy else {
            return quote!();
        };
        let krate = &self.krate;
        let p = quote!(#krate::__private);
        let rt = &self.rt;
        let ReturnType::Type(_, ret_ty) = &self.func.sig.output else {
            return quote!();
        };
        let (name, _) = self.settings();
        let mut built = quote! {
            (&&&#p::PolicyProbe::<__RetryPolicyOk, __RetryPolicyErr>::new())
                .classified(#krate::Retrying::<__RetryPolicyOk, __RetryPolicyErr>::new().name(#name))
        };
        let mut add = |call: TokenStream| built = quote!(#built.#call);
        if let Some(n) = self.args.attempts {
            add(quote!(attempts(#n)));
        }
        if let Some(d) = &self.args.deadline {
            let d = d.tokens();
            add(quote!(deadline(#d)));
        }
        if let Some(d) = &self.args.timeout {
            let d = d.tokens();
            add(quote!(timeout(#d)));
        }
        if let Some(spec) = &self.args.wait {
            let (wait, _) = self.wait(spec);
            add(quote!(wait(#wait)));
        }
        let rule = |class: &ClassSpec| match class {
            ClassSpec::Any => quote!(#krate::Rule::<__RetryPolicyErr>::any()),
            ClassSpec::Default => {
                quote!(<#krate::Rule::<__RetryPolicyErr> as ::core::default::Default>::default())
            }
            ClassSpec::Set(parts, _) => {
                let set = class_set(rt, parts);
                quote!(#krate::Rule::<__RetryPolicyErr>::class(#set))
            }
            ClassSpec::Predicate(expr) => quote!(#krate::Rule::<__RetryPolicyErr>::when(#expr)),
        };
        for spec in self.args.on.iter().flatten() {
            let mut one = rule(&spec.class);
            if let Some(n) = spec.attempts {
                one = quote!(#one.attempts(#n));
            }
            if let Some(wait) = &spec.wait {
                let (wait, _) = self.wait(wait);
                one = quote!(#one.wait(#wait));
            }
            add(quote!(on(#one)));
        }
        for class in self.args.never.iter().flatten() {
            let one = rule(class);
            add(quote!(never(#one)));
        }
        if let Some(reject) = &self.args.when_ok {
            add(quote!(when_ok(#reject)));
        }
        match &self.args.retry_after {
            Some(RetryAfterSpec::Ignore) => add(quote!(retry_after(#krate::RetryAfter::Ignore))),
            Some(RetryAfterSpec::Honor(Some(max))) => {
                let max = max.tokens();
                add(quote!(retry_after(#krate::RetryAfter::honor(#max))));
            }
            Some(RetryAfterSpec::Honor(None)) | None => {}
        }
        let hook = |hook: &Hook| match hook {
            Hook::Log(span) => log_hook(krate, *span),
            Hook::Expr(expr) => expr.to_token_stream(),
        };
        if let Some(h) = &self.args.before_sleep {
            let h = hook(h);
            add(quote!(before_sleep(#h)));
        }
        if let Some(h) = &self.args.on_giveup {
            let h = hook(h);
            add(quote!(on_giveup(#h)));
        }
        if let Some(path) = &self.args.budget {
            add(quote!(budget(&#path)));
        }
        if let Some(path) = &self.args.breaker {
            add(quote!(breaker(&#path)));
        }
        // An adaptive wait reads a window: the shared one, or the policy's own.
        let mut window = quote!();
        if let Some((size, shared)) = self.adaptive_window() {
            match shared {
                Some(path) => add(quote!(window(&#path))),
                None => {
                    let name = Ident::new("__RETRY_POLICY_WINDOW", Span::call_site());
                    window = self.own_window(&name, size);
                    add(quote!(window(&#name)));
                }
            }
        }
        let vis = &self.func.vis;
        // Compiled where the function is.
        let cfgs = self.func.attrs.iter().filter(|a| a.path().is_ident("cfg"));
        let function = &self.func.sig.ident;
        let doc = format!(
            "The retry policy of `{function}`, as a `Retrying`: the same keys \
             and the same name (so the same statistics), built once. For its \
             stream: `{policy}().stream(..)`."
        );
        let ret_span = ret_ty.span();
        quote_spanned! {ret_span=>
            #(#cfgs)*
            #[doc = #doc]
            #[allow(clippy::type_complexity)]
            #vis fn #policy() -> &'static #krate::Retrying<
                <#ret_ty as #p::IsResult>::Ok,
                <#ret_ty as #p::IsResult>::Err,
            > {
                #[allow(unused_imports)]
                use #p::{self as #rt, PolicyByClassify as _, PolicyByFeature as _, PolicyUnclassified as _};
                type __RetryPolicyOk = <#ret_ty as #p::IsResult>::Ok;
                type __RetryPolicyErr = <#ret_ty as #p::IsResult>::Err;
                #window
                static __RETRY_POLICY: ::std::sync::OnceLock<#krate::Retrying<__RetryPolicyOk, __RetryPolicyErr>> =
                    ::std::sync::OnceLock::new();
                __RETRY_POLICY.get_or_init(|| #built)
            }
        }
    }

    /// The settings' `static`s (the function's name, its statistics, its
    /// adaptive window), and the expression that lends them to the call: a
    /// type of the function's own without debug assertions, a reference
    /// with them (`SettingsSource`).
    fn settings_ref(&self) -> TokenStream {
        let rt = &self.rt;
        let (name, settings) = self.settings();
        let (window_static, observer_type, observer) = self.observer();
        // The call's source of the settings: a type of this function's own
        // without debug assertions (a release build), the reference with
        // them (`settings_source!`, `SettingsSource`).
        quote! {{
            const NAME: &str = #name;
            static RECORDER: #rt::Recorder = #rt::Recorder::new(NAME);
            #window_static
            static SETTINGS: #rt::Settings<#observer_type> =
                #settings.observe(#observer);
            #rt::settings_source!(#observer_type, SETTINGS)
        }}
    }

    /// One attempt of the body: its outcome and whether it ran out of time,
    /// as a pair.
    fn attempt(&self, l: &Locals, body: TokenStream, ret_ty: &Type, is_async: bool) -> TokenStream {
        let rt = &self.rt;
        let krate = &self.krate;
        if is_async && self.args.timeout.is_none() && !body::ends_early(&body) {
            // Nothing in the body can leave it early, so it is the attempt
            // itself: no inner future, as in a hand-written loop. The label
            // keeps a `break` the check did not see from reaching the loop.
            // The label is located at the body, so that a body of the wrong
            // type (`{}` for a `Result`) is reported there, not at the
            // attribute.
            let ret = local("__retry_ret");
            let label = syn::Lifetime::new(
                "'__retry_attempt",
                Span::mixed_site().located_at(self.body.span()),
            );
            quote! {
                // A body that diverges (calls a `-> !` function) is no mistake here.
                #[allow(unused_labels, clippy::diverging_sub_expression)]
                let #ret: #ret_ty = #label: #body;
                #[allow(unreachable_code)]
                let #ret = (#ret, false);
                #ret
            }
        } else if is_async {
            // A fake return edge first, so that the block's output type is
            // known before the body's first `return` (coercions such as
            // `Ok(Box::new(x))` into `Result<Box<dyn T>, E>` then work).
            let fake = local("__retry_fake_return");
            let future = quote! {
                #rt::attempt::<#ret_ty, _>(async move {
                    #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::needless_return)]
                    if false {
                        let #fake: #ret_ty = loop {};
                        return #fake;
                    }
                    #body
                })
            };
            let attempt = local("__retry_attempt");
            let call = &l.call;
            let awaited = match self.args.key_span(crate::symbol::Key::Timeout) {
                Some(key) => {
                    let at_key = respan(krate, key);
                    // Spanned at the key so that a missing `From<Elapsed>` is reported there.
                    let marker = &l.ret;
                    let expired = quote_spanned! {key=>
                        || (&#marker).join(#rt::Err(#at_key::__private::timed_out()))
                    };
                    quote!(#rt::with_timeout(#call.attempt_limit(), #attempt, #expired).await)
                }
                None => quote!((#attempt.await, false)),
            };
            let pair = local("__retry_pair");
            // A body of one expression on one line (`{ Ok(x) }`), the async
            // block's last expression, would draw `unused_braces` at the
            // user's braces, which are the function's and needed.
            quote! {
                #[allow(unused_braces)]
                let #attempt = #future;
                #[allow(unreachable_code)]
                let #pair = #awaited;
                #pair
            }
        } else {
            let pair = local("__retry_pair");
            quote! {
                #[allow(clippy::redundant_closure_call)]
                let #pair = ((move || -> #ret_ty #body)(), false);
                #pair
            }
        }
    }

    /// How the call starts, and what a refused attempt returns.
    fn start(&self, l: &Locals, settings_ref: TokenStream, call_ty: &TokenStream) -> Start {
        let rt = &self.rt;
        // With a budget or a breaker (which may be shared by other
        // processes), the call starts, then waits out a rate limit the
        // fleet was told about, then passes its gate (breaker) and deposits
        // (budget); retries fold the hold into their delay, and every retry
        // passes the gate after its sleep.
        let gated = self.args.budget.is_some() || self.args.breaker.is_some();
        // A call whose deadline the fleet's hold would outlast ends at once
        // with `E::from(Elapsed)` when its error type has that conversion
        // (always with a `timeout`), read by autoref specialisation.
        let ends = local("__retry_ends");
        let end = local("__retry_end");
        let timed_out_error = (gated && self.args.deadline.is_some()).then(|| {
            quote! {
                match #ends {
                    #rt::Some(#end) => #end(),
                    #rt::None => ::core::unreachable!("refused for a deadline it cannot end"),
                }
            }
        });
        // Every call follows the engine's steps (`Step`): with a budget or a
        // breaker (which may be shared by other processes), the first one
        // may be the fleet's hold, and every attempt passes their gate; for
        // any other function the first step is the attempt, known at compile
        // time, and no attempt is ever refused.
        let call = &l.call;
        let step = &l.step;
        let can_end = if timed_out_error.is_some() {
            quote!(#ends.is_some())
        } else {
            quote!(false)
        };
        let ends_probe = if timed_out_error.is_some() {
            let marker = &l.ret;
            quote!(let #ends = (&&#rt::ElapsedProbe::of(&#marker)).ends();)
        } else {
            quote!()
        };
        let start = quote! {
            #ends_probe
            #[allow(unused_mut)]
            let (mut #call, mut #step) = #call_ty::start(#settings_ref, #can_end);
        };
        // A refused attempt (an open breaker; a deadline the hold would
        // outlast) is not made, and the call gives up with its last outcome
        // (kept across the sleep when a breaker may refuse a retry), or the
        // error of the refusal.
        let last = local("__retry_last");
        let marker = &l.ret;
        let refusal = |error: &TokenStream| quote!((&#marker).join(#rt::Err(#error)));
        let (refused_outcome, keep_last) = match (self.circuit_open(), &timed_out_error) {
            (Some(open), timed_out) => {
                let call = &l.call;
                let open = refusal(&open);
                let first = match timed_out {
                    Some(timed_out) => {
                        quote!(if #call.refused_by_deadline() { #timed_out } else { #open })
                    }
                    None => open,
                };
                let kept = local("__retry_kept");
                (
                    Some(quote! {
                        match #last.take() {
                            #rt::Some(#kept) => #kept,
                            #rt::None => #first,
                        }
                    }),
                    quote!(let mut #last = #rt::None;),
                )
            }
            (None, Some(timed_out)) => (Some(timed_out.clone()), quote!()),
            (None, None) => (None, quote!()),
        };
        Start {
            start,
            keep_last,
            refused_outcome,
        }
    }

    /// What the call returns when it gives up with an error and names a
    /// `fallback`: that function, called once with the same arguments.
    fn fallback_call(
        &self,
        l: &Locals,
        passed: &[TokenStream],
        is_async: bool,
    ) -> Option<TokenStream> {
        let path = self.args.fallback.as_ref()?;
        let call = &l.call;
        let span = path.span();
        let awaited = if is_async {
            quote_spanned!(span=> .await)
        } else {
            quote!()
        };
        Some(quote_spanned! {span=>
            #call.fell_back();
            return #path(#(#passed),*) #awaited;
        })
    }

    /// The block that judges the attempt's outcome: returns it, or yields the delay.
    fn decide(&self, l: &Locals, fallback: Option<&syn::Lifetime>) -> TokenStream {
        let rt = &self.rt;
        let Locals {
            call,
            outcome,
            timed_out,
            result,
            failure,
            before_sleep,
            on_giveup,
            top,
            ret,
            delay,
            ..
        } = l;
        let value = local("__retry_value");
        let error = local("__retry_error");
        // A refused attempt's outcome is the last one, whose `Ok` was
        // rejected already: `when_ok` is not asked again.
        // Without `when_ok` every `Ok` is accepted: no guard, no second arm.
        let (accept, rejected) = match &self.args.when_ok {
            None => (quote!(), quote!()),
            Some(reject) => (
                {
                    let asked = self.call_at(reject, "reject_ok", quote!(&#value));
                    quote!(if !#call.refused() && !#asked)
                },
                quote!(#rt::Ok(#value) => #rt::Ok(#value),),
            ),
        };
        let checks = self.classify_checks(&error);
        let explicit = self.names_classes();
        let (hook_bindings, before, giveup) = self.hooks(before_sleep, on_giveup);
        let (wait_bindings, top_wait) = self.top_wait();
        let attempts = match self.args.attempts {
            Some(n) => quote!(#n),
            None => quote!(#rt::DEFAULT_ATTEMPTS),
        };
        let never = self.never(failure);
        let (rule_waits, rules) = self.rules(failure, top);
        // With a breaker, the outcome is kept in case the retry is refused.
        let keep = match self.args.breaker {
            Some(_) => {
                let last = local("__retry_last");
                quote!(#last = #rt::Some((&#ret).join(#result));)
            }
            None => quote!(),
        };
        // `fallback_on`: whether this failure would go to the fallback,
        // asked before the engine takes the failure. A refused call (an open
        // breaker) always does: it has no error of its own to judge.
        // The error is classified for this decision alone, as for a class
        // rule, even for a type classified only through a cargo feature
        // (whose retries stay as the rules say).
        let falls = local("__retry_falls");
        let judged = local("__retry_judged");
        let any = local("__retry_any");
        let (judge_fallback, falls_back) = match (&fallback, &self.args.fallback_on) {
            (Some(_), Some(classes)) => {
                let conds = classes.iter().map(|c| self.class_matches(c, &judged));
                (
                    quote! {
                        let #falls = (#call.refused() && #call.failures() == 0)
                            || match &#result {
                                #rt::Ok(_) => false,
                                #rt::Err(#error) => {
                                    let #judged = (&&&#rt::Probe(#error)).failure(#timed_out, true);
                                    // Bound, not the block's tail: a tail
                                    // that starts with a predicate's `match`
                                    // would end the statement there, and
                                    // take `|| ..` for a closure.
                                    let #any: bool = #(#conds)||*;
                                    #any
                                }
                            };
                    },
                    quote!(#falls),
                )
            }
            _ => (quote!(), quote!(true)),
        };
        let give_up = match fallback {
            // The error and the failure are dropped before the fallback runs
            // (an error that is not `Send` must not live across its `.await`).
            Some(label) => quote! {
                if #result.is_err() && #falls_back {
                    break #label;
                }
                return (&#ret).join(#result);
            },
            None => quote!(return (&#ret).join(#result);),
        };
        quote! {{
            // Every variant's content is moved out, so that no drop of a
            // partly moved value is left on the success path.
            let #result = match (&#ret).split(#outcome) {
                #rt::Ok(#value) #accept => {
                    #call.succeeded();
                    return (&#ret).join(#rt::Ok(#value));
                }
                #rejected
                #rt::Err(#error) => #rt::Err(#error),
            };
            let #failure = match &#result {
                #rt::Ok(_) => #rt::Failure::rejected(),
                #rt::Err(#error) => {
                    #checks
                    (&&&#rt::Probe(#error))
                        .failure(#timed_out, #explicit)
                        .shown((&#rt::Show(#error)).shown())
                }
            };
            #judge_fallback
            #hook_bindings
            #wait_bindings
            #rule_waits
            let #top = #rt::Limits { attempts: #attempts, wait: #top_wait, wait_id: 0 };
            match #call.failed(#failure, #never, #rules, #top, #before, #giveup) {
                #rt::Some(#delay) => {
                    #keep
                    #delay
                }
                #rt::None => {
                    #give_up
                }
            }
        }}
    }

    /// Whether `on` or `never` names a class (so the attribute opted into
    /// classification even for types classified through a feature;
    /// `fallback_on` classifies for its own decision only).
    fn names_classes(&self) -> bool {
        let rules = self.args.on.iter().flatten().map(|r| &r.class);
        let never = self.args.never.iter().flatten();
        rules.chain(never).any(|c| matches!(c, ClassSpec::Set(..)))
    }

    /// The classes of `on`, `never` and `fallback_on`.
    fn listed_classes(&self) -> impl Iterator<Item = &ClassSpec> {
        let rules = self.args.on.iter().flatten().map(|r| &r.class);
        let never = self.args.never.iter().flatten();
        let fallback = self.args.fallback_on.iter().flatten();
        rules.chain(never).chain(fallback)
    }

    fn hooks(
        &self,
        before_sleep: &Ident,
        on_giveup: &Ident,
    ) -> (TokenStream, TokenStream, TokenStream) {
        let rt = &self.rt;
        let krate = &self.krate;
        let result = local("__retry_result");
        let mut bindings = quote!();
        let mut one = |hook: &Option<Hook>, name: &Ident| -> TokenStream {
            let expr = match hook {
                None => return quote!(#rt::no_hook),
                Some(Hook::Log(span)) => log_hook(krate, *span),
                Some(Hook::Expr(expr)) => expr.to_token_stream(),
            };
            // Every token at the hook, so that a hook of the wrong type is
            // reported once, there.
            let span = expr.span();
            let at_hook = respan(krate, span);
            let at =
                |ident: &Ident| Ident::new(&ident.to_string(), Span::mixed_site().located_at(span));
            let (result, name) = (at(&result), at(name));
            bindings.extend(quote_spanned! {span=>
                let #name = #at_hook::__private::hook(&#at_hook::__private::Types::of(&#result), &#expr);
            });
            quote_spanned!(span=> #name)
        };
        let before = one(&self.args.before_sleep, before_sleep);
        let giveup = one(&self.args.on_giveup, on_giveup);
        (bindings, before, giveup)
    }

    /// The top-level wait: a constant in place, or a user's expression bound
    /// once per failure.
    fn top_wait(&self) -> (TokenStream, TokenStream) {
        let default = WaitSpec::Exponential {
            initial: None,
            factor: None,
            min: None,
            max: None,
            jitter: None,
        };
        self.bound_wait(self.args.wait.as_ref().unwrap_or(&default), "__retry_wait")
    }

    /// `(binding, reference)` for a wait: `&const { .. }` for a constant,
    /// else a local bound once per failure (it must outlive the rules).
    fn bound_wait(&self, spec: &WaitSpec, name: &str) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let (wait, constant) = self.wait(spec);
        if constant {
            (quote!(), quote!(&const { #wait }))
        } else {
            let name = local(name);
            // As a `dyn Wait`: a value that is not a `Wait` is then reported
            // once, where it is bound.
            (
                quote!(let #name = #wait;),
                quote!((&#name as &dyn #rt::wait::Wait)),
            )
        }
    }

    /// Who hears the calls: the statistics, and the breaker, the budget and
    /// the adaptive window when named. `(items, type, value)`.
    fn observer(&self) -> (TokenStream, TokenStream, TokenStream) {
        let rt = &self.rt;
        let mut types = vec![quote!(#rt::Stats)];
        let mut values = vec![quote!(#rt::Stats(&RECORDER))];
        // Each path's tokens keep their span, so that a static of the wrong
        // type is reported there.
        if let Some(path) = &self.args.breaker {
            let at = respan(&self.krate, path.span());
            types.push(quote!(#rt::BreakerGate));
            values.push(quote_spanned!(path.span()=> #at::__private::BreakerGate(&#path)));
        }
        if let Some(path) = &self.args.budget {
            let at = respan(&self.krate, path.span());
            types.push(quote!(#rt::BudgetGate));
            values.push(quote_spanned!(path.span()=> #at::__private::BudgetGate(&#path)));
        }
        let mut items = quote!();
        if let Some((window, shared)) = self.adaptive_window() {
            types.push(quote!(#rt::WindowGate));
            match shared {
                Some(path) => {
                    let at = respan(&self.krate, path.span());
                    values.push(quote_spanned!(path.span()=> #at::__private::WindowGate(&#path)));
                }
                None => {
                    let name = Ident::new("WINDOW", Span::call_site());
                    items = self.own_window(&name, window);
                    values.push(quote!(#rt::WindowGate(&#name)));
                }
            }
        }
        if types.len() == 1 {
            (items, types.remove(0), values.remove(0))
        } else {
            (items, quote!((#(#types,)*)), quote!((#(#values,)*)))
        }
    }

    /// A `static` adaptive window of the function's own, named `name`: of
    /// the runtime's default size unless the attribute gives one.
    fn own_window(&self, name: &Ident, size: Option<u32>) -> TokenStream {
        let rt = &self.rt;
        let size = match size {
            Some(n) => quote!(#n),
            None => quote!(#rt::ADAPTIVE_WINDOW),
        };
        quote!(static #name: #rt::AdaptiveWindow = #rt::AdaptiveWindow::new(#size);)
    }

    /// The window of the first `adaptive` wait (one per function): its size,
    /// or the shared window's path.
    fn adaptive_window(&self) -> Option<(Option<u32>, Option<&syn::Path>)> {
        fn find(spec: &WaitSpec) -> Option<(Option<u32>, Option<&syn::Path>)> {
            match spec {
                WaitSpec::Adaptive { window, shared, .. } => {
                    Some((window.map(|(n, _)| n), shared.as_ref()))
                }
                WaitSpec::Sum(a, b) => find(a).or_else(|| find(b)),
                _ => None,
            }
        }
        let top = self.args.wait.iter();
        let rules = self
            .args
            .on
            .iter()
            .flatten()
            .filter_map(|r| r.wait.as_ref());
        top.chain(rules).find_map(find)
    }

    /// With a breaker, the error of a call it refuses before any attempt:
    /// `E::from(CircuitOpen)` (spanned at the key, where a missing conversion
    /// is reported).
    fn circuit_open(&self) -> Option<TokenStream> {
        let key = self.args.key_span(crate::symbol::Key::Breaker)?;
        let at_key = respan(&self.krate, key);
        Some(quote_spanned!(key=> #at_key::__private::circuit_open()))
    }

    /// The function's name, and its settings (which name it `NAME`).
    fn settings(&self) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let name = match &self.args.name {
            Some(name) => name.to_token_stream(),
            None => {
                let ident = self.func.sig.ident.to_string();
                let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_string();
                quote!(::core::concat!(::core::module_path!(), "::", #ident))
            }
        };
        let mut settings = quote!(#rt::Settings::new(NAME));
        if let Some(deadline) = &self.args.deadline {
            let d = deadline.tokens();
            settings = quote!(#settings.deadline(#d));
        }
        if let Some(timeout) = &self.args.timeout {
            let d = timeout.tokens();
            settings = quote!(#settings.timeout(#d));
        }
        if self.args.before_sleep.is_some() || self.args.on_giveup.is_some() {
            settings = quote!(#settings.hooks());
        }
        match &self.args.retry_after {
            Some(RetryAfterSpec::Ignore) => {
                settings = quote!(#settings.retry_after(#rt::RetryAfter::Ignore));
            }
            Some(RetryAfterSpec::Honor(Some(max))) => {
                let max = max.tokens();
                settings = quote!(#settings.retry_after(#rt::RetryAfter::honor(#max)));
            }
            Some(RetryAfterSpec::Honor(None)) | None => {}
        }
        (name, settings)
    }

    /// A wait's value and whether it is a constant expression.
    fn wait(&self, spec: &WaitSpec) -> (TokenStream, bool) {
        let rt = &self.rt;
        let w = quote!(#rt::wait);
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
                    .map(|j| {
                        let kind = Ident::new(j.variant(), Span::call_site());
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
            WaitSpec::Adaptive {
                inner, scale, max, ..
            } => {
                let (inner, constant) = self.wait(inner);
                let s = scale.map(|s| quote!(.scale(#s))).unwrap_or_default();
                let m = opt("max", max);
                (quote!(#w::adaptive(#inner) #s #m), constant)
            }
            WaitSpec::Expr(expr) => {
                // Every token at the expression, so that a value that is no
                // `Wait` is reported once, there.
                let at_expr = respan(&self.krate, expr.span());
                (
                    quote_spanned!(expr.span()=> #at_expr::__private::as_wait(#expr)),
                    false,
                )
            }
        }
    }

    /// Whether a class matches the failure (`failure.error` is `Some` when
    /// the engine asks).
    fn class_matches(&self, class: &ClassSpec, failure: &Ident) -> TokenStream {
        let rt = &self.rt;
        match class {
            ClassSpec::Any => quote!(true),
            // Judged with the class, by the probe (`Failure::by_default`).
            ClassSpec::Default => quote!(#failure.by_default),
            ClassSpec::Set(parts, _) => {
                let set = class_set(rt, parts);
                quote!(const { #set }.matches(#failure.class))
            }
            ClassSpec::Predicate(expr) => {
                let error = local("__retry_error");
                let call = self.call_at(expr, "predicate", quote!(#error));
                quote! {
                    match #failure.error {
                        #rt::Some(#error) => #call,
                        #rt::None => false,
                    }
                }
            }
        }
    }

    /// `__private::NAME(ARG, EXPR)`, every token of the call at the user's
    /// `expr` (a predicate, `when_ok`): a closure of the wrong type is
    /// reported there, not at the whole attribute. Named from the crate's
    /// root: the alias `__retry_rt` would not resolve at the span of an
    /// expression written by a user's macro.
    fn call_at(&self, expr: &syn::Expr, name: &str, arg: TokenStream) -> TokenStream {
        let span = expr.span();
        let krate = &self.krate;
        let name = Ident::new(name, Span::call_site());
        let function = respan(&quote!(#krate::__private::#name), span);
        quote_spanned!(span=> #function(#arg, #expr))
    }

    /// The `never` closure.
    fn never(&self, failure: &Ident) -> TokenStream {
        match &self.args.never {
            None => quote!(|| false),
            Some(classes) => {
                let conds = classes.iter().map(|c| self.class_matches(c, failure));
                quote!(|| #(#conds)||*)
            }
        }
    }

    /// The `on` closure: the limits of the first rule that matches, and the
    /// bindings of the waits that are user expressions (made before it, once
    /// per failure, so that the limits can borrow them).
    fn rules(&self, failure: &Ident, top: &Ident) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let default = [RuleSpec {
            class: ClassSpec::Default,
            attempts: None,
            wait: None,
        }];
        let rules = self.args.on.as_deref().unwrap_or(&default);
        let mut bindings = quote!();
        let mut chain = quote!();
        for (index, rule) in (1u32..).zip(rules) {
            let cond = self.class_matches(&rule.class, failure);
            let limits = match (&rule.wait, rule.attempts) {
                (None, None) => quote!(#rt::Matched::Top),
                (None, Some(n)) => quote!(#rt::Matched::TopAttempts(#n)),
                (Some(spec), attempts) => {
                    let attempts = match attempts {
                        Some(n) => quote!(#n),
                        None => quote!(#top.attempts),
                    };
                    let (binding, wait) = self.bound_wait(spec, &format!("__retry_wait{index}"));
                    bindings.extend(binding);
                    quote!(#rt::Matched::Own(#rt::Limits::own(#attempts, #wait, #index)))
                }
            };
            chain.extend(quote! {
                if #cond { #rt::Some(#limits) } else
            });
        }
        (bindings, quote!(|| #chain { #rt::None }))
    }

    /// `needs_classify(&error)` at each class token, so a missing `Classify`
    /// is reported there.
    fn classify_checks(&self, error: &Ident) -> TokenStream {
        let krate = &self.krate;
        self.listed_classes()
            .filter_map(|c| match c {
                ClassSpec::Set(_, span) => {
                    // Every token of the check carries the class's span, so the
                    // compiler reports a missing `Classify` at the class.
                    let probe = Ident::new("__retry_classify_probe", *span);
                    let at_class = respan(krate, *span);
                    Some(quote_spanned! {*span=>
                        let #probe = #error;
                        #at_class::__private::needs_classify(#probe);
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Per-attempt bindings of the arguments, and the arguments of a call of
    /// the `fallback` with the same values; rewrites the signature's
    /// patterns so that the outer bindings are plain names. A parameter's
    /// `#[cfg]` and `#[cfg_attr]` go onto its binding.
    fn rebind_arguments(&mut self) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let rt = &self.rt;
        let fallback = self.args.fallback.is_some();
        let mut rebinds = Vec::new();
        let mut passed = Vec::new();
        for (index, arg) in self.func.sig.inputs.iter_mut().enumerate() {
            match arg {
                FnArg::Receiver(receiver) => {
                    let this = Ident::new(body::SELF, receiver.self_token.span());
                    let self_token = receiver.self_token;
                    let cfgs = cfg_attrs(&receiver.attrs);
                    let mutability = receiver.mutability.take();
                    let kind = match &receiver.kind {
                        ReceiverKind::Reference(_, _, m) => Some(Borrow::Ref(m.is_some())),
                        ReceiverKind::Typed(_, ty) => reference(ty)
                            .map(Borrow::Ref)
                            .or_else(|| pinned_mut(ty).then_some(Borrow::PinMut)),
                        _ => None,
                    };
                    passed.push(match kind {
                        Some(Borrow::Ref(false)) => quote!(#self_token),
                        Some(Borrow::Ref(true)) => quote!(&mut *#self_token),
                        Some(Borrow::PinMut) => {
                            quote!(#rt::reborrow_pin(&mut #self_token))
                        }
                        None => quote!(#self_token),
                    });
                    rebinds.push(match kind {
                        Some(Borrow::Ref(false)) => quote!(#cfgs let #mutability #this = #self_token;),
                        Some(Borrow::Ref(true)) => quote!(#cfgs let #mutability #this = &mut *#self_token;),
                        Some(Borrow::PinMut) => {
                            receiver.mutability = Some(syn::Token![mut](self_token.span()));
                            quote!(#cfgs let #mutability #this = #rt::reborrow_pin(&mut #self_token);)
                        }
                        None => quote_spanned!(self_token.span()=> #cfgs let #mutability #this = #rt::CloneArg::clone_arg(&#self_token);),
                    });
                }
                FnArg::Typed(typed) => {
                    let by_ref = reference(&typed.ty);
                    let pinned = by_ref.is_none() && pinned_mut(&typed.ty);
                    let ty_span = typed.ty.span();
                    let cfgs = cfg_attrs(&typed.attrs);
                    let (outer, pattern): (TokenStream, TokenStream) = match &mut *typed.pat {
                        // Not bound; named for the fallback's call.
                        Pat::Wild(_) if fallback => {
                            let name =
                                format_ident!("__retry_arg{}", index, span = Span::mixed_site());
                            *typed.pat = Pat::Verbatim(name.to_token_stream());
                            passed.push(name.to_token_stream());
                            continue;
                        }
                        Pat::Wild(_) => continue,
                        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                            let mutability = ident.mutability.take();
                            if pinned {
                                // Re-borrowed through `&mut` for each attempt.
                                ident.mutability = Some(syn::Token![mut](ident.ident.span()));
                            }
                            let name = &ident.ident;
                            (quote!(#name), quote!(#mutability #name))
                        }
                        other => {
                            let name =
                                format_ident!("__retry_arg{}", index, span = Span::mixed_site());
                            let pattern = other.to_token_stream();
                            *other = Pat::Verbatim(if pinned {
                                quote!(mut #name)
                            } else {
                                name.to_token_stream()
                            });
                            (quote!(#name), pattern)
                        }
                    };
                    passed.push(match by_ref {
                        Some(true) => quote!(&mut *#outer),
                        None if pinned => quote!(#rt::reborrow_pin(&mut #outer)),
                        _ => outer.clone(),
                    });
                    rebinds.push(match by_ref {
                        Some(false) => quote!(#cfgs let #pattern = #outer;),
                        Some(true) => quote!(#cfgs let #pattern = &mut *#outer;),
                        None if pinned => quote!(#cfgs let #pattern = #rt::reborrow_pin(&mut #outer);),
                        None => quote_spanned!(ty_span=> #cfgs let #pattern = #rt::CloneArg::clone_arg(&#outer);),
                    });
                }
            }
        }
        (rebinds, passed)
    }
}

enum Borrow {
    /// `&T` (`false`) or `&mut T` (`true`).
    Ref(bool),
    /// `Pin<&mut T>`.
    PinMut,
}

/// The attributes of a parameter that its per-attempt binding needs too:
/// `#[cfg]`, `#[cfg_attr]` and lint levels.
fn cfg_attrs(attrs: &[syn::Attribute]) -> TokenStream {
    const KEPT: &[&str] = &[
        "cfg", "cfg_attr", "allow", "expect", "warn", "deny", "forbid",
    ];
    attrs
        .iter()
        .filter(|a| KEPT.iter().any(|k| a.path().is_ident(k)))
        .map(ToTokens::to_token_stream)
        .collect()
}

/// `before_sleep = log`: the runtime's `hooks::log`, every token at `log`
/// (an error type without `Display` is reported there, not at the whole
/// attribute).
fn log_hook(krate: &TokenStream, span: Span) -> TokenStream {
    let at = respan(krate, span);
    quote_spanned!(span=> #at::hooks::log)
}

/// `tokens` with every span set to `span` (a `$crate` in `crate =
/// $crate::rt`, from a facade crate's macro, still names its crate:
/// `tests::facade_retry!`).
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
    match ungrouped(ty) {
        Type::Reference(r) => Some(r.mutability.is_some()),
        _ => None,
    }
}

/// Whether `ty` is `Pin<&mut T>`.
fn pinned_mut(ty: &Type) -> bool {
    let Type::Path(path) = ungrouped(ty) else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Pin"
        && matches!(args.args.first(), Some(syn::GenericArgument::Type(t)) if reference(t) == Some(true))
}

fn class_set(rt: &TokenStream, parts: &[SetPart]) -> TokenStream {
    let set = quote!(#rt::ClassSet);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emitted_path_goes_through_the_crate_key() {
        // With `crate = rt`, nothing in the expansion names the runtime by
        // its own name (a user's crate may depend on it under another).
        let args = quote!(
            crate = rt,
            attempts = 3,
            deadline = 1m,
            timeout = 10s,
            wait = adaptive(exponential(initial = 10ms), window = 8),
            on = [Connect, Status(500..=504), RateLimited => (attempts = 4, wait = fixed(1))],
            never = [Status(401)],
            when_ok = |s: &String| s.is_empty(),
            retry_after = honor(max = 2m),
            before_sleep = log,
            on_giveup = |s| drop(s),
            budget = BUDGET,
            breaker = BREAKER,
            fallback = backup<u8>,
            fallback_on = [Quota],
            attempt = a,
            policy = complete_policy,
        );
        let item = quote! {
            async fn complete(&self, prompt: String) -> Result<String, ApiError> {
                self.send(&prompt, a).await
            }
        };
        let out = retry(args, item).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("retry_runtime"), "{out}");
        assert!(out.contains("rt :: __private"), "{out}");
        assert!(syn::parse2::<syn::File>(out.parse().unwrap()).is_ok());
    }

    #[test]
    fn every_impl_trait_of_a_return_type_becomes_inferred() {
        let named = |ty: &str| {
            nameable(&syn::parse_str(ty).unwrap()).map(|t| t.to_token_stream().to_string())
        };
        assert_eq!(
            named("Result<Vec<impl Display>, E>").as_deref(),
            Some("Result < Vec < _ > , E >")
        );
        assert_eq!(
            named("(impl Future<Output = impl Display>, &'a [impl Debug; 2])").as_deref(),
            Some("(_ , & 'a [_ ; 2])")
        );
        assert_eq!(named("Result<fn() -> u8, E>"), None);
        assert_eq!(named("Result<Box<dyn Fn(u8) -> u8>, E>"), None);
    }

    #[test]
    fn a_body_with_a_stray_loop_exit_is_emitted_as_written() {
        // So that the compiler reports the `break` as it would without the
        // attribute, instead of the retry loop taking it.
        let item = quote! {
            async fn f() -> std::io::Result<()> {
                break;
            }
        };
        let out = retry(quote!(attempts = 2), item.clone());
        assert_eq!(out.to_string(), item.to_string());
        // A loop exit inside the body's own loop is no stray: expanded.
        let inside = quote! {
            async fn g() -> std::io::Result<()> {
                loop { break; }
                Ok(())
            }
        };
        let out = retry(quote!(attempts = 2), inside.clone()).to_string();
        assert_ne!(out, inside.to_string());
        assert!(out.contains("__retry_call"), "{out}");
    }

    #[test]
    fn invisible_groups_around_the_item_or_its_body_are_looked_through() {
        // How `macro_rules!` passes `$f:item` and `$b:block`.
        let invisible = |tokens: TokenStream| {
            TokenStream::from(TokenTree::Group(Group::new(Delimiter::None, tokens)))
        };
        let body = invisible(quote!({ Ok(1) }));
        let item = quote!(async fn f() -> std::io::Result<u32> #body);
        for item in [item.clone(), invisible(item)] {
            let out = retry(quote!(attempts = 2), item).to_string();
            assert!(!out.contains("compile_error"), "{out}");
            assert!(out.contains("__retry_call"), "{out}");
        }
        // An invisible group of several tokens at the end is no body.
        let tail = invisible(quote!({ Ok(1) } x));
        let out = retry(quote!(), quote!(fn f() -> R #tail)).to_string();
        assert!(out.contains("compile_error"), "{out}");
    }

    #[test]
    fn inner_attributes_become_the_functions() {
        let item = quote! {
            async fn f() -> std::io::Result<u32> {
                #![allow(unused_variables)]
                #[allow(unused_mut)]
                let mut a = 1;
                Ok(a)
            }
        };
        let out = retry(quote!(attempts = 2), item).to_string();
        assert!(
            out.starts_with("# [allow (unused_variables)] async fn f"),
            "{out}"
        );
        assert!(!out.contains("# !"), "{out}");
        assert!(out.contains("# [allow (unused_mut)] let mut a"), "{out}");
    }

    #[test]
    fn an_item_that_is_no_function_keeps_its_tokens_after_the_error() {
        let item = quote!(
            #[doc = "s"]
            struct S;
        );
        let out = retry(quote!(), item.clone()).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with(&item.to_string()), "{out}");
    }
}
