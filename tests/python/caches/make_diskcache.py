#!/usr/bin/env python3
"""Write real python-diskcache caches for cachescope's tests and print a JSON manifest.

    python3 make_diskcache.py OUTDIR [--scenario NAME] [options]

Every cache is written by diskcache itself (Cache, FanoutCache, memoize, set). The "bad"
scenario damages diskcache's output afterwards and says what it did in the manifest.

Scenarios (default "all" = memo, lru, fanout, bad into OUTDIR/<scenario>):
  memo     Cache: memoized functions (positional, keyword, typed=True, name=, a method, a
           function of an importable module), set() keys of several types, values inline and
           file-backed in every mode, expire=
  lru      two caches, "least-recently-used" and the default policy, the same keys set, then
           some read: access_time/access_count only move under LRU
  fanout   FanoutCache with 4 shards and memoized functions
  bad      a memo cache, then: a copy with cache.db truncated, one with cache.db not SQLite,
           one whose value file was removed
  bulk     --entries N --functions F: N memoize entries (Cache.set of memoized functions'
           __cache_key__ keys, 10,000 per transact()), timed; with --fast the keys come from
           diskcache's args_to_key + Disk.put in 2 processes and the rows are inserted with
           executemany (Cache.set costs ~0.5-1.7 ms per entry here: 1M takes 10-30 min)
  churn    --seconds S: keep writing, reading and deleting keys of OUTDIR (an existing cache)
  check    run Cache(OUTDIR).check() and print the warnings (and Settings vs the table)
Stdlib and diskcache only.
"""

import argparse
import json
import os
import shutil
import sqlite3
import sys
import time
import warnings

import diskcache
from diskcache.core import args_to_key, full_name

MODULE_SRC = '''\
def area(w, h=1):
    return w * h
'''


def rows(directory):
    """Every row of cache.db as the manifest reports it (keys decoded by diskcache)."""
    con = sqlite3.connect(os.path.join(directory, "cache.db"))
    out = []
    disk = diskcache.Disk(directory)
    for rowid, key, raw, store_time, expire_time, access_time, access_count, size, mode, filename in con.execute(
        "SELECT rowid, key, raw, store_time, expire_time, access_time, access_count, size, mode, filename"
        " FROM Cache ORDER BY rowid"
    ):
        k = disk.get(key, raw)
        memo = k[0] if type(k) is tuple and k and type(k[0]) is str and any(e is None for e in k) else None
        out.append(
            {
                "rowid": rowid,
                "raw": raw,
                "key_type": type(k).__name__,
                "key_repr": repr(k),
                "key_sqlite_type": type(key).__name__,
                "memo_name": memo,
                "store_time": store_time,
                "expire_time": expire_time,
                "access_time": access_time,
                "access_count": access_count,
                "size": size,
                "mode": mode,
                "filename": filename,
            }
        )
    settings = dict(con.execute("SELECT key, value FROM Settings"))
    con.close()
    return out, settings


def describe(directory, **extra):
    r, settings = rows(directory)
    memo = {}
    for row in r:
        if row["memo_name"] is not None:
            memo[row["memo_name"]] = memo.get(row["memo_name"], 0) + 1
    return {
        "directory": directory,
        "count": len(r),
        "memo_functions": memo,
        "settings": settings,
        "rows": r,
        **extra,
    }


def write_memo(directory, src_root):
    os.makedirs(src_root, exist_ok=True)
    with open(os.path.join(src_root, "dcmod.py"), "w") as f:
        f.write(MODULE_SRC)
    sys.path.insert(0, src_root)
    import dcmod

    cache = diskcache.Cache(directory)

    @cache.memoize()
    def add(a, b=0):
        return a + b

    @cache.memoize(typed=True)
    def typed_mul(a, b):
        return a * b

    @cache.memoize(name="custom.label", expire=3600)
    def renamed(x):
        return [x] * 3

    class Shop:
        @staticmethod
        @cache.memoize()
        def price(item, qty=1):
            return len(item) * qty

    marea = cache.memoize()(dcmod.area)

    add(1, 2)
    add(1, b=2)
    add("x", "y")
    add(a=5)
    typed_mul(2, 3)
    typed_mul(2.0, 3)
    renamed("r")
    Shop.price("apple", qty=3)
    marea(2, h=3)
    # a memoized value big enough to be a pickle file
    big = cache.memoize(name="big.values")(lambda n: list(range(n)))
    big(20000)

    cache.set("plain-str", "small text")
    cache.set(42, 4.5)
    cache.set(2**70, "big int key, pickled")
    cache.set(b"bytes-key", b"\x00small bytes")
    cache.set(1.25, None)
    cache.set(("tuple", 1), {"pickled": True})
    cache.set("text-file", "t" * 40000)
    cache.set("bytes-file", b"\x01" * 50000)
    cache.set("pickle-file", list(range(10000)))
    cache.set("text-inline", "u" * 100)
    cache.set("expiring", 1, expire=3600)
    cache.set("expired", 2, expire=0.001)
    cache.set("tagged", 3, tag="t1")
    time.sleep(0.01)
    cache.close()
    return {
        "functions": {
            "add": full_name(add.__wrapped__),
            "typed_mul": full_name(typed_mul.__wrapped__),
            "renamed": "custom.label",
            "price": full_name(Shop.price.__wrapped__),
            "area": full_name(dcmod.area),
            "big": "big.values",
        },
        "memo_calls": {
            full_name(add.__wrapped__): 4,
            full_name(typed_mul.__wrapped__): 2,
            "custom.label": 1,
            full_name(Shop.price.__wrapped__): 1,
            "dcmod.area": 1,
            "big.values": 1,
        },
        "set_keys": 13,
        "source_root": src_root,
    }


def scenario_memo(out):
    d = os.path.join(out, "cache")
    info = write_memo(d, os.path.join(out, "src"))
    return {"scenario": "memo", "kind": "Cache", **describe(d, **info)}


def scenario_lru(out):
    res = {"scenario": "lru", "caches": {}}
    for policy in ("least-recently-used", "least-recently-stored"):
        d = os.path.join(out, policy)
        c = diskcache.Cache(d, eviction_policy=policy)
        for i in range(5):
            c.set("k%d" % i, i)
        time.sleep(0.05)
        for _ in range(3):
            c.get("k1")
        c.get("k3")
        c.close()
        res["caches"][policy] = describe(d, reads={"k1": 3, "k3": 1})
    return res


def scenario_fanout(out):
    d = os.path.join(out, "fanout")
    fc = diskcache.FanoutCache(d, shards=4)

    @fc.memoize()
    def cube(x):
        return x ** 3

    @fc.memoize(name="fan.neg")
    def neg(x):
        return -x

    for i in range(20):
        cube(i)
    for i in range(7):
        neg(i)
    fc.set("plain", "value")
    fc.close()
    shards = sorted(s for s in os.listdir(d) if os.path.isdir(os.path.join(d, s)))
    return {
        "scenario": "fanout",
        "kind": "FanoutCache",
        "directory": d,
        "shards": {s: describe(os.path.join(d, s)) for s in shards},
        "memo_calls": {full_name(cube.__wrapped__): 20, "fan.neg": 7},
        "set_keys": 1,
        "count": 28,
    }


def scenario_bad(out):
    src = os.path.join(out, "good")
    write_memo(src, os.path.join(out, "src"))
    damage = []
    trunc = os.path.join(out, "truncated")
    shutil.copytree(src, trunc)
    db = os.path.join(trunc, "cache.db")
    with open(db, "r+b") as f:
        f.truncate(1000)
    for side in ("cache.db-wal", "cache.db-shm"):
        if os.path.exists(os.path.join(trunc, side)):
            os.remove(os.path.join(trunc, side))
    damage.append({"directory": trunc, "what": "cache.db truncated to 1000 bytes, -wal/-shm removed"})
    notdb = os.path.join(out, "not-sqlite")
    shutil.copytree(src, notdb)
    for side in ("cache.db-wal", "cache.db-shm"):
        if os.path.exists(os.path.join(notdb, side)):
            os.remove(os.path.join(notdb, side))
    with open(os.path.join(notdb, "cache.db"), "wb") as f:
        f.write(b"this is not a database\n" * 10)
    damage.append({"directory": notdb, "what": "cache.db overwritten with text"})
    missing = os.path.join(out, "missing-file")
    shutil.copytree(src, missing)
    con = sqlite3.connect(os.path.join(missing, "cache.db"))
    (fname,) = con.execute("SELECT filename FROM Cache WHERE mode = 3 LIMIT 1").fetchone()
    con.close()
    os.remove(os.path.join(missing, fname))
    damage.append({"directory": missing, "what": "removed value file", "filename": fname})
    return {"scenario": "bad", "good": describe(src), "damage": damage}


def _bulk_keys(args):
    """Keys exactly as Cache.set stores them: diskcache's args_to_key, then Disk.put."""
    start, stop, functions, protocol = args
    disk = diskcache.Disk("/nonexistent", pickle_protocol=protocol)
    out = []
    for j in range(start, stop):
        key = args_to_key(("bench.mod%d.f%d" % (j % functions % 10, j % functions),), (j,), {"b": j % 7}, False, ())
        db_key, raw = disk.put(key)
        out.append((bytes(db_key), raw, j))
    return out


def scenario_bulk_fast(out, entries, functions):
    """Keys from diskcache's own key code (in 2 processes), rows inserted with executemany into
    the Cache table diskcache created, with the column values Cache.set writes for an inline
    int value under the default policy (access_count 0, size 0, mode 1 raw, no file, no tag,
    no expiry). Settings.count/size are kept by diskcache's triggers."""
    import multiprocessing

    d = os.path.join(out, "bulk")
    cache = diskcache.Cache(d)
    protocol = cache.disk.pickle_protocol
    cache.close()
    t0 = time.time()
    chunk = 20000
    jobs = [(i, min(i + chunk, entries), functions, protocol) for i in range(0, entries, chunk)]
    con = sqlite3.connect(os.path.join(d, "cache.db"), isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    with multiprocessing.Pool(2) as pool:
        for batch in pool.imap(_bulk_keys, jobs):
            now = time.time()
            con.executemany(
                "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
                " tag, size, mode, filename, value) VALUES (?, ?, ?, NULL, ?, 0, NULL, 0, 1, NULL, ?)",
                [(sqlite3.Binary(k), raw, now, now, v) for k, raw, v in batch],
            )
    con.execute("COMMIT")
    con.close()
    elapsed = time.time() - t0
    # the same key the real memoize wrapper makes, stored by the real Cache.set, for comparison
    cache = diskcache.Cache(d)
    ns = {}
    exec("def f0(a, b=0):\n    return a\n", ns)  # noqa: S102
    ns["f0"].__module__ = "bench.mod0"
    ns["f0"].__qualname__ = "f0"
    f0 = cache.memoize()(ns["f0"])
    probe = cache.disk.put(f0.__cache_key__(0, b=0))
    con = sqlite3.connect(os.path.join(d, "cache.db"))
    (count,) = con.execute("SELECT count(*) FROM Cache WHERE key = ? AND raw = ?", probe).fetchone()
    settings = dict(con.execute("SELECT key, value FROM Settings WHERE key IN ('count', 'size')"))
    con.close()
    cache.close()
    return {
        "scenario": "bulk",
        "mode": "fast",
        "directory": d,
        "entries": entries,
        "functions": functions,
        "seconds": elapsed,
        "memoize_key_of_f0(0, b=0)_found": count == 1,
        "settings": settings,
        "db_bytes": os.path.getsize(os.path.join(d, "cache.db")),
    }


def scenario_bulk(out, entries, functions):
    d = os.path.join(out, "bulk")
    cache = diskcache.Cache(d)
    funcs = []
    for i in range(functions):
        ns = {}
        exec("def f%d(a, b=0):\n    return a\n" % i, ns)  # noqa: S102 - a real function per name
        f = ns["f%d" % i]
        f.__module__ = "bench.mod%d" % (i % 10)
        f.__qualname__ = "f%d" % i
        funcs.append(cache.memoize()(f))
    t0 = time.time()
    per_txn = 10000
    n = 0
    while n < entries:
        with cache.transact():
            for j in range(n, min(n + per_txn, entries)):
                f = funcs[j % functions]
                cache.set(f.__cache_key__(j, b=j % 7), j)
        n += per_txn
    elapsed = time.time() - t0
    cache.close()
    return {
        "scenario": "bulk",
        "directory": d,
        "entries": entries,
        "functions": functions,
        "seconds": elapsed,
        "db_bytes": os.path.getsize(os.path.join(d, "cache.db")),
    }


def scenario_churn(out, seconds):
    """Write, read and delete in the existing cache OUTDIR until `seconds` pass."""
    cache = diskcache.Cache(out)

    @cache.memoize(name="churn.f")
    def f(x):
        return "v" * (x % 3) * 20000  # every third value is a file

    t0 = time.time()
    i = 0
    while time.time() - t0 < seconds:
        f(i)
        cache.get("churn-%d" % (i // 2))
        cache.set("churn-%d" % i, b"x" * (40000 if i % 5 == 0 else 10))
        if i % 7 == 0:
            cache.delete("churn-%d" % (i - 3))
        i += 1
    cache.close()
    return {"scenario": "churn", "directory": out, "iterations": i}


def scenario_check(out):
    cache = diskcache.Cache(out)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        found = cache.check()
    con = sqlite3.connect(os.path.join(out, "cache.db"))
    count, size = con.execute("SELECT count(*), total(size) FROM Cache").fetchone()
    settings = dict(con.execute("SELECT key, value FROM Settings"))
    con.close()
    cache.close()
    return {
        "scenario": "check",
        "directory": out,
        "warnings": [str(x.message) for x in found] + [str(x.message) for x in w],
        "rows": count,
        "rows_size": size,
        "settings_count": settings["count"],
        "settings_size": settings["size"],
    }


SCENARIOS = {"memo": scenario_memo, "lru": scenario_lru, "fanout": scenario_fanout, "bad": scenario_bad}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--scenario", default="all", choices=["all", "bulk", "churn", "check", *SCENARIOS])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--functions", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--fast", action="store_true", help="bulk: keys by diskcache, rows by executemany")
    a = ap.parse_args()
    out = os.path.abspath(a.outdir)
    os.makedirs(out, exist_ok=True)
    if a.scenario == "all":
        manifest = {"scenarios": {}}
        for name, fn in SCENARIOS.items():
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            manifest["scenarios"][name] = fn(d)
    elif a.scenario == "bulk":
        manifest = (scenario_bulk_fast if a.fast else scenario_bulk)(out, a.entries, a.functions)
    elif a.scenario == "churn":
        manifest = scenario_churn(out, a.seconds)
    elif a.scenario == "check":
        manifest = scenario_check(out)
    else:
        manifest = SCENARIOS[a.scenario](out)
    manifest["diskcache_version"] = diskcache.__version__
    manifest["python"] = sys.version.split()[0]
    json.dump(manifest, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
