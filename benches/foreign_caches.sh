#!/usr/bin/env bash
# Foreign caches against the tools people would otherwise use (issue 8's targets):
#  - diskcache, 1,000,000 memoized entries over 200 functions (a third of the modules edited
#    after the entries were stored):
#      `summary` vs the sqlite3 shell's GROUP BY over the Cache table (name cut out of the key),
#      peak RSS, and `purge` of the stale third vs the equivalent sqlite3 DELETE;
#  - joblib, 100,000 call folders: `summary` vs `du -sb` over the same tree.
#
#   benches/foreign_caches.sh DISKCACHE_BULK_DIR JOBLIB_DIR
# DISKCACHE_BULK_DIR: written by `tests/python/caches/make_diskcache.py OUT --scenario bulk
# --fast --entries 1000000 --functions 200` (OUT/bulk); JOBLIB_DIR: by benches/gen_joblib.py.
# Needs hyperfine, sqlite3, GNU time, and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
DC=${1:?diskcache bulk dir}
JL=${2:?joblib dir}
BIN=${CARGO_TARGET_DIR:-target}/release/cachescope
RUNS=${RUNS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Source root for the bench.modN modules (the bulk cache's 200 functions bench.modM.fJ live in
# mod0..mod9, M = J % 10): every third module edited after the entries were stored (so 4 of the
# 10, 400,000 of the entries), the rest dated long before.
SRC=$WORK/src
mkdir -p "$SRC/bench"
: > "$SRC/bench/__init__.py"
for i in $(seq 0 9); do
    printf 'def f(x):\n    return x\n' > "$SRC/bench/mod$i.py"
    (( i % 3 == 0 )) || touch -d 2000-01-01 "$SRC/bench/mod$i.py"
done
NAME="CAST(substr(key, 15, unicode(CAST(substr(key, 14, 1) AS TEXT))) AS TEXT)"
# The equivalent DELETE names the stale functions: those of modules 0, 3, 6 and 9.
NAMES=$(sqlite3 "$DC/cache.db" "SELECT DISTINCT $NAME FROM Cache WHERE raw = 0" |
    grep -E '^bench\.mod[0369]\.' | sed "s/.*/'&'/" | paste -sd,)

echo "== diskcache summary (1,000,000 entries)"
hyperfine -N -w 1 -r "$RUNS" \
    -n "sqlite3 GROUP BY" "sqlite3 $DC/cache.db \"SELECT $NAME, count(*), total(size) FROM Cache WHERE raw = 0 GROUP BY 1\"" \
    -n "cachescope summary" "$BIN summary $DC --source-root $SRC"
/usr/bin/time -f "cachescope summary: peak RSS %M KiB" "$BIN" summary "$DC" --source-root "$SRC" >/dev/null
/usr/bin/time -f "cachescope list | tail: peak RSS %M KiB" sh -c "$BIN list $DC --source-root $SRC | tail -1" >/dev/null

echo "== diskcache purge of the stale entries (4 modules of 10)"
mkdir -p "$WORK/dc"
hyperfine -N -r "$RUNS" --export-json "$WORK/purge.json" \
    --prepare "sh -c 'rm -f $WORK/dc/cache.db*; cp $DC/cache.db $WORK/dc/cache.db'" \
    -n "sqlite3 DELETE" "sqlite3 $WORK/dc/cache.db \"DELETE FROM Cache WHERE raw = 0 AND $NAME IN ($NAMES)\"" \
    -n "cachescope purge" "$BIN purge $WORK/dc --source-root $SRC"
rm -f "$WORK"/dc/cache.db*; cp "$DC/cache.db" "$WORK/dc/cache.db"
/usr/bin/time -f "cachescope purge: peak RSS %M KiB" "$BIN" purge "$WORK/dc" --source-root "$SRC"
echo "rows left: $(sqlite3 "$WORK/dc/cache.db" 'SELECT count(*) FROM Cache')"
python3 - "$WORK/purge.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["cachescope purge"], r["sqlite3 DELETE"]
print(f"purge: cachescope median {a:.2f} s, sqlite3 DELETE median {b:.2f} s, ratio {a / b:.2f}")
PY

echo "== joblib summary ($(find "$JL/cache" -name metadata.json | wc -l) call folders)"
hyperfine -N -w 1 -r "$RUNS" \
    -n "du -sb" "du -sb $JL/cache" \
    -n "cachescope summary" "$BIN summary $JL/cache --source-root $JL/src"
/usr/bin/time -f "cachescope summary (joblib): peak RSS %M KiB" "$BIN" summary "$JL/cache" --source-root "$JL/src" >/dev/null
