//! Collects every error of one expansion so the user sees them all in one
//! build (serde_derive's `Ctxt`). An `Errors` that is dropped without
//! [`Errors::finish`] panics: no error can be lost on the way.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

#[derive(Default)]
pub struct Errors {
    errors: Option<syn::Error>,
    finished: bool,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// The combined errors as `compile_error!` invocations, if there were any.
    pub fn finish(mut self) -> Option<TokenStream> {
        self.finished = true;
        self.errors.take().map(|e| e.to_compile_error())
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("retry-macros: errors were collected but never reported");
        }
    }
}

/// "`a`, `b`, `c`": the one list formatter of every message.
pub fn list<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The valid name nearest to `name`, if one is close enough to be a typo.
pub fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&lower, &v.to_ascii_lowercase()), *v))
        .filter(|(d, v)| *d <= (v.len() / 3).max(1) || (*d <= 2 && v.len() >= 4 && name.len() >= 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// "unknown key `x`: did you mean `y`? expected one of `a`, `b`, ..."
pub fn choices(name: &str, what: &str, valid: &[&str]) -> String {
    let all = list(valid);
    match nearest(name, valid) {
        Some(near) => {
            format!("unknown {what} `{name}`: did you mean `{near}`? expected one of {all}")
        }
        None => format!("unknown {what} `{name}`: expected one of {all}"),
    }
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_only() {
        let keys = ["attempts", "deadline", "timeout", "wait"];
        assert_eq!(nearest("atempts", &keys), Some("attempts"));
        assert_eq!(nearest("wiat", &keys), Some("wait"));
        assert_eq!(nearest("colour", &keys), None);
        assert_eq!(nearest("timout", &keys), Some("timeout"));
        assert_eq!(nearest("ab", &["abc", "xyz"]), Some("abc"));
        assert_eq!(nearest("abcd", &["wxyz"]), None);
        // Two edits are a typo only for names of four letters or more.
        assert_eq!(nearest("wt", &["wait"]), None);
        assert_eq!(
            nearest("expnential", &["exponential", "linear"]),
            Some("exponential")
        );
    }

    #[test]
    fn typo_thresholds() {
        // Two edits in a name of four letters (a third of it is one).
        assert_eq!(edit_distance("waxx", "wait"), 2);
        assert_eq!(nearest("waxx", &["wait"]), Some("wait"));
        // Three edits in a name of eleven: a third of it, rounded down.
        assert_eq!(edit_distance("exonntil", "exponential"), 3);
        assert_eq!(nearest("exonntil", &["exponential"]), Some("exponential"));
        assert_eq!(nearest("exnntil", &["exponential"]), None);
    }

    #[test]
    fn transpositions_count_once() {
        assert_eq!(edit_distance("abcdfe", "abcdef"), 1);
        assert_eq!(edit_distance("bacdef", "abcdef"), 1);
        assert_eq!(edit_distance("abdcef", "abcdef"), 1);
        assert_eq!(edit_distance("wiat", "wait"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn lists_and_choices() {
        assert_eq!(list(&["a", "b"]), "`a`, `b`");
        assert_eq!(list::<&str>(&[]), "");
        assert_eq!(
            choices("atempts", "key", &["attempts", "wait"]),
            "unknown key `atempts`: did you mean `attempts`? expected one of `attempts`, `wait`"
        );
        assert_eq!(
            choices("zzz", "key", &["attempts", "wait"]),
            "unknown key `zzz`: expected one of `attempts`, `wait`"
        );
    }

    #[test]
    fn finish_reports_everything_and_checks_out() {
        let mut errors = Errors::default();
        assert!(Errors::default().finish().is_none());
        errors.at(Span::call_site(), "one");
        errors.at(Span::call_site(), "two");
        let out = errors.finish().unwrap().to_string();
        assert!(out.contains("one") && out.contains("two"), "{out}");
    }

    #[test]
    #[should_panic(expected = "never reported")]
    fn dropping_unchecked_errors_panics() {
        let errors = Errors::default();
        drop(errors);
    }
}
