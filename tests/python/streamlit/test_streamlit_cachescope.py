"""Issue 9's acceptance scenarios: the real streamlit (and Cython) write a persisted cache,
the real cachescope binary ($CACHESCOPE_BIN, set by `cargo test --test streamlit`) reads and
purges it.

Each "run" is a NEW Python process (a restart of the app) running the app with
streamlit.testing.v1.AppTest whose cache storage is swapped for LocalDiskCacheStorageManager,
the storage `streamlit run` uses. Every cached function appends its name to calls.log when it
really executes, so a hit is told from a miss.

Skipped when streamlit, Cython, setuptools or the binary are missing, unless CI is set.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
ASSETS = os.path.join(CRATE_ROOT, "assets", "python")

RUNNER = """\
import json, sys
from unittest import mock
from streamlit.runtime.caching.storage.local_disk_cache_storage import (
    LocalDiskCacheStorageManager)
from streamlit.testing.v1 import AppTest

with mock.patch("streamlit.testing.v1.app_test.MemoryCacheStorageManager",
                LocalDiskCacheStorageManager):
    at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
print(json.dumps({"state": {k: at.session_state[k] for k in sys.argv[2:]},
                  "exceptions": [e.value for e in at.exception]}))
"""

LOG = "import os\nLOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'calls.log')\n"


def require(testcase, *names):
    missing = []
    for name in names:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    binary = os.environ.get("CACHESCOPE_BIN")
    if not binary or not os.path.isfile(binary):
        missing.append("CACHESCOPE_BIN (run through `cargo test --test streamlit`)")
    if missing:
        message = "%s missing: pip install streamlit cython setuptools" % ", ".join(missing)
        if os.environ.get("CI"):
            testcase.fail(message + " (CI is set: CI must install them)")
        testcase.skipTest(message)


class Scenario(unittest.TestCase):
    """A scratch HOME (so ~/.streamlit/cache is the test's) and an app folder."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-st-")
        self.dir = os.path.join(self._tmp.name, "app")
        self.home = os.path.join(self._tmp.name, "home")
        os.makedirs(self.dir)
        os.makedirs(self.home)
        self.write("runner.py", RUNNER)
        self.env = dict(os.environ, HOME=self.home, PYTHONDONTWRITEBYTECODE="1",
                        PYTHONPATH=os.pathsep.join(
                            [ASSETS, self.dir] + ([os.environ["PYTHONPATH"]]
                                                  if os.environ.get("PYTHONPATH") else [])))
        self.env.pop("CACHESCOPE_STREAMLIT_LEDGER", None)
        self.cache_dir = os.path.join(self.home, ".streamlit", "cache")

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def run_app(self, *keys):
        """One app process: a restart. Returns the session state values asked for."""
        out = subprocess.run([sys.executable, "runner.py", os.path.join(self.dir, "app.py")]
                             + list(keys), cwd=self.dir, env=self.env, capture_output=True,
                             text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(result["exceptions"], [])
        return result["state"]

    def calls(self):
        path = os.path.join(self.dir, "calls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return sorted(f.read().split())

    def memo_files(self):
        return sorted(n for n in os.listdir(self.cache_dir) if n.endswith(".memo"))

    def settle(self):
        """Ages every .memo file past the purge's settle window (a file modified in the last
        2 s may still be being written, and is left in place)."""
        past = time.time() - 60
        for n in self.memo_files():
            os.utime(os.path.join(self.cache_dir, n), (past, past))

    def cachescope(self, *args, expect=0):
        out = subprocess.run([os.environ["CACHESCOPE_BIN"]] + list(args), cwd=self.dir,
                             env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, expect, out.stdout + out.stderr)
        return out

    def list_json(self, *args):
        return json.loads(self.cachescope("list", self.cache_dir, "--json", *args).stdout)


PYX_V1 = "from _log import log\n\ndef five():\n    log('five')\n    return 5\n"
PYX_V2 = "from _log import log\n\ndef five():\n    log('five')\n    return 6\n"

BUILD = """\
from setuptools import setup
from Cython.Build import cythonize
setup(ext_modules=cythonize("mod.pyx", force=True, quiet=True,
                            compiler_directives={"language_level": 3}),
      script_args=["build_ext", "--inplace", "--force"])
"""

LOGMOD = LOG + "\n\ndef log(name):\n    with open(LOG, 'a') as f:\n        f.write(name + '\\n')\n"

PUREPY = """\
from cachescope_cache import streamlit as cst
from _log import log


@cst.cache_data(persist="disk")
def double(x):
    log("double")
    return 2 * x
"""

CY_APP = """\
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


class CythonRebuildTest(Scenario):
    """A Cython function cached with persist="disk", rebuilt with a different body."""

    def setUp(self):
        require(self, "streamlit", "Cython", "setuptools")
        super().setUp()
        for name, text in (("build.py", BUILD), ("_log.py", LOGMOD), ("purepy.py", PUREPY),
                           ("app.py", CY_APP)):
            self.write(name, text)

    def build(self, pyx):
        self.write("mod.pyx", pyx)
        out = subprocess.run([sys.executable, "build.py"], cwd=self.dir, env=self.env,
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_stale_bytecode_files_are_shown_and_purged_exactly(self):
        self.build(PYX_V1)
        first = self.run_app("plain", "dropin", "double")
        self.assertEqual(first, {"plain": 5, "dropin": 5, "double": 42})
        self.assertEqual(self.calls(), ["double", "five", "five"])
        self.assertEqual(len(self.memo_files()), 3)

        self.build(PYX_V2)
        second = self.run_app("plain", "dropin", "double")
        # The hazard: plain st.cache_data keys a cyfunction on its all-zero bytecode, so the
        # rebuilt extension keeps its key and the first build's value is served.
        self.assertEqual(second["plain"], 5)
        # The drop-in keys it on the extension's digest: the new value.
        self.assertEqual(second["dropin"], 6)
        self.assertEqual(second["double"], 42)
        self.assertEqual(self.calls(), ["double", "five", "five", "five"])
        files = self.memo_files()
        self.assertEqual(len(files), 4)

        rows = self.list_json()
        self.assertEqual(len(rows), 4, rows)
        stale = [r for r in rows if r["status"] == "changed"]
        self.assertEqual(len(stale), 1, rows)
        s = stale[0]
        self.assertEqual((s["strategy"], s["function"]), ("bytecode", "mod:five"))
        self.assertTrue(s["derivation_error"].startswith("TypeError: "), s)
        self.assertIn("cython_function_or_method", s["derivation_error"])
        self.assertTrue(s["source_path"].endswith((".so", ".pyd")), s)
        by_status = sorted((r["function"], r["strategy"], r["status"]) for r in rows)
        self.assertEqual(by_status, sorted([
            ("mod:five", "bytecode", "changed"),
            ("mod:five", "bytecode", "fresh"),
            ("purepy:double", "source", "fresh"),
            # plain st.cache_data wrote no ledger row: only its key is known.
            (next(r["function"] for r in rows if r["strategy"] == "unknown"), "unknown",
             "unverifiable"),
        ]))

        shown = self.cachescope("show", self.cache_dir, str(s["id"])).stdout
        self.assertIn("changed", shown)
        self.assertIn("TypeError", shown)
        self.assertIn("cython_function_or_method", shown)

        self.settle()
        purged = json.loads(self.cachescope("purge", self.cache_dir, "--json").stdout)
        self.assertEqual(purged["removed"], 1, purged)
        self.assertEqual(purged["by_strategy"], {"bytecode": {"removed": 1, "bytes": s["value_size"]}})
        left = self.memo_files()
        self.assertEqual(sorted(set(files) - set(left)), [s["key"] + ".memo"])

        # The next run hits on everything else: nothing executes, no file is written.
        third = self.run_app("plain", "dropin", "double")
        self.assertEqual(third, {"plain": 5, "dropin": 6, "double": 42})
        self.assertEqual(self.calls(), ["double", "five", "five", "five"])
        self.assertEqual(self.memo_files(), left)


ENTRY = """\
import streamlit as st

import helpers
from _log import log


@st.cache_data(persist="disk")
def square(x):
    log("square")
    return x * x


st.session_state["square"] = square(7)
st.session_state["label"] = helpers.label("a")
"""

HELPERS = """\
import streamlit as st

from _log import log


@st.cache_data(persist="disk")
def label(name):
    log("label")
    return "label " + name
"""


class SourceEditTest(Scenario):
    """Plain st.cache_data in the entry script and an imported module; no drop-in."""

    def setUp(self):
        require(self, "streamlit")
        super().setUp()
        for name, text in (("_log.py", LOGMOD), ("helpers.py", HELPERS), ("app.py", ENTRY)):
            self.write(name, text)
        self.app = os.path.join(self.dir, "app.py")

    def test_an_edited_function_leaves_exactly_one_stale_file(self):
        first = self.run_app("square", "label")
        self.assertEqual(first, {"square": 49, "label": "label a"})
        old = self.memo_files()
        self.assertEqual(len(old), 2)

        # Without --app: grouped by key, unverifiable, and a plain purge removes nothing.
        rows = self.list_json()
        self.assertEqual({r["status"] for r in rows}, {"unverifiable"})
        self.assertEqual({r["strategy"] for r in rows}, {"unknown"})

        self.write("helpers.py", HELPERS.replace('"label " + name', '"Label: " + name'))
        second = self.run_app("square", "label")
        self.assertEqual(second, {"square": 49, "label": "Label: a"})
        self.assertEqual(self.calls(), ["label", "label", "square"])
        files = self.memo_files()
        self.assertEqual(len(files), 3)

        rows = self.list_json("--app", self.app)
        stale = [r for r in rows if r["status"] == "changed"]
        self.assertEqual(len(stale), 1, rows)
        new_label = sorted(set(files) - set(old))
        self.assertEqual(len(new_label), 1)
        # The stale one is the old label file: in the first run's files, not the square one.
        self.assertIn(stale[0]["key"] + ".memo", old)
        fresh = sorted((r["function"], r["strategy"], r["status"])
                       for r in rows if r["status"] != "changed")
        self.assertEqual(fresh, [("__main__:square", "source", "fresh"),
                                 ("helpers:label", "source", "fresh")])
        by_key = {r["key"] + ".memo": r for r in rows}
        self.assertEqual(by_key[new_label[0]]["function"], "helpers:label")
        shown = self.cachescope("show", self.cache_dir, str(stale[0]["id"]), "--app",
                                self.app).stdout
        self.assertIn("Edited or removed", shown)

        self.settle()
        dry = json.loads(self.cachescope("purge", self.cache_dir, "--app", self.app,
                                         "--dry-run", "--json").stdout)
        self.assertEqual(dry["removed"], 1)
        self.assertEqual(self.memo_files(), files)
        purged = json.loads(self.cachescope("purge", self.cache_dir, "--app", self.app,
                                            "--json").stdout)
        self.assertEqual(purged["removed"], 1, purged)
        left = self.memo_files()
        self.assertEqual(sorted(set(files) - set(left)), [stale[0]["key"] + ".memo"])

        third = self.run_app("square", "label")
        self.assertEqual(third, {"square": 49, "label": "Label: a"})
        self.assertEqual(self.calls(), ["label", "label", "square"])
        self.assertEqual(self.memo_files(), left)


class BadInputTest(Scenario):
    """Folders that are not (wholly) Streamlit's: one line naming the file, nothing changed."""

    def setUp(self):
        require(self)
        super().setUp()
        os.makedirs(self.cache_dir)

    def test_empty_folder_is_one_line_exit_2(self):
        out = self.cachescope("list", self.cache_dir, expect=2)
        self.assertEqual(out.stdout, "")
        lines = out.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, out.stderr)
        self.assertIn(self.cache_dir, lines[0])
        self.assertIn(".memo", lines[0])

    def test_odd_names_truncated_files_and_fifos(self):
        good = "a" * 32 + "-" + "b" * 32 + ".memo"
        truncated = "c" * 32 + "-" + "b" * 32 + ".memo"
        odd = "not-a-key.memo"
        fifo = "d" * 32 + "-" + "b" * 32 + ".memo"
        for name, data in ((good, b"\x80\x04K\x05."), (truncated, b"\x80\x04K"),
                           (odd, b"\x80\x04K\x05.")):
            with open(os.path.join(self.cache_dir, name), "wb") as f:
                f.write(data)
        os.mkfifo(os.path.join(self.cache_dir, fifo))
        self.settle()
        # A FIFO opened for reading would block cachescope: the timeout would fail the test.
        out = self.cachescope("list", self.cache_dir, "--json")
        rows = json.loads(out.stdout)
        self.assertEqual(sorted(r["key"] + ".memo" for r in rows), [good, truncated])
        warnings = out.stderr
        self.assertIn(odd, warnings)
        self.assertIn(fifo, warnings)
        self.assertIn("truncated", warnings)
        purged = json.loads(self.cachescope("purge", self.cache_dir, "--status",
                                            "unverifiable", "--json").stdout)
        self.assertEqual(purged["removed"], 2)
        self.assertEqual(sorted(os.listdir(self.cache_dir)), sorted([odd, fifo]))

    def test_only_non_pickles_is_not_streamlit(self):
        with open(os.path.join(self.cache_dir, "e" * 32 + "-" + "b" * 32 + ".memo"), "w") as f:
            f.write("hello")
        out = self.cachescope("list", self.cache_dir, expect=2)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)


class ImportWithoutStreamlitTest(unittest.TestCase):
    """The producer and the drop-in module import with streamlit unimportable; decorating
    is what needs it."""

    def test_imports_without_streamlit(self):
        code = ("import sys; sys.modules['streamlit'] = None\n"
                "import cachescope_cache, cachescope_cache.streamlit as cst\n"
                "assert 'streamlit' not in [m for m in sys.modules if sys.modules[m]]\n"
                "try:\n"
                "    cst.cache_data(lambda: 1)\n"
                "except ImportError:\n"
                "    print('needs streamlit')\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=ASSETS))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "needs streamlit")


if __name__ == "__main__":
    unittest.main()
