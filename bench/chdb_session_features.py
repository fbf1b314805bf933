"""The seed view's session aggregates computed by the genuine ClickHouse engine (chDB),
straight from a shrike JSON Lines file: the side-by-side reference for `shrike bench ingest`.

    python bench/chdb_session_features.py shrike-data/bench/traffic.jsonl [runs]

Run it with the Python of the clickhouse-shim venv (see bench/README.md). It reads the file
with an explicit schema (no inference pass), groups by (hour, src_ip, ja4, host) with the
aggregates the seed's `agg_host_ip_ja4_1h` table keeps, joins the per-(hour, IP) header
aggregates, and computes the view's `OVER (PARTITION BY ...)` cohort features, as
`shrike bench ingest` does. Prints the wall time per run and the median records/s.
"""

import statistics
import sys
import time

import chdb

SCHEMA = ", ".join(
    f"{name} {typ}"
    for name, typ in [
        ("time", "String"), ("src_ip", "String"), ("src_port", "Nullable(UInt16)"),
        ("dst_port", "Nullable(UInt16)"), ("host", "String"), ("method", "String"),
        ("path", "String"), ("query", "String"), ("http_version", "String"),
        ("user_agent", "String"), ("referer", "String"), ("header_names", "Array(String)"),
        ("accept", "String"), ("accept_encoding", "String"), ("accept_language", "String"),
        ("content_type", "String"), ("has_xff", "Nullable(Bool)"), ("sec_ch_ua", "String"),
        ("sec_fetch_site", "String"), ("sec_fetch_mode", "String"),
        ("sec_fetch_dest", "String"), ("conn_id", "String"),
        ("keepalive_index", "Nullable(UInt32)"), ("ip_total_length", "Nullable(UInt32)"),
        ("ja4", "String"), ("ja3", "String"), ("tls_version", "String"),
        ("tls_alpn", "String"), ("tls_sni", "String"), ("tcp_ttl", "Nullable(UInt8)"),
        ("tcp_window", "Nullable(UInt32)"), ("tcp_window_scale", "Nullable(UInt8)"),
        ("tcp_mss", "Nullable(UInt16)"), ("tcp_options", "String"),
        ("ip_id", "Nullable(UInt32)"), ("ip_df", "Nullable(Bool)"),
        ("syn_ack_ms", "Nullable(Float64)"), ("h2_fingerprint", "String"),
        ("h2_pseudo_order", "String"), ("asn", "Nullable(UInt32)"), ("country", "String"),
        ("correlated", "Nullable(Bool)"),
    ]
)

QUERY = """
WITH
raw AS (
  SELECT *, parseDateTime64BestEffort(time, 3) AS t, toStartOfHour(t) AS window_start,
         path LIKE '%.css' OR path LIKE '%.js' OR path LIKE '%.png' OR path LIKE '%.woff2' AS is_asset
  FROM file('{path}', JSONEachRow, '{schema}')
),
a AS (
  SELECT window_start, src_ip, ja4, host,
    argMin(asn, t) AS src_asn, argMin(country, t) AS src_country_code,
    count() AS hits, uniqExact(path) AS uniq_paths, uniqExact(query) AS uniq_query_params,
    countIf(method = 'POST') AS count_post, countIf(method = 'HEAD') AS count_head,
    min(t) AS first_seen, max(t) AS last_seen,
    argMin(concat(toString(tcp_window), '_', tcp_options, '_', toString(tcp_mss), '_',
                  toString(tcp_window_scale)), t) AS tcp_fingerprint,
    varPop(syn_ack_ms) AS tcp_jitter_variance, avg(syn_ack_ms) AS avg_syn_ms,
    varPop(ip_total_length) AS request_size_variance,
    argMin(http_version, t) AS first_http_version, argMin(tls_alpn, t) AS first_alpn,
    argMin(tls_sni, t) AS first_sni, max(correlated) AS any_correlated,
    uniqExact(src_port) AS unique_src_ports, uniqExact(conn_id) AS unique_conn_id,
    max(keepalive_index) AS max_keepalives, countIf(NOT ifNull(correlated, false)) AS orphan_count,
    countIf(ip_id = 0) AS ip_id_zero_count, countIf(tcp_mss = 1460) AS mss_1460_count,
    countIf(is_asset) AS count_assets, countIf(referer = '') AS count_no_referer,
    uniqExact(user_agent) AS unique_ua,
    varPop(length(path) - length(replaceAll(path, '/', ''))) AS url_depth_variance,
    countIf(match(lower(concat(path, '?', query)), '\\\\.\\\\./|<script|union.select|\\\\$\\\\{{jndi|%00'))
      AS count_anomalous_payload,
    uniqExact(ja3) AS uniq_ja3, countIf(tls_version = '1.2') AS tls12_count,
    countIf(sec_fetch_site = '' AND sec_fetch_mode = '' AND sec_fetch_dest = '') AS count_no_sec_fetch,
    countIf(accept = '' OR accept = '*/*') AS count_generic_accept,
    countIf(http_version = '1.0') AS count_http10, varPop(toUInt8(ip_df)) AS ip_df_variance,
    avg(tcp_ttl) AS avg_ttl, varPop(tcp_ttl) AS ttl_variance,
    countIf(correlated AND tcp_window_scale IS NULL) AS count_no_wscale,
    countIf(correlated) AS count_correlated, countIf(accept_encoding = '') AS count_no_accept_enc,
    countIf(tls_version = '') AS count_http_scheme, countIf(has_xff) AS count_xff,
    countIf(method = 'POST' AND content_type NOT IN ('application/json',
      'application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain')) AS count_unusual_ct,
    countIf(dst_port NOT IN (80, 443)) AS count_non_std_port,
    countIf(method = 'POST' AND match(lower(path), 'login|signin|auth|session|token')) AS count_login_post
  FROM raw GROUP BY window_start, src_ip, ja4, host
),
h AS (
  SELECT window_start, src_ip,
    argMin(arrayStringConcat(arrayMap(x -> lower(x), header_names), ','), t) AS header_order_hash,
    max(length(header_names)) AS header_count, max(accept_language != '') AS has_accept_language,
    max(referer != '') AS has_referer, max(sec_ch_ua != '') AS has_sec_ch_ua,
    argMin(sec_fetch_mode, t) AS first_fetch_mode, argMin(sec_fetch_dest, t) AS first_fetch_dest,
    argMinIf(h2_fingerprint, t, h2_fingerprint != '') AS h2_fp,
    argMinIf(h2_pseudo_order, t, h2_pseudo_order != '') AS h2_pseudo_ord
  FROM raw GROUP BY window_start, src_ip
),
f AS (
  SELECT a.*, h.header_order_hash, h.header_count, h.has_sec_ch_ua, h.h2_fp,
    sum(a.hits) OVER (PARTITION BY a.src_ip) AS total_ip_hits,
    count() OVER (PARTITION BY a.tcp_fingerprint) AS tcp_shared_count,
    count() OVER (PARTITION BY h.header_order_hash) AS header_order_shared_count,
    uniqExact(a.ja4) OVER (PARTITION BY a.src_ip) AS distinct_ja4_count,
    sum(a.hits) OVER (PARTITION BY a.ja4, a.src_asn) / (sum(a.hits) OVER (PARTITION BY a.ja4) + 1)
      AS ja4_asn_concentration,
    sum(a.hits) OVER (PARTITION BY a.ja4, a.src_country_code)
      / (sum(a.hits) OVER (PARTITION BY a.ja4) + 1) AS ja4_country_concentration,
    count() OVER (PARTITION BY h.header_order_hash, a.ja4) / (count() OVER (PARTITION BY a.ja4) + 1)
      AS header_order_confidence,
    uniqExact(h.header_order_hash) OVER (PARTITION BY a.src_ip) AS distinct_header_orders
  FROM a LEFT JOIN h ON a.src_ip = h.src_ip AND a.window_start = h.window_start
)
SELECT count(), sum(hits), sum(tcp_shared_count), sum(header_order_confidence),
  sum(-(hits / (total_ip_hits + 1)) * log2(hits / (total_ip_hits + 1) + 0.000001))
FROM f
"""


def main() -> None:
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with open(path, "rb") as f:
        records = sum(1 for line in f if line.strip())
    q = QUERY.format(path=path, schema=SCHEMA)
    rates = []
    for run in range(runs):
        t = time.perf_counter()
        out = chdb.query(q, "CSV")
        dt = time.perf_counter() - t
        rates.append(records / dt)
        print(f"run {run + 1}: {records} records in {dt:.2f} s: {records / dt:.0f} records/s;"
              f" sessions, hits, ...: {str(out).strip()}")
    print(f"median: {statistics.median(rates):.0f} records/s over {runs} runs")


if __name__ == "__main__":
    main()
