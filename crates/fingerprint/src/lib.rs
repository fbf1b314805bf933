//! Fingerprint strings computed by shrike.
//!
//! - [`ja4`]: the JA4 TLS client fingerprint (BSD-3 method) from a [`ClientHello`] summary,
//!   and from the raw `ja4_r` string; GREASE handling as the reference implementation.
//! - [`h2`]: the Akamai HTTP/2 fingerprint `SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_ORDER`.
//! - [`tcp`]: the SYN fingerprint in JA4T layout `window_options_mss_wscale`.
//!
//! Other JA4+ methods (JA4H, JA4T as a method, JA4S, JA4X...) are FoxIO-licensed: shrike
//! accepts them as opaque strings and does not compute them.

pub mod h2;
pub mod ja4;
pub mod tcp;

pub use h2::{akamai_fingerprint, library as h2_library, H2Settings};
pub use ja4::{is_grease, ja4_from_raw, ClientHello, Ja4Parts, Protocol};
pub use tcp::{syn_os, tcp_fingerprint, SynOs};
