-- view_ai_features_1h: one row per session (window_start, src_ip, ja4, host) of the
-- horizon [{from}, {to}] (window starts, DateTime64(3) parameters: the cycle's horizon is
-- measured from the newest record, never from now()), with every SPEC §4 feature under its
-- shrike name and the formulas of crates/features/src/finish.rs. Cohort features are window
-- functions over the horizon's sessions, as the predecessor's view.
--     SELECT * FROM view_ai_features_1h(from = '2026-11-20 00:00:00.000', to = '2026-11-21 00:00:00.000')
CREATE OR REPLACE VIEW {db}.view_ai_features_1h AS
WITH
-- Exact population variance and mean from (count, sum, sum of squares).
(n, sm, sq) -> if(n = 0, 0, toFloat64(greatest(toInt128(n) * sq - sm * sm, toInt128(0))) / (toFloat64(n) * toFloat64(n))) AS moments_var,
(n, sm) -> if(n = 0, 0, toFloat64(sm) / toFloat64(n)) AS moments_mean,
sess AS (
    SELECT
        window_start, src_ip, ja4, host,
        sum(hits) AS hits, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
        argMinMerge(first) AS f,
        sum(count_post) AS n_post, sum(count_head) AS n_head, sum(count_orphan) AS n_orphan,
        sum(count_ip_id_zero) AS n_ip_id_zero, sum(count_mss_1460) AS n_mss_1460,
        sum(count_asset) AS n_asset, sum(count_no_referer) AS n_no_referer,
        sum(count_anomalous_payload) AS n_anomalous, sum(count_tls12) AS n_tls12,
        sum(count_no_sec_fetch) AS n_no_sec_fetch, sum(count_generic_accept) AS n_generic_accept,
        sum(count_http10) AS n_http10, sum(count_no_wscale) AS n_no_wscale,
        sum(count_correlated) AS n_correlated, sum(count_no_accept_enc) AS n_no_accept_enc,
        sum(count_http_scheme) AS n_http_scheme, sum(count_xff) AS n_xff,
        sum(count_unusual_ct) AS n_unusual_ct, sum(count_non_std_port) AS n_non_std_port,
        sum(count_login_post) AS n_login_post,
        max(correlated) AS any_correlated, max(max_keepalive) AS max_keepalive_v,
        groupUniqArrayMerge(path_set) AS paths,
        uniqExactMerge(uniq_queries) AS n_queries, uniqExactMerge(uniq_src_ports) AS n_src_ports,
        uniqExactMerge(uniq_conn_ids) AS n_conn_ids, uniqExactMerge(uniq_user_agents) AS n_user_agents,
        uniqExactMerge(uniq_ja3) AS n_ja3,
        sum(syn_n) AS syn_n_, sum(syn_s) AS syn_s_, sum(syn_q) AS syn_q_,
        sum(size_n) AS size_n_, sum(size_s) AS size_s_, sum(size_q) AS size_q_,
        sum(depth_n) AS depth_n_, sum(depth_s) AS depth_s_, sum(depth_q) AS depth_q_,
        sum(df_n) AS df_n_, sum(df_s) AS df_s_, sum(df_q) AS df_q_,
        sum(ttl_n) AS ttl_n_, sum(ttl_s) AS ttl_s_, sum(ttl_q) AS ttl_q_,
        groupArraySortedMerge(256)(seq) AS events
    FROM {db}.agg_session_1h
    WHERE window_start >= {from:DateTime64(3, 'UTC')} AND window_start <= {to:DateTime64(3, 'UTC')}
    GROUP BY window_start, src_ip, ja4, host
),
ipw AS (
    SELECT
        window_start AS w_ws, src_ip AS w_ip,
        argMinMerge(first) AS hf,
        max(header_count) AS header_count_v,
        max(has_accept_language) AS has_accept_language_v, max(has_cookie) AS has_cookie_v,
        max(has_referer) AS has_referer_v, max(has_sec_ch_ua) AS has_sec_ch_ua_v,
        max(ua_ch_mismatch) AS ua_ch_mismatch_v, max(sec_ch_mobile_mismatch) AS sec_ch_mobile_mismatch_v,
        max(modern_browser_score) AS modern_browser_score_v,
        argMinMerge(h2_fingerprint) AS h2_fp, argMinMerge(h2_pseudo_order) AS h2_po
    FROM {db}.agg_ip_1h
    WHERE window_start >= {from:DateTime64(3, 'UTC')} AND window_start <= {to:DateTime64(3, 'UTC')}
    GROUP BY window_start, src_ip
),
-- Per (window, IP): hosts, their hits and path sets, and every session's events tagged
-- with its JA4 (host and JA4 sequence features).
ip_hosts AS (
    SELECT window_start, src_ip,
        groupArray((toInt64(length(host_paths)), host, host_hits, host_paths)) AS hs,
        min(host_first) AS ip_first, max(host_last) AS ip_last,
        arraySort(groupArrayArray(tagged)) AS all_events
    FROM (
        SELECT window_start, src_ip, host, sum(hits) AS host_hits,
            arrayDistinct(arrayFlatten(groupArray(paths))) AS host_paths,
            min(first_seen) AS host_first, max(last_seen) AS host_last,
            arrayFlatten(groupArray(arrayMap(e -> (e.1, e.2, e.3, ja4), events))) AS tagged
        FROM sess GROUP BY window_start, src_ip, host
    )
    GROUP BY window_start, src_ip
),
ip_seq AS (
    SELECT window_start AS q_ws, src_ip AS q_ip,
        toFloat64(length(hs)) AS host_diversity,
        toFloat64(length(hs)) / (greatest(toUnixTimestamp64Milli(ip_last) - toUnixTimestamp64Milli(ip_first), 0) / 60000 + 1) AS host_sweep_speed,
        arrayMap(h -> toFloat64(h.3), hs) AS host_hits_f,
        arraySum(host_hits_f) AS total_hits,
        if(length(hs) > 1,
           least(greatest(arraySum(arrayMap(x -> -(x / total_hits) * log2(x / total_hits), arrayFilter(x -> x > 0, host_hits_f))) / log2(length(hs)), 0), 1),
           0) AS host_coverage_uniformity,
        arraySlice(arraySort(h -> (-h.1, h.2), hs), 1, 32) AS top,
        arrayFlatten(arrayMap(i -> arrayMap(j -> arrayJaccardIndex(top[i].4, top[j].4), range(i + 1, length(top) + 1)),
                              range(1, length(top) + 1))) AS jac,
        if(empty(jac), 0, arraySum(jac) / length(jac)) AS cross_domain_path_similarity,
        if(length(all_events) < 2, 0,
           arrayCount(i -> all_events[i].4 != all_events[i + 1].4, range(1, length(all_events))) / (length(all_events) - 1)) AS ja4_drift_ratio
    FROM ip_hosts
),
base AS (
    SELECT
        s.*, i.hf AS hf, i.header_count_v AS header_count_v, i.has_accept_language_v AS has_accept_language_v,
        i.has_cookie_v AS has_cookie_v, i.has_referer_v AS has_referer_v, i.has_sec_ch_ua_v AS has_sec_ch_ua_v,
        i.ua_ch_mismatch_v AS ua_ch_mismatch_v, i.sec_ch_mobile_mismatch_v AS sec_ch_mobile_mismatch_v,
        i.modern_browser_score_v AS modern_browser_score_v, i.h2_fp AS h2_fp, i.h2_po AS h2_po,
        q.host_diversity, q.host_sweep_speed, q.host_coverage_uniformity,
        q.cross_domain_path_similarity, q.ja4_drift_ratio,
        ifNull(f.asn, 0) AS asn_v, f.country AS country_v, f.asn_org AS asn_org_v,
        f.tcp_fingerprint AS tcp_fingerprint_v,
        hf.header_order AS header_order,
        if(header_order = '', '', lower(hex(cityHash64(header_order)))) AS header_order_hash_v,
        dictGetOrDefault('{db}.dict_browser_ja4', 'browser_family', tuple(s.ja4), '') AS family,
        dictGetOrDefault('{db}.dict_browser_h2', 'browser_family', tuple(h2_fp), '') AS h2_family,
        if(h2_po != '', h2_po, if(position(h2_fp, '|') > 0, splitByChar('|', h2_fp)[-1], '')) AS pseudo_order,
        greatest(intDiv(toUnixTimestamp64Milli(s.last_seen), 1000) - intDiv(toUnixTimestamp64Milli(s.first_seen), 1000), 0) AS duration,
        ifNull(f.tls_alpn = 'h2', false) AND NOT ifNull(f.http_version = '2', false) AS alpn_http_mismatch_b,
        f.tls_sni != '' AND lower(f.tls_sni) != lower(s.host) AS sni_host_mismatch_b,
        h2_fp != '' AND family != '' AND h2_family = family AS h2_coherent,
        moments_var(syn_n_, syn_s_, syn_q_) / 1e6 AS jitter_var,
        arrayMap(e -> toUnixTimestamp64Milli(e.1), s.events) AS ts,
        arrayMap(e -> e.3, s.events) AS ph,
        arrayMap(k -> (ph[k], ph[k + 1]), range(1, length(ph))) AS pairs,
        arrayMap(g -> toFloat64(g), arrayPopFront(arrayDifference(ts))) AS gaps,
        length(gaps) AS ng,
        if(ng = 0, 0, arraySum(gaps) / ng) AS gap_mean,
        if(ng = 0, 0, arraySum(arrayMap(g -> (g - gap_mean) * (g - gap_mean), gaps)) / ng) AS gap_var,
        arrayMap(g -> toUInt8(substring(toString(toInt64(g)), 1, 1)), arrayFilter(g -> g >= 1, gaps)) AS digits,
        sum(s.hits) OVER (PARTITION BY s.src_ip) AS ip_hits,
        sum(s.hits) OVER (PARTITION BY s.ja4) AS ja4_hits,
        count() OVER (PARTITION BY s.ja4) AS ja4_count,
        uniqExact(s.ja4) OVER (PARTITION BY s.src_ip) AS distinct_ja4
    FROM sess AS s
    LEFT JOIN ipw AS i ON i.w_ws = s.window_start AND i.w_ip = s.src_ip
    LEFT JOIN ip_seq AS q ON q.q_ws = s.window_start AND q.q_ip = s.src_ip
)
SELECT
    window_start, src_ip, ja4, host, first_seen, last_seen,
    asn_v AS asn, asn_org_v AS asn_org, country_v AS country,
    dictGetOrDefault('{db}.dict_asn_reputation', 'label', toUInt64(asn_v), 'unknown') AS asn_label,
    coalesce(nullIf(dictGetOrDefault('{db}.dict_bot_ip', 'bot_name', src_ip, ''), ''),
             nullIf(dictGetOrDefault('{db}.dict_bot_ja4', 'bot_name', tuple(ja4), ''), ''), '') AS bot_name,
    family AS browser_family,
    any_correlated = 1 AS correlated,
    f.user_agent AS user_agent,
    tcp_fingerprint_v AS tcp_fingerprint,
    header_order_hash_v AS header_order_hash,
    h2_fp AS h2_fingerprint,
    toFloat64(hits) AS hits,
    n_post / (hits + 1) AS post_ratio,
    n_queries / (length(paths) + 1) AS fuzzing_index,
    hits / (duration + 1) AS hit_velocity,
    n_src_ports / (hits + 1) AS port_exhaustion_ratio,
    n_orphan / (hits + 1) AS orphan_ratio,
    n_ip_id_zero / (hits + 1) AS ip_id_zero_ratio,
    hits / (n_conn_ids + 1) AS multiplexing_efficiency,
    toFloat64(n_mss_1460 > hits * 0.8 AND has_sec_ch_ua_v > 0) AS mss_mobile_mismatch,
    moments_var(size_n_, size_s_, size_q_) AS request_size_variance,
    toFloat64(alpn_http_mismatch_b) AS alpn_http_mismatch,
    toFloat64(f.tls_alpn IS NULL) AS is_alpn_missing,
    toFloat64(sni_host_mismatch_b) AS sni_host_mismatch,
    toFloat64(hf.sec_fetch_mode = 'navigate' AND hf.sec_fetch_dest != 'document') AS is_fake_navigation,
    toFloat64(count() OVER (PARTITION BY tcp_fingerprint_v)) AS tcp_shared_count,
    toFloat64(count() OVER (PARTITION BY header_order_hash_v)) AS header_order_shared_count,
    n_asset / (hits + 1) AS asset_ratio,
    n_no_referer / (hits + 1) AS direct_access_ratio,
    toFloat64(n_user_agents > 2) AS is_ua_rotating,
    toFloat64(distinct_ja4) AS distinct_ja4_count,
    (hits / (n_src_ports + 1)) / (duration + 1) AS src_port_density,
    sum(hits) OVER (PARTITION BY ja4, asn_v) / (ja4_hits + 1) AS ja4_asn_concentration,
    sum(hits) OVER (PARTITION BY ja4, country_v) / (ja4_hits + 1) AS ja4_country_concentration,
    toFloat64(ja4_hits < 100) AS is_rare_ja4,
    count() OVER (PARTITION BY header_order_hash_v, ja4) / (ja4_count + 1) AS header_order_confidence,
    toFloat64(uniqExact(header_order_hash_v) OVER (PARTITION BY src_ip)) AS distinct_header_orders,
    length(paths) / (hits + 1) AS path_diversity_ratio,
    moments_var(depth_n_, depth_s_, depth_q_) AS url_depth_variance,
    n_anomalous / (hits + 1) AS anomalous_payload_ratio,
    sqrt(jitter_var) / greatest(moments_mean(syn_n_, syn_s_) / 1000, 1) AS syn_timing_cv,
    n_tls12 / (hits + 1) AS tls12_ratio,
    n_head / (hits + 1) AS head_ratio,
    n_no_sec_fetch / (hits + 1) AS sec_fetch_absence_rate,
    n_generic_accept / (hits + 1) AS generic_accept_ratio,
    n_http10 / (hits + 1) AS http10_ratio,
    moments_var(df_n_, df_s_, df_q_) AS ip_df_variance,
    moments_mean(ttl_n_, ttl_s_) AS avg_ttl,
    sqrt(moments_var(ttl_n_, ttl_s_, ttl_q_)) AS ttl_std,
    if(n_correlated > 0, n_no_wscale / n_correlated, 0) AS no_window_scale_ratio,
    n_no_accept_enc / (hits + 1) AS missing_accept_enc_ratio,
    n_http_scheme / (hits + 1) AS http_scheme_ratio,
    toFloat64(n_xff > 0) AS has_xff,
    n_unusual_ct / greatest(n_post, 1) AS unusual_content_type_ratio,
    n_non_std_port / (hits + 1) AS non_standard_port_ratio,
    n_login_post / greatest(n_post, 1) AS login_post_concentration,
    toFloat64(sec_ch_mobile_mismatch_v) AS sec_ch_mobile_mismatch,
    toFloat64(ifNull(f.tcp_window, 0)) * pow(2, ifNull(f.tcp_window_scale, 0)) AS true_window_size,
    if(ifNull(f.tcp_mss, 0) > 0, toFloat64(ifNull(f.tcp_window, 0)) / f.tcp_mss, 0) AS window_mss_ratio,
    jitter_var AS tcp_jitter_variance,
    toFloat64(max_keepalive_v) AS max_keepalives,
    toFloat64(header_count_v) AS header_count,
    toFloat64(has_accept_language_v) AS has_accept_language,
    toFloat64(has_cookie_v) AS has_cookie,
    toFloat64(has_referer_v) AS has_referer,
    toFloat64(modern_browser_score_v) AS modern_browser_score,
    toFloat64(has_sec_ch_ua_v) AS has_sec_ch_ua,
    toFloat64(ua_ch_mismatch_v) AS ua_ch_mismatch,
    toFloat64(h2_fp != '' AND h2_family != '') AS h2_settings_known,
    toFloat64(pseudo_order != '' AND dictHas('{db}.dict_pseudo_orders', (family, pseudo_order))) AS h2_pseudo_order_match,
    toFloat64(h2_coherent) AS h2_ja4_coherence,
    toFloat64(h2_fp != '' AND h2_family = '') AS h2_settings_rare,
    -sum((hits / (ip_hits + 1)) * log2(hits / (ip_hits + 1) + 0.000001)) OVER (PARTITION BY src_ip) AS temporal_entropy,
    sum(n_ja3) OVER (PARTITION BY src_ip) / greatest(distinct_ja4, 1) AS ja3_diversity_ratio,
    if(family = '', 0, 0.25) + toFloat64(h2_coherent) * 0.20 + (1 - toFloat64(alpn_http_mismatch_b)) * 0.15
        + (1 - toFloat64(sni_host_mismatch_b)) * 0.10 + toFloat64(has_accept_language_v = 1) * 0.15
        + (1 - toFloat64(ua_ch_mismatch_v = 1)) * 0.15 AS fingerprint_coherence_score,
    if(length(pairs) >= 2,
       least(greatest(arraySum(arrayMap(c -> -(c / length(pairs)) * log2(c / length(pairs)),
                                        arrayMap(p -> countEqual(pairs, p), arrayDistinct(pairs)))) / log2(length(pairs)), 0), 1),
       0) AS path_transition_entropy,
    if(ng >= 2 AND gap_mean > 0, sqrt(gap_var) / gap_mean, 0) AS cadence_cv,
    if(ng = 0, 0, arrayCount(g -> g < 1000, gaps) / ng) AS burst_ratio,
    if(ng = 0, 0, arrayCount(g -> g > 30000, gaps) / ng) AS pause_ratio,
    if(ng >= 3 AND gap_var > 0,
       least(greatest(arraySum(arrayMap(k -> (gaps[k] - gap_mean) * (gaps[k + 1] - gap_mean), range(1, ng))) / ng / gap_var, -1), 1),
       0) AS lag1_autocorrelation,
    if(ng >= 2 AND length(digits) >= 2,
       least(greatest(arraySum(arrayMap((d, e) -> abs(countEqual(digits, d) / length(digits) - e),
                                        [1, 2, 3, 4, 5, 6, 7, 8, 9],
                                        [0.301, 0.176, 0.125, 0.097, 0.079, 0.067, 0.058, 0.051, 0.046])) / 2, 0), 1),
       0) AS benford_deviation,
    host_diversity, host_sweep_speed, host_coverage_uniformity, cross_domain_path_similarity, ja4_drift_ratio
FROM base;
