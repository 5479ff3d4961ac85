//! Exact probabilities as dyadic rationals: a numerator over a power of two.
//!
//! Every probability the engine produces is a product of `-m statistic --mode random` fractions
//! (each `n / 2^31`) and their complements, so a big numerator over `2^k` represents them all
//! exactly; sums of outcomes stay exact too.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigUint;

/// A probability `num / 2^exp`, kept reduced (the numerator is odd unless `exp` is 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prob {
    num: Num,
    exp: u32,
}

/// A numerator: inline while it fits in 64 bits (a trace without random branches, or with a
/// few), else a big integer. Always the inline form when it fits, so equal values are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Num {
    Small(u64),
    Big(BigUint),
}

impl Num {
    fn of_big(n: BigUint) -> Num {
        match u64::try_from(&n) {
            Ok(v) => Num::Small(v),
            Err(_) => Num::Big(n),
        }
    }

    fn of_u128(n: u128) -> Num {
        match u64::try_from(n) {
            Ok(v) => Num::Small(v),
            Err(_) => Num::Big(BigUint::from(n)),
        }
    }

    fn big(&self) -> Cow<'_, BigUint> {
        match self {
            Num::Small(v) => Cow::Owned(BigUint::from(*v)),
            Num::Big(b) => Cow::Borrowed(b),
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Num::Small(0))
    }
}

impl Prob {
    /// Certainty: 1.
    pub fn one() -> Prob {
        Prob {
            num: Num::Small(1),
            exp: 0,
        }
    }

    /// Impossibility: 0.
    pub fn zero() -> Prob {
        Prob {
            num: Num::Small(0),
            exp: 0,
        }
    }

    /// `num / 2^exp`, reduced.
    pub fn new(num: impl Into<BigUint>, exp: u32) -> Prob {
        Prob::of_big(num.into(), exp)
    }

    fn of_big(num: BigUint, exp: u32) -> Prob {
        Prob {
            num: Num::of_big(num),
            exp,
        }
        .reduced()
    }

    /// The statistic fraction `numerator / 2^31`.
    pub fn from_31bit(numerator: u32) -> Prob {
        Prob {
            num: Num::Small(u64::from(numerator)),
            exp: 31,
        }
        .reduced()
    }

    fn reduced(mut self) -> Prob {
        match &mut self.num {
            Num::Small(0) => self.exp = 0,
            Num::Small(v) => {
                let shift = v.trailing_zeros().min(self.exp);
                *v >>= shift;
                self.exp -= shift;
            }
            Num::Big(b) => {
                let tz = b.trailing_zeros().unwrap_or(0);
                let shift = u32::try_from(tz).unwrap_or(u32::MAX).min(self.exp);
                let n = std::mem::take(b) >> shift;
                self.num = Num::of_big(n);
                self.exp -= shift;
            }
        }
        self
    }

    /// The numerator after reduction.
    pub fn numerator(&self) -> BigUint {
        self.num.big().into_owned()
    }

    /// The exponent `k` of the denominator `2^k` after reduction.
    pub fn exponent(&self) -> u32 {
        self.exp
    }

    /// `self * other`.
    pub fn mul(&self, other: &Prob) -> Prob {
        let exp = self.exp + other.exp;
        match (&self.num, &other.num) {
            (Num::Small(a), Num::Small(b)) => Prob {
                num: Num::of_u128(u128::from(*a) * u128::from(*b)),
                exp,
            }
            .reduced(),
            (a, b) => Prob::of_big(a.big().as_ref() * b.big().as_ref(), exp),
        }
    }

    /// `self + other`.
    pub fn add(&self, other: &Prob) -> Prob {
        let exp = self.exp.max(other.exp);
        if let (Num::Small(a), Num::Small(b)) = (&self.num, &other.num) {
            let (sa, sb) = (exp - self.exp, exp - other.exp);
            // Shifted into 128 bits without loss, the sum fits too (each is below 2^127).
            if u128::from(*a).leading_zeros() > sa + 1 && u128::from(*b).leading_zeros() > sb + 1 {
                let sum = (u128::from(*a) << sa) + (u128::from(*b) << sb);
                return Prob {
                    num: Num::of_u128(sum),
                    exp,
                }
                .reduced();
            }
        }
        let a = self.num.big().as_ref() << (exp - self.exp);
        let b = other.num.big().as_ref() << (exp - other.exp);
        Prob::of_big(a + b, exp)
    }

    /// `1 - self` (saturating at 0).
    pub fn complement(&self) -> Prob {
        if let (Num::Small(v), true) = (&self.num, self.exp < 64) {
            let one = 1u64 << self.exp;
            if *v >= one {
                return Prob::zero();
            }
            return Prob {
                num: Num::Small(one - v),
                exp: self.exp,
            }
            .reduced();
        }
        let one = BigUint::from(1u8) << self.exp;
        let num = self.num.big();
        if num.as_ref() >= &one {
            return Prob::zero();
        }
        Prob::of_big(one - num.as_ref(), self.exp)
    }

    /// Whether this is exactly 1.
    pub fn is_one(&self) -> bool {
        self.exp == 0 && self.num == Num::Small(1)
    }

    /// Whether this is exactly 0.
    pub fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        // Scale both into range: keep the top 64 bits of the numerator.
        let num = self.num.big();
        let bits = num.bits();
        let drop = bits.saturating_sub(64);
        let top = (num.as_ref() >> drop).iter_u64_digits().next().unwrap_or(0);
        let e = i64::try_from(drop).unwrap_or(i64::MAX) - i64::from(self.exp);
        let e = i32::try_from(e.clamp(-2000, 2000)).unwrap_or(0);
        (top as f64) * 2f64.powi(e)
    }
}

impl PartialOrd for Prob {
    fn partial_cmp(&self, other: &Prob) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Prob {
    fn cmp(&self, other: &Prob) -> Ordering {
        let exp = self.exp.max(other.exp);
        let a = self.num.big().as_ref() << (exp - self.exp);
        let b = other.num.big().as_ref() << (exp - other.exp);
        a.cmp(&b)
    }
}

impl fmt::Display for Prob {
    /// Exact form: `1`, `0`, or `num/2^k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.num.big();
        if self.exp == 0 {
            write!(f, "{num}")
        } else {
            write!(f, "{num}/2^{}", self.exp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline and big forms give the same results: every operation checked against
    /// the same operation done on big integers.
    #[test]
    fn small_and_big_forms_agree() {
        use proptest::prelude::*;
        fn big(p: &Prob) -> (BigUint, u32) {
            (p.numerator(), p.exponent())
        }
        fn reference(num: BigUint, exp: u32) -> (BigUint, u32) {
            if num == BigUint::from(0u8) {
                return (num, 0);
            }
            let tz = u32::try_from(num.trailing_zeros().unwrap_or(0)).unwrap_or(u32::MAX);
            let shift = tz.min(exp);
            (num >> shift, exp - shift)
        }
        let frac = prop_oneof![
            (0u32..=(1 << 31)).prop_map(Prob::from_31bit),
            Just(Prob::one())
        ];
        let chain = proptest::collection::vec(frac, 1..8);
        proptest!(|(xs in chain.clone(), ys in chain)| {
            let prod = |v: &[Prob]| v.iter().fold(Prob::one(), |a, b| a.mul(b));
            let (x, y) = (prod(&xs), prod(&ys));
            let (xn, xe) = big(&x);
            let (yn, ye) = big(&y);
            // mul
            prop_assert_eq!(big(&x.mul(&y)), reference(&xn * &yn, xe + ye));
            // add
            let e = xe.max(ye);
            prop_assert_eq!(
                big(&x.add(&y)),
                reference((&xn << (e - xe)) + (&yn << (e - ye)), e)
            );
            // complement
            let one = BigUint::from(1u8) << xe;
            let want = if xn >= one { (BigUint::from(0u8), 0) } else { reference(&one - &xn, xe) };
            prop_assert_eq!(big(&x.complement()), want);
            // order and equality follow the values
            prop_assert_eq!(x.cmp(&y), (&xn << (e - xe)).cmp(&(&yn << (e - ye))));
            prop_assert_eq!(x == y, (&xn, xe) == (&yn, ye));
            // the same value from big integers is equal (and hashes alike)
            prop_assert_eq!(&Prob::new(xn.clone(), xe), &x);
        });
    }

    #[test]
    fn half_is_exact() {
        let half = Prob::from_31bit(1 << 30);
        assert_eq!(half, Prob::new(1u8, 1));
        assert_eq!(half.to_f64(), 0.5);
        assert_eq!(half.complement(), half);
        assert!(half.add(&half).is_one());
        assert_eq!(half.to_string(), "1/2^1");
    }

    #[test]
    fn thirds_sum_to_one() {
        // kube-proxy's 3 endpoints: 1/3, then 1/2 of the rest, then the rest.
        let p1 = Prob::from_31bit(715_827_883);
        let p2 = p1.complement().mul(&Prob::from_31bit(1 << 30));
        let p3 = p1.complement().mul(&Prob::from_31bit(1 << 30).complement());
        assert!(p1.add(&p2).add(&p3).is_one());
        assert!((p1.to_f64() - 1.0 / 3.0).abs() < 1e-9);
        assert!(Prob::zero() < p1 && p1 < Prob::one());
    }
}
