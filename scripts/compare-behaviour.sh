#!/usr/bin/env bash
# Shows that a change kept shrike's verdicts: builds REV (default: the commit before HEAD) and
# the working tree, runs `shrike demo` and `shrike eval sim` with each in identical
# directories and environment, and diffs what they decided.
#
#   scripts/compare-behaviour.sh [REV]
#
# Compared, per side: the verdict table of the demo's cycle and of a second `shrike detect`
# cycle on its store (sessions per cycle and level, sessions per campaign, and an FNV-1a
# digest of every stored score's key, level and the bits of its seven scores), and the
# `shrike eval sim` report with run times removed. Exit status 0 when
# both are identical, 1 when they differ (the diff is printed). Needs git, cargo and python3.
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
cd "$root"
base="$(git rev-parse --verify "${1:-HEAD~1}^{commit}")"
work="$(mktemp -d)"
cleanup() {
    git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building $base (base) and the working tree (head), release" >&2
git worktree add --quiet --detach "$work/base-src" "$base"
CARGO_TARGET_DIR="$work/base-target" cargo build --quiet --release -p shrike \
    --manifest-path "$work/base-src/Cargo.toml"
cargo build --quiet --release -p shrike
declare -A bins=([base]="$work/base-target/release/shrike" [head]="${CARGO_TARGET_DIR:-$root/target}/release/shrike")

# Both sides see the same simulated world: the same real-profile directory (or none).
shared="${SHRIKE_SHARED_DATA:-$root/../shared/data}"
[ -d "$shared" ] || shared="$work/no-shared-data"

table() {
    python3 - "$1" <<'EOF'
import sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
for sql in (
    "SELECT 'cycle ' || cycle_id || ' ' || threat_level || ': ' || count(*) FROM all_scores "
    "GROUP BY cycle_id, threat_level ORDER BY cycle_id, threat_level",
    "SELECT 'cycle ' || cycle_id || ' campaign ' || campaign_id || ': ' || count(*) || ' sessions' "
    "FROM all_scores WHERE campaign_id >= 0 GROUP BY cycle_id, campaign_id ORDER BY cycle_id, campaign_id",
):
    for (line,) in db.execute(sql):
        print(line)
h, n = 0xCBF29CE484222325, 0
def feed(b):
    global h
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
for r in db.execute(
    "SELECT window_start_ms, src_ip, ja4, host, threat_level, raw_score, anomaly_score, forest_score, "
    "flow_score, trees_prob, browser_confidence, fleet_score FROM all_scores "
    "ORDER BY cycle_id, window_start_ms, src_ip, ja4, host"
):
    feed(struct.pack("<q", r[0]))
    for s in r[1:5]:
        feed(s.encode())
    for v in r[5:]:
        feed(struct.pack("<Q", 2**64 - 1) if v is None else struct.pack("<d", float(v)))
    n += 1
print(f"{n} scores, digest {h:016x}")
EOF
}

for side in base head; do
    bin="${bins[$side]}"
    mkdir -p "$work/$side/demo" "$work/$side/eval"
    (
        cd "$work/$side/demo"
        SHRIKE_SHARED_DATA="$shared" "$bin" demo --out sim --no-serve >demo.log 2>&1
        # A second cycle: models reused, trees trained on the first cycle's labels.
        "$bin" detect --store sim/demo.db --dict-dir sim/dict >detect.log 2>&1
        table sim/demo.db >"$work/$side.table"
    )
    (
        cd "$work/$side/eval"
        SHRIKE_SHARED_DATA="$shared" "$bin" eval sim 2>/dev/null |
            sed -E 's/"train_ms":[0-9]+/"train_ms":_/g; s/ [0-9]+ records\/s/ _ records\/s/' \
                >"$work/$side.eval"
    )
done

status=0
for what in table eval; do
    if diff -u "$work/base.$what" "$work/head.$what"; then
        echo "== $what: identical ($(wc -l <"$work/head.$what") lines)"
    else
        status=1
    fi
done
echo "== demo verdict table (head):"
cat "$work/head.table"
exit "$status"
