"""cachescope_cache.streamlit: drop-in `st.cache_data` / `st.cache_resource`.

    from cachescope_cache import streamlit as cst

    @cst.cache_data(persist="disk", ttl=3600)
    def load(path):
        ...

Both wrap Streamlit's OWN decorators, so an app keeps everything Streamlit does (spinner,
element replay, hash_funcs, persist, ttl, max_entries, validate, `.clear()`...): every keyword
argument is passed through to the installed Streamlit as it is. Two things are added:

(a) A function whose source cannot be read (`inspect.getsource` raises, e.g. a Cython
    `cython_function_or_method`) makes Streamlit key it on `__code__.co_code`, which is all
    zero bytes for a Cython function: a rebuilt extension keeps its key and a persisted cache
    serves the old value forever. Such a function is handed to Streamlit behind a thin Python
    function whose *source text* (generated, registered in `linecache`) names the sha256 of
    the module's file (the .so / .pyd). Streamlit keys on module, qualname and that source, so
    the key changes with every rebuild. Module and qualname are kept (display names, and the
    key of a pure Python function, are unchanged); `__signature__` is kept so Streamlit still
    skips underscore-prefixed arguments. No `__wrapped__` is set on purpose: inspect.getsource
    would follow it back to the compiled function.
    A function whose source can be read is handed to Streamlit unchanged: its key is exactly
    the one plain Streamlit gives it, so existing .memo files stay valid.

(b) Once per function key and process, a ledger row is written to a cachescope store (format
    1) beside Streamlit's cache folder: `~/.streamlit/cachescope-ledger.db` (override with the
    environment variable CACHESCOPE_STREAMLIT_LEDGER). Not inside `~/.streamlit/cache/`:
    `streamlit cache clear` removes that folder with shutil.rmtree, open database and all.
    The row is an `entries` row of namespace `streamlit-data` / `streamlit-resource`, with
    `key` = the function key as Streamlit computes it (the `{function_key}` of
    `{function_key}-{value_key}.memo`), `function` = `module:qualname`, the strategy
    (`source`, or `bytecode` with its `derivation_error`), and the fingerprint source (the
    function's span in its file, or the module's file whole). The value itself stays in
    Streamlit's .memo files: `value` is NULL and `value_size` 0.

`cachescope DIR` reads the ledger beside the cache folder it is given (`DIR/../cachescope-ledger.db`,
or $CACHESCOPE_STREAMLIT_LEDGER) and maps every .memo file whose function key it holds,
compiled functions included.

Standard library only; `streamlit` is imported lazily, on first decoration (importing this
module, or `cachescope_cache`, works without it). A ledger that
cannot be written is logged on the "cachescope_cache" logger and never breaks the app.
"""

import hashlib
import inspect
import linecache
import logging
import os
import threading

__all__ = ["cache_data", "cache_resource", "ledger_path", "LEDGER_NAME"]

LEDGER_NAME = "cachescope-ledger.db"
LEDGER_ENV = "CACHESCOPE_STREAMLIT_LEDGER"

logger = logging.getLogger("cachescope_cache")

_recorded = set()  # (namespace, function key) already written by this process
_recorded_lock = threading.Lock()
_file_digests = {}  # path -> ((size, mtime_ns, ino), hex digest)
_file_digests_lock = threading.Lock()


def ledger_path():
    """Where the ledger goes: $CACHESCOPE_STREAMLIT_LEDGER, else ~/.streamlit/cachescope-ledger.db
    (beside Streamlit's cache folder, found the way Streamlit finds it)."""
    path = os.environ.get(LEDGER_ENV)
    if path:
        return os.path.abspath(path)
    from streamlit.file_util import get_streamlit_file_path

    return get_streamlit_file_path(LEDGER_NAME)


def _error_text(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _module_file(func):
    import sys

    module = sys.modules.get(getattr(func, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    if isinstance(path, str) and os.path.isfile(path):
        return os.path.abspath(path)
    return None


def _file_sha256(path):
    st = os.stat(path)
    sig = (st.st_size, st.st_mtime_ns, st.st_ino)
    with _file_digests_lock:
        hit = _file_digests.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _file_digests_lock:
        _file_digests[path] = (sig, digest)
    return digest


def _keyed_wrapper(func, module_file):
    """A thin Python function standing for `func` whose source text names the sha256 of
    `module_file`, so that Streamlit's source-based key follows the compiled file."""
    digest = _file_sha256(module_file)
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", "function")
    name = getattr(func, "__name__", None)
    if not (isinstance(name, str) and name.isidentifier()):
        name = "cached"
    source = (
        "def %s(*args, **kwargs):\n"
        "    # cachescope: %s.%s compiled in %s, sha256:%s\n"
        "    return __cachescope_target__(*args, **kwargs)\n"
        % (name, module, qualname, os.path.basename(module_file), digest))
    filename = "<cachescope-streamlit %s.%s sha256:%s>" % (module, qualname, digest)
    # mtime None: linecache.checkcache keeps the entry (the file does not exist on disk).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__cachescope_target__": func, "__name__": module}
    exec(compile(source, filename, "exec"), namespace)
    wrapper = namespace[name]
    wrapper.__module__ = module
    wrapper.__qualname__ = qualname
    wrapper.__doc__ = getattr(func, "__doc__", None)
    try:
        wrapper.__signature__ = inspect.signature(func)
    except (TypeError, ValueError):
        pass
    wrapper.__cachescope_target__ = func
    wrapper.__cachescope_module_file__ = module_file
    return wrapper


def _streamlit_function_key(cache_type, func):
    """The function key exactly as Streamlit computes it (its own _make_function_key)."""
    from streamlit.runtime.caching.cache_type import CacheType
    from streamlit.runtime.caching.cache_utils import _make_function_key

    return _make_function_key(getattr(CacheType, cache_type), func)


def _record(namespace, cache_type, func, target):
    """Write the ledger row for `func` (handed to Streamlit as `target`), once per process."""
    try:
        import cachescope_cache as producer

        key = _streamlit_function_key(cache_type, target)
        with _recorded_lock:
            if (namespace, key) in _recorded:
                return key
        derivation = producer._derive(func)
        store = producer._get_store(ledger_path())
        os.makedirs(os.path.dirname(store.path), exist_ok=True)
        conn = store.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = producer._now_ms()
            source_id = None
            if derivation.source is not None:
                source_id = store.source_id(conn, derivation.source, now)
            conn.execute(
                "INSERT INTO entries (namespace, function, key, strategy, derivation_error, "
                "source_id, value, value_size, value_type, created_at, accessed_at, hits, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?, NULL, 0, NULL) "
                "ON CONFLICT (namespace, key) DO UPDATE SET function = excluded.function, "
                "strategy = excluded.strategy, derivation_error = excluded.derivation_error, "
                "source_id = excluded.source_id",
                (namespace, producer._function_name(func), key, derivation.strategy,
                 derivation.derivation_error, source_id, now))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with _recorded_lock:
            _recorded.add((namespace, key))
        return key
    except Exception as e:
        logger.warning("%s.%s: cachescope ledger row not written: %s",
                       getattr(func, "__module__", "?"), getattr(func, "__qualname__", "?"),
                       _error_text(e))
        return None


class _CacheAPI(object):
    """`cache_data` / `cache_resource`: call it as Streamlit's (bare, with a function, or with
    keyword arguments); `.clear()` clears Streamlit's cache of that kind."""

    def __init__(self, attr, cache_type, namespace):
        self._attr = attr
        self._cache_type = cache_type
        self._namespace = namespace

    def _streamlit_api(self):
        import streamlit

        return getattr(streamlit, self._attr)

    def _decorate(self, func, kwargs):
        target = func
        try:
            inspect.getsource(func)
        except Exception:
            module_file = _module_file(func)
            if module_file is not None:
                try:
                    target = _keyed_wrapper(func, module_file)
                except Exception as e:
                    logger.warning("%r: cannot key it on its module file %s, Streamlit keys "
                                   "it on its bytecode: %s", func, module_file, _error_text(e))
        cached = self._streamlit_api()(target, **kwargs)
        _record(self._namespace, self._cache_type, func, target)
        return cached

    def __call__(self, func=None, **kwargs):
        if func is None:
            return lambda f: self._decorate(f, kwargs)
        return self._decorate(func, kwargs)

    def clear(self, *args, **kwargs):
        return self._streamlit_api().clear(*args, **kwargs)

    def __repr__(self):
        return "<cachescope_cache.streamlit.%s wrapping st.%s>" % (self._attr, self._attr)


cache_data = _CacheAPI("cache_data", "DATA", "streamlit-data")
cache_resource = _CacheAPI("cache_resource", "RESOURCE", "streamlit-resource")
