"""cachescope_cache: a function cache that records how each key was derived.

A standard-library-only producer for cachescope stores (store format 1, see assets/schema.sql
and the cachescope documentation). `pip install` cachescope to get it together with the
`cachescope` command, or copy this package's folder into your project.

    from cachescope_cache import cache

    @cache(store="cache.db", namespace="data", depends_on=("data/config.toml",), ttl=3600)
    def load(path):
        ...

Every entry records HOW its key was derived (strategy `source`, `bytecode`, `custom` or
`name`), WHY a fallback happened (`derivation_error`), and a FINGERPRINT of the file the key
depended on, so that `cachescope verify` can tell which entries are still valid and
`cachescope purge` can remove the rest. Python 3.9+.

A cache must never break the application: any error of the store (locked, corrupt, disk full,
unpicklable value or argument...) is logged on the "cachescope_cache" logger and the function's
computed value is returned anyway.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import logging
import os
import pickle
import sqlite3
import struct
import sys
import threading
import time
from typing import (TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Protocol, Tuple, TypedDict,
                    TypeVar, Union)

if TYPE_CHECKING:  # ParamSpec is typing's from Python 3.10; type checkers know both spellings
    if sys.version_info >= (3, 10):
        from typing import ParamSpec
    else:
        from typing_extensions import ParamSpec
    _P = ParamSpec("_P")
else:  # at run time the annotations are never evaluated (PEP 563); a plain TypeVar suffices
    _P = TypeVar("_P")
_R = TypeVar("_R")
_R_co = TypeVar("_R_co", covariant=True)

__all__ = ["cache", "CachedFunction", "CacheInfo", "StoreError", "SCHEMA_SQL", "APPLICATION_ID",
           "FORMAT_VERSION", "__version__"]


def _cargo_version(path: str) -> Optional[str]:
    """The [package] version of a Cargo.toml naming the package "cachescope", or None."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    section = None
    fields = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line
        elif section == "[package]" and "=" in line:
            name, _, value = line.partition("=")
            fields[name.strip()] = value.strip().strip('"')
    if fields.get("name") != "cachescope":
        return None
    return fields.get("version")


def _find_version() -> str:
    """cachescope's version, which is Cargo.toml's: the wheel's metadata when this package was
    installed from the cachescope wheel, else the crate's Cargo.toml when running from the
    source tree (assets/python/cachescope_cache/), else "unknown" (a copied folder)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from importlib import metadata

        dist = metadata.distribution("cachescope")
        for file in dist.files or ():
            if file.as_posix() == "cachescope_cache/__init__.py":
                installed = os.path.dirname(os.path.abspath(str(dist.locate_file(file))))
                if os.path.realpath(installed) == os.path.realpath(here):
                    return dist.version
    except Exception:  # not installed, or unreadable metadata: fall back on the source tree
        pass
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    return _cargo_version(os.path.join(root, "Cargo.toml")) or "unknown"


__version__: str = _find_version()

PRODUCER = "cachescope_cache " + __version__
APPLICATION_ID = 1129530192  # 0x43534350, "CSCP"
FORMAT_VERSION = 1
PICKLE_PROTOCOL = 4
CONTENT_LIMIT = 64 * 1024  # keep a snapshot of a span's bytes up to this size
BUSY_TIMEOUT_S = 10.0
KEY_VERSION = b"cachescope_cache/key/1"

logger = logging.getLogger("cachescope_cache")

# The DDL of assets/schema.sql, verbatim (a test asserts they are equal byte for byte).
SCHEMA_SQL = r'''-- cachescope store, format 1. Written from shared/store-format.md; `cachescope schema` prints it.
-- Producers run this once on an empty database (every statement is idempotent), then insert the
-- meta rows (format, format_version, created_at, producer).
PRAGMA application_id = 1129530192; -- 0x43534350, "CSCP"
PRAGMA user_version = 1;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Fingerprint sources. Rows are immutable: a changed file gets a NEW row with the new digest.
CREATE TABLE IF NOT EXISTS sources (
    id          INTEGER PRIMARY KEY,
    path        TEXT    NOT NULL,          -- absolute, or relative to the store file's directory
    span_start  INTEGER NULL,              -- 1-based first line; NULL = whole file
    span_end    INTEGER NULL,              -- inclusive; NULL exactly when span_start is NULL
    digest      TEXT    NOT NULL,          -- ALGO:HEX, lowercase hex, e.g. sha256:9f86d0...
    size        INTEGER NULL,              -- file size in bytes when recorded
    mtime_ns    INTEGER NULL,              -- file mtime, ns since the Unix epoch, when recorded
    recorded_at INTEGER NOT NULL,          -- Unix ms
    content     BLOB    NULL,              -- optional snapshot of the fingerprinted bytes (<= 64 KiB)
    UNIQUE (path, span_start, span_end, digest),
    CHECK ((span_start IS NULL) = (span_end IS NULL)),
    CHECK (span_start IS NULL OR (span_start >= 1 AND span_start <= span_end))
);

CREATE TABLE IF NOT EXISTS entries (
    id               INTEGER PRIMARY KEY,
    namespace        TEXT    NOT NULL,     -- which cache, e.g. data, resource
    function         TEXT    NOT NULL,     -- module:qualname
    key              TEXT    NOT NULL,     -- the derived cache key, opaque
    strategy         TEXT    NOT NULL,     -- source | bytecode | custom | name | anything else
    derivation_error TEXT    NULL,         -- "TypeName: message" of the exception that made derivation fall back
    source_id        INTEGER NULL REFERENCES sources(id),
    value            BLOB    NULL,
    value_size       INTEGER NOT NULL,
    value_type       TEXT    NULL,         -- pickle | json | text | bytes | a MIME type
    created_at       INTEGER NOT NULL,     -- Unix ms
    accessed_at      INTEGER NULL,         -- Unix ms of the last hit
    hits             INTEGER NOT NULL DEFAULT 0,
    expires_at       INTEGER NULL,         -- Unix ms; NULL = no expiry
    UNIQUE (namespace, key)
);
CREATE INDEX IF NOT EXISTS entries_function ON entries (function);
-- Covering index: counting and sizing entries by source and strategy reads this index alone.
CREATE INDEX IF NOT EXISTS entries_source_strategy_size ON entries (source_id, strategy, value_size);
-- Not required by format 1, added by cachescope's own producers: they let `summary` count
-- derivation errors, failed entries and expired entries without scanning the table (values
-- make it large). A store without them gives the same answers, only slower.
CREATE INDEX IF NOT EXISTS entries_derivation_error
    ON entries (strategy, derivation_error, source_id, value_size)
    WHERE derivation_error IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries (expires_at, strategy, value_size)
    WHERE expires_at IS NOT NULL;

-- Further files an entry depends on (optional table).
CREATE TABLE IF NOT EXISTS entry_dependencies (
    entry_id  INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    PRIMARY KEY (entry_id, source_id)
) WITHOUT ROWID;
-- Lets a purge find the entries that depend on a stale source, and unreferenced sources, fast.
CREATE INDEX IF NOT EXISTS entry_dependencies_source ON entry_dependencies (source_id);
'''


class StoreError(Exception):
    """The store cannot be used (not a cachescope store, newer format...)."""


_PathArg = Union[str, "os.PathLike[str]"]


class CacheInfo(TypedDict):
    """What `cache_info()` of a cached function returns."""

    function: str  # module:qualname
    store: str  # absolute path of the store
    namespace: str
    strategy: str  # source | bytecode | custom | name
    derivation_error: Optional[str]  # "TypeName: message" when the derivation fell back
    source_path: Optional[str]  # the fingerprint source, absolute
    span: Optional[Tuple[int, int]]  # its lines (1-based, inclusive); None = the whole file
    digest: Optional[str]  # "sha256:..." of the span or file, when it was read
    depends_on: List[str]  # absolute paths
    ttl_ms: Optional[int]
    hits: int  # in this process
    misses: int
    errors: int


class CachedFunction(Protocol[_P, _R_co]):
    """What `@cache(...)` returns: the function, same signature, plus `cache_info()`."""

    @property
    def __wrapped__(self) -> Callable[_P, _R_co]: ...

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R_co: ...

    def cache_info(self) -> CacheInfo: ...


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _now_ms():
    return int(time.time() * 1000)


def _rfc3339_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_text(exc):
    """`TypeName: message`, the form the store's derivation_error column uses."""
    return "%s: %s" % (type(exc).__name__, exc)


def _sha256_tag(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _split_lines(data):
    """Lines of `data` as the store format defines them: runs of bytes up to and including
    b"\\n"; the last line may lack it. No decoding, no newline normalisation."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _read_file(path):
    """(bytes, size, mtime_ns) of a regular file, stat taken on the open descriptor."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read()
    return data, st.st_size, st.st_mtime_ns


class _Fingerprint(object):
    """One fingerprint source: a file, whole (span None) or a span of lines."""

    __slots__ = ("abs_path", "span", "digest", "size", "mtime_ns", "content")

    def __init__(self, abs_path, span, digest, size, mtime_ns, content):
        self.abs_path = abs_path
        self.span = span
        self.digest = digest
        self.size = size
        self.mtime_ns = mtime_ns
        self.content = content

    def __repr__(self):
        return "_Fingerprint(%r, span=%r, digest=%r)" % (self.abs_path, self.span, self.digest)


def _whole_file_fingerprint(path):
    data, size, mtime_ns = _read_file(path)
    return _Fingerprint(path, None, _sha256_tag(data), size, mtime_ns, None)


class _DigestCache(object):
    """Whole-file digests for depends_on files, re-hashed only when the file's stat changes.

    A cached digest is trusted only when the file's mtime was at least 2 s older than the moment
    it was hashed (the "racy git" rule), so a same-size edit within one timestamp tick is
    never missed."""

    RACY_NS = 2 * 1000 * 1000 * 1000

    def __init__(self):
        self._lock = threading.Lock()
        self._cache = {}

    def get(self, path):
        st = os.stat(path)
        sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            hit = self._cache.get(path)
        if hit is not None and hit[0] == sig:
            return hit[1]
        before_ns = time.time_ns()
        fp = _whole_file_fingerprint(path)
        st2 = os.stat(path)
        sig2 = (st2.st_dev, st2.st_ino, st2.st_size, st2.st_mtime_ns, st2.st_ctime_ns)
        if sig2 == sig and before_ns - st.st_mtime_ns > self.RACY_NS:
            with self._lock:
                self._cache[path] = (sig, fp)
        return fp


_digests = _DigestCache()


# --------------------------------------------------------------------------------------------
# Canonical hashing of keys and arguments
# --------------------------------------------------------------------------------------------


def _field(h, data):
    h.update(struct.pack(">Q", len(data)))
    h.update(data)


def _canon(h, obj):
    """Feed a stable encoding of `obj` to hash `h`.

    Built-in scalars and containers are encoded structurally (dicts and sets in sorted order of
    their members' encodings, so the result does not depend on PYTHONHASHSEED); anything else is
    pickled with protocol 4. Raises when an object cannot be pickled."""
    t = type(obj)
    if obj is None:
        h.update(b"N")
    elif t is bool:
        h.update(b"T" if obj else b"F")
    elif t is int:
        _field(h, b"i" + str(obj).encode("ascii"))
    elif t is float:
        _field(h, b"f" + obj.hex().encode("ascii"))
    elif t is complex:
        _field(h, b"c" + obj.real.hex().encode("ascii") + b"," + obj.imag.hex().encode("ascii"))
    elif t is str:
        _field(h, b"s" + obj.encode("utf-8", "surrogatepass"))
    elif t is bytes:
        _field(h, b"b" + obj)
    elif t is tuple or t is list:
        h.update(b"(" if t is tuple else b"[")
        h.update(struct.pack(">Q", len(obj)))
        for item in obj:
            _canon(h, item)
    elif t is dict:
        items = sorted((_digest_of(k), _digest_of(v)) for k, v in obj.items())
        h.update(b"{")
        h.update(struct.pack(">Q", len(items)))
        for k, v in items:
            h.update(k)
            h.update(v)
    elif t is set or t is frozenset:
        members = sorted(_digest_of(m) for m in obj)
        h.update(b"<" if t is set else b">")
        h.update(struct.pack(">Q", len(members)))
        for m in members:
            h.update(m)
    else:
        _field(h, b"p" + pickle.dumps(obj, protocol=PICKLE_PROTOCOL))


def _digest_of(obj):
    h = hashlib.sha256()
    _canon(h, obj)
    return h.digest()


# --------------------------------------------------------------------------------------------
# Key derivation (done once per decorated function, at decoration time)
# --------------------------------------------------------------------------------------------


class _Derivation(object):
    """How a function's key is derived: strategy, why it fell back, its fingerprint source and
    the bytes that stand for the function's code in every key."""

    __slots__ = ("strategy", "derivation_error", "source", "material")

    def __init__(self, strategy, derivation_error, source, material):
        self.strategy = strategy
        self.derivation_error = derivation_error
        self.source = source  # _Fingerprint or None
        self.material = material  # bytes


def _module_file(func):
    """The defining module's file (for a compiled extension: the .so / .pyd), or None."""
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    candidates = []
    path = getattr(module, "__file__", None)
    if path:
        candidates.append(path)
    code = getattr(func, "__code__", None)
    co_filename = getattr(code, "co_filename", None)
    if co_filename:
        candidates.append(co_filename)
    for path in candidates:
        if isinstance(path, str) and os.path.isfile(path):
            return os.path.abspath(path)
    return None


def _code_material(code):
    """Bytes standing for a code object: bytecode, names and constants, recursively (no
    addresses, so stable across processes). A Cython function's co_code is all zero bytes,
    which is why the bytecode strategy adds the module file's digest."""
    h = hashlib.sha256()
    for attr in ("co_code", "co_names", "co_varnames", "co_argcount", "co_kwonlyargcount"):
        value = getattr(code, attr, None)
        _field(h, repr(type(value)).encode())
        if isinstance(value, bytes):
            _field(h, value)
        else:
            _field(h, repr(value).encode("utf-8", "surrogatepass"))
    for const in getattr(code, "co_consts", ()) or ():
        if inspect.iscode(const):
            _field(h, b"code" + _code_material(const))
        else:
            try:
                _field(h, b"const" + _digest_of(const))
            except Exception:
                _field(h, b"type" + repr(type(const)).encode())
    return h.digest()


def _source_derivation(func):
    lines, start = inspect.getsourcelines(func)
    text = "".join(lines)
    material = b"source\0" + text.encode("utf-8", "surrogatepass")
    source = None
    path = inspect.getsourcefile(func) or inspect.getfile(func)
    try:
        if not path or not os.path.isfile(path):
            raise OSError("source file %r is not a regular file" % (path,))
        path = os.path.abspath(path)
        data, size, mtime_ns = _read_file(path)
        file_lines = _split_lines(data)
        if start < 1:
            start = 1
        end = start + max(len(lines), 1) - 1
        if end > len(file_lines):
            raise OSError("%s has %d lines, the function spans %d-%d"
                          % (path, len(file_lines), start, end))
        block = b"".join(file_lines[start - 1:end])
        content = block if len(block) <= CONTENT_LIMIT else None
        source = _Fingerprint(path, (start, end), _sha256_tag(block), size, mtime_ns, content)
    except Exception as e:  # the key still follows the source text; only verification is lost
        logger.debug("cannot fingerprint the source file of %r: %s", func, _error_text(e))
    return _Derivation("source", None, source, material)


def _derive(func):
    try:
        return _source_derivation(func)
    except Exception as e:
        # Any exception, not only OSError: a Cython function makes inspect raise TypeError.
        error = _error_text(e)
    code = getattr(func, "__code__", None)
    path = _module_file(func)
    if code is not None or path is not None:
        source = None
        material = b"bytecode\0"
        if path is not None:
            try:
                source = _whole_file_fingerprint(path)
                material += source.digest.encode("ascii") + b"\0"
            except Exception as e2:
                logger.debug("cannot fingerprint %s: %s", path, _error_text(e2))
        if code is not None:
            try:
                material += _code_material(code)
            except Exception as e2:
                logger.debug("cannot read the code object of %r: %s", func, _error_text(e2))
        if source is not None or code is not None:
            return _Derivation("bytecode", error, source, material)
    error += "; no code object and no module file to fall back on"
    return _Derivation("name", error, None, b"name\0")


def _function_name(func):
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return "%s:%s" % (module, qualname)


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _is_busy(exc):
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _ddl_statements(sql):
    statement = ""
    for line in sql.splitlines(True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    # Whatever is left is comments only (or an incomplete statement, which must fail loudly).
    rest = "\n".join(l for l in statement.splitlines() if not l.strip().startswith("--"))
    if rest.strip():
        yield statement


class _Store(object):
    """One store file: thread-local connections, dropped after a fork."""

    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(path)
        self._real_dir = os.path.realpath(self.dir)
        self._local = threading.local()
        self._abandoned = []  # connections inherited over a fork: never used, never closed
        self._error_lock = threading.Lock()
        self._last_error_log = None  # monotonic time of the last store error logged at ERROR

    def log_error(self, message, *args):
        """Log a store error at ERROR, at most once a minute per store (DEBUG otherwise), so a
        broken store does not flood the log of a busy application."""
        now = time.monotonic()
        with self._error_lock:
            loud = self._last_error_log is None or now - self._last_error_log >= 60.0
            if loud:
                self._last_error_log = now
        if loud:
            logger.error(message + " (further store errors within a minute are logged at "
                         "DEBUG)", *args, exc_info=logger.isEnabledFor(logging.DEBUG))
        else:
            logger.debug(message, *args, exc_info=True)

    def record_path(self, abs_path):
        """The path as recorded in `sources`: relative to the store's directory when the file is
        under it ('/' separated), absolute otherwise."""
        real = os.path.realpath(abs_path)
        try:
            rel = os.path.relpath(real, self._real_dir)
        except ValueError:  # another drive on Windows
            return real
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            return real
        return rel.replace(os.sep, "/")

    def connection(self):
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            return conn
        if conn is not None:
            self._abandoned.append(conn)
        local.conn = None
        conn = self._open()
        local.conn = conn
        local.pid = os.getpid()
        return conn

    def discard(self):
        """Forget this thread's connection after an error (the next call reopens)."""
        local = self._local
        conn = getattr(local, "conn", None)
        local.conn = None
        if conn is not None and getattr(local, "pid", None) == os.getpid():
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except Exception:
                pass
            try:
                conn.close()
            except Exception:
                pass

    def _open(self):
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=True)
        try:
            conn.execute("PRAGMA busy_timeout = %d" % int(BUSY_TIMEOUT_S * 1000))
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            # In WAL mode NORMAL never corrupts; a power cut may lose the last writes, which a
            # cache can afford, and every write no longer waits for an fsync.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._retry(lambda: self._ensure_schema(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _retry(operation):
        # The busy timeout covers most waits; a journal-mode change or a schema read racing
        # another process creating the store can still report "locked" at once.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _check_header(self, conn):
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            raise StoreError("%s is not a cachescope store (application_id %d)"
                             % (self.path, app_id))
        if version > FORMAT_VERSION:
            raise StoreError("%s has store format %d; this producer writes format %d"
                             % (self.path, version, FORMAT_VERSION))
        return app_id == APPLICATION_ID and version == FORMAT_VERSION

    def _ensure_schema(self, conn):
        if self._check_header(conn):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not self._check_header(conn):
                ours = {"meta", "sources", "entries", "entry_dependencies"}
                tables = {row[0] for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'")}
                if tables - ours:
                    raise StoreError("%s is an SQLite database with other tables (%s), not a "
                                     "cachescope store" % (self.path, ", ".join(sorted(tables))))
                for statement in _ddl_statements(SCHEMA_SQL):
                    conn.execute(statement)
                conn.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [("format", "cachescope-store"), ("format_version", str(FORMAT_VERSION)),
                     ("created_at", _rfc3339_now()), ("producer", PRODUCER)])
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                pass
            raise

    # -- rows ----------------------------------------------------------------------------------

    def source_id(self, conn, fp, now):
        """The id of the immutable source row for `fp`, inserted when missing. Must run inside
        a write transaction (the lookup-then-insert of whole-file rows relies on it)."""
        path = self.record_path(fp.abs_path)
        if fp.span is None:
            row = conn.execute(
                "SELECT id FROM sources WHERE path = ? AND span_start IS NULL "
                "AND span_end IS NULL AND digest = ? ORDER BY id LIMIT 1",
                (path, fp.digest)).fetchone()
            if row is not None:
                return row[0]
            cur = conn.execute(
                "INSERT INTO sources (path, span_start, span_end, digest, size, mtime_ns, "
                "recorded_at, content) VALUES (?, NULL, NULL, ?, ?, ?, ?, ?)",
                (path, fp.digest, fp.size, fp.mtime_ns, now, fp.content))
            return cur.lastrowid
        start, end = fp.span
        conn.execute(
            "INSERT OR IGNORE INTO sources (path, span_start, span_end, digest, size, mtime_ns, "
            "recorded_at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (path, start, end, fp.digest, fp.size, fp.mtime_ns, now, fp.content))
        return conn.execute(
            "SELECT id FROM sources WHERE path = ? AND span_start = ? AND span_end = ? "
            "AND digest = ?", (path, start, end, fp.digest)).fetchone()[0]


_stores: dict[str, _Store] = {}
_stores_lock = threading.Lock()


def _get_store(path):
    path = os.path.abspath(os.fspath(path))
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = _Store(path)
        return store


# --------------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------------


_MISSING = object()


def _ttl_ms(ttl):
    if ttl is None:
        return None
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError("ttl must be a number of seconds or a datetime.timedelta, not %r"
                        % (ttl,))
    if seconds < 0 or seconds != seconds:
        raise ValueError("ttl must be >= 0 seconds, got %r" % (ttl,))
    return int(round(seconds * 1000))


def cache(
    store: _PathArg = "cache.db",
    namespace: str = "data",
    key: Optional[Callable[..., Union[str, bytes]]] = None,
    depends_on: Union[_PathArg, Iterable[_PathArg]] = (),
    ttl: Union[float, datetime.timedelta, None] = None,
    key_source: Optional[_PathArg] = None,
) -> Callable[[Callable[_P, _R]], CachedFunction[_P, _R]]:
    """Cache a function's values in a cachescope store.

    store: path of the SQLite store; created on first use (its directory must exist).
    namespace: which cache, e.g. "data" or "resource"; entries are unique per (namespace, key).
    key: optional callable taking the call's arguments and returning the key (str or bytes);
        its key is used instead of the arguments (strategy `custom`).
    depends_on: paths of files the value depends on (data, config, helper modules). Their
        digests are part of every key and are recorded as the entry's dependencies.
    ttl: seconds (a number or a datetime.timedelta) an entry stays valid; None = no expiry.
    key_source: with key=, a file whose digest the custom key depends on; recorded as the
        entry's fingerprint source.

    Relative paths (store, depends_on, key_source) are resolved against the current directory
    at decoration time.
    """
    if key is not None and not callable(key):
        raise TypeError("key must be a callable returning the cache key, not %r" % (key,))
    if isinstance(depends_on, (str, bytes, os.PathLike)):
        depends_on = (depends_on,)
    dependencies = tuple(os.path.abspath(os.fspath(p)) for p in depends_on)
    if key_source is not None:
        if key is None:
            raise TypeError("key_source= only applies with key=")
        key_source = os.path.abspath(os.fspath(key_source))
    ttl_ms = _ttl_ms(ttl)
    namespace = str(namespace)
    store_obj = _get_store(store)

    def decorate(func: Callable[_P, _R]) -> CachedFunction[_P, _R]:
        return _CachedFunction(func, store_obj, namespace, key, dependencies, ttl_ms,
                               key_source).wrapper()

    return decorate


class _CachedFunction(object):
    def __init__(self, func, store, namespace, key_func, dependencies, ttl_ms, key_source):
        self.func = func
        self.store = store
        self.namespace = namespace
        self.key_func = key_func
        self.dependencies = dependencies
        self.ttl_ms = ttl_ms
        self.key_source = key_source
        self.name = _function_name(func)
        self.stats = {"hits": 0, "misses": 0, "errors": 0}
        self._stats_lock = threading.Lock()
        if key_func is not None:
            self.derivation = _Derivation("custom", None, None, b"custom\0")
        else:
            self.derivation = _derive(func)
        self.signature: Optional[inspect.Signature]
        try:
            self.signature = inspect.signature(func)
        except Exception:
            self.signature = None

    # -- helpers -------------------------------------------------------------------------------

    def _count(self, what):
        with self._stats_lock:
            self.stats[what] += 1

    def _call_args(self, args, kwargs):
        """The call's arguments, normalised through the signature when there is one, so that
        f(1), f(x=1) and f() with default x=1 share a key."""
        if self.signature is not None:
            try:
                bound = self.signature.bind(*args, **kwargs)
                bound.apply_defaults()
                return ("bound", tuple(bound.arguments.items()))
            except Exception:
                pass
        return ("raw", tuple(args), tuple(sorted(kwargs.items())))

    def _key(self, args, kwargs, deps, key_source_fp):
        h = hashlib.sha256()
        _field(h, KEY_VERSION)
        _field(h, self.name.encode("utf-8", "surrogatepass"))
        _field(h, self.derivation.strategy.encode("ascii"))
        _field(h, self.derivation.material)
        if self.key_func is not None:
            _field(h, _digest_of(self.key_func(*args, **kwargs)))
            if key_source_fp is not None:
                _field(h, key_source_fp.digest.encode("ascii"))
        else:
            _field(h, _digest_of(self._call_args(args, kwargs)))
        h.update(struct.pack(">Q", len(deps)))
        for fp in deps:  # digests only, in depends_on order: moving the project keeps keys
            _field(h, fp.digest.encode("ascii"))
        return h.hexdigest()

    # -- the call ------------------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        try:
            deps = [_digests.get(p) for p in self.dependencies]
            key_source_fp = _digests.get(self.key_source) if self.key_source else None
            key = self._key(args, kwargs, deps, key_source_fp)
        except Exception as e:
            self._count("errors")
            logger.warning("%s: cannot derive a cache key, calling without the cache: %s",
                           self.name, _error_text(e))
            return self.func(*args, **kwargs)

        found, replace = self._lookup(key)
        if found is not _MISSING:
            self._count("hits")
            return found
        self._count("misses")
        value = self.func(*args, **kwargs)
        if replace is not None:  # None: the store failed on lookup, do not try again now
            self._write(key, value, deps, key_source_fp, replace)
        return value

    def _lookup(self, key):
        """(value, False) on a hit; (_MISSING, replace) on a miss, replace telling whether a
        row exists that must be overwritten (expired, or its value cannot be read), or None
        when the store failed."""
        store = self.store
        try:
            conn = store.connection()
            row = conn.execute(
                "SELECT id, value, value_type, expires_at FROM entries "
                "WHERE namespace = ? AND key = ?", (self.namespace, key)).fetchone()
            if row is None:
                return _MISSING, False
            entry_id, blob, value_type, expires_at = row
            now = _now_ms()
            if expires_at is not None and expires_at <= now:
                return _MISSING, True
            if value_type != "pickle" or blob is None:
                return _MISSING, True
            try:
                value = pickle.loads(blob)
            except Exception as e:
                logger.warning("%s: cannot unpickle the cached value (entry %d), recomputing: %s",
                               self.name, entry_id, _error_text(e))
                return _MISSING, True
            conn.execute("UPDATE entries SET hits = hits + 1, accessed_at = ? WHERE id = ?",
                         (now, entry_id))
            return value, False
        except Exception as e:
            self._count("errors")
            store.discard()
            store.log_error("%s: cache store %s failed, value not cached: %s", self.name,
                            store.path, _error_text(e))
            return _MISSING, None

    def _write(self, key, value, deps, key_source_fp, replace):
        try:
            blob = pickle.dumps(value, protocol=PICKLE_PROTOCOL)
        except Exception as e:
            self._count("errors")
            logger.warning("%s: value not cached, it cannot be pickled: %s", self.name,
                           _error_text(e))
            return
        store = self.store
        derivation = self.derivation
        source_fp = key_source_fp if self.key_func is not None else derivation.source
        try:
            conn = store.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = _now_ms()
                row = conn.execute(
                    "SELECT expires_at FROM entries WHERE namespace = ? AND key = ?",
                    (self.namespace, key)).fetchone()
                if row is not None and not replace and (row[0] is None or row[0] > now):
                    # Another process stored this key since our lookup (the same key stands
                    # for the same code, inputs and arguments): keep its entry and its hits.
                    conn.execute("COMMIT")
                    return
                source_id = None
                if source_fp is not None:
                    source_id = store.source_id(conn, source_fp, now)
                dep_ids = []
                for fp in deps:
                    dep_id = store.source_id(conn, fp, now)
                    if dep_id not in dep_ids:
                        dep_ids.append(dep_id)
                expires_at = now + self.ttl_ms if self.ttl_ms is not None else None
                conn.execute(
                    "INSERT INTO entries (namespace, function, key, strategy, derivation_error, "
                    "source_id, value, value_size, value_type, created_at, accessed_at, hits, "
                    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pickle', ?, NULL, 0, ?) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET function = excluded.function, "
                    "strategy = excluded.strategy, derivation_error = excluded.derivation_error, "
                    "source_id = excluded.source_id, value = excluded.value, "
                    "value_size = excluded.value_size, value_type = excluded.value_type, "
                    "created_at = excluded.created_at, accessed_at = NULL, hits = 0, "
                    "expires_at = excluded.expires_at",
                    (self.namespace, self.name, key, derivation.strategy,
                     derivation.derivation_error, source_id, sqlite3.Binary(blob), len(blob),
                     now, expires_at))
                entry_id = conn.execute(
                    "SELECT id FROM entries WHERE namespace = ? AND key = ?",
                    (self.namespace, key)).fetchone()[0]
                conn.execute("DELETE FROM entry_dependencies WHERE entry_id = ?", (entry_id,))
                conn.executemany(
                    "INSERT INTO entry_dependencies (entry_id, source_id) VALUES (?, ?)",
                    [(entry_id, dep_id) for dep_id in dep_ids])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as e:
            self._count("errors")
            store.discard()
            store.log_error("%s: cache store %s failed on write, value not cached: %s",
                            self.name, store.path, _error_text(e))

    # -- the public wrapper --------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """How this function's keys are derived, and this process's hit/miss/error counts."""
        d = self.derivation
        source = d.source
        if self.key_func is not None and self.key_source is not None:
            source = _Fingerprint(self.key_source, None, None, None, None, None)
        with self._stats_lock:
            stats = dict(self.stats)
        info: CacheInfo = {
            "function": self.name,
            "store": self.store.path,
            "namespace": self.namespace,
            "strategy": d.strategy,
            "derivation_error": d.derivation_error,
            "source_path": source.abs_path if source is not None else None,
            "span": source.span if source is not None else None,
            "digest": source.digest if source is not None else None,
            "depends_on": list(self.dependencies),
            "ttl_ms": self.ttl_ms,
            "hits": stats["hits"],
            "misses": stats["misses"],
            "errors": stats["errors"],
        }
        return info

    def wrapper(self) -> Any:  # a CachedFunction with func's signature
        func = self.func

        @functools.wraps(func)
        def cached(*args, **kwargs):
            return self(*args, **kwargs)

        cached.cache_info = self.cache_info  # type: ignore[attr-defined]
        return cached
