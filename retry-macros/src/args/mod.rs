//! Parses the attribute's arguments into the crate's own model. Every mistake
//! is recorded (not returned) so that all of them are reported in one build;
//! parsing then resumes at the next top-level comma.
//!
//! The model is here; `parse` reads the tokens into it, `valid` checks the
//! values (and names, and that nothing is given twice).

mod parse;
mod valid;

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, LitStr, Path};

use crate::duration::Dur;
use crate::errors::Errors;
use crate::symbol::{JitterKind, Key};

/// The attribute, parsed.
#[derive(Default)]
pub struct Args {
    pub attempts: Option<u32>,
    pub deadline: Option<Dur>,
    pub timeout: Option<Dur>,
    pub wait: Option<WaitSpec>,
    pub on: Option<Vec<RuleSpec>>,
    pub never: Option<Vec<ClassSpec>>,
    pub when_ok: Option<Expr>,
    pub retry_after: Option<RetryAfterSpec>,
    pub before_sleep: Option<Hook>,
    pub on_giveup: Option<Hook>,
    pub name: Option<LitStr>,
    pub budget: Option<Path>,
    pub breaker: Option<Path>,
    /// A function called with the same arguments when the call gives up
    /// with an error.
    pub fallback: Option<Path>,
    /// The classes of the errors handed to the fallback (all when absent).
    pub fallback_on: Option<Vec<ClassSpec>>,
    /// The name the body sees the running attempt under.
    pub attempt: Option<syn::Ident>,
    /// The name of a function, emitted beside this one, that returns the
    /// same policy as a `&'static Retrying` (for the function's stream).
    pub policy: Option<syn::Ident>,
    pub krate: Option<Path>,
    /// Where each key was written, for checks that span several keys.
    keys: Vec<(Key, Span)>,
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
        jitter: Option<JitterKind>,
    },
    Sum(Box<WaitSpec>, Box<WaitSpec>),
    Adaptive {
        inner: Box<WaitSpec>,
        scale: Option<f64>,
        /// The attempts the function's own window remembers.
        window: Option<(u32, Span)>,
        max: Option<Dur>,
        /// A window the user declared, shared with other functions.
        shared: Option<Path>,
        /// The `adaptive` token.
        span: Span,
    },
    Expr(Expr),
}

pub enum ClassSpec {
    Any,
    /// What the default `on` retries (`Transient` for a `Classify` type, else `Any`).
    Default,
    /// A built-in class as `ClassSet` building blocks, and the token it came from.
    Set(Vec<SetPart>, Span),
    Predicate(Expr),
}

#[derive(Clone, PartialEq, Eq)]
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
        args.check_windows(errors);
        args
    }
    /// Where `key` was written, if it was.
    pub fn key_span(&self, key: Key) -> Option<Span> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, s)| *s)
    }
}

#[cfg(test)]
mod tests;
