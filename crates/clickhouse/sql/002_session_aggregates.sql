-- Hourly session aggregates, one row per (window_start, src_ip, ja4, host) and insert
-- block, merged by AggregatingMergeTree; readers re-aggregate with GROUP BY (parts merge
-- in the background). Every per-request fact has the definition of shrike's Rust
-- sessionizer (crates/features/src/request.rs and accumulate.rs), so that the feature view
-- and `shrike ingest` agree (the parity test checks it).
CREATE TABLE IF NOT EXISTS {db}.agg_session_1h
(
    window_start DateTime('UTC'),
    src_ip IPv6,
    ja4 String,
    host String,
    hits SimpleAggregateFunction(sum, UInt64),
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    -- The earliest request's values, by (time, ingest_seq).
    first AggregateFunction(argMin,
        Tuple(user_agent String, http_version Nullable(String), tls_alpn Nullable(String),
              tls_sni String, tcp_fingerprint String, tcp_window Nullable(UInt32),
              tcp_window_scale Nullable(UInt8), tcp_mss Nullable(UInt16), asn Nullable(UInt32),
              asn_org String, country String),
        Tuple(DateTime64(3, 'UTC'), UInt64)),
    count_post SimpleAggregateFunction(sum, UInt64),
    count_head SimpleAggregateFunction(sum, UInt64),
    count_orphan SimpleAggregateFunction(sum, UInt64),
    count_ip_id_zero SimpleAggregateFunction(sum, UInt64),
    count_mss_1460 SimpleAggregateFunction(sum, UInt64),
    count_asset SimpleAggregateFunction(sum, UInt64),
    count_no_referer SimpleAggregateFunction(sum, UInt64),
    count_anomalous_payload SimpleAggregateFunction(sum, UInt64),
    count_tls12 SimpleAggregateFunction(sum, UInt64),
    count_no_sec_fetch SimpleAggregateFunction(sum, UInt64),
    count_generic_accept SimpleAggregateFunction(sum, UInt64),
    count_http10 SimpleAggregateFunction(sum, UInt64),
    count_no_wscale SimpleAggregateFunction(sum, UInt64),
    count_correlated SimpleAggregateFunction(sum, UInt64),
    count_no_accept_enc SimpleAggregateFunction(sum, UInt64),
    count_http_scheme SimpleAggregateFunction(sum, UInt64),
    count_xff SimpleAggregateFunction(sum, UInt64),
    count_unusual_ct SimpleAggregateFunction(sum, UInt64),
    count_non_std_port SimpleAggregateFunction(sum, UInt64),
    count_login_post SimpleAggregateFunction(sum, UInt64),
    correlated SimpleAggregateFunction(max, UInt8),
    max_keepalive SimpleAggregateFunction(max, UInt32),
    -- Distinct values (NULL: not counted).
    path_set AggregateFunction(groupUniqArray, UInt64),
    uniq_queries AggregateFunction(uniqExact, Nullable(UInt64)),
    uniq_src_ports AggregateFunction(uniqExact, Nullable(UInt16)),
    uniq_conn_ids AggregateFunction(uniqExact, Nullable(UInt64)),
    uniq_user_agents AggregateFunction(uniqExact, Nullable(UInt64)),
    uniq_ja3 AggregateFunction(uniqExact, Nullable(UInt64)),
    -- Exact moments (count, sum, sum of squares) of integer observations: the population
    -- variance (n·Σx² − (Σx)²) / n² is computed exactly, whatever the merge order.
    syn_n SimpleAggregateFunction(sum, UInt64),
    syn_s SimpleAggregateFunction(sum, Int128),
    syn_q SimpleAggregateFunction(sum, Int128),
    size_n SimpleAggregateFunction(sum, UInt64),
    size_s SimpleAggregateFunction(sum, Int128),
    size_q SimpleAggregateFunction(sum, Int128),
    depth_n SimpleAggregateFunction(sum, UInt64),
    depth_s SimpleAggregateFunction(sum, Int128),
    depth_q SimpleAggregateFunction(sum, Int128),
    df_n SimpleAggregateFunction(sum, UInt64),
    df_s SimpleAggregateFunction(sum, Int128),
    df_q SimpleAggregateFunction(sum, Int128),
    ttl_n SimpleAggregateFunction(sum, UInt64),
    ttl_s SimpleAggregateFunction(sum, Int128),
    ttl_q SimpleAggregateFunction(sum, Int128),
    -- The earliest 256 requests (time, ingest_seq, path hash) for the sequence features.
    seq AggregateFunction(groupArraySorted(256), Tuple(DateTime64(3, 'UTC'), UInt64, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(window_start)
ORDER BY (window_start, src_ip, ja4, host)
TTL window_start + INTERVAL {agg_ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_session_1h TO {db}.agg_session_1h AS
WITH
    ifNull(path, '') AS p,
    ifNull(query, '') AS q,
    ifNull(l.correlated, false) AS is_corr,
    -- Host as the session key holds it: trimmed, no port, no trailing dot, ASCII lower case.
    trimBoth(ifNull(l.host, '')) AS h0,
    multiIf(startsWith(h0, '['), if(position(h0, ']') > 0, substring(h0, 1, position(h0, ']')), h0),
            match(h0, '^[^:]*:[0-9]*$'), extract(h0, '^([^:]*):'), h0) AS h1,
    lower(if(endsWith(h1, '.'), substring(h1, 1, length(h1) - 1), h1)) AS norm_host,
    -- Traversal, script, SQL UNION, JNDI or NUL in a path or query (request.rs).
    (s -> (match(s, '[%<$\' +\\\\:=]') OR position(s, '..') > 0 OR position(s, '\0') > 0)
          AND (position(s, '\0') > 0 OR multiSearchAnyCaseInsensitive(s, ['../', '..\\', '%2e%2e', '..%2f',
              '<script', '%3cscript', 'javascript:', 'union select', 'union+select', 'union%20select',
              '${jndi:', '%24%7bjndi', '%00', '/etc/passwd', '\' or \'1\'=\'1', '%27%20or%20']))) AS anomalous,
    lower(trimBoth(splitByChar(';', ifNull(content_type, ''))[1])) AS mime,
    -- SYN→ACK in microseconds, rounded half away from zero as Rust's f64::round.
    toInt128(ifNull(if(syn_ack_ms >= 0, floor(syn_ack_ms * 1000 + 0.5), ceil(syn_ack_ms * 1000 - 0.5)), 0)) AS syn_us
SELECT
    toStartOfHour(toDateTime(time, 'UTC')) AS window_start,
    src_ip,
    ifNull(l.ja4, '') AS ja4,
    norm_host AS host,
    count() AS hits,
    min(time) AS first_seen,
    max(time) AS last_seen,
    argMinState(
        CAST((ifNull(user_agent, ''), http_version, tls_alpn, ifNull(tls_sni, ''),
              multiIf(tcp_window IS NOT NULL,
                      concat(toString(tcp_window), '_', if(ifNull(tcp_options, '') = '', '00', tcp_options), '_',
                             ifNull(toString(tcp_mss), '00'), '_', ifNull(toString(tcp_window_scale), '00')),
                      ifNull(ja4t, '')),
              tcp_window, tcp_window_scale, tcp_mss, asn, ifNull(asn_org, ''), ifNull(country, '')),
             'Tuple(user_agent String, http_version Nullable(String), tls_alpn Nullable(String), tls_sni String, tcp_fingerprint String, tcp_window Nullable(UInt32), tcp_window_scale Nullable(UInt8), tcp_mss Nullable(UInt16), asn Nullable(UInt32), asn_org String, country String)'),
        (time, ingest_seq)) AS first,
    countIf(method = 'POST') AS count_post,
    countIf(method = 'HEAD') AS count_head,
    countIf(NOT is_corr) AS count_orphan,
    countIf(ip_id = 0) AS count_ip_id_zero,
    countIf(tcp_mss = 1460) AS count_mss_1460,
    countIf(lower(extract(p, '\\.([^./]*)$')) IN ('css', 'js', 'mjs', 'map', 'png', 'jpg', 'jpeg', 'gif', 'svg',
        'webp', 'avif', 'ico', 'bmp', 'woff', 'woff2', 'ttf', 'otf')) AS count_asset,
    countIf(ifNull(referer, '') = '') AS count_no_referer,
    countIf(anomalous(p) OR anomalous(q)) AS count_anomalous_payload,
    countIf(tls_version = '1.2') AS count_tls12,
    countIf(sec_fetch_site IS NULL AND sec_fetch_mode IS NULL AND sec_fetch_dest IS NULL
            AND sec_fetch_user IS NULL) AS count_no_sec_fetch,
    countIf(accept IS NULL OR replaceRegexpAll(accept, '^\\s+|\\s+$', '') IN ('', '*/*')) AS count_generic_accept,
    countIf(http_version = '1.0') AS count_http10,
    countIf(is_corr AND tcp_window_scale IS NULL) AS count_no_wscale,
    countIf(is_corr) AS count_correlated,
    countIf(ifNull(accept_encoding, '') = '') AS count_no_accept_enc,
    countIf(l.ja4 IS NULL AND tls_version IS NULL AND tls_sni IS NULL
            AND (is_corr OR ifNull(dst_port = 80, false))) AS count_http_scheme,
    countIf(has_xff = true) AS count_xff,
    countIf(method = 'POST' AND (content_type IS NULL OR NOT (mime IN ('application/x-www-form-urlencoded',
        'multipart/form-data', 'application/json', 'text/plain') OR endsWith(mime, '+json')))) AS count_unusual_ct,
    countIf(dst_port IS NOT NULL AND dst_port NOT IN (80, 443)) AS count_non_std_port,
    countIf(method = 'POST' AND multiSearchAnyCaseInsensitive(p, ['login', 'signin', 'auth', 'session', 'token'])) AS count_login_post,
    max(toUInt8(is_corr)) AS correlated,
    max(ifNull(keepalive_index, 0)) AS max_keepalive,
    groupUniqArrayState(cityHash64(p)) AS path_set,
    uniqExactState(if(q != '', cityHash64(q), NULL)) AS uniq_queries,
    uniqExactState(src_port) AS uniq_src_ports,
    uniqExactState(if(conn_id IS NOT NULL, cityHash64(assumeNotNull(conn_id)), NULL)) AS uniq_conn_ids,
    uniqExactState(if(user_agent IS NOT NULL, cityHash64(assumeNotNull(user_agent)), NULL)) AS uniq_user_agents,
    uniqExactState(if(ifNull(ja3, '') != '', cityHash64(assumeNotNull(ja3)), NULL)) AS uniq_ja3,
    countIf(syn_ack_ms IS NOT NULL) AS syn_n,
    sum(syn_us) AS syn_s,
    sum(syn_us * syn_us) AS syn_q,
    countIf(ip_total_length IS NOT NULL) AS size_n,
    sum(toInt128(ifNull(ip_total_length, 0))) AS size_s,
    sum(toInt128(ifNull(ip_total_length, 0)) * toInt128(ifNull(ip_total_length, 0))) AS size_q,
    count() AS depth_n,
    sum(toInt128(countSubstrings(p, '/'))) AS depth_s,
    sum(toInt128(countSubstrings(p, '/')) * toInt128(countSubstrings(p, '/'))) AS depth_q,
    countIf(ip_df IS NOT NULL) AS df_n,
    sum(toInt128(ifNull(toUInt8(ip_df), 0))) AS df_s,
    sum(toInt128(ifNull(toUInt8(ip_df), 0))) AS df_q,
    countIf(tcp_ttl IS NOT NULL) AS ttl_n,
    sum(toInt128(ifNull(tcp_ttl, 0))) AS ttl_s,
    sum(toInt128(ifNull(tcp_ttl, 0)) * toInt128(ifNull(tcp_ttl, 0))) AS ttl_q,
    groupArraySortedState(256)((time, ingest_seq, cityHash64(p))) AS seq
FROM {db}.http_logs AS l
GROUP BY window_start, src_ip, ja4, host;
