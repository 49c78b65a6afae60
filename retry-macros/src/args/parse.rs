//! Reads the attribute's tokens into the model. Every mistake is recorded
//! (not returned), and parsing resumes at the next top-level comma.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Ident, Lit, Pat, Path, RangeLimits, Token};

use crate::duration::{self, Dur};
use crate::errors::{Errors, choices, list, nearest};
use crate::symbol::{
    AdaptiveArg, ClassName, ExponentialArg, HonorArg, Key, LinearArg, Override, RetryAfterPolicy,
    WaitKind,
};

use super::valid::*;
use super::*;

impl Args {
    pub(super) fn parse_all(&mut self, input: ParseStream, errors: &mut Errors) {
        let mut claims = Claims::new();
        while !input.is_empty() {
            if let Err(e) = self.parse_entry(input, &mut claims, errors) {
                errors.push(e);
                skip_to_comma(input);
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                errors.push(e);
                skip_to_comma(input);
                let _ = input.parse::<Token![,]>();
            }
        }
    }
    pub(super) fn parse_entry(
        &mut self,
        input: ParseStream,
        claims: &mut Claims<Key>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let ident = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected a key: one of {}", list(Key::NAMES)),
            )
        })?;
        let name = ident.to_string();
        let Some(key) = Key::from_name(&name) else {
            errors.at(ident.span(), choices(&name, "key", Key::NAMES));
            skip_to_comma(input);
            return Ok(());
        };
        if !claims.claim(key, ident.span(), "key", errors) {
            skip_to_comma(input);
            return Ok(());
        }
        self.keys.push((key, ident.span()));
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(e.span(), format!("expected `=` and a value after `{key}`"))
        })?;
        match key {
            Key::Attempts => self.attempts = Some(parse_attempts(input)?),
            Key::Deadline => self.deadline = Some(limit_from(key, &input.parse()?)?),
            Key::Timeout => self.timeout = Some(limit_from(key, &input.parse()?)?),
            Key::Wait => self.wait = Some(parse_wait(input, errors)?),
            Key::On => {
                // The first rule that matches decides: a rule after `Any`,
                // or one of a class listed above, is never reached.
                let mut after_any = false;
                let mut listed: Vec<Vec<SetPart>> = Vec::new();
                let rules = bracketed(
                    input,
                    "`on` takes a list of rules: `on = [Connect, Status(503)]`",
                    |input| {
                        let at = input.span();
                        let rule = parse_rule(input, errors)?;
                        if after_any {
                            errors.at(at, "this rule is never reached: `Any` above matches every error, and the first rule that matches decides");
                        } else if let ClassSpec::Set(parts, span) = &rule.class {
                            if listed.contains(parts) {
                                errors.at(*span, "this class is listed above already, and the first rule that matches decides: this rule is never reached (put its overrides on the first)");
                            } else {
                                listed.push(parts.clone());
                            }
                        }
                        after_any |= matches!(rule.class, ClassSpec::Any);
                        Ok(rule)
                    },
                )?;
                self.on = Some(rules);
            }
            Key::Never => {
                self.never = Some(class_list(
                    input,
                    "`never` takes a list of classes: `never = [Status(401)]`",
                    "`never` takes classes without overrides: a failure it matches is never retried",
                    "`never = [Default]` would never retry what the default retries; name the classes",
                )?);
            }
            Key::FallbackOn => {
                self.fallback_on = Some(class_list(
                    input,
                    "`fallback_on` takes a list of classes: `fallback_on = [RateLimited, Status(529), Quota]`",
                    "`fallback_on` takes classes without overrides: an error it matches goes to the fallback",
                    "`fallback_on = [Default]` is not a choice; name the classes (`Transient`, `Quota`, ...)",
                )?);
            }
            Key::WhenOk => self.when_ok = Some(input.parse()?),
            Key::RetryAfter => self.retry_after = Some(parse_retry_after(input, errors)?),
            Key::BeforeSleep => self.before_sleep = Some(parse_hook(input)?),
            Key::OnGiveup => self.on_giveup = Some(parse_hook(input)?),
            Key::Name => {
                let lit: Lit = input.parse().map_err(|e| {
                    syn::Error::new(e.span(), "expected a string: `name = \"chat\"`")
                })?;
                match lit {
                    Lit::Str(s) if !s.suffix().is_empty() => {
                        errors.spanned(s, "expected a string without a suffix: `name = \"chat\"`")
                    }
                    Lit::Str(s) if !s.value().is_empty() => self.name = Some(s),
                    Lit::Str(s) => errors.spanned(s, "the name cannot be empty"),
                    other => errors.spanned(other, "expected a string: `name = \"chat\"`"),
                }
            }
            Key::Budget => {
                self.budget = Some(static_path(
                    input,
                    "expected the path of a `static Budget`: `budget = OPENAI`",
                )?)
            }
            Key::Breaker => {
                self.breaker = Some(static_path(
                    input,
                    "expected the path of a `static CircuitBreaker`: `breaker = LLM`",
                )?)
            }
            Key::Attempt => {
                self.attempt = Some(expect(
                    input,
                    "expected a name for the running attempt: `attempt = a` (then `a.number()`, `a.idempotency_key()` in the body); the number of attempts is `attempts = 5`",
                )?);
            }
            Key::Policy => {
                self.policy = Some(expect(
                    input,
                    "expected a name for the function that returns this policy: `policy = complete_policy` (then `complete_policy().stream(..)`)",
                )?);
            }
            Key::Fallback => {
                self.fallback = Some(expression_path(
                    input,
                    "expected the path of a function with the same parameters and return type: `fallback = complete_with_claude`",
                )?);
            }
            Key::Crate => {
                const EXPECTED: &str =
                    "expected a path to `retry_runtime`: `crate = ::my_crate::retry_runtime`";
                let path = Path::parse_mod_style(input)
                    .map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
                self.krate = Some(crate_path(path, EXPECTED)?);
            }
        }
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error(format!(
                "unexpected tokens after the value of `{key}`; separate keys with `,`"
            )));
        }
        Ok(())
    }
}

/// A bracketed list of classes without overrides (`never`, `fallback_on`).
fn class_list(
    input: ParseStream,
    shape: &str,
    no_overrides: &str,
    no_default: &str,
) -> syn::Result<Vec<ClassSpec>> {
    bracketed(input, shape, |input| {
        let at = input.span();
        let class = parse_class(input)?;
        if input.peek(Token![=>]) {
            return Err(input.error(no_overrides));
        }
        if let ClassSpec::Default = class {
            return Err(syn::Error::new(at, no_default));
        }
        Ok(class)
    })
}

/// Skips to the next top-level comma (not consuming it).
pub(super) fn skip_to_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

pub(super) fn parse_attempts(input: ParseStream) -> syn::Result<u32> {
    let expr: Expr = input.parse()?;
    attempts_from(&expr)
}

pub(super) fn bracketed<T>(
    input: ParseStream,
    expected: &str,
    mut item: impl FnMut(ParseStream) -> syn::Result<T>,
) -> syn::Result<Vec<T>> {
    if !input.peek(syn::token::Bracket) {
        return Err(input.error(expected));
    }
    let content;
    let brackets = syn::bracketed!(content in input);
    let mut items = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut fail = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    while !content.is_empty() {
        match item(&content) {
            Ok(it) => items.push(it),
            Err(e) => {
                fail(e);
                skip_to_comma(&content);
            }
        }
        if content.is_empty() {
            break;
        }
        if let Err(e) = content.parse::<Token![,]>() {
            fail(e);
            skip_to_comma(&content);
            let _ = content.parse::<Token![,]>();
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    if items.is_empty() {
        return Err(syn::Error::new(
            brackets.span.join(),
            "the list is empty: name at least one class",
        ));
    }
    Ok(items)
}

pub(super) fn parse_rule(input: ParseStream, errors: &mut Errors) -> syn::Result<RuleSpec> {
    let class = parse_class(input)?;
    let mut rule = RuleSpec {
        class,
        attempts: None,
        wait: None,
    };
    if !input.peek(Token![=>]) {
        return Ok(rule);
    }
    input.parse::<Token![=>]>()?;
    if !input.peek(syn::token::Paren) {
        return Err(
            input.error("expected overrides in parentheses: `=> (attempts = 3, wait = fixed(60))`")
        );
    }
    let content;
    let parens = syn::parenthesized!(content in input);
    if content.is_empty() {
        errors.at(
            parens.span.join(),
            "the overrides are empty: say what the rule changes, `=> (attempts = 3, wait = fixed(60))`, or leave out `=> ()`",
        );
    }
    let mut claims = Claims::new();
    while !content.is_empty() {
        let ident = Ident::parse_any(&content)?;
        let name = ident.to_string();
        match Override::from_name(&name) {
            None => {
                errors.at(
                    ident.span(),
                    choices(&name, "rule override", Override::NAMES),
                );
                skip_to_comma(&content);
            }
            Some(key) if !claims.claim(key, ident.span(), "override", errors) => {
                skip_to_comma(&content);
            }
            Some(key) => {
                content.parse::<Token![=]>()?;
                let parsed = match key {
                    Override::Attempts => parse_attempts(&content).map(|a| rule.attempts = Some(a)),
                    Override::Wait => parse_wait(&content, errors).map(|w| rule.wait = Some(w)),
                };
                if let Err(e) = parsed {
                    errors.push(e);
                    skip_to_comma(&content);
                }
            }
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(rule)
}

pub(super) fn parse_class(input: ParseStream) -> syn::Result<ClassSpec> {
    if input.peek(Ident) && !input.peek2(Token![::]) {
        let fork = input.fork();
        let ident: Ident = fork.parse()?;
        let name = ident.to_string();
        let at_end = fork.is_empty() || fork.peek(Token![,]) || fork.peek(Token![=>]);
        let class = ClassName::from_name(&name);
        if class == Some(ClassName::Status) && fork.peek(syn::token::Paren) {
            input.parse::<Ident>()?;
            let content;
            syn::parenthesized!(content in input);
            let pat = Pat::parse_multi(&content)?;
            if !content.is_empty() {
                return Err(content.error("expected a status code, an inclusive range or `a | b`"));
            }
            let mut parts = Vec::new();
            status_parts(&pat, &mut parts)?;
            return Ok(ClassSpec::Set(
                parts,
                ident.span().join(pat.span()).unwrap_or(ident.span()),
            ));
        }
        if at_end {
            let set = |name| ClassSpec::Set(vec![SetPart::Named(name)], ident.span());
            let spec = match class {
                Some(ClassName::Any) => ClassSpec::Any,
                Some(ClassName::Default) => ClassSpec::Default,
                Some(ClassName::Connect) => set("CONNECT"),
                Some(ClassName::Timeout) => set("TIMEOUT"),
                Some(ClassName::RateLimited) => set("RATE_LIMITED"),
                Some(ClassName::ServerError) => set("SERVER_ERROR"),
                Some(ClassName::Transient) => set("TRANSIENT"),
                Some(ClassName::Quota) => set("QUOTA"),
                Some(ClassName::Status) => {
                    return Err(syn::Error::new(
                        ident.span(),
                        "`Status` needs a code: `Status(503)`, `Status(500..=504)` or `Status(502 | 503)`",
                    ));
                }
                None => {
                    // A CamelCase name that is no class is a misspelt class; a
                    // lower-case one (`connect`, `is_retryable`) or a constant
                    // (`IS_RETRYABLE`) is a predicate.
                    let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
                        && name.chars().any(|c| c.is_ascii_lowercase());
                    if camel {
                        return Err(syn::Error::new(
                            ident.span(),
                            format!(
                                "{}, or a predicate `|e: &E| -> bool`",
                                choices(&name, "class", ClassName::NAMES)
                            ),
                        ));
                    }
                    return Ok(ClassSpec::Predicate(input.parse()?));
                }
            };
            input.parse::<Ident>()?;
            return Ok(spec);
        }
    }
    Ok(ClassSpec::Predicate(input.parse()?))
}

pub(super) fn status_parts(pat: &Pat, parts: &mut Vec<SetPart>) -> syn::Result<()> {
    match pat {
        Pat::Or(or) => {
            for case in &or.cases {
                status_parts(case, parts)?;
            }
            Ok(())
        }
        Pat::Paren(p) => status_parts(&p.pat, parts),
        Pat::Lit(lit) => {
            let code = status_code(&Expr::Lit(lit.clone()))?;
            parts.push(SetPart::Statuses(code, code));
            Ok(())
        }
        Pat::Range(range) => {
            let (Some(start), Some(end)) = (&range.start, &range.end) else {
                return Err(syn::Error::new(
                    range.span(),
                    "a status range needs both ends: `500..=504`",
                ));
            };
            if let RangeLimits::HalfOpen(dots) = range.limits {
                return Err(syn::Error::new(
                    dots.span(),
                    "use an inclusive range, `a..=b`",
                ));
            }
            let (low, high) = (status_code(start)?, status_code(end)?);
            if low > high {
                return Err(syn::Error::new(
                    range.span(),
                    format!("empty range: {low} is above {high}"),
                ));
            }
            parts.push(SetPart::Statuses(low, high));
            Ok(())
        }
        other => Err(syn::Error::new(
            other.span(),
            "expected a status code (`503`), an inclusive range (`500..=504`) or `a | b`",
        )),
    }
}

pub(super) fn parse_wait(input: ParseStream, errors: &mut Errors) -> syn::Result<WaitSpec> {
    let expr: Expr = input.parse()?;
    Ok(wait_from(expr, errors))
}

pub(super) fn strip(expr: Expr) -> Expr {
    match expr {
        Expr::Group(g) => strip(*g.expr),
        Expr::Paren(p) => strip(*p.expr),
        other => other,
    }
}

pub(super) fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

pub(super) const WAIT_NOTE: &str = "or an expression implementing `Wait`";

/// Reads a wait; a mistake is recorded and replaced by `none` so the rest of
/// the attribute is still checked.
pub(super) fn wait_from(expr: Expr, errors: &mut Errors) -> WaitSpec {
    let expr = strip(expr);
    if let Expr::Binary(bin) = expr {
        if let BinOp::Add(_) = bin.op {
            return WaitSpec::Sum(
                Box::new(wait_from(*bin.left, errors)),
                Box::new(wait_from(*bin.right, errors)),
            );
        }
        return WaitSpec::Expr(Expr::Binary(bin));
    }
    if matches!(expr, Expr::Lit(_) | Expr::Unary(_)) {
        // A bare duration waits that long every time: `wait = 500ms`.
        return match duration::parse(&expr) {
            Ok(d) => WaitSpec::Fixed(d),
            Err(e) => {
                errors.push(e);
                WaitSpec::None
            }
        };
    }
    if let Some(ident) = single_ident(&expr) {
        return match WaitKind::from_name(&ident.to_string()) {
            Some(WaitKind::None) => WaitSpec::None,
            Some(WaitKind::Exponential) => exponential(&Punctuated::new(), errors),
            Some(WaitKind::Linear) => linear(&Punctuated::new(), errors),
            Some(WaitKind::Fixed) => {
                errors.at(ident.span(), "`fixed` needs a duration: `wait = fixed(2s)`");
                WaitSpec::None
            }
            Some(WaitKind::Random) => {
                errors.at(
                    ident.span(),
                    "`random` needs two durations: `wait = random(1s, 5s)`",
                );
                WaitSpec::None
            }
            Some(WaitKind::Adaptive) => {
                errors.at(ident.span(), ADAPTIVE_USAGE);
                WaitSpec::None
            }
            None => WaitSpec::Expr(expr),
        };
    }
    let Expr::Call(call) = expr else {
        return WaitSpec::Expr(expr);
    };
    let Some(ident) = single_ident(&call.func).cloned() else {
        return WaitSpec::Expr(Expr::Call(call));
    };
    let name = ident.to_string();
    let args = &call.args;
    match WaitKind::from_name(&name) {
        Some(WaitKind::None) => {
            errors.at(ident.span(), "`none` takes no arguments: `wait = none`");
            WaitSpec::None
        }
        Some(WaitKind::Fixed) => {
            match positional(
                &ident,
                args,
                1,
                "`fixed` takes one duration: `fixed(2s)`",
                errors,
            )[..]
            {
                [d] => WaitSpec::Fixed(d),
                _ => WaitSpec::None,
            }
        }
        Some(WaitKind::Random) => {
            let usage = "`random` takes two durations: `random(1s, 5s)`";
            match positional(&ident, args, 2, usage, errors)[..] {
                [min, max] => {
                    if min > max {
                        errors.at(min.span, "`random(MIN, MAX)`: MIN is above MAX");
                    }
                    WaitSpec::Random(min, max)
                }
                _ => WaitSpec::None,
            }
        }
        Some(WaitKind::Linear) => linear(args, errors),
        Some(WaitKind::Exponential) => exponential(args, errors),
        Some(WaitKind::Adaptive) => adaptive(&ident, args, errors),
        None => {
            if let Some(near) = nearest(&name, WaitKind::NAMES) {
                errors.at(
                    ident.span(),
                    format!(
                        "unknown wait `{name}`: did you mean `{near}`? expected one of {}, {WAIT_NOTE}",
                        list(WaitKind::NAMES)
                    ),
                );
            }
            WaitSpec::Expr(Expr::Call(call))
        }
    }
}

pub(super) fn positional(
    ident: &Ident,
    args: &Punctuated<Expr, Token![,]>,
    n: usize,
    usage: &str,
    errors: &mut Errors,
) -> Vec<Dur> {
    if args.len() != n || args.iter().any(|a| matches!(a, Expr::Assign(_))) {
        let span = if args.is_empty() {
            ident.span()
        } else {
            args.span()
        };
        errors.at(span, usage);
        return Vec::new();
    }
    let durs: Vec<Dur> = args.iter().filter_map(|a| dur_arg(a, errors)).collect();
    if durs.len() == n { durs } else { Vec::new() }
}

pub(super) fn linear(args: &Punctuated<Expr, Token![,]>, errors: &mut Errors) -> WaitSpec {
    let (mut initial, mut step, mut max) = (None, None, None);
    for (arg, value) in named(
        args,
        "linear",
        LinearArg::NAMES,
        LinearArg::from_name,
        errors,
    ) {
        let d = dur_arg(value, errors);
        match arg {
            LinearArg::Initial => initial = d,
            LinearArg::Step => step = d,
            LinearArg::Max => max = d,
        }
    }
    if let (Some(i), Some(m)) = (initial, max) {
        if i > m {
            errors.at(i.span, "`initial` is above `max`");
        }
    }
    WaitSpec::Linear { initial, step, max }
}

pub(super) fn exponential(args: &Punctuated<Expr, Token![,]>, errors: &mut Errors) -> WaitSpec {
    let (mut initial, mut factor, mut min, mut max, mut jitter) = (None, None, None, None, None);
    let args = named(
        args,
        "exponential",
        ExponentialArg::NAMES,
        ExponentialArg::from_name,
        errors,
    );
    for (arg, value) in args {
        match arg {
            ExponentialArg::Initial => initial = dur_arg(value, errors),
            ExponentialArg::Min => min = dur_arg(value, errors),
            ExponentialArg::Max => max = dur_arg(value, errors),
            ExponentialArg::Factor => factor = factor_arg(value, errors),
            ExponentialArg::Jitter => jitter = jitter_arg(value, errors),
        }
    }
    let cap = max.unwrap_or(Dur::from_secs(DEFAULT_MAX_SECS, Span::call_site()));
    if let Some(min) = min.filter(|min| *min > cap) {
        let why = if max.is_some() {
            "`min` is above `max`".to_string()
        } else {
            format!("`min` is above the default `max` of {DEFAULT_MAX_SECS}s; set `max` too")
        };
        errors.at(min.span, why);
    }
    // As for `linear`: a first delay above an explicit cap is a mistake,
    // unless the delays shrink (`factor` below 1: 120, 60, 30, ... under a
    // cap of 60 is a schedule of its own; decorrelated jitter has no
    // factor).
    if let (Some(i), Some(m)) = (initial, max) {
        let shrinks =
            factor.is_some_and(|f| f < 1.0) && !matches!(jitter, Some(JitterKind::Decorrelated));
        if i > m && !shrinks {
            errors.at(i.span, "`initial` is above `max`");
        }
    }
    WaitSpec::Exponential {
        initial,
        factor,
        min,
        max,
        jitter,
    }
}

pub(super) const ADAPTIVE_USAGE: &str = "`adaptive` takes a wait, then named arguments: `adaptive(exponential(), scale = 3, window = 100, max = 120s)`";

pub(super) fn adaptive(
    ident: &Ident,
    args: &Punctuated<Expr, Token![,]>,
    errors: &mut Errors,
) -> WaitSpec {
    let mut args = args.iter();
    let inner = match args.next() {
        Some(Expr::Assign(_)) | None => {
            errors.at(ident.span(), ADAPTIVE_USAGE);
            return WaitSpec::None;
        }
        Some(first) => wait_from(first.clone(), errors),
    };
    if matches!(inner, WaitSpec::Adaptive { .. }) {
        errors.at(
            ident.span(),
            "`adaptive` inside `adaptive` scales twice: use one",
        );
    }
    let rest: Punctuated<Expr, Token![,]> = args.cloned().collect();
    let (mut scale, mut window, mut max, mut shared) = (None, None, None, None);
    for (arg, value) in named(
        &rest,
        "adaptive",
        AdaptiveArg::NAMES,
        AdaptiveArg::from_name,
        errors,
    ) {
        match arg {
            AdaptiveArg::Scale => scale = scale_arg(value, errors),
            AdaptiveArg::Max => max = dur_arg(value, errors),
            AdaptiveArg::Window => match attempts_from(value) {
                Ok(n) if n <= MAX_WINDOW => window = Some((n, value.span())),
                Ok(_) => errors.at(
                    value.span(),
                    format!("`window` holds at most {MAX_WINDOW} attempts"),
                ),
                Err(_) => errors.at(
                    value.span(),
                    format!("expected a number of attempts from 1 to {MAX_WINDOW}: `window = 100`"),
                ),
            },
            AdaptiveArg::Shared => match value {
                Expr::Path(p) if p.qself.is_none() => shared = Some(p.path.clone()),
                other => errors.at(
                    other.span(),
                    "expected the path of a `static AdaptiveWindow`: `shared = OPENAI_HEALTH`",
                ),
            },
        }
    }
    if let (Some((_, span)), Some(_)) = (window, &shared) {
        errors.at(
            span,
            "give `window` or `shared`, not both: a shared window has its own size",
        );
    }
    WaitSpec::Adaptive {
        inner: Box::new(inner),
        scale,
        window,
        max,
        shared,
        span: ident.span(),
    }
}

pub(super) fn parse_retry_after(
    input: ParseStream,
    errors: &mut Errors,
) -> syn::Result<RetryAfterSpec> {
    let expected = "expected `honor`, `honor(max = D)` or `ignore`";
    let ident = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), expected))?;
    let name = ident.to_string();
    match RetryAfterPolicy::from_name(&name) {
        Some(RetryAfterPolicy::Ignore) => Ok(RetryAfterSpec::Ignore),
        Some(RetryAfterPolicy::Honor) if input.peek(syn::token::Paren) => {
            let content;
            syn::parenthesized!(content in input);
            let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            let mut max = None;
            for (_, value) in named(&args, "honor", HonorArg::NAMES, HonorArg::from_name, errors) {
                max = dur_arg(value, errors);
            }
            Ok(RetryAfterSpec::Honor(max))
        }
        Some(RetryAfterPolicy::Honor) => Ok(RetryAfterSpec::Honor(None)),
        None => Err(syn::Error::new(
            ident.span(),
            choices(&name, "retry_after policy", RetryAfterPolicy::NAMES),
        )),
    }
}

pub(super) fn parse_hook(input: ParseStream) -> syn::Result<Hook> {
    let expr: Expr = input.parse()?;
    Ok(match single_ident(&expr) {
        Some(ident) if ident == "log" => Hook::Log(ident.span()),
        _ => Hook::Expr(expr),
    })
}

/// A value of type `T`, or an error at the token found that says what was
/// `expected`.
fn expect<T: syn::parse::Parse>(input: ParseStream, expected: &str) -> syn::Result<T> {
    input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), expected))
}

/// A path the expansion calls (`fallback = f`, `fallback = m::f::<T>`):
/// generic arguments are written as a turbofish in expression position
/// whether or not the attribute spelt one (`f<T>` is read as `f::<T>`).
pub(super) fn expression_path(input: ParseStream, expected: &str) -> syn::Result<Path> {
    let mut path: Path = expect(input, expected)?;
    for segment in &mut path.segments {
        // syn's `Path` holds no `Fn(..)` arguments outside bounds; should
        // one come, `in_expression` refuses it.
        if let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments {
            args.colon2_token.get_or_insert_with(Default::default);
        }
    }
    in_expression(path, expected)
}

/// The path of a `static` (`OPENAI`, `crate::limits::LLM`): a static takes
/// no generic arguments, and the path is emitted as an expression, where
/// `a<0>` would read as a comparison.
pub(super) fn static_path(input: ParseStream, expected: &str) -> syn::Result<Path> {
    let path: Path = expect(input, expected)?;
    match path.segments.iter().find(|s| !s.arguments.is_none()) {
        Some(generic) => Err(syn::Error::new_spanned(&generic.arguments, expected)),
        None => in_expression(path, expected),
    }
}

/// The path, if it reads as a path in an expression (where it is emitted):
/// `try`, which a path accepts as a segment, is a reserved word there.
fn in_expression(path: Path, expected: &str) -> syn::Result<Path> {
    let reserved = path.segments.iter().any(|s| s.ident == "try");
    match syn::parse2::<Expr>(path.to_token_stream()) {
        Ok(Expr::Path(_)) if !reserved => Ok(path),
        _ => Err(syn::Error::new_spanned(path, expected)),
    }
}

/// The `crate = PATH` value, if the expansion's `use PATH::__private::{..}`
/// reads (`Self` is no module).
pub(super) fn crate_path(path: Path, expected: &str) -> syn::Result<Path> {
    let probe = quote::quote!(use #path::__private::{A as _};);
    match syn::parse2::<syn::ItemUse>(probe) {
        Ok(_) => Ok(path),
        Err(_) => Err(syn::Error::new_spanned(path, expected)),
    }
}
