//! Parses and checks the attribute's arguments into the crate's own model.
//! Every mistake is recorded (not returned) so that all of them are reported
//! in one build; parsing then resumes at the next top-level comma.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Ident, Lit, LitStr, Pat, Path, RangeLimits, Token};

use crate::duration::{self, Dur};
use crate::errors::{Errors, choices, nearest};

pub const KEYS: &[&str] = &[
    "attempts",
    "deadline",
    "timeout",
    "wait",
    "on",
    "never",
    "when_ok",
    "retry_after",
    "before_sleep",
    "on_giveup",
    "name",
    "crate",
];
const RULE_KEYS: &[&str] = &["attempts", "wait"];
pub const WAITS: &[&str] = &["none", "fixed", "random", "linear", "exponential"];
const EXPONENTIAL_KEYS: &[&str] = &["initial", "factor", "min", "max", "jitter"];
const LINEAR_KEYS: &[&str] = &["initial", "step", "max"];
const JITTERS: &[&str] = &["none", "full", "equal", "decorrelated"];
pub const CLASSES: &[&str] = &[
    "Any",
    "Connect",
    "Timeout",
    "Status",
    "RateLimited",
    "ServerError",
    "Transient",
];

/// The attribute, checked.
#[derive(Default)]
pub struct Args {
    pub attempts: Option<u32>,
    pub deadline: Option<Dur>,
    pub timeout: Option<(Dur, Span)>,
    pub wait: Option<WaitSpec>,
    pub on: Option<Vec<RuleSpec>>,
    pub never: Option<Vec<ClassSpec>>,
    pub when_ok: Option<Expr>,
    pub retry_after: Option<RetryAfterSpec>,
    pub before_sleep: Option<Hook>,
    pub on_giveup: Option<Hook>,
    pub name: Option<LitStr>,
    pub krate: Option<Path>,
}

pub enum WaitSpec {
    None,
    Fixed(Dur),
    Random(Dur, Dur),
    Linear {
        initial: Option<Dur>,
        step: Option<Dur>,
        max: Option<Dur>,
    },
    Exponential {
        initial: Option<Dur>,
        factor: Option<f64>,
        min: Option<Dur>,
        max: Option<Dur>,
        jitter: Option<Ident>,
    },
    Sum(Box<WaitSpec>, Box<WaitSpec>),
    Expr(Expr),
}

pub enum ClassSpec {
    Any,
    /// A built-in class as `ClassSet` building blocks, and the token it came from.
    Set(Vec<SetPart>, Span),
    Predicate(Expr),
}

pub enum SetPart {
    Named(&'static str),
    Statuses(u16, u16),
}

pub struct RuleSpec {
    pub class: ClassSpec,
    pub attempts: Option<u32>,
    pub wait: Option<WaitSpec>,
}

pub enum RetryAfterSpec {
    Honor(Option<Dur>),
    Ignore,
}

pub enum Hook {
    Log(Span),
    Expr(Expr),
}

impl Args {
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let parser = |input: ParseStream| {
            args.parse_all(input, errors);
            Ok(())
        };
        if let Err(e) = parser.parse2(tokens) {
            errors.push(e);
        }
        args
    }

    fn parse_all(&mut self, input: ParseStream, errors: &mut Errors) {
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            if let Err(e) = self.parse_entry(input, &mut seen, errors) {
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

    fn parse_entry(
        &mut self,
        input: ParseStream,
        seen: &mut Vec<String>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let key = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(e.span(), format!("expected a key: one of {}", list(KEYS)))
        })?;
        let name = key.to_string();
        if !KEYS.contains(&name.as_str()) {
            errors.at(key.span(), choices(&name, "key", KEYS));
            skip_to_comma(input);
            return Ok(());
        }
        if seen.contains(&name) {
            errors.at(
                key.span(),
                format!("duplicate key `{name}`: each key may be given once"),
            );
            skip_to_comma(input);
            return Ok(());
        }
        seen.push(name.clone());
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(e.span(), format!("expected `=` and a value after `{name}`"))
        })?;
        match name.as_str() {
            "attempts" => self.attempts = Some(parse_attempts(input)?),
            "deadline" => self.deadline = Some(duration::parse(&input.parse()?)?),
            "timeout" => self.timeout = Some((duration::parse(&input.parse()?)?, key.span())),
            "wait" => self.wait = Some(parse_wait(input, errors)?),
            "on" => {
                let rules = bracketed(
                    input,
                    "`on` takes a list of rules: `on = [Connect, Status(503)]`",
                    |input| parse_rule(input, errors),
                )?;
                self.on = Some(rules);
            }
            "never" => {
                let classes = bracketed(
                    input,
                    "`never` takes a list of classes: `never = [Status(401)]`",
                    |input| {
                        let class = parse_class(input)?;
                        if input.peek(Token![=>]) {
                            return Err(input.error(
                                "`never` takes classes without overrides: a failure it matches is never retried",
                            ));
                        }
                        Ok(class)
                    },
                )?;
                self.never = Some(classes);
            }
            "when_ok" => self.when_ok = Some(input.parse()?),
            "retry_after" => self.retry_after = Some(parse_retry_after(input, errors)?),
            "before_sleep" => self.before_sleep = Some(parse_hook(input)?),
            "on_giveup" => self.on_giveup = Some(parse_hook(input)?),
            "name" => {
                let lit: Lit = input.parse().map_err(|e| {
                    syn::Error::new(e.span(), "expected a string: `name = \"chat\"`")
                })?;
                match lit {
                    Lit::Str(s) if !s.value().is_empty() => self.name = Some(s),
                    Lit::Str(s) => errors.spanned(s, "the name cannot be empty"),
                    other => errors.spanned(other, "expected a string: `name = \"chat\"`"),
                }
            }
            "crate" => {
                let path = Path::parse_mod_style(input).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected a path to `retry_runtime`: `crate = ::my_crate::retry_runtime`",
                    )
                })?;
                self.krate = Some(path);
            }
            _ => unreachable!("every key in KEYS is handled"),
        }
        if !input.is_empty() && !input.peek(Token![,]) {
            return Err(input.error(format!(
                "unexpected tokens after the value of `{name}`; separate keys with `,`"
            )));
        }
        Ok(())
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Skips to the next top-level comma (not consuming it).
fn skip_to_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn parse_attempts(input: ParseStream) -> syn::Result<u32> {
    let expr: Expr = input.parse()?;
    attempts_from(&expr)
}

fn attempts_from(expr: &Expr) -> syn::Result<u32> {
    let expected = "expected a whole number of attempts, at least 1: `attempts = 5`";
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) if int.suffix().is_empty() => {
                let value: u32 = int.base10_parse().map_err(|_| {
                    syn::Error::new(int.span(), "too many attempts: at most u32::MAX")
                })?;
                if value == 0 {
                    return Err(syn::Error::new(
                        int.span(),
                        "`attempts = 0` would never run the function: attempts count the first one, so use at least 1",
                    ));
                }
                Ok(value)
            }
            _ => Err(syn::Error::new(lit.span(), expected)),
        },
        other => Err(syn::Error::new(other.span(), expected)),
    }
}

fn bracketed<T>(
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
    while !content.is_empty() {
        match item(&content) {
            Ok(it) => items.push(it),
            Err(e) => {
                match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
                skip_to_comma(&content);
            }
        }
        if content.is_empty() {
            break;
        }
        if let Err(e) = content.parse::<Token![,]>() {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
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

fn parse_rule(input: ParseStream, errors: &mut Errors) -> syn::Result<RuleSpec> {
    let class = parse_class(input)?;
    let mut rule = RuleSpec {
        class,
        attempts: None,
        wait: None,
    };
    if input.peek(Token![=>]) {
        input.parse::<Token![=>]>()?;
        if !input.peek(syn::token::Paren) {
            return Err(input.error(
                "expected overrides in parentheses: `=> (attempts = 3, wait = fixed(60))`",
            ));
        }
        let content;
        syn::parenthesized!(content in input);
        let mut seen = Vec::new();
        while !content.is_empty() {
            let key = Ident::parse_any(&content)?;
            let name = key.to_string();
            if !RULE_KEYS.contains(&name.as_str()) {
                let message = choices(&name, "rule override", RULE_KEYS);
                errors.at(key.span(), message);
                skip_to_comma(&content);
            } else if seen.contains(&name) {
                errors.at(key.span(), format!("duplicate override `{name}`"));
                skip_to_comma(&content);
            } else {
                seen.push(name.clone());
                content.parse::<Token![=]>()?;
                let parsed = if name == "attempts" {
                    parse_attempts(&content).map(|a| rule.attempts = Some(a))
                } else {
                    parse_wait(&content, errors).map(|w| rule.wait = Some(w))
                };
                if let Err(e) = parsed {
                    errors.push(e);
                    skip_to_comma(&content);
                }
            }
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
    }
    Ok(rule)
}

fn parse_class(input: ParseStream) -> syn::Result<ClassSpec> {
    if input.peek(Ident) && !input.peek2(Token![::]) {
        let fork = input.fork();
        let ident: Ident = fork.parse()?;
        let name = ident.to_string();
        let at_end = fork.is_empty() || fork.peek(Token![,]) || fork.peek(Token![=>]);
        if name == "Status" && fork.peek(syn::token::Paren) {
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
            let named = match name.as_str() {
                "Any" => Some(None),
                "Connect" => Some(Some("CONNECT")),
                "Timeout" => Some(Some("TIMEOUT")),
                "RateLimited" => Some(Some("RATE_LIMITED")),
                "ServerError" => Some(Some("SERVER_ERROR")),
                "Transient" => Some(Some("TRANSIENT")),
                "Status" => {
                    return Err(syn::Error::new(
                        ident.span(),
                        "`Status` needs a code: `Status(503)`, `Status(500..=504)` or `Status(502 | 503)`",
                    ));
                }
                _ => None,
            };
            if let Some(named) = named {
                input.parse::<Ident>()?;
                return Ok(match named {
                    None => ClassSpec::Any,
                    Some(n) => ClassSpec::Set(vec![SetPart::Named(n)], ident.span()),
                });
            }
            // A CamelCase name that is no class is a misspelt class, not a predicate.
            let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().any(|c| c.is_ascii_lowercase());
            if camel || nearest(&name, CLASSES).is_some() {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "{}, or a predicate `|e: &E| -> bool`",
                        choices(&name, "class", CLASSES)
                    ),
                ));
            }
        }
    }
    Ok(ClassSpec::Predicate(input.parse()?))
}

fn status_parts(pat: &Pat, parts: &mut Vec<SetPart>) -> syn::Result<()> {
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

fn status_code(expr: &Expr) -> syn::Result<u16> {
    if let Expr::Lit(lit) = expr
        && let Lit::Int(int) = &lit.lit
    {
        if let Ok(code) = int.base10_parse::<u16>()
            && (100..=599).contains(&code)
        {
            return Ok(code);
        }
        return Err(syn::Error::new(
            int.span(),
            format!("`{int}` is not an HTTP status code: expected 100..=599"),
        ));
    }
    Err(syn::Error::new(
        expr.span(),
        "expected a status code in 100..=599",
    ))
}

fn parse_wait(input: ParseStream, errors: &mut Errors) -> syn::Result<WaitSpec> {
    let expr: Expr = input.parse()?;
    Ok(wait_from(expr, errors))
}

fn strip(expr: Expr) -> Expr {
    match expr {
        Expr::Group(g) => strip(*g.expr),
        Expr::Paren(p) => strip(*p.expr),
        other => other,
    }
}

fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

/// Reads a wait; a mistake is recorded and replaced by the default wait so the
/// rest of the attribute is still checked.
fn wait_from(expr: Expr, errors: &mut Errors) -> WaitSpec {
    let expr = strip(expr);
    if let Expr::Binary(bin) = &expr
        && let BinOp::Add(_) = bin.op
    {
        let Expr::Binary(bin) = expr else {
            unreachable!()
        };
        return WaitSpec::Sum(
            Box::new(wait_from(*bin.left, errors)),
            Box::new(wait_from(*bin.right, errors)),
        );
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
        match ident.to_string().as_str() {
            "none" => return WaitSpec::None,
            "exponential" => return exponential(Punctuated::new(), errors),
            "linear" => return linear(Punctuated::new(), errors),
            _ => return WaitSpec::Expr(expr),
        }
    }
    let Expr::Call(call) = expr else {
        return WaitSpec::Expr(expr);
    };
    let Some(ident) = single_ident(&call.func).cloned() else {
        return WaitSpec::Expr(Expr::Call(call));
    };
    let name = ident.to_string();
    let args = call.args;
    match name.as_str() {
        "none" => {
            errors.at(ident.span(), "`none` takes no arguments: `wait = none`");
            WaitSpec::None
        }
        "fixed" => {
            let mut durs = positional(
                &ident,
                &args,
                1,
                "`fixed` takes one duration: `fixed(2s)`",
                errors,
            );
            match durs.pop() {
                Some(d) => WaitSpec::Fixed(d),
                None => WaitSpec::None,
            }
        }
        "random" => {
            let durs = positional(
                &ident,
                &args,
                2,
                "`random` takes two durations: `random(1s, 5s)`",
                errors,
            );
            if let [min, max] = durs[..] {
                if min > max {
                    errors.at(min.span, "`random(MIN, MAX)`: MIN is above MAX");
                }
                WaitSpec::Random(min, max)
            } else {
                WaitSpec::None
            }
        }
        "linear" => linear(args, errors),
        "exponential" => exponential(args, errors),
        _ => {
            if let Some(near) = nearest(&name, WAITS) {
                errors.at(ident.span(), format!("unknown wait `{name}`: did you mean `{near}`? expected one of {}, or an expression implementing `Wait`", list(WAITS)));
            }
            WaitSpec::Expr(Expr::Call(syn::ExprCall {
                attrs: call.attrs,
                func: call.func,
                paren_token: call.paren_token,
                args,
            }))
        }
    }
}

fn positional(
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
    let mut durs = Vec::new();
    for arg in args {
        match duration::parse(arg) {
            Ok(d) => durs.push(d),
            Err(e) => errors.push(e),
        }
    }
    if durs.len() == n { durs } else { Vec::new() }
}

/// `name = value` arguments of `linear(..)` and `exponential(..)`.
fn named<'a>(
    args: &'a Punctuated<Expr, Token![,]>,
    what: &str,
    valid: &[&str],
    errors: &mut Errors,
) -> Vec<(String, &'a Expr)> {
    let mut out: Vec<(String, &Expr)> = Vec::new();
    for arg in args {
        let Expr::Assign(assign) = arg else {
            errors.at(
                arg.span(),
                format!(
                    "`{what}` takes named arguments: {}",
                    valid
                        .iter()
                        .map(|v| format!("`{v} = ..`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        let Some(key) = single_ident(&assign.left) else {
            errors.at(
                assign.left.span(),
                format!("expected one of {}", list(valid)),
            );
            continue;
        };
        let name = key.to_string();
        if !valid.contains(&name.as_str()) {
            errors.at(
                key.span(),
                choices(&name, &format!("`{what}` argument"), valid),
            );
        } else if out.iter().any(|(n, _)| *n == name) {
            errors.at(key.span(), format!("duplicate argument `{name}`"));
        } else {
            out.push((name, &assign.right));
        }
    }
    out
}

fn dur_arg(value: &Expr, errors: &mut Errors) -> Option<Dur> {
    duration::parse(value).map_err(|e| errors.push(e)).ok()
}

fn linear(args: Punctuated<Expr, Token![,]>, errors: &mut Errors) -> WaitSpec {
    let (mut initial, mut step, mut max) = (None, None, None);
    for (name, value) in named(&args, "linear", LINEAR_KEYS, errors) {
        let d = dur_arg(value, errors);
        match name.as_str() {
            "initial" => initial = d,
            "step" => step = d,
            _ => max = d,
        }
    }
    if let (Some(i), Some(m)) = (initial, max)
        && i > m
    {
        errors.at(i.span, "`initial` is above `max`");
    }
    WaitSpec::Linear { initial, step, max }
}

fn exponential(args: Punctuated<Expr, Token![,]>, errors: &mut Errors) -> WaitSpec {
    let (mut initial, mut factor, mut min, mut max, mut jitter) = (None, None, None, None, None);
    for (name, value) in named(&args, "exponential", EXPONENTIAL_KEYS, errors) {
        match name.as_str() {
            "initial" => initial = dur_arg(value, errors),
            "min" => min = dur_arg(value, errors),
            "max" => max = dur_arg(value, errors),
            "factor" => factor = factor_arg(value, errors),
            _ => match single_ident(value) {
                Some(ident) if JITTERS.contains(&ident.to_string().as_str()) => {
                    jitter = Some(ident.clone())
                }
                Some(ident) => {
                    errors.at(ident.span(), choices(&ident.to_string(), "jitter", JITTERS))
                }
                None => errors.at(
                    value.span(),
                    format!("expected a jitter kind: one of {}", list(JITTERS)),
                ),
            },
        }
    }
    let effective_max = max.unwrap_or(Dur::from_secs(60, proc_macro2::Span::call_site()));
    if let Some(min) = min
        && min > effective_max
    {
        let why = if max.is_some() {
            "`min` is above `max`"
        } else {
            "`min` is above the default `max` of 60s; set `max` too"
        };
        errors.at(min.span, why);
    }
    WaitSpec::Exponential {
        initial,
        factor,
        min,
        max,
        jitter,
    }
}

fn factor_arg(value: &Expr, errors: &mut Errors) -> Option<f64> {
    let expected = "expected a positive number: `factor = 2` or `factor = 1.5`";
    let parsed = match value {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(i) if i.suffix().is_empty() => i.base10_parse::<f64>().ok(),
            Lit::Float(f) if f.suffix().is_empty() => f.base10_parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    };
    match parsed {
        Some(f) if f.is_finite() && f > 0.0 => Some(f),
        Some(_) => {
            errors.at(value.span(), "`factor` must be above 0");
            None
        }
        None => {
            errors.at(value.span(), expected);
            None
        }
    }
}

fn parse_retry_after(input: ParseStream, errors: &mut Errors) -> syn::Result<RetryAfterSpec> {
    let expected = "expected `honor`, `honor(max = D)` or `ignore`";
    let ident = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), expected))?;
    match ident.to_string().as_str() {
        "ignore" => Ok(RetryAfterSpec::Ignore),
        "honor" if input.peek(syn::token::Paren) => {
            let content;
            syn::parenthesized!(content in input);
            let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            let mut max = None;
            for (_, value) in named(&args, "honor", &["max"], errors) {
                max = dur_arg(value, errors);
            }
            Ok(RetryAfterSpec::Honor(max))
        }
        "honor" => Ok(RetryAfterSpec::Honor(None)),
        other => Err(syn::Error::new(
            ident.span(),
            choices(other, "retry_after policy", &["honor", "ignore"]),
        )),
    }
}

fn parse_hook(input: ParseStream) -> syn::Result<Hook> {
    let expr: Expr = input.parse()?;
    Ok(match single_ident(&expr) {
        Some(ident) if ident == "log" => Hook::Log(ident.span()),
        _ => Hook::Expr(expr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(tokens: TokenStream) -> String {
        let mut errors = Errors::default();
        let _ = Args::parse(tokens, &mut errors);
        errors.finish().map(|t| t.to_string()).unwrap_or_default()
    }

    #[test]
    fn accepts_the_full_vocabulary() {
        let e = errors_of(quote! {
            attempts = 5,
            deadline = 30s,
            timeout = 1.5s,
            wait = exponential(initial = 250ms, factor = 3, min = 1, max = 1m, jitter = decorrelated) + fixed(1) + random(0, 1) + linear(step = 2s) + none,
            on = [Connect, Status(500..=504 | 429), RateLimited => (attempts = 3, wait = fixed(60)), |e: &E| e.is_bad()],
            never = [Status(401 | 403)],
            when_ok = |s: &String| s.is_empty(),
            retry_after = honor(max = 2m),
            before_sleep = log,
            on_giveup = |s| drop(s),
            name = "chat",
            crate = ::retry_runtime,
        });
        assert_eq!(e, "");
    }

    #[test]
    fn reports_every_mistake() {
        let e = errors_of(quote! {
            atempts = 5,
            attempts = 0,
            wait = exponential(min = 10, max = 5),
            on = [Conect, Status(600), Status(504..=500)],
            wait = none,
            deadline = 3h,
        });
        for needle in [
            "did you mean `attempts`",
            "attempts = 0",
            "`min` is above `max`",
            "did you mean `Connect`",
            "`600` is not an HTTP status code",
            "empty range",
            "duplicate key `wait`",
            "unknown duration unit `h`",
        ] {
            assert!(e.contains(needle), "missing {needle:?} in {e}");
        }
    }
}
