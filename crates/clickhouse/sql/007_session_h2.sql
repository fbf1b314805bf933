-- The cycle's copy of each session keeps the address's HTTP/2 fingerprint in the window:
-- the evidence stage names a library's HTTP/2 stack under a browser's JA4 from it, and
-- sessions written before this migration read as "unknown" ('').
ALTER TABLE {db}.sessions ADD COLUMN IF NOT EXISTS h2_fingerprint String DEFAULT '' AFTER tcp_fingerprint
