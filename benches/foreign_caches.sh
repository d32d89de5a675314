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

# Source root for the 200 bench.modN modules: a third edited after the entries were stored, the
# rest dated long before.
SRC=$WORK/src
mkdir -p "$SRC/bench"
: > "$SRC/bench/__init__.py"
STALE=()
for i in $(seq 0 199); do
    printf 'def f%d(x):\n    return x\n' "$i" > "$SRC/bench/mod$i.py"
    if (( i % 3 == 0 )); then STALE+=("'bench.mod$i.f$i'"); else touch -d 2000-01-01 "$SRC/bench/mod$i.py"; fi
done
NAMES=$(IFS=,; echo "${STALE[*]}")
NAME="CAST(substr(key, 15, unicode(CAST(substr(key, 14, 1) AS TEXT))) AS TEXT)"

echo "== diskcache summary (1,000,000 entries)"
hyperfine -N -w 1 -r "$RUNS" \
    -n "sqlite3 GROUP BY" "sqlite3 $DC/cache.db \"SELECT $NAME, count(*), total(size) FROM Cache WHERE raw = 0 GROUP BY 1\"" \
    -n "cachescope summary" "$BIN summary $DC --source-root $SRC"
/usr/bin/time -f "cachescope summary: peak RSS %M KiB" "$BIN" summary "$DC" --source-root "$SRC" >/dev/null
/usr/bin/time -f "cachescope list | tail: peak RSS %M KiB" sh -c "$BIN list $DC --source-root $SRC | tail -1" >/dev/null

echo "== diskcache purge of the stale third"
mkdir -p "$WORK/dc"
hyperfine -N -r "$RUNS" \
    --prepare "sh -c 'rm -f $WORK/dc/cache.db*; cp $DC/cache.db $WORK/dc/cache.db'" \
    -n "sqlite3 DELETE" "sqlite3 $WORK/dc/cache.db \"DELETE FROM Cache WHERE raw = 0 AND $NAME IN ($NAMES)\"" \
    -n "cachescope purge" "$BIN purge $WORK/dc --source-root $SRC"
rm -f "$WORK"/dc/cache.db*; cp "$DC/cache.db" "$WORK/dc/cache.db"
/usr/bin/time -f "cachescope purge: peak RSS %M KiB" "$BIN" purge "$WORK/dc" --source-root "$SRC"

echo "== joblib summary ($(find "$JL/cache" -name metadata.json | wc -l) call folders)"
hyperfine -N -w 1 -r "$RUNS" \
    -n "du -sb" "du -sb $JL/cache" \
    -n "cachescope summary" "$BIN summary $JL/cache --source-root $JL/src"
/usr/bin/time -f "cachescope summary (joblib): peak RSS %M KiB" "$BIN" summary "$JL/cache" --source-root "$JL/src" >/dev/null
