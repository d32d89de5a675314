"""Print, as JSON, the function keys the REAL installed streamlit computes for an app.

    python3 tests/python/streamlit/keys.py APP_DIR [ENTRY_SCRIPT]

This helper never imports the app's modules itself: it runs the app with
streamlit.testing.v1.AppTest (the entry script, then every pages/*.py through switch_page),
with AppTest's in-memory cache storage swapped for the real disk storage
(LocalDiskCacheStorageManager), and records every key streamlit's own
runtime.caching.cache_utils._make_function_key returns. Set HOME to a scratch directory: the
.memo files go to $HOME/.streamlit/cache, and are listed in the output.

Output: {"streamlit": VERSION, "python": VERSION, "keys": [{"module", "qualname",
"function_key", "cache_type", "firstlineno", "strategy"}], "memo_files": [NAMES],
"exceptions": [TEXT]}
"""

import inspect
import json
import os
import sys
from unittest import mock


def main(argv):
    app_dir = os.path.abspath(argv[1])
    entry = argv[2] if len(argv) > 2 else "app.py"

    import streamlit
    from streamlit.runtime.caching import cache_utils
    from streamlit.runtime.caching.storage.local_disk_cache_storage import (
        LocalDiskCacheStorageManager,
        get_cache_folder_path,
    )
    from streamlit.testing.v1 import AppTest

    real_make_function_key = cache_utils._make_function_key
    keys = []

    def recording_make_function_key(cache_type, func):
        key = real_make_function_key(cache_type, func)
        try:
            inspect.getsource(func)
            strategy = "source"
        except (OSError, TypeError):
            strategy = "bytecode"
        code = getattr(func, "__code__", None)
        row = {
            "module": func.__module__,
            "qualname": func.__qualname__,
            "function_key": key,
            "cache_type": cache_type.value,
            "firstlineno": getattr(code, "co_firstlineno", None),
            "strategy": strategy,
        }
        if row not in keys:
            keys.append(row)
        return key

    exceptions = []
    # AppTest builds a MagicMock runtime whose cache_storage_manager is a
    # MemoryCacheStorageManager imported into streamlit.testing.v1.app_test; replacing that name
    # gives the run streamlit's real disk storage, the one `streamlit run` uses.
    with mock.patch("streamlit.testing.v1.app_test.MemoryCacheStorageManager",
                    LocalDiskCacheStorageManager), \
            mock.patch.object(cache_utils, "_make_function_key", recording_make_function_key):
        at = AppTest.from_file(os.path.join(app_dir, entry), default_timeout=60)
        at.run()
        exceptions.extend(e.value for e in at.exception)
        pages_dir = os.path.join(app_dir, "pages")
        pages = sorted(p for p in os.listdir(pages_dir) if p.endswith(".py")) \
            if os.path.isdir(pages_dir) else []
        for page in pages:
            at.switch_page("pages/" + page)
            at.run()
            exceptions.extend(e.value for e in at.exception)

    cache_dir = get_cache_folder_path()
    memo_files = sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []
    json.dump({
        "streamlit": streamlit.__version__,
        "python": sys.version.split()[0],
        "cache_dir": cache_dir,
        "keys": keys,
        "memo_files": memo_files,
        "exceptions": exceptions,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
