"""A Cython-compiled function: inspect.getsource raises TypeError, the key falls back to
bytecode, and the fingerprint is the compiled extension (.so / .pyd), whole.

Needs Cython and setuptools (`pip install cython setuptools`) and a C compiler. Without Cython
the test is skipped, unless the environment variable CI is set: CI installs it, so there a
missing Cython is a failure.
"""

import glob
import importlib.machinery
import os
import subprocess
import sys
import tempfile

import cs_helpers as h

PYX_V1 = "def square(x):\n    return x * x\n"
PYX_V2 = "def square(x):\n    return x * x + 1\n"

PUREPY = """\
from cachescope_cache import cache


@cache(store="cache.db")
def double(x):
    return 2 * x
"""

APP = """\
import mod, purepy
sq = cache(store="cache.db")(mod.square)
code = getattr(mod.square, "__code__", None)
print(json.dumps({
    "value": sq(7),
    "other": purepy.double(21),
    "info": sq.cache_info(),
    "co_code_len": len(code.co_code),
    "co_code_all_zero": not any(code.co_code),
    "module_file": mod.__file__,
}))
"""

BUILD = """\
from setuptools import setup
from Cython.Build import cythonize
setup(
    ext_modules=cythonize("mod.pyx", force=True, quiet=True,
                          compiler_directives={"language_level": 3}),
    script_args=["build_ext", "--inplace", "--force"],
)
"""


def require_cython(testcase):
    missing = []
    for name in ("Cython", "setuptools"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        message = ("%s not installed: pip install cython setuptools"
                   % " and ".join(missing))
        if os.environ.get("CI"):
            testcase.fail(message + " (CI is set: CI must install them)")
        testcase.skipTest(message)


class CythonTest(h.CliTestCase):
    def setUp(self):
        super().setUp()
        require_cython(self)
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-cy-")
        self.dir = self._tmp.name
        self.store = os.path.join(self.dir, "cache.db")
        h.write(os.path.join(self.dir, "purepy.py"), PUREPY)

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()

    def build(self, pyx):
        h.write(os.path.join(self.dir, "mod.pyx"), pyx)
        proc = subprocess.run([sys.executable, "-c", BUILD], cwd=self.dir,
                              capture_output=True, text=True, timeout=600)
        self.assertEqual(proc.returncode, 0, "Cython build failed:\n%s\n%s"
                         % (proc.stdout, proc.stderr))
        built = [p for suffix in importlib.machinery.EXTENSION_SUFFIXES
                 for p in glob.glob(os.path.join(self.dir, "mod" + suffix))]
        self.assertEqual(len(built), 1, os.listdir(self.dir))
        return built[0]

    def test_cython_function_falls_back_to_bytecode_and_the_so_is_fingerprinted(self):
        so = self.build(PYX_V1)
        so_name = os.path.basename(so)
        so_v1_digest = h.file_digest(so)

        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        self.assertEqual(out["other"], 42)
        self.assertEqual(os.path.realpath(out["module_file"]), os.path.realpath(so))
        # Why the .so's digest must be in the key: the code object Cython exposes has only
        # zero bytes for bytecode, identical before and after any rebuild.
        self.assertGreater(out["co_code_len"], 0)
        self.assertTrue(out["co_code_all_zero"])

        rows = h.entries(self.store)
        self.assertEqual(len(rows), 2)
        (cy,) = [r for r in rows if r["strategy"] == "bytecode"]
        (py,) = [r for r in rows if r["strategy"] == "source"]
        self.assertEqual(cy["function"], "mod:square")
        error = cy["derivation_error"]
        self.assertTrue(error.startswith("TypeError: "), error)
        self.assertIn("cython_function_or_method", error)
        self.assertEqual(out["info"]["derivation_error"], error)
        src = h.source(self.store, cy["source_id"])
        self.assertEqual(src["path"], so_name)
        self.assertIsNone(src["span_start"])
        self.assertIsNone(src["span_end"])
        self.assertEqual(src["digest"], so_v1_digest)
        self.assertEqual(src["size"], os.path.getsize(so))

        report = self.verify(self.store, expect=0)
        s = self.source_report(report, so_name)
        self.assertEqual(s["status"], "fresh")
        self.assertIsNone(s["span"])
        self.assertEqual(s["recorded_digest"], so_v1_digest)
        self.assertEqual(report["stale_entries"], 0)

        # A second run with the same build: a hit.
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 49)
        self.assertEqual(h.entries(self.store)[0]["hits"] + h.entries(self.store)[1]["hits"], 2)

        # Rebuild with a different body.
        so = self.build(PYX_V2)
        self.assertEqual(os.path.basename(so), so_name)
        self.assertNotEqual(h.file_digest(so), so_v1_digest, "the rebuild left the .so as is")

        report = self.verify(self.store, expect=1)
        s = self.source_report(report, so_name)
        self.assertEqual(s["status"], "changed")
        self.assertEqual(report["entries"]["changed"], 1)
        self.assertEqual(report["stale_entries"], 1)
        listed = {e["id"]: e for e in self.list_entries(self.store)}
        self.assertEqual({i: e["status"] for i, e in listed.items()},
                         {cy["id"]: "changed", py["id"]: "fresh"})
        self.assertEqual(listed[cy["id"]]["strategy"], "bytecode")
        self.assertEqual(listed[cy["id"]]["derivation_error"], error)
        self.assertEqual(listed[cy["id"]]["source_path"], so_name)
        self.assertEqual(listed[cy["id"]]["value_size"], cy["value_size"])
        self.assertEqual(listed[cy["id"]]["hits"], 1)
        self.assertFalse(listed[cy["id"]]["expired"])

        # The rebuilt extension gets a new key: the new value, never the stale 49.
        out = h.run_app(self, self.dir, APP)
        self.assertEqual(out["value"], 50)
        rows = h.entries(self.store)
        self.assertEqual(len(rows), 3)
        new_cy = rows[2]
        self.assertEqual(new_cy["strategy"], "bytecode")
        self.assertEqual(h.source(self.store, new_cy["source_id"])["digest"], h.file_digest(so))

        before = {r["id"] for r in rows}
        dry = self.cli_json("purge", self.store, "--dry-run", "--json", expect=0)
        self.assertTrue(dry["dry_run"])
        self.assertEqual(dry["removed"], 1)
        self.assertEqual({r["id"] for r in h.entries(self.store)}, before)

        purge = self.cli_json("purge", self.store, "--json", expect=0)
        self.assertFalse(purge["dry_run"])
        self.assertEqual(purge["removed"], 1)
        self.assertEqual(purge["bytes"], cy["value_size"])
        self.assertEqual(purge["by_strategy"],
                         {"bytecode": {"removed": 1, "bytes": cy["value_size"]}})
        after = {r["id"] for r in h.entries(self.store)}
        self.assertEqual(after, before - {cy["id"]})
        self.assertIn(py["id"], after)  # the unrelated fresh source entry survives
        # The stale .so row is gone with the entry that referenced it.
        self.assertIsNone(h.source(self.store, cy["source_id"]))
        self.verify(self.store, expect=0)
