"""One version: Cargo.toml's [package] version is the binary's `--version`, the producer's
`__version__` and (when installed from the wheel) the distribution's version."""

import os
import tempfile
import unittest

import cs_helpers as h

import cachescope_cache


class VersionTest(h.CliTestCase):
    def test_binary_package_and_cargo_toml_agree(self):
        expected = h.cargo_version()
        proc = self.cli("--version", expect=0)
        self.assertEqual(proc.stdout.strip(), "cachescope " + expected)
        self.assertEqual(cachescope_cache.__version__, expected)
        self.assertEqual(cachescope_cache.PRODUCER, "cachescope_cache " + expected)

    @unittest.skipUnless(h.INSTALLED, "the producer is imported from the source tree")
    def test_installed_distribution_has_the_same_version(self):
        from importlib import metadata

        self.assertEqual(metadata.version("cachescope"), h.cargo_version())
        # The wheel's files: the binary on the environment's scripts path, the package with
        # its py.typed marker.
        files = {f.as_posix() for f in metadata.distribution("cachescope").files}
        self.assertIn("cachescope_cache/__init__.py", files)
        self.assertIn("cachescope_cache/py.typed", files)
        self.assertTrue(any(f.endswith("/bin/cachescope") or f.endswith("cachescope.exe")
                            for f in files), sorted(files))

    def test_source_tree_version_comes_from_cargo_toml(self):
        # The parser __version__ falls back on (source tree, not installed) reads the crate's
        # Cargo.toml, and ignores a Cargo.toml of another package.
        self.assertEqual(cachescope_cache._cargo_version(h.CARGO_TOML), h.cargo_version())
        with tempfile.TemporaryDirectory(prefix="cachescope-py-") as d:
            other = os.path.join(d, "Cargo.toml")
            h.write(other, """\
                [package]
                name = "other"
                version = "9.9.9"
                """)
            self.assertIsNone(cachescope_cache._cargo_version(other))
            self.assertIsNone(cachescope_cache._cargo_version(os.path.join(d, "missing.toml")))


if __name__ == "__main__":
    unittest.main()
