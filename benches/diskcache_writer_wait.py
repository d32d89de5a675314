#!/usr/bin/env python3
"""How long a diskcache app's writes wait while `cachescope purge` runs on the same cache.

    python3 benches/diskcache_writer_wait.py CACHESCOPE_BIN CACHE_DIR [PURGE ARGS...]

A writer thread calls the real `diskcache.Cache.set` (diskcache's own BEGIN IMMEDIATE and 60 s
busy timeout) with a fresh key every 5 ms while the purge runs, and times each call. Prints the
purge's wall time, the number of writes, and their median, p99 and worst time.
"""
import subprocess
import sys
import threading
import time

import diskcache


def main():
    binary, directory, *extra = sys.argv[1:]
    times = []
    done = threading.Event()

    def writer():
        cache = diskcache.Cache(directory)
        i = 0
        while not done.is_set():
            t = time.perf_counter()
            cache.set(("writer-wait", i), i)
            times.append(time.perf_counter() - t)
            i += 1
            time.sleep(0.005)
        cache.close()

    thread = threading.Thread(target=writer)
    thread.start()
    t0 = time.perf_counter()
    out = subprocess.run([binary, "purge", directory, *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    done.set()
    thread.join()
    if out.returncode != 0:
        sys.exit(f"purge exited {out.returncode}: {out.stderr.strip()}")
    times.sort()
    ms = lambda q: 1000 * times[min(len(times) - 1, int(q * len(times)))]
    print(out.stdout.strip().splitlines()[0])
    print(
        f"purge {wall:.2f} s; {len(times)} writes: median {ms(0.5):.1f} ms, "
        f"p99 {ms(0.99):.1f} ms, worst {1000 * times[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
