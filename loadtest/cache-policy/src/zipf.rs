//! Zipf-distributed ranks, sampled by rejection-inversion.

use crate::workload::SplitMix64;

/// Ranks 1..=n with P(k) ∝ k^-s, by rejection-inversion (Hörmann and
/// Derflinger, "Rejection-inversion to generate variates from monotone
/// discrete distributions", 1996): O(1) memory and time per sample.
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    pub fn new(n: u32, s: f64) -> Self {
        let mut zipf = Self {
            n: f64::from(n),
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        zipf.h_integral_x1 = zipf.h_integral(1.5) - 1.0;
        zipf.h_integral_n = zipf.h_integral(f64::from(n) + 0.5);
        zipf.threshold = 2.0 - zipf.h_integral_inverse(zipf.h_integral(2.5) - zipf.h(2.0));
        zipf
    }

    pub fn sample(&self, rng: &mut SplitMix64) -> u32 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u32;
            }
        }
    }

    /// x^-s.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// An antiderivative of h: (x^(1-s) - 1) / (1 - s).
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_samples_follow_the_distribution() {
        for s in [0.8, 1.1] {
            let n = 1000;
            let zipf = Zipf::new(n, s);
            let mut rng = SplitMix64(1);
            let mut counts = vec![0u32; n as usize + 1];
            let samples = 2_000_000;
            for _ in 0..samples {
                counts[zipf.sample(&mut rng) as usize] += 1;
            }
            assert_eq!(counts[0], 0);
            let norm: f64 = (1..=n).map(|k| f64::from(k).powf(-s)).sum();
            for k in [1u32, 2, 3, 10, 100, 1000] {
                let expected = f64::from(k).powf(-s) / norm * f64::from(samples);
                let got = f64::from(counts[k as usize]);
                // Within five standard deviations (binomial).
                assert!(
                    (got - expected).abs() < 5.0 * expected.sqrt() + 1.0,
                    "s {s} rank {k}: {got} vs {expected}"
                );
            }
        }
    }
}
