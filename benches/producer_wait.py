#!/usr/bin/env python3
"""How long a producer waits for the write lock while `cachescope purge` runs.

    python3 benches/producer_wait.py CACHESCOPE_BIN STORE [PURGE ARGS...]

A producer thread writes one entry per transaction (BEGIN IMMEDIATE, as the format's producers
do, with SQLite's busy timeout of 10 s, the same busy handler every producer gets) every 5 ms
while the purge runs, and times each write. Prints the purge's wall time, the number of writes,
and the producer's median, p99 and worst write time, and of it the wait for the write lock alone
(BEGIN IMMEDIATE; the rest is the producer's own commit and fsync).
"""
import sqlite3
import subprocess
import sys
import threading
import time


def main():
    binary, store, *extra = sys.argv[1:]
    waits = []
    locks = []
    slow = []
    t0 = time.perf_counter()
    done = threading.Event()

    def producer():
        conn = sqlite3.connect(store, timeout=10, isolation_level=None)
        i = 0
        while not done.is_set():
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            # The wait for the write lock: what a purge can cause (the commit's fsync is not).
            locks.append(time.perf_counter() - t)
            conn.execute(
                "INSERT INTO entries (namespace, function, key, strategy, value_size, created_at)"
                " VALUES ('bench', 'producer:f', ?, 'name', 0, 0)",
                (f"producer-{time.time_ns()}-{i}",),
            )
            conn.execute("COMMIT")
            waits.append(time.perf_counter() - t)
            if waits[-1] > 0.25:
                slow.append((t - t0, waits[-1], locks[-1]))
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
    locks.sort()
    for at, w, lock in slow:
        print(f"  a write started at {at:.2f} s took {w * 1000:.0f} ms, {lock * 1000:.0f} ms of it for the lock")
    print(purge.stdout.strip().splitlines()[0] if purge.stdout else purge.stderr.strip())
    print(
        f"purge {took:.2f} s; producer writes {len(waits)}; wait median "
        f"{waits[len(waits) // 2] * 1000:.1f} ms, p99 {waits[int(len(waits) * 0.99)] * 1000:.1f} ms, "
        f"worst {waits[-1] * 1000:.1f} ms; lock wait p99 {locks[int(len(locks) * 0.99)] * 1000:.1f} ms, "
        f"worst {locks[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
