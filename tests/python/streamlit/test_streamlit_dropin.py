"""The drop-in decorator (assets/python/cachescope_cache/streamlit.py) against a real
Cython build and the real installed streamlit, with streamlit's real disk storage.

    python3 -m unittest discover -s tests/python/streamlit -t tests/python/streamlit -v

Each "run" is a NEW Python process (a restart of the app) running the app with
streamlit.testing.v1.AppTest whose cache storage is swapped for LocalDiskCacheStorageManager.
Skipped when streamlit, Cython or setuptools are missing, unless CI is set.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
ASSETS = os.path.join(CRATE_ROOT, "assets", "python")

PYX_V1 = "def five():\n    return 5\n"
PYX_V2 = "def five():\n    return 6\n"

BUILD = """\
from setuptools import setup
from Cython.Build import cythonize
setup(ext_modules=cythonize("mod.pyx", force=True, quiet=True,
                            compiler_directives={"language_level": 3}),
      script_args=["build_ext", "--inplace", "--force"])
"""

PUREPY = """\
from cachescope_cache import streamlit as cst


@cst.cache_data(persist="disk")
def double(x, _unhashed=None):
    return 2 * x
"""

APP = """\
import streamlit as st

from cachescope_cache import streamlit as cst
import mod
import purepy

plain = st.cache_data(persist="disk")(mod.five)
dropin = cst.cache_data(persist="disk")(mod.five)
st.session_state["plain"] = plain()
st.session_state["dropin"] = dropin()
st.session_state["double"] = purepy.double(21)
"""

RUNNER = """\
import inspect, json, sys
from unittest import mock
from streamlit.runtime.caching import cache_utils
from streamlit.runtime.caching.cache_type import CacheType
from streamlit.runtime.caching.storage.local_disk_cache_storage import (
    LocalDiskCacheStorageManager)
from streamlit.testing.v1 import AppTest

with mock.patch("streamlit.testing.v1.app_test.MemoryCacheStorageManager",
                LocalDiskCacheStorageManager):
    at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
import mod, purepy
code = mod.five.__code__
print(json.dumps({
    "plain": at.session_state["plain"],
    "dropin": at.session_state["dropin"],
    "double": at.session_state["double"],
    "exceptions": [e.value for e in at.exception],
    "plain_key": cache_utils._make_function_key(CacheType.DATA, mod.five),
    "double_key": cache_utils._make_function_key(CacheType.DATA, purepy.double.__wrapped__
                                                  if hasattr(purepy.double, "__wrapped__")
                                                  else purepy.double),
    "co_code": code.co_code.hex(),
}))
"""


def require(testcase, *names):
    missing = []
    for name in names:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        message = "%s not installed: pip install streamlit cython setuptools" % ", ".join(missing)
        if os.environ.get("CI"):
            testcase.fail(message + " (CI is set: CI must install them)")
        testcase.skipTest(message)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DropInCythonTest(unittest.TestCase):
    def setUp(self):
        require(self, "streamlit", "Cython", "setuptools")
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-st-")
        self.dir = os.path.join(self._tmp.name, "app")
        self.home = os.path.join(self._tmp.name, "home")
        os.makedirs(self.dir)
        os.makedirs(self.home)
        for name, text in (("build.py", BUILD), ("purepy.py", PUREPY), ("app.py", APP),
                           ("runner.py", RUNNER)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.env = dict(os.environ, HOME=self.home,
                        PYTHONPATH=os.pathsep.join(
                            [ASSETS, self.dir] + ([os.environ["PYTHONPATH"]]
                                                  if os.environ.get("PYTHONPATH") else [])))
        self.env.pop("CACHESCOPE_STREAMLIT_LEDGER", None)
        self.cache_dir = os.path.join(self.home, ".streamlit", "cache")
        self.ledger = os.path.join(self.home, ".streamlit", "cachescope-ledger.db")

    def tearDown(self):
        self._tmp.cleanup()

    def build(self, pyx):
        with open(os.path.join(self.dir, "mod.pyx"), "w") as f:
            f.write(pyx)
        out = subprocess.run([sys.executable, "build.py"], cwd=self.dir, env=self.env,
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        built = [n for n in os.listdir(self.dir) if n.startswith("mod.") and
                 n.endswith((".so", ".pyd"))]
        self.assertEqual(len(built), 1, built)
        return os.path.join(self.dir, built[0])

    def run_app(self):
        """One app process: a restart."""
        out = subprocess.run([sys.executable, "runner.py", os.path.join(self.dir, "app.py")],
                             cwd=self.dir, env=self.env, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(result["exceptions"], [])
        return result

    def memo_keys(self):
        return sorted(n.split("-")[0] for n in os.listdir(self.cache_dir)
                      if n.endswith(".memo"))

    def ledger_rows(self):
        conn = sqlite3.connect(self.ledger)
        try:
            self.assertEqual(conn.execute("PRAGMA application_id").fetchone()[0], 1129530192)
            return conn.execute(
                "SELECT e.namespace, e.function, e.key, e.strategy, e.derivation_error, "
                "e.value, e.value_size, s.path, s.span_start, s.span_end, s.digest "
                "FROM entries e LEFT JOIN sources s ON s.id = e.source_id "
                "ORDER BY e.id").fetchall()
        finally:
            conn.close()

    def test_rebuilt_extension_gets_a_new_value_after_restart(self):
        so = self.build(PYX_V1)
        digest1 = sha256_file(so)
        first = self.run_app()
        self.assertEqual((first["plain"], first["dropin"], first["double"]), (5, 5, 42))
        # A Cython function's co_code is all zero bytes: the bytecode key cannot see a rebuild.
        co_code = bytes.fromhex(first["co_code"])
        self.assertTrue(co_code and not any(co_code), first["co_code"])
        keys1 = self.memo_keys()
        self.assertEqual(len(keys1), 3, keys1)

        so2 = self.build(PYX_V2)
        self.assertEqual(so2, so)
        digest2 = sha256_file(so)
        self.assertNotEqual(digest1, digest2)
        second = self.run_app()
        # The hazard: plain st.cache_data(persist="disk") still serves the first build's value.
        self.assertEqual(second["plain"], 5)
        self.assertEqual(second["plain_key"], first["plain_key"])
        # The drop-in keys on the extension's digest: a new key, the new value.
        self.assertEqual(second["dropin"], 6)
        self.assertEqual(second["double"], 42)
        keys2 = self.memo_keys()
        self.assertEqual(len(keys2), 4, keys2)
        self.assertTrue(set(keys1) <= set(keys2))

        rows = self.ledger_rows()
        cy_rows = [r for r in rows if r[1] == "mod:five"]
        py_rows = [r for r in rows if r[1] == "purepy:double"]
        self.assertEqual(len(cy_rows), 2, rows)  # one per build
        self.assertEqual(len(py_rows), 1, rows)  # the same key in both processes
        for row, digest in zip(cy_rows, (digest1, digest2)):
            namespace, _, key, strategy, error, value, size, path, start, end, sdigest = row
            self.assertEqual(namespace, "streamlit-data")
            self.assertEqual(strategy, "bytecode")
            self.assertTrue(error.startswith("TypeError: "), error)
            self.assertIn("cython_function_or_method", error)
            self.assertIsNone(value)
            self.assertEqual(size, 0)
            self.assertEqual(os.path.realpath(path), os.path.realpath(so))
            self.assertEqual((start, end), (None, None))
            self.assertEqual(sdigest, "sha256:" + digest)
            self.assertIn(key, keys2)  # the ledger key IS the .memo files' function key
            self.assertNotEqual(key, first["plain_key"])
        self.assertNotEqual(cy_rows[0][2], cy_rows[1][2])
        # A pure Python function keeps exactly plain Streamlit's key, recorded with its span.
        namespace, _, key, strategy, error, value, size, path, start, end, sdigest = py_rows[0]
        self.assertEqual((strategy, error), ("source", None))
        self.assertEqual(key, first["double_key"])
        self.assertIn(key, keys2)
        self.assertEqual(os.path.realpath(path),
                         os.path.realpath(os.path.join(self.dir, "purepy.py")))
        self.assertEqual((start, end), (4, 6))
        # Streamlit keys the plain cyfunction on its (zero) bytecode; the drop-in's wrapper
        # never shares that key.
        self.assertIn(first["plain_key"], keys2)


if __name__ == "__main__":
    unittest.main()
