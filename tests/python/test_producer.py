"""The producer on its own, in process: schema, hits, ttl, strategies, store errors."""

import datetime
import logging
import os
import sqlite3
import tempfile
import threading
import time
import unittest

import cs_helpers as h

import cachescope_cache
from cachescope_cache import cache


class TempDirTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-py-")
        self.dir = self._tmp.name
        self.store = os.path.join(self.dir, "cache.db")

    def tearDown(self):
        self._tmp.cleanup()


class SchemaTest(TempDirTestCase):
    def test_embedded_ddl_equals_schema_sql(self):
        with open(h.SCHEMA_PATH, "r", encoding="utf-8", newline="") as f:
            on_disk = f.read()
        self.assertEqual(cachescope_cache.SCHEMA_SQL, on_disk,
                         "SCHEMA_SQL in assets/python/cachescope_cache/__init__.py drifted from "
                         "assets/schema.sql: paste the file's text back in verbatim")

    def test_store_created_on_first_use(self):
        @cache(store=self.store)
        def f(x):
            return x + 1

        self.assertFalse(os.path.exists(self.store))
        self.assertEqual(f(1), 2)
        conn = sqlite3.connect(self.store)
        try:
            self.assertEqual(conn.execute("PRAGMA application_id").fetchone()[0], 0x43534350)
            self.assertEqual(conn.execute("PRAGMA user_version").fetchone()[0], 1)
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            self.assertTrue({"meta", "sources", "entries", "entry_dependencies"} <= tables)
            indexes = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
            self.assertIn("entries_source_strategy_size", indexes)
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        finally:
            conn.close()
        self.assertEqual(meta["format"], "cachescope-store")
        self.assertEqual(meta["format_version"], "1")
        # The package's name and cachescope's version, which is Cargo.toml's.
        self.assertEqual(meta["producer"], "cachescope_cache " + h.cargo_version())
        created = datetime.datetime.fromisoformat(meta["created_at"].replace("Z", "+00:00"))
        self.assertIsNotNone(created.tzinfo)
        self.assertLess(abs(datetime.datetime.now(datetime.timezone.utc) - created),
                        datetime.timedelta(minutes=5))

    def test_reopening_keeps_meta(self):
        @cache(store=self.store)
        def f(x):
            return x

        f(1)
        before = h.query(self.store, "SELECT * FROM meta ORDER BY key")
        cachescope_cache._stores.clear()  # forget open connections: a fresh "process"

        @cache(store=self.store)
        def g(x):
            return x

        g(2)
        self.assertEqual(h.query(self.store, "SELECT * FROM meta ORDER BY key"), before)


class HitsAndTtlTest(TempDirTestCase):
    def test_hit_increments_hits_and_accessed_at(self):
        calls = []

        @cache(store=self.store)
        def f(x):
            calls.append(x)
            return {"x": x, "square": x * x}

        self.assertEqual(f(3), {"x": 3, "square": 9})
        (e,) = h.entries(self.store)
        self.assertEqual((e["hits"], e["accessed_at"]), (0, None))
        self.assertEqual(e["value_type"], "pickle")
        self.assertEqual(e["value_size"], len(e["value"]))
        self.assertEqual(e["namespace"], "data")
        self.assertEqual(e["function"], __name__ + ":HitsAndTtlTest."
                         "test_hit_increments_hits_and_accessed_at.<locals>.f")
        time.sleep(0.01)
        self.assertEqual(f(3), {"x": 3, "square": 9})
        (e1,) = h.entries(self.store)
        self.assertEqual(e1["hits"], 1)
        self.assertGreaterEqual(e1["accessed_at"], e["created_at"])
        time.sleep(0.01)
        # Same call, spelled differently: the arguments are bound to the signature first.
        self.assertEqual(f(x=3), {"x": 3, "square": 9})
        (e2,) = h.entries(self.store)
        self.assertEqual(e2["hits"], 2)
        self.assertGreater(e2["accessed_at"], e1["accessed_at"])
        self.assertEqual(calls, [3])
        self.assertEqual(f.cache_info()["hits"], 2)
        self.assertEqual(f.cache_info()["misses"], 1)

    def test_distinct_arguments_distinct_entries(self):
        @cache(store=self.store, namespace="resource")
        def f(x, y=1, *rest, **kw):
            return (x, y, rest, kw)

        f(1)
        f(1, 2)
        f(1, 2, 3)
        f(1, 2, z={"b": [1, 2], "a": {3, 4}})
        f(1, y=1)  # same as f(1)
        rows = h.entries(self.store)
        self.assertEqual(len(rows), 4)
        self.assertEqual({r["namespace"] for r in rows}, {"resource"})

    def test_ttl_expiry_recomputes(self):
        calls = []

        @cache(store=self.store, ttl=0.3)
        def f(x):
            calls.append(x)
            return len(calls)

        self.assertEqual(f("a"), 1)
        (e,) = h.entries(self.store)
        self.assertEqual(e["expires_at"] - e["created_at"], 300)
        self.assertEqual(f("a"), 1)  # still valid: a hit
        time.sleep(0.45)
        self.assertEqual(f("a"), 2)  # expired: recomputed and rewritten
        (e2,) = h.entries(self.store)
        self.assertEqual(e2["id"], e["id"])
        self.assertGreater(e2["created_at"], e["created_at"])
        self.assertEqual(e2["expires_at"] - e2["created_at"], 300)
        self.assertEqual(e2["hits"], 0)
        self.assertEqual(calls, ["a", "a"])

    def test_ttl_timedelta_and_validation(self):
        @cache(store=self.store, ttl=datetime.timedelta(hours=1))
        def f(x):
            return x

        f(1)
        (e,) = h.entries(self.store)
        self.assertEqual(e["expires_at"] - e["created_at"], 3600 * 1000)
        with self.assertRaises(ValueError):
            cache(store=self.store, ttl=-1)
        with self.assertRaises(TypeError):
            cache(store=self.store, ttl="1h")

    def test_function_exception_propagates_and_caches_nothing(self):
        @cache(store=self.store)
        def f(x):
            raise KeyError(x)

        with self.assertRaises(KeyError):
            f(1)
        self.assertEqual(h.entries(self.store), [])


class StrategyTest(TempDirTestCase):
    def test_source_strategy_in_process(self):
        @cache(store=self.store)
        def f(x):
            return x

        f(1)
        info = f.cache_info()
        self.assertEqual(info["strategy"], "source")
        self.assertIsNone(info["derivation_error"])
        (e,) = h.entries(self.store)
        src = h.source(self.store, e["source_id"])
        # This test file is outside the store's directory: recorded as an absolute path.
        self.assertEqual(src["path"], os.path.realpath(__file__))
        start, end = info["span"]
        self.assertEqual((src["span_start"], src["span_end"]), (start, end))
        self.assertEqual(end - start + 1, 3)  # the decorator, def and return lines
        self.assertEqual(src["digest"], h.span_digest(__file__, start, end))

    def test_custom_key(self):
        calls = []

        @cache(store=self.store, key=lambda name, verbose=False: name.lower())
        def f(name, verbose=False):
            calls.append(name)
            return name.lower()

        self.assertEqual(f("Abc"), "abc")
        self.assertEqual(f("ABC", verbose=True), "abc")  # the same custom key: a hit
        self.assertEqual(calls, ["Abc"])
        (e,) = h.entries(self.store)
        self.assertEqual(e["strategy"], "custom")
        self.assertIsNone(e["derivation_error"])
        self.assertIsNone(e["source_id"])

    def test_custom_key_with_key_source(self):
        schema_file = os.path.join(self.dir, "schema.txt")
        h.write(schema_file, "v1\n")

        @cache(store=self.store, key=lambda n: str(n), key_source=schema_file)
        def f(n):
            return n * 2

        f(1)
        (e,) = h.entries(self.store)
        src = h.source(self.store, e["source_id"])
        self.assertEqual(src["path"], "schema.txt")
        self.assertIsNone(src["span_start"])
        self.assertIsNone(src["span_end"])
        self.assertEqual(src["digest"], h.file_digest(schema_file))
        with self.assertRaises(TypeError):
            cache(store=self.store, key_source=schema_file)

    def test_name_strategy_for_a_builtin(self):
        cached_len = cache(store=self.store)(len)
        self.assertEqual(cached_len([1, 2, 3]), 3)
        self.assertEqual(cached_len([1, 2, 3]), 3)
        (e,) = h.entries(self.store)
        self.assertEqual(e["strategy"], "name")
        self.assertEqual(e["function"], "builtins:len")
        self.assertIsNone(e["source_id"])
        self.assertTrue(e["derivation_error"].startswith("TypeError: "), e["derivation_error"])
        self.assertIn("builtin_function_or_method", e["derivation_error"])
        self.assertEqual(e["hits"], 1)


class StoreErrorTest(TempDirTestCase):
    """A cache must never break the app: errors are logged, values still returned."""

    def assert_logged_and_returned(self, store, level="ERROR", expect_in_log=None):
        calls = []

        @cache(store=store)
        def f(x):
            calls.append(x)
            return x * 10

        with self.assertLogs("cachescope_cache", level=level) as logs:
            self.assertEqual(f(4), 40)
            self.assertEqual(f(4), 40)
        self.assertEqual(calls, [4, 4])
        self.assertEqual(f.cache_info()["errors"] >= 2, True)
        if expect_in_log:
            self.assertIn(expect_in_log, "\n".join(logs.output))
        return logs

    def test_store_in_missing_directory(self):
        store = os.path.join(self.dir, "no", "such", "dir", "cache.db")
        self.assert_logged_and_returned(store, expect_in_log="OperationalError")
        self.assertFalse(os.path.exists(os.path.dirname(store)))

    def test_corrupt_store(self):
        with open(self.store, "wb") as f:
            f.write(b"this is not an SQLite database, only garbage " * 200)
        self.assert_logged_and_returned(self.store, expect_in_log="DatabaseError")

    def test_foreign_sqlite_database_is_left_alone(self):
        conn = sqlite3.connect(self.store)
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.commit()
        conn.close()
        self.assert_logged_and_returned(self.store, expect_in_log="not a cachescope store")
        names = {r["name"] for r in h.query(self.store, "SELECT name FROM sqlite_master")}
        self.assertEqual(names, {"customers"})

    def test_newer_format_is_refused(self):
        conn = sqlite3.connect(self.store)
        conn.execute("PRAGMA application_id = 1129530192")
        conn.execute("PRAGMA user_version = 2")
        conn.close()
        self.assert_logged_and_returned(self.store, expect_in_log="format 2")

    def test_store_locked_by_another_writer(self):
        # Another connection holds the write lock longer than the busy timeout: the write is
        # given up (logged) but the value is returned. Shorten the timeout for the test.
        @cache(store=self.store)
        def warmup(x):
            return x

        warmup(0)
        old = cachescope_cache.BUSY_TIMEOUT_S
        cachescope_cache.BUSY_TIMEOUT_S = 0.2
        cachescope_cache._stores.clear()
        blocker = sqlite3.connect(self.store, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")

            @cache(store=self.store)
            def f(x):
                return x + 1

            with self.assertLogs("cachescope_cache", level="ERROR") as logs:
                self.assertEqual(f(1), 2)
            self.assertIn("locked", "\n".join(logs.output))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            cachescope_cache.BUSY_TIMEOUT_S = old
            cachescope_cache._stores.clear()

    def test_unpicklable_value(self):
        @cache(store=self.store)
        def f(x):
            return threading.Lock()

        with self.assertLogs("cachescope_cache", level="WARNING") as logs:
            value = f(1)
        self.assertTrue(hasattr(value, "acquire"))
        self.assertIn("cannot be pickled", "\n".join(logs.output))
        self.assertEqual(h.entries(self.store), [])

    def test_unpicklable_argument(self):
        @cache(store=self.store)
        def f(lock):
            return 5

        with self.assertLogs("cachescope_cache", level="WARNING") as logs:
            self.assertEqual(f(threading.Lock()), 5)
        self.assertIn("cannot derive a cache key", "\n".join(logs.output))

    def test_failing_key_function(self):
        @cache(store=self.store, key=lambda x: 1 / 0)
        def f(x):
            return x

        with self.assertLogs("cachescope_cache", level="WARNING") as logs:
            self.assertEqual(f(7), 7)
        self.assertIn("ZeroDivisionError", "\n".join(logs.output))

    def test_missing_dependency(self):
        @cache(store=self.store, depends_on=[os.path.join(self.dir, "missing.csv")])
        def f(x):
            return x

        with self.assertLogs("cachescope_cache", level="WARNING") as logs:
            self.assertEqual(f(7), 7)
        self.assertIn("FileNotFoundError", "\n".join(logs.output))


if __name__ == "__main__":
    logging.basicConfig()
    unittest.main()
