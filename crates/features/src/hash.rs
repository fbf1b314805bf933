//! Keyed SipHash-1-3 for distinct counts and session identity.
//!
//! Distinct counts (paths, query strings, ports...) are kept as sets of 64-bit hashes, and
//! sessions are found by a 128-bit hash of their key. The hash is keyed with a secret of
//! the store, so an attacker cannot craft colliding paths to shrink a scanner's counts;
//! and it is a fixed, specified algorithm, so states saved by one build merge correctly
//! with states of another.

/// A 128-bit secret key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashKey(pub [u64; 2]);

impl HashKey {
    /// A fixed key for tests and one-off runs.
    pub const FIXED: HashKey = HashKey([0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908]);

    /// SipHash-1-3 of `data`.
    pub fn hash(&self, data: &[u8]) -> u64 {
        sip13(self.0[0], self.0[1], data)
    }

    /// A second, independent 64 bits (for 128-bit identities).
    pub fn hash_hi(&self, data: &[u8]) -> u64 {
        sip13(
            self.0[1] ^ 0x9E37_79B9_7F4A_7C15,
            self.0[0].rotate_left(17),
            data,
        )
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

fn sip13(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut b = (data.len() as u64) << 56;
    for (i, byte) in rest.iter().enumerate() {
        b |= (*byte as u64) << (8 * i);
    }
    v[3] ^= b;
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_siphash13_vector() {
        // Reference vectors of SipHash-1-3 (key 00..0f, message 00..len-1), from the
        // test-suite of Rust's former `SipHasher13`.
        assert_eq!(
            HashKey::FIXED.hash(b"").to_le_bytes(),
            [0xdc, 0xc4, 0x0f, 0x05, 0x58, 0x01, 0xac, 0xab]
        );
        let a = HashKey::FIXED.hash(b"/wp-login.php");
        assert_eq!(a, HashKey::FIXED.hash(b"/wp-login.php"));
        assert_ne!(a, HashKey([1, 2]).hash(b"/wp-login.php"));
        assert_ne!(a, HashKey::FIXED.hash_hi(b"/wp-login.php"));
    }
}
