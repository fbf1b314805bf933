//! Sequence features from the time-ordered requests of a session or of an IP.
//!
//! A session keeps at most [`SEQ_CAP`] requests for these features: the earliest ones by
//! `(time, input order)`. Keeping "the earliest N" of a union is order-free, so any split of
//! the input gives the same buffer, and memory stays bounded per session whatever its length.

use serde::{Deserialize, Serialize};
use shrike_types::math;

use crate::accumulate::Order;

/// Requests kept per session for sequence features.
pub const SEQ_CAP: usize = 256;

/// One request of the sequence: its position and its path hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct SeqEvent {
    pub at: Order,
    pub path: u64,
}

/// The earliest [`SEQ_CAP`] requests of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeqBuffer {
    events: Vec<SeqEvent>,
}

impl SeqBuffer {
    pub fn push(&mut self, at: Order, path: u64) {
        self.events.push(SeqEvent { at, path });
        if self.events.len() >= 2 * SEQ_CAP {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.events.sort_unstable();
        self.events.dedup();
        self.events.truncate(SEQ_CAP);
    }

    pub fn merge(&mut self, o: &SeqBuffer) {
        self.events.extend_from_slice(&o.events);
        if self.events.len() >= 2 * SEQ_CAP {
            self.compact();
        }
    }

    /// The kept events in time order.
    pub fn sorted(&self) -> Vec<SeqEvent> {
        let mut v = self.events.clone();
        v.sort_unstable();
        v.dedup();
        v.truncate(SEQ_CAP);
        v
    }
}

/// Sequence features of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SessionSequence {
    pub path_transition_entropy: f64,
    pub cadence_cv: f64,
    pub burst_ratio: f64,
    pub pause_ratio: f64,
    pub lag1_autocorrelation: f64,
    pub benford_deviation: f64,
}

const BENFORD: [f64; 9] = [
    0.301, 0.176, 0.125, 0.097, 0.079, 0.067, 0.058, 0.051, 0.046,
];

fn first_digit(mut x: i64) -> usize {
    while x >= 10 {
        x /= 10;
    }
    x as usize
}

/// Computes the session's sequence features from its time-ordered events.
pub(crate) fn session_sequence(events: &[SeqEvent]) -> SessionSequence {
    let mut out = SessionSequence::default();
    // Path transitions.
    if events.len() >= 3 {
        let mut pairs: Vec<(u64, u64)> =
            events.windows(2).map(|w| (w[0].path, w[1].path)).collect();
        let n = pairs.len() as f64;
        pairs.sort_unstable();
        let mut h = 0.0;
        let mut i = 0;
        while i < pairs.len() {
            let j = pairs[i..]
                .iter()
                .position(|p| *p != pairs[i])
                .map_or(pairs.len(), |k| i + k);
            let p = (j - i) as f64 / n;
            h -= p * math::log2(p);
            i = j;
        }
        out.path_transition_entropy = (h / math::log2(n)).clamp(0.0, 1.0);
    }
    // Inter-request gaps.
    let gaps: Vec<f64> = events
        .windows(2)
        .map(|w| (w[1].at.0 - w[0].at.0) as f64)
        .collect();
    if !gaps.is_empty() {
        let n = gaps.len() as f64;
        out.burst_ratio = gaps.iter().filter(|g| **g < 1000.0).count() as f64 / n;
        out.pause_ratio = gaps.iter().filter(|g| **g > 30_000.0).count() as f64 / n;
    }
    if gaps.len() >= 2 {
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let var = gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / n;
        if mean > 0.0 {
            out.cadence_cv = var.sqrt() / mean;
        }
        if gaps.len() >= 3 && var > 0.0 {
            let cov = gaps
                .windows(2)
                .map(|w| (w[0] - mean) * (w[1] - mean))
                .sum::<f64>()
                / n;
            out.lag1_autocorrelation = (cov / var).clamp(-1.0, 1.0);
        }
        let digits: Vec<usize> = gaps
            .iter()
            .filter(|g| **g >= 1.0)
            .map(|g| first_digit(*g as i64))
            .collect();
        if digits.len() >= 2 {
            let mut counts = [0usize; 9];
            for d in &digits {
                counts[d - 1] += 1;
            }
            let total = digits.len() as f64;
            let tvd: f64 = counts
                .iter()
                .zip(BENFORD)
                .map(|(c, e)| (*c as f64 / total - e).abs())
                .sum::<f64>()
                / 2.0;
            out.benford_deviation = tvd.clamp(0.0, 1.0);
        }
    }
    out
}

/// Share of consecutive events (time-ordered, each tagged with a JA4 id) whose JA4 changes.
pub(crate) fn ja4_drift(tagged: &mut [(SeqEvent, u32)]) -> f64 {
    if tagged.len() < 2 {
        return 0.0;
    }
    tagged.sort_unstable();
    let changes = tagged.windows(2).filter(|w| w[0].1 != w[1].1).count();
    changes as f64 / (tagged.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, path: u64) -> SeqEvent {
        SeqEvent {
            at: (t, t as u64),
            path,
        }
    }

    #[test]
    fn machine_cadence_versus_human_cadence() {
        let bot: Vec<_> = (0..50).map(|i| ev(i * 500, i as u64 % 3)).collect();
        let b = session_sequence(&bot);
        assert_eq!(b.cadence_cv, 0.0);
        assert_eq!(b.burst_ratio, 1.0);
        assert_eq!(b.lag1_autocorrelation, 0.0, "constant gaps");
        assert!(
            b.path_transition_entropy < 0.4,
            "a 3-cycle walk: {}",
            b.path_transition_entropy
        );
        let human = [0, 800, 1500, 45_000, 46_000, 120_000, 121_500, 200_000];
        let h = session_sequence(
            &human
                .iter()
                .enumerate()
                .map(|(i, t)| ev(*t, i as u64))
                .collect::<Vec<_>>(),
        );
        assert!(h.cadence_cv > 1.0 && h.pause_ratio > 0.3, "{h:?}");
        assert_eq!(h.path_transition_entropy, 1.0, "every transition distinct");
    }

    #[test]
    fn buffer_keeps_the_earliest_whatever_the_split() {
        let evs: Vec<_> = (0..1000).map(|i| ev((i * 7919) % 1000, i as u64)).collect();
        let mut whole = SeqBuffer::default();
        evs.iter().for_each(|e| whole.push(e.at, e.path));
        let (mut a, mut b) = (SeqBuffer::default(), SeqBuffer::default());
        for (i, e) in evs.iter().enumerate() {
            if i % 3 == 0 {
                a.push(e.at, e.path)
            } else {
                b.push(e.at, e.path)
            }
        }
        a.merge(&b);
        assert_eq!(a.sorted(), whole.sorted());
        assert_eq!(whole.sorted().len(), SEQ_CAP);
        assert!(whole.sorted().iter().all(|e| e.at.0 < SEQ_CAP as i64));
    }

    #[test]
    fn ja4_drift_counts_changes() {
        let mut t = vec![(ev(0, 0), 1), (ev(1, 0), 2), (ev(2, 0), 2), (ev(3, 0), 1)];
        assert!((ja4_drift(&mut t) - 2.0 / 3.0).abs() < 1e-12);
    }
}
