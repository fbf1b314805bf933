//! One direction of a TCP connection, reassembled in sequence order: retransmissions and
//! overlaps are trimmed, early segments wait (bounded) for the gap before them to fill.
//!
//! A direction is read only as long as its parser wants bytes; once the parser is done the
//! stream is closed and later segments cost nothing.

/// Out-of-order bytes held while waiting for a gap to fill; beyond this the gap is declared
/// lost and reading jumps over it.
const MAX_PENDING: usize = 256 * 1024;
/// Bytes a parser may leave unconsumed before the direction is given up.
pub const MAX_BUFFERED: usize = 256 * 1024;

/// One direction of a TCP byte stream.
#[derive(Debug, Default)]
pub struct Stream {
    next: Option<u32>,
    pending: Vec<(u32, Vec<u8>)>,
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
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Adds a segment; returns whether new in-order bytes reached `buf`.
    pub fn push(&mut self, seq: u32, data: &[u8]) -> bool {
        if self.closed || data.is_empty() {
            return false;
        }
        let next = *self.next.get_or_insert(seq);
        let d = diff(seq, next);
        if d > 0 {
            if self.pending.iter().any(|(s, _)| *s == seq) {
                return false;
            }
            self.pending_bytes += data.len();
            self.pending.push((seq, data.to_vec()));
            if self.pending_bytes > MAX_PENDING {
                // The missing bytes are not in the capture: continue after the gap.
                self.gap = true;
                let first = self
                    .pending
                    .iter()
                    .map(|(s, _)| *s)
                    .min_by_key(|s| diff(*s, next))
                    .unwrap_or(seq);
                self.next = Some(first);
                return self.drain_pending();
            }
            return false;
        }
        let skip = (-d) as usize;
        if skip >= data.len() {
            return false; // a retransmission of bytes already read
        }
        self.buf.extend_from_slice(&data[skip..]);
        self.next = Some(next.wrapping_add((data.len() - skip) as u32));
        self.drain_pending();
        true
    }

    fn drain_pending(&mut self) -> bool {
        let mut progressed = false;
        loop {
            let Some(next) = self.next else {
                return progressed;
            };
            let Some(i) = self.pending.iter().position(|(s, d)| {
                diff(*s, next) <= 0 && diff(s.wrapping_add(d.len() as u32), next) > 0
            }) else {
                // Drop what is entirely behind us.
                self.pending
                    .retain(|(s, d)| diff(s.wrapping_add(d.len() as u32), next) > 0);
                self.pending_bytes = self.pending.iter().map(|(_, d)| d.len()).sum();
                return progressed;
            };
            let (s, d) = self.pending.swap_remove(i);
            let skip = (-diff(s, next)) as usize;
            self.buf.extend_from_slice(&d[skip..]);
            self.next = Some(next.wrapping_add((d.len() - skip) as u32));
            progressed = true;
        }
    }

    /// Stops reading this direction and frees its buffers.
    pub fn close(&mut self) {
        self.closed = true;
        self.buf = Vec::new();
        self.pending = Vec::new();
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
