use super::*;
use quote::quote;
use syn::Ident;

fn parse(tokens: TokenStream) -> (Args, String) {
    let mut errors = Errors::default();
    let args = Args::parse(tokens, &mut errors);
    let text = errors.finish().map(|t| t.to_string()).unwrap_or_default();
    (args, text)
}

fn errors_of(tokens: TokenStream) -> String {
    parse(tokens).1
}

fn ok(tokens: TokenStream) -> Args {
    let (args, errors) = parse(tokens);
    assert_eq!(errors, "");
    args
}

#[test]
fn accepts_the_full_vocabulary() {
    let e = errors_of(quote! {
        attempts = 5,
        deadline = 30s,
        timeout = 1.5s,
        wait = exponential(initial = 250ms, factor = 3, min = 1, max = 1m, jitter = decorrelated) + fixed(1) + random(0, 1) + linear(step = 2s) + none,
        on = [Connect, Status(500..=504 | 429), RateLimited => (attempts = 3, wait = fixed(60)), |e: &E| e.is_bad(), Default],
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

#[test]
fn bare_wait_forms_take_their_defaults() {
    let args = ok(quote!(wait = exponential));
    assert!(matches!(
        args.wait,
        Some(WaitSpec::Exponential {
            initial: None,
            factor: None,
            min: None,
            max: None,
            jitter: None
        })
    ));
    let args = ok(quote!(wait = linear));
    assert!(matches!(
        args.wait,
        Some(WaitSpec::Linear {
            initial: None,
            step: None,
            max: None
        })
    ));
    assert!(matches!(ok(quote!(wait = none)).wait, Some(WaitSpec::None)));
    assert!(matches!(
        ok(quote!(wait = (none))).wait,
        Some(WaitSpec::None)
    ));
    assert!(
        matches!(ok(quote!(wait = 500ms)).wait, Some(WaitSpec::Fixed(d)) if d.nanos == 500_000_000)
    );
    assert!(matches!(
        ok(quote!(wait = my_wait)).wait,
        Some(WaitSpec::Expr(_))
    ));
    assert!(matches!(
        ok(quote!(wait = a * b)).wait,
        Some(WaitSpec::Expr(_))
    ));
    assert!(matches!(
        ok(quote!(wait = self::w)).wait,
        Some(WaitSpec::Expr(_))
    ));
    assert!(matches!(
        ok(quote!(wait = make(1))).wait,
        Some(WaitSpec::Expr(_))
    ));
    assert!(matches!(
        ok(quote!(wait = fixed(1) + none)).wait,
        Some(WaitSpec::Sum(..))
    ));
    let args = ok(quote!(wait = exponential(jitter = none)));
    assert!(matches!(
        args.wait,
        Some(WaitSpec::Exponential {
            jitter: Some(JitterKind::None),
            ..
        })
    ));
}

#[test]
fn wait_mistakes() {
    for (tokens, needle) in [
        (quote!(wait = none()), "`none` takes no arguments"),
        (quote!(wait = fixed), "`fixed` needs a duration"),
        (quote!(wait = random), "`random` needs two durations"),
        (quote!(wait = fixed()), "`fixed` takes one duration"),
        (quote!(wait = fixed(1, 2)), "`fixed` takes one duration"),
        (quote!(wait = random(1)), "`random` takes two durations"),
        (
            quote!(wait = random(min = 1, max = 2)),
            "`random` takes two durations",
        ),
        (quote!(wait = random(5, 1)), "MIN is above MAX"),
        (
            quote!(wait = linear(initial = 5, max = 1)),
            "`initial` is above `max`",
        ),
        (
            quote!(wait = exponential(initial = 5, max = 1)),
            "`initial` is above `max`",
        ),
        (
            quote!(wait = exponential(initial = 5, factor = 2, max = 1)),
            "`initial` is above `max`",
        ),
        (
            quote!(wait = exponential(initial = 5, factor = 0.5, max = 1, jitter = decorrelated)),
            "`initial` is above `max`",
        ),
        (
            quote!(wait = exponential(min = 61)),
            "above the default `max` of 60s",
        ),
        (
            quote!(wait = exponential(factor = 0)),
            "`factor` must be above 0",
        ),
        (
            quote!(wait = exponential(factor = x)),
            "expected a positive number",
        ),
        (
            quote!(wait = exponential(factor = 2u8)),
            "expected a positive number",
        ),
        (
            quote!(wait = exponential(jitter = ful)),
            "did you mean `full`",
        ),
        (
            quote!(wait = exponential(jitter = 1)),
            "expected a jitter kind",
        ),
        (quote!(wait = exponential(2s)), "takes named arguments"),
        (quote!(wait = exponential(a::b = 1)), "expected one of"),
        (
            quote!(wait = exponential(max = 1, max = 2)),
            "duplicate argument `max`",
        ),
        (
            quote!(wait = exponentail(max = 1)),
            "did you mean `exponential`",
        ),
        (quote!(wait = linear(stp = 1)), "did you mean `step`"),
        (quote!(wait = fixed(-1)), "cannot be negative"),
        (quote!(wait = "1s"), "expected a duration"),
    ] {
        let e = errors_of(tokens.clone());
        assert!(e.contains(needle), "{tokens}: missing {needle:?} in {e}");
    }
    // Exactly at the bounds is fine.
    assert_eq!(errors_of(quote!(wait = exponential(min = 60))), "");
    assert_eq!(errors_of(quote!(wait = random(1, 1))), "");
    assert_eq!(errors_of(quote!(wait = linear(initial = 1, max = 1))), "");
    assert_eq!(errors_of(quote!(wait = exponential(min = 2, max = 2))), "");
}

#[test]
fn a_shrinking_exponential_may_start_above_its_cap() {
    // 120, 60, 30, ... capped at 60: a schedule of its own (API.md: clamped
    // to [min, max]).
    let args = ok(quote!(
        wait = exponential(initial = 120, factor = 0.5, max = 60)
    ));
    assert!(matches!(
        args.wait,
        Some(WaitSpec::Exponential { factor: Some(f), .. }) if f == 0.5
    ));
}

#[test]
fn classes_and_predicates() {
    let on = ok(quote!(
        on = [
            Transient,
            Default,
            connect,
            timeout,
            IS_OK,
            a::B,
            |e: &E| true,
            Any
        ]
    ))
    .on
    .unwrap();
    assert!(
        matches!(&on[0].class, ClassSpec::Set(parts, _) if matches!(parts[..], [SetPart::Named("TRANSIENT")]))
    );
    assert!(matches!(on[1].class, ClassSpec::Default));
    for rule in &on[2..7] {
        assert!(matches!(rule.class, ClassSpec::Predicate(_)));
    }
    assert!(matches!(on[7].class, ClassSpec::Any));
    let on = ok(quote!(on = [Status(500..=504 | 429), Connect => (attempts = 2)]))
        .on
        .unwrap();
    assert!(matches!(&on[0].class, ClassSpec::Set(parts, _)
        if matches!(parts[..], [SetPart::Statuses(500, 504), SetPart::Statuses(429, 429)])));
    assert_eq!(on[1].attempts, Some(2));
    for (name, set) in [
        ("Connect", "CONNECT"),
        ("Timeout", "TIMEOUT"),
        ("RateLimited", "RATE_LIMITED"),
        ("ServerError", "SERVER_ERROR"),
        ("Quota", "QUOTA"),
    ] {
        let ident = Ident::new(name, Span::call_site());
        let on = ok(quote!(on = [#ident])).on.unwrap();
        assert!(
            matches!(&on[0].class, ClassSpec::Set(parts, _) if matches!(parts[..], [SetPart::Named(n)] if n == set))
        );
    }
}

#[test]
fn class_mistakes() {
    for (tokens, needle) in [
        (quote!(on = [Status]), "`Status` needs a code"),
        (quote!(on = [Status(50..60)]), "use an inclusive range"),
        (quote!(on = [Status(500..)]), "needs both ends"),
        (quote!(on = [Status(x)]), "expected a status code"),
        (quote!(on = [Status(99)]), "not an HTTP status code"),
        (quote!(on = [Status(-1)]), "not an HTTP status code"),
        (
            quote!(on = [Status(500, 501)]),
            "expected a status code, an inclusive range",
        ),
        (quote!(on = [Conect]), "did you mean `Connect`"),
        (quote!(on = [Ratelimited]), "did you mean `RateLimited`"),
        (
            quote!(on = [Unknown]),
            "unknown class `Unknown`: expected one of `Any`",
        ),
        (quote!(on = []), "the list is empty"),
        (quote!(on = Connect), "`on` takes a list of rules"),
        (
            quote!(on = [Connect => attempts = 3]),
            "expected overrides in parentheses",
        ),
        (
            quote!(on = [Connect => (atempts = 3)]),
            "did you mean `attempts`",
        ),
        (
            quote!(on = [Connect => (attempts = 3, attempts = 4)]),
            "duplicate override `attempts`",
        ),
        (
            quote!(on = [Connect => (wait = fixed)]),
            "`fixed` needs a duration",
        ),
        (quote!(on = [Connect => (attempts = 0)]), "attempts = 0"),
        (
            quote!(never = [Connect => (attempts = 3)]),
            "without overrides",
        ),
        (quote!(never = [Default]), "`never = [Default]`"),
        (quote!(never = Connect), "`never` takes a list"),
        (quote!(on = [Connect Timeout]), "expected `,`"),
    ] {
        let e = errors_of(tokens.clone());
        assert!(e.contains(needle), "{tokens}: missing {needle:?} in {e}");
    }
}

#[test]
fn key_mistakes() {
    for (tokens, needle) in [
        (quote!(attempts = 5u32), "expected a whole number"),
        (quote!(attempts = x), "expected a whole number"),
        (quote!(attempts = 1.5), "expected a whole number"),
        (quote!(attempts = 4294967296), "too many attempts"),
        (
            quote!(attempts),
            "expected `=` and a value after `attempts`",
        ),
        (
            quote!(attempts = 3 4),
            "unexpected tokens after the value of `attempts`",
        ),
        (quote!("x" = 3), "expected a key: one of `attempts`"),
        (quote!(name = ""), "cannot be empty"),
        (quote!(name = 3), "expected a string"),
        (quote!(name = x), "expected a string"),
        (quote!(crate = 3), "expected a path"),
        (
            quote!(retry_after = obey),
            "unknown retry_after policy `obey`",
        ),
        (
            quote!(retry_after = honor(cap = 1)),
            "unknown `honor` argument `cap`",
        ),
        (quote!(retry_after = 3), "expected `honor`"),
        (
            quote!(colour = 3),
            "unknown key `colour`: expected one of `attempts`",
        ),
        (
            quote!(attempts = 1, attempts = 2),
            "duplicate key `attempts`",
        ),
    ] {
        let e = errors_of(tokens.clone());
        assert!(e.contains(needle), "{tokens}: missing {needle:?} in {e}");
    }
}

#[test]
fn values_are_read() {
    let args = ok(quote!(
        attempts = 4294967295,
        deadline = 2,
        timeout = 250ms,
        retry_after = honor(max = 5s),
        name = "x",
        before_sleep = log,
        on_giveup = report
    ));
    assert_eq!(args.attempts, Some(u32::MAX));
    assert_eq!(args.deadline.unwrap().nanos, 2_000_000_000);
    assert_eq!(args.timeout.unwrap().nanos, 250_000_000);
    assert!(
        matches!(args.retry_after, Some(RetryAfterSpec::Honor(Some(d))) if d.nanos == 5_000_000_000)
    );
    assert!(matches!(args.before_sleep, Some(Hook::Log(_))));
    assert!(matches!(args.on_giveup, Some(Hook::Expr(_))));
    assert!(args.key_span(Key::Timeout).is_some());
    assert!(args.key_span(Key::Wait).is_none());
    assert!(matches!(
        ok(quote!(retry_after = honor)).retry_after,
        Some(RetryAfterSpec::Honor(None))
    ));
    assert!(matches!(
        ok(quote!(retry_after = ignore)).retry_after,
        Some(RetryAfterSpec::Ignore)
    ));
    assert!(
        ok(quote!(attempts = 1,)).attempts == Some(1),
        "a trailing comma is fine"
    );
}

#[test]
fn recovers_after_each_mistake() {
    // Three mistakes, each in a different key, all reported; the good keys
    // between them are still read.
    let (args, e) = parse(quote!(
        attempts = x,
        wait = fixed(2),
        on = [Conect],
        name = "kept"
    ));
    assert!(
        e.contains("expected a whole number") && e.contains("did you mean `Connect`"),
        "{e}"
    );
    assert!(matches!(args.wait, Some(WaitSpec::Fixed(_))));
    assert_eq!(args.name.unwrap().value(), "kept");
}

#[test]
fn guards_that_a_sample_of_mutants_slipped_past() {
    // A one-code range is a range, not an empty one.
    let args = ok(quote!(on = [Status(503..=503)]));
    assert!(matches!(
        &args.on.unwrap()[0].class,
        ClassSpec::Set(parts, _) if matches!(parts[..], [SetPart::Statuses(503, 503)])
    ));
    // A path with attributes is a user's expression, not the built-in `none`.
    assert!(matches!(
        ok(quote!(
            wait = #[allow(unused)]
            none
        ))
        .wait,
        Some(WaitSpec::Expr(_))
    ));
    // A qualified path is a user's expression, not the built-in `none`.
    assert!(matches!(
        ok(quote!(wait = <W>::none)).wait,
        Some(WaitSpec::Expr(_))
    ));
    // `factor` takes a plain number, whole or not; a suffix is a mistake.
    assert!(matches!(
        ok(quote!(wait = exponential(factor = 1.5))).wait,
        Some(WaitSpec::Exponential { factor: Some(f), .. }) if f == 1.5
    ));
    let e = errors_of(quote!(wait = exponential(factor = 1.5f64)));
    assert!(e.contains("expected a positive number"), "{e}");
    // After an unknown key with a value of several tokens, the next key is
    // still read.
    let (args, e) = parse(quote!(colour = deep blue sea, attempts = 0, name = "n"));
    assert!(
        e.contains("unknown key `colour`") && e.contains("attempts"),
        "{e}"
    );
    assert_eq!(args.name.unwrap().value(), "n");
}

/// The limits the attribute checks are the runtime's, written in its
/// `policy/defaults.rs`: read there, they must agree (skipped only where the
/// runtime is not beside this crate, as in a published package).
#[test]
fn the_defaults_mirrored_from_the_runtime_agree_with_it() {
    let runtime = concat!(env!("CARGO_MANIFEST_DIR"), "/../retry-runtime");
    if !std::path::Path::new(runtime).join("Cargo.toml").exists() {
        eprintln!("{runtime} not found: the runtime is not beside this crate");
        return;
    }
    let path = format!("{runtime}/src/policy/defaults.rs");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("const {name}:")))
            .unwrap_or_else(|| panic!("{name} is not in {path}"));
        let value = line.split('=').nth(1).unwrap().trim().trim_end_matches(';');
        value.replace('_', "").parse().unwrap()
    };
    assert_eq!(value("DEFAULT_MAX_SECS"), super::valid::DEFAULT_MAX_SECS);
    assert_eq!(value("MAX_WINDOW"), u64::from(super::valid::MAX_WINDOW));
    assert_eq!(
        value("ADAPTIVE_WINDOW"),
        u64::from(super::valid::ADAPTIVE_WINDOW)
    );
}

#[test]
fn a_fallback_is_a_path_the_expansion_can_call() {
    let printed = |tokens: TokenStream| {
        let path = ok(tokens).fallback.unwrap();
        quote!(#path).to_string().replace(' ', "")
    };
    // Generic arguments become a turbofish in expression position (found
    // by the fuzz test: `fallback = A<>` expanded to `A<>(..)`, which does
    // not parse).
    assert_eq!(printed(quote!(fallback = A<>)), "A::<>");
    assert_eq!(printed(quote!(fallback = m::f<u8>)), "m::f::<u8>");
    assert_eq!(printed(quote!(fallback = m::f::<u8>)), "m::f::<u8>");
    assert_eq!(printed(quote!(fallback = claude)), "claude");
    // A call is no path: the path `F` is read, then the rest is refused.
    let e = errors_of(quote!(fallback = F(u8) -> u8));
    assert!(
        e.contains("unexpected tokens after the value of `fallback`"),
        "{e}"
    );
    // `try` reads as a path segment but not in an expression, where these
    // paths are emitted; `Self` is no module for `crate`.
    let function = "expected the path of a function";
    for (tokens, expected) in [
        (quote!(fallback = try), function),
        (quote!(fallback = m::try), function),
        (quote!(budget = try), "budget"),
        (quote!(breaker = try), "breaker"),
        (quote!(crate = Self), "expected a path to `retry_runtime`"),
        (
            quote!(crate = a::Self),
            "expected a path to `retry_runtime`",
        ),
    ] {
        let e = errors_of(tokens.clone());
        assert!(e.contains(expected), "{tokens}: {e}");
    }
    assert_eq!(printed(quote!(fallback = self::m::f)), "self::m::f");
    assert_eq!(printed(quote!(fallback = super::f)), "super::f");
    assert_eq!(printed(quote!(fallback = crate::f)), "crate::f");
    assert_eq!(printed(quote!(fallback = Self::f)), "Self::f");
    assert!(ok(quote!(crate = self::rt)).krate.is_some());
}

#[test]
fn a_name_is_a_plain_string() {
    let e = errors_of(quote!(name = "x"y));
    assert!(e.contains("without a suffix"), "{e}");
}
