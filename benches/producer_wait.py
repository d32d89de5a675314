#!/usr/bin/env python3
"""How long a producer waits for the write lock while `cachescope purge` runs.

    python3 benches/producer_wait.py CACHESCOPE_BIN STORE [PURGE ARGS...]

A producer thread writes one entry per transaction (BEGIN IMMEDIATE, as the format's producers
do, with SQLite's busy timeout of 10 s, the same busy handler every producer gets) every 5 ms
while the purge runs, and times each write. Prints the purge's wall time, the number of writes,
and the producer's median, p99 and worst wait.
"""
import sqlite3
import subprocess
import sys
import threading
import time


def main():
    binary, store, *extra = sys.argv[1:]
    waits = []
    done = threading.Event()

    def producer():
        conn = sqlite3.connect(store, timeout=10, isolation_level=None)
        i = 0
        while not done.is_set():
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO entries (namespace, function, key, strategy, value_size, created_at)"
                " VALUES ('bench', 'producer:f', ?, 'name', 0, 0)",
                (f"producer-{time.time_ns()}-{i}",),
            )
            conn.execute("COMMIT")
            waits.append(time.perf_counter() - t)
            i += 1
            time.sleep(0.005)
        conn.close()

    thread = threading.Thread(target=producer)
    started = time.perf_counter()
    thread.start()
    purge = subprocess.run([binary, "purge", store, *extra], capture_output=True, text=True)
    took = time.perf_counter() - started
    done.set()
    thread.join()
    waits.sort()
    print(purge.stdout.strip().splitlines()[0] if purge.stdout else purge.stderr.strip())
    print(
        f"purge {took:.2f} s; producer writes {len(waits)}; wait median "
        f"{waits[len(waits) // 2] * 1000:.1f} ms, p99 {waits[int(len(waits) * 0.99)] * 1000:.1f} ms, "
        f"worst {waits[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
