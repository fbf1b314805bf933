-- Raw requests, one row per HTTP request, in shrike's canonical record schema (SPEC §2).
-- Any producer may write here (shrike ingest, Vector, a Kafka engine table...): the
-- materialized views below derive everything else from these columns.
-- Conventions: enumerated fields hold shrike's canonical spellings (method 'GET',
-- http_version '1.0' '1.1' '2' '3', tls_version '1.2' '1.3', tls_alpn 'h2' 'http/1.1');
-- NULL is "the producer does not know"; header_names_known = 0 when the header list is
-- unknown (an Array cannot be NULL). ingest_seq breaks ties between requests of the same
-- millisecond ("the session's first request"): shrike writes its input order, other
-- producers may leave 0.
CREATE TABLE IF NOT EXISTS {db}.http_logs
(
    time DateTime64(3, 'UTC'),
    ingest_seq UInt64 DEFAULT 0,
    src_ip IPv6,
    src_port Nullable(UInt16),
    dst_port Nullable(UInt16),
    host Nullable(String),
    method LowCardinality(Nullable(String)),
    path Nullable(String),
    query Nullable(String),
    http_version LowCardinality(Nullable(String)),
    status Nullable(UInt16),
    bytes Nullable(UInt64),
    user_agent Nullable(String),
    referer Nullable(String),
    header_names Array(String),
    header_names_known Bool DEFAULT 0,
    accept Nullable(String),
    accept_language Nullable(String),
    accept_encoding Nullable(String),
    content_type Nullable(String),
    has_cookie Nullable(Bool),
    has_xff Nullable(Bool),
    sec_ch_ua Nullable(String),
    sec_ch_ua_mobile Nullable(String),
    sec_ch_ua_platform Nullable(String),
    sec_fetch_site Nullable(String),
    sec_fetch_mode Nullable(String),
    sec_fetch_dest Nullable(String),
    sec_fetch_user Nullable(String),
    conn_id Nullable(String),
    keepalive_index Nullable(UInt32),
    ip_total_length Nullable(UInt32),
    ja4 Nullable(String),
    ja4_r Nullable(String),
    ja3 Nullable(String),
    ja4h Nullable(String),
    ja4t Nullable(String),
    tls_version LowCardinality(Nullable(String)),
    tls_alpn LowCardinality(Nullable(String)),
    tls_sni Nullable(String),
    tls_cipher Nullable(String),
    tcp_ttl Nullable(UInt8),
    tcp_window Nullable(UInt32),
    tcp_window_scale Nullable(UInt8),
    tcp_mss Nullable(UInt16),
    tcp_options Nullable(String),
    ip_id Nullable(UInt32),
    ip_df Nullable(Bool),
    syn_ack_ms Nullable(Float64),
    h2_fingerprint Nullable(String),
    h2_pseudo_order Nullable(String),
    asn Nullable(UInt32),
    asn_org Nullable(String),
    country LowCardinality(Nullable(String)),
    correlated Nullable(Bool)
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (toStartOfHour(time), src_ip, time)
TTL toDateTime(time) + INTERVAL {raw_ttl_days} DAY
-- A retried batch carries the same insert_deduplication_token: inserted once.
SETTINGS non_replicated_deduplication_window = 10000;
