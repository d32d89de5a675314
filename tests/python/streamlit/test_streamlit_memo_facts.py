"""Fact check of issue 9's claims against the real installed streamlit, in one process with
reruns, using AppTest with its cache storage swapped for LocalDiskCacheStorageManager (the
storage `streamlit run` uses):

- editing a cached function and rerunning writes a new .memo under a new function key and
  leaves the old one behind;
- moving the function (lines inserted above it) keeps its key;
- the key is BLAKE2b-128 over (module, qualname) then inspect.getsource, module `__main__`.

Skipped when streamlit is missing, unless CI is set.
"""

import hashlib
import os
import tempfile
import unittest
from unittest import mock

APP = '''import streamlit as st


@st.cache_data(persist="disk")
def f(x):
    return x + 1


st.session_state["v"] = f(1)
'''


def key_by_hand(module, qualname, source):
    """_make_function_key written out: tuple and str encodings of hashing.py."""
    inner = hashlib.blake2b(digest_size=16)
    for s in (module, qualname):
        inner.update(b"str:" + s.encode())
    h = hashlib.blake2b(digest_size=16)
    h.update(b"tuple:" + inner.digest())
    h.update(b"str:" + source.encode())
    return h.hexdigest()


class MemoFactsTest(unittest.TestCase):
    def setUp(self):
        try:
            import streamlit.testing.v1  # noqa: F401
        except ImportError:
            if os.environ.get("CI"):
                self.fail("streamlit is not installed (CI is set: CI must install it)")
            self.skipTest("streamlit is not installed: pip install streamlit")
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-memo-")
        self.home = os.path.join(self._tmp.name, "home")
        self.app = os.path.join(self._tmp.name, "app.py")
        patcher = mock.patch.dict(os.environ, {"HOME": self.home})
        patcher.start()
        self.addCleanup(patcher.stop)

    def tearDown(self):
        self._tmp.cleanup()

    def memo_keys(self):
        from streamlit.runtime.caching.storage.local_disk_cache_storage import (
            get_cache_folder_path)
        folder = get_cache_folder_path()
        self.assertEqual(folder, os.path.join(self.home, ".streamlit", "cache"))
        return sorted(n[:-len(".memo")].split("-")[0] for n in os.listdir(folder))

    def test_edit_rerun_move(self):
        from streamlit.runtime.caching.storage.local_disk_cache_storage import (
            LocalDiskCacheStorageManager)
        from streamlit.testing.v1 import AppTest

        with open(self.app, "w") as fh:
            fh.write(APP)
        source = APP[APP.index("@st"):APP.index("\n\n\nst.")] + "\n"
        k1 = key_by_hand("__main__", "f", source)
        with mock.patch("streamlit.testing.v1.app_test.MemoryCacheStorageManager",
                        LocalDiskCacheStorageManager):
            at = AppTest.from_file(self.app).run()
            self.assertEqual(at.session_state["v"], 2)
            self.assertEqual(self.memo_keys(), [k1])

            # Move: lines inserted above keep the key (no new file).
            with open(self.app, "w") as fh:
                fh.write("# moved\n\n\n" + APP)
            at.run()
            self.assertEqual(self.memo_keys(), [k1])

            # Edit: a new key and file; the old file stays behind.
            edited = APP.replace("x + 1", "x + 2")
            with open(self.app, "w") as fh:
                fh.write(edited)
            at.run()
            self.assertEqual(at.session_state["v"], 3)
            k2 = key_by_hand("__main__", "f", source.replace("x + 1", "x + 2"))
            self.assertNotEqual(k1, k2)
            self.assertEqual(self.memo_keys(), sorted([k1, k2]))


if __name__ == "__main__":
    unittest.main()
