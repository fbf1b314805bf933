//! [`SessionKey`]: what names a session everywhere after the sessionizer.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use crate::{FieldError, Ja4, Timestamp};

/// One client's requests to one host with one TLS fingerprint in one hour (SPEC §3). The
/// same value keys a stored session, its scores and its verdict; the address stays an
/// [`IpAddr`] and the JA4 a checked [`Ja4`] all the way. `Ord` compares the addresses as
/// addresses; [`SessionKey::listing_cmp`] is the stores' listing order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// Start of the hour.
    pub window_start: Timestamp,
    /// Client address.
    pub src_ip: IpAddr,
    /// JA4 of the connection (`None`: the producer saw no TLS ClientHello).
    pub ja4: Option<Ja4<'static>>,
    /// Host.
    pub host: String,
}

impl SessionKey {
    /// The JA4 as stored: the fingerprint, or "" without one.
    pub fn ja4_str(&self) -> &str {
        self.ja4.as_ref().map_or("", Ja4::as_str)
    }

    /// A JA4 as stored ("" when the session has none), checked.
    pub fn ja4_from_stored(text: String) -> Result<Option<Ja4<'static>>, FieldError> {
        if text.is_empty() {
            Ok(None)
        } else {
            Ja4::parse(Cow::Owned(text)).map(Some)
        }
    }

    /// The order the stores list sessions in: by window, then the address **as text**,
    /// the JA4 ("" first) and the host. Cycle outputs follow it (clustering labels depend
    /// on the order), so every store and every replay sees the same one.
    pub fn listing_cmp(&self, other: &SessionKey) -> Ordering {
        self.window_start
            .cmp(&other.window_start)
            .then_with(|| {
                // Formatting is only needed when the addresses differ, and needs no heap:
                // stores list their sessions in this order, so every cycle sorts by it.
                if self.src_ip == other.src_ip {
                    Ordering::Equal
                } else {
                    let (mut a, mut b) = ([0u8; IP_TEXT_MAX], [0u8; IP_TEXT_MAX]);
                    ip_text(&self.src_ip, &mut a).cmp(ip_text(&other.src_ip, &mut b))
                }
            })
            .then_with(|| self.ja4_str().cmp(other.ja4_str()))
            .then_with(|| self.host.cmp(&other.host))
    }
}

/// Longest text of an address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` is 45).
const IP_TEXT_MAX: usize = 48;

/// An address's text, written into `buf`.
fn ip_text<'b>(ip: &IpAddr, buf: &'b mut [u8; IP_TEXT_MAX]) -> &'b [u8] {
    use std::io::Write;
    let n = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        write!(cursor, "{ip}").expect("an address's text fits in 48 bytes");
        cursor.position() as usize
    };
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str, ja4: Option<&'static str>, host: &str) -> SessionKey {
        SessionKey {
            window_start: Timestamp::from_millis(0),
            src_ip: ip.parse().unwrap(),
            ja4: ja4.map(|j| Ja4::parse(Cow::Borrowed(j)).unwrap()),
            host: host.into(),
        }
    }

    #[test]
    fn listing_order_is_the_text_order_of_the_stores() {
        let j = "t13d1516h2_8daaf6152771_02713d6af862";
        let mut keys = [
            key("10.0.0.2", None, "a"),
            key("10.0.0.10", Some(j), "a"),
            key("10.0.0.10", None, "b"),
            key("2001:db8::1", None, "a"),
            key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None, "a"),
            key("10.0.0.10", None, "a"),
        ];
        keys.sort_by(SessionKey::listing_cmp);
        let text: Vec<String> = keys
            .iter()
            .map(|k| format!("{} {} {}", k.src_ip, k.ja4_str(), k.host))
            .collect();
        assert_eq!(
            text,
            [
                "10.0.0.10  a",
                "10.0.0.10  b",
                format!("10.0.0.10 {j} a").as_str(),
                "10.0.0.2  a",
                "2001:db8::1  a",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff  a",
            ]
        );
    }
}
