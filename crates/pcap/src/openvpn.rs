//! OpenVPN over TCP: the TLS handshake of its control channel, unwrapped from OpenVPN's
//! framing so that the client's ClientHello gives a JA4 like any other.
//!
//! Over TCP each OpenVPN packet is a 2-byte length and the packet: an opcode and key id
//! byte, the 8-byte session id, with `tls-auth` an HMAC and a replay packet id and time,
//! the array of acknowledged packet ids (with the remote session id when not empty), then,
//! for control packets, the message packet id and a piece of the TLS byte stream. The TLS
//! records are cut into pieces of the control channel's size, so a ClientHello usually
//! spans several packets. With `tls-crypt` the control channel is encrypted and nothing
//! can be read.

use crate::decode::{be16, be32};
use crate::tls::{RecordReader, Records};

const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
const P_CONTROL_V1: u8 = 4;
const P_ACK_V1: u8 = 5;
const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
/// The `tls-auth` part of a control packet's header: none, or an HMAC (SHA-1, SHA-256,
/// SHA-384, SHA-512) with the 4-byte packet id and 4-byte time.
const AUTH_SIZES: [usize; 5] = [0, 28, 40, 56, 72];
/// Largest OpenVPN packet considered.
const MAX_PACKET: usize = 4096;
/// TLS bytes collected before the ClientHello must be whole.
const MAX_TLS: usize = crate::tls::MAX_HANDSHAKE + 1024;

/// The 16-bit length at `at`.
fn len_at(b: &[u8], at: usize) -> Option<usize> {
    be16(b, at).map(usize::from)
}

/// If the client direction starts with an OpenVPN client's hard reset over TCP (its first
/// packet: no acknowledgment, message packet id 0), the size of its `tls-auth` part.
pub fn client_reset(b: &[u8]) -> Option<usize> {
    let len = len_at(b, 0)?;
    let p = b.get(2..2 + len)?;
    let op = *p.first()? >> 3;
    if len > MAX_PACKET
        || !matches!(
            op,
            P_CONTROL_HARD_RESET_CLIENT_V1 | P_CONTROL_HARD_RESET_CLIENT_V2
        )
    {
        return None;
    }
    // The packet may carry early-negotiation data after the packet id: at least the
    // header must fit.
    AUTH_SIZES
        .into_iter()
        .find(|auth| p.get(9 + auth) == Some(&0) && be32(p, 10 + auth) == Some(0))
}

/// Collects the control channel's TLS bytes from the client's OpenVPN packets.
#[derive(Debug)]
pub struct OpenVpn {
    auth: usize,
    next_id: u32,
    tls: Vec<u8>,
    reader: RecordReader,
}

impl OpenVpn {
    /// A reader for a client whose hard reset showed a `tls-auth` part of `auth` bytes.
    pub fn new(auth: usize) -> Self {
        OpenVpn {
            auth,
            // The hard reset took message id 0.
            next_id: 1,
            tls: Vec::new(),
            reader: RecordReader::default(),
        }
    }

    /// Consumes the whole OpenVPN packets at the front of `buf`; returns the first
    /// handshake message once the TLS bytes hold it.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Records {
        let mut used = 0;
        let out = loop {
            let Some(len) = len_at(buf, used) else {
                break Records::More;
            };
            if len == 0 || len > MAX_PACKET {
                break Records::NotHandshake;
            }
            let Some(p) = buf.get(used + 2..used + 2 + len) else {
                break Records::More;
            };
            used += 2 + len;
            let op = p[0] >> 3;
            if op == P_ACK_V1
                || matches!(
                    op,
                    P_CONTROL_HARD_RESET_CLIENT_V1 | P_CONTROL_HARD_RESET_CLIENT_V2
                )
            {
                continue;
            }
            if op != P_CONTROL_V1 {
                break Records::NotHandshake; // data: the handshake is over or unreadable
            }
            let mut at = 9 + self.auth;
            let Some(&acks) = p.get(at) else {
                break Records::NotHandshake;
            };
            at += 1 + 4 * usize::from(acks) + if acks > 0 { 8 } else { 0 };
            let (Some(id), Some(piece)) = (be32(p, at), p.get(at + 4..)) else {
                break Records::NotHandshake;
            };
            // Retransmissions repeat an id already read.
            if id < self.next_id {
                continue;
            }
            if id > self.next_id || self.tls.len() + piece.len() > MAX_TLS {
                break Records::NotHandshake;
            }
            self.next_id += 1;
            self.tls.extend_from_slice(piece);
            match self.reader.feed(&mut self.tls) {
                Records::More => {}
                done => break done,
            }
        };
        buf.drain(..used.min(buf.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(op: u8, auth: usize, id: u32, payload: &[u8]) -> Vec<u8> {
        crate::write::openvpn_packet(op, &vec![0xa5; auth], &[], id, payload)
    }

    #[test]
    fn a_hello_cut_into_control_packets_is_put_back_together() {
        for auth in [0, 28] {
            let mut stream = packet(P_CONTROL_HARD_RESET_CLIENT_V2, auth, 0, &[]);
            assert_eq!(client_reset(&stream), Some(auth));
            let hello = crate::write::client_hello_record("vpn.example", 0);
            for (i, piece) in hello.chunks(100).enumerate() {
                stream.extend(packet(P_CONTROL_V1, auth, 1 + i as u32, piece));
                // A retransmission of the first piece.
                if i == 0 {
                    stream.extend(packet(P_CONTROL_V1, auth, 1, piece));
                }
            }
            let mut r = OpenVpn::new(auth);
            let mut buf = stream[..40].to_vec();
            assert_eq!(r.feed(&mut buf), Records::More);
            buf.extend_from_slice(&stream[40..]);
            let Records::Message(m) = r.feed(&mut buf) else {
                panic!("no hello");
            };
            assert_eq!(m, hello[5..]);
        }
        assert_eq!(client_reset(b"GET / HTTP/1.1\r\n"), None);
    }
}
