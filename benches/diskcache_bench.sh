#!/usr/bin/env bash
# Summary of a 1,000,000-entry python-diskcache (200 memoized functions) through cs_memo_name,
# side by side with the sqlite3 shell grouping the same rows by the same name cut out in SQL.
#
#   benches/diskcache_bench.sh [DIR]     (default DIR: target/diskcache-bench; generated when
#                                         missing by the real diskcache, timed)
# Needs python3 with diskcache, sqlite3 and GNU time. The 1M entries are written with
# make_diskcache.py's --fast bulk mode (keys by diskcache's own args_to_key + Disk.put, rows by
# executemany): Cache.set itself costs 0.5-1.7 ms per entry on a loaded 2-core machine, i.e.
# 10-30 minutes for 1M; the --fast mode took 16.5 minutes under load average 13.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-${CARGO_TARGET_DIR:-target}/diskcache-bench}
RUNS=${RUNS:-5}
if [ ! -f "$DIR/bulk/cache.db" ]; then
    echo "== writing 1,000,000 memoize entries (keys by diskcache, see make_diskcache.py --fast)"
    python3 tests/python/caches/make_diskcache.py "$DIR" --scenario bulk --fast --entries 1000000 --functions 200
fi
DB=$DIR/bulk/cache.db
echo "== sqlite3 shell: GROUP BY the name cut out of the pickle in SQL (SHORT_BINUNICODE after PROTO, FRAME, MARK)"
# b'\x80\x05\x95' + 8-byte frame length + b'(\x8c' + 1-byte length + name: the name starts at byte 15
Q="SELECT CAST(substr(key, 15, unicode(CAST(substr(key, 14, 1) AS TEXT))) AS TEXT) AS name, count(*), total(size) FROM Cache WHERE raw = 0 GROUP BY 1"
sqlite3 "$DB" "$Q" | head -3
for i in $(seq "$RUNS"); do
    /usr/bin/time -f "sqlite3 shell: %e s, peak RSS %M KiB" sqlite3 "$DB" "$Q" >/dev/null
done
echo "== sqlite3 shell: GROUP BY raw (a floor: the scan and aggregate alone, no per-row decoding)"
/usr/bin/time -f "sqlite3 shell: %e s, peak RSS %M KiB" sqlite3 "$DB" "SELECT raw, count(*), total(size) FROM Cache GROUP BY 1" >/dev/null
echo "== cachescope: SELECT cs_memo_name(key, raw), count(*), total(size) FROM Cache GROUP BY 1"
cargo bench --quiet --bench diskcache_summary -- "$DIR/bulk" "$RUNS"
