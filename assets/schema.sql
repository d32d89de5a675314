-- cachescope store, format 1. Written from shared/store-format.md; `cachescope schema` prints it.
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
