"""Two processes hammering one fresh store at once: both create it, no error, no lost write."""

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import unittest

import cs_helpers as h

MODULE = """\
from cachescope_cache import cache


@cache(store="cache.db", depends_on=["data.txt"])
def f(x):
    return {"x": x, "square": x * x}
"""

WORKER = """\
import os, time
start, count = int(sys.argv[1]), int(sys.argv[2])
import mod
deadline = time.monotonic() + 60
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.001)
for i in range(count):
    x = start + i
    assert mod.f(x) == {"x": x, "square": x * x}
# Again, in reverse: mostly hits now, racing the other process's writes.
for i in reversed(range(count)):
    x = start + i
    assert mod.f(x) == {"x": x, "square": x * x}
info = mod.f.cache_info()
print(json.dumps({"hits": info["hits"], "misses": info["misses"], "errors": info["errors"]}))
"""

CALLS = 200


class ConcurrencyTest(unittest.TestCase):
    def run_round(self):
        with tempfile.TemporaryDirectory(prefix="cachescope-py-") as tmp:
            store = os.path.join(tmp, "cache.db")
            h.write(os.path.join(tmp, "mod.py"), MODULE)
            h.write(os.path.join(tmp, "data.txt"), "shared input\n")
            code = h.APP_PRELUDE + WORKER
            workers = [
                subprocess.Popen([sys.executable, "-c", code, str(start), str(CALLS)],
                                 cwd=tmp, env=h.app_env(tmp), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                for start in (0, CALLS // 2)  # overlapping arguments: 100..199 in both
            ]
            time.sleep(0.3)  # let both import and wait at the barrier
            self.assertFalse(os.path.exists(store), "the store must not exist before the race")
            with open(os.path.join(tmp, "go"), "w"):
                pass
            results = []
            for w in workers:
                out, err = w.communicate(timeout=300)
                self.assertEqual(w.returncode, 0, "worker failed:\n%s\n%s" % (out, err))
                self.assertEqual(err, "", "a worker logged something:\n" + err)
                results.append(json.loads(out.strip().splitlines()[-1]))
            for r in results:
                self.assertEqual(r["errors"], 0)
                self.assertEqual(r["hits"] + r["misses"], 2 * CALLS)

            expected = {x: {"x": x, "square": x * x} for x in range(CALLS + CALLS // 2)}
            rows = h.entries(store)
            self.assertEqual(len(rows), len(expected), "lost or duplicated writes")
            self.assertEqual(len({r["key"] for r in rows}), len(expected))
            values = {}
            for r in rows:
                value = pickle.loads(r["value"])
                values[value["x"]] = value
                self.assertEqual(r["strategy"], "source")
                self.assertEqual(r["value_size"], len(r["value"]))
            self.assertEqual(values, expected)
            total_hits = sum(r["hits"] for r in rows)
            self.assertEqual(total_hits, sum(r["hits"] for r in results))

            # Race-safe creation and deduplicated immutable source rows.
            meta = h.query(store, "SELECT key, value FROM meta ORDER BY key")
            self.assertEqual([m["key"] for m in meta],
                             ["created_at", "format", "format_version", "producer"])
            srcs = h.sources(store)
            self.assertEqual(sorted(s["path"] for s in srcs), ["data.txt", "mod.py"], srcs)
            deps = h.query(store, "SELECT COUNT(*) AS n, COUNT(DISTINCT entry_id) AS e "
                                  "FROM entry_dependencies")[0]
            self.assertEqual((deps["n"], deps["e"]), (len(expected), len(expected)))
            check = h.query(store, "PRAGMA integrity_check")
            self.assertEqual(list(check[0].values()), ["ok"])

    def test_two_processes_create_and_fill_one_store(self):
        for _ in range(3):  # a few rounds: the creation race is short
            self.run_round()
