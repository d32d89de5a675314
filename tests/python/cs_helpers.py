"""Shared helpers of the Python producer's tests (stdlib + unittest only).

The suite is run by tests/python_producer.rs as
    python3 -m unittest discover -s tests/python -t tests/python -v
from the crate root, with CACHESCOPE_BIN naming the cachescope binary. Run by hand, it falls
back to target/debug/cachescope under the crate root.

By default the producer is imported from the source tree (assets/python). With
CACHESCOPE_PRODUCER=installed (.ci/wheel.sh sets it) the tests use the cachescope_cache
package installed in the running interpreter's environment instead, and fail unless it is
imported from there.
"""

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE_ROOT = os.path.dirname(os.path.dirname(HERE))
SOURCE_PRODUCER_DIR = os.path.join(CRATE_ROOT, "assets", "python")
SCHEMA_PATH = os.path.join(CRATE_ROOT, "assets", "schema.sql")
CARGO_TOML = os.path.join(CRATE_ROOT, "Cargo.toml")

PRODUCER_MODE = os.environ.get("CACHESCOPE_PRODUCER", "source")
if PRODUCER_MODE not in ("source", "installed"):
    raise RuntimeError("CACHESCOPE_PRODUCER must be 'source' or 'installed', not %r"
                       % PRODUCER_MODE)
INSTALLED = PRODUCER_MODE == "installed"
# The directory prepended to the import path of this process and of every app run: none when
# testing the installed package.
PRODUCER_DIR = None if INSTALLED else SOURCE_PRODUCER_DIR

if PRODUCER_DIR is not None and PRODUCER_DIR not in sys.path:
    sys.path.insert(0, PRODUCER_DIR)


def _check_producer_location():
    """Fail loudly when the tests would exercise another copy of the producer than meant."""
    import sysconfig
    import cachescope_cache
    package_dir = os.path.realpath(os.path.dirname(cachescope_cache.__file__))
    source_dir = os.path.realpath(os.path.join(SOURCE_PRODUCER_DIR, "cachescope_cache"))
    if INSTALLED:
        site_dirs = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
        if os.path.dirname(package_dir) not in site_dirs:
            raise RuntimeError(
                "CACHESCOPE_PRODUCER=installed, but cachescope_cache was imported from %s, "
                "not from this interpreter's site-packages (%s)"
                % (package_dir, ", ".join(sorted(site_dirs))))
    elif package_dir != source_dir:
        raise RuntimeError("cachescope_cache was imported from %s, not from the source tree "
                           "(%s); set CACHESCOPE_PRODUCER=installed to test an installed copy"
                           % (package_dir, source_dir))


_check_producer_location()

# Every subprocess "app run" starts with this: warnings and errors of the producer go to stderr.
APP_PRELUDE = textwrap.dedent("""\
    import json, logging, sys
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="LOG %(levelname)s %(name)s: %(message)s")
    from cachescope_cache import cache
    """)


def cargo_version():
    """The [package] version in the crate's Cargo.toml: the one version of the wheel, the binary
    and the Python package."""
    with open(CARGO_TOML, encoding="utf-8") as f:
        text = f.read()
    package = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    version = package and re.search(r'^version\s*=\s*"([^"]+)"', package.group(1), re.M)
    if not version:
        raise AssertionError("no [package] version in %s" % CARGO_TOML)
    return version.group(1)


def sha256_tag(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_lines(data):
    """Lines as the store format defines them (split at b"\\n", newline kept)."""
    out = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            out.append(data[start:])
            break
        out.append(data[start:end + 1])
        start = end + 1
    return out


def span_digest(path, start, end):
    with open(path, "rb") as f:
        lines = split_lines(f.read())
    return sha256_tag(b"".join(lines[start - 1:end]))


def file_digest(path):
    with open(path, "rb") as f:
        return sha256_tag(f.read())


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(textwrap.dedent(text))


def app_env(cwd, extra=None):
    env = dict(os.environ)
    paths = [cwd] if PRODUCER_DIR is None else [PRODUCER_DIR, cwd]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_app(testcase, cwd, code, env=None, check_clean=True, timeout=120):
    """Run `code` (after APP_PRELUDE) as a fresh `python3 -c` process in `cwd`: one "app run".
    Returns the JSON the app printed on its last stdout line (or None)."""
    proc = subprocess.run(
        [sys.executable, "-c", APP_PRELUDE + textwrap.dedent(code)],
        cwd=cwd, env=app_env(cwd, env), capture_output=True, text=True, timeout=timeout)
    testcase.assertEqual(
        proc.returncode, 0,
        "app run failed (exit %d)\n--- stdout\n%s\n--- stderr\n%s"
        % (proc.returncode, proc.stdout, proc.stderr))
    if check_clean:
        testcase.assertNotIn("cachescope_cache", proc.stderr,
                             "the producer logged something:\n" + proc.stderr)
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


# --------------------------------------------------------------------------------------------
# The cachescope binary
# --------------------------------------------------------------------------------------------


def cachescope_bin():
    path = os.environ.get("CACHESCOPE_BIN")
    if path:
        return path
    exe = "cachescope.exe" if os.name == "nt" else "cachescope"
    return os.path.join(CRATE_ROOT, "target", "debug", exe)


class CliTestCase(unittest.TestCase):
    """A test case that runs the cachescope CLI."""

    def setUp(self):
        super().setUp()
        path = cachescope_bin()
        if not os.path.isfile(path):
            if os.environ.get("CACHESCOPE_BIN"):
                self.fail("CACHESCOPE_BIN=%s does not exist" % path)
            self.skipTest("no cachescope binary at %s (run `cargo build`, or set "
                          "CACHESCOPE_BIN)" % path)

    def cli(self, *args, expect=None):
        proc = subprocess.run([cachescope_bin()] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=120)
        if expect is not None:
            self.assertEqual(
                proc.returncode, expect,
                "cachescope %s: exit %d, expected %d\n--- stdout\n%s\n--- stderr\n%s"
                % (" ".join(map(str, args)), proc.returncode, expect, proc.stdout,
                   proc.stderr))
        return proc

    def cli_json(self, *args, expect=0):
        proc = self.cli(*args, expect=expect)
        try:
            return json.loads(proc.stdout)
        except ValueError as e:
            self.fail("cachescope %s printed no JSON (%s):\n%s\n--- stderr\n%s"
                      % (" ".join(map(str, args)), e, proc.stdout, proc.stderr))

    def verify(self, store, expect):
        return self.cli_json("verify", store, "--json", expect=expect)

    def list_entries(self, store):
        return self.cli_json("list", store, "--json", expect=0)

    def source_report(self, report, recorded_path, span="any"):
        """The verify --json source object for a recorded path (and span, if given)."""
        found = [s for s in report["sources"] if s["path"] == recorded_path
                 and (span == "any" or s["span"] == span)]
        self.assertEqual(len(found), 1, "expected one source %r (span %r) in %s"
                         % (recorded_path, span, json.dumps(report, indent=1)))
        return found[0]


# --------------------------------------------------------------------------------------------
# Reading a store directly
# --------------------------------------------------------------------------------------------


def query(store, sql, params=()):
    conn = sqlite3.connect(store)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def entries(store):
    return query(store, "SELECT * FROM entries ORDER BY id")


def sources(store):
    return query(store, "SELECT * FROM sources ORDER BY id")


def source(store, source_id):
    rows = query(store, "SELECT * FROM sources WHERE id = ?", (source_id,))
    return rows[0] if rows else None


def dependencies(store, entry_id):
    return query(store, "SELECT s.* FROM entry_dependencies d JOIN sources s "
                        "ON s.id = d.source_id WHERE d.entry_id = ? ORDER BY s.id",
                 (entry_id,))
