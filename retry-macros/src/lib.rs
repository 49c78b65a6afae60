//! The `#[retry]` attribute. Use it through `retry-runtime`, which re-exports it
//! and documents it: `use retry_runtime::retry;`.

mod args;
mod duration;
mod errors;
mod expand;

use proc_macro::TokenStream;

/// Turns a function into a retry loop; see `retry_runtime` for the keys.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::retry(args.into(), item.into()).into()
}
