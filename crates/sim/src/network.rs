//! Autonomous systems of the simulated Internet, with their address blocks.

use std::net::{IpAddr, Ipv4Addr};

use shrike_types::Rng;

/// One simulated AS.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// AS number.
    pub asn: u32,
    /// Organisation.
    pub org: &'static str,
    /// Country.
    pub country: &'static str,
    /// Reputation label (as in `asn_reputation.csv`).
    pub label: &'static str,
    /// An IPv4 /16 the AS announces (first two octets).
    pub block: [u8; 2],
}

macro_rules! nets {
    ($($name:ident = $asn:literal, $org:literal, $cc:literal, $label:literal, [$a:literal, $b:literal];)+) => {
        $(
            #[allow(missing_docs)]
            pub const $name: Network = Network { asn: $asn, org: $org, country: $cc, label: $label, block: [$a, $b] };
        )+
        /// Every network.
        pub const ALL: &[Network] = &[$($name),+];
    };
}

nets! {
    ORANGE = 3215, "Orange S.A.", "FR", "isp", [90, 12];
    FREE = 12322, "Free SAS", "FR", "isp", [82, 64];
    COMCAST = 7922, "Comcast Cable", "US", "isp", [73, 15];
    DTAG = 3320, "Deutsche Telekom AG", "DE", "isp", [79, 200];
    BT = 2856, "British Telecommunications", "GB", "isp", [86, 140];
    VODAFONE_IT = 30722, "Vodafone Italia", "IT", "isp", [151, 36];
    AWS = 16509, "Amazon.com, Inc.", "US", "hosting", [3, 80];
    DIGITALOCEAN = 14061, "DigitalOcean, LLC", "US", "hosting", [164, 90];
    HETZNER = 24940, "Hetzner Online GmbH", "DE", "hosting", [88, 198];
    OVH = 16276, "OVH SAS", "FR", "hosting", [51, 75];
    M247 = 9009, "M247 Europe SRL", "RO", "vpn", [185, 156];
    RENATER = 2200, "Renater", "FR", "education", [193, 50];
    GOOGLE = 15169, "Google LLC", "US", "hosting", [66, 249];
    MICROSOFT = 8075, "Microsoft Corporation", "US", "hosting", [157, 55];
}

/// Residential networks humans mostly come from.
pub const ISPS: &[Network] = &[ORANGE, FREE, COMCAST, DTAG, BT, VODAFONE_IT];
/// Hosting networks bots mostly come from.
pub const HOSTING: &[Network] = &[AWS, DIGITALOCEAN, HETZNER, OVH];

impl Network {
    /// A random address of the block.
    pub fn address(&self, rng: &mut Rng) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            self.block[0],
            self.block[1],
            rng.range(0, 255) as u8,
            rng.range(1, 254) as u8,
        ))
    }

    /// The block as `start,end` for `ip_asn.csv`.
    pub fn range(&self) -> (String, String) {
        let [a, b] = self.block;
        (format!("{a}.{b}.0.0"), format!("{a}.{b}.255.255"))
    }
}
