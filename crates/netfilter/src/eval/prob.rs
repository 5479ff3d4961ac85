//! Exact probabilities as dyadic rationals: a numerator over a power of two.
//!
//! Every probability the engine produces is a product of `-m statistic --mode random` fractions
//! (each `n / 2^31`) and their complements, so a big numerator over `2^k` represents them all
//! exactly; sums of outcomes stay exact too.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigUint;

/// A probability `num / 2^exp`, kept reduced (the numerator is odd unless `exp` is 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prob {
    num: BigUint,
    exp: u32,
}

impl Prob {
    /// Certainty: 1.
    pub fn one() -> Prob {
        Prob {
            num: BigUint::from(1u8),
            exp: 0,
        }
    }

    /// Impossibility: 0.
    pub fn zero() -> Prob {
        Prob {
            num: BigUint::from(0u8),
            exp: 0,
        }
    }

    /// `num / 2^exp`, reduced.
    pub fn new(num: impl Into<BigUint>, exp: u32) -> Prob {
        Prob {
            num: num.into(),
            exp,
        }
        .reduced()
    }

    /// The statistic fraction `numerator / 2^31`.
    pub fn from_31bit(numerator: u32) -> Prob {
        Prob::new(numerator, 31)
    }

    fn reduced(mut self) -> Prob {
        if self.num == BigUint::from(0u8) {
            self.exp = 0;
            return self;
        }
        let tz = self.num.trailing_zeros().unwrap_or(0);
        let shift = u32::try_from(tz).unwrap_or(u32::MAX).min(self.exp);
        self.num >>= shift;
        self.exp -= shift;
        self
    }

    /// The numerator after reduction.
    pub fn numerator(&self) -> &BigUint {
        &self.num
    }

    /// The exponent `k` of the denominator `2^k` after reduction.
    pub fn exponent(&self) -> u32 {
        self.exp
    }

    /// `self * other`.
    pub fn mul(&self, other: &Prob) -> Prob {
        Prob {
            num: &self.num * &other.num,
            exp: self.exp + other.exp,
        }
        .reduced()
    }

    /// `self + other`.
    pub fn add(&self, other: &Prob) -> Prob {
        let exp = self.exp.max(other.exp);
        let a = &self.num << (exp - self.exp);
        let b = &other.num << (exp - other.exp);
        Prob { num: a + b, exp }.reduced()
    }

    /// `1 - self` (saturating at 0).
    pub fn complement(&self) -> Prob {
        let one = BigUint::from(1u8) << self.exp;
        if self.num >= one {
            return Prob::zero();
        }
        Prob {
            num: one - &self.num,
            exp: self.exp,
        }
        .reduced()
    }

    /// Whether this is exactly 1.
    pub fn is_one(&self) -> bool {
        self.exp == 0 && self.num == BigUint::from(1u8)
    }

    /// Whether this is exactly 0.
    pub fn is_zero(&self) -> bool {
        self.num == BigUint::from(0u8)
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        // Scale both into range: keep the top 64 bits of the numerator.
        let bits = self.num.bits();
        let drop = bits.saturating_sub(64);
        let top = (&self.num >> drop).iter_u64_digits().next().unwrap_or(0);
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
        let a = &self.num << (exp - self.exp);
        let b = &other.num << (exp - other.exp);
        a.cmp(&b)
    }
}

impl fmt::Display for Prob {
    /// Exact form: `1`, `0`, or `num/2^k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exp == 0 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/2^{}", self.num, self.exp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
