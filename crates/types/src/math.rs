//! Transcendental functions that give the same bits on every CPU.
//!
//! `f64::exp`, `f64::ln` and the rest of std's transcendental methods call the platform's
//! libm, and glibc picks its code for them when the program loads, from the CPU: an FMA
//! variant where the CPU has FMA and AVX2, a plain one elsewhere. The two round differently
//! in the last bit for a few inputs in a thousand (glibc 2.36, a million inputs uniform in
//! [−50, 50], with and without `GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA`: 676 `exp`
//! results differ, 732 of `pow`, 709 of `cos`), and a last bit is enough to move a session
//! across a threshold, a split point of a tree or a DBSCAN radius. shrike's verdicts must not
//! depend on the machine, so everything that computes them calls these functions instead:
//! the portable `libm` implementations (musl's algorithms in Rust), built only from IEEE 754
//! additions, multiplications, divisions and square roots, which round the same way on
//! every x86-64 and aarch64 CPU. `clippy.toml` refuses std's methods in the workspace.
//!
//! Each function has std's name and meaning; `f32` versions carry an `f` suffix.

/// `e^x`.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// `e^x − 1`, accurate near 0.
#[inline]
pub fn exp_m1(x: f64) -> f64 {
    libm::expm1(x)
}

/// Natural logarithm.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// `ln(1 + x)`, accurate near 0.
#[inline]
pub fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

/// Base-2 logarithm.
#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// `x^y`.
#[inline]
pub fn powf(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanh(x: f64) -> f64 {
    libm::tanh(x)
}

/// Cosine (radians).
#[inline]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}

/// Sine (radians).
#[inline]
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}

/// `e^x` in `f32`.
#[inline]
pub fn expf(x: f32) -> f32 {
    libm::expf(x)
}

/// Natural logarithm in `f32`.
#[inline]
pub fn lnf(x: f32) -> f32 {
    libm::logf(x)
}

/// `ln(1 + x)` in `f32`.
#[inline]
pub fn ln_1pf(x: f32) -> f32 {
    libm::log1pf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bits of a few results, pinned: they are libm's on every CPU, and a change of
    /// implementation (back to the platform's, or another crate) must be a visible decision.
    #[test]
    fn results_are_pinned_to_the_bit() {
        let cases: [(&str, f64, u64); 8] = [
            ("exp", exp(0.7), 0x4000_1c2a_6126_8987),
            ("exp_m1", exp_m1(1e-3), 0x3f50_6466_dfb8_cf3a),
            ("ln", ln(3.0), 0x3ff1_93ea_7aad_030a),
            ("ln_1p", ln_1p(0.25), 0x3fcc_8ff7_c79a_9a22),
            ("log2", log2(10.0), 0x400a_934f_0979_a371),
            ("powf", powf(2.5, 0.37), 0x3ff6_7512_71a0_1214),
            ("tanh", tanh(0.3), 0x3fd2_a4dd_a7d9_14f9),
            ("cos", cos(1.0), 0x3fe1_4a28_0fb5_068c),
        ];
        for (name, got, want) in cases {
            assert_eq!(got.to_bits(), want, "{name}: {got:e}");
        }
        assert_eq!(expf(0.7).to_bits(), 0x4000_e153);
        assert_eq!(lnf(3.0).to_bits(), 0x3f8c_9f54);
    }

    #[test]
    fn values_agree_with_the_definitions() {
        for x in [-20.0, -1.5, -1e-9, 0.0, 1e-9, 0.5, 3.0, 40.0] {
            assert!((exp(x) - powf(std::f64::consts::E, x)).abs() <= 1e-12 * exp(x));
            assert!((exp_m1(x) - (exp(x) - 1.0)).abs() <= 1e-9 * (1.0 + exp(x)));
            assert!((tanh(x) - (exp(2.0 * x) - 1.0) / (exp(2.0 * x) + 1.0)).abs() < 1e-12);
            let y = x.abs() + 0.1;
            assert!((ln(exp(y)) - y).abs() <= 1e-12 * y.max(1.0));
            assert!((ln_1p(y) - ln(1.0 + y)).abs() <= 1e-12);
            assert!((log2(y) - ln(y) / std::f64::consts::LN_2).abs() <= 1e-12);
            assert!((powf(y, 1.5) - y * y.sqrt()).abs() <= 1e-12 * y * y);
            assert!((sin(x) * sin(x) + cos(x) * cos(x) - 1.0).abs() <= 1e-15);
        }
    }
}
