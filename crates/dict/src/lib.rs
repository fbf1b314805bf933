//! Enrichment dictionaries (SPEC §3), loaded from shrike's own CSV files.
//!
//! [`Dictionaries`] bundles every dictionary a sessionizer consults:
//! - `bot_ip.csv` → [`CidrMap`] (IPv4 and IPv6 longest-prefix match) of bot names;
//! - `bot_ja4.csv`, `browser_ja4.csv` → JA4 to bot name / browser family, and a JA4 the
//!   table lacks to a family by its structure ([`stack`]);
//! - `browser_h2.csv` → Akamai HTTP/2 fingerprint to browser family, which also gives each
//!   family's expected pseudo-header orders;
//! - `asn_reputation.csv` → [`AsnLabel`] per ASN;
//! - `ip_asn.csv` → [`IpAsnTable`]: IP ranges to ASN, country and organisation, for
//!   producers that do not send them;
//! - `anubis_policy.json` → [`Policy`]: Anubis bot-policy rules, evaluated with Anubis's
//!   semantics ([`policy`], expressions in [`cel`]);
//! - `ua_bots.json` → [`UaBots`]: user-agent bot patterns in one `RegexSet` ([`ua`]).
//!
//! [`import`] converts the public formats these lists are published in; [`fcrdns`]
//! verifies claimed crawlers by forward-confirmed reverse DNS.
//!
//! The file formats are documented in `docs/DICTIONARIES.md`. A missing file is an empty
//! dictionary; a malformed line is an error naming the file, the line and the problem.
//! [`DictionaryWatch`] loads a directory again when its files change, for long-running
//! processes (hot reload).

mod asn;
pub mod cel;
mod cidr;
mod csv;
mod dictionaries;
pub mod fcrdns;
pub mod import;
pub mod policy;
pub mod stack;
pub mod ua;
mod watch;
pub mod yaml;

pub use asn::{AsnInfo, AsnLabel, IpAsnTable};
pub use cidr::{CidrMap, ParseCidrError};
pub use csv::CsvError;
pub use dictionaries::{DictError, Dictionaries, DictionaryFile, POLICY_FILE, UA_BOTS_FILE};
pub use policy::{Action, Policy, PolicyVerdict};
pub use stack::{engine, Basis, FamilyMatch, H2Word, StackIndex};
pub use ua::{UaBots, UaPattern};
pub use watch::{DictionaryWatch, Reload};
