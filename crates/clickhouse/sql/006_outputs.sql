-- Detection outputs (SPEC §6), the ingest ledger, and deduplication on the aggregates.
--
-- Writes are not transactional in ClickHouse: a cycle writes its rows under a fresh
-- cycle_id and its `cycles` row last, so readers, who start from `cycles`, never see a
-- cycle that did not finish; the rows of a cycle cut short stay under an id no `cycles`
-- row names, and the next cycle takes a higher id.
-- Retention: scores, sessions, fleets and campaigns expire after {output_ttl_days} days;
-- cycles, decisions and models (small, the audit trail) after {audit_ttl_days}; analysts'
-- feedback never expires.

-- A batch replayed after a failure carries its first insert's deduplication token: the
-- materialized views' targets must deduplicate it too (inserts set
-- deduplicate_blocks_in_dependent_materialized_views = 1).
ALTER TABLE {db}.agg_session_1h MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE {db}.agg_ip_1h MODIFY SETTING non_replicated_deduplication_window = 10000;

-- What `shrike ingest` read: content fingerprint and byte span of each input, so that the
-- same file is not pushed twice and a file that grew is continued.
CREATE TABLE IF NOT EXISTS {db}.ingested_sources
(
    fingerprint String,
    label String,
    path Nullable(String),
    start_offset UInt64,
    end_offset Nullable(UInt64),
    lines UInt64,
    ends_with_newline Bool,
    records UInt64,
    rejected UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (ingested_at, fingerprint);

CREATE TABLE IF NOT EXISTS {db}.cycles
(
    id UInt64,
    started_at DateTime64(3, 'UTC'),
    horizon_start DateTime64(3, 'UTC'),
    horizon_end DateTime64(3, 'UTC'),
    sessions UInt64,
    scored UInt64,
    anomalies UInt64,
    anomaly_rate Float64,
    metrics String
)
ENGINE = MergeTree
ORDER BY id
TTL toDateTime(started_at) + INTERVAL {audit_ttl_days} DAY;

-- The feature vectors each cycle scored ([`FeatureId`] order), for explanations and as the
-- supervised scorer's labelled history; the latest cycle's copy wins.
CREATE TABLE IF NOT EXISTS {db}.sessions
(
    cycle_id UInt64,
    window_start DateTime('UTC'),
    src_ip String,
    ja4 String,
    host String,
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    hits UInt64,
    asn UInt32,
    asn_org String,
    country String,
    tcp_fingerprint String,
    asn_label LowCardinality(String),
    bot_name String,
    browser_family LowCardinality(String),
    correlated Bool,
    user_agent String,
    features Array(Float32)
)
ENGINE = ReplacingMergeTree(cycle_id)
PARTITION BY toDate(window_start)
ORDER BY (window_start, src_ip, ja4, host)
TTL window_start + INTERVAL {output_ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.all_scores
(
    cycle_id UInt64,
    cycle_at DateTime64(3, 'UTC'),
    window_start DateTime('UTC'),
    src_ip String,
    ja4 String,
    host String,
    model LowCardinality(String),
    threat_level LowCardinality(String),
    raw_score Float64,
    anomaly_score Float64,
    is_anomaly Bool,
    recurrence UInt32,
    browser_confidence Float64,
    browser_family LowCardinality(String),
    campaign_id Int64,
    reason String,
    top_features String,
    fleet_id Int64,
    fleet_score Float64,
    fleet_flag Bool,
    forest_score Float64,
    flow_score Nullable(Float64),
    trees_prob Nullable(Float64)
)
ENGINE = MergeTree
PARTITION BY toDate(cycle_at)
ORDER BY (cycle_id, window_start, src_ip, ja4, host)
TTL toDateTime(cycle_at) + INTERVAL {output_ttl_days} DAY;

CREATE VIEW IF NOT EXISTS {db}.detected_anomalies AS
SELECT * FROM {db}.all_scores WHERE is_anomaly;

CREATE TABLE IF NOT EXISTS {db}.decisions
(
    cycle_id UInt64,
    seq UInt32,
    at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    model LowCardinality(String),
    payload String
)
ENGINE = MergeTree
ORDER BY (cycle_id, seq)
TTL toDateTime(at) + INTERVAL {audit_ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.models
(
    model LowCardinality(String),
    version String,
    cycle_id UInt64,
    trained_at DateTime64(3, 'UTC'),
    meta String
)
ENGINE = ReplacingMergeTree(cycle_id)
ORDER BY (model, version)
TTL toDateTime(trained_at) + INTERVAL {audit_ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.fleet_detections
(
    cycle_id UInt64,
    fleet_id Int64,
    detected_at DateTime64(3, 'UTC'),
    sessions UInt64,
    ips UInt64,
    prefixes UInt64,
    asns String,
    ja4s String,
    mean_browser_confidence Float64,
    score Float64,
    flagged Bool
)
ENGINE = MergeTree
ORDER BY (cycle_id, fleet_id)
TTL toDateTime(detected_at) + INTERVAL {output_ttl_days} DAY;

-- One row per campaign and cycle that saw it; the newest (updated_at) wins.
CREATE TABLE IF NOT EXISTS {db}.campaigns
(
    campaign_id Int64,
    first_cycle UInt64,
    last_cycle UInt64,
    cycles UInt64,
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    model LowCardinality(String),
    algorithm LowCardinality(String),
    sessions UInt64,
    ips UInt64,
    escalated UInt64,
    ja4s String,
    asns String,
    countries String,
    hosts String,
    features String,
    levels String
)
ENGINE = ReplacingMergeTree(last_cycle)
ORDER BY campaign_id
TTL toDateTime(updated_at) + INTERVAL {output_ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.campaign_members
(
    campaign_id Int64,
    src_ip String,
    last_seen DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (campaign_id, src_ip)
TTL toDateTime(last_seen) + INTERVAL {output_ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.feedback
(
    id UInt64,
    created_at DateTime64(3, 'UTC'),
    analyst String,
    label Enum8('bot' = 1, 'human' = 2),
    note String,
    src_ip String,
    window_start Nullable(DateTime('UTC')),
    ja4 Nullable(String),
    host Nullable(String)
)
ENGINE = MergeTree
ORDER BY id;
