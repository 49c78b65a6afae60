//! Checks of the attribute's values, and of its names: unknown, or given twice.

use std::fmt::Display;

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Token};

use crate::duration::{self, Dur};
use crate::errors::{Errors, choices, list};
use crate::symbol::JitterKind;

use super::parse::single_ident;
use super::*;

/// The one duplicate check: names already given in one list of `name = value`
/// arguments (the attribute's keys, a rule's overrides, a wait's arguments).
pub(super) struct Claims<K>(Vec<K>);

impl<K: Copy + PartialEq + Display> Claims<K> {
    pub(super) fn new() -> Self {
        Claims(Vec::new())
    }

    /// `false` (and an error at `span`) when `key` was given already.
    pub(super) fn claim(&mut self, key: K, span: Span, what: &str, errors: &mut Errors) -> bool {
        if self.0.contains(&key) {
            errors.at(
                span,
                format!("duplicate {what} `{key}`: each {what} may be given once"),
            );
            return false;
        }
        self.0.push(key);
        true
    }
}

/// Reads `name = value` pairs of `args` whose names are the symbols `K`.
pub(super) fn named<'a, K: Copy + PartialEq + Display>(
    args: &'a Punctuated<Expr, Token![,]>,
    what: &str,
    names: &[&str],
    from_name: fn(&str) -> Option<K>,
    errors: &mut Errors,
) -> Vec<(K, &'a Expr)> {
    let mut claims = Claims::new();
    let mut out = Vec::new();
    for arg in args {
        let Expr::Assign(assign) = arg else {
            let usage: Vec<String> = names.iter().map(|n| format!("{n} = ..")).collect();
            errors.at(
                arg.span(),
                format!("`{what}` takes named arguments: {}", list(&usage)),
            );
            continue;
        };
        let Some(ident) = single_ident(&assign.left) else {
            errors.at(
                assign.left.span(),
                format!("expected one of {}", list(names)),
            );
            continue;
        };
        let name = ident.to_string();
        match from_name(&name) {
            None => errors.at(
                ident.span(),
                choices(&name, &format!("`{what}` argument"), names),
            ),
            Some(key) => {
                if claims.claim(key, ident.span(), "argument", errors) {
                    out.push((key, &*assign.right));
                }
            }
        }
    }
    out
}

pub(super) fn attempts_from(expr: &Expr) -> syn::Result<u32> {
    let expected = "expected a whole number of attempts, at least 1: `attempts = 5`";
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(int), ..
    }) = expr
    else {
        return Err(syn::Error::new(expr.span(), expected));
    };
    if !int.suffix().is_empty() {
        return Err(syn::Error::new(int.span(), expected));
    }
    let value: u32 = int
        .base10_parse()
        .map_err(|_| syn::Error::new(int.span(), "too many attempts: at most u32::MAX"))?;
    if value == 0 {
        return Err(syn::Error::new(
            int.span(),
            "`attempts = 0` would never run the function: attempts count the first one, so use at least 1",
        ));
    }
    Ok(value)
}

/// `deadline = D` or `timeout = D`: a duration above zero (zero would cut
/// every attempt before it starts, and the function would never run).
pub(super) fn limit_from(key: Key, expr: &Expr) -> syn::Result<Dur> {
    let limit = duration::parse(expr)?;
    if limit.nanos == 0 {
        return Err(syn::Error::new(
            limit.span,
            format!(
                "`{key} = 0` would stop every attempt before it starts: use a duration above zero, or leave `{key}` out"
            ),
        ));
    }
    Ok(limit)
}

pub(super) fn status_code(expr: &Expr) -> syn::Result<u16> {
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(int), ..
    }) = expr
    {
        if let Some(code) = int
            .base10_parse::<u16>()
            .ok()
            .filter(|code| (100..=599).contains(code))
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

pub(super) fn dur_arg(value: &Expr, errors: &mut Errors) -> Option<Dur> {
    duration::parse(value).map_err(|e| errors.push(e)).ok()
}

// Mirrored from `retry-runtime/src/policy/defaults.rs`, where they are
// written, under the same names: a test here reads them there and fails
// when the two disagree.

/// `exponential`'s default cap, for the `min` check.
pub const DEFAULT_MAX_SECS: u64 = 60;

/// The most attempts an adaptive window holds.
pub(super) const MAX_WINDOW: u32 = 4096;

/// The attempts `adaptive(..)` remembers without a `window` (what its
/// messages suggest; the expansion names the runtime's own constant).
pub(super) const ADAPTIVE_WINDOW: u32 = 100;

/// A plain number literal (no suffix), whole or not.
pub(super) fn plain_number(value: &Expr) -> Option<f64> {
    match value {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(i) if i.suffix().is_empty() => i.base10_parse::<f64>().ok(),
            Lit::Float(f) if f.suffix().is_empty() => f.base10_parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn scale_arg(value: &Expr, errors: &mut Errors) -> Option<f64> {
    match plain_number(value) {
        Some(f) if f.is_finite() => Some(f),
        _ => {
            errors.at(
                value.span(),
                "expected a number of at least 0: `scale = 3` or `scale = 0.5`",
            );
            None
        }
    }
}

pub(super) fn jitter_arg(value: &Expr, errors: &mut Errors) -> Option<JitterKind> {
    let Some(ident) = single_ident(value) else {
        errors.at(
            value.span(),
            format!("expected a jitter kind: one of {}", list(JitterKind::NAMES)),
        );
        return None;
    };
    let name = ident.to_string();
    let kind = JitterKind::from_name(&name);
    if kind.is_none() {
        errors.at(ident.span(), choices(&name, "jitter", JitterKind::NAMES));
    }
    kind
}

pub(super) fn factor_arg(value: &Expr, errors: &mut Errors) -> Option<f64> {
    match plain_number(value) {
        Some(f) if f.is_finite() && f > 0.0 => Some(f),
        Some(_) => {
            errors.at(value.span(), "`factor` must be above 0");
            None
        }
        None => {
            errors.at(
                value.span(),
                "expected a positive number: `factor = 2` or `factor = 1.5`",
            );
            None
        }
    }
}

impl Args {
    /// A function has one adaptive window: every `adaptive` wait of it must
    /// name the same one (`window = N` or `shared = PATH`).
    pub(super) fn check_windows(&self, errors: &mut Errors) {
        fn windows(spec: &WaitSpec, out: &mut Vec<(String, Span)>) {
            match spec {
                WaitSpec::Adaptive {
                    window,
                    shared,
                    span,
                    inner,
                    ..
                } => {
                    let which = match (window, shared) {
                        (_, Some(path)) => quote::quote!(#path).to_string(),
                        (Some((n, _)), None) => n.to_string(),
                        (None, None) => ADAPTIVE_WINDOW.to_string(),
                    };
                    out.push((which, *span));
                    windows(inner, out);
                }
                WaitSpec::Sum(a, b) => {
                    windows(a, out);
                    windows(b, out);
                }
                _ => {}
            }
        }
        let mut found = Vec::new();
        let rules = self.on.iter().flatten().filter_map(|r| r.wait.as_ref());
        for spec in self.wait.iter().chain(rules) {
            windows(spec, &mut found);
        }
        if let Some((first, _)) = found.first() {
            for (other, span) in &found[1..] {
                if other != first {
                    errors.at(
                        *span,
                        "a function has one adaptive window: give every `adaptive` the same `window` or `shared`",
                    );
                }
            }
        }
    }
}
