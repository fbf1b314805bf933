//! The JSON Lines record the simulator writes (the canonical schema, absent keys omitted).

use serde::Serialize;

/// One simulated request.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimRecord {
    pub time: String,
    #[serde(skip)]
    pub t_ms: i64,
    pub src_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dst_port: u16,
    pub host: String,
    pub method: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub http_version: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referer: Option<String>,
    pub header_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_language: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<&'static str>,
    pub has_cookie: bool,
    pub has_xff: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_ch_ua: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_ch_ua_mobile: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_ch_ua_platform: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_fetch_site: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_fetch_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_fetch_dest: Option<&'static str>,
    pub conn_id: String,
    pub keepalive_index: u32,
    pub ip_total_length: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_alpn: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_sni: Option<String>,
    pub tcp_ttl: u8,
    pub tcp_window: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_window_scale: Option<u8>,
    pub tcp_mss: u16,
    pub tcp_options: &'static str,
    pub ip_id: u32,
    pub ip_df: bool,
    pub syn_ack_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_pseudo_order: Option<String>,
    pub asn: u32,
    pub asn_org: &'static str,
    pub country: &'static str,
    pub correlated: bool,
}
