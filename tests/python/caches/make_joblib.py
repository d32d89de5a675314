#!/usr/bin/env python3
"""Write real joblib.Memory caches for cachescope's tests and print a JSON manifest.

    python3 make_joblib.py OUTDIR [--scenario NAME] [--rerun]

Everything under OUTDIR/cache/joblib is written by joblib itself; this script only writes the
Python sources joblib caches functions from, and (scenario "bad") damages joblib's output
afterwards, saying exactly what it did in the manifest.

Scenarios (default "all" = module, main, builtin, cython, bad into OUTDIR/<scenario>):
  module   functions of an importable package under OUTDIR/src (plain, decorated, nested,
           in __init__.py, keyword arguments); each execution appends a line to OUTDIR/calls.log
  main     a function of a __main__ script under a path with '-' and '.' in it
  builtin  math.sqrt cached: no __code__, func_code.py holds repr(func)
  cython   a real Cython extension, cached, then rebuilt with another body and called again
  bad      the module scenario, then damaged: a call without output.pkl, a call without
           metadata.json, garbage func_code.py, a half-written call folder
--rerun (module scenario) calls the same functions again on an existing OUTDIR and reports
which calls executed (cache misses) and which hit.

Stdlib and joblib only (plus Cython and setuptools for the cython scenario).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap

PKG_INIT = '''\
"""A package whose __init__ defines a cached function."""
import os


def hello(name):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write("hello %s\\n" % name)
    return "hello " + name
'''

PKG_CALC = '''\
"""Functions joblib.Memory caches for cachescope's tests."""
import functools
import os


def _log(what):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write(what + "\\n")


def square(x):
    _log("square %r" % (x,))
    return x * x


def noisy(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


@noisy
def power(x, n=2):
    """Decorated: joblib caches the wrapper, whose code is the wrapper's."""
    _log("power %r %r" % (x, n))
    return x ** n


class Geometry:
    @staticmethod
    def area(w, h=1.0):
        _log("area %r %r" % (w, h))
        return w * h


def make_scaler(k):
    def scale(v):
        _log("scale %r %r" % (k, v))
        return [k * e for e in v]
    return scale
'''

# (function path as the script calls it, args expression) -- the calls the module scenario makes
MODULE_CALLS = [
    ("calc.square", "(3,)", "{}"),
    ("calc.square", "(4,)", "{}"),
    ("calc.square", "(1.5,)", "{}"),
    ("calc.power", "(2,)", "{'n': 10}"),
    ("calc.power", "(3,)", "{}"),
    ("calc.Geometry.area", "(2.5,)", "{'h': 4}"),
    ("scale3", "([1, 2],)", "{}"),
    ("pkgj.hello", "('world',)", "{}"),
]

RUN_MODULE = '''\
import json, os, sys
sys.path.insert(0, SRC)
from joblib import Memory
import pkgj
from pkgj import calc
mem = Memory(LOCATION, verbose=0)
scale3 = calc.make_scaler(3)
funcs = {
    "calc.square": mem.cache(calc.square),
    "calc.power": mem.cache(calc.power),
    "calc.Geometry.area": mem.cache(calc.Geometry.area),
    "scale3": mem.cache(scale3),
    "pkgj.hello": mem.cache(pkgj.hello),
}
results = []
for name, args, kwargs in CALLS:
    before = open(os.environ["CALLS_LOG"]).read().count("\\n") if os.path.exists(os.environ["CALLS_LOG"]) else 0
    funcs[name](*eval(args), **eval(kwargs))
    after = open(os.environ["CALLS_LOG"]).read().count("\\n")
    results.append({"func": name, "args": args, "kwargs": kwargs, "executed": after > before,
                    "call_id": funcs[name].func_id.split(os.sep) + [funcs[name]._get_args_id(*eval(args), **eval(kwargs))]})
print(json.dumps(results))
'''

MAIN_SCRIPT = '''\
import json, os, sys
from joblib import Memory

mem = Memory(sys.argv[1], verbose=0)


def greet(who, punct="!"):
    with open(os.environ["CALLS_LOG"], "a") as f:
        f.write("greet %s\\n" % who)
    return "hi " + who + punct


if __name__ == "__main__":
    g = mem.cache(greet)
    g("ann")
    g("bob", punct="?")
    print(json.dumps({"func_id": g.func_id.split(os.sep), "script": os.path.abspath(__file__)}))
'''

CY_LOG = 'import os\n\n\ndef triple(x):\n    with open(os.environ["CALLS_LOG"], "a") as f:\n        f.write("triple\\n")\n'
CY_V1 = CY_LOG + "    return x * 3\n"
CY_V2 = CY_LOG + "    return x * 3 + 1\n"

CY_SETUP = '''\
from setuptools import setup
from Cython.Build import cythonize
setup(name="cyfast", ext_modules=cythonize("cyfast.pyx", language_level=3, quiet=True))
'''

CY_RUN = '''\
import json, os, sys
sys.path.insert(0, sys.argv[2])
import warnings
warnings.simplefilter("always")
from joblib import Memory
import cyfast
mem = Memory(sys.argv[1], verbose=0)
log = os.environ["CALLS_LOG"]
def calls():
    return open(log).read().count("\\n") if os.path.exists(log) else 0
f = mem.cache(cyfast.triple)
b = calls()
import functools
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    r = f(5)
executed = calls() > b
code = getattr(cyfast.triple, "__code__", None)
print(json.dumps({"result": r, "executed": executed, "func_id": f.func_id.split(os.sep),
                  "module_file": cyfast.__file__,
                  "co_filename": getattr(code, "co_filename", None),
                  "warnings": [str(x.message) for x in w]}))
'''


def files_under(root):
    out = []
    for d, _, fs in os.walk(root):
        for f in fs:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def tree_summary(location):
    """What joblib wrote: function folders (with func_code.py) and their call folders."""
    jl = os.path.join(location, "joblib")
    funcs = {}
    for d, dirs, fs in os.walk(jl):
        if "func_code.py" in fs:
            rel = os.path.relpath(d, jl)
            with open(os.path.join(d, "func_code.py"), "rb") as f:
                code = f.read()
            calls = {}
            for c in sorted(dirs):
                cp = os.path.join(d, c)
                if not os.path.isdir(cp) or not os.path.exists(os.path.join(cp, "output.pkl")) and not os.path.exists(os.path.join(cp, "metadata.json")):
                    continue
                meta = None
                mp = os.path.join(cp, "metadata.json")
                if os.path.exists(mp):
                    with open(mp, "rb") as f:
                        raw = f.read()
                    try:
                        meta = json.loads(raw)
                    except ValueError:
                        meta = {"unparsable": raw.decode("utf-8", "replace")}
                calls[c] = {
                    "files": sorted(os.listdir(cp)),
                    "size": sum(os.path.getsize(os.path.join(cp, x)) for x in os.listdir(cp)),
                    "metadata": meta,
                }
            funcs[rel] = {"func_code": code.decode("utf-8", "replace"), "calls": calls}
    return funcs


def run(cmd, env=None, cwd=None):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s%s" % (cmd, r.stdout, r.stderr))
    return r.stdout


def env_with_log(out):
    env = dict(os.environ)
    env["CALLS_LOG"] = os.path.join(out, "calls.log")
    return env


def scenario_module(out, rerun=False):
    src = os.path.join(out, "src")
    location = os.path.join(out, "cache")
    if not rerun:
        os.makedirs(os.path.join(src, "pkgj"), exist_ok=True)
        with open(os.path.join(src, "pkgj", "__init__.py"), "w") as f:
            f.write(PKG_INIT)
        with open(os.path.join(src, "pkgj", "calc.py"), "w") as f:
            f.write(PKG_CALC)
    script = "SRC = %r\nLOCATION = %r\nCALLS = %r\n" % (src, location, MODULE_CALLS) + RUN_MODULE
    calls = json.loads(run([sys.executable, "-c", script], env=env_with_log(out)))
    return {
        "scenario": "module",
        "location": location,
        "source_root": src,
        "calls": calls,
        "functions": tree_summary(location),
    }


def scenario_main(out):
    # '-' and '.' in the script's path: joblib joins the path's parts with '-' and then splits
    # the whole module name on '.', so both survive ambiguously in the folder names.
    sdir = os.path.join(out, "scripts", "run-me.v2")
    os.makedirs(sdir, exist_ok=True)
    script = os.path.join(sdir, "job.py")
    with open(script, "w") as f:
        f.write(MAIN_SCRIPT)
    location = os.path.join(out, "cache")
    info = json.loads(run([sys.executable, script, location], env=env_with_log(out)))
    return {
        "scenario": "main",
        "location": location,
        "script": info["script"],
        "func_id": info["func_id"],
        "functions": tree_summary(location),
    }


def scenario_builtin(out):
    location = os.path.join(out, "cache")
    code = (
        "import json, math, os, sys\nfrom joblib import Memory\n"
        "m = Memory(sys.argv[1], verbose=0)\nf = m.cache(math.sqrt)\nf(16.0)\nf(2.0)\n"
        "print(json.dumps({'func_id': f.func_id.split(os.sep), 'repr': repr(math.sqrt)}))\n"
    )
    info = json.loads(run([sys.executable, "-c", code, location]))
    return {"scenario": "builtin", "location": location, **info, "functions": tree_summary(location)}


def scenario_cython(out):
    build = os.path.join(out, "cy_build")
    os.makedirs(build, exist_ok=True)
    location = os.path.join(out, "cache")
    env = env_with_log(out)
    with open(os.path.join(build, "setup.py"), "w") as f:
        f.write(CY_SETUP)
    steps = []

    def build_ext(body):
        with open(os.path.join(build, "cyfast.pyx"), "w") as f:
            f.write(body)
        # a real rebuild every time: no stale objects or .c left from the previous build
        for name in os.listdir(build):
            if name.startswith("cyfast.") and not name.endswith(".pyx"):
                os.remove(os.path.join(build, name))
        shutil.rmtree(os.path.join(build, "build"), ignore_errors=True)
        run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=build)

    def call(label, cwd=None):
        info = json.loads(run([sys.executable, "-c", CY_RUN, location, build], env=env, cwd=cwd))
        info["step"] = label
        info["functions"] = tree_summary(location)
        steps.append(info)

    build_ext(CY_V1)
    call("v1")
    build_ext(CY_V1)
    call("v1-rebuilt-same-source")
    build_ext(CY_V2)
    call("v2-new-body")
    # co_filename is the relative "cyfast.pyx": from the build dir joblib finds and reads it
    call("v2-cwd-build-dir", cwd=build)
    call("v2-back-to-other-cwd")
    shutil.rmtree(os.path.join(build, "build"), ignore_errors=True)
    return {"scenario": "cython", "location": location, "build_dir": build, "steps": steps}


def scenario_bad(out):
    m = scenario_module(out)
    jl = os.path.join(m["location"], "joblib")
    damage = []
    sq = os.path.join(jl, "pkgj", "calc", "square")
    calls = sorted(c for c in os.listdir(sq) if os.path.isdir(os.path.join(sq, c)))
    os.remove(os.path.join(sq, calls[0], "output.pkl"))
    damage.append({"path": os.path.relpath(os.path.join(sq, calls[0], "output.pkl"), jl), "what": "removed output.pkl"})
    os.remove(os.path.join(sq, calls[1], "metadata.json"))
    damage.append({"path": os.path.relpath(os.path.join(sq, calls[1], "metadata.json"), jl), "what": "removed metadata.json"})
    with open(os.path.join(sq, calls[2], "metadata.json"), "wb") as f:
        f.write(b'{"duration": 0.1, "input_args": {"x": "\'a')
    damage.append({"path": os.path.relpath(os.path.join(sq, calls[2], "metadata.json"), jl), "what": "truncated metadata.json"})
    pw = os.path.join(jl, "pkgj", "calc", "power", "func_code.py")
    with open(pw, "wb") as f:
        f.write(b"\x00\xffnot a func_code file\n")
    damage.append({"path": os.path.relpath(pw, jl), "what": "garbage func_code.py"})
    # a call folder joblib had only begun: created, nothing written yet
    half = os.path.join(jl, "pkgj", "hello", "0123456789abcdef0123456789abcdef")
    os.makedirs(half)
    damage.append({"path": os.path.relpath(half, jl), "what": "empty call folder"})
    m["scenario"] = "bad"
    m["damage"] = damage
    m["functions"] = tree_summary(m["location"])
    return m


SCENARIOS = {
    "module": scenario_module,
    "main": scenario_main,
    "builtin": scenario_builtin,
    "cython": scenario_cython,
    "bad": scenario_bad,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    ap.add_argument("--rerun", action="store_true")
    a = ap.parse_args()
    import joblib

    out = os.path.abspath(a.outdir)
    os.makedirs(out, exist_ok=True)
    if a.rerun:
        if a.scenario != "module":
            sys.exit("--rerun applies to the module scenario only")
        manifest = scenario_module(out, rerun=True)
    elif a.scenario == "all":
        manifest = {"scenarios": {}}
        for name, fn in SCENARIOS.items():
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            manifest["scenarios"][name] = fn(d)
    else:
        manifest = SCENARIOS[a.scenario](out)
    manifest["joblib_version"] = joblib.__version__
    manifest["python"] = sys.version.split()[0]
    json.dump(manifest, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
