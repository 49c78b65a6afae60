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
    // The macro whose arguments come next (`name!`), if any.
    let mut macro_name: Option<String> = None;
    let mut previous: Option<String> = None;
    // Whether the next token starts a statement (where `use` declares).
    let mut statement_start = true;
    while let Some(tt) = iter.next() {
        let starts = statement_start;
        statement_start = match &tt {
            TokenTree::Punct(p) => p.as_char() == ';',
            TokenTree::Group(g) => matches!(g.delimiter(), Delimiter::Brace | Delimiter::Bracket),
            // `pub use`; `pub(crate) use` takes the group with the `pub`
            // (below), so the `use` after it starts the statement too.
            TokenTree::Ident(i) => i == "pub",
            TokenTree::Literal(_) => false,
        };
        let called = match &tt {
            TokenTree::Punct(p) if p.as_char() == '!' => previous.take(),
            _ => None,
        };
        previous = match &tt {
            TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        };
        match tt {
            TokenTree::Punct(p) if (skip_item || in_use) && p.as_char() == ';' => {
                skip_item = false;
                in_use = false;
                out.push(TokenTree::Punct(p));
            }
            other if in_use => out.push(other),
            TokenTree::Ident(ident) if ident == "use" && starts && !skip_item => {
                in_use = true;
                out.push(TokenTree::Ident(ident));
            }
            // `pub(self)`: the visibility of a nested item.
            TokenTree::Ident(ident)
                if ident == "pub" && matches!(iter.peek(), Some(TokenTree::Group(_))) =>
            {
                out.push(TokenTree::Ident(ident));
                let visibility = iter.next().expect("peeked");
                previous = None;
                out.push(visibility);
            }
            TokenTree::Ident(ident)
                if ident == "impl"
                    || ident == "trait"
                    || ident == "mod"
                    || ident == "struct"
                    || ident == "enum"
                    || (ident == "union" && union_item(iter.peek(), out.last())) =>
            {
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
                if let Some(name) = macro_name.take() {
                    inner = rename_format_captures(&name, inner, receiver);
                }
                let mut renamed = Group::new(group.delimiter(), inner);
                renamed.set_span(group.span());
                out.push(TokenTree::Group(renamed));
            }
            other => out.push(other),
        }
        if called.is_some() {
            macro_name = called;
        }
    }
    out.into_iter().collect()
}

/// Whether `union` (a keyword only in front of an item's name) starts an
/// item here: `union Bits { .. }`, not `a.union(&b)`, `let union = ..`,
/// `union as u8` or a label or lifetime (`'union: loop`, `&'union str`).
fn union_item(next: Option<&TokenTree>, before: Option<&TokenTree>) -> bool {
    let after_dot_or_tick =
        matches!(before, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '.' | '\''));
    let named = matches!(
        next,
        Some(TokenTree::Ident(name)) if !matches!(name.to_string().as_str(), "as" | "else" | "in" | "if")
    );
    named && !after_dot_or_tick
}

/// Which argument of a macro is its format string: a position for the
/// standard ones (`format!`, `write!`, `assert_eq!`...), or the first lone
/// string literal for the logging ones (`info!(target: "x", "{self}")`).
enum FormatArg {
    At(usize),
    FirstLiteral,
}

fn format_arg(name: &str) -> Option<FormatArg> {
    Some(match name {
        "format" | "format_args" | "print" | "println" | "eprint" | "eprintln" | "panic"
        | "todo" | "unimplemented" | "unreachable" | "anyhow" | "bail" | "eyre" | "format_err" => {
            FormatArg::At(0)
        }
        "write" | "writeln" | "assert" | "debug_assert" | "ensure" => FormatArg::At(1),
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => FormatArg::At(2),
        "trace" | "debug" | "info" | "warn" | "error" | "event" => FormatArg::FirstLiteral,
        _ => return None,
    })
}

/// In a formatting macro's arguments, the format string's `{self}` /
/// `{self:..}` placeholders (implicit captures of `self`) get [`SELF`]
/// instead. Other string literals are data and stay as they are.
fn rename_format_captures(name: &str, tokens: TokenStream, receiver: Span) -> TokenStream {
    let Some(which) = format_arg(name) else {
        return tokens;
    };
    let mut args: Vec<Vec<TokenTree>> = vec![Vec::new()];
    for tt in tokens {
        let comma = matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',');
        args.last_mut().expect("one argument").push(tt);
        if comma {
            args.push(Vec::new());
        }
    }
    let lone_literal = |arg: &[TokenTree]| {
        let tokens: Vec<&TokenTree> = arg
            .iter()
            .filter(|tt| !matches!(tt, TokenTree::Punct(p) if p.as_char() == ','))
            .collect();
        matches!(tokens[..], [TokenTree::Literal(_)])
    };
    let index = match which {
        FormatArg::At(i) => Some(i),
        FormatArg::FirstLiteral => args.iter().position(|a| lone_literal(a)),
    };
    if let Some(arg) = index
        .and_then(|i| args.get_mut(i))
        .filter(|arg| lone_literal(arg))
    {
        for tt in arg.iter_mut() {
            let TokenTree::Literal(lit) = tt else {
                continue;
            };
            let renamed = syn::parse2::<syn::LitStr>(lit.to_token_stream())
                .ok()
                .and_then(|s| rename_captures(&s.value()));
            if let Some(renamed) = renamed {
                let mut new = Literal::string(&renamed);
                new.set_span(lit.span().resolved_at(receiver));
                *tt = TokenTree::Literal(new);
            }
        }
    }
    args.into_iter().flatten().collect()
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
/// the user would see without the attribute.
///
/// The body is walked as syntax, so a loop's header (`for Msg { text } in
/// msgs`), a closure, an async block, a nested item or a labeled block is
/// never mistaken for the retry loop's level: the answer is exact for every
/// body but what hides in a macro's arguments, which is left alone (there the
/// expansion's labeled block and async blocks still keep a `break` from
/// reaching the retry loop).
pub fn has_loop_exits(block: &syn::Block) -> bool {
    crate::walk::exits(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn renamed(tokens: TokenStream) -> String {
        rename_self(tokens, Span::call_site()).to_string()
    }

    #[test]
    fn a_name_before_an_operator_is_no_macro() {
        // `format + (..)` is arithmetic on a variable, not `format!(..)`.
        let tokens = quote!({
            let format = 1;
            format + ("{self}".len())
        });
        assert_eq!(renamed(tokens.clone()), tokens.to_string());
    }

    #[test]
    fn nested_items_keep_the_self_of_their_macros() {
        // In an item, `self` belongs to the item, even in a macro's input.
        let items = quote!({
            impl A {
                m!(self);
            }
            trait T {
                m!(self);
            }
            mod n {
                m!(self);
            }
            struct S {
                a: m!(self),
            }
            enum E {
                A = m!(self),
            }
            union U {
                a: m!(self),
            }
        });
        assert_eq!(renamed(items.clone()), items.to_string());
    }

    #[test]
    fn union_as_a_name_is_no_item() {
        // `union` is a keyword only before an item's name: as a method, a
        // variable or a binding, the `self` after it is the receiver's.
        let body = quote!({
            let n = self.seen.union(&self.pending).count();
            let union = self.a;
            let b = union as u8 + self.b;
            let Some(c) = union else { return self.c };
            for x in union {
                self.d(x)
            }
            let t = 'union: loop {
                break 'union self.f;
            };
            let n: &'union str = &self.g;
            self.e
        });
        let expected = body.to_string().replace("self", SELF);
        assert_eq!(renamed(body), expected);
        // An item after a method call named `union` keeps its own `self`.
        let items = quote!({
            self.union(1);
            union U {
                a: m!(self),
            }
            self.x
        });
        assert_eq!(
            renamed(items),
            quote!({
                __retry_self.union(1);
                union U {
                    a: m!(self),
                }
                __retry_self.x
            })
            .to_string()
        );
    }

    #[test]
    fn a_use_declaration_anywhere_keeps_its_self() {
        // After another statement, with a visibility, after a block: each
        // `use` starts a statement and its `self` is the module's.
        assert_eq!(
            renamed(quote!({
                let a = self.a;
                pub(crate) use std::fmt::{self as f};
                use std::io::{self};
                {
                    self.b
                }
                use std::fs::{self as fs};
                self.c
            })),
            quote!({
                let a = __retry_self.a;
                pub(crate) use std::fmt::{self as f};
                use std::io::{self};
                {
                    __retry_self.b
                }
                use std::fs::{self as fs};
                __retry_self.c
            })
            .to_string()
        );
        // `use` inside an expression is not a declaration (it is no keyword
        // there, and nothing here is skipped).
        assert_eq!(
            renamed(quote!({ f(self, x) })),
            quote!({ f(__retry_self, x) }).to_string()
        );
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
    fn only_format_strings_are_rewritten() {
        for data in [
            quote!({ assert_eq!(s, "{self}") }),
            quote!({ println!("{}", "{self}") }),
            quote!({ vec!["{self}"] }),
            quote!({ sqlx::query!("select {self}") }),
            quote!({ info!(name = "{self}") }),
            quote!({
                let s = "{self}";
                s
            }),
        ] {
            let out = renamed(data.clone());
            assert!(!out.contains("__retry_self"), "{data}: {out}");
        }
        for format in [
            quote!({ write!(f, "{self}") }),
            quote!({ assert_eq!(a, b, "{self:?}") }),
            quote!({ tracing::info!(target: "x", n = 1, "{self}") }),
            quote!({ std::println!("{self}") }),
            quote!({ assert!(ok, "{self}") }),
            quote!({ panic!("{self}") }),
        ] {
            let out = renamed(format.clone());
            assert!(out.contains("__retry_self"), "{format}: {out}");
        }
    }

    #[test]
    fn nested_items_and_use_keep_their_self() {
        assert_eq!(
            renamed(quote!({
                pub(self) struct X;
                enum E {
                    A,
                }
                self.x
            })),
            quote!({
                pub(self) struct X;
                enum E {
                    A,
                }
                __retry_self.x
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!({
                fn inner() -> impl Sized + use<> {}
                self.x
            })),
            quote!({
                fn inner() -> impl Sized + use<> {}
                __retry_self.x
            })
            .to_string()
        );
        assert_eq!(
            renamed(quote!({
                pub(crate) use a::{self};
                #[allow(unused)]
                use std::io::{self};
                self.y
            })),
            quote!({
                pub(crate) use a::{self};
                #[allow(unused)]
                use std::io::{self};
                __retry_self.y
            })
            .to_string()
        );
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

    fn exits(tokens: TokenStream) -> bool {
        has_loop_exits(&syn::parse2(tokens).unwrap())
    }

    #[test]
    fn stray_loop_exits() {
        assert!(exits(quote!({
            if x {
                break;
            }
        })));
        assert!(exits(quote!({ continue })));
        assert!(exits(quote!({
            match x {
                _ => break,
            }
        })));
        assert!(exits(quote!({
            'a: loop {}
            break 'a;
        })));
        assert!(exits(quote!({
            loop {
                break 'outer;
            }
        })));
        assert!(exits(quote!({ for x in { break } {} })));
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
            quote!({
                let f = || loop {
                    break;
                };
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
            quote!({
                macro_rules! stop {
                    () => {
                        break
                    };
                }
                1
            }),
            // Braces in a loop's header are not its body.
            quote!({
                for Message { role, content } in msgs {
                    if role == "system" {
                        continue;
                    }
                }
            }),
            quote!({
                for &Point { x, y } in &pts {
                    if x > y {
                        break;
                    }
                }
            }),
            quote!({
                while let Msg::Text { body } = rx.recv() {
                    continue;
                }
            }),
            quote!({
                for x in unsafe { f() } {
                    break;
                }
            }),
            quote!({
                while {
                    step();
                    c
                } {
                    break;
                }
            }),
            quote!({
                let v = loop {
                    break 5;
                };
                v
            }),
        ] {
            assert!(!exits(fine.clone()), "{fine}");
        }
        // After a loop's body, the context ends.
        assert!(exits(quote!({
            loop {
                break;
            }
            break;
        })));
    }
}
