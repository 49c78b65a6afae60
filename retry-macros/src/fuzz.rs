//! Fuzzes the attribute: generated token streams (valid keys with random
//! values, garbage, truncations, nesting) go through the macro's entry
//! function as a library call. Every input must yield an expansion or
//! `compile_error!`s, never a panic, and the output must parse as Rust items
//! (else rustc reports the expansion's syntax, not the attribute's mistake).
//!
//! `RETRY_FUZZ_CASES` sets the number of cases (100,000 by default; the
//! longer run in the README uses 2,000,000).

use std::str::FromStr;

use proc_macro2::TokenStream;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::expand;
use crate::symbol::{ClassName, Key};

const VALUES: &[&str] = &[
    "0",
    "1",
    "5",
    "4294967295",
    "4294967296",
    "99999999999999999999999999",
    "-1",
    "1.5",
    "0.0",
    "2s",
    "250ms",
    "1m",
    "3h",
    "1e3",
    "1e400",
    "1.5s",
    "0ms",
    "18446744073709551615",
    "\"x\"",
    "\"\"",
    "b'x'",
    "true",
    "x",
    "log",
    "none",
    "honor",
    "ignore",
    "honor(max = 5s)",
    "honor(max = )",
    "honor(cap = 1)",
    "|e: &E| e.ok()",
    "|s| drop(s)",
    "::a::b",
    "crate",
    "self::w",
    "a + b",
    "-",
    "=>",
    "()",
    "[]",
    "{}",
    "fixed",
    "random",
    "linear",
    "exponential",
    "none()",
    "fixed()",
    "fixed(1)",
    "fixed(1, 2)",
    "fixed(-1)",
    "random(1)",
    "random(5, 1)",
    "random(1s, 2s)",
    "linear(step = 2s)",
    "linear(initial = 5, max = 1)",
    "linear(x = 1)",
    "exponential(max = 1m, jitter = decorrelated)",
    "exponential(min = 10, max = 5)",
    "exponential(factor = 0)",
    "exponential(factor = 1e308)",
    "exponential(factor = x)",
    "exponential(jitter = ful)",
    "exponential(2s)",
    "exponential(max = 1, max = 2)",
    "exponential(initial = 0) + fixed(1) + none",
    "(none)",
    "my_wait()",
    "Slow",
    // Paths the expansion emits in expression position (`fallback`,
    // `budget`, `breaker`) or in a `use` (`crate`).
    "try",
    "Self",
    "a::Self",
    "f<u8>",
    "f::<u8>",
    "A<>",
    "f<'a>",
    "<T as X>::f",
    "F(u8) -> u8",
];

fn class() -> impl Strategy<Value = String> {
    let names = ClassName::NAMES
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    prop_oneof![
        proptest::sample::select(names),
        Just("Status(500..=504 | 429)".to_string()),
        Just("Status(600)".to_string()),
        Just("Status(504..=500)".to_string()),
        Just("Status(50..60)".to_string()),
        Just("Status(500..)".to_string()),
        Just("Status(x)".to_string()),
        Just("Status()".to_string()),
        Just("Conect".to_string()),
        Just("connect".to_string()),
        Just("|e: &E| true".to_string()),
        Just("IS_OK".to_string()),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        class(),
        proptest::option::of(proptest::sample::select(VALUES)),
        any::<u8>(),
    )
        .prop_map(|(class, value, shape)| match (value, shape % 4) {
            (Some(v), 0) => format!("{class} => (attempts = {v})"),
            (Some(v), 1) => format!("{class} => (wait = {v}, attempts = 2)"),
            (Some(v), 2) => format!("{class} => ({v})"),
            _ => class,
        })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(VALUES).prop_map(str::to_string),
        2 => proptest::collection::vec(rule(), 0..4).prop_map(|r| format!("[{}]", r.join(", "))),
        1 => "[ -~]{0,12}",
    ]
}

fn entry() -> impl Strategy<Value = String> {
    let keys = Key::NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    prop_oneof![
        8 => (proptest::sample::select(keys), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => ("[a-z_]{1,10}", value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[ -~]{0,10}",
    ]
}

fn attribute() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(entry(), 0..8),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(entries, cut, truncate)| {
            let text = entries.join(", ");
            if truncate && !text.is_empty() {
                let mut at = usize::from(cut) % text.len();
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text[..at].to_string()
            } else {
                text
            }
        })
}

const ITEMS: &[&str] = &[
    "async fn f(a: &str, b: String) -> Result<u32, E> { Ok(1) }",
    "fn f(x: u32) -> std::io::Result<u32> { if x > 1 { return Ok(x); } Ok(0) }",
    "async fn f(&mut self, (a, b): (u8, u8)) -> Result<&'static str, E> { self.go()?; Ok(\"\") }",
    "async fn f() -> Result<impl Display, E> { loop { break; } }",
    "fn f() {}",
    "struct S;",
    "async fn f(self: Pin<&mut Self>) -> Result<(), E> { format!(\"{self:?}\"); Ok(()) }",
    "async fn f() -> Result<u32, E> { #![allow(unused)] #[allow(x)] let a = 1; Ok(a) }",
    "fn f() -> Result<u32, E> { #![doc = \"x\"] break }",
    "fn f() -> Result<u32, E>;",
    "impl S { fn f() {} }",
    "extern \"C\" { fn f(); }",
];

#[test]
fn the_attribute_never_panics() {
    let cases = std::env::var("RETRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let items: Vec<TokenStream> = ITEMS
        .iter()
        .map(|i| TokenStream::from_str(i).unwrap())
        .collect();
    let expanded = std::cell::Cell::new(0u64);
    runner
        .run(&(attribute(), 0..ITEMS.len()), |(text, item)| {
            // Text that does not lex (an unclosed bracket) never reaches a macro.
            if let Ok(args) = TokenStream::from_str(&text) {
                let out = expand::retry(args, items[item].clone());
                // Always Rust items: the expansion, or the errors and the
                // function as written.
                let file = syn::parse2::<syn::File>(out);
                prop_assert!(file.is_ok(), "{text}: {:?}", file.err());
                prop_assert!(!file.unwrap().items.is_empty(), "{text}");
                expanded.set(expanded.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let expanded = expanded.get();
    assert!(
        expanded > u64::from(cases) / 2,
        "only {expanded} inputs lexed"
    );
}
