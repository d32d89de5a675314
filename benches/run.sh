#!/usr/bin/env bash
# The speed and memory benchmark of issue 2, side by side with the sqlite3 shell doing the same
# work on the same file. Store: 1,000,000 entries over 2,000 source files, a third edited.
#
#   benches/run.sh [DIR]        (default DIR: target/bench-store; generated when missing)
#
# Needs hyperfine, sqlite3 and GNU time (apt-get install hyperfine sqlite3 time).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/bench-store}
RUNS=${RUNS:-10}
cargo build --release --quiet
if [ ! -f "$DIR/base.db" ]; then
    cargo bench --quiet --bench gen_store -- "$DIR" 1000000 2000
    sqlite3 "$DIR/cache.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    cp "$DIR/cache.db" "$DIR/base.db"
fi
BIN=$PWD/target/release/cachescope
cd "$DIR"
cp base.db cache.db

echo "== summary (with statuses) vs sqlite3 aggregate over the covering index + sha256sum"
hyperfine --warmup 2 --runs "$RUNS" --export-json summary.json \
    -n cachescope "$BIN summary cache.db" \
    -n sqlite3+sha256sum "sqlite3 cache.db 'SELECT source_id, strategy, count(*), total(value_size) FROM entries GROUP BY 1, 2' >/dev/null; sha256sum src/*.py >/dev/null"
/usr/bin/time -f "summary peak RSS: %M KiB" "$BIN" summary cache.db >/dev/null

echo "== purge of the stale entries vs the sqlite3 shell's equivalent DELETE (fresh copy each run)"
hyperfine --runs "$(( RUNS < 5 ? RUNS : 5 ))" --export-json purge.json \
    -n cachescope --prepare "rm -f work.db work.db-wal work.db-shm; cp base.db work.db" "$BIN purge work.db" \
    -n sqlite3 --prepare "rm -f work.db work.db-wal work.db-shm; cp base.db work.db" "sqlite3 work.db < purge.sql"
rm -f work.db work.db-wal work.db-shm; cp base.db work.db
/usr/bin/time -f "purge peak RSS: %M KiB" "$BIN" purge work.db
echo "entries left: $(sqlite3 work.db 'SELECT count(*) FROM entries')"
rm -f work.db work.db-wal work.db-shm

echo "== TUI: first frame, key presses while scrolling the largest group, peak RSS"
cp base.db cache.db
(cd - >/dev/null && cargo bench --quiet --bench tui_bench -- "$OLDPWD/cache.db")

python3 - <<'PY'
import json
for name in ("summary", "purge"):
    r = {x["command"]: x["median"] for x in json.load(open(f"{name}.json"))["results"]}
    a, b = r.pop("cachescope"), list(r.values())[0]
    print(f"{name}: cachescope median {a*1000:.0f} ms, sqlite3 median {b*1000:.0f} ms, ratio {a/b:.2f}")
PY
