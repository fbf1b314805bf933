-- Hourly per-(window_start, src_ip) aggregates: the header fingerprint and HTTP/2 facts
-- the feature view joins to every session of the address in the window
-- (the predecessor's agg_header_fingerprint_1h and h2_agg). Tri-state facts are
-- -1 unknown, 0 no, 1 yes, merged with max. Definitions: crates/features/src/request.rs.
CREATE TABLE IF NOT EXISTS {db}.agg_ip_1h
(
    window_start DateTime('UTC'),
    src_ip IPv6,
    -- Header names of the earliest request, lower-cased and comma-joined, and its
    -- Sec-Fetch-Mode / Sec-Fetch-Dest.
    first AggregateFunction(argMin, Tuple(header_order String, sec_fetch_mode String, sec_fetch_dest String),
        Tuple(DateTime64(3, 'UTC'), UInt64)),
    header_count SimpleAggregateFunction(max, UInt32),
    has_accept_language SimpleAggregateFunction(max, Int8),
    has_cookie SimpleAggregateFunction(max, Int8),
    has_referer SimpleAggregateFunction(max, Int8),
    has_sec_ch_ua SimpleAggregateFunction(max, Int8),
    ua_ch_mismatch SimpleAggregateFunction(max, Int8),
    sec_ch_mobile_mismatch SimpleAggregateFunction(max, Int8),
    modern_browser_score SimpleAggregateFunction(max, Float32),
    -- The earliest non-empty HTTP/2 fingerprint and pseudo-header order (empty ones sort last).
    h2_fingerprint AggregateFunction(argMin, String, Tuple(Bool, DateTime64(3, 'UTC'), UInt64)),
    h2_pseudo_order AggregateFunction(argMin, String, Tuple(Bool, DateTime64(3, 'UTC'), UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(window_start)
ORDER BY (window_start, src_ip)
TTL window_start + INTERVAL {agg_ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv_ip_1h TO {db}.agg_ip_1h AS
WITH
    arrayMap(x -> lower(x), header_names) AS names,
    -- Presence known from a value and/or the header list (RequestRecord::header_presence).
    (v, name) -> toInt8(multiIf(ifNull(v, '') != '', 1, header_names_known AND has(names, name), 1,
                                v IS NOT NULL OR header_names_known, 0, -1)) AS presence,
    ifNull(user_agent, '') AS ua,
    -- The Chromium major version a user agent claims (none for Firefox).
    if(position(ua, 'Firefox/') > 0, NULL, toUInt32OrNull(extract(ua, 'Chrome/(\\d*)'))) AS chromium,
    presence(sec_ch_ua, 'sec-ch-ua') AS ch,
    coalesce(toUInt32OrNull(extract(ifNull(sec_ch_ua, ''), '"Chromium";v="(\\d*)')),
             toUInt32OrNull(extract(ifNull(sec_ch_ua, ''), '"Google Chrome";v="(\\d*)')),
             toUInt32OrNull(extract(ifNull(sec_ch_ua, ''), '"Microsoft Edge";v="(\\d*)'))) AS ch_major,
    (ja4 IS NOT NULL OR tls_version IS NOT NULL OR tls_sni IS NOT NULL OR ifNull(dst_port = 443, false)) AS over_tls,
    replaceRegexpAll(ifNull(sec_ch_ua_mobile, ''), '^\\s+|\\s+$', '') AS mobile,
    trim(BOTH '"' FROM replaceRegexpAll(ifNull(sec_ch_ua_platform, ''), '^\\s+|\\s+$', '')) AS platform,
    (position(ua, 'Mobile') > 0 OR position(ua, 'Android') > 0) AS ua_mobile
SELECT
    toStartOfHour(toDateTime(time, 'UTC')) AS window_start,
    src_ip,
    argMinState(CAST((if(header_names_known, arrayStringConcat(names, ','), ''), ifNull(sec_fetch_mode, ''),
                      ifNull(sec_fetch_dest, '')),
                     'Tuple(header_order String, sec_fetch_mode String, sec_fetch_dest String)'),
                (time, ingest_seq)) AS first,
    max(toUInt32(length(header_names))) AS header_count,
    max(presence(accept_language, 'accept-language')) AS has_accept_language,
    max(toInt8(multiIf(l.has_cookie IS NOT NULL, toInt8(assumeNotNull(l.has_cookie)),
                       header_names_known, toInt8(has(names, 'cookie')), -1))) AS has_cookie,
    max(presence(referer, 'referer')) AS has_referer,
    max(ch) AS has_sec_ch_ua,
    max(toInt8(multiIf(ua = '' OR ch = -1, -1,
                       ch = 0, toInt8(ifNull(chromium >= 90, false) AND over_tls),
                       chromium IS NULL, 1,
                       toInt8(ifNull(ch_major != chromium, false))))) AS ua_ch_mismatch,
    max(toInt8(multiIf(mobile = '' AND platform = '', -1,
                       toInt8((mobile = '?1' AND NOT ua_mobile) OR (mobile = '?0' AND position(ua, 'Mobile') > 0)
                              OR (lower(platform) = 'windows' AND position(ua, 'Windows') = 0)
                              OR (lower(platform) = 'macos' AND position(ua, 'Macintosh') = 0)
                              OR (lower(platform) = 'android' AND position(ua, 'Android') = 0)
                              OR (lower(platform) = 'linux' AND position(ua, 'Linux') = 0 AND position(ua, 'X11') = 0)
                              OR (lower(platform) = 'chrome os' AND position(ua, 'CrOS') = 0))))) AS sec_ch_mobile_mismatch,
    -- Share of five modern-browser signals (request.rs modern_browser_score).
    max(toFloat32((toUInt8(sec_fetch_site IS NOT NULL OR sec_fetch_mode IS NOT NULL OR sec_fetch_dest IS NOT NULL)
         + toUInt8(position(ifNull(accept_encoding, ''), 'br') > 0 OR position(ifNull(accept_encoding, ''), 'zstd') > 0)
         + toUInt8(http_version IN ('2', '3'))
         + toUInt8(ifNull(accept_language, '') != '')
         + toUInt8(ifNull(chromium >= 100, false)
                   OR ifNull(toUInt32OrNull(extract(ua, 'Firefox/(\\d*)')) >= 100, false)
                   OR (position(ua, 'Safari/') > 0 AND position(ua, 'Chrome/') = 0
                       AND ifNull(toUInt32OrNull(extract(ua, 'Version/(\\d*)')) >= 15, false)))) / 5)) AS modern_browser_score,
    argMinState(ifNull(l.h2_fingerprint, ''), (ifNull(l.h2_fingerprint, '') = '', time, ingest_seq)) AS h2_fingerprint,
    argMinState(ifNull(l.h2_pseudo_order, ''), (ifNull(l.h2_pseudo_order, '') = '', time, ingest_seq)) AS h2_pseudo_order
FROM {db}.http_logs AS l
GROUP BY window_start, src_ip;
