"""depends_on: an edited data file makes the entry `changed`; the next call is a miss."""

import os
import tempfile

import cs_helpers as h

MODULE = """\
from cachescope_cache import cache


@cache(store="cache.db", depends_on=["data/prices.csv", "settings.ini"])
def load(scale):
    with open("data/prices.csv") as f:
        return [int(line) * scale for line in f.read().split()]
"""

APP = """\
import mod
print(json.dumps(mod.load(2)))
"""


class DependsOnTest(h.CliTestCase):
    def setUp(self):
        super().setUp()
        self._tmp = tempfile.TemporaryDirectory(prefix="cachescope-py-")
        self.dir = self._tmp.name
        self.store = os.path.join(self.dir, "cache.db")
        os.mkdir(os.path.join(self.dir, "data"))
        self.data = os.path.join(self.dir, "data", "prices.csv")
        self.settings = os.path.join(self.dir, "settings.ini")
        h.write(self.data, "1\n2\n3\n")
        h.write(self.settings, "[x]\ny = 1\n")
        h.write(os.path.join(self.dir, "mod.py"), MODULE)

    def tearDown(self):
        self._tmp.cleanup()
        super().tearDown()

    def test_edited_data_file_makes_the_entry_changed(self):
        self.assertEqual(h.run_app(self, self.dir, APP), [2, 4, 6])
        (e,) = h.entries(self.store)
        self.assertEqual(e["strategy"], "source")
        deps = h.dependencies(self.store, e["id"])
        self.assertEqual([d["path"] for d in deps], ["data/prices.csv", "settings.ini"])
        for d in deps:
            self.assertIsNone(d["span_start"])
            self.assertIsNone(d["span_end"])
        self.assertEqual(deps[0]["digest"], h.file_digest(self.data))
        self.assertEqual(deps[0]["size"], os.path.getsize(self.data))

        report = self.verify(self.store, expect=0)
        self.assertEqual(self.source_report(report, "data/prices.csv")["status"], "fresh")
        self.assertEqual(report["entries"]["fresh"], 1)

        # A hit while nothing changed.
        self.assertEqual(h.run_app(self, self.dir, APP), [2, 4, 6])
        (e,) = h.entries(self.store)
        self.assertEqual(e["hits"], 1)

        h.write(self.data, "1\n2\n3\n4\n")
        report = self.verify(self.store, expect=1)
        self.assertEqual(self.source_report(report, "data/prices.csv")["status"], "changed")
        self.assertEqual(self.source_report(report, "settings.ini")["status"], "fresh")
        self.assertEqual(self.source_report(report, "mod.py")["status"], "fresh")
        self.assertEqual(report["entries"]["changed"], 1)
        self.assertEqual(report["stale_entries"], 1)
        (listed,) = self.list_entries(self.store)
        self.assertEqual(listed["id"], e["id"])
        self.assertEqual(listed["status"], "changed")

        # The next call derives a new key (the dependency digests are part of it): a miss that
        # writes a fresh entry next to the stale one, never the stale value.
        self.assertEqual(h.run_app(self, self.dir, APP), [2, 4, 6, 8])
        rows = h.entries(self.store)
        self.assertEqual(len(rows), 2)
        new = rows[1]
        self.assertEqual(new["source_id"], e["source_id"])  # the function's span is unchanged
        new_deps = {d["path"]: d for d in h.dependencies(self.store, new["id"])}
        self.assertEqual(sorted(new_deps), ["data/prices.csv", "settings.ini"])
        self.assertEqual(new_deps["data/prices.csv"]["digest"], h.file_digest(self.data))
        self.assertNotEqual(new_deps["data/prices.csv"]["id"], deps[0]["id"])
        self.assertEqual(new_deps["settings.ini"]["id"], deps[1]["id"])  # row shared
        # The old entry still points at the old digest (rows are immutable).
        old_deps = h.dependencies(self.store, e["id"])
        self.assertEqual([d["id"] for d in old_deps], [d["id"] for d in deps])
        statuses = {r["id"]: r["status"] for r in self.list_entries(self.store)}
        self.assertEqual(statuses, {e["id"]: "changed", new["id"]: "fresh"})

        purge = self.cli_json("purge", self.store, "--json", expect=0)
        self.assertEqual(purge["removed"], 1)
        self.assertEqual([r["id"] for r in h.entries(self.store)], [new["id"]])
        self.verify(self.store, expect=0)

    def test_deleted_data_file_makes_the_entry_missing(self):
        h.run_app(self, self.dir, APP)
        os.remove(self.settings)
        report = self.verify(self.store, expect=1)
        self.assertEqual(self.source_report(report, "settings.ini")["status"], "missing")
        self.assertEqual(report["entries"]["missing"], 1)
        (listed,) = self.list_entries(self.store)
        self.assertEqual(listed["status"], "missing")
