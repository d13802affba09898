"""Loads + describes one CSV with pandas or polars; prints one JSON line like bench-data.

python3 bench/data/peers.py pandas|polars FILE.csv
"""
import json
import resource
import sys
import time

tool, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if tool == "pandas":
    import pandas as pd

    df = pd.read_csv(path, na_values=["?", "NA"])
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    d = df.describe(include="all")
    rows = len(df)
elif tool == "polars":
    import polars as pl

    df = pl.read_csv(path, null_values=["?", "NA", ""], infer_schema_length=100_000)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    d = df.describe()
    rows = df.height
else:
    sys.exit(f"unknown tool {tool}")
t_profile = time.perf_counter() - t1
total = time.perf_counter() - t0
print(json.dumps({
    "tool": tool,
    "rows": rows,
    "load_s": t_load,
    "profile_s": t_profile,
    "total_s": total,
    "rows_per_s": rows / total,
    # ru_maxrss is in KiB on Linux.
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
