#!/usr/bin/env bash
# CI: what a Python user gets from `pip install`.
#
# Builds the wheel the way `pip install <path>` does (pyproject.toml, maturin, release profile),
# installs it into a fresh virtual environment, and checks, with a PATH that holds nothing but
# that environment (no cargo, no rustc, no C compiler): `cachescope --version`, `demo`,
# `summary`, a function cached with `cachescope_cache`, and the TUI in tmux. Then runs the
# Python producer's tests against the installed package (not assets/python), and type-checks
# a user of the package with mypy.
#
# Needs python3 (with venv and pip), cargo, a C compiler (the Cython test) and tmux.
# WORK (default: a fresh temporary directory) receives the wheel and the environments.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=${WORK:-$(mktemp -d -t cachescope-wheel.XXXXXX)}
mkdir -p "$WORK"
WHEELS=$WORK/wheels
VENV=$WORK/venv
SOCKET=cachescope-wheel-$$
rm -rf "$WHEELS" "$VENV"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# The installed environment alone: nothing else on PATH, a clean environment.
venv_only() { env -i HOME="$WORK/home" LANG=C.UTF-8 PATH="$VENV/bin" "$@"; }
cleanup() { tmux -L "$SOCKET" kill-server >/dev/null 2>&1 || true; }
trap cleanup EXIT
mkdir -p "$WORK/home"

step "build the wheel (pip wheel ., the build pip install runs)"
start=$(date +%s)
python3 -m pip wheel --disable-pip-version-check \
    --no-deps --wheel-dir "$WHEELS" "$ROOT"
build_s=$(( $(date +%s) - start ))
shopt -s nullglob
wheels=("$WHEELS"/cachescope-*.whl)
[ "${#wheels[@]}" -eq 1 ] || fail "expected one cachescope wheel in $WHEELS, found ${#wheels[@]}"
WHEEL=${wheels[0]}
echo "wheel: $(basename "$WHEEL"), $(stat -c %s "$WHEEL") bytes, built in ${build_s} s"
# The wheel's contents: the binary as a script, the package, py.typed.
python3 - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for want in ("cachescope_cache/__init__.py", "cachescope_cache/py.typed",
             "cachescope_cache/streamlit.py"):
    assert want in names, "%s missing from the wheel: %s" % (want, names)
assert any(n.endswith(".data/scripts/cachescope") for n in names), names
assert not any("__pycache__" in n or n.endswith(".pyc") for n in names), names
print("\n".join(sorted(names)))
EOF

step "install it into a fresh virtual environment"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$WHEEL"
for tool in cargo rustc cc gcc; do
    if venv_only /bin/sh -c "command -v $tool" >/dev/null; then
        fail "$tool is on the environment-only PATH"
    fi
done
[ "$(venv_only /bin/sh -c 'command -v cachescope')" = "$VENV/bin/cachescope" ] \
    || fail "cachescope is not the environment's"

step "cachescope --version, demo, summary from the environment"
cargo_version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
version=$(venv_only cachescope --version)
echo "$version"
[ "$version" = "cachescope $cargo_version" ] || fail "--version says '$version', Cargo.toml $cargo_version"
demo_store=$(venv_only cachescope demo "$WORK/demo")
[ -f "$demo_store" ] || fail "cachescope demo printed '$demo_store', not a file"
venv_only cachescope summary "$demo_store" | tee "$WORK/demo-summary.txt"
grep -q "^bytecode " "$WORK/demo-summary.txt" || fail "summary of the demo shows no bytecode row"

step "cache a function with cachescope_cache, then summary and verify on its store"
mkdir -p "$WORK/app"
cat > "$WORK/app/app.py" <<'EOF'
import json
import cachescope_cache
from cachescope_cache import cache

@cache(store="cache.db")
def square(x):
    return x * x

print(json.dumps({"values": [square(3), square(3), square(4)], "info": square.cache_info(),
                  "version": cachescope_cache.__version__, "file": cachescope_cache.__file__}))
EOF
out=$(cd "$WORK/app" && venv_only python app.py)
echo "$out"
venv_only python - "$out" "$cargo_version" "$VENV" <<'EOF'
import json, os, sys
out, version, venv = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert out["values"] == [9, 9, 16], out
info = out["info"]
assert (info["hits"], info["misses"], info["strategy"]) == (1, 2, "source"), info
assert out["version"] == version, out
assert os.path.realpath(out["file"]).startswith(os.path.realpath(venv) + os.sep), out
EOF
venv_only cachescope summary "$WORK/app/cache.db" | tee "$WORK/app-summary.txt"
grep -Eq "^source +2 " "$WORK/app-summary.txt" || fail "summary does not show the 2 source entries"
venv_only cachescope verify "$WORK/app/cache.db" >/dev/null || fail "verify: the fresh entries are not fresh"

step "the TUI in tmux (80x24), from the environment, on the function's store"
tmux -L "$SOCKET" new-session -d -s main -x 80 -y 24 \
    "env -i HOME='$WORK/home' LANG=C.UTF-8 TERM=xterm-256color PATH='$VENV/bin' cachescope '$WORK/app/cache.db'; echo EXIT=\$?; sleep 60"
screen=""
shown() { case $1 in *"nothing stale"*__main__:square*fresh*) return 0 ;; *) return 1 ;; esac; }
for _ in $(seq 1 300); do
    screen=$(tmux -L "$SOCKET" capture-pane -p -t main)
    shown "$screen" && break
    sleep 0.1
done
printf '%s\n' "$screen"
shown "$screen" || fail "the TUI did not show the verified entries of __main__:square"
tmux -L "$SOCKET" send-keys -t main q
for _ in $(seq 1 100); do
    screen=$(tmux -L "$SOCKET" capture-pane -p -t main)
    case $screen in *EXIT=*) break ;; esac
    sleep 0.1
done
case $screen in *EXIT=0*) echo "the TUI quit with exit code 0" ;; *) fail "the TUI did not quit cleanly: $screen" ;; esac
cleanup

step "the Python producer's tests against the installed package"
# Test dependencies, not the package's: Cython and setuptools build the extension test_cython
# caches (that test needs the C compiler, so it runs with the usual PATH).
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "cython>=3" setuptools
log=$WORK/python-tests.log
if ! CACHESCOPE_PRODUCER=installed CACHESCOPE_BIN="$VENV/bin/cachescope" PYTHONDONTWRITEBYTECODE=1 \
    "$VENV/bin/python" -m unittest discover -s tests/python -t tests/python -v >"$log" 2>&1; then
    cat "$log"
    fail "the Python producer's tests failed against the installed package"
fi
tail -n 4 "$log"
grep -q "test_installed_distribution_has_the_same_version .* ok$" "$log" \
    || fail "the installed-package version test did not run"

step "type hints: a user of the installed package, checked by mypy"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mypy>=1.10"
mkdir -p "$WORK/typing"
cat > "$WORK/typing/good.py" <<'EOF'
import datetime
from pathlib import Path
from cachescope_cache import CacheInfo, cache

@cache(store=Path("cache.db"), depends_on=["data.csv"], ttl=datetime.timedelta(hours=1))
def load(path: str, columns: int = 3) -> list[int]:
    return [columns]

rows: list[int] = load("x", columns=2)
info: CacheInfo = load.cache_info()
hits: int = info["hits"]
EOF
cat > "$WORK/typing/bad.py" <<'EOF'
from cachescope_cache import cache

@cache()
def load(path: str) -> list[int]:
    return [1]

load(1)
text: str = load("x")
EOF
(cd "$WORK/typing" && venv_only mypy --strict --no-incremental good.py)
if (cd "$WORK/typing" && venv_only mypy --strict --no-incremental bad.py >bad.txt); then
    fail "mypy accepted a call with the wrong argument type"
fi
cat "$WORK/typing/bad.txt"
grep -q 'bad.py:7: error: .*\[arg-type\]' "$WORK/typing/bad.txt" || fail "no arg-type error"
grep -q 'bad.py:8: error: .*\[assignment\]' "$WORK/typing/bad.txt" || fail "no assignment error"

echo
echo "wheel OK: $(basename "$WHEEL"), $(stat -c %s "$WHEEL") bytes, built in ${build_s} s"
