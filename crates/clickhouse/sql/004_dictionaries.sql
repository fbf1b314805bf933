-- Enrichment dictionaries, sourced from tables that `shrike ch dict-sync` fills from
-- shrike's dictionary directory (SPEC §3), then reloads. bot_ip and anubis_ip are IP tries
-- (IPv4 prefixes match IPv4-mapped addresses).
CREATE TABLE IF NOT EXISTS {db}.src_bot_ip (cidr String, bot_name String) ENGINE = MergeTree ORDER BY cidr;
CREATE TABLE IF NOT EXISTS {db}.src_bot_ja4 (ja4 String, bot_name String) ENGINE = MergeTree ORDER BY ja4;
CREATE TABLE IF NOT EXISTS {db}.src_browser_ja4 (ja4 String, browser_family String) ENGINE = MergeTree ORDER BY ja4;
CREATE TABLE IF NOT EXISTS {db}.src_browser_h2 (fingerprint String, browser_family String) ENGINE = MergeTree ORDER BY fingerprint;
CREATE TABLE IF NOT EXISTS {db}.src_pseudo_orders (browser_family String, pseudo_order String) ENGINE = MergeTree ORDER BY (browser_family, pseudo_order);
CREATE TABLE IF NOT EXISTS {db}.src_asn_reputation (asn UInt64, label String) ENGINE = MergeTree ORDER BY asn;
CREATE TABLE IF NOT EXISTS {db}.src_anubis_ip (cidr String, bot_name String, action String, category String) ENGINE = MergeTree ORDER BY cidr;
CREATE TABLE IF NOT EXISTS {db}.src_anubis_asn (asn UInt64, bot_name String, action String, category String) ENGINE = MergeTree ORDER BY asn;

CREATE DICTIONARY IF NOT EXISTS {db}.dict_bot_ip (cidr String, bot_name String DEFAULT '')
PRIMARY KEY cidr SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_bot_ip'))
LAYOUT(IP_TRIE()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_bot_ja4 (ja4 String, bot_name String DEFAULT '')
PRIMARY KEY ja4 SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_bot_ja4'))
LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_browser_ja4 (ja4 String, browser_family String DEFAULT '')
PRIMARY KEY ja4 SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_browser_ja4'))
LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_browser_h2 (fingerprint String, browser_family String DEFAULT '')
PRIMARY KEY fingerprint SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_browser_h2'))
LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_pseudo_orders (browser_family String, pseudo_order String)
PRIMARY KEY browser_family, pseudo_order SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_pseudo_orders'))
LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_asn_reputation (asn UInt64, label String DEFAULT 'unknown')
PRIMARY KEY asn SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_asn_reputation'))
LAYOUT(HASHED()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_anubis_ip (cidr String, bot_name String DEFAULT '', action String DEFAULT '', category String DEFAULT '')
PRIMARY KEY cidr SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_anubis_ip'))
LAYOUT(IP_TRIE()) LIFETIME(MIN 60 MAX 300);

CREATE DICTIONARY IF NOT EXISTS {db}.dict_anubis_asn (asn UInt64, bot_name String DEFAULT '', action String DEFAULT '', category String DEFAULT '')
PRIMARY KEY asn SOURCE(CLICKHOUSE(DB '{db}' TABLE 'src_anubis_asn'))
LAYOUT(HASHED()) LIFETIME(MIN 60 MAX 300);
