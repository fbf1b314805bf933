//! Hash maps for keys that come from traffic (addresses, ports, Zeek uids, JA4s): aHash,
//! fast, with keys drawn from the operating system's randomness when the map is made, so
//! nobody can precompute keys that collide (hash flooding). Nothing may depend on their
//! iteration order, which changes from run to run: where order matters, sort.

use std::hash::{BuildHasher, Hasher};

/// A hash map with a run-time seeded aHash.
pub type Map<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
/// A hash set with a run-time seeded aHash.
pub type Set<K> = std::collections::HashSet<K, ahash::RandomState>;

/// A hasher state with keys from the operating system's randomness (through std's
/// `RandomState`, which is seeded from it).
pub fn random_state() -> ahash::RandomState {
    let mut k = [0u64; 4];
    for (i, slot) in k.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        *slot = h.finish();
    }
    ahash::RandomState::with_seeds(k[0], k[1], k[2], k[3])
}

/// An empty [`Map`].
pub fn map<K, V>() -> Map<K, V> {
    Map::with_hasher(random_state())
}

/// An empty [`Set`].
pub fn set<K>() -> Set<K> {
    Set::with_hasher(random_state())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_maps_hash_one_key_differently() {
        let (a, b) = (super::random_state(), super::random_state());
        assert_ne!(a.hash_one("203.0.113.7"), b.hash_one("203.0.113.7"));
        let mut m = super::map();
        m.insert("k", 1);
        assert_eq!(m.get("k"), Some(&1));
    }
}
