#!/usr/bin/env bash
# Issue 10's scale benchmark: ENTRIES entries (default 10,000,000) over FILES files (default
# 20,000), a third edited, one entry in seven with a dependency row, once with the recommended
# indexes and once with the required ones only. For each: cachescope summary, verify and purge
# against the sqlite3 shell doing the same work (the aggregate, the dependency uses and the
# entries stale dependencies reach, joined, plus sha256sum of the sources: summary.sql; the
# equivalent DELETE: purge.sql), wall time and peak RSS (GNU time). The TUI's figures come from
# `cargo bench --bench tui_bench -- DIR/recommended/base.db`, beside the plain aggregate.
#
#   benches/scale.sh [DIR] [ENTRIES] [FILES]
#
# Needs sqlite3 and GNU time. 10M entries need about 8 GB of disk per variant (the store and
# a working copy for the purges) and a long time on a 2-core machine; give a smaller ENTRIES
# to try it. BIN=path runs that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/scale-store}
ENTRIES=${2:-10000000}
FILES=${3:-20000}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/cachescope
    [ -n "${CARGO_TARGET_DIR:-}" ] && BIN=$CARGO_TARGET_DIR/release/cachescope
fi
measure() { # NAME COMMAND...
    local name=$1; shift
    /usr/bin/time -f "$name: %e s, peak RSS %M KiB" "$@" >/dev/null 2>"$DIR/time.err" || true
    tail -1 "$DIR/time.err"
}
for indexes in recommended required; do
    d="$DIR/$indexes"
    if [ ! -f "$d/base.db" ]; then
        cargo bench --quiet --bench gen_store -- "$d" "$ENTRIES" "$FILES" 7 "$indexes"
        sqlite3 "$d/cache.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
        mv "$d/cache.db" "$d/base.db"
    fi
    echo "== $ENTRIES entries, $FILES files, $indexes indexes ($(du -h "$d/base.db" | cut -f1))"
    (
        cd "$d"
        # The reading commands read the generated store itself (they write nothing).
        measure "cachescope summary" "$BIN" summary base.db
        measure "cachescope verify" "$BIN" verify base.db
        measure "sqlite3 aggregate" sqlite3 base.db \
            'SELECT source_id, strategy, count(*), total(value_size) FROM entries GROUP BY 1, 2'
        measure "sqlite3 aggregate+dependency join" sh -c "sqlite3 base.db < summary.sql"
        measure "sqlite3 derivation errors+expiry" sh -c "sqlite3 base.db < errors.sql"
        measure "sha256sum sources" sh -c "find src -name '*.py' -print0 | xargs -0 sha256sum >/dev/null"
        measure "sqlite3 quick_check" sqlite3 base.db "PRAGMA quick_check"
        rm -f work.db work.db-wal work.db-shm; cp base.db work.db
        measure "cachescope purge" "$BIN" purge work.db
        echo "  entries left: $(sqlite3 work.db 'SELECT count(*) FROM entries')"
        rm -f work.db work.db-wal work.db-shm; cp base.db work.db
        measure "sqlite3 DELETE" sh -c "sqlite3 work.db < purge.sql"
        echo "  entries left: $(sqlite3 work.db 'SELECT count(*) FROM entries')"
        rm -f work.db work.db-wal work.db-shm
    )
done
