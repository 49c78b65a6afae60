//! Rewriting and reading the user's body: `self` renamed for each attempt,
//! whether the body may leave early, and `break`/`continue` that would
//! escape into the retry loop.

use proc_macro2::{Delimiter, Group, Ident, Literal, Spacing, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// The name each attempt's receiver is bound to.
pub const SELF: &str = "__retry_self";

/// Renames `self` to [`SELF`] in a method's body, so that each attempt gets
/// its own receiver. Left alone: `self::` paths, `use` declarations
/// (`use std::io::{self, Write};`), and nested items (`fn`, `impl`, `trait`,
/// `mod`), where `self` is theirs. Format strings' implicit captures
/// (`"{self:?}"`) are renamed too.
///
/// Input: `{ use std::io::{self}; println!("{self:?}"); self.go() }`
/// Output: `{ use std::io::{self}; println!("{__retry_self:?}"); __retry_self.go() }`
pub fn rename_self(tokens: TokenStream, receiver: Span) -> TokenStream {
    let mut out = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    let mut skip_item = false;
    let mut in_use = false;
    let mut previous_bang = false;
    while let Some(tt) = iter.next() {
        let bang = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '!');
        match tt {
            TokenTree::Punct(p) if (skip_item || in_use) && p.as_char() == ';' => {
                skip_item = false;
                in_use = false;
                out.push(TokenTree::Punct(p));
            }
            other if in_use => out.push(other),
            TokenTree::Ident(ident) if ident == "use" => {
                in_use = true;
                out.push(TokenTree::Ident(ident));
            }
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
            TokenTree::Ident(ident) if !skip_item && ident == "self" => {
                let path = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                if path {
                    out.push(TokenTree::Ident(ident));
                } else {
                    // The receiver's span: the name resolves where the
                    // per-attempt binding is made.
                    let span = ident.span().resolved_at(receiver);
                    out.push(TokenTree::Ident(Ident::new(SELF, span)));
                }
            }
            TokenTree::Group(group) if !skip_item => {
                let mut inner = rename_self(group.stream(), receiver);
                if previous_bang {
                    inner = rename_format_captures(inner, receiver);
                }
                let mut renamed = Group::new(group.delimiter(), inner);
                renamed.set_span(group.span());
                out.push(TokenTree::Group(renamed));
            }
            other => out.push(other),
        }
        previous_bang = bang;
    }
    out.into_iter().collect()
}

/// In a macro's arguments, string literals whose `{self}` / `{self:..}`
/// placeholders capture `self` implicitly get [`SELF`] instead.
fn rename_format_captures(tokens: TokenStream, receiver: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match &tt {
            TokenTree::Literal(lit) => match syn::parse2::<syn::LitStr>(tt.to_token_stream()) {
                Ok(s) => match rename_captures(&s.value()) {
                    Some(renamed) => {
                        let mut new = Literal::string(&renamed);
                        new.set_span(lit.span().resolved_at(receiver));
                        TokenTree::Literal(new)
                    }
                    None => tt,
                },
                Err(_) => tt,
            },
            _ => tt,
        })
        .collect()
}

/// `format` with every implicit `self` capture renamed; `None` when there is none.
fn rename_captures(format: &str) -> Option<String> {
    let mut out = String::with_capacity(format.len());
    let mut changed = false;
    let mut rest = format;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let doubled = rest[i + 1..].starts_with(&rest[i..i + 1]);
        if doubled {
            out.push_str(&rest[i..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        if &rest[i..i + 1] == "}" {
            out.push('}');
            rest = &rest[i + 1..];
            continue;
        }
        let body = &rest[i + 1..];
        let end = body.find([':', '}']).unwrap_or(body.len());
        out.push('{');
        if body[..end].trim() == "self" {
            out.push_str(SELF);
            changed = true;
        } else {
            out.push_str(&body[..end]);
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
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
pub fn ends_early(tokens: &TokenStream) -> bool {
    let mut previous: Option<TokenTree> = None;
    for tt in tokens.clone() {
        let early = match &tt {
            TokenTree::Ident(i) => i == "return" || i == "loop" || i == "exit" || i == "abort",
            TokenTree::Punct(p) if p.as_char() == '?' => true,
            // `name!` (not `a != b`): a macro that may hide `return` or `?`.
            TokenTree::Punct(p) if p.as_char() == '!' && p.spacing() == Spacing::Alone => {
                match &previous {
                    Some(TokenTree::Ident(name)) => {
                        !PLAIN_MACROS.contains(&name.to_string().as_str())
                    }
                    _ => false,
                }
            }
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

/// Whether a `break` or `continue` stands outside every loop and labeled
/// block of the body: without the attribute that is a compile error, and
/// with it it would leave (or restart) the retry loop. The function is then
/// emitted as written, so that the compiler reports its own error, the one
/// the user would see without the attribute. Loops, labeled blocks,
/// closures, async blocks and nested items are their own context; a macro's
/// arguments are left to the compiler (the expansion's labeled block and
/// async blocks keep a hidden `break` from reaching the retry loop).
pub fn has_loop_exits(tokens: &TokenStream) -> bool {
    let mut iter = tokens.clone().into_iter().peekable();
    // The next brace group is a context of its own (a loop's body, a
    // labeled block, an async block, an item's body).
    let mut own_context = false;
    let mut previous_bang = false;
    while let Some(tt) = iter.next() {
        let bang = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '!');
        match &tt {
            TokenTree::Ident(i)
                if i == "loop"
                    || i == "while"
                    || i == "for"
                    || i == "async"
                    || i == "fn"
                    || i == "impl"
                    || i == "trait"
                    || i == "mod" =>
            {
                own_context = true;
            }
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                // A label: `'a: loop {}` or `'a: {}`.
                if let Some(TokenTree::Ident(_)) = iter.peek() {
                    iter.next();
                    if matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':') {
                        own_context = true;
                    }
                }
            }
            // A closure: a `break` in it cannot reach the retry loop.
            TokenTree::Punct(p) if p.as_char() == '|' => own_context = true,
            TokenTree::Ident(i) if i == "break" || i == "continue" => return true,
            TokenTree::Group(g) => {
                if g.delimiter() == Delimiter::Brace && own_context {
                    own_context = false;
                } else if !previous_bang && has_loop_exits(&g.stream()) {
                    return true;
                }
            }
            TokenTree::Punct(p) if p.as_char() == ';' => own_context = false,
            _ => {}
        }
        previous_bang = bang;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn renamed(tokens: TokenStream) -> String {
        rename_self(tokens, Span::call_site()).to_string()
    }

    #[test]
    fn renames_the_receiver_only() {
        assert_eq!(
            renamed(quote!({
                self.go();
                self::helper();
                Self::new()
            })),
            quote!({
                __retry_self.go();
                self::helper();
                Self::new()
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!({
                use std::io::{self, Write};
                self.x
            })),
            quote!({
                use std::io::{self, Write};
                __retry_self.x
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!({
                fn inner(&self) {
                    self.y
                }
                impl A {
                    fn f(self) {}
                }
                mod m {
                    use self::x;
                }
                self.z
            })),
            quote!({
                fn inner(&self) {
                    self.y
                }
                impl A {
                    fn f(self) {}
                }
                mod m {
                    use self::x;
                }
                __retry_self.z
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!({
                let f = |x| self.a(x);
                f(1)
            })),
            quote!({
                let f = |x| __retry_self.a(x);
                f(1)
            })
            .to_string()
        );
    }

    #[test]
    fn renames_implicit_format_captures() {
        assert_eq!(rename_captures("{self:?}"), Some("{__retry_self:?}".into()));
        assert_eq!(
            rename_captures("a {self} b {x} {{self}} }}"),
            Some("a {__retry_self} b {x} {{self}} }}".into())
        );
        assert_eq!(
            rename_captures("{ self :>5}"),
            Some("{__retry_self:>5}".into())
        );
        assert_eq!(rename_captures("{selfish} {0} {}"), None);
        assert_eq!(rename_captures("{self"), Some("{__retry_self".into()));
        assert_eq!(rename_captures(""), None);
        let out = renamed(quote!({ format!("{self:?} and {}", self.x) }));
        assert!(out.contains("\"{__retry_self:?} and {}\""), "{out}");
        assert!(out.contains("__retry_self . x"), "{out}");
        // Only in macro arguments: a plain string is data.
        let out = renamed(quote!({
            let s = "{self}";
            s
        }));
        assert!(out.contains("\"{self}\""), "{out}");
    }

    #[test]
    fn early_exits() {
        assert!(ends_early(&quote!({ x? })));
        assert!(ends_early(&quote!({
            if a {
                return b;
            }
            c
        })));
        assert!(ends_early(&quote!({ loop {} })));
        assert!(ends_early(&quote!({ std::process::exit(1) })));
        assert!(ends_early(&quote!({ my_macro!(x) })));
        assert!(!ends_early(&quote!({
            println!("{}", a);
            vec![1]
        })));
        assert!(!ends_early(&quote!({ a != b })));
        assert!(!ends_early(&quote!({ f(x).await })));
    }

    #[test]
    fn stray_loop_exits() {
        assert!(has_loop_exits(&quote!({
            if x {
                break;
            }
        })));
        assert!(has_loop_exits(&quote!({ continue })));
        assert!(has_loop_exits(&quote!({
            match x {
                _ => break,
            }
        })));
        for fine in [
            quote!({
                loop {
                    break;
                }
            }),
            quote!({
                while a {
                    continue;
                }
            }),
            quote!({
                for x in y {
                    if x {
                        break;
                    }
                }
            }),
            quote!({
                'a: {
                    break 'a 1;
                }
            }),
            quote!({
                'outer: loop {
                    loop {
                        break 'outer;
                    }
                }
            }),
            quote!({
                let f = || 1;
                f()
            }),
            quote!({ async { 1 }.await }),
            quote!({
                fn inner() {
                    loop {
                        break;
                    }
                }
            }),
            quote!({
                let x = { 1 };
                x
            }),
            quote!({
                my_loop! { break }
            }),
        ] {
            assert!(!has_loop_exits(&fine), "{fine}");
        }
        // After a loop's body, the context ends.
        assert!(has_loop_exits(&quote!({
            loop {
                break;
            }
            break;
        })));
    }
}
