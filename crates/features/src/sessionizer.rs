//! The sessionizer: records in, mergeable session state out.

use std::collections::HashMap;
use std::net::IpAddr;

use shrike_types::{Ja4, RequestRecord, Timestamp};

use crate::accumulate::{IdBuild, IpWindowAcc, SessionAcc};
use crate::hash::HashKey;
use crate::request::normalize_host;

pub use shrike_types::SessionKey;

/// A saved state that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("corrupt session state: {0}")]
pub struct StateError(#[from] postcard::Error);

fn ip_bytes(ip: &IpAddr) -> [u8; 17] {
    let mut b = [0u8; 17];
    match ip {
        IpAddr::V4(a) => {
            b[0] = 4;
            b[1..5].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            b[0] = 6;
            b[1..].copy_from_slice(&a.octets());
        }
    }
    b
}

/// Folds records into sessions. Feed it from several threads by giving each its own
/// sessionizer and [`merge`](Sessionizer::merge) them at the end: the result does not
/// depend on the split.
#[derive(Debug, Clone)]
pub struct Sessionizer {
    key: HashKey,
    batch: u64,
    index: HashMap<u128, u32, IdBuild>,
    pub(crate) sessions: Vec<(SessionKey, SessionAcc)>,
    ip_index: HashMap<(i64, IpAddr), u32>,
    pub(crate) ip_windows: Vec<((i64, IpAddr), IpWindowAcc)>,
}

impl Sessionizer {
    /// A sessionizer for one input batch. `key` is the store's secret hash key; `batch`
    /// numbers successive inputs so that "earliest request" ties break the same way
    /// whatever the split (input order = `(batch, line)`).
    pub fn new(key: HashKey, batch: u32) -> Self {
        Sessionizer {
            key,
            batch: batch as u64,
            index: HashMap::default(),
            sessions: Vec::new(),
            ip_index: HashMap::new(),
            ip_windows: Vec::new(),
        }
    }

    /// The hash key.
    pub fn hash_key(&self) -> HashKey {
        self.key
    }

    /// The input batch this sessionizer numbers its records in.
    pub fn batch(&self) -> u32 {
        self.batch as u32
    }

    fn identity(&self, window: i64, ip: &IpAddr, ja4: &str, host: &str) -> u128 {
        let mut buf = Vec::with_capacity(32 + ja4.len() + host.len());
        buf.extend_from_slice(&window.to_le_bytes());
        buf.extend_from_slice(&ip_bytes(ip));
        buf.extend_from_slice(ja4.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(host.as_bytes());
        (self.key.hash_hi(&buf) as u128) << 64 | self.key.hash(&buf) as u128
    }

    fn session_slot(&mut self, k: &SessionKey) -> usize {
        let id = self.identity(k.window_start.millis(), &k.src_ip, k.ja4_str(), &k.host);
        let next = self.sessions.len() as u32;
        let slot = *self.index.entry(id).or_insert(next);
        if slot == next {
            self.sessions.push((k.clone(), SessionAcc::default()));
        }
        slot as usize
    }

    fn ip_slot(&mut self, window: i64, ip: IpAddr) -> usize {
        let next = self.ip_windows.len() as u32;
        let slot = *self.ip_index.entry((window, ip)).or_insert(next);
        if slot == next {
            self.ip_windows.push(((window, ip), IpWindowAcc::default()));
        }
        slot as usize
    }

    /// Folds one record; `line` is its position in the batch's input.
    pub fn update(&mut self, line: u64, r: &RequestRecord<'_>) {
        let Some(ip) = r.src_ip else { return };
        let window = r.time.hour_start().millis();
        let ja4 = r.ja4.as_ref().map_or("", |j| j.as_str());
        let host = normalize_host(r.host.as_deref().unwrap_or(""));
        let order = (r.time.millis(), self.batch << 40 | (line & ((1 << 40) - 1)));
        let id = self.identity(window, &ip, ja4, &host);
        let slot = match self.index.get(&id) {
            Some(s) => *s as usize,
            None => {
                let k = SessionKey {
                    window_start: Timestamp::from_millis(window),
                    src_ip: ip,
                    ja4: r.ja4.clone().map(Ja4::into_owned),
                    host: host.into_owned(),
                };
                self.session_slot(&k)
            }
        };
        let key = self.key;
        self.sessions[slot].1.update(r, order, &key);
        let ip_slot = self.ip_slot(window, ip);
        self.ip_windows[ip_slot].1.update(r, order);
    }

    /// Absorbs another sessionizer (same hash key).
    pub fn merge(&mut self, mut other: Sessionizer) {
        debug_assert_eq!(self.key, other.key, "sessionizers with different hash keys");
        if self.sessions.is_empty() && self.ip_windows.is_empty() {
            // Nothing to merge into (a first ingest): the other is the result as it is.
            other.batch = self.batch;
            *self = other;
            return;
        }
        for (k, acc) in other.sessions {
            let slot = self.session_slot(&k);
            self.sessions[slot].1.merge(&acc);
        }
        for ((w, ip), acc) in other.ip_windows {
            let slot = self.ip_slot(w, ip);
            self.ip_windows[slot].1.merge(&acc);
        }
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of (window, IP) aggregates.
    pub fn ip_window_count(&self) -> usize {
        self.ip_windows.len()
    }

    /// Session keys, by position: the `i`-th is the key of [`Sessionizer::session_state`]`(i)`.
    pub fn session_keys(&self) -> impl Iterator<Item = &SessionKey> + '_ {
        self.sessions.iter().map(|(k, _)| k)
    }

    /// The serialised state of the session at position `i` (for a store writing in its
    /// own order).
    pub fn session_state(&self, i: usize) -> Vec<u8> {
        postcard::to_stdvec(&self.sessions[i].1).expect("in-memory serialisation cannot fail")
    }

    /// (window, IP) keys, by position: the `i`-th is that of
    /// [`Sessionizer::ip_window_state`]`(i)`.
    pub fn ip_window_keys(&self) -> impl Iterator<Item = (Timestamp, IpAddr)> + '_ {
        self.ip_windows
            .iter()
            .map(|((w, ip), _)| (Timestamp::from_millis(*w), *ip))
    }

    /// The serialised state of the (window, IP) aggregate at position `i`.
    pub fn ip_window_state(&self, i: usize) -> Vec<u8> {
        postcard::to_stdvec(&self.ip_windows[i].1).expect("in-memory serialisation cannot fail")
    }

    /// Merges a saved session state.
    pub fn absorb_session_state(&mut self, k: &SessionKey, state: &[u8]) -> Result<(), StateError> {
        let acc: SessionAcc = postcard::from_bytes(state)?;
        let slot = self.session_slot(k);
        self.sessions[slot].1.merge(&acc);
        Ok(())
    }

    /// Merges a saved (window, IP) state.
    pub fn absorb_ip_window_state(
        &mut self,
        window: Timestamp,
        ip: IpAddr,
        state: &[u8],
    ) -> Result<(), StateError> {
        let acc: IpWindowAcc = postcard::from_bytes(state)?;
        let slot = self.ip_slot(window.millis(), ip);
        self.ip_windows[slot].1.merge(&acc);
        Ok(())
    }
}
