//! The number syntax of the command line.
//!
//! A number is a sum or difference of terms, evaluated exactly in u128:
//! - plain digits, with `_` allowed between them: `1000000`, `1_000_000`;
//! - scientific: `1e9`, `2.5e6` (the result must be a whole number: `1e9.5` and `1.5e0`
//!   are refused);
//! - powers: `10^12`, `2^64`;
//! - sums and differences of those: `2^64+1e6`, `2^64-59`.
//!
//! Anything else, or a value outside 0..=2^128-1 at any step, is an error that names the
//! text, so the CLI can say which argument was wrong.

use std::fmt;

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumError {
    /// Nothing to parse.
    Empty,
    /// A character or arrangement the syntax does not allow.
    Syntax { text: String, why: &'static str },
    /// The value leaves 0..=2^128-1.
    OutOfRange { text: String },
    /// A scientific or fractional form that is not a whole number.
    NotWhole { text: String },
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumError::Empty => write!(f, "empty number"),
            NumError::Syntax { text, why } => write!(
                f,
                "'{text}' is not a number: {why} (write e.g. 1000000, 1_000_000, 1e9, 10^12, 2^64+1e6)"
            ),
            NumError::OutOfRange { text } => {
                write!(f, "'{text}' is outside 0..=2^128-1 (340282366920938463463374607431768211455)")
            }
            NumError::NotWhole { text } => write!(f, "'{text}' is not a whole number"),
        }
    }
}

impl std::error::Error for NumError {}

/// Parses a number in the syntax of the module doc.
pub fn parse(text: &str) -> Result<u128, NumError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(NumError::Empty);
    }
    let syntax = |why| NumError::Syntax {
        text: text.to_string(),
        why,
    };
    let range = || NumError::OutOfRange {
        text: text.to_string(),
    };
    // The running sum carries one bit past u128 so that `2^128-1` works: (hi, lo) stands
    // for hi * 2^128 + lo, and only hi = 0 is a valid result.
    let mut total: (i8, u128) = (0, 0);
    let mut sign_add = true;
    let mut rest = s;
    loop {
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let term_text = &rest[..end];
        if term_text.is_empty() {
            return Err(syntax("a '+' or '-' without a number beside it"));
        }
        let (term_hi, term_lo) = parse_term(term_text, text)?;
        total = if sign_add {
            let (lo, carry) = total.1.overflowing_add(term_lo);
            (total.0 + term_hi as i8 + carry as i8, lo)
        } else {
            let (lo, borrow) = total.1.overflowing_sub(term_lo);
            (total.0 - term_hi as i8 - borrow as i8, lo)
        };
        if !(0..=1).contains(&total.0) {
            return Err(range());
        }
        if end == rest.len() {
            return if total.0 == 0 {
                Ok(total.1)
            } else {
                Err(range())
            };
        }
        sign_add = rest.as_bytes()[end] == b'+';
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Err(syntax("ends with an operator"));
        }
    }
}

/// One term: digits, `M e E` or `B ^ E`, as (hi, lo) with hi = 1 only for exactly 2^128.
fn parse_term(term: &str, whole: &str) -> Result<(u8, u128), NumError> {
    let range = || NumError::OutOfRange {
        text: whole.to_string(),
    };
    if let Some((base, exp)) = term.split_once('^') {
        let syntax = NumError::Syntax {
            text: whole.to_string(),
            why: "'^' needs whole numbers on both sides",
        };
        let base = parse_digits(base).ok_or(syntax.clone())?;
        let exp = parse_digits(exp).ok_or(syntax)?;
        let exp = u32::try_from(exp).map_err(|_| range())?;
        if let Some(v) = base.checked_pow(exp) {
            return Ok((0, v));
        }
        // The one value past u128 a term may have: 2^128 (= 2^k raised to 128/k).
        let k = base.trailing_zeros();
        if base.is_power_of_two() && k as u64 * exp as u64 == 128 {
            return Ok((1, 0));
        }
        return Err(range());
    }
    parse_plain_term(term, whole).map(|v| (0, v))
}

/// A term without `^`: digits or `M e E`.
fn parse_plain_term(term: &str, whole: &str) -> Result<u128, NumError> {
    let syntax = |why| NumError::Syntax {
        text: whole.to_string(),
        why,
    };
    let range = || NumError::OutOfRange {
        text: whole.to_string(),
    };
    if let Some((mant, exp)) = term.split_once(['e', 'E']) {
        let exp = parse_digits(exp).ok_or_else(|| {
            if exp.contains('.') {
                NumError::NotWhole {
                    text: whole.to_string(),
                }
            } else {
                syntax("the exponent after 'e' must be whole digits")
            }
        })?;
        let exp = u32::try_from(exp).map_err(|_| range())?;
        let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(syntax("'e' needs a number before it"));
        }
        let digits = format!("{int_part}{frac_part}");
        let mantissa =
            parse_digits(&digits).ok_or_else(|| syntax("the part before 'e' must be a number"))?;
        let frac_len = frac_part.len() as u32;
        if exp < frac_len {
            // Only whole if the dropped digits are zeros.
            let div = 10u128.checked_pow(frac_len - exp).ok_or_else(range)?;
            if mantissa % div != 0 {
                return Err(NumError::NotWhole {
                    text: whole.to_string(),
                });
            }
            return Ok(mantissa / div);
        }
        let scale = 10u128.checked_pow(exp - frac_len).ok_or_else(range)?;
        return mantissa.checked_mul(scale).ok_or_else(range);
    }
    if term.contains('.') {
        return Err(NumError::NotWhole {
            text: whole.to_string(),
        });
    }
    match parse_digits(term) {
        Some(v) => Ok(v),
        None if term.bytes().all(|b| b.is_ascii_digit() || b == b'_') && !term.is_empty() => {
            // Only digits and underscores but no value: too big, or misplaced '_'.
            if term.starts_with('_') || term.ends_with('_') || term.contains("__") {
                Err(syntax("'_' may only stand between digits"))
            } else {
                Err(range())
            }
        }
        None => Err(syntax("unexpected character")),
    }
}

/// Whole decimal digits with single `_` between them; `None` if not that or too big.
fn parse_digits(s: &str) -> Option<u128> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let mut v: u128 = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => v = v.checked_mul(10)?.checked_add((b - b'0') as u128)?,
            b'_' => {}
            _ => return None,
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("1000000"), Ok(1_000_000));
        assert_eq!(parse("1_000_000"), Ok(1_000_000));
        assert_eq!(parse("1e9"), Ok(1_000_000_000));
        assert_eq!(parse("1E3"), Ok(1000));
        assert_eq!(parse("2.5e6"), Ok(2_500_000));
        assert_eq!(parse("10^12"), Ok(1_000_000_000_000));
        assert_eq!(parse("2^64"), Ok(1 << 64));
        assert_eq!(parse("2^64+1e6"), Ok((1 << 64) + 1_000_000));
        assert_eq!(parse("2^64-59"), Ok((1 << 64) - 59));
        assert_eq!(parse("2^128-1"), Ok(u128::MAX));
        assert_eq!(
            parse("340282366920938463463374607431768211455"),
            Ok(u128::MAX)
        );
        assert_eq!(parse(" 42 "), Ok(42));
        assert_eq!(parse("1e12+1e10"), Ok(1_010_000_000_000));
        assert_eq!(parse("2^0"), Ok(1));
        assert_eq!(parse("0^0"), Ok(1));
        assert_eq!(parse("1.50e1"), Ok(15));
        assert_eq!(parse("4^64-1"), Ok(u128::MAX));
        assert_eq!(parse("2^128-2^127"), Ok(1 << 127));
    }

    #[test]
    fn refused_forms() {
        assert_eq!(parse(""), Err(NumError::Empty));
        assert!(matches!(parse("1e9.5"), Err(NumError::NotWhole { .. })));
        assert!(matches!(parse("1.5"), Err(NumError::NotWhole { .. })));
        assert!(matches!(parse("1.5e0"), Err(NumError::NotWhole { .. })));
        assert!(matches!(parse("2^128"), Err(NumError::OutOfRange { .. })));
        assert!(matches!(
            parse("2^128-1+1"),
            Err(NumError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse("2^128+2^128-1"),
            Err(NumError::OutOfRange { .. })
        ));
        assert!(matches!(parse("3^81"), Err(NumError::OutOfRange { .. })));
        assert!(matches!(
            parse("340282366920938463463374607431768211456"),
            Err(NumError::OutOfRange { .. })
        ));
        assert!(matches!(parse("5-6"), Err(NumError::OutOfRange { .. })));
        assert!(matches!(parse("1e39"), Err(NumError::OutOfRange { .. })));
        assert!(matches!(
            parse("2^99999999999"),
            Err(NumError::OutOfRange { .. })
        ));
        for bad in [
            "abc", "-5", "+5", "5+", "1__0", "_1", "1_", "0x10", "1e", "e9", "^2", "2^", "1e-3",
            "1,000", "2^64+",
        ] {
            assert!(
                matches!(parse(bad), Err(NumError::Syntax { .. })),
                "{bad}: {:?}",
                parse(bad)
            );
        }
    }

    #[test]
    fn messages_name_the_text() {
        let e = parse("1e9.5").unwrap_err().to_string();
        assert!(e.contains("1e9.5"), "{e}");
        let e = parse("abc").unwrap_err().to_string();
        assert!(e.contains("abc"), "{e}");
    }
}
