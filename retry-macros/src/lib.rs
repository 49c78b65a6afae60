//! The `#[retry]` attribute. Use it through `retry-runtime`, which re-exports it
//! and documents it: `use retry_runtime::retry;`.
//!
//! One stage per file: `args` parses the attribute into the crate's model
//! (names from `symbol`, durations from `duration`), `check` checks what
//! spans the attribute and the signature, `body` reads and rewrites the
//! user's body, `expand` emits the loop; `errors` collects every mistake; `walk` walks
//! the parts of syn's tree they look into.

mod args;
mod body;
mod check;
mod duration;
mod errors;
mod expand;
#[cfg(test)]
mod fuzz;
mod symbol;
mod walk;

use proc_macro::TokenStream;

/// Turns a function into a retry loop; see `retry_runtime` for the keys.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::retry(args.into(), item.into()).into()
}
