//! Duration literals: `2` and `0.5` are seconds; `250ms`, `2s`, `1.5s`, `1m` pick the unit.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, Lit, UnOp};

/// A duration known at compile time, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Dur {
    pub nanos: u128,
    pub span: Span,
}

impl PartialEq for Dur {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl PartialOrd for Dur {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.nanos.partial_cmp(&other.nanos)
    }
}

impl Dur {
    pub fn from_secs(secs: u64, span: Span) -> Self {
        Dur {
            nanos: u128::from(secs) * 1_000_000_000,
            span,
        }
    }

    /// `::core::time::Duration::new(secs, nanos)`.
    pub fn tokens(&self) -> TokenStream {
        let secs = (self.nanos / 1_000_000_000) as u64;
        let nanos = (self.nanos % 1_000_000_000) as u32;
        quote!(::core::time::Duration::new(#secs, #nanos))
    }
}

const MAX_NANOS: u128 = u64::MAX as u128 * 1_000_000_000;

pub fn parse(expr: &Expr) -> syn::Result<Dur> {
    let span = expr.span();
    let expected = || {
        syn::Error::new(
            span,
            "expected a duration: seconds as a number (`2`, `0.5`) or with a unit (`250ms`, `2s`, `1.5s`, `1m`)",
        )
    };
    let (digits, suffix) = match strip(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => (int.base10_digits().to_string(), int.suffix().to_string()),
            Lit::Float(float) => (
                float.base10_digits().to_string(),
                float.suffix().to_string(),
            ),
            _ => return Err(expected()),
        },
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
            return Err(syn::Error::new(span, "a duration cannot be negative"));
        }
        _ => return Err(expected()),
    };
    let unit: u128 = match suffix.as_str() {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        other => {
            return Err(syn::Error::new(
                span,
                format!(
                    "unknown duration unit `{other}`: expected `ms`, `s` or `m` (a bare number is seconds)"
                ),
            ));
        }
    };
    let nanos = decimal_times(&digits, unit).ok_or_else(|| {
        syn::Error::new(
            span,
            "this duration is too large (at most u64::MAX seconds)",
        )
    })?;
    if nanos > MAX_NANOS {
        return Err(syn::Error::new(
            span,
            "this duration is too large (at most u64::MAX seconds)",
        ));
    }
    Ok(Dur { nanos, span })
}

fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(g) => strip(&g.expr),
        Expr::Paren(p) => strip(&p.expr),
        other => other,
    }
}

/// The most fraction digits read: beyond them no digit can change the
/// rounded nanosecond (the largest unit is 6·10^10 ns).
const FRACTION_DIGITS: usize = 25;

/// `digits` (a decimal such as `1.25`, or `1e3`) times `unit`, rounded to
/// the nearest nanosecond, exactly (no float on the way).
fn decimal_times(digits: &str, unit: u128) -> Option<u128> {
    let plain = without_exponent(digits)?;
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let whole = int.checked_mul(unit)?;
    // The fraction as an integer over 10^k, times the unit, rounded half up.
    let frac: String = frac.chars().take(FRACTION_DIGITS).collect();
    if frac.is_empty() {
        return Some(whole);
    }
    let over = 10u128.pow(frac.len() as u32);
    let f: u128 = frac.parse().ok()?;
    whole.checked_add((f * unit + over / 2) / over)
}

/// `1.5e3` as `1500`, `25e-1` as `2.5`: the decimal point moved within the
/// digits. `None` for an exponent so large that the value is too large.
fn without_exponent(digits: &str) -> Option<String> {
    let Some((mantissa, exponent)) = digits.split_once(['e', 'E']) else {
        return Some(digits.to_string());
    };
    let exponent: i64 = exponent.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    // Past `i64`: past any duration too.
    let point = (int.len() as i64).checked_add(exponent).unwrap_or(i64::MAX);
    if point > 60 {
        // Past any duration that fits: too large (unless all digits are 0).
        return all.chars().all(|c| c == '0').then(|| "0".to_string());
    }
    if point <= 0 {
        let zeros = usize::try_from(point.unsigned_abs())
            .unwrap_or(usize::MAX)
            .min(FRACTION_DIGITS + 1);
        return Some(format!("0.{}{all}", "0".repeat(zeros)));
    }
    let point = point as usize;
    Some(if point >= all.len() {
        format!("{all}{}", "0".repeat(point - all.len()))
    } else {
        format!("{}.{}", &all[..point], &all[point..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(src: &str) -> Result<u128, String> {
        let expr: Expr = syn::parse_str(src).unwrap();
        parse(&expr).map(|d| d.nanos).map_err(|e| e.to_string())
    }

    #[test]
    fn units() {
        assert_eq!(nanos("2"), Ok(2_000_000_000));
        assert_eq!(nanos("0.5"), Ok(500_000_000));
        assert_eq!(nanos("250ms"), Ok(250_000_000));
        assert_eq!(nanos("2s"), Ok(2_000_000_000));
        assert_eq!(nanos("1.5s"), Ok(1_500_000_000));
        assert_eq!(nanos("1m"), Ok(60_000_000_000));
        assert_eq!(nanos("0.0015ms"), Ok(1_500));
        assert_eq!(nanos("1_000ms"), Ok(1_000_000_000));
    }

    #[test]
    fn mistakes() {
        assert!(nanos("-1").unwrap_err().contains("negative"));
        assert!(
            nanos("3h")
                .unwrap_err()
                .contains("unknown duration unit `h`")
        );
        assert!(nanos("\"3s\"").unwrap_err().contains("expected a duration"));
        assert!(
            nanos("99999999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        // Another operator is no duration, and no negative one either.
        let not = nanos("!5").unwrap_err();
        assert!(
            not.contains("expected a duration") && !not.contains("negative"),
            "{not}"
        );
    }

    #[test]
    fn fractions_round_to_the_nearest_nanosecond() {
        assert_eq!(nanos("0.000000001"), Ok(1));
        assert_eq!(nanos("0.0000000015"), Ok(2));
        assert_eq!(nanos("0.0000000014"), Ok(1));
        assert_eq!(
            nanos("0.00000000149"),
            Ok(1),
            "only the first digit below rounds"
        );
        // A minute's tenth digit is worth 6 ns.
        assert_eq!(nanos("0.0000000001m"), Ok(6));
        assert_eq!(nanos("0.00000000001m"), Ok(1));
        assert_eq!(nanos("1e3ms"), Ok(1_000_000_000));
        assert_eq!(nanos("1.5e1"), Ok(15_000_000_000));
        // Every digit below counts: 0.54 ns and 4.74 ns in minutes.
        assert_eq!(nanos("0.000000000009m"), Ok(1));
        assert_eq!(nanos("0.000000000079m"), Ok(5));
        // Exponents move the point; no float on the way.
        assert_eq!(nanos("1.000000001e10"), Ok(10_000_000_010_000_000_000));
        assert_eq!(nanos("1.0000000005e0"), nanos("1.0000000005"));
        assert_eq!(nanos("25e-1"), Ok(2_500_000_000));
        assert_eq!(nanos("5e-10"), Ok(1));
        assert_eq!(
            nanos("18446744073709551615e0"),
            Ok(u128::from(u64::MAX) * 1_000_000_000)
        );
        assert!(nanos("1e100").unwrap_err().contains("too large"));
        assert_eq!(nanos("0e100"), Ok(0));
        assert_eq!(nanos("1e-100"), Ok(0));
        // Exponents at the ends of `i64`: no overflow in the macro.
        assert!(
            nanos("1e9223372036854775807")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(nanos("0e9223372036854775807"), Ok(0));
        assert_eq!(nanos("1e-9223372036854775808"), Ok(0));
        assert_eq!(nanos("0.5e-9223372036854775808"), Ok(0));
    }

    #[test]
    fn the_largest_duration_is_u64_max_seconds() {
        let max = u128::from(u64::MAX) * 1_000_000_000;
        assert_eq!(nanos("18446744073709551615"), Ok(max));
        assert!(
            nanos("18446744073709551616")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            nanos("18446744073709551615.5")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations_compare_by_value_not_by_place() {
        let (a, b) = (Span::call_site(), Span::mixed_site());
        assert_eq!(
            Dur::from_secs(2, a),
            Dur {
                nanos: 2_000_000_000,
                span: b
            }
        );
        assert_ne!(Dur::from_secs(2, a), Dur::from_secs(3, a));
        assert!(Dur::from_secs(2, a) < Dur::from_secs(3, b));
    }
}
