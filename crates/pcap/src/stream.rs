//! One direction of a TCP connection, reassembled in sequence order: retransmissions and
//! overlaps are trimmed, early segments wait (bounded) for the gap before them to fill.
//!
//! Early segments are kept by their offset in the stream (sequence numbers unwrapped to 64
//! bits) in an ordered map, so a segment costs O(log n) however the sender orders them, a
//! duplicate costs a lookup, and both the bytes and the number of segments waiting are
//! capped: one-byte segments cannot make the wait long or the work quadratic.
//!
//! A direction is read only as long as its parser wants bytes; once the parser is done the
//! stream is closed and later segments cost nothing.

use std::collections::BTreeMap;

/// Out-of-order bytes held while waiting for a gap to fill; beyond this the gap is declared
/// lost and reading jumps over it.
const MAX_PENDING: usize = 256 * 1024;
/// Out-of-order segments held likewise (a full window of full-size segments is far fewer).
const MAX_PENDING_SEGMENTS: usize = 1024;
/// Bytes a parser may leave unconsumed before the direction is given up.
pub const MAX_BUFFERED: usize = 256 * 1024;

/// One direction of a TCP byte stream.
#[derive(Debug, Default)]
pub struct Stream {
    /// The next sequence number expected and its offset in the stream.
    next: Option<(u32, u64)>,
    /// Early segments by stream offset (the longest kept when two start at one offset).
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// In-order bytes not yet consumed by the parser.
    pub buf: Vec<u8>,
    /// No more bytes are wanted.
    pub closed: bool,
    /// A gap was jumped over (bytes were lost from the capture).
    pub gap: bool,
}

fn diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

impl Stream {
    /// The SYN (or SYN-ACK) of this direction: data starts one after its sequence number.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some((seq.wrapping_add(1), 0));
        }
    }

    /// Adds a segment; returns whether new in-order bytes reached `buf`.
    pub fn push(&mut self, seq: u32, data: &[u8]) -> bool {
        if self.closed || data.is_empty() {
            return false;
        }
        let (next_seq, next_at) = *self.next.get_or_insert((seq, 0));
        let d = diff(seq, next_seq);
        if d > 0 {
            let at = next_at + d as u64;
            match self.pending.get(&at) {
                Some(held) if held.len() >= data.len() => return false, // a duplicate
                Some(held) => self.pending_bytes -= held.len(),
                None => {}
            }
            self.pending_bytes += data.len();
            self.pending.insert(at, data.to_vec());
            if self.pending_bytes > MAX_PENDING || self.pending.len() > MAX_PENDING_SEGMENTS {
                // The missing bytes are not in the capture: continue after the gap.
                self.gap = true;
                if let Some((&first, _)) = self.pending.first_key_value() {
                    let skipped = first - next_at;
                    self.next = Some((next_seq.wrapping_add(skipped as u32), first));
                }
                return self.drain_pending();
            }
            return false;
        }
        let skip = (-d) as usize;
        if skip >= data.len() {
            return false; // a retransmission of bytes already read
        }
        self.advance(&data[skip..]);
        self.drain_pending();
        true
    }

    /// Appends in-order bytes and moves the expected sequence number past them.
    fn advance(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if let Some((seq, at)) = self.next.as_mut() {
            *seq = seq.wrapping_add(bytes.len() as u32);
            *at += bytes.len() as u64;
        }
    }

    /// Moves the waiting segments that now start at or before the expected offset into
    /// `buf`, dropping those entirely behind it.
    fn drain_pending(&mut self) -> bool {
        let mut progressed = false;
        while let Some(entry) = self.pending.first_entry() {
            let Some((_, next_at)) = self.next else {
                break;
            };
            let start = *entry.key();
            if start > next_at {
                break;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            let skip = (next_at - start) as usize;
            if skip < data.len() {
                self.advance(&data[skip..]);
                progressed = true;
            }
        }
        progressed
    }

    /// Bytes this direction holds: early segments and in-order bytes not yet consumed.
    pub fn held(&self) -> usize {
        self.pending_bytes + self.buf.len()
    }

    /// Stops reading this direction and frees its buffers.
    pub fn close(&mut self) {
        self.closed = true;
        self.buf = Vec::new();
        self.pending = BTreeMap::new();
        self.pending_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_and_trims_retransmissions() {
        let mut s = Stream::default();
        s.syn(999);
        assert!(!s.push(1005, b"fgh"));
        assert!(s.push(1000, b"abcde"));
        assert_eq!(s.buf, b"abcdefgh");
        assert!(!s.push(1000, b"abc"));
        assert!(s.push(1006, b"ghij"));
        assert_eq!(s.buf, b"abcdefghij");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 1);
        assert!(s.push(u32::MAX, b"ab"));
        assert!(s.push(1, b"cd"));
        assert_eq!(s.buf, b"abcd");
    }

    #[test]
    fn one_byte_segments_in_reverse_order_cost_little_and_are_bounded() {
        // 200,000 one-byte segments, last first: each waits in an ordered map, at most
        // MAX_PENDING_SEGMENTS of them; then the gap is jumped and the rest flows in order.
        let mut s = Stream::default();
        s.syn(0);
        let n = 200_000u32;
        for i in (2..=n).rev() {
            s.push(i, b"x");
            assert!(s.pending.len() <= MAX_PENDING_SEGMENTS);
            // Duplicates are free and change nothing.
            s.push(i, b"x");
        }
        assert!(s.gap);
        assert!(s.pending.len() <= MAX_PENDING_SEGMENTS);
        assert!(s.pending_bytes == s.pending.values().map(Vec::len).sum::<usize>());
    }

    #[test]
    fn overlapping_early_segments_are_trimmed() {
        let mut s = Stream::default();
        s.syn(99);
        // Early segments that overlap each other and one that a longer one covers.
        assert!(!s.push(105, b"fgh"));
        assert!(!s.push(104, b"efgh"));
        assert!(!s.push(107, b"hij"));
        assert!(!s.push(105, b"f")); // shorter than the one held at that offset
        assert!(s.push(100, b"abcd"));
        assert_eq!(s.buf, b"abcdefghij");
        assert!(s.pending.is_empty());
        assert_eq!(s.pending_bytes, 0);
    }

    #[test]
    fn a_lost_segment_is_jumped_over_once_too_much_waits() {
        let mut s = Stream::default();
        s.syn(0);
        let block = vec![b'x'; 1400];
        let mut seq = 1 + 1400; // the first segment never arrives
        while !s.gap {
            s.push(seq, &block);
            seq += 1400;
        }
        assert!(!s.buf.is_empty());
        assert!(s.buf.iter().all(|b| *b == b'x'));
    }
}
