//! Feature binning: each feature's values become at most `max_bins - 1` ordered bins
//! (bin 0 holds missing values), cut at quantiles of a deterministic sample.

use serde::{Deserialize, Serialize};

/// Rows looked at to choose the cut points, at most.
const SAMPLE: usize = 200_000;

/// Cut points of every feature: a value `v` falls in bin `1 + #{cuts < v}`; NaN in bin 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinMapper {
    /// Per feature, increasing cut points (at most `max_bins - 2`).
    pub cuts: Vec<Vec<f32>>,
}

impl BinMapper {
    /// Chooses the cut points of row-major `data` (`dims` columns).
    pub fn fit(data: &[f32], dims: usize, max_bins: usize) -> Self {
        let n = data.len() / dims;
        let step = n.div_ceil(SAMPLE).max(1);
        let max_cuts = max_bins.clamp(3, 256) - 2;
        let cuts = (0..dims)
            .map(|j| {
                let mut v: Vec<f32> = (0..n)
                    .step_by(step)
                    .map(|i| data[i * dims + j])
                    .filter(|x| x.is_finite())
                    .collect();
                v.sort_by(f32::total_cmp);
                v.dedup();
                if v.len() <= max_cuts + 1 {
                    // Few distinct values: cut between each pair.
                    v.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2.0).collect()
                } else {
                    let mut c: Vec<f32> = (1..=max_cuts)
                        .map(|q| v[q * (v.len() - 1) / (max_cuts + 1)])
                        .collect();
                    c.dedup();
                    c
                }
            })
            .collect();
        BinMapper { cuts }
    }

    /// Bins of feature `j` (including the missing bin 0).
    pub fn bins(&self, j: usize) -> usize {
        self.cuts[j].len() + 2
    }

    /// The bin of a value of feature `j`.
    pub fn bin(&self, j: usize, v: f32) -> u8 {
        if v.is_nan() {
            0
        } else {
            (1 + self.cuts[j].partition_point(|c| *c < v)) as u8
        }
    }

    /// Row-major bins of row-major `data`.
    pub fn transform(&self, data: &[f32], dims: usize) -> Vec<u8> {
        data.chunks_exact(dims)
            .flat_map(|row| row.iter().enumerate().map(|(j, v)| self.bin(j, *v)))
            .collect()
    }

    /// The value threshold of the split "bin ≤ `s`" of feature `j`: `v ≤ threshold` goes
    /// left (NaN always goes left; `s` = 0 sends only NaN left).
    pub fn threshold(&self, j: usize, s: usize) -> f32 {
        if s == 0 {
            f32::NEG_INFINITY
        } else {
            self.cuts[j].get(s - 1).copied().unwrap_or(f32::INFINITY)
        }
    }
}
