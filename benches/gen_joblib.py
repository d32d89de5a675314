"""100,000 joblib.Memory call folders over 20 functions, written by joblib itself."""
import os, sys, time
out = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
src = os.path.join(out, "src", "benchpkg"); os.makedirs(src, exist_ok=True)
open(os.path.join(src, "__init__.py"), "w").close()
with open(os.path.join(src, "funcs.py"), "w") as f:
    for i in range(20):
        f.write(f"def f{i}(x):\n    return x * {i}\n\n\n")
sys.path.insert(0, os.path.join(out, "src"))
import joblib, benchpkg.funcs as m
mem = joblib.Memory(os.path.join(out, "cache"), verbose=0)
fs = [mem.cache(getattr(m, f"f{i}")) for i in range(20)]
t = time.time()
for k in range(n):
    fs[k % 20](k)
print(f"{n} calls in {time.time()-t:.0f} s", file=sys.stderr)
