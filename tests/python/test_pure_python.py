"""Pure Python functions (strategy `source`), each "app run" a fresh process, checked with the
cachescope CLI."""

import os
import py_compile
import tempfile

import cs_helpers as h

MODULE = """\
from cachescope_cache import cache


@cache(store="cache.db")
def square(x):
    with open("calls.log", "a") as log:
        log.write("%r\\n" % (x,))
    return x * x
"""

APP = """\
import mod
print(json.dumps({"value": mod.square(7), "info": mod.square.cache_info()}))
"""


class PurePythonTest(h.CliTestCase):
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-py-")
        self.dir = self._tmp.name
        self.store = os.path.join(self.dir, "cache.db")
        self.mod = os.path.join(self.dir, "mod.py")
        h.write(self.mod, MODULE)

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()

    def calls(self):
        path = os.path.join(self.dir, "calls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().split()

    def test_source_entry_with_span(self):
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        (e,) = h.entries(self.store)
        self.assertEqual(e["strategy"], "source")
        self.assertIsNone(e["derivation_error"])
        self.assertEqual(e["function"], "mod:square")
        src = h.source(self.store, e["source_id"])
        self.assertEqual(src["path"], "mod.py")  # under the store's directory: relative
        self.assertEqual((src["span_start"], src["span_end"]), (4, 8))
        with open(self.mod, "rb") as f:
            data = f.read()
        block = b"".join(h.split_lines(data)[3:8])
        self.assertTrue(block.startswith(b"@cache(") and block.endswith(b"return x * x\n"))
        self.assertEqual(src["digest"], h.sha256_tag(block))
        self.assertEqual(src["digest"], h.span_digest(self.mod, 4, 8))
        self.assertEqual(src["content"], block)
        st = os.stat(self.mod)
        self.assertEqual((src["size"], src["mtime_ns"]), (st.st_size, st.st_mtime_ns))
        self.assertEqual(out["info"]["span"], [4, 8])

        report = self.verify(self.store, expect=0)
        s = self.source_report(report, "mod.py")
        self.assertEqual(s["status"], "fresh")
        self.assertEqual(s["span"], [4, 8])
        self.assertEqual(s["recorded_digest"], src["digest"])
        self.assertEqual(s["current_digest"], src["digest"])
        self.assertEqual(report["entries"]["fresh"], 1)
        self.assertEqual(report["stale_entries"], 0)

        # A second run is a hit.
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        (e2,) = h.entries(self.store)
        self.assertEqual((e2["id"], e2["hits"]), (e["id"], 1))
        self.assertEqual(self.calls(), ["7"])

    def test_editing_the_body_makes_it_changed(self):
        h.run_app(self, self.dir, APP)
        (old,) = h.entries(self.store)
        with open(self.mod, "r") as f:
            text = f.read()
        h.write(self.mod, text.replace("return x * x", "return x * x + 1"))

        report = self.verify(self.store, expect=1)
        s = self.source_report(report, "mod.py")
        self.assertEqual(s["status"], "changed")
        self.assertEqual(report["entries"]["changed"], 1)
        self.assertEqual(report["stale_entries"], 1)
        (listed,) = self.list_entries(self.store)
        self.assertEqual(listed["id"], old["id"])
        self.assertEqual(listed["status"], "changed")
        self.assertEqual(listed["strategy"], "source")

        # The next run derives a new key: a miss, never the stale value.
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 50)
        rows = h.entries(self.store)
        self.assertEqual(len(rows), 2)
        self.assertEqual(self.calls(), ["7", "7"])

        # Purge removes the stale entry only; then everything verifies.
        purge = self.cli_json("purge", self.store, "--json", expect=0)
        self.assertEqual(purge["removed"], 1)
        self.assertFalse(purge["dry_run"])
        self.assertEqual([r["id"] for r in h.entries(self.store)], [rows[1]["id"]])
        self.verify(self.store, expect=0)

    def test_adding_lines_above_makes_it_moved_and_still_a_hit(self):
        h.run_app(self, self.dir, APP)
        (old,) = h.entries(self.store)
        with open(self.mod, "r") as f:
            text = f.read()
        h.write(self.mod, "# a comment\nimport os\n\nUNUSED = os.sep\n" + text)

        report = self.verify(self.store, expect=0)
        s = self.source_report(report, "mod.py")
        self.assertEqual(s["status"], "moved")
        self.assertEqual(s["span"], [4, 8])
        self.assertEqual(s["moved_to"], [8, 12])
        self.assertEqual(report["entries"]["moved"], 1)
        self.assertEqual(report["stale_entries"], 0)

        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        self.assertEqual(out["info"]["span"], [8, 12])
        (e,) = h.entries(self.store)  # no new entry
        self.assertEqual(e["id"], old["id"])
        self.assertEqual(e["hits"], 1)
        self.assertIsNotNone(e["accessed_at"])
        self.assertEqual(self.calls(), ["7"])  # the function did not run again
        self.verify(self.store, expect=0)

    def test_argument_keys_do_not_depend_on_hash_seed(self):
        app = """\
            import mod
            print(json.dumps(mod.f({"b", "a", "c"}, {"k": frozenset("xyz")})))
            """
        with open(self.mod, "a") as f:
            f.write("\n\n@cache(store='cache.db')\ndef f(s, d):\n    return sorted(s)\n")
        h.run_app(self, self.dir, app, env={"PYTHONHASHSEED": "1"})
        h.run_app(self, self.dir, app, env={"PYTHONHASHSEED": "2"})
        rows = [r for r in h.entries(self.store) if r["function"] == "mod:f"]
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["hits"], 1)

    def test_sourceless_module_falls_back_to_bytecode(self):
        # A module shipped as a .pyc only: getsource raises OSError, the key falls back to
        # bytecode and the fingerprint is the .pyc, whole.
        py_compile.compile(self.mod, cfile=os.path.join(self.dir, "mod.pyc"), doraise=True)
        os.remove(self.mod)
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        (e,) = h.entries(self.store)
        self.assertEqual(e["strategy"], "bytecode")
        self.assertTrue(e["derivation_error"].startswith("OSError: "), e["derivation_error"])
        src = h.source(self.store, e["source_id"])
        self.assertEqual(src["path"], "mod.pyc")
        self.assertIsNone(src["span_start"])
        self.assertEqual(src["digest"], h.file_digest(os.path.join(self.dir, "mod.pyc")))
        report = self.verify(self.store, expect=0)
        self.assertEqual(self.source_report(report, "mod.pyc")["status"], "fresh")
        h.run_app(self, self.dir, APP)
        (e,) = h.entries(self.store)
        self.assertEqual(e["hits"], 1)

    def test_name_custom_and_expired_entries_as_cachescope_sees_them(self):
        h.write(os.path.join(self.dir, "mod2.py"), """\
            from cachescope_cache import cache

            cached_len = cache(store="cache.db")(len)  # strategy name: nothing to verify

            @cache(store="cache.db", key=lambda x: "k%d" % x)  # custom, no key_source
            def g(x):
                return x

            @cache(store="cache.db", ttl=0)  # expires at once
            def t(x):
                return x
            """)
        app = """\
            from mod2 import cached_len, g, t
            print(json.dumps([cached_len("abc"), g(1), t(2)]))
            """
        self.assertEqual(h.run_app(self, self.dir, app), [3, 1, 2])
        by_strategy = {r["strategy"]: r for r in h.entries(self.store)}
        self.assertEqual(sorted(by_strategy), ["custom", "name", "source"])
        report = self.verify(self.store, expect=1)  # a failed entry is stale
        self.assertEqual(report["entries"]["failed"], 1)
        self.assertEqual(report["entries"]["unverifiable"], 1)
        self.assertEqual(report["stale_entries"], 1)
        listed = {e["strategy"]: e for e in self.list_entries(self.store)}
        self.assertEqual(listed["name"]["status"], "failed")
        self.assertTrue(listed["name"]["derivation_error"].startswith("TypeError: "))
        self.assertEqual(listed["custom"]["status"], "unverifiable")
        self.assertIsNone(listed["custom"]["source_path"])
        self.assertTrue(listed["source"]["expired"])
        self.assertEqual(listed["source"]["status"], "fresh")
        purge = self.cli_json("purge", self.store, "--json", expect=0)
        self.assertEqual(purge["removed"], 1)
        self.assertEqual(list(purge["by_strategy"]), ["name"])
        self.assertEqual(sorted(r["strategy"] for r in h.entries(self.store)),
                         ["custom", "source"])
        self.verify(self.store, expect=0)
